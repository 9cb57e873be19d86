"""Layer kinds.  Each kind is a static, frozen description (sizes, activation)
with pure functions over a frozen params record, forward and backward side by side:

    layer.init(rng, scheme)             -> params record
    layer.forward(params, x)            -> (a, cache)        # a = f(z); cache = (x, z, a)
    layer.backward(params, cache, dz, input_grad=True)
                                        -> (grads, dx)       # dz = dL/dz; grads mirror params;
                                                             # dx = dL/dx, or None if not input_grad
    layer.check_params(params, where)   -> None or ValueError naming where and the shapes

Shapes broadcast over leading model axes: x `(..., n, in)`, w `(..., in, out)`,
b `(..., out)`; a `(..., n, out)`.

    Dense(w, b)                          # params record of a fully connected layer
    DenseLayer(in_features, out_features, activation)
    INITIALIZERS = ("normal", "uniform", "xavier", "he")
"""

from __future__ import annotations

import functools
from typing import Protocol, TypeAlias, runtime_checkable

import attrs
import numpy as np

from functional_nn import _validate
from functional_nn._records import ARRAY_EQ, FloatArray, real_array, to_array, trusted
from functional_nn.activations import Activation, Identity

__all__ = ["INITIALIZERS", "Cache", "Dense", "DenseLayer", "Layer", "LayerParams"]

INITIALIZERS = ("normal", "uniform", "xavier", "he")
"""Weight initializers; biases start at zero for all of them.

- ``normal``: N(0, 1), the lab's choice;
- ``uniform``: U(0, 1), as some lab reports used;
- ``xavier``: Glorot uniform, U(-l, l) with l = sqrt(6 / (in + out));
- ``he``: N(0, 2 / in).
"""

Cache: TypeAlias = tuple[FloatArray, FloatArray, FloatArray]
"""What forward keeps for backward: ``(x, z, a)``."""


def _dense_valid(instance: Dense, attribute: attrs.Attribute[FloatArray], value: FloatArray) -> None:
    del attribute, value
    w, b = instance.w, instance.b
    if w.ndim < 2:
        raise ValueError(f"Dense.w must have shape (..., in_features, out_features), got shape {w.shape}")
    if b.ndim != w.ndim - 1 or b.shape[-1] != w.shape[-1] or b.shape[:-1] != w.shape[:-2]:
        raise ValueError(
            f"Dense.b must have shape {w.shape[:-2] + w.shape[-1:]} to match Dense.w of shape {w.shape}, got shape {b.shape}"
        )
    for name, arr in (("w", w), ("b", b)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"Dense.{name} must be finite, got NaN/inf values")


@attrs.frozen
class Dense:
    """Params of a fully connected layer: ``z = x @ w + b``.

    Attributes:
        w: `(..., in_features, out_features)` read-only float64.
        b: `(..., out_features)` read-only float64; leading axes as w's.

    Example:
        >>> import numpy as np
        >>> Dense(w=np.ones((2, 3)), b=np.zeros(3)).w.shape
        (2, 3)
    """

    w: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    b: FloatArray = attrs.field(converter=to_array, validator=[real_array, _dense_valid], eq=ARRAY_EQ)


LayerParams: TypeAlias = Dense
"""The params record of any layer kind."""


@runtime_checkable
class Layer(Protocol):
    """A layer kind: a static description with pure init / forward / backward."""

    @property
    def activation(self) -> Activation:
        """The activation applied to this layer's pre-activation."""
        ...

    @property
    def in_features(self) -> int: ...

    @property
    def out_features(self) -> int: ...

    def init(self, rng: np.random.Generator, scheme: str) -> LayerParams:
        """Fresh params drawn from ``rng`` with the named scheme."""
        ...

    def forward(self, params: LayerParams, x: FloatArray) -> tuple[FloatArray, Cache]:
        """``(a, cache)`` for input ``x``; nothing is modified."""
        ...

    def backward(
        self, params: LayerParams, cache: Cache, dz: FloatArray, *, input_grad: bool = True
    ) -> tuple[LayerParams, FloatArray | None]:
        """``(grads, dL/dx)`` from ``dz = dL/dz``; grads have the structure of params.

        ``dL/dx`` is None when ``input_grad`` is False (the first layer needs none)."""
        ...

    def check_params(self, params: object, where: str) -> None:
        """Raise ``TypeError``/``ValueError`` naming ``where`` if params do not fit this layer."""
        ...

    def model_shape(self, params: LayerParams) -> tuple[int, ...]:
        """The leading model axes of ``params`` (``()`` for a single model)."""
        ...


@functools.lru_cache(maxsize=64)
def _ones(n: int) -> FloatArray:
    """A read-only vector of n ones: ``ones @ dz`` sums over samples with one BLAS call."""
    ones = np.ones(n)
    ones.flags.writeable = False
    return ones


def _positive_size(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    del instance
    _validate.integer(attribute.name, value, minimum=1)


@attrs.frozen
class DenseLayer:
    """Fully connected layer ``a = f(x @ w + b)``."""

    in_features: int = attrs.field(validator=_positive_size)
    out_features: int = attrs.field(validator=_positive_size)
    activation: Activation = attrs.field(factory=Identity)

    def init(self, rng: np.random.Generator, scheme: str) -> Dense:
        shape = (self.in_features, self.out_features)
        if scheme == "normal":
            w = rng.standard_normal(shape)
        elif scheme == "uniform":
            w = rng.uniform(0.0, 1.0, shape)
        elif scheme == "xavier":
            limit = np.sqrt(6.0 / (self.in_features + self.out_features))
            w = rng.uniform(-limit, limit, shape)
        elif scheme == "he":
            w = rng.standard_normal(shape) * np.sqrt(2.0 / self.in_features)
        else:
            _validate.choice("scheme", scheme, INITIALIZERS)
            raise AssertionError("unreachable")
        return trusted(Dense, w=w, b=np.zeros(self.out_features))

    def forward(
        self, params: Dense, x: FloatArray, *, out: tuple[FloatArray, FloatArray] | None = None
    ) -> tuple[FloatArray, Cache]:
        """``(a, (x, z, a))``; with ``out=(z_buffer, a_buffer)`` the results are written there."""
        w, b = params.w, params.b
        z_out, a_out = out if out is not None else (None, None)
        z = np.dot(x, w, out=z_out) if w.ndim == 2 and x.ndim == 2 else np.matmul(x, w, out=z_out)
        z += b if b.ndim == 1 else b[..., None, :]
        a = self.activation.value(z, a_out)
        return a, (x, z, a)

    def backward(
        self,
        params: Dense,
        cache: Cache,
        dz: FloatArray,
        *,
        input_grad: bool = True,
        out: tuple[Dense, FloatArray | None] | None = None,
    ) -> tuple[Dense, FloatArray | None]:
        """``(grads, dL/dx)``; with ``out=(grads, dx)`` (a record of writable gradient
        buffers and a dL/dx buffer) the results are written there and ``grads`` is returned."""
        x = cache[0]
        ones = _ones(dz.shape[-2])
        gw_out, gb_out, dx_out = (out[0].w, out[0].b, out[1]) if out is not None else (None, None, None)
        if dz.ndim == 2 and x.ndim == 2:
            gw, gb = np.dot(x.T, dz, out=gw_out), np.dot(ones, dz, out=gb_out)
            dx = np.dot(dz, params.w.T, out=dx_out) if input_grad else None
        else:
            gw, gb = np.matmul(x.mT, dz, out=gw_out), np.matmul(ones, dz, out=gb_out)
            dx = np.matmul(dz, params.w.mT, out=dx_out) if input_grad else None
        if out is not None:  # the caller's buffers: left writable
            return out[0], dx
        return trusted(Dense, w=gw, b=gb), dx

    def check_params(self, params: object, where: str) -> None:
        if not isinstance(params, Dense):
            raise TypeError(f"{where} must be a Dense record, got {type(params).__name__}")
        expected = (self.in_features, self.out_features)
        if params.w.shape[-2:] != expected:
            raise ValueError(
                f"{where}.w must have shape (..., {expected[0]}, {expected[1]}), got shape {params.w.shape}"
            )

    def model_shape(self, params: Dense) -> tuple[int, ...]:
        return tuple(params.w.shape[:-2])
