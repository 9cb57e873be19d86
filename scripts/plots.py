"""Figures for the scripts (matplotlib, Agg backend).  Side effects: files only."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes

FloatArray = npt.NDArray[np.float64]

CLASS_COLOURS = ("tab:red", "tab:blue")


def _scatter(ax: Axes, x: FloatArray, labels: FloatArray, title: str) -> None:
    flat = labels.reshape(-1)
    for cls, colour in enumerate(CLASS_COLOURS):
        pick = flat == cls
        ax.scatter(x[pick, 0], x[pick, 1], c=colour, s=28, edgecolors="k", linewidths=0.4, label=f"class {cls}")
    ax.set_title(title)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_aspect("equal")
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)


def save_comparison(path: Path, x: FloatArray, y: FloatArray, pred: FloatArray, title: str) -> None:
    """Ground truth beside prediction, one colour per class."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.4), constrained_layout=True)
    _scatter(left, x, y, "Ground truth")
    wrong = int(np.count_nonzero(pred.reshape(-1) != y.reshape(-1)))
    _scatter(right, x, pred, f"Predict result ({wrong} wrong)")
    handles, labels = right.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=9)
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_learning_curve(path: Path, loss: FloatArray, accuracy: FloatArray, title: str, loss_name: str) -> None:
    """Loss (log scale) and accuracy against epoch."""
    epochs = np.arange(1, loss.shape[0] + 1)
    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    ax.plot(epochs, loss, color="tab:purple", lw=1.4, label=f"loss ({loss_name})")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{loss_name} loss (log scale)")
    ax.grid(True, which="both", alpha=0.3)
    acc_ax = ax.twinx()
    acc_ax.plot(epochs, 100 * accuracy, color="tab:green", lw=1.0, alpha=0.8, label="accuracy")
    acc_ax.set_ylabel("accuracy (%)")
    acc_ax.set_ylim(0, 105)
    lines = ax.get_lines() + acc_ax.get_lines()
    ax.legend(lines, [str(line.get_label()) for line in lines], loc="center right")
    ax.set_title(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
