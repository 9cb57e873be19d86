"""Layer kinds.  Each kind is a static, frozen description (sizes, activation)
whose pure ``init``, ``forward`` and ``backward`` sit side by side:

    layer.init(rng, scheme)               -> params record
    layer.forward(params, x)              -> (a, cache)          # a = f(z); cache = Cache(x, z, a)
    layer.backward(params, cache, da)     -> (grads, dx)         # da = dL/da; grads mirror params; dx = dL/dx
    layer.backward(params, cache, dz, wrt_z=True)                # when the loss already went through f
    layer.check_params(params, where)     -> None, or TypeError/ValueError naming ``where``
    layer.model_shape(params)             -> leading model axes of params (None: it holds no arrays)

Shapes broadcast over leading model axes: x `(..., n, in)`, w `(..., in, out)`,
b `(..., out)`; a `(..., n, out)`.

    Dense(w, b)                                     # params of a fully connected layer
    DenseLayer(in_features, out_features, activation="identity")
    NoParams(empty)                                 # params of a layer that has none: `(*models, 0)`
    DropoutLayer(features, rate)                    # inverted dropout; the identity outside training
    layer.mask(rng, n)                  -> `(n, features)` keep mask, 0 or 1 / (1 - rate)
    layer.forward_train(params, x, mask) -> (x * mask, cache)       # what training runs
    INITIALIZERS: name -> initializer(rng, shape, fan_in, fan_out) -> weights
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, runtime_checkable

import attrs
import numpy as np

from functional_nn import _validate
from functional_nn._records import ARRAY_EQ, FloatArray, real_array, to_array, trusted
from functional_nn.activations import Activation, Identity, get_activation

__all__ = ["INITIALIZERS", "Cache", "Dense", "DenseLayer", "DropoutLayer", "Initializer", "Layer", "NoParams"]


MAX_WEIGHTS = 2**40
"""The most weights a Dense layer may have: 8 TiB of float64, more than any machine holds."""


class Initializer(Protocol):
    def __call__(self, rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int) -> FloatArray:
        """Weights of ``shape`` drawn from ``rng``; ``fan_in``/``fan_out`` count a unit's connections."""
        ...


def normal(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int) -> FloatArray:
    """N(0, 1), the lab's choice."""
    del fan_in, fan_out
    return rng.standard_normal(shape)


def uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int) -> FloatArray:
    """U(0, 1), as some lab reports used."""
    del fan_in, fan_out
    return rng.uniform(0.0, 1.0, shape)


def xavier(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int) -> FloatArray:
    """Glorot uniform: U(-l, l) with l = sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape)


def he(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int) -> FloatArray:
    """He normal: N(0, 2 / fan_in)."""
    del fan_out
    out: FloatArray = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
    return out


INITIALIZERS: Mapping[str, Initializer] = MappingProxyType(
    {"normal": normal, "uniform": uniform, "xavier": xavier, "he": he}
)
"""Weight initializers by name; biases start at zero for all of them."""


class Cache(NamedTuple):
    """What forward keeps for backward."""

    x: FloatArray  # the layer's input
    z: FloatArray  # its pre-activation
    a: FloatArray  # its output f(z)
    extra: tuple[FloatArray, ...] = ()  # anything else a layer kind needs (conv: the im2col matrix)


@runtime_checkable
class Layer(Protocol):
    """A layer kind: a static description with pure init / forward / backward.

    Params are typed ``Any`` here so that each kind can name its own record
    (``DenseLayer.forward(params: Dense, ...)``) and still be a ``Layer``.
    """

    @property
    def activation(self) -> Activation:
        """The activation applied to this layer's pre-activation."""
        ...

    @property
    def in_features(self) -> int: ...

    @property
    def out_features(self) -> int: ...

    def init(self, rng: np.random.Generator, scheme: str) -> Any:
        """Fresh params drawn from ``rng`` with the named scheme (``INITIALIZERS``)."""
        ...

    def forward(self, params: Any, x: FloatArray) -> tuple[FloatArray, Cache]:
        """``(a, cache)`` for input ``x`` `(..., n, in_features)`; nothing is modified."""
        ...

    def backward(self, params: Any, cache: Cache, da: FloatArray, *, wrt_z: bool = False) -> tuple[Any, FloatArray]:
        """``(grads, dL/dx)`` from ``da = dL/da`` (``dL/dz`` when ``wrt_z``); grads mirror params."""
        ...

    def check_params(self, params: object, where: str) -> None:
        """Raise ``TypeError``/``ValueError`` naming ``where`` if params do not fit this layer."""
        ...

    def model_shape(self, params: Any) -> tuple[int, ...] | None:
        """The leading model axes of ``params`` (``()`` for one model; None if it holds no arrays)."""
        ...


def _dense_valid(instance: Dense, attribute: attrs.Attribute[FloatArray], value: FloatArray) -> None:
    del attribute, value
    w, b = instance.w, instance.b
    if w.ndim < 2:
        raise ValueError(f"Dense.w must have shape (..., in_features, out_features), got shape {w.shape}")
    if b.shape != w.shape[:-2] + w.shape[-1:]:
        raise ValueError(
            f"Dense.b must have shape {w.shape[:-2] + w.shape[-1:]} to match Dense.w of shape {w.shape}, got shape {b.shape}"
        )
    for name, arr in (("w", w), ("b", b)):
        if _validate.count_non_finite(arr):  # block by block: bounded memory on a broadcast view
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


def positive_size(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    """attrs validator: an integer >= 1 (not a bool, not a float), named by the field."""
    del instance
    _validate.integer(attribute.name, value, minimum=1)


def _activation(value: str | Activation) -> Activation:
    return get_activation(value)


@attrs.frozen
class DenseLayer:
    """Fully connected layer ``a = f(x @ w + b)``.

    Example:
        >>> import numpy as np
        >>> layer = DenseLayer(2, 3, "tanh")
        >>> params = layer.init(np.random.default_rng(0), "normal")
        >>> a, cache = layer.forward(params, np.ones((4, 2)))
        >>> grads, dx = layer.backward(params, cache, np.ones((4, 3)))
        >>> a.shape, grads.w.shape, dx.shape
        ((4, 3), (2, 3), (4, 2))
    """

    in_features: int = attrs.field(converter=_validate.as_int, validator=positive_size)
    out_features: int = attrs.field(converter=_validate.as_int, validator=positive_size)
    activation: Activation = attrs.field(default=Identity(), converter=_activation)

    def __attrs_post_init__(self) -> None:
        if self.in_features * self.out_features > MAX_WEIGHTS:
            raise ValueError(
                f"in_features x out_features must be at most {MAX_WEIGHTS} weights (more than any machine holds), "
                f"got {self.in_features} x {self.out_features}"
            )
        if self.activation.name == "softmax" and self.out_features < 2:
            raise ValueError(
                f"activation softmax needs out_features >= 2 (over one output it is the constant 1), got {self.out_features}"
            )

    def init(self, rng: np.random.Generator, scheme: str) -> Dense:
        initializer = INITIALIZERS[_validate.choice("scheme", scheme, tuple(INITIALIZERS))]
        w = initializer(rng, (self.in_features, self.out_features), self.in_features, self.out_features)
        return trusted(Dense, w=w, b=np.zeros(self.out_features))

    def forward(self, params: Dense, x: FloatArray) -> tuple[FloatArray, Cache]:
        z = x @ params.w + params.b[..., None, :]
        a = self.activation.value(z)
        return a, Cache(x, z, a)

    def backward(self, params: Dense, cache: Cache, da: FloatArray, *, wrt_z: bool = False) -> tuple[Dense, FloatArray]:
        x, z, a, _ = cache
        dz = da if wrt_z else self.activation.backward(z, a, da)  # the chain rule through f
        gw = np.swapaxes(x, -1, -2) @ dz  # dL/dw = x^T dz, summed over the samples
        gb = dz.sum(axis=-2)
        dx = dz @ np.swapaxes(params.w, -1, -2)
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


def _empty_valid(instance: NoParams, attribute: attrs.Attribute[FloatArray], value: FloatArray) -> None:
    del instance, attribute
    if value.ndim < 1 or value.shape[-1] != 0:
        raise ValueError(f"NoParams.empty must have shape (*models, 0), got shape {value.shape}")


@attrs.frozen
class NoParams:
    """Params of a layer that has none: ``empty`` `(*models, 0)` holds no values, only the
    model axes (so a stack of networks keeps its model shape through pooling and flatten)."""

    empty: FloatArray = attrs.field(converter=to_array, validator=[real_array, _empty_valid], eq=ARRAY_EQ)


def _rate_valid(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    del instance, attribute
    _validate.in_range("rate", value, 0.0, 1.0)


def _models_of(x: FloatArray, params: NoParams) -> FloatArray:
    """``x`` `(..., n, f)` with the params' model axes in front (a shared input: a read-only view per model)."""
    lead = np.broadcast_shapes(params.empty.shape[:-1], x.shape[:-2])
    return x if lead == x.shape[:-2] else np.broadcast_to(x, (*lead, *x.shape[-2:]))


@attrs.frozen
class DropoutLayer:
    """Inverted dropout over ``features`` units: in training each unit is kept with probability
    ``1 - rate`` and scaled by ``1 / (1 - rate)`` (so its expected value is unchanged), else set to 0;
    ``forward`` (and so ``fnn.forward``, ``predict``, ``accuracy``, the held-out figures) is the identity.

    Training draws one mask per batch with ``mask(rng, n)`` from the model's own stream (``fold``:
    ``seed_sequence(seed, 2, epoch, batch)``) and runs ``forward_train``; ``backward`` sends the
    gradient through the same mask.  Params: ``NoParams``.

    Example:
        >>> import numpy as np
        >>> layer = DropoutLayer(4, rate=0.5)
        >>> params = layer.init(np.random.default_rng(0), "normal")
        >>> mask = layer.mask(np.random.default_rng(1), 2)
        >>> a, cache = layer.forward_train(params, np.ones((2, 4)), mask)
        >>> sorted(set(a.ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
        True
        >>> layer.forward(params, np.ones((2, 4)))[0].tolist() == np.ones((2, 4)).tolist()
        True
    """

    features: int = attrs.field(converter=_validate.as_int, validator=positive_size)
    rate: float = attrs.field(converter=_validate.as_float, validator=_rate_valid)
    activation: Activation = attrs.field(default=Identity(), init=False)

    @property
    def in_features(self) -> int:
        return self.features

    @property
    def out_features(self) -> int:
        return self.features

    def init(self, rng: np.random.Generator, scheme: str) -> NoParams:
        del rng
        _validate.choice("scheme", scheme, tuple(INITIALIZERS))
        return trusted(NoParams, empty=np.zeros(0))

    def mask(self, rng: np.random.Generator, n: int) -> FloatArray:
        """A keep mask `(n, features)` drawn from ``rng``: ``1 / (1 - rate)`` where a uniform draw is
        ``>= rate`` (probability ``1 - rate``), else 0."""
        keep = rng.random((n, self.features)) >= self.rate
        out: FloatArray = keep / (1.0 - self.rate)
        return out

    def forward(self, params: NoParams, x: FloatArray) -> tuple[FloatArray, Cache]:
        a = _models_of(x, params)
        return a, Cache(x, a, a)

    def forward_train(self, params: NoParams, x: FloatArray, mask: FloatArray) -> tuple[FloatArray, Cache]:
        """``x * mask`` (``mask``: `(n, features)`, or `(*models, n, features)` one per model); the
        cache keeps the mask for ``backward``."""
        a = _models_of(x * mask, params)
        return a, Cache(x, a, a, (mask,))

    def backward(
        self, params: NoParams, cache: Cache, da: FloatArray, *, wrt_z: bool = False
    ) -> tuple[NoParams, FloatArray]:
        del wrt_z  # the identity activation: dL/dz is dL/da
        return params, (da * cache.extra[0] if cache.extra else da)

    def check_params(self, params: object, where: str) -> None:
        if not isinstance(params, NoParams):
            raise TypeError(f"{where} must be a NoParams record, got {type(params).__name__}")

    def model_shape(self, params: NoParams) -> tuple[int, ...]:
        return tuple(params.empty.shape[:-1])
