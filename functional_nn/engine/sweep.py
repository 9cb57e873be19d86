"""Sweeps, fast: the configs that can share a stack trained as one, cut into tasks for an executor.

    fresh(runs)                           -> [Group]    # the runs that can share a stack, each as one
    resumed(runs, starts)                 -> [Group]    # the same for resumed runs, their starts joined
    execute(groups, configs, scheme, ...) -> (traces, errors, cancelled)   # on threads or an executor

The reference of a sweep is ``train`` of each config alone; stacking and
cutting exist only for speed, and never change a bit (``tests/test_sweep.py``).
The public entry points, their checks and their errors are in
``functional_nn.sweep``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

import attrs
import numpy as np

from functional_nn import engine as fast
from functional_nn._records import FloatArray
from functional_nn.config import Run, TrainConfig, per_model_hyperparams
from functional_nn.engine import chunks
from functional_nn.fold import Carry, Start
from functional_nn.optimizers import OPTIMIZERS
from functional_nn.schedules import SCHEDULE_TYPES
from functional_nn.trace import Trace
from functional_nn.tree import tree_map

__all__ = ["Group", "execute", "fresh", "resumed"]

Tell = Callable[[int, int, float, tuple[tuple[int, Trace, float], ...]], None]
"""``tell(tasks_done, tasks, work_done, finished)``: a sweep's news (``functional_nn.sweep.SweepProgress``)."""


@attrs.frozen
class Group:
    """Configs trained as one stack: positions in the configs, and the stack's run and start."""

    members: tuple[int, ...]
    sizes: tuple[int, ...]  # each member's models
    run: Run
    start: Start | None  # None: fresh, made by each task from its seeds
    epochs_before: int = 0


# ------------------------------------------------------------ stacking ---


def fresh(runs: Sequence[Run]) -> list[Group]:
    """The runs of a sweep grouped into stacks, each starting fresh from its seeds."""
    return [Group(tuple(members), _sizes(runs, members), run, None) for members, run in _stacks(runs)]


def resumed(runs: Sequence[Run], starts: Sequence[Start]) -> list[Group]:
    """Resumed runs grouped into stacks (only those that ran as many epochs), their starts joined."""
    groups = []
    for members, run in _stacks(runs, same_start=[s.epochs_run for s in starts]):
        parts = [starts[i] for i in members]
        groups.append(Group(tuple(members), _sizes(runs, members), run, _joined_starts(parts), parts[0].epochs_run))
    return groups


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


def execute(
    groups: Sequence[Group],
    configs: Sequence[TrainConfig],
    scheme: str,
    executor: Executor | None,
    workers: int | None,
    keep_going: bool,
    tell: Tell | None,
) -> tuple[list[Trace | None], dict[int, BaseException], list[int]]:
    """Train the groups' stacks in tasks on ``executor`` (None: threads here) sized for ``workers``
    (None: the executor's, or this machine's cores): each config's trace (None if it failed or was
    not run), the errors by position in the configs, and the positions cancelled."""
    if workers is not None:
        n_workers = workers
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
            fixed, per_model = chunks.work(group.run, remaining[gi])
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
        if tell is None:
            return
        news = tuple(finished)
        finished.clear()
        tell(done[0], len(tasks), min(1.0, work[0] / total_cost), news)

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
    return traces, errors, sorted(cancelled)


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
