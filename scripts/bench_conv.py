"""Benchmark: a Conv2D layer's forward + backward against the three matmuls of its im2col matrix alone.

    python -m scripts.bench_conv [--repeats 200] [--images 256] [--sizes 8,16] [--filters 8]
                                 [--blas-threads 1] [--out results/bench_conv.json]

For each image size: ``--images`` one-channel images, ``--filters`` filters of
3 x 3, stride 1, padding 1.  The layer's step is the plain
``Conv2DLayer.forward`` then ``backward`` (im2col, the product, the activation,
the weight, bias and input gradients, col2im), timed with ReLU (what a CNN
uses) and with the identity (the convolution alone).  The reference is the
three products any im2col convolution needs, on the same matrix
``X`` `(C*k*k, n*H'*W')` built beforehand with contiguous operands:
``W @ X``, ``dZ @ X.T`` and ``W.T @ dZ``.  They alternate in one loop; the
figures are medians over ``--repeats`` (after a warm-up), and the ratio is
step / matmuls.

The measurement runs in child processes, so that the BLAS thread count
(``--blas-threads``, default 1; 0 keeps the environment's) is set before NumPy
loads: once with the C library's default allocator settings and once with
glibc's malloc told to keep freed memory (``scripts._cli.MALLOC_ENV``).  The
layer allocates its arrays afresh on every call; by default glibc may give
that memory back to the kernel after a step and fault it in again on the next.
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

from functional_nn.conv import Conv2DLayer
from scripts._cli import MALLOC_ENV, Parser, int_at_least, int_list

ACTIVATIONS = ("relu", "identity")
ALLOCATORS: dict[str, dict[str, str]] = {"default_malloc": {}, "malloc_keep_memory": MALLOC_ENV}


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


def median_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed alternately after two warm-up calls."""
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
    layers = {act: Conv2DLayer((1, size, size), filters, 3, padding=1, activation=act) for act in ACTIVATIONS}
    layer = layers["relu"]
    rng = np.random.default_rng(0)
    params = layer.init(rng, "he")
    x = rng.standard_normal((images, layer.in_features))
    da = rng.standard_normal((images, layer.out_features))

    def step(conv: Conv2DLayer) -> Callable[[], object]:
        def run() -> object:
            _, cache = conv.forward(params, x)
            return conv.backward(params, cache, da)

        return run

    xmat = np.ascontiguousarray(layer.im2col(x))  # (C*k*k, n*H'*W'): the matrix the layer multiplies
    wmat = np.ascontiguousarray(params.w.reshape(filters, -1))
    dzmat = rng.standard_normal((filters, xmat.shape[1]))

    def matmuls() -> object:
        return (wmat @ xmat, dzmat @ xmat.T, wmat.T @ dzmat)

    fns: dict[str, Callable[[], object]] = {f"conv_{act}": step(conv) for act, conv in layers.items()}
    fns["matmuls"] = matmuls
    t = median_times(fns, repeats)
    out: dict[str, Any] = {"im2col_shape": list(xmat.shape), "matmuls_s": t["matmuls"]}
    for act in ACTIVATIONS:
        out[act] = {"conv_forward_backward_s": t[f"conv_{act}"], "ratio": t[f"conv_{act}"] / t["matmuls"]}
    return out


def run_child(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """``bench_size`` for every size in a child process with ``env`` added (and the BLAS thread count)."""
    cmd = [sys.executable, "-m", "scripts.bench_conv", "--child", "--repeats", str(args.repeats)]
    cmd += ["--images", str(args.images), "--sizes", ",".join(map(str, args.sizes)), "--filters", str(args.filters)]
    full_env = {**os.environ, **env}
    if args.blas_threads:
        threads = str(args.blas_threads)
        full_env.update({"OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads})
    done = subprocess.run(cmd, capture_output=True, text=True, env=full_env, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        print(json.dumps({f"{s}x{s}": bench_size(s, args.images, args.filters, args.repeats) for s in args.sizes}))
        return 0
    threads = str(args.blas_threads) if args.blas_threads else os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(
        f"Conv2D forward+backward vs the matmuls of its im2col matrix: {args.images} images, 1 channel, "
        f"{args.filters} filters 3x3, stride 1, padding 1; medians of {args.repeats}; BLAS threads {threads}; "
        f"numpy {np.__version__}, {os.cpu_count()} cores  (ratio = layer step / matmuls)"
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
        "allocators": {},
    }
    for label, env in ALLOCATORS.items():
        sizes = run_child(args, env)
        results["allocators"][label] = sizes
        for size, figures in sizes.items():
            line = f"  {label:18s} {size:>7s}  matmuls {figures['matmuls_s'] * 1e3:7.3f} ms"
            for act in ACTIVATIONS:
                f = figures[act]
                line += f"   conv+{act} {f['conv_forward_backward_s'] * 1e3:7.3f} ms  ratio {f['ratio']:5.2f}"
            print(line)
    results["load_average_at_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
