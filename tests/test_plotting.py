"""Loss curves: a PNG drawn by matplotlib, or without it a CSV and one line saying how to get the picture;
matplotlib is never imported by `import gpt_keras`."""
import csv
import math
import struct
import subprocess
import sys

import pytest

from gpt_keras.plotting import INSTALL_HINT, SMOOTHED, TRAIN, VALIDATION, plot_loss_curve, smooth

STEPS = list(range(1, 201))
LOSSES = [2.0 + 6.0 * math.exp(-step / 40) + 0.3 * math.sin(step) for step in STEPS]
VALIDATION_POINTS = ([100, 200], [3.1, 2.4])


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_the_curve_is_a_png_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    curve = plot_loss_curve(tmp_path / "out" / "curve.png", (STEPS, LOSSES), VALIDATION_POINTS, perplexity_axis=True)
    assert curve.path == tmp_path / "out" / "curve.png" and curve.note is None
    width, height = png_size(curve.path.read_bytes())
    assert (width, height) == (800, 480)
    assert sorted(p.name for p in curve.path.parent.iterdir()) == ["curve.png"]  # no temporary file left


def test_without_matplotlib_the_curve_is_a_csv_and_one_line_says_how_to_draw_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    curve = plot_loss_curve(tmp_path / "curve.png", (STEPS, LOSSES), VALIDATION_POINTS)
    assert curve.path == tmp_path / "curve.csv" and not (tmp_path / "curve.png").exists()
    assert INSTALL_HINT in curve.note and str(curve.path) in curve.note and "\n" not in curve.note
    with curve.path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["series", "step", "loss"]
    by_series = {}
    for name, step, loss in rows[1:]:
        by_series.setdefault(name, []).append((int(step), float(loss)))
    assert by_series[TRAIN] == list(zip(STEPS, LOSSES))
    assert [step for step, _ in by_series[SMOOTHED]] == STEPS
    assert by_series[VALIDATION] == list(zip(*VALIDATION_POINTS))


def test_an_empty_curve_is_refused():
    with pytest.raises(ValueError, match="train: expected"):
        plot_loss_curve("unused.png", ([], []))


def test_smoothing_follows_the_trend_and_skips_non_finite_losses():
    assert smooth([3.0] * 50) == pytest.approx([3.0] * 50)  # debiased: no ramp up from 0
    noisy = [5.0 + (1 if i % 2 else -1) for i in range(400)]
    assert max(abs(value - 5.0) for value in smooth(noisy)[100:]) < 0.2
    assert smooth([2.0, math.nan, 4.0], span=1) == [2.0, 2.0, 4.0]
    assert math.isnan(smooth([math.inf, 1.0], span=1)[0])


def test_importing_gpt_keras_and_its_plotting_does_not_import_matplotlib():
    code = "import sys, gpt_keras, gpt_keras.plotting, gpt_keras.cli; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_baselines_are_dashed_lines_in_the_png_and_rows_without_a_step_in_the_csv(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    baselines = {"unigram model, held-out": 6.3}
    plain = plot_loss_curve(tmp_path / "plain.png", (STEPS, LOSSES), VALIDATION_POINTS)
    drawn = plot_loss_curve(tmp_path / "drawn.png", (STEPS, LOSSES), VALIDATION_POINTS, baselines=baselines)
    assert png_size(drawn.path.read_bytes()) == (800, 480)
    assert drawn.path.read_bytes() != plain.path.read_bytes()  # the line and its legend entry are drawn
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    curve = plot_loss_curve(tmp_path / "curve.png", (STEPS, LOSSES), VALIDATION_POINTS, baselines=baselines)
    with curve.path.open(newline="") as handle:
        assert list(csv.reader(handle))[-1] == ["unigram model, held-out", "", "6.3"]
