"""Benchmark: a Conv2D layer's forward + backward against the matmuls of its im2col matrices alone.

    python -m scripts.bench_conv [--repeats 200] [--images 256] [--sizes 8,16] [--filters 8]
                                 [--out results/bench_conv.json]

For each image size: 256 one-channel images, 8 filters of 3 x 3, stride 1,
padding 1, ReLU.  The layer's step is ``forward`` then ``backward`` with the
input gradient (everything a hidden conv layer does: padding, im2col, product,
layout change, activation, weight / bias / input gradients, col2im).  The
reference is the three matrix products of the same im2col matrix
``X`` `(C*k*k, n*H'*W')` (without the layer's row of ones) built once
beforehand, with contiguous operands: ``W @ X``, ``dZ @ X.T``, ``W.T @ dZ``.
Both are timed alternately in the same run; the figures are medians over
``--repeats``; the target is a ratio of at most 2.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

import functional_nn as fnn

TARGET_RATIO = 2.0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated image sizes such as 8,16, got {text!r}") from None
    if not sizes or min(sizes) < 3:
        raise argparse.ArgumentTypeError(f"expected image sizes >= 3, got {text!r}")
    return sizes


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m scripts.bench_conv", description="Time a Conv2D layer's forward+backward against its im2col matmuls.")
    p.add_argument("--repeats", type=_positive, default=200, help="timed repeats of each (default: 200)")
    p.add_argument("--images", type=_positive, default=256, help="images per batch (default: 256)")
    p.add_argument("--sizes", type=_sizes, default=(8, 16), help="image sizes, comma-separated (default: 8,16)")
    p.add_argument("--filters", type=_positive, default=8, help="output channels (default: 8)")
    p.add_argument("--out", type=Path, default=Path("results/bench_conv.json"), help="JSON output (default: results/bench_conv.json)")
    return p


def _median_times(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed alternately (warm-up first)."""
    for f in fns.values():
        f()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, f in fns.items():
            start = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench_size(size: int, images: int, filters: int, repeats: int) -> dict[str, Any]:
    layer = fnn.Conv2DLayer((1, size, size), filters, 3, stride=1, padding=1, activation="relu")
    rng = np.random.default_rng(0)
    params = layer.init(rng, "he")
    x = rng.standard_normal((images, layer.in_features))
    dz = rng.standard_normal((images, layer.out_features))

    def conv_step() -> None:
        _, cache = layer.forward(params, x)
        layer.backward(params, cache, dz)

    cols = layer.im2col(x)
    k_rows = cols.shape[0] - 1
    xmat = np.ascontiguousarray(cols[:k_rows])  # (C*k*k, n*H'*W')
    wmat = np.ascontiguousarray(params.w.reshape(filters, k_rows))
    dzmat = np.ascontiguousarray(rng.standard_normal((filters, xmat.shape[1])))

    def matmuls() -> None:
        np.matmul(wmat, xmat)
        np.matmul(dzmat, xmat.T)
        np.matmul(wmat.T, dzmat)

    def forward_only() -> None:
        layer.forward(params, x)

    t = _median_times({"conv": conv_step, "matmuls": matmuls, "forward": forward_only}, repeats)
    return {
        "image": [1, size, size],
        "images": images,
        "filters": filters,
        "kernel": 3,
        "stride": 1,
        "padding": 1,
        "activation": "relu",
        "im2col_shape": list(xmat.shape),
        "conv_forward_backward_s": t["conv"],
        "conv_forward_s": t["forward"],
        "matmuls_s": t["matmuls"],
        "ratio": t["conv"] / t["matmuls"],
        "target_ratio_max": TARGET_RATIO,
        "ok": t["conv"] / t["matmuls"] <= TARGET_RATIO,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results: dict[str, Any] = {
        "repeats": args.repeats,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()),
        "blas_threads_env": {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if k in os.environ},
        "sizes": {},
    }
    print(f"conv forward+backward vs the matmuls of its im2col matrices ({args.images} images, {args.filters} filters, 3x3, medians of {args.repeats})")
    for size in args.sizes:
        r = bench_size(size, args.images, args.filters, args.repeats)
        results["sizes"][f"{size}x{size}"] = r
        print(
            f"  {size:>2}x{size:<2}  conv {r['conv_forward_backward_s'] * 1e3:7.3f} ms   matmuls {r['matmuls_s'] * 1e3:7.3f} ms   "
            f"ratio {r['ratio']:.2f}  (target <= {TARGET_RATIO:g}: {'ok' if r['ok'] else 'MISSED'})   "
            f"im2col {tuple(r['im2col_shape'])}"
        )
    results["load_average_at_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(r["ok"] for r in results["sizes"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
