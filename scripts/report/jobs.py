"""What the report trains: one stacked run per job (settings that differ only in the learning rate).

build(job)                  -> (network, stacked params, data, config)   # validated by the library
configs(job)                -> one TrainConfig per learning rate          # a job's part of a sweep's grid
grid_key(job)               -> the jobs with equal keys share a sweep (same network and data)
result(job, traces, wall)   -> RunResult                                  # the report's numbers from its traces
run_job(job, on_epoch)      -> RunResult                                  # the job alone, here (train_iter)
estimated_cost(job)         -> rough seconds: the longest runs start first, and share the workers by it

The report trains through ``fnn.sweep`` (``scripts.report.pool``): one sweep per
network and dataset, whose grid is the configs of its jobs; the sweep stacks
each job's learning rates again, and its traces are bit for bit those of the
job's stacked run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import attrs
import numpy as np
import numpy.typing as npt

import functional_nn as fnn
from scripts.report import analysis as ra

FloatArray = npt.NDArray[np.float64]

GRID = 101
"""Points per axis of the decision-boundary grid over the unit square."""
DATA_SEED = 0

OnEpoch = Callable[[int, int], None]


def dataset(name: str) -> fnn.Dataset:
    """The report's data: "linear" (100 points, data seed ``DATA_SEED``) or "xor" (the lab's 21 points)."""
    return fnn.generate_linear(n=100, seed=DATA_SEED) if name == "linear" else fnn.generate_xor_easy(n=11)


@attrs.frozen
class Job:
    """One stacked run to train (picklable: it goes to a worker process)."""

    plan: ra.RunPlan
    seeds: int
    epochs: int
    threshold: float
    trace_path: str | None = None

    @property
    def models(self) -> int:
        return self.seeds * len(self.plan.lrs)


def build(job: Job) -> tuple[fnn.Network, fnn.Params, fnn.Dataset, fnn.TrainConfig]:
    """The network, stacked initial params, data and config of a job (validated by the library)."""
    s = job.plan.setting
    data = dataset(job.plan.dataset)
    net = fnn.mlp((2, *s.hidden, 1), hidden=s.activation, output="sigmoid")
    seeds = list(range(job.seeds)) * len(job.plan.lrs)
    lr: float | FloatArray = (
        job.plan.lrs[0] if len(job.plan.lrs) == 1 else np.repeat(np.asarray(job.plan.lrs), job.seeds)
    )
    optimizer = fnn.make_optimizer(s.optimizer, lr=lr, **dict(s.hyper))
    batch_size = None if s.batches is None else -(-data.n // s.batches)
    config = fnn.TrainConfig(
        epochs=job.epochs, optimizer=optimizer, loss=s.loss, batch_size=batch_size, shuffle=True, seed=seeds
    )
    return net, fnn.init(net, seed=seeds), data, config


@attrs.frozen
class GroupResult:
    """One setting (one learning rate) of a run: its numbers, curves and representative seed's pictures."""

    lr: float
    summary: ra.Summary
    curves: ra.Curves
    grid: FloatArray = attrs.field(eq=ra.ARRAY_EQ)  # `(GRID, GRID)` P(class 1), rows = x2
    pred: FloatArray = attrs.field(eq=ra.ARRAY_EQ)  # `(n, 1)` predicted labels


@attrs.frozen
class RunResult:
    run_id: int
    wall: float  # seconds of training
    groups: tuple[GroupResult, ...]

    def group(self, lr: float) -> GroupResult:
        return next(g for g in self.groups if g.lr == lr)


def _grid_points() -> FloatArray:
    axis = np.linspace(0.0, 1.0, GRID)
    x1, x2 = np.meshgrid(axis, axis)
    return np.column_stack([x1.ravel(), x2.ravel()])


def configs(job: Job) -> tuple[fnn.TrainConfig, ...]:
    """The job's settings as one config per learning rate (their seeds: ``range(job.seeds)``, the sweep's)."""
    _, _, _, config = build(job)
    hyper = dict(config.optimizer.hyperparams)
    return tuple(
        attrs.evolve(config, seed=0, optimizer=fnn.make_optimizer(config.optimizer.name, **(hyper | {"lr": lr})))
        for lr in job.plan.lrs
    )


def grid_key(job: Job) -> tuple[object, ...]:
    """Jobs with equal keys train in one sweep: the same network on the same data."""
    s = job.plan.setting
    return (job.plan.dataset, s.hidden, s.activation)


def network(job: Job) -> fnn.Network:
    s = job.plan.setting
    return fnn.mlp((2, *s.hidden, 1), hidden=s.activation, output="sigmoid")


def result(job: Job, traces: Sequence[fnn.Trace], wall: float) -> RunResult:
    """The report's numbers of a job from its traces, one per learning rate (``wall``: the seconds its
    models took); with ``trace_path``, the job's stacked trace is written there."""
    net, params, data, config = build(job)
    if job.trace_path is not None:
        from functional_nn import io as fio
        from functional_nn.config import prepare
        from functional_nn.engine.chunks import merge

        fio.save_trace(job.trace_path, merge(prepare(net, params, data, config), list(traces)))
    return RunResult(run_id=job.plan.run_id, wall=wall, groups=_groups(job, net, data, traces))


def _reduce(job: Job, net: fnn.Network, data: fnn.Dataset, trace: fnn.Trace) -> tuple[GroupResult, ...]:
    return _groups(job, net, data, [trace] * len(job.plan.lrs), columns=True)


def _groups(
    job: Job, net: fnn.Network, data: fnn.Dataset, traces: Sequence[fnn.Trace], columns: bool = False
) -> tuple[GroupResult, ...]:
    """Per learning rate, from its trace (``columns``: each the job's stacked trace, cut by columns)."""
    points = _grid_points()
    groups = []
    for lr, trace in zip(job.plan.lrs, traces, strict=True):
        cols = job.plan.columns(lr, job.seeds) if columns else slice(0, job.seeds)
        summary = ra.summarize_trace(trace, cols, job.threshold)
        member = trace.member(cols.start + summary.representative).params
        groups.append(
            GroupResult(
                lr=lr,
                summary=summary,
                curves=ra.curves_of_trace(trace, cols),
                grid=fnn.forward(net, member, points).reshape(GRID, GRID),
                pred=fnn.predict(net, member, data.x),
            )
        )
    return tuple(groups)


def run_job(job: Job, on_epoch: OnEpoch | None = None) -> RunResult:
    """Train one stacked run and reduce its trace to the report's numbers (the training is timed).

    ``on_epoch(epoch, epochs)`` is called after every epoch; an exception it
    raises stops the run.
    """
    net, params, data, config = build(job)
    started = time.perf_counter()
    trace: fnn.Trace | None = None
    for step in fnn.train_iter(net, params, data, config):
        if on_epoch is not None:
            on_epoch(step.epoch, step.epochs)
        trace = step.trace
    wall = time.perf_counter() - started
    assert trace is not None
    if job.trace_path is not None:
        from functional_nn import io as fio

        fio.save_trace(job.trace_path, trace)
    return RunResult(run_id=job.plan.run_id, wall=wall, groups=_reduce(job, net, data, trace))


def estimated_cost(job: Job) -> float:
    """Rough seconds of the job's training, by the library's own estimate (the one its sweeps size
    tasks with), to start the longest runs first and to share the workers among sweeps."""
    from functional_nn.config import prepare
    from functional_nn.engine.chunks import work

    net, params, data, config = build(job)
    fixed, per_model = work(prepare(net, params, data, config), job.epochs)
    return fixed + job.models * per_model
