"""Saving and loading: round trips, refusal of pickles, atomic writes, clear errors."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import io as fio
from tests.engine_helpers import assert_read_only, assert_same_run

savez: Any = np.savez  # numpy's stub types **kwds as arrays but also lists allow_pickle


def _trace(
    seed: int | list[int] = 0, *, optimizer: str = "adam", batch_size: int | None = 7, engine: str = "fast"
) -> fnn.Trace:
    net = fnn.mlp((2, 5, 4, 1), hidden="tanh")
    config = fnn.TrainConfig(
        epochs=30,
        optimizer=fnn.make_optimizer(optimizer),
        loss="bce",
        seed=seed,
        batch_size=batch_size,
        snapshot_every=10,
    )
    return fnn.train(net, fnn.init(net, seed=seed), fnn.generate_xor_easy(), config, engine=engine)


def _assert_round_trip(trace: fnn.Trace, path: Path) -> fnn.Trace:
    """Save, load, and check that everything came back bit for bit (resume point included)."""
    fio.save_trace(path, trace)
    loaded = fio.load_trace(path)
    assert_same_run(trace, loaded)
    assert loaded.config == trace.config
    assert loaded.opt_state == trace.opt_state
    assert loaded.network == trace.network
    assert loaded.seed == trace.seed
    for (_, a), (_, b) in zip(loaded.snapshots, trace.snapshots, strict=True):
        assert a == b
    assert_read_only(loaded.params)
    assert_read_only(loaded.opt_state)
    for name in ("loss", "accuracy", "grad_norm", "final_loss", "final_accuracy", "stop_epoch"):
        assert not getattr(loaded, name).flags.writeable, name
    return loaded


@pytest.mark.parametrize("optimizer", tuple(fnn.OPTIMIZERS))
@pytest.mark.parametrize("seed", [0, [0, 1, 2]])
def test_trace_round_trip_is_exact(tmp_path: Path, optimizer: str, seed: int | list[int]) -> None:
    _assert_round_trip(_trace(seed, optimizer=optimizer), tmp_path / "t.npz")


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_round_trip_of_a_stack_with_stopped_and_diverged_models(tmp_path: Path, engine: str) -> None:
    """NaN after a model's stop, per-model stop reasons and epochs, and a resume from the file."""
    net = fnn.mlp((2, 6, 1), hidden="relu", output="identity")
    data = fnn.generate_linear(40, seed=1)
    config = fnn.TrainConfig(
        epochs=60, optimizer=fnn.momentum(lr=np.array([0.05, 1e6, 0.5])), loss="mse", seed=[0, 1, 2], stop_loss=0.05
    )
    params = fnn.init(net, seed=[0, 1, 2])
    trace = fnn.train(net, params, data, config, engine=engine)
    reasons = [r.split(" at epoch")[0] for r in trace.stop_reasons]
    assert "diverged" in reasons and "loss threshold reached" in reasons, trace.stop_reasons
    assert np.isnan(trace.loss).any()
    loaded = _assert_round_trip(trace, tmp_path / "t.npz")
    np.testing.assert_array_equal(loaded.stop_epoch, trace.stop_epoch)
    whole = fnn.train(net, params, data, attrs.evolve(config, epochs=90), engine=engine)
    assert_same_run(whole, fnn.resume(loaded, data, 30, engine=engine))


def _cnn() -> fnn.Network:
    conv = fnn.Conv2DLayer((1, 6, 6), 2, 3, activation="relu")
    pool = fnn.MaxPool2DLayer(conv.out_shape, 2)
    return fnn.cnn(conv, pool, fnn.FlattenLayer(pool.out_shape), fnn.DenseLayer(8, 1, fnn.Sigmoid()))


@pytest.mark.parametrize("seed", [0, [0, 1]])
def test_conv_trace_round_trip_and_resume_from_the_file(tmp_path: Path, seed: int | list[int]) -> None:
    net = _cnn()
    data = fnn.generate_bars(10, 2, size=6, seed=0)[0]
    config = fnn.TrainConfig(
        epochs=3, optimizer=fnn.adam(lr=0.01), loss="bce", seed=seed, batch_size=4, snapshot_every=2
    )
    params = fnn.init(net, seed=seed)
    first = fnn.train(net, params, data, config)
    loaded = _assert_round_trip(first, tmp_path / "conv.npz")
    whole = fnn.train(net, params, data, attrs.evolve(config, epochs=5))
    if isinstance(seed, int):  # (a stacked Adam does not resume exactly: see tests/test_resume.py)
        assert_same_run(whole, fnn.resume(loaded, data, 2))
    assert_same_run(fnn.resume(first, data, 2), fnn.resume(loaded, data, 2))


def test_conv_params_round_trip(tmp_path: Path) -> None:
    net = _cnn()
    params = fnn.init(net, seed=[1, 2])
    fio.save_params(tmp_path / "p.npz", net, params)
    net2, params2 = fio.load_params(tmp_path / "p.npz")
    assert net2 == net and params2 == params
    x = fnn.generate_bars(4, 2, size=6, seed=0)[0].x
    assert np.array_equal(fnn.forward(net, params, x), fnn.forward(net2, params2, x))


def test_no_shuffle_state_is_saved(tmp_path: Path) -> None:
    """Version 2: the batch order is a function of the seed and the epoch, so nothing of it is stored."""
    path = tmp_path / "t.npz"
    fio.save_trace(path, _trace([0, 1], batch_size=3))
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        meta = json.loads(archive["meta.json"].tobytes())
    assert not [n for n in names if "shuffle" in n or "rng" in n], names
    assert meta["format_version"] == fio.FORMAT_VERSION == 2
    assert "shuffle_states" not in json.dumps(meta)


def test_loaded_params_predict_bit_identically(tmp_path: Path) -> None:
    net = fnn.mlp((2, 10, 10, 1), hidden=fnn.LeakyReLU(alpha=0.2))
    params = fnn.init(net, seed=3, scheme="he")
    fio.save_params(tmp_path / "p.npz", net, params)
    net2, params2 = fio.load_params(tmp_path / "p.npz")
    assert net2 == net
    x = fnn.generate_linear(seed=1).x
    assert np.array_equal(fnn.forward(net, params, x), fnn.forward(net2, params2, x))


def test_params_into_another_network_names_layer_and_shapes(tmp_path: Path) -> None:
    net = fnn.mlp((2, 10, 10, 1))
    fio.save_params(tmp_path / "p.npz", net, fnn.init(net, seed=0))
    with pytest.raises(
        ValueError,
        match=r"p\.npz: params do not fit the network: params\[1\]\.w must have shape \(\.\.\., 10, 8\), got shape \(10, 10\)",
    ):
        fio.load_params(tmp_path / "p.npz", fnn.mlp((2, 10, 8, 1)))
    with pytest.raises(ValueError, match="holds params for 3 layers, the network has 2"):
        fio.load_params(tmp_path / "p.npz", fnn.mlp((2, 10, 1)))


def test_pickled_or_object_arrays_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    meta = np.frombuffer(json.dumps({"format": "functional_nn"}).encode(), dtype=np.uint8)
    savez(path, **{"meta.json": meta, "loss": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match=r"evil\.npz: refused: the file holds pickled or object data"):
        fio.load_trace(path)


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    fio.save_trace(path, _trace())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"t\.npz: corrupted, truncated or not an \.npz file"):
        fio.load_trace(path)


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "g.npz"
    path.write_bytes(b"this is not a zip archive at all")
    with pytest.raises(ValueError, match=r"g\.npz: corrupted"):
        fio.load_trace(path)


def test_corrupted_metadata(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    savez(path, **{"meta.json": np.frombuffer(b"{not json", dtype=np.uint8)})
    with pytest.raises(ValueError, match=r"m\.npz: corrupted metadata"):
        fio.load_trace(path)


def _rewrite_meta(path: Path, **changes: object) -> None:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(arrays["meta.json"].tobytes())
    meta.update(changes)
    arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    savez(path, **arrays)


def test_wrong_version_and_wrong_kind(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    fio.save_trace(path, _trace())
    for old in (99, 1):
        _rewrite_meta(path, format_version=old)
        with pytest.raises(
            ValueError, match=rf"v\.npz: format version {old} is not supported \(this library reads 2\)"
        ):
            fio.load_trace(path)
    net = fnn.mlp((2, 3, 1))
    fio.save_params(tmp_path / "p.npz", net, fnn.init(net, seed=0))
    with pytest.raises(ValueError, match=r"p\.npz: holds 'params', expected 'trace'"):
        fio.load_trace(tmp_path / "p.npz")
    with pytest.raises(ValueError, match=r"v\.npz: no such file"):
        fio.load_trace(tmp_path / "nothing" / "v.npz")


def test_missing_array_is_named(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    fio.save_trace(path, _trace())
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files if k != "a/7"}
    savez(path, **arrays)
    with pytest.raises(ValueError, match=r"a\.npz: missing array 'a/7'"):
        fio.load_trace(path)


def test_not_our_file(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(ValueError, match=r"other\.npz: not a functional_nn file"):
        fio.load_trace(path)


def test_interrupted_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.npz"
    good = _trace()
    fio.save_trace(path, good)
    before = path.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        fio.save_trace(path, _trace(seed=1))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.npz"], "no temporary file is left behind"
    monkeypatch.undo()
    assert fnn.compare_traces(fio.load_trace(path), good).equal


def test_saved_file_is_a_plain_npz_with_json_metadata(tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    fio.save_trace(path, _trace())
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    # every array an a/<k>.npy entry that meta.json's tree names; meta.json.npy holds the UTF-8 JSON
    assert "meta.json.npy" in names and all(n == "meta.json.npy" or re.fullmatch(r"a/\d+\.npy", n) for n in names)
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(archive["meta.json"].tobytes())
    assert meta["format"] == "functional_nn" and meta["kind"] == "trace"
    assert meta["library_version"] == fnn.__version__
    assert meta["config"]["optimizer"]["name"] == "adam"
    assert meta["network"]["layers"][0] == {
        "kind": "dense",
        "in_features": 2,
        "out_features": 5,
        "activation": {"name": "tanh"},
    }


def test_per_model_learning_rates_survive_a_round_trip(tmp_path: Path) -> None:
    net = fnn.mlp((2, 4, 1))
    lrs = np.array([0.1, 0.5, 1.0])
    config = fnn.TrainConfig(epochs=5, optimizer=fnn.sgd(lr=lrs), loss="mse", seed=[0, 1, 2])
    trace = fnn.train(net, fnn.init(net, seed=[0, 1, 2]), fnn.generate_xor_easy(), config)
    fio.save_trace(tmp_path / "t.npz", trace)
    loaded = fio.load_trace(tmp_path / "t.npz")
    assert loaded.config == attrs.evolve(trace.config)
    assert isinstance(loaded.config.optimizer.lr, np.ndarray)
    assert np.array_equal(loaded.config.optimizer.lr, lrs)
    assert_same_run(fnn.resume(trace, fnn.generate_xor_easy(), 3), fnn.resume(loaded, fnn.generate_xor_easy(), 3))
