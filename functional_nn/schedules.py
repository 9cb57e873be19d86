"""Learning-rate schedules: frozen records, each a pure function of the optimizer's step.

    Constant(lr)                                  lr
    StepDecay(lr, factor, every)                  lr * factor ** floor(step / every)
    Exponential(lr, decay, every=1)               lr * decay ** (step / every)
    Cosine(lr, steps, alpha=0.01)                 lr * (alpha + (1 - alpha) (1 + cos(pi min(step, steps) / steps)) / 2)
    WarmupCosine(lr, warmup, steps, alpha=0.01)   lr (step + 1) / warmup for step < warmup, then Cosine's
                                                  curve over the steps left (steps counts the warmup too)
    schedule(step) -> lr                          # step: the updates taken before this one (0, 1, ...)
    SCHEDULES: name -> record class

Any optimizer takes one as its ``lr`` (``fnn.sgd(lr=fnn.Cosine(0.1, steps=1000))``); its
state then counts the steps (``ScheduleState``), so a resumed run continues the schedule
exactly.  A step is one update: one per epoch in full batch, one per mini-batch otherwise.
``step`` may be an array of counts (one per model of a stack): the result is then an array.

Every lr a schedule yields must be finite and > 0: the records refuse, at construction,
settings that would yield another (``Cosine(alpha=0)`` ends at 0), and a call that still
yields one (``StepDecay`` or ``Exponential`` decayed to 0 in float64 after many steps) raises
a ValueError naming the schedule.  Training checks the first and the last step of a run
before it starts (each built-in schedule rises, then falls, so those are its extremes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from functional_nn import _validate
from functional_nn._records import FloatArray

__all__ = ["SCHEDULES", "SCHEDULE_TYPES", "Constant", "Cosine", "Exponential", "Schedule", "StepDecay", "WarmupCosine"]

Steps: TypeAlias = int | float | npt.NDArray[Any]


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    del instance
    _validate.positive(attribute.name, value)


def _count(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    del instance
    _validate.integer(attribute.name, value, minimum=1)


def _fraction(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    """A factor in (0, 1]: a decay that never reaches 0 and never grows."""
    del instance
    result = _validate.real(attribute.name, value)
    if not 0.0 < result <= 1.0:
        raise ValueError(f"{attribute.name} must be in (0, 1], got {result}")


def _checked(schedule: object, step: Steps, lr: Any) -> Any:
    """``lr`` (a float for a 0-d result), or a ValueError naming ``schedule`` where it is not finite and > 0."""
    arr = np.asarray(lr, dtype=np.float64)
    bad = ~(np.isfinite(arr) & (arr > 0.0))
    if bad.any():
        at = np.ravel(np.asarray(step)[bad] if np.ndim(step) else step)[0].item()
        at = int(at) if float(at).is_integer() else at  # a count of steps, though counts are kept as floats
        raise ValueError(
            f"lr schedule {schedule!r} yields lr {arr[bad].ravel()[0].item()!r} at step {at!r}: "
            "a learning rate must be finite and > 0"
        )
    return float(arr) if arr.ndim == 0 else arr


def _steps(step: Steps) -> Any:
    """The step(s) as float64, checked: finite numbers >= 0."""
    s = _validate.as_array("step", step)
    if s.dtype.kind not in "iuf":
        raise TypeError(f"step must be a number >= 0 or an array of them, got {_validate.show(step)}")
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError(f"step must be a number >= 0 or an array of them, got {_validate.show(step)}")
    return s.astype(np.float64)


@attrs.frozen
class Constant:
    """The same ``lr`` at every step (the same bits as passing the float itself).

    Example:
        >>> Constant(0.1)(7)
        0.1
    """

    name: ClassVar[str] = "constant"
    lr: float = attrs.field(converter=_validate.as_float, validator=_positive)

    def __call__(self, step: Steps) -> Any:
        s = _steps(step)
        return _checked(self, step, np.full(s.shape, self.lr))


@attrs.frozen
class StepDecay:
    """``lr * factor ** floor(step / every)``: the rate multiplied by ``factor`` (in (0, 1]) every
    ``every`` steps.

    Example:
        >>> StepDecay(1.0, factor=0.5, every=10)(25)
        0.25
    """

    name: ClassVar[str] = "step_decay"
    lr: float = attrs.field(converter=_validate.as_float, validator=_positive)
    factor: float = attrs.field(converter=_validate.as_float, validator=_fraction)
    every: int = attrs.field(converter=_validate.as_int, validator=_count)

    def __call__(self, step: Steps) -> Any:
        s = _steps(step)
        with np.errstate(under="ignore"):
            return _checked(self, step, self.lr * self.factor ** np.floor(s / self.every))


@attrs.frozen
class Exponential:
    """``lr * decay ** (step / every)``: smooth decay by ``decay`` (in (0, 1]) every ``every`` steps.

    Example:
        >>> Exponential(1.0, decay=0.5, every=2)(4)
        0.25
    """

    name: ClassVar[str] = "exponential"
    lr: float = attrs.field(converter=_validate.as_float, validator=_positive)
    decay: float = attrs.field(converter=_validate.as_float, validator=_fraction)
    every: int = attrs.field(default=1, converter=_validate.as_int, validator=_count)

    def __call__(self, step: Steps) -> Any:
        s = _steps(step)
        with np.errstate(under="ignore"):
            return _checked(self, step, self.lr * self.decay ** (s / self.every))


def _cosine(lr: float, alpha: float, t: FloatArray) -> FloatArray:
    """Cosine annealing from ``lr`` (t = 0) to ``lr * alpha`` (t = 1)."""
    out: FloatArray = lr * (alpha + (1.0 - alpha) * 0.5 * (1.0 + np.cos(math.pi * t)))
    return out


@attrs.frozen
class Cosine:
    """Cosine annealing (Loshchilov & Hutter, SGDR, without restarts) from ``lr`` at step 0 to
    ``lr * alpha`` at step ``steps``, then constant.  ``alpha`` is in (0, 1] (0 would end at a
    learning rate of 0, which is refused).

    Example:
        >>> Cosine(1.0, steps=10, alpha=0.1)(5)
        0.55
    """

    name: ClassVar[str] = "cosine"
    lr: float = attrs.field(converter=_validate.as_float, validator=_positive)
    steps: int = attrs.field(converter=_validate.as_int, validator=_count)
    alpha: float = attrs.field(default=0.01, converter=_validate.as_float, validator=_fraction)

    def __call__(self, step: Steps) -> Any:
        s = _steps(step)
        return _checked(self, step, _cosine(self.lr, self.alpha, np.minimum(s, self.steps) / self.steps))


@attrs.frozen
class WarmupCosine:
    """Linear warmup, then cosine annealing: ``lr * (step + 1) / warmup`` for the first ``warmup``
    steps (so the first step is not 0), then ``Cosine``'s curve from ``lr`` to ``lr * alpha`` over
    the ``steps - warmup`` steps left; ``steps`` (> ``warmup``) counts the warmup too.

    Example:
        >>> s = WarmupCosine(1.0, warmup=4, steps=14, alpha=0.1)
        >>> s(0), s(3), s(4), s(9)
        (0.25, 1.0, 1.0, 0.55)
    """

    name: ClassVar[str] = "warmup_cosine"
    lr: float = attrs.field(converter=_validate.as_float, validator=_positive)
    warmup: int = attrs.field(converter=_validate.as_int, validator=_count)
    steps: int = attrs.field(converter=_validate.as_int, validator=_count)
    alpha: float = attrs.field(default=0.01, converter=_validate.as_float, validator=_fraction)

    def __attrs_post_init__(self) -> None:
        if self.steps <= self.warmup:
            raise ValueError(
                f"steps must be greater than warmup ({self.warmup}): it counts the warmup too, got {self.steps}"
            )

    def __call__(self, step: Steps) -> Any:
        s = _steps(step)
        decay = self.steps - self.warmup
        t = np.minimum(np.maximum(s - self.warmup, 0.0), decay) / decay
        return _checked(
            self, step, np.where(s < self.warmup, self.lr * (s + 1.0) / self.warmup, _cosine(self.lr, self.alpha, t))
        )


Schedule: TypeAlias = Constant | StepDecay | Exponential | Cosine | WarmupCosine
"""Any schedule record: ``schedule(step) -> lr``, finite and > 0, or a ValueError naming the schedule."""

SCHEDULE_TYPES = (Constant, StepDecay, Exponential, Cosine, WarmupCosine)

SCHEDULES: Mapping[str, type] = MappingProxyType({cls.name: cls for cls in SCHEDULE_TYPES})
"""Every schedule record class by name (what ``io`` writes for a schedule)."""
