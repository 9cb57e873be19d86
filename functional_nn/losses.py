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
    cross_entropy : categorical cross-entropy of a softmax output (one-hot y), mean over
          samples, from the logits (logsumexp(z) - z_label); fused dL/dz = (a - y) / n
    loss.check_labels(y, name)        -> None, or ValueError: 0/1 labels for bce, one-hot rows
                                         for cross_entropy, any finite reals for mse

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
from functional_nn.activations import Activation, Sigmoid, Softmax

__all__ = ["BCE", "LOSSES", "MSE", "CrossEntropy", "Loss", "bce", "cross_entropy", "get_loss", "mse"]


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

    def check_labels(self, y: FloatArray, name: str) -> None:
        """Raise ``ValueError`` naming ``name`` if ``y`` `(..., n, outputs)` are not targets this loss takes."""
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

    def check_labels(self, y: FloatArray, name: str) -> None:
        del y, name  # any finite reals: classification labels or regression targets


def _binary_labels(y: FloatArray, name: str, loss: str) -> None:
    bad = (y != 0.0) & (y != 1.0)
    if bad.any():
        raise ValueError(
            f"{name} must hold labels 0 or 1 for loss {loss!r}, got {float(y[bad][0])!r} "
            f"(and {int(bad.sum())} such value(s) in all); for real-valued targets use 'mse'"
        )


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
                + ("; a softmax output goes with loss 'cross_entropy'" if isinstance(activation, Softmax) else "")
            )

    def check_labels(self, y: FloatArray, name: str) -> None:
        _binary_labels(y, name, "bce")


@attrs.frozen
class CrossEntropy:
    """Categorical cross-entropy of a softmax output, from its logits, mean over samples.

    ``mean_n(-sum_k y log a)`` with ``a = softmax(z)`` equals
    ``mean_n(logsumexp(z) - sum_k y z)``; ``logsumexp`` is taken from
    ``z - max(z)``, so it never overflows and no ``log(0)`` is taken.  The
    gradient through the softmax fuses to ``(a - y) / n``.  Labels are one-hot rows.
    """

    name: str = attrs.field(default="cross_entropy", init=False)

    def value(self, z: FloatArray, a: FloatArray, y: FloatArray) -> FloatArray:
        del a
        top = np.max(z, axis=-1, keepdims=True)
        with np.errstate(over="ignore"):  # z - top may round to -inf (|z| near 1e308): its exp is 0, as it should be
            shifted = z - top
        logsumexp = top + np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
        picked = np.sum(y * z, axis=-1, keepdims=True)  # one-hot y: the label's logit
        out: FloatArray = model_sum(logsumexp - picked) / z.shape[-2]
        return out

    def delta(self, z: FloatArray, a: FloatArray, y: FloatArray, activation: Activation) -> FloatArray:
        del activation
        out: FloatArray = (a - y) / z.shape[-2]
        return out

    def check_output(self, activation: Activation) -> None:
        if not isinstance(activation, Softmax):
            raise ValueError(
                f"loss 'cross_entropy' needs a softmax output layer (output='softmax'), got output={activation.name!r}"
            )

    def check_labels(self, y: FloatArray, name: str) -> None:
        _binary_labels(y, name, "cross_entropy")
        if y.shape[-1] < 2:
            raise ValueError(f"{name} must have k >= 2 one-hot columns for loss 'cross_entropy', got shape {y.shape}")
        rows = y.sum(axis=-1) != 1.0
        if rows.any():
            raise ValueError(
                f"{name} must hold one-hot rows (one 1, the rest 0) for loss 'cross_entropy', got "
                f"{int(rows.sum())} row(s) that are not; build them with fnn.one_hot(labels)"
            )


mse = MSE()
"""Mean squared error (the lab's loss)."""
bce = BCE()
"""Binary cross-entropy for a sigmoid output."""
cross_entropy = CrossEntropy()
"""Categorical cross-entropy for a softmax output (one-hot labels)."""

LOSSES: Mapping[str, Loss] = MappingProxyType({"mse": mse, "bce": bce, "cross_entropy": cross_entropy})
"""Every loss by name; tests are parametrized over this registry."""


def get_loss(loss: str | Loss, *, argument: str = "loss") -> Loss:
    """Look up a loss by name, or pass a Loss record through."""
    if isinstance(loss, str):
        return LOSSES[_validate.choice(argument, loss, tuple(LOSSES))]
    if isinstance(loss, Loss):
        return loss
    raise TypeError(f"{argument} must be a loss name ({', '.join(LOSSES)}) or a Loss, got {_validate.show(loss)}")
