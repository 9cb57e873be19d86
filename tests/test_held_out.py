"""Held-out evaluation: ``validation=`` records the held-out loss and accuracy every epoch (issue 13, part 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import io as fio
from functional_nn.engine import chunks
from tests.helpers import FloatArray

DATA = fnn.generate_spiral(120, classes=3, noise=0.3, seed=0)
TRAIN, TEST = fnn.split(DATA, test_fraction=0.5, seed=0)
NET = fnn.mlp((2, 8, 3), hidden="tanh", output="softmax")


def config(epochs: int, seeds: int | list[int] = 0, batch_size: int | None = 10) -> fnn.TrainConfig:
    return fnn.TrainConfig(
        epochs=epochs,
        optimizer=fnn.adam(lr=0.05),
        loss="cross_entropy",
        batch_size=batch_size,
        seed=seeds,
        snapshot_every=1,
    )


def held_out(params: fnn.Params) -> tuple[float, float]:
    """The held-out loss and accuracy of ``params``, computed directly."""
    a = fnn.forward(NET, params, TEST.x)
    log_a: FloatArray = np.log(a)
    return float(-np.mean(np.sum(TEST.y * log_a, axis=1))), float(fnn.accuracy(NET, params, TEST.x, TEST.y))


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_figures_are_those_of_the_params_at_the_start_of_each_epoch(engine: str) -> None:
    init = fnn.init(NET, seed=0)
    trace = fnn.train(NET, init, TRAIN, config(6), validation=TEST, engine=engine)
    assert trace.val_loss is not None and trace.val_accuracy is not None
    assert trace.val_loss.shape == trace.loss.shape == (6,)
    starts = [init] + [p for _, p in trace.snapshots[:-1]]  # the params at the start of epochs 1..6
    for e, params in enumerate(starts):
        loss, acc = held_out(params)
        assert trace.val_loss[e] == pytest.approx(loss, rel=1e-12)
        assert trace.val_accuracy[e] == acc


def test_no_validation_no_figures() -> None:
    trace = fnn.train(NET, fnn.init(NET, seed=0), TRAIN, config(3))
    assert trace.val_loss is None and trace.val_accuracy is None
    assert all(p.val_loss is None for p in fnn.train_iter(NET, fnn.init(NET, seed=0), TRAIN, config(3)))


def test_stacks_equal_singles_engines_agree_and_the_split_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    seeds = [0, 1, 2, 3]
    cfg = config(8, seeds)
    fast = fnn.train(NET, fnn.init(NET, seed=seeds), TRAIN, cfg, validation=TEST)
    reference = fnn.train(NET, fnn.init(NET, seed=seeds), TRAIN, cfg, validation=TEST, engine="reference")
    assert fnn.compare_traces(fast, reference).equal
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 1)
    monkeypatch.setattr(chunks, "MIN_CHUNK_BYTES", 1)
    split = fnn.train(NET, fnn.init(NET, seed=seeds), TRAIN, cfg, validation=TEST, workers=2)
    assert fnn.compare_traces(fast, split).equal
    alone = fnn.train(NET, fnn.init(NET, seed=2), TRAIN, cfg.member(2), validation=TEST)
    member = fast.member(2)
    assert member.val_loss is not None and alone.val_loss is not None
    np.testing.assert_allclose(member.val_loss, alone.val_loss, rtol=1e-12)


def test_progress_carries_the_figures_of_the_trace() -> None:
    items = list(fnn.train_iter(NET, fnn.init(NET, seed=0), TRAIN, config(4), validation=TEST))
    trace = items[-1].trace
    assert trace is not None and trace.val_loss is not None and trace.val_accuracy is not None
    assert [float(p.val_loss) for p in items if p.val_loss is not None] == list(trace.val_loss)
    assert [float(p.val_accuracy) for p in items if p.val_accuracy is not None] == list(trace.val_accuracy)


@pytest.mark.parametrize("seeds", [0, [0, 1, 2]])
def test_save_load_and_resume_bit_for_bit(tmp_path: Path, seeds: int | list[int]) -> None:
    whole = fnn.train(NET, fnn.init(NET, seed=seeds), TRAIN, config(9, seeds), validation=TEST)
    first = fnn.train(NET, fnn.init(NET, seed=seeds), TRAIN, config(4, seeds), validation=TEST)
    fio.save_trace(tmp_path / "t.npz", first)
    loaded = fio.load_trace(tmp_path / "t.npz")
    assert fnn.compare_traces(loaded, first).equal
    assert fnn.compare_traces(fnn.resume(loaded, TRAIN, 5, validation=TEST), whole).equal


def test_compare_traces_sees_the_held_out_figures() -> None:
    a = fnn.train(NET, fnn.init(NET, seed=0), TRAIN, config(3), validation=TEST)
    other = fnn.Dataset(TEST.x[::-1][:30], TEST.y[::-1][:30])
    b = fnn.train(NET, fnn.init(NET, seed=0), TRAIN, config(3), validation=other)
    diff = fnn.compare_traces(a, b)
    assert not diff.equal and diff.first_differing_epoch == 1
    c = fnn.train(NET, fnn.init(NET, seed=0), TRAIN, config(3))
    assert "validation figures" in fnn.compare_traces(a, c).reason


def test_refusals_name_the_argument() -> None:
    with pytest.raises(TypeError, match="validation must be a Dataset or None, got tuple"):
        fnn.train(NET, fnn.init(NET, seed=0), TRAIN, config(2), validation=(TEST.x, TEST.y))  # type: ignore[arg-type]
    wrong_features = fnn.Dataset(np.zeros((4, 3)), fnn.one_hot([0, 1, 2, 0]))
    with pytest.raises(ValueError, match=r"validation\.x must have shape \(n, 2\) to match the network"):
        fnn.train(NET, fnn.init(NET, seed=0), TRAIN, config(2), validation=wrong_features)
    wrong_columns = fnn.Dataset(np.zeros((4, 2)), fnn.one_hot([0, 1, 1, 0]))
    with pytest.raises(ValueError, match=r"validation\.y must have shape \(n, 3\) to match the network"):
        fnn.train(NET, fnn.init(NET, seed=0), TRAIN, config(2), validation=wrong_columns)
    regression = fnn.Dataset(np.zeros((4, 2)), np.full((4, 3), 0.5), task="regression")
    with pytest.raises(ValueError, match=r"validation must have the task of data \('multiclass'\)"):
        fnn.train(NET, fnn.init(NET, seed=0), TRAIN, config(2), validation=regression)
    trace = fnn.train(NET, fnn.init(NET, seed=0), TRAIN, config(2), validation=TEST)
    with pytest.raises(ValueError, match="validation must be given exactly when the trace has validation figures"):
        fnn.resume(trace, TRAIN, 2)
