"""``fnn.sweep`` and ``fnn.resume_sweep``: a grid of configs x seeds, bit for bit ``train`` of each config alone.

The oracle is ``fnn.train`` of one config with ``seed=seeds`` (itself proven equal to the
reference fold by ``test_engine``).  The grid mixes what could go wrong when stacks are
shared and cut: learning rates stacked into one run, a divergence, a loss threshold,
snapshots, mini-batches, early stopping on a held-out set.  The split is forced fine
(``chunks.CHUNK_BYTES`` tiny) so that tasks cut across configs.  A process pool and a
counting executor check what is submitted; ``test_sweep_dask`` runs the same on a cluster.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, TypeVar

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn.config import prepare
from functional_nn.engine import chunks
from functional_nn.optimizers import EmptyState
from tests.engine_helpers import assert_same_run

T = TypeVar("T")
NET = fnn.mlp((2, 6, 1), hidden="relu", output="identity")
DATA, HELD_OUT = fnn.split(fnn.generate_circle(60, noise=0.1, seed=3), test_fraction=0.25, seed=0)
SEEDS = [0, 1, 2, 3, 4, 5]


def grid() -> list[fnn.TrainConfig]:
    """Configs that stack (four SGD learning rates, one of them diverging), and others that do not."""
    sgd = [
        fnn.TrainConfig(epochs=40, optimizer=fnn.sgd(lr=lr), loss="mse", snapshot_every=7, stop_loss=0.08, seed=99)
        for lr in (0.1, 0.03, 1.0, 0.01)
    ]
    return [
        *sgd,
        fnn.TrainConfig(epochs=30, optimizer=fnn.adam(lr=0.01), loss="mse", batch_size=8),
        fnn.TrainConfig(epochs=40, optimizer=fnn.momentum(lr=0.01), loss="mse", patience=3),
    ]


def alone(config: fnn.TrainConfig, scheme: str = "normal") -> fnn.Trace:
    """The oracle: ``train`` of one config with every seed."""
    params = fnn.init(NET, seed=SEEDS, scheme=scheme)
    return fnn.train(NET, params, DATA, attrs.evolve(config, seed=tuple(SEEDS)), validation=HELD_OUT)


@pytest.fixture(scope="module")
def expected() -> list[fnn.Trace]:
    return [alone(c) for c in grid()]


@pytest.fixture
def fine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cache-sized chunks of one or two models: tasks cut across the configs of a stack."""
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 2 * 45 * 6 * 8)


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as ex:
        yield ex


class Recording(Executor):
    """Runs every task at once, here, after pickling it as a process pool would; keeps the pickled sizes."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.futures: list[Future[Any]] = []

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        blob = pickle.dumps((fn, args, kwargs))
        self.sizes.append(len(blob))
        fn, args, kwargs = pickle.loads(blob)
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as e:
            future.set_exception(e)
        self.futures.append(future)
        return future


def test_the_grid_is_the_configs_alone_bit_for_bit(expected: list[fnn.Trace]) -> None:
    traces = fnn.sweep(NET, DATA, grid(), seeds=SEEDS, validation=HELD_OUT)
    assert len(traces) == len(expected)
    for got, want in zip(traces, expected, strict=True):
        assert_same_run(got, want)
    reasons = {r.split(" at epoch")[0] for t in traces for r in t.stop_reasons}
    assert {"diverged", "loss threshold reached", "epochs done"} <= reasons  # the grid covers the stop rules
    assert any(r.startswith("no improvement") for r in traces[5].stop_reasons)


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_any_split_gives_the_same_bits(fine: None, expected: list[fnn.Trace], workers: int) -> None:
    seen: list[fnn.SweepProgress] = []
    traces = fnn.sweep(NET, DATA, grid(), seeds=SEEDS, validation=HELD_OUT, workers=workers, progress=seen.append)
    for got, want in zip(traces, expected, strict=True):
        assert_same_run(got, want)
    assert seen[-1].tasks_done == seen[-1].tasks > len(grid())  # really cut finer than one task per config
    assert sorted(i for s in seen for i, _, _ in s.finished) == list(range(len(grid())))
    assert seen[-1].work_done == pytest.approx(1.0)


def test_configs_that_differ_only_in_the_learning_rate_share_one_stack() -> None:
    seen: list[fnn.SweepProgress] = []
    fnn.sweep(NET, DATA, grid(), seeds=SEEDS, validation=HELD_OUT, workers=1, progress=seen.append)
    assert seen[-1].tasks == 3  # the four SGD configs in one cache-sized stack, adam, momentum


def test_configs_with_schedules_train_as_their_own_stacks() -> None:
    """A schedule is one function for a whole stack: two configs that differ in their schedule (or a
    schedule and a float) are not stacked together, and each equals train of it alone."""
    configs = [
        fnn.TrainConfig(epochs=12, optimizer=fnn.sgd(lr=lr), loss="mse")
        for lr in (fnn.schedules.Cosine(0.1, steps=12), fnn.schedules.Exponential(0.05, decay=0.9), 0.05)
    ]
    seen: list[fnn.SweepProgress] = []
    traces = fnn.sweep(NET, DATA, configs, seeds=SEEDS, workers=1, progress=seen.append)
    assert seen[-1].tasks == 3
    for got, config in zip(traces, configs, strict=True):
        alone = fnn.train(NET, fnn.init(NET, seed=SEEDS), DATA, attrs.evolve(config, seed=tuple(SEEDS)))
        assert_same_run(got, alone)
    assert traces[0].lr is not None and traces[1].lr is not None
    assert not np.array_equal(traces[0].lr, traces[1].lr)


def test_tasks_follow_the_workers_and_the_work() -> None:
    wide = fnn.mlp((2, 16, 16, 1), hidden="tanh")
    long = [fnn.TrainConfig(epochs=20, optimizer=fnn.sgd(lr=lr), loss="mse") for lr in (0.1, 1.0)]
    counts = {}
    for net, seeds, workers in ((wide, 64, 1), (wide, 64, 2), (wide, 64, 8), (NET, 6, 8)):
        seen: list[fnn.SweepProgress] = []
        fnn.sweep(net, DATA, long, seeds=range(seeds), workers=workers, progress=seen.append)
        counts[net is wide, workers] = seen[-1].tasks
    assert counts[True, 1] == 2  # 128 models in two cache-sized chunks
    assert counts[True, 2] == 2  # one stack's parts are equal: one each is enough for two workers
    assert counts[True, 8] == 8  # cut for the workers
    assert counts[False, 8] == 1  # 12 tiny models: a second task would cost more than it saves


def test_one_stack_is_cut_only_into_parts_worth_running() -> None:
    """64 tiny models on XOR: two parts' arithmetic outweighs their fixed costs, more would not."""
    net, seeds = fnn.mlp((2, 8, 1)), list(range(64))
    cfg = fnn.TrainConfig(epochs=100, optimizer=fnn.sgd(lr=0.1), loss="mse", seed=seeds)
    run = prepare(net, fnn.init(net, seed=seeds), fnn.generate_xor_easy(), cfg)
    fixed, per_model = chunks.work(run, 100)
    assert 2 <= 64 * per_model / fixed < 3
    assert [len(chunks.plan_bounds([run], w)[0]) for w in (1, 2, 4, 8)] == [1, 2, 2, 2]


def test_stacks_of_unequal_work_are_cut_finer_only_where_cheap() -> None:
    """Several stacks: a long one is cut finer than its cache-sized chunks, so that the longest-first
    order balances; a short one of little arithmetic keeps its chunks (a part would cost more)."""
    wide, seeds = fnn.mlp((2, 16, 16, 1), hidden="tanh"), list(range(256))
    configs = [
        fnn.TrainConfig(epochs=epochs, optimizer=opt, loss="mse", seed=seeds)
        for epochs, opt in ((2000, fnn.sgd(lr=0.1)), (5, fnn.momentum(lr=0.1)))
    ]
    runs = [prepare(wide, fnn.init(wide, seed=seeds), DATA, c) for c in configs]
    long, short = chunks.plan_bounds(runs, 2)
    assert len(long) > len(chunks.chunk_bounds(runs[0], 1))
    assert short == chunks.chunk_bounds(runs[1], 1)
    assert long[-1][1] == short[-1][1] == 256 and all(lo < hi for lo, hi in long)


def test_the_init_scheme_and_the_seeds_are_the_sweeps() -> None:
    config = fnn.TrainConfig(epochs=5, optimizer=fnn.sgd(lr=0.1), loss="mse", seed=7)
    (got,) = fnn.sweep(NET, DATA, [config], seeds=SEEDS, init="xavier", validation=HELD_OUT)
    assert_same_run(got, alone(config, "xavier"))
    assert got.config.seed == tuple(SEEDS) and got.seed == tuple(SEEDS)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"configs": []}, TypeError, "configs must be a non-empty sequence of TrainConfigs"),
        ({"configs": "abc"}, TypeError, "configs must be a non-empty sequence of TrainConfigs"),
        ({"configs": [None]}, TypeError, r"configs\[0\] must be a TrainConfig, got NoneType"),
        ({"seeds": 3}, TypeError, "seeds must be a sequence of integers"),
        ({"seeds": [0, -1]}, ValueError, r"seeds\[1\] must be"),
        ({"init": "zeros"}, ValueError, "init must be one of"),
        ({"workers": 0}, ValueError, "workers must be an integer >= 1, got 0"),
        ({"executor": "pool"}, TypeError, "executor must be a concurrent.futures.Executor or None"),
        (
            {
                "configs": [fnn.TrainConfig(epochs=2, optimizer=fnn.sgd(), loss="mse")] * 2
                + [fnn.TrainConfig(epochs=2, optimizer=fnn.sgd(), loss="mse", batch_size=999)]
            },
            ValueError,
            r"^configs\[2\]: batch_size must be between 1 and the number of samples",
        ),
    ],
)
def test_bad_arguments_are_named_before_anything_runs(kwargs: dict[str, Any], error: type, match: str) -> None:
    args: dict[str, Any] = {"configs": grid()[:1], "seeds": SEEDS} | kwargs
    with pytest.raises(error, match=match):
        fnn.sweep(NET, DATA, **args)


# ------------------------------------------------------------- failures ---


def _boom(grads: Any, state: Any, params: Any) -> Any:
    raise FloatingPointError("boom")


def _empty(params: Any) -> EmptyState:
    return EmptyState()


FAILING = fnn.Optimizer(name="failing", hyperparams={}, init=_empty, update=_boom)


def _with_failure(at: int, epochs: int = 10) -> list[fnn.TrainConfig]:
    configs = [fnn.TrainConfig(epochs=epochs, optimizer=fnn.sgd(lr=lr), loss="mse") for lr in (0.1, 0.2, 0.3)]
    configs.insert(at, fnn.TrainConfig(epochs=50, optimizer=FAILING, loss="mse"))  # the longest: it runs first
    configs.append(fnn.TrainConfig(epochs=epochs, optimizer=fnn.adam(lr=0.01), loss="mse"))
    return configs


@pytest.mark.parametrize("executor", ["threads", "recording", "pool"])
def test_a_failing_config_is_named_by_its_position_and_the_others_are_kept(
    executor: str, pool: ProcessPoolExecutor
) -> None:
    configs = _with_failure(at=2)
    ex = {"threads": None, "recording": Recording(), "pool": pool}[executor]
    with pytest.raises(fnn.SweepError, match=r"config\(s\) 2 of 5 .* configs\[2\]: FloatingPointError: boom") as info:
        fnn.sweep(NET, DATA, configs, seeds=SEEDS, executor=ex, workers=2, keep_going=True)
    err = info.value
    assert list(err.errors) == [2] and isinstance(err.errors[2], FloatingPointError)
    assert isinstance(err.__cause__, FloatingPointError) and err.cancelled == ()
    assert err.traces[2] is None
    for i, trace in enumerate(err.traces):
        if i != 2:
            assert trace is not None
            assert_same_run(
                trace, fnn.train(NET, fnn.init(NET, seed=SEEDS), DATA, attrs.evolve(configs[i], seed=tuple(SEEDS)))
            )


def test_after_a_failure_the_tasks_not_started_are_cancelled() -> None:
    with pytest.raises(fnn.SweepError) as info:
        fnn.sweep(NET, DATA, _with_failure(at=0), seeds=SEEDS, workers=1)
    err = info.value
    assert list(err.errors) == [0] and err.cancelled == (1, 2, 3, 4) and err.traces == (None,) * 5
    assert "4 not run (cancelled after the failure): 1, 2, 3, 4" in str(err)


class Parked(Executor):
    """Runs nothing: every task stays pending, as on a busy cluster."""

    def __init__(self) -> None:
        self.futures: list[Future[Any]] = []

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        self.futures.append(future)
        return future


def test_ctrl_c_while_waiting_cancels_every_task() -> None:
    ex = Parked()
    calls = []

    def interrupt(p: fnn.SweepProgress) -> None:
        calls.append(p)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fnn.sweep(NET, DATA, grid(), seeds=SEEDS, executor=ex, workers=2, progress=interrupt, validation=HELD_OUT)
    assert len(calls) == 1 and calls[0].tasks_done == 0
    assert len(ex.futures) > 1 and all(f.cancelled() for f in ex.futures)


def test_a_process_pool_gives_the_same_bits(fine: None, pool: ProcessPoolExecutor, expected: list[fnn.Trace]) -> None:
    traces = fnn.sweep(NET, DATA, grid(), seeds=SEEDS, executor=pool, validation=HELD_OUT)
    for got, want in zip(traces, expected, strict=True):
        assert_same_run(got, want)


# ------------------------------------------------------- what is shipped ---


def test_tasks_carry_neither_the_data_nor_the_params_of_a_fresh_start() -> None:
    """A fresh task carries its seeds, not its params; the data goes apart (here inline, once per task:
    the fallback for an executor of unknown kind): the tasks' size grows with neither."""
    wide, seeds = fnn.mlp((2, 16, 16, 1), hidden="tanh"), range(64)
    configs = [fnn.TrainConfig(epochs=2, optimizer=fnn.sgd(lr=lr), loss="mse") for lr in (0.1, 1.0)]
    for n in (40, 2000):
        big = fnn.generate_circle(n, noise=0.1, seed=0)
        rec = Recording()
        fnn.sweep(wide, big, configs, seeds=seeds, executor=rec, workers=4)
        handle = len(pickle.dumps(chunks.Arrays(big.x, big.y)))
        assert len(rec.sizes) >= 4 and max(rec.sizes) - handle < 2_500  # the run's description, the seeds
    assert len(pickle.dumps(fnn.init(wide, seed=list(seeds)))) > 100_000  # what params would weigh


def _probe(data: Any, i: int) -> tuple[int, bool]:
    """In a worker: its process id, and whether it had the data already."""
    had = data.key in chunks._received
    np.testing.assert_array_equal(chunks.received(data).x, DATA.x)
    time.sleep(0.02)  # let both workers take tasks
    return os.getpid(), had


def test_a_process_pool_reads_the_data_once_per_worker(pool: ProcessPoolExecutor) -> None:
    outcomes = chunks.run_tasks(_probe, chunks.Arrays(DATA.x, DATA.y), list(range(12)), pool)
    firsts: dict[int, int] = {}
    for o in outcomes:
        pid, had = o.value
        firsts[pid] = firsts.get(pid, 0) + (not had)
    assert set(firsts.values()) == {1}  # each worker read it once, whatever number of tasks it ran


def test_resume_sends_the_resume_points_not_the_history() -> None:
    wide, seeds = fnn.mlp((2, 16, 16, 1), hidden="tanh"), range(32)
    sent = {}
    for epochs in (20, 1000):
        configs = [fnn.TrainConfig(epochs=epochs, optimizer=fnn.adam(lr=lr), loss="mse") for lr in (0.01, 0.02)]
        first = fnn.sweep(wide, DATA, configs, seeds=seeds)
        points = len(pickle.dumps([(t.params, t.opt_state, t.resume_point) for t in first]))
        rec = Recording()
        again = fnn.resume_sweep(first, DATA, 3, executor=rec, workers=2)
        sent[epochs] = sum(rec.sizes)
        assert len(rec.sizes) >= 2 and sent[epochs] < 1.05 * points + 3_000 * len(rec.sizes)
        for got, trace in zip(again, first, strict=True):
            assert_same_run(got, fnn.resume(trace, DATA, 3))
        rec = Recording()
        assert_same_run(fnn.resume(first[0], DATA, 3, executor=rec, workers=2), again[0])
        assert len(rec.sizes) >= 2 and sum(rec.sizes) < 1.05 * points / 2 + 3_000 * len(rec.sizes)
    history = len(pickle.dumps([(t.loss, t.accuracy, t.grad_norm) for t in first]))
    assert history > sent[1000] and abs(sent[1000] - sent[20]) < 500  # the history stays here


def test_resume_sweep_of_traces_with_early_stopping_and_validation() -> None:
    configs = grid()
    first = fnn.sweep(NET, DATA, configs, seeds=SEEDS, validation=HELD_OUT)
    again = fnn.resume_sweep(first, DATA, 15, validation=HELD_OUT, workers=2)
    for got, trace in zip(again, first, strict=True):
        assert_same_run(got, fnn.resume(trace, DATA, 15, validation=HELD_OUT))
    with pytest.raises(TypeError, match=r"traces\[1\]: must be a Trace, got int"):
        fnn.resume_sweep([first[0], 3], DATA, 5, validation=HELD_OUT)  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"traces\[0\]: validation must be given"):
        fnn.resume_sweep(first, DATA, 5)


def test_importing_the_library_imports_no_dask() -> None:
    code = "import sys, functional_nn; print(sorted(m for m in ('dask', 'distributed', 'cloudpickle') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
