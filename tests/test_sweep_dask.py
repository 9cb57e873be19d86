"""``fnn.sweep`` on a dask.distributed cluster: a ``LocalCluster`` of 2 worker processes, one thread each.

The same oracle as ``test_sweep`` (``train`` of each config alone, in this process); here the
tasks run in the cluster's processes, which get the data once (scattered) and the tasks
through ``Client.get_executor()``.  Checked: bit-identity, the cluster's worker count sizing
the tasks, a failing config named by its position with the others' traces kept, and the
tasks cancelled on the cluster after a failure and after Ctrl-C.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest

import functional_nn as fnn
from functional_nn.engine import chunks
from functional_nn.optimizers import EmptyState
from tests.engine_helpers import assert_same_run
from tests.test_sweep import DATA, FAILING, HELD_OUT, NET, SEEDS, alone, grid

distributed = pytest.importorskip("distributed")  # in the dev extras; the [dask] extra for users

T = TypeVar("T")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A cluster of 2 worker processes (one thread each), no dashboard; closed, workers and all, at the end."""
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, silence_logs=50
    )
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture(scope="module")
def expected() -> list[fnn.Trace]:
    return [alone(c) for c in grid()]


class Watched:
    """Watches a dask executor (itself, so that the sweep still sees dask): keeps its futures and arguments."""

    def __init__(self, client: Any) -> None:
        self.executor: Executor = client.get_executor()
        self.futures: list[Future[Any]] = []
        self.args: list[tuple[Any, ...]] = []
        real = self.executor.submit

        def submit(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
            future: Future[T] = real(fn, *args, **kwargs)
            self.futures.append(future)
            self.args.append(args)
            return future

        setattr(self.executor, "submit", submit)  # noqa: B010  (an instance's attribute, not the method)


def _idle(client: Any, within: float = 10.0) -> bool:
    """Whether the cluster has no task left to process (cancelled ones included) within ``within`` s."""
    deadline = time.monotonic() + within
    while any(client.processing().values()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_cluster_gives_the_in_process_bits(client: Any, expected: list[fnn.Trace]) -> None:
    ex = client.get_executor()
    assert chunks.executor_workers(ex) == 2
    traces = fnn.sweep(NET, DATA, grid(), seeds=SEEDS, executor=ex, validation=HELD_OUT, workers=4)
    for got, want in zip(traces, expected, strict=True):
        assert_same_run(got, want)


def test_the_data_is_scattered_once_and_the_tasks_carry_a_reference(client: Any) -> None:
    watched = Watched(client)
    ex = watched.executor
    configs = [fnn.TrainConfig(epochs=50, optimizer=fnn.sgd(lr=lr), loss="mse") for lr in (0.1, 0.2, 0.3)]
    wide = fnn.mlp((2, 16, 16, 1), hidden="tanh")
    scatters: list[Any] = []
    real = client.scatter

    def scatter(*args: Any, **kwargs: Any) -> Any:
        scatters.append(kwargs)
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(client, "scatter", scatter)
        traces = fnn.sweep(wide, DATA, configs, seeds=range(32), executor=ex)
    assert len(scatters) == 1 and scatters[0]["broadcast"] is True
    assert len(watched.args) >= 2 and all(isinstance(a[0], distributed.Future) for a in watched.args)
    for got, config in zip(traces, configs, strict=True):
        want = fnn.train(wide, fnn.init(wide, seed=list(range(32))), DATA, attrs.evolve(config, seed=tuple(range(32))))
        assert_same_run(got, want)


def test_train_and_resume_on_the_cluster_split_by_its_workers(client: Any) -> None:
    watched = Watched(client)
    ex = watched.executor
    wide = fnn.mlp((2, 16, 16, 1), hidden="tanh")
    config = fnn.TrainConfig(epochs=30, optimizer=fnn.adam(lr=0.01), loss="mse", seed=list(range(48)))
    params = fnn.init(wide, seed=list(range(48)))
    far = fnn.train(wide, params, DATA, config, executor=ex)
    assert len(watched.futures) >= 2  # a small stack reaches the cluster
    assert_same_run(far, fnn.train(wide, params, DATA, config, workers=1))
    assert_same_run(fnn.resume(far, DATA, 5, executor=ex), fnn.resume(far, DATA, 5, workers=1))


def test_closures_travel_with_cloudpickle(client: Any) -> None:
    """dask ships functions with cloudpickle: a custom optimizer made of closures is not refused."""
    lr = 0.05

    def update(grads: Any, state: Any, params: Any) -> Any:
        return fnn.tree_map(lambda p, g: p - lr * g, params, grads), state

    opt = fnn.Optimizer(name="mine", hyperparams={"lr": lr}, init=lambda p: EmptyState(), update=update)
    config = fnn.TrainConfig(epochs=10, optimizer=opt, loss="mse")
    (far,) = fnn.sweep(NET, DATA, [config], seeds=SEEDS, executor=client.get_executor(), validation=HELD_OUT)
    assert_same_run(far, alone(config))


def test_a_failing_config_is_named_and_the_others_kept(client: Any) -> None:
    configs = [fnn.TrainConfig(epochs=20, optimizer=fnn.sgd(lr=lr), loss="mse") for lr in (0.1, 0.2)]
    configs.insert(1, fnn.TrainConfig(epochs=20, optimizer=FAILING, loss="mse"))
    with pytest.raises(fnn.SweepError, match=r"config\(s\) 1 of 3 .*configs\[1\]: FloatingPointError: boom") as info:
        fnn.sweep(NET, DATA, configs, seeds=SEEDS, executor=client.get_executor(), keep_going=True, validation=HELD_OUT)
    err = info.value
    assert list(err.errors) == [1] and err.traces[1] is None and err.cancelled == ()
    for i in (0, 2):
        trace = err.traces[i]
        assert trace is not None
        assert_same_run(trace, alone(configs[i]))


def _many() -> list[fnn.TrainConfig]:
    """Work for several seconds in many tasks, behind a config that fails at once."""
    configs = [fnn.TrainConfig(epochs=3000, optimizer=fnn.adam(lr=lr), loss="mse") for lr in (0.01, 0.02, 0.03)]
    return [fnn.TrainConfig(epochs=5000, optimizer=FAILING, loss="mse"), *configs]


def test_a_failure_cancels_the_tasks_on_the_cluster(client: Any) -> None:
    watched = Watched(client)
    ex = watched.executor
    wide = fnn.mlp((2, 16, 16, 1), hidden="tanh")
    started = time.monotonic()
    with pytest.raises(fnn.SweepError) as info:
        fnn.sweep(wide, DATA, _many(), seeds=range(64), executor=ex, workers=16)
    assert time.monotonic() - started < 10
    assert list(info.value.errors) == [0] and info.value.cancelled  # the configs not run are named
    futures = watched.futures
    assert len(futures) > 8 and all(f.done() for f in futures)
    ran = [f for f in futures if not f.cancelled() and f.exception() is None]
    assert len(ran) <= 2 and sum(f.cancelled() for f in futures) > len(futures) // 2  # at most those running
    assert _idle(client)


def test_ctrl_c_cancels_the_tasks_on_the_cluster(client: Any) -> None:
    """A real SIGINT to this thread while the sweep waits: KeyboardInterrupt, every task not done cancelled."""
    watched = Watched(client)
    ex = watched.executor
    wide = fnn.mlp((2, 16, 16, 1), hidden="tanh")
    main = threading.main_thread().ident
    assert main is not None and threading.get_ident() == main
    timer = threading.Timer(1.0, signal.pthread_kill, (main, signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            fnn.sweep(wide, DATA, _many()[1:], seeds=range(64), executor=ex, workers=16)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 5
    assert len(watched.futures) > 8 and all(f.done() for f in watched.futures)
    assert sum(f.cancelled() for f in watched.futures) >= len(watched.futures) - 4  # at most those running, and done
    assert _idle(client)


def test_the_report_trains_on_a_running_scheduler(client: Any, tmp_path: Path) -> None:
    from scripts import report

    args = ["--experiments", "C,lr", "--dataset", "xor", "--seeds", "2", "--epochs", "30", "--jobs", "1"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert report.main([*args, "--out", str(tmp_path / "here")]) == 0
        assert report.main([*args, "--scheduler", client.scheduler.address, "--out", str(tmp_path / "far")]) == 0
    assert f"on the dask cluster of {client.scheduler.address}" in out.getvalue()

    def numbers(folder: Path) -> Any:
        exps = json.loads((folder / "summary.json").read_text())["experiments"]
        for rows in (r for d in exps.values() for r in d.values()):
            for row in rows:
                del row["row"]  # holds the wall time
        return exps

    assert numbers(tmp_path / "here") == numbers(tmp_path / "far")
