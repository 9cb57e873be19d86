"""Datasets: an immutable record and the lab's two seeded generators.

Dataset(x, y)                        # x `(n, features)`, y `(n, 1)` in {0., 1.}
generate_linear(n=100, *, seed)  -> Dataset   # uniform in [0, 1]^2, label 0 where x1 > x2
generate_xor_easy(n=11)          -> Dataset   # the lab's 2n - 1 points on the two diagonals
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt

from functional_nn import _validate
from functional_nn._records import ARRAY_EQ, FloatArray, real_array, to_array

__all__ = ["Dataset", "check_xy", "generate_linear", "generate_xor_easy"]


def check_xy(
    x: npt.ArrayLike, y: npt.ArrayLike, *, x_name: str = "x", y_name: str = "y"
) -> tuple[FloatArray, FloatArray]:
    """Validate a batch of inputs and binary labels.

    Args:
        x: inputs, `(n, features)` with n >= 1, finite.
        y: labels, `(n, outputs)`, every entry 0 or 1.

    Returns:
        ``(x, y)`` as read-only float64 arrays (the caller's arrays are not touched).

    Raises:
        TypeError, ValueError: naming ``x_name`` / ``y_name``.
    """
    xa = _validate.finite_array(x_name, x, ndim_min=2)
    if xa.ndim != 2:
        raise ValueError(f"{x_name} must have shape (n, features), got shape {xa.shape}")
    if xa.shape[0] < 1 or xa.shape[1] < 1:
        raise ValueError(f"{x_name} must hold at least one sample and one feature, got shape {xa.shape}")
    ya = _validate.finite_array(y_name, y, ndim_min=1)
    if ya.ndim == 1:
        raise ValueError(
            f"{y_name} must have shape (n, outputs) such as ({xa.shape[0]}, 1), got shape {ya.shape}; "
            f"reshape it with y.reshape(-1, 1)"
        )
    if ya.ndim != 2 or ya.shape[0] != xa.shape[0]:
        raise ValueError(f"{y_name} must have shape ({xa.shape[0]}, outputs) to match {x_name}, got shape {ya.shape}")
    bad = (ya != 0.0) & (ya != 1.0)
    if np.any(bad):
        raise ValueError(
            f"{y_name} must hold labels 0 or 1, got {float(ya[bad][0])!r} (and {int(bad.sum())} such value(s) in all)"
        )
    return xa, ya


def _xy_valid(instance: Dataset, attribute: attrs.Attribute[FloatArray], value: FloatArray) -> None:
    del attribute, value
    check_xy(instance.x, instance.y)


@attrs.frozen
class Dataset:
    """Inputs and binary labels.

    Attributes:
        x: `(n, features)` float64, finite, read-only.
        y: `(n, 1)` float64 labels in {0., 1.}, read-only.
    """

    x: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    y: FloatArray = attrs.field(converter=to_array, validator=[real_array, _xy_valid], eq=ARRAY_EQ)

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.x.shape[0])


def generate_linear(n: int = 100, *, seed: int) -> Dataset:
    """The lab's linearly separable data: n points uniform in [0, 1]^2.

    Label 0 where x1 > x2, else 1.

    Args:
        n: number of points, >= 1.
        seed: seed of the generator; the same seed gives the same points.

    Returns:
        Dataset with x `(n, 2)` and y `(n, 1)`.

    Example:
        >>> data = generate_linear(n=5, seed=0)
        >>> data.x.shape, data.y.shape
        ((5, 2), (5, 1))
    """
    n = _validate.integer("n", n, minimum=1)
    seed = _validate.integer("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, size=(n, 2))
    y = (x[:, 0] <= x[:, 1]).astype(np.float64).reshape(n, 1)
    return Dataset(x=x, y=y)


def generate_xor_easy(n: int = 11) -> Dataset:
    """The lab's XOR points: ``2n - 1`` points on the two diagonals of the unit square.

    For i in 0..n-1 the point ``(i/(n-1), i/(n-1))`` with label 0 and, except at
    the middle i (where the diagonals cross), ``(i/(n-1), 1 - i/(n-1))`` with label 1.

    Args:
        n: points per diagonal, >= 2.

    Returns:
        Dataset with x `(2n - 1, 2)` (n odd) or `(2n, 2)` (n even, no shared middle point) and y `(., 1)`.

    Example:
        >>> generate_xor_easy().x.shape
        (21, 2)
    """
    n = _validate.integer("n", n, minimum=2)
    xs: list[tuple[float, float]] = []
    ys: list[float] = []
    for i in range(n):
        t = i / (n - 1)
        xs.append((t, t))
        ys.append(0.0)
        if 2 * i == n - 1:
            continue
        xs.append((t, 1.0 - t))
        ys.append(1.0)
    return Dataset(x=np.array(xs), y=np.array(ys).reshape(-1, 1))
