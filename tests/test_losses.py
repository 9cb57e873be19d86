"""Tests of functional_nn.losses, parametrized over LOSSES x activations x sizes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn.losses import model_sum
from tests.helpers import FloatArray, assert_read_only_registry, check_grad
from tests.pairing import fits, labels_for, min_outputs

_supports = fits

PAIRS = [
    pytest.param(loss_name, act_name, id=f"{loss_name}-{act_name}")
    for loss_name, loss in fnn.LOSSES.items()
    for act_name, act in fnn.ACTIVATIONS.items()
    if _supports(loss, act)
]
UNSUPPORTED = [
    pytest.param(loss_name, act_name, id=f"{loss_name}-{act_name}")
    for loss_name, loss in fnn.LOSSES.items()
    for act_name, act in fnn.ACTIVATIONS.items()
    if not _supports(loss, act)
]
# (leading model axes, samples, outputs)
SIZES = [((), 1, 1), ((), 7, 1), ((), 5, 3), ((3,), 4, 2)]
# every supported pair at every size its output takes (a softmax: k >= 2 outputs)
PAIRS_AND_SIZES = [
    pytest.param(loss_name, act_name, models, n, outputs, id=f"{loss_name}-{act_name}-{models}-{n}-{outputs}")
    for loss_name, loss in fnn.LOSSES.items()
    for act_name, act in fnn.ACTIVATIONS.items()
    for models, n, outputs in SIZES
    if _supports(loss, act) and outputs >= min_outputs(act)
]


def pre_activation(shape: tuple[int, ...], seed: int) -> FloatArray:
    """Logits in [-3, -0.1] u [0.1, 3], away from the ReLU kink."""
    rng = np.random.default_rng(seed)
    m = rng.uniform(0.1, 3.0, size=shape)
    return np.where(rng.random(shape) < 0.5, -m, m)


def test_registry() -> None:
    assert {"mse", "bce", "cross_entropy"} <= set(fnn.LOSSES)
    for name, loss in fnn.LOSSES.items():
        assert loss.name == name
        assert isinstance(loss, fnn.Loss)
        assert fnn.get_loss(name) is loss
        assert fnn.get_loss(loss) is loss
    assert fnn.mse is fnn.LOSSES["mse"] and fnn.bce is fnn.LOSSES["bce"]
    assert fnn.cross_entropy is fnn.LOSSES["cross_entropy"]


def test_registry_is_read_only() -> None:
    assert_read_only_registry(fnn.LOSSES)


def test_which_outputs_each_loss_follows() -> None:
    """mse follows any output, bce only a sigmoid, cross_entropy only a softmax."""
    assert {name for name, loss in fnn.LOSSES.items() if _supports(loss, fnn.Sigmoid())} == {"mse", "bce"}
    for act in fnn.ACTIVATIONS.values():
        fnn.mse.check_output(act)  # mse follows any output: no error
    assert {p.id for p in UNSUPPORTED} == {
        *(f"bce-{name}" for name in fnn.ACTIVATIONS if name != "sigmoid"),
        *(f"cross_entropy-{name}" for name in fnn.ACTIVATIONS if name != "softmax"),
    }


def test_every_pair_is_checked_at_several_sizes() -> None:
    """The size filter (a softmax needs k >= 2) leaves every supported pair at least two sizes."""
    for pair in PAIRS:
        assert sum(1 for p in PAIRS_AND_SIZES if p.values[:2] == pair.values) >= 2, pair.id


@pytest.mark.parametrize(("loss_name", "act_name", "models", "n", "outputs"), PAIRS_AND_SIZES)
def test_delta_matches_central_differences(
    loss_name: str, act_name: str, models: tuple[int, ...], n: int, outputs: int
) -> None:
    loss, act = fnn.LOSSES[loss_name], fnn.ACTIVATIONS[act_name]
    shape = (*models, n, outputs)
    z = pre_activation(shape, seed=n + outputs)
    y = labels_for(act, np.random.default_rng(n), shape)
    loss.check_labels(y, "y")

    def total(zz: FloatArray) -> float:  # the sum over models: each model's loss only sees its own z
        return float(np.sum(loss.value(zz, act.value(zz), y)))

    a = act.value(z)
    delta = loss.delta(z, a, y, act)
    assert delta.shape == z.shape
    check_grad(total, z, delta, seed=outputs)


def test_mse_delta_is_the_activation_chain_rule_of_dl_da() -> None:
    """MSE: dL/da = 2 (a - y) / count, then the output activation's backward."""
    z = pre_activation((3, 5, 2), seed=4)
    y = labels_for(fnn.Sigmoid(), np.random.default_rng(4), z.shape)  # mse takes any targets
    for act in fnn.ACTIVATIONS.values():
        a = act.value(z)
        da = 2.0 * (a - y) / 10.0
        np.testing.assert_allclose(fnn.mse.delta(z, a, y, act), act.backward(z, a, da), rtol=1e-15, atol=1e-300)


def test_bce_delta_is_fused_through_the_sigmoid() -> None:
    """BCE after a sigmoid: dL/dz = (a - y) / count, with no 1 / (a (1 - a)) that could blow up."""
    z = pre_activation((3, 5, 2), seed=5)
    y = labels_for(fnn.Sigmoid(), np.random.default_rng(5), z.shape)
    a = fnn.sigmoid(z)
    np.testing.assert_allclose(fnn.bce.delta(z, a, y, fnn.Sigmoid()), (a - y) / 10.0, rtol=1e-15)
    # the same as the chain rule through the sigmoid of dL/da = (a - y) / (a (1 - a) count)
    da = (a - y) / (a * (1.0 - a) * 10.0)
    np.testing.assert_allclose(fnn.bce.delta(z, a, y, fnn.Sigmoid()), fnn.Sigmoid().backward(z, a, da), rtol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (4, 5, 2), (2, 3, 4, 1)])
def test_model_sum_sums_the_last_two_axes_per_model(shape: tuple[int, ...]) -> None:
    t = np.random.default_rng(0).standard_normal(shape)
    total = model_sum(t)
    assert total.shape == shape[:-2]
    np.testing.assert_allclose(total, t.sum(axis=(-2, -1)), rtol=1e-14)


def test_model_sum_of_a_stack_equals_each_model_alone_bit_for_bit() -> None:
    """Splitting a stack of models never changes a bit of any model's sum."""
    rng = np.random.default_rng(1)
    t = rng.standard_normal((7, 13, 3)) * 10.0 ** rng.uniform(-8, 8, (7, 13, 3))  # sums that depend on the order
    stacked = model_sum(t)
    for k in range(7):
        assert stacked[k] == model_sum(t[k])
        np.testing.assert_array_equal(model_sum(t[k : k + 2]), stacked[k : k + 2])


@pytest.mark.parametrize(("loss_name", "act_name"), PAIRS)
def test_value_shape_and_inputs_unchanged(loss_name: str, act_name: str) -> None:
    loss, act = fnn.LOSSES[loss_name], fnn.ACTIVATIONS[act_name]
    z = pre_activation((2, 3, 6, 1 if min_outputs(act) == 1 else 3), seed=0)
    y = labels_for(act, np.random.default_rng(0), z.shape)
    a = act.value(z)
    copies = (z.copy(), a.copy(), y.copy())
    value = loss.value(z, a, y)
    loss.delta(z, a, y, act)
    assert value.shape == (2, 3)
    assert np.all(value >= 0.0)
    for before, after in zip(copies, (z, a, y), strict=True):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize(("loss_name", "act_name"), PAIRS)
def test_stacked_value_and_delta_equal_separate_ones_bit_for_bit(loss_name: str, act_name: str) -> None:
    loss, act = fnn.LOSSES[loss_name], fnn.ACTIVATIONS[act_name]
    z = pre_activation((4, 5, 2), seed=1)
    y = labels_for(act, np.random.default_rng(1), z.shape)
    a = act.value(z)
    stacked, delta = loss.value(z, a, y), loss.delta(z, a, y, act)
    assert stacked.shape == (4,)
    for k in range(4):
        assert stacked[k] == loss.value(z[k], a[k], y[k])
        np.testing.assert_array_equal(delta[k], loss.delta(z[k], a[k], y[k], act))


def test_mse_known_value() -> None:
    z = np.array([[0.0], [0.0]])
    a = np.array([[0.25], [1.0]])
    y = np.array([[0.0], [0.0]])
    assert float(fnn.mse.value(z, a, y)) == pytest.approx((0.0625 + 1.0) / 2, rel=1e-15)


def test_bce_matches_textbook_formula() -> None:
    z = pre_activation((6, 2), seed=3)
    y = labels_for(fnn.Sigmoid(), np.random.default_rng(3), z.shape)
    a = 1.0 / (1.0 + np.exp(-z))
    textbook = np.mean(-y * np.log(a) - (1 - y) * np.log(1 - a))
    assert float(fnn.bce.value(z, fnn.sigmoid(z), y)) == pytest.approx(float(textbook), rel=1e-12)


def test_bce_extreme_logits_are_finite_without_warning() -> None:
    z = np.array([[1000.0], [-1000.0], [1000.0], [-1000.0]])
    y = np.array([[1.0], [0.0], [0.0], [1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = fnn.sigmoid(z)
        value = fnn.bce.value(z, a, y)
        delta = fnn.bce.delta(z, a, y, fnn.Sigmoid())
    assert np.isfinite(value) and np.all(np.isfinite(delta))
    # the two right answers cost nothing; each wrong one costs |z| = 1000
    assert float(value) == pytest.approx(2000.0 / 4, rel=1e-12)
    np.testing.assert_allclose(delta, [[0.0], [0.0], [0.25], [-0.25]], atol=1e-300)


def test_bce_of_confident_right_answers_is_tiny_not_zero_or_nan() -> None:
    z = np.array([[40.0], [-40.0]])
    y = np.array([[1.0], [0.0]])
    value = float(fnn.bce.value(z, fnn.sigmoid(z), y))
    assert 0.0 < value < 1e-15


@pytest.mark.parametrize("act_name", [p.values[1] for p in UNSUPPORTED if p.values[0] == "bce"])
def test_bce_requires_a_sigmoid_output(act_name: str) -> None:
    act = fnn.ACTIVATIONS[act_name]
    with pytest.raises(ValueError, match=rf"loss 'bce' needs a sigmoid output layer.*got output='{act_name}'"):
        fnn.bce.check_output(act)
    k = min_outputs(act)
    net = fnn.mlp((2, 3, k), hidden="tanh", output=act_name)
    y = labels_for(act, np.random.default_rng(0), (1, k))
    with pytest.raises(ValueError, match=rf"loss 'bce' needs a sigmoid output layer.*got output='{act_name}'"):
        fnn.grad(net, fnn.init(net, seed=0), [[0.0, 1.0]], y, loss="bce")


@pytest.mark.parametrize("act_name", [p.values[1] for p in UNSUPPORTED if p.values[0] == "cross_entropy"])
def test_cross_entropy_requires_a_softmax_output(act_name: str) -> None:
    act = fnn.ACTIVATIONS[act_name]
    message = rf"loss 'cross_entropy' needs a softmax output layer \(output='softmax'\), got output='{act_name}'"
    with pytest.raises(ValueError, match=message):
        fnn.cross_entropy.check_output(act)
    net = fnn.mlp((2, 3, 3), hidden="tanh", output=act_name)
    with pytest.raises(ValueError, match=message):  # one-hot labels: the output is what is refused
        fnn.grad(net, fnn.init(net, seed=0), [[0.0, 1.0]], [[0.0, 1.0, 0.0]], loss="cross_entropy")


def test_get_loss_errors() -> None:
    with pytest.raises(ValueError, match=r"loss must be one of 'mse', 'bce', 'cross_entropy'; got 'hinge'"):
        fnn.get_loss("hinge")
    with pytest.raises(TypeError, match=r"loss must be a loss name"):
        fnn.get_loss(1.0)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(
    z=st.lists(st.floats(min_value=-1e4, max_value=1e4, allow_nan=False), min_size=1, max_size=8),
    label=st.sampled_from([0.0, 1.0]),
)
def test_bce_property_finite_and_nonnegative(z: list[float], label: float) -> None:
    zz = np.array(z).reshape(-1, 1)
    y = np.full_like(zz, label)
    value = float(fnn.bce.value(zz, fnn.sigmoid(zz), y))
    assert np.isfinite(value) and value >= 0.0
