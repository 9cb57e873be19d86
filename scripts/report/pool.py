"""Where the report's work runs: in this process (``n == 1``), in ``n`` spawned worker processes, or
on a dask cluster (``scheduler``: its address; the figures are still drawn here).

    with Workers(n, runs, scheduler=None) as workers:
        results = workers.run(jobs, progress)     # run id -> RunResult, through fnn.sweep
        traces = workers.sweep(net, data, configs, seeds=..., validation=..., init=...)  # fnn.sweep, here
        workers.draw(figures)

The runs train through ``fnn.sweep``: one sweep per network and dataset (its
grid: the configs of the jobs that share them), all on one executor (the
worker processes, or the cluster), each waited on by a thread of this process
that only passes its news on; this thread alone prints.  The sweeps queue their
tasks in turn, largest first (each once the one before has queued its own), and
each sizes its tasks for its share of the workers (``_shares``): they all run
at once.

Stopping (Ctrl-C, or an error in any job) is cooperative: the parent sets a
shared flag, which the workers check before every figure, and every sweep
cancels its tasks not started; the pool is shut down with its futures not
started cancelled.
The workers ignore SIGINT (a terminal sends it to them too), from their
start: SIGINT is blocked while they are started and ignored by their
initializer.  A worker still busy ``STOP_SECONDS`` after the flag is set is
terminated.  Only public APIs of ``concurrent.futures`` and
``multiprocessing`` are used.
"""

from __future__ import annotations

import ctypes
import math
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from multiprocessing.connection import wait as wait_for_sentinels
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import functional_nn as fnn
from scripts import _signals, _tuning
from scripts.report.figures import Figure, draw_figure
from scripts.report.jobs import Job, RunResult, configs, dataset, estimated_cost, grid_key, network, result

if TYPE_CHECKING:  # the workers import this module: they need no progress bar
    from scripts.report.progress import Progress

T = TypeVar("T")
A = TypeVar("A")

POLL_SECONDS = 0.2
STOP_SECONDS = 3.0
"""How long stopping waits for the workers before terminating them."""


class Stopped(Exception):
    """Raised in a worker whose work was called off."""


# ------------------------------------------------------- in the workers ---

_stop: Any = None  # shared flag: call the work off
_epochs: Any = None  # shared array: epochs done, by run id


def _worker_init(stop: Any, epochs: Any) -> None:
    global _stop, _epochs
    _signals.ignore_sigint()
    _tuning.keep_freed_memory()
    _stop, _epochs = stop, epochs


def _check_stop() -> None:
    if _stop is not None and _stop.value:
        raise Stopped("called off")


def _draw_in_worker(fig: Figure) -> str:
    _check_stop()
    return draw_figure(fig)


# ----------------------------------------------------------- the parent ---


def _exited_by(processes: dict[int, BaseProcess], deadline: float) -> dict[int, BaseProcess]:
    """Wait until the processes (by sentinel) have exited or ``deadline`` (monotonic) has passed;
    returns those still running."""
    busy = dict(processes)
    while busy and (left := deadline - time.monotonic()) > 0:
        ready = set(wait_for_sentinels(list(busy), timeout=left))
        busy = {s: p for s, p in busy.items() if s not in ready}
    return busy


class Workers:
    """Runs jobs and draws figures, here (``n == 1``) or in ``n`` worker processes; a context manager."""

    def __init__(self, n: int, runs: int, scheduler: str | None = None) -> None:
        self.n, self.runs, self.scheduler = n, runs, scheduler
        self.pool: ProcessPoolExecutor | None = None
        self.client: Any = None  # a dask.distributed Client, with a scheduler
        self.executor: Executor | None = None  # where the sweeps run
        self.processes: set[BaseProcess] = set()
        self.saved_env: dict[str, str | None] = {}
        self.stop: Any = None
        self.epochs: Any = None

    def __enter__(self) -> Workers:
        if self.scheduler is not None:
            import distributed  # the [dask] extra

            client_of: Any = distributed.Client  # untyped
            self.client = client_of(self.scheduler, timeout="10s")
            self.executor = self.client.get_executor()
        if self.n == 1:
            _tuning.keep_freed_memory()
            return self
        ctx = multiprocessing.get_context("spawn")
        self.stop = ctx.RawValue(ctypes.c_bool, False)
        self.epochs = ctx.RawArray(ctypes.c_long, self.runs + 1)
        # one BLAS thread per worker (read when a worker imports numpy): the processes already use every core
        self.saved_env = _tuning.one_blas_thread()
        self.pool = ProcessPoolExecutor(
            max_workers=self.n, mp_context=ctx, initializer=_worker_init, initargs=(self.stop, self.epochs)
        )
        if self.executor is None:
            self.executor = _Starting(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self.client is not None:
            self.client.close()
        if self.pool is None:
            return
        try:
            if kind is None:
                self.pool.shutdown(wait=True)
            else:
                self._stop_now()
        finally:
            _tuning.restore_env(self.saved_env)

    def _stop_now(self) -> None:
        """Call the work off; the workers exit within ``STOP_SECONDS`` or are terminated."""
        assert self.pool is not None
        self.stop.value = True
        self.pool.shutdown(wait=False, cancel_futures=True)
        busy = _exited_by({p.sentinel: p for p in self.processes}, time.monotonic() + STOP_SECONDS)
        for process in busy.values():
            process.terminate()
        _exited_by(busy, time.monotonic() + 1.0)

    def _submit(self, fn: Callable[[A], T], arg: A) -> Future[T]:
        """``pool.submit``; a worker it starts begins with SIGINT blocked and is remembered (to stop it)."""
        assert self.pool is not None
        with _signals.sigint_blocked():
            before = set(multiprocessing.active_children())
            future = self.pool.submit(fn, arg)
            self.processes |= set(multiprocessing.active_children()) - before
        return future

    def _completed(self, futures: Sequence[Future[T]], progress: Progress | None) -> Iterator[Future[T]]:
        """The futures as they complete, checking for Ctrl-C and showing progress meanwhile."""
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            _signals.check()
            if progress is not None:
                progress.update_all({run_id: int(self.epochs[run_id]) for run_id in range(1, self.runs + 1)})
            yield from done

    def run(self, jobs: Sequence[Job], progress: Progress) -> dict[int, RunResult]:
        """Train every job through ``fnn.sweep``, the largest sweeps first; returns the results by run id."""
        grids: dict[tuple[object, ...], list[Job]] = {}
        for job in sorted(jobs, key=estimated_cost, reverse=True):
            grids.setdefault(grid_key(job), []).append(job)
        ordered = sorted(grids.values(), key=lambda g: sum(map(estimated_cost, g)), reverse=True)
        results: dict[int, RunResult] = {}
        if not ordered:  # (G alone: no run of A to F)
            return results
        news: queue.SimpleQueue[tuple[Job, RunResult] | dict[int, int]] = queue.SimpleQueue()

        def take(item: tuple[Job, RunResult] | dict[int, int]) -> None:
            if isinstance(item, dict):
                progress.update_all(item)
                return
            job, res = item
            results[job.plan.run_id] = res
            progress.finished(job, res)

        if self.executor is None:  # here, one sweep after the other; the news at once
            for grid in ordered:
                _sweep(grid, None, 1, take, None)
            return results
        stop = threading.Event()
        cluster = 0 if self.client is None else sum(self.client.nthreads().values())
        shares = _shares(ordered, cluster or self.n)  # (a cluster whose workers have not joined yet: n)
        with ThreadPoolExecutor(max_workers=len(ordered), thread_name_prefix="sweep") as waiting:
            # queued in order, largest first: each sweep starts once the one before has queued its tasks
            queued = [threading.Event() for _ in ordered]
            futures = [
                waiting.submit(_sweep, g, self.executor, share, news.put, stop, (queued[i - 1] if i else None, q))
                for i, (g, share, q) in enumerate(zip(ordered, shares, queued))
            ]
            try:
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                    while not news.empty():
                        take(news.get())
                    _signals.check()
                    for f in sorted(done, key=futures.index):
                        f.result()  # an error of a sweep (the first in order): stop the others
                while not news.empty():
                    take(news.get())
            finally:
                stop.set()
        return results

    def sweep(
        self,
        net: fnn.Network,
        data: fnn.Dataset,
        configs: Sequence[fnn.TrainConfig],
        *,
        seeds: Sequence[int],
        validation: fnn.Dataset,
        init: str,
    ) -> list[tuple[fnn.Trace, float]]:
        """``fnn.sweep`` on this executor (the worker processes, the cluster, or threads here); each config's
        trace and the seconds its tasks took.  Ctrl-C cancels the tasks not started."""
        seconds: dict[int, float] = {}

        def news(p: fnn.SweepProgress) -> None:
            _signals.check()
            for i, _, s in p.finished:
                seconds[i] = s

        workers = self.n if self.client is None else None
        traces = fnn.sweep(
            net,
            data,
            configs,
            seeds=seeds,
            executor=self.executor,
            workers=workers,
            validation=validation,
            init=init,
            progress=news,
        )
        return [(t, seconds.get(i, 0.0)) for i, t in enumerate(traces)]

    def draw(self, figures: Sequence[Figure]) -> None:
        """Draw every figure (each into its own file)."""
        if self.pool is None:
            for fig in figures:
                _signals.check()
                draw_figure(fig)
            return
        for future in self._completed([self._submit(_draw_in_worker, fig) for fig in figures], None):
            future.result()


class _Starting(Executor):
    """The worker processes as an executor: submitting starts a worker with SIGINT blocked (``Workers._submit``)."""

    def __init__(self, workers: Workers) -> None:
        self.workers = workers
        self._max_workers = workers.n  # what fnn.sweep asks a pool

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        assert self.workers.pool is not None
        with _signals.sigint_blocked():
            before = set(multiprocessing.active_children())
            future = self.workers.pool.submit(fn, *args, **kwargs)
            self.workers.processes |= set(multiprocessing.active_children()) - before
        return future


def _shares(grids: Sequence[Sequence[Job]], workers: int) -> list[int]:
    """How many of the executor's ``workers`` each sweep may count on: all sweeps run at once, so each
    gets its share of the estimated work (at least one).  A sweep told it has every worker would cut
    its stacks into parts for them all, and each part pays the per-epoch cost of a whole stack; the
    report's small runs then took 2-3x their worker time."""
    costs = [sum(map(estimated_cost, g)) for g in grids]
    total = sum(costs) or 1.0
    return [max(1, math.ceil(workers * c / total)) for c in costs]  # rounded up, as the sweeps' own plans


def _sweep(
    grid: Sequence[Job],
    executor: Executor | None,
    workers: int | None,
    tell: Callable[[Any], None],
    stop: threading.Event | None,
    turn: tuple[threading.Event | None, threading.Event] | None = None,
) -> None:
    """One sweep: the configs of ``grid`` (jobs sharing a network and data), each job's result told as soon
    as its learning rates are all trained, its progress (run id -> epochs, estimated) while it runs.
    ``stop``, once set, stops it at its next news (a KeyboardInterrupt there, or Ctrl-C here, too).
    ``turn``: (after, queued): it starts once ``after`` is set, and sets ``queued`` once its tasks are
    queued (its first news comes after that) or it has ended; a sweep that fails sets ``stop`` first,
    so that the one after it does not start."""
    after, queued = turn if turn is not None else (None, None)
    try:
        while after is not None and not after.wait(POLL_SECONDS):
            if stop is not None and stop.is_set():
                break
        if stop is not None and stop.is_set():
            raise Stopped("called off")
        _sweep_now(grid, executor, workers, tell, stop, queued)
    except BaseException:
        if stop is not None:
            stop.set()
        raise
    finally:
        if queued is not None:
            queued.set()


def _sweep_now(
    grid: Sequence[Job],
    executor: Executor | None,
    workers: int | None,
    tell: Callable[[Any], None],
    stop: threading.Event | None,
    queued: threading.Event | None,
) -> None:
    first = grid[0]
    data = dataset(first.plan.dataset)
    owners = [(job, k) for job in grid for k in range(len(job.plan.lrs))]
    traces: dict[int, tuple[fnn.Trace, float]] = {}
    told: set[int] = set()

    def news(p: fnn.SweepProgress) -> None:
        if queued is not None:
            queued.set()
        if stop is not None and stop.is_set():
            raise Stopped("called off")
        if stop is None:
            _signals.check()
        for i, trace, seconds in p.finished:
            traces[i] = (trace, seconds)
        base = 0
        for job in grid:
            mine = range(base, base + len(job.plan.lrs))
            base += len(job.plan.lrs)
            if job.plan.run_id not in told and all(i in traces for i in mine):
                told.add(job.plan.run_id)
                got = [traces[i] for i in mine]
                tell((job, result(job, [t for t, _ in got], sum(s for _, s in got))))
        tell({job.plan.run_id: int(p.work_done * job.epochs) for job in grid if job.plan.run_id not in told})

    grid_configs = [c for job in grid for c in configs(job)]
    assert len(grid_configs) == len(owners)
    fnn.sweep(
        network(first), data, grid_configs, seeds=range(first.seeds), executor=executor, workers=workers, progress=news
    )
