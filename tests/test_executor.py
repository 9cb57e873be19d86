"""Splitting a stack into chunks, and running them in a process pool (``train(..., executor=)``)."""

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
from functional_nn import training
from functional_nn.optimizers import OPTIMIZERS, EmptyState, OptState, make_optimizer
from tests.helpers import assert_read_only, assert_trees_equal

P = TypeVar("P")
T = TypeVar("T")
NET = fnn.mlp((2, 5, 4, 1))
LINEAR = fnn.generate_linear(40, seed=1)
SEEDS = list(range(8))


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of one model each, so that even a small stack is really split."""
    monkeypatch.setattr(training, "_CHUNK_BYTES", 1)
    monkeypatch.setattr(training, "_MIN_CHUNK_BYTES", 1)


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as ex:
        yield ex


class Counting(Executor):
    """An executor that hands every call on to another one and counts them."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.calls = 0

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        self.calls += 1
        return self.inner.submit(fn, *args, **kwargs)


@pytest.fixture
def merged(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of chunks of every merged run (``training._merge`` watched)."""
    sizes: list[int] = []
    real = training._merge

    def watch(p: Any, parts: list[fnn.Trace]) -> fnn.Trace:
        sizes.append(len(parts))
        return real(p, parts)

    monkeypatch.setattr(training, "_merge", watch)
    return sizes


def _config(**kwargs: object) -> fnn.TrainConfig:
    kwargs.setdefault("optimizer", fnn.adam(lr=0.05))
    return fnn.TrainConfig(epochs=15, loss=fnn.mse, seed=SEEDS, snapshot_every=5, **kwargs)  # type: ignore[arg-type]


def _chunk_count(cfg: fnn.TrainConfig, workers: int) -> int:
    problem = training._prepare(NET, fnn.init(NET, seed=SEEDS), LINEAR, cfg)
    return len(training._chunks(problem, workers))


def _whole(cfg: fnn.TrainConfig) -> fnn.Trace:
    """The stack trained as one chunk, in this thread."""
    return training._train_problem(training._prepare(NET, fnn.init(NET, seed=SEEDS), LINEAR, cfg))


def _assert_same_run(a: fnn.Trace, b: fnn.Trace) -> None:
    """Equal traces, snapshots and resume points (which ``==`` leaves out)."""
    diff = fnn.compare_traces(a, b)
    assert diff.equal, diff.reason
    assert a == b
    assert a.resume_point is not None and b.resume_point is not None
    assert_trees_equal(a.resume_point.prev_params, b.resume_point.prev_params)
    assert a.resume_point.prev_opt_state == b.resume_point.prev_opt_state
    assert a.resume_point.shuffle_states == b.resume_point.shuffle_states
    assert a.snapshots and [e for e, _ in a.snapshots] == [e for e, _ in b.snapshots]
    for (_, pa), (_, pb) in zip(a.snapshots, b.snapshots, strict=True):
        assert_trees_equal(pa, pb)


# ------------------------------------------------------------- the split ---


def test_chunks_cover_the_stack_in_equal_shares(monkeypatch: pytest.MonkeyPatch) -> None:
    per_model = 40 * 5 * 8  # bytes of NET's widest activation on LINEAR, one model
    monkeypatch.setattr(training, "_CHUNK_BYTES", 3 * per_model)  # 8 models: 3 chunks by size
    monkeypatch.setattr(training, "_MIN_CHUNK_BYTES", per_model)
    problem = training._prepare(NET, fnn.init(NET, seed=SEEDS), LINEAR, _config())
    for workers, count in ((1, 3), (2, 4), (3, 3), (4, 4), (5, 5)):
        chunks = training._chunks(problem, workers)
        assert len(chunks) == count, workers
        assert chunks[0][0] == 0 and chunks[-1][1] == 8
        assert all(hi == lo2 for (_, hi), (lo2, _) in zip(chunks, chunks[1:]))
        sizes = [hi - lo for lo, hi in chunks]
        assert max(sizes) - min(sizes) <= 1


def test_a_small_stack_is_not_split() -> None:
    assert _chunk_count(_config(), 2) == 1


@pytest.mark.parametrize("batch_size", [None, 7])
def test_split_over_threads_gives_the_same_bits(small_chunks: None, merged: list[int], batch_size: int | None) -> None:
    cfg = _config(batch_size=batch_size)
    params = fnn.init(NET, seed=SEEDS)
    whole = _whole(cfg)
    for workers in (1, 2, 3):
        _assert_same_run(whole, fnn.train(NET, params, LINEAR, cfg, workers=workers))
    assert merged == [8, 8, 8]


@pytest.mark.parametrize(("sizes", "n", "outputs"), [((2, 100, 90, 1), 20, 1), ((2, 8, 3), 3000, 3)])
def test_split_is_exact_for_long_sums(
    small_chunks: None, merged: list[int], sizes: tuple[int, ...], n: int, outputs: int
) -> None:
    """Over 8192 params (the gradient norm) or samples x outputs (the loss): a model's sums may not
    depend on how many models its chunk holds (np.einsum's order does, for a chunk of one model)."""
    rng = np.random.default_rng(3)
    data = fnn.Dataset(x=rng.random((n, 2)), y=(rng.random((n, outputs)) > 0.5).astype(np.float64))
    net = fnn.mlp(sizes)
    seeds = [0, 1, 2]
    cfg = fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=0.5), loss=fnn.mse, seed=seeds, snapshot_every=1)
    params = fnn.init(net, seed=seeds)
    problem = training._prepare(net, params, data, cfg)
    assert len(training._chunks(problem, 2)) == 3
    _assert_same_run(training._train_problem(problem), fnn.train(net, params, data, cfg, workers=2))
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


def test_custom_optimizer_pickles_only_if_its_functions_do() -> None:
    fine = fnn.Optimizer(name="still", hyperparams={}, init=lambda p: EmptyState(), update=_identity_update)
    with pytest.raises(Exception, match="lambda"):
        pickle.dumps(fine)
    named = fnn.Optimizer(name="still", hyperparams={}, init=_empty_init, update=_identity_update)
    assert pickle.loads(pickle.dumps(named)).name == "still"


def _empty_init(params: object) -> OptState:
    return EmptyState()


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_process_pool_gives_the_same_bits(small_chunks: None, pool: ProcessPoolExecutor, name: str) -> None:
    cfg = _config(optimizer=make_optimizer(name, lr=np.linspace(0.05, 0.4, 8)), batch_size=7)
    params = fnn.init(NET, seed=SEEDS)
    counting = Counting(pool)
    far = fnn.train(NET, params, LINEAR, cfg, workers=2, executor=counting)
    assert counting.calls == 8
    _assert_same_run(_whole(cfg), far)
    assert far.config == cfg and far.network == NET
    assert_read_only((far.loss, far.accuracy, far.grad_norm, far.final_loss, far.stop_epoch))
    assert_read_only(far.params)


def test_thread_pool_executor_is_accepted(small_chunks: None) -> None:
    cfg = _config()
    params = fnn.init(NET, seed=SEEDS)
    with ThreadPoolExecutor(3) as ex:
        counting = Counting(ex)
        _assert_same_run(_whole(cfg), fnn.train(NET, params, LINEAR, cfg, executor=counting))
    assert counting.calls == 8


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


def _resumed_whole(trace: fnn.Trace, data: fnn.Dataset, epochs: int) -> fnn.Trace:
    """``resume`` with the stack as one chunk, in this thread."""
    return training._folded(*training._resume_problem(trace, data, epochs))


@pytest.mark.parametrize(("batch_size", "slow_lr"), [(None, 0.02), (7, 0.002)])
def test_resume_split_gives_the_same_bits(
    small_chunks: None, merged: list[int], pool: ProcessPoolExecutor, batch_size: int | None, slow_lr: float
) -> None:
    """A resumed stack, split over threads or processes, equals the whole resumed and the uninterrupted run;
    the first models stop (loss threshold) before the resume, the others after."""
    lrs = np.array([3.0, 3.0, 3.0, 3.0, 0.05, 0.05, slow_lr, slow_lr])
    cfg = fnn.TrainConfig(
        epochs=300,
        optimizer=fnn.momentum(lr=lrs),
        loss=fnn.mse,
        batch_size=batch_size,
        seed=SEEDS,
        stop_loss=0.05,
        snapshot_every=50,
    )
    whole_run = _whole(attrs.evolve(cfg, epochs=600))
    first = _whole(cfg)
    assert first.stop_reasons[0].startswith("loss threshold") and first.stop_reasons[-1] == "epochs done"
    whole = _resumed_whole(first, LINEAR, 300)
    assert fnn.compare_traces(whole, whole_run).equal
    params = fnn.init(NET, seed=SEEDS)
    counting = Counting(pool)
    _assert_same_run(first, fnn.train(NET, params, LINEAR, cfg, workers=2))
    _assert_same_run(first, fnn.train(NET, params, LINEAR, cfg, executor=counting))
    assert counting.calls == 8
    for kwargs in ({"workers": 1}, {"workers": 2}, {"workers": 2, "executor": counting}):
        _assert_same_run(whole, fnn.resume(first, LINEAR, 300, **kwargs))
    assert counting.calls == 16
    assert merged == [8] * 5


def test_resume_checks_workers_and_executor() -> None:
    trace = fnn.train(NET, fnn.init(NET, seed=SEEDS), LINEAR, _config())
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got 0"):
        fnn.resume(trace, LINEAR, 5, workers=0)
    with pytest.raises(TypeError, match=r"executor must be a concurrent\.futures\.Executor"):
        fnn.resume(trace, LINEAR, 5, executor=3)  # type: ignore[arg-type]


def test_an_evolved_optimizer_is_not_rebuilt_from_its_name() -> None:
    """attrs.evolve can change the recorded name or hyperparameters but not the closures that compute:
    such an optimizer must not pickle as what it claims to be."""
    for changed in (attrs.evolve(fnn.sgd(lr=0.1), name="adam"), attrs.evolve(fnn.sgd(lr=0.1), hyperparams={"lr": 0.5})):
        with pytest.raises(Exception, match="pickle"):
            pickle.dumps(changed)
    assert pickle.loads(pickle.dumps(fnn.sgd(lr=0.1))) == fnn.sgd(lr=0.1)


def test_custom_optimizer_with_per_model_arrays_trains_a_stack_in_one_chunk(small_chunks: None) -> None:
    """Only a built-in optimizer can be cut into chunks along its per-model arrays; another one keeps
    the whole stack in one chunk (it trains as before, and the same with any number of workers)."""
    lrs = np.linspace(0.1, 0.8, 8)

    def init(params: object) -> OptState:
        del params
        return EmptyState()

    def update(grads: P, state: OptState, params: P) -> tuple[P, OptState]:
        return fnn.tree_map(lambda p, g: p - lrs.reshape(-1, *(1,) * (p.ndim - 1)) * g, params, grads), state

    opt = fnn.Optimizer(name="per-model sgd", hyperparams={"lr": lrs}, init=init, update=update)
    cfg = _config(optimizer=opt)
    assert _chunk_count(cfg, 2) == 1
    params = fnn.init(NET, seed=SEEDS)
    one = fnn.train(NET, params, LINEAR, cfg, workers=1)
    _assert_same_run(one, fnn.train(NET, params, LINEAR, cfg, workers=2))
    built_in = fnn.train(NET, params, LINEAR, _config(optimizer=fnn.sgd(lr=lrs)), workers=2)
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
