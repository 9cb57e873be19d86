"""Every figure of the scripts (matplotlib, Agg backend).  Side effects: files only, each written atomically.

    save_comparison(path, x, y, pred, title, ...)          ground truth beside prediction (lab, report)
    save_learning_curves(path, curves, layout)             loss and accuracy per epoch (lab, report, cnn)
    save_boundaries(path, title, panels, x, y, ...)        P(class 1) over the unit square (report)
    save_predictions(path, images, prob, truth, ...)       a grid of images with their predictions (cnn)
    save_filters(path, kernels, biases)                    a grid of learned kernels (cnn)
    save_class_comparison(path, x, truth, pred, classes, title)   the same for k classes, any extent (lab)
    save_value_comparison(path, x, truth, pred, r2, title)        the same for real-valued targets (lab)
    save_panels(path, panels, title)                       lines over epochs, panels side by side (digits)
    save_confusion(path, matrices, title)                  confusion matrices side by side (digits)
    save_image_grid(path, images, captions, title)         small images with captions, one mosaic (digits)
    save_animation(path, frames, x, values, extent, kind=...)   a GIF: the decision boundary forming (lab --animate)

The report draws in worker processes: every function here is picklable by
name and takes only arrays, strings and attrs records.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import attrs
import numpy as np
import numpy.typing as npt

from scripts._files import atomic_write

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FloatArray = npt.NDArray[np.float64]

CLASS_COLOURS = ("tab:red", "tab:blue")
UNIT_TICKS = (0.0, 0.5, 1.0)
LOG_FLOOR = 1e-16
"""A loss of exactly 0 has no place on a log axis: it is drawn here."""


def _pyplot() -> ModuleType:
    """matplotlib.pyplot with the Agg backend, imported on first use: importing this module stays fast
    (the report's main process builds figures that its workers draw)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _margins(
    fig: Figure, *, left: float, right: float, bottom: float, top: float, wspace: float = 0.2, hspace: float = 0.2
) -> None:
    """Fixed margins in inches.  The report's figures have known sizes and contents; a layout engine
    (constrained layout) took half of their drawing time."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h, wspace=wspace, hspace=hspace
    )


def _save(fig: Figure, path: Path, dpi: int) -> None:
    plt = _pyplot()
    try:
        with atomic_write(Path(path)) as fh:
            fig.savefig(fh, dpi=dpi, format="png")
    finally:
        plt.close(fig)


def scatter_classes(ax: Axes, x: FloatArray, labels: FloatArray, *, axis_labels: bool = True) -> None:
    """The points of ``x`` in the unit square, one colour per class of ``labels``."""
    flat = labels.reshape(-1)
    for cls, colour in enumerate(CLASS_COLOURS):
        pick = flat == cls
        ax.scatter(x[pick, 0], x[pick, 1], c=colour, s=26, edgecolors="k", linewidths=0.6, label=f"class {cls}")
    if axis_labels:
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
    ax.set_aspect("equal")
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xticks(UNIT_TICKS)  # fixed: the tick locator's work was a quarter of a figure's time
    ax.set_yticks(UNIT_TICKS)


def save_comparison(
    path: Path,
    x: FloatArray,
    y: FloatArray,
    pred: FloatArray,
    title: str,
    *,
    inches: tuple[float, float] = (9.0, 4.4),
    dpi: int = 110,
) -> None:
    """Ground truth beside prediction, one colour per class."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=inches)
    _margins(fig, left=0.6, right=0.2, bottom=0.9, top=0.6, wspace=0.25)
    scatter_classes(left, x, y)
    left.set_title("Ground truth")
    wrong = int(np.count_nonzero(pred.reshape(-1) != y.reshape(-1)))
    scatter_classes(right, x, pred)
    right.set_title(f"Predict result ({wrong} wrong)")
    handles, labels = right.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=2, fontsize=9)
    fig.suptitle(title)
    _save(fig, path, dpi)


# -------------------------------------------------------- learning curves ---


@attrs.frozen
class AccuracyLine:
    """One accuracy line of a curve: values are shares in [0, 1], drawn in percent."""

    values: FloatArray
    label: str = ""
    style: str = "-"


@attrs.frozen
class Curve:
    """One model (or one setting's seeds) in a learning-curve figure; every array is `(epochs,)`.

    Attributes:
        label: legend entry of the loss line.
        loss: the loss line (a median, for several seeds).
        accuracy: lines of the accuracy panel, in the curve's colour.
        band: low and high loss lines (e.g. quartiles) to shade, or None.
    """

    label: str
    loss: FloatArray
    accuracy: tuple[AccuracyLine, ...] = ()
    band: tuple[FloatArray, FloatArray] | None = None


@attrs.frozen
class CurveLayout:
    """How a learning-curve figure looks.

    Attributes:
        title: the figure's title.
        loss_label, accuracy_label: the panels' y labels.
        side_by_side: loss and accuracy panels in a row (else stacked, sharing the epoch axis).
        threshold: a loss drawn as a dashed line, or None.
        target: an accuracy (share) drawn as a dotted line, or None.
        accuracy_floor: lower end of the accuracy axis, in percent.
        inches, dpi: the figure's size.
        max_points: longer curves are drawn at this many epochs (the last one included).
    """

    title: str
    loss_label: str
    accuracy_label: str = "accuracy (%)"
    side_by_side: bool = False
    threshold: float | None = None
    target: float | None = None
    accuracy_floor: float = -3.0
    inches: tuple[float, float] = (7.0, 5.5)
    dpi: int = 110
    max_points: int = 2000


def _epochs_drawn(epochs: int, max_points: int) -> npt.NDArray[np.intp]:
    step = max(1, epochs // max_points)
    return np.unique(np.append(np.arange(0, epochs, step), epochs - 1))


def _draw_curve(loss_ax: Axes, acc_ax: Axes, curve: Curve, colour: object, max_points: int) -> None:
    idx = _epochs_drawn(curve.loss.shape[0], max_points)
    x = idx + 1
    loss_ax.plot(x, np.maximum(curve.loss[idx], LOG_FLOOR), color=colour, lw=1.5, label=curve.label)
    if curve.band is not None:
        low, high = (np.maximum(b[idx], LOG_FLOOR) for b in curve.band)
        loss_ax.fill_between(x, low, high, color=colour, alpha=0.18, lw=0)
    for line in curve.accuracy:
        acc_ax.plot(x, 100 * line.values[idx], color=colour, lw=1.3, ls=line.style, label=line.label or None)


def save_learning_curves(path: Path, curves: Sequence[Curve], layout: CurveLayout) -> None:
    """Loss (log scale, with optional bands) and accuracy per epoch, one colour per curve."""
    plt = _pyplot()
    if layout.side_by_side:
        fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=layout.inches)
        _margins(fig, left=1.05, right=0.2, bottom=0.55, top=0.45, wspace=0.25)
    else:
        fig, (loss_ax, acc_ax) = plt.subplots(2, 1, figsize=layout.inches, sharex=True, height_ratios=(2.2, 1))
        _margins(fig, left=0.95, right=0.2, bottom=0.55, top=0.45, hspace=0.08)
    colours = plt.get_cmap("tab10").colors
    for i, curve in enumerate(curves):
        _draw_curve(loss_ax, acc_ax, curve, colours[i % len(colours)], layout.max_points)
    if layout.threshold is not None:
        loss_ax.axhline(layout.threshold, color="k", ls="--", lw=0.8, label=f"threshold {layout.threshold:g}")
    if layout.target is not None:
        acc_ax.axhline(100 * layout.target, color="grey", ls=":", lw=0.8, label=f"{100 * layout.target:.0f}%")
    loss_ax.set_yscale("log")
    loss_ax.set_ylabel(layout.loss_label)
    loss_ax.grid(True, which="both", alpha=0.25)
    loss_ax.legend(fontsize=8, ncols=2 if len(curves) > 3 else 1, loc="best")
    acc_ax.set_ylabel(layout.accuracy_label)
    acc_ax.set_ylim(layout.accuracy_floor, 103)
    acc_ax.set_xlabel("epoch")
    acc_ax.grid(True, alpha=0.25)
    if acc_ax.get_legend_handles_labels()[1]:
        acc_ax.legend(fontsize=8, loc="lower right")
    if layout.side_by_side:
        loss_ax.set_xlabel("epoch")
    fig.suptitle(layout.title)
    _save(fig, path, layout.dpi)


# ------------------------------------------------------ decision boundaries ---


def boundary_grid(panels: int, cols: int) -> tuple[int, int]:
    """(columns, rows) of a figure with ``panels`` panels, at most ``cols`` per row."""
    cols = min(cols, panels)
    return cols, -(-panels // cols)


def boundary_inches(panels: int, cols: int, panel_inches: float) -> tuple[float, float]:
    """The size of ``save_boundaries``' figure (room for the colour bar and the title)."""
    c, r = boundary_grid(panels, cols)
    return panel_inches * c + 1.0, panel_inches * r + 0.5


def save_boundaries(
    path: Path,
    title: str,
    panels: Sequence[tuple[str, FloatArray]],
    x: FloatArray,
    y: FloatArray,
    *,
    cols: int = 4,
    panel_inches: float = 4.0,
    dpi: int = 80,
) -> None:
    """Predicted probability of class 1 over the unit square (a `(G, G)` grid, rows = x2), one panel per
    entry of ``panels`` (its title and grid), with the data points and the 0.5 contour."""
    plt = _pyplot()
    c, r = boundary_grid(len(panels), cols)
    w, h = boundary_inches(len(panels), cols, panel_inches)
    fig, axes = plt.subplots(r, c, figsize=(w, h), squeeze=False)
    _margins(fig, left=0.4, right=1.0, bottom=0.3, top=0.8, wspace=0.25, hspace=0.35)
    image = None
    for ax, (label, grid) in zip(axes.ravel(), panels, strict=False):
        image = ax.imshow(grid, origin="lower", extent=(0, 1, 0, 1), vmin=0.0, vmax=1.0, cmap="RdBu", alpha=0.45)
        if grid.min() < 0.5 < grid.max():
            axis = np.linspace(0.0, 1.0, grid.shape[0])
            ax.contour(axis, axis, grid, levels=[0.5], colors="k", linewidths=1.0)
        scatter_classes(ax, x, y, axis_labels=False)
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    if image is not None:
        bar = fig.add_axes((1 - 0.75 / w, 0.15, 0.15 / w, 0.7))  # in the right margin
        fig.colorbar(image, cax=bar, label="P(class 1)")
    fig.suptitle(title)
    _save(fig, path, dpi)


# ------------------------------------------------------------ image grids ---


def _frame(ax: Axes, ok: bool) -> None:
    for side in ax.spines.values():
        side.set_color("black" if ok else "tab:red")
        side.set_linewidth(0.5 if ok else 2.5)
    ax.set_xticks([])
    ax.set_yticks([])


def save_predictions(
    path: Path,
    images: FloatArray,
    prob: FloatArray,
    truth: npt.NDArray[np.bool_],
    class_names: tuple[str, str],
    title: str,
) -> None:
    """Images `(k, H, W)` with the predicted class and probability of class 1; wrong ones framed in red."""
    plt = _pyplot()
    cols = min(8, images.shape[0])
    rows = -(-images.shape[0] // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(1.5 * cols, 1.65 * rows + 0.5), constrained_layout=True, squeeze=False
    )
    limit = float(np.max(np.abs(images)))
    pred = prob >= 0.5
    short = class_names[1][0].upper()
    for ax, image, p, guess, true in zip(axes.ravel(), images, prob, pred, truth, strict=False):
        ax.imshow(image, cmap="gray", vmin=-limit, vmax=limit)
        ok = bool(guess == true)
        label = class_names[int(guess)][0].upper()
        ax.set_title(f"{label}  p({short})={p:.2f}", fontsize=8, color="black" if ok else "tab:red")
        _frame(ax, ok)
    for ax in axes.ravel()[images.shape[0] :]:
        ax.axis("off")
    fig.suptitle(title)
    _save(fig, path, 100)


def save_filters(path: Path, kernels: FloatArray, biases: FloatArray) -> None:
    """Kernels `(k, h, w)` of a first conv layer with their biases, on one symmetric colour scale."""
    plt = _pyplot()
    n = kernels.shape[0]
    cols = min(n, 8)
    rows = -(-n // cols)
    limit = float(np.max(np.abs(kernels)))
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.6 * rows + 0.6), constrained_layout=True, squeeze=False)
    image = None
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.axis("off")
            continue
        image = ax.imshow(kernels[k], cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"filter {k}  b={biases[k]:+.2f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, label="weight")
    fig.suptitle(f"Learned {kernels.shape[1]}x{kernels.shape[2]} filters of the first layer")
    _save(fig, path, 110)


# ------------------------------------------------------------- k classes ---

TAB10 = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:gray",
    "tab:olive",
    "tab:cyan",
)
"""Colours of up to ten classes (more than two); two classes keep the lab's red and blue."""


def class_colours(classes: int) -> tuple[str, ...]:
    """One colour per class: ``CLASS_COLOURS`` for two, ``TAB10`` for up to ten."""
    if not 2 <= classes <= len(TAB10):
        raise ValueError(f"classes must be from 2 to {len(TAB10)} (one colour each), got {classes}")
    return CLASS_COLOURS if classes == 2 else TAB10[:classes]


def square_limits(x: FloatArray, pad: float = 0.06) -> tuple[float, float]:
    """One range for both axes that holds every point of ``x`` `(n, 2)`, with a margin."""
    lo, hi = float(np.min(x)), float(np.max(x))
    margin = pad * max(hi - lo, 1e-9)
    return lo - margin, hi + margin


def scatter_labels(
    ax: Axes, x: FloatArray, labels: npt.NDArray[np.int_], classes: int, limits: tuple[float, float]
) -> None:
    """The points of ``x`` `(n, 2)`, one colour per class of ``labels`` `(n,)` (integers 0..classes-1)."""
    for cls, colour in enumerate(class_colours(classes)):
        pick = labels == cls
        ax.scatter(x[pick, 0], x[pick, 1], c=colour, s=22, edgecolors="k", linewidths=0.5, label=f"class {cls}")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_aspect("equal")
    ax.set_xlim(*limits)
    ax.set_ylim(*limits)


def save_class_comparison(
    path: Path,
    x: FloatArray,
    truth: npt.NDArray[np.int_],
    pred: npt.NDArray[np.int_],
    classes: int,
    title: str,
    *,
    inches: tuple[float, float] = (9.0, 4.6),
    dpi: int = 110,
) -> None:
    """Ground truth beside prediction for ``classes`` classes (labels `(n,)`), axes fitted to the data."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=inches)
    _margins(fig, left=0.6, right=0.2, bottom=1.0, top=0.6, wspace=0.25)
    limits = square_limits(x)
    scatter_labels(left, x, truth, classes, limits)
    left.set_title("Ground truth")
    scatter_labels(right, x, pred, classes, limits)
    right.set_title(f"Predict result ({int(np.count_nonzero(pred != truth))} wrong)")
    handles, labels = right.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=min(classes, 5), fontsize=9)
    fig.suptitle(title)
    _save(fig, path, dpi)


def save_value_comparison(
    path: Path,
    x: FloatArray,
    truth: FloatArray,
    pred: FloatArray,
    r2: float,
    title: str,
    *,
    cmap: str = "viridis",
    inches: tuple[float, float] = (9.8, 4.6),
    dpi: int = 110,
) -> None:
    """Ground truth beside prediction for real-valued targets `(n,)`: the points of ``x`` `(n, 2)`
    coloured by value on one colour scale (shown by a colour bar); ``r2`` in the title."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=inches)
    _margins(fig, left=0.6, right=1.1, bottom=0.6, top=0.75, wspace=0.25)
    limits = square_limits(x)
    lo = float(min(np.min(truth), np.min(pred)))
    hi = float(max(np.max(truth), np.max(pred)))
    hi = hi if hi > lo else lo + 1.0
    image = None
    for ax, values, label in ((left, truth, "Ground truth"), (right, pred, f"Prediction (R² = {r2:.2f})")):
        image = ax.scatter(
            x[:, 0], x[:, 1], c=values, cmap=cmap, vmin=lo, vmax=hi, s=22, edgecolors="k", linewidths=0.4
        )
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        ax.set_aspect("equal")
        ax.set_xlim(*limits)
        ax.set_ylim(*limits)
        ax.set_title(label)
    w, _ = fig.get_size_inches()
    bar = fig.add_axes((1 - 0.85 / w, 0.15, 0.15 / w, 0.7))  # in the right margin
    fig.colorbar(image, cax=bar, label="target")
    fig.suptitle(f"{title}, R² = {r2:.2f}")
    _save(fig, path, dpi)


# ------------------------------------------------------ lines over epochs ---


@attrs.frozen
class Series:
    """One line of a panel: ``values`` at ``epochs`` (both `(points,)`).

    Attributes:
        label: legend entry; "" for none (e.g. every seed but the first of a bundle).
        colour: index into ``TAB10``.
        style: matplotlib line style.
        band: low and high lines to shade, or None.
        width: line width.
    """

    label: str
    epochs: npt.NDArray[np.int_]
    values: FloatArray
    colour: int = 0
    style: str = "-"
    band: tuple[FloatArray, FloatArray] | None = None
    width: float = 1.5


@attrs.frozen
class Panel:
    """One panel of ``save_panels``: its y label, its lines, a log scale or not, its y range (None: fitted)."""

    label: str
    series: tuple[Series, ...]
    log: bool = False
    limits: tuple[float, float] | None = None


def _draw_series(ax: Axes, series: Series, log: bool) -> None:
    floor = LOG_FLOOR if log else -np.inf
    colour = TAB10[series.colour % len(TAB10)]
    ax.plot(
        series.epochs,
        np.maximum(series.values, floor),
        color=colour,
        ls=series.style,
        lw=series.width,
        label=series.label or None,
    )
    if series.band is not None:
        low, high = (np.maximum(b, floor) for b in series.band)
        ax.fill_between(series.epochs, low, high, color=colour, alpha=0.15, lw=0)


def panels_inches(panels: int) -> tuple[float, float]:
    """The size of ``save_panels``' figure."""
    return 5.6 * panels + 0.4, 4.6


def save_panels(path: Path, panels: Sequence[Panel], title: str, *, dpi: int = 110) -> None:
    """Panels side by side, each with lines over epochs (shared x label "epoch")."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=panels_inches(len(panels)), squeeze=False)
    _margins(fig, left=1.0, right=0.2, bottom=0.55, top=0.5, wspace=0.35)
    for ax, panel in zip(axes[0], panels, strict=True):
        for series in panel.series:
            _draw_series(ax, series, panel.log)
        if panel.log:
            ax.set_yscale("log")
        if panel.limits is not None:
            ax.set_ylim(*panel.limits)
        ax.set_xlabel("epoch")
        ax.set_ylabel(panel.label)
        ax.grid(True, which="both", alpha=0.25)
        if ax.get_legend_handles_labels()[1]:
            ax.legend(fontsize=8, loc="best")
    fig.suptitle(title)
    _save(fig, path, dpi)


# -------------------------------------------------------------- confusion ---


def confusion_inches(panels: int) -> tuple[float, float]:
    """The size of ``save_confusion``'s figure."""
    return 4.2 * panels + 0.3, 4.7


def _draw_confusion(ax: Axes, label: str, counts: npt.NDArray[np.int_]) -> None:
    k = counts.shape[0]
    totals = np.maximum(counts.sum(axis=1, keepdims=True), 1)
    share = counts / totals
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for (i, j), c in np.ndenumerate(counts):
        if c:
            colour = "white" if share[i, j] > 0.5 else ("tab:red" if i != j else "black")
            ax.text(j, i, str(c), ha="center", va="center", fontsize=6.5, color=colour)
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.tick_params(labelsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    wrong = int(counts.sum() - np.trace(counts))
    ax.set_title(f"{label}\n{wrong} wrong of {int(counts.sum())}", fontsize=9)


def save_confusion(
    path: Path, matrices: Sequence[tuple[str, npt.NDArray[np.int_]]], title: str, *, dpi: int = 110
) -> None:
    """Confusion matrices `(k, k)` (rows: true class, columns: predicted), side by side, each with its
    title; cells coloured by the share of their row, labelled with their counts (mistakes in red)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(matrices), figsize=confusion_inches(len(matrices)), squeeze=False)
    _margins(fig, left=0.5, right=0.2, bottom=0.55, top=0.95, wspace=0.3)
    for ax, (label, counts) in zip(axes[0], matrices, strict=True):
        _draw_confusion(ax, label, counts)
    fig.suptitle(title)
    _save(fig, path, dpi)


# ------------------------------------------------------------ image mosaic ---

CELL_INCHES = (0.85, 1.05)
"""Width and height of one image and its caption in ``save_image_grid``."""


def image_grid_inches(count: int, cols: int) -> tuple[float, float]:
    """The size of ``save_image_grid``'s figure for ``count`` images (at least one row)."""
    rows = max(1, -(-count // cols))
    return CELL_INCHES[0] * cols + 0.4, CELL_INCHES[1] * rows + 0.7


def _mosaic(images: FloatArray, cols: int, gap: int, caption: int) -> FloatArray:
    """The images `(k, H, W)` in a grid of ``cols`` columns on a NaN background, with room for captions."""
    k, h, w = images.shape
    rows = max(1, -(-k // cols))
    cell_h, cell_w = h + gap + caption, w + gap
    canvas = np.full((rows * cell_h, cols * cell_w), np.nan)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        top, left = r * cell_h + caption, c * cell_w
        canvas[top : top + h, left : left + w] = image
    return canvas


def save_image_grid(
    path: Path,
    images: FloatArray,
    captions: Sequence[str],
    title: str,
    *,
    cols: int = 10,
    caption_colour: str = "tab:red",
    dpi: int = 100,
) -> None:
    """Small images `(k, H, W)` (grey, dark = high) with a caption above each, drawn as one mosaic: one
    axes for all of them, so a grid of many images costs about what one image does."""
    plt = _pyplot()
    fig = plt.figure(figsize=image_grid_inches(images.shape[0], cols))
    w, h = fig.get_size_inches()
    ax = fig.add_axes((0.2 / w, 0.1 / h, 1 - 0.4 / w, 1 - 0.7 / h))
    k, height, width = images.shape
    gap, caption = max(1, width // 8), max(3, height // 2)
    canvas = _mosaic(images, cols, gap, caption) if k else np.full((height + gap + caption, cols), np.nan)
    cmap = plt.get_cmap("gray_r").with_extremes(bad="white")
    lo, hi = (float(np.min(images)), float(np.max(images))) if k else (0.0, 1.0)
    ax.imshow(canvas, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1.0, interpolation="nearest", aspect="auto")
    for i, text in enumerate(captions):
        r, c = divmod(i, cols)
        x = c * (width + gap) + width / 2 - 0.5
        y = r * (height + gap + caption) + caption - 0.8
        ax.text(x, y, text, ha="center", va="bottom", fontsize=7.5, color=caption_colour)
    if not k:
        ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes)
    ax.axis("off")
    fig.suptitle(title, fontsize=10)
    _save(fig, path, dpi)


# -------------------------------------------------------------- animation ---

ANIMATION_KINDS = ("probability", "classes", "values")


def save_animation(
    path: Path,
    frames: Sequence[tuple[str, FloatArray]],
    x: FloatArray,
    values: FloatArray,
    extent: tuple[float, float, float, float],
    *,
    kind: str,
    fps: int = 8,
    inches: float = 5.0,
    dpi: int = 80,
) -> None:
    """A GIF (matplotlib's animation, Pillow writer) of maps over the square ``extent`` (x1 low, high,
    x2 low, high), one frame per ``(title, map)``, with the points ``x`` `(n, 2)` on top; a map's row 0 is
    the top of the square.

    ``kind``: ``"probability"``: maps `(G, G)` of P(class 1), the 0.5 contour drawn, ``values`` the 0/1
    labels; ``"classes"``: maps `(K, G, G)` of class probabilities, drawn as the likeliest class,
    ``values`` the labels 0..K-1; ``"values"``: maps `(G, G)` of a regression's prediction, ``values``
    the targets, on one colour scale.  Written to a temporary file, then renamed onto ``path``.
    """
    if kind not in ANIMATION_KINDS:
        raise ValueError(f"kind must be one of {', '.join(ANIMATION_KINDS)}, got {kind!r}")
    if not frames:
        raise ValueError("frames must hold at least one (title, map)")
    plt = _pyplot()
    from matplotlib.animation import PillowWriter
    from matplotlib.colors import ListedColormap
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(inches, inches + 0.3))
    _margins(fig, left=0.7, right=0.15, bottom=0.5, top=0.45)
    first = frames[0][1]
    size = first.shape[-1]
    if kind == "classes":
        classes = first.shape[0]
        colours = class_colours(classes)
        image = ax.imshow(
            np.argmax(first, axis=0),
            extent=extent,
            cmap=ListedColormap(colours),
            vmin=-0.5,
            vmax=classes - 0.5,
            alpha=0.4,
            interpolation="nearest",
        )
        scatter_labels(ax, x, values.astype(np.intp), classes, extent[:2])
    elif kind == "probability":
        image = ax.imshow(
            first,
            extent=extent,
            cmap=plt.get_cmap("RdBu", 14),
            vmin=-0.2,
            vmax=1.2,
            alpha=0.6,
            interpolation="bilinear",
        )
        scatter_labels(ax, x, values.astype(np.intp), 2, extent[:2])
    else:
        lo, hi = float(np.min(values)), float(np.max(values))
        hi = hi if hi > lo else lo + 1.0
        image = ax.imshow(first, extent=extent, cmap=plt.get_cmap("viridis", 16), vmin=lo, vmax=hi, alpha=0.8)
        ax.scatter(x[:, 0], x[:, 1], c=values, cmap="viridis", vmin=lo, vmax=hi, s=18, edgecolors="k", linewidths=0.4)
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        ax.set_aspect("equal")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    for axis, lo, hi in ((ax.xaxis, extent[0], extent[1]), (ax.yaxis, extent[2], extent[3])):
        ticks = np.asarray(MaxNLocator(5).tick_values(lo, hi))  # once: the locator would run again in every frame
        axis.set_ticks(ticks[(ticks >= lo) & (ticks <= hi)])
    step1, step2 = (extent[1] - extent[0]) / size, (extent[3] - extent[2]) / size
    c1 = extent[0] + step1 * (np.arange(size) + 0.5)
    c2 = extent[2] + step2 * (np.arange(size) + 0.5)  # bottom to top: the map's rows reversed
    title = ax.set_title(frames[0][0], fontsize=10)
    drawn: list[object] = []

    def draw(k: int) -> None:
        label, grid = frames[k]
        for artist in drawn:
            artist.remove()  # type: ignore[attr-defined]
        drawn.clear()
        image.set_data(np.argmax(grid, axis=0) if kind == "classes" else grid)
        if kind == "probability" and grid.min() < 0.5 < grid.max():
            drawn.append(ax.contour(c1, c2, grid[::-1], levels=[0.5], colors="k", linewidths=1.2))
        title.set_text(label)

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")  # Pillow picks GIF by the suffix
    try:
        # the writer driven frame by frame: FuncAnimation.save would draw each frame twice
        writer = PillowWriter(fps=fps)
        with writer.saving(fig, str(tmp), dpi):
            for k in range(len(frames)):
                draw(k)
                writer.grab_frame()
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror, str(path)) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
