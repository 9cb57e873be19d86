"""Tests of functional_nn.trace: the Trace record, member(), compare_traces."""

from __future__ import annotations

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn.trace import ResumePoint
from functional_nn.tree import leaves
from tests.engine_helpers import assert_read_only, assert_same_run, assert_trees_equal

NET = fnn.mlp((2, 4, 1))
DATA = fnn.generate_linear(30, seed=2)


def make_trace(epochs: int = 8, seed: int | list[int] = 0, lr: float = 0.5, **kwargs: object) -> fnn.Trace:
    cfg = fnn.TrainConfig(epochs=epochs, optimizer=fnn.sgd(lr=lr), loss="mse", seed=seed, **kwargs)  # type: ignore[arg-type]
    return fnn.train(NET, fnn.init(NET, seed=seed), DATA, cfg)


def with_loss(trace: fnn.Trace, epoch: int, delta: float) -> fnn.Trace:
    """A copy of ``trace`` whose loss at (1-based) ``epoch`` is off by ``delta``."""
    loss = np.array(trace.loss)
    loss[epoch - 1] += delta
    return attrs.evolve(trace, loss=loss)


# ------------------------------------------------------------ compare_traces ---


def test_identical_traces_compare_equal() -> None:
    a, b = make_trace(), make_trace()
    diff = fnn.compare_traces(a, b)
    assert diff.equal and bool(diff)
    assert diff.first_differing_epoch is None
    assert diff.max_abs_diff == 0.0 and diff.max_rel_diff == 0.0
    assert diff.reason == ""
    assert fnn.compare_traces(a, a).equal


def test_detects_first_differing_epoch_and_max_difference() -> None:
    a = make_trace()
    b = with_loss(with_loss(a, 6, 0.5), 3, 1e-3)
    diff = fnn.compare_traces(a, b)
    assert not diff.equal and not bool(diff)
    assert diff.first_differing_epoch == 3
    assert diff.max_abs_diff == pytest.approx(0.5, rel=1e-12)
    assert diff.max_rel_diff == pytest.approx(0.5 / (a.loss[5] + 0.5), rel=1e-12)
    assert "first difference at epoch 3" in diff.reason
    # symmetric
    back = fnn.compare_traces(b, a)
    assert back.first_differing_epoch == 3 and back.max_abs_diff == diff.max_abs_diff


def test_detects_differences_in_accuracy_and_grad_norm() -> None:
    a = make_trace()
    acc = np.array(a.accuracy)
    acc[4] = 1.0 - acc[4]
    gn = np.array(a.grad_norm)
    gn[6] *= 2
    assert fnn.compare_traces(a, attrs.evolve(a, accuracy=acc)).first_differing_epoch == 5
    assert fnn.compare_traces(a, attrs.evolve(a, grad_norm=gn)).first_differing_epoch == 7


def test_detects_different_final_params_only() -> None:
    a = make_trace()
    params = tuple(fnn.Dense(w=p.w, b=p.b + 1e-9) for p in a.params if isinstance(p, fnn.Dense))
    assert len(params) == len(a.params)
    diff = fnn.compare_traces(a, attrs.evolve(a, params=params))
    assert not diff.equal
    assert diff.first_differing_epoch is None
    assert diff.max_abs_diff == pytest.approx(1e-9, rel=1e-6)
    assert "final params differ" in diff.reason


def test_real_runs_that_differ() -> None:
    a, b = make_trace(lr=0.5), make_trace(lr=0.6)
    diff = fnn.compare_traces(a, b)
    assert not diff.equal
    assert diff.first_differing_epoch == 1  # epoch 1: the loss of the common initial params, but trace.lr differs
    assert np.array_equal(a.loss[:1], b.loss[:1])
    expected = max(
        float(np.max(np.abs(a.loss - b.loss))),
        max(float(np.max(np.abs(x - y))) for x, y in zip(leaves(a.params), leaves(b.params), strict=True)),
    )
    assert diff.max_abs_diff >= expected * (1 - 1e-12)


def test_traces_of_different_lengths() -> None:
    short, long = make_trace(epochs=5), make_trace(epochs=8)
    diff = fnn.compare_traces(short, long)
    assert not diff.equal
    assert diff.first_differing_epoch == 6  # the first five epochs agree
    assert "epochs run" in diff.reason


def test_nan_entries_compare_equal_to_nan() -> None:
    lrs = np.array([3.0, 0.3])
    cfg = fnn.TrainConfig(epochs=300, optimizer=fnn.sgd(lr=lrs), loss="mse", seed=[0, 0], stop_loss=0.15)
    a = fnn.train(NET, fnn.init(NET, seed=[0, 0]), DATA, cfg)
    assert np.isnan(a.loss).any()  # the model that stopped first has NaN afterwards
    assert fnn.compare_traces(a, fnn.train(NET, fnn.init(NET, seed=[0, 0]), DATA, cfg)).equal


def test_compare_traces_type_errors() -> None:
    a = make_trace()
    with pytest.raises(TypeError, match="b must be a Trace, got dict"):
        fnn.compare_traces(a, {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a must be a Trace, got NoneType"):
        fnn.compare_traces(None, a)  # type: ignore[arg-type]


# --------------------------------------------------------------- the record ---


def test_trace_arrays_are_read_only() -> None:
    trace = make_trace(snapshot_every=4)
    for name in ("loss", "accuracy", "grad_norm", "final_loss", "final_accuracy", "stop_epoch"):
        arr = np.asarray(getattr(trace, name))
        assert isinstance(getattr(trace, name), np.ndarray), name
        assert not arr.flags.writeable, f"trace.{name} is writable"
        with pytest.raises(ValueError, match="read-only"):
            arr[...] = 0
    assert_read_only(trace.params)
    assert_read_only(trace.opt_state)
    for _, params in trace.snapshots:
        assert_read_only(params)


def test_stacked_trace_arrays_are_read_only() -> None:
    trace = make_trace(seed=[0, 1, 2])
    for name in ("loss", "accuracy", "grad_norm", "final_loss", "final_accuracy", "stop_epoch"):
        assert not getattr(trace, name).flags.writeable, f"trace.{name} is writable"
    assert trace.stop_epoch.tolist() == [8, 8, 8]
    member = trace.member(1)
    for name in ("loss", "accuracy", "grad_norm", "final_loss", "final_accuracy", "stop_epoch"):
        assert not np.asarray(getattr(member, name)).flags.writeable, f"member.{name} is writable"
    assert_read_only(member.params)


def test_trace_is_frozen() -> None:
    trace = make_trace()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        trace.stop_reasons = ()  # type: ignore[misc]


def test_trace_properties() -> None:
    single = make_trace(epochs=4)
    assert single.models == () and single.epochs_run == 4 and single.stop_reason == "epochs done"
    stacked = make_trace(epochs=4, seed=[0, 1])
    assert stacked.models == (2,) and stacked.epochs_run == 4
    assert stacked.stop_reason == "2 epochs done"
    assert stacked.seed == (0, 1)


def test_member_is_the_single_model_trace() -> None:
    stacked = make_trace(epochs=6, seed=[4, 5], snapshot_every=3)
    for k, s in enumerate((4, 5)):
        member = stacked.member(k)
        alone = make_trace(epochs=6, seed=s, snapshot_every=3)
        assert member.models == () and member.seed == s and member.config == alone.config
        np.testing.assert_allclose(member.loss, alone.loss, rtol=1e-12)
        assert [e for e, _ in member.snapshots] == [3, 6]
        for (_, p), (_, q) in zip(member.snapshots, alone.snapshots, strict=True):
            for x, y in zip(leaves(p), leaves(q), strict=True):
                np.testing.assert_allclose(x, y, rtol=1e-12)
        assert int(member.stop_epoch) == 6


def test_member_errors() -> None:
    with pytest.raises(ValueError, match=r"member\(\) needs a trace stacked over one model axis"):
        make_trace().member(0)
    stacked = make_trace(seed=[0, 1])
    with pytest.raises(ValueError, match=r"k must be an integer <= 1, got 2"):
        stacked.member(2)
    with pytest.raises(ValueError, match=r"k must be an integer >= 0, got -1"):
        stacked.member(-1)
    with pytest.raises(TypeError, match=r"k must be an integer, got 1\.0"):
        stacked.member(1.0)  # type: ignore[arg-type]


def test_member_of_member_params_are_views_of_equal_value() -> None:
    stacked = make_trace(seed=[0, 1])
    assert_trees_equal(stacked.member(0).params, stacked.member(0).params)


# ----------------------------------------------------------- resume point ---


def test_resume_point_holds_the_params_and_state_of_the_last_epoch_start() -> None:
    """No shuffle state any more (the order is a function of seed and epoch): prev params and state only."""
    assert [f.name for f in attrs.fields(ResumePoint)] == ["prev_params", "prev_opt_state", "watch"]
    cfg = fnn.TrainConfig(epochs=5, optimizer=fnn.momentum(lr=0.3), loss="mse", batch_size=7, seed=[0, 1])
    params = fnn.init(NET, seed=[0, 1])
    trace = fnn.train(NET, params, DATA, cfg)
    four = fnn.train(NET, params, DATA, attrs.evolve(cfg, epochs=4))
    point = trace.resume_point
    assert point is not None
    assert_trees_equal(point.prev_params, four.params)
    assert_trees_equal(point.prev_opt_state, four.opt_state)
    assert_read_only(point.prev_params)
    assert point.watch is None  # no early stopping (config.patience) here


def test_member_of_a_stack_resumes_as_the_model_alone() -> None:
    cfg = fnn.TrainConfig(epochs=4, optimizer=fnn.sgd(lr=0.5), loss="mse", batch_size=7, seed=[4, 5])
    stacked = fnn.train(NET, fnn.init(NET, seed=[4, 5]), DATA, cfg)
    member = stacked.member(1)
    assert member.resume_point is not None
    alone = fnn.train(NET, fnn.init(NET, seed=5), DATA, cfg.member(1))
    for a, b in ((member, alone), (fnn.resume(member, DATA, 3), fnn.resume(alone, DATA, 3))):
        diff = fnn.compare_traces(a, b)
        assert diff.max_rel_diff <= 1e-12 and a.stop_reasons == b.stop_reasons


def test_compare_traces_of_the_two_engines() -> None:
    """A sigmoid network: the engines differ by rounding, which compare_traces reports as tiny."""
    cfg = fnn.TrainConfig(epochs=30, optimizer=fnn.sgd(lr=0.5), loss="mse", seed=0)
    fast = fnn.train(NET, fnn.init(NET, seed=0), DATA, cfg, engine="fast")
    ref = fnn.train(NET, fnn.init(NET, seed=0), DATA, cfg, engine="reference")
    diff = fnn.compare_traces(fast, ref)
    assert diff.max_rel_diff <= 1e-12
    assert diff.equal == (diff.max_abs_diff == 0.0)
    tanh = fnn.mlp((2, 4, 1), hidden="tanh", output="identity")
    assert_same_run(
        fnn.train(tanh, fnn.init(tanh, seed=0), DATA, cfg, engine="fast"),
        fnn.train(tanh, fnn.init(tanh, seed=0), DATA, cfg, engine="reference"),
    )
