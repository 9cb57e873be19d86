"""Tests of functional_nn.data: the Dataset record and its task, one_hot, the generators, split, standardization."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn.data import (
    Dataset,
    Standardizer,
    check_task,
    check_xy,
    fit_standardizer,
    generate_circle,
    generate_gauss,
    generate_spiral,
    one_hot,
    split,
    standardize,
)
from tests.helpers import FloatArray


def lab_xor_easy() -> tuple[FloatArray, FloatArray]:
    """The lab handout's generate_XOR_easy, verbatim apart from names."""
    inputs: list[list[float]] = []
    labels: list[int] = []
    for i in range(11):
        inputs.append([0.1 * i, 0.1 * i])
        labels.append(0)
        if 0.1 * i == 0.5:
            continue
        inputs.append([0.1 * i, 1 - 0.1 * i])
        labels.append(1)
    return np.array(inputs), np.array(labels, dtype=np.float64).reshape(21, 1)


# --------------------------------------------------------- generate_linear ---


@pytest.mark.parametrize("n", [1, 2, 100, 257])
def test_generate_linear_shapes_and_dtypes(n: int) -> None:
    data = fnn.generate_linear(n, seed=0)
    assert data.x.shape == (n, 2) and data.y.shape == (n, 1)
    assert data.x.dtype == np.float64 and data.y.dtype == np.float64
    assert data.n == n


def test_generate_linear_default_size_is_100() -> None:
    assert fnn.generate_linear(seed=0).n == 100


def test_generate_linear_points_in_unit_square() -> None:
    x = fnn.generate_linear(1000, seed=3).x
    assert np.all(x >= 0.0) and np.all(x <= 1.0)
    # both halves of the square are populated
    assert 0.3 < float(np.mean(x[:, 0] > x[:, 1])) < 0.7


def test_generate_linear_labels_follow_the_lab_rule() -> None:
    data = fnn.generate_linear(500, seed=1)
    expected = np.where(data.x[:, 0] > data.x[:, 1], 0.0, 1.0).reshape(-1, 1)
    np.testing.assert_array_equal(data.y, expected)
    assert set(np.unique(data.y).tolist()) == {0.0, 1.0}


def test_generate_linear_same_seed_same_data() -> None:
    a = fnn.generate_linear(50, seed=7)
    b = fnn.generate_linear(50, seed=7)
    assert a == b
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)


def test_generate_linear_different_seed_different_data() -> None:
    a = fnn.generate_linear(50, seed=7)
    b = fnn.generate_linear(50, seed=8)
    assert a != b
    assert not np.array_equal(a.x, b.x)


def test_generate_linear_uses_no_global_rng() -> None:
    np.random.seed(123)  # noqa: NPY002
    expected = np.random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    fnn.generate_linear(10, seed=0)
    assert np.random.random() == expected  # noqa: NPY002


@settings(max_examples=30, deadline=None)
@given(n=st.integers(min_value=1, max_value=64), seed=st.integers(min_value=0, max_value=2**32))
def test_generate_linear_property_labels_and_range(n: int, seed: int) -> None:
    data = fnn.generate_linear(n, seed=seed)
    assert data.x.shape == (n, 2)
    assert np.all((data.x >= 0.0) & (data.x < 1.0))
    np.testing.assert_array_equal(data.y[:, 0], (data.x[:, 0] <= data.x[:, 1]).astype(np.float64))


# ------------------------------------------------------- generate_xor_easy ---


def test_generate_xor_easy_gives_the_labs_21_points() -> None:
    data = fnn.generate_xor_easy(n=11)
    x_lab, y_lab = lab_xor_easy()
    assert data.x.shape == (21, 2) and data.y.shape == (21, 1)
    # same points in the same order with the same labels; the library computes
    # i / 10 where the lab computes 0.1 * i, so coordinates may differ in the last bit
    np.testing.assert_allclose(data.x, x_lab, rtol=0.0, atol=1e-15)
    np.testing.assert_array_equal(data.y, y_lab)


def test_generate_xor_easy_default_is_the_lab_set() -> None:
    assert fnn.generate_xor_easy() == fnn.generate_xor_easy(n=11)


def test_generate_xor_easy_structure() -> None:
    data = fnn.generate_xor_easy()
    zeros = data.x[data.y[:, 0] == 0.0]
    ones = data.x[data.y[:, 0] == 1.0]
    assert len(zeros) == 11 and len(ones) == 10
    np.testing.assert_array_equal(zeros[:, 0], zeros[:, 1])  # the main diagonal
    np.testing.assert_allclose(ones[:, 0] + ones[:, 1], 1.0, rtol=0, atol=1e-15)  # the anti-diagonal
    assert not np.any(np.all(np.isclose(ones, 0.5), axis=1))  # the centre appears once, labelled 0


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_generate_xor_easy_sizes(n: int) -> None:
    data = fnn.generate_xor_easy(n)
    assert data.n == (2 * n - 1 if n % 2 else 2 * n)


# ------------------------------------------------------------------ Dataset ---


def test_dataset_arrays_are_read_only_float64_and_callers_stay_writable() -> None:
    x = np.array([[0, 1], [1, 0]])  # ints are accepted and cast
    y = np.array([[1.0], [0.0]])
    data = fnn.Dataset(x=x, y=y)
    assert data.x.dtype == np.float64
    for a in (data.x, data.y):
        assert not a.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            a[0, 0] = 5.0
    assert y.flags.writeable and x.flags.writeable
    y[0, 0] = 0.0  # the caller's array is still theirs


def test_dataset_is_frozen() -> None:
    data = fnn.generate_xor_easy()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        data.x = np.zeros((21, 2))  # type: ignore[misc]


def test_dataset_equality_by_value() -> None:
    a = fnn.Dataset(x=np.eye(2), y=np.array([[0.0], [1.0]]))
    b = fnn.Dataset(x=np.eye(2).copy(), y=np.array([[0.0], [1.0]]))
    assert a == b
    assert a != fnn.Dataset(x=np.eye(2), y=np.array([[1.0], [1.0]]))


@pytest.mark.parametrize(
    ("x", "y", "error", "match"),
    [
        (np.zeros(3), np.zeros((3, 1)), ValueError, r"x must have at least 2 axes, got shape \(3,\)"),
        (np.zeros((2, 2, 2)), np.zeros((2, 1)), ValueError, r"x must have shape \(n, features\)"),
        (np.zeros((0, 2)), np.zeros((0, 1)), ValueError, r"x must hold at least one sample"),
        (np.array([[0.0, np.nan]]), np.zeros((1, 1)), ValueError, r"x must be finite, got 1 NaN/inf"),
        (np.array([[np.inf, 0.0]]), np.zeros((1, 1)), ValueError, r"x must be finite"),
        (np.zeros((3, 2)), np.zeros(3), ValueError, r"y must have shape \(n, outputs\).*y\.reshape\(-1, 1\)"),
        (np.zeros((3, 2)), np.zeros((2, 1)), ValueError, r"y must have shape \(3, outputs\) to match x"),
        (np.zeros((2, 2)), np.array([[0.0], [0.5]]), ValueError, r"y must hold labels 0 or 1, got .*0\.5"),
        (np.zeros((2, 2)), np.array([[2.0], [-1.0]]), ValueError, r"y must hold labels 0 or 1.*2 such value"),
        (np.zeros((1, 2)), np.array([[np.nan]]), ValueError, r"y must be finite"),
    ],
)
def test_dataset_validation(x: FloatArray, y: FloatArray, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        fnn.Dataset(x=x, y=y)


def test_dataset_non_numeric_x_error_names_x() -> None:
    # every message names the argument (DESIGN principle 5); the converter's
    # message ("expected an array of real numbers, got dtype <U1") does not
    with pytest.raises(TypeError, match=r"^x must be an array of real numbers"):
        fnn.Dataset(x=np.array([["a", "b"]]), y=np.zeros((1, 1)))


def test_dataset_bad_label_message_shows_the_plain_value() -> None:
    # NumPy 2 reprs a scalar as "np.float64(0.5)"; the message should read "got 0.5"
    with pytest.raises(ValueError, match=r"y must hold labels 0 or 1, got 0\.5 "):
        fnn.Dataset(x=np.zeros((2, 2)), y=np.array([[0.0], [0.5]]))


@pytest.mark.parametrize(
    ("n", "error", "match"),
    [
        (0, ValueError, "n must be an integer >= 1, got 0"),
        (-5, ValueError, "n must be an integer >= 1, got -5"),
        (2.5, TypeError, "n must be an integer, got 2.5"),
        (True, TypeError, "n must be an integer"),
    ],
)
def test_generate_linear_bad_n(n: int, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        fnn.generate_linear(n, seed=0)


def test_generate_linear_bad_seed() -> None:
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        fnn.generate_linear(10, seed=-1)


def test_generate_xor_easy_bad_n() -> None:
    with pytest.raises(ValueError, match="n must be an integer >= 2, got 1"):
        fnn.generate_xor_easy(1)


# ------------------------------------------------------------- Dataset.task ---


def test_dataset_infers_binary_for_one_column_of_labels() -> None:
    data = Dataset(x=np.zeros((3, 2)), y=[[0.0], [1.0], [1.0]])
    assert data.task == "binary" and data.classes == 2
    assert fnn.generate_linear(5, seed=0).task == "binary"
    assert fnn.generate_xor_easy().task == "binary"


def test_dataset_infers_multiclass_for_one_hot_rows() -> None:
    data = Dataset(x=np.zeros((3, 2)), y=one_hot([0, 2, 1]))
    assert data.task == "multiclass" and data.classes == 3


def test_dataset_two_one_hot_columns_are_multiclass_unless_told() -> None:
    y = [[1.0, 0.0], [0.0, 1.0]]
    assert Dataset(x=np.zeros((2, 1)), y=y).task == "multiclass"
    assert Dataset(x=np.zeros((2, 1)), y=y, task="binary").task == "binary"


def test_dataset_keeps_accepting_several_independent_binary_labels() -> None:
    # what check_xy has always accepted (the executor and validation tests build such data)
    y = np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    data = Dataset(x=np.zeros((2, 2)), y=y)
    assert data.task == "binary" and data.classes == 2
    assert Dataset(x=np.zeros((4, 2)), y=np.zeros((4, 2))).task == "binary"


def test_dataset_regression_only_when_told() -> None:
    y = [[0.5, -3.0], [2.0, 1e6]]
    data = Dataset(x=np.zeros((2, 2)), y=y, task="regression")
    assert data.task == "regression" and data.classes is None
    with pytest.raises(ValueError, match=r'y must hold labels 0 or 1, got 0\.5 .*pass task="regression" explicitly'):
        Dataset(x=np.zeros((2, 2)), y=y)


def test_dataset_regression_accepts_zero_one_targets() -> None:
    assert Dataset(x=np.zeros((2, 2)), y=[[0.0], [1.0]], task="regression").classes is None


def test_dataset_task_is_part_of_equality_and_keyword_only() -> None:
    x, y = np.zeros((2, 2)), np.array([[0.0], [1.0]])
    assert Dataset(x=x, y=y) == Dataset(x=x, y=y, task="binary")
    assert Dataset(x=x, y=y) != Dataset(x=x, y=y, task="regression")
    with pytest.raises(TypeError):
        Dataset(x, y, "binary")  # type: ignore[call-arg]


def test_dataset_evolve_checks_y_against_the_task() -> None:
    data = Dataset(x=np.zeros((2, 1)), y=one_hot([0, 1]))
    with pytest.raises(ValueError, match=r"y must hold one-hot rows .* for task 'multiclass'"):
        attrs.evolve(data, y=[[1.0, 1.0], [0.0, 1.0]])
    assert attrs.evolve(data, y=[[0.3], [0.7]], task="regression").task == "regression"


@pytest.mark.parametrize(
    ("y", "task", "error", "match"),
    [
        ([[0.5], [1.0]], "binary", ValueError, r"^y must hold labels 0 or 1 for task 'binary', got 0\.5 \(and 1 such"),
        ([[2.0], [1.0]], None, ValueError, r"^y must hold labels 0 or 1, got 2\.0 .*task=\"regression\""),
        (
            [[0.0], [1.0]],
            "multiclass",
            ValueError,
            r"^y must have shape \(n, k\) with k >= 2 one-hot columns for task 'multiclass', got shape \(2, 1\); build it with one_hot",
        ),
        (
            [[1.0, 1.0], [0.0, 1.0]],
            "multiclass",
            ValueError,
            r"^y must hold one-hot rows \(one 1, the rest 0\) for task 'multiclass', got row 0 = \[1\.0, 1\.0\] \(and 1 such row",
        ),
        ([[0.0, 1.0], [0.0, 0.0]], "multiclass", ValueError, r"y must hold one-hot rows .*got row 1 = \[0\.0, 0\.0\]"),
        ([[0.5, 0.5], [0.0, 1.0]], "multiclass", ValueError, r"y must hold one-hot rows .*got row 0 = \[0\.5, 0\.5\]"),
        (
            [[0.0], [1.0]],
            "classification",
            ValueError,
            r"^task must be one of 'binary', 'multiclass', 'regression'; got 'classification'",
        ),
        ([[0.0], [1.0]], 3, ValueError, r"^task must be one of 'binary', 'multiclass', 'regression'; got 3"),
        ([[np.nan], [1.0]], "regression", ValueError, r"^y must be finite"),
        ([0.0, 1.0], "regression", ValueError, r"^y must have shape \(n, outputs\) such as \(2, 1\)"),
    ],
)
def test_dataset_task_validation(y: object, task: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        if task is None:
            Dataset(x=np.zeros((2, 1)), y=y)  # type: ignore[arg-type]
        else:
            Dataset(x=np.zeros((2, 1)), y=y, task=task)  # type: ignore[arg-type]
    with pytest.raises(error, match=match):
        check_task(np.zeros((2, 1)), y, task)  # type: ignore[arg-type]


def test_check_task_names_the_arguments_it_is_given() -> None:
    with pytest.raises(ValueError, match=r"^targets must hold labels 0 or 1 for task 'binary'"):
        check_task(np.zeros((1, 1)), [[3.0]], "binary", y_name="targets")
    with pytest.raises(ValueError, match=r"^inputs must be finite"):
        check_task([[np.inf]], [[1.0]], x_name="inputs")


def test_check_xy_keeps_its_behaviour() -> None:
    _, y = check_xy(np.zeros((2, 2)), [[0.0, 1.0], [1.0, 1.0]])
    assert y.shape == (2, 2) and not y.flags.writeable
    with pytest.raises(ValueError, match=r"^y must hold labels 0 or 1, got 0\.5 \(and 1 such value\(s\) in all\)$"):
        check_xy(np.zeros((2, 2)), [[0.0], [0.5]])


@settings(max_examples=40, deadline=None)
@given(labels=st.lists(st.integers(0, 4), min_size=1, max_size=30), columns=st.integers(2, 6))
def test_dataset_property_one_hot_is_multiclass(labels: list[int], columns: int) -> None:
    k = max(columns, max(labels) + 1)
    data = Dataset(x=np.zeros((len(labels), 1)), y=one_hot(labels, k))
    assert data.task == "multiclass" and data.classes == k
    np.testing.assert_array_equal(np.argmax(data.y, axis=1), labels)


@settings(max_examples=40, deadline=None)
@given(
    values=st.one_of(  # half all 0/1 labels, half reals (mostly not 0/1): both branches run often
        st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=20),
        st.lists(st.floats(-10, 10), min_size=1, max_size=20),
    )
)
def test_dataset_property_reals_need_the_regression_task(values: list[float]) -> None:
    y = np.array(values).reshape(-1, 1)
    assert Dataset(x=np.zeros((len(values), 1)), y=y, task="regression").task == "regression"
    if set(values) <= {0.0, 1.0}:
        assert Dataset(x=np.zeros((len(values), 1)), y=y).task == "binary"
    else:
        with pytest.raises(ValueError, match=r'task="regression" explicitly'):
            Dataset(x=np.zeros((len(values), 1)), y=y)


# ------------------------------------------------------------------ one_hot ---


def test_one_hot_values_dtype_and_read_only() -> None:
    out = one_hot(np.array([1, 0, 1], dtype=np.uint8), classes=3)
    np.testing.assert_array_equal(out, [[0, 1, 0], [1, 0, 0], [0, 1, 0]])
    assert out.dtype == np.float64 and not out.flags.writeable


def test_one_hot_accepts_whole_floats() -> None:
    np.testing.assert_array_equal(one_hot([0.0, 1.0]), [[1.0, 0.0], [0.0, 1.0]])


@settings(max_examples=40, deadline=None)
@given(labels=st.lists(st.integers(0, 9), min_size=1, max_size=50))
def test_one_hot_property_round_trip(labels: list[int]) -> None:
    out = one_hot(labels, classes=10)
    assert out.shape == (len(labels), 10)
    np.testing.assert_array_equal(out.sum(axis=1), 1.0)
    np.testing.assert_array_equal(np.argmax(out, axis=1), labels)


@pytest.mark.parametrize(
    ("labels", "classes", "error", "match"),
    [
        ([0, 1.5], None, ValueError, r"^labels must be whole numbers, got 1\.5$"),
        ([0.0, np.nan], None, ValueError, r"^labels must be whole numbers, got nan$"),
        ([0, -1], None, ValueError, r"^labels must be >= 0, got -1$"),
        ([0, 3], 3, ValueError, r"^labels must be < classes \(3\), got 3$"),
        ([0, 0], None, ValueError, r"^labels hold only class 0; pass classes \(>= 2\)"),
        ([0, 1], 1, ValueError, r"^classes must be an integer >= 2, got 1$"),
        ([0, 1], 2.0, TypeError, r"^classes must be an integer, got 2\.0"),
        ([[0, 1]], None, ValueError, r"^labels must have shape \(n,\) with n >= 1, got shape \(1, 2\)$"),
        ([], 2, ValueError, r"^labels must have shape \(n,\) with n >= 1, got shape \(0,\)$"),
        ([True, False], None, TypeError, r"^labels must be an array of integer class labels, got dtype bool$"),
        (["a"], None, TypeError, r"^labels must be an array of integer class labels, got dtype <U1$"),
        ("01", None, TypeError, r"^labels must be an array of integer class labels, got '01'$"),
    ],
)
def test_one_hot_validation(labels: object, classes: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        one_hot(labels, classes)  # type: ignore[arg-type]


# ------------------------------------------------------ Playground generators ---

Generator = Callable[..., Dataset]
GENERATORS: list[tuple[str, Generator, int]] = [
    ("circle", lambda n, **kw: generate_circle(n, **kw), 2),
    ("gauss", lambda n, **kw: generate_gauss(n, **kw), 2),
    ("gauss-3", lambda n, **kw: generate_gauss(n, classes=3, **kw), 3),
    ("gauss-7", lambda n, **kw: generate_gauss(n, classes=7, **kw), 7),
    ("spiral", lambda n, **kw: generate_spiral(n, **kw), 2),
    ("spiral-4", lambda n, **kw: generate_spiral(n, classes=4, **kw), 4),
]
EACH_GENERATOR = pytest.mark.parametrize(
    ("make", "k"), [(g, k) for _, g, k in GENERATORS], ids=[i for i, _, _ in GENERATORS]
)


def class_of(data: Dataset) -> npt.NDArray[np.intp]:
    """Each sample's class index."""
    return (data.y[:, 0] if data.task == "binary" else np.argmax(data.y, axis=1)).astype(np.intp)


@EACH_GENERATOR
@pytest.mark.parametrize("n", [7, 200, 201])
def test_generators_shapes_task_and_read_only(make: Generator, k: int, n: int) -> None:
    data = make(n, seed=0)
    assert data.x.shape == (n, 2) and data.x.dtype == np.float64 and np.all(np.isfinite(data.x))
    assert data.y.shape == ((n, 1) if k == 2 else (n, k))
    assert data.task == ("binary" if k == 2 else "multiclass") and data.classes == k
    assert not data.x.flags.writeable and not data.y.flags.writeable
    assert Dataset(x=data.x, y=data.y, task=data.task) == data  # valid by the public constructor too


def test_generators_default_size_is_200() -> None:
    assert generate_circle(seed=0).n == generate_gauss(seed=0).n == generate_spiral(seed=0).n == 200


@EACH_GENERATOR
@pytest.mark.parametrize("n", [7, 10, 200, 201])
def test_generators_balance_classes(make: Generator, k: int, n: int) -> None:
    counts = np.bincount(class_of(make(n, seed=1)), minlength=k)
    assert counts.sum() == n and counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(np.sort(counts), np.sort([n // k + (j < n % k) for j in range(k)]))


@EACH_GENERATOR
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_generators_same_seed_same_bits_other_seed_other_data(make: Generator, k: int, noise: float) -> None:
    a, b, c = make(50, noise=noise, seed=7), make(50, noise=noise, seed=7), make(50, noise=noise, seed=8)
    assert a.x.tobytes() == b.x.tobytes() and a.y.tobytes() == b.y.tobytes()
    assert not np.array_equal(a.x, c.x)


@EACH_GENERATOR
def test_generators_use_no_global_rng(make: Generator, k: int) -> None:
    np.random.seed(123)  # noqa: NPY002
    expected = np.random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    make(20, noise=0.2, seed=0)
    assert np.random.random() == expected  # noqa: NPY002


@EACH_GENERATOR
def test_generators_shuffle_the_classes(make: Generator, k: int) -> None:
    cls = class_of(make(100, seed=0))
    assert not np.all(np.diff(cls) >= 0)  # not sorted by class


MOVED_BY_NOISE = [g for g in GENERATORS if not g[0].startswith("gauss")]  # gauss widens its blobs (tested below)


@pytest.mark.parametrize(("name", "make", "k"), MOVED_BY_NOISE, ids=[i for i, _, _ in MOVED_BY_NOISE])
def test_generators_noise_displaces_points_in_proportion(name: str, make: Generator, k: int) -> None:
    clean, small, big = (make(300, noise=noise, seed=4) for noise in (0.0, 0.1, 0.2))
    np.testing.assert_array_equal(clean.y, big.y)  # the same draws, only moved
    np.testing.assert_allclose(big.x - clean.x, 2.0 * (small.x - clean.x), rtol=1e-9, atol=1e-12)
    bound = 5.0 if name == "circle" else 1.0
    assert 0 < np.max(np.abs(big.x - clean.x)) <= 0.2 * bound


def test_generate_circle_geometry() -> None:
    clean = generate_circle(500, seed=2)
    radius, cls = np.hypot(clean.x[:, 0], clean.x[:, 1]), class_of(clean)
    assert np.all(radius[cls == 1] <= 2.5) and np.all((radius[cls == 0] >= 3.5) & (radius[cls == 0] <= 5.0))
    noisy = generate_circle(500, noise=0.3, seed=2)
    radius = np.hypot(noisy.x[:, 0], noisy.x[:, 1])
    assert np.any(radius[class_of(noisy) == 1] > 2.5) and np.any(radius[class_of(noisy) == 0] < 3.5)


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_generate_gauss_centres_and_spread(k: int, noise: float) -> None:
    data = generate_gauss(6000, classes=k, noise=noise, seed=5)
    cls = class_of(data)
    radius = max(2.0 * np.sqrt(2.0), 2.0 / np.sin(np.pi / k))
    for j in range(k):
        angle = 1.25 * np.pi + 2.0 * np.pi * j / k
        points = data.x[cls == j]
        np.testing.assert_allclose(points.mean(axis=0), radius * np.array([np.cos(angle), np.sin(angle)]), atol=0.25)
        np.testing.assert_allclose(points.std(axis=0), np.sqrt(0.5 + 7.0 * noise), rtol=0.1)


def test_generate_gauss_two_classes_like_playground() -> None:
    data = generate_gauss(2000, seed=0)
    cls = class_of(data)
    np.testing.assert_allclose(data.x[cls == 1].mean(axis=0), [2.0, 2.0], atol=0.1)
    np.testing.assert_allclose(data.x[cls == 0].mean(axis=0), [-2.0, -2.0], atol=0.1)


@pytest.mark.parametrize("k", [2, 3, 6])
def test_generate_spiral_points_lie_on_their_arm(k: int) -> None:
    data = generate_spiral(300, classes=k, seed=3)
    radius = np.hypot(data.x[:, 0], data.x[:, 1])
    assert np.all(radius <= 5.0)
    s = radius / 5.0
    angle = 3.5 * np.pi * s + np.pi + 2.0 * np.pi * class_of(data) / k
    on_arm = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    np.testing.assert_allclose(data.x, on_arm, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    which=st.sampled_from(["gauss", "spiral"]),
    k=st.integers(2, 6),
    extra=st.integers(0, 40),
    noise=st.floats(0.0, 2.0),
    seed=st.integers(0, 2**63),
)
def test_generators_property_shapes_balance_labels(which: str, k: int, extra: int, noise: float, seed: int) -> None:
    n = k + extra  # n >= classes: every example is valid, none is filtered away
    data = (generate_gauss if which == "gauss" else generate_spiral)(n, classes=k, noise=noise, seed=seed)
    assert data.x.shape == (n, 2) and np.all(np.isfinite(data.x))
    counts = np.bincount(class_of(data), minlength=k)
    assert counts.max() - counts.min() <= 1 and counts.min() >= 1
    if k == 2:
        assert set(np.unique(data.y).tolist()) == {0.0, 1.0}
    else:
        np.testing.assert_array_equal(data.y.sum(axis=1), 1.0)


GENERATOR_ERRORS: list[tuple[Callable[[], object], type[Exception], str]] = [
    (
        lambda: generate_circle(1, seed=0),
        ValueError,
        r"^n must be >= classes \(2\) so that every class gets a point, got 1$",
    ),
    (
        lambda: generate_gauss(2, classes=3, seed=0),
        ValueError,
        r"^n must be >= classes \(3\) so that every class gets a point, got 2$",
    ),
    (lambda: generate_spiral(0, seed=0), ValueError, r"^n must be an integer >= 1, got 0$"),
    (lambda: generate_spiral(10.0, seed=0), TypeError, r"^n must be an integer, got 10\.0"),  # type: ignore[arg-type]
    (lambda: generate_gauss(10, classes=1, seed=0), ValueError, r"^classes must be an integer >= 2, got 1$"),
    (lambda: generate_spiral(10, classes=True, seed=0), TypeError, r"^classes must be an integer, got True"),
    (lambda: generate_circle(10, noise=-0.1, seed=0), ValueError, r"^noise must be >= 0, got -0\.1$"),
    (lambda: generate_gauss(10, noise=np.nan, seed=0), ValueError, r"^noise must be finite, got nan$"),
    (lambda: generate_spiral(10, noise="0.1", seed=0), TypeError, r"^noise must be a real number, got '0\.1'"),  # type: ignore[arg-type]
    (
        lambda: generate_circle(10, noise=1e308, seed=0),
        ValueError,
        r"^noise is too large: the points overflow float64 at noise=1e\+308$",
    ),
    (lambda: generate_gauss(10, noise=1e308, seed=0), ValueError, r"^noise is too large"),
    (lambda: generate_circle(10, seed=-1), ValueError, r"^seed must be an integer >= 0, got -1$"),
    (lambda: generate_gauss(10, seed=1.0), TypeError, r"^seed must be an integer, got 1\.0"),  # type: ignore[arg-type]
    (lambda: generate_spiral(10), TypeError, r"missing 1 required keyword-only argument: 'seed'"),  # type: ignore[call-arg]
]


@pytest.mark.parametrize(("call", "error", "match"), GENERATOR_ERRORS)
def test_generators_validation(call: Callable[[], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


# -------------------------------------------------------------------- split ---


def indexed(y: npt.ArrayLike, task: str | None = None) -> Dataset:
    """A Dataset whose x[:, 0] is the sample's index, to follow samples through a split."""
    ya = np.asarray(y, dtype=np.float64)
    x = np.stack([np.arange(len(ya), dtype=np.float64), np.zeros(len(ya))], axis=1)
    return Dataset(x=x, y=ya) if task is None else Dataset(x=x, y=ya, task=task)


def assert_partition(data: Dataset, train: Dataset, test: Dataset) -> None:
    """train and test hold every sample of data once, in data's order, with its own y."""
    together = np.concatenate([train.x[:, 0], test.x[:, 0]]).astype(np.intp)
    np.testing.assert_array_equal(np.sort(together), np.arange(data.n))
    for part in (train, test):
        assert part.task == data.task and part.n >= 1
        assert np.all(np.diff(part.x[:, 0]) > 0)
        np.testing.assert_array_equal(part.y, data.y[part.x[:, 0].astype(np.intp)])
        assert not part.x.flags.writeable and not part.y.flags.writeable


def test_split_binary_stratified_keeps_each_class_share() -> None:
    data = indexed(np.repeat([0.0, 1.0], [30, 70]).reshape(-1, 1))
    train, test = split(data, test_fraction=0.3, seed=0)
    assert_partition(data, train, test)
    assert (test.n, int(test.y.sum())) == (30, 21) and (train.n, int(train.y.sum())) == (70, 49)


def test_split_multiclass_stratified_keeps_each_class_share() -> None:
    data = indexed(one_hot(np.repeat([0, 1, 2], [10, 20, 40])))
    train, test = split(data, test_fraction=0.25, seed=3)
    assert_partition(data, train, test)
    # 2.5, 5 and 10 test samples are due: the total 17.5 rounds to 18, so the half rounds up
    assert test.n == 18 and test.y.sum(axis=0).tolist() == [3.0, 5.0, 10.0]


def test_split_puts_a_sample_of_each_class_on_each_side() -> None:
    data = indexed(np.repeat([0.0, 1.0], [2, 98]).reshape(-1, 1))
    for fraction in (0.01, 0.99):
        train, test = split(data, test_fraction=fraction, seed=0)
        assert set(train.y.ravel().tolist()) == set(test.y.ravel().tolist()) == {0.0, 1.0}


def test_split_sends_a_class_of_one_to_training() -> None:
    data = indexed(one_hot([0, 1, 1, 1, 2, 2, 2]))
    train, test = split(data, test_fraction=0.5, seed=0)
    assert_partition(data, train, test)
    assert test.y[:, 0].sum() == 0.0 and train.y[:, 0].sum() == 1.0


def test_split_same_seed_same_split_other_seed_other_split() -> None:
    data = generate_gauss(60, classes=3, seed=0)
    a, b, c = (split(data, seed=s) for s in (5, 5, 6))
    assert a == b
    assert a[1] != c[1]


def test_split_does_not_change_its_input() -> None:
    data = generate_spiral(40, seed=0)
    before = (data.x.copy(), data.y.copy())
    split(data, seed=0)
    np.testing.assert_array_equal(data.x, before[0])
    np.testing.assert_array_equal(data.y, before[1])


def test_split_regression_is_plain_by_default_and_refuses_stratify() -> None:
    data = indexed(np.linspace(-1.0, 1.0, 20).reshape(-1, 1), task="regression")
    train, test = split(data, test_fraction=0.3, seed=0)
    assert_partition(data, train, test)
    assert (train.n, test.n) == (14, 6)
    assert split(data, seed=0, stratify=False) == (train, test)
    with pytest.raises(
        ValueError, match=r"^stratify=True needs class labels, but data\.task is 'regression'; pass stratify=False"
    ):
        split(data, seed=0, stratify=True)


def test_split_plain_for_classes_when_asked() -> None:
    data = indexed(np.repeat([0.0, 1.0], [2, 8]).reshape(-1, 1))

    def class_0_in_test(**kwargs: object) -> set[int]:
        return {int(np.sum(split(data, test_fraction=0.2, seed=s, **kwargs)[1].y == 0.0)) for s in range(40)}  # type: ignore[arg-type]

    assert {0, 1} <= class_0_in_test(stratify=False)  # unstratified: the test part may miss class 0
    assert class_0_in_test() == class_0_in_test(stratify=True) == {1}


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(2, 4),
    data=st.data(),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**32),
)
def test_split_property_stratified(k: int, data: st.DataObject, fraction: float, seed: int) -> None:
    # n >= k + 1 labels among k classes: some class has two samples, so every example splits
    labels = data.draw(st.lists(st.integers(0, k - 1), min_size=k + 1, max_size=80))
    whole = indexed(one_hot(labels, k) if k > 2 else np.array(labels, dtype=np.float64).reshape(-1, 1))
    train, test = split(whole, test_fraction=fraction, seed=seed)
    assert_partition(whole, train, test)
    cls = np.array(labels)
    test_cls = cls[test.x[:, 0].astype(np.intp)]
    sizes = np.bincount(cls, minlength=k)
    due = sizes * fraction
    for j in range(k):
        got = int(np.sum(test_cls == j))
        if sizes[j] >= 2:
            assert 1 <= got <= sizes[j] - 1 and abs(got - due[j]) < 1.0
        else:
            assert got == 0
    if np.all((due >= 1.0) & (sizes - due > 1.0)):  # no class pushed to its bounds (rare here; see below)
        assert test.n == np.floor(sum(sizes) * fraction + 0.5)  # as the plain split: n * fraction, rounded


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(5, 40), min_size=2, max_size=5),
    fraction=st.floats(0.25, 0.75),
    seed=st.integers(0, 2**32),
)
def test_split_property_stratified_total(sizes: list[int], fraction: float, seed: int) -> None:
    # m >= 5 and a fraction in [0.25, 0.75]: 1 <= floor(m f) and ceil(m f) <= m - 1, so no class is
    # pushed to its bounds and the test part is round(n f) on every example, each class within 1 of its due
    labels = np.repeat(np.arange(len(sizes)), sizes)
    whole = indexed(one_hot(labels, len(sizes)) if len(sizes) > 2 else labels.astype(np.float64).reshape(-1, 1))
    train, test = split(whole, test_fraction=fraction, seed=seed)
    assert_partition(whole, train, test)
    due = np.array(sizes) * fraction
    assert test.n == np.floor(sum(sizes) * fraction + 0.5)  # as the plain split: n * fraction, rounded
    got = np.bincount(labels[test.x[:, 0].astype(np.intp)], minlength=len(sizes))
    assert np.all((got == np.floor(due)) | (got == np.floor(due) + 1))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(10, 100), fraction=st.floats(0.06, 0.94), seed=st.integers(0, 2**32))
def test_split_property_plain(n: int, fraction: float, seed: int) -> None:
    # n * fraction > 0.5 and n * (1 - fraction) > 0.5: both parts are non-empty on every example
    whole = indexed(np.sin(np.arange(n, dtype=np.float64)).reshape(-1, 1), task="regression")
    train, test = split(whole, test_fraction=fraction, seed=seed)
    assert_partition(whole, train, test)
    assert test.n == np.floor(n * fraction + 0.5)


SPLIT_ERRORS: list[tuple[Callable[[], object], type[Exception], str]] = [
    (
        lambda: split(indexed(np.zeros((10, 1)), "regression"), test_fraction=0.95, seed=0),
        ValueError,
        r"^test_fraction=0\.95 leaves the training part empty for 10 sample\(s\)",  # 9.5 rounds half up
    ),
    (
        lambda: split(indexed([[0.0], [1.0]] * 5), test_fraction=0.0, seed=0),
        ValueError,
        r"^test_fraction must be in \(0, 1\), got 0\.0$",
    ),
    (
        lambda: split(indexed([[0.0], [1.0]] * 5), test_fraction=1, seed=0),
        ValueError,
        r"^test_fraction must be in \(0, 1\), got 1\.0$",
    ),
    (
        lambda: split(indexed([[0.0], [1.0]] * 5), test_fraction=-0.2, seed=0),
        ValueError,
        r"^test_fraction must be in \(0, 1\), got -0\.2$",
    ),
    (
        lambda: split(indexed([[0.0], [1.0]] * 5), test_fraction=np.nan, seed=0),
        ValueError,
        r"^test_fraction must be finite",
    ),
    (
        lambda: split(indexed([[0.0], [1.0]] * 5), test_fraction="0.3", seed=0),  # type: ignore[arg-type]
        TypeError,
        r"^test_fraction must be a real number, got '0\.3'",
    ),
    (
        lambda: split(indexed([[0.0], [1.0]]), seed=0),
        ValueError,
        r"^test_fraction=0\.3 leaves the test part empty for 2 sample\(s\); each part needs at least one sample$",
    ),
    (
        lambda: split(indexed([[0.0]]), test_fraction=0.9, seed=0),
        ValueError,
        r"^test_fraction=0\.9 leaves the test part empty for 1 sample",
    ),
    (
        lambda: split(indexed([[0.1], [0.2], [0.3]], "regression"), test_fraction=0.1, seed=0),
        ValueError,
        r"^test_fraction=0\.1 leaves the test part empty for 3 sample",
    ),
    (
        lambda: split(indexed([[0.1], [0.2], [0.3]], "regression"), test_fraction=0.9, seed=0),
        ValueError,
        r"^test_fraction=0\.9 leaves the training part empty for 3 sample",
    ),
    (lambda: split((np.zeros((2, 1)), np.zeros((2, 1))), seed=0), TypeError, r"^data must be a Dataset, got tuple$"),  # type: ignore[arg-type]
    (lambda: split(generate_circle(10, seed=0), seed=-1), ValueError, r"^seed must be an integer >= 0, got -1$"),
    (
        lambda: split(generate_circle(10, seed=0), seed=0, stratify="yes"),  # type: ignore[arg-type]
        TypeError,
        r"^stratify must be True, False or None, got 'yes'$",
    ),
    (
        lambda: split(generate_circle(10, seed=0), seed=0, stratify=1),  # type: ignore[arg-type]
        TypeError,
        r"^stratify must be True, False or None, got 1$",
    ),
]


@pytest.mark.parametrize(("call", "error", "match"), SPLIT_ERRORS)
def test_split_validation(call: Callable[[], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------- standardization ---


def test_fit_standardizer_mean_and_population_std() -> None:
    x = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 20.0]])
    stats = fit_standardizer(x)
    np.testing.assert_allclose(stats.mean, [3.0, 20.0])
    np.testing.assert_allclose(stats.scale, [np.sqrt(8.0 / 3.0), np.sqrt(200.0 / 3.0)])
    assert not stats.mean.flags.writeable and not stats.scale.flags.writeable
    assert fit_standardizer(Dataset(x=x, y=np.zeros((3, 1)))) == stats


def test_constant_feature_is_centred_not_scaled() -> None:
    x = np.array([[0.1, 1.0], [0.1, 2.0], [0.1, 3.0]])  # 0.1 three times: np.mean is not exactly 0.1
    stats = fit_standardizer(x)
    assert stats.mean[0] == 0.1 and stats.scale[0] == 1.0
    z = standardize(x, stats)
    np.testing.assert_array_equal(z[:, 0], 0.0)
    assert standardize([[0.6, 1.0]], stats)[0, 0] == 0.6 - 0.1


def test_standardize_array_and_dataset() -> None:
    data = generate_gauss(50, classes=3, noise=0.2, seed=0)
    x_before = data.x.copy()
    stats = fit_standardizer(data.x)
    z = standardize(data.x, stats)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=1e-12)
    assert not z.flags.writeable and z.dtype == np.float64
    scaled = standardize(data, stats)
    assert isinstance(scaled, Dataset) and scaled is not data
    np.testing.assert_array_equal(scaled.x, z)
    np.testing.assert_array_equal(scaled.y, data.y)
    assert scaled.task == data.task == "multiclass"
    np.testing.assert_array_equal(data.x, x_before)  # the input is unchanged


def test_standardize_leaves_the_callers_array_alone() -> None:
    x = np.array([[1.0], [3.0]])
    z = standardize(x, fit_standardizer(x))
    assert x.flags.writeable and x.tolist() == [[1.0], [3.0]] and z.tolist() == [[-1.0], [1.0]]


def test_standardize_test_part_with_training_statistics() -> None:
    train, test = split(generate_circle(100, noise=0.1, seed=0), seed=1)
    stats = fit_standardizer(train)
    scaled = standardize(test, stats)
    np.testing.assert_allclose(scaled.x, (test.x - stats.mean) / stats.scale)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 30),
    columns=st.integers(1, 4),
    data=st.data(),
)
def test_standardize_property_zero_mean_unit_std(rows: int, columns: int, data: st.DataObject) -> None:
    values = data.draw(st.lists(st.integers(-1000, 1000), min_size=rows * columns, max_size=rows * columns))
    x = np.array(values, dtype=np.float64).reshape(rows, columns) / 8.0
    z = standardize(x, fit_standardizer(x))
    for j in range(columns):
        if np.all(x[:, j] == x[0, j]):
            np.testing.assert_array_equal(z[:, j], 0.0)
        else:
            assert abs(z[:, j].mean()) < 1e-9 and abs(z[:, j].std() - 1.0) < 1e-9


def test_standardizer_is_a_frozen_record() -> None:
    stats = Standardizer(mean=[0, 1], scale=[1, 2])
    assert stats.mean.dtype == np.float64 and not stats.scale.flags.writeable
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        stats.mean = np.zeros(2)  # type: ignore[misc]
    assert stats == Standardizer(mean=[0.0, 1.0], scale=[1.0, 2.0])


STANDARDIZE_ERRORS: list[tuple[Callable[[], object], type[Exception], str]] = [
    (lambda: Standardizer(mean=[0.0], scale=[0.0]), ValueError, r"^scale must be > 0, got 0\.0$"),
    (lambda: Standardizer(mean=[0.0, 1.0], scale=[1.0, -2.0]), ValueError, r"^scale must be > 0, got -2\.0$"),
    (
        lambda: Standardizer(mean=[0.0, 1.0], scale=[1.0]),
        ValueError,
        r"^scale must have shape \(2,\) like mean, got shape \(1,\)$",
    ),
    (
        lambda: Standardizer(mean=[[0.0]], scale=[[1.0]]),
        ValueError,
        r"^mean must have shape \(features,\) with features >= 1, got shape \(1, 1\)$",
    ),
    (lambda: Standardizer(mean=[], scale=[]), ValueError, r"^mean must have shape \(features,\)"),
    (lambda: Standardizer(mean=[np.nan], scale=[1.0]), ValueError, r"^mean must be finite, got 1 NaN/inf"),
    (lambda: Standardizer(mean=[0.0], scale=[np.inf]), ValueError, r"^scale must be finite, got 1 NaN/inf"),
    (lambda: Standardizer(mean=["a"], scale=[1.0]), TypeError, r"^mean must be an array of real numbers"),
    (lambda: fit_standardizer([1.0, 2.0]), ValueError, r"^x must have at least 2 axes, got shape \(2,\)$"),
    (lambda: fit_standardizer(np.zeros((0, 2))), ValueError, r"^x must hold at least one sample"),
    (lambda: fit_standardizer([[np.nan]]), ValueError, r"^x must be finite"),
    (lambda: fit_standardizer([["a"]]), TypeError, r"^x must be an array of real numbers"),
    (lambda: fit_standardizer([[1e308], [-1e308]]), ValueError, r"^x is too large to standardize"),
    (
        lambda: standardize([[1.0]], (0.0, 1.0)),  # type: ignore[call-overload]
        TypeError,
        r"^stats must be a Standardizer \(from fit_standardizer\), got tuple$",
    ),
    (
        lambda: standardize([[1.0, 2.0]], Standardizer(mean=[0.0], scale=[1.0])),
        ValueError,
        r"^x must have shape \(n, 1\) to match stats, got shape \(1, 2\)$",
    ),
    (
        lambda: standardize(generate_circle(4, seed=0), Standardizer(mean=[0.0], scale=[1.0])),
        ValueError,
        r"^data\.x must have shape \(n, 1\) to match stats, got shape \(4, 2\)$",
    ),
    (lambda: standardize([1.0], Standardizer(mean=[0.0], scale=[1.0])), ValueError, r"^x must have at least 2 axes"),
    (
        lambda: standardize([[1e308]], Standardizer(mean=[-1e308], scale=[1.0])),
        ValueError,
        r"^x standardized with stats overflows float64$",
    ),
]


@pytest.mark.parametrize(("call", "error", "match"), STANDARDIZE_ERRORS)
def test_standardize_validation(call: Callable[[], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()
