"""Tests of functional_nn.conv: Conv2D, max / average pooling and flatten layers.

The layer-level tests (everything up to the last section) use only the layers'
``init / forward / backward``: they are checked against independent per-pixel
loop implementations written here (the oracles) and against central finite
differences.  Every layer kind and option is in ``KINDS``; the gradient,
stacking and purity checks are parametrized over it.  The last section runs
image layers through ``fnn.cnn`` / ``fnn.grad`` / ``fnn.train``, io and scripts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import conv
from functional_nn.activations import ACTIVATIONS, Activation
from functional_nn.conv import (
    IMAGE_LAYERS,
    AvgPool2DLayer,
    Conv2D,
    Conv2DLayer,
    FlattenLayer,
    MaxPool2DLayer,
    NoParams,
    flatten_images,
)
from functional_nn.layers import INITIALIZERS, Cache, Dense, Layer
from functional_nn.tree import tree_map
from tests.helpers import (
    FloatArray,
    assert_read_only,
    assert_trees_close,
    assert_trees_equal,
    assert_unchanged,
    check_grad,
    check_tree_grad,
    snapshot,
    structure,
)

IN_SHAPE = (2, 5, 6)  # not square, so a swap of height and width shows
FEATURES = 2 * 5 * 6

# Every image layer kind and option: name -> factory(activation) -> layer.  Add new ones here.
KINDS: dict[str, Callable[[Activation], Layer]] = {
    "conv_k3_s1_p0": lambda act: Conv2DLayer(IN_SHAPE, 3, 3, activation=act),
    "conv_k3_s1_p1": lambda act: Conv2DLayer(IN_SHAPE, 3, 3, padding=1, activation=act),
    "conv_k3_s2_p0": lambda act: Conv2DLayer(IN_SHAPE, 3, 3, stride=2, activation=act),
    "conv_k3_s2_p1": lambda act: Conv2DLayer(IN_SHAPE, 3, 3, stride=2, padding=1, activation=act),
    "conv_k2_s1_p0": lambda act: Conv2DLayer(IN_SHAPE, 2, 2, activation=act),
    "conv_k1_s1_p0": lambda act: Conv2DLayer(IN_SHAPE, 4, 1, activation=act),
    "conv_k5_s3_p2": lambda act: Conv2DLayer(IN_SHAPE, 2, 5, stride=3, padding=2, activation=act),
    "conv_k5_s1_p2": lambda act: Conv2DLayer(IN_SHAPE, 2, 5, padding=2, activation=act),
    "conv_k7_s1_p1": lambda act: Conv2DLayer(IN_SHAPE, 2, 7, padding=1, activation=act),  # kernel taller than the image
    "maxpool_k2": lambda act: MaxPool2DLayer(IN_SHAPE, 2),
    "maxpool_k2_s1": lambda act: MaxPool2DLayer(IN_SHAPE, 2, stride=1),
    "maxpool_k3_s2": lambda act: MaxPool2DLayer(IN_SHAPE, 3, stride=2),
    "maxpool_k2_s3": lambda act: MaxPool2DLayer(IN_SHAPE, 2, stride=3),  # gaps between windows
    "avgpool_k2": lambda act: AvgPool2DLayer(IN_SHAPE, 2),
    "avgpool_k2_s1": lambda act: AvgPool2DLayer(IN_SHAPE, 2, stride=1),
    "avgpool_k3_s2": lambda act: AvgPool2DLayer(IN_SHAPE, 3, stride=2),
    "avgpool_k5": lambda act: AvgPool2DLayer(IN_SHAPE, 5),
    "flatten": lambda act: FlattenLayer(IN_SHAPE),
}
CONV_KINDS = tuple(k for k in KINDS if k.startswith("conv"))
POOL_KINDS = tuple(k for k in KINDS if "pool" in k)
ACT_NAMES = tuple(ACTIVATIONS)


def make(kind: str, act: str = "identity") -> Layer:
    return KINDS[kind](ACTIVATIONS[act])


def layer_input(n: int, seed: int, lead: tuple[int, ...] = (), features: int = FEATURES) -> FloatArray:
    """Inputs whose values are distinct by at least 0.03 within a sample: no ties in max pooling."""
    rng = np.random.default_rng(seed)
    steps = np.stack([rng.permutation(features) for _ in range(int(np.prod((*lead, n))))])
    x = (steps - features / 2) * 0.05 + rng.uniform(-0.01, 0.01, steps.shape)
    return x.reshape((*lead, n, features))


def random_params(layer: Layer, seed: int) -> Any:
    """Params with non-zero biases, so the bias gradient is not trivial."""
    p = layer.init(np.random.default_rng(seed), "he")
    if isinstance(p, Conv2D):
        p = attrs.evolve(p, b=np.random.default_rng(seed + 1).standard_normal(p.b.shape))
    return p


def stack(members: list[Any]) -> Any:
    return tree_map(lambda *xs: np.stack(xs), members[0], *members[1:])


# ------------------------------------------------------------- oracles: loops over every pixel ---


def out_size(size: int, k: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - k) // stride + 1


def naive_conv(
    x: FloatArray, w: FloatArray, b: FloatArray, in_shape: tuple[int, int, int], stride: int, padding: int
) -> FloatArray:
    """z `(n, O*H'*W')` by the definition of cross-correlation."""
    n, (c, h, wd), (o, _, k, _) = x.shape[0], in_shape, w.shape
    img = np.pad(x.reshape(n, c, h, wd), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = out_size(h, k, stride, padding), out_size(wd, k, stride, padding)
    z = np.zeros((n, o, ho, wo))
    for s in range(n):
        for f in range(o):
            for y in range(ho):
                for xx in range(wo):
                    patch = img[s, :, stride * y : stride * y + k, stride * xx : stride * xx + k]
                    z[s, f, y, xx] = b[f] + np.sum(w[f] * patch)
    return z.reshape(n, -1)


def naive_conv_backward(
    x: FloatArray, w: FloatArray, dz: FloatArray, in_shape: tuple[int, int, int], stride: int, padding: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(dL/dw, dL/db, dL/dx)`` from dz = dL/dz: each output's share, window by window."""
    n, (c, h, wd), (o, _, k, _) = x.shape[0], in_shape, w.shape
    img = np.pad(x.reshape(n, c, h, wd), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = out_size(h, k, stride, padding), out_size(wd, k, stride, padding)
    d = dz.reshape(n, o, ho, wo)
    gw, gb, dimg = np.zeros(w.shape), np.zeros(o), np.zeros(img.shape)
    for s in range(n):
        for f in range(o):
            for y in range(ho):
                for xx in range(wo):
                    window = (slice(stride * y, stride * y + k), slice(stride * xx, stride * xx + k))
                    gw[f] += d[s, f, y, xx] * img[(s, slice(None), *window)]
                    gb[f] += d[s, f, y, xx]
                    dimg[(s, slice(None), *window)] += d[s, f, y, xx] * w[f]
    return gw, gb, dimg[:, :, padding : padding + h, padding : padding + wd].reshape(n, -1)


def naive_pool(
    x: FloatArray, dz: FloatArray, in_shape: tuple[int, int, int], k: int, stride: int, kind: str
) -> tuple[FloatArray, FloatArray]:
    """``(z, dL/dx)`` of max or average pooling; max sends dz to the first maximum (strict >)."""
    n, (c, h, wd) = x.shape[0], in_shape
    ho, wo = out_size(h, k, stride, 0), out_size(wd, k, stride, 0)
    img, d = x.reshape(n, c, h, wd), dz.reshape(n, c, ho, wo)
    z, dimg = np.zeros((n, c, ho, wo)), np.zeros((n, c, h, wd))
    for s in range(n):
        for ch in range(c):
            for y in range(ho):
                for xx in range(wo):
                    y0, x0 = stride * y, stride * xx
                    window = img[s, ch, y0 : y0 + k, x0 : x0 + k]
                    if kind == "max":
                        best = (0, 0)
                        for i in range(k):
                            for j in range(k):
                                if window[i, j] > window[best]:
                                    best = (i, j)
                        z[s, ch, y, xx] = window[best]
                        dimg[s, ch, y0 + best[0], x0 + best[1]] += d[s, ch, y, xx]
                    else:
                        z[s, ch, y, xx] = window.sum() / k**2
                        dimg[s, ch, y0 : y0 + k, x0 : x0 + k] += d[s, ch, y, xx] / k**2
    return z.reshape(n, -1), dimg.reshape(n, -1)


# ------------------------------------------------------------- against the oracles ---


@pytest.mark.parametrize("act_name", ACT_NAMES)
@pytest.mark.parametrize("kind", CONV_KINDS)
def test_conv_forward_equals_the_definition(kind: str, act_name: str) -> None:
    layer = make(kind, act_name)
    assert isinstance(layer, Conv2DLayer)
    params = random_params(layer, seed=0)
    x = layer_input(3, seed=1)
    a, cache = layer.forward(params, x)
    z = naive_conv(x, params.w, params.b, layer.in_shape, layer.stride, layer.padding)
    assert a.shape == (3, layer.out_features) == z.shape
    np.testing.assert_allclose(cache.z, z, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(a, layer.activation.value(cache.z))
    assert cache.x is x and cache.a is a


CONV_SHAPES = [
    ((1, 8, 8), 3, 1, 1),  # "same"
    ((3, 5, 6), 5, 1, 2),  # "same", several channels, two columns off each edge
    ((2, 4, 3), 1, 1, 0),
    ((1, 2, 2), 3, 1, 1),  # kernel larger than the image
    ((2, 5, 6), 3, 2, 1),
    ((1, 6, 5), 3, 1, 2),  # padded, not "same"
    ((2, 7, 7), 2, 3, 0),  # stride > kernel: pixels no window sees
    ((1, 7, 9), 4, 2, 3),
]


@pytest.mark.parametrize("models", [(), (2,)])
@pytest.mark.parametrize(("in_shape", "kernel", "stride", "padding"), CONV_SHAPES)
def test_conv_backward_equals_the_definition(
    in_shape: tuple[int, int, int], kernel: int, stride: int, padding: int, models: tuple[int, ...]
) -> None:
    layer = Conv2DLayer(in_shape, 3, kernel, stride=stride, padding=padding)
    rng = np.random.default_rng(0)
    params = Conv2D(w=rng.standard_normal((*models, 3, in_shape[0], kernel, kernel)), b=np.zeros((*models, 3)))
    x = rng.standard_normal((4, layer.in_features))
    _, cache = layer.forward(params, x)
    dz = rng.standard_normal((*models, 4, layer.out_features))
    grads, dx = layer.backward(params, cache, dz)
    assert (
        grads.w.shape == params.w.shape and grads.b.shape == params.b.shape and dx.shape == dz.shape[:-1] + x.shape[-1:]
    )
    for m in np.ndindex(models):
        gw, gb, gx = naive_conv_backward(x, params.w[m], dz[m], in_shape, stride, padding)
        np.testing.assert_allclose(grads.w[m], gw, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(grads.b[m], gb, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx[m], gx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", POOL_KINDS)
def test_pool_forward_and_backward_equal_the_definition(kind: str) -> None:
    layer = make(kind)
    assert isinstance(layer, (MaxPool2DLayer, AvgPool2DLayer))
    x = layer_input(3, seed=2)
    params = layer.init(np.random.default_rng(0), "normal")
    a, cache = layer.forward(params, x)
    dz = np.random.default_rng(3).standard_normal(a.shape)
    _, dx = layer.backward(params, cache, dz)
    reduce = "max" if isinstance(layer, MaxPool2DLayer) else "avg"
    z, gx = naive_pool(x, dz, layer.in_shape, layer.pool_size, layer.step, reduce)
    assert a.shape == z.shape == (3, layer.out_features)
    np.testing.assert_allclose(a, z, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(dx, gx, rtol=1e-14, atol=1e-15)


def test_out_shapes() -> None:
    assert Conv2DLayer((3, 16, 16), 8, 3, padding=1).out_shape == (8, 16, 16)
    assert Conv2DLayer((3, 16, 16), 8, 3).out_shape == (8, 14, 14)
    assert Conv2DLayer((3, 16, 15), 8, 3, stride=2).out_shape == (8, 7, 7)
    layer = Conv2DLayer((1, 5, 6), 4, 5, stride=3, padding=2)
    assert layer.out_shape == (4, 2, 2)
    assert (layer.in_features, layer.out_features) == (30, 16)
    assert MaxPool2DLayer((2, 7, 5), 2).out_shape == (2, 3, 2)
    assert AvgPool2DLayer((2, 7, 5), 3, stride=1).out_shape == (2, 5, 3)
    assert MaxPool2DLayer((1, 4, 4), 2).step == 2 and MaxPool2DLayer((1, 4, 4), 2, stride=1).step == 1
    flat = FlattenLayer((2, 3, 4))
    assert (flat.in_features, flat.out_features, flat.out_shape) == (24, 24, (2, 3, 4))


def test_im2col_matrix_layout() -> None:
    layer = Conv2DLayer((1, 3, 3), 1, 2)
    x = np.arange(2 * 9, dtype=np.float64).reshape(2, 9)
    cols = layer.im2col(x)
    # rows (c, i, j); columns (sample, y, x)
    assert cols.shape == (4, 2 * 4)
    np.testing.assert_array_equal(cols[0, :4], [0, 1, 3, 4])  # kernel offset (0, 0) of sample 0
    np.testing.assert_array_equal(cols[3, 4:], [13, 14, 16, 17])  # offset (1, 1) of sample 1
    padded = Conv2DLayer((1, 2, 2), 1, 2, padding=1).im2col(np.array([[1.0, 2.0, 3.0, 4.0]]))
    np.testing.assert_array_equal(padded[0], [0, 0, 0, 0, 1, 2, 0, 3, 4])  # offset (0, 0) sees the zero border


@pytest.mark.parametrize("models", [(), (3,)])
@pytest.mark.parametrize(("in_shape", "kernel", "stride", "padding"), CONV_SHAPES)
def test_col2im_is_the_adjoint_of_im2col(
    in_shape: tuple[int, int, int], kernel: int, stride: int, padding: int, models: tuple[int, ...]
) -> None:
    """<im2col(x), d> = <x, col2im(d)> for every x and d: col2im is what backward needs."""
    layer = Conv2DLayer(in_shape, 1, kernel, stride=stride, padding=padding)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((*models, 5, layer.in_features))
    cols = layer.im2col(x)
    d = rng.standard_normal(cols.shape)
    back = layer.col2im(d, 5)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.vdot(cols, d), np.vdot(x, back), rtol=1e-12)


def test_cache_holds_what_backward_needs() -> None:
    x = layer_input(3, seed=0)
    c = Conv2DLayer(IN_SHAPE, 2, 3, padding=1)
    _, cache = c.forward(c.init(np.random.default_rng(0), "he"), x)
    assert isinstance(cache, Cache) and len(cache.extra) == 1
    np.testing.assert_array_equal(cache.extra[0], c.im2col(x))
    m = MaxPool2DLayer(IN_SHAPE, 2)
    _, cache = m.forward(m.init(np.random.default_rng(0), "he"), x)
    (first,) = cache.extra  # the position of each window's maximum, i*k + j
    assert first.shape == (3, 2, 2, 3) and set(np.unique(first)) <= {0.0, 1.0, 2.0, 3.0}
    for layer in (AvgPool2DLayer(IN_SHAPE, 2), FlattenLayer(IN_SHAPE)):
        _, cache = layer.forward(layer.init(np.random.default_rng(0), "he"), x)
        assert cache.x is x and cache.extra == ()


# ------------------------------------------------------------- max pooling: ties, NaN, overlaps ---


def test_maxpool_sends_the_gradient_to_the_first_maximum_of_a_tie() -> None:
    layer = MaxPool2DLayer((1, 2, 2), 2)
    params = layer.init(np.random.default_rng(0), "normal")
    a, cache = layer.forward(params, np.array([[1.0, 3.0, 3.0, 0.0]]))
    assert a.tolist() == [[3.0]]
    _, dx = layer.backward(params, cache, np.array([[2.0]]))
    assert dx.tolist() == [[0.0, 2.0, 0.0, 0.0]]


@pytest.mark.parametrize("stride", [None, 1])  # disjoint windows and overlapping ones
def test_maxpool_gradient_goes_to_the_first_maximum_or_the_first_nan(stride: int | None) -> None:
    layer = MaxPool2DLayer((1, 2, 4), 2, stride=stride)
    params = layer.init(np.random.default_rng(0), "normal")
    x = np.array([[1.0, 5.0, 0.0, -0.0, 5.0, 2.0, -0.0, 0.0], [1.0, np.nan, 7.0, 7.0, np.nan, 2.0, 7.0, 7.0]])
    a, cache = layer.forward(params, x)
    dz = np.arange(1.0, 1.0 + a.size).reshape(a.shape)
    _, dx = layer.backward(params, cache, dz)
    if (
        stride is None
    ):  # windows [[1, 5], [5, 2]] and [[0, -0], [-0, 0]]; then [[1, nan], [nan, 2]] and [[7, 7], [7, 7]]
        assert np.array_equal(a, [[5.0, 0.0], [np.nan, 7.0]], equal_nan=True)
        assert np.array_equal(dx, [[0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    else:  # three overlapping windows per sample; the first two share their first maximum
        assert np.array_equal(a, [[5.0, 5.0, 0.0], [np.nan, np.nan, 7.0]], equal_nan=True)
        assert np.array_equal(
            dx, [[0.0, 1.0 + 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 4.0 + 5.0, 6.0, 0, 0, 0, 0, 0]]
        )


def test_overlapping_pool_windows_add_their_gradients() -> None:
    layer = AvgPool2DLayer((1, 2, 3), 2, stride=1)  # two windows share the middle column
    params = layer.init(np.random.default_rng(0), "normal")
    _, cache = layer.forward(params, np.zeros((1, 6)))
    _, dx = layer.backward(params, cache, np.ones((1, 2)))
    np.testing.assert_allclose(dx, [[0.25, 0.5, 0.25, 0.25, 0.5, 0.25]])
    layer2 = MaxPool2DLayer((1, 1, 3), 1, stride=1)
    assert layer2.out_shape == (1, 1, 3)


def test_flatten_is_the_identity() -> None:
    layer = FlattenLayer((2, 3, 4))
    params = layer.init(np.random.default_rng(0), "normal")
    x = layer_input(2, seed=0, features=24)
    a, cache = layer.forward(params, x)
    np.testing.assert_array_equal(a, x)
    grads, dx = layer.backward(params, cache, 2 * x)
    np.testing.assert_array_equal(dx, 2 * x)
    assert grads == params


# ------------------------------------------------------------- gradients by finite differences ---


def layer_grad_check(layer: Layer, params: Any, x: FloatArray, seed: int, *, wrt_z: bool = False) -> None:
    """L = sum(r * a) (or sum(r * z) with ``wrt_z``): backward(r) must give dL/dparams and dL/dx."""
    a, cache = layer.forward(params, x)
    assert a.shape[-2:] == (x.shape[-2], layer.out_features)
    if isinstance(params, Conv2D):
        assert np.min(np.abs(cache.z)) > 1e-4  # away from the ReLU kink
    r = np.random.default_rng(seed).standard_normal(a.shape)
    grads, dx = layer.backward(params, cache, r, wrt_z=wrt_z)
    assert dx.shape == a.shape[:-1] + x.shape[-1:]
    assert structure(grads) == structure(params)

    def loss(p: Any, xx: FloatArray) -> float:
        a, cache = layer.forward(p, xx)
        return float(np.sum(r * (cache.z if wrt_z else a)))

    if isinstance(params, Conv2D):
        check_tree_grad(lambda p: loss(p, x), params, grads, seed=seed + 1)
    else:
        assert grads is params  # nothing to learn
    if dx.shape == x.shape:
        check_grad(lambda xx: loss(params, xx), x, dx, seed=seed + 2)
    else:  # x shared by stacked models: its gradient is the sum over the models
        check_grad(lambda xx: loss(params, xx), x, dx.sum(axis=0), seed=seed + 2)


GRAD_CASES = [(k, a) for k in CONV_KINDS for a in ACT_NAMES] + [(k, "identity") for k in KINDS if k not in CONV_KINDS]


@pytest.mark.parametrize("wrt_z", [False, True], ids=["wrt_a", "wrt_z"])
@pytest.mark.parametrize(("kind", "act_name"), GRAD_CASES)
def test_backward_matches_central_differences(kind: str, act_name: str, wrt_z: bool) -> None:
    layer = make(kind, act_name)
    layer_grad_check(layer, random_params(layer, seed=0), layer_input(4, seed=1), seed=3, wrt_z=wrt_z)


@pytest.mark.parametrize("shared_x", [True, False], ids=["shared_x", "x_per_model"])
@pytest.mark.parametrize("kind", tuple(KINDS))
def test_backward_matches_central_differences_with_model_axes(kind: str, shared_x: bool) -> None:
    layer = make(kind, "tanh")
    stacked = stack([random_params(layer, seed=s) for s in range(3)])
    x = layer_input(4, seed=2) if shared_x else layer_input(4, seed=2, lead=(3,))
    layer_grad_check(layer, stacked, x, seed=5)


@pytest.mark.parametrize("act_name", ACT_NAMES)
@pytest.mark.parametrize("kind", tuple(KINDS))
def test_backward_wrt_z_skips_the_activation(kind: str, act_name: str) -> None:
    """backward(da) equals backward(dz, wrt_z=True) with dz = f'(z) da from the activation."""
    layer = make(kind, act_name)
    params = random_params(layer, seed=0)
    a, cache = layer.forward(params, layer_input(3, seed=1))
    da = np.random.default_rng(2).standard_normal(a.shape)
    dz = layer.activation.backward(cache.z, cache.a, da)
    assert_trees_equal(layer.backward(params, cache, da), layer.backward(params, cache, dz, wrt_z=True))


# ------------------------------------------------------------- stacks of models ---


@pytest.mark.parametrize("shared_x", [True, False], ids=["shared_x", "x_per_model"])
@pytest.mark.parametrize("kind", tuple(KINDS))
def test_stacked_forward_and_backward_equal_single_models(kind: str, shared_x: bool) -> None:
    layer = make(kind, "relu")
    members = [random_params(layer, seed=s) for s in range(3)]
    stacked = stack(members)
    xs = layer_input(4, seed=7, lead=(3,))
    x = xs[0] if shared_x else xs
    a, cache = layer.forward(stacked, x)
    da = np.random.default_rng(8).standard_normal(a.shape)
    grads, dx = layer.backward(stacked, cache, da)
    assert a.shape == (3, 4, layer.out_features) and dx.shape == (3, 4, layer.in_features)
    assert layer.model_shape(stacked) == (3,) and layer.model_shape(members[0]) == ()
    for k, member in enumerate(members):
        ak, cache_k = layer.forward(member, xs[0] if shared_x else xs[k])
        gk, dxk = layer.backward(member, cache_k, da[k])
        np.testing.assert_allclose(a[k], ak, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx[k], dxk, rtol=1e-12, atol=1e-12)
        assert_trees_close(tree_map(lambda g, k=k: g[k], grads), gk, rtol=1e-12, atol=1e-12)


def test_two_model_axes_and_zero_samples() -> None:
    layer = Conv2DLayer((1, 4, 4), 2, 3, padding=1, activation="tanh")
    params = stack([stack([random_params(layer, seed=3 * i + j) for j in range(3)]) for i in range(2)])
    for x in (layer_input(5, seed=0, features=16), layer_input(5, seed=0, lead=(2, 3), features=16)):
        a, cache = layer.forward(params, x)
        grads, dx = layer.backward(params, cache, np.ones_like(a))
        assert a.shape == (2, 3, 5, 32) and dx.shape == (2, 3, 5, 16) and grads.w.shape == (2, 3, 2, 1, 3, 3)
        single, _ = layer.forward(random_params(layer, seed=3 * 1 + 2), x[1, 2] if x.ndim == 4 else x)
        np.testing.assert_allclose(a[1, 2], single, rtol=1e-12, atol=1e-12)
    for kind in KINDS:  # an empty batch: empty outputs and zero gradients
        one = make(kind, "relu")
        p = random_params(one, seed=0)
        a, cache = one.forward(p, np.zeros((0, FEATURES)))
        grads, dx = one.backward(p, cache, a)
        assert a.shape == (0, one.out_features) and dx.shape == (0, FEATURES)
        assert all(not np.any(g) for g in (grads.w, grads.b)) if isinstance(p, Conv2D) else grads is p


# ------------------------------------------------------------- purity and records ---


@pytest.mark.parametrize("kind", tuple(KINDS))
def test_layers_leave_their_inputs_unchanged(kind: str) -> None:
    layer = make(kind, "relu")
    params = random_params(layer, seed=0)
    x = layer_input(3, seed=1)
    before_x, before_p = x.copy(), snapshot(params)
    a, cache = layer.forward(params, x)
    da = np.ones_like(a)
    layer.backward(params, cache, da)
    np.testing.assert_array_equal(x, before_x)
    np.testing.assert_array_equal(da, 1.0)
    assert_unchanged(params, before_p)


@pytest.mark.parametrize("kind", tuple(KINDS))
def test_init_params_and_grads_are_read_only(kind: str) -> None:
    layer = make(kind)
    params = layer.init(np.random.default_rng(0), "normal")
    assert_read_only(params)
    a, cache = layer.forward(params, layer_input(2, seed=0))
    grads, _ = layer.backward(params, cache, np.ones_like(a))
    assert_read_only(grads)


def test_every_kind_is_a_layer_and_listed() -> None:
    assert IMAGE_LAYERS == (Conv2DLayer, MaxPool2DLayer, AvgPool2DLayer, FlattenLayer)
    for kind in KINDS:
        layer = make(kind)
        assert isinstance(layer, Layer) and isinstance(layer, IMAGE_LAYERS), kind
        assert layer.activation == ACTIVATIONS["identity"]
    assert set(conv.__all__) >= {"IMAGE_LAYERS", "Conv2D", "NoParams", "flatten_images"}


def test_conv2d_record_read_only_views_and_equality() -> None:
    w, b = np.ones((2, 1, 3, 3)), np.zeros(2)
    p = Conv2D(w=w, b=b)
    assert_read_only(p)
    assert w.flags.writeable
    assert p == Conv2D(w=np.ones((2, 1, 3, 3)), b=np.zeros(2))
    assert p != Conv2D(w=np.ones((2, 1, 3, 3)), b=np.ones(2))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.w = w  # type: ignore[misc]
    assert Conv2D(w=np.ones((4, 2, 1, 3, 3), dtype=np.int32), b=np.zeros((4, 2))).w.dtype == np.float64


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
        Conv2D(w=np.zeros(w_shape), b=np.zeros(b_shape))


def test_conv2d_record_rejects_non_finite_and_non_real() -> None:
    with pytest.raises(ValueError, match=r"Conv2D\.w must be finite"):
        Conv2D(w=np.full((1, 1, 1, 1), np.nan), b=np.zeros(1))
    with pytest.raises(ValueError, match=r"Conv2D\.b must be finite"):
        Conv2D(w=np.zeros((1, 1, 1, 1)), b=np.array([np.inf]))
    with pytest.raises(TypeError, match="w must be an array of real numbers"):
        Conv2D(w=np.array([["a"]]), b=np.zeros(1))


def test_no_params_record() -> None:
    assert NoParams(empty=np.zeros((3, 0))).empty.shape == (3, 0)
    with pytest.raises(ValueError, match=r"NoParams\.empty must have shape \(\*models, 0\), got shape \(2,\)"):
        NoParams(empty=np.zeros(2))
    with pytest.raises(ValueError, match=r"NoParams\.empty must have shape \(\*models, 0\), got shape \(\)"):
        NoParams(empty=np.zeros(()))


# ------------------------------------------------------------- initializers ---


@pytest.mark.parametrize("scheme", tuple(INITIALIZERS))
def test_conv_init_draws_from_the_scheme_with_the_kernel_fans(scheme: str) -> None:
    layer = Conv2DLayer((20, 8, 8), 30, 3)
    params = layer.init(np.random.default_rng(0), scheme)
    assert params.w.shape == (30, 20, 3, 3) and params.b.shape == (30,)
    np.testing.assert_array_equal(params.b, 0.0)
    fan_in, fan_out = 20 * 9, 30 * 9
    expected = INITIALIZERS[scheme](np.random.default_rng(0), (30, 20, 3, 3), fan_in, fan_out)
    np.testing.assert_array_equal(params.w, expected)
    mean, var = {
        "normal": (0.0, 1.0),
        "uniform": (0.5, 1.0 / 12.0),
        "xavier": (0.0, 2.0 / (fan_in + fan_out)),
        "he": (0.0, 2.0 / fan_in),
    }[scheme]
    assert abs(float(np.mean(params.w)) - mean) < 5 * np.sqrt(var / params.w.size)
    assert float(np.var(params.w)) == pytest.approx(var, rel=0.06)


def test_layers_without_params_init_empty_params() -> None:
    for kind in ("maxpool_k2", "avgpool_k2", "flatten"):
        params = make(kind).init(np.random.default_rng(0), "xavier")
        assert isinstance(params, NoParams) and params.empty.shape == (0,)


def test_init_bad_scheme_is_named() -> None:
    for kind in ("conv_k3_s1_p0", "maxpool_k2", "avgpool_k2", "flatten"):
        with pytest.raises(
            ValueError, match=r"scheme must be one of 'normal', 'uniform', 'xavier', 'he'; got 'glorot'"
        ):
            make(kind).init(np.random.default_rng(0), "glorot")


# ------------------------------------------------------------- validation ---

HUGE = np.int64(2**62)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (
            lambda: Conv2DLayer((1, 8), 2, 3),
            TypeError,
            r"in_shape must be a \(channels, height, width\) tuple of 3 integers, got \(1, 8\)",
        ),
        (lambda: Conv2DLayer("1x8x8", 2, 3), TypeError, r"in_shape must be a \(channels, height, width\) tuple"),  # type: ignore[arg-type]
        (lambda: Conv2DLayer((0, 8, 8), 2, 3), ValueError, r"in_shape\[0\] must be an integer >= 1, got 0"),
        (lambda: Conv2DLayer((1, 8.0, 8), 2, 3), TypeError, r"in_shape\[1\] must be an integer, got 8\.0"),  # type: ignore[arg-type]
        (lambda: Conv2DLayer((1, 8, 8), 0, 3), ValueError, r"out_channels must be an integer >= 1, got 0"),
        (lambda: Conv2DLayer((1, 8, 8), 2.0, 3), TypeError, r"out_channels must be an integer, got 2\.0"),
        (lambda: Conv2DLayer((1, 8, 8), True, 3), TypeError, r"out_channels must be an integer, got True"),
        (lambda: Conv2DLayer((1, 8, 8), 2, 0), ValueError, r"kernel_size must be an integer >= 1, got 0"),
        (lambda: Conv2DLayer((1, 8, 8), 2, 3, stride=0), ValueError, r"stride must be an integer >= 1, got 0"),
        (lambda: Conv2DLayer((1, 8, 8), 2, 3, stride=-2), ValueError, r"stride must be an integer >= 1, got -2"),
        (lambda: Conv2DLayer((1, 8, 8), 2, 3, stride=1.5), TypeError, r"stride must be an integer, got 1\.5"),
        (lambda: Conv2DLayer((1, 8, 8), 2, 3, padding=-1), ValueError, r"padding must be an integer >= 0, got -1"),
        (lambda: Conv2DLayer((1, 8, 8), 2, 3, padding=None), TypeError, r"padding must be an integer, got None"),
        (
            lambda: Conv2DLayer((1, 2, 3), 2, 5, padding=1),
            ValueError,
            r"kernel_size must be at most the padded input 4x5 \(in_shape \(1, 2, 3\), padding 1\), got 5",
        ),
        (
            lambda: Conv2DLayer((1, 2, 3), 2, 3),
            ValueError,
            r"kernel_size must be at most the input 2x3 \(in_shape \(1, 2, 3\)\), got 3",
        ),
        (
            lambda: Conv2DLayer((1, 8, 8), 2, 3, activation="swish"),
            ValueError,
            r"activation must be one of .*; got 'swish'",
        ),
        (lambda: Conv2DLayer((1, 8, 8), 2, 3, activation=3), TypeError, r"activation must be an activation name"),  # type: ignore[arg-type]
        (
            lambda: MaxPool2DLayer((1, 4, 4), 5),
            ValueError,
            r"pool_size must be at most the input 4x4 \(in_shape \(1, 4, 4\)\), got 5",
        ),
        (lambda: AvgPool2DLayer((1, 4, 4), 0), ValueError, r"pool_size must be an integer >= 1, got 0"),
        (lambda: MaxPool2DLayer((1, 4, 4), 2, stride=0), ValueError, r"stride must be an integer >= 1, got 0"),
        (lambda: AvgPool2DLayer((1, 4, 4), 2, stride=2.0), TypeError, r"stride must be an integer, got 2\.0"),
        (
            lambda: FlattenLayer((1, 4)),
            TypeError,
            r"in_shape must be a \(channels, height, width\) tuple of 3 integers",
        ),
        # sizes no array can hold are refused by name when the layer is built, not when it is used
        (
            lambda: Conv2DLayer((1, 8, 8), HUGE, 3),
            ValueError,
            r"out_channels is too large: an output image would hold 166020696663385964544 values",
        ),
        (lambda: Conv2DLayer((HUGE, 8, 8), 2, 3), ValueError, r"in_shape is too large: an image would hold"),
        (
            lambda: Conv2DLayer((1, 8, 8), 2, 3, padding=HUGE),
            ValueError,
            r"padding is too large: a padded image would hold",
        ),
        (
            lambda: Conv2DLayer((2**30, 3, 3), 2**40, 3),
            ValueError,
            r"out_channels is too large: the kernels would hold",
        ),
        (lambda: MaxPool2DLayer((1, HUGE, HUGE), 2), ValueError, r"in_shape is too large"),
        (lambda: FlattenLayer((HUGE, HUGE, 1)), ValueError, r"in_shape is too large"),
        (
            lambda: MaxPool2DLayer((1, 4, 4), HUGE),
            ValueError,
            r"pool_size must be at most the input 4x4 .*got 4611686018427387904",
        ),
    ],
)
def test_layer_arguments_are_validated(build: Callable[[], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build()


def test_numpy_integer_sizes_are_stored_as_python_ints() -> None:
    layer = Conv2DLayer(
        (np.uint64(2), np.int32(5), np.int64(6)), np.uint64(3), np.int16(3), stride=np.uint8(2), padding=np.int64(1)
    )
    assert layer == Conv2DLayer((2, 5, 6), 3, 3, stride=2, padding=1)
    values = (*layer.in_shape, layer.out_channels, layer.kernel_size, layer.stride, layer.padding, *layer.out_shape)
    assert all(type(v) is int for v in values)
    assert hash(layer) == hash(Conv2DLayer((2, 5, 6), 3, 3, stride=2, padding=1))
    pool = MaxPool2DLayer(np.array([1, 4, 4]), np.uint64(2), stride=np.int32(1))
    assert pool == MaxPool2DLayer((1, 4, 4), 2, stride=1)
    assert all(type(v) is int for v in (*pool.in_shape, pool.pool_size, pool.stride, pool.step, pool.in_features))
    assert type(FlattenLayer((np.int8(1), np.int8(2), np.int8(3))).in_shape[0]) is int


def test_a_huge_stride_that_fits_is_a_valid_layer() -> None:
    layer = Conv2DLayer((1, 5, 5), 2, 3, stride=HUGE, padding=1)
    assert layer.out_shape == (2, 1, 1)
    params = random_params(layer, seed=0)
    x = layer_input(2, seed=0, features=25)
    a, _ = layer.forward(params, x)
    z = naive_conv(x, params.w, params.b, layer.in_shape, 1, 1).reshape(2, 2, 5, 5)[:, :, 0, 0]
    np.testing.assert_allclose(a, z, rtol=1e-12)
    layer_grad_check(layer, params, x, seed=1)


def test_check_params_and_model_shape() -> None:
    layer = Conv2DLayer((2, 5, 5), 3, 3)
    layer.check_params(Conv2D(w=np.zeros((4, 3, 2, 3, 3)), b=np.zeros((4, 3))), "p")
    assert layer.model_shape(Conv2D(w=np.zeros((4, 5, 3, 2, 3, 3)), b=np.zeros((4, 5, 3)))) == (4, 5)
    with pytest.raises(ValueError, match=r"p\.w must have shape \(\.\.\., 3, 2, 3, 3\), got shape \(3, 1, 3, 3\)"):
        layer.check_params(Conv2D(w=np.zeros((3, 1, 3, 3)), b=np.zeros(3)), "p")
    with pytest.raises(TypeError, match="p must be a Conv2D record, got Dense"):
        layer.check_params(Dense(w=np.zeros((2, 3)), b=np.zeros(3)), "p")
    for other in (MaxPool2DLayer((2, 4, 4), 2), AvgPool2DLayer((2, 4, 4), 2), FlattenLayer((2, 4, 4))):
        other.check_params(NoParams(empty=np.zeros((2, 0))), "q")
        assert other.model_shape(NoParams(empty=np.zeros((2, 3, 0)))) == (2, 3)
        with pytest.raises(TypeError, match="q must be a NoParams record, got Conv2D"):
            other.check_params(Conv2D(w=np.zeros((3, 1, 3, 3)), b=np.zeros(3)), "q")


def test_flatten_images() -> None:
    images = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    x = flatten_images(images, (3, 4, 5))
    assert x.shape == (2, 60) and not x.flags.writeable and images.flags.writeable
    np.testing.assert_array_equal(x[1], images[1].ravel())
    assert flatten_images(np.zeros((2, 4, 5)), (1, 4, 5)).shape == (2, 20)
    assert flatten_images(np.zeros((2, 4, 5), dtype=np.int32), (np.int64(1), 4, 5)).dtype == np.float64
    with pytest.raises(
        ValueError, match=r"images must have shape \(n, 3, 4, 5\), got shape \(2, 1, 4, 5\) \(1 channels instead of 3\)"
    ):
        flatten_images(np.zeros((2, 1, 4, 5)), (3, 4, 5))
    with pytest.raises(ValueError, match=r"batch must have shape \(n, 1, 4, 5\), got shape \(2, 1, 5, 4\)$"):
        flatten_images(np.zeros((2, 1, 5, 4)), (1, 4, 5), name="batch")
    with pytest.raises(ValueError, match=r"images must have shape \(n, 1, 4, 5\), got shape \(2, 1, 1, 4, 5\)$"):
        flatten_images(np.zeros((2, 1, 1, 4, 5)), (1, 4, 5))
    with pytest.raises(ValueError, match=r"images must have at least 3 axes, got shape \(2, 20\)"):
        flatten_images(np.zeros((2, 20)), (1, 4, 5))
    with pytest.raises(ValueError, match=r"images must hold at least one image, got shape \(0, 1, 4, 5\)"):
        flatten_images(np.zeros((0, 1, 4, 5)), (1, 4, 5))
    with pytest.raises(ValueError, match=r"images must be finite"):
        flatten_images(np.full((1, 1, 4, 5), np.nan), (1, 4, 5))
    with pytest.raises(TypeError, match=r"in_shape must be a \(channels, height, width\) tuple"):
        flatten_images(np.zeros((1, 1, 4, 5)), (4, 5))


# ================================================================================================
# Through the network, io and scripts (fnn.cnn, fnn.init, fnn.grad, fnn.train): these need the
# rest of the package; the layer-level tests above do not.
# ================================================================================================


def small_cnn(*, out: str = "sigmoid") -> fnn.Network:
    c1 = Conv2DLayer((1, 6, 6), 3, 3, padding=1, activation="tanh")
    p1 = MaxPool2DLayer(c1.out_shape, 2)
    c2 = Conv2DLayer(p1.out_shape, 2, 2, stride=1, activation="relu")
    p2 = AvgPool2DLayer(c2.out_shape, 2)
    return fnn.cnn(
        c1,
        p1,
        c2,
        p2,
        FlattenLayer(p2.out_shape),
        fnn.DenseLayer(p2.out_features, 3, fnn.Tanh()),
        fnn.DenseLayer(3, 1, fnn.get_activation(out)),
    )


def image_batch(n: int, seed: int, features: int = 36) -> tuple[FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)), rng.integers(0, 2, (n, 1)).astype(np.float64)


def test_cnn_checks_that_image_shapes_chain() -> None:
    c = Conv2DLayer((1, 8, 8), 4, 3, padding=1)  # out (4, 8, 8) = 256 features
    with pytest.raises(
        ValueError, match=r"layers\[1\]\.in_shape must equal layers\[0\]\.out_shape \(4, 8, 8\), got \(1, 16, 16\)"
    ):
        fnn.cnn(c, MaxPool2DLayer((1, 16, 16), 2))
    with pytest.raises(
        ValueError, match=r"layers\[1\]\.in_shape must equal layers\[0\]\.out_shape \(4, 8, 8\), got \(1, 8, 8\)"
    ):
        fnn.cnn(c, MaxPool2DLayer((1, 8, 8), 2))
    with pytest.raises(
        ValueError, match=r"layers\[1\]\.in_features must equal layers\[0\]\.out_features \(256\), got 64"
    ):
        fnn.cnn(c, fnn.DenseLayer(64, 1))
    net = fnn.cnn(c, MaxPool2DLayer(c.out_shape, 2), fnn.DenseLayer(64, 1))
    assert (net.in_features, net.out_features) == (64, 1)
    assert fnn.sequential(*net.layers) == net


@pytest.mark.parametrize("loss_name", ["mse", "bce"])
def test_network_grad_through_conv_and_pooling_matches_central_differences(loss_name: str) -> None:
    net = small_cnn()
    rng = np.random.default_rng(2)
    params = tuple(
        p if isinstance(p, NoParams) else attrs.evolve(p, b=0.3 * rng.standard_normal(p.b.shape))
        for p in fnn.init(net, seed=1, scheme="xavier")
    )
    x, y = image_batch(5, seed=3)
    value, grads = fnn.grad(net, params, x, y, loss=loss_name)

    def loss_of(p: Any) -> float:
        return float(fnn.grad(net, p, x, y, loss=loss_name)[0])

    assert loss_of(params) == float(value)
    for i, p in enumerate(params):
        if isinstance(p, NoParams):
            continue

        def loss_of_layer(q: Any, i: int = i) -> float:
            return loss_of((*params[:i], q, *params[i + 1 :]))

        check_tree_grad(loss_of_layer, p, grads[i], seed=4 + i)


def test_network_stacked_equals_separate_models() -> None:
    net = small_cnn()
    seeds = [3, 4, 5]
    stacked = fnn.init(net, seed=seeds, scheme="he")
    x, y = image_batch(6, seed=0)
    out = fnn.forward(net, stacked, x)
    value, grads = fnn.grad(net, stacked, x, y, loss="bce")
    for k, s in enumerate(seeds):
        alone = fnn.init(net, seed=s, scheme="he")
        assert_trees_equal(tree_map(lambda a, k=k: a[k], stacked), alone)
        np.testing.assert_allclose(out[k], fnn.forward(net, alone, x), rtol=1e-12)
        v, g = fnn.grad(net, alone, x, y, loss="bce")
        np.testing.assert_allclose(value[k], v, rtol=1e-12)
        assert_trees_close(tree_map(lambda a, k=k: a[k], grads), g, rtol=1e-10, atol=1e-14)


def test_network_names_params_and_images_that_do_not_fit() -> None:
    net = small_cnn()
    params = fnn.init(net, seed=0)
    bad = (Conv2D(w=np.zeros((3, 2, 3, 3)), b=np.zeros(3)), *params[1:])
    with pytest.raises(
        ValueError, match=r"params\[0\]\.w must have shape \(\.\.\., 3, 1, 3, 3\), got shape \(3, 2, 3, 3\)"
    ):
        fnn.forward(net, bad, np.zeros((1, 36)))
    with pytest.raises(ValueError, match=r"x must have shape \(n, 36\) .*got shape \(2, 49\)"):
        fnn.forward(net, params, np.zeros((2, 49)))


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
    for k, s in enumerate(seeds):
        alone = fnn.train(net, fnn.init(net, seed=s, scheme="he"), train, config.member(k))
        assert_trees_close(tree_map(lambda a, k=k: a[k], trace.params), alone.params, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(trace.loss[:, k], alone.loss, rtol=1e-10)


def test_training_a_cnn_lowers_the_loss_and_keeps_empty_params() -> None:
    net = small_cnn()
    train, _ = fnn.generate_bars(40, 1, size=6, noise=0.1, seed=1)
    config = fnn.TrainConfig(epochs=15, optimizer=fnn.adam(lr=0.03), loss="bce", batch_size=8, seed=0)
    trace = fnn.train(net, fnn.init(net, seed=0, scheme="he"), train, config)
    assert trace.loss[-1] < 0.7 * trace.loss[0]
    assert isinstance(trace.params[1], NoParams) and trace.params[1].empty.shape == (0,)
    assert_read_only(trace.params)


def test_io_round_trips_every_image_layer(tmp_path: Path) -> None:
    from functional_nn import io as fio

    c = Conv2DLayer((1, 6, 6), 2, 3, stride=2, padding=1, activation="leaky_relu")
    a = AvgPool2DLayer(c.out_shape, 2, stride=1)
    nets = (
        fnn.cnn(c, MaxPool2DLayer(c.out_shape, 2), FlattenLayer((2, 1, 1)), fnn.DenseLayer(2, 1, fnn.Sigmoid())),
        fnn.cnn(c, a, fnn.DenseLayer(a.out_features, 1)),
    )
    for network in nets:
        for seed in (0, [0, 1]):
            params = fnn.init(network, seed=seed)
            path = tmp_path / "p.npz"
            fio.save_params(path, network, params)
            net2, params2 = fio.load_params(path)
            assert net2 == network
            assert_trees_equal(params2, params)


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
    assert "| wide MLP | Dense 64->16, relu; Dense 16->1, sigmoid | 1057 |" in report
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"CNN", "MLP", "wide MLP"}
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


def test_bench_conv_times_the_layer_against_its_matmuls(tmp_path: Path) -> None:
    from scripts import bench_conv

    out = tmp_path / "bench.json"
    argv = ["--repeats", "1", "--images", "4", "--sizes", "5", "--filters", "2", "--out", str(out)]
    assert bench_conv.main(argv) == 0
    result = json.loads(out.read_text())
    for label in ("default_malloc", "malloc_keep_memory"):
        figures = result["allocators"][label]["5x5"]
        assert figures["im2col_shape"] == [9, 4 * 25]
        assert figures["matmuls_s"] > 0
        for act in ("relu", "identity"):
            assert figures[act]["conv_forward_backward_s"] > 0 and figures[act]["ratio"] > 0
