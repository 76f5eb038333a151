"""Progress of long work with no dependencies: on a terminal one line with a bar, the elapsed and the
remaining time; elsewhere (a log file, a pipe, CI) a few plain lines.

    tokenizing texts: 1,234/5,000 texts (25%) [######------------------] 0:03 elapsed, 0:09 left
    tokenizing texts: 5,000/5,000 texts (100%) in 0:12

Kept apart from `gpt_keras.data` so that commands which never touch TensorFlow (the tokenizer's) can
show progress without importing it; `gpt_keras.training.ProgressBar` draws `fit` and `evaluate` with it.
"""
import contextlib
import sys
import threading
import time

BAR_WIDTH = 24
# On a terminal a redraw costs a write; 5 a second looks live. Elsewhere each draw is a line that stays:
# one per quarter of the work, and never two within 10 s (30 s apart when the total is unknown).
_TERMINAL_REDRAW_SECONDS = 0.2
_PLAIN_LINE_SECONDS = 10.0
_PLAIN_LINE_SECONDS_WITHOUT_TOTAL = 30.0


def clock(seconds):
    """`seconds` as m:ss, or h:mm:ss from an hour on (0:07, 12:34, 1:02:03)."""
    minutes, seconds = divmod(int(round(max(0.0, seconds))), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def is_terminal(stream):
    """Whether `stream` is an interactive terminal (a carriage return redraws its line)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """A progress line for work counted in units, or for a time budget.

    On a terminal the line is redrawn in place at most 5 times a second. Elsewhere carriage returns
    would pile up in the log, so a plain line is written when a quarter of the total is passed (never
    twice within 10 s; every 30 s without a total), and always one at the end.

    Args:
        label: What is being done.
        total: Expected count (or seconds of a budget), or None when unknown.
        unit: The unit counted, shown as `done/total unit`; None shows only the percentage (for a
            time budget, whose count is the elapsed time itself).
        quiet: Print nothing.
        stream: Where to write; None for `sys.stderr`.

    Example:
        >>> progress = Progress("tokenizing texts", len(texts), "texts")  # doctest: +SKIP
        >>> for text in texts:  # doctest: +SKIP
        ...     progress.update()
        >>> progress.close()  # doctest: +SKIP
    """

    def __init__(self, label, total=None, unit="examples", quiet=False, stream=None):
        self.label, self.total, self.unit, self.quiet = label, total, unit, quiet
        self.stream = sys.stderr if stream is None else stream
        self.done = 0
        self.note = None
        self._remaining = None
        self._interactive = is_terminal(self.stream)
        self._start = time.monotonic()
        self._last_draw = self._start
        self._last_quarter = 0
        self._width = 0

    @property
    def elapsed(self):
        """Seconds since the progress was created."""
        return time.monotonic() - self._start

    def update(self, count=1, note=None, remaining=None):
        """Adds `count` to what is done and redraws when it is time to.

        Args:
            count: Units just done.
            note: Text shown after the times (e.g. `step 120, loss 3.412`); None keeps the last one.
            remaining: Seconds left when the caller knows them (a time budget); None estimates them
                from the rate so far.
        """
        self.done += count
        if note is not None:
            self.note = note
        self._remaining = remaining
        if not self.quiet and self._due():
            self._draw(end="\r" if self._interactive else "\n")

    def status(self, note):
        """Shows `note` now on a terminal (e.g. what runs before the first unit is done); elsewhere it
        waits for the next line."""
        self.note = note
        if not self.quiet and self._interactive:
            self._draw(end="\r")

    def close(self, note=None):
        """Draws the final line (what was done, in how long) and ends it."""
        if note is not None:
            self.note = note
        if not self.quiet:
            self._draw(end="\n", final=True)

    def _due(self):
        now = time.monotonic()
        if self._interactive:
            due = now - self._last_draw >= _TERMINAL_REDRAW_SECONDS
        elif self.total:
            quarter = min(int(4 * self.done / self.total), 3)  # the end has its own line
            due = quarter > self._last_quarter and now - self._last_draw >= _PLAIN_LINE_SECONDS
            if due:
                self._last_quarter = quarter
        else:
            due = now - self._last_draw >= _PLAIN_LINE_SECONDS_WITHOUT_TOTAL
        if due:
            self._last_draw = now
        return due

    def _line(self, final):
        fraction = min(self.done / self.total, 1.0) if self.total else None
        head = []
        if self.unit is not None:
            of = f"/{self.total:,}" if self.total else ""
            percent = f" ({100 * fraction:.0f}%)" if fraction is not None else ""
            head.append(f"{self.done:,}{of} {self.unit}{percent}")
        elif fraction is not None:
            head.append(f"{100 * fraction:.0f}%")
        if fraction is not None and self._interactive and not final:
            filled = int(round(BAR_WIDTH * fraction))
            head.append("[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]")
        if final:
            times = f"in {clock(self.elapsed)}"
        else:
            times = f"{clock(self.elapsed)} elapsed"
            remaining = self._remaining
            if remaining is None and fraction:
                remaining = self.elapsed * (1 - fraction) / fraction
            if remaining is not None:
                times += f", {clock(remaining)} left"
        tail = [times] + ([self.note] if self.note else [])
        return f"{self.label}: " + " ".join(head + [", ".join(tail)])

    def _draw(self, end, final=False):
        line = self._line(final)
        # A shorter line than the last one would leave the old one's tail on a terminal.
        padding = " " * max(0, self._width - len(line)) if self._interactive else ""
        self._width = len(line) if end == "\r" else 0
        self.stream.write(line + padding + end)
        self.stream.flush()


@contextlib.contextmanager
def activity(label, quiet=False, stream=None):
    """Shows `label: 0:12 elapsed` ticking on a terminal while the block runs, for work that counts
    nothing (compiling, exporting); the line is erased at the end, for the caller's own line saying
    what was done. Elsewhere nothing is written.

    Args:
        label: What is being done.
        quiet: Print nothing.
        stream: Where to write; None for `sys.stderr`.

    Yields:
        A `Stopwatch`: its `seconds` is the block's duration once it ended.
    """
    stream = sys.stderr if stream is None else stream
    stopwatch = Stopwatch()
    if quiet or not is_terminal(stream):
        with stopwatch:
            yield stopwatch
        return
    finished = threading.Event()
    drawn = []

    def tick():
        while not finished.wait(_TERMINAL_REDRAW_SECONDS):
            line = f"{label}: {clock(stopwatch.running)} elapsed"
            if not drawn or drawn[-1] != line:  # a write per second, not five
                drawn.append(line)
                stream.write(line + "\r")
                stream.flush()

    ticker = threading.Thread(target=tick, name="gpt_keras progress", daemon=True)
    ticker.start()
    try:
        with stopwatch:
            yield stopwatch
    finally:
        finished.set()
        ticker.join()
        if drawn:
            stream.write(" " * len(drawn[-1]) + "\r")
            stream.flush()


class Stopwatch:
    """The seconds a `with` block took (`seconds`), and how long it has run so far (`running`)."""

    def __init__(self):
        self.seconds = 0.0
        self._start = None

    @property
    def running(self):
        return 0.0 if self._start is None else time.monotonic() - self._start

    def __enter__(self):
        self._start = time.monotonic()
        return self

    def __exit__(self, *exc_info):
        self.seconds = self.running
