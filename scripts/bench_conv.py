"""Benchmark: a Conv2D layer's forward + backward against the matmuls of its im2col matrix alone.

    python -m scripts.bench_conv [--repeats 200] [--images 256] [--sizes 8,16] [--filters 8]
                                 [--blas-threads 1] [--out results/bench_conv.json]

For each image size: 256 one-channel images, 8 filters of 3 x 3, stride 1,
padding 1.  The layer's step is ``forward`` then ``backward`` with the input
gradient: im2col, the products into the `(n, O*H'*W')` layout, the
activation, the layout change of dz, the weight, bias and input gradients and
col2im.  It is timed two ways: allocating (``forward(params, x)``, new arrays
every step) and reusing buffers (``buffers=`` from a training workspace and
``out=`` for the grads: what ``fnn.train`` runs); both give the same bits.
The reference is the three products with the same im2col matrix
``X`` `(C*k*k, n*H'*W')` (without the layer's extra row of ones), built
beforehand with contiguous operands: ``W @ X``, ``dZ @ X.T`` and ``W.T @ dZ``.
The two alternate in one loop; the figures are medians over ``--repeats``
(after a warm-up); the target is a ratio of at most 2.  The layer is timed
with ReLU (what a CNN uses) and with the identity (the convolution alone).

Each measurement runs twice, in child processes: with the C library's
default allocator settings and with glibc's malloc told to keep freed memory
(``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``, as ``scripts.bench``
does).  The allocating step makes a few MB of fresh arrays per step (the
im2col matrix, its output, the gradients); by default glibc hands that memory
back to the kernel after every step and takes it again on the next, and on a
small virtual machine those page faults can cost more than the arithmetic.
The reusing step allocates only small arrays, so the allocator matters little
to it.  The reference products allocate only their outputs, which the
allocator reuses.
BLAS runs with ``--blas-threads`` threads (default 1; 0 keeps the
environment's setting) in both.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import functional_nn as fnn
from functional_nn.network import _Workspace
from scripts._cli import MALLOC_ENV, Parser, int_at_least, int_list

TARGET_RATIO = 2.0
ACTIVATIONS = ("relu", "identity")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m scripts.bench_conv",
        description="Time a Conv2D layer's forward+backward against its im2col matmuls.",
    )
    p.add_argument("--repeats", type=int_at_least(1), default=200, help="timed repeats of each (default: 200)")
    p.add_argument("--images", type=int_at_least(1), default=256, help="images per batch (default: 256)")
    p.add_argument(
        "--sizes",
        type=int_list("8,16", minimum=3),
        default=(8, 16),
        help="image sizes, comma-separated (default: 8,16)",
    )
    p.add_argument("--filters", type=int_at_least(1), default=8, help="output channels (default: 8)")
    p.add_argument(
        "--blas-threads", type=int_at_least(0), default=1, help="BLAS threads; 0 keeps the environment's (default: 1)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("results/bench_conv.json"),
        help="JSON output (default: results/bench_conv.json)",
    )
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p


def _median_times(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed alternately after a warm-up."""
    for f in fns.values():
        f()
        f()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, f in fns.items():
            start = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench_size(size: int, images: int, filters: int, repeats: int) -> dict[str, Any]:
    """One image size: the layer with each activation and the reference products, alternating."""
    layers = {
        act: fnn.Conv2DLayer((1, size, size), filters, 3, stride=1, padding=1, activation=act) for act in ACTIVATIONS
    }
    layer = layers["relu"]
    rng = np.random.default_rng(0)
    params = layer.init(rng, "he")
    x = rng.standard_normal((images, layer.in_features))
    dz = rng.standard_normal((images, layer.out_features))

    def step(conv: fnn.Conv2DLayer) -> Callable[[], None]:
        def run() -> None:
            _, cache = conv.forward(params, x)
            conv.backward(params, cache, dz)

        return run

    def reusing_step(conv: fnn.Conv2DLayer) -> Callable[[], None]:
        # what the training loop runs: buffers from a workspace, grads into the (flat) gradient buffer
        gw, gb = np.zeros(params.w.shape), np.zeros(params.b.shape)
        buffers = _Workspace((), ()).buffers(0)

        def run() -> None:
            _, cache = conv.forward(params, x, buffers=buffers)
            conv.backward(params, cache, dz, buffers=buffers, out=(gw, gb))

        return run

    cols = layer.im2col(x)
    rows = cols.shape[0] - 1
    xmat = np.ascontiguousarray(cols[:rows])  # (C*k*k, n*H'*W'), the same values the layer multiplies
    wmat = np.ascontiguousarray(params.w.reshape(filters, rows))
    dzmat = np.ascontiguousarray(rng.standard_normal((filters, xmat.shape[1])))

    def matmuls() -> None:
        np.matmul(wmat, xmat)
        np.matmul(dzmat, xmat.T)
        np.matmul(wmat.T, dzmat)

    fns: dict[str, Callable[[], Any]] = {f"conv_{act}": step(conv) for act, conv in layers.items()}
    fns.update({f"reusing_{act}": reusing_step(conv) for act, conv in layers.items()})
    fns["matmuls"] = matmuls
    t = _median_times(fns, repeats)
    out: dict[str, Any] = {"im2col_shape": list(xmat.shape), "matmuls_s": t["matmuls"]}
    for act in ACTIVATIONS:
        ratio = t[f"conv_{act}"] / t["matmuls"]
        reusing = t[f"reusing_{act}"] / t["matmuls"]
        out[act] = {
            "conv_forward_backward_s": t[f"conv_{act}"],
            "ratio": ratio,
            "ok": ratio <= TARGET_RATIO,
            "reusing_buffers_s": t[f"reusing_{act}"],
            "reusing_ratio": reusing,
            "reusing_ok": reusing <= TARGET_RATIO,
        }
    return out


def child(args: argparse.Namespace) -> dict[str, Any]:
    return {f"{s}x{s}": bench_size(s, args.images, args.filters, args.repeats) for s in args.sizes}


def _run_child(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "scripts.bench_conv",
        "--child",
        "--repeats",
        str(args.repeats),
        "--images",
        str(args.images),
    ]
    cmd += ["--sizes", ",".join(map(str, args.sizes)), "--filters", str(args.filters)]
    full_env = {**os.environ, **env}
    if args.blas_threads:
        full_env.update(
            {
                "OPENBLAS_NUM_THREADS": str(args.blas_threads),
                "OMP_NUM_THREADS": str(args.blas_threads),
                "MKL_NUM_THREADS": str(args.blas_threads),
            }
        )
    done = subprocess.run(cmd, capture_output=True, text=True, env=full_env, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    threads = str(args.blas_threads) if args.blas_threads else os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(
        f"Conv2D forward+backward vs the matmuls of its im2col matrix: {args.images} images, 1 channel, "
        f"{args.filters} filters 3x3, stride 1, padding 1; medians of {args.repeats}; BLAS threads {threads}; "
        f"numpy {np.__version__}, {os.cpu_count()} cores"
    )
    results: dict[str, Any] = {
        "argv": sys.argv if argv is None else ["scripts.bench_conv", *argv],
        "repeats": args.repeats,
        "images": args.images,
        "filters": args.filters,
        "kernel": 3,
        "stride": 1,
        "padding": 1,
        "blas_threads": threads,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()),
        "target_ratio_max": TARGET_RATIO,
        "allocators": {},
    }
    print("  (conv step: allocating new arrays / reusing buffers as training does; ratio = step / matmuls)")
    for label, env in (("default_malloc", {}), ("malloc_keep_memory", MALLOC_ENV)):
        r = _run_child(args, env)
        results["allocators"][label] = r
        for size, figures in r.items():
            line = f"  {label:18s} {size:>5s}  matmuls {figures['matmuls_s'] * 1e3:6.3f} ms"
            for act in ACTIVATIONS:
                f = figures[act]
                line += (
                    f"   conv+{act} {f['conv_forward_backward_s'] * 1e3:6.3f} / {f['reusing_buffers_s'] * 1e3:6.3f} ms"
                    f"  ratio {f['ratio']:5.2f}{'' if f['ok'] else '!'} / {f['reusing_ratio']:4.2f}"
                    f"{'' if f['reusing_ok'] else '!'}"
                )
            print(line)
    results["load_average_at_end"] = list(os.getloadavg())
    met = {
        label: {
            size: {act: {"allocating": figs[act]["ok"], "reusing": figs[act]["reusing_ok"]} for act in ACTIVATIONS}
            for size, figs in r.items()
        }
        for label, r in results["allocators"].items()
    }
    results["met"] = met
    print(f"target: ratio <= {TARGET_RATIO:g} ('!' marks a miss); met: {json.dumps(met)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
