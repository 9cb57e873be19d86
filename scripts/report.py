"""The lab's discussion as one reproducible report, across many seeds.

    python -m scripts.report [--experiments all] [--dataset both] [--seeds 20] [--epochs 10000]
                             [--threshold 0.005] [--jobs N] [--out results/report] [--quick] [--save-traces]
    python -m scripts.report --quick        # smoke run: 2 seeds, 200 epochs, into results/report-quick/

Experiments (each on both datasets, K seeds per setting): A learning rates,
B hidden units, C without activation, D optimizers, E activations, F losses.
Settings that differ only in the learning rate (the whole sweep A, and the
lab's default, which every experiment shares) are trained as one stacked run;
the runs are spread over ``--jobs`` worker processes (one core each: on these
small arrays two processes are faster than one process with two threads).

Writes into --out: report.md, index.html (the same with the figures inline),
summary.json (every number of the tables, per seed too), figures/*.png and,
with --save-traces, traces/*.npz.  Prints progress (which run, how far) and
the total wall time, which the report states too.  Every sentence of finding
comes from ``scripts.report_analysis``, computed from the traces.  Bad
arguments give a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import html
import itertools
import json
import math
import multiprocessing
import os
import queue
import re
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, TextIO

import attrs
import numpy as np
import numpy.typing as npt

import functional_nn as fnn
from scripts import report_analysis as ra
from scripts._cli import Parser, reporting_errors

FloatArray = npt.NDArray[np.float64]

GRID = 101
"""Points per axis of the decision-boundary grid over the unit square."""
DPI = 80
CURVES_INCHES = (10.0, 7.5)
COMPARISON_INCHES = (10.0, 5.0)
PANEL_INCHES = 4.0
BOUNDARY_COLS = 4
QUICK_SEEDS, QUICK_EPOCHS = 2, 200
DATA_SEED = 0

Emit = Callable[[int, int, int], None]


# ---------------------------------------------------------------- sizes ---


def curves_size() -> tuple[int, int]:
    """Pixel size (width, height) of a learning-curve figure."""
    return round(CURVES_INCHES[0] * DPI), round(CURVES_INCHES[1] * DPI)


def comparison_size() -> tuple[int, int]:
    return round(COMPARISON_INCHES[0] * DPI), round(COMPARISON_INCHES[1] * DPI)


def _boundary_grid(panels: int) -> tuple[int, int]:
    cols = min(BOUNDARY_COLS, panels)
    return cols, -(-panels // cols)


def _boundary_inches(panels: int) -> tuple[float, float]:
    cols, rows = _boundary_grid(panels)
    return PANEL_INCHES * cols + 1.0, PANEL_INCHES * rows + 0.5


def boundary_size(panels: int) -> tuple[int, int]:
    """Pixel size of a decision-boundary figure with one panel per setting."""
    w, h = _boundary_inches(panels)
    return round(w * DPI), round(h * DPI)


# ------------------------------------------------------------- the runs ---


def dataset(name: str) -> fnn.Dataset:
    return fnn.generate_linear(n=100, seed=DATA_SEED) if name == "linear" else fnn.generate_xor_easy(n=11)


@attrs.frozen
class Job:
    """One stacked run to train (picklable: it goes to a worker process)."""

    plan: ra.RunPlan
    seeds: int
    epochs: int
    threshold: float
    trace_path: str | None = None

    @property
    def models(self) -> int:
        return self.seeds * len(self.plan.lrs)


def build(job: Job) -> tuple[fnn.Network, fnn.Params, fnn.Dataset, fnn.TrainConfig]:
    """The network, stacked initial params, data and config of a job (validated by the library)."""
    s = job.plan.setting
    data = dataset(job.plan.dataset)
    net = fnn.mlp((2, *s.hidden, 1), hidden=s.activation, output="sigmoid")
    seeds = list(range(job.seeds)) * len(job.plan.lrs)
    lr: float | FloatArray = (
        job.plan.lrs[0] if len(job.plan.lrs) == 1 else np.repeat(np.asarray(job.plan.lrs), job.seeds)
    )
    optimizer = fnn.make_optimizer(s.optimizer, lr=lr, **dict(s.hyper))
    batch_size = None if s.batches is None else -(-data.n // s.batches)
    config = fnn.TrainConfig(
        epochs=job.epochs, optimizer=optimizer, loss=s.loss, batch_size=batch_size, shuffle=True, seed=seeds
    )
    return net, fnn.init(net, seed=seeds), data, config


@attrs.frozen
class GroupResult:
    """One setting (one learning rate) of a run: its numbers, curves and representative seed's pictures."""

    lr: float
    summary: ra.Summary
    curves: ra.Curves
    grid: FloatArray = attrs.field(eq=ra.ARRAY_EQ)  # `(GRID, GRID)` P(class 1), rows = x2
    pred: FloatArray = attrs.field(eq=ra.ARRAY_EQ)  # `(n, 1)` predicted labels


@attrs.frozen
class RunResult:
    run_id: int
    wall: float  # seconds of training
    groups: tuple[GroupResult, ...]

    def group(self, lr: float) -> GroupResult:
        return next(g for g in self.groups if g.lr == lr)


def _grid_points() -> FloatArray:
    axis = np.linspace(0.0, 1.0, GRID)
    x1, x2 = np.meshgrid(axis, axis)
    return np.column_stack([x1.ravel(), x2.ravel()])


def run_job(job: Job, emit: Emit | None = None) -> RunResult:
    """Train one stacked run and reduce its trace to the report's numbers (the training is timed)."""
    net, params, data, config = build(job)
    every = max(1, job.epochs // 100)
    started = time.perf_counter()
    trace: fnn.Trace | None = None
    for step in fnn.train_iter(net, params, data, config):
        if emit is not None and (step.epoch % every == 0 or step.trace is not None):
            emit(job.plan.run_id, step.epoch, step.epochs)
        trace = step.trace
    wall = time.perf_counter() - started
    assert trace is not None
    if job.trace_path is not None:
        from functional_nn import io as fio

        fio.save_trace(job.trace_path, trace)
    points = _grid_points()
    groups = []
    for lr in job.plan.lrs:
        cols = job.plan.columns(lr, job.seeds)
        summary = ra.summarize_trace(trace, cols, job.threshold)
        member = trace.member(cols.start + summary.representative).params
        groups.append(
            GroupResult(
                lr=lr,
                summary=summary,
                curves=ra.curves_of_trace(trace, cols),
                grid=fnn.forward(net, member, points).reshape(GRID, GRID),
                pred=fnn.predict(net, member, data.x),
            )
        )
    return RunResult(run_id=job.plan.run_id, wall=wall, groups=tuple(groups))


def _estimated_cost(job: Job) -> float:
    """Rough seconds, to start the longest runs first."""
    s = job.plan.setting
    n = 100 if job.plan.dataset == "linear" else 21
    sizes = (2, *s.hidden, 1)
    macs = sum(a * b for a, b in itertools.pairwise(sizes))
    updates = s.batches or 1
    return job.epochs * (updates * 8e-5 + 2.5e-9 * job.models * n * macs * 3)


_QUEUE: Any = None


def _tune_process() -> None:
    """Keep freed memory in the process (glibc): a stacked epoch allocates arrays of
    hundreds of KB that would otherwise be mapped and unmapped on every operation
    (see scripts/bench.py).  Does nothing where mallopt is not available."""
    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-3, 256 * 2**20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1024 * 2**20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def _worker_init(progress_queue: Any) -> None:
    global _QUEUE
    _QUEUE = progress_queue
    _tune_process()


def _emit_to_queue(run_id: int, epoch: int, epochs: int) -> None:
    if _QUEUE is not None:
        _QUEUE.put((run_id, epoch, epochs))


def worker_run(job: Job) -> RunResult:
    """``run_job`` in a worker process, reporting progress through the queue."""
    return run_job(job, _emit_to_queue)


# ------------------------------------------------------------ progress ---


class Progress:
    """Shows which runs are going and how far: a live line on a terminal, heartbeat lines otherwise."""

    def __init__(self, jobs: Sequence[Job], out: TextIO, live: TextIO | None, heartbeat: float = 15.0) -> None:
        self.jobs = {j.plan.run_id: j for j in jobs}
        self.out, self.live, self.heartbeat = out, live, heartbeat
        self.running: dict[int, tuple[int, int]] = {}
        self.done = 0
        self.finished_ids: set[int] = set()
        self.started = time.perf_counter()
        self.last_beat = self.started
        self.last_live = 0.0

    def describe(self, job: Job) -> str:
        p = job.plan
        exps = "".join(sorted({e for e, _ in p.users}))
        labels = "; ".join(dict.fromkeys(label for _, label in p.users))
        if len(labels) > 48:
            labels = labels[:45] + "..."
        return f"{p.dataset:<6} {exps:<6} {labels}"

    def update(self, run_id: int, epoch: int, epochs: int, *, tick: bool = True) -> None:
        if run_id in self.finished_ids:  # a worker's last message may come after its result
            return
        self.running[run_id] = (epoch, epochs)
        if tick:
            self.tick()

    def tick(self) -> None:
        now = time.perf_counter()
        if self.live is not None and now - self.last_live > 0.2:
            self.last_live = now
            parts = [
                f"run {r} {self.jobs[r].plan.dataset} {100 * e // max(n, 1)}%"
                for r, (e, n) in sorted(self.running.items())
            ]
            line = f"[{self.done}/{len(self.jobs)} runs done, {now - self.started:.0f} s] " + " | ".join(parts)
            self.live.write("\r\033[K" + line[:150])
            self.live.flush()
        elif self.live is None and now - self.last_beat > self.heartbeat and self.running:
            self.last_beat = now
            parts = [
                f"run {r} ({self.describe(self.jobs[r]).split()[0]}) epoch {e}/{n}"
                for r, (e, n) in sorted(self.running.items())
            ]
            self.print(
                f"  ... {now - self.started:.0f} s: {self.done}/{len(self.jobs)} runs done; running " + ", ".join(parts)
            )

    def print(self, text: str) -> None:
        if self.live is not None:
            self.live.write("\r\033[K")
            self.live.flush()
        print(text, file=self.out, flush=True)

    def finished(self, job: Job, result: RunResult) -> None:
        self.running.pop(job.plan.run_id, None)
        self.finished_ids.add(job.plan.run_id)
        self.done += 1
        width = len(str(len(self.jobs)))
        self.print(
            f"[{self.done:>{width}}/{len(self.jobs)}] run {job.plan.run_id:>{width}}: {self.describe(job):<66} "
            f"{job.models:>4} models  {ra.fmt_seconds(result.wall):>7}"
        )

    def close(self) -> None:
        if self.live is not None:
            self.live.write("\r\033[K")
            self.live.flush()


class Workers:
    """Runs jobs and draws figures: in this process (``n == 1``) or in ``n`` spawned worker processes."""

    BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

    def __init__(self, n: int) -> None:
        self.n = n
        self.pool: ProcessPoolExecutor | None = None
        self.queue: Any = None
        self.saved_env: dict[str, str | None] = {}

    def __enter__(self) -> Workers:
        if self.n == 1:
            _tune_process()
            return self
        # one BLAS thread per worker: the processes already use every core (read when a worker imports numpy)
        self.saved_env = {k: os.environ.get(k) for k in self.BLAS_THREADS}
        for k in self.BLAS_THREADS:
            os.environ.setdefault(k, "1")
        ctx = multiprocessing.get_context("spawn")
        self.queue = ctx.Queue()
        self.pool = ProcessPoolExecutor(
            max_workers=self.n, mp_context=ctx, initializer=_worker_init, initargs=(self.queue,)
        )
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if self.pool is not None:
            processes = list((getattr(self.pool, "_processes", None) or {}).values())  # private: no public handle
            self.pool.shutdown(wait=kind is None, cancel_futures=True)
            if kind is not None:  # don't wait for the runs under way: stop the workers this pool started
                for proc in processes:
                    if proc.is_alive():
                        proc.terminate()
            self.queue.close()
            for k, v in self.saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def run(self, jobs: Sequence[Job], progress: Progress) -> dict[int, RunResult]:
        """Train every job, longest first; returns the results by run id."""
        ordered = sorted(jobs, key=_estimated_cost, reverse=True)
        results: dict[int, RunResult] = {}
        if self.pool is None:
            for job in ordered:
                results[job.plan.run_id] = run_job(job, progress.update)
                progress.finished(job, results[job.plan.run_id])
            return results
        futures: dict[Future[RunResult], Job] = {self.pool.submit(worker_run, job): job for job in ordered}
        pending: set[Future[RunResult]] = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            self._drain(progress)
            for f in done:
                job = futures[f]
                results[job.plan.run_id] = f.result()
                progress.finished(job, results[job.plan.run_id])
            progress.tick()
        return results

    def _drain(self, progress: Progress) -> None:
        while True:
            try:
                run_id, epoch, epochs = self.queue.get_nowait()
            except queue.Empty:
                return
            progress.update(run_id, epoch, epochs, tick=False)

    def draw(self, figures: Sequence[Figure]) -> None:
        if self.pool is None:
            for fig in figures:
                draw_figure(fig)
            return
        for _ in self.pool.map(draw_figure, figures):
            pass


# -------------------------------------------------------------- figures ---


def _setup_matplotlib() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_curves(
    path: str, title: str, labels: Sequence[str], curves: Sequence[ra.Curves], threshold: float, loss_label: str
) -> None:
    """Median loss with an interquartile band (log scale) and the share of seeds at 100% accuracy."""
    plt = _setup_matplotlib()
    fig, (ax, acc_ax) = plt.subplots(
        2, 1, figsize=CURVES_INCHES, sharex=True, height_ratios=(2.2, 1), constrained_layout=True
    )
    colours = plt.get_cmap("tab10").colors
    for i, (label, c) in enumerate(zip(labels, curves, strict=True)):
        epochs = c.loss_median.shape[0]
        step = max(1, epochs // 2000)
        idx = np.unique(np.append(np.arange(0, epochs, step), epochs - 1))
        x = idx + 1
        colour = colours[i % len(colours)]
        floor = 1e-16  # a loss of exactly 0 has no place on a log axis
        ax.plot(x, np.maximum(c.loss_median[idx], floor), color=colour, lw=1.5, label=label)
        ax.fill_between(
            x, np.maximum(c.loss_q1[idx], floor), np.maximum(c.loss_q3[idx], floor), color=colour, alpha=0.18, lw=0
        )
        acc_ax.plot(x, 100 * c.share_perfect[idx], color=colour, lw=1.3)
    ax.axhline(threshold, color="k", ls="--", lw=0.8, label=f"threshold {threshold:g}")
    ax.set_yscale("log")
    ax.set_ylabel(f"{loss_label} (log scale)\nmedian, band: quartiles")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, ncols=2, loc="best")
    ax.set_title(title)
    acc_ax.set_ylabel("seeds at 100%\naccuracy (%)")
    acc_ax.set_ylim(-3, 103)
    acc_ax.set_xlabel("epoch")
    acc_ax.grid(True, alpha=0.25)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _scatter(ax: Any, x: FloatArray, labels: FloatArray) -> None:
    from scripts.plots import CLASS_COLOURS

    flat = labels.reshape(-1)
    for cls, colour in enumerate(CLASS_COLOURS):
        pick = flat == cls
        ax.scatter(x[pick, 0], x[pick, 1], c=colour, s=26, edgecolors="k", linewidths=0.7, label=f"class {cls}")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.set_aspect("equal")


def save_boundaries(
    path: str, title: str, panels: Sequence[tuple[str, FloatArray]], x: FloatArray, y: FloatArray
) -> None:
    """Predicted probability of class 1 over the unit square, one panel per setting, with the data."""
    plt = _setup_matplotlib()
    cols, rows = _boundary_grid(len(panels))
    fig, axes = plt.subplots(rows, cols, figsize=_boundary_inches(len(panels)), squeeze=False, constrained_layout=True)
    image = None
    for ax, (label, grid) in zip(axes.ravel(), panels, strict=False):
        image = ax.imshow(grid, origin="lower", extent=(0, 1, 0, 1), vmin=0.0, vmax=1.0, cmap="RdBu", alpha=0.45)
        if grid.min() < 0.5 < grid.max():
            axis = np.linspace(0.0, 1.0, grid.shape[0])
            ax.contour(axis, axis, grid, levels=[0.5], colors="k", linewidths=1.0)
        _scatter(ax, x, y)
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="P(class 1)")
    fig.suptitle(title)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def save_comparison(path: str, title: str, x: FloatArray, y: FloatArray, pred: FloatArray) -> None:
    """Ground truth beside prediction (the lab's figure)."""
    plt = _setup_matplotlib()
    fig, (left, right) = plt.subplots(1, 2, figsize=COMPARISON_INCHES, constrained_layout=True)
    _scatter(left, x, y)
    left.set_title("Ground truth")
    wrong = int(np.count_nonzero(pred.reshape(-1) != y.reshape(-1)))
    _scatter(right, x, pred)
    right.set_title(f"Predict result ({wrong} wrong)")
    handles, labels = right.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=9)
    fig.suptitle(title)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


@attrs.frozen
class Figure:
    """A figure to draw: a function of this module and its arguments (picklable)."""

    path: Path
    draw: str
    args: tuple[Any, ...]


def draw_figure(fig: Figure) -> str:
    drawers: dict[str, Callable[..., None]] = {
        "curves": save_curves,
        "boundaries": save_boundaries,
        "comparison": save_comparison,
    }
    drawers[fig.draw](str(fig.path), *fig.args)
    return str(fig.path)


# ------------------------------------------------------------- document ---


@attrs.frozen
class Heading:
    level: int
    text: str


@attrs.frozen
class Para:
    text: str


@attrs.frozen
class Bullets:
    items: tuple[str, ...]


@attrs.frozen
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@attrs.frozen
class Image:
    path: str  # relative to the output folder
    alt: str


Block = Heading | Para | Bullets | Table | Image


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(blocks: Sequence[Block]) -> str:
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            lines += [b.text, ""]
        elif isinstance(b, Bullets):
            lines += [f"- {item}" for item in b.items] + [""]
        elif isinstance(b, Table):
            lines.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
            lines.append("|" + "|".join("---" for _ in b.header) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            lines.append("")
        else:
            lines += [f"![{b.alt}]({b.path})", ""]
    return "\n".join(lines)


def _inline_html(text: str) -> str:
    escaped = html.escape(text, quote=False)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
line-height:1.45;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
img{max-width:100%;height:auto;display:block;margin:1em 0}
code{background:#f3f3f3;padding:1px 4px;border-radius:3px}"""


def render_html(blocks: Sequence[Block], title: str) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
    ]
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{_inline_html(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            out.append(f"<p>{_inline_html(b.text)}</p>")
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in b.header)
            body = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in b.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        else:
            out.append(f'<img src="{html.escape(b.path)}" alt="{html.escape(b.alt)}">')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------- report ---


@attrs.frozen
class Options:
    experiments: tuple[str, ...]
    datasets: tuple[str, ...]
    seeds: int
    epochs: int
    threshold: float
    jobs: int
    out: Path
    save_traces: bool
    argv: tuple[str, ...]
    load: float  # 1-minute load average when the report started (other work slows the runs down)


@attrs.frozen
class Assembled:
    """Everything of the report but the total wall time (measured once the figures are drawn)."""

    figures: tuple[Figure, ...]
    body: tuple[Block, ...]
    runs: Table
    summary: dict[str, Any]
    train_seconds: float


def _run_label(plan: ra.RunPlan, seeds: int) -> str:
    m = len(plan.lrs)
    return f"#{plan.run_id} ({m}x{seeds} models)" if m > 1 else f"#{plan.run_id} ({seeds} models)"


def _network_text(s: ra.Setting) -> str:
    return f"(2, {', '.join(map(str, s.hidden))}, 1) {s.activation}/sigmoid"


def _optimizer_text(plan: ra.RunPlan) -> str:
    s = plan.setting
    lrs = ", ".join(f"{lr:g}" for lr in plan.lrs)
    extra = "".join(f", {k}={v:g}" for k, v in s.hyper if not isinstance(v, bool))
    batches = "full batch" if s.batches is None else f"{s.batches} shuffled mini-batches"
    return f"{s.optimizer} lr={lrs}{extra}, {batches}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 'es' if word.endswith('s') else 's'}"


def assemble(opts: Options, plans: Sequence[ra.RunPlan], results: Mapping[int, RunResult]) -> Assembled:
    """The report's figures, sections and summary.json, from the runs' results."""
    figs: list[Figure] = []
    fig_dir = opts.out / "figures"
    K, E, thr = opts.seeds, opts.epochs, opts.threshold
    body: list[Block] = [Heading(2, "The defaults: ground truth vs. prediction")]
    default_setting = next(s for s in ra.experiment_settings(opts.experiments[0]) if s.default)
    items, images = [], []
    for name in opts.datasets:
        data = dataset(name)
        g = results[ra.find_run(plans, name, default_setting).run_id].group(default_setting.lr)
        sm, rep = g.summary, g.summary.representative
        path = fig_dir / f"defaults_{name}_comparison.png"
        title = (
            f"{name}: defaults, seed {rep} (median final loss), accuracy {ra.fmt_pct(float(sm.final_accuracy[rep]))}"
        )
        figs.append(Figure(path, "comparison", (title, data.x, data.y, g.pred)))
        items.append(
            f"{name}: {sm.perfect}/{sm.seeds} seeds reach 100% training accuracy "
            f"(median {ra.fmt_pct(sm.median_accuracy)}, "
            f"worst {ra.fmt_pct(sm.worst_accuracy)}); "
            + (
                f"the median seed's loss never falls below {thr:g} within {E} epochs"
                if sm.median_epochs_to_loss is None
                else f"the median seed's loss falls below {thr:g} after "
                f"{ra.fmt_epochs(sm.median_epochs_to_loss)} epochs"
            )
            + f" ({sm.reached}/{sm.seeds} seeds get there). "
            f"The figure shows seed {rep}, whose final loss ({sm.final_loss[rep]:.2e}) is the closest to the median."
        )
        images.append(Image(f"figures/{path.name}", f"{name}: ground truth vs. prediction"))
    body += [Bullets(tuple(items)), *images]

    summary: dict[str, Any] = {}
    for key in opts.experiments:
        title = f"{key}. {ra.EXPERIMENTS[key]}"
        body.append(Heading(2, title))
        by_dataset: dict[str, list[ra.Row]] = {}
        summary[key] = {}
        for name in opts.datasets:
            data = dataset(name)
            rows = []
            for s in ra.experiment_settings(key):
                plan = ra.find_run(plans, name, s)
                rows.append((s, results[plan.run_id].group(s.lr), plan))
            by_dataset[name] = [(s, g.summary) for s, g, _ in rows]
            cells = [ra.table_row(s.label, g.summary, _run_label(p, K), results[p.run_id].wall) for s, g, p in rows]
            body.append(Heading(3, f"{title}: {name}"))
            body.append(Table(ra.table_header(thr), tuple(cells)))
            body.append(Bullets(tuple(ra.findings(key, by_dataset[name], epochs=E, chance=ra.chance_level(data.y)))))

            losses = {s.loss for s, _, _ in rows}
            loss_label = "loss (each setting's own)" if len(losses) > 1 else f"{losses.pop().upper()} loss"
            curves_path = fig_dir / f"{key}_{name}_curves.png"
            figs.append(
                Figure(
                    curves_path,
                    "curves",
                    (
                        f"{title} on {name}: {K} seeds per setting",
                        [s.label for s, _, _ in rows],
                        [g.curves for _, g, _ in rows],
                        thr,
                        loss_label,
                    ),
                )
            )
            panels = [
                (
                    f"{s.label}\nseed {g.summary.representative}: accuracy "
                    f"{ra.fmt_pct(float(g.summary.final_accuracy[g.summary.representative]))}",
                    g.grid,
                )
                for s, g, _ in rows
            ]
            bound_path = fig_dir / f"{key}_{name}_boundaries.png"
            figs.append(
                Figure(bound_path, "boundaries", (f"{title} on {name}: representative seeds", panels, data.x, data.y))
            )
            body.append(Image(f"figures/{curves_path.name}", f"{title} on {name}: learning curves"))
            body.append(Image(f"figures/{bound_path.name}", f"{title} on {name}: decision boundaries"))
            summary[key][name] = [
                {"label": s.label, "lr": s.lr, "run": p.run_id, "row": list(cell), **g.summary.to_json()}
                for (s, g, p), cell in zip(rows, cells, strict=True)
            ]
        across = ra.across_datasets(by_dataset)
        if across:
            body += [Heading(3, f"{title}: across datasets"), Bullets(tuple(across))]

    run_rows = []
    for p in plans:
        users = "; ".join(f"{e} {label}" for e, label in p.users)
        run_rows.append(
            (
                f"#{p.run_id}",
                p.dataset,
                _network_text(p.setting),
                _optimizer_text(p),
                p.setting.loss.upper(),
                str(K * len(p.lrs)),
                users,
                ra.fmt_seconds(results[p.run_id].wall),
            )
        )
    runs = Table(("run", "dataset", "network", "optimizer", "loss", "models", "settings", "wall time"), tuple(run_rows))
    return Assembled(
        figures=tuple(figs),
        body=tuple(body),
        runs=runs,
        summary=summary,
        train_seconds=sum(results[p.run_id].wall for p in plans),
    )


def document(opts: Options, plans: Sequence[ra.RunPlan], parts: Assembled, total: float) -> list[Block]:
    """The whole report, top to bottom."""
    K, E, thr = opts.seeds, opts.epochs, opts.threshold
    models = sum(K * len(p.lrs) for p in plans)
    cmd = "python -m scripts.report" + ("" if not opts.argv else " " + shlex.join(opts.argv))
    machine = f"{_cores()} cores, {_plural(opts.jobs, 'worker process')}, load average {opts.load:.1f} at the start"
    head: list[Block] = [
        Heading(1, "functional_nn: experiment report"),
        Para(
            f"Generated by `{cmd}` with functional_nn {fnn.__version__}: {len(plans)} stacked runs, {models} models "
            f"in all, {E} epochs each, {K} seeds per setting. Total wall time: {total:.1f} s (training, figures "
            f"and files; {machine}); the runs' own training times add up to {parts.train_seconds:.1f} s "
            f"({opts.jobs} at a time)."
        ),
        Heading(2, "Setup"),
        Bullets(
            (
                f"Datasets: `linear`, 100 points uniform in the unit square (data seed {DATA_SEED}), labelled by the "
                "diagonal; `xor`, the lab's 21 points on the two diagonals. The data are the same for every seed.",
                "Defaults (the lab's): network (2, 10, 10, 1), sigmoid hidden and output layers, MSE loss, full-batch "
                "SGD with lr=1, N(0, 1) initial weights and zero biases. Each experiment changes one of these.",
                f"Seeds: each setting trains seeds 0..{K - 1} as one stacked run (`fnn.train_iter` on params stacked "
                "over a model axis); a seed fixes the initial weights and the shuffles, so settings on the same "
                "network "
                "start from the same weights. Settings that differ only in the learning rate share one run (the models "
                "grouped by learning rate), and the default is trained once and reused by every experiment.",
                f"No early stopping (`stop_loss` is not set): every model runs all {E} epochs unless its loss becomes "
                f"NaN/inf. 'Epochs to loss < {thr:g}' is the first epoch whose recorded loss (each setting's own loss) "
                "is below the threshold; a seed that never gets there counts as infinitely slow, so the median is "
                "'never' when half of the seeds or more never get there.",
                "Final accuracy and loss: those of each seed's final params on the training set; 100% means every "
                "training point on the right side of 0.5.",
                "Learning curves: the median loss over the seeds per epoch with a band between the quartiles "
                "(log scale), "
                "and the share of seeds at 100% accuracy per epoch. A model that stopped keeps its last params, so its "
                "final values continue its curve.",
                "Decision boundaries: the predicted probability of class 1 over the unit square (black line: 0.5) for "
                "the representative seed of each setting, the seed whose final loss is closest to the median final "
                "loss; the points are the training data.",
                f"Mini-batch SGD splits the data into {ra.MINI_BATCHES} batches "
                f"(batch size ceil(n / {ra.MINI_BATCHES})) "
                "reshuffled every epoch from the seed. Momentum, Nesterov, Adam, RMSprop and Adagrad use the "
                "hyperparameters of `fnn.OPTIMIZERS`, given in their labels.",
                "Chance level (experiment C): the accuracy of always predicting the majority class.",
                "Wall time in the tables: the training time of the stacked run the setting belongs to (column 'run'); "
                f"settings in one run share it. With {_plural(opts.jobs, 'worker process')}, "
                f"{opts.jobs} {'runs train' if opts.jobs > 1 else 'run trains'} at a time.",
            )
        ),
    ]
    tail: list[Block] = [
        Heading(2, "Runs and timing"),
        parts.runs,
        Para(
            f"Training time of all runs: {parts.train_seconds:.1f} s; total wall time of this report: {total:.1f} s "
            f"({machine})."
        ),
    ]
    return [*head, *parts.body, *tail]


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # not available on this platform
        return float("nan")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------ CLI ---


def _experiments(text: str) -> tuple[str, ...]:
    if text.strip().lower() == "all":
        return tuple(ra.EXPERIMENTS)
    keys: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key = part.upper() if part.upper() in ra.EXPERIMENTS else ra.EXPERIMENT_ALIASES.get(part.lower())
        if key is None:
            names = ", ".join(ra.EXPERIMENT_ALIASES)
            raise argparse.ArgumentTypeError(
                f"unknown experiment {part!r}: expected 'all', letters A-F or names {names}"
            )
        if key not in keys:
            keys.append(key)
    if not keys:
        raise argparse.ArgumentTypeError(f"expected at least one experiment, got {text!r}")
    return tuple(sorted(keys))


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m scripts.report",
        description="Run the lab's experiments over many seeds and write a report (report.md, index.html, figures).",
    )
    p.add_argument(
        "--experiments",
        type=_experiments,
        default=tuple(ra.EXPERIMENTS),
        help="comma-separated: A (lr), B (hidden), C (linear: no activation), D (optimizer), E (activation), "
        "F (loss); default: all",
    )
    p.add_argument("--dataset", choices=(*ra.DATASETS, "both"), default="both", help="which dataset (default: both)")
    p.add_argument("--seeds", type=int, default=None, help=f"seeds per setting (default: 20; --quick: {QUICK_SEEDS})")
    p.add_argument("--epochs", type=int, default=None, help=f"epochs per run (default: 10000; --quick: {QUICK_EPOCHS})")
    p.add_argument(
        "--threshold", type=float, default=0.005, help="loss threshold for 'epochs to reach' (default: 0.005)"
    )
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: the number of cores)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: results/report/; --quick: results/report-quick/, keeping the full report)",
    )
    p.add_argument(
        "--quick", action="store_true", help=f"smoke run: {QUICK_SEEDS} seeds, {QUICK_EPOCHS} epochs unless given"
    )
    p.add_argument("--save-traces", action="store_true", help="also write every run's trace into OUT/traces/")
    return p


def _out(args: argparse.Namespace) -> Path:
    if args.out is not None:
        out: Path = args.out
        return out
    return Path("results/report-quick" if args.quick else "results/report")


def _options(args: argparse.Namespace, argv: Sequence[str]) -> Options:
    seeds = args.seeds if args.seeds is not None else (QUICK_SEEDS if args.quick else 20)
    epochs = args.epochs if args.epochs is not None else (QUICK_EPOCHS if args.quick else 10_000)
    jobs = args.jobs if args.jobs is not None else _cores()
    if seeds < 1:
        raise ValueError(f"--seeds must be an integer >= 1, got {seeds}")
    if epochs < 1:
        raise ValueError(f"--epochs must be an integer >= 1, got {epochs}")
    if not (args.threshold > 0 and math.isfinite(args.threshold)):
        raise ValueError(f"--threshold must be a finite number > 0, got {args.threshold}")
    if jobs < 1:
        raise ValueError(f"--jobs must be an integer >= 1, got {jobs}")
    return Options(
        experiments=args.experiments,
        datasets=ra.DATASETS if args.dataset == "both" else (args.dataset,),
        seeds=seeds,
        epochs=epochs,
        threshold=float(args.threshold),
        jobs=jobs,
        out=_out(args),
        save_traces=args.save_traces,
        argv=tuple(argv),
        load=_load(),
    )


def _prepare_out(out: Path, save_traces: bool) -> None:
    try:
        (out / "figures").mkdir(parents=True, exist_ok=True)
        if save_traces:
            (out / "traces").mkdir(exist_ok=True)
    except OSError as err:
        raise ValueError(f"--out: cannot create output folder {str(out)!r} ({err.strerror})") from None


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically; on failure remove the partial file and name ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror, str(path)) from err


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    return reporting_errors(lambda: _run(args, argv, started), _out(args))


def _run(args: argparse.Namespace, argv: list[str], started: float) -> int:
    """The report, from parsed arguments; errors are turned into one line by ``reporting_errors``."""
    opts = _options(args, argv)
    settings = [s for key in opts.experiments for s in ra.experiment_settings(key)]
    plans = ra.plan_runs(settings, opts.datasets)
    jobs = [
        Job(
            p,
            opts.seeds,
            opts.epochs,
            opts.threshold,
            str(opts.out / "traces" / f"run{p.run_id:02d}_{p.dataset}.npz") if opts.save_traces else None,
        )
        for p in plans
    ]
    for job in jobs:
        build(job)  # every argument is checked by the library before anything runs
    _prepare_out(opts.out, opts.save_traces)
    n_settings = len({(s.experiment, s.label) for s in settings})
    print(
        f"report: experiments {','.join(opts.experiments)} on {', '.join(opts.datasets)}: {n_settings} settings "
        f"per dataset in {len(plans)} stacked runs, {opts.seeds} seeds, {opts.epochs} epochs, "
        f"{_plural(opts.jobs, 'worker process')} on {_cores()} cores (load average {opts.load:.1f})",
        flush=True,
    )
    progress = Progress(jobs, sys.stdout, sys.stderr if sys.stderr.isatty() else None)
    with Workers(opts.jobs) as workers:
        results = workers.run(jobs, progress)
        progress.close()
        parts = assemble(opts, plans, results)
        t = time.perf_counter()
        workers.draw(parts.figures)
        print(
            f"figures: {len(parts.figures)} written to {opts.out / 'figures'} ({time.perf_counter() - t:.1f} s)",
            flush=True,
        )
    total = time.perf_counter() - started
    blocks = document(opts, plans, parts, total)
    _write(opts.out / "report.md", render_markdown(blocks))
    _write(opts.out / "index.html", render_html(blocks, "functional_nn: experiment report"))
    summary = {
        "options": {
            "experiments": list(opts.experiments),
            "datasets": list(opts.datasets),
            "seeds": opts.seeds,
            "epochs": opts.epochs,
            "threshold": opts.threshold,
            "jobs": opts.jobs,
            "argv": list(opts.argv),
        },
        "total_wall_seconds": total,
        "train_seconds": parts.train_seconds,
        "runs": [
            {
                "run": p.run_id,
                "dataset": p.dataset,
                "lrs": list(p.lrs),
                "models": opts.seeds * len(p.lrs),
                "settings": [list(u) for u in p.users],
                "wall_seconds": results[p.run_id].wall,
                "trace": jobs[i].trace_path,
            }
            for i, p in enumerate(plans)
        ],
        "experiments": parts.summary,
    }
    _write(opts.out / "summary.json", json.dumps(summary, indent=1) + "\n")
    print(f"wrote {opts.out / 'report.md'}, {opts.out / 'index.html'}, {opts.out / 'summary.json'}")
    print(f"total wall time: {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
