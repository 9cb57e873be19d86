"""Tests of functional_nn.activations, parametrized over the ACTIVATIONS registry."""

from __future__ import annotations

import warnings

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from tests.helpers import FloatArray, check_grad

NAMES = tuple(fnn.ACTIVATIONS)
SHAPES = [(5,), (4, 3), (2, 3, 4)]


def away_from_kink(shape: tuple[int, ...], seed: int) -> FloatArray:
    """Samples in [-3, -0.1] u [0.1, 3]: no activation has a kink there."""
    rng = np.random.default_rng(seed)
    magnitude = rng.uniform(0.1, 3.0, size=shape)
    return np.where(rng.random(shape) < 0.5, -magnitude, magnitude)


def test_registry_names_match_records() -> None:
    assert {"sigmoid", "tanh", "relu", "leaky_relu", "identity"} <= set(NAMES)
    for name, act in fnn.ACTIVATIONS.items():
        assert act.name == name
        assert isinstance(act, fnn.Activation)
        assert fnn.get_activation(name) is act
        assert fnn.get_activation(act) is act


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_central_differences(name: str, shape: tuple[int, ...]) -> None:
    act = fnn.ACTIVATIONS[name]
    z = away_from_kink(shape, seed=len(shape))
    r = np.random.default_rng(1).standard_normal(shape)  # random cotangent: checks every entry

    def f(zz: FloatArray) -> float:
        return float(np.sum(r * act.value(zz)))

    a = act.value(z)
    check_grad(f, z, r * act.derivative(z, a), seed=2)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_elementwise_matches_central_differences(name: str) -> None:
    act = fnn.ACTIVATIONS[name]
    z = away_from_kink((50,), seed=5)
    eps = 1e-5
    numeric = (act.value(z + eps) - act.value(z - eps)) / (2 * eps)
    np.testing.assert_allclose(act.derivative(z, act.value(z)), numeric, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_value_keeps_shape_dtype_and_leaves_input_unchanged(name: str) -> None:
    act = fnn.ACTIVATIONS[name]
    z = away_from_kink((3, 4), seed=0)
    before = z.copy()
    a = act.value(z)
    d = act.derivative(z, a)
    assert a.shape == z.shape and d.shape == z.shape
    assert a.dtype == np.float64 and d.dtype == np.float64
    np.testing.assert_array_equal(z, before)


@pytest.mark.parametrize("name", NAMES)
def test_value_accepts_read_only_input(name: str) -> None:
    z = away_from_kink((4,), seed=0)
    z.flags.writeable = False
    act = fnn.ACTIVATIONS[name]
    a = act.value(z)
    act.derivative(z, a)


@pytest.mark.parametrize("name", NAMES)
def test_extreme_inputs_give_no_warning(name: str) -> None:
    act = fnn.ACTIVATIONS[name]
    z = np.array([-1e300, -1000.0, 1000.0, 1e300])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = act.value(z)
        d = act.derivative(z, a)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))


def test_sigmoid_saturates_to_exact_zero_and_one_without_warning() -> None:
    z = np.array([-1000.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = fnn.sigmoid(z)
        b = fnn.Sigmoid().value(z)
    np.testing.assert_array_equal(a, [0.0, 1.0])
    np.testing.assert_array_equal(b, [0.0, 1.0])
    np.testing.assert_array_equal(fnn.Sigmoid().derivative(z, b), [0.0, 0.0])


def test_sigmoid_known_values() -> None:
    z = np.array([-2.0, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(fnn.sigmoid(z), 1.0 / (1.0 + np.exp(-z)), rtol=1e-15, atol=1e-16)
    assert fnn.sigmoid(np.zeros(1))[0] == 0.5


def test_sigmoid_does_not_modify_its_input() -> None:
    # the implementation works in place on a temporary; the caller's z must survive
    z = np.array([-1.0, 0.0, 2.0])
    fnn.sigmoid(z)
    np.testing.assert_array_equal(z, [-1.0, 0.0, 2.0])


def test_derivative_contract_takes_the_output_not_the_input() -> None:
    """``Sigmoid().derivative(z, a)`` expects ``a = value(z)`` (the lab's ``x * (1 - x)``)."""
    sig = fnn.Sigmoid()
    z = np.array([-2.0, 0.5, 3.0])
    a = sig.value(z)
    exact = np.exp(-z) / (1.0 + np.exp(-z)) ** 2
    np.testing.assert_allclose(sig.derivative(z, a), exact, rtol=1e-14)
    # passing the pre-activation as ``a`` (the lab's classic slip) gives a wrong answer
    wrong = sig.derivative(z, z)
    np.testing.assert_allclose(wrong, z * (1.0 - z), rtol=1e-15)
    assert not np.allclose(wrong, exact)
    # tanh has the same contract
    tanh = fnn.Tanh()
    np.testing.assert_allclose(tanh.derivative(z, tanh.value(z)), 1.0 / np.cosh(z) ** 2, rtol=1e-13)
    assert not np.allclose(tanh.derivative(z, z), 1.0 / np.cosh(z) ** 2)


def test_relu_family_derivative_at_and_around_the_kink() -> None:
    z = np.array([-1.0, 0.0, 1.0])
    relu, leaky = fnn.ReLU(), fnn.LeakyReLU(alpha=0.2)
    np.testing.assert_array_equal(relu.value(z), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(relu.derivative(z, relu.value(z)), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(leaky.value(z), [-0.2, 0.0, 1.0])
    np.testing.assert_array_equal(leaky.derivative(z, leaky.value(z)), [0.2, 0.2, 1.0])


def test_identity_is_identity() -> None:
    z = away_from_kink((6,), seed=3)
    ident = fnn.Identity()
    np.testing.assert_array_equal(ident.value(z), z)
    np.testing.assert_array_equal(ident.derivative(z, z), np.ones(6))


def test_activations_are_frozen_records() -> None:
    leaky = fnn.LeakyReLU(alpha=0.1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        leaky.alpha = 0.3  # type: ignore[misc]
    assert fnn.LeakyReLU(alpha=0.1) == leaky
    assert fnn.LeakyReLU(alpha=0.2) != leaky


@pytest.mark.parametrize("alpha", [-0.1, 1.0, 2.0])
def test_leaky_relu_alpha_range(alpha: float) -> None:
    with pytest.raises(ValueError, match=r"alpha must be in \[0\.0, 1\.0\)"):
        fnn.LeakyReLU(alpha=alpha)


def test_get_activation_errors() -> None:
    with pytest.raises(ValueError, match=r"activation must be one of 'sigmoid', .*got 'softmax'"):
        fnn.get_activation("softmax")
    with pytest.raises(ValueError, match=r"hidden must be one of"):
        fnn.get_activation("Sigmoid", argument="hidden")
    with pytest.raises(TypeError, match=r"activation must be an activation name"):
        fnn.get_activation(3)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_sigmoid_property_bounded_and_symmetric(z: float) -> None:
    a = fnn.sigmoid(np.array([z, -z]))
    assert 0.0 <= a[0] <= 1.0
    assert abs(a[0] + a[1] - 1.0) <= 1e-15
