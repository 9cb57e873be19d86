"""The training loop's buffer-reusing path computes exactly what the allocating path does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn.network import _value_and_grad, _value_and_grad_into, _Workspace, supports_workspace
from functional_nn.training import _Layout
from tests.helpers import assert_trees_equal
from tests.test_conv import CONV_KINDS, IMAGE_LAYERS, layer_input, make, random_params, small_cnn


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
    trace = fnn.train(
        net,
        fnn.init(net, seed=0),
        fnn.generate_xor_easy(),
        fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=0.1), loss="mse"),
    )
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
    reference = fnn.train(
        net,
        fnn.init(net, seed=0),
        fnn.generate_xor_easy(),
        fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=0.5), loss="mse"),
    )
    assert np.array_equal(fnn.train(net, fnn.init(net, seed=0), fnn.generate_xor_easy(), config).loss, reference.loss)


# ------------------------------------------------------------- image layers ---


def _image_net(kind: str, act: str) -> fnn.Network:
    """One image layer (each kind and option of the registry), then a Dense output layer."""
    first = IMAGE_LAYERS[kind](fnn.ACTIVATIONS[act])
    return fnn.cnn(first, fnn.DenseLayer(first.out_features, 2, fnn.Sigmoid()))


def _assert_workspace_matches(
    net: fnn.Network, params: fnn.Params, xs: list[np.ndarray], ys: list[np.ndarray], loss: str
) -> None:
    """Batch after batch through one workspace: loss, output and grads equal the allocating path's, bit for bit."""
    assert supports_workspace(net.layers)
    models = fnn.model_shape(net, params)
    loss_fn = fnn.get_loss(loss)
    layout = _Layout.of(params, models)
    gbuf = np.full((*models, layout.total), np.nan)
    ws = _Workspace(models, layout.unflatten(gbuf, readonly=False))
    for x, y in zip(xs, ys, strict=True):
        value, grads, out = _value_and_grad(net.layers, params, x, y, loss_fn)
        value2, out2 = _value_and_grad_into(net.layers, params, x, y, loss_fn, ws)
        assert np.array_equal(value, value2) and np.array_equal(out, out2)
        assert np.array_equal(layout.flatten(grads), gbuf)


def _batches(features: int, models: tuple[int, ...], per_model_x: bool) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Three batches: two of 5 samples with different values (stale buffers would show), then one of 3."""
    rng = np.random.default_rng(5)
    lead = models if per_model_x else ()
    xs = [layer_input(5, seed=1, features=features, lead=lead), layer_input(5, seed=2, features=features, lead=lead)]
    xs.append(layer_input(3, seed=3, features=features, lead=lead))
    ys = [(rng.uniform(size=(*x.shape[:-1], 2)) < 0.5).astype(np.float64) for x in xs]
    return xs, ys


@pytest.mark.parametrize("seeds", [0, [0, 1, 2]], ids=["single", "stacked"])
@pytest.mark.parametrize("kind", tuple(IMAGE_LAYERS))
def test_workspace_path_is_bit_identical_for_every_image_layer(kind: str, seeds: int | list[int]) -> None:
    for act in ("relu", "identity") if kind in CONV_KINDS else ("identity",):
        net = _image_net(kind, act)
        params = fnn.init(net, seed=seeds, scheme="he")
        models = fnn.model_shape(net, params)
        for per_model_x in (False, True) if models else (False,):
            xs, ys = _batches(net.in_features, models, per_model_x)
            _assert_workspace_matches(net, params, xs, ys, "bce")


@pytest.mark.parametrize("act", tuple(fnn.ACTIVATIONS))
@pytest.mark.parametrize("loss", tuple(fnn.LOSSES))
def test_workspace_path_is_bit_identical_for_conv_activations_and_losses(act: str, loss: str) -> None:
    net = _image_net("conv_k3_s1_p1", act)
    params = fnn.init(net, seed=[4, 5], scheme="he")
    xs, ys = _batches(net.in_features, (2,), per_model_x=False)
    _assert_workspace_matches(net, params, xs, ys, loss)


@pytest.mark.parametrize("seeds", [0, [0, 1, 2]], ids=["single", "stacked"])
@pytest.mark.parametrize("per_model_x", [False, True])
def test_workspace_path_is_bit_identical_for_a_deep_cnn(seeds: int | list[int], per_model_x: bool) -> None:
    """Conv, max pooling, conv, average pooling, flatten, Dense, Dense: every layer passes gradients on."""
    net = small_cnn()
    params = fnn.init(net, seed=seeds, scheme="he")
    models = fnn.model_shape(net, params)
    rng = np.random.default_rng(0)
    lead = models if per_model_x else ()
    xs = [rng.standard_normal((*lead, n, net.in_features)) for n in (6, 6, 4)]
    ys = [(rng.uniform(size=(*x.shape[:-1], 1)) < 0.5).astype(np.float64) for x in xs]
    _assert_workspace_matches(net, params, xs, ys, "bce")


@pytest.mark.parametrize("kind", tuple(IMAGE_LAYERS))
def test_image_layers_with_buffers_equal_the_allocating_layers(kind: str) -> None:
    """``buffers=`` (and Conv2D's ``out=``) give the same arrays; buffers are reused from call to call."""
    layer: Any = make(kind, "tanh")
    params = random_params(layer, seed=0)
    arrays: dict[tuple[str, tuple[int, ...], type], np.ndarray] = {}

    def buffers(role: str, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
        key = (role, shape, dtype)
        if key not in arrays:
            arrays[key] = np.zeros(shape, dtype=dtype)
        return arrays[key]

    for seed in (1, 2):
        x = layer_input(4, seed=seed)
        a, cache = layer.forward(params, x)
        dz = np.random.default_rng(seed).standard_normal(a.shape)
        grads, dx = layer.backward(params, cache, dz)
        a2, cache2 = layer.forward(params, x, buffers=buffers)
        extra = {}
        if isinstance(layer, fnn.Conv2DLayer):
            extra["out"] = (np.full(params.w.shape, np.nan), np.full(params.b.shape, np.nan))
        grads2, dx2 = layer.backward(params, cache2, dz, buffers=buffers, **extra)
        assert np.array_equal(a, a2) and np.array_equal(dx, dx2)
        assert_trees_equal(grads, grads2)
        if extra:
            assert grads2.w is extra["out"][0] and grads2.b is extra["out"][1]
    if not isinstance(layer, fnn.FlattenLayer):
        assert arrays  # the layer wrote into the buffers it was given


@pytest.mark.parametrize("batch_size", [None, 4])
def test_training_a_cnn_through_the_workspace_equals_the_allocating_loop(
    monkeypatch: pytest.MonkeyPatch, batch_size: int | None
) -> None:
    from functional_nn import training

    net = small_cnn()
    assert supports_workspace(net.layers)
    data, _ = fnn.generate_bars(10, 1, size=6, seed=0)
    config = fnn.TrainConfig(epochs=3, optimizer=fnn.adam(lr=0.01), loss="bce", batch_size=batch_size, seed=[0, 1])
    reusing = fnn.train(net, fnn.init(net, seed=[0, 1], scheme="he"), data, config, workers=1)
    monkeypatch.setattr(training, "supports_workspace", lambda layers: False)
    allocating = fnn.train(net, fnn.init(net, seed=[0, 1], scheme="he"), data, config, workers=1)
    assert np.array_equal(reusing.loss, allocating.loss) and np.array_equal(reusing.grad_norm, allocating.grad_norm)
    assert_trees_equal(reusing.params, allocating.params)


def _without_step_into(config: fnn.TrainConfig) -> fnn.TrainConfig:
    import attrs

    return attrs.evolve(config, optimizer=attrs.evolve(config.optimizer, step_into=None))


@pytest.mark.parametrize("name", tuple(fnn.OPTIMIZERS))
@pytest.mark.parametrize("seeds", [0, [0, 1, 2, 3]])
def test_in_place_optimizer_steps_are_bit_identical(name: str, seeds: int | list[int]) -> None:
    """The loop's reused-buffer optimizer step equals the pure update, bit for bit, through
    snapshots, stop rules and a divergence (the fallback params live in the reused buffers)."""
    net = fnn.mlp((2, 6, 1), hidden="relu", output="identity")
    params = fnn.init(net, seed=seeds)
    hyper: dict[str, float | bool | fnn.FloatArray] = {}
    if isinstance(seeds, list):
        hyper["lr"] = np.array([0.05, 0.5, 5.0, 1e6])  # the last one diverges
    config = fnn.TrainConfig(
        epochs=40,
        optimizer=fnn.make_optimizer(name, **hyper),
        loss="mse",
        seed=seeds,
        stop_loss=0.12,
        snapshot_every=3,
    )
    assert config.optimizer.step_into is not None
    data = fnn.generate_xor_easy()
    fast = fnn.train(net, params, data, config)
    slow = fnn.train(net, params, data, _without_step_into(config))
    diff = fnn.compare_traces(fast, slow)
    assert diff.equal, diff.reason
    assert fast.opt_state == slow.opt_state and fast.stop_reasons == slow.stop_reasons
    for (e1, s1), (e2, s2) in zip(fast.snapshots, slow.snapshots, strict=True):
        assert e1 == e2 and s1 == s2
    assert fast.resume_point is not None and slow.resume_point is not None
    assert fast.resume_point.prev_params == slow.resume_point.prev_params
