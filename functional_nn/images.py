"""A seeded synthetic image dataset: horizontal vs vertical bars in noise.

    generate_bars(n_train=1000, n_test=500, *, size=16, noise=0.3, seed) -> (train, test)
    bar_images(n, *, size=16, noise=0.3, seed)                        -> Dataset
    BAR_CLASSES = ("horizontal", "vertical")                          # label 0, label 1

Each image is ``(1, size, size)``, flattened in C order to ``size * size``
features (the layout ``Conv2DLayer((1, size, size), ...)`` takes).  It holds
one bar of random length (``max(4, size // 4)`` to ``size - 2`` pixels),
thickness (1 or 2), brightness (0.6 to 1.0) and position, on a background of Gaussian noise
with standard deviation ``noise``.  Half the images of a set (rounded down)
hold horizontal bars (label 0), the others vertical ones (label 1), in
shuffled order.

The training and the held-out set come from two independent streams spawned
from ``seed``: the held-out set depends on ``seed``, ``n_test``, ``size`` and
``noise`` only, so changing ``n_train`` never changes it.
"""

from __future__ import annotations

import numpy as np

from functional_nn import _validate
from functional_nn.data import Dataset

__all__ = ["BAR_CLASSES", "bar_images", "generate_bars"]

BAR_CLASSES = ("horizontal", "vertical")
"""Class names by label."""

_MIN_SIZE = 6


def _draw(n: int, size: int, noise: float, rng: np.random.Generator) -> Dataset:
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    length = rng.integers(max(4, size // 4), size - 1, size=n)  # max(4, size // 4) .. size - 2
    thick = rng.integers(1, 3, size=n)
    along = rng.integers(0, size - length + 1)  # start along the bar
    across = rng.integers(0, size - thick + 1)  # start across it
    bright = rng.uniform(0.6, 1.0, size=n)
    with np.errstate(over="ignore"):
        pixels = rng.standard_normal((n, size, size)) * noise
    if _validate.count_non_finite(pixels):
        raise ValueError(f"noise is too large: the pixels overflow float64 at noise={noise}")

    vertical = labels == 1
    r0 = np.where(vertical, along, across)[:, None, None]
    c0 = np.where(vertical, across, along)[:, None, None]
    rows_len = np.where(vertical, length, thick)[:, None, None]
    cols_len = np.where(vertical, thick, length)[:, None, None]
    r = np.arange(size)[None, :, None]
    c = np.arange(size)[None, None, :]
    bar = (r >= r0) & (r < r0 + rows_len) & (c >= c0) & (c < c0 + cols_len)
    pixels += bar * bright[:, None, None]
    return Dataset(x=pixels.reshape(n, size * size), y=labels.astype(np.float64).reshape(n, 1))


def _check(size: int, noise: float) -> tuple[int, float]:
    size = _validate.integer("size", size, minimum=_MIN_SIZE)
    noise = _validate.real("noise", noise)
    if noise < 0:
        raise ValueError(f"noise must be >= 0 (the standard deviation of the background), got {noise}")
    return size, noise


def bar_images(n: int, *, size: int = 16, noise: float = 0.3, seed: int) -> Dataset:
    """``n`` images of one bar each; label 1 for a vertical bar, 0 for a horizontal one.

    Args:
        n: number of images, >= 1.
        size: side of the square images, >= 6.
        noise: standard deviation of the Gaussian background noise, >= 0.
        seed: seed of the generator (>= 0); the same arguments give the same images.

    Returns:
        Dataset with x `(n, size * size)` (images ``(1, size, size)`` in C order) and y `(n, 1)`.

    Example:
        >>> data = bar_images(4, size=8, seed=0)
        >>> data.x.shape, data.y.ravel().tolist()
        ((4, 64), [0.0, 0.0, 1.0, 1.0])
    """
    n = _validate.integer("n", n, minimum=1, maximum=10**7)
    size, noise = _check(size, noise)
    seed = _validate.integer("seed", seed, minimum=0)
    return _draw(n, size, noise, np.random.default_rng(seed))


def generate_bars(
    n_train: int = 1000, n_test: int = 500, *, size: int = 16, noise: float = 0.3, seed: int
) -> tuple[Dataset, Dataset]:
    """A training set and a held-out set of bar images (see the module docstring).

    Args:
        n_train: training images, >= 1.
        n_test: held-out images, >= 1.
        size: side of the square images, >= 6.
        noise: standard deviation of the Gaussian background noise, >= 0.
        seed: seed (>= 0) of both sets, drawn from independent streams.

    Returns:
        ``(train, test)`` Datasets with x `(n, size * size)` and y `(n, 1)` in {0., 1.}.

    Example:
        >>> train, test = generate_bars(100, 50, size=12, seed=0)
        >>> train.x.shape, test.x.shape
        ((100, 144), (50, 144))
    """
    n_train = _validate.integer("n_train", n_train, minimum=1, maximum=10**7)
    n_test = _validate.integer("n_test", n_test, minimum=1, maximum=10**7)
    size, noise = _check(size, noise)
    seed = _validate.integer("seed", seed, minimum=0)
    train_seq, test_seq = np.random.SeedSequence(seed).spawn(2)
    train = _draw(n_train, size, noise, np.random.default_rng(train_seq))
    test = _draw(n_test, size, noise, np.random.default_rng(test_seq))
    return train, test
