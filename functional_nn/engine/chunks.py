"""Chunks of a stack: split the models, run the parts at once, merge their traces.

    chunk_bounds(run, workers)                -> [(lo, hi), ...]   # contiguous, cache-sized
    start_slice(start, lo, hi)                -> Start             # models lo:hi of a start
    run_parts(fn, args, workers, executor)    -> [fn(a) for a in args], at once
    merge(run, parts)                         -> Trace             # one stacked trace from consecutive parts

Every model of a stack is trained independently of the others, and each
model's arithmetic does not depend on how many models share its arrays (the
per-model sums are ``np.vecdot``s), so the split never changes a bit.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, TypeVar

import attrs
import numpy as np

from functional_nn.config import Run, per_model_hyperparams
from functional_nn.fold import Carry, Start
from functional_nn.optimizers import OPTIMIZERS
from functional_nn.trace import Trace, take_models
from functional_nn.tree import tree_map

__all__ = ["CHUNK_BYTES", "MIN_CHUNK_BYTES", "chunk_bounds", "merge", "run_parts", "start_slice"]

T = TypeVar("T")
R = TypeVar("R")

CHUNK_BYTES = 512 * 1024
"""Target size of one activation array of a chunk: big enough to amortize the
per-operation Python overhead, small enough that a chunk's arrays stay in a
core's cache (``python -m scripts.bench`` measures one chunk of 256 XOR models
against one of 1024)."""

MIN_CHUNK_BYTES = 192 * 1024
"""Below this much activation memory per worker, a second worker costs more
(Python overhead per chunk and epoch) than it saves."""


def chunk_bounds(
    run: Run, workers: int, *, chunk_bytes: int | None = None, min_bytes: int | None = None
) -> list[tuple[int, int]]:
    """Split a stack of models into contiguous chunks: each about ``chunk_bytes`` of
    activations, and (given at least ``min_bytes`` per worker) a multiple of ``workers`` of them (by default ``CHUNK_BYTES`` and ``MIN_CHUNK_BYTES``, read at each call)."""
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    min_bytes = MIN_CHUNK_BYTES if min_bytes is None else min_bytes
    if not run.models:
        return [(0, 1)]
    m = run.models[0]
    opt = run.config.optimizer
    if per_model_hyperparams(opt) and opt.name not in OPTIMIZERS:
        return [(0, m)]  # only a built-in optimizer can be rebuilt with a slice of its hyperparameters
    n = run.x.shape[0] if run.config.batch_size is None else run.config.batch_size
    width = max(max(layer.in_features, layer.out_features) for layer in run.net.layers)
    total = m * max(n * width * 8, 1)
    count = -(-total // chunk_bytes)
    if workers > 1 and total >= workers * min_bytes:
        count = -(-max(count, workers) // workers) * workers  # every worker busy, all with equal shares
    count = max(1, min(count, m))
    bounds = np.linspace(0, m, count + 1).round().astype(int)
    return [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]


def start_slice(start: Start, lo: int, hi: int) -> Start:
    """Models ``lo:hi`` of a stacked start."""
    c, pick = start.carry, slice(lo, hi)
    active = c.active[pick]
    carry = Carry(
        params=take_models(c.params, pick),
        state=take_models(c.state, pick),
        prev_params=take_models(c.prev_params, pick),
        prev_state=take_models(c.prev_state, pick),
        active=active,
        all_active=bool(active.all()),
        stop_epoch=c.stop_epoch[pick],
        reasons=c.reasons[pick],
        watch=None if c.watch is None else take_models(c.watch, pick),
    )
    return attrs.evolve(start, carry=carry)


def run_parts(fn: Callable[[T], R], args: list[T], workers: int, executor: Executor | None) -> list[R]:
    """``fn`` on each part: in turn (one worker), in threads started and joined here, or in ``executor``."""
    if executor is None and workers == 1:
        return [fn(a) for a in args]
    if executor is None:
        with ThreadPoolExecutor(max_workers=min(workers, len(args))) as threads:
            return _gather(threads, fn, args)
    if not isinstance(executor, ThreadPoolExecutor):
        check_picklable(args[0], executor)
    return _gather(executor, fn, args)


def _gather(executor: Executor, fn: Callable[[T], R], args: list[T]) -> list[R]:
    """Submit every part, collect them in order; after an error or Ctrl-C, cancel those not started."""
    futures: list[Future[R]] = []
    try:
        for a in args:
            futures.append(executor.submit(fn, a))
        return [f.result() for f in futures]
    finally:
        for f in futures:
            f.cancel()  # a no-op for the parts done or running


def check_picklable(part: object, executor: Executor) -> None:
    """An executor other than threads may run the parts in other processes: they must pickle."""
    try:
        pickle.dumps(part)
    except Exception as e:
        raise TypeError(
            f"executor: a {type(executor).__name__} may run the parts in other processes, so the network and "
            f"config must pickle; they do not ({type(e).__name__}: {e}).  The built-in layers, losses and "
            "optimizers pickle; a custom optimizer whose functions are closures or lambdas does not: "
            "train it with threads (executor=None)"
        ) from e


def _cat(*xs: Any) -> Any:
    return np.concatenate(xs)


def merge(run: Run, parts: list[Trace]) -> Trace:
    """One stacked trace from the traces of consecutive chunks of models."""
    rows = max(t.epochs_run for t in parts)

    def per_epoch(name: str) -> Any:
        if getattr(parts[0], name) is None:
            return None
        padded = [np.pad(getattr(t, name), ((0, rows - t.epochs_run), (0, 0)), constant_values=np.nan) for t in parts]
        return np.concatenate(padded, axis=1)

    # a chunk whose models all stopped early contributes its final params to later snapshots
    epochs = sorted({e for t in parts for e, _ in t.snapshots})
    by_part = [dict(t.snapshots) for t in parts]
    snapshots = tuple(
        (e, tree_map(_cat, *[s.get(e, t.params) for s, t in zip(by_part, parts)], broadcast=True)) for e in epochs
    )
    points = [t.resume_point for t in parts if t.resume_point is not None]
    return Trace(
        loss=per_epoch("loss"),
        accuracy=per_epoch("accuracy"),
        grad_norm=per_epoch("grad_norm"),
        params=tree_map(_cat, *[t.params for t in parts], broadcast=True),
        opt_state=tree_map(_cat, *[t.opt_state for t in parts], broadcast=True),
        final_loss=np.concatenate([t.final_loss for t in parts]),
        final_accuracy=np.concatenate([t.final_accuracy for t in parts]),
        stop_epoch=np.concatenate([t.stop_epoch for t in parts]),
        stop_reasons=tuple(r for t in parts for r in t.stop_reasons),
        snapshots=snapshots,
        network=run.net,
        config=run.config,
        seed=run.config.seed,
        resume_point=tree_map(_cat, *points, broadcast=True) if len(points) == len(parts) else None,
        val_loss=per_epoch("val_loss"),
        val_accuracy=per_epoch("val_accuracy"),
        lr=per_epoch("lr"),
    )
