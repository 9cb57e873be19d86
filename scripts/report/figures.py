"""The report's figures: what each one shows and its size; ``scripts.plots`` draws them.

A ``Figure`` is a plotting function of ``scripts.plots`` with its arguments,
picklable, so that worker processes can draw it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from scripts import plots
from scripts.report import analysis as ra

FloatArray = npt.NDArray[np.float64]

DPI = 80
CURVES_INCHES = (10.0, 7.5)
COMPARISON_INCHES = (10.0, 5.0)
PANEL_INCHES = 4.0
BOUNDARY_COLS = 4


def _pixels(inches: tuple[float, float]) -> tuple[int, int]:
    return round(inches[0] * DPI), round(inches[1] * DPI)


def curves_size() -> tuple[int, int]:
    """Pixel size (width, height) of a learning-curve figure."""
    return _pixels(CURVES_INCHES)


def comparison_size() -> tuple[int, int]:
    """Pixel size of the defaults' ground truth vs. prediction figure."""
    return _pixels(COMPARISON_INCHES)


def boundary_size(panels: int) -> tuple[int, int]:
    """Pixel size of a decision-boundary figure with one panel per setting."""
    return _pixels(plots.boundary_inches(panels, BOUNDARY_COLS, PANEL_INCHES))


@attrs.frozen(eq=False)
class Figure:
    """A figure to draw: a function of ``scripts.plots`` and its arguments."""

    path: Path
    draw: Callable[..., None]
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = attrs.field(factory=dict)


def draw_figure(fig: Figure) -> str:
    """Draw ``fig`` (into a temporary file renamed onto its path); returns the path."""
    fig.draw(fig.path, *fig.args, **fig.kwargs)
    return str(fig.path)


def comparison(path: Path, title: str, x: FloatArray, y: FloatArray, pred: FloatArray) -> Figure:
    """Ground truth beside prediction (the lab's figure)."""
    return Figure(path, plots.save_comparison, (x, y, pred, title), {"inches": COMPARISON_INCHES, "dpi": DPI})


def curves(
    path: Path, title: str, labels: Sequence[str], curves: Sequence[ra.Curves], threshold: float, loss_label: str
) -> Figure:
    """Median loss with an interquartile band (log scale) and the share of seeds at 100% accuracy."""
    lines = [
        plots.Curve(label, c.loss_median, (plots.AccuracyLine(c.share_perfect),), (c.loss_q1, c.loss_q3))
        for label, c in zip(labels, curves, strict=True)
    ]
    layout = plots.CurveLayout(
        title,
        f"{loss_label} (log scale)\nmedian, band: quartiles",
        "seeds at 100%\naccuracy (%)",
        threshold=threshold,
        inches=CURVES_INCHES,
        dpi=DPI,
    )
    return Figure(path, plots.save_learning_curves, (lines, layout))


def boundaries(
    path: Path, title: str, panels: Sequence[tuple[str, FloatArray]], x: FloatArray, y: FloatArray
) -> Figure:
    """P(class 1) over the unit square, one panel per setting, with the data."""
    kwargs = {"cols": BOUNDARY_COLS, "panel_inches": PANEL_INCHES, "dpi": DPI}
    return Figure(path, plots.save_boundaries, (title, list(panels), x, y), kwargs)
