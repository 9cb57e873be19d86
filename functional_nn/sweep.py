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
epochs x samples x the network's size) and the executor's number of workers
(``engine.chunks.plan_bounds``); see ``engine.chunks`` for what a task carries.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any, NamedTuple

import attrs
import numpy as np

from functional_nn import _validate, network
from functional_nn import engine as fast
from functional_nn._records import FloatArray
from functional_nn.config import Run, TrainConfig, per_model_hyperparams, prepare
from functional_nn.data import Dataset
from functional_nn.engine import chunks
from functional_nn.fold import Carry, Start
from functional_nn.layers import INITIALIZERS
from functional_nn.network import Network, check_network, check_seeds
from functional_nn.optimizers import OPTIMIZERS
from functional_nn.schedules import SCHEDULE_TYPES
from functional_nn.trace import Trace
from functional_nn.training import joined, resume_start
from functional_nn.tree import tree_map

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


@attrs.frozen
class _Group:
    """Configs trained as one stack: positions in the configs, and the stack's run and start."""

    members: tuple[int, ...]
    sizes: tuple[int, ...]  # each member's models
    run: Run
    start: Start | None  # None: fresh, made by each task from its seeds
    epochs_before: int = 0


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
        executor: where the tasks run: None (threads of this process), a
            ``concurrent.futures.ProcessPoolExecutor``, or a dask ``Client.get_executor()``
            (a cluster: README); the caller owns it.
        validation: a held-out Dataset, as for ``train``.
        init: the initializer's name (``fnn.INITIALIZERS``).
        workers: how many tasks run at once (default: the executor's workers; without
            one, this machine's cores).  It sizes the tasks, never a bit of the result.
        keep_going: after a task fails, run the other tasks still (default: cancel those not started).
        progress: called with a ``SweepProgress`` after each task and at least every 0.2 s
            while waiting; an exception it raises (a Ctrl-C check, say) cancels the tasks not
            done and propagates.

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
    groups = [_Group(tuple(members), _sizes(runs, members), run, None) for members, run in _stacks(runs)]
    return _execute(groups, [r.config for r in runs], init, executor, workers, keep_going, progress)


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
    groups = []
    for members, run in _stacks(runs, same_start=[s.epochs_run for _, s in starts]):
        parts = [starts[i][1] for i in members]
        groups.append(_Group(tuple(members), _sizes(runs, members), run, _joined_starts(parts), parts[0].epochs_run))
    done = _execute(groups, [r.config for r in runs], "normal", executor, workers, keep_going, progress)
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


# ------------------------------------------------------------ stacking ---


def _key(config: TrainConfig) -> TrainConfig | None:
    """The config without its learning rate, for stacking; None when it cannot share a stack (an
    optimizer not built in, or one with per-model hyperparameters already)."""
    opt = config.optimizer
    if opt.name not in OPTIMIZERS or per_model_hyperparams(opt) or isinstance(opt.lr, SCHEDULE_TYPES):
        return None  # (a schedule is one function for the whole stack: no per-model values of it)
    return attrs.evolve(config, optimizer=OPTIMIZERS[opt.name](**{**opt.hyperparams, "lr": 1.0}))


def _stacks(runs: Sequence[Run], same_start: Sequence[int] | None = None) -> list[tuple[list[int], Run]]:
    """Group the runs that can share a stack (equal but for the learning rate, and for a resume the
    same epochs run); each group's stacked run, its models ordered config by config."""
    groups: list[tuple[TrainConfig | None, int, list[int]]] = []
    for i, run in enumerate(runs):
        key, at = _key(run.config), 0 if same_start is None else same_start[i]
        for k, n, members in groups:
            if key is not None and k == key and n == at and runs[members[0]].net == run.net:
                members.append(i)
                break
        else:
            groups.append((key, at, [i]))
    out = []
    for _, _, members in groups:
        first = runs[members[0]]
        if len(members) == 1:
            out.append((members, first))
            continue
        opt = first.config.optimizer
        lrs = np.concatenate([np.broadcast_to(_float_lr(runs[i].config), first.models) for i in members])
        seeds = tuple(s for i in members for s in runs[i].seeds)
        config = attrs.evolve(
            first.config,
            optimizer=OPTIMIZERS[opt.name](**{**opt.hyperparams, "lr": lrs}),
            seed=seeds,
        )
        out.append((members, attrs.evolve(first, config=config, models=(len(seeds),), seeds=seeds)))
    return out


def _float_lr(config: TrainConfig) -> float | FloatArray:
    lr = config.optimizer.lr
    assert not isinstance(lr, SCHEDULE_TYPES)  # _key keeps scheduled configs out of shared stacks
    return lr


def _sizes(runs: Sequence[Run], members: Sequence[int]) -> tuple[int, ...]:
    return tuple(runs[i].models[0] for i in members)


def _joined_starts(starts: Sequence[Start]) -> Start:
    """One stacked start from the starts of consecutive configs."""
    if len(starts) == 1:
        return starts[0]
    carries = [s.carry for s in starts]

    def cat(*xs: Any) -> Any:
        return np.concatenate(xs)

    def trees(name: str) -> Any:
        values = [getattr(c, name) for c in carries]
        return None if values[0] is None else tree_map(cat, *values, broadcast=True)

    active = np.concatenate([c.active for c in carries])
    carry = Carry(
        params=trees("params"),
        state=trees("state"),
        prev_params=trees("prev_params"),
        prev_state=trees("prev_state"),
        active=active,
        all_active=bool(active.all()),
        stop_epoch=np.concatenate([c.stop_epoch for c in carries]),
        reasons=tuple(r for c in carries for r in c.reasons),
        watch=trees("watch"),
    )
    return Start(carry=carry, epochs_run=starts[0].epochs_run)


# ------------------------------------------------------------- running ---


def _execute(
    groups: Sequence[_Group],
    configs: Sequence[TrainConfig],
    scheme: str,
    executor: Executor | None,
    workers: int | None,
    keep_going: bool,
    progress: ProgressFn | None,
) -> list[Trace]:
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor or None, got {_validate.show(executor)}")
    if workers is not None:
        n_workers = _validate.integer("workers", workers, minimum=1)
    elif executor is not None:
        n_workers = chunks.executor_workers(executor) or (os.cpu_count() or 1)
    else:
        n_workers = _cores()
    n_workers = min(n_workers, sum(len(g.run.seeds) for g in groups))  # never more tasks than models
    remaining = [g.run.config.epochs - g.epochs_before for g in groups]
    plans = chunks.plan_bounds([g.run for g in groups], n_workers, remaining)
    tasks: list[fast.Part] = []
    owner: list[tuple[int, int, int]] = []  # per task: group, lo, hi
    costs: list[float] = []
    for gi, (group, bounds) in enumerate(zip(groups, plans)):
        for lo, hi in bounds:
            tasks.append(fast.Part.of(group.run, group.start, lo, hi, scheme))
            owner.append((gi, lo, hi))
            fixed, per_model = chunks.work(group.run, hi - lo, remaining[gi])
            costs.append(fixed + (hi - lo) * per_model)
    total_cost = sum(costs) or 1.0
    waiting = [sum(1 for g, _, _ in owner if g == gi) for gi in range(len(groups))]
    results: dict[int, chunks.Outcome] = {}
    finished: list[tuple[int, Trace, float]] = []
    traces: list[Trace | None] = [None] * len(configs)
    errors: dict[int, BaseException] = {}
    cancelled: list[int] = []
    done, work = [0], [0.0]  # tasks ended, their estimated work

    def assemble(gi: int) -> None:
        group = groups[gi]
        mine = [(t, owner[t]) for t in range(len(tasks)) if owner[t][0] == gi]
        offsets = np.cumsum((0, *group.sizes))
        for j, position in enumerate(group.members):
            lo_c, hi_c = int(offsets[j]), int(offsets[j + 1])
            overlap = [(t, lo, hi) for t, (_, lo, hi) in mine if lo < hi_c and hi > lo_c]
            outcomes = [results[t] for t, _, _ in overlap]
            failed = next((o.error for o in outcomes if o.error is not None), None)
            if failed is not None:
                errors[position] = failed
                continue
            if any(o.cancelled for o in outcomes):
                cancelled.append(position)
                continue
            pieces, seconds = [], 0.0
            for (t, lo, hi), o in zip(overlap, outcomes):
                a, b = max(lo, lo_c), min(hi, hi_c)
                part, spent = o.value
                pieces.append(chunks.trace_slice(part, a - lo, b - lo, group.epochs_before))
                seconds += spent * (b - a) / (hi - lo)
            config = configs[position]
            trace = _as_config(pieces, group.run, config)
            traces[position] = trace
            finished.append((position, trace, seconds))

    def on_done(t: int, outcome: chunks.Outcome) -> None:
        results[t] = outcome
        done[0] += 1
        work[0] += costs[t]
        gi = owner[t][0]
        waiting[gi] -= 1
        if waiting[gi] == 0:
            assemble(gi)
        report()

    def report() -> None:
        if progress is None:
            return
        news = tuple(finished)
        finished.clear()
        progress(SweepProgress(done[0], len(tasks), min(1.0, work[0] / total_cost), news))

    order = sorted(range(len(tasks)), key=lambda t: -costs[t])  # longest first
    data = chunks.Arrays.of(groups[0].run)
    outcomes = chunks.run_tasks(
        fast.run_part,
        data,
        tasks,
        executor,
        workers=n_workers,
        order=order,
        on_done=on_done,
        on_wait=report,
        keep_going=keep_going,
    )
    for t, outcome in enumerate(outcomes):  # every task is settled through on_done; a safeguard
        if t not in results:
            results[t] = outcome
            waiting[owner[t][0]] -= 1
            if waiting[owner[t][0]] == 0:
                assemble(owner[t][0])
    if errors or cancelled:
        raise SweepError(traces, errors, sorted(cancelled)) from errors[min(errors)] if errors else None
    return [t for t in traces if t is not None]


def _as_config(pieces: list[Trace], run: Run, config: TrainConfig) -> Trace:
    """One config's trace from the slices of the tasks that trained its models."""
    if len(pieces) == 1:
        return attrs.evolve(pieces[0], config=config, seed=config.seed)
    own = attrs.evolve(run, config=config, models=(len(config.seed),), seeds=config.seed)  # type: ignore[arg-type]
    return chunks.merge(own, pieces)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
