"""Image layers: 2-D convolution, max / average pooling and flatten, forward and
backward side by side.  They keep the network's contract: every layer maps
`(..., n, in_features)` to `(..., n, out_features)`, with each image flattened in
C order as ``(channels, height, width)``:

    Conv2D(w, b)                  # w `(..., out_channels, in_channels, k, k)`, b `(..., out_channels)`
    NoParams(empty)               # params of a layer without any: empty `(..., 0)` holds only the model axes
    Conv2DLayer(in_shape, out_channels, kernel_size, *, stride=1, padding=0, activation="identity")
    MaxPool2DLayer(in_shape, pool_size, *, stride=None)      # stride defaults to pool_size
    AvgPool2DLayer(in_shape, pool_size, *, stride=None)
    FlattenLayer(in_shape)                                   # the identity, for readability
    cnn(*layers)                  -> Network   # network.sequential, also checking that image shapes chain
    flatten_images(images, shape) -> x `(n, C*H*W)` from images `(n, C, H, W)`, checked

Every image layer has ``in_shape`` and ``out_shape`` ``(C, H, W)``; ``in_features``
and ``out_features`` are their products.  ``layer.init / forward / backward /
check_params / model_shape`` follow ``layers.Layer``; for ``Conv2DLayer`` the first
entry of the cache is the im2col matrix of the input (what backward needs)
rather than the input itself.

Convolution is cross-correlation, as in every deep-learning library:
``z[o, y, x] = b[o] + sum_{c,i,j} w[o, c, i, j] * xpad[c, s*y + i, s*x + j]`` with
zero padding ``padding`` on each side and output size ``(H + 2p - k) // s + 1``.
It is computed with the im2col matrix `(C*k*k + 1, n*H'*W')` (its last row is
ones, so the bias rides in the product and its gradient comes out of the
weights' one): one product per image, written straight into the
`(n, O*H'*W')` layout.  im2col copies, for each of the k*k kernel offsets, the
part of the images that offset sees (nothing is padded; what falls on the
padding stays zero); for a "same" convolution at stride 1 that is one
contiguous run per image.  Backward is two products (with the matrix and with
the kernels) and col2im, the adjoint scatter-add, again one step per kernel
offset, never per pixel or sample.  Pooling has no padding; windows may overlap (stride <
pool_size), and max pooling sends the gradient to the first maximum of a window.

Leading model axes broadcast as for Dense: params `(*models, ...)` with inputs
`(n, in)` shared by all models or `(*models, n, in)`.

Every image layer's ``forward`` and ``backward`` also take ``buffers=`` (a
``Buffers`` source), and ``Conv2DLayer.backward`` takes ``out=(gw, gb)``: the
training loop passes buffers it reuses from step to step, so a step allocates
no arrays (see ``network._Workspace``).  Without them the same code writes into
new arrays, so both give bit-identical results.

Example:
    >>> import numpy as np
    >>> import functional_nn as fnn
    >>> net = fnn.cnn(
    ...     fnn.Conv2DLayer((1, 8, 8), 4, 3, padding=1, activation="relu"),
    ...     fnn.MaxPool2DLayer((4, 8, 8), 2),
    ...     fnn.DenseLayer(4 * 4 * 4, 1, fnn.Sigmoid()),
    ... )
    >>> fnn.forward(net, fnn.init(net, seed=0, scheme="he"), np.zeros((5, 64))).shape
    (5, 1)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeAlias, cast

import attrs
import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from functional_nn import _validate
from functional_nn._records import ARRAY_EQ, FloatArray, buffers_record, real_array, to_array, trusted
from functional_nn.activations import Activation, Identity, get_activation
from functional_nn.layers import INITIALIZERS, Cache, Layer
from functional_nn.network import Network, sequential

__all__ = [
    "LAYER_IO",
    "PARAM_RECORDS",
    "AvgPool2DLayer",
    "Buffers",
    "Conv2D",
    "Conv2DLayer",
    "FlattenLayer",
    "ImageLayer",
    "MaxPool2DLayer",
    "NoParams",
    "cnn",
    "flatten_images",
]

ImageShape: TypeAlias = tuple[int, int, int]
"""``(channels, height, width)``."""


class Buffers(Protocol):
    """Where an image layer's ``forward`` / ``backward`` put their arrays (``buffers=``).

    ``buffers(role, shape, dtype)`` returns an array of that shape and dtype for
    the layer to overwrite.  A training loop hands each layer a source that
    returns the *same* array for the same role and shape on every call (made
    zero-filled the first time), so a step allocates nothing; the layer may rely
    on what it last wrote there (the zero border of its padded input).  Without
    ``buffers`` the layers call ``_fresh``, which makes new zero-filled arrays:
    the arithmetic is the same either way, so the results are bit-identical.
    """

    def __call__(self, role: str, shape: tuple[int, ...], dtype: type = np.float64) -> npt.NDArray[Any]: ...


def _fresh(role: str, shape: tuple[int, ...], dtype: type = np.float64) -> npt.NDArray[Any]:
    """The allocating ``Buffers``: a new zero-filled array every call."""
    del role
    return np.zeros(shape, dtype=dtype)


# ------------------------------------------------------------------ records ---


def _conv_valid(instance: Conv2D, attribute: attrs.Attribute[FloatArray], value: FloatArray) -> None:
    del attribute, value
    w, b = instance.w, instance.b
    if w.ndim < 4:
        raise ValueError(f"Conv2D.w must have shape (..., out_channels, in_channels, k, k), got shape {w.shape}")
    if w.shape[-1] != w.shape[-2]:
        raise ValueError(
            f"Conv2D.w must hold square kernels (..., out_channels, in_channels, k, k), got shape {w.shape}"
        )
    expected = w.shape[:-4] + w.shape[-4:-3]
    if b.shape != expected:
        raise ValueError(
            f"Conv2D.b must have shape {expected} to match Conv2D.w of shape {w.shape}, got shape {b.shape}"
        )
    for name, arr in (("w", w), ("b", b)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"Conv2D.{name} must be finite, got NaN/inf values")


@attrs.frozen
class Conv2D:
    """Params of a 2-D convolution.

    Attributes:
        w: `(..., out_channels, in_channels, k, k)` read-only float64 kernels.
        b: `(..., out_channels)` read-only float64; leading axes as w's.

    Example:
        >>> import numpy as np
        >>> Conv2D(w=np.ones((8, 1, 3, 3)), b=np.zeros(8)).w.shape
        (8, 1, 3, 3)
    """

    w: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    b: FloatArray = attrs.field(converter=to_array, validator=[real_array, _conv_valid], eq=ARRAY_EQ)


def _empty_valid(instance: NoParams, attribute: attrs.Attribute[FloatArray], value: FloatArray) -> None:
    del instance, attribute
    if value.ndim < 1 or value.shape[-1] != 0:
        raise ValueError(f"NoParams.empty must have shape (*models, 0), got shape {value.shape}")


@attrs.frozen
class NoParams:
    """Params of a layer that has none (pooling, flatten).

    Attributes:
        empty: `(*models, 0)`: no values; its leading axes are the model axes, so a
            stack of networks with parameter-free layers keeps one model shape
            (``network.model_shape`` asks every layer).

    Example:
        >>> import numpy as np
        >>> NoParams(empty=np.zeros((3, 0))).empty.shape
        (3, 0)
    """

    empty: FloatArray = attrs.field(converter=to_array, validator=[real_array, _empty_valid], eq=ARRAY_EQ)


def _no_params(models: tuple[int, ...] = ()) -> NoParams:
    return trusted(NoParams, empty=np.zeros((*models, 0)))


def _per_model(a: FloatArray, params: NoParams) -> FloatArray:
    """``a`` `(..., n, f)` with the params' model axes: a shared input gives one (read-only) copy per model."""
    models = params.empty.shape[:-1]
    if len(models) <= a.ndim - 2:
        return a
    return np.broadcast_to(a, models + a.shape[-2:])


# ------------------------------------------------------------ shape checks ---


def _image_shape(value: Sequence[int]) -> ImageShape:
    """Converter of ``in_shape``: a tuple of three integers >= 1."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)) or len(value) != 3:
        raise TypeError(
            f"in_shape must be a (channels, height, width) tuple of 3 integers, got {_validate.show(value)}"
        )
    c, h, w = (_validate.integer(f"in_shape[{i}]", v, minimum=1) for i, v in enumerate(value))
    return (c, h, w)


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    del instance
    _validate.integer(attribute.name, value, minimum=1)


def _non_negative_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    del instance
    _validate.integer(attribute.name, value, minimum=0)


def _optional_stride(instance: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    del instance
    if value is not None:
        _validate.integer(attribute.name, value, minimum=1)


def _activation(value: str | Activation) -> Activation:
    return get_activation(value)


def _out_size(size: int, k: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - k) // stride + 1


def _check_window(name: str, k: int, in_shape: ImageShape, padding: int) -> None:
    _, h, w = in_shape
    ph, pw = h + 2 * padding, w + 2 * padding
    if k > ph or k > pw:
        padded = (
            f"padded input {ph}x{pw} (in_shape {in_shape}, padding {padding})"
            if padding
            else f"input {h}x{w} (in_shape {in_shape})"
        )
        raise ValueError(f"{name} must be at most the {padded}, got {k}")


def _check_layer_params(params: object, where: str, cls: type) -> None:
    if not isinstance(params, cls):
        raise TypeError(f"{where} must be a {cls.__name__} record, got {type(params).__name__}")


# -------------------------------------------------------- im2col / col2im ---


@functools.lru_cache(maxsize=256)
def _offsets(size: int, out: int, k: int, stride: int, padding: int) -> tuple[tuple[slice, slice], ...]:
    """Along one axis, for each kernel offset i: ``(outputs, inputs)``, the slices of the output
    positions y whose input ``stride*y + i - padding`` lies inside the image, and of those inputs.

    What falls on the zero padding is left out: im2col leaves those entries at zero and
    col2im drops their gradient, so no padded copy of the image is ever made.
    """
    pairs = []
    for i in range(k):
        first = max(0, -((i - padding) // stride))  # ceil((padding - i) / stride), at least 0
        last = min(out, (size - 1 + padding - i) // stride + 1)
        if last <= first:
            pairs.append((slice(0, 0), slice(0, 0)))
            continue
        start = stride * first + i - padding
        pairs.append((slice(first, last), slice(start, start + stride * (last - first - 1) + 1, stride)))
    return tuple(pairs)


def _windows(img: FloatArray, k: int, stride: int) -> FloatArray:
    """A read-only view `(..., H', W', k, k)` of the k x k windows of `(..., H, W)` at the stride."""
    view: FloatArray = sliding_window_view(img, (k, k), axis=(-2, -1))
    return view[..., ::stride, ::stride, :, :]


def _col2im(d: FloatArray, shape: tuple[int, int], k: int, stride: int, buffers: Buffers) -> FloatArray:
    """Sum window gradients back onto the image: the adjoint of ``_windows``.

    Args:
        d: `(..., k, k, n, C, H', W')`: the gradient of every window entry.
        shape: ``(H, W)`` of the (padded) image.
        buffers: where the result goes (role ``"col2im"``).

    Returns:
        `(..., n, C, H, W)`.  Loops over the k*k kernel offsets only.
    """
    ho, wo = d.shape[-2:]
    out: FloatArray = buffers("col2im", d.shape[:-6] + d.shape[-4:-2] + shape)
    out.fill(0.0)
    for i in range(k):
        for j in range(k):
            out[..., i : i + stride * ho : stride, j : j + stride * wo : stride] += d[..., i, j, :, :, :, :]
    return out


@functools.lru_cache(maxsize=256)
def _same_offsets(k: int, padding: int, width: int, size: int) -> tuple[tuple[int, int, int, int, int], ...]:
    """For a "same" convolution at stride 1 (output grid = input grid): ``(i, j, lo, hi, shift)``
    for each kernel offset in row-major order.

    Images are rows of ``size = H*W`` values, so offset ``(i, j)`` reads, for
    the outputs ``t`` in ``[lo, hi)``, the input ``t + shift`` with
    ``shift = (i - p)*W + (j - p)``: one contiguous run per image.  Where the
    column ``x + j - p`` falls off the left or right edge the run wraps onto the
    neighbouring row; ``_edges`` lists those entries, which must be zero instead.
    """
    out = []
    for i in range(k):
        for j in range(k):
            shift = (i - padding) * width + (j - padding)
            lo, hi = max(0, -shift), min(size, size - shift)
            if lo < hi:
                out.append((i, j, lo, hi, shift))
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _edges(k: int, padding: int, width: int) -> tuple[tuple[int, int], ...]:
    """``(j, x)``: kernel column j and output column x whose input column ``x + j - p`` is off the image."""
    return tuple((j, x) for j in range(k) for x in range(width) if not 0 <= x + j - padding < width)


def _lead(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast of two leading (model) shapes; the common cases without NumPy's general rule."""
    if a == b or not b:
        return a
    if not a:
        return b
    return tuple(np.broadcast_shapes(a, b))


# --------------------------------------------------------------- Conv2D ---


@attrs.frozen
class Conv2DLayer:
    """2-D convolution ``a = f(conv(x, w) + b)`` over images flattened as ``(C, H, W)``.

    Attributes:
        in_shape: ``(C, H, W)`` of the input images.
        out_channels: number of filters O.
        kernel_size: k of the square k x k kernels.
        stride: step between windows, >= 1.
        padding: zeros added on each side, >= 0.
        activation: an activation name or record (default identity).

    ``out_shape`` is ``(O, H', W')`` with ``H' = (H + 2 padding - k) // stride + 1``.

    Raises:
        TypeError, ValueError: naming the argument, e.g. ``stride`` < 1 or a
            ``kernel_size`` larger than the padded input.
    """

    in_shape: ImageShape = attrs.field(converter=_image_shape)
    out_channels: int = attrs.field(validator=_positive_int)
    kernel_size: int = attrs.field(validator=_positive_int)
    stride: int = attrs.field(default=1, kw_only=True, validator=_positive_int)
    padding: int = attrs.field(default=0, kw_only=True, validator=_non_negative_int)
    activation: Activation = attrs.field(factory=Identity, kw_only=True, converter=_activation)

    def __attrs_post_init__(self) -> None:
        _check_window("kernel_size", self.kernel_size, self.in_shape, self.padding)

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

    @property
    def _same(self) -> bool:
        """Stride 1 and an output grid equal to the input's: im2col and col2im take one run per image."""
        return self.stride == 1 and self.out_shape[1:] == self.in_shape[1:]

    def init(self, rng: np.random.Generator, scheme: str) -> Conv2D:
        """Kernels from the scheme with fan_in = C*k*k and fan_out = O*k*k; zero biases."""
        c, k, o = self.in_shape[0], self.kernel_size, self.out_channels
        shape = (o, c, k, k)
        fan_in, fan_out = c * k * k, o * k * k
        if scheme == "normal":
            w = rng.standard_normal(shape)
        elif scheme == "uniform":
            w = rng.uniform(0.0, 1.0, shape)
        elif scheme == "xavier":
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            w = rng.uniform(-limit, limit, shape)
        elif scheme == "he":
            w = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        else:
            _validate.choice("init", scheme, INITIALIZERS)
            raise AssertionError("unreachable")
        return trusted(Conv2D, w=w, b=np.zeros(o))

    def im2col(self, x: FloatArray, *, buffers: Buffers | None = None) -> FloatArray:
        """The im2col matrix of ``x``: `(..., C*k*k + 1, n*H'*W')`, last row ones.

        Row ``(c, i, j)`` and column ``(sample, y, x)`` hold
        ``xpad[sample, c, stride*y + i, stride*x + j]``; ``x`` is `(..., n, C*H*W)`.
        ``buffers`` (default: new arrays) receives the matrix: one copy per kernel
        offset of the part of the image it sees; the entries that fall on the
        padding are never written, so they keep the zeros the buffer was made with.
        """
        buf = _fresh if buffers is None else buffers
        c, h, w = self.in_shape
        k, s, p = self.kernel_size, self.stride, self.padding
        _, ho, wo = self.out_shape
        lead, n = x.shape[:-2], x.shape[-2]
        rows = c * k * k
        img = np.swapaxes(x.reshape((*lead, n, c, h, w)), -4, -3)  # (..., C, n, H, W)
        cols: FloatArray = buf("cols", (*lead, rows + 1, n, ho, wo))
        cols[..., rows, :, :, :] = 1.0
        target = np.reshape(cols[..., :rows, :, :, :], (*lead, c, k, k, n, ho, wo), copy=False)
        if self._same:  # one contiguous copy per image and offset; the wrapped edge columns set to zero
            flat = np.swapaxes(x.reshape((*lead, n, c, h * w)), -3, -2)  # (..., C, n, H*W)
            runs = np.reshape(target, (*lead, c, k, k, n, ho * wo), copy=False)
            for i, j, lo, hi, shift in _same_offsets(k, p, w, h * w):
                runs[..., :, i, j, :, lo:hi] = flat[..., lo + shift : hi + shift]
            for j, e in _edges(k, p, w):
                target[..., :, :, j, :, :, e] = 0.0
            return np.reshape(cols, (*lead, rows + 1, n * ho * wo), copy=False)
        across = _offsets(w, wo, k, s, p)
        for i, (out_y, in_y) in enumerate(_offsets(h, ho, k, s, p)):
            for j, (out_x, in_x) in enumerate(across):
                target[..., :, i, j, :, out_y, out_x] = img[..., in_y, in_x]
        return np.reshape(cols, (*lead, rows + 1, n * ho * wo), copy=False)

    def forward(self, params: Conv2D, x: FloatArray, *, buffers: Buffers | None = None) -> tuple[FloatArray, Cache]:
        """``(a, (cols, z, a))`` for ``x`` `(..., n, C*H*W)`; a and z are `(..., n, O*H'*W')`.

        With ``buffers`` every array is written into the buffers it returns.
        """
        buf = _fresh if buffers is None else buffers
        cols = self.im2col(x, buffers=buf)
        w, b = params.w, params.b
        o = self.out_channels
        rows = cols.shape[-2] - 1
        wb: FloatArray = buf("wb", (*w.shape[:-4], o, rows + 1))  # [w | b]: the bias rides in the product
        wb[..., :rows] = w.reshape((*w.shape[:-3], rows))
        wb[..., rows] = b
        lead = _lead(wb.shape[:-2], cols.shape[:-2])
        n = x.shape[-2]
        p = cols.shape[-1] // n
        # one product per image, [w | b] `(O, C*k*k + 1)` times its columns `(C*k*k + 1, P)`, P = H'*W',
        # written straight into z's `(n, O, P)` layout (cheaper than one product and a transposing copy)
        per_image = np.swapaxes(cols.reshape((*cols.shape[:-1], n, p)), -3, -2)  # (..., n, C*k*k + 1, P)
        z: FloatArray = buf("z", (*lead, n, o * p))
        np.matmul(wb[..., None, :, :], per_image, out=z.reshape((*lead, n, o, p)))
        act = self.activation
        a = act.value(z) if buffers is None or isinstance(act, Identity) else act.value(z, buffers("a", z.shape))
        return a, (cols, z, a)

    def backward(
        self,
        params: Conv2D,
        cache: Cache,
        dz: FloatArray,
        *,
        input_grad: bool = True,
        buffers: Buffers | None = None,
        out: tuple[FloatArray, FloatArray] | None = None,
    ) -> tuple[Conv2D, FloatArray | None]:
        """``(grads, dL/dx)`` from ``dz`` `(..., n, O*H'*W')`; dL/dx is `(..., n, C*H*W)`.

        With ``buffers`` the intermediate arrays and dL/dx are written into the
        buffers it returns; with ``out=(gw, gb)`` the grads are written there
        (and stay writable: the caller's buffers).
        """
        buf = _fresh if buffers is None else buffers
        cols = cache[0]
        w = params.w
        o = self.out_channels
        lead, n = dz.shape[:-2], dz.shape[-2]
        p = dz.shape[-1] // o
        dzt: FloatArray = buf("dzt", (*lead, o, n * p))
        np.copyto(dzt.reshape((*lead, o, n, p)), np.swapaxes(dz.reshape((*lead, n, o, p)), -3, -2))
        rows = cols.shape[-2] - 1
        glead = _lead(lead, cols.shape[:-2])
        g = np.matmul(dzt, np.swapaxes(cols, -1, -2), out=buf("g", (*glead, o, rows + 1)))  # (..., O, C*k*k + 1)
        if out is None:
            gw = np.ascontiguousarray(g[..., :rows]).reshape(glead + w.shape[-4:])
            gb = np.ascontiguousarray(g[..., rows])
            grads = trusted(Conv2D, w=gw, b=gb)
        else:
            np.copyto(out[0], g[..., :rows].reshape(glead + w.shape[-4:]))
            np.copyto(out[1], g[..., rows])
            grads = buffers_record(Conv2D, w=out[0], b=out[1])
        if not input_grad:
            return grads, None
        c, h, wd = self.in_shape
        k, pad = self.kernel_size, self.padding
        _, ho, wo = self.out_shape
        wt = np.swapaxes(w.reshape((*w.shape[:-3], rows)), -1, -2)
        dlead = _lead(wt.shape[:-2], lead)
        dcols = np.matmul(wt, dzt, out=buf("dcols", (*dlead, rows, n * p)))  # (..., C*k*k, n*P)
        # col2im: add each kernel offset's gradients onto the pixels it saw (the
        # adjoint of im2col), offset after offset in row-major order
        d = dcols.reshape((*dlead, c, k, k, n, ho, wo))
        dx: FloatArray = buf("dx", (*dlead, n, c * h * wd))
        dx.fill(0.0)
        if self._same:
            return grads, self._col2im_same(d, dx, buf)
        dimg = np.swapaxes(dx.reshape((*dlead, n, c, h, wd)), -4, -3)  # (..., C, n, H, W)
        across = _offsets(wd, wo, k, self.stride, pad)
        for i, (out_y, in_y) in enumerate(_offsets(h, ho, k, self.stride, pad)):
            for j, (out_x, in_x) in enumerate(across):
                dimg[..., in_y, in_x] += d[..., :, i, j, :, out_y, out_x]
        return grads, dx

    def _col2im_same(self, d: FloatArray, dx: FloatArray, buffers: Buffers) -> FloatArray:
        """col2im of a "same" convolution at stride 1 into ``dx`` (zeros): one contiguous add per offset.

        ``d`` `(..., C, k, k, n, H, W)` (overwritten) holds the gradient of every
        im2col entry.  Per channel, all images are one run of n*H*W values, so
        offset ``(i, j)`` adds ``d[c, i, j]`` shifted by ``(i - p)*W + (j - p)``
        in one step.  The entries whose pixel is off the image (rows above or
        below, columns left or right) would land on a neighbouring row or image,
        so they are set to zero first: adding +0.0 leaves every sum unchanged (a
        sum that starts at +0.0 is never -0.0), so each pixel gets exactly the
        additions of the plain scatter, in the same order.
        """
        c, h, w = self.in_shape
        k, pad = self.kernel_size, self.padding
        n = d.shape[-3]
        lead = d.shape[:-6]
        for i in range(k):
            below = range(max(0, pad - i), min(h, h + pad - i))  # the rows whose pixel is on the image
            if below.start > 0:
                d[..., :, i, :, :, : below.start, :] = 0.0
            if below.stop < h:
                d[..., :, i, :, :, below.stop :, :] = 0.0
        for j, e in _edges(k, pad, w):
            d[..., :, :, j, :, :, e] = 0.0
        size = n * h * w
        runs = d.reshape((*lead, c, k, k, size))
        # per channel, the images one after the other: dx itself for one channel
        acc: FloatArray = dx.reshape((*lead, 1, size)) if c == 1 else buffers("col2im", (*lead, c, size))
        if c > 1:
            acc.fill(0.0)
        for i, j, _, _, shift in _same_offsets(k, pad, w, h * w):
            lo, hi = max(0, -shift), min(size, size - shift)
            acc[..., lo + shift : hi + shift] += runs[..., :, i, j, lo:hi]
        if c > 1:
            np.copyto(np.swapaxes(dx.reshape((*lead, n, c, h * w)), -3, -2), acc.reshape((*lead, c, n, h * w)))
        return dx

    def check_params(self, params: object, where: str) -> None:
        _check_layer_params(params, where, Conv2D)
        assert isinstance(params, Conv2D)
        k = self.kernel_size
        expected = (self.out_channels, self.in_shape[0], k, k)
        if params.w.shape[-4:] != expected:
            raise ValueError(
                f"{where}.w must have shape (..., {', '.join(map(str, expected))}), got shape {params.w.shape}"
            )

    def model_shape(self, params: Conv2D) -> tuple[int, ...]:
        return tuple(params.w.shape[:-4])


# --------------------------------------------------------------- pooling ---


_FOLD_MAX = 8
"""Pooling folds elementwise over the k*k window offsets only for k below this: a reduction
over the window axes has inner loops of k values, slow for small k, while a fold costs one
NumPy call per offset, slow for large k (a global 16 x 16 pooling has 256 offsets).  From 8
on, np.mean also sums a row pairwise, which the fold would not reproduce."""

_FOLD_MAX_BACKWARD = 5
"""The same bound for max pooling's backward, whose fold takes four calls per offset
(k = 2..4: 2-3 times faster than the argmax path; about even at 6, slower at 8)."""


@attrs.frozen
class _Pool2DLayer:
    """Shared shape logic of the pooling layers (no params; identity activation)."""

    in_shape: ImageShape = attrs.field(converter=_image_shape)
    pool_size: int = attrs.field(validator=_positive_int)
    stride: int | None = attrs.field(default=None, kw_only=True, validator=_optional_stride)
    activation: Activation = attrs.field(factory=Identity, init=False)

    def __attrs_post_init__(self) -> None:
        _check_window("pool_size", self.pool_size, self.in_shape, 0)

    @property
    def step(self) -> int:
        """The stride in use (``pool_size`` when ``stride`` is None)."""
        return self.pool_size if self.stride is None else self.stride

    @property
    def out_shape(self) -> ImageShape:
        c, h, w = self.in_shape
        k, s = self.pool_size, self.step
        return (c, _out_size(h, k, s, 0), _out_size(w, k, s, 0))

    @property
    def in_features(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_features(self) -> int:
        return math.prod(self.out_shape)

    def init(self, rng: np.random.Generator, scheme: str) -> NoParams:
        del rng
        _validate.choice("init", scheme, INITIALIZERS)
        return _no_params()

    def check_params(self, params: object, where: str) -> None:
        _check_layer_params(params, where, NoParams)

    def model_shape(self, params: NoParams) -> tuple[int, ...]:
        return tuple(params.empty.shape[:-1])

    def _images(self, x: FloatArray) -> FloatArray:
        return x.reshape(x.shape[:-1] + self.in_shape)

    def _offset_views(self, x: FloatArray) -> list[FloatArray]:
        """For each window offset ``(i, j)`` in row-major order, the view `(..., n, C, H', W')` of the
        pixels at that offset in every window (so an elementwise fold over them pools every window)."""
        img = self._images(x)
        k, s = self.pool_size, self.step
        _, ho, wo = self.out_shape
        return [
            img[..., i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s] for i in range(k) for j in range(k)
        ]

    def _pooled(self, x: FloatArray, buffers: Buffers) -> tuple[FloatArray, FloatArray]:
        """``(windows, out)``: the windows of ``x`` and a buffer `(..., n, C, H', W')` for their pooled values."""
        win = _windows(self._images(x), self.pool_size, self.step)
        out: FloatArray = buffers("pooled", (*x.shape[:-1], *self.out_shape))
        return win, out

    def _scatter(self, d: FloatArray, buffers: Buffers) -> FloatArray:
        """`(..., n, C, H', W', k, k)` window gradients -> `(..., n, C*H*W)`."""
        lead_n = d.shape[:-5]
        if self.step == self.pool_size:
            # disjoint windows: each pixel is in one window at most, so the scatter-add
            # is ``0.0 + d`` (what col2im would add) written through a blocked view
            k = self.pool_size
            c, h, w = self.in_shape
            _, ho, wo = self.out_shape
            dx: FloatArray = buffers("col2im", (*lead_n, c, h, w))
            if ho * k < h or wo * k < w:
                dx.fill(0.0)  # the pixels no window covers
            blocks = np.reshape(dx[..., : ho * k, : wo * k], (*lead_n, c, ho, k, wo, k), copy=False)
            np.add(np.swapaxes(d, -3, -2), 0.0, out=blocks)
            return dx.reshape((*lead_n, self.in_features))
        m = len(lead_n) - 1
        moved = d.transpose(*range(m), m + 4, m + 5, m, m + 1, m + 2, m + 3)  # (..., k, k, n, C, H', W')
        _, h, w = self.in_shape
        dx = _col2im(moved, (h, w), self.pool_size, self.step, buffers)
        return dx.reshape((*lead_n, self.in_features))


@attrs.frozen
class MaxPool2DLayer(_Pool2DLayer):
    """Max pooling over k x k windows at the stride, per channel.

    Attributes:
        in_shape: ``(C, H, W)`` of the input images.
        pool_size: k, the window side.
        stride: step between windows (default ``pool_size``: disjoint windows).

    The gradient of a window goes to its first maximum (row-major order).
    """

    def forward(self, params: NoParams, x: FloatArray, *, buffers: Buffers | None = None) -> tuple[FloatArray, Cache]:
        """``(a, (x, z, a))`` with ``a = z`` `(..., n, C*H'*W')`; written into ``buffers`` if given."""
        win, pooled = self._pooled(x, _fresh if buffers is None else buffers)
        if self.pool_size >= _FOLD_MAX:
            np.max(win, axis=(-2, -1), out=pooled)
        else:
            # the maximum folded over the window offsets: max is exact, and the fold runs over
            # (i, j) in the order of np.max's reduction, so the bits are those of np.max(win)
            views = self._offset_views(x)
            np.copyto(pooled, views[0])
            for view in views[1:]:
                np.maximum(pooled, view, out=pooled)
        z = _per_model(pooled.reshape((*x.shape[:-1], self.out_features)), params)
        return z, (x, z, z)

    def backward(
        self, params: NoParams, cache: Cache, dz: FloatArray, *, input_grad: bool = True, buffers: Buffers | None = None
    ) -> tuple[NoParams, FloatArray | None]:
        """``(params, dL/dx)``: no grads; dL/dx `(..., n, C*H*W)`, written into ``buffers`` if given."""
        if not input_grad:
            return params, None
        buf = _fresh if buffers is None else buffers
        x, z = cache[0], cache[1]
        k = self.pool_size
        dz5 = dz.reshape(dz.shape[:-1] + self.out_shape)
        z5 = z.reshape(z.shape[:-1] + self.out_shape)
        if self.step == k and k < _FOLD_MAX_BACKWARD and not np.isnan(z5).any():
            return params, self._first_max_scatter(x, z5, dz5, buf)
        win = _windows(self._images(x), k, self.step)
        flat: FloatArray = buf("window", (*win.shape[:-2], k * k))  # (..., n, C, H', W', k*k)
        np.copyto(flat.reshape(win.shape), win)
        index = np.argmax(flat, axis=-1, out=buf("argmax", flat.shape[:-1], np.intp))
        first = np.broadcast_to(index, dz5.shape)  # x may be shared by the models
        d: FloatArray = buf("put", (*dz5.shape, k * k))
        d.fill(0.0)
        np.put_along_axis(d, first[..., None], dz5[..., None], axis=-1)
        return params, self._scatter(d.reshape((*d.shape[:-1], k, k)), buf)

    def _first_max_scatter(self, x: FloatArray, z5: FloatArray, dz5: FloatArray, buffers: Buffers) -> FloatArray:
        """dL/dx for disjoint windows without NaN: ``0.0 + dz`` at each window's first maximum, else zero.

        The argmax of the general path, found offset by offset in row-major order
        (``x == max`` and not yet taken), writing straight into dL/dx through a
        blocked view: the same bits, in a few elementwise passes.
        """
        k = self.pool_size
        c, h, w = self.in_shape
        _, ho, wo = self.out_shape
        lead_n = dz5.shape[:-3]
        share = np.add(dz5, 0.0, out=buffers("share", dz5.shape))  # 0.0 + dz, as the scatter-add has it
        dx: FloatArray = buffers("col2im", (*lead_n, c, h, w))
        if ho * k < h or wo * k < w:
            dx.fill(0.0)  # the pixels no window covers; the others are all written below
        blocks = np.reshape(dx[..., : ho * k, : wo * k], (*lead_n, c, ho, k, wo, k), copy=False)
        hit = buffers("hit", dz5.shape, np.bool_)
        taken = buffers("taken", dz5.shape, np.bool_)
        views = self._offset_views(x)
        for o, view in enumerate(views):
            np.equal(view, z5, out=hit)
            if o > 0:
                np.greater(hit, taken, out=hit)  # a maximum not preceded by one in its window
            if o == 0:
                np.copyto(taken, hit)
            elif o + 1 < len(views):
                np.logical_or(taken, hit, out=taken)
            # share where hit, else +0.0, without a branch per pixel: share * hit is share or
            # +-0.0, and adding +0.0 turns -0.0 into +0.0 and leaves every other value as it is
            pixels = blocks[..., :, o // k, :, o % k]
            np.multiply(share, hit, out=pixels)
            np.add(pixels, 0.0, out=pixels)
        return dx.reshape((*lead_n, self.in_features))


@attrs.frozen
class AvgPool2DLayer(_Pool2DLayer):
    """Average pooling over k x k windows at the stride, per channel.

    Attributes:
        in_shape: ``(C, H, W)`` of the input images.
        pool_size: k, the window side.
        stride: step between windows (default ``pool_size``: disjoint windows).
    """

    def forward(self, params: NoParams, x: FloatArray, *, buffers: Buffers | None = None) -> tuple[FloatArray, Cache]:
        """``(a, (x, z, a))`` with ``a = z`` `(..., n, C*H'*W')`; written into ``buffers`` if given."""
        buf = _fresh if buffers is None else buffers
        win, pooled = self._pooled(x, buf)
        k = self.pool_size
        if k >= _FOLD_MAX or k == self.in_shape[2]:
            # np.mean sums a run of 8 or more values pairwise, and windows as wide as the
            # image are one run: reduce as np.mean does (its inner loop is long then anyway)
            np.mean(win, axis=(-2, -1), out=pooled)
        else:
            # np.mean's sum, reproduced bit for bit with an elementwise fold over the window
            # offsets: each row of the window summed left to right, then the row sums top to bottom
            views = self._offset_views(x)
            row: FloatArray = buf("row_sum", pooled.shape)
            for i in range(k):
                target = pooled if i == 0 else row
                np.copyto(target, views[i * k])
                for view in views[i * k + 1 : (i + 1) * k]:
                    np.add(target, view, out=target)
                if i > 0:
                    np.add(pooled, row, out=pooled)
            np.divide(pooled, k * k, out=pooled)
        z = _per_model(pooled.reshape((*x.shape[:-1], self.out_features)), params)
        return z, (x, z, z)

    def backward(
        self, params: NoParams, cache: Cache, dz: FloatArray, *, input_grad: bool = True, buffers: Buffers | None = None
    ) -> tuple[NoParams, FloatArray | None]:
        """``(params, dL/dx)``: no grads; dL/dx `(..., n, C*H*W)`, written into ``buffers`` if given."""
        del cache
        if not input_grad:
            return params, None
        buf = _fresh if buffers is None else buffers
        k = self.pool_size
        dz5 = dz.reshape(dz.shape[:-1] + self.out_shape)
        share = np.multiply(dz5, 1.0 / (k * k), out=buf("share", dz5.shape))
        if self.step == k and k < _FOLD_MAX_BACKWARD:
            # disjoint windows: every pixel of a window gets 0.0 + share (what the scatter-add
            # gives), written offset by offset through a blocked view of dL/dx
            c, h, w = self.in_shape
            _, ho, wo = self.out_shape
            lead_n = dz5.shape[:-3]
            dx: FloatArray = buf("col2im", (*lead_n, c, h, w))
            if ho * k < h or wo * k < w:
                dx.fill(0.0)  # the pixels no window covers
            blocks = np.reshape(dx[..., : ho * k, : wo * k], (*lead_n, c, ho, k, wo, k), copy=False)
            for i in range(k):
                for j in range(k):
                    np.add(share, 0.0, out=blocks[..., :, i, :, j])
            return params, dx.reshape((*lead_n, self.in_features))
        d = np.broadcast_to(share[..., None, None], (*share.shape, k, k))
        return params, self._scatter(d, buf)


# --------------------------------------------------------------- Flatten ---


@attrs.frozen
class FlattenLayer:
    """The identity on `(..., n, C*H*W)`: marks where images become plain features.

    Attributes:
        in_shape: ``(C, H, W)``; ``out_features`` is ``C*H*W``.
    """

    in_shape: ImageShape = attrs.field(converter=_image_shape)
    activation: Activation = attrs.field(factory=Identity, init=False)

    @property
    def out_shape(self) -> ImageShape:
        return self.in_shape

    @property
    def in_features(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_features(self) -> int:
        return self.in_features

    def init(self, rng: np.random.Generator, scheme: str) -> NoParams:
        del rng
        _validate.choice("init", scheme, INITIALIZERS)
        return _no_params()

    def forward(self, params: NoParams, x: FloatArray, *, buffers: Buffers | None = None) -> tuple[FloatArray, Cache]:
        """``(x, (x, x, x))`` (one read-only view per model for stacked params); ``buffers`` is not needed."""
        del buffers
        a = _per_model(x, params)
        return a, (a, a, a)

    def backward(
        self, params: NoParams, cache: Cache, dz: FloatArray, *, input_grad: bool = True, buffers: Buffers | None = None
    ) -> tuple[NoParams, FloatArray | None]:
        """``(params, dz)``: the gradient passes through; ``buffers`` is not needed."""
        del cache, buffers
        return params, (dz if input_grad else None)

    def check_params(self, params: object, where: str) -> None:
        _check_layer_params(params, where, NoParams)

    def model_shape(self, params: NoParams) -> tuple[int, ...]:
        return tuple(params.empty.shape[:-1])


ImageLayer: TypeAlias = Conv2DLayer | MaxPool2DLayer | AvgPool2DLayer | FlattenLayer
"""Any layer of this module."""

_IMAGE_LAYERS = (Conv2DLayer, MaxPool2DLayer, AvgPool2DLayer, FlattenLayer)
IMAGE_LAYER_TYPES: tuple[type, ...] = _IMAGE_LAYERS
"""The image layer kinds; each takes ``buffers=`` in forward and backward (``network.supports_workspace``)."""


# --------------------------------------------------------------- builders ---


def cnn(*layers: ImageLayer | Layer) -> Network:
    """A network of image layers and Dense layers, in order.

    ``network.sequential`` checks that feature counts chain; this also checks
    that each image layer's ``in_shape`` is the ``out_shape`` of the image layer
    before it (so a channel mix-up with the same feature count is caught).

    Raises:
        ValueError: naming the layer whose shape does not fit.

    Example:
        >>> import functional_nn as fnn
        >>> net = cnn(Conv2DLayer((1, 6, 6), 2, 3), FlattenLayer((2, 4, 4)), fnn.DenseLayer(32, 1))
        >>> net.in_features, net.out_features
        (36, 1)
    """
    for i in range(1, len(layers)):
        prev, layer = layers[i - 1], layers[i]
        if isinstance(layer, _IMAGE_LAYERS) and isinstance(prev, _IMAGE_LAYERS) and layer.in_shape != prev.out_shape:
            raise ValueError(
                f"layers[{i}].in_shape must equal layers[{i - 1}].out_shape {prev.out_shape}, got {layer.in_shape}"
            )
    # the image layers satisfy the Layer protocol at run time; statically its
    # methods are typed for Dense params (layers.LayerParams), hence the cast
    return sequential(*cast(tuple[Layer, ...], layers))


def flatten_images(images: npt.ArrayLike, shape: Sequence[int], *, name: str = "images") -> FloatArray:
    """Images `(n, C, H, W)` (or `(n, H, W)` when C = 1) as the rows `(n, C*H*W)` the layers take.

    Args:
        images: real, finite.
        shape: the expected ``(C, H, W)``, e.g. the first layer's ``in_shape``.
        name: the argument's name in error messages.

    Returns:
        A read-only float64 `(n, C*H*W)` array (the caller's array is unchanged).

    Raises:
        ValueError: naming ``name``, the expected and the given shapes
            (a wrong channel count is spelled out).

    Example:
        >>> import numpy as np
        >>> flatten_images(np.zeros((4, 1, 8, 8)), (1, 8, 8)).shape
        (4, 64)
    """
    c, h, w = _image_shape(shape)
    arr = _validate.finite_array(name, images, ndim_min=3)
    got = arr.shape[1:]
    if arr.ndim == 3 and c == 1:
        got = (1, *got)
    if arr.ndim not in (3, 4) or got != (c, h, w):
        hint = ""
        if arr.ndim == 4 and got[1:] == (h, w) and got[0] != c:
            hint = f" ({got[0]} channels instead of {c})"
        raise ValueError(f"{name} must have shape (n, {c}, {h}, {w}), got shape {arr.shape}{hint}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one image, got shape {arr.shape}")
    return arr.reshape(arr.shape[0], c * h * w)


# ------------------------------------------------------------ io entries ---


def _conv_to_dict(layer: Any) -> dict[str, Any]:
    assert isinstance(layer, Conv2DLayer)
    return {
        "in_shape": list(layer.in_shape),
        "out_channels": layer.out_channels,
        "kernel_size": layer.kernel_size,
        "stride": layer.stride,
        "padding": layer.padding,
    }


def _conv_from_dict(d: Mapping[str, Any], act: Activation) -> Conv2DLayer:
    return Conv2DLayer(
        tuple(d["in_shape"]),
        int(d["out_channels"]),
        int(d["kernel_size"]),
        stride=int(d["stride"]),
        padding=int(d["padding"]),
        activation=act,
    )


def _pool_to_dict(layer: Any) -> dict[str, Any]:
    assert isinstance(layer, _Pool2DLayer)
    return {"in_shape": list(layer.in_shape), "pool_size": layer.pool_size, "stride": layer.stride}


def _max_from_dict(d: Mapping[str, Any], act: Activation) -> MaxPool2DLayer:
    del act
    return MaxPool2DLayer(tuple(d["in_shape"]), int(d["pool_size"]), stride=d["stride"])


def _avg_from_dict(d: Mapping[str, Any], act: Activation) -> AvgPool2DLayer:
    del act
    return AvgPool2DLayer(tuple(d["in_shape"]), int(d["pool_size"]), stride=d["stride"])


def _flatten_to_dict(layer: Any) -> dict[str, Any]:
    assert isinstance(layer, FlattenLayer)
    return {"in_shape": list(layer.in_shape)}


def _flatten_from_dict(d: Mapping[str, Any], act: Activation) -> FlattenLayer:
    del act
    return FlattenLayer(tuple(d["in_shape"]))


LAYER_IO: Mapping[str, tuple[type, Any, Any]] = {
    "conv2d": (Conv2DLayer, _conv_to_dict, _conv_from_dict),
    "maxpool2d": (MaxPool2DLayer, _pool_to_dict, _max_from_dict),
    "avgpool2d": (AvgPool2DLayer, _pool_to_dict, _avg_from_dict),
    "flatten": (FlattenLayer, _flatten_to_dict, _flatten_from_dict),
}
"""Entries for ``io.LAYER_KINDS`` (kind -> (class, to_dict, from_dict)), so saving covers these layers."""

PARAM_RECORDS: Mapping[str, type] = {"Conv2D": Conv2D, "NoParams": NoParams}
"""Entries for ``io.PARAM_TYPES`` (record name -> class)."""
