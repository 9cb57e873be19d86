"""Private argument checks for the public entry points.

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right
kind, wrong value) with a message that names the argument, what was expected
and what was given.  They run once at the edge, never inside the training loop.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from functional_nn._records import FloatArray, readonly


def show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def as_int(value: object) -> object:
    """attrs converter: an integer of any kind (NumPy's too) as a Python int; anything else unchanged,
    for the validator to refuse by name."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return value


def as_float(value: object) -> object:
    """attrs converter: a real number (not a bool) as a Python float; anything else unchanged, for the
    validator to refuse by name."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return value
    return value


def integer(name: str, value: object, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Check that ``value`` is an integer (not a bool) within the bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {show(value)} ({type(value).__name__})")
    result = int(value)
    if minimum is not None and result < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {result}")
    if maximum is not None and result > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {result}")
    return result


def real(name: str, value: object) -> float:
    """Check that ``value`` is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {show(value)} ({type(value).__name__})")
    try:
        result = float(value)
    except OverflowError:  # an integer too large for a float (10**400)
        raise ValueError(f"{name} must be a finite real number, got an integer too large for a float") from None
    if not np.isfinite(result):
        raise ValueError(f"{name} must be finite, got {result}")
    return result


def positive(name: str, value: object) -> float:
    """Check that ``value`` is a finite real number > 0."""
    result = real(name, value)
    if result <= 0:
        raise ValueError(f"{name} must be > 0, got {result}")
    return result


def in_range(name: str, value: object, low: float, high: float, *, closed_high: bool = False) -> float:
    """Check ``low <= value < high`` (or ``<= high`` when ``closed_high``)."""
    result = real(name, value)
    ok = low <= result <= high if closed_high else low <= result < high
    if not ok:
        bracket = "]" if closed_high else ")"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {result}")
    return result


def positive_array(name: str, value: object) -> float | FloatArray:
    """A hyperparameter that is a positive number, or a 1-D array of them (one per model)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return positive(name, value)
    if isinstance(value, (np.ndarray, Sequence)) and not isinstance(value, str):
        arr = as_array(name, value)
        if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iuf":
            raise TypeError(
                f"{name} must be a positive number or a non-empty 1-D array of them (one per model), got {show(value)}"
            )
        if not np.all(np.isfinite(arr)) or not np.all(arr > 0):
            raise ValueError(f"{name} must hold finite values > 0, got {show(value)}")
        return readonly(arr)
    raise TypeError(
        f"{name} must be a positive number or a 1-D array of them, got {show(value)} ({type(value).__name__})"
    )


def finite_array(name: str, value: npt.ArrayLike, *, ndim_min: int = 1) -> FloatArray:
    """Check that ``value`` is a real, finite array with at least ``ndim_min`` axes."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array of real numbers, got {show(value)}")
    arr = as_array(name, value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    if arr.ndim < ndim_min:
        raise ValueError(f"{name} must have at least {ndim_min} axes, got shape {arr.shape}")
    try:
        out = readonly(arr)
    except OverflowError:  # Python integers too large for a float
        raise ValueError(f"{name} must hold finite real numbers, got integers too large for a float") from None
    bad = count_non_finite(out)
    if bad:
        raise ValueError(f"{name} must be finite, got {bad} NaN/inf value(s)")
    return out


def as_array(name: str, value: object) -> Any:
    """``np.asarray(value)``, with NumPy's refusals (ragged nesting, ...) naming the argument."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError, OverflowError) as err:
        raise TypeError(f"{name} must be an array of real numbers, got {show(value)} ({err})") from None


_BLOCK = 1 << 16


def distinct(a: FloatArray) -> FloatArray:
    """``a`` with every broadcast axis (stride 0) cut to one entry: the values it holds, each once."""
    if not any(s == 0 for s in a.strides):
        return a
    return a[tuple(slice(0, 1) if s == 0 else slice(None) for s in a.strides)]


def count_non_finite(a: FloatArray) -> int:
    """The number of NaN/inf entries, counted block by block along the first axis, so a huge
    broadcast view (many rows, little memory) is checked in bounded memory."""
    # a broadcast view: check each value once, count it as often as it repeats
    repeats = int(math.prod(int(n) for n, s in zip(a.shape, a.strides) if s == 0))
    a = distinct(a)
    if a.ndim == 0 or a.shape[0] <= _BLOCK:
        return repeats * int(a.size - np.count_nonzero(np.isfinite(a)))
    return repeats * sum(count_non_finite(a[i : i + _BLOCK]) for i in range(0, a.shape[0], _BLOCK))


def choice(name: str, value: object, options: Sequence[str]) -> str:
    """Check that ``value`` is one of the names in ``options``."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(repr(o) for o in options)}; got {show(value)}")
    return value
