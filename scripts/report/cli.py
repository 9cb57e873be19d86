"""The report's command line and the order of its work (see ``scripts.report``).

Side effects: prints progress, writes the output folder.  Ctrl-C, deferred by
``python -m scripts.report`` (``scripts._signals``), is checked before every
line printed, after every epoch trained here and between every two steps.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from scripts import _files, _signals
from scripts._cli import Parser, prepare_out, reporting_errors
from scripts.report import analysis as ra
from scripts.report import generalization as gen
from scripts.report.document import Assembled, Options, Results, assemble, document, plural, summary
from scripts.report.jobs import Job, build
from scripts.report.pool import Workers
from scripts.report.progress import Progress
from scripts.report.render import render_html, render_markdown

QUICK_SEEDS, QUICK_EPOCHS = 2, 200
TITLE = "functional_nn: experiment report"


def _experiments(text: str) -> tuple[str, ...]:
    if text.strip().lower() == "all":
        return (*ra.EXPERIMENTS, gen.KEY)
    keys: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key = part.upper() if part.upper() in ra.EXPERIMENTS else ra.EXPERIMENT_ALIASES.get(part.lower())
        if part.upper() == gen.KEY or part.lower() in gen.ALIASES:
            key = gen.KEY
        if key is None:
            names = ", ".join((*ra.EXPERIMENT_ALIASES, *gen.ALIASES))
            raise argparse.ArgumentTypeError(
                f"unknown experiment {part!r}: expected 'all', letters A-G or names {names}"
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
        default=(*ra.EXPERIMENTS, gen.KEY),
        help="comma-separated: A (lr), B (hidden), C (linear: no activation), D (optimizer), E (activation), "
        "F (loss), G (generalization); default: all",
    )
    p.add_argument("--dataset", choices=(*ra.DATASETS, "both"), default="both", help="which dataset (default: both)")
    p.add_argument("--seeds", type=int, default=None, help=f"seeds per setting (default: 20; --quick: {QUICK_SEEDS})")
    p.add_argument("--epochs", type=int, default=None, help=f"epochs per run (default: 10000; --quick: {QUICK_EPOCHS})")
    p.add_argument(
        "--threshold", type=float, default=0.005, help="loss threshold for 'epochs to reach' (default: 0.005)"
    )
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: the number of cores)")
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="train on the dask cluster of this scheduler (e.g. tcp://10.0.0.5:8786; needs functional_nn[dask]); "
        "the figures are still drawn here, by --jobs processes",
    )
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


def out_folder(args: argparse.Namespace) -> Path:
    """--out, or the default folder (apart for --quick, so that a smoke run keeps the full report)."""
    if args.out is not None:
        out: Path = args.out
        return out
    return Path("results/report-quick" if args.quick else "results/report")


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


def options(args: argparse.Namespace, argv: Sequence[str]) -> Options:
    """The checked options of a run (defaults filled in)."""
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
        out=out_folder(args),
        save_traces=args.save_traces,
        argv=tuple(argv),
        load=_load(),
        cores=_cores(),
    )


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    return reporting_errors(lambda: _run(args, argv, started), out_folder(args))


def _say(text: str) -> None:
    _signals.check()  # nothing is printed after Ctrl-C but its own line
    print(text, flush=True)


def _jobs(opts: Options, scheduler: str | None = None) -> tuple[tuple[ra.RunPlan, ...], list[Job], str]:
    """The runs to train, every argument checked by the library before anything runs, and the line saying so."""
    settings = [s for key in opts.experiments if key in ra.EXPERIMENTS for s in ra.experiment_settings(key)]
    plans = ra.plan_runs(settings, opts.datasets)
    traces = opts.out / "traces"
    jobs = [
        Job(p, opts.seeds, opts.epochs, opts.threshold, str(traces / f"run{p.run_id:02d}_{p.dataset}.npz"))
        if opts.save_traces
        else Job(p, opts.seeds, opts.epochs, opts.threshold)
        for p in plans
    ]
    for job in jobs:
        build(job)
    n_settings = len({(s.experiment, s.label) for s in settings})
    header = (
        f"report: experiments {','.join(opts.experiments)} on {', '.join(opts.datasets)}: {n_settings} settings "
        f"per dataset in {len(plans)} stacked runs, {opts.seeds} seeds, {opts.epochs} epochs, "
        + (
            f"on the dask cluster of {scheduler}"
            if scheduler is not None
            else f"{plural(opts.jobs, 'worker process')} on {opts.cores} cores (load average {opts.load:.1f})"
        )
    )
    if gen.KEY in opts.experiments:
        header += f"; {gen.KEY}: {len(gen.jobs(opts.seeds, opts.epochs))} runs on noisy spirals"
    return plans, jobs, header


def _train_and_draw(
    opts: Options, plans: Sequence[ra.RunPlan], jobs: Sequence[Job], scheduler: str | None = None
) -> tuple[Results, Assembled]:
    """Train every run and draw every figure; on any exception no writer of ours is left running, and the
    temporary files of a worker that had to be terminated are removed."""
    try:
        g_runs = len(gen.SETTINGS) if gen.KEY in opts.experiments else 0
        with Workers(opts.jobs, len(plans) + g_runs, scheduler) as workers:
            with Progress(jobs, sys.stdout, sys.stderr if sys.stderr.isatty() else None) as progress:
                results = workers.run(jobs, progress)
            t = time.perf_counter()
            generalization = (
                gen.train_all(gen.jobs(opts.seeds, opts.epochs), workers.sweep) if gen.KEY in opts.experiments else []
            )
            if generalization:
                _say(f"{gen.KEY}: {len(generalization)} runs trained ({time.perf_counter() - t:.1f} s)")
            parts = assemble(opts, plans, results, generalization)
            t = time.perf_counter()
            workers.draw(parts.figures)
    except BaseException:
        for folder in (opts.out, opts.out / "figures", opts.out / "traces"):
            _files.remove_temporaries(folder)
        raise
    _say(f"figures: {len(parts.figures)} written to {opts.out / 'figures'} ({time.perf_counter() - t:.1f} s)")
    return results, parts


def _run(args: argparse.Namespace, argv: list[str], started: float) -> int:
    """The report, from parsed arguments; errors are turned into one line by ``reporting_errors``."""
    _signals.check()
    opts = options(args, argv)
    plans, jobs, header = _jobs(opts, args.scheduler)
    prepare_out(opts.out, "figures", *(["traces"] if opts.save_traces else []))
    _say(header)
    results, parts = _train_and_draw(opts, plans, jobs, args.scheduler)
    total = time.perf_counter() - started
    blocks = document(opts, plans, parts, total)
    traces = [j.trace_path for j in jobs]
    for name, text in (
        ("report.md", render_markdown(blocks)),
        ("index.html", render_html(blocks, TITLE)),
        ("summary.json", json.dumps(summary(opts, plans, results, parts, total, traces), indent=1) + "\n"),
    ):
        _signals.check()
        _files.write_text(opts.out / name, text)
    _say(f"wrote {opts.out / 'report.md'}, {opts.out / 'index.html'}, {opts.out / 'summary.json'}")
    _say(f"total wall time: {total:.1f} s")
    return 0
