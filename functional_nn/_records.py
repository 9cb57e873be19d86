"""Private helpers for immutable records of read-only float64 arrays.

readonly(a) -> FloatArray        # float64 read-only *view*; the caller's array stays writable
attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)   # a read-only array field
trusted(cls, **fields) -> cls    # build a record from arrays the library just computed
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
"""A float64 array; every array stored in a record is read-only."""

T = TypeVar("T")


def readonly(a: npt.ArrayLike) -> FloatArray:
    """Return a read-only float64 view of ``a`` (a copy only if a cast is needed).

    Raises:
        TypeError: if ``a`` is not an array of real numbers.
    """
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"expected an array of real numbers, got dtype {arr.dtype}")
    view = arr.astype(np.float64, copy=False).view()
    view.flags.writeable = False
    return view


def to_array(value: npt.ArrayLike) -> FloatArray:
    """Converter of array fields: a read-only float64 view of a real array.

    Anything else is passed on (as a read-only array) for the ``real_array``
    validator to reject with the field's name.
    """
    try:
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf":
            return readonly(arr)
    except (ValueError, TypeError, OverflowError):  # ragged nesting, integers too large for a float
        arr = np.empty(0, dtype=object)
    view = arr.view()
    view.flags.writeable = False
    return view


def real_array(instance: object, attribute: attrs.Attribute[Any], value: FloatArray) -> None:
    """Validator of array fields: the value must be an array of real numbers."""
    if value.dtype != np.float64:
        raise TypeError(f"{attribute.name} must be an array of real numbers, got dtype {value.dtype}")


def _array_eq(a: FloatArray | None, b: FloatArray | None) -> bool:
    if a is None or b is None:  # an optional array field
        return a is b
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


ARRAY_EQ = attrs.cmp_using(eq=_array_eq)
"""Equality of array fields: same shape and values (NaN equal to NaN)."""


def trusted(cls: type[T], **fields: Any) -> T:
    """Build a record without running converters or validators.

    Only for arrays the library has just computed and owns: they are made
    read-only in place (no view needed, nobody else holds them).  The inner
    training loop uses this; public constructors always validate.
    """
    obj = object.__new__(cls)
    for name, value in fields.items():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
        object.__setattr__(obj, name, value)
    return obj
