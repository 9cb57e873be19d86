"""Tests of functional_nn.network: mlp, init, forward, predict, grad, accuracy, stacking."""

from __future__ import annotations

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import network
from functional_nn.layers import Cache
from functional_nn.network import model_shape
from tests.helpers import (
    FloatArray,
    assert_read_only,
    assert_trees_close,
    assert_trees_equal,
    assert_unchanged,
    binary_labels,
    check_tree_grad,
    snapshot,
    structure,
)
from tests.pairing import fit_outputs, labels_for, output_for

HIDDEN = tuple(fnn.ACTIVATIONS)
LOSSES = tuple(fnn.LOSSES)
SIZES = [(2, 3, 1), (2, 5, 4, 1), (3, 4, 2)]
# each loss with the output it follows (bce: sigmoid, cross_entropy: softmax, mse: sigmoid) and the
# sizes that output takes (a softmax: k >= 2 outputs, so (2, 3, 1) becomes (2, 3, 3))
LOSS_SIZES = [
    pytest.param(name, fit_outputs(sizes, output_for(loss)), id=f"{name}-{fit_outputs(sizes, output_for(loss))}")
    for name, loss in fnn.LOSSES.items()
    for sizes in SIZES
]


SIGMOID = fnn.Sigmoid()


def batch(sizes: tuple[int, ...], n: int, seed: int, output: fnn.Activation = SIGMOID) -> tuple[FloatArray, FloatArray]:
    """Inputs and labels that fit ``output`` (one-hot rows for a softmax, else 0/1)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, sizes[0])), labels_for(output, rng, (n, sizes[-1]))


def with_random_biases(params: tuple[fnn.Dense, ...], seed: int) -> tuple[fnn.Dense, ...]:
    """Non-zero biases, so their gradient check is not trivial."""
    rng = np.random.default_rng(seed)
    return tuple(attrs.evolve(p, b=0.5 * rng.standard_normal(p.b.shape)) for p in params)


# -------------------------------------------------------------- gradients ---


@pytest.mark.parametrize(("loss_name", "sizes"), LOSS_SIZES)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_grad_matches_central_differences(hidden: str, loss_name: str, sizes: tuple[int, ...]) -> None:
    loss = fnn.LOSSES[loss_name]
    output = output_for(loss)
    net = fnn.mlp(sizes, hidden=hidden, output=output)
    params = with_random_biases(fnn.init(net, seed=1), seed=2)
    x, y = batch(sizes, n=8, seed=3, output=output)
    value, grads = fnn.grad(net, params, x, y, loss=loss)
    assert value.shape == ()

    def loss_of(p: fnn.Params) -> float:
        return float(fnn.grad(net, p, x, y, loss=loss)[0])

    assert loss_of(params) == float(value)
    check_tree_grad(loss_of, params, grads, seed=4)


@pytest.mark.parametrize("output", tuple(fnn.ACTIVATIONS))
def test_grad_matches_central_differences_for_every_output_activation(output: str) -> None:
    sizes = (3, 4, 2)
    net = fnn.mlp(sizes, hidden="tanh", output=output)
    params = with_random_biases(fnn.init(net, seed=5), seed=6)
    x, y = batch(sizes, n=6, seed=7, output=net.output_activation)  # a softmax: through its general backward
    _, grads = fnn.grad(net, params, x, y, loss="mse")
    check_tree_grad(lambda p: float(fnn.grad(net, p, x, y, loss="mse")[0]), params, grads, seed=8)


def test_grad_of_a_single_layer_network() -> None:
    net = fnn.mlp((2, 1), output="sigmoid")
    params = with_random_biases(fnn.init(net, seed=0), seed=1)
    x, y = batch((2, 1), n=5, seed=2)
    _, grads = fnn.grad(net, params, x, y, loss="bce")
    check_tree_grad(lambda p: float(fnn.grad(net, p, x, y, loss="bce")[0]), params, grads, seed=3)


def test_grad_bce_logistic_regression_closed_form() -> None:
    """One sigmoid unit with BCE: dL/dw = x^T (a - y) / n, dL/db = mean(a - y)."""
    net = fnn.mlp((2, 1))
    params = with_random_biases(fnn.init(net, seed=0), seed=1)
    x, y = batch((2, 1), n=9, seed=2)
    _, grads = fnn.grad(net, params, x, y, loss=fnn.bce)
    a = fnn.forward(net, params, x)
    np.testing.assert_allclose(grads[0].w, x.T @ (a - y) / 9, rtol=1e-12)
    np.testing.assert_allclose(grads[0].b, np.mean(a - y, axis=0), rtol=1e-12)


def test_grad_structure_purity_and_read_only() -> None:
    net = fnn.mlp((2, 5, 4, 1))
    params = fnn.init(net, seed=0)
    x, y = batch((2, 5, 4, 1), n=4, seed=0)
    before = snapshot(params)
    x_before = x.copy()
    _, grads = fnn.grad(net, params, x, y, loss="mse")
    assert structure(grads) == structure(params)
    assert all(isinstance(g, fnn.Dense) for g in grads)
    assert_read_only(grads)
    assert_unchanged(params, before)
    np.testing.assert_array_equal(x, x_before)
    assert x.flags.writeable


def test_grad_accepts_loss_names_and_records_alike() -> None:
    net = fnn.mlp((2, 3, 1))
    params = fnn.init(net, seed=0)
    x, y = batch((2, 3, 1), n=4, seed=0)
    by_name = fnn.grad(net, params, x, y, loss="bce")
    by_record = fnn.grad(net, params, x, y, loss=fnn.bce)
    assert float(by_name[0]) == float(by_record[0])
    assert_trees_equal(by_name[1], by_record[1])


# ------------------------------------------- the folds behind the entry points ---


@pytest.mark.parametrize("models", [(), (3,)], ids=["single", "stacked"])
@pytest.mark.parametrize("loss_name", LOSSES)
def test_value_and_grad_is_grad_and_forward_in_one_pass(loss_name: str, models: tuple[int, ...]) -> None:
    """The unchecked backward fold gives what the checked entry points give, bit for bit."""
    sizes = (3, 5, 4, 2)
    loss = fnn.LOSSES[loss_name]
    net = fnn.mlp(sizes, hidden="tanh", output=output_for(loss))
    params = fnn.init(net, seed=[0, 1, 2] if models else 0)
    x, y = batch(sizes, n=6, seed=1, output=output_for(loss))
    value, grads, out = network.value_and_grad(net.layers, params, x, y, loss)
    checked_value, checked_grads = fnn.grad(net, params, x, y, loss=loss)
    assert value.shape == models
    np.testing.assert_array_equal(value, checked_value)
    assert_trees_equal(grads, checked_grads)
    np.testing.assert_array_equal(out, fnn.forward(net, params, x))


def test_output_fold_keeps_every_layers_cache() -> None:
    sizes = (2, 5, 4, 1)
    net = fnn.mlp(sizes, hidden="relu")
    params = with_random_biases(fnn.init(net, seed=0), seed=1)
    x, _ = batch(sizes, n=7, seed=2)
    a, caches = network.output(net.layers, params, x)
    assert len(caches) == len(net.layers)
    assert all(isinstance(c, Cache) for c in caches)
    np.testing.assert_array_equal(caches[0].x, x)
    for i, (layer, p, cache) in enumerate(zip(net.layers, params, caches, strict=True)):
        if i > 0:
            np.testing.assert_array_equal(cache.x, caches[i - 1].a)  # each layer's input is the output before
        np.testing.assert_allclose(cache.z, cache.x @ p.w + p.b, rtol=1e-14)
        np.testing.assert_array_equal(cache.a, layer.activation.value(cache.z))
    np.testing.assert_array_equal(a, caches[-1].a)
    np.testing.assert_array_equal(a, fnn.forward(net, params, x))


def test_hits_counts_labels_on_the_same_side_of_one_half() -> None:
    a = np.array([[0.2, 0.9], [0.7, 0.1], [0.5, 0.49]])
    y = np.array([[0.0, 1.0], [0.0, 0.0], [1.0, 1.0]])
    # right: (0.2, 0) (0.9, 1) (0.1, 0) (0.5, 1); wrong: (0.7, 0) (0.49, 1)
    hits = network.hits(a, y)
    assert hits.shape == () and float(hits) == 4.0
    stacked = network.hits(np.stack([a, 1.0 - a, np.where(y == 1.0, 0.9, 0.1)]), np.stack([y, y, y]))
    np.testing.assert_array_equal(stacked, [4.0, 3.0, 6.0])  # 1 - 0.5 is still >= 0.5


def test_accuracy_is_hits_over_the_label_count() -> None:
    sizes = (3, 4, 2)
    net = fnn.mlp(sizes)
    params = fnn.init(net, seed=[0, 1])
    x, y = batch(sizes, n=9, seed=3)
    a = fnn.forward(net, params, x)
    np.testing.assert_array_equal(fnn.accuracy(net, params, x, y), network.hits(a, y) / 18.0)


# ----------------------------------------------------- forward and predict ---


@pytest.mark.parametrize("sizes", SIZES, ids=str)
def test_forward_and_predict_shapes(sizes: tuple[int, ...]) -> None:
    net = fnn.mlp(sizes)
    params = fnn.init(net, seed=0)
    x, _ = batch(sizes, n=7, seed=1)
    out = fnn.forward(net, params, x)
    labels = fnn.predict(net, params, x)
    assert out.shape == (7, sizes[-1]) and labels.shape == (7, sizes[-1])
    assert out.dtype == np.float64 and labels.dtype == np.float64
    assert np.all((out > 0) & (out < 1))  # sigmoid output
    assert set(np.unique(labels).tolist()) <= {0.0, 1.0}
    np.testing.assert_array_equal(labels, (out >= 0.5).astype(np.float64))


def test_forward_by_hand() -> None:
    net = fnn.mlp((2, 3, 1), hidden="relu", output="sigmoid")
    params = with_random_biases(fnn.init(net, seed=0), seed=1)
    x, _ = batch((2, 3, 1), n=4, seed=2)
    h = np.maximum(x @ params[0].w + params[0].b, 0.0)
    expected = 1.0 / (1.0 + np.exp(-(h @ params[1].w + params[1].b)))
    np.testing.assert_allclose(fnn.forward(net, params, x), expected, rtol=1e-13)


def test_forward_accepts_lists() -> None:
    net = fnn.mlp((2, 3, 1))
    params = fnn.init(net, seed=0)
    np.testing.assert_array_equal(
        fnn.forward(net, params, [[0.0, 1.0]]), fnn.forward(net, params, np.array([[0.0, 1.0]]))
    )


def test_predict_threshold() -> None:
    net = fnn.mlp((2, 3, 1))
    params = fnn.init(net, seed=0)
    x, _ = batch((2, 3, 1), n=20, seed=1)
    out = fnn.forward(net, params, x)
    np.testing.assert_array_equal(fnn.predict(net, params, x, threshold=0.0), np.ones_like(out))
    t = float(np.median(out))
    np.testing.assert_array_equal(fnn.predict(net, params, x, threshold=t), (out >= t).astype(np.float64))
    with pytest.raises(ValueError, match=r"threshold must be in \[0\.0, 1\.0\], got 1\.5"):
        fnn.predict(net, params, x, threshold=1.5)


def test_accuracy() -> None:
    net = fnn.mlp((2, 3, 1))
    params = fnn.init(net, seed=0)
    x, _ = batch((2, 3, 1), n=10, seed=1)
    labels = fnn.predict(net, params, x)
    assert float(fnn.accuracy(net, params, x, labels)) == 1.0
    assert float(fnn.accuracy(net, params, x, 1.0 - labels)) == 0.0
    flipped = labels.copy()
    flipped[:3] = 1.0 - flipped[:3]
    assert float(fnn.accuracy(net, params, x, flipped)) == pytest.approx(0.7)


# ------------------------------------------------------------ mlp and init ---


def test_mlp_structure() -> None:
    net = fnn.mlp((2, 10, 10, 1), hidden="relu", output="sigmoid")
    assert len(net.layers) == 3
    assert [(lay.in_features, lay.out_features) for lay in net.layers] == [(2, 10), (10, 10), (10, 1)]
    assert [lay.activation.name for lay in net.layers] == ["relu", "relu", "sigmoid"]
    assert net.in_features == 2 and net.out_features == 1 and net.output_activation == fnn.Sigmoid()
    assert net == fnn.mlp([2, 10, 10, 1], hidden=fnn.ReLU(), output=fnn.Sigmoid())


def test_mlp_is_a_network_of_dense_layers_typed_as_such() -> None:
    net: fnn.Network[fnn.Dense] = fnn.mlp((2, 3, 1))
    params: tuple[fnn.Dense, ...] = fnn.init(net, seed=0)  # mypy: Dense records, no cast needed
    assert all(isinstance(lay, fnn.DenseLayer) for lay in net.layers)
    assert all(isinstance(p, fnn.Dense) for p in params)
    assert params[0].w.shape == (2, 3)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        net.layers = ()  # type: ignore[misc]


def test_sequential_equals_mlp() -> None:
    net = fnn.sequential(fnn.DenseLayer(2, 4, fnn.Tanh()), fnn.DenseLayer(4, 1, fnn.Sigmoid()))
    assert net == fnn.mlp((2, 4, 1), hidden="tanh")


def test_init_shapes_read_only_and_deterministic() -> None:
    net = fnn.mlp((2, 5, 4, 1))
    params = fnn.init(net, seed=3)
    assert [(p.w.shape, p.b.shape) for p in params] == [((2, 5), (5,)), ((5, 4), (4,)), ((4, 1), (1,))]
    assert_read_only(params)
    assert params == fnn.init(net, seed=3)
    assert params != fnn.init(net, seed=4)
    assert model_shape(net, params) == ()


def test_init_bad_scheme() -> None:
    with pytest.raises(ValueError, match=r"scheme must be one of 'normal', 'uniform', 'xavier', 'he'; got 'zeros'"):
        fnn.init(fnn.mlp((2, 3, 1)), seed=0, scheme="zeros")


# -------------------------------------------------------- stacked params ---


def test_stacked_init_members_equal_single_inits() -> None:
    net = fnn.mlp((2, 5, 4, 1))
    stacked = fnn.init(net, seed=[0, 1, 2])
    assert model_shape(net, stacked) == (3,)
    assert_read_only(stacked)
    for k in range(3):
        assert_trees_equal(tuple(attrs.evolve(p, w=p.w[k], b=p.b[k]) for p in stacked), fnn.init(net, seed=k))


@pytest.mark.parametrize(("loss_name", "sizes"), LOSS_SIZES)
def test_stacked_forward_and_grad_equal_separate_calls(sizes: tuple[int, ...], loss_name: str) -> None:
    output = output_for(fnn.LOSSES[loss_name])
    net = fnn.mlp(sizes, hidden="tanh", output=output)
    seeds = [0, 1, 2]
    stacked = fnn.init(net, seed=seeds)
    x, y = batch(sizes, n=6, seed=9, output=output)
    out = fnn.forward(net, stacked, x)
    value, grads = fnn.grad(net, stacked, x, y, loss=loss_name)
    acc = fnn.accuracy(net, stacked, x, y)
    assert out.shape == (3, 6, sizes[-1]) and value.shape == (3,) and acc.shape == (3,)
    assert structure(grads) == structure(stacked)
    for k, s in enumerate(seeds):
        single = fnn.init(net, seed=s)
        np.testing.assert_allclose(out[k], fnn.forward(net, single, x), rtol=1e-12)
        v_k, g_k = fnn.grad(net, single, x, y, loss=loss_name)
        np.testing.assert_allclose(value[k], v_k, rtol=1e-12)
        assert_trees_close(tuple(attrs.evolve(g, w=g.w[k], b=g.b[k]) for g in grads), g_k, rtol=1e-12, atol=1e-300)
        assert acc[k] == fnn.accuracy(net, single, x, y)


def test_stacked_params_with_one_batch_per_model() -> None:
    sizes = (2, 4, 1)
    net = fnn.mlp(sizes)
    stacked = fnn.init(net, seed=[5, 6])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 2))
    y = binary_labels(rng, (2, 3, 1))
    value, _ = fnn.grad(net, stacked, x, y, loss="mse")
    out = fnn.forward(net, stacked, x)
    for k in range(2):
        single = fnn.init(net, seed=5 + k)
        np.testing.assert_allclose(out[k], fnn.forward(net, single, x[k]), rtol=1e-12)
        np.testing.assert_allclose(value[k], fnn.grad(net, single, x[k], y[k], loss="mse")[0], rtol=1e-12)


def test_gradient_checker_catches_a_wrong_gradient() -> None:
    """The checker is not vacuous: a gradient 1 % off in one leaf fails it."""
    net = fnn.mlp((2, 3, 1))
    params = with_random_biases(fnn.init(net, seed=0), seed=1)
    x, y = batch((2, 3, 1), n=5, seed=2)
    _, grads = fnn.grad(net, params, x, y, loss="mse")
    wrong = (grads[0], attrs.evolve(grads[1], w=grads[1].w * 1.01))
    with pytest.raises(AssertionError, match="leaf 2"):
        check_tree_grad(lambda p: float(fnn.grad(net, p, x, y, loss="mse")[0]), params, wrong, seed=3)
