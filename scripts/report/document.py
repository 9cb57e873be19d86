"""The report's content from the runs' results: sections, tables, figures to draw and summary.json.

    assemble(opts, plans, results)          -> Assembled     # everything but the total wall time
    document(opts, plans, parts, total)     -> list[Block]   # the whole report, top to bottom
    summary(opts, plans, results, parts, total, traces) -> dict   # summary.json

Every sentence of finding comes from ``analysis``, computed from the traces.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

import functional_nn as fnn
from scripts.report import analysis as ra
from scripts.report import figures
from scripts.report import generalization as gen
from scripts.report.figures import Figure
from scripts.report.jobs import DATA_SEED, GroupResult, RunResult, dataset
from scripts.report.render import Block, Bullets, Heading, Image, Para, Table

Results = Mapping[int, RunResult]
Entry = tuple[ra.Setting, GroupResult, ra.RunPlan]


@attrs.frozen
class Options:
    """What the report was asked for, checked."""

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
    cores: int


@attrs.frozen(eq=False)
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


def plural(n: int, word: str) -> str:
    """``n`` and ``word``, in the plural unless ``n`` is 1."""
    return f"{n} {word}{'' if n == 1 else 'es' if word.endswith('s') else 's'}"


# ------------------------------------------------------------- sections ---


def _defaults_item(name: str, sm: ra.Summary, opts: Options) -> str:
    rep, thr = sm.representative, opts.threshold
    reach = (
        f"the median seed's loss never falls below {thr:g} within {opts.epochs} epochs"
        if sm.median_epochs_to_loss is None
        else f"the median seed's loss falls below {thr:g} after {ra.fmt_epochs(sm.median_epochs_to_loss)} epochs"
    )
    return (
        f"{name}: {sm.perfect}/{sm.seeds} seeds reach 100% training accuracy "
        f"(median {ra.fmt_pct(sm.median_accuracy)}, worst {ra.fmt_pct(sm.worst_accuracy)}); {reach} "
        f"({sm.reached}/{sm.seeds} seeds get there). "
        f"The figure shows seed {rep}, whose final loss ({sm.final_loss[rep]:.2e}) is the closest to the median."
    )


def _defaults(opts: Options, plans: Sequence[ra.RunPlan], results: Results) -> tuple[list[Block], list[Figure]]:
    """The lab's defaults on each dataset: ground truth vs. the representative seed's prediction."""
    lab = next(key for key in opts.experiments if key in ra.EXPERIMENTS)
    default_setting = next(s for s in ra.experiment_settings(lab) if s.default)
    items, images, figs = [], [], []
    for name in opts.datasets:
        data = dataset(name)
        g = results[ra.find_run(plans, name, default_setting).run_id].group(default_setting.lr)
        sm, rep = g.summary, g.summary.representative
        path = opts.out / "figures" / f"defaults_{name}_comparison.png"
        title = (
            f"{name}: defaults, seed {rep} (median final loss), accuracy {ra.fmt_pct(float(sm.final_accuracy[rep]))}"
        )
        figs.append(figures.comparison(path, title, data.x, data.y, g.pred))
        items.append(_defaults_item(name, sm, opts))
        images.append(Image(f"figures/{path.name}", f"{name}: ground truth vs. prediction"))
    return [Heading(2, "The defaults: ground truth vs. prediction"), Bullets(tuple(items)), *images], figs


def _figures_of(key: str, name: str, entries: Sequence[Entry], opts: Options) -> list[Figure]:
    title = f"{key}. {ra.EXPERIMENTS[key]}"
    losses = {s.loss for s, _, _ in entries}
    loss_label = "loss (each setting's own)" if len(losses) > 1 else f"{losses.pop().upper()} loss"
    panels = [
        (
            f"{s.label}\nseed {g.summary.representative}: accuracy "
            f"{ra.fmt_pct(float(g.summary.final_accuracy[g.summary.representative]))}",
            g.grid,
        )
        for s, g, _ in entries
    ]
    data = dataset(name)
    fig_dir = opts.out / "figures"
    return [
        figures.curves(
            fig_dir / f"{key}_{name}_curves.png",
            f"{title} on {name}: {opts.seeds} seeds per setting",
            [s.label for s, _, _ in entries],
            [g.curves for _, g, _ in entries],
            opts.threshold,
            loss_label,
        ),
        figures.boundaries(
            fig_dir / f"{key}_{name}_boundaries.png", f"{title} on {name}: representative seeds", panels, data.x, data.y
        ),
    ]


def _experiment_on(
    key: str, name: str, opts: Options, plans: Sequence[ra.RunPlan], results: Results
) -> tuple[list[Block], list[Figure], list[dict[str, Any]], list[ra.Row]]:
    """One experiment on one dataset: table, findings, figures, its rows of summary.json and its summaries."""
    title = f"{key}. {ra.EXPERIMENTS[key]}"
    entries: list[Entry] = []
    for s in ra.experiment_settings(key):
        plan = ra.find_run(plans, name, s)
        entries.append((s, results[plan.run_id].group(s.lr), plan))
    rows = [(s, g.summary) for s, g, _ in entries]
    cells = [ra.table_row(s.label, g.summary, _run_label(p, opts.seeds), results[p.run_id].wall) for s, g, p in entries]
    chance = ra.chance_level(dataset(name).y)
    figs = _figures_of(key, name, entries, opts)
    blocks: list[Block] = [
        Heading(3, f"{title}: {name}"),
        Table(ra.table_header(opts.threshold), tuple(cells)),
        Bullets(tuple(ra.findings(key, rows, epochs=opts.epochs, chance=chance))),
        Image(f"figures/{figs[0].path.name}", f"{title} on {name}: learning curves"),
        Image(f"figures/{figs[1].path.name}", f"{title} on {name}: decision boundaries"),
    ]
    summary = [
        {"label": s.label, "lr": s.lr, "run": p.run_id, "row": list(cell), **g.summary.to_json()}
        for (s, g, p), cell in zip(entries, cells, strict=True)
    ]
    return blocks, figs, summary, rows


def _runs_table(opts: Options, plans: Sequence[ra.RunPlan], results: Results) -> Table:
    rows = tuple(
        (
            f"#{p.run_id}",
            p.dataset,
            _network_text(p.setting),
            _optimizer_text(p),
            p.setting.loss.upper(),
            str(opts.seeds * len(p.lrs)),
            "; ".join(f"{e} {label}" for e, label in p.users),
            ra.fmt_seconds(results[p.run_id].wall),
        )
        for p in plans
    )
    return Table(("run", "dataset", "network", "optimizer", "loss", "models", "settings", "wall time"), rows)


def assemble(
    opts: Options, plans: Sequence[ra.RunPlan], results: Results, generalization: Sequence[gen.Result] = ()
) -> Assembled:
    """The report's figures, sections and the experiments of summary.json, from the runs' results
    (and experiment G's, when it ran)."""
    lab = [key for key in opts.experiments if key in ra.EXPERIMENTS]
    body, figs = _defaults(opts, plans, results) if lab else ([], [])
    summary: dict[str, Any] = {}
    for key in lab:
        body.append(Heading(2, f"{key}. {ra.EXPERIMENTS[key]}"))
        by_dataset: dict[str, list[ra.Row]] = {}
        summary[key] = {}
        for name in opts.datasets:
            blocks, more, summary[key][name], by_dataset[name] = _experiment_on(key, name, opts, plans, results)
            body += blocks
            figs += more
        across = ra.across_datasets(by_dataset)
        if across:
            body += [Heading(3, f"{key}. {ra.EXPERIMENTS[key]}: across datasets"), Bullets(tuple(across))]
    if generalization:
        epochs = min(opts.epochs, gen.EPOCHS)
        blocks, more, summary[gen.KEY] = gen.section(generalization, opts.seeds, epochs, opts.out / "figures")
        body += blocks
        figs += more
    return Assembled(
        figures=tuple(figs),
        body=tuple(body),
        runs=_runs_table(opts, plans, results),
        summary=summary,
        train_seconds=sum(results[p.run_id].wall for p in plans) + sum(r.wall for r in generalization),
    )


# ------------------------------------------------------------- document ---


def _setup(opts: Options) -> Bullets:
    k, e, thr = opts.seeds, opts.epochs, opts.threshold
    return Bullets(
        (
            f"Datasets: `linear`, 100 points uniform in the unit square (data seed {DATA_SEED}), labelled by the "
            "diagonal; `xor`, the lab's 21 points on the two diagonals. The data are the same for every seed.",
            "Defaults (the lab's): network (2, 10, 10, 1), sigmoid hidden and output layers, MSE loss, full-batch "
            "SGD with lr=1, N(0, 1) initial weights and zero biases. Each experiment changes one of these.",
            f"Seeds: each setting trains seeds 0..{k - 1} as one stacked run (`fnn.train_iter` on params stacked "
            "over a model axis); a seed fixes the initial weights and the shuffles, so settings on the same network "
            "start from the same weights. Settings that differ only in the learning rate share one run (the models "
            "grouped by learning rate), and the default is trained once and reused by every experiment.",
            f"No early stopping (`stop_loss` is not set): every model runs all {e} epochs unless its loss becomes "
            f"NaN/inf. 'Epochs to loss < {thr:g}' is the first epoch whose recorded loss (each setting's own loss) "
            "is below the threshold; a seed that never gets there counts as infinitely slow, so the median is "
            "'never' when half of the seeds or more never get there.",
            "Final accuracy and loss: those of each seed's final params on the training set; 100% means every "
            "training point on the right side of 0.5.",
            "Learning curves: the median loss over the seeds per epoch with a band between the quartiles (log scale), "
            "and the share of seeds at 100% accuracy per epoch. A model that stopped keeps its last params, so its "
            "final values continue its curve.",
            "Decision boundaries: the predicted probability of class 1 over the unit square (black line: 0.5) for "
            "the representative seed of each setting, the seed whose final loss is closest to the median final "
            "loss; the points are the training data.",
            f"Mini-batch SGD splits the data into {ra.MINI_BATCHES} batches (batch size ceil(n / {ra.MINI_BATCHES})) "
            "reshuffled every epoch from the seed. Momentum, Nesterov, Adam, RMSprop and Adagrad use the "
            "hyperparameters of `fnn.OPTIMIZERS`, given in their labels.",
            "Chance level (experiment C): the accuracy of always predicting the majority class.",
            "Wall time in the tables: the training time of the stacked run the setting belongs to (column 'run'), "
            "added up over the tasks of `fnn.sweep` that trained its models; settings in one run share it. "
            f"With {plural(opts.jobs, 'worker process')}, {opts.jobs} "
            f"{'tasks train' if opts.jobs > 1 else 'task trains'} at a time.",
        )
    )


def document(opts: Options, plans: Sequence[ra.RunPlan], parts: Assembled, total: float) -> list[Block]:
    """The whole report, top to bottom."""
    models = sum(opts.seeds * len(p.lrs) for p in plans)
    cmd = "python -m scripts.report" + ("" if not opts.argv else " " + shlex.join(opts.argv))
    machine = f"{opts.cores} cores, {plural(opts.jobs, 'worker process')}, load average {opts.load:.1f} at the start"
    head: list[Block] = [
        Heading(1, "functional_nn: experiment report"),
        Para(
            f"Generated by `{cmd}` with functional_nn {fnn.__version__}: {len(plans)} stacked runs, {models} models "
            f"in all, {opts.epochs} epochs each, {opts.seeds} seeds per setting. Total wall time: {total:.1f} s "
            f"(training, figures and files; {machine}); the runs' own training times add up to "
            f"{parts.train_seconds:.1f} s ({opts.jobs} tasks at a time)."
        ),
        Heading(2, "Setup"),
        _setup(opts),
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


def summary(
    opts: Options,
    plans: Sequence[ra.RunPlan],
    results: Results,
    parts: Assembled,
    total: float,
    traces: Sequence[str | None],
) -> dict[str, Any]:
    """summary.json: the options, the runs (with their trace files, if saved) and every number of the tables."""
    return {
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
                "trace": trace,
            }
            for p, trace in zip(plans, traces, strict=True)
        ],
        "experiments": parts.summary,
    }
