"""Tests of functional_nn.layers: the Dense params record and the DenseLayer kind."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from tests.helpers import FloatArray, assert_read_only, check_grad, check_tree_grad

# Every layer kind, as a factory (in, out, activation) -> Layer; add new kinds here.
LAYER_KINDS: dict[str, Callable[[int, int, fnn.Activation], fnn.Layer]] = {
    "dense": lambda i, o, act: fnn.DenseLayer(i, o, act),
}
ACT_NAMES = tuple(fnn.ACTIVATIONS)
INIT_STATS: dict[str, Callable[[int, int], tuple[float, float]]] = {
    # scheme: (expected mean, expected variance) of the weights of a (fan_in, fan_out) layer
    "normal": lambda fi, fo: (0.0, 1.0),
    "uniform": lambda fi, fo: (0.5, 1.0 / 12.0),
    "xavier": lambda fi, fo: (0.0, 2.0 / (fi + fo)),
    "he": lambda fi, fo: (0.0, 2.0 / fi),
}


def layer_input(shape: tuple[int, ...], seed: int) -> FloatArray:
    return np.random.default_rng(seed).standard_normal(shape)


# -------------------------------------------------------------- Dense record ---


def test_user_built_dense_works_in_a_network() -> None:
    w = np.array([[1.0, -1.0], [0.5, 2.0]])
    b = np.array([0.1, -0.2])
    w2 = np.array([[1.0], [1.0]])
    b2 = np.array([0.0])
    net = fnn.mlp((2, 2, 1), hidden="identity", output="identity")
    params: fnn.Params = (fnn.Dense(w=w, b=b), fnn.Dense(w=w2, b=b2))
    x = np.array([[1.0, 2.0], [0.0, -1.0]])
    expected = (x @ w + b) @ w2 + b2
    np.testing.assert_allclose(fnn.forward(net, params, x), expected, rtol=1e-15)
    value, grads = fnn.grad(net, params, x, [[1.0], [0.0]], loss="mse")
    assert grads[0].w.shape == (2, 2) and np.isfinite(value)


def test_dense_arrays_read_only_views_caller_keeps_writable_arrays() -> None:
    w = np.ones((2, 3))
    b = np.zeros(3)
    d = fnn.Dense(w=w, b=b)
    assert_read_only(d)
    assert w.flags.writeable and b.flags.writeable
    w[0, 0] = 2.0  # still the caller's own array


def test_dense_casts_to_float64() -> None:
    d = fnn.Dense(w=np.ones((2, 3), dtype=np.int32), b=np.zeros(3, dtype=np.float32))
    assert d.w.dtype == np.float64 and d.b.dtype == np.float64


def test_dense_is_frozen_and_compares_by_value() -> None:
    d = fnn.Dense(w=np.ones((2, 3)), b=np.zeros(3))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        d.w = np.zeros((2, 3))  # type: ignore[misc]
    assert d == fnn.Dense(w=np.ones((2, 3)), b=np.zeros(3))
    assert d != fnn.Dense(w=np.ones((2, 3)), b=np.ones(3))
    assert d != fnn.Dense(w=np.ones((1, 2, 3)), b=np.zeros((1, 3)))
    e = attrs.evolve(d, b=np.ones(3))
    assert e.b.tolist() == [1.0, 1.0, 1.0] and d.b.tolist() == [0.0, 0.0, 0.0]


def test_dense_stacked_shapes_accepted() -> None:
    d = fnn.Dense(w=np.ones((4, 2, 3)), b=np.zeros((4, 3)))
    assert d.w.shape == (4, 2, 3)


@pytest.mark.parametrize(
    ("w_shape", "b_shape", "match"),
    [
        ((3,), (3,), r"Dense\.w must have shape \(\.\.\., in_features, out_features\), got shape \(3,\)"),
        ((2, 3), (2,), r"Dense\.b must have shape \(3,\) to match Dense\.w of shape \(2, 3\), got shape \(2,\)"),
        ((2, 3), (1, 3), r"Dense\.b must have shape \(3,\)"),
        ((2, 3), (), r"Dense\.b must have shape \(3,\)"),
        ((4, 2, 3), (3,), r"Dense\.b must have shape \(4, 3\)"),
        ((4, 2, 3), (5, 3), r"Dense\.b must have shape \(4, 3\)"),
    ],
)
def test_dense_validators_reject_mismatched_shapes(
    w_shape: tuple[int, ...], b_shape: tuple[int, ...], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        fnn.Dense(w=np.zeros(w_shape), b=np.zeros(b_shape))


def test_dense_validators_reject_non_finite() -> None:
    with pytest.raises(ValueError, match=r"Dense\.w must be finite"):
        fnn.Dense(w=np.array([[np.nan]]), b=np.zeros(1))
    with pytest.raises(ValueError, match=r"Dense\.b must be finite"):
        fnn.Dense(w=np.zeros((1, 1)), b=np.array([np.inf]))


def test_dense_evolve_revalidates() -> None:
    d = fnn.Dense(w=np.ones((2, 3)), b=np.zeros(3))
    with pytest.raises(ValueError, match=r"Dense\.b must have shape"):
        attrs.evolve(d, b=np.zeros(4))


# -------------------------------------------------------------- DenseLayer ---


@pytest.mark.parametrize(("fan_in", "fan_out"), [(1, 1), (2, 3), (5, 4)])
@pytest.mark.parametrize("act_name", ACT_NAMES)
@pytest.mark.parametrize("kind", tuple(LAYER_KINDS))
def test_layer_backward_matches_central_differences(kind: str, act_name: str, fan_in: int, fan_out: int) -> None:
    """L = sum(r * layer(x)); backward(dz = r * f'(z)) must give dL/dw, dL/db and dL/dx."""
    act = fnn.ACTIVATIONS[act_name]
    layer = LAYER_KINDS[kind](fan_in, fan_out, act)
    params = layer.init(np.random.default_rng(0), "normal")
    params = attrs.evolve(params, b=np.random.default_rng(1).standard_normal(params.b.shape))
    x = layer_input((6, fan_in), seed=2)
    r = layer_input((6, fan_out), seed=3)

    a, cache = layer.forward(params, x)
    _, z, a_cached = cache
    assert a.shape == (6, fan_out)
    assert np.array_equal(a, a_cached)
    # stay away from the ReLU kink: no pre-activation within 1e-3 of 0
    assert np.min(np.abs(z)) > 1e-3
    dz = r * act.derivative(z, a)
    grads, dx = layer.backward(params, cache, dz)
    assert dx is not None

    def loss_of_params(p: fnn.LayerParams) -> float:
        return float(np.sum(r * layer.forward(p, x)[0]))

    def loss_of_x(xx: FloatArray) -> float:
        return float(np.sum(r * layer.forward(params, xx)[0]))

    check_tree_grad(loss_of_params, params, grads, seed=4)
    check_grad(loss_of_x, x, dx, seed=5)


def test_layer_backward_without_input_grad() -> None:
    layer = fnn.DenseLayer(3, 2, fnn.Tanh())
    params = layer.init(np.random.default_rng(0), "normal")
    x = layer_input((4, 3), seed=1)
    _, cache = layer.forward(params, x)
    grads_a, dx = layer.backward(params, cache, np.ones((4, 2)), input_grad=False)
    grads_b, dx_b = layer.backward(params, cache, np.ones((4, 2)))
    assert dx is None and dx_b is not None
    assert grads_a == grads_b


def test_layer_forward_stacked_equals_separate() -> None:
    layer = fnn.DenseLayer(3, 2, fnn.Sigmoid())
    members = [layer.init(np.random.default_rng(s), "normal") for s in range(3)]
    stacked = fnn.Dense(w=np.stack([m.w for m in members]), b=np.stack([m.b for m in members]) + 0.5)
    x = layer_input((5, 3), seed=9)
    a, _ = layer.forward(stacked, x)
    assert a.shape == (3, 5, 2)
    for k, m in enumerate(members):
        single = attrs.evolve(m, b=m.b + 0.5)
        np.testing.assert_allclose(a[k], layer.forward(single, x)[0], rtol=1e-12)


def test_layer_forward_leaves_inputs_unchanged() -> None:
    layer = fnn.DenseLayer(2, 3, fnn.ReLU())
    params = layer.init(np.random.default_rng(0), "he")
    x = layer_input((4, 2), seed=0)
    before = x.copy()
    a, cache = layer.forward(params, x)
    layer.backward(params, cache, np.ones_like(a))
    np.testing.assert_array_equal(x, before)


def test_dense_layer_validation() -> None:
    with pytest.raises(ValueError, match="in_features must be an integer >= 1, got 0"):
        fnn.DenseLayer(0, 3)
    with pytest.raises(ValueError, match="out_features must be an integer >= 1, got -1"):
        fnn.DenseLayer(2, -1)
    with pytest.raises(TypeError, match="in_features must be an integer"):
        fnn.DenseLayer(2.0, 3)  # type: ignore[arg-type]


def test_dense_layer_check_params() -> None:
    layer = fnn.DenseLayer(2, 3)
    layer.check_params(fnn.Dense(w=np.zeros((2, 3)), b=np.zeros(3)), "p")
    with pytest.raises(ValueError, match=r"p\.w must have shape \(\.\.\., 2, 3\), got shape \(3, 2\)"):
        layer.check_params(fnn.Dense(w=np.zeros((3, 2)), b=np.zeros(2)), "p")
    with pytest.raises(TypeError, match="p must be a Dense record, got tuple"):
        layer.check_params((np.zeros((2, 3)), np.zeros(3)), "p")


# -------------------------------------------------------------- initializers ---


def test_init_stats_cover_the_registry() -> None:
    assert set(INIT_STATS) == set(fnn.INITIALIZERS)


@pytest.mark.parametrize("scheme", fnn.INITIALIZERS)
def test_initializer_statistics(scheme: str) -> None:
    fan_in, fan_out = 200, 300
    net = fnn.mlp((fan_in, fan_out))
    (params,) = fnn.init(net, seed=0, scheme=scheme)
    assert params.w.shape == (fan_in, fan_out) and params.b.shape == (fan_out,)
    np.testing.assert_array_equal(params.b, 0.0)
    mean, var = INIT_STATS[scheme](fan_in, fan_out)
    n = params.w.size
    # mean within 5 standard errors; variance within 5 %
    assert abs(float(np.mean(params.w)) - mean) < 5 * np.sqrt(var / n)
    assert float(np.var(params.w)) == pytest.approx(var, rel=0.05)
    assert_read_only(params)


def test_normal_init_is_standard_normal() -> None:
    (params,) = fnn.init(fnn.mlp((300, 400)), seed=1)
    w = params.w.ravel()
    assert abs(float(np.mean(w))) < 0.01
    assert float(np.std(w)) == pytest.approx(1.0, rel=0.01)
    # Gaussian shape: about 68.3 % within one standard deviation, a few beyond 3
    assert float(np.mean(np.abs(w) < 1.0)) == pytest.approx(0.6827, abs=0.01)
    assert 0 < int(np.sum(np.abs(w) > 3.0)) < 2 * 0.0027 * w.size


@pytest.mark.parametrize("scheme", ["uniform", "xavier"])
def test_uniform_initializers_respect_their_bounds(scheme: str) -> None:
    (params,) = fnn.init(fnn.mlp((20, 30)), seed=0, scheme=scheme)
    low, high = (0.0, 1.0) if scheme == "uniform" else (-np.sqrt(6 / 50), np.sqrt(6 / 50))
    assert np.all(params.w >= low) and np.all(params.w < high)


def test_layer_init_bad_scheme() -> None:
    with pytest.raises(ValueError, match=r"must be one of 'normal', 'uniform', 'xavier', 'he'; got 'glorot'"):
        fnn.DenseLayer(2, 3).init(np.random.default_rng(0), "glorot")
