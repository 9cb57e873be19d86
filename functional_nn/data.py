"""Datasets: a record that says its task, seeded generators, a split and standardization.

Dataset(x, y, *, task=<inferred>)                        # x `(n, features)`; task one of TASKS (below)
check_xy(x, y, *, x_name="x", y_name="y")                -> (x, y)        # labels 0 or 1 (the core's check)
check_task(x, y, task=None, *, x_name="x", y_name="y")   -> (x, y, task)  # y checked against task, or task inferred
one_hot(labels, classes=None)                            -> FloatArray    # `(n,)` integers -> `(n, classes)`
generate_linear(n=100, *, seed)                          -> Dataset  # uniform in [0, 1]^2, label 0 where x1 > x2
generate_xor_easy(n=11)                                  -> Dataset  # the lab's 2n - 1 points on the two diagonals
generate_circle(n=200, *, noise=0.0, seed)               -> Dataset  # a disc (class 1) inside a ring (class 0)
generate_gauss(n=200, *, classes=2, noise=0.0, seed)     -> Dataset  # one Gaussian blob per class
generate_spiral(n=200, *, classes=2, noise=0.0, seed)    -> Dataset  # one spiral arm per class
split(data, *, test_fraction=0.3, seed, stratify=None)   -> (train, test)
Standardizer(mean, scale)                                # `(features,)` each; scale > 0
fit_standardizer(x)                                      -> Standardizer
standardize(data_or_x, stats)                            -> Dataset or FloatArray (as given)
TASKS = ("binary", "multiclass", "regression")

The labels ``y`` of a Dataset follow its task:

* ``"binary"``: `(n, 1)` labels in {0., 1.} (also `(n, outputs)`, several independent 0/1
  labels per sample, as ``check_xy`` has always accepted);
* ``"multiclass"``: one-hot `(n, k)`, k >= 2, each row one 1 and the rest 0 (see ``one_hot``);
* ``"regression"``: `(n, outputs)` finite reals.

Without ``task`` it is inferred from ``y``: all entries 0 or 1 and every row one-hot with
k >= 2 columns gives ``"multiclass"``, otherwise all entries 0 or 1 gives ``"binary"``;
anything else is refused -- real-valued targets need ``task="regression"`` explicitly.

The Playground generators (after TensorFlow Playground's circle, gauss and spiral) draw
from ``np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)))``, one
stream per generator, never from the global RNG; their classes are balanced (sizes differ
by at most one) and the points come shuffled.  With two classes y is binary `(n, 1)`
(the label is the class index), with more it is one-hot `(n, classes)`.
"""

from __future__ import annotations

import math
from typing import Any, Final, overload

import attrs
import numpy as np
import numpy.typing as npt

from functional_nn import _validate
from functional_nn._records import ARRAY_EQ, FloatArray, readonly, real_array, to_array, trusted

__all__ = [
    "TASKS",
    "Dataset",
    "Standardizer",
    "check_task",
    "check_xy",
    "fit_standardizer",
    "generate_circle",
    "generate_gauss",
    "generate_linear",
    "generate_spiral",
    "generate_xor_easy",
    "one_hot",
    "split",
    "standardize",
]

TASKS: Final = ("binary", "multiclass", "regression")

MAX_SAMPLES: Final = 10**8
"""The most points a generator draws (8 bytes x 2 features x 10**8 = 1.6 GB)."""
MAX_CLASSES: Final = 10**5
"""The most classes a generator or ``one_hot`` makes."""
"""The tasks a Dataset can state."""

_STREAMS: Final = {"circle": 1, "gauss": 2, "spiral": 3, "split": 4}
"""One random stream per seeded function: the same seed gives unrelated draws in each."""


def _check_x(x: npt.ArrayLike, x_name: str) -> FloatArray:
    xa = _validate.finite_array(x_name, x, ndim_min=2)
    if xa.ndim != 2:
        raise ValueError(f"{x_name} must have shape (n, features), got shape {xa.shape}")
    if xa.shape[0] < 1 or xa.shape[1] < 1:
        raise ValueError(f"{x_name} must hold at least one sample and one feature, got shape {xa.shape}")
    return xa


def _check_shapes(x: npt.ArrayLike, y: npt.ArrayLike, x_name: str, y_name: str) -> tuple[FloatArray, FloatArray]:
    xa = _check_x(x, x_name)
    ya = _validate.finite_array(y_name, y, ndim_min=1)
    if ya.ndim == 1:
        raise ValueError(
            f"{y_name} must have shape (n, outputs) such as ({xa.shape[0]}, 1), got shape {ya.shape}; "
            f"reshape it with y.reshape(-1, 1)"
        )
    if ya.ndim != 2 or ya.shape[0] != xa.shape[0]:
        raise ValueError(f"{y_name} must have shape ({xa.shape[0]}, outputs) to match {x_name}, got shape {ya.shape}")
    return xa, ya


def _not_binary(ya: FloatArray, y_name: str, task: str | None) -> str | None:
    """The message for entries other than 0 and 1, or None if there are none."""
    bad = (ya != 0.0) & (ya != 1.0)
    if not np.any(bad):
        return None
    for_task = "" if task is None else f" for task {task!r}"
    return f"{y_name} must hold labels 0 or 1{for_task}, got {float(ya[bad][0])!r} (and {int(bad.sum())} such value(s) in all)"


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

    Example:
        >>> x, y = check_xy([[0.0, 1.0]], [[1]])
        >>> y.dtype, y.flags.writeable
        (dtype('float64'), False)
    """
    xa, ya = _check_shapes(x, y, x_name, y_name)
    message = _not_binary(_validate.distinct(ya), y_name, None)
    if message is not None:
        raise ValueError(message)
    return xa, ya


def _infer_task(ya: FloatArray, y_name: str) -> str:
    message = _not_binary(ya, y_name, None)
    if message is not None:
        raise ValueError(
            f"{message}; a task is inferred only from binary labels (n, 1) or one-hot rows (n, k): "
            f'for real-valued targets pass task="regression" explicitly'
        )
    if ya.shape[1] >= 2 and np.all(ya.sum(axis=1) == 1.0):
        return "multiclass"
    return "binary"


def _check_one_hot(ya: FloatArray, y_name: str) -> None:
    if ya.shape[1] < 2:
        raise ValueError(
            f"{y_name} must have shape (n, k) with k >= 2 one-hot columns for task 'multiclass', "
            f"got shape {ya.shape}; build it with one_hot(labels)"
        )
    rows = np.any((ya != 0.0) & (ya != 1.0), axis=1) | (np.count_nonzero(ya == 1.0, axis=1) != 1)
    if np.any(rows):
        first = int(np.flatnonzero(rows)[0])
        raise ValueError(
            f"{y_name} must hold one-hot rows (one 1, the rest 0) for task 'multiclass', "
            f"got row {first} = {ya[first].tolist()} (and {int(rows.sum())} such row(s) in all)"
        )


def check_task(
    x: npt.ArrayLike, y: npt.ArrayLike, task: str | None = None, *, x_name: str = "x", y_name: str = "y"
) -> tuple[FloatArray, FloatArray, str]:
    """Validate inputs and targets for a task, or infer the task from the targets.

    Args:
        x: inputs, `(n, features)` with n >= 1, finite.
        y: targets, `(n, outputs)`, finite; what else depends on ``task`` (see the module docstring).
        task: one of ``TASKS``, or None to infer it from ``y``.

    Returns:
        ``(x, y, task)`` with x and y read-only float64 arrays.

    Raises:
        TypeError, ValueError: naming ``x_name`` / ``y_name`` / ``task``.

    Example:
        >>> check_task([[0.0], [1.0]], [[0, 1], [1, 0]])[2]
        'multiclass'
        >>> check_task([[0.0], [1.0]], [[0.5], [2.0]], "regression")[2]
        'regression'
    """
    if task is not None:
        task = _validate.choice("task", task, TASKS)
    xa, ya = _check_shapes(x, y, x_name, y_name)
    values = _validate.distinct(ya)  # a broadcast view's values, each once
    if task is None:
        return xa, ya, _infer_task(values, y_name)
    if task == "binary":
        message = _not_binary(values, y_name, task)
        if message is not None:
            raise ValueError(message)
    elif task == "multiclass":
        _check_one_hot(values, y_name)
    return xa, ya, task


def _inferred_task(instance: Dataset) -> str:
    return check_task(instance.x, instance.y)[2]


def _task_valid(instance: Dataset, attribute: attrs.Attribute[str], value: str) -> None:
    del attribute
    check_task(instance.x, instance.y, value)


@attrs.frozen
class Dataset:
    """Inputs and targets, and the task they pose.

    ``Dataset(x, y)`` infers the task from ``y`` (labels 0/1: binary; one-hot rows: multiclass);
    real-valued targets need ``Dataset(x, y, task="regression")``.

    Attributes:
        x: `(n, features)` float64, finite, read-only.
        y: `(n, outputs)` float64, read-only: `(n, 1)` labels in {0., 1.} for a binary task,
            one-hot `(n, k)` for a multiclass one, finite reals for regression.
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``.

    Example:
        >>> Dataset(x=[[0.0], [1.0]], y=[[0.0], [1.0]]).task
        'binary'
        >>> Dataset(x=[[0.0], [1.0]], y=[[0.5], [2.5]], task="regression").classes is None
        True
    """

    x: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    y: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    task: str = attrs.field(default=attrs.Factory(_inferred_task, takes_self=True), validator=_task_valid, kw_only=True)

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.x.shape[0])

    @property
    def classes(self) -> int | None:
        """Number of classes: k for multiclass, 2 for binary, None for regression."""
        if self.task == "multiclass":
            return int(self.y.shape[1])
        return 2 if self.task == "binary" else None


def one_hot(labels: npt.ArrayLike, classes: int | None = None) -> FloatArray:
    """One-hot rows from integer class labels.

    Args:
        labels: `(n,)` class indices 0 .. classes - 1, n >= 1 (integers, or floats with whole values).
        classes: number of classes k >= 2; None for ``max(labels) + 1``.

    Returns:
        `(n, k)` float64, read-only: row i has its 1 in column ``labels[i]``.

    Raises:
        TypeError, ValueError: naming ``labels`` or ``classes``.

    Example:
        >>> one_hot([0, 2, 1]).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    if isinstance(labels, (str, bytes)):
        raise TypeError(f"labels must be an array of integer class labels, got {_validate.show(labels)}")
    arr: Any = _validate.as_array("labels", labels)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"labels must be an array of integer class labels, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"labels must have shape (n,) with n >= 1, got shape {arr.shape}")
    whole = np.isfinite(arr) & (arr == np.round(arr)) if arr.dtype.kind == "f" else np.ones(arr.shape, bool)
    if not np.all(whole):
        raise ValueError(f"labels must be whole numbers, got {arr[~whole][0].item()!r}")
    if np.any(arr < 0):
        raise ValueError(f"labels must be >= 0, got {arr[arr < 0][0].item()!r}")
    top = int(arr.max())
    if top >= MAX_CLASSES:
        raise ValueError(f"labels must be < {MAX_CLASSES} (the most classes one_hot makes), got {top}")
    if classes is None:
        if top < 1:
            raise ValueError("labels hold only class 0; pass classes (>= 2) to say how many classes there are")
        k = top + 1
    else:
        k = _validate.integer("classes", classes, minimum=2, maximum=MAX_CLASSES)
        if top >= k:
            raise ValueError(f"labels must be < classes ({k}), got {top}")
    out = np.zeros((arr.shape[0], k))
    out[np.arange(arr.shape[0]), arr.astype(np.intp)] = 1.0
    return readonly(out)


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
    n = _validate.integer("n", n, minimum=1, maximum=MAX_SAMPLES)
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
    n = _validate.integer("n", n, minimum=2, maximum=10**7)
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


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_STREAMS[stream],)))


def _generator_args(n: object, classes: object, noise: object, seed: object) -> tuple[int, int, float, int]:
    """Check the common arguments of the Playground generators."""
    k = _validate.integer("classes", classes, minimum=2, maximum=MAX_CLASSES)
    count = _validate.integer("n", n, minimum=1, maximum=MAX_SAMPLES)
    if count < k:
        raise ValueError(f"n must be >= classes ({k}) so that every class gets a point, got {count}")
    amount = _validate.real("noise", noise)
    if amount < 0:
        raise ValueError(f"noise must be >= 0, got {amount}")
    return count, k, amount, _validate.integer("seed", seed, minimum=0)


def _balanced_classes(n: int, k: int, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    """`(n,)` class indices, n // k or n // k + 1 of each, in a random order."""
    counts = np.full(k, n // k)
    counts[: n % k] += 1
    return rng.permutation(np.repeat(np.arange(k, dtype=np.intp), counts))


def _labelled(x: FloatArray, cls: npt.NDArray[np.intp], k: int, noise: float) -> Dataset:
    """A Dataset of fresh points and their classes: binary `(n, 1)` for k = 2, else one-hot."""
    if not np.all(np.isfinite(x)):
        raise ValueError(f"noise is too large: the points overflow float64 at noise={noise}")
    if k == 2:
        return trusted(Dataset, x=x, y=cls.astype(np.float64).reshape(-1, 1), task="binary")
    return trusted(Dataset, x=x, y=np.array(one_hot(cls, k)), task="multiclass")


def generate_circle(n: int = 200, *, noise: float = 0.0, seed: int) -> Dataset:
    """A disc inside a ring, after TensorFlow Playground's "circle".

    Class 1: radius uniform in [0, 2.5]; class 0: radius uniform in [3.5, 5]; angles uniform.
    Noise moves every point by ``noise * u`` with u uniform in [-5, 5]^2 (per coordinate);
    unlike Playground's, the label stays the class the point was drawn for (so the classes
    stay balanced and noise makes them overlap).

    Args:
        n: number of points, >= 2; ``n // 2`` or ``n // 2 + 1`` per class.
        noise: >= 0; 0 for clean classes, Playground's slider goes to 0.5.
        seed: int >= 0; the same seed and arguments give the same bits.

    Returns:
        Binary Dataset with x `(n, 2)` and y `(n, 1)`.

    Example:
        >>> data = generate_circle(6, seed=0)
        >>> data.x.shape, sorted(data.y.ravel().tolist())
        ((6, 2), [0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    """
    n, k, noise, seed = _generator_args(n, 2, noise, seed)
    rng = _rng(seed, "circle")
    cls = _balanced_classes(n, k, rng)
    u = rng.uniform(0.0, 1.0, size=n)
    radius = np.where(cls == 1, 2.5 * u, 3.5 + 1.5 * u)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        x += noise * rng.uniform(-5.0, 5.0, size=(n, 2))
    return _labelled(x, cls, k, noise)


def generate_gauss(n: int = 200, *, classes: int = 2, noise: float = 0.0, seed: int) -> Dataset:
    """Gaussian blobs, one per class, after TensorFlow Playground's "gauss".

    Class j's centre lies at angle ``5pi/4 + 2pi j / classes`` on a circle of radius
    ``max(2 sqrt(2), 2 / sin(pi / classes))`` (neighbouring centres at least 4 apart), so two
    classes sit at (-2, -2) and (2, 2) as in Playground.  Each coordinate has standard deviation
    ``sqrt(0.5 + 7 * noise)`` (Playground's variance, 0.5 at noise 0 to 4 at noise 0.5).

    Args:
        n: number of points, >= classes; ``n // classes`` or one more per class.
        classes: number of classes, >= 2.
        noise: >= 0; widens the blobs.
        seed: int >= 0; the same seed and arguments give the same bits.

    Returns:
        Dataset with x `(n, 2)`; y `(n, 1)` (binary) for two classes, one-hot `(n, classes)` otherwise.

    Example:
        >>> data = generate_gauss(9, classes=3, seed=0)
        >>> data.task, data.y.shape, data.y.sum(axis=0).tolist()
        ('multiclass', (9, 3), [3.0, 3.0, 3.0])
    """
    n, k, noise, seed = _generator_args(n, classes, noise, seed)
    rng = _rng(seed, "gauss")
    cls = _balanced_classes(n, k, rng)
    radius = max(2.0 * math.sqrt(2.0), 2.0 / math.sin(math.pi / k))
    angle = 1.25 * np.pi + 2.0 * np.pi * np.arange(k) / k
    centres = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        x = centres[cls] + math.sqrt(0.5 + 7.0 * noise) * rng.standard_normal((n, 2))
    return _labelled(x, cls, k, noise)


def generate_spiral(n: int = 200, *, classes: int = 2, noise: float = 0.0, seed: int) -> Dataset:
    """Interleaved spirals, one arm per class, after TensorFlow Playground's "spiral".

    A point of class j at position s (uniform in [0, 1], drawn per point) along its arm sits at
    radius ``5 s`` and angle ``3.5 pi s + pi + 2 pi j / classes`` (``(r sin t, r cos t)``, 1.75
    turns; Playground spaces s evenly, here it is random so that seeds differ at noise 0).
    Noise moves every point by ``noise * u`` with u uniform in [-1, 1]^2.

    Args:
        n: number of points, >= classes; ``n // classes`` or one more per class.
        classes: number of arms and classes, >= 2.
        noise: >= 0; Playground's slider goes to 0.5.
        seed: int >= 0; the same seed and arguments give the same bits.

    Returns:
        Dataset with x `(n, 2)`; y `(n, 1)` (binary) for two classes, one-hot `(n, classes)` otherwise.

    Example:
        >>> data = generate_spiral(8, classes=4, noise=0.1, seed=0)
        >>> data.x.shape, data.classes
        ((8, 2), 4)
    """
    n, k, noise, seed = _generator_args(n, classes, noise, seed)
    rng = _rng(seed, "spiral")
    cls = _balanced_classes(n, k, rng)
    s = rng.uniform(0.0, 1.0, size=n)
    radius = 5.0 * s
    angle = 3.5 * np.pi * s + np.pi + 2.0 * np.pi * cls / k
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        x += noise * rng.uniform(-1.0, 1.0, size=(n, 2))
    return _labelled(x, cls, k, noise)


def _split_args(data: object, test_fraction: object, seed: object, stratify: object) -> tuple[float, int, bool]:
    """Check split's arguments; returns ``(test_fraction, seed, stratify)``."""
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a Dataset, got {type(data).__name__}")
    fraction = _validate.real("test_fraction", test_fraction)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {fraction}")
    seed = _validate.integer("seed", seed, minimum=0)
    if stratify is None:
        return fraction, seed, data.task != "regression"
    if not isinstance(stratify, bool):
        raise TypeError(f"stratify must be True, False or None, got {_validate.show(stratify)}")
    if stratify and data.task == "regression":
        raise ValueError(
            "stratify=True needs class labels, but data.task is 'regression'; "
            "pass stratify=False (or leave it out) for a plain random split"
        )
    return fraction, seed, stratify


def _stratified_counts(sizes: npt.NDArray[np.intp], fraction: float, rng: np.random.Generator) -> list[int]:
    """Test samples per class: shares of ``round(n * fraction)`` by largest remainder, then within [1, m - 1].

    Each class gets ``floor(m * fraction)`` or one more (the classes with the largest remainders,
    ties in a random order), so the total is ``round(n * fraction)`` unless the clamp to [1, m - 1]
    (a class of m >= 2) or to 0 (a class of one sample) moves it.
    """
    exact = sizes * fraction
    counts = np.floor(exact).astype(np.intp)
    # the total as the plain split rounds it: n * fraction, not a sum of shares whose rounding depends on their order
    extra = math.floor(int(sizes.sum()) * fraction + 0.5) - int(counts.sum())
    order = np.lexsort((rng.random(len(sizes)), counts - exact))
    counts[order[:extra]] += 1
    return [min(max(int(c), 1), int(m) - 1) if m >= 2 else 0 for c, m in zip(counts, sizes)]


def _test_mask(data: Dataset, fraction: float, stratify: bool, rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    mask = np.zeros(data.n, dtype=bool)
    if not stratify:
        mask[rng.permutation(data.n)[: math.floor(data.n * fraction + 0.5)]] = True
        return mask
    groups = np.unique(data.y, axis=0, return_inverse=True)[1].reshape(-1)
    members = [np.flatnonzero(groups == g) for g in range(int(groups.max()) + 1)]
    sizes = np.array([len(m) for m in members], dtype=np.intp)
    for idx, count in zip(members, _stratified_counts(sizes, fraction, rng)):
        mask[rng.permutation(idx)[:count]] = True
    return mask


def split(
    data: Dataset, *, test_fraction: float = 0.3, seed: int, stratify: bool | None = None
) -> tuple[Dataset, Dataset]:
    """Split a Dataset into a training and a test part, at random but reproducibly.

    Plain, ``round(n * test_fraction)`` samples (halves up) go to the test part.  Stratified,
    each class (each distinct row of ``y``) of m samples puts ``floor(m * test_fraction)`` or
    one more into the test part, adding up to ``round(n * test_fraction)``, except that a class
    of m >= 2 keeps at least one sample on each side and a class of one sample goes to training.  Each part keeps the
    samples in their order in ``data`` and the task of ``data``.

    Args:
        data: the Dataset to split (not changed).
        test_fraction: the share for the test part, in (0, 1).
        seed: int >= 0; the same seed and data give the same split.
        stratify: None (default) to stratify binary and multiclass data and split regression
            data plainly; True to stratify (refused for regression: there are no classes);
            False for a plain random split.

    Returns:
        ``(train, test)``: Datasets that together hold every sample of ``data`` exactly once.

    Raises:
        TypeError, ValueError: naming the argument; ValueError naming ``test_fraction`` when a part
        would be empty.

    Example:
        >>> train, test = split(generate_gauss(20, seed=0), test_fraction=0.25, seed=0)
        >>> train.n, test.n, int(test.y.sum()) in (2, 3)  # 10 per class: 2.5 each, one rounds up
        (15, 5, True)
    """
    fraction, seed, stratify = _split_args(data, test_fraction, seed, stratify)
    mask = _test_mask(data, fraction, stratify, _rng(seed, "split"))
    if mask.all() or not mask.any():
        side = "training" if mask.all() else "test"
        raise ValueError(
            f"test_fraction={fraction} leaves the {side} part empty for {data.n} sample(s); "
            f"each part needs at least one sample"
        )
    parts = (np.flatnonzero(~mask), np.flatnonzero(mask))
    train, test = (trusted(Dataset, x=data.x[idx], y=data.y[idx], task=data.task) for idx in parts)
    return train, test


def _stats_valid(instance: Standardizer, attribute: attrs.Attribute[FloatArray], value: FloatArray) -> None:
    del attribute, value
    for name in ("mean", "scale"):
        arr = getattr(instance, name)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"{name} must have shape (features,) with features >= 1, got shape {arr.shape}")
        if bad := _validate.count_non_finite(arr):
            raise ValueError(f"{name} must be finite, got {bad} NaN/inf value(s)")
    if instance.scale.shape != instance.mean.shape:
        raise ValueError(f"scale must have shape {instance.mean.shape} like mean, got shape {instance.scale.shape}")
    scale = _validate.distinct(instance.scale)  # a broadcast view's values, each once
    if not np.all(scale > 0):
        raise ValueError(f"scale must be > 0, got {float(scale[scale <= 0][0])!r}")


@attrs.frozen
class Standardizer:
    """Per-feature centre and scale: ``standardize`` maps x to ``(x - mean) / scale``.

    Attributes:
        mean: `(features,)` float64, finite, read-only.
        scale: `(features,)` float64, finite and > 0, read-only.

    Example:
        >>> Standardizer(mean=[0.0, 1.0], scale=[1.0, 2.0]).scale.tolist()
        [1.0, 2.0]
    """

    mean: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    scale: FloatArray = attrs.field(converter=to_array, validator=[real_array, _stats_valid], eq=ARRAY_EQ)


def fit_standardizer(x: Dataset | npt.ArrayLike) -> Standardizer:
    """Each feature's mean and standard deviation, to standardize with.

    A constant feature (std 0) gets scale 1 and its value as mean: it is centred to 0, not scaled.
    Fit on the training part only and apply the same Standardizer to the test part.

    Args:
        x: inputs `(n, features)`, n >= 1, finite; or a Dataset (its x).

    Returns:
        Standardizer with ``mean`` `(features,)` and ``scale`` `(features,)` (the population std, ddof 0).

    Raises:
        TypeError, ValueError: naming ``x``.

    Example:
        >>> stats = fit_standardizer([[1.0, 5.0], [3.0, 5.0]])
        >>> stats.mean.tolist(), stats.scale.tolist()
        ([2.0, 5.0], [1.0, 1.0])
    """
    xa = x.x if isinstance(x, Dataset) else _check_x(x, "x")
    xd = _validate.distinct(xa)  # a broadcast view's values, each once: the same statistics, bounded memory
    with np.errstate(over="ignore", invalid="ignore"):
        mean = xd.mean(axis=0)
        std = xd.std(axis=0)
    constant = np.all(xd == xd[0], axis=0)
    mean = np.broadcast_to(np.where(constant, xd[0], mean), xa.shape[1:]).copy()
    scale = np.broadcast_to(np.where(constant | (std == 0.0), 1.0, std), xa.shape[1:]).copy()
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale))):
        raise ValueError("x is too large to standardize: a feature's mean or std overflows float64")
    return trusted(Standardizer, mean=mean, scale=scale)


@overload
def standardize(data_or_x: Dataset, stats: Standardizer) -> Dataset: ...
@overload
def standardize(data_or_x: npt.ArrayLike, stats: Standardizer) -> FloatArray: ...
def standardize(data_or_x: Dataset | npt.ArrayLike, stats: Standardizer) -> Dataset | FloatArray:
    """Standardize inputs with fitted statistics: ``(x - stats.mean) / stats.scale``.

    Args:
        data_or_x: a Dataset, or inputs `(n, features)` (finite); neither is changed.
        stats: a Standardizer with as many features (from ``fit_standardizer``).

    Returns:
        A new Dataset (same y and task) for a Dataset, else a read-only `(n, features)` float64 array.

    Raises:
        TypeError, ValueError: naming ``stats``, ``x`` or ``data.x``.

    Example:
        >>> stats = fit_standardizer([[1.0], [3.0]])
        >>> standardize([[1.0], [3.0], [5.0]], stats).ravel().tolist()
        [-1.0, 1.0, 3.0]
    """
    if not isinstance(stats, Standardizer):
        raise TypeError(f"stats must be a Standardizer (from fit_standardizer), got {type(stats).__name__}")
    name = "data.x" if isinstance(data_or_x, Dataset) else "x"
    xa = data_or_x.x if isinstance(data_or_x, Dataset) else _check_x(data_or_x, "x")
    if xa.shape[1] != stats.mean.shape[0]:
        raise ValueError(f"{name} must have shape (n, {stats.mean.shape[0]}) to match stats, got shape {xa.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        z = (xa - stats.mean) / stats.scale
    if not np.all(np.isfinite(z)):
        raise ValueError(f"{name} standardized with stats overflows float64")
    if isinstance(data_or_x, Dataset):
        return trusted(Dataset, x=z, y=data_or_x.y, task=data_or_x.task)
    return readonly(z)
