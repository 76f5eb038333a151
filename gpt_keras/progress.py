"""A progress line on stderr for long work (tokenizing, reading corpora), with no dependencies.

Kept apart from `gpt_keras.data` so that commands which never touch TensorFlow (the tokenizer's) can
show progress without importing it.
"""
import sys
import time


class Progress:
    """A minimal progress line on stderr: `label: done/total unit (pct%)`, redrawn at most 5 times a
    second on a terminal, once every 10 s otherwise, always once at the end.

    Args:
        label: What is being done.
        total: Expected count, or None when unknown.
        unit: The unit counted.
        quiet: Print nothing.
    """

    def __init__(self, label, total=None, unit="examples", quiet=False):
        self.label, self.total, self.unit, self.quiet = label, total, unit, quiet
        self.done = 0
        self._interactive = sys.stderr.isatty()
        self._last = 0.0
        self._start = time.monotonic()

    def update(self, count=1):
        self.done += count
        now = time.monotonic()
        if not self.quiet and now - self._last >= (0.2 if self._interactive else 10.0):
            self._last = now
            self._draw(end="\r" if self._interactive else "\n")

    def close(self):
        if not self.quiet:
            self._draw(end="\n")

    def _draw(self, end):
        of = "" if not self.total else f"/{self.total:,}"
        percent = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        elapsed = time.monotonic() - self._start
        sys.stderr.write(f"{self.label}: {self.done:,}{of} {self.unit}{percent} {elapsed:.1f}s{end}")
        sys.stderr.flush()
