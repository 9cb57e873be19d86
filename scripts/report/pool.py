"""Where the report's work runs: in this process (``n == 1``) or in ``n`` spawned worker processes.

    with Workers(n, runs) as workers:
        results = workers.run(jobs, progress)     # run id -> RunResult, longest runs started first
        outs = workers.map(fn, args)              # [fn(arg, check) for arg in args], check() raising once stopped
        workers.draw(figures)

Stopping (Ctrl-C, or an error in any job) is cooperative: the parent sets a
shared flag, which the workers check after every epoch and before every
figure, and shuts the pool down with the futures not started cancelled.
The workers ignore SIGINT (a terminal sends it to them too), from their
start: SIGINT is blocked while they are started and ignored by their
initializer.  A worker still busy ``STOP_SECONDS`` after the flag is set is
terminated.  Only public APIs of ``concurrent.futures`` and
``multiprocessing`` are used.
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing.connection import wait as wait_for_sentinels
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from scripts import _signals, _tuning
from scripts.report.figures import Figure, draw_figure
from scripts.report.jobs import Job, RunResult, estimated_cost, run_job

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


def _train_in_worker(job: Job) -> RunResult:
    _check_stop()

    def on_epoch(epoch: int, epochs: int) -> None:
        _epochs[job.plan.run_id] = epoch
        _check_stop()

    return run_job(job, on_epoch)


def _call_in_worker(call: tuple[Callable[[A, Callable[[], None]], T], A]) -> T:
    _check_stop()
    fn, arg = call
    return fn(arg, _check_stop)


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

    def __init__(self, n: int, runs: int) -> None:
        self.n, self.runs = n, runs
        self.pool: ProcessPoolExecutor | None = None
        self.processes: set[BaseProcess] = set()
        self.saved_env: dict[str, str | None] = {}
        self.stop: Any = None
        self.epochs: Any = None

    def __enter__(self) -> Workers:
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
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
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
        """Train every job, longest first; returns the results by run id."""
        ordered = sorted(jobs, key=estimated_cost, reverse=True)
        results: dict[int, RunResult] = {}
        if self.pool is None:
            for job in ordered:
                run_id = job.plan.run_id
                results[run_id] = run_job(job, functools.partial(progress.update, run_id))
                progress.finished(job, results[run_id])
            return results
        futures = {self._submit(_train_in_worker, job): job for job in ordered}
        for future in self._completed(list(futures), progress):
            job = futures[future]
            results[job.plan.run_id] = future.result()
            progress.finished(job, results[job.plan.run_id])
        return results

    def map(self, fn: Callable[[A, Callable[[], None]], T], args: Sequence[A]) -> list[T]:
        """``[fn(arg, check) for arg in args]``, in order, run here or in the workers (``fn`` and the args
        must pickle); ``fn`` calls ``check()`` often: it raises once the work is called off."""
        if self.pool is None:
            return [fn(arg, _signals.check) for arg in args]
        futures = [self._submit(_call_in_worker, (fn, arg)) for arg in args]
        for future in self._completed(futures, None):
            future.result()
        return [future.result() for future in futures]

    def draw(self, figures: Sequence[Figure]) -> None:
        """Draw every figure (each into its own file)."""
        if self.pool is None:
            for fig in figures:
                _signals.check()
                draw_figure(fig)
            return
        for future in self._completed([self._submit(_draw_in_worker, fig) for fig in figures], None):
            future.result()
