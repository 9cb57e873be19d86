"""Early stopping: TrainConfig(patience=k, min_delta=d) watches the validation loss (issue 13, part 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import io as fio

DATA = fnn.generate_spiral(160, classes=3, noise=0.6, seed=1)
TRAIN, TEST = fnn.split(DATA, test_fraction=0.5, seed=1)
NET = fnn.mlp((2, 24, 24, 3), hidden="tanh", output="softmax")


def config(epochs: int, seeds: int | list[int] = 0, patience: int = 4, min_delta: float = 0.0) -> fnn.TrainConfig:
    return fnn.TrainConfig(
        epochs=epochs,
        optimizer=fnn.adam(lr=0.05),
        loss="cross_entropy",
        batch_size=8,
        seed=seeds,
        patience=patience,
        min_delta=min_delta,
    )


def val_loss(params: fnn.Params) -> float:
    a = fnn.forward(NET, params, TEST.x)
    return float(-np.mean(np.sum(TEST.y * np.log(a), axis=1)))


def best_epoch(reason: str) -> int:
    assert reason.startswith("no improvement for "), reason
    return int(reason.rsplit("epoch ", 1)[1].rstrip(")"))


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_stops_and_keeps_the_params_of_the_best_epoch(engine: str) -> None:
    trace = fnn.train(NET, fnn.init(NET, seed=0), TRAIN, config(200), validation=TEST, engine=engine)
    assert trace.val_loss is not None
    j = best_epoch(trace.stop_reason)
    assert trace.stop_reason == f"no improvement for 4 epochs (best at epoch {j})"
    assert trace.epochs_run == int(trace.stop_epoch) == j + 4 < 200
    assert j == int(np.argmin(trace.val_loss)) + 1  # min_delta 0: the first lowest
    assert val_loss(trace.params) == pytest.approx(trace.val_loss[j - 1], rel=1e-12)


def test_min_delta_asks_for_a_real_improvement() -> None:
    plain = fnn.train(NET, fnn.init(NET, seed=0), TRAIN, config(200), validation=TEST)
    strict = fnn.train(NET, fnn.init(NET, seed=0), TRAIN, config(200, min_delta=0.05), validation=TEST)
    assert strict.val_loss is not None
    j = best_epoch(strict.stop_reason)
    # every later epoch of the strict run improved on the best by at most 0.05
    assert np.all(strict.val_loss[j:] >= strict.val_loss[j - 1] - 0.05)
    assert strict.epochs_run <= plain.epochs_run


def test_stacks_equal_singles_and_the_engines_agree() -> None:
    seeds = [0, 1, 2]
    stack = fnn.train(NET, fnn.init(NET, seed=seeds), TRAIN, config(200, seeds), validation=TEST)
    reference = fnn.train(
        NET, fnn.init(NET, seed=seeds), TRAIN, config(200, seeds), validation=TEST, engine="reference"
    )
    assert fnn.compare_traces(stack, reference).equal
    for k in range(3):
        alone = fnn.train(NET, fnn.init(NET, seed=seeds[k]), TRAIN, config(200, seeds).member(k), validation=TEST)
        member = stack.member(k)
        assert member.stop_reasons == alone.stop_reasons
        assert fnn.compare_traces(member, alone).max_rel_diff <= 1e-12


@pytest.mark.parametrize("seeds", [0, [0, 1, 2]])
@pytest.mark.parametrize("split_at", [2, 6, 9])
def test_resume_is_bit_exact_through_a_file(tmp_path: Path, seeds: int | list[int], split_at: int) -> None:
    whole = fnn.train(NET, fnn.init(NET, seed=seeds), TRAIN, config(40, seeds), validation=TEST)
    first = fnn.train(NET, fnn.init(NET, seed=seeds), TRAIN, config(split_at, seeds), validation=TEST)
    fio.save_trace(tmp_path / "t.npz", first)
    resumed = fnn.resume(fio.load_trace(tmp_path / "t.npz"), TRAIN, 40 - split_at, validation=TEST)
    assert fnn.compare_traces(resumed, whole).equal
    assert resumed.stop_reasons == whole.stop_reasons


def test_a_stopped_run_stays_stopped_when_resumed() -> None:
    trace = fnn.train(NET, fnn.init(NET, seed=0), TRAIN, config(200), validation=TEST)
    again = fnn.resume(trace, TRAIN, 10, validation=TEST)
    assert again.stop_reasons == trace.stop_reasons and again.epochs_run == trace.epochs_run
    assert fnn.compare_traces(again, trace).max_abs_diff == 0.0


def test_refusals_name_the_argument() -> None:
    with pytest.raises(ValueError, match="patience must be an integer >= 1, got 0"):
        config(5, patience=0)
    with pytest.raises(TypeError, match="patience must be an integer"):
        fnn.TrainConfig(epochs=5, optimizer=fnn.sgd(), loss="mse", patience=2.5)
    with pytest.raises(ValueError, match=r"min_delta must be >= 0, got -0\.1"):
        config(5, min_delta=-0.1)
    with pytest.raises(ValueError, match="patience=4 watches the validation loss: pass validation="):
        fnn.train(NET, fnn.init(NET, seed=0), TRAIN, config(5))
