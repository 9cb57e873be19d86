"""Training: the entry points of the fold over epochs.

    train(net, params, data, config, *, engine="fast", workers=None, executor=None) -> Trace
    train_iter(net, params, data, config, *, engine="fast")     -> Iterator[Progress]
    resume(trace, data, epochs, *, engine="fast", workers=None, executor=None) -> Trace
    resume_iter(trace, data, epochs, *, engine="fast")          -> Iterator[Progress]

Each checks its arguments once (``config.prepare``), then runs the fold of
``functional_nn.fold``: ``engine="reference"`` runs exactly the plain fold
(``fold.fold`` over ``fold.epoch_step``), for reading, for debugging and as the
tests' oracle; ``engine="fast"`` (the default) runs the same arithmetic laid
out for speed by ``functional_nn.engine``, and splits a large stack of models
into chunks trained at once.  Both give the same trace, bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Executor
from typing import Any

import attrs
import numpy as np

from functional_nn import _validate
from functional_nn import engine as fast
from functional_nn.config import MAX_EPOCHS, Run, TrainConfig, normalized, prepare
from functional_nn.data import Dataset
from functional_nn.fold import Carry, Progress, Start, fold, fresh_start
from functional_nn.network import Network
from functional_nn.trace import EPOCHS_DONE, Trace
from functional_nn.tree import tree_map

__all__ = ["ENGINES", "resume", "resume_iter", "train", "train_iter"]

ENGINES = ("fast", "reference")
"""``engine=`` values: the engine's layout for speed, or the plain reference fold."""


def train(
    net: Network,
    params: Any,
    data: Dataset,
    config: TrainConfig,
    *,
    engine: str = "fast",
    workers: int | None = None,
    executor: Executor | None = None,
    validation: Dataset | None = None,
) -> Trace:
    """Train ``params`` of ``net`` on ``data``: a fold over epochs.

    Args:
        net: the network.
        params: initial params (``init(net, seed)``); stacked over one model axis to train many at once.
        data: the training set.
        config: epochs, optimizer, loss, batching, seed and stop rules.
        engine: ``"fast"`` or ``"reference"`` (the plain fold); same trace, bit for bit.
        workers: how many chunks of a stack run at once (default: the executor's
            workers, a dask cluster's asked now; without one, the machine's cores).
            Every model's result is the same, bit for bit, whatever the split.
        executor: where the chunks run (default: threads of this process,
            started and joined here).  Pass a ``concurrent.futures.ProcessPoolExecutor``
            you own to use every core fully: NumPy releases the GIL inside its
            kernels but not between them, so on the lab's small arrays
            threads fall short of processes (README, speed table).  The chunks
            are pickled to it (resume points, not histories; the data once per
            worker); start it under ``if __name__ == "__main__":``.  A dask
            ``Client.get_executor()`` works too.  Many configs: ``fnn.sweep``.
        validation: a held-out Dataset: ``trace.val_loss`` and ``trace.val_accuracy``
            record, every epoch, its loss and accuracy for the params of the
            training figures (those at the start of the epoch).

    Returns:
        The Trace: per-epoch loss / accuracy / gradient norm, final params and
        optimizer state, snapshots, and why training stopped.  Nothing passed in
        is modified.  A diverging loss ends training with a stop reason, never a warning.

    Example:
        >>> import functional_nn as fnn
        >>> net = fnn.mlp((2, 4, 1))
        >>> cfg = fnn.TrainConfig(epochs=5, optimizer=fnn.sgd(lr=0.1), loss=fnn.mse)
        >>> fnn.train(net, fnn.init(net, seed=0), fnn.generate_xor_easy(), cfg).loss.shape
        (5,)
    """
    run = prepare(net, params, data, config, validation)
    return _train(run, _fresh(run, params), None, engine, workers, executor)


def train_iter(
    net: Network,
    params: Any,
    data: Dataset,
    config: TrainConfig,
    *,
    engine: str = "fast",
    validation: Dataset | None = None,
) -> Iterator[Progress]:
    """``train``, lazily: yields a Progress after each epoch; the last one carries the Trace.

    The arguments are checked when this is called; nothing is computed until
    the first item is asked for.

    Example:
        >>> import functional_nn as fnn
        >>> net = fnn.mlp((2, 4, 1))
        >>> cfg = fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=0.1), loss="mse")
        >>> items = list(fnn.train_iter(net, fnn.init(net, seed=0), fnn.generate_xor_easy(), cfg))
        >>> [p.epoch for p in items], items[-1].trace is not None
        ([1, 2, 3], True)
    """
    run = prepare(net, params, data, config, validation)
    _check_engine(engine)
    return _iterate(run, lambda: _fresh(run, params), None, engine)


def resume(
    trace: Trace,
    data: Dataset,
    epochs: int,
    *,
    engine: str = "fast",
    workers: int | None = None,
    executor: Executor | None = None,
    validation: Dataset | None = None,
) -> Trace:
    """Continue a run for ``epochs`` more epochs, exactly where ``trace`` left off.

    The result equals, bit for bit, one uninterrupted run of the total length.
    Models that had stopped (threshold reached, diverged) stay stopped.

    Args:
        trace: a trace made by ``train``/``resume`` (or loaded with ``io.load_trace``).
        data: the same training set.
        epochs: how many more epochs, >= 1.
        engine, workers, executor: as for ``train``.
        validation: the same held-out set as the trace's (required when it has validation figures).

    Returns:
        The combined Trace (its config's ``epochs`` is the total).

    Example:
        >>> import functional_nn as fnn
        >>> net = fnn.mlp((2, 4, 1))
        >>> cfg = fnn.TrainConfig(epochs=3, optimizer=fnn.adam(lr=0.01), loss="mse")
        >>> first = fnn.train(net, fnn.init(net, seed=0), fnn.generate_xor_easy(), cfg)
        >>> fnn.resume(first, fnn.generate_xor_easy(), epochs=2).loss.shape
        (5,)
    """
    run, start = resume_start(trace, data, epochs, validation)
    return _train(run, start, trace, engine, workers, executor)


def resume_iter(
    trace: Trace, data: Dataset, epochs: int, *, engine: str = "fast", validation: Dataset | None = None
) -> Iterator[Progress]:
    """``resume``, lazily, like ``train_iter``: one Progress per epoch, the last carrying the Trace."""
    run, start = resume_start(trace, data, epochs, validation)
    _check_engine(engine)
    return _iterate(run, lambda: start, trace, engine)


def _check_engine(engine: object) -> str:
    return _validate.choice("engine", engine, ENGINES)


def _fresh(run: Run, params: Any) -> Start:
    params = tree_map(normalized, params)
    return fresh_start(run, params, run.config.optimizer.init(params))


def _train(
    run: Run, start: Start, earlier: Trace | None, engine: str, workers: int | None, executor: Executor | None
) -> Trace:
    _check_engine(engine)
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor or None, got {_validate.show(executor)}")
    if workers is not None:
        n_workers = _validate.integer("workers", workers, minimum=1)
    else:  # the executor's workers (a dask cluster's, asked now), else this machine's cores
        n_workers = fast.chunks.executor_workers(executor) or (os.cpu_count() or 1)
    if engine == "reference":
        with np.errstate(all="ignore"):  # divergence is data (the stop rules), never a warning
            *_, last = fold(run, start, on_epoch=False)
        assert last.trace is not None
        trace = last.trace
    else:
        trace = fast.train(run, start, workers=n_workers, executor=executor)
    return trace if earlier is None else joined(earlier, trace)


def _iterate(run: Run, start: Any, earlier: Trace | None, engine: str) -> Iterator[Progress]:
    """The fold's Progress items, each computed with numerical warnings off (for this thread only)."""
    with np.errstate(all="ignore"):
        items = fold(run, start(), on_epoch=True) if engine == "reference" else fast.train_iter(run, start())
    while True:
        with np.errstate(all="ignore"):
            item = next(items, None)
        if item is None:
            return
        if item.trace is not None and earlier is not None:
            item = attrs.evolve(item, trace=joined(earlier, item.trace))
        yield item


def resume_start(trace: Trace, data: Dataset, epochs: int, validation: Dataset | None) -> tuple[Run, Start]:
    """The run and start that continue ``trace`` for ``epochs`` more epochs (every argument checked)."""
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be a Trace, got {type(trace).__name__}")
    more = _validate.integer("epochs", epochs, minimum=1, maximum=MAX_EPOCHS - trace.epochs_run)
    point = trace.resume_point
    if point is None:
        raise ValueError("trace cannot be resumed: it has no resume point (a trace saved without one)")
    if (trace.val_loss is None) != (validation is None):
        had = "has" if trace.val_loss is not None else "has no"
        raise ValueError(f"validation must be given exactly when the trace has validation figures (this one {had})")
    config = attrs.evolve(trace.config, epochs=trace.epochs_run + more)
    run = prepare(trace.network, trace.params, data, config, validation)
    active = np.array([r == EPOCHS_DONE for r in trace.stop_reasons]).reshape(run.models)
    carry = Carry(
        params=trace.params,
        state=trace.opt_state,
        prev_params=point.prev_params,
        prev_state=point.prev_opt_state,
        active=active,
        all_active=bool(active.all()),
        stop_epoch=np.where(active, run.config.epochs, trace.stop_epoch),
        reasons=trace.stop_reasons,
        watch=point.watch,
    )
    return run, Start(carry=carry, epochs_run=trace.epochs_run)


def joined(earlier: Trace, later: Trace) -> Trace:
    """The trace of a resumed run: the earlier epochs, then the later ones."""

    def cat(name: str) -> Any:
        parts = [getattr(earlier, name), getattr(later, name)]
        return None if parts[0] is None else np.concatenate(parts)

    names = ("loss", "accuracy", "grad_norm", "val_loss", "val_accuracy", "lr")
    return attrs.evolve(later, snapshots=earlier.snapshots + later.snapshots, **{n: cat(n) for n in names})
