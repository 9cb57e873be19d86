"""Tests of functional_nn.layers: the Dense params record and the DenseLayer kind."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn.layers import Cache
from functional_nn.tree import tree_map
from tests.helpers import (
    FloatArray,
    assert_read_only,
    assert_read_only_registry,
    assert_trees_close,
    assert_trees_equal,
    assert_unchanged,
    check_grad,
    check_tree_grad,
    snapshot,
)
from tests.pairing import min_outputs

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
    params = (fnn.Dense(w=w, b=b), fnn.Dense(w=w2, b=b2))
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


def random_params(layer: fnn.Layer, seed: int) -> fnn.Dense:
    """Params with non-zero biases, so their gradient check is not trivial."""
    params = layer.init(np.random.default_rng(seed), "normal")
    assert isinstance(params, fnn.Dense)
    return attrs.evolve(params, b=np.random.default_rng(seed + 1).standard_normal(params.b.shape))


# every activation at every fan, but a softmax over one output (the constant 1: see tests/pairing.py)
FANS = [
    pytest.param(act_name, fan_in, fan_out, id=f"{act_name}-{fan_in}-{fan_out}")
    for act_name in ACT_NAMES
    for fan_in, fan_out in [(1, 1), (2, 3), (5, 4)]
    if fan_out >= min_outputs(fnn.ACTIVATIONS[act_name])
]


@pytest.mark.parametrize(("act_name", "fan_in", "fan_out"), FANS)
@pytest.mark.parametrize("kind", tuple(LAYER_KINDS))
def test_layer_backward_matches_central_differences(kind: str, act_name: str, fan_in: int, fan_out: int) -> None:
    """L = sum(r * layer(x)); backward(da = r) must give dL/dw, dL/db and dL/dx, the activation included."""
    act = fnn.ACTIVATIONS[act_name]
    layer = LAYER_KINDS[kind](fan_in, fan_out, act)
    params = random_params(layer, seed=0)
    x = 3.0 * layer_input((8, fan_in), seed=2)
    r = layer_input((8, fan_out), seed=3)

    a, cache = layer.forward(params, x)
    assert a.shape == (8, fan_out)
    # both sides of the ReLU kink, but no pre-activation within 1e-3 of it
    assert np.any(cache.z < 0.0) and np.any(cache.z > 0.0)
    assert np.min(np.abs(cache.z)) > 1e-3
    grads, dx = layer.backward(params, cache, r)

    def loss_of_params(p: fnn.Dense) -> float:
        return float(np.sum(r * layer.forward(p, x)[0]))

    def loss_of_x(xx: FloatArray) -> float:
        return float(np.sum(r * layer.forward(params, xx)[0]))

    check_tree_grad(loss_of_params, params, grads, seed=4)
    check_grad(loss_of_x, x, dx, seed=5)


@pytest.mark.parametrize("act_name", ACT_NAMES)
def test_backward_wrt_z_skips_the_activation(act_name: str) -> None:
    """``wrt_z=True`` takes dL/dz: the same result as dL/da run through the activation's chain rule."""
    act = fnn.ACTIVATIONS[act_name]
    layer = fnn.DenseLayer(3, 2, act)
    params = random_params(layer, seed=0)
    _, cache = layer.forward(params, 3.0 * layer_input((12, 3), seed=1))
    assert np.any(cache.z < 0.0) and np.any(cache.z > 0.0)  # both sides of the ReLU kink
    da = layer_input((12, 2), seed=2)
    dz = act.backward(cache.z, cache.a, da)
    assert_trees_equal(layer.backward(params, cache, dz, wrt_z=True), layer.backward(params, cache, da))
    grads, dx = layer.backward(params, cache, dz, wrt_z=True)  # the formulas, from dz
    np.testing.assert_allclose(grads.w, cache.x.T @ dz, rtol=1e-14)
    np.testing.assert_allclose(grads.b, dz.sum(axis=0), rtol=1e-14)
    np.testing.assert_allclose(dx, dz @ params.w.T, rtol=1e-14)
    if act_name not in ("identity", "relu"):  # (their f' is 0 or 1: applying it twice changes nothing)
        # wrt_z is not ignored: without it dz would go through f' once more
        assert not np.array_equal(layer.backward(params, cache, dz)[0].w, grads.w)


def test_forward_cache_holds_input_pre_activation_and_output() -> None:
    layer = fnn.DenseLayer(3, 2, fnn.Tanh())
    params = random_params(layer, seed=0)
    x = layer_input((5, 3), seed=1)
    a, cache = layer.forward(params, x)
    assert isinstance(cache, Cache)
    np.testing.assert_array_equal(cache.x, x)
    np.testing.assert_allclose(cache.z, x @ params.w + params.b, rtol=1e-14)
    np.testing.assert_array_equal(cache.a, a)
    np.testing.assert_array_equal(a, np.tanh(cache.z))
    assert cache.extra == ()


def test_layer_forward_and_backward_stacked_equal_separate() -> None:
    layer = fnn.DenseLayer(3, 2, fnn.Sigmoid())
    members = [random_params(layer, seed=s) for s in range(3)]
    stacked = fnn.Dense(w=np.stack([m.w for m in members]), b=np.stack([m.b for m in members]))
    assert layer.model_shape(stacked) == (3,) and layer.model_shape(members[0]) == ()
    x = layer_input((5, 3), seed=9)
    da = layer_input((3, 5, 2), seed=10)
    a, cache = layer.forward(stacked, x)
    grads, dx = layer.backward(stacked, cache, da)
    assert a.shape == (3, 5, 2) and dx.shape == (3, 5, 3) and grads.w.shape == (3, 3, 2)
    for k, m in enumerate(members):
        a_k, cache_k = layer.forward(m, x)
        g_k, dx_k = layer.backward(m, cache_k, da[k])
        np.testing.assert_allclose(a[k], a_k, rtol=1e-12)
        np.testing.assert_allclose(dx[k], dx_k, rtol=1e-12)
        assert_trees_close(tree_map(lambda t, k=k: t[k], grads), g_k, rtol=1e-12)


def test_layer_forward_and_backward_are_pure() -> None:
    layer = fnn.DenseLayer(2, 3, fnn.ReLU())
    params = layer.init(np.random.default_rng(0), "he")
    x = layer_input((4, 2), seed=0)
    da = layer_input((4, 3), seed=1)
    x_before, da_before, params_before = x.copy(), da.copy(), snapshot(params)
    _, cache = layer.forward(params, x)
    cache_before = snapshot(tuple(cache))
    grads, _ = layer.backward(params, cache, da)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(da, da_before)
    assert_unchanged(params, params_before)
    assert_unchanged(tuple(cache), cache_before)
    assert x.flags.writeable and da.flags.writeable
    assert_read_only(params)
    assert_read_only(grads)


def test_dense_layer_is_a_layer_and_a_frozen_record() -> None:
    layer = fnn.DenseLayer(2, 3, "tanh")
    assert isinstance(layer, fnn.Layer)
    assert layer.activation == fnn.Tanh()
    assert layer == fnn.DenseLayer(2, 3, fnn.Tanh())
    assert fnn.DenseLayer(2, 3).activation == fnn.Identity()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        layer.in_features = 4  # type: ignore[misc]


@pytest.mark.parametrize("make", [np.int8, np.int32, np.int64, np.uint16])
def test_numpy_integer_sizes_are_stored_as_python_ints(make: Callable[[int], object]) -> None:
    layer = fnn.DenseLayer(make(2), make(3))
    assert type(layer.in_features) is int and type(layer.out_features) is int
    assert layer == fnn.DenseLayer(2, 3)
    net = fnn.mlp((make(2), make(4), make(1)))  # type: ignore[arg-type]
    assert net == fnn.mlp((2, 4, 1))
    assert all(type(lay.in_features) is int and type(lay.out_features) is int for lay in net.layers)


def test_dense_layer_validation() -> None:
    with pytest.raises(ValueError, match="in_features must be an integer >= 1, got 0"):
        fnn.DenseLayer(0, 3)
    with pytest.raises(ValueError, match="out_features must be an integer >= 1, got -1"):
        fnn.DenseLayer(2, -1)
    with pytest.raises(TypeError, match=r"in_features must be an integer, got 2\.0 \(float\)"):
        fnn.DenseLayer(2.0, 3)
    with pytest.raises(TypeError, match=r"out_features must be an integer, got True \(bool\)"):
        fnn.DenseLayer(2, True)
    with pytest.raises(ValueError, match=r"activation must be one of 'sigmoid'.*got 'swish'"):
        fnn.DenseLayer(2, 3, "swish")


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


def test_initializers_registry_is_read_only() -> None:
    assert_read_only_registry(fnn.INITIALIZERS)


@pytest.mark.parametrize("scheme", tuple(fnn.INITIALIZERS))
def test_initializer_called_directly(scheme: str) -> None:
    """An initializer is a function (rng, shape, fan_in, fan_out) -> weights; the same draws give the same weights."""
    initializer = fnn.INITIALIZERS[scheme]
    w = initializer(np.random.default_rng(0), (4, 2, 3), 2, 3)
    assert w.shape == (4, 2, 3) and w.dtype == np.float64 and np.all(np.isfinite(w))
    np.testing.assert_array_equal(w, initializer(np.random.default_rng(0), (4, 2, 3), 2, 3))
    assert not np.array_equal(w, initializer(np.random.default_rng(1), (4, 2, 3), 2, 3))
    # a layer's init is its initializer on (in_features, out_features), biases zero
    params = fnn.DenseLayer(2, 3).init(np.random.default_rng(5), scheme)
    np.testing.assert_array_equal(params.w, initializer(np.random.default_rng(5), (2, 3), 2, 3))
    np.testing.assert_array_equal(params.b, np.zeros(3))


@pytest.mark.parametrize("scheme", tuple(fnn.INITIALIZERS))
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
    with pytest.raises(ValueError, match=r"scheme must be one of 'normal', 'uniform', 'xavier', 'he'; got 'glorot'"):
        fnn.DenseLayer(2, 3).init(np.random.default_rng(0), "glorot")
