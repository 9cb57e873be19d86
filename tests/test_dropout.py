"""Dropout (issue 13, part 4): ``DropoutLayer`` and ``mlp(dropout=)``: inverted dropout in training,
the identity outside it; masks from each model's own stream; gradient-checked with a fixed mask;
stacks equal singles (to 1e-12, as every stack), resume is bit-exact, save/load round-trips, the engine equals the reference."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import io as fio
from functional_nn.config import prepare
from functional_nn.fold import dropout_masks
from functional_nn.network import output, value_and_grad
from tests.helpers import check_grad, check_tree_grad

DATA = fnn.generate_circle(60, noise=0.2, seed=1)
VAL = fnn.generate_circle(40, noise=0.2, seed=2)
NET = fnn.mlp((2, 12, 12, 1), hidden="tanh", output="sigmoid", dropout=0.3)
CFG = fnn.TrainConfig(epochs=6, optimizer=fnn.adam(lr=0.02), loss="bce", batch_size=16, seed=4)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), float("inf")])
def test_rate_outside_unit_interval_is_refused_by_name(rate: float) -> None:
    with pytest.raises(ValueError, match=r"rate must (be in \[0.0, 1.0\)|be finite)"):
        fnn.DropoutLayer(4, rate)
    with pytest.raises(ValueError, match=r"dropout must (be in \[0.0, 1.0\)|be finite)"):
        fnn.mlp((2, 3, 1), dropout=rate)


def test_bad_kinds_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match="rate must be a real number"):
        fnn.DropoutLayer(4, "0.5")
    with pytest.raises(TypeError, match="features must be an integer"):
        fnn.DropoutLayer(2.0, 0.5)
    with pytest.raises(ValueError, match="features must be an integer >= 1"):
        fnn.DropoutLayer(0, 0.5)
    with pytest.raises(ValueError, match=r"layers\[1\].in_features must equal layers\[0\].out_features"):
        fnn.sequential(fnn.DenseLayer(2, 3), fnn.DropoutLayer(4, 0.5))


def test_mlp_places_a_dropout_layer_after_each_hidden_layer() -> None:
    kinds = [(type(layer).__name__, layer.out_features) for layer in NET.layers]
    assert kinds == [
        ("DenseLayer", 12),
        ("DropoutLayer", 12),
        ("DenseLayer", 12),
        ("DropoutLayer", 12),
        ("DenseLayer", 1),
    ]
    assert all(layer.rate == 0.3 for layer in NET.layers if isinstance(layer, fnn.DropoutLayer))
    assert fnn.mlp((2, 3, 1)) == fnn.mlp((2, 3, 1), hidden="sigmoid")  # no dropout= : no dropout layers
    params = fnn.init(NET, seed=0)
    assert [type(p).__name__ for p in params] == ["Dense", "NoParams", "Dense", "NoParams", "Dense"]


def test_forward_and_predict_are_the_identity() -> None:
    """Outside training a dropout network is the network without its dropout layers."""
    params = fnn.init(NET, seed=[0, 1])
    plain = fnn.sequential(*(layer for layer in NET.layers if not isinstance(layer, fnn.DropoutLayer)))
    plain_params = tuple(p for p in params if isinstance(p, fnn.Dense))
    np.testing.assert_array_equal(fnn.forward(NET, params, DATA.x), fnn.forward(plain, plain_params, DATA.x))
    np.testing.assert_array_equal(fnn.predict(NET, params, DATA.x), fnn.predict(plain, plain_params, DATA.x))
    np.testing.assert_array_equal(
        fnn.accuracy(NET, params, DATA.x, DATA.y), fnn.accuracy(plain, plain_params, DATA.x, DATA.y)
    )


def test_mask_is_inverted_dropout() -> None:
    layer = fnn.DropoutLayer(50, 0.25)
    mask = layer.mask(np.random.default_rng(0), 400)
    assert mask.shape == (400, 50)
    assert set(np.unique(mask).tolist()) == {0.0, 1.0 / 0.75}
    assert abs(float(np.mean(mask > 0)) - 0.75) < 0.01  # 20,000 draws: 3 standard deviations ~ 0.009
    np.testing.assert_array_equal(mask, layer.mask(np.random.default_rng(0), 400))  # same stream, same mask
    assert np.all(fnn.DropoutLayer(3, 0.0).mask(np.random.default_rng(0), 5) == 1.0)


def test_layer_gradient_with_a_fixed_mask() -> None:
    """dL/dx of the masked layer, against central differences with the mask held fixed."""
    layer = fnn.DropoutLayer(4, 0.5)
    params = layer.init(np.random.default_rng(0), "normal")
    rng = np.random.default_rng(1)
    x, mask, w = rng.standard_normal((3, 4)), layer.mask(rng, 3), rng.standard_normal((3, 4))
    assert 0 < np.count_nonzero(mask) < mask.size

    def loss(x_: np.ndarray) -> float:
        a, _ = layer.forward_train(params, x_, mask)
        return float(np.sum(w * a**2))

    a, cache = layer.forward_train(params, x, mask)
    _, dx = layer.backward(params, cache, 2.0 * w * a)
    check_grad(loss, x, dx, seed=2)


@pytest.mark.parametrize("models", [(), (2,)])
def test_network_gradient_with_fixed_masks(models: tuple[int, ...]) -> None:
    """value_and_grad with masks, against central differences of the masked loss, every params leaf."""
    net = fnn.mlp((3, 5, 4, 2), hidden="tanh", output="identity", dropout=0.4)
    seed = [3, 4][: models[0]] if models else 3
    params = fnn.init(net, seed=seed)
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))

    def draw(layer: fnn.DropoutLayer) -> np.ndarray:
        return np.stack([layer.mask(rng, 6) for _ in range(models[0])]) if models else layer.mask(rng, 6)

    masks = tuple(draw(layer) if isinstance(layer, fnn.DropoutLayer) else None for layer in net.layers)

    def loss(p: fnn.Params) -> float:
        a, caches = output(net.layers, p, x, masks)
        return float(np.sum(fnn.mse.value(caches[-1].z, a, y)))

    _, grads, _ = value_and_grad(net.layers, params, x, y, fnn.mse, masks)
    check_tree_grad(loss, params, grads, seed=6)
    _, unmasked, _ = value_and_grad(net.layers, params, x, y, fnn.mse)
    assert not fnn.tree.tree_equal(grads, unmasked)  # the masks did change the gradient


def test_masks_come_from_each_models_stream() -> None:
    """Per (seed, epoch, batch): the same seed gives the same masks; a stack's model k, model k's alone."""
    stack = prepare(NET, fnn.init(NET, seed=[4, 9]), DATA, attrs.evolve(CFG, seed=[4, 9]))
    single = prepare(NET, fnn.init(NET, seed=9), DATA, attrs.evolve(CFG, seed=9))
    m_stack, m_single = dropout_masks(stack, 2, 1, 16), dropout_masks(single, 2, 1, 16)
    assert m_stack is not None and m_single is not None
    assert [m is None for m in m_single] == [False if isinstance(la, fnn.DropoutLayer) else True for la in NET.layers]
    for a, b in zip(m_stack, m_single, strict=True):
        if b is not None:
            assert a is not None
            np.testing.assert_array_equal(a[1], b)
            assert not np.array_equal(a[0], a[1])
    for other in (dropout_masks(single, 3, 1, 16), dropout_masks(single, 2, 0, 16)):  # another epoch, batch
        assert other is not None and not fnn.tree.tree_equal(other, m_single)
    no_dropout = prepare(fnn.mlp((2, 3, 1)), fnn.init(fnn.mlp((2, 3, 1)), seed=0), DATA, CFG)
    assert dropout_masks(no_dropout, 1, 0, 16) is None


def test_dropout_acts_in_training_only() -> None:
    """Training figures are of the masked network (they differ from a run with rate 0); the held-out
    figures and the final loss are the network's without dropout."""
    trace = fnn.train(NET, fnn.init(NET, seed=4), DATA, attrs.evolve(CFG, batch_size=None), validation=DATA)
    assert trace.val_loss is not None
    assert not np.array_equal(trace.loss, trace.val_loss)  # epoch e: the same params, masked vs not
    zero = fnn.mlp((2, 12, 12, 1), hidden="tanh", output="sigmoid", dropout=0.0)
    plain = fnn.mlp((2, 12, 12, 1), hidden="tanh", output="sigmoid")
    t_zero = fnn.train(zero, fnn.init(zero, seed=4), DATA, CFG, engine="reference")
    t_plain = fnn.train(plain, fnn.init(plain, seed=4), DATA, CFG, engine="reference")
    np.testing.assert_array_equal(t_zero.loss, t_plain.loss)  # rate 0 keeps every unit, scaled by 1
    assert not np.array_equal(fnn.train(NET, fnn.init(NET, seed=4), DATA, CFG).loss, t_plain.loss)
    a, caches = output(NET.layers, trace.params, DATA.x)  # no masks: the network without dropout
    assert float(trace.final_loss) == float(fnn.bce.value(caches[-1].z, a, DATA.y))


def test_same_seed_same_trace_and_engine_equals_reference() -> None:
    a = fnn.train(NET, fnn.init(NET, seed=4), DATA, CFG)
    b = fnn.train(NET, fnn.init(NET, seed=4), DATA, CFG, engine="reference")
    assert fnn.compare_traces(a, b).equal
    assert fnn.compare_traces(a, fnn.train(NET, fnn.init(NET, seed=4), DATA, CFG)).equal
    assert not fnn.compare_traces(a, fnn.train(NET, fnn.init(NET, seed=4), DATA, attrs.evolve(CFG, seed=5))).equal


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_stack_equals_singles(engine: str) -> None:
    seeds = [4, 7, 11]
    cfg = attrs.evolve(CFG, seed=seeds, optimizer=fnn.adam(lr=[0.02, 0.01, 0.03]))
    stack = fnn.train(NET, fnn.init(NET, seed=seeds), DATA, cfg, engine=engine, workers=2, validation=VAL)
    for k, s in enumerate(seeds):
        alone = fnn.train(NET, fnn.init(NET, seed=s), DATA, cfg.member(k), engine=engine, validation=VAL)
        member = stack.member(k)
        diff = fnn.compare_traces(member, alone)  # batched products round as in the library's other stacks
        assert diff.max_rel_diff <= 1e-12, diff.reason
        assert member.stop_reasons == alone.stop_reasons and member.config == alone.config


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_resume_is_bit_exact(engine: str) -> None:
    whole = fnn.train(NET, fnn.init(NET, seed=4), DATA, CFG, engine=engine)
    half = fnn.train(NET, fnn.init(NET, seed=4), DATA, attrs.evolve(CFG, epochs=2), engine=engine)
    diff = fnn.compare_traces(fnn.resume(half, DATA, 4, engine=engine), whole)
    assert diff.equal, diff.reason


def test_save_load_round_trip(tmp_path: Path) -> None:
    trace = fnn.train(NET, fnn.init(NET, seed=[4, 5]), DATA, attrs.evolve(CFG, seed=[4, 5]))
    fio.save_trace(tmp_path / "t.npz", trace)
    loaded = fio.load_trace(tmp_path / "t.npz")
    assert loaded.network == NET
    assert fnn.compare_traces(loaded, trace).equal
    assert fnn.compare_traces(fnn.resume(loaded, DATA, 2), fnn.resume(trace, DATA, 2)).equal
    fio.save_params(tmp_path / "p.npz", NET, trace.params)
    net, params = fio.load_params(tmp_path / "p.npz")
    assert net == NET
    np.testing.assert_array_equal(fnn.forward(net, params, DATA.x), fnn.forward(NET, trace.params, DATA.x))
    assert fio.network_from_dict(fio.network_to_dict(NET)) == NET


def test_check_grad_of_a_dropout_network_checks_its_forward() -> None:
    """``check_grad`` checks the network as ``forward`` runs it: dropout is the identity there."""
    errors = fnn.check_grad(NET, fnn.init(NET, seed=0), DATA.x[:5], DATA.y[:5], "bce")
    assert [bool(e) for e in errors] == [True, False, True, False, True]
    assert all(v < 1e-6 for e in errors for v in e.values())
