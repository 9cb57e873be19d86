"""Activations: each a frozen record with its value and its derivative side by side.

    act.value(z, out=None)         -> a            # elementwise, any shape
    act.derivative(z, a, out=None) -> da/dz        # a MUST be act.value(z); shape of z

As with NumPy's ufuncs, ``out`` (an array of z's shape) receives the result
instead of a new array; the training loop uses it to reuse its buffers.  The
arithmetic is the same either way, so the results are bit-identical.

The derivative takes both the pre-activation ``z`` and the output ``a``: sigmoid
and tanh are cheapest from the output (``a * (1 - a)``, ``1 - a**2``), ReLU needs
``z``.  The lab handout's ``derivative_sigmoid(x) = x * (1 - x)`` is this
formula, and is only right when ``x`` is already the sigmoid's output; here that
contract is the signature.

    get_activation(name_or_activation) -> Activation
    ACTIVATIONS: name -> Activation      # "sigmoid", "tanh", "relu", "leaky_relu", "identity"
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import attrs
import numpy as np

from functional_nn import _validate
from functional_nn._records import FloatArray

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Identity",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "get_activation",
    "sigmoid",
]


@runtime_checkable
class Activation(Protocol):
    """An elementwise activation function and its derivative."""

    @property
    def name(self) -> str:
        """Registry name, e.g. ``"sigmoid"``."""
        ...

    def value(self, z: FloatArray, out: FloatArray | None = None) -> FloatArray:
        """``a = f(z)``, elementwise; ``z`` is left unchanged; written into ``out`` if given."""
        ...

    def derivative(self, z: FloatArray, a: FloatArray, out: FloatArray | None = None) -> FloatArray:
        """``f'(z)``, given ``z`` and ``a = self.value(z)`` (same shape); into ``out`` if given."""
        ...


def sigmoid(z: FloatArray, out: FloatArray | None = None) -> FloatArray:
    """Logistic sigmoid ``1 / (1 + exp(-z))`` that never overflows.

    Written as ``(1 + tanh(z / 2)) / 2``: tanh saturates at +-1 instead of
    overflowing, so ``|z| = 1000`` gives exactly 0 or 1 with no warning.
    """
    t = np.multiply(z, 0.5, out=out)
    np.tanh(t, out=t)
    t += 1.0
    t *= 0.5
    return t


@attrs.frozen
class Sigmoid:
    """``1 / (1 + exp(-z))``; derivative ``a * (1 - a)`` from the output."""

    name: str = attrs.field(default="sigmoid", init=False)

    def value(self, z: FloatArray, out: FloatArray | None = None) -> FloatArray:
        return sigmoid(z, out)

    def derivative(self, z: FloatArray, a: FloatArray, out: FloatArray | None = None) -> FloatArray:
        del z
        d = np.subtract(1.0, a, out=out)
        d *= a
        return d


@attrs.frozen
class Tanh:
    """``tanh(z)``; derivative ``1 - a**2`` from the output."""

    name: str = attrs.field(default="tanh", init=False)

    def value(self, z: FloatArray, out: FloatArray | None = None) -> FloatArray:
        return np.tanh(z, out=out)

    def derivative(self, z: FloatArray, a: FloatArray, out: FloatArray | None = None) -> FloatArray:
        del z
        d = np.multiply(a, a, out=out)
        np.subtract(1.0, d, out=d)
        return d


@attrs.frozen
class ReLU:
    """``max(z, 0)``; derivative 1 where ``z > 0`` else 0 (0 at the kink)."""

    name: str = attrs.field(default="relu", init=False)

    def value(self, z: FloatArray, out: FloatArray | None = None) -> FloatArray:
        return np.maximum(z, 0.0, out=out)

    def derivative(self, z: FloatArray, a: FloatArray, out: FloatArray | None = None) -> FloatArray:
        del a
        if out is None:
            return (z > 0.0).astype(np.float64)
        return np.greater(z, 0.0, out=out, casting="unsafe")


def _check_alpha(instance: LeakyReLU, attribute: attrs.Attribute[float], value: float) -> None:
    del instance, attribute
    _validate.in_range("alpha", value, 0.0, 1.0)


@attrs.frozen
class LeakyReLU:
    """``z`` where ``z > 0`` else ``alpha * z``; derivative 1 or ``alpha``."""

    alpha: float = attrs.field(default=0.01, validator=_check_alpha)
    name: str = attrs.field(default="leaky_relu", init=False)

    def value(self, z: FloatArray, out: FloatArray | None = None) -> FloatArray:
        # max(z, alpha z) is z for z > 0 and alpha z otherwise, since 0 <= alpha < 1
        scaled = np.multiply(z, self.alpha, out=out)
        return np.maximum(z, scaled, out=scaled)

    def derivative(self, z: FloatArray, a: FloatArray, out: FloatArray | None = None) -> FloatArray:
        del a
        d = np.full_like(z, self.alpha) if out is None else out
        if out is not None:
            d.fill(self.alpha)
        np.copyto(d, 1.0, where=z > 0.0)
        return d


@attrs.frozen
class Identity:
    """``z`` itself (the lab's "without activation"); derivative 1."""

    name: str = attrs.field(default="identity", init=False)

    def value(self, z: FloatArray, out: FloatArray | None = None) -> FloatArray:
        if out is None:
            return z
        np.copyto(out, z)
        return out

    def derivative(self, z: FloatArray, a: FloatArray, out: FloatArray | None = None) -> FloatArray:
        del a
        if out is None:
            return np.ones_like(z)
        out.fill(1.0)
        return out


ACTIVATIONS: Mapping[str, Activation] = MappingProxyType(
    {
        "sigmoid": Sigmoid(),
        "tanh": Tanh(),
        "relu": ReLU(),
        "leaky_relu": LeakyReLU(),
        "identity": Identity(),
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
