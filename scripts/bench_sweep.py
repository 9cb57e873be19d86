"""Benchmark: one sweep of 50 configs x 64 seeds on XOR, on three executors, with their start-up costs.

    python -m scripts.bench_sweep [--epochs 1000] [--repeats 3] [--workers N] [--quick]

The grid: 5 optimizers (sgd, momentum, adam, rmsprop, adagrad) x 10 learning rates,
each with 64 seeds, on the lab's network (2-10-10-1, sigmoid, mse) and its 21 XOR
points: 3,200 models, which ``fnn.sweep`` trains as 5 stacks of 640.  Executors:

- threads: ``executor=None`` (threads of this process, started per sweep);
- process pool: a ``ProcessPoolExecutor`` of ``--workers`` processes (forkserver,
  one BLAS thread each), started once;
- dask: a ``LocalCluster`` of ``--workers`` processes, one thread each, through
  ``Client.get_executor()``, started once.

Printed: each executor's start-up (pool: started and every worker having imported
functional_nn; cluster: started with a client connected), then the sweep's wall
time, median and range over ``--repeats`` runs after one untimed warm-up run, and
the model-epochs per second of the median.  The traces of every executor are checked
equal, bit for bit, to the threads'.  Also printed: the machine's cores and load average.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

import numpy as np

import functional_nn as fnn
from scripts import _tuning

OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop", "adagrad")
LEARNING_RATES = tuple(float(x) for x in np.geomspace(1e-3, 3.0, 10))
SEEDS = 64


def grid(epochs: int) -> list[fnn.TrainConfig]:
    return [
        fnn.TrainConfig(epochs=epochs, optimizer=fnn.make_optimizer(name, lr=lr), loss="mse")
        for name in OPTIMIZERS
        for lr in LEARNING_RATES
    ]


def _ready() -> int:
    """A worker's process id, once it has imported functional_nn (the tasks' module) and waited a moment,
    so that every worker of the pool is started and answers."""
    time.sleep(0.1)
    return os.getpid()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _timed(run: Callable[[], list[fnn.Trace]], repeats: int) -> tuple[list[float], list[fnn.Trace]]:
    traces = run()  # warm-up: first imports and allocations in the workers
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        traces = run()
        times.append(time.perf_counter() - started)
    return times, traces


def _line(name: str, startup: float | None, times: Sequence[float], model_epochs: int) -> str:
    med = statistics.median(times)
    up = "-" if startup is None else f"{startup:.2f} s"
    return f"| {name} | {up} | {med:.2f} s | {min(times):.2f}-{max(times):.2f} s | {model_epochs / med / 1e3:,.0f} k |"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.bench_sweep", description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=1000, help="epochs of every config (default 1000)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per executor (default 3)")
    p.add_argument("--workers", type=int, default=_cores(), help="processes of the pool and the cluster")
    p.add_argument("--quick", action="store_true", help="a smoke run: 20 epochs, 1 repeat")
    args = p.parse_args(argv)
    epochs, repeats = (20, 1) if args.quick else (args.epochs, args.repeats)
    net, data, configs = fnn.mlp((2, 10, 10, 1)), fnn.generate_xor_easy(), grid(epochs)
    seeds = range(SEEDS)
    model_epochs = len(configs) * SEEDS * epochs
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"sweep of {len(configs)} configs x {SEEDS} seeds ({len(configs) * SEEDS} models), {epochs} epochs, XOR; "
        f"{_cores()} cores, load average {load:.2f} at the start; {args.workers} workers; "
        f"medians and ranges of {repeats} timed runs after a warm-up",
        flush=True,
    )
    print("| executor | start-up | sweep (median) | range | model-epochs / s |")
    print("| --- | --- | --- | --- | --- |")

    def sweep(executor: Executor | None) -> list[fnn.Trace]:
        return fnn.sweep(net, data, configs, seeds=seeds, executor=executor)

    times, reference = _timed(lambda: sweep(None), repeats)
    print(_line("threads (executor=None)", None, times, model_epochs), flush=True)

    def same(traces: list[fnn.Trace]) -> None:
        for a, b in zip(traces, reference, strict=True):
            if not fnn.compare_traces(a, b).equal:
                raise AssertionError("a sweep differs from the threads' one")

    saved = _tuning.one_blas_thread()  # read by the workers when they import NumPy
    try:
        started = time.perf_counter()
        ctx = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(args.workers, mp_context=ctx) as pool:
            pids = {f.result() for f in [pool.submit(_ready) for _ in range(args.workers)]}
            startup = time.perf_counter() - started - 0.1  # less the moment each worker waited, at once
            times, traces = _timed(lambda: sweep(pool), repeats)
            same(traces)
        print(_line(f"process pool ({len(pids)} processes)", startup, times, model_epochs), flush=True)
    finally:
        _tuning.restore_env(saved)

    try:
        import distributed
    except ImportError:
        print("| dask LocalCluster | (dask not installed: pip install 'functional_nn[dask]') | | | |")
        return 0
    started = time.perf_counter()
    local_cluster: Any = distributed.LocalCluster  # untyped
    client_of: Any = distributed.Client
    cluster = local_cluster(
        n_workers=args.workers, processes=True, threads_per_worker=1, dashboard_address=None, silence_logs=50
    )
    with cluster, client_of(cluster) as client:
        startup = time.perf_counter() - started
        times, traces = _timed(lambda: sweep(client.get_executor()), repeats)
        same(traces)
    print(_line(f"dask LocalCluster ({args.workers} processes)", startup, times, model_epochs), flush=True)
    print("every executor's traces equal the threads', bit for bit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
