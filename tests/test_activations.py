"""Tests of functional_nn.activations, parametrized over the ACTIVATIONS registry."""

from __future__ import annotations

import decimal
import warnings
from decimal import Decimal
from typing import Protocol, runtime_checkable

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from tests.helpers import FloatArray, assert_read_only_registry, check_grad

NAMES = tuple(fnn.ACTIVATIONS)
# the registry, plus records with other settings than the registry's defaults
CASES: dict[str, fnn.Activation] = {**fnn.ACTIVATIONS, "leaky_relu_0.3": fnn.LeakyReLU(alpha=0.3)}
SHAPES = [(5,), (4, 3), (2, 3, 4)]


@runtime_checkable
class Elementwise(fnn.Activation, Protocol):
    """An activation whose chain rule is ``derivative(z, a) * da``."""

    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray: ...


ELEMENTWISE = tuple(name for name, act in CASES.items() if isinstance(act, Elementwise))


def elementwise(name: str) -> Elementwise:
    act = CASES[name]
    assert isinstance(act, Elementwise)
    return act


def away_from_kink(shape: tuple[int, ...], seed: int) -> FloatArray:
    """Samples in [-3, -0.1] u [0.1, 3]: no activation has a kink there."""
    rng = np.random.default_rng(seed)
    magnitude = rng.uniform(0.1, 3.0, size=shape)
    return np.where(rng.random(shape) < 0.5, -magnitude, magnitude)


# ------------------------------------------------------------- the registry ---


def test_registry_names_match_records() -> None:
    assert {"sigmoid", "tanh", "relu", "leaky_relu", "identity", "softmax"} <= set(NAMES)
    for name, act in fnn.ACTIVATIONS.items():
        assert act.name == name
        assert isinstance(act, fnn.Activation)
        assert fnn.get_activation(name) is act
        assert fnn.get_activation(act) is act


def test_registry_is_read_only() -> None:
    assert_read_only_registry(fnn.ACTIVATIONS)


def test_read_only_registry_check_fails_a_dict() -> None:
    """The registry check is not vacuous."""
    with pytest.raises(AssertionError, match="the registry allowed this mutation: replace a name"):
        assert_read_only_registry(dict(fnn.ACTIVATIONS))


def test_every_built_in_activation_but_softmax_is_elementwise() -> None:
    """So the derivative tests below cover the whole registry but softmax, whose chain rule (over a
    sample's outputs, the Jacobian-vector product) the central differences check like every other."""
    assert set(NAMES) - set(ELEMENTWISE) == {"softmax"}
    assert not isinstance(fnn.ACTIVATIONS["softmax"], Elementwise)
    assert not hasattr(fnn.Softmax(), "derivative")


# ------------------------------------------------------------ the chain rule ---


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", tuple(CASES))
def test_backward_matches_central_differences(name: str, shape: tuple[int, ...]) -> None:
    """L = sum(r * f(z)) for a random cotangent r: backward(z, f(z), r) must be dL/dz."""
    act = CASES[name]
    z = away_from_kink(shape, seed=len(shape))
    r = np.random.default_rng(1).standard_normal(shape)

    def f(zz: FloatArray) -> float:
        return float(np.sum(r * act.value(zz)))

    dz = act.backward(z, act.value(z), r)
    assert dz.shape == z.shape and dz.dtype == np.float64
    check_grad(f, z, dz, seed=2)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_backward_is_derivative_times_da(name: str) -> None:
    act = elementwise(name)
    z = away_from_kink((4, 5), seed=7)
    a = act.value(z)
    da = np.random.default_rng(8).standard_normal(z.shape)
    np.testing.assert_array_equal(act.backward(z, a, da), act.derivative(z, a) * da)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_elementwise_central_differences(name: str) -> None:
    act = elementwise(name)
    z = away_from_kink((50,), seed=5)
    eps = 1e-5
    numeric = (act.value(z + eps) - act.value(z - eps)) / (2 * eps)
    np.testing.assert_allclose(act.derivative(z, act.value(z)), numeric, rtol=1e-7, atol=1e-10)


def test_derivative_contract_takes_the_output_not_the_input() -> None:
    """``Sigmoid().derivative(z, a)`` expects ``a = value(z)`` (the lab's ``x * (1 - x)``)."""
    sig = fnn.Sigmoid()
    z = np.array([-2.0, 0.5, 3.0])
    a = sig.value(z)
    exact = np.exp(-z) / (1.0 + np.exp(-z)) ** 2
    np.testing.assert_allclose(sig.derivative(z, a), exact, rtol=1e-14)
    np.testing.assert_allclose(sig.backward(z, a, np.full(3, 2.0)), 2.0 * exact, rtol=1e-14)
    # passing the pre-activation as ``a`` (the lab's classic slip) gives a wrong answer
    wrong = sig.derivative(z, z)
    np.testing.assert_allclose(wrong, z * (1.0 - z), rtol=1e-15)
    assert not np.allclose(wrong, exact)
    # tanh has the same contract
    tanh = fnn.Tanh()
    np.testing.assert_allclose(tanh.derivative(z, tanh.value(z)), 1.0 / np.cosh(z) ** 2, rtol=1e-13)
    assert not np.allclose(tanh.derivative(z, z), 1.0 / np.cosh(z) ** 2)


def test_relu_family_at_and_around_the_kink() -> None:
    """The derivative at the kink is taken as 0 (ReLU) or alpha (leaky): from z, not from a."""
    z = np.array([-1.0, 0.0, 1.0])
    da = np.array([5.0, 7.0, 11.0])
    relu, leaky = fnn.ReLU(), fnn.LeakyReLU(alpha=0.2)
    np.testing.assert_array_equal(relu.value(z), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(relu.derivative(z, relu.value(z)), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(relu.backward(z, relu.value(z), da), [0.0, 0.0, 11.0])
    np.testing.assert_array_equal(leaky.value(z), [-0.2, 0.0, 1.0])
    np.testing.assert_array_equal(leaky.derivative(z, leaky.value(z)), [0.2, 0.2, 1.0])
    np.testing.assert_allclose(leaky.backward(z, leaky.value(z), da), [0.2 * 5.0, 0.2 * 7.0, 11.0], rtol=1e-15)


def test_identity_is_identity() -> None:
    z = away_from_kink((6,), seed=3)
    da = away_from_kink((6,), seed=4)
    ident = fnn.Identity()
    np.testing.assert_array_equal(ident.value(z), z)
    np.testing.assert_array_equal(ident.derivative(z, z), np.ones(6))
    np.testing.assert_array_equal(ident.backward(z, z, da), da)


# ------------------------------------------------------------------ purity ---


@pytest.mark.parametrize("name", tuple(CASES))
def test_value_and_backward_keep_shape_dtype_and_leave_inputs_unchanged(name: str) -> None:
    act = CASES[name]
    z = away_from_kink((3, 4), seed=0)
    da = away_from_kink((3, 4), seed=1)
    z_before, da_before = z.copy(), da.copy()
    a = act.value(z)
    a_before = a.copy()
    dz = act.backward(z, a, da)
    assert a.shape == z.shape and dz.shape == z.shape
    assert a.dtype == np.float64 and dz.dtype == np.float64
    np.testing.assert_array_equal(z, z_before)
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(da, da_before)


@pytest.mark.parametrize("name", tuple(CASES))
def test_read_only_inputs_are_accepted(name: str) -> None:
    act = CASES[name]
    z, da = away_from_kink((4,), seed=0), away_from_kink((4,), seed=1)
    z.flags.writeable = False
    da.flags.writeable = False
    a = act.value(z)
    a.flags.writeable = False
    dz = act.backward(z, a, da)
    assert np.all(np.isfinite(dz))


@pytest.mark.parametrize("name", tuple(CASES))
def test_extreme_inputs_give_no_warning(name: str) -> None:
    act = CASES[name]
    z = np.array([-1e300, -1000.0, -745.0, 745.0, 1000.0, 1e300])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = act.value(z)
        dz = act.backward(z, a, np.ones_like(z))
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(dz))


# ------------------------------------------------------------------ sigmoid ---

_CONTEXT = decimal.Context(prec=50, Emin=-100_000, Emax=100_000)


def sigmoid_exact(z: float) -> Decimal:
    """``1 / (1 + exp(-z))`` to 50 significant digits."""
    return _CONTEXT.divide(Decimal(1), _CONTEXT.add(Decimal(1), _CONTEXT.exp(-Decimal(z))))


def ulps_off(got: float, exact: Decimal) -> float:
    """How many units in the last place of the float64 nearest ``exact`` separate ``got`` from it."""
    spacing = float(np.spacing(float(exact)))  # 2**-1074 for subnormals: absolute there
    return float(abs(Decimal(got) - exact) / Decimal(spacing))


SIGMOID_POINTS = sorted(
    {
        -745.0,
        -744.4,
        -710.0,
        -700.0,
        -100.0,
        -40.0,
        -37.0,
        -20.8803602354127,
        -1.0,
        -1e-10,
        -5e-324,
        0.0,
        1e-300,
        0.5,
        18.0,
        37.0,
        40.0,
        700.0,
        745.0,
        *np.linspace(-745.0, 745.0, 301).tolist(),
        *np.linspace(-45.0, 45.0, 181).tolist(),
    }
)


def test_sigmoid_is_accurate_to_a_few_ulp_over_its_whole_range() -> None:
    """Within 4 ulp of a 50-digit reference at every point, including far in the left tail."""
    got = fnn.sigmoid(np.array(SIGMOID_POINTS))
    errors = [ulps_off(float(g), sigmoid_exact(z)) for z, g in zip(SIGMOID_POINTS, got, strict=True)]
    worst = int(np.argmax(errors))
    assert errors[worst] <= 4.0, f"sigmoid({SIGMOID_POINTS[worst]!r}) is {errors[worst]:.2f} ulp off"


@pytest.mark.parametrize(
    ("z", "expected"),
    [
        (-40.0, 4.248354255291589e-18),  # 0.5 * (1 + tanh(z / 2)) gives 0 here
        (-700.0, 9.85967654375977e-305),
        (-745.0, 5e-324),  # the smallest subnormal: exp(-745) rounds up to it
        (745.0, 1.0),
        (0.0, 0.5),
    ],
)
def test_sigmoid_far_in_the_tails(z: float, expected: float) -> None:
    got = float(fnn.sigmoid(z))
    assert got == pytest.approx(expected, rel=4 * 2.0**-52, abs=0.0)
    assert ulps_off(got, sigmoid_exact(z)) <= 4.0


def test_sigmoid_accepts_python_floats_and_0d_arrays() -> None:
    half = fnn.sigmoid(0.5)  # a 0-d result (NumPy hands back a float64 scalar for it)
    assert np.shape(half) == () and np.asarray(half).dtype == np.float64
    assert ulps_off(float(half), sigmoid_exact(0.5)) <= 4.0
    assert float(fnn.sigmoid(0)) == 0.5
    assert float(fnn.sigmoid(np.float64(-40.0))) == float(fnn.sigmoid(-40.0))
    assert fnn.sigmoid(np.array(2.0)).shape == ()
    np.testing.assert_array_equal(fnn.sigmoid([-1.0, 1.0]), fnn.sigmoid(np.array([-1.0, 1.0])))
    assert float(fnn.Sigmoid().value(np.array(0.5))) == float(half)


def test_sigmoid_saturates_to_exact_zero_and_one_without_warning() -> None:
    z = np.array([-1000.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = fnn.sigmoid(z)
        b = fnn.Sigmoid().value(z)
    np.testing.assert_array_equal(a, [0.0, 1.0])
    np.testing.assert_array_equal(b, [0.0, 1.0])
    np.testing.assert_array_equal(fnn.Sigmoid().derivative(z, b), [0.0, 0.0])


def test_sigmoid_does_not_modify_its_input() -> None:
    z = np.array([-1.0, 0.0, 2.0])
    fnn.sigmoid(z)
    np.testing.assert_array_equal(z, [-1.0, 0.0, 2.0])


# ------------------------------------------------------- records and names ---


def test_activations_are_frozen_records() -> None:
    leaky = fnn.LeakyReLU(alpha=0.1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        leaky.alpha = 0.3  # type: ignore[misc]
    assert fnn.LeakyReLU(alpha=0.1) == leaky
    assert fnn.LeakyReLU(alpha=0.2) != leaky


@pytest.mark.parametrize("alpha", [-0.1, 1.0, 2.0])
def test_leaky_relu_alpha_range(alpha: float) -> None:
    with pytest.raises(ValueError, match=rf"alpha must be in \[0\.0, 1\.0\), got {alpha}"):
        fnn.LeakyReLU(alpha=alpha)


def test_get_activation_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"activation must be one of 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'identity', 'softmax'; got 'softplus'",
    ):
        fnn.get_activation("softplus")
    with pytest.raises(ValueError, match=r"hidden must be one of"):
        fnn.get_activation("Sigmoid", argument="hidden")
    with pytest.raises(TypeError, match=r"activation must be an activation name"):
        fnn.get_activation(3)  # type: ignore[arg-type]


# ---------------------------------------------------------------- properties ---


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_sigmoid_property_bounded_and_symmetric(z: float) -> None:
    a = fnn.sigmoid(np.array([z, -z]))
    assert 0.0 <= a[0] <= 1.0
    assert abs(a[0] + a[1] - 1.0) <= 1e-15


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=-745.0, max_value=745.0, allow_nan=False))
def test_sigmoid_property_accurate(z: float) -> None:
    assert ulps_off(float(fnn.sigmoid(z)), sigmoid_exact(z)) <= 4.0
