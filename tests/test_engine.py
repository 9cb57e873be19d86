"""The engine's equivalence: ``engine="fast"`` gives the trace of ``engine="reference"``.

Bit for bit (``compare_traces(a, b).equal``, and every other field of the runs),
except in networks with a sigmoid in a Dense layer: there the fast engine computes
``1 / (1 + exp(-z))`` in four passes instead of the reference's accurate seven,
and the runs agree to 1e-12 (relative) with identical stop reasons and epochs.

The registries are covered entry by entry, not as a cross product (which would
explode): every activation (hidden and output), every loss and every optimizer
runs in each of the four modes (full batch / mini-batch with shuffling, times
one model / a stack of three with per-model learning rates), on a network
otherwise fixed; stop rules, resume, custom optimizers and conv networks get
their own cases.
"""

from __future__ import annotations

import warnings
from typing import Any

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn.optimizers import MomentumState, OptState
from functional_nn.tree import leaves, tree_map
from tests.engine_helpers import assert_close_run, assert_same_run, custom_sgd
from tests.pairing import fit_outputs, output_for

DATA = fnn.generate_linear(24, seed=1)  # mini-batches of 7: 7, 7, 7 and 3
DATA3 = fnn.generate_gauss(24, classes=3, noise=0.3, seed=1)  # one-hot, for a softmax output (3 outputs)
BATCH = 7
SEEDS = [3, 4, 5]
SCALE = np.array([0.5, 1.0, 2.0])  # per-model learning rates: the factory's default times these

MODES = {
    "full-single": (None, False),
    "mini-single": (BATCH, False),
    "full-stack": (None, True),
    "mini-stack": (BATCH, True),
}


def _config(mode: str, optimizer: str | fnn.Optimizer, *, epochs: int = 12, **kwargs: Any) -> fnn.TrainConfig:
    """A config for ``mode``; a stack gets per-model learning rates (around the optimizer's own)."""
    batch_size, stacked = MODES[mode]
    if isinstance(optimizer, str):
        default = fnn.make_optimizer(optimizer).lr
        optimizer = fnn.make_optimizer(optimizer, lr=SCALE * default if stacked else default)
    kwargs.setdefault("snapshot_every", 4)
    return fnn.TrainConfig(
        epochs=epochs,
        optimizer=optimizer,
        batch_size=batch_size,
        shuffle=True,
        seed=SEEDS if stacked else SEEDS[0],
        **kwargs,
    )


def _both(net: fnn.Network, cfg: fnn.TrainConfig, data: fnn.Dataset = DATA) -> tuple[fnn.Trace, fnn.Trace]:
    params = fnn.init(net, seed=cfg.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither engine may warn, even when diverging
        fast = fnn.train(net, params, data, cfg, engine="fast")
        ref = fnn.train(net, params, data, cfg, engine="reference")
    return fast, ref


def _has_sigmoid(net: fnn.Network) -> bool:
    return any(isinstance(layer.activation, fnn.Sigmoid) for layer in net.layers)


def _assert_equivalent(fast: fnn.Trace, ref: fnn.Trace, net: fnn.Network) -> None:
    if _has_sigmoid(net):
        assert_close_run(fast, ref, rtol=1e-12)
    else:
        assert_same_run(fast, ref)


def _mlp(hidden: str | fnn.Activation, output: str | fnn.Activation) -> fnn.Network:
    """(2, 5, 4, 1), or (2, 5, 4, 3) for an output that needs several (a softmax)."""
    return fnn.mlp(fit_outputs((2, 5, 4, 1), fnn.get_activation(output)), hidden=hidden, output=output)


def _data(net: fnn.Network) -> fnn.Dataset:
    """The data set for ``net``'s outputs: binary labels for one, three classes for three."""
    return DATA if net.out_features == 1 else DATA3


ACTIVATIONS: list[fnn.Activation] = [*fnn.ACTIVATIONS.values(), fnn.LeakyReLU(alpha=0.3)]


# ------------------------------------------------------------- registries ---


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("act", ACTIVATIONS, ids=lambda a: f"{a.name}{getattr(a, 'alpha', '')}")
def test_every_activation_hidden_and_output(act: fnn.Activation, mode: str) -> None:
    net = _mlp(act, act)
    lr = 0.02 * SCALE if MODES[mode][1] else 0.02  # small enough for the deep linear (identity) network
    fast, ref = _both(net, _config(mode, fnn.sgd(lr=lr), loss="mse"), _data(net))
    assert fast.stop_reasons == ref.stop_reasons and all(r == "epochs done" for r in fast.stop_reasons)
    _assert_equivalent(fast, ref, net)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("loss", tuple(fnn.LOSSES))
def test_every_loss(loss: str, mode: str) -> None:
    output = "tanh" if loss == "mse" else output_for(fnn.LOSSES[loss])  # bce: sigmoid, cross_entropy: softmax
    net = _mlp("relu", output)
    fast, ref = _both(net, _config(mode, "adam", loss=loss), _data(net))
    _assert_equivalent(fast, ref, net)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("opt", tuple(fnn.OPTIMIZERS))
def test_every_optimizer(opt: str, mode: str) -> None:
    net = _mlp("tanh", "identity")
    fast, ref = _both(net, _config(mode, opt, loss="mse"))
    assert_same_run(fast, ref)
    assert fast.config.optimizer.name == opt


def test_sigmoid_networks_agree_to_1e_12_over_a_long_run() -> None:
    """The lab's network (sigmoid everywhere): a few hundred epochs, the same stops."""
    net = fnn.mlp((2, 10, 10, 1), hidden="sigmoid", output="sigmoid")
    cfg = _config("full-stack", fnn.sgd(lr=np.array([1.0, 2.0, 4.0])), epochs=300, loss="mse", stop_loss=0.02)
    fast, ref = _both(net, cfg)
    assert_close_run(fast, ref, rtol=1e-12)
    assert any(r.startswith("loss threshold") for r in fast.stop_reasons)


@pytest.mark.parametrize("mode", MODES)
def test_an_optimizer_of_our_own(mode: str) -> None:
    """Not built in: the engine may not assume it makes new arrays from the grads."""
    net = _mlp("leaky_relu", "identity")
    calls: list[int] = []
    fast, ref = _both(net, _config(mode, custom_sgd(0.2, calls), loss="mse"))
    assert_same_run(fast, ref)
    updates_per_epoch = 1 if MODES[mode][0] is None else 4
    assert len(calls) == 2 * 12 * updates_per_epoch


@pytest.mark.parametrize("mode", MODES)
def test_an_optimizer_that_keeps_the_grads_in_its_state(mode: str) -> None:
    """Its state holds the very grads it was given: an engine reusing its grads buffer would overwrite them."""

    def init(params: Any) -> OptState:
        return MomentumState(velocity=tree_map(np.zeros_like, params))

    def update(grads: Any, state: Any, params: Any) -> tuple[Any, OptState]:
        new = tree_map(lambda p, g, v: p - 0.1 * (g + 0.5 * v), params, grads, state.velocity)
        return new, MomentumState(velocity=grads)

    opt = fnn.Optimizer(name="keeps grads", hyperparams={"lr": 0.1}, init=init, update=update)
    net = _mlp("tanh", "identity")
    fast, ref = _both(net, _config(mode, opt, loss="mse"))
    assert_same_run(fast, ref)


# --------------------------------------------------------------- stop rules ---


@pytest.mark.parametrize("mode", MODES)
def test_stop_loss(mode: str) -> None:
    stacked = MODES[mode][1]
    net = _mlp("tanh", "identity")
    lr = np.array([0.02, 0.05, 0.1]) if stacked else 0.05
    cfg = _config(mode, fnn.momentum(lr=lr), epochs=200, loss="mse", stop_loss=0.01, snapshot_every=25)
    fast, ref = _both(net, cfg)
    assert_same_run(fast, ref)
    reached = [r for r in fast.stop_reasons if r.startswith("loss threshold reached")]
    assert reached, fast.stop_reasons
    if stacked:
        assert len(set(fast.stop_epoch.tolist())) > 1, "models of the stack stop at different epochs"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_divergence(opt: str, mode: str) -> None:
    """A model whose loss turns inf/NaN stops with the same reason, epoch and params in both engines."""
    stacked = MODES[mode][1]
    net = _mlp("relu", "identity")
    big = 1e6 if opt == "sgd" else 1e308
    lr = np.array([0.05, big, 0.1]) if stacked else big
    cfg = _config(mode, fnn.make_optimizer(opt, lr=lr), epochs=30, loss="mse")
    fast, ref = _both(net, cfg)
    assert_same_run(fast, ref)
    diverged = [r for r in fast.stop_reasons if r.startswith("diverged at epoch")]
    assert len(diverged) == 1, fast.stop_reasons
    assert all(np.all(np.isfinite(a)) for a in leaves(fast.params))


@pytest.mark.parametrize("stacked", [False, True])
def test_divergence_on_the_last_update(stacked: bool) -> None:
    """The last epoch's update makes the loss non-finite: caught after the fold, the same in both engines."""
    net = fnn.mlp((2, 10, 1), hidden="identity", output="identity")
    lr = np.array([0.1, 1e6]) if stacked else 1e6
    cfg = fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=lr), loss="mse", seed=[0, 0] if stacked else 0)
    fast, ref = _both(net, cfg)
    assert_same_run(fast, ref)
    assert fast.stop_reasons[-1] == "diverged at epoch 3"
    assert np.all(np.isfinite(fast.loss)), "every epoch's loss was finite: only the final params' loss was not"
    assert np.all(np.isfinite(fast.final_loss))


# ------------------------------------------------------------------ resume ---


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("opt", tuple(fnn.OPTIMIZERS))
def test_resume_in_either_engine(opt: str, mode: str) -> None:
    """A trace made by either engine, resumed by either, gives the same trace."""
    net = _mlp("relu", "identity")
    cfg = _config(mode, opt, epochs=5, loss="mse")
    first_fast, first_ref = _both(net, cfg)
    assert_same_run(first_fast, first_ref)
    resumed = [fnn.resume(first, DATA, 6, engine=e) for first in (first_fast, first_ref) for e in ("fast", "reference")]
    for other in resumed[1:]:
        assert_same_run(resumed[0], other)
    assert resumed[0].epochs_run == 11


@pytest.mark.parametrize("mode", ["mini-single", "full-stack"])
def test_train_iter_and_resume_iter_in_either_engine(mode: str) -> None:
    net = _mlp("tanh", "identity")
    cfg = _config(mode, "rmsprop", epochs=6, loss="mse")
    params = fnn.init(net, seed=cfg.seed)
    fast = list(fnn.train_iter(net, params, DATA, cfg, engine="fast"))
    ref = list(fnn.train_iter(net, params, DATA, cfg, engine="reference"))
    assert [p.epoch for p in fast] == [p.epoch for p in ref] == list(range(1, 7))
    for a, b in zip(fast, ref, strict=True):
        for name in ("loss", "accuracy", "grad_norm"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), (a.epoch, name)
    assert fast[-1].trace is not None and ref[-1].trace is not None
    assert_same_run(fast[-1].trace, ref[-1].trace)
    assert_same_run(fast[-1].trace, fnn.train(net, params, DATA, cfg, engine="reference"))
    more = [list(fnn.resume_iter(ref[-1].trace, DATA, 3, engine=e)) for e in ("fast", "reference")]
    assert [p.epoch for p in more[0]] == [p.epoch for p in more[1]] == [7, 8, 9]
    last = [m[-1].trace for m in more]
    assert last[0] is not None and last[1] is not None
    assert_same_run(last[0], last[1])


def test_engine_is_validated() -> None:
    net = _mlp("tanh", "identity")
    params = fnn.init(net, seed=0)
    cfg = _config("full-single", "sgd", loss="mse")
    trace = fnn.train(net, params, DATA, cfg)
    for call in (
        lambda: fnn.train(net, params, DATA, cfg, engine="turbo"),
        lambda: fnn.train_iter(net, params, DATA, cfg, engine="turbo"),
        lambda: fnn.resume(trace, DATA, 2, engine="turbo"),
        lambda: fnn.resume_iter(trace, DATA, 2, engine="turbo"),
    ):
        with pytest.raises(ValueError, match="engine"):
            call()


# -------------------------------------------------------------------- conv ---


def _cnn(kind: str, output: str) -> fnn.Network:
    conv = fnn.Conv2DLayer((1, 6, 6), 2, 3, activation="relu")
    if kind == "max":
        pool: fnn.Layer = fnn.MaxPool2DLayer(conv.out_shape, 2)
        return fnn.cnn(conv, pool, fnn.DenseLayer(8, 1, output))
    pool = fnn.AvgPool2DLayer(conv.out_shape, 2)
    return fnn.cnn(conv, pool, fnn.FlattenLayer(pool.out_shape), fnn.DenseLayer(8, 1, output))


BARS = fnn.generate_bars(10, 2, size=6, seed=0)[0]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_conv_networks(kind: str, mode: str) -> None:
    net = _cnn(kind, "identity")
    fast, ref = _both(net, _config(mode, "adam", epochs=4, loss="mse"), BARS)
    assert_same_run(fast, ref)


@pytest.mark.parametrize("mode", ["full-single", "mini-stack"])
def test_conv_network_with_a_sigmoid_output_and_bce(mode: str) -> None:
    net = _cnn("max", "sigmoid")
    fast, ref = _both(net, _config(mode, "momentum", epochs=4, loss="bce"), BARS)
    _assert_equivalent(fast, ref, net)


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_conv_trace_resumes_exactly(engine: str) -> None:
    net = _cnn("max", "identity")
    cfg = _config("mini-stack", "sgd", epochs=6, loss="mse")
    params = fnn.init(net, seed=cfg.seed)
    whole = fnn.train(net, params, BARS, cfg, engine=engine)
    first = fnn.train(net, params, BARS, attrs.evolve(cfg, epochs=2), engine=engine)
    assert_same_run(whole, fnn.resume(first, BARS, 4, engine=engine))
