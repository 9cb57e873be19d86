"""Typical user code of functional_nn; ``test_typing.py`` runs ``mypy --strict`` on it.

Everything here must type-check, and each line marked ``# type: ignore[...]``
must be rejected by mypy: with ``warn_unused_ignores`` an ignore that is no
longer needed is itself an error, so every marked line is an assertion.
Nothing runs at import (pytest's doctest collector imports this module);
``main()`` runs the well-typed part.
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt

import functional_nn as fnn
from functional_nn.tree import leaves


def lab_run(epochs: int = 20) -> tuple[fnn.Trace, float]:
    data: fnn.Dataset = fnn.generate_xor_easy()
    net: fnn.Network = fnn.mlp((2, 10, 10, 1), hidden="sigmoid", output="sigmoid")
    params: fnn.Params = fnn.init(net, seed=0, scheme="normal")
    config = fnn.TrainConfig(epochs=epochs, optimizer=fnn.sgd(lr=1.0), loss=fnn.mse, seed=0)
    trace: fnn.Trace = fnn.train(net, params, data, config)
    loss_curve: npt.NDArray[np.float64] = trace.loss
    final: float = float(trace.final_loss)
    assert loss_curve.shape == (epochs,)
    labels: npt.NDArray[np.float64] = fnn.predict(net, trace.params, data.x)
    assert labels.shape == data.y.shape
    return trace, final


def gradients() -> fnn.Params:
    net = fnn.mlp((2, 3, 1))
    params = fnn.init(net, seed=1)
    value, grads = fnn.grad(net, params, [[0.0, 1.0]], [[1.0]], loss="bce")
    first: fnn.Dense = grads[0]
    w: npt.NDArray[np.float64] = first.w
    assert w.shape == (2, 3) and float(value) >= 0.0
    return grads


def custom_params() -> fnn.Params:
    layer = fnn.Dense(w=np.ones((2, 3)), b=np.zeros(3))
    out = fnn.Dense(w=np.ones((3, 1)), b=np.zeros(1))
    bigger = attrs.evolve(layer, b=np.full(3, 0.5))
    return (bigger, out)


def optimizer_step() -> fnn.OptState:
    opt: fnn.Optimizer = fnn.make_optimizer("adam", lr=0.01)
    params: fnn.Params = fnn.init(fnn.mlp((2, 3, 1)), seed=0)
    state: fnn.OptState = opt.init(params)
    new_params, state = opt.update(params, state, params)
    hyper = opt.hyperparams["lr"]
    assert opt.name == "adam" and hyper == 0.01 and len(new_params) == 2
    return state


def iterate(epochs: int = 3) -> list[int]:
    net = fnn.mlp((2, 4, 1))
    config = fnn.TrainConfig(epochs=epochs, optimizer=fnn.momentum(lr=0.1), loss="mse", batch_size=5)
    seen: list[int] = []
    progress: fnn.Progress
    for progress in fnn.train_iter(net, fnn.init(net, seed=0), fnn.generate_linear(20, seed=0), config):
        seen.append(progress.epoch)
        if progress.trace is not None:
            diff: fnn.TraceDiff = fnn.compare_traces(progress.trace, progress.trace)
            assert diff.equal and diff.first_differing_epoch is None
    return seen


def stacked() -> fnn.Trace:
    net = fnn.mlp((2, 4, 1), hidden=fnn.Tanh(), output=fnn.Sigmoid())
    seeds = [0, 1, 2]
    config = fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=np.array([0.1, 0.2, 0.3])), loss="mse", seed=seeds)
    trace = fnn.train(net, fnn.init(net, seed=seeds), fnn.generate_linear(20, seed=0), config)
    one: fnn.Trace = trace.member(1)
    return one


def registries() -> list[str]:
    act: fnn.Activation = fnn.ACTIVATIONS["relu"]
    loss: fnn.Loss = fnn.LOSSES["mse"]
    names = [act.name, loss.name, *fnn.OPTIMIZERS, *fnn.INITIALIZERS]
    doubled: fnn.Params = fnn.tree_map(lambda a: 2.0 * a, fnn.init(fnn.mlp((2, 1)), seed=0))
    assert len(leaves(doubled)) == 2
    return names


def conv_network() -> float:
    """A conv network built by hand: layers typed as fnn.Layer, params holding Conv2D and Dense records."""
    layers: tuple[fnn.Layer, ...] = (
        fnn.Conv2DLayer((1, 6, 6), 2, 3, activation="relu"),
        fnn.FlattenLayer((2, 4, 4)),
        fnn.DenseLayer(32, 1, fnn.Sigmoid()),
    )
    net: fnn.Network = fnn.sequential(*layers)
    rng = np.random.default_rng(0)
    params: tuple[fnn.LayerParams, ...] = (
        fnn.Conv2D(w=rng.standard_normal((2, 1, 3, 3)), b=np.zeros(2)),
        fnn.NoParams(empty=np.zeros(0)),
        fnn.Dense(w=rng.standard_normal((32, 1)), b=np.zeros(1)),
    )
    first = params[0]
    assert isinstance(first, fnn.Conv2D)
    kernels: npt.NDArray[np.float64] = first.w
    x = np.zeros((4, 36))
    value, grads = fnn.grad(net, params, x, np.ones((4, 1)), loss="bce")
    grad_first = grads[0]
    if isinstance(grad_first, fnn.Conv2D):
        assert grad_first.w.shape == kernels.shape
    also: fnn.Network = fnn.cnn(*layers)
    assert fnn.forward(also, fnn.init(also, seed=0), x).shape == (4, 1)
    return float(value)


def rejected(trace: fnn.Trace, params: fnn.Params, config: fnn.TrainConfig, data: fnn.Dataset) -> None:
    """Lines mypy must reject (never called)."""
    trace.loss = np.zeros(3)  # type: ignore[misc]
    mlp_params = fnn.init(fnn.mlp((2, 3, 1)), seed=0)
    mlp_params[0].w = np.zeros((2, 3))  # type: ignore[misc]
    kernels = params[0].w  # type: ignore[union-attr]
    del kernels
    config.epochs = 5  # type: ignore[misc]
    data.y = np.zeros((1, 1))  # type: ignore[misc]
    fnn.TrainConfig(10, fnn.sgd(lr=0.1), "mse")  # type: ignore[call-arg]
    fnn.mlp((2, 3, 1), hidden=3)  # type: ignore[call-overload]
    fnn.init(fnn.mlp((2, 1)), seed="0")  # type: ignore[arg-type]
    not_a_trace: fnn.Trace = fnn.generate_linear(seed=0)  # type: ignore[assignment]
    del not_a_trace


def regularized() -> None:
    """Dropout and a learning-rate schedule, as a user types them."""
    net: fnn.Network = fnn.mlp((2, 8, 1), hidden="relu", dropout=0.2)
    cfg = fnn.TrainConfig(epochs=2, optimizer=fnn.adam(lr=fnn.WarmupCosine(0.01, warmup=1, steps=4)), loss="bce")
    trace = fnn.train(net, fnn.init(net, seed=0), fnn.generate_linear(seed=0), cfg)
    rates = trace.lr
    assert rates is not None and rates.shape == (2,)
    schedule: fnn.Schedule = fnn.Cosine(0.1, steps=10)
    first: float = schedule(0)
    assert first == 0.1


def main() -> None:
    regularized()
    lab_run()
    gradients()
    custom_params()
    optimizer_step()
    assert iterate() == [1, 2, 3]
    stacked()
    registries()
    conv_network()
