"""Resuming: a run continued from a trace (in memory or from a file) equals one uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import io as fio
from scripts import lab
from tests.engine_helpers import assert_same_run

ENGINES = ["fast", "reference"]


def _config(opt: str, seeds: int | list[int], batch_size: int | None, epochs: int, **kw: object) -> fnn.TrainConfig:
    return fnn.TrainConfig(
        epochs=epochs,
        optimizer=fnn.make_optimizer(opt),
        loss="mse",
        seed=seeds,
        batch_size=batch_size,
        snapshot_every=4,
        **kw,  # type: ignore[arg-type]
    )


def _seeds_param(seeds: int | list[int], opt: str) -> object:
    return pytest.param(seeds, opt, id=f"{'single' if isinstance(seeds, int) else 'stack'}-{opt}")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("batch_size", [None, 5])
@pytest.mark.parametrize(
    ("seeds", "opt"), [_seeds_param(seeds, opt) for seeds in (0, [0, 1, 2, 3]) for opt in fnn.OPTIMIZERS]
)
def test_resume_equals_uninterrupted(
    opt: str, seeds: int | list[int], batch_size: int | None, engine: str, tmp_path: Path
) -> None:
    """Bit for bit, through a trace in memory or saved to a file and loaded."""
    net = fnn.mlp((2, 6, 6, 1))
    data = fnn.generate_xor_easy()
    params = fnn.init(net, seed=seeds)
    whole = fnn.train(net, params, data, _config(opt, seeds, batch_size, 30), engine=engine)
    first = fnn.train(net, params, data, _config(opt, seeds, batch_size, 11), engine=engine)
    fio.save_trace(tmp_path / "first.npz", first)
    for start in (first, fio.load_trace(tmp_path / "first.npz")):
        continued = fnn.resume(start, data, 19, engine=engine)
        assert_same_run(whole, continued)
        assert continued.config == whole.config
        assert continued.snapshots[0][0] == 4 and len(continued.snapshots) == 7


@pytest.mark.parametrize(
    "opt",
    [
        "rmsprop",
        pytest.param(
            "adam",
        ),
    ],
)
@pytest.mark.parametrize("engine", ENGINES)
def test_resume_in_several_steps_and_with_train_iter(engine: str, opt: str) -> None:
    net = fnn.mlp((2, 5, 1))
    data = fnn.generate_linear(seed=2)
    params = fnn.init(net, seed=[4, 5])
    whole = fnn.train(net, params, data, _config(opt, [4, 5], 16, 20), engine=engine)
    trace = fnn.train(net, params, data, _config(opt, [4, 5], 16, 3), engine=engine)
    for more in (5, 1, 11):
        items = list(fnn.resume_iter(trace, data, more, engine=engine))
        assert [p.epoch for p in items] == list(range(trace.epochs_run + 1, trace.epochs_run + more + 1))
        assert items[-1].trace is not None
        trace = items[-1].trace
    assert_same_run(whole, trace)


def test_a_single_adam_resumes_exactly_and_its_count_stays_0_d() -> None:
    """The stacked-Adam bug above does not touch a single model: its step count is 0-d throughout."""
    net = fnn.mlp((2, 5, 1))
    data = fnn.generate_linear(seed=2)
    params = fnn.init(net, seed=4)
    whole = fnn.train(net, params, data, _config("adam", 4, 16, 9))
    first = fnn.train(net, params, data, _config("adam", 4, 16, 4))
    assert isinstance(first.opt_state, fnn.AdamState) and first.opt_state.count.shape == ()
    assert float(first.opt_state.count) == 4 * 7  # 100 samples in batches of 16: 7 steps an epoch
    assert_same_run(whole, fnn.resume(first, data, 5))


def test_stopped_models_stay_stopped_and_the_rest_continue() -> None:
    net = fnn.mlp((2, 10, 10, 1))
    data = fnn.generate_xor_easy()
    seeds = list(range(6))
    params = fnn.init(net, seed=seeds)
    config = fnn.TrainConfig(
        epochs=400, optimizer=fnn.sgd(lr=np.array([0.5, 1, 2, 4, 8, 40.0])), loss="mse", seed=seeds, stop_loss=0.1
    )
    whole = fnn.train(net, params, data, config)
    first = fnn.train(net, params, data, attrs.evolve(config, epochs=200))
    assert any(r != "epochs done" for r in first.stop_reasons), "the test needs a model that stops before the break"
    continued = fnn.resume(first, data, 200)
    assert fnn.compare_traces(whole, continued).equal
    assert continued.stop_reasons == whole.stop_reasons
    assert np.array_equal(continued.stop_epoch, whole.stop_epoch)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "opt",
    [
        "adam",
        "sgd",
    ],
)
def test_resume_right_after_the_last_update_diverged(opt: str, engine: str) -> None:
    """adam(lr=1e308): the first update sends the loss to NaN, so a 1-epoch run ends "diverged at epoch 1"
    by the final check; sgd(lr=1e6) with identity: the 3rd update does, but a 2-epoch run cannot see it."""
    net = fnn.mlp((2, 10, 1), hidden="relu" if opt == "adam" else "identity", output="identity")
    data = fnn.generate_linear(40, seed=1)
    optimizer = fnn.adam(lr=1e308) if opt == "adam" else fnn.sgd(lr=1e6)
    config = fnn.TrainConfig(epochs=3, optimizer=optimizer, loss="mse")
    params = fnn.init(net, seed=0)
    k = 1 if opt == "adam" else 2
    whole = fnn.train(net, params, data, config, engine=engine)
    first = fnn.train(net, params, data, attrs.evolve(config, epochs=k), engine=engine)
    assert whole.stop_reason.startswith("diverged at epoch")
    assert_same_run(whole, fnn.resume(first, data, 3 - k, engine=engine))


def test_resume_after_divergence_keeps_the_diverged_model_stopped() -> None:
    net = fnn.mlp((2, 4, 1), hidden="relu", output="identity")
    data = fnn.generate_linear(seed=0)
    params = fnn.init(net, seed=[0, 1])
    config = fnn.TrainConfig(epochs=40, optimizer=fnn.sgd(lr=np.array([0.01, 1e4])), loss="mse", seed=[0, 1])
    whole = fnn.train(net, params, data, config)
    assert whole.stop_reasons[1].startswith("diverged at epoch")
    first = fnn.train(net, params, data, attrs.evolve(config, epochs=20))
    assert fnn.compare_traces(whole, fnn.resume(first, data, 20)).equal


def test_resume_validates() -> None:
    net = fnn.mlp((2, 3, 1))
    trace = fnn.train(net, fnn.init(net, seed=0), fnn.generate_xor_easy(), _config("sgd", 0, None, 2))
    with pytest.raises(ValueError, match="epochs must be an integer >= 1, got 0"):
        fnn.resume(trace, fnn.generate_xor_easy(), 0)
    with pytest.raises(TypeError, match="trace must be a Trace, got str"):
        fnn.resume("trace.npz", fnn.generate_xor_easy(), 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot be resumed"):
        fnn.resume(attrs.evolve(trace, resume_point=None), fnn.generate_xor_easy(), 3)


def test_lab_resume_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second, whole = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert (
        lab.main(
            [
                "--dataset",
                "linear",
                "--epochs",
                "120",
                "--batch-size",
                "10",
                "--optimizer",
                "adam",
                "--lr",
                "0.01",
                "--out",
                str(first),
            ]
        )
        == 0
    )
    assert (
        lab.main(
            ["--dataset", "linear", "--epochs", "80", "--resume", str(first / "linear_trace.npz"), "--out", str(second)]
        )
        == 0
    )
    assert (
        lab.main(
            [
                "--dataset",
                "linear",
                "--epochs",
                "200",
                "--batch-size",
                "10",
                "--optimizer",
                "adam",
                "--lr",
                "0.01",
                "--out",
                str(whole),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert fnn.compare_traces(
        fio.load_trace(second / "linear_trace.npz"), fio.load_trace(whole / "linear_trace.npz")
    ).equal
    assert lab.main(["--epochs", "5", "--resume", str(first / "linear_trace.npz"), "--out", str(second)]) == 2
    assert "--resume needs --dataset" in capsys.readouterr().err
    assert (
        lab.main(["--dataset", "xor", "--epochs", "5", "--resume", str(tmp_path / "missing.npz"), "--out", str(second)])
        == 2
    )
    assert "missing.npz: no such file" in capsys.readouterr().err
