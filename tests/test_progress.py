"""Progress lines: on a terminal one line redrawn in place with a bar, the elapsed and the remaining
time; elsewhere a line per quarter of the work at most and one at the end; ticking activities."""
import io
import time

import pytest

from gpt_keras import progress as progress_module
from gpt_keras.progress import Progress, activity, clock


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def fake_clock(monkeypatch):
    """`time.monotonic` in gpt_keras.progress, moved on by hand."""
    now = [1000.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: now[0])
    return now


def test_clock_reads_minutes_and_hours():
    assert [clock(s) for s in (0, 7.4, 59.6, 754, 3723, -3)] == ["0:00", "0:07", "1:00", "12:34", "1:02:03", "0:00"]


def test_on_a_terminal_the_line_is_redrawn_with_a_bar_and_the_remaining_time(fake_clock):
    terminal = Terminal()
    progress = Progress("tokenizing texts", 400, "texts", stream=terminal)
    fake_clock[0] += 10
    progress.update(100, note="loss 3.412")
    fake_clock[0] += 0.1
    progress.update(100)  # within 0.2 s of the last draw: not drawn
    fake_clock[0] += 10
    progress.update(100)
    progress.close()
    first, second, final = terminal.getvalue().split("\r")
    assert first == "tokenizing texts: 100/400 texts (25%) [######------------------] 0:10 elapsed, 0:30 left, loss 3.412"
    # 300 of 400 in 20.1 s: 6.7 s left; the note stays until replaced.
    assert second == "tokenizing texts: 300/400 texts (75%) [##################------] 0:20 elapsed, 0:07 left, loss 3.412"
    ended = "tokenizing texts: 300/400 texts (75%) in 0:20, loss 3.412"
    assert final == ended + " " * (len(second) - len(ended)) + "\n"  # spaces cover the longer line before it


def test_elsewhere_a_line_per_quarter_ten_seconds_apart_and_one_at_the_end(fake_clock):
    log = io.StringIO()
    progress = Progress("training", 100, None, stream=log)
    for _ in range(100):
        fake_clock[0] += 1
        progress.update(1, note="step 3", remaining=100 - progress.done - 1)
    progress.close()
    assert log.getvalue().splitlines() == [
        "training: 25% 0:25 elapsed, 1:15 left, step 3",
        "training: 50% 0:50 elapsed, 0:50 left, step 3",
        "training: 75% 1:15 elapsed, 0:25 left, step 3",
        "training: 100% in 1:40, step 3",
    ]
    quick = io.StringIO()
    progress = Progress("reading 1 file(s)", 4000, "bytes", stream=quick)
    for _ in range(4):
        fake_clock[0] += 1
        progress.update(1000)
    progress.close()
    assert quick.getvalue() == "reading 1 file(s): 4,000/4,000 bytes (100%) in 0:04\n"  # quarters under 10 s apart


def test_without_a_total_lines_are_30_seconds_apart_and_status_waits_for_them(fake_clock):
    log = io.StringIO()
    progress = Progress("reading", unit="lines", stream=log)
    progress.status("opening")  # not a terminal: no line of its own
    for _ in range(70):
        fake_clock[0] += 1
        progress.update(10)
    progress.close()
    assert log.getvalue().splitlines() == [
        "reading: 300 lines 0:30 elapsed, opening",
        "reading: 600 lines 1:00 elapsed, opening",
        "reading: 700 lines in 1:10, opening",
    ]
    assert Progress("x", 3, quiet=True, stream=log).close() is None and log.getvalue().count("\n") == 3


def test_an_activity_ticks_on_a_terminal_and_erases_its_line(monkeypatch):
    monkeypatch.setattr(progress_module, "_TERMINAL_REDRAW_SECONDS", 0.01)
    terminal = Terminal()
    with activity("exporting", stream=terminal) as stopwatch:
        time.sleep(0.1)
    assert stopwatch.seconds >= 0.1
    assert terminal.getvalue() == "exporting: 0:00 elapsed\r" + " " * 23 + "\r"  # drawn once, then erased
    with activity("exporting", stream=terminal):
        pass  # over before the first tick: nothing to draw or erase
    assert terminal.getvalue().count("\r") == 2
    log = io.StringIO()
    with activity("exporting", stream=log) as stopwatch:
        time.sleep(0.02)
    assert log.getvalue() == "" and stopwatch.seconds >= 0.02
