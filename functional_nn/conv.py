"""Image layers: 2-D convolution, max / average pooling and flatten, with the contract of
``layers.Layer``.  Images travel flattened in C order ``(C, H, W)``, so every layer maps
`(..., n, in_features)` to `(..., n, out_features)`; leading model axes broadcast as for
Dense (params `(*models, ...)`, x `(n, in)` shared by the models or `(*models, n, in)`):

    Conv2D(w, b)        # w `(..., out_channels, in_channels, k, k)`, b `(..., out_channels)`
    NoParams(empty)     # params of pooling and flatten: empty `(*models, 0)` holds only the model axes
    Conv2DLayer(in_shape, out_channels, kernel_size, *, stride=1, padding=0, activation="identity")
    MaxPool2DLayer(in_shape, pool_size, *, stride=None)      # stride defaults to pool_size
    AvgPool2DLayer(in_shape, pool_size, *, stride=None)
    FlattenLayer(in_shape)                                   # the identity, where images end
    layer.in_shape, layer.out_shape -> (C, H, W);  layer.in_features, layer.out_features: their products
    IMAGE_LAYERS = (Conv2DLayer, MaxPool2DLayer, AvgPool2DLayer, FlattenLayer)
    flatten_images(images, shape) -> x `(n, C*H*W)` from images `(n, C, H, W)`, checked

Convolution is cross-correlation with zero padding p on each side,
``z[o, y, x] = b[o] + sum_{c,i,j} w[o, c, i, j] * xpad[c, s*y + i, s*x + j]``, output size
``(H + 2p - k) // s + 1``, computed as one product with the im2col matrix.  Pooling has no
padding; windows may overlap (stride < pool_size); max pooling sends a window's gradient to
its first maximum.

Example:
    >>> layer = Conv2DLayer((1, 8, 8), 4, 3, padding=1, activation="relu")
    >>> params = layer.init(np.random.default_rng(0), "he")
    >>> a, cache = layer.forward(params, np.ones((5, 64)))
    >>> grads, dx = layer.backward(params, cache, np.ones_like(a))
    >>> layer.out_shape, a.shape, grads.w.shape, dx.shape
    ((4, 8, 8), (5, 256), (4, 1, 3, 3), (5, 64))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from functional_nn import _validate
from functional_nn._records import ARRAY_EQ, FloatArray, real_array, to_array, trusted
from functional_nn.activations import Activation, Identity, get_activation
from functional_nn.layers import INITIALIZERS, Cache, NoParams, positive_size

__all__ = [
    "IMAGE_LAYERS",
    "AvgPool2DLayer",
    "Conv2D",
    "Conv2DLayer",
    "FlattenLayer",
    "MaxPool2DLayer",
    "NoParams",
    "flatten_images",
]

ImageShape: TypeAlias = tuple[int, int, int]
"""``(channels, height, width)``."""

ShapeLike: TypeAlias = Sequence[int | np.integer[Any]] | npt.NDArray[np.integer[Any]]
"""What ``in_shape`` accepts: three integers, NumPy's too (stored as Python ints)."""

_MAX_VALUES = np.iinfo(np.intp).max // 8
"""The most float64 values one array can hold: larger layers are refused when built."""


def _conv_valid(instance: Conv2D, attribute: attrs.Attribute[FloatArray], value: FloatArray) -> None:
    del attribute, value
    w, b = instance.w, instance.b
    kernels = f"(..., out_channels, in_channels, k, k), got shape {w.shape}"
    if w.ndim < 4:
        raise ValueError(f"Conv2D.w must have shape {kernels}")
    if w.shape[-1] != w.shape[-2]:
        raise ValueError(f"Conv2D.w must hold square kernels {kernels}")
    if b.shape != w.shape[:-3]:
        raise ValueError(
            f"Conv2D.b must have shape {w.shape[:-3]} to match Conv2D.w of shape {w.shape}, got shape {b.shape}"
        )
    for name, arr in (("w", w), ("b", b)):
        if _validate.count_non_finite(arr):  # block by block: bounded memory on a broadcast view
            raise ValueError(f"Conv2D.{name} must be finite, got NaN/inf values")


@attrs.frozen
class Conv2D:
    """Params of a 2-D convolution: kernels w `(..., out_channels, in_channels, k, k)` and
    biases b `(..., out_channels)` (same leading axes), read-only float64."""

    w: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    b: FloatArray = attrs.field(converter=to_array, validator=[real_array, _conv_valid], eq=ARRAY_EQ)


def _per_model(a: FloatArray, params: NoParams) -> FloatArray:
    """``a`` `(..., n, f)` with the params' model axes in front (a shared input: a read-only view per model)."""
    lead = np.broadcast_shapes(params.empty.shape[:-1], a.shape[:-2])
    return a if lead == a.shape[:-2] else np.broadcast_to(a, (*lead, *a.shape[-2:]))


def _fits(name: str, what: str, size: int) -> None:
    if size > _MAX_VALUES:
        raise ValueError(f"{name} is too large: {what} would hold {size} values, over the array limit {_MAX_VALUES}")


def _image_shape(value: ShapeLike) -> ImageShape:
    """Converter of ``in_shape``: three integers >= 1 (NumPy's too), as Python ints."""
    bad_array = isinstance(value, np.ndarray) and value.ndim != 1
    if bad_array or isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)) or len(value) != 3:
        raise TypeError(
            f"in_shape must be a (channels, height, width) tuple of 3 integers, got {_validate.show(value)}"
        )
    c, h, w = (_validate.integer(f"in_shape[{i}]", v, minimum=1) for i, v in enumerate(value))
    _fits("in_shape", "an image", c * h * w)
    return (c, h, w)


def _non_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    _validate.integer(attribute.name, value, minimum=0)


def _out_size(size: int, k: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - k) // stride + 1


def _check_window(name: str, k: int, in_shape: ImageShape, padding: int) -> None:
    _, h, w = in_shape
    if k > min(h, w) + 2 * padding:
        where = f"padded input {h + 2 * padding}x{w + 2 * padding}" if padding else f"input {h}x{w}"
        more = f", padding {padding}" if padding else ""
        raise ValueError(f"{name} must be at most the {where} (in_shape {in_shape}{more}), got {k}")


def _check_record(params: object, where: str, cls: type) -> None:
    if not isinstance(params, cls):
        raise TypeError(f"{where} must be a {cls.__name__} record, got {type(params).__name__}")


def _windows(img: FloatArray, k: int, stride: int) -> FloatArray:
    """A read-only view `(..., H', W', k, k)` of the k x k windows of `(..., H, W)` at the stride."""
    view: FloatArray = sliding_window_view(img, (k, k), axis=(-2, -1))
    return view[..., ::stride, ::stride, :, :]


def _add_windows(d: FloatArray, size: tuple[int, int], stride: int) -> FloatArray:
    """The adjoint of ``_windows``: window gradients `(..., H', W', k, k)` summed onto zeros
    `(..., H, W)`, each kernel offset ``(i, j)`` adding its `(..., H', W')` onto the pixels it saw."""
    *lead, ho, wo, k, _ = d.shape
    out = np.zeros((*lead, *size))
    for i in range(k):
        for j in range(k):
            out[..., i : i + stride * ho : stride, j : j + stride * wo : stride] += d[..., i, j]
    return out


@attrs.frozen
class Conv2DLayer:
    """2-D convolution ``a = f(conv(x, w) + b)`` of images ``in_shape = (C, H, W)`` with
    ``out_channels`` square ``kernel_size`` kernels, ``stride`` >= 1, zero ``padding`` >= 0
    and an activation (name or record; default identity).  ``out_shape`` is ``(O, H', W')``
    with ``H' = (H + 2 padding - k) // stride + 1``.  The cache's ``extra`` is ``(im2col matrix,)``.
    Bad arguments raise TypeError / ValueError naming them (e.g. a kernel larger than the padded input).
    """

    in_shape: ImageShape = attrs.field(converter=_image_shape)
    out_channels: int = attrs.field(converter=_validate.as_int, validator=positive_size)
    kernel_size: int = attrs.field(converter=_validate.as_int, validator=positive_size)
    stride: int = attrs.field(default=1, kw_only=True, converter=_validate.as_int, validator=positive_size)
    padding: int = attrs.field(default=0, kw_only=True, converter=_validate.as_int, validator=_non_negative)
    activation: Activation = attrs.field(default=Identity(), kw_only=True, converter=get_activation)

    def __attrs_post_init__(self) -> None:
        c, h, w = self.in_shape
        k, p = self.kernel_size, self.padding
        _check_window("kernel_size", k, self.in_shape, p)
        _fits("padding", "a padded image", c * (h + 2 * p) * (w + 2 * p))
        _fits("out_channels", "an output image", self.out_features)
        _fits("out_channels", "the kernels", self.out_channels * c * k * k)

    @property
    def out_shape(self) -> ImageShape:
        _, h, w = self.in_shape
        k, s, p = self.kernel_size, self.stride, self.padding
        return (self.out_channels, _out_size(h, k, s, p), _out_size(w, k, s, p))

    @property
    def in_features(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_features(self) -> int:
        return math.prod(self.out_shape)

    def init(self, rng: np.random.Generator, scheme: str) -> Conv2D:
        """Kernels from the scheme with fan_in = C*k*k and fan_out = O*k*k; zero biases."""
        initializer = INITIALIZERS[_validate.choice("scheme", scheme, tuple(INITIALIZERS))]
        c, k, o = self.in_shape[0], self.kernel_size, self.out_channels
        w = initializer(rng, (o, c, k, k), c * k * k, o * k * k)
        return trusted(Conv2D, w=w, b=np.zeros(o))

    def forward(self, params: Conv2D, x: FloatArray) -> tuple[FloatArray, Cache]:
        """``(a, cache)`` for ``x`` `(..., n, C*H*W)`; a and z are `(..., n, O*H'*W')`."""
        cols = self.im2col(x)  # (..., C*k*k, n*H'*W')
        w = params.w.reshape((*params.w.shape[:-3], cols.shape[-2]))  # (..., O, C*k*k)
        z = self._swap_blocks(w @ cols + params.b[..., None], x.shape[-2])  # (..., O, n*H'*W') -> (..., n, O*H'*W')
        a = self.activation.value(z)
        return a, Cache(x, z, a, (cols,))

    def backward(
        self, params: Conv2D, cache: Cache, da: FloatArray, *, wrt_z: bool = False
    ) -> tuple[Conv2D, FloatArray]:
        """``(grads, dL/dx)`` from ``da`` `(..., n, O*H'*W')`; dL/dx is `(..., n, C*H*W)`."""
        _, z, a, (cols,) = cache
        dz = da if wrt_z else self.activation.backward(z, a, da)  # the chain rule through f
        dz_cols = self._swap_blocks(dz, self.out_channels)  # (..., O, n*H'*W'), the layout of w @ cols
        w = params.w.reshape((*params.w.shape[:-3], cols.shape[-2]))
        gw = dz_cols @ np.swapaxes(cols, -1, -2)  # summed over every output pixel of every sample
        gb = dz_cols.sum(axis=-1)
        dx = self.col2im(np.swapaxes(w, -1, -2) @ dz_cols, dz.shape[-2])
        return trusted(Conv2D, w=gw.reshape(gw.shape[:-1] + params.w.shape[-3:]), b=gb), dx

    def im2col(self, x: FloatArray) -> FloatArray:
        """The im2col matrix `(..., C*k*k, n*H'*W')` of ``x`` `(..., n, C*H*W)`: row ``(c, i, j)``
        and column ``(sample, y, x)`` hold ``xpad[sample, c, stride*y + i, stride*x + j]``."""
        c, h, w = self.in_shape
        _, ho, wo = self.out_shape
        k, p, n = self.kernel_size, self.padding, x.shape[-2]
        img = x.reshape((*x.shape[:-1], c, h, w))
        padded = np.pad(img, [(0, 0)] * (img.ndim - 2) + [(p, p), (p, p)])
        win = _windows(padded, k, self.stride)  # (..., n, C, H', W', k, k)
        win = np.moveaxis(win, (-5, -2, -1), (-6, -5, -4))  # (..., C, k, k, n, H', W')
        return win.reshape((*x.shape[:-2], c * k * k, n * ho * wo))

    def col2im(self, dcols: FloatArray, n: int) -> FloatArray:
        """The adjoint of ``im2col``: `(..., C*k*k, n*H'*W')` -> `(..., n, C*H*W)`, a pixel's entries summed."""
        c, h, w = self.in_shape
        _, ho, wo = self.out_shape
        k, p = self.kernel_size, self.padding
        d = dcols.reshape((*dcols.shape[:-2], c, k, k, n, ho, wo))
        d = np.moveaxis(d, (-6, -5, -4), (-5, -2, -1))  # back to the windows' (..., n, C, H', W', k, k)
        dpad = _add_windows(d, (h + 2 * p, w + 2 * p), self.stride)
        return dpad[..., p : p + h, p : p + w].reshape((*dpad.shape[:-3], c * h * w))  # the padding's share dropped

    def _swap_blocks(self, m: FloatArray, b: int) -> FloatArray:
        """`(..., a, b*P)` -> `(..., b, a*P)` with P = H'*W': O and n trade places around the pixels."""
        *lead, a, _ = m.shape
        pixels = self.out_shape[1] * self.out_shape[2]
        return np.swapaxes(m.reshape((*lead, a, b, pixels)), -3, -2).reshape((*lead, b, a * pixels))

    def check_params(self, params: object, where: str) -> None:
        _check_record(params, where, Conv2D)
        assert isinstance(params, Conv2D)
        want = (self.out_channels, self.in_shape[0], self.kernel_size, self.kernel_size)
        if params.w.shape[-4:] != want:
            raise ValueError(
                f"{where}.w must have shape (..., {', '.join(map(str, want))}), got shape {params.w.shape}"
            )

    def model_shape(self, params: Conv2D) -> tuple[int, ...]:
        return tuple(params.w.shape[:-4])


@attrs.frozen
class _NoParamsLayer:
    """What pooling and flatten share: an ``in_shape``, no params, the identity activation."""

    in_shape: ImageShape = attrs.field(converter=_image_shape)
    activation: Activation = attrs.field(default=Identity(), init=False)

    @property
    def out_shape(self) -> ImageShape:
        return self.in_shape

    @property
    def in_features(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_features(self) -> int:
        return math.prod(self.out_shape)

    def init(self, rng: np.random.Generator, scheme: str) -> NoParams:
        _validate.choice("scheme", scheme, tuple(INITIALIZERS))
        return trusted(NoParams, empty=np.zeros(0))

    def check_params(self, params: object, where: str) -> None:
        _check_record(params, where, NoParams)

    def model_shape(self, params: NoParams) -> tuple[int, ...]:
        return tuple(params.empty.shape[:-1])


@attrs.frozen
class FlattenLayer(_NoParamsLayer):
    """The identity on `(..., n, C*H*W)`, marking where images ``in_shape = (C, H, W)`` become features."""

    def forward(self, params: NoParams, x: FloatArray) -> tuple[FloatArray, Cache]:
        a = _per_model(x, params)
        return a, Cache(x, a, a)

    def backward(
        self, params: NoParams, cache: Cache, da: FloatArray, *, wrt_z: bool = False
    ) -> tuple[NoParams, FloatArray]:
        _, z, a, _ = cache
        return params, (da if wrt_z else self.activation.backward(z, a, da))


@attrs.frozen
class _Pool2DLayer(_NoParamsLayer):
    """Pooling of ``pool_size`` x ``pool_size`` windows at the ``stride`` (default ``pool_size``:
    disjoint windows), per channel, without padding."""

    pool_size: int = attrs.field(converter=_validate.as_int, validator=positive_size)
    stride: int | None = attrs.field(
        default=None, kw_only=True, converter=_validate.as_int, validator=attrs.validators.optional(positive_size)
    )

    def __attrs_post_init__(self) -> None:
        _check_window("pool_size", self.pool_size, self.in_shape, 0)

    @property
    def step(self) -> int:
        """The stride in use (``pool_size`` when ``stride`` is None)."""
        return self.pool_size if self.stride is None else self.stride

    @property
    def out_shape(self) -> ImageShape:
        c, h, w = self.in_shape
        return (c, _out_size(h, self.pool_size, self.step, 0), _out_size(w, self.pool_size, self.step, 0))


@attrs.frozen
class MaxPool2DLayer(_Pool2DLayer):
    """Max pooling (see ``_Pool2DLayer``).  A window's gradient goes to its first maximum in
    row-major order, or its first NaN (a NaN is the window's value).  The cache's ``extra`` is
    ``(first,)``: that position ``i*k + j`` in each window (as floats, like every cached array)."""

    def forward(self, params: NoParams, x: FloatArray) -> tuple[FloatArray, Cache]:
        win = _windows(x.reshape((*x.shape[:-1], *self.in_shape)), self.pool_size, self.step)
        flat = win.reshape((*win.shape[:-2], self.pool_size**2))  # (..., n, C, H', W', k*k)
        first = np.argmax(flat, axis=-1).astype(np.float64)
        z = _per_model(flat.max(axis=-1).reshape((*x.shape[:-1], self.out_features)), params)
        return z, Cache(x, z, z, (first,))

    def backward(
        self, params: NoParams, cache: Cache, da: FloatArray, *, wrt_z: bool = False
    ) -> tuple[NoParams, FloatArray]:
        _, z, a, (first,) = cache
        dz = da if wrt_z else self.activation.backward(z, a, da)
        dz = dz.reshape((*dz.shape[:-1], *self.out_shape))
        k = self.pool_size
        offsets = np.arange(k * k).reshape(k, k)
        d = np.where(first[..., None, None] == offsets, dz[..., None, None], 0.0)  # (..., n, C, H', W', k, k)
        dx = _add_windows(d, self.in_shape[1:], self.step)  # overlapping windows add up
        return params, dx.reshape((*dx.shape[:-3], self.in_features))


@attrs.frozen
class AvgPool2DLayer(_Pool2DLayer):
    """Average pooling (see ``_Pool2DLayer``)."""

    def forward(self, params: NoParams, x: FloatArray) -> tuple[FloatArray, Cache]:
        win = _windows(x.reshape((*x.shape[:-1], *self.in_shape)), self.pool_size, self.step)
        pooled = win.mean(axis=(-2, -1))
        z = _per_model(pooled.reshape((*x.shape[:-1], self.out_features)), params)
        return z, Cache(x, z, z)

    def backward(
        self, params: NoParams, cache: Cache, da: FloatArray, *, wrt_z: bool = False
    ) -> tuple[NoParams, FloatArray]:
        _, z, a, _ = cache
        dz = da if wrt_z else self.activation.backward(z, a, da)
        k = self.pool_size
        share = dz.reshape((*dz.shape[:-1], *self.out_shape)) / (k * k)  # each pixel of a window gets 1/k² of it
        dx = _add_windows(np.broadcast_to(share[..., None, None], (*share.shape, k, k)), self.in_shape[1:], self.step)
        return params, dx.reshape((*dx.shape[:-3], self.in_features))


IMAGE_LAYERS = (Conv2DLayer, MaxPool2DLayer, AvgPool2DLayer, FlattenLayer)
"""The layer kinds of this module (for ``io`` and ``network.cnn``)."""


def flatten_images(images: npt.ArrayLike, shape: ShapeLike, *, name: str = "images") -> FloatArray:
    """Real, finite images `(n, C, H, W)` (or `(n, H, W)` when C = 1) as the read-only rows
    `(n, C*H*W)` the layers take; ``shape`` is the expected ``(C, H, W)``.

    Raises:
        ValueError: naming ``name``, the expected and the given shapes (a wrong channel count spelled out).

    Example:
        >>> flatten_images(np.zeros((4, 1, 8, 8)), (1, 8, 8)).shape
        (4, 64)
    """
    c, h, w = _image_shape(shape)
    arr = _validate.finite_array(name, images, ndim_min=3)
    got = (1, *arr.shape[1:]) if arr.ndim == 3 and c == 1 else arr.shape[1:]
    if arr.ndim not in (3, 4) or got != (c, h, w):
        hint = f" ({got[0]} channels instead of {c})" if arr.ndim == 4 and got[1:] == (h, w) else ""
        raise ValueError(f"{name} must have shape (n, {c}, {h}, {w}), got shape {arr.shape}{hint}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one image, got shape {arr.shape}")
    return arr.reshape(arr.shape[0], c * h * w)
