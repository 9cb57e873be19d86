"""Splitting a stack into chunks, and running them in a process pool (``train(..., executor=)``)."""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import TypeVar

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import training
from functional_nn.optimizers import OPTIMIZERS, EmptyState, OptState, make_optimizer
from tests.helpers import assert_read_only, assert_trees_equal

P = TypeVar("P")
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
def test_split_over_threads_gives_the_same_bits(small_chunks: None, batch_size: int | None) -> None:
    cfg = _config(batch_size=batch_size)
    params = fnn.init(NET, seed=SEEDS)
    assert _chunk_count(cfg, 1) == 8
    whole = _whole(cfg)
    for workers in (1, 2, 3):
        _assert_same_run(whole, fnn.train(NET, params, LINEAR, cfg, workers=workers))


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
    assert _chunk_count(cfg, 2) == 8
    far = fnn.train(NET, params, LINEAR, cfg, workers=2, executor=pool)
    _assert_same_run(_whole(cfg), far)
    assert far.config == cfg and far.network == NET
    assert_read_only((far.loss, far.accuracy, far.grad_norm, far.final_loss, far.stop_epoch))
    assert_read_only(far.params)


def test_thread_pool_executor_is_accepted(small_chunks: None) -> None:
    cfg = _config()
    params = fnn.init(NET, seed=SEEDS)
    with ThreadPoolExecutor(3) as ex:
        _assert_same_run(_whole(cfg), fnn.train(NET, params, LINEAR, cfg, executor=ex))


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
    small_chunks: None, pool: ProcessPoolExecutor, batch_size: int | None, slow_lr: float
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
    assert len(training._chunks(training._resume_problem(first, LINEAR, 300)[0], 2)) == 8
    params = fnn.init(NET, seed=SEEDS)
    _assert_same_run(first, fnn.train(NET, params, LINEAR, cfg, workers=2))
    _assert_same_run(first, fnn.train(NET, params, LINEAR, cfg, executor=pool))
    for kwargs in ({"workers": 1}, {"workers": 2}, {"workers": 2, "executor": pool}):
        _assert_same_run(whole, fnn.resume(first, LINEAR, 300, **kwargs))


def test_resume_checks_workers_and_executor() -> None:
    trace = fnn.train(NET, fnn.init(NET, seed=SEEDS), LINEAR, _config())
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got 0"):
        fnn.resume(trace, LINEAR, 5, workers=0)
    with pytest.raises(TypeError, match=r"executor must be a concurrent\.futures\.Executor"):
        fnn.resume(trace, LINEAR, 5, executor=3)  # type: ignore[arg-type]
