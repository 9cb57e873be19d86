"""The engine: everything that exists only for speed, fenced off from the reference path.

    train(run, start, *, workers, executor) -> Trace                 # the fold, a stack split into chunks
    train_iter(run, start)                  -> Iterator[Progress]    # the fold, one epoch at a time

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
from collections.abc import Iterator
from concurrent.futures import Executor

import numpy as np

from functional_nn.config import Run
from functional_nn.engine import chunks, dense
from functional_nn.engine.flat import Layout, flat_start
from functional_nn.fold import Progress, Start, Step, epoch_step, fold, needs_reference
from functional_nn.trace import Trace

__all__ = ["fast_fold", "fold_part", "train", "train_iter"]


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


def train(run: Run, start: Start, *, workers: int, executor: Executor | None) -> Trace:
    """The fold from ``start``; a large stack is split into chunks run at once, then merged."""
    bounds = chunks.chunk_bounds(run, workers)
    if len(bounds) == 1:
        return fold_part((run, start))
    parts = [(run.models_slice(lo, hi), chunks.start_slice(start, lo, hi)) for lo, hi in bounds]
    return chunks.merge(run, chunks.run_parts(fold_part, parts, workers, executor))


def train_iter(run: Run, start: Start) -> Iterator[Progress]:
    """The fold from ``start``, a Progress per epoch (never split: each epoch is yielded)."""
    return fast_fold(run, start, on_epoch=True)
