"""Losses: each a frozen record with its value and its gradient side by side.

A loss sees the output layer's pre-activation ``z``, its output ``a`` and the
labels ``y``, all of shape `(..., n, outputs)`, and reduces over the last two
axes: leading axes are independent models.

    loss.value(z, a, y)               -> `(...)`   mean over samples and outputs
    loss.delta(z, a, y, activation)   -> dL/dz of the output layer, shape of z
    loss.check_output(activation)     -> None, or ValueError if the pair is unsupported

    mse : mean((a - y)**2);  dL/da = 2 (a - y) / count, then the activation's chain rule
    bce : binary cross-entropy of a sigmoid output, from the logits z
          (softplus(z) - y z: never log(0), never overflow); fused dL/dz = (a - y) / count

    LOSSES: name -> Loss;  get_loss(name_or_loss) -> Loss
"""

from __future__ import annotations

import functools
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
        """``dL/dz`` of the output layer, shape of ``z``."""
        ...

    def check_output(self, activation: Activation) -> None:
        """Raise ``ValueError`` if this loss cannot follow the given output activation."""
        ...


def model_sum(t: FloatArray) -> FloatArray:
    """Sum over the last two axes, one number per model.

    One dot product per model (``np.vecdot`` with ones) adds each model's numbers
    in the same order whatever the number of models, so splitting a stack never
    changes a bit; for one model it is ``np.dot``.
    """
    flat = t.reshape(t.shape[:-2] + (-1,))
    ones = _ones(flat.shape[flat.ndim - 1])
    if flat.ndim == 1:
        return np.asarray(np.dot(flat, ones))
    out: FloatArray = np.vecdot(flat, ones)
    return out


@functools.lru_cache(maxsize=16)
def _ones(n: int) -> FloatArray:
    ones = np.ones(n)
    ones.flags.writeable = False
    return ones


def _count(z: FloatArray) -> float:
    return float(z.shape[-1] * z.shape[-2])


@attrs.frozen
class MSE:
    """Mean squared error ``mean((a - y)**2)`` over samples and outputs."""

    name: str = attrs.field(default="mse", init=False)

    def value(self, z: FloatArray, a: FloatArray, y: FloatArray) -> FloatArray:
        r = a - y
        return model_sum(r * r) / _count(z)

    def delta(self, z: FloatArray, a: FloatArray, y: FloatArray, activation: Activation) -> FloatArray:
        da = (a - y) * (2.0 / _count(z))
        return activation.backward(z, a, da)

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
        return model_sum(np.logaddexp(0.0, z) - y * z) / _count(z)

    def delta(self, z: FloatArray, a: FloatArray, y: FloatArray, activation: Activation) -> FloatArray:
        del activation
        return (a - y) / _count(z)

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
