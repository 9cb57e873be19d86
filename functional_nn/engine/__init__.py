"""The engine: everything that exists only for speed, fenced off from the reference path.

    train(run, start, *, workers, executor) -> Trace                 # the fold, a stack split into chunks
    train_iter(run, start)                  -> Iterator[Progress]    # the fold, one epoch at a time
    Part.of(run, start, lo, hi)             -> Part                  # a task: models lo:hi, without the data
    run_part(data, part)                    -> (Trace, seconds)      # a task's fold, wherever it runs

The arithmetic is the reference's (``functional_nn.fold.epoch_step`` over the
layers' own ``forward``/``backward`` and the optimizer's own ``update``); the
engine only changes how it is laid out and where it runs:

- ``flat``: params, gradients and optimizer states as one vector per model;
- ``dense``: a Dense network's step computed into buffers reused every epoch;
- ``chunks``: a stack split into cache-sized chunks of models, run at once in
  threads or in an executor the caller owns, and merged.

Tests (``tests/test_engine.py``) prove that ``engine="fast"`` equals
``engine="reference"`` bit for bit over every registry entry, and that the
split never changes a bit.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from typing import Any

import attrs
import numpy as np

from functional_nn.config import Run, normalized
from functional_nn.engine import chunks, dense
from functional_nn.engine.flat import Layout, flat_start
from functional_nn.fold import Progress, Start, Step, epoch_step, fold, fresh_start, needs_reference
from functional_nn.network import init
from functional_nn.trace import Trace
from functional_nn.tree import tree_map

__all__ = ["Part", "fast_fold", "fold_part", "run_part", "train", "train_iter"]


def fast_fold(run: Run, start: Start, *, on_epoch: bool) -> Iterator[Progress]:
    """The reference fold from ``start``, stepping on flat params (into buffers, for Dense networks)."""
    if needs_reference(run):  # (decay_biases=False, dropout: see fold.needs_reference)
        return fold(run, start, on_epoch=on_epoch)
    layout = Layout.of(start.carry.params, run.models)
    step: Step
    if dense.supports(run):
        step = dense.DenseStep(run, layout)
    else:
        step = functools.partial(epoch_step, grad=layout.value_and_grad)
    return fold(run, flat_start(start, layout), step, layout.to_records, on_epoch=on_epoch)


def fold_part(part: tuple[Run, Start]) -> Trace:
    """The trace of one part's whole fold (module level, so an executor can pickle it)."""
    run, start = part
    with np.errstate(all="ignore"):  # divergence is data (the stop rules), never a warning
        *_, last = fast_fold(run, start, on_epoch=False)
    assert last.trace is not None
    return last.trace


_NO_DATA = np.empty((0, 0))
_NO_DATA.flags.writeable = False


@attrs.frozen
class Part:
    """One task: some models of a stacked run, without its data (shipped apart, once per worker).

    Attributes:
        run: the run of these models, its data left out.
        start: where they start (their resume points), or None for a fresh start from
            ``init(net, seed=run.seeds, scheme=scheme)``, made where the task runs.
        scheme: the initializer of a fresh start.
        origin: the caller's process id: a task run in another process sets it up (``chunks.set_up_worker``).
    """

    run: Run
    start: Start | None
    scheme: str = "normal"
    origin: int = 0

    @classmethod
    def of(cls, run: Run, start: Start | None, lo: int, hi: int, scheme: str = "normal") -> Part:
        """Models ``lo:hi`` of ``run`` from ``start`` (None: fresh)."""
        bare = attrs.evolve(run.models_slice(lo, hi), x=_NO_DATA, y=_NO_DATA, val_x=None, val_y=None)
        piece = None if start is None else chunks.start_slice(start, lo, hi)
        return cls(bare, piece, scheme, os.getpid())


def run_part(data: Any, part: Part) -> tuple[Trace, float]:
    """A task's whole fold on its data (``chunks.received``), and its seconds (module level, so that an
    executor can pickle it)."""
    chunks.set_up_worker(part.origin)
    run = chunks.received(data).into(part.run)
    started = time.perf_counter()
    start = part.start
    if start is None:
        params = tree_map(normalized, init(run.net, seed=list(run.seeds), scheme=part.scheme))
        start = fresh_start(run, params, run.config.optimizer.init(params))
    trace = fold_part((run, start))
    return trace, time.perf_counter() - started


def train(run: Run, start: Start, *, workers: int, executor: Executor | None) -> Trace:
    """The fold from ``start``; a large stack is split into chunks run at once, then merged.

    On an executor, each chunk travels as a ``Part`` (its models' resume points, no
    data, no history) and the data once per worker (``chunks.run_tasks``)."""
    if executor is None:
        bounds = chunks.chunk_bounds(run, workers)
    else:  # tasks sized from the work and the executor's workers, as a sweep's
        bounds = chunks.plan_bounds([run], workers, [run.config.epochs - start.epochs_run])[0]
    if len(bounds) == 1:
        return fold_part((run, start))
    if executor is None:
        parts = [(run.models_slice(lo, hi), chunks.start_slice(start, lo, hi)) for lo, hi in bounds]
        return chunks.merge(run, chunks.run_parts(fold_part, parts, workers, executor))
    tasks = [Part.of(run, start, lo, hi) for lo, hi in bounds]
    outcomes = chunks.run_tasks(run_part, chunks.Arrays.of(run), tasks, executor)
    for outcome in outcomes:
        if outcome.error is not None:
            raise outcome.error
    return chunks.merge(run, [o.value[0] for o in outcomes])


def train_iter(run: Run, start: Start) -> Iterator[Progress]:
    """The fold from ``start``, a Progress per epoch (never split: each epoch is yielded)."""
    return fast_fold(run, start, on_epoch=True)
