"""Tests of functional_nn.conv: Conv2D, max / average pooling and flatten layers.

Every image layer kind and option is in IMAGE_LAYERS; the gradient checks,
the stacking checks and the purity checks are parametrized over it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, cast

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import conv
from functional_nn import io as fio
from tests.helpers import (
    FloatArray,
    assert_read_only,
    assert_trees_close,
    assert_trees_equal,
    assert_unchanged,
    binary_labels,
    check_grad,
    check_tree_grad,
    snapshot,
    structure,
)

IN_SHAPE = (2, 5, 6)  # not square, so a swap of height and width shows


class AnyImageLayer(Protocol):
    """What the registry-driven tests use of a layer: its params type left open."""

    @property
    def activation(self) -> fnn.Activation: ...

    @property
    def in_features(self) -> int: ...

    @property
    def out_features(self) -> int: ...

    def init(self, rng: np.random.Generator, scheme: str) -> Any: ...

    def forward(self, params: Any, x: FloatArray) -> tuple[FloatArray, tuple[FloatArray, FloatArray, FloatArray]]: ...

    def backward(
        self, params: Any, cache: tuple[FloatArray, FloatArray, FloatArray], dz: FloatArray, *, input_grad: bool = True
    ) -> tuple[Any, FloatArray | None]: ...

    def model_shape(self, params: Any) -> tuple[int, ...]: ...


# Every image layer kind and option: name -> factory(activation) -> layer.  Add new ones here.
IMAGE_LAYERS: dict[str, Callable[[fnn.Activation], fnn.ImageLayer]] = {
    "conv_k3_s1_p0": lambda act: fnn.Conv2DLayer(IN_SHAPE, 3, 3, activation=act),
    "conv_k3_s1_p1": lambda act: fnn.Conv2DLayer(IN_SHAPE, 3, 3, padding=1, activation=act),
    "conv_k3_s2_p0": lambda act: fnn.Conv2DLayer(IN_SHAPE, 3, 3, stride=2, activation=act),
    "conv_k3_s2_p1": lambda act: fnn.Conv2DLayer(IN_SHAPE, 3, 3, stride=2, padding=1, activation=act),
    "conv_k2_s1_p0": lambda act: fnn.Conv2DLayer(IN_SHAPE, 2, 2, activation=act),
    "conv_k1_s1_p0": lambda act: fnn.Conv2DLayer(IN_SHAPE, 4, 1, activation=act),
    "conv_k5_s3_p2": lambda act: fnn.Conv2DLayer(IN_SHAPE, 2, 5, stride=3, padding=2, activation=act),
    "conv_k5_s1_p2": lambda act: fnn.Conv2DLayer(IN_SHAPE, 2, 5, padding=2, activation=act),  # "same": runs per image
    "maxpool_k2": lambda act: fnn.MaxPool2DLayer(IN_SHAPE, 2),
    "maxpool_k2_s1": lambda act: fnn.MaxPool2DLayer(IN_SHAPE, 2, stride=1),
    "maxpool_k3_s2": lambda act: fnn.MaxPool2DLayer(IN_SHAPE, 3, stride=2),
    "avgpool_k2": lambda act: fnn.AvgPool2DLayer(IN_SHAPE, 2),
    "avgpool_k2_s1": lambda act: fnn.AvgPool2DLayer(IN_SHAPE, 2, stride=1),
    "avgpool_k3_s2": lambda act: fnn.AvgPool2DLayer(IN_SHAPE, 3, stride=2),
    "flatten": lambda act: fnn.FlattenLayer(IN_SHAPE),
}
CONV_KINDS = tuple(k for k in IMAGE_LAYERS if k.startswith("conv"))
ACT_NAMES = tuple(fnn.ACTIVATIONS)


def make(kind: str, act: str = "identity") -> AnyImageLayer:
    layer: AnyImageLayer = IMAGE_LAYERS[kind](fnn.ACTIVATIONS[act])
    return layer


def layer_input(n: int, seed: int, features: int = int(np.prod(IN_SHAPE)), lead: tuple[int, ...] = ()) -> FloatArray:
    """Inputs whose values are distinct by at least 0.05 within a sample: no ties in max pooling."""
    rng = np.random.default_rng(seed)
    steps = np.stack([rng.permutation(features) for _ in range(int(np.prod((*lead, n))))])
    x = (steps - features / 2) * 0.05 + rng.uniform(-0.01, 0.01, steps.shape)
    return x.reshape((*lead, n, features))


def random_params(layer: AnyImageLayer, seed: int) -> Any:
    """Params with non-zero biases, so the bias gradient check is not trivial."""
    p = layer.init(np.random.default_rng(seed), "he")
    if isinstance(p, fnn.Conv2D):
        p = attrs.evolve(p, b=np.random.default_rng(seed + 1).standard_normal(p.b.shape))
    return p


def naive_conv(
    x: FloatArray, w: FloatArray, b: FloatArray, in_shape: tuple[int, int, int], stride: int, padding: int
) -> FloatArray:
    """Reference: the definition of cross-correlation, with Python loops (tests only)."""
    n = x.shape[0]
    c, h, wd = in_shape
    o, _, k, _ = w.shape
    img = np.pad(x.reshape(n, c, h, wd), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho = (h + 2 * padding - k) // stride + 1
    wo = (wd + 2 * padding - k) // stride + 1
    out = np.zeros((n, o, ho, wo))
    for s in range(n):
        for f in range(o):
            for y in range(ho):
                for xx in range(wo):
                    patch = img[s, :, stride * y : stride * y + k, stride * xx : stride * xx + k]
                    out[s, f, y, xx] = b[f] + np.sum(w[f] * patch)
    return out.reshape(n, -1)


def naive_pool(
    x: FloatArray, in_shape: tuple[int, int, int], k: int, stride: int, reduce: Callable[[FloatArray], float]
) -> FloatArray:
    n = x.shape[0]
    c, h, wd = in_shape
    ho, wo = (h - k) // stride + 1, (wd - k) // stride + 1
    img = x.reshape(n, c, h, wd)
    out = np.zeros((n, c, ho, wo))
    for s in range(n):
        for ch in range(c):
            for y in range(ho):
                for xx in range(wo):
                    out[s, ch, y, xx] = reduce(img[s, ch, stride * y : stride * y + k, stride * xx : stride * xx + k])
    return out.reshape(n, -1)


# ------------------------------------------------------------- reference values ---


@pytest.mark.parametrize("kind", CONV_KINDS)
def test_conv_forward_equals_the_definition(kind: str) -> None:
    layer = make(kind)
    assert isinstance(layer, fnn.Conv2DLayer)
    params = random_params(layer, seed=0)
    x = layer_input(3, seed=1)
    a, (_, z, a_cached) = layer.forward(params, x)
    expected = naive_conv(x, params.w, params.b, layer.in_shape, layer.stride, layer.padding)
    assert a.shape == (3, layer.out_features) == expected.shape
    np.testing.assert_allclose(z, expected, rtol=1e-12, atol=1e-12)
    assert np.array_equal(a, a_cached)


def naive_conv_input_grad(
    dz: FloatArray, w: FloatArray, in_shape: tuple[int, int, int], stride: int, padding: int
) -> FloatArray:
    """Reference dL/dx of a convolution: each output's gradient times its kernel, added onto its window."""
    n = dz.shape[0]
    c, h, wd = in_shape
    o, _, k, _ = w.shape
    ho, wo = (h + 2 * padding - k) // stride + 1, (wd + 2 * padding - k) // stride + 1
    d = dz.reshape(n, o, ho, wo)
    out = np.zeros((n, c, h + 2 * padding, wd + 2 * padding))
    for s in range(n):
        for f in range(o):
            for y in range(ho):
                for xx in range(wo):
                    out[s, :, stride * y : stride * y + k, stride * xx : stride * xx + k] += w[f] * d[s, f, y, xx]
    return out[:, :, padding : padding + h, padding : padding + wd].reshape(n, -1)


@pytest.mark.parametrize(
    ("in_shape", "kernel", "stride", "padding"),
    [
        ((1, 8, 8), 3, 1, 1),  # "same", one channel: one run over all the images per offset
        ((3, 5, 6), 5, 1, 2),  # "same", several channels, two columns off each edge
        ((2, 4, 3), 1, 1, 0),
        ((1, 2, 2), 3, 1, 1),  # kernel larger than the image
        ((2, 5, 6), 3, 2, 1),
        ((1, 6, 5), 3, 1, 2),  # padded, not "same"
    ],
)
@pytest.mark.parametrize("models", [(), (2,)])
def test_conv_input_gradient_equals_the_definition(
    in_shape: tuple[int, int, int], kernel: int, stride: int, padding: int, models: tuple[int, ...]
) -> None:
    layer = fnn.Conv2DLayer(in_shape, 3, kernel, stride=stride, padding=padding)
    rng = np.random.default_rng(0)
    params = fnn.Conv2D(w=rng.standard_normal((*models, *layer.init(rng, "he").w.shape)), b=np.zeros((*models, 3)))
    x = rng.standard_normal((4, layer.in_features))
    _, cache = layer.forward(params, x)
    dz = rng.standard_normal((*models, 4, layer.out_features))
    _, dx = layer.backward(params, cache, dz)
    assert dx is not None
    for m in np.ndindex(models):
        expected = naive_conv_input_grad(dz[m], params.w[m], in_shape, stride, padding)
        np.testing.assert_allclose(dx[m], expected, rtol=1e-12, atol=1e-12)


def test_conv_out_shape() -> None:
    assert fnn.Conv2DLayer((3, 16, 16), 8, 3, padding=1).out_shape == (8, 16, 16)
    assert fnn.Conv2DLayer((3, 16, 16), 8, 3).out_shape == (8, 14, 14)
    assert fnn.Conv2DLayer((3, 16, 15), 8, 3, stride=2).out_shape == (8, 7, 7)
    layer = fnn.Conv2DLayer((1, 5, 6), 4, 5, stride=3, padding=2)
    assert layer.out_shape == (4, 2, 2)
    assert (layer.in_features, layer.out_features) == (30, 16)


@pytest.mark.parametrize("kind", [k for k in IMAGE_LAYERS if "pool" in k])
def test_pool_forward_equals_the_definition(kind: str) -> None:
    layer = make(kind)
    assert isinstance(layer, (fnn.MaxPool2DLayer, fnn.AvgPool2DLayer))
    x = layer_input(3, seed=2)
    a, _ = layer.forward(layer.init(np.random.default_rng(0), "normal"), x)
    reduce: Callable[[FloatArray], float] = (
        (lambda v: float(v.max())) if isinstance(layer, fnn.MaxPool2DLayer) else (lambda v: float(v.mean()))
    )
    expected = naive_pool(x, layer.in_shape, layer.pool_size, layer.step, reduce)
    assert layer.out_features == expected.shape[1]
    np.testing.assert_allclose(a, expected, rtol=1e-14)


@pytest.mark.parametrize(
    ("in_shape", "pool", "stride"),
    [((2, 5, 6), 2, None), ((2, 7, 7), 3, None), ((2, 6, 6), 2, 1), ((2, 7, 7), 3, 2), ((3, 9, 9), 9, None)],
)
def test_pool_forward_has_the_bits_of_numpy_reductions(
    in_shape: tuple[int, int, int], pool: int, stride: int | None
) -> None:
    """The offset-by-offset folds give exactly np.max / np.mean over the windows (ties, signed zeros)."""
    rng = np.random.default_rng(0)
    n = 5
    ties = rng.integers(-2, 3, (n, int(np.prod(in_shape)))) * np.array([1.0, -1.0])[rng.integers(0, 2, (n, 1))]
    wide = rng.standard_normal((n, int(np.prod(in_shape)))) * 10.0 ** rng.integers(-3, 4, (n, int(np.prod(in_shape))))
    for cls, reduce in ((fnn.MaxPool2DLayer, np.max), (fnn.AvgPool2DLayer, np.mean)):
        layer = cls(in_shape, pool, stride=stride)
        for x in (ties, np.where(ties == 0, -0.0, ties), wide):
            windows = np.lib.stride_tricks.sliding_window_view(x.reshape(n, *in_shape), (pool, pool), axis=(-2, -1))
            step = layer.step
            expected = reduce(windows[..., ::step, ::step, :, :], axis=(-2, -1)).reshape(n, -1)
            a, _ = layer.forward(layer.init(rng, "normal"), x)
            assert np.array_equal(a, expected) and np.array_equal(np.signbit(a), np.signbit(expected))


def test_im2col_matrix_layout() -> None:
    layer = fnn.Conv2DLayer((1, 3, 3), 1, 2)
    x = np.arange(2 * 9, dtype=np.float64).reshape(2, 9)
    cols = layer.im2col(x)
    # rows (c, i, j) + a row of ones; columns (sample, y, x)
    assert cols.shape == (5, 2 * 4)
    np.testing.assert_array_equal(cols[0, :4], [0, 1, 3, 4])  # kernel offset (0, 0) of sample 0
    np.testing.assert_array_equal(cols[3, 4:], [13, 14, 16, 17])  # offset (1, 1) of sample 1
    np.testing.assert_array_equal(cols[4], 1.0)


def test_maxpool_sends_the_gradient_to_the_first_maximum_of_a_tie() -> None:
    layer = fnn.MaxPool2DLayer((1, 2, 2), 2)
    params = layer.init(np.random.default_rng(0), "normal")
    x = np.array([[1.0, 3.0, 3.0, 0.0]])
    a, cache = layer.forward(params, x)
    assert a.tolist() == [[3.0]]
    _, dx = layer.backward(params, cache, np.array([[2.0]]))
    assert dx is not None
    assert dx.tolist() == [[0.0, 2.0, 0.0, 0.0]]


@pytest.mark.parametrize("stride", [None, 1])  # disjoint windows (offset by offset) and overlapping (argmax)
def test_maxpool_gradient_goes_to_the_first_maximum_or_the_first_nan(stride: int | None) -> None:
    layer = fnn.MaxPool2DLayer((1, 2, 4), 2, stride=stride)
    params = layer.init(np.random.default_rng(0), "normal")
    x = np.array([[1.0, 5.0, 0.0, -0.0, 5.0, 2.0, -0.0, 0.0], [1.0, np.nan, 7.0, 7.0, np.nan, 2.0, 7.0, 7.0]])
    a, cache = layer.forward(params, x)
    dz = np.arange(1.0, 1.0 + a.size).reshape(a.shape)
    _, dx = layer.backward(params, cache, dz)
    assert dx is not None
    if (
        stride is None
    ):  # windows [[1, 5], [5, 2]] and [[0, -0], [-0, 0]]; then [[1, nan], [nan, 2]] and [[7, 7], [7, 7]]
        assert np.array_equal(dx, [[0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    else:  # three overlapping windows per sample; the first two share their maximum 5
        assert np.array_equal(dx[0], [0.0, 1.0 + 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0])


def test_overlapping_pool_windows_add_their_gradients() -> None:
    layer = fnn.AvgPool2DLayer((1, 1, 3), 1, stride=1)
    assert layer.out_shape == (1, 1, 3)
    layer = fnn.AvgPool2DLayer((1, 2, 3), 2, stride=1)  # two windows share the middle column
    params = layer.init(np.random.default_rng(0), "normal")
    _, cache = layer.forward(params, np.zeros((1, 6)))
    _, dx = layer.backward(params, cache, np.ones((1, 2)))
    assert dx is not None
    np.testing.assert_allclose(dx, [[0.25, 0.5, 0.25, 0.25, 0.5, 0.25]])


def test_flatten_is_the_identity() -> None:
    layer = fnn.FlattenLayer((2, 3, 4))
    assert (layer.in_features, layer.out_features, layer.out_shape) == (24, 24, (2, 3, 4))
    params = layer.init(np.random.default_rng(0), "normal")
    x = layer_input(2, seed=0, features=24)
    a, cache = layer.forward(params, x)
    np.testing.assert_array_equal(a, x)
    grads, dx = layer.backward(params, cache, 2 * x)
    assert dx is not None
    np.testing.assert_array_equal(dx, 2 * x)
    assert grads == params


# ------------------------------------------------------------- gradients ---


def _layer_grad_check(layer: AnyImageLayer, params: Any, x: FloatArray, seed: int) -> None:
    """L = sum(r * layer(x)); backward(dz = r * f'(z)) must give dL/dparams and dL/dx."""
    act = layer.activation
    a, cache = layer.forward(params, x)
    _, z, a_cached = cache
    assert a.shape == (*x.shape[:-1], layer.out_features)
    assert np.array_equal(a, a_cached)
    # stay away from the ReLU kink: no pre-activation within 1e-4 of 0
    assert np.min(np.abs(z)) > 1e-4
    r = np.random.default_rng(seed).standard_normal(a.shape)
    dz = r * act.derivative(z, a)
    grads, dx = layer.backward(params, cache, dz)
    assert dx is not None and dx.shape == x.shape
    assert structure(grads) == structure(params)

    def loss_of_params(p: Any) -> float:
        return float(np.sum(r * layer.forward(p, x)[0]))

    def loss_of_x(xx: FloatArray) -> float:
        return float(np.sum(r * layer.forward(params, xx)[0]))

    if isinstance(params, fnn.Conv2D):
        check_tree_grad(loss_of_params, params, grads, seed=seed + 1)
    check_grad(loss_of_x, x, dx, seed=seed + 2)


# conv layers with every activation; pooling and flatten have none
GRAD_CASES = [(k, a) for k in CONV_KINDS for a in ACT_NAMES] + [
    (k, "identity") for k in IMAGE_LAYERS if k not in CONV_KINDS
]


@pytest.mark.parametrize(("kind", "act_name"), GRAD_CASES)
def test_layer_backward_matches_central_differences(kind: str, act_name: str) -> None:
    layer = make(kind, act_name)
    _layer_grad_check(layer, random_params(layer, seed=0), layer_input(4, seed=1), seed=3)


@pytest.mark.parametrize("kind", tuple(IMAGE_LAYERS))
def test_layer_backward_matches_central_differences_with_model_axes(kind: str) -> None:
    layer = make(kind, "tanh" if kind.startswith("conv") else "identity")
    members = [random_params(layer, seed=s) for s in range(3)]
    stacked = fnn.tree_map(lambda *xs: np.stack(xs), members[0], *members[1:])
    _layer_grad_check(layer, stacked, layer_input(4, seed=2, lead=(3,)), seed=5)


@pytest.mark.parametrize("kind", tuple(IMAGE_LAYERS))
def test_layer_backward_without_input_grad(kind: str) -> None:
    layer = make(kind, "tanh")
    params = random_params(layer, seed=0)
    x = layer_input(3, seed=1)
    a, cache = layer.forward(params, x)
    dz = np.ones_like(a)
    grads_a, dx_a = layer.backward(params, cache, dz, input_grad=False)
    grads_b, dx_b = layer.backward(params, cache, dz)
    assert dx_a is None and dx_b is not None
    assert_trees_equal(grads_a, grads_b)


# ------------------------------------------------------------- stacking ---


@pytest.mark.parametrize("shared_x", [True, False], ids=["shared_x", "x_per_model"])
@pytest.mark.parametrize("kind", tuple(IMAGE_LAYERS))
def test_stacked_forward_and_backward_equal_separate_calls(kind: str, shared_x: bool) -> None:
    layer = make(kind, "relu")
    members = [random_params(layer, seed=s) for s in range(3)]
    stacked = fnn.tree_map(lambda *xs: np.stack(xs), members[0], *members[1:])
    xs = layer_input(4, seed=7, lead=(3,))
    x = xs[0] if shared_x else xs
    a, cache = layer.forward(stacked, x)
    dz = np.random.default_rng(8).standard_normal(a.shape)
    grads, dx = layer.backward(stacked, cache, dz)
    assert a.shape == (3, 4, layer.out_features) and dx is not None and dx.shape == (3, 4, layer.in_features)
    assert layer.model_shape(stacked) == (3,) and layer.model_shape(members[0]) == ()
    for k, member in enumerate(members):
        xk = xs[0] if shared_x else xs[k]
        ak, cache_k = layer.forward(member, xk)
        gk, dxk = layer.backward(member, cache_k, dz[k])
        np.testing.assert_allclose(a[k], ak, rtol=1e-12, atol=1e-14)
        assert dxk is not None
        np.testing.assert_allclose(dx[k], dxk, rtol=1e-12, atol=1e-14)
        assert_trees_close(fnn.tree_map(lambda g, k=k: g[k], grads), gk, rtol=1e-12, atol=1e-13)


def small_cnn(*, out: str = "sigmoid") -> fnn.Network:
    c1 = fnn.Conv2DLayer((1, 6, 6), 3, 3, padding=1, activation="tanh")
    p1 = fnn.MaxPool2DLayer(c1.out_shape, 2)
    c2 = fnn.Conv2DLayer(p1.out_shape, 2, 2, stride=1, activation="relu")
    p2 = fnn.AvgPool2DLayer(c2.out_shape, 2)
    return fnn.cnn(
        c1,
        p1,
        c2,
        p2,
        fnn.FlattenLayer(p2.out_shape),
        fnn.DenseLayer(p2.out_features, 3, fnn.Tanh()),
        fnn.DenseLayer(3, 1, fnn.get_activation(out)),
    )


def with_random_biases(params: fnn.Params, seed: int) -> fnn.Params:
    rng = np.random.default_rng(seed)
    return tuple(attrs.evolve(p, b=0.3 * rng.standard_normal(p.b.shape)) if hasattr(p, "b") else p for p in params)


def image_batch(n: int, seed: int, features: int = 36) -> tuple[FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)), binary_labels(rng, (n, 1))


@pytest.mark.parametrize("loss_name", tuple(fnn.LOSSES))
def test_network_grad_through_conv_and_pooling_matches_central_differences(loss_name: str) -> None:
    net = small_cnn()
    params = with_random_biases(fnn.init(net, seed=1, scheme="xavier"), seed=2)
    x, y = image_batch(5, seed=3)
    value, grads = fnn.grad(net, params, x, y, loss=loss_name)

    def loss_of(p: fnn.Params) -> float:
        return float(fnn.grad(net, p, x, y, loss=loss_name)[0])

    assert loss_of(params) == float(value)
    # pooling layers hold only empty arrays: check the leaves that hold values
    full = tuple(i for i, p in enumerate(params) if fnn.leaves(p)[0].size)
    for i in full:

        def loss_of_layer(p: Any, i: int = i) -> float:
            return loss_of((*params[:i], p, *params[i + 1 :]))

        check_tree_grad(loss_of_layer, params[i], grads[i], seed=4 + i)


def test_network_stacked_equals_separate_models() -> None:
    net = small_cnn()
    seeds = [3, 4, 5]
    stacked = fnn.init(net, seed=seeds, scheme="he")
    assert fnn.model_shape(net, stacked) == (3,)
    x, y = image_batch(6, seed=0)
    out = fnn.forward(net, stacked, x)
    value, grads = fnn.grad(net, stacked, x, y, loss="bce")
    for k, s in enumerate(seeds):
        alone = fnn.init(net, seed=s, scheme="he")
        assert_trees_equal(fnn.tree_map(lambda a, k=k: a[k], stacked), alone)
        np.testing.assert_allclose(out[k], fnn.forward(net, alone, x), rtol=1e-12)
        v, g = fnn.grad(net, alone, x, y, loss="bce")
        np.testing.assert_allclose(value[k], v, rtol=1e-12)
        assert_trees_close(fnn.tree_map(lambda a, k=k: a[k], grads), g, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("batch_size", [None, 4])
def test_training_a_stacked_cnn_equals_each_model_trained_alone(batch_size: int | None) -> None:
    net = small_cnn()
    train, _ = fnn.generate_bars(12, 1, size=6, seed=0)
    seeds = [0, 1]
    config = fnn.TrainConfig(
        epochs=4, optimizer=fnn.adam(lr=0.01), loss="bce", batch_size=batch_size, seed=seeds, snapshot_every=2
    )
    trace = fnn.train(net, fnn.init(net, seed=seeds, scheme="he"), train, config, workers=1)
    assert trace.loss.shape == (4, 2) and np.all(np.isfinite(trace.loss))
    assert structure(trace.params) == structure(fnn.init(net, seed=seeds))
    for k, s in enumerate(seeds):
        alone = fnn.train(net, fnn.init(net, seed=s, scheme="he"), train, config.member(k))
        assert_trees_close(fnn.tree_map(lambda a, k=k: a[k], trace.params), alone.params, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(trace.loss[:, k], alone.loss, rtol=1e-10)


def test_training_a_cnn_lowers_the_loss_and_keeps_empty_params() -> None:
    net = small_cnn()
    train, _ = fnn.generate_bars(40, 1, size=6, noise=0.1, seed=1)
    config = fnn.TrainConfig(epochs=15, optimizer=fnn.adam(lr=0.03), loss="bce", batch_size=8, seed=0)
    trace = fnn.train(net, fnn.init(net, seed=0, scheme="he"), train, config)
    assert trace.loss[-1] < 0.7 * trace.loss[0]
    assert isinstance(trace.params[1], fnn.NoParams) and trace.params[1].empty.shape == (0,)
    assert_read_only(trace.params)


# ------------------------------------------------------------- purity, records ---


@pytest.mark.parametrize("kind", tuple(IMAGE_LAYERS))
def test_layers_leave_inputs_unchanged(kind: str) -> None:
    layer = make(kind, "relu")
    params = random_params(layer, seed=0)
    x = layer_input(3, seed=1)
    before_x, before_p = x.copy(), snapshot(params)
    a, cache = layer.forward(params, x)
    dz = np.ones_like(a)
    dz_before = dz.copy()
    layer.backward(params, cache, dz)
    np.testing.assert_array_equal(x, before_x)
    np.testing.assert_array_equal(dz, dz_before)
    assert_unchanged(params, before_p)


@pytest.mark.parametrize("kind", tuple(IMAGE_LAYERS))
def test_init_params_and_grads_are_read_only(kind: str) -> None:
    layer = make(kind)
    params = layer.init(np.random.default_rng(0), "normal")
    assert_read_only(params)
    a, cache = layer.forward(params, layer_input(2, seed=0))
    grads, _ = layer.backward(params, cache, np.ones_like(a))
    assert_read_only(grads)


def test_conv2d_record_read_only_views_and_equality() -> None:
    w, b = np.ones((2, 1, 3, 3)), np.zeros(2)
    p = fnn.Conv2D(w=w, b=b)
    assert_read_only(p)
    assert w.flags.writeable
    assert p == fnn.Conv2D(w=np.ones((2, 1, 3, 3)), b=np.zeros(2))
    assert p != fnn.Conv2D(w=np.ones((2, 1, 3, 3)), b=np.ones(2))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.w = w  # type: ignore[misc]
    assert fnn.Conv2D(w=np.ones((4, 2, 1, 3, 3), dtype=np.int32), b=np.zeros((4, 2))).w.dtype == np.float64


@pytest.mark.parametrize(
    ("w_shape", "b_shape", "match"),
    [
        (
            (2, 3, 3),
            (2,),
            r"Conv2D\.w must have shape \(\.\.\., out_channels, in_channels, k, k\), got shape \(2, 3, 3\)",
        ),
        ((2, 1, 3, 2), (2,), r"Conv2D\.w must hold square kernels .*got shape \(2, 1, 3, 2\)"),
        (
            (2, 1, 3, 3),
            (3,),
            r"Conv2D\.b must have shape \(2,\) to match Conv2D\.w of shape \(2, 1, 3, 3\), got shape \(3,\)",
        ),
        ((4, 2, 1, 3, 3), (2,), r"Conv2D\.b must have shape \(4, 2\)"),
    ],
)
def test_conv2d_record_rejects_mismatched_shapes(
    w_shape: tuple[int, ...], b_shape: tuple[int, ...], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        fnn.Conv2D(w=np.zeros(w_shape), b=np.zeros(b_shape))


def test_conv2d_record_rejects_non_finite_and_non_real() -> None:
    with pytest.raises(ValueError, match=r"Conv2D\.w must be finite"):
        fnn.Conv2D(w=np.full((1, 1, 1, 1), np.nan), b=np.zeros(1))
    with pytest.raises(ValueError, match=r"Conv2D\.b must be finite"):
        fnn.Conv2D(w=np.zeros((1, 1, 1, 1)), b=np.array([np.inf]))
    with pytest.raises(TypeError, match="w must be an array of real numbers"):
        fnn.Conv2D(w=np.array([["a"]]), b=np.zeros(1))


def test_no_params_record() -> None:
    assert fnn.NoParams(empty=np.zeros((3, 0))).empty.shape == (3, 0)
    with pytest.raises(ValueError, match=r"NoParams\.empty must have shape \(\*models, 0\), got shape \(2,\)"):
        fnn.NoParams(empty=np.zeros(2))
    with pytest.raises(ValueError, match=r"NoParams\.empty must have shape \(\*models, 0\), got shape \(\)"):
        fnn.NoParams(empty=np.zeros(()))


# ------------------------------------------------------------- initializers ---


@pytest.mark.parametrize("scheme", fnn.INITIALIZERS)
def test_conv_initializer_statistics(scheme: str) -> None:
    layer = fnn.Conv2DLayer((20, 8, 8), 30, 3)
    params = layer.init(np.random.default_rng(0), scheme)
    assert params.w.shape == (30, 20, 3, 3) and params.b.shape == (30,)
    np.testing.assert_array_equal(params.b, 0.0)
    fan_in, fan_out = 20 * 9, 30 * 9
    mean, var = {
        "normal": (0.0, 1.0),
        "uniform": (0.5, 1.0 / 12.0),
        "xavier": (0.0, 2.0 / (fan_in + fan_out)),
        "he": (0.0, 2.0 / fan_in),
    }[scheme]
    n = params.w.size
    assert abs(float(np.mean(params.w)) - mean) < 5 * np.sqrt(var / n)
    assert float(np.var(params.w)) == pytest.approx(var, rel=0.06)


def test_init_bad_scheme_is_named() -> None:
    for layer in (make("conv_k3_s1_p0"), make("maxpool_k2"), make("flatten")):
        with pytest.raises(ValueError, match=r"init must be one of 'normal', 'uniform', 'xavier', 'he'; got 'glorot'"):
            layer.init(np.random.default_rng(0), "glorot")


def test_network_init_is_seeded() -> None:
    net = small_cnn()
    assert_trees_equal(fnn.init(net, seed=3), fnn.init(net, seed=3))
    assert not np.array_equal(fnn.init(net, seed=3)[0].w, fnn.init(net, seed=4)[0].w)


# ------------------------------------------------------------- validation ---


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (
            lambda: fnn.Conv2DLayer((1, 8), 2, 3),
            TypeError,
            r"in_shape must be a \(channels, height, width\) tuple of 3 integers, got \(1, 8\)",
        ),
        (lambda: fnn.Conv2DLayer("1x8x8", 2, 3), TypeError, r"in_shape must be a \(channels, height, width\) tuple"),  # type: ignore[arg-type]
        (lambda: fnn.Conv2DLayer((0, 8, 8), 2, 3), ValueError, r"in_shape\[0\] must be an integer >= 1, got 0"),
        (lambda: fnn.Conv2DLayer((1, 8.0, 8), 2, 3), TypeError, r"in_shape\[1\] must be an integer, got 8\.0"),  # type: ignore[arg-type]
        (lambda: fnn.Conv2DLayer((1, 8, 8), 0, 3), ValueError, r"out_channels must be an integer >= 1, got 0"),
        (lambda: fnn.Conv2DLayer((1, 8, 8), 2, 0), ValueError, r"kernel_size must be an integer >= 1, got 0"),
        (lambda: fnn.Conv2DLayer((1, 8, 8), 2, 3, stride=0), ValueError, r"stride must be an integer >= 1, got 0"),
        (lambda: fnn.Conv2DLayer((1, 8, 8), 2, 3, stride=-2), ValueError, r"stride must be an integer >= 1, got -2"),
        (lambda: fnn.Conv2DLayer((1, 8, 8), 2, 3, stride=1.5), TypeError, r"stride must be an integer, got 1\.5"),  # type: ignore[arg-type]
        (lambda: fnn.Conv2DLayer((1, 8, 8), 2, 3, padding=-1), ValueError, r"padding must be an integer >= 0, got -1"),
        (
            lambda: fnn.Conv2DLayer((1, 2, 3), 2, 5, padding=1),
            ValueError,
            r"kernel_size must be at most the padded input 4x5 \(in_shape \(1, 2, 3\), padding 1\), got 5",
        ),
        (
            lambda: fnn.Conv2DLayer((1, 2, 3), 2, 3),
            ValueError,
            r"kernel_size must be at most the input 2x3 \(in_shape \(1, 2, 3\)\), got 3",
        ),
        (
            lambda: fnn.Conv2DLayer((1, 8, 8), 2, 3, activation="swish"),
            ValueError,
            r"activation must be one of .*; got 'swish'",
        ),
        (
            lambda: fnn.MaxPool2DLayer((1, 4, 4), 5),
            ValueError,
            r"pool_size must be at most the input 4x4 \(in_shape \(1, 4, 4\)\), got 5",
        ),
        (lambda: fnn.AvgPool2DLayer((1, 4, 4), 0), ValueError, r"pool_size must be an integer >= 1, got 0"),
        (lambda: fnn.MaxPool2DLayer((1, 4, 4), 2, stride=0), ValueError, r"stride must be an integer >= 1, got 0"),
        (
            lambda: fnn.FlattenLayer((1, 4)),
            TypeError,
            r"in_shape must be a \(channels, height, width\) tuple of 3 integers",
        ),
    ],
)
def test_layer_arguments_are_validated(build: Callable[[], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build()


def test_check_params_names_the_record_and_shapes() -> None:
    layer = fnn.Conv2DLayer((2, 5, 5), 3, 3)
    layer.check_params(fnn.Conv2D(w=np.zeros((4, 3, 2, 3, 3)), b=np.zeros((4, 3))), "p")
    with pytest.raises(ValueError, match=r"p\.w must have shape \(\.\.\., 3, 2, 3, 3\), got shape \(3, 1, 3, 3\)"):
        layer.check_params(fnn.Conv2D(w=np.zeros((3, 1, 3, 3)), b=np.zeros(3)), "p")
    with pytest.raises(TypeError, match="p must be a Conv2D record, got Dense"):
        layer.check_params(fnn.Dense(w=np.zeros((2, 3)), b=np.zeros(3)), "p")
    with pytest.raises(TypeError, match="q must be a NoParams record, got Conv2D"):
        fnn.MaxPool2DLayer((2, 4, 4), 2).check_params(fnn.Conv2D(w=np.zeros((3, 1, 3, 3)), b=np.zeros(3)), "q")


def test_network_names_params_that_do_not_fit() -> None:
    net = small_cnn()
    params = fnn.init(net, seed=0)
    bad = cast(fnn.Params, (fnn.Conv2D(w=np.zeros((3, 2, 3, 3)), b=np.zeros(3)), *params[1:]))
    with pytest.raises(
        ValueError, match=r"params\[0\]\.w must have shape \(\.\.\., 3, 1, 3, 3\), got shape \(3, 2, 3, 3\)"
    ):
        fnn.forward(net, bad, np.zeros((1, 36)))
    stacked = fnn.init(net, seed=[0, 1])
    mixed = stacked[:1] + params[1:]
    with pytest.raises(ValueError, match=r"params\[1\] has model axes \(\), but params\[0\] has \(2,\)"):
        fnn.forward(net, mixed, np.zeros((1, 36)))


def test_network_rejects_images_of_the_wrong_size() -> None:
    net = small_cnn()
    params = fnn.init(net, seed=0)
    with pytest.raises(
        ValueError, match=r"x must have shape \(n, 36\) to match the network's input size, got shape \(2, 49\)"
    ):
        fnn.forward(net, params, np.zeros((2, 49)))
    with pytest.raises(ValueError, match=r"x must have shape \(n, 36\) .*got shape \(2, 1, 6, 6\)"):
        fnn.forward(net, params, np.zeros((2, 1, 6, 6)))


def test_cnn_checks_that_image_shapes_chain() -> None:
    c = fnn.Conv2DLayer((1, 8, 8), 4, 3, padding=1)  # out (4, 8, 8) = 256 features
    with pytest.raises(
        ValueError, match=r"layers\[1\]\.in_shape must equal layers\[0\]\.out_shape \(4, 8, 8\), got \(1, 16, 16\)"
    ):
        fnn.cnn(c, fnn.MaxPool2DLayer((1, 16, 16), 2))
    with pytest.raises(
        ValueError, match=r"layers\[1\]\.in_shape must equal layers\[0\]\.out_shape \(4, 8, 8\), got \(1, 8, 8\)"
    ):
        fnn.cnn(c, fnn.MaxPool2DLayer((1, 8, 8), 2))
    with pytest.raises(
        ValueError, match=r"layers\[1\]\.in_features must equal layers\[0\]\.out_features \(256\), got 64"
    ):
        fnn.cnn(c, fnn.DenseLayer(64, 1))
    net = fnn.cnn(c, fnn.MaxPool2DLayer(c.out_shape, 2), fnn.DenseLayer(64, 1))
    assert (net.in_features, net.out_features) == (64, 1)
    assert fnn.sequential(*net.layers) == net


def test_flatten_images() -> None:
    images = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    x = fnn.flatten_images(images, (3, 4, 5))
    assert x.shape == (2, 60)
    np.testing.assert_array_equal(x[1], images[1].ravel())
    assert fnn.flatten_images(np.zeros((2, 4, 5)), (1, 4, 5)).shape == (2, 20)
    with pytest.raises(
        ValueError, match=r"images must have shape \(n, 3, 4, 5\), got shape \(2, 1, 4, 5\) \(1 channels instead of 3\)"
    ):
        fnn.flatten_images(np.zeros((2, 1, 4, 5)), (3, 4, 5))
    with pytest.raises(ValueError, match=r"batch must have shape \(n, 1, 4, 5\), got shape \(2, 1, 5, 4\)"):
        fnn.flatten_images(np.zeros((2, 1, 5, 4)), (1, 4, 5), name="batch")
    with pytest.raises(ValueError, match=r"images must have at least 3 axes, got shape \(2, 20\)"):
        fnn.flatten_images(np.zeros((2, 20)), (1, 4, 5))
    with pytest.raises(ValueError, match=r"images must be finite"):
        fnn.flatten_images(np.full((1, 1, 4, 5), np.nan), (1, 4, 5))
    with pytest.raises(TypeError, match=r"in_shape must be a \(channels, height, width\) tuple"):
        fnn.flatten_images(np.zeros((1, 1, 4, 5)), (4, 5))


# ------------------------------------------------------------- saving ---


def test_io_entries_round_trip_every_image_layer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With conv.LAYER_IO and conv.PARAM_RECORDS registered in io, a CNN saves and loads exactly."""
    for kind, entry in conv.LAYER_IO.items():
        monkeypatch.setitem(fio.LAYER_KINDS, kind, entry)
    for name, cls in conv.PARAM_RECORDS.items():
        monkeypatch.setitem(fio.PARAM_TYPES, name, cls)
    c = fnn.Conv2DLayer((1, 6, 6), 2, 3, stride=2, padding=1, activation="leaky_relu")
    a = fnn.AvgPool2DLayer(c.out_shape, 2, stride=1)
    net = fnn.cnn(
        c, fnn.MaxPool2DLayer(c.out_shape, 2), fnn.FlattenLayer((2, 1, 1)), fnn.DenseLayer(2, 1, fnn.Sigmoid())
    )
    for network in (net, fnn.cnn(c, a, fnn.DenseLayer(a.out_features, 1))):
        for seed in (0, [0, 1]):
            params = fnn.init(network, seed=seed)
            path = tmp_path / "p.npz"
            fio.save_params(path, network, params)
            net2, params2 = fio.load_params(path)
            assert net2 == network
            assert_trees_equal(params2, params)


# ------------------------------------------------------------- scripts ---


def test_cnn_script_writes_figures_report_and_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scripts import cnn as cnn_script

    out = tmp_path / "cnn"
    argv = [
        "--out",
        str(out),
        "--size",
        "8",
        "--n-train",
        "40",
        "--n-test",
        "16",
        "--epochs",
        "2",
        "--filters",
        "3",
        "--kernel",
        "3",
    ]
    assert cnn_script.main(argv) == 0
    for name in ("learning_curve.png", "predictions.png", "filters.png", "report.md", "metrics.json"):
        assert (out / name).stat().st_size > 0, name
    printed = capsys.readouterr().out
    assert "CNN held-out accuracy" in printed and "epoch    2" in printed
    report = (out / "report.md").read_text()
    assert "| CNN | Conv2D 1->3 3x3 pad 1, relu; MaxPool 8x8; Dense 3->1, sigmoid | 34 |" in report
    assert "| MLP | Dense 64->2, relu; Dense 2->1, sigmoid | 133 |" in report
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"CNN", "MLP", "wide MLP"}
    assert "| wide MLP | Dense 64->16, relu; Dense 16->1, sigmoid | 1057 |" in report
    assert len(metrics["models"]["CNN"]["held_out_accuracy_per_epoch"]) == 2


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--epochs", "0"], "argument --epochs: expected an integer >= 1, got 0"),
        (["--noise", "-1"], "argument --noise: expected a finite number >= 0, got '-1'"),
        (["--lr", "0"], "argument --lr: expected a number > 0, got '0'"),
        (["--size", "8", "--kernel", "9"], "argument --kernel: must be at most --size \\(8\\), got 9"),
    ],
)
def test_cnn_script_bad_arguments_exit_2(argv: list[str], match: str, capsys: pytest.CaptureFixture[str]) -> None:
    from scripts import cnn as cnn_script

    with pytest.raises(SystemExit) as info:
        cnn_script.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.search(match, err), err


def test_bench_conv_measures_both_allocators(tmp_path: Path) -> None:
    from scripts import bench_conv

    out = tmp_path / "bench.json"
    assert (
        bench_conv.main(["--repeats", "1", "--images", "4", "--sizes", "5", "--filters", "2", "--out", str(out)]) == 0
    )
    result = json.loads(out.read_text())
    for label in ("default_malloc", "malloc_keep_memory"):
        figures = result["allocators"][label]["5x5"]
        assert figures["im2col_shape"] == [9, 4 * 25]
        assert (
            figures["matmuls_s"] > 0
            and figures["relu"]["ratio"] > 0
            and figures["identity"]["conv_forward_backward_s"] > 0
            and figures["relu"]["reusing_ratio"] > 0
            and figures["identity"]["reusing_buffers_s"] > 0
        )
    assert result["target_ratio_max"] == 2.0
