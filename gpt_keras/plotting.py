"""A dependency-free line plot written as PNG (zlib + struct), for loss curves.

matplotlib would be the usual choice, but a loss curve does not justify a plotting dependency for every
user of the library.
"""
import struct
import zlib

# A 3x5 pixel font for the digits and the few characters axis labels need.
_GLYPHS = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "001", "001", "001"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    ".": ("000", "000", "000", "000", "010"),
    "-": ("000", "000", "111", "000", "000"),
    " ": ("000", "000", "000", "000", "000"),
}


class _Canvas:
    def __init__(self, width, height):
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def set(self, x, y, color):
        if 0 <= x < self.width and 0 <= y < self.height:
            offset = (y * self.width + x) * 3
            self.pixels[offset : offset + 3] = bytes(color)

    def line(self, x0, y0, x1, y1, color):
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for i in range(steps + 1):
            self.set(round(x0 + (x1 - x0) * i / steps), round(y0 + (y1 - y0) * i / steps), color)

    def text(self, x, y, string, color, scale=2):
        for char in string:
            for row, bits in enumerate(_GLYPHS.get(char, _GLYPHS[" "])):
                for column, bit in enumerate(bits):
                    if bit == "1":
                        for dy in range(scale):
                            for dx in range(scale):
                                self.set(x + column * scale + dx, y + row * scale + dy, color)
            x += 4 * scale

    def png(self):
        rows = b"".join(b"\x00" + bytes(self.pixels[y * self.width * 3 : (y + 1) * self.width * 3]) for y in range(self.height))

        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def plot_curves(path, curves, width=640, height=400):
    """Writes a PNG line plot of one or more curves sharing the axes.

    Args:
        path: Output file path.
        curves: A dict name -> (xs, ys); at most 4 curves, drawn in blue, orange, green, red.
        width, height: Image size in pixels.

    Returns:
        The path written.
    """
    colors = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]
    points = [(float(x), float(y)) for xs, ys in curves.values() for x, y in zip(xs, ys)]
    if not points:
        raise ValueError("plot_curves needs at least one point")
    x_low, x_high = min(p[0] for p in points), max(p[0] for p in points)
    y_low, y_high = min(p[1] for p in points), max(p[1] for p in points)
    x_high, y_high = max(x_high, x_low + 1e-9), max(y_high, y_low + 1e-9)
    left, right, top, bottom = 60, width - 20, 20, height - 40
    canvas = _Canvas(width, height)
    black = (0, 0, 0)
    canvas.line(left, bottom, right, bottom, black)
    canvas.line(left, bottom, left, top, black)
    for fraction in (0.0, 0.5, 1.0):
        value = y_low + (y_high - y_low) * fraction
        y = round(bottom - (bottom - top) * fraction)
        canvas.line(left - 4, y, left, y, black)
        canvas.text(4, y - 5, f"{value:.2f}", black)
        x = round(left + (right - left) * fraction)
        canvas.line(x, bottom, x, bottom + 4, black)
        canvas.text(x - 12, bottom + 10, f"{x_low + (x_high - x_low) * fraction:.0f}", black)
    for color, (xs, ys) in zip(colors, curves.values()):
        scaled = [
            (round(left + (right - left) * (float(x) - x_low) / (x_high - x_low)), round(bottom - (bottom - top) * (float(y) - y_low) / (y_high - y_low)))
            for x, y in zip(xs, ys)
        ]
        for (x0, y0), (x1, y1) in zip(scaled, scaled[1:]):
            canvas.line(x0, y0, x1, y1, color)
        if len(scaled) == 1:
            canvas.set(*scaled[0], color)
    with open(path, "wb") as handle:
        handle.write(canvas.png())
    return path
