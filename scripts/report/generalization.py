"""Experiment G, "Generalization": an over-parameterized network on noisy spirals, half of the points
held out, across seeds: training and held-out curves with no regularization, weight decay, dropout and
early stopping; a table of held-out accuracy (median and worst seed) and findings from the traces.

    data()                         -> (train, validation, test)     # standardized with the training half's statistics
    jobs(seeds, epochs)            -> tuple[Job, ...]               # one stacked run per setting (longest first), checked
    run_job(job, check)            -> Result                        # trains here (check() after every epoch may raise), reduces
    train_all(jobs, sweep)         -> list[Result]                  # through fnn.sweep on the report's executor
    findings(rows, baseline)       -> list[str]                     # pure: every sentence from the numbers
    section(results, seeds, epochs, figure_dir, seconds) -> (blocks, figures, summary)

The data: ``fnn.generate_spiral(300, noise=0.8)``; ``fnn.split`` holds half of it out, and splits that
half again into a validation quarter (the held-out curves; early stopping watches its loss) and a
test quarter that no part of training sees (the table's held-out accuracy).  Everything here is
seeded: the same seeds give the same report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs
import numpy as np
import numpy.typing as npt

import functional_nn as fnn
from scripts import plots
from scripts.report import analysis as ra
from scripts.report.figures import DPI, Figure
from scripts.report.render import Block, Bullets, Heading, Image, Table

FloatArray = npt.NDArray[np.float64]

KEY, TITLE = "G", "Generalization"
ALIASES = ("generalization", "overfitting")
N, NOISE, DATA_SEED = 300, 0.8, 0
HIDDEN = (64, 64)
ACTIVATION = "tanh"
LR = 0.02
EPOCHS = 600
"""G's epoch budget (``--epochs`` lowers it, as ``--quick`` does)."""
WEIGHT_DECAY, DROPOUT, PATIENCE = 3e-4, 0.1, 100
GRID = 61


@attrs.frozen
class Setting:
    """One setting of G: the same network and optimizer, one regularizer (or none)."""

    label: str
    weight_decay: float = 0.0
    dropout: float | None = None
    patience: int | None = None


SETTINGS = (
    Setting("no regularization"),
    Setting(f"weight decay {WEIGHT_DECAY:g}", weight_decay=WEIGHT_DECAY),
    Setting(f"dropout {DROPOUT:g}", dropout=DROPOUT),
    Setting(f"early stopping (patience {PATIENCE})", patience=PATIENCE),
)


def data() -> tuple[fnn.Dataset, fnn.Dataset, fnn.Dataset]:
    """``(train, validation, test)``: half of the spirals to train on, a quarter each to watch and to test,
    standardized with the training half's mean and scale."""
    points = fnn.generate_spiral(N, noise=NOISE, seed=DATA_SEED)
    train, held = fnn.split(points, test_fraction=0.5, seed=DATA_SEED)
    validation, test = fnn.split(held, test_fraction=0.5, seed=DATA_SEED + 1)
    stats = fnn.fit_standardizer(train.x)
    return fnn.standardize(train, stats), fnn.standardize(validation, stats), fnn.standardize(test, stats)


@attrs.frozen
class Job:
    """One stacked run of G (picklable: it goes to a worker process)."""

    index: int
    setting: Setting
    seeds: int
    epochs: int


def jobs(seeds: int, epochs: int) -> tuple[Job, ...]:
    """G's runs: one per setting, ``min(epochs, EPOCHS)`` epochs; each checked by building it."""
    out = tuple(Job(i, s, seeds, min(epochs, EPOCHS)) for i, s in enumerate(SETTINGS))
    for job in out:
        build(job)
    return tuple(sorted(out, key=lambda j: j.setting.dropout is None))  # dropout's reference fold: the longest, first


def build(job: Job) -> tuple[fnn.Network, fnn.Params, fnn.Dataset, fnn.Dataset, fnn.TrainConfig]:
    """The network, stacked initial params, training and validation data and config of a job."""
    s = job.setting
    sizes = (2, *HIDDEN, 1)
    net = (
        fnn.mlp(sizes, hidden=ACTIVATION) if s.dropout is None else fnn.mlp(sizes, hidden=ACTIVATION, dropout=s.dropout)
    )
    seeds = list(range(job.seeds))
    config = fnn.TrainConfig(
        epochs=job.epochs,
        optimizer=fnn.adam(lr=LR, weight_decay=s.weight_decay),
        loss="bce",
        seed=seeds,
        patience=s.patience,
    )
    train, validation, _ = data()
    return net, fnn.init(net, seed=seeds, scheme="xavier"), train, validation, config


@attrs.frozen
class Curves:
    """Per epoch, over the seeds still training (NaN once fewer than half of them are)."""

    train_loss: FloatArray = attrs.field(eq=ra.ARRAY_EQ)
    val_loss: FloatArray = attrs.field(eq=ra.ARRAY_EQ)
    train_accuracy: FloatArray = attrs.field(eq=ra.ARRAY_EQ)
    val_accuracy: FloatArray = attrs.field(eq=ra.ARRAY_EQ)


@attrs.frozen
class Result:
    """One setting, reduced: per seed (`(K,)`) and the median curves."""

    index: int
    label: str
    wall: float
    train_accuracy: FloatArray = attrs.field(eq=ra.ARRAY_EQ)  # final params on the training half
    test_accuracy: FloatArray = attrs.field(eq=ra.ARRAY_EQ)  # final params on the test quarter
    epochs_run: FloatArray = attrs.field(eq=ra.ARRAY_EQ)
    best_epoch: FloatArray | None = attrs.field(eq=ra.ARRAY_EQ)  # early stopping's kept epoch, or None
    curves: Curves
    representative: int
    grid: FloatArray = attrs.field(eq=ra.ARRAY_EQ)  # `(GRID, GRID)` P(class 1) of the representative seed


def median_running(per_epoch: FloatArray) -> FloatArray:
    """The median over the models `(epochs, K)` still training at each epoch (NaN after a model stops);
    NaN where fewer than half of them still are."""
    running = np.isfinite(per_epoch)
    out = np.full(per_epoch.shape[0], np.nan)
    enough = running.sum(axis=1) * 2 >= per_epoch.shape[1]
    if enough.any():
        out[enough] = np.nanmedian(per_epoch[enough], axis=1)
    return out


def curves_of(trace: fnn.Trace) -> Curves:
    assert trace.val_loss is not None and trace.val_accuracy is not None
    return Curves(
        median_running(trace.loss),
        median_running(trace.val_loss),
        median_running(trace.accuracy),
        median_running(trace.val_accuracy),
    )


def representative(values: FloatArray) -> int:
    """The seed whose value is closest to the median (the lowest such seed)."""
    return int(np.argmin(np.abs(values - np.median(values))))


def extent(x: FloatArray) -> tuple[float, float]:
    """A square window around the points (the decision-boundary grid and its axes)."""
    lo, hi = float(np.min(x)), float(np.max(x))
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def grid_points(x: FloatArray) -> FloatArray:
    lo, hi = extent(x)
    axis = np.linspace(lo, hi, GRID)
    g1, g2 = np.meshgrid(axis, axis)
    return np.column_stack([g1.ravel(), g2.ravel()])


def run_job(job: Job, check: Callable[[], None] | None = None) -> Result:
    """Train one setting's stacked run here (``check()`` after every epoch may raise to stop it) and reduce it."""
    net, params, train, validation, config = build(job)
    started = time.perf_counter()
    trace: fnn.Trace | None = None
    for progress in fnn.train_iter(net, params, train, config, validation=validation):
        if check is not None:
            check()
        trace = progress.trace
    assert trace is not None
    return result(job, net, trace, time.perf_counter() - started)


class Sweep(Protocol):
    def __call__(
        self,
        net: fnn.Network,
        data: fnn.Dataset,
        configs: Sequence[fnn.TrainConfig],
        *,
        seeds: Sequence[int],
        validation: fnn.Dataset,
        init: str,
    ) -> list[tuple[fnn.Trace, float]]:
        """``fnn.sweep`` on some executor: each config's trace and the seconds its tasks took."""
        ...


def train_all(jobs: Sequence[Job], sweep: Sweep) -> list[Result]:
    """Every job trained through ``sweep`` (one sweep per network: the dropout setting has its own) and reduced;
    each trace equals ``run_job``'s, bit for bit (``fnn.sweep`` equals ``fnn.train``)."""
    groups: dict[bool, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.setting.dropout is None, []).append(job)
    train, validation, _ = data()
    out: list[Result] = []
    for group in groups.values():
        net, _, _, _, _ = build(group[0])
        configs = [build(job)[4] for job in group]
        got = sweep(net, train, configs, seeds=range(group[0].seeds), validation=validation, init="xavier")
        out += [result(job, net, trace, seconds) for job, (trace, seconds) in zip(group, got, strict=True)]
    return out


def result(job: Job, net: fnn.Network, trace: fnn.Trace, wall: float) -> Result:
    """One setting's stacked trace, reduced: final and held-out accuracies, the median curves, and the
    decision boundary of the representative seed."""
    train, _, test = data()
    test_accuracy = fnn.accuracy(net, trace.params, test.x, test.y)
    watch = trace.resume_point.watch if trace.resume_point is not None else None
    rep = representative(test_accuracy)
    member = fnn.tree_map(lambda a: a[rep], trace.params)
    return Result(
        index=job.index,
        label=job.setting.label,
        wall=wall,
        train_accuracy=trace.final_accuracy,
        test_accuracy=test_accuracy,
        epochs_run=trace.stop_epoch.astype(np.float64),
        best_epoch=None if watch is None else np.asarray(watch.best_epoch, dtype=np.float64),
        curves=curves_of(trace),
        representative=rep,
        grid=fnn.forward(net, member, grid_points(train.x)).reshape(GRID, GRID),
    )


# ------------------------------------------------------------ findings ---


def _pct(v: float) -> str:
    return ra.fmt_pct(v)


def _points(d: float) -> str:
    return f"{abs(d) * 100:.1f} points"


def findings(results: Sequence[Result]) -> list[str]:
    """What the runs show, each sentence from their numbers (``results[0]``: no regularization)."""
    base = results[0]
    b_train, b_test = float(np.median(base.train_accuracy)), float(np.median(base.test_accuracy))
    gap = b_train - b_test
    out = [
        f"Without regularization the median seed fits {_pct(b_train)} of the training points but "
        f"{_pct(b_test)} of the held-out test points: "
        + (
            f"it overfits, a gap of {_points(gap)}."
            if gap > 0.02
            else f"a gap of {_points(gap)}, so it hardly overfits at this budget."
        )
    ]
    c = base.curves
    if np.isfinite(c.val_loss).any() and np.isfinite(c.val_accuracy).any():
        loss_at = int(np.nanargmin(c.val_loss)) + 1
        acc_at = int(np.nanargmax(c.val_accuracy)) + 1
        last = int(np.max(np.flatnonzero(np.isfinite(c.val_loss)))) + 1
        rise = float(c.val_loss[last - 1] / c.val_loss[loss_at - 1])
        out.append(
            f"Its median validation loss is lowest at epoch {loss_at} and ends {rise:.1f}x that minimum at epoch "
            f"{last}, while its median training loss keeps falling; its median validation accuracy peaks at epoch "
            f"{acc_at}"
            + (
                ": the loss turns before the accuracy does, so a stop on the loss comes earlier."
                if acc_at > loss_at
                else "."
            )
        )
    for r in results[1:]:
        med, worst = float(np.median(r.test_accuracy)), float(np.min(r.test_accuracy))
        d_med, d_worst = med - b_test, worst - float(np.min(base.test_accuracy))
        verb = "raises" if d_med > 0 else "lowers" if d_med < 0 else "leaves"
        change = f"from {_pct(b_test)} to {_pct(med)}" if d_med else f"at {_pct(med)}"
        worst_text = (
            f"the worst seed's from {_pct(float(np.min(base.test_accuracy)))} to {_pct(worst)}"
            if d_worst
            else f"the worst seed's unchanged at {_pct(worst)}"
        )
        sentence = f"{r.label.capitalize()} {verb} the median held-out accuracy {change} ({worst_text})"
        train_med = float(np.median(r.train_accuracy))
        sentence += f"; its median training accuracy is {_pct(train_med)}, a gap of {_points(train_med - med)}"
        if r.best_epoch is not None:
            sentence += (
                f"; it stops after a median of {ra.fmt_epochs(float(np.median(r.epochs_run)))} epochs, keeping the "
                f"params of epoch {ra.fmt_epochs(float(np.median(r.best_epoch)))} (median)"
            )
        out.append(sentence + ".")
    best = max(results, key=lambda r: (float(np.median(r.test_accuracy)), float(np.min(r.test_accuracy))))
    safest = max(results, key=lambda r: (float(np.min(r.test_accuracy)), float(np.median(r.test_accuracy))))
    out.append(
        f"Best median held-out accuracy: {best.label} ({_pct(float(np.median(best.test_accuracy)))}); "
        f"best worst seed: {safest.label} ({_pct(float(np.min(safest.test_accuracy)))})."
    )
    return out


# ------------------------------------------------------------- section ---


def _figures(results: Sequence[Result], seeds: int, figure_dir: Path) -> tuple[Figure, Figure]:
    def series(r: Result, train: FloatArray, held: FloatArray, legend: bool) -> tuple[plots.Series, ...]:
        epochs = np.arange(1, train.shape[0] + 1)
        return (
            plots.Series(f"{r.label}: training" if legend else "", epochs, train, colour=r.index),
            plots.Series(f"{r.label}: held-out" if legend else "", epochs, held, colour=r.index, style="--"),
        )

    panels = (
        plots.Panel(
            "BCE loss (log scale), median over seeds",
            tuple(s for r in results for s in series(r, r.curves.train_loss, r.curves.val_loss, True)),
            log=True,
        ),
        plots.Panel(
            "accuracy, median over seeds",
            tuple(s for r in results for s in series(r, r.curves.train_accuracy, r.curves.val_accuracy, False)),
            limits=(0.4, 1.02),
        ),
    )
    curves = Figure(
        figure_dir / "G_spiral_curves.png",
        plots.save_panels,
        (panels, f"{KEY}. {TITLE}: noisy spirals, {seeds} seeds per setting (solid: training, dashed: held-out)"),
        {"dpi": DPI},
    )
    train, _, test = data()
    lo, hi = extent(train.x)
    unit = (test.x - lo) / (hi - lo)  # the grid's window mapped onto the unit square the plot draws
    boxes = [
        (
            f"{r.label}\nseed {r.representative}: held-out {_pct(float(r.test_accuracy[r.representative]))}",
            r.grid,
        )
        for r in results
    ]
    boundaries = Figure(
        figure_dir / "G_spiral_boundaries.png",
        plots.save_boundaries,
        (f"{KEY}. {TITLE}: representative seeds, with the held-out test points", boxes, unit, test.y),
        {"cols": 4, "panel_inches": 4.0, "dpi": DPI},
    )
    return curves, boundaries


def section(
    results: Sequence[Result], seeds: int, epochs: int, figure_dir: Path
) -> tuple[list[Block], list[Figure], dict[str, Any]]:
    """G's part of the report: text, table, findings, figures, and its entry of summary.json."""
    results = sorted(results, key=lambda r: r.index)
    train, validation, test = data()
    curves, boundaries = _figures(results, seeds, figure_dir)
    rows = tuple(
        (
            r.label,
            _pct(float(np.median(r.train_accuracy))),
            _pct(float(np.median(r.test_accuracy))),
            _pct(float(np.min(r.test_accuracy))),
            _points(float(np.median(r.train_accuracy)) - float(np.median(r.test_accuracy))),
            ra.fmt_epochs(float(np.median(r.epochs_run))),
            ra.fmt_seconds(r.wall),
        )
        for r in results
    )
    header = (
        "setting",
        "training accuracy (median)",
        "held-out accuracy (median)",
        "held-out accuracy (worst seed)",
        "gap (medians)",
        "epochs run (median)",
        "wall time",
    )
    setup = (
        f"Data: `fnn.generate_spiral({N}, noise={NOISE:g}, seed={DATA_SEED})`, two interleaved noisy spirals; "
        f"`fnn.split` trains on half of them ({train.n} points) and holds the other half out: a validation quarter "
        f"({validation.n} points: the dashed curves, and what early stopping watches) and a test quarter "
        f"({test.n} points: the table's held-out accuracy, seen by no part of training). The inputs are "
        "standardized with the training half's mean and scale."
    )
    model = (
        f"Network: (2, {', '.join(map(str, HIDDEN))}, 1), {ACTIVATION} hidden layers and a sigmoid output, Xavier "
        f"initial weights: {sum(a * b + b for a, b in zip((2, *HIDDEN), (*HIDDEN, 1), strict=False))} parameters "
        f"for {train.n} training points. Full-batch Adam (lr={LR:g}) on BCE for {epochs} epochs, seeds 0..{seeds - 1} "
        f"as one stacked run per setting. Settings: none; weight decay {WEIGHT_DECAY:g} (`fnn.adam(weight_decay=)`, "
        f"torch's L2 term); dropout {DROPOUT:g} after each hidden layer (`fnn.mlp(dropout=)`); early stopping "
        f"(`TrainConfig(patience={PATIENCE})`: a seed stops once its validation loss has not improved for "
        f"{PATIENCE} epochs and keeps the params of its best epoch). A curve ends once fewer than half of the seeds "
        "are still training. With dropout, the training curves are those of the masked network the gradients "
        "came from; the held-out curves and the table use the network without dropout. The decision-boundary "
        "panels draw the standardized inputs scaled onto the unit square, with the test points."
    )
    blocks: list[Block] = [
        Heading(2, f"{KEY}. {TITLE}"),
        Bullets((setup, model)),
        Table(header, rows),
        Bullets(tuple(findings(results))),
        Image(f"figures/{curves.path.name}", f"{KEY}. {TITLE}: training and held-out curves"),
        Image(f"figures/{boundaries.path.name}", f"{KEY}. {TITLE}: decision boundaries"),
    ]
    summary = {
        "data": {
            "n": N,
            "noise": NOISE,
            "seed": DATA_SEED,
            "train": train.n,
            "validation": validation.n,
            "test": test.n,
        },
        "epochs": epochs,
        "settings": [
            {
                "label": r.label,
                "row": list(row),
                "train_accuracy": r.train_accuracy.tolist(),
                "test_accuracy": r.test_accuracy.tolist(),
                "epochs_run": r.epochs_run.tolist(),
                "best_epoch": None if r.best_epoch is None else r.best_epoch.tolist(),
                "wall_seconds": r.wall,
            }
            for r, row in zip(results, rows, strict=True)
        ],
    }
    return blocks, [curves, boundaries], summary
