"""Benchmark: the functional core against a plain NumPy loop, stacked runs, memory, import time.

    python -m scripts.bench [--repeats 5] [--epochs 10000] [--out results/bench.json] [--quick]

Every figure is measured in this run and printed; the JSON holds the same.
Timings are medians over --repeats runs; the single-model plain loop and
``fnn.train`` alternate, starting from the same weights.

Stacked runs are measured in a child process, twice: with ``train``'s default
threads, and with a process pool of one worker per core passed as
``executor=`` (NumPy releases the GIL inside its kernels but not between
them, so threads cannot keep two cores busy with small arrays).  The pool is
started before the timed runs, as a user keeps one for many runs; its
start-up time is printed, with the figure of one run that pays for it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

import functional_nn as fnn
from functional_nn import engine
from functional_nn.config import prepare
from functional_nn.fold import fresh_start

FloatArray = npt.NDArray[np.float64]
SIZES = (2, 10, 10, 1)
LR = 0.1
TARGETS = {
    "single_ratio_max": 1.15,
    "stacked_64_linear_min": 5.0,
    "stacked_1024_xor_min": 20.0,
    "memory_ratio_max": 2.0,
    "import_s_max": 0.3,
}


def plain_loop(x: FloatArray, y: FloatArray, params: tuple[fnn.Dense, ...], lr: float, epochs: int) -> FloatArray:
    """The loop a student writes: np.dot, in-place updates, a sigmoid 1 / (1 + exp(-z))."""
    w1, w2, w3 = (np.array(p.w) for p in params)
    b1, b2, b3 = (np.array(p.b) for p in params)
    n = x.shape[0]
    losses = np.empty(epochs)
    for e in range(epochs):
        a1 = 1.0 / (1.0 + np.exp(-(np.dot(x, w1) + b1)))
        a2 = 1.0 / (1.0 + np.exp(-(np.dot(a1, w2) + b2)))
        a3 = 1.0 / (1.0 + np.exp(-(np.dot(a2, w3) + b3)))
        err = a3 - y
        losses[e] = np.mean(err**2)
        d3 = 2.0 * err / n * a3 * (1.0 - a3)
        d2 = np.dot(d3, w3.T) * a2 * (1.0 - a2)
        d1 = np.dot(d2, w2.T) * a1 * (1.0 - a1)
        w3 -= lr * np.dot(a2.T, d3)
        b3 -= lr * d3.sum(axis=0)
        w2 -= lr * np.dot(a1.T, d2)
        b2 -= lr * d2.sum(axis=0)
        w1 -= lr * np.dot(x.T, d1)
        b1 -= lr * d1.sum(axis=0)
    return losses


def _datasets() -> dict[str, fnn.Dataset]:
    return {"linear": fnn.generate_linear(n=100, seed=0), "xor": fnn.generate_xor_easy(n=11)}


def _timed(f: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = f()
    return time.perf_counter() - start, out


def bench_single(repeats: int, epochs: int) -> dict[str, Any]:
    net = fnn.mlp(SIZES)
    params = fnn.init(net, seed=0)
    config = fnn.TrainConfig(epochs=epochs, optimizer=fnn.sgd(lr=LR), loss=fnn.mse, seed=0)
    out: dict[str, Any] = {}
    for name, data in _datasets().items():
        x, y = np.array(data.x), np.array(data.y)
        t_plain, t_fnn, t_ref = [], [], []
        max_rel = 0.0
        for _ in range(repeats):
            dt, ref = _timed(lambda: plain_loop(x, y, params, LR, epochs))
            t_plain.append(dt)
            dt, trace = _timed(lambda: fnn.train(net, params, data, config))
            t_fnn.append(dt)
            t_ref.append(_timed(lambda: fnn.train(net, params, data, config, engine="reference"))[0])
            max_rel = max(max_rel, float(np.max(np.abs(trace.loss - ref) / np.abs(ref))))
        plain, ours, reference = statistics.median(t_plain), statistics.median(t_fnn), statistics.median(t_ref)
        out[name] = {
            "epochs": epochs,
            "plain_s": plain,
            "fnn_s": ours,
            "ratio": ours / plain,
            "ratios": sorted(f / p for f, p in zip(t_fnn, t_plain)),
            "reference_s": reference,
            "reference_ratio": reference / plain,
            "plain_model_epochs_per_s": epochs / plain,
            "loss_max_rel_diff": max_rel,
            "losses_agree_1e-12": max_rel <= 1e-12,
        }
    return out


STACKS = ((64, "linear"), (1024, "xor"))
POOL_ENV = {"OPENBLAS_NUM_THREADS": "1"}


def bench_stacked(repeats: int, epochs: int) -> dict[str, Any]:
    """Stacked runs: threads (``train``'s default), then a process pool, one worker per core.

    The pool is started (and its workers import functional_nn) before its timed
    runs, as a user keeps one pool for many runs; its start-up time is measured
    and reported, and so is the model-epochs/s of one run that pays for it.  Its
    workers are told to use one OpenBLAS thread each (``OPENBLAS_NUM_THREADS=1``,
    read when they import NumPy): the parallelism is across processes, and an idle
    OpenBLAS helper thread otherwise spins on the core the other worker needs.
    """
    net = fnn.mlp(SIZES)
    data = _datasets()
    cores = os.cpu_count() or 1
    out: dict[str, Any] = {"threads": {}, "processes": {}, "pool_env": POOL_ENV}
    configs = {}
    for m, name in STACKS:
        seeds = list(range(m))
        configs[m, name] = (
            fnn.init(net, seed=seeds),
            fnn.TrainConfig(epochs=epochs, optimizer=fnn.sgd(lr=LR), loss=fnn.mse, seed=seeds),
        )

    def measure(label: str, executor: Executor | None, startup: float | None, engine: str = "fast") -> None:
        for (m, name), (params, config) in configs.items():
            fnn.train(net, params, data[name], attrs.evolve(config, epochs=5), executor=executor, engine=engine)
            times = [
                _timed(lambda: fnn.train(net, params, data[name], config, executor=executor, engine=engine))[0]
                for _ in range(repeats)
            ]
            t = statistics.median(times)
            r = out[label][f"{m}_{name}"] = {
                "models": m,
                "epochs": epochs,
                "seconds": t,
                "model_epochs_per_s": m * epochs / t,
            }
            if startup is not None:
                r["with_pool_startup_model_epochs_per_s"] = m * epochs / (t + startup)

    # one core, one chunk: why train splits a stack into chunks of about 512 KB of activations
    out["one_chunk_one_core"] = {}
    for m in (256, 1024):
        seeds = list(range(m))
        config = fnn.TrainConfig(epochs=epochs, optimizer=fnn.sgd(lr=LR), loss=fnn.mse, seed=seeds)
        params = fnn.init(net, seed=seeds)
        run = prepare(net, params, data["xor"], config)
        fresh = fresh_start(run, params, config.optimizer.init(params))
        engine.fold_part((attrs.evolve(run, config=attrs.evolve(config, epochs=5)), fresh))
        t = statistics.median(_timed(lambda: engine.fold_part((run, fresh)))[0] for _ in range(repeats))
        out["one_chunk_one_core"][f"{m}_xor"] = {"models": m, "epochs": epochs, "model_epochs_per_s": m * epochs / t}
    measure("threads", None, None)
    out["reference"] = {}
    measure("reference", None, None, engine="reference")
    os.environ.update(POOL_ENV)  # the forkserver, started by the pool's first task, and its workers inherit it
    start = time.perf_counter()
    with ProcessPoolExecutor(cores, mp_context=multiprocessing.get_context("forkserver")) as pool:
        # every worker starts and imports functional_nn (a stack in 4 chunks over the pool)
        warm_seeds = list(range(1024))
        warm = fnn.TrainConfig(epochs=1, optimizer=fnn.sgd(lr=LR), loss=fnn.mse, seed=warm_seeds)
        fnn.train(net, fnn.init(net, seed=warm_seeds), data["xor"], warm, executor=pool)
        out["pool_startup_s"] = startup = time.perf_counter() - start
        measure("processes", pool, startup)
    return out


def _child(part: str, repeats: int, epochs: int) -> dict[str, Any]:
    """Run one part in a fresh interpreter (its own peak memory, no state left by the other parts)."""
    cmd = [sys.executable, "-m", "scripts.bench", "--child", part, "--repeats", str(repeats), "--epochs", str(epochs)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def memory_child(epochs: int) -> dict[str, Any]:
    net = fnn.mlp(SIZES)
    data = fnn.generate_xor_easy()
    params = fnn.init(net, seed=0)
    fnn.train(net, params, data, fnn.TrainConfig(epochs=100, optimizer=fnn.sgd(lr=LR), loss=fnn.mse))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    trace = fnn.train(net, params, data, fnn.TrainConfig(epochs=epochs, optimizer=fnn.sgd(lr=LR), loss=fnn.mse))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    raw = trace.loss.nbytes + trace.accuracy.nbytes + trace.grad_norm.nbytes
    return {
        "epochs": epochs,
        "peak_rss_growth_bytes": after - before,
        "trace_bytes": raw,
        "ratio": (after - before) / raw,
    }


def import_time(repeats: int) -> dict[str, Any]:
    code = (
        "import sys, time; t = time.perf_counter(); import functional_nn; "
        "print(time.perf_counter() - t, 'matplotlib' in sys.modules)"
    )
    times, mpl = [], False
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        times.append(float(out[0]))
        mpl = mpl or out[1] == "True"
    return {"seconds": statistics.median(times), "imports_matplotlib": mpl}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.bench", description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="repeats per measurement; medians are reported (default 5)")
    p.add_argument("--epochs", type=int, default=10_000, help="epochs of the single-model runs (default 10000)")
    p.add_argument("--stacked-epochs", type=int, default=500, help="epochs of the stacked runs (default 500)")
    p.add_argument("--memory-epochs", type=int, default=100_000, help="epochs of the memory run (default 100000)")
    p.add_argument(
        "--out", type=Path, default=Path("results/bench.json"), help="JSON output (default results/bench.json)"
    )
    p.add_argument("--quick", action="store_true", help="a smoke run: few repeats and epochs")
    p.add_argument("--child", choices=("stacked", "memory"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if min(args.repeats, args.epochs, args.stacked_epochs, args.memory_epochs) < 1:
        print("error: --repeats and the epoch counts must be >= 1", file=sys.stderr)
        return 2
    if args.quick:
        args.repeats, args.epochs, args.stacked_epochs, args.memory_epochs = 1, 500, 20, 2000
    if args.child == "stacked":
        print(json.dumps(bench_stacked(args.repeats, args.epochs)))
        return 0
    if args.child == "memory":
        print(json.dumps(memory_child(args.epochs)))
        return 0

    print(
        f"functional_nn {fnn.__version__}, numpy {np.__version__}, {os.cpu_count()} cores, python {sys.version.split()[0]}"
    )
    print(
        f"-- 1. single model {SIZES}, sigmoid, MSE, SGD lr {LR}, full batch, {args.epochs} epochs, median of {args.repeats}"
    )
    single = bench_single(args.repeats, args.epochs)
    for name, r in single.items():
        print(
            f"   {name:6s} plain {r['plain_s']:.3f} s   fnn.train {r['fnn_s']:.3f} s   ratio {r['ratio']:.3f}"
            f" (range {r['ratios'][0]:.3f} to {r['ratios'][-1]:.3f})"
            f"   engine='reference' {r['reference_s']:.3f} s, ratio {r['reference_ratio']:.3f}\n"
            f"   loss traces max rel diff {r['loss_max_rel_diff']:.1e} (agree to 1e-12: {r['losses_agree_1e-12']})"
        )
    print(f"-- 2. stacked runs, {args.stacked_epochs} epochs, median of {args.repeats}, all cores")
    stacked = _child("stacked", args.repeats, args.stacked_epochs)
    print(
        f"   process pool: forkserver, {os.cpu_count()} workers, env {stacked['pool_env']}; start-up (workers"
        f" importing functional_nn) {stacked['pool_startup_s']:.2f} s, not in the figures below except where said"
    )
    chunks = stacked["one_chunk_one_core"]
    small, big = chunks["256_xor"]["model_epochs_per_s"], chunks["1024_xor"]["model_epochs_per_s"]
    print(
        f"   one core, XOR, one chunk of 256 models {small:,.0f} model-epochs/s, of 1024 models {big:,.0f}"
        f" ({small / big:.2f}x per model for the smaller chunk)"
    )
    for label in ("threads", "processes", "reference"):
        for key, r in stacked[label].items():
            name = key.split("_", 1)[1]
            plain = single[name]["plain_model_epochs_per_s"]
            r["ratio_to_plain_single"] = ratio = r["model_epochs_per_s"] / plain
            line = (
                f"   {label:9s} M={r['models']:<5d} {name:6s} {r['model_epochs_per_s']:>10,.0f} model-epochs/s"
                f"   {ratio:6.2f}x the plain loop"
            )
            if "with_pool_startup_model_epochs_per_s" in r:
                with_startup = r["with_pool_startup_model_epochs_per_s"]
                r["with_pool_startup_ratio_to_plain_single"] = with_startup / plain
                line += f"   (one run paying the pool start-up: {with_startup / plain:.2f}x)"
            print(line)
    print(f"-- 3. memory: {args.memory_epochs}-epoch single-model run, snapshots off")
    memory = _child("memory", 1, args.memory_epochs)
    print(
        f"   peak RSS growth {memory['peak_rss_growth_bytes'] / 1e6:.2f} MB, trace arrays {memory['trace_bytes'] / 1e6:.2f} MB, ratio {memory['ratio']:.2f}"
    )
    print(f"-- 4. import time, median of {max(args.repeats, 5)}")
    imp = import_time(max(args.repeats, 5))
    print(f"   import functional_nn: {imp['seconds'] * 1000:.0f} ms; imports matplotlib: {imp['imports_matplotlib']}")

    met = {
        "single_ratio": all(r["ratio"] <= TARGETS["single_ratio_max"] for r in single.values()),
        "stacked_64_linear": {
            lbl: stacked[lbl]["64_linear"]["ratio_to_plain_single"] >= TARGETS["stacked_64_linear_min"]
            for lbl in ("threads", "processes")
        },
        "stacked_1024_xor": {
            lbl: stacked[lbl]["1024_xor"]["ratio_to_plain_single"] >= TARGETS["stacked_1024_xor_min"]
            for lbl in ("threads", "processes")
        },
        "memory": memory["ratio"] <= TARGETS["memory_ratio_max"],
        "reference_engine_single_ratio": {k: r["reference_ratio"] for k, r in single.items()},
        "import": imp["seconds"] < TARGETS["import_s_max"] and not imp["imports_matplotlib"],
    }
    print("-- targets:", json.dumps(met))
    result = {
        "single": single,
        "stacked": stacked,
        "memory": memory,
        "import": imp,
        "targets": TARGETS,
        "met": met,
        "argv": sys.argv,
        "cores": os.cpu_count(),
        "numpy": np.__version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
