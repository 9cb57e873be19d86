"""The training loop's buffer-reusing path computes exactly what the allocating path does."""

from __future__ import annotations

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn.network import _value_and_grad, _value_and_grad_into, _Workspace, supports_workspace
from functional_nn.training import _Layout


@pytest.mark.parametrize("hidden", tuple(fnn.ACTIVATIONS))
@pytest.mark.parametrize("loss", tuple(fnn.LOSSES))
@pytest.mark.parametrize("seeds", [0, [0, 1, 2]])
@pytest.mark.parametrize("per_model_x", [False, True])
def test_workspace_path_is_bit_identical(hidden: str, loss: str, seeds: int | list[int], per_model_x: bool) -> None:
    net = fnn.mlp((2, 5, 4, 1), hidden=hidden)
    params = fnn.init(net, seed=seeds)
    data = fnn.generate_linear(n=13, seed=1)
    models = fnn.model_shape(net, params)
    x, y = data.x, data.y
    if per_model_x and models:
        x = np.stack([data.x[::-1]] * models[0])
        y = np.stack([data.y[::-1]] * models[0])
    loss_fn = fnn.get_loss(loss)
    value, grads, out = _value_and_grad(net.layers, params, x, y, loss_fn)
    layout = _Layout.of(params, models)
    gbuf = np.full(models + (layout.total,), np.nan)
    ws = _Workspace(models, layout.unflatten(gbuf, readonly=False))
    for _ in range(2):  # buffers reused on the second call
        value2, out2 = _value_and_grad_into(net.layers, params, x, y, loss_fn, ws)
        assert np.array_equal(value, value2) and np.array_equal(out, out2)
        assert np.array_equal(layout.flatten(grads), gbuf)


def test_workspace_is_used_only_for_dense_networks_with_builtin_activations() -> None:
    assert supports_workspace(fnn.mlp((2, 3, 1), hidden=fnn.LeakyReLU(alpha=0.3)).layers)

    class Softsign:
        name = "softsign"

        def value(self, z: fnn.FloatArray, out: fnn.FloatArray | None = None) -> fnn.FloatArray:
            return np.divide(z, 1.0 + np.abs(z), out=out)

        def derivative(self, z: fnn.FloatArray, a: fnn.FloatArray, out: fnn.FloatArray | None = None) -> fnn.FloatArray:
            return np.divide(1.0, (1.0 + np.abs(z)) ** 2, out=out)

    net = fnn.mlp((2, 3, 1), hidden=Softsign())
    assert not supports_workspace(net.layers)
    trace = fnn.train(net, fnn.init(net, seed=0), fnn.generate_xor_easy(), fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=0.1), loss="mse"))
    assert trace.loss.shape == (3,)


def test_a_custom_optimizer_may_keep_the_gradients() -> None:
    """The loop reuses its gradient buffer; an optimizer of the user's that keeps grads gets a copy."""
    kept: list[object] = []

    def init(params: object) -> fnn.OptState:
        return fnn.EmptyState()

    def update(grads: object, state: fnn.OptState, params: object) -> tuple[object, fnn.OptState]:
        kept.append(grads)
        return fnn.sgd(lr=0.5).update(grads, state, params)

    custom = fnn.Optimizer(name="custom", hyperparams={"lr": 0.5}, init=init, update=update)  # type: ignore[arg-type]
    net = fnn.mlp((2, 3, 1))
    config = fnn.TrainConfig(epochs=3, optimizer=custom, loss="mse")
    fnn.train(net, fnn.init(net, seed=0), fnn.generate_xor_easy(), config)
    assert len(kept) == 3
    assert not np.array_equal(kept[0], kept[2])  # type: ignore[arg-type]
    reference = fnn.train(net, fnn.init(net, seed=0), fnn.generate_xor_easy(), fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=0.5), loss="mse"))
    assert np.array_equal(fnn.train(net, fnn.init(net, seed=0), fnn.generate_xor_easy(), config).loss, reference.loss)
