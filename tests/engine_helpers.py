"""Assertions and doubles shared by the training, engine, chunk, resume and io tests.

assert_trees_equal(a, b) / assert_trees_close(a, b)  leafwise, same structure
assert_read_only(tree)                   every array refuses assignment
assert_same_run(a, b)                    two traces equal bit for bit, with snapshots,
                                         optimizer states and resume points
assert_close_run(a, b, rtol)             the same to ``rtol``, with identical stop reasons/epochs
Counting(inner)                          an Executor that counts the parts handed to it
watch_merge(monkeypatch)                 the number of parts of every merged run
split_per_model(monkeypatch)             make ``engine.train`` split any stack into one chunk per model
custom_sgd(lr, calls)                    an Optimizer of our own (not built in) counting its updates
snapshot(tree) / assert_unchanged(tree, before)   nothing passed in was modified

The tree assertions (``assert_trees_equal``, ``assert_read_only``, ``snapshot``, ...) are those of
``tests/helpers.py``, re-exported here for the tests that import them from this module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn.engine import chunks
from functional_nn.optimizers import EmptyState, OptState
from functional_nn.tree import leaves, tree_map
from tests.helpers import (
    assert_read_only,
    assert_trees_close,
    assert_trees_equal,
    assert_unchanged,
    snapshot,
    structure,
)

__all__ = [
    "Counting",
    "assert_close_run",
    "assert_read_only",
    "assert_same_run",
    "assert_trees_close",
    "assert_trees_equal",
    "assert_unchanged",
    "custom_sgd",
    "snapshot",
    "split_per_model",
    "structure",
    "watch_merge",
]

T = TypeVar("T")
P = TypeVar("P")


def assert_same_run(a: fnn.Trace, b: fnn.Trace) -> None:
    """Bit-identical traces: per-epoch arrays, params, states, stops, snapshots and resume points."""
    diff = fnn.compare_traces(a, b)
    assert diff.equal, diff.reason
    assert a == b  # every compared field: final loss/accuracy, opt state, stop epochs and reasons, config
    assert a.stop_reasons == b.stop_reasons
    assert [e for e, _ in a.snapshots] == [e for e, _ in b.snapshots]
    for (_, pa), (_, pb) in zip(a.snapshots, b.snapshots, strict=True):
        assert_trees_equal(pa, pb)
    assert (a.resume_point is None) == (b.resume_point is None)
    if a.resume_point is not None and b.resume_point is not None:
        assert_trees_equal(a.resume_point.prev_params, b.resume_point.prev_params)
        assert_trees_equal(a.resume_point.prev_opt_state, b.resume_point.prev_opt_state)


def _assert_leaves_close(a: object, b: object, rtol: float) -> None:
    """Leafwise to ``rtol`` of each leaf's largest magnitude (a tiny element may lose relative accuracy)."""
    assert structure(a) == structure(b)
    for i, (x, y) in enumerate(zip(leaves(a), leaves(b), strict=True)):
        scale = float(np.max(np.abs(x), initial=0.0))
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * scale, err_msg=f"leaf {i}")


def assert_close_run(a: fnn.Trace, b: fnn.Trace, *, rtol: float = 1e-12) -> None:
    """The same run to ``rtol``: same epochs, stop reasons and stop epochs; the per-epoch arrays and
    final params elementwise to ``rtol`` (``compare_traces``' ``max_rel_diff``), optimizer states and
    snapshots to ``rtol`` of each leaf's magnitude."""
    diff = fnn.compare_traces(a, b)
    assert a.loss.shape == b.loss.shape, diff.reason
    assert a.stop_reasons == b.stop_reasons
    np.testing.assert_array_equal(a.stop_epoch, b.stop_epoch)
    assert diff.max_rel_diff <= rtol, diff.reason
    for name in ("final_loss", "final_accuracy"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, err_msg=name)
    _assert_leaves_close(a.opt_state, b.opt_state, rtol)
    assert [e for e, _ in a.snapshots] == [e for e, _ in b.snapshots]
    for (_, pa), (_, pb) in zip(a.snapshots, b.snapshots, strict=True):
        _assert_leaves_close(pa, pb, rtol)


class Counting(Executor):
    """An executor that hands every part on to another one and counts them."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.calls = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        self.calls += 1
        return self.inner.submit(fn, *args, **kwargs)


def watch_merge(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of parts of every run merged by ``engine.chunks.merge`` from now on."""
    counts: list[int] = []
    real = chunks.merge

    def watch(run: Any, parts: list[fnn.Trace]) -> fnn.Trace:
        counts.append(len(parts))
        return real(run, parts)

    monkeypatch.setattr(chunks, "merge", watch)
    return counts


def split_per_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """``engine.train`` splits every stack into chunks of one model (``chunk_bounds`` with tiny sizes).

    ``chunk_bounds``' defaults are bound when it is defined, so patching the module's
    ``CHUNK_BYTES`` / ``MIN_CHUNK_BYTES`` does not reach ``engine.train`` (see
    ``tests/test_executor.py::test_patching_the_chunk_constants_reaches_train``); the
    split is forced through the documented keywords instead.
    """
    monkeypatch.setattr(chunks, "chunk_bounds", functools.partial(chunks.chunk_bounds, chunk_bytes=1, min_bytes=1))


def custom_sgd(lr: float, calls: list[int]) -> fnn.Optimizer:
    """Plain SGD as an optimizer of our own, appending 1 to ``calls`` on every update."""

    def init(params: object) -> OptState:
        del params
        return EmptyState()

    def update(grads: P, state: OptState, params: P) -> tuple[P, OptState]:
        calls.append(1)
        return tree_map(lambda p, g: p - lr * g, params, grads), state

    return fnn.Optimizer(name="counting sgd", hyperparams={"lr": lr}, init=init, update=update)
