"""The engine's chunks: a stack split into chunks of models, run in threads, in turn or in an
executor (``train(..., workers=, executor=)``), and merged -- never changing a bit.

Through the documented contract of ``functional_nn.engine.chunks``: ``chunk_bounds`` (with
explicit ``chunk_bytes=`` / ``min_bytes=``), ``start_slice``, ``run_parts``, ``merge``.  The
split tests count the merged parts (``chunks.merge`` watched) and the executor's calls, so they
fail if a run was not really split or not really sent to the executor.  The oracle is the
reference engine, which never splits (the network has no sigmoid, so the engines agree bit for bit).
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, TypeVar

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import config as fconfig
from functional_nn import engine
from functional_nn.engine import chunks
from functional_nn.fold import fresh_start
from functional_nn.optimizers import OPTIMIZERS, EmptyState, OptState, make_optimizer
from tests.engine_helpers import (
    Counting,
    assert_read_only,
    assert_same_run,
    assert_trees_equal,
    split_per_model,
    watch_merge,
)

P = TypeVar("P")
T = TypeVar("T")
NET = fnn.mlp((2, 5, 4, 1), hidden="tanh", output="identity")
LINEAR = fnn.generate_linear(40, seed=1)
SEEDS = list(range(8))
PER_MODEL = 40 * 5 * 8  # bytes of NET's widest activation on LINEAR (full batch), one model


@pytest.fixture
def merged(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of parts of every merged run."""
    return watch_merge(monkeypatch)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of one model each, so that even a small stack is really split."""
    split_per_model(monkeypatch)


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as ex:
        yield ex


def _config(**kwargs: Any) -> fnn.TrainConfig:
    kwargs.setdefault("optimizer", fnn.adam(lr=0.05))
    kwargs.setdefault("epochs", 15)
    kwargs.setdefault("loss", fnn.mse)
    return fnn.TrainConfig(seed=SEEDS, snapshot_every=5, **kwargs)


def _run(cfg: fnn.TrainConfig, net: fnn.Network = NET, data: fnn.Dataset = LINEAR) -> fconfig.Run:
    return fconfig.prepare(net, fnn.init(net, seed=SEEDS), data, cfg)


def _reference(cfg: fnn.TrainConfig) -> fnn.Trace:
    """The stack as one fold, in this thread: the reference engine never splits."""
    return fnn.train(NET, fnn.init(NET, seed=SEEDS), LINEAR, cfg, engine="reference")


# ------------------------------------------------------------- the split ---


def test_chunks_cover_the_stack_in_equal_shares() -> None:
    run = _run(_config())
    for workers, count in ((1, 3), (2, 4), (3, 3), (4, 4), (5, 5)):
        bounds = chunks.chunk_bounds(run, workers, chunk_bytes=3 * PER_MODEL, min_bytes=PER_MODEL)
        assert len(bounds) == count, workers
        assert bounds[0][0] == 0 and bounds[-1][1] == 8
        assert all(hi == lo2 for (_, hi), (lo2, _) in zip(bounds, bounds[1:]))
        sizes = [hi - lo for lo, hi in bounds]
        assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


def test_chunk_sizes_follow_the_batch_and_the_minimum_per_worker() -> None:
    full, mini = _run(_config()), _run(_config(batch_size=10))
    # a mini-batch of 10 needs a quarter of the full batch's 40 samples' memory
    assert len(chunks.chunk_bounds(full, 1, chunk_bytes=PER_MODEL, min_bytes=1)) == 8
    assert len(chunks.chunk_bounds(mini, 1, chunk_bytes=PER_MODEL, min_bytes=1)) == 2
    # under min_bytes per worker, a second worker is not given a share of its own
    assert len(chunks.chunk_bounds(full, 2, chunk_bytes=8 * PER_MODEL, min_bytes=8 * PER_MODEL)) == 1
    assert len(chunks.chunk_bounds(full, 2, chunk_bytes=8 * PER_MODEL, min_bytes=4 * PER_MODEL)) == 2


def test_a_single_model_and_a_small_stack_are_not_split() -> None:
    single = fconfig.prepare(NET, fnn.init(NET, seed=0), LINEAR, attrs.evolve(_config(), seed=0))
    assert chunks.chunk_bounds(single, 4, chunk_bytes=1, min_bytes=1) == [(0, 1)]
    assert chunks.chunk_bounds(_run(_config()), 2) == [(0, 8)]  # the defaults: 8 small models are one chunk


def test_a_small_stack_runs_as_one_part(merged: list[int]) -> None:
    cfg = _config()
    assert_same_run(_reference(cfg), fnn.train(NET, fnn.init(NET, seed=SEEDS), LINEAR, cfg, workers=4))
    assert merged == []


def test_patching_the_chunk_constants_reaches_train(monkeypatch: pytest.MonkeyPatch, merged: list[int]) -> None:
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 1)
    monkeypatch.setattr(chunks, "MIN_CHUNK_BYTES", 1)
    cfg = _config()
    assert_same_run(_reference(cfg), fnn.train(NET, fnn.init(NET, seed=SEEDS), LINEAR, cfg, workers=2))
    assert merged == [8]


def test_start_slice_and_merge_are_inverse_on_a_trace(merged: list[int]) -> None:
    """The contract pieces by hand: parts from ``start_slice``, folded by ``engine.fold_part``, merged."""
    cfg = _config(batch_size=7)
    run = _run(cfg)
    params = fnn.init(NET, seed=SEEDS)
    start = fresh_start(run, params, cfg.optimizer.init(params))
    bounds = [(0, 3), (3, 4), (4, 8)]
    parts = [(run.models_slice(lo, hi), chunks.start_slice(start, lo, hi)) for lo, hi in bounds]
    traces = chunks.run_parts(engine.fold_part, parts, 1, None)
    assert [t.models for t in traces] == [(3,), (1,), (4,)]
    assert_same_run(_reference(cfg), chunks.merge(run, traces))
    assert_same_run(engine.fold_part((run, start)), chunks.merge(run, traces))
    assert merged == [3, 3]  # the merges above, watched


def test_run_parts_keeps_the_order_of_the_parts() -> None:
    args = list(range(10))
    for workers, executor in ((1, None), (3, None)):
        assert chunks.run_parts(lambda a: a * a, args, workers, executor) == [a * a for a in args]
    with ThreadPoolExecutor(2) as ex:
        counting = Counting(ex)
        assert chunks.run_parts(lambda a: -a, args, 2, counting) == [-a for a in args]
    assert counting.calls == 10


@pytest.mark.parametrize("batch_size", [None, 7])
def test_split_in_turn_or_over_threads_gives_the_same_bits(
    small_chunks: None, merged: list[int], batch_size: int | None
) -> None:
    cfg = _config(batch_size=batch_size)
    params = fnn.init(NET, seed=SEEDS)
    whole = _reference(cfg)
    for workers in (1, 2, 3):  # 1: the chunks in turn, in this thread
        _assert_split_run(whole, fnn.train(NET, params, LINEAR, cfg, workers=workers))
    assert merged == [8, 8, 8]


def _assert_split_run(whole: fnn.Trace, split: fnn.Trace) -> None:
    assert_same_run(whole, split)
    assert [e for e, _ in split.snapshots] == [5, 10, 15]


def test_sigmoid_networks_split_exactly_too(merged: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast engine's own sigmoid differs from the reference's, but not with the split."""
    net = fnn.mlp((2, 6, 1), hidden="sigmoid", output="sigmoid")
    cfg = _config(loss=fnn.bce, batch_size=9)
    params = fnn.init(net, seed=SEEDS)
    whole = fnn.train(net, params, LINEAR, cfg, workers=1)
    assert merged == []
    split_per_model(monkeypatch)
    assert_same_run(whole, fnn.train(net, params, LINEAR, cfg, workers=2))
    assert merged == [8]


@pytest.mark.parametrize(("sizes", "n", "outputs"), [((2, 100, 90, 1), 20, 1), ((2, 8, 3), 3000, 3)])
def test_split_is_exact_for_long_sums(
    small_chunks: None, merged: list[int], sizes: tuple[int, ...], n: int, outputs: int
) -> None:
    """Over 8192 params (the gradient norm) or samples x outputs (the loss): a model's sums may not
    depend on how many models its chunk holds."""
    rng = np.random.default_rng(3)
    data = fnn.Dataset(x=rng.random((n, 2)), y=(rng.random((n, outputs)) > 0.5).astype(np.float64))
    net = fnn.mlp(sizes, hidden="relu", output="identity")
    seeds = [0, 1, 2]
    cfg = fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=0.05), loss=fnn.mse, seed=seeds, snapshot_every=1)
    params = fnn.init(net, seed=seeds)
    whole = fnn.train(net, params, data, cfg, engine="reference")
    assert_same_run(whole, fnn.train(net, params, data, cfg, workers=2))
    assert merged == [3]


# ----------------------------------------------------------- processes ---


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_built_in_optimizers_pickle_as_name_and_hyperparams(name: str) -> None:
    for lr in (0.05, np.array([0.05, 0.2])):
        opt = make_optimizer(name, lr=lr)
        copy = pickle.loads(pickle.dumps(opt))
        assert copy == opt and copy.name == opt.name and copy is not opt
        params = (np.arange(4.0).reshape(2, 2) / 3,)
        grads = (np.array([[0.5, -1.0], [2.0, 0.25]]),)
        state: OptState = opt.init(params)
        ours, theirs = opt.update(grads, state, params), copy.update(grads, copy.init(params), params)
        assert_trees_equal(ours[0], theirs[0])


def _identity_update(grads: P, state: OptState, params: P) -> tuple[P, OptState]:
    del grads
    return params, state


def _empty_init(params: object) -> OptState:
    return EmptyState()


def test_custom_optimizer_pickles_only_if_its_functions_do() -> None:
    fine = fnn.Optimizer(name="still", hyperparams={}, init=lambda p: EmptyState(), update=_identity_update)
    with pytest.raises(Exception, match="lambda"):
        pickle.dumps(fine)
    named = fnn.Optimizer(name="still", hyperparams={}, init=_empty_init, update=_identity_update)
    assert pickle.loads(pickle.dumps(named)).name == "still"


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_process_pool_gives_the_same_bits(
    small_chunks: None, merged: list[int], pool: ProcessPoolExecutor, name: str
) -> None:
    cfg = _config(optimizer=make_optimizer(name, lr=np.linspace(0.01, 0.08, 8)), batch_size=7)
    params = fnn.init(NET, seed=SEEDS)
    counting = Counting(pool)
    far = fnn.train(NET, params, LINEAR, cfg, workers=2, executor=counting)
    assert counting.calls == 8 and merged == [8]
    _assert_split_run(_reference(cfg), far)
    assert far.config == cfg and far.network == NET
    assert_read_only((far.loss, far.accuracy, far.grad_norm, far.final_loss, far.stop_epoch))
    assert_read_only(far.params)


def test_thread_pool_executor_is_accepted(small_chunks: None, merged: list[int]) -> None:
    cfg = _config()
    params = fnn.init(NET, seed=SEEDS)
    with ThreadPoolExecutor(3) as ex:
        counting = Counting(ex)
        _assert_split_run(_reference(cfg), fnn.train(NET, params, LINEAR, cfg, executor=counting))
    assert counting.calls == 8 and merged == [8]


def test_executor_must_be_an_executor() -> None:
    with pytest.raises(TypeError, match=r"executor must be a concurrent.futures.Executor .* got 'pool'"):
        fnn.train(NET, fnn.init(NET, seed=SEEDS), LINEAR, _config(), executor="pool")  # type: ignore[arg-type]


def test_unpicklable_optimizer_with_a_process_pool_is_named(small_chunks: None, pool: ProcessPoolExecutor) -> None:
    opt = fnn.Optimizer(name="still", hyperparams={}, init=lambda p: EmptyState(), update=_identity_update)
    with pytest.raises(TypeError, match=r"executor: a ProcessPoolExecutor .* must pickle.*executor=None"):
        fnn.train(NET, fnn.init(NET, seed=SEEDS), LINEAR, _config(optimizer=opt), executor=pool)
    # the same optimizer trains with threads
    trace = fnn.train(NET, fnn.init(NET, seed=SEEDS), LINEAR, _config(optimizer=opt), workers=2)
    assert trace.loss.shape == (15, 8)


# ---------------------------------------------------------------- resume ---


@pytest.mark.parametrize("batch_size", [None, 7])
def test_resume_split_gives_the_same_bits(
    small_chunks: None, merged: list[int], pool: ProcessPoolExecutor, batch_size: int | None
) -> None:
    """A resumed stack, split in turn, over threads or over processes, equals the uninterrupted run;
    some models stop (loss threshold) before the resume, some after, some never."""
    lrs = np.array([0.1, 0.05, 0.02, 0.01, 0.005, 0.003, 0.002, 0.001])
    cfg = fnn.TrainConfig(
        epochs=100,
        optimizer=fnn.momentum(lr=lrs),
        loss=fnn.mse,
        batch_size=batch_size,
        seed=SEEDS,
        stop_loss=0.01,
        snapshot_every=40,
    )
    whole = _reference(attrs.evolve(cfg, epochs=250))
    first = _reference(cfg)
    stops = whole.stop_epoch.tolist()
    assert any(e < 100 for e in stops) and any(100 < e < 250 for e in stops) and 250 in stops, stops
    params = fnn.init(NET, seed=SEEDS)
    counting = Counting(pool)
    assert_same_run(first, fnn.train(NET, params, LINEAR, cfg, workers=2))
    assert_same_run(first, fnn.train(NET, params, LINEAR, cfg, executor=counting))
    assert counting.calls == 8
    for kwargs in ({"workers": 1}, {"workers": 2}, {"workers": 2, "executor": counting}):
        resumed = fnn.resume(first, LINEAR, 150, **kwargs)
        assert_same_run(whole, resumed)
    assert counting.calls == 16
    assert merged == [8] * 5


def test_resume_checks_workers_and_executor() -> None:
    trace = fnn.train(NET, fnn.init(NET, seed=SEEDS), LINEAR, _config())
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got 0"):
        fnn.resume(trace, LINEAR, 5, workers=0)
    with pytest.raises(TypeError, match=r"executor must be a concurrent\.futures\.Executor"):
        fnn.resume(trace, LINEAR, 5, executor=3)  # type: ignore[arg-type]


def test_workers_are_validated() -> None:
    for bad, error in ((0, ValueError), (-1, ValueError), (1.5, TypeError)):
        with pytest.raises(error, match="workers must be an integer"):
            fnn.train(NET, fnn.init(NET, seed=SEEDS), LINEAR, _config(), workers=bad)  # type: ignore[arg-type]


# ------------------------------------------------------------- optimizers ---


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"name": "adam"}, id="name"),
        pytest.param(
            {"hyperparams": {"lr": 0.5}},
            id="hyperparams",
        ),
    ],
)
def test_an_evolved_optimizer_is_not_rebuilt_from_its_name(change: dict[str, Any]) -> None:
    """attrs.evolve can change the recorded name or hyperparameters but not the closures that compute:
    such an optimizer must not pickle as what it claims to be (a process pool would train another one)."""
    changed = attrs.evolve(fnn.sgd(lr=0.1), **change)
    with pytest.raises(Exception, match="pickle"):
        pickle.dumps(changed)
    assert pickle.loads(pickle.dumps(fnn.sgd(lr=0.1))) == fnn.sgd(lr=0.1)


def test_custom_optimizer_with_per_model_arrays_trains_a_stack_in_one_chunk(
    small_chunks: None, merged: list[int]
) -> None:
    """Only a built-in optimizer can be cut into chunks along its per-model arrays; another one keeps
    the whole stack in one chunk (it trains as before, and the same with any number of workers)."""
    lrs = np.linspace(0.01, 0.08, 8)

    def init(params: object) -> OptState:
        del params
        return EmptyState()

    def update(grads: P, state: OptState, params: P) -> tuple[P, OptState]:
        return fnn.tree_map(lambda p, g: p - lrs.reshape(-1, *(1,) * (p.ndim - 1)) * g, params, grads), state

    opt = fnn.Optimizer(name="per-model sgd", hyperparams={"lr": lrs}, init=init, update=update)
    cfg = _config(optimizer=opt)
    assert chunks.chunk_bounds(_run(cfg), 2, chunk_bytes=1, min_bytes=1) == [(0, 8)]
    params = fnn.init(NET, seed=SEEDS)
    one = fnn.train(NET, params, LINEAR, cfg, workers=1)
    assert_same_run(one, fnn.train(NET, params, LINEAR, cfg, workers=2))
    assert merged == []
    built_in = fnn.train(NET, params, LINEAR, _config(optimizer=fnn.sgd(lr=lrs)), workers=2)
    assert merged == [8]
    np.testing.assert_allclose(one.loss, built_in.loss, rtol=1e-12)


def test_a_failed_chunk_cancels_the_chunks_not_started(small_chunks: None) -> None:
    class FirstFails(Executor):
        """Fails the first chunk at once; leaves the others pending, as a busy pool would."""

        def __init__(self) -> None:
            self.futures: list[Future[Any]] = []

        def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
            future: Future[T] = Future()
            if not self.futures:
                future.set_exception(RuntimeError("chunk 0 failed"))
            self.futures.append(future)
            return future

    ex = FirstFails()
    with pytest.raises(RuntimeError, match="chunk 0 failed"):
        fnn.train(NET, fnn.init(NET, seed=SEEDS), LINEAR, _config(), executor=ex)
    assert len(ex.futures) == 8 and all(f.cancelled() for f in ex.futures[1:])
