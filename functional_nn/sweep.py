"""Sweeps: every config of a grid, each with every seed, on any executor.

    sweep(net, data, configs, *, seeds, executor=None, ...)   -> list[Trace]   # one per config, in order
    resume_sweep(traces, data, epochs, *, executor=None, ...) -> list[Trace]   # each continued, bit for bit
    SweepError                                                                  # a config failed; the others kept
    SweepProgress                                                               # what a progress callback is told

Each config's trace is stacked over the seeds and is, bit for bit, the trace of
``train(net, init(net, seed=seeds), data, attrs.evolve(config, seed=seeds))``,
whatever the executor and however the work is cut.  Configs that differ only in
the learning rate (same network, optimizer kind and its other hyperparameters,
batch mode, stop rules) are trained as one stack with one learning rate per
model.  The stacks are cut into tasks sized from the estimated work (models x
epochs x samples x the network's size) and the executor's number of workers.
This module checks the arguments and names the failures; the stacking and the
tasks are the engine's (``engine.sweep``, ``engine.chunks``): a sweep's
reference is ``train`` of each config alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any, NamedTuple

import attrs

from functional_nn import _validate, network
from functional_nn.config import TrainConfig, prepare
from functional_nn.data import Dataset
from functional_nn.engine import sweep as fast_sweep
from functional_nn.layers import INITIALIZERS
from functional_nn.network import Network, check_network, check_seeds
from functional_nn.trace import Trace
from functional_nn.training import joined, resume_start

__all__ = ["SweepError", "SweepProgress", "resume_sweep", "sweep"]


class SweepProgress(NamedTuple):
    """What a sweep's ``progress`` callback is told: after each task, and every 0.2 s while it waits
    (a message to a callback, not a record: a named tuple).

    Attributes:
        tasks_done, tasks: tasks ended so far, of all.
        work_done: the share of the estimated work done, 0 to 1.
        finished: the configs completed since the last call: ``(position in configs, trace, seconds)``,
            seconds being the worker time spent on that config's models.
    """

    tasks_done: int
    tasks: int
    work_done: float
    finished: tuple[tuple[int, Trace, float], ...] = ()


class SweepError(Exception):
    """Some configs of a sweep failed; the traces of the others are kept.

    Attributes:
        traces: one entry per config, in the configs' order: its trace, or None for a config
            that failed or was not run (after a failure, the tasks not started are cancelled).
        errors: position in the configs -> the exception its training raised (configs
            trained in one stack fail together).
        cancelled: positions of the configs not run.
    """

    def __init__(
        self, traces: Sequence[Trace | None], errors: Mapping[int, BaseException], cancelled: Sequence[int]
    ) -> None:
        self.traces = tuple(traces)
        self.errors = dict(errors)
        self.cancelled = tuple(cancelled)
        kept = sum(t is not None for t in self.traces)
        n = len(self.traces)
        if self.errors:
            first = min(self.errors)
            error = self.errors[first]
            failed = ", ".join(str(i) for i in sorted(self.errors))
            text = f"sweep: config(s) {failed} of {n} (positions in configs) failed: configs[{first}]: "
            text += f"{type(error).__name__}: {error}"
        else:  # the executor cancelled them (shut down meanwhile, say)
            text = f"sweep: {len(self.cancelled)} config(s) of {n} not run"
        if self.cancelled:
            why = "cancelled after the failure" if self.errors else "their tasks were cancelled"
            text += f"; {len(self.cancelled)} not run ({why}): {', '.join(map(str, self.cancelled))}"
        super().__init__(f"{text}; the traces of the other {kept} are in .traces")


ProgressFn = Callable[[SweepProgress], None]


def sweep(
    net: Network,
    data: Dataset,
    configs: Sequence[TrainConfig],
    *,
    seeds: Sequence[int],
    executor: Executor | None = None,
    validation: Dataset | None = None,
    init: str = "normal",
    workers: int | None = None,
    keep_going: bool = False,
    progress: ProgressFn | None = None,
) -> list[Trace]:
    """Train every config with every seed: one trace per config, stacked over the seeds.

    Args:
        net: the network, shared by every config.
        data: the training set.
        configs: the grid, a sequence of TrainConfig; each one's ``seed`` is replaced by ``seeds``.
        seeds: one seed per model, the same for every config: its params start as
            ``fnn.init(net, seed=seeds, scheme=init)``.
        executor: where the tasks run: None (threads here), a ``ProcessPoolExecutor``, or a dask
            ``Client.get_executor()`` (a cluster: README); the caller owns it.
        validation: a held-out Dataset, as for ``train``.
        init: the initializer's name (``fnn.INITIALIZERS``).
        workers: how many tasks run at once (default: the executor's workers; without
            one, this machine's cores).  It sizes the tasks, never a bit of the result.
        keep_going: after a task fails, run the other tasks still (default: cancel those not started).
        progress: called with a ``SweepProgress`` after each task and at least every 0.2 s while
            waiting; an exception it raises (a Ctrl-C check, say) cancels the tasks not done and propagates.

    Returns:
        The traces in the configs' order; trace ``i`` equals, bit for bit,
        ``train(net, fnn.init(net, seed=seeds), data, attrs.evolve(configs[i], seed=tuple(seeds)))``.

    Raises:
        TypeError, ValueError: a bad argument (``configs[i]: ...`` naming the config), before anything runs.
        SweepError: some configs failed while training; ``.traces`` keeps the others'.
        KeyboardInterrupt: Ctrl-C; the tasks not started are cancelled.

    Example:
        >>> import functional_nn as fnn
        >>> net = fnn.mlp((2, 4, 1))
        >>> grid = [fnn.TrainConfig(epochs=5, optimizer=fnn.sgd(lr=lr), loss="mse") for lr in (0.1, 1.0)]
        >>> [t.loss.shape for t in fnn.sweep(net, fnn.generate_xor_easy(), grid, seeds=[0, 1, 2])]
        [(5, 3), (5, 3)]
    """
    check_network(net)
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a Dataset (e.g. fnn.generate_linear(seed=0)), got {type(data).__name__}")
    seeds_ = _seeds(seeds)
    _validate.choice("init", init, tuple(INITIALIZERS))
    configs = _configs(configs)
    params = network.init(net, seed=list(seeds_), scheme=init)
    runs = []
    for i, config in enumerate(configs):
        with _naming(i):
            runs.append(prepare(net, params, data, attrs.evolve(config, seed=seeds_), validation))
    return _run(fast_sweep.fresh(runs), [r.config for r in runs], init, executor, workers, keep_going, progress)


def resume_sweep(
    traces: Sequence[Trace],
    data: Dataset,
    epochs: int,
    *,
    executor: Executor | None = None,
    validation: Dataset | None = None,
    workers: int | None = None,
    keep_going: bool = False,
    progress: ProgressFn | None = None,
) -> list[Trace]:
    """Continue every trace of a sweep for ``epochs`` more epochs, stacked again as ``sweep`` stacks them.

    Trace ``i`` of the result equals ``fnn.resume(traces[i], data, epochs)``, bit for bit.  The tasks
    carry the resume points only (params, optimizer states, early stopping's watch), never the
    per-epoch history, which stays here and is joined to the new epochs.

    Example:
        >>> import functional_nn as fnn
        >>> net, xor = fnn.mlp((2, 4, 1)), fnn.generate_xor_easy()
        >>> grid = [fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=lr), loss="mse") for lr in (0.1, 1.0)]
        >>> [t.loss.shape for t in fnn.resume_sweep(fnn.sweep(net, xor, grid, seeds=[0, 1]), xor, 2)]
        [(5, 2), (5, 2)]
    """
    if isinstance(traces, Trace) or not isinstance(traces, Sequence) or not traces:
        raise TypeError(f"traces must be a non-empty sequence of Traces, got {_validate.show(traces)}")
    starts = []
    for i, trace in enumerate(traces):
        with _naming(i, "traces"):
            if not isinstance(trace, Trace):
                raise TypeError(f"must be a Trace, got {type(trace).__name__}")
            starts.append(resume_start(trace, data, epochs, validation))
    runs = [run for run, _ in starts]
    groups = fast_sweep.resumed(runs, [start for _, start in starts])
    done = _run(groups, [r.config for r in runs], "normal", executor, workers, keep_going, progress)
    return [joined(earlier, later) for earlier, later in zip(traces, done)]


# ------------------------------------------------------------ checking ---


def _seeds(seeds: object) -> tuple[int, ...]:
    checked = check_seeds(seeds, "seeds")
    if isinstance(checked, int):
        raise TypeError(f"seeds must be a sequence of integers >= 0 (one per model), got {_validate.show(seeds)}")
    return checked


def _configs(configs: object) -> list[TrainConfig]:
    if isinstance(configs, (TrainConfig, str)) or not isinstance(configs, Sequence) or not configs:
        raise TypeError(f"configs must be a non-empty sequence of TrainConfigs, got {_validate.show(configs)}")
    for i, c in enumerate(configs):
        if not isinstance(c, TrainConfig):
            raise TypeError(f"configs[{i}] must be a TrainConfig, got {type(c).__name__}")
    return list(configs)


class _naming:
    """Context: a TypeError/ValueError raised inside is raised again with ``name[i]: `` before its message."""

    def __init__(self, i: int, name: str = "configs") -> None:
        self.prefix = f"{name}[{i}]: "

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, value: Any, tb: Any) -> None:
        if isinstance(value, (TypeError, ValueError)) and not str(value).startswith(self.prefix):
            raise type(value)(self.prefix + str(value)) from value


def _run(
    groups: Sequence[fast_sweep.Group],
    configs: Sequence[TrainConfig],
    scheme: str,
    executor: Executor | None,
    workers: int | None,
    keep_going: bool,
    progress: ProgressFn | None,
) -> list[Trace]:
    """The engine's run of the groups, its failures raised as a SweepError."""
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor or None, got {_validate.show(executor)}")
    if workers is not None:
        workers = _validate.integer("workers", workers, minimum=1)

    def tell(done: int, tasks: int, work: float, finished: tuple[tuple[int, Trace, float], ...]) -> None:
        assert progress is not None
        progress(SweepProgress(done, tasks, work, finished))

    traces, errors, cancelled = fast_sweep.execute(
        groups, configs, scheme, executor, workers, keep_going, None if progress is None else tell
    )
    if errors or cancelled:
        raise SweepError(traces, errors, cancelled) from errors[min(errors)] if errors else None
    return [t for t in traces if t is not None]
