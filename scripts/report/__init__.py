"""The lab's discussion as one reproducible report, across many seeds.

    python -m scripts.report [--experiments all] [--dataset both] [--seeds 20] [--epochs 10000]
                             [--threshold 0.005] [--jobs N] [--out results/report] [--quick] [--save-traces]
                             [--scheduler ADDRESS]
    python -m scripts.report --quick        # smoke run: 2 seeds, 200 epochs, into results/report-quick/

Experiments (each on both datasets, K seeds per setting): A learning rates,
B hidden units, C without activation, D optimizers, E activations, F losses;
and G generalization (noisy spirals, half held out: no regularization, weight
decay, dropout, early stopping), run after them in the same workers.
Settings that differ only in the learning rate (the whole sweep A, and the
lab's default, which every experiment shares) are trained as one stacked run;
the runs train through ``fnn.sweep``, one sweep per network and dataset, on
``--jobs`` worker processes (one core each: on these small arrays two
processes are faster than one process with two threads), or with
``--scheduler ADDRESS`` on a running dask cluster.

Writes into --out: report.md, index.html (the same with the figures inline),
summary.json (every number of the tables, per seed too), figures/*.png and,
with --save-traces, traces/*.npz; every file atomically.  Prints progress
(which run, how far) and the total wall time, which the report states too.
Bad arguments give a one-line message and exit status 2; Ctrl-C, at any
moment once the interpreter runs this package, one line and exit status 130
within seconds, the files already written intact.

The modules, by concern:

    analysis   the numbers and sentences, from traces (pure)
    generalization  experiment G: its runs, numbers, findings, figures and section
    jobs       what to train: one stacked run per job, reduced to the report's numbers
    pool       where it runs (fnn.sweep): this process, worker processes or a dask cluster; stops them on Ctrl-C
    progress   what is shown while it runs (tqdm on a terminal, lines otherwise)
    figures    which figures, their sizes (drawn by scripts.plots)
    document   the report's text, tables and summary.json, from the results
    render     Markdown and HTML of a document
    cli        the flags and the order of the work
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scripts.report`` with ``argv``; returns the exit status."""
    from scripts.report.cli import main as run

    return run(argv)
