"""Losses: each a frozen record with its value and its gradient side by side.

A loss sees the output layer's pre-activation ``z``, its output ``a`` and the
labels ``y``, all of shape `(..., n, outputs)`, and reduces over the last two
axes: leading axes are independent models.

    loss.value(z, a, y)               -> `(...)`    mean over samples and outputs
    loss.delta(z, a, y, activation)   -> dL/dz, shape of z
    loss.value_and_delta(z, a, y, activation) -> both at once (what the training loop calls)
    loss.check_output(activation)     -> None, or ValueError if the pair is unsupported

    mse : mean((a - y)**2); dL/dz = 2 (a - y) f'(z) / (n outputs)
    bce : binary cross-entropy of a sigmoid output, computed from the logits z
          (softplus(z) - y z: never log(0), never overflow); fused dL/dz = (a - y) / (n outputs)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import attrs
import numpy as np

from functional_nn import _validate
from functional_nn._records import FloatArray
from functional_nn.activations import Activation, Sigmoid

__all__ = ["BCE", "LOSSES", "MSE", "Loss", "bce", "get_loss", "mse"]


@runtime_checkable
class Loss(Protocol):
    """A loss over a batch, with its gradient with respect to the output pre-activation."""

    @property
    def name(self) -> str:
        """Registry name, e.g. ``"mse"``."""
        ...

    def value(self, z: FloatArray, a: FloatArray, y: FloatArray) -> FloatArray:
        """Loss per model, shape `z.shape[:-2]`; ``a`` is the output activation of ``z``."""
        ...

    def delta(self, z: FloatArray, a: FloatArray, y: FloatArray, activation: Activation) -> FloatArray:
        """``dL/dz``, shape of ``z``."""
        ...

    def value_and_delta(
        self, z: FloatArray, a: FloatArray, y: FloatArray, activation: Activation
    ) -> tuple[FloatArray, FloatArray]:
        """``(value, delta)``, sharing the work the two have in common."""
        ...

    def check_output(self, activation: Activation) -> None:
        """Raise ``ValueError`` if this loss cannot follow the given output activation."""
        ...


def _count(z: FloatArray) -> int:
    return int(z.shape[-1] * z.shape[-2])


def _sum_sq(r: FloatArray) -> FloatArray:
    """Sum of squares over the last two axes: one dot product per model.

    ``np.vecdot`` sums each model's row the same way whatever the number of
    models (so splitting a stack never changes a bit), and as ``np.vdot`` does
    for a single model; ``np.einsum`` does not (its order changes for one model
    and rows over 8192 elements).
    """
    if r.ndim == 2:
        return np.asarray(np.vdot(r, r))
    flat = r.reshape(r.shape[:-2] + (-1,))
    out: FloatArray = np.vecdot(flat, flat)
    return out


@attrs.frozen
class MSE:
    """Mean squared error ``mean((a - y)**2)`` over samples and outputs."""

    name: str = attrs.field(default="mse", init=False)

    def value(self, z: FloatArray, a: FloatArray, y: FloatArray) -> FloatArray:
        return _sum_sq(a - y) * (1.0 / _count(z))

    def delta(self, z: FloatArray, a: FloatArray, y: FloatArray, activation: Activation) -> FloatArray:
        return self.value_and_delta(z, a, y, activation)[1]

    def value_and_delta(
        self, z: FloatArray, a: FloatArray, y: FloatArray, activation: Activation
    ) -> tuple[FloatArray, FloatArray]:
        r = a - y
        scale = 1.0 / _count(z)
        value = _sum_sq(r) * scale
        g = activation.derivative(z, a)
        g *= r
        g *= 2.0 * scale
        return value, g

    def check_output(self, activation: Activation) -> None:
        del activation


@attrs.frozen
class BCE:
    """Binary cross-entropy of a sigmoid output, from its logits.

    ``mean(-y log a - (1 - y) log(1 - a))`` with ``a = sigmoid(z)`` equals
    ``mean(softplus(z) - y z)``; ``np.logaddexp(0, z)`` is softplus without
    overflow, so no ``log(0)`` is ever taken.  The gradient through the sigmoid
    fuses to ``(a - y) / count``.
    """

    name: str = attrs.field(default="bce", init=False)

    def value(self, z: FloatArray, a: FloatArray, y: FloatArray) -> FloatArray:
        del a
        out: FloatArray = np.mean(np.logaddexp(0.0, z) - y * z, axis=(-2, -1))
        return out

    def delta(self, z: FloatArray, a: FloatArray, y: FloatArray, activation: Activation) -> FloatArray:
        del activation
        return (a - y) * (1.0 / _count(z))

    def value_and_delta(
        self, z: FloatArray, a: FloatArray, y: FloatArray, activation: Activation
    ) -> tuple[FloatArray, FloatArray]:
        return self.value(z, a, y), self.delta(z, a, y, activation)

    def check_output(self, activation: Activation) -> None:
        if not isinstance(activation, Sigmoid):
            raise ValueError(
                f"loss 'bce' needs a sigmoid output layer (output='sigmoid'), got output={activation.name!r}"
            )


mse = MSE()
"""Mean squared error (the lab's loss)."""
bce = BCE()
"""Binary cross-entropy for a sigmoid output."""

LOSSES: Mapping[str, Loss] = MappingProxyType({"mse": mse, "bce": bce})
"""Every loss by name; tests are parametrized over this registry."""


def get_loss(loss: str | Loss, *, argument: str = "loss") -> Loss:
    """Look up a loss by name, or pass a Loss record through."""
    if isinstance(loss, str):
        return LOSSES[_validate.choice(argument, loss, tuple(LOSSES))]
    if isinstance(loss, Loss):
        return loss
    raise TypeError(f"{argument} must be a loss name ({', '.join(LOSSES)}) or a Loss, got {_validate.show(loss)}")
