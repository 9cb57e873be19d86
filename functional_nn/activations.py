"""Activations: each a frozen record with its value and its chain rule side by side.

    act.value(z)              -> a = f(z)           # any shape; z is left unchanged
    act.backward(z, a, da)    -> dz = dL/dz         # from da = dL/da; a MUST be act.value(z)
    act.derivative(z, a)      -> f'(z)              # the elementwise ones: backward is f'(z) * da
                                                    # (softmax, over a sample's outputs, has none)

The chain rule takes both the pre-activation ``z`` and the output ``a``: sigmoid
and tanh are cheapest from the output (``a * (1 - a)``, ``1 - a**2``), ReLU needs
``z``.  The lab handout's ``derivative_sigmoid(x) = x * (1 - x)`` is this
formula, and is only right when ``x`` is already the sigmoid's output; here that
contract is the signature.

    ACTIVATIONS: name -> Activation      # "sigmoid", "tanh", "relu", "leaky_relu", "identity", "softmax"
    get_activation(name_or_activation) -> Activation
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs
import numpy as np
import numpy.typing as npt

from functional_nn import _validate
from functional_nn._records import FloatArray

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Identity",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "get_activation",
    "sigmoid",
]


@runtime_checkable
class Activation(Protocol):
    """An activation function and its chain rule."""

    @property
    def name(self) -> str:
        """Registry name, e.g. ``"sigmoid"``."""
        ...

    def value(self, z: FloatArray) -> FloatArray:
        """``a = f(z)``; ``z`` is left unchanged."""
        ...

    def backward(self, z: FloatArray, a: FloatArray, da: FloatArray) -> FloatArray:
        """``dL/dz`` from ``da = dL/da``, given ``z`` and ``a = self.value(z)`` (all one shape)."""
        ...


def _real(name: str, value: object) -> FloatArray:
    """``value`` as a float64 array (0-d included); anything but real numbers is refused by name."""
    arr = _validate.as_array(name, value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got {_validate.show(value)} (dtype {arr.dtype})")
    out: FloatArray = arr.astype(np.float64, copy=False)
    return out


_Method = TypeVar("_Method", bound=Callable[..., FloatArray])


def _fits(arr: object, first: object) -> bool:
    """Whether ``arr`` is already what ``_real`` makes: a float64 ndarray, of ``first``'s shape."""
    return (
        type(arr) is np.ndarray and arr.dtype == np.float64 and type(first) is np.ndarray and arr.shape == first.shape
    )


def _checked(*names: str) -> Callable[[_Method], _Method]:
    """The method's array arguments ``names`` as float64 arrays of one shape, refused by name otherwise;
    computed under ``np.errstate(all="ignore")``: NaN or inf in gives NaN or inf out, without a warning."""

    def wrap(method: _Method) -> _Method:
        @functools.wraps(method)
        def checked(self: object, *args: Any, **kwargs: Any) -> FloatArray:
            if not kwargs and len(args) == len(names) and all(_fits(a, args[0]) for a in args):
                arrays: Sequence[Any] = args  # what the layers pass, every step: nothing to convert
            else:
                given = dict(zip(names, args)) | kwargs
                if len(args) > len(names) or set(given) != set(names):
                    raise TypeError(
                        f"{method.__qualname__} takes {', '.join(names)}; got {len(args)} + {sorted(kwargs)}"
                    )
                arrays = [_real(n, given[n]) for n in names]
                for n, arr in zip(names[1:], arrays[1:], strict=True):
                    if arr.shape != arrays[0].shape:
                        raise ValueError(f"{n} must have the shape of {names[0]}, {arrays[0].shape}; got {arr.shape}")
            with np.errstate(all="ignore"):
                return method(self, *arrays)

        return checked  # type: ignore[return-value]

    return wrap


def sigmoid(z: npt.ArrayLike) -> FloatArray:
    """Logistic sigmoid ``1 / (1 + exp(-z))``, accurate to a few ulp and never overflowing.

    With ``e = exp(-|z|)`` (at most 1, so it cannot overflow) the sigmoid is
    ``1 / (1 + e)`` for ``z >= 0`` and ``e / (1 + e)`` for ``z < 0``: both are
    accurate relative to the result, also far in the left tail (``sigmoid(-40)``
    is 4.25e-18, not 0).

    Example:
        >>> float(sigmoid(0.0)), float(sigmoid(-1000.0)), float(sigmoid(1000.0))
        (0.5, 0.0, 1.0)
    """
    z = _real("z", z)
    e = np.exp(-np.abs(z))
    out: FloatArray = np.where(z >= 0.0, 1.0, e) / (1.0 + e)
    return out


@attrs.frozen
class Sigmoid:
    """``1 / (1 + exp(-z))``; derivative ``a * (1 - a)`` from the output."""

    name: str = attrs.field(default="sigmoid", init=False)

    @_checked("z")
    def value(self, z: FloatArray) -> FloatArray:
        return sigmoid(z)

    @_checked("z", "a")
    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        del z
        return a * (1.0 - a)

    @_checked("z", "a", "da")
    def backward(self, z: FloatArray, a: FloatArray, da: FloatArray) -> FloatArray:
        return self.derivative(z, a) * da


@attrs.frozen
class Tanh:
    """``tanh(z)``; derivative ``1 - a**2`` from the output."""

    name: str = attrs.field(default="tanh", init=False)

    @_checked("z")
    def value(self, z: FloatArray) -> FloatArray:
        return np.tanh(z)

    @_checked("z", "a")
    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        del z
        return 1.0 - a * a

    @_checked("z", "a", "da")
    def backward(self, z: FloatArray, a: FloatArray, da: FloatArray) -> FloatArray:
        return self.derivative(z, a) * da


@attrs.frozen
class ReLU:
    """``max(z, 0)``; derivative 1 where ``z > 0`` else 0 (0 at the kink)."""

    name: str = attrs.field(default="relu", init=False)

    @_checked("z")
    def value(self, z: FloatArray) -> FloatArray:
        return np.maximum(z, 0.0)

    @_checked("z", "a")
    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        del a
        return (z > 0.0).astype(np.float64)

    @_checked("z", "a", "da")
    def backward(self, z: FloatArray, a: FloatArray, da: FloatArray) -> FloatArray:
        return self.derivative(z, a) * da


def _check_alpha(instance: LeakyReLU, attribute: attrs.Attribute[float], value: float) -> None:
    del instance, attribute
    _validate.in_range("alpha", value, 0.0, 1.0)


@attrs.frozen
class LeakyReLU:
    """``z`` where ``z > 0`` else ``alpha * z``; derivative 1 or ``alpha``."""

    alpha: float = attrs.field(default=0.01, converter=_validate.as_float, validator=_check_alpha)
    name: str = attrs.field(default="leaky_relu", init=False)

    @_checked("z")
    def value(self, z: FloatArray) -> FloatArray:
        return np.where(z > 0.0, z, self.alpha * z)

    @_checked("z", "a")
    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        del a
        return np.where(z > 0.0, 1.0, self.alpha)

    @_checked("z", "a", "da")
    def backward(self, z: FloatArray, a: FloatArray, da: FloatArray) -> FloatArray:
        return self.derivative(z, a) * da


@attrs.frozen
class Identity:
    """``z`` itself (the lab's "without activation"); derivative 1."""

    name: str = attrs.field(default="identity", init=False)

    @_checked("z")
    def value(self, z: FloatArray) -> FloatArray:
        return z

    @_checked("z", "a")
    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        del a
        return np.ones_like(z)

    @_checked("z", "a", "da")
    def backward(self, z: FloatArray, a: FloatArray, da: FloatArray) -> FloatArray:
        del z, a
        return da


@attrs.frozen
class Softmax:
    """``exp(z) / sum(exp(z))`` over the last axis (a sample's k outputs), from ``z - max(z)``: no overflow.

    Not elementwise: its chain rule is the Jacobian-vector product
    ``a * (da - sum(a * da))``.  Paired with ``cross_entropy`` the loss fuses it
    to ``(a - y) / n`` instead.
    """

    name: str = attrs.field(default="softmax", init=False)

    @_checked("z")
    def value(self, z: FloatArray) -> FloatArray:
        _has_outputs("z", z)
        e = np.exp(z - np.max(z, axis=-1, keepdims=True))  # z - max may round to -inf (|z| near 1e308): exp 0
        out: FloatArray = e / np.sum(e, axis=-1, keepdims=True)
        return out

    @_checked("z", "a", "da")
    def backward(self, z: FloatArray, a: FloatArray, da: FloatArray) -> FloatArray:
        del z
        _has_outputs("da", da)
        # da near float64's limit: da - sum(a * da) can overflow though the result need not, so work on
        # da / 2**k (exact) and scale back
        big = float(np.max(np.abs(da)))
        scale = math.ldexp(1.0, math.frexp(big)[1] - 1) if math.isfinite(big) and big > 2.0**1000 else 1.0  # d < 2
        d = da / scale if scale != 1.0 else da
        out: FloatArray = a * (d - np.sum(a * d, axis=-1, keepdims=True))
        if scale != 1.0:
            out = out * scale
            if not np.all(np.isfinite(out)) and np.all(np.isfinite(a)):
                raise ValueError(f"da is too large: dL/dz overflows float64 (max |da| = {big:.3g})")
        return out


def _has_outputs(name: str, arr: FloatArray) -> None:
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(f"{name} must have a last axis of at least one output, got shape {arr.shape}")


ACTIVATIONS: Mapping[str, Activation] = MappingProxyType(
    {
        "sigmoid": Sigmoid(),
        "tanh": Tanh(),
        "relu": ReLU(),
        "leaky_relu": LeakyReLU(),
        "identity": Identity(),
        "softmax": Softmax(),
    }
)
"""Every activation by name; tests are parametrized over this registry."""


def get_activation(activation: str | Activation, *, argument: str = "activation") -> Activation:
    """Look up an activation by name, or pass an Activation record through.

    Raises:
        ValueError: for an unknown name, listing the known ones.
        TypeError: for anything that is neither a name nor an Activation.
    """
    if isinstance(activation, str):
        return ACTIVATIONS[_validate.choice(argument, activation, tuple(ACTIVATIONS))]
    if isinstance(activation, Activation):
        return activation
    raise TypeError(
        f"{argument} must be an activation name ({', '.join(ACTIVATIONS)}) or an Activation, got {_validate.show(activation)}"
    )
