"""Loss curves: a PNG drawn with matplotlib (the optional `plot` extra), or a CSV of the curve without it.

matplotlib is imported when a curve is drawn, never by `import gpt_keras`, and draws on its Agg canvas
without pyplot, so a user's own backend and open figures are left alone.

    >>> plot_loss_curve("loss_curve.png", (steps, losses), validation=(epoch_steps, val_losses))  # doctest: +SKIP
    CurveFile(path=PosixPath('loss_curve.png'), note=None)
"""
import csv
import io
import math
from pathlib import Path
from typing import NamedTuple

from gpt_keras._fs import atomic_file, atomic_write_text

INSTALL_HINT = 'pip install "gpt-keras[plot]"'
TRAIN, SMOOTHED, VALIDATION = "training loss, per step", "training loss, smoothed", "validation loss"


class CurveFile(NamedTuple):
    """What `plot_loss_curve` wrote.

    Attributes:
        path: The PNG, or without matplotlib the CSV beside where the PNG would be.
        note: Without matplotlib, one line saying so and how to get the picture; else None.
    """

    path: Path
    note: str | None


def smooth(values, span=None):
    """An exponential moving average of `values`, debiased at the start as TensorBoard's is.

    Args:
        values: The raw losses; NaN and infinite values are skipped (their point keeps the last average).
        span: Steps the average reaches over (its factor is 1 - 2 / (span + 1)); None for a twentieth
            of the points, which follows a trend over a few hundred steps without lagging behind it.

    Returns:
        A list as long as `values`.
    """
    span = span or max(1, len(values) // 20)
    decay = 1 - 2 / (span + 1)
    average, weight, smoothed = 0.0, 0.0, []
    for value in values:
        if math.isfinite(value):
            average, weight = decay * average + (1 - decay) * value, decay * weight + (1 - decay)
        smoothed.append(average / weight if weight else math.nan)
    return smoothed


def plot_loss_curve(path, train, validation=None, title="Training loss", perplexity_axis=False, baselines=None):
    """Writes a loss curve: each step's training loss (light), its smoothed line, and validation losses.

    Args:
        path: The PNG to write; its directory is created if needed.
        train: `(steps, losses)`: the global step and loss of each training step.
        validation: `(steps, losses)` of the evaluations, or None.
        title: The plot's title.
        perplexity_axis: Also label the loss axis in perplexity, exp(loss), on the right (for LMs, whose
            loss is the mean next-token log-likelihood in nats).
        baselines: `{label: loss}` drawn as dashed horizontal lines (e.g. a unigram model's held-out
            loss), or None.

    Returns:
        A `CurveFile`: with matplotlib, the PNG; without it, a CSV (`series,step,loss`; a baseline's
        step is empty) at `path` with a .csv suffix, and a note saying how to get the picture.

    Raises:
        ValueError: `train` holds no point.
    """
    path = Path(path)
    steps, losses = (list(column) for column in train)
    if not steps or len(steps) != len(losses):
        raise ValueError(
            f"train: expected (steps, losses) of one non-zero length, got {len(steps)} steps and {len(losses)} losses"
        )
    series = {TRAIN: (steps, losses), SMOOTHED: (steps, smooth(losses))}
    if validation is not None and len(validation[0]):
        series[VALIDATION] = tuple(list(column) for column in validation)
    baselines = dict(baselines or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    drawing = _matplotlib()
    if drawing is None:
        csv_path = path.with_suffix(".csv")
        _write_csv(csv_path, series, baselines)
        note = f"matplotlib is not installed: the loss curve is {csv_path}; {INSTALL_HINT} draws it as {path.name}"
        return CurveFile(csv_path, note)
    _draw(drawing, path, series, baselines, title, perplexity_axis)
    return CurveFile(path, None)


def _matplotlib():
    """matplotlib's `Figure` and Agg canvas classes, or None when matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: F401  (a missing package fails here, before its submodules)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure, FigureCanvasAgg


def _draw(drawing, path, series, baselines, title, perplexity_axis):
    import numpy as np

    Figure, FigureCanvasAgg = drawing
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    figure = Figure(figsize=(8, 4.8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(*series[TRAIN], color="tab:blue", alpha=0.3, linewidth=0.8, label=TRAIN)
    axes.plot(*series[SMOOTHED], color="tab:blue", linewidth=2.0, label=SMOOTHED)
    if VALIDATION in series:
        axes.plot(*series[VALIDATION], color="tab:orange", marker="o", linewidth=1.5, label=VALIDATION)
    for (label, loss), color in zip(baselines.items(), ("tab:gray", "tab:green", "tab:purple", "tab:brown")):
        axes.axhline(loss, color=color, linestyle="--", linewidth=1.2, label=label)
    axes.set_xlabel("step")
    axes.set_ylabel("loss (nats per token)" if perplexity_axis else "loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right")
    if perplexity_axis:
        # Clipped so that the axis's own probing far outside the data neither overflows nor takes log(0).
        to_perplexity = lambda loss: np.exp(np.clip(loss, -50.0, 50.0))
        to_loss = lambda perplexity: np.log(np.maximum(perplexity, 1e-20))
        perplexity = axes.secondary_yaxis("right", functions=(to_perplexity, to_loss))
        # Evenly spaced losses are a geometric series of perplexities: ticks at 1-2-5 of each decade.
        perplexity.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        perplexity.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        perplexity.yaxis.set_minor_locator(NullLocator())
        perplexity.set_ylabel("perplexity")
    with atomic_file(path, "wb") as handle:
        figure.savefig(handle, format="png")


def _write_csv(path, series, baselines):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("series", "step", "loss"))
    for name, (steps, losses) in series.items():
        writer.writerows((name, step, repr(float(loss))) for step, loss in zip(steps, losses))
    writer.writerows((label, "", repr(float(loss))) for label, loss in baselines.items())
    atomic_write_text(path, buffer.getvalue())
