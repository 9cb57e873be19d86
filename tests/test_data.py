"""Tests of functional_nn.data: the Dataset record and the lab's generators."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
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
