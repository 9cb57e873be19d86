"""Tests of functional_nn.datasets: scikit-learn's bundled data sets as Datasets, and the missing extra."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest

from functional_nn.data import Dataset, fit_standardizer, split, standardize
from functional_nn.datasets import load_breast_cancer, load_digits, load_iris

LOADERS: list[tuple[str, Callable[[], Dataset]]] = [
    ("load_digits", load_digits),
    ("load_iris", load_iris),
    ("load_breast_cancer", load_breast_cancer),
]
EACH_LOADER = pytest.mark.parametrize(("name", "load"), LOADERS, ids=[name for name, _ in LOADERS])


@pytest.fixture
def sklearn_datasets() -> ModuleType:
    """scikit-learn's datasets module; the loaders' tests are skipped without the data extra."""
    module: ModuleType = pytest.importorskip("sklearn.datasets")
    return module


@pytest.mark.usefixtures("sklearn_datasets")
@pytest.mark.parametrize(
    ("load", "n", "features", "task", "classes", "y_columns"),
    [
        (load_digits, 1797, 64, "multiclass", 10, 10),
        (load_iris, 150, 4, "multiclass", 3, 3),
        (load_breast_cancer, 569, 30, "binary", 2, 1),
    ],
    ids=["digits", "iris", "breast_cancer"],
)
def test_loaders_shapes_and_tasks(
    load: Callable[[], Dataset], n: int, features: int, task: str, classes: int, y_columns: int
) -> None:
    data = load()
    assert data.x.shape == (n, features) and data.y.shape == (n, y_columns)
    assert data.task == task and data.classes == classes
    assert data.x.dtype == data.y.dtype == np.float64
    assert not data.x.flags.writeable and not data.y.flags.writeable
    assert load() == data  # the same files, the same bits


@pytest.mark.usefixtures("sklearn_datasets")
def test_load_digits_pixels_and_classes() -> None:
    data = load_digits()
    assert float(data.x.min()) == 0.0 and float(data.x.max()) == 1.0
    np.testing.assert_array_equal(data.x * 16.0, np.round(data.x * 16.0))  # counts 0..16, divided by 16
    assert data.y.sum(axis=0).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    np.testing.assert_array_equal(data.y.sum(axis=1), 1.0)


def test_load_digits_matches_scikit_learn(sklearn_datasets: ModuleType) -> None:
    bunch = sklearn_datasets.load_digits()
    data = load_digits()
    np.testing.assert_array_equal(data.x, bunch.data / 16.0)
    np.testing.assert_array_equal(data.x.reshape(-1, 8, 8), bunch.images / 16.0)  # rows are images in C order
    np.testing.assert_array_equal(np.argmax(data.y, axis=1), bunch.target)


def test_load_iris_matches_scikit_learn(sklearn_datasets: ModuleType) -> None:
    bunch = sklearn_datasets.load_iris()
    data = load_iris()
    np.testing.assert_array_equal(data.x, bunch.data)
    np.testing.assert_array_equal(np.argmax(data.y, axis=1), bunch.target)
    assert data.x[0].tolist() == [5.1, 3.5, 1.4, 0.2] and data.y[0].tolist() == [1.0, 0.0, 0.0]
    assert data.y.sum(axis=0).tolist() == [50.0, 50.0, 50.0]


def test_load_breast_cancer_matches_scikit_learn(sklearn_datasets: ModuleType) -> None:
    bunch = sklearn_datasets.load_breast_cancer()
    data = load_breast_cancer()
    np.testing.assert_array_equal(data.x, bunch.data)
    np.testing.assert_array_equal(data.y[:, 0], bunch.target)
    assert list(bunch.target_names) == ["malignant", "benign"]  # so 1 means benign
    assert int(data.y.sum()) == 357 and int((data.y == 0.0).sum()) == 212


@pytest.mark.usefixtures("sklearn_datasets")
def test_loaded_data_split_and_standardized() -> None:
    train, test = split(load_iris(), test_fraction=0.3, seed=0)
    assert (train.n, test.n) == (105, 45)
    assert test.y.sum(axis=0).tolist() == [15.0, 15.0, 15.0]
    stats = fit_standardizer(train)
    scaled = standardize(train, stats)
    np.testing.assert_allclose(scaled.x.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(scaled.x.std(axis=0), 1.0, rtol=1e-12)


@EACH_LOADER
@pytest.mark.parametrize("missing", ["sklearn", "sklearn.datasets"])
def test_loaders_without_scikit_learn_name_the_extra(
    monkeypatch: pytest.MonkeyPatch, name: str, load: Callable[[], Dataset], missing: str
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # "import sklearn.datasets" now fails
    with pytest.raises(
        ImportError,
        match=rf"^{name} reads the copy bundled with scikit-learn, which is not installed; install it with: pip install 'functional_nn\[data\]'$",
    ) as info:
        load()
    assert isinstance(info.value.__cause__, ImportError)


def test_importing_the_package_does_not_import_scikit_learn() -> None:
    code = "import sys, functional_nn, functional_nn.data, functional_nn.datasets; print('sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
