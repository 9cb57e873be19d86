"""Tests of functional_nn.images: the seeded bar-image dataset."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import numpy.typing as npt
import pytest

import functional_nn as fnn
from functional_nn.images import BAR_CLASSES, bar_images

FloatArray = npt.NDArray[np.float64]


def bar_mask(x: FloatArray, size: int) -> npt.NDArray[np.bool_]:
    return x.reshape(-1, size, size) > 0.0


def test_shapes_labels_and_balance() -> None:
    train, test = fnn.generate_bars(101, 40, size=12, seed=0)
    assert train.x.shape == (101, 144) and train.y.shape == (101, 1)
    assert test.x.shape == (40, 144) and test.y.shape == (40, 1)
    assert set(np.unique(train.y)) == {0.0, 1.0}
    assert int(train.y.sum()) == 50 and int(test.y.sum()) == 20  # half (rounded down) are vertical
    assert np.all(np.isfinite(train.x))
    assert not train.x.flags.writeable and not test.y.flags.writeable


@pytest.mark.parametrize("size", [6, 9, 16])
def test_noise_free_images_hold_one_bar_of_the_labelled_orientation(size: int) -> None:
    data = bar_images(200, size=size, noise=0.0, seed=1)
    masks = bar_mask(data.x, size)
    for mask, label, x in zip(masks, data.y[:, 0], data.x, strict=True):
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        # one solid rectangle
        assert mask.sum() == rows.size * cols.size
        assert np.array_equal(rows, np.arange(rows[0], rows[-1] + 1)) and np.array_equal(
            cols, np.arange(cols[0], cols[-1] + 1)
        )
        height, width = rows.size, cols.size
        thick, length = (width, height) if label == 1.0 else (height, width)
        assert thick in (1, 2)
        assert max(4, size // 4) <= length <= size - 2
        bright = x[mask.ravel()]
        assert np.all(bright == bright[0]) and 0.6 <= bright[0] <= 1.0


def test_every_length_thickness_and_position_occurs() -> None:
    size = 8
    data = bar_images(2000, size=size, noise=0.0, seed=2)
    masks = bar_mask(data.x, size)
    vertical = data.y[:, 0] == 1.0
    lengths = np.where(vertical, masks.any(axis=2).sum(axis=1), masks.any(axis=1).sum(axis=1))
    assert set(lengths.tolist()) == set(range(4, size - 1))
    first_row = masks.any(axis=2).argmax(axis=1)
    first_col = masks.any(axis=1).argmax(axis=1)
    # a bar of thickness 1 may lie on the last row (horizontal) or column (vertical)
    assert set(first_row.tolist()) == set(range(size)) and set(first_col.tolist()) == set(range(size))
    thick = np.where(vertical, masks.any(axis=1).sum(axis=1), masks.any(axis=2).sum(axis=1))
    assert set(thick.tolist()) == {1, 2}


def test_noise_has_the_requested_standard_deviation() -> None:
    data = bar_images(500, size=16, noise=0.3, seed=3)
    clean = bar_images(500, size=16, noise=0.0, seed=3)
    background = data.x[clean.x == 0.0]
    assert float(np.std(background)) == pytest.approx(0.3, rel=0.02)
    assert abs(float(np.mean(background))) < 0.01


def test_same_seed_same_data_different_seed_different_data() -> None:
    a_train, a_test = fnn.generate_bars(50, 20, seed=7)
    b_train, b_test = fnn.generate_bars(50, 20, seed=7)
    assert a_train == b_train and a_test == b_test
    c_train, c_test = fnn.generate_bars(50, 20, seed=8)
    assert not np.array_equal(a_train.x, c_train.x) and not np.array_equal(a_test.x, c_test.x)


def test_held_out_set_does_not_depend_on_the_training_size_and_differs_from_it() -> None:
    train_small, test_a = fnn.generate_bars(10, 30, seed=4)
    train_big, test_b = fnn.generate_bars(500, 30, seed=4)
    assert test_a == test_b
    assert not np.array_equal(train_small.x[:10], test_a.x[:10])
    # no held-out image is a copy of a training image
    assert not np.any(np.all(np.isclose(train_big.x[:, None, :], test_a.x[None, :, :]), axis=-1))


def test_same_data_in_a_fresh_process() -> None:
    code = (
        "import functional_nn as fnn; tr, te = fnn.generate_bars(20, 10, size=8, seed=5); "
        "print(repr(float(tr.x.sum() + te.x.sum())))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    train, test = fnn.generate_bars(20, 10, size=8, seed=5)
    assert float(out) == float(train.x.sum() + test.x.sum())


def test_no_global_rng_used() -> None:
    np.random.seed(0)  # noqa: NPY002
    before = np.random.get_state()[1].copy()  # type: ignore[index]  # noqa: NPY002
    fnn.generate_bars(20, 10, seed=0)
    after = np.random.get_state()[1]  # type: ignore[index]  # noqa: NPY002
    assert np.array_equal(before, after)


def test_images_fit_a_conv_layer() -> None:
    train, _ = fnn.generate_bars(8, 4, size=10, seed=0)
    layer = fnn.Conv2DLayer((1, 10, 10), 2, 3)
    net = fnn.cnn(layer, fnn.MaxPool2DLayer(layer.out_shape, 8), fnn.DenseLayer(2, 1, fnn.Sigmoid()))
    assert fnn.forward(net, fnn.init(net, seed=0), train.x).shape == (8, 1)


def test_a_small_cnn_learns_the_bars_in_both_engines() -> None:
    train, test = fnn.generate_bars(120, 100, size=8, seed=0)
    conv = fnn.Conv2DLayer((1, 8, 8), 4, 3, activation="relu")
    pool = fnn.MaxPool2DLayer(conv.out_shape, 2)
    net = fnn.cnn(conv, pool, fnn.FlattenLayer(pool.out_shape), fnn.DenseLayer(36, 1, "sigmoid"))
    cfg = fnn.TrainConfig(epochs=25, optimizer=fnn.adam(lr=0.03), loss="bce", batch_size=20, seed=0)
    params = fnn.init(net, seed=0, scheme="he")
    fast = fnn.train(net, params, train, cfg, engine="fast")
    ref = fnn.train(net, params, train, cfg, engine="reference")
    assert fnn.compare_traces(fast, ref).max_rel_diff <= 1e-12
    assert float(fast.final_loss) < 0.5 * fast.loss[0]
    assert float(fnn.accuracy(net, fast.params, test.x, test.y)) >= 0.65  # chance is 0.5


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: fnn.generate_bars(0, 10, seed=0), ValueError, r"n_train must be an integer >= 1, got 0"),
        (lambda: fnn.generate_bars(10, 0, seed=0), ValueError, r"n_test must be an integer >= 1, got 0"),
        (lambda: fnn.generate_bars(10, 10, size=5, seed=0), ValueError, r"size must be an integer >= 6, got 5"),
        (lambda: fnn.generate_bars(10, 10, size=8.0, seed=0), TypeError, r"size must be an integer, got 8\.0"),  # type: ignore[arg-type]
        (
            lambda: fnn.generate_bars(10, 10, noise=-0.1, seed=0),
            ValueError,
            r"noise must be >= 0 \(the standard deviation of the background\), got -0\.1",
        ),
        (lambda: fnn.generate_bars(10, 10, noise=float("nan"), seed=0), ValueError, r"noise must be finite, got nan"),
        (lambda: fnn.generate_bars(10, 10, seed=-1), ValueError, r"seed must be an integer >= 0, got -1"),
        (lambda: bar_images(0, seed=0), ValueError, r"n must be an integer >= 1, got 0"),
        (lambda: bar_images(3, noise="loud", seed=0), TypeError, r"noise must be a real number, got 'loud'"),  # type: ignore[arg-type]
    ],
)
def test_arguments_are_validated(call: object, error: type[Exception], match: str) -> None:
    assert callable(call)
    with pytest.raises(error, match=match):
        call()


def test_class_names() -> None:
    assert BAR_CLASSES == ("horizontal", "vertical")
