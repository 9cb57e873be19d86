"""Chunks of a stack: split the models, run the parts at once, merge their traces.

    chunk_bounds(run, workers)                -> [(lo, hi), ...]   # contiguous, cache-sized
    plan_bounds(runs, workers)                -> [[(lo, hi), ...] per run]   # sized from the work of them all
    executor_workers(executor)                -> int | None        # how many tasks it runs at once
    start_slice(start, lo, hi)                -> Start             # models lo:hi of a start
    run_parts(fn, args, workers, executor)    -> [fn(a) for a in args], at once
    run_tasks(fn, data, args, executor, ...)  -> [Outcome, ...]    # on an executor, the data shipped once per worker
    merge(run, parts)                         -> Trace             # one stacked trace from consecutive parts
    trace_slice(trace, lo, hi, epochs_before) -> Trace             # models lo:hi of a part's trace

Every model of a stack is trained independently of the others, and each
model's arithmetic does not depend on how many models share its arrays (the
per-model sums are ``np.vecdot``s), so the split never changes a bit.

On an executor, a task carries its models' resume points (or only their
seeds, for a fresh start) and a handle to the data, never the data itself
nor any per-epoch history: a dask ``Client.get_executor()`` gets the data
scattered to every worker once, a ``ProcessPoolExecutor`` has each worker
read it once from a temporary file (and keep it), any other executor gets
it with every task.  In a worker process a task limits BLAS to one thread
(threadpoolctl, when installed), keeps freed memory (glibc) and starts no
threads of its own.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from typing import Any, TypeVar

import attrs
import numpy as np

from functional_nn._records import FloatArray
from functional_nn.config import Run, normalized, per_model_hyperparams
from functional_nn.fold import Carry, Start
from functional_nn.optimizers import OPTIMIZERS
from functional_nn.trace import Trace, take_models
from functional_nn.tree import tree_map

__all__ = [
    "CHUNK_BYTES",
    "MIN_CHUNK_BYTES",
    "Arrays",
    "Outcome",
    "chunk_bounds",
    "executor_workers",
    "merge",
    "plan_bounds",
    "run_parts",
    "run_tasks",
    "start_slice",
    "trace_slice",
]

T = TypeVar("T")
R = TypeVar("R")

CHUNK_BYTES = 512 * 1024
"""Target size of one activation array of a chunk: big enough to amortize the
per-operation Python overhead, small enough that a chunk's arrays stay in a
core's cache (``python -m scripts.bench`` measures one chunk of 256 XOR models
against one of 1024)."""

MIN_CHUNK_BYTES = 192 * 1024
"""Below this much activation memory per worker, a second worker costs more
(Python overhead per chunk and epoch) than it saves."""


def chunk_bounds(
    run: Run, workers: int, *, chunk_bytes: int | None = None, min_bytes: int | None = None
) -> list[tuple[int, int]]:
    """Split a stack of models into contiguous chunks: each about ``chunk_bytes`` of
    activations, and (given at least ``min_bytes`` per worker) a multiple of ``workers`` of them (by default ``CHUNK_BYTES`` and ``MIN_CHUNK_BYTES``, read at each call)."""
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    min_bytes = MIN_CHUNK_BYTES if min_bytes is None else min_bytes
    if not run.models:
        return [(0, 1)]
    m = run.models[0]
    opt = run.config.optimizer
    if per_model_hyperparams(opt) and opt.name not in OPTIMIZERS:
        return [(0, m)]  # only a built-in optimizer can be rebuilt with a slice of its hyperparameters
    n = run.x.shape[0] if run.config.batch_size is None else run.config.batch_size
    width = max(max(layer.in_features, layer.out_features) for layer in run.net.layers)
    total = m * max(n * width * 8, 1)
    count = -(-total // chunk_bytes)
    if workers > 1 and total >= workers * min_bytes:
        count = -(-max(count, workers) // workers) * workers  # every worker busy, all with equal shares
    count = max(1, min(count, m))
    bounds = np.linspace(0, m, count + 1).round().astype(int)
    return [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]


def start_slice(start: Start, lo: int, hi: int) -> Start:
    """Models ``lo:hi`` of a stacked start."""
    c, pick = start.carry, slice(lo, hi)
    active = c.active[pick]
    carry = Carry(
        params=take_models(c.params, pick),
        state=take_models(c.state, pick),
        prev_params=take_models(c.prev_params, pick),
        prev_state=take_models(c.prev_state, pick),
        active=active,
        all_active=bool(active.all()),
        stop_epoch=c.stop_epoch[pick],
        reasons=c.reasons[pick],
        watch=None if c.watch is None else take_models(c.watch, pick),
    )
    return attrs.evolve(start, carry=carry)


def run_parts(fn: Callable[[T], R], args: list[T], workers: int, executor: Executor | None) -> list[R]:
    """``fn`` on each part: in turn (one worker), in threads started and joined here, or in ``executor``."""
    if executor is None and workers == 1:
        return [fn(a) for a in args]
    if executor is None:
        with ThreadPoolExecutor(max_workers=min(workers, len(args))) as threads:
            return _gather(threads, fn, args)
    if not isinstance(executor, ThreadPoolExecutor):
        check_picklable(args[0], executor)
    return _gather(executor, fn, args)


def _gather(executor: Executor, fn: Callable[[T], R], args: list[T]) -> list[R]:
    """Submit every part, collect them in order; after an error or Ctrl-C, cancel those not started."""
    futures: list[Future[R]] = []
    try:
        for a in args:
            futures.append(executor.submit(fn, a))
        return [f.result() for f in futures]
    finally:
        for f in futures:
            f.cancel()  # a no-op for the parts done or running


def check_picklable(part: object, executor: Executor) -> None:
    """An executor other than threads may run the parts in other processes: they must pickle, as that
    executor pickles (dask's with cloudpickle, which also carries closures and lambdas; the others with pickle)."""
    dumps: Callable[[object], bytes] = pickle.dumps
    if dask_client(executor) is not None:
        import cloudpickle  # a dependency of dask.distributed, whose executor this is

        dumps = cloudpickle.dumps
    try:
        dumps(part)
    except Exception as e:
        raise TypeError(
            f"executor: a {type(executor).__name__} may run the parts in other processes, so the network and "
            f"config must pickle; they do not ({type(e).__name__}: {e}).  The built-in layers, losses and "
            "optimizers pickle; a custom optimizer whose functions are closures or lambdas does not: "
            "train it with threads (executor=None)"
        ) from e


def _cat(*xs: Any) -> Any:
    return np.concatenate(xs)


def merge(run: Run, parts: list[Trace]) -> Trace:
    """One stacked trace from the traces of consecutive chunks of models."""
    rows = max(t.epochs_run for t in parts)

    def per_epoch(name: str) -> Any:
        if getattr(parts[0], name) is None:
            return None
        padded = [np.pad(getattr(t, name), ((0, rows - t.epochs_run), (0, 0)), constant_values=np.nan) for t in parts]
        return np.concatenate(padded, axis=1)

    # a chunk whose models all stopped early contributes its final params to later snapshots
    epochs = sorted({e for t in parts for e, _ in t.snapshots})
    by_part = [dict(t.snapshots) for t in parts]
    snapshots = tuple(
        (e, tree_map(_cat, *[s.get(e, t.params) for s, t in zip(by_part, parts)], broadcast=True)) for e in epochs
    )
    points = [t.resume_point for t in parts if t.resume_point is not None]
    return Trace(
        loss=per_epoch("loss"),
        accuracy=per_epoch("accuracy"),
        grad_norm=per_epoch("grad_norm"),
        params=tree_map(_cat, *[t.params for t in parts], broadcast=True),
        opt_state=tree_map(_cat, *[t.opt_state for t in parts], broadcast=True),
        final_loss=np.concatenate([t.final_loss for t in parts]),
        final_accuracy=np.concatenate([t.final_accuracy for t in parts]),
        stop_epoch=np.concatenate([t.stop_epoch for t in parts]),
        stop_reasons=tuple(r for t in parts for r in t.stop_reasons),
        snapshots=snapshots,
        network=run.net,
        config=run.config,
        seed=run.config.seed,
        resume_point=tree_map(_cat, *points, broadcast=True) if len(points) == len(parts) else None,
        val_loss=per_epoch("val_loss"),
        val_accuracy=per_epoch("val_accuracy"),
        lr=per_epoch("lr"),
    )


def trace_slice(trace: Trace, lo: int, hi: int, epochs_before: int) -> Trace:
    """Models ``lo:hi`` of a part's stacked trace, as the trace of those models trained alone.

    The per-epoch rows end with the last epoch those models ran (``epochs_before``:
    epochs of an earlier leg, when the part resumed one), and the snapshots with the
    last epoch their fold would have run: a model that diverged at epoch k was seen
    to in epoch k + 1.
    """
    pick = slice(lo, hi)
    stop = trace.stop_epoch[pick]
    reasons = trace.stop_reasons[lo:hi]
    rows = max(int(np.max(stop, initial=0)) - epochs_before, 0)
    ran = max((int(e) + r.startswith("diverged") for e, r in zip(stop, reasons)), default=0)

    def per_epoch(a: FloatArray | None) -> FloatArray | None:
        return None if a is None else a[:rows, pick]

    point = trace.resume_point
    return Trace(
        loss=trace.loss[:rows, pick],
        accuracy=trace.accuracy[:rows, pick],
        grad_norm=trace.grad_norm[:rows, pick],
        params=take_models(trace.params, pick),
        opt_state=take_models(trace.opt_state, pick),
        final_loss=trace.final_loss[pick],
        final_accuracy=trace.final_accuracy[pick],
        stop_epoch=stop,
        stop_reasons=reasons,
        snapshots=tuple((e, take_models(p, pick)) for e, p in trace.snapshots if e <= ran),
        network=trace.network,
        config=trace.config.models_slice(lo, hi),
        seed=trace.config.models_slice(lo, hi).seed,
        resume_point=None if point is None else take_models(point, pick),
        val_loss=per_epoch(trace.val_loss),
        val_accuracy=per_epoch(trace.val_accuracy),
        lr=per_epoch(trace.lr),
    )


# --------------------------------------------------------------- sizing ---

PER_UPDATE_SECONDS = 6.5e-5
"""Rough cost of one optimizer step of a chunk, whatever its size: the Python and NumPy calls."""

PER_MAC_SECONDS = 4.5e-11
"""Rough cost of one multiply-add of one model's forward or backward pass, in BLAS."""

PER_UNIT_SECONDS = 4.4e-9
"""Rough cost of one unit of one sample of one model in an epoch: its activation, forward and back."""

PER_SAMPLE_SECONDS = 5.5e-8
"""Rough cost of one sample of one model in an epoch, whatever the network (loss, counts, slicing)."""

# The four costs above were fitted to ``fnn.train`` of sigmoid (2, h, h, 1) networks on 100 points,
# full batch, 1 and 20 models, h from 2 to 100, on one BLAS thread (2026-12-01, AMD EPYC): within
# 6 % of the measured seconds.  They only size tasks; a wrong guess costs balance, never results.

TASKS_PER_WORKER = 3
"""A sweep of several stacks is cut into up to about this many tasks per worker (``plan_bounds``)."""

CHEAP_SPLIT = 10
"""Beyond a stack's share of the workers, it is cut only into parts whose fixed cost is at most
``1 / CHEAP_SPLIT`` of their arithmetic (``plan_bounds``)."""


def work(run: Run, epochs: int) -> tuple[float, float]:
    """Rough seconds of ``epochs`` epochs of ``run``: ``(fixed, per model)``, the fixed part paid once per task."""
    cfg, n = run.config, run.x.shape[0]
    updates = 1 if cfg.batch_size is None else -(-n // cfg.batch_size)
    macs = sum(layer.in_features * layer.out_features for layer in run.net.layers)
    units = sum(layer.out_features for layer in run.net.layers)
    held_out = 0 if run.val_x is None else run.val_x.shape[0]
    per_sample = units * PER_UNIT_SECONDS + PER_SAMPLE_SECONDS
    per_model = n * (3 * macs * PER_MAC_SECONDS + per_sample) + held_out * (macs * PER_MAC_SECONDS + per_sample)
    return epochs * updates * PER_UPDATE_SECONDS, epochs * per_model


def plan_bounds(runs: Sequence[Run], workers: int, epochs: Sequence[int] | None = None) -> list[list[tuple[int, int]]]:
    """Split several stacked runs (``epochs``: each one's epochs still to run) into tasks for ``workers``.

    Each run is cut into at least its cache-sized chunks (``chunk_bounds``).  With more
    than one worker, a run is cut into as many parts as its share of the estimated work
    gives it workers, while each part's arithmetic outweighs its fixed per-epoch cost
    (the parts run at once).  One run's parts are equal, so more parts than workers are made a
    multiple of the workers, and no more.  Of several runs, a run is cut further, towards
    parts of ``1 / (TASKS_PER_WORKER * workers)`` of the whole work (so that the
    longest-first order leaves little idle time at its end), only while each part's
    fixed cost stays under ``1 / CHEAP_SPLIT`` of its arithmetic.
    """
    epochs = [r.config.epochs for r in runs] if epochs is None else epochs
    workers = min(workers, sum(run.models[0] if run.models else 1 for run in runs))  # never more tasks than models
    cache = [chunk_bounds(run, 1) for run in runs]
    if workers <= 1:
        return cache
    costs = [work(run, e) for run, e in zip(runs, epochs)]
    models = [run.models[0] if run.models else 1 for run in runs]
    total = sum(f + m * v for (f, v), m in zip(costs, models))
    out = []
    for run, bounds, (fixed, per_model), m in zip(runs, cache, costs, models):
        splittable = bool(run.models) and not (
            per_model_hyperparams(run.config.optimizer) and run.config.optimizer.name not in OPTIMIZERS
        )
        if splittable and total > 0:
            cost = fixed + m * per_model
            share = min(workers, math.ceil(workers * cost / total))  # its share of the workers
            worth = m if fixed <= 0 else max(1, int(m * per_model // fixed))  # parts worth running at once
            count = max(len(bounds), min(share, worth, m))
            if len(runs) == 1 and count > workers:  # equal parts: as many on every worker
                count = min(m, -(-count // workers) * workers)
            else:
                cheap = m if fixed <= 0 else int(m * per_model // (fixed * CHEAP_SPLIT))
                count = max(count, min(math.ceil(cost * workers * TASKS_PER_WORKER / total), cheap, m))
            if count != len(bounds):
                cut = np.linspace(0, m, count + 1).round().astype(int)
                bounds = [(int(lo), int(hi)) for lo, hi in zip(cut[:-1], cut[1:]) if hi > lo]
        out.append(bounds)
    return out


def dask_client(executor: object) -> Any:
    """The dask.distributed Client behind ``executor`` (``Client.get_executor()``), else None; dask is not imported."""
    if type(executor).__module__.startswith("distributed."):
        return getattr(executor, "_client", None)
    return None


def executor_workers(executor: Executor | None) -> int | None:
    """How many tasks ``executor`` runs at once: a dask cluster's worker threads (asked now), a pool's
    ``max_workers``; None when it does not say."""
    client = dask_client(executor)
    if client is not None:
        return sum(client.nthreads().values()) or None
    n = getattr(executor, "_max_workers", None)
    return n if isinstance(n, int) and n > 0 else None


# ------------------------------------------------------------ the data ---


@attrs.frozen
class Arrays:
    """The data of a run, shipped apart from its tasks: training set, validation set (or None)."""

    x: FloatArray
    y: FloatArray
    val_x: FloatArray | None = None
    val_y: FloatArray | None = None

    @classmethod
    def of(cls, run: Run) -> Arrays:
        return cls(run.x, run.y, run.val_x, run.val_y)

    def into(self, run: Run) -> Run:
        """``run`` with this data (read-only views again, after a trip through pickle)."""

        def norm(a: FloatArray | None, name: str) -> FloatArray | None:
            return None if a is None else normalized(a, name)

        x, y = normalized(self.x, "data.x"), normalized(self.y, "data.y")
        return attrs.evolve(
            run, x=x, y=y, val_x=norm(self.val_x, "validation.x"), val_y=norm(self.val_y, "validation.y")
        )


@attrs.frozen
class _OnDisk:
    """Data a process pool's workers read once from a file (``.npz``, never unpickled) and keep."""

    path: str
    key: str


_KEEP = 4
_received: dict[str, Arrays] = {}  # in a worker process: the data of the latest runs, by key


def received(handle: Any) -> Arrays:
    """The data a task was given a handle to (in the worker that runs it)."""
    if not isinstance(handle, _OnDisk):
        assert isinstance(handle, Arrays)
        return handle
    got = _received.get(handle.key)
    if got is None:
        with np.load(handle.path, allow_pickle=False) as f:
            got = Arrays(f["x"], f["y"], f["val_x"] if "val_x" in f else None, f["val_y"] if "val_y" in f else None)
        while len(_received) >= _KEEP:
            del _received[next(iter(_received))]
        _received[handle.key] = got
    return got


@contextlib.contextmanager
def shipped(executor: Executor | None, data: Arrays) -> Iterator[Any]:
    """A handle to ``data`` for the tasks of ``executor``, valid inside the block: scattered to every
    dask worker once, a temporary file for a process pool, the data itself otherwise."""
    client = dask_client(executor)
    if client is not None:
        future = client.scatter(data, broadcast=True, hash=False)
        try:
            yield future
        finally:
            future.release()
    elif isinstance(executor, ProcessPoolExecutor):
        folder = tempfile.mkdtemp(prefix="functional_nn-data-")
        try:
            path = os.path.join(folder, "data.npz")
            np.savez(path, **{k: v for k, v in attrs.asdict(data, recurse=False).items() if v is not None})
            yield _OnDisk(path, uuid.uuid4().hex)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        yield data


_set_up = False

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
KEEP_FREED_BYTES = 256 * 2**20
"""In a worker, glibc serves allocations below this from its heap and keeps what is freed (see below)."""


def set_up_worker(origin: int) -> None:
    """In a worker process (not ``origin``, the caller's), once: BLAS limited to one thread (the
    workers already use the cores; threadpoolctl, when installed, else the worker's environment
    decides: dask's nanny sets ``OPENBLAS_NUM_THREADS=1`` itself), and glibc told to keep freed
    memory.  An epoch of a stack allocates arrays of hundreds of KB (the optimizer's new params and
    states); dask's nanny sets ``MALLOC_TRIM_THRESHOLD_``, which turns off glibc's adaptive mmap
    threshold, so that every one of them would be mapped and unmapped again, page faults and all."""
    global _set_up
    if _set_up or os.getpid() == origin:
        return
    _set_up = True
    _keep_freed_memory()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1)


def _keep_freed_memory() -> None:
    import ctypes
    import ctypes.util
    import sys

    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(_M_MMAP_THRESHOLD, KEEP_FREED_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, 4 * KEEP_FREED_BYTES)
    except (OSError, AttributeError):  # not glibc
        pass


# ------------------------------------------------------------- running ---

POLL_SECONDS = 0.2
"""How often ``run_tasks`` calls its ``on_wait`` while it waits."""


@attrs.frozen
class Outcome:
    """What became of one task: its value, the exception it raised, or cancelled (never run)."""

    value: Any = None
    error: BaseException | None = None
    cancelled: bool = False


def run_tasks(
    fn: Callable[[Any, T], R],
    data: Arrays,
    args: Sequence[T],
    executor: Executor | None,
    *,
    workers: int = 1,
    order: Sequence[int] | None = None,
    on_done: Callable[[int, Outcome], None] | None = None,
    on_wait: Callable[[], None] | None = None,
    keep_going: bool = False,
) -> list[Outcome]:
    """``fn(data, a)`` for each ``a`` of ``args``: in turn here (no executor, one worker), in
    ``workers`` threads started and joined here (no executor), or in ``executor``, with
    ``data`` shipped once per worker (``shipped``).  Returns the outcomes in ``args``' order.

    Tasks are submitted in ``order`` (indices into ``args``; default: as given).
    ``on_done(i, outcome)`` runs here as each task ends; ``on_wait()`` at least every
    ``POLL_SECONDS`` while waiting.  After a task fails, the tasks not started are
    cancelled (those running finish and are kept) unless ``keep_going``.  An exception
    from ``on_done`` or ``on_wait``, or Ctrl-C, cancels every task not done and propagates.
    """
    order = list(range(len(args))) if order is None else list(order)
    outcomes: list[Outcome | None] = [None] * len(args)

    def settle(i: int, outcome: Outcome) -> None:
        outcomes[i] = outcome
        if on_done is not None:
            on_done(i, outcome)

    if executor is None and (workers == 1 or len(args) == 1):
        failed = False
        for i in order:
            if failed and not keep_going:
                settle(i, Outcome(cancelled=True))
                continue
            try:
                outcome = Outcome(value=fn(data, args[i]))
            except Exception as e:
                outcome, failed = Outcome(error=e), True
            settle(i, outcome)
        return [o for o in outcomes if o is not None]
    if executor is None:
        with ThreadPoolExecutor(max_workers=min(workers, len(args))) as threads:
            return run_tasks(
                fn, data, args, threads, order=order, on_done=on_done, on_wait=on_wait, keep_going=keep_going
            )
    if not isinstance(executor, ThreadPoolExecutor):
        check_picklable(args[order[0]], executor)
    extra = {"pure": False} if dask_client(executor) is not None else {}  # no hashing of the arguments
    with shipped(executor, data) as handle:
        futures: dict[Future[R], int] = {}
        try:
            for i in order:
                futures[executor.submit(fn, handle, args[i], **extra)] = i
            pending, stopping = set(futures), False
            while pending:
                done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                gone = {f for f in pending if f.cancelled()}  # cancelled elsewhere (a wait never sees them)
                for f in sorted(done | gone, key=futures.__getitem__):
                    if f.cancelled():
                        settle(futures[f], Outcome(cancelled=True))
                        continue
                    error = f.exception()
                    settle(futures[f], Outcome(value=None if error else f.result(), error=error))
                    if error is not None and not keep_going and not stopping:
                        stopping = True
                        gone |= {g for g in pending if g.cancel()}  # not those running: they finish
                for g in sorted(gone - done, key=futures.__getitem__):
                    if outcomes[futures[g]] is None:
                        settle(futures[g], Outcome(cancelled=True))
                pending -= gone
                if on_wait is not None:
                    on_wait()
        finally:
            for f in futures:
                f.cancel()  # after an error here or Ctrl-C: a no-op for the tasks done
    return [o if o is not None else Outcome(cancelled=True) for o in outcomes]
