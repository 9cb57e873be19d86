"""Real data sets, offline: the copies bundled with scikit-learn, as Datasets.

load_digits()        -> Dataset   # 1,797 8x8 digits: x `(1797, 64)` in [0, 1], y one-hot `(1797, 10)`
load_iris()          -> Dataset   # 150 irises: x `(150, 4)` in cm, y one-hot `(150, 3)`
load_breast_cancer() -> Dataset   # 569 tumours: x `(569, 30)`, y `(569, 1)` with 1 = benign

They need scikit-learn (``pip install 'functional_nn[data]'``), imported only when a loader is
called; the files ship inside scikit-learn, so nothing is downloaded.  The inputs are as
published (digits divided by 16); fit a ``Standardizer`` on the training part before training.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from functional_nn.data import Dataset, one_hot

__all__ = ["load_breast_cancer", "load_digits", "load_iris"]


def _bundled(name: Literal["digits", "iris", "breast_cancer"]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """``(data, target)`` of scikit-learn's ``load_<name>()``, imported here, not at import time."""
    try:
        import sklearn.datasets as sk_datasets
    except ImportError as err:
        raise ImportError(
            f"load_{name} reads the copy bundled with scikit-learn, which is not installed; "
            f"install it with: pip install 'functional_nn[data]'"
        ) from err
    loaders = {
        "digits": sk_datasets.load_digits,
        "iris": sk_datasets.load_iris,
        "breast_cancer": sk_datasets.load_breast_cancer,
    }
    bunch = loaders[name]()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)


def load_digits() -> Dataset:
    """The UCI handwritten digits: 1,797 images of 8x8 pixels, 10 classes.

    Returns:
        Multiclass Dataset with x `(1797, 64)` (an image ``(1, 8, 8)`` per row in C order, pixel
        counts 0..16 divided by 16, so in [0, 1]) and one-hot y `(1797, 10)` (column d: digit d).

    Raises:
        ImportError: without scikit-learn, naming the ``data`` extra.

    Example:
        >>> data = load_digits()
        >>> data.x.shape, data.y.shape, data.task, float(data.x.max())
        ((1797, 64), (1797, 10), 'multiclass', 1.0)
    """
    x, target = _bundled("digits")
    return Dataset(x=x / 16.0, y=one_hot(target, 10), task="multiclass")


def load_iris() -> Dataset:
    """Fisher's irises: 150 flowers, 4 measurements in cm, 3 species of 50.

    Returns:
        Multiclass Dataset with x `(150, 4)` (sepal length, sepal width, petal length, petal
        width) and one-hot y `(150, 3)` (setosa, versicolor, virginica).

    Raises:
        ImportError: without scikit-learn, naming the ``data`` extra.

    Example:
        >>> data = load_iris()
        >>> data.x.shape, data.y.sum(axis=0).tolist()
        ((150, 4), [50.0, 50.0, 50.0])
    """
    x, target = _bundled("iris")
    return Dataset(x=x, y=one_hot(target, 3), task="multiclass")


def load_breast_cancer() -> Dataset:
    """The Wisconsin diagnostic breast cancer data: 569 tumours, 30 features.

    Returns:
        Binary Dataset with x `(569, 30)` (unscaled: the largest value of a feature ranges from 0.03 to 4254) and
        y `(569, 1)`: 1 for benign (357), 0 for malignant (212), as scikit-learn codes them.

    Raises:
        ImportError: without scikit-learn, naming the ``data`` extra.

    Example:
        >>> data = load_breast_cancer()
        >>> data.x.shape, data.task, int(data.y.sum())
        ((569, 30), 'binary', 357)
    """
    x, target = _bundled("breast_cancer")
    return Dataset(x=x, y=target.astype(np.float64).reshape(-1, 1), task="binary")
