"""Tests of functional_nn.optimizers, parametrized over the OPTIMIZERS registry."""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Callable, Mapping
from typing import TypeVar

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn.tree import leaves
from tests.helpers import (
    FloatArray,
    assert_read_only,
    assert_read_only_registry,
    assert_trees_equal,
    assert_unchanged,
    snapshot,
    structure,
)

NAMES = tuple(fnn.OPTIMIZERS)
P = TypeVar("P")
Hyper = Mapping[str, object]
Step = Callable[[FloatArray, FloatArray, FloatArray, Hyper], tuple[FloatArray, FloatArray]]


def _f(h: Hyper, key: str) -> float:
    value = h[key]
    assert isinstance(value, (int, float))
    return float(value)


# --------------------------------------------- hand-written reference steps ---
# Each takes p0, g1, g2 and the hyperparameters and returns (p1, p2): the params
# after the first and the second step, written out formula by formula.


def ref_sgd(p0: FloatArray, g1: FloatArray, g2: FloatArray, h: Hyper) -> tuple[FloatArray, FloatArray]:
    lr = _f(h, "lr")
    p1 = p0 - lr * g1
    return p1, p1 - lr * g2


def ref_momentum(p0: FloatArray, g1: FloatArray, g2: FloatArray, h: Hyper) -> tuple[FloatArray, FloatArray]:
    lr, beta = _f(h, "lr"), _f(h, "beta")
    v1 = g1  # beta * 0 + g1
    p1 = p0 - lr * v1
    v2 = beta * v1 + g2
    return p1, p1 - lr * v2


def ref_nesterov(p0: FloatArray, g1: FloatArray, g2: FloatArray, h: Hyper) -> tuple[FloatArray, FloatArray]:
    lr, beta = _f(h, "lr"), _f(h, "beta")
    v1 = g1
    p1 = p0 - lr * (g1 + beta * v1)
    v2 = beta * v1 + g2
    return p1, p1 - lr * (g2 + beta * v2)


def ref_adam(p0: FloatArray, g1: FloatArray, g2: FloatArray, h: Hyper) -> tuple[FloatArray, FloatArray]:
    lr, b1, b2, eps = _f(h, "lr"), _f(h, "b1"), _f(h, "b2"), _f(h, "eps")
    m1, v1 = (1 - b1) * g1, (1 - b2) * g1**2
    # bias correction of step 1 gives back g1 and g1**2: the step is lr * g1 / (|g1| + eps)
    p1 = p0 - lr * (m1 / (1 - b1)) / (np.sqrt(v1 / (1 - b2)) + eps)
    m2, v2 = b1 * m1 + (1 - b1) * g2, b2 * v1 + (1 - b2) * g2**2
    p2 = p1 - lr * (m2 / (1 - b1**2)) / (np.sqrt(v2 / (1 - b2**2)) + eps)
    return p1, p2


def ref_rmsprop(p0: FloatArray, g1: FloatArray, g2: FloatArray, h: Hyper) -> tuple[FloatArray, FloatArray]:
    lr, d, eps = _f(h, "lr"), _f(h, "decay"), _f(h, "eps")
    s1 = (1 - d) * g1**2
    p1 = p0 - lr * g1 / (np.sqrt(s1) + eps)
    s2 = d * s1 + (1 - d) * g2**2
    return p1, p1 - lr * g2 / (np.sqrt(s2) + eps)


def ref_adagrad(p0: FloatArray, g1: FloatArray, g2: FloatArray, h: Hyper) -> tuple[FloatArray, FloatArray]:
    lr, eps = _f(h, "lr"), _f(h, "eps")
    p1 = p0 - lr * g1 / (np.abs(g1) + eps)
    return p1, p1 - lr * g2 / (np.sqrt(g1**2 + g2**2) + eps)


def ref_adamw(p0: FloatArray, g1: FloatArray, g2: FloatArray, h: Hyper) -> tuple[FloatArray, FloatArray]:
    """torch's AdamW: p *= 1 - lr wd before each of Adam's steps."""
    lr, b1, b2, eps, wd = (_f(h, k) for k in ("lr", "b1", "b2", "eps", "weight_decay"))
    m, v, p = 0.0 * p0, 0.0 * p0, p0
    out = []
    for t, g in ((1, g1), (2, g2)):
        p = p * (1.0 - lr * wd)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        out.append(p)
    return out[0], out[1]


REFERENCES: dict[str, Step] = {
    "sgd": ref_sgd,
    "momentum": ref_momentum,
    "nesterov": ref_nesterov,
    "adam": ref_adam,
    "adamw": ref_adamw,
    "rmsprop": ref_rmsprop,
    "adagrad": ref_adagrad,
}


def params_and_grads(seed: int, models: tuple[int, ...] = ()) -> tuple[fnn.Params, fnn.Params, fnn.Params]:
    """Params of mlp((2, 3, 1)) and two gradients of the same structure, with large and tiny entries."""
    net = fnn.mlp((2, 3, 1))
    params = fnn.init(net, seed=seed) if not models else fnn.init(net, seed=list(range(seed, seed + models[0])))
    rng = np.random.default_rng(seed)

    def draw(a: FloatArray) -> FloatArray:
        return rng.standard_normal(a.shape) * 10.0 ** rng.uniform(-3, 2, a.shape)

    return params, fnn.tree_map(draw, params), fnn.tree_map(draw, params)


def two_steps(opt: fnn.Optimizer, params: P, g1: P, g2: P) -> tuple[P, P]:
    state = opt.init(params)
    p1, state = opt.update(g1, state, params)
    p2, _ = opt.update(g2, state, p1)
    return p1, p2


# hyperparameters unlike the defaults (eps large enough to matter), so that each one is seen to be used
OTHER: dict[str, dict[str, float]] = {
    "sgd": {"lr": 0.3},
    "momentum": {"lr": 0.3, "beta": 0.5},
    "nesterov": {"lr": 0.3, "beta": 0.5},
    "adam": {"lr": 0.3, "b1": 0.5, "b2": 0.7, "eps": 1e-3},
    "adamw": {"lr": 0.3, "b1": 0.5, "b2": 0.7, "eps": 1e-3, "weight_decay": 0.2},
    "rmsprop": {"lr": 0.3, "decay": 0.5, "eps": 1e-3},
    "adagrad": {"lr": 0.3, "eps": 1e-3},
}


def test_reference_table_covers_the_registry() -> None:
    assert set(REFERENCES) == set(NAMES) == set(OTHER)
    assert {"sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("setting", ["defaults", "other"])
def test_first_and_second_step_match_hand_computation(name: str, setting: str) -> None:
    opt = fnn.make_optimizer(name) if setting == "defaults" else fnn.make_optimizer(name, **OTHER[name])
    assert setting == "defaults" or dict(opt.hyperparams) == OTHER[name]
    params, g1, g2 = params_and_grads(seed=0)
    p1, p2 = two_steps(opt, params, g1, g2)
    for leaf, (a, b, c, got1, got2) in enumerate(
        zip(leaves(params), leaves(g1), leaves(g2), leaves(p1), leaves(p2), strict=True)
    ):
        want1, want2 = REFERENCES[name](a, b, c, opt.hyperparams)
        np.testing.assert_allclose(got1, want1, rtol=1e-13, atol=1e-15, err_msg=f"step 1, leaf {leaf}")
        np.testing.assert_allclose(got2, want2, rtol=1e-13, atol=1e-15, err_msg=f"step 2, leaf {leaf}")


def test_hand_computed_numbers() -> None:
    """A few steps on one scalar parameter, computed with pencil and paper."""
    p = (np.array([1.0]),)
    g1, g2 = (np.array([2.0]),), (np.array([-1.0]),)

    def run(opt: fnn.Optimizer) -> tuple[float, float]:
        a, b = two_steps(opt, p, g1, g2)
        return float(a[0][0]), float(b[0][0])

    assert run(fnn.sgd(lr=0.1)) == pytest.approx((0.8, 0.9), rel=1e-15)
    # v1 = 2, p1 = 1 - 0.2 = 0.8; v2 = 0.5 * 2 - 1 = 0, p2 = 0.8
    assert run(fnn.momentum(lr=0.1, beta=0.5)) == pytest.approx((0.8, 0.8), rel=1e-15)
    # p1 = 1 - 0.1 (2 + 0.5 * 2) = 0.7; v2 = 0, p2 = 0.7 - 0.1 (-1 + 0) = 0.8
    assert run(fnn.nesterov(lr=0.1, beta=0.5)) == pytest.approx((0.7, 0.8), rel=1e-14)
    # s1 = 4, p1 = 1 - 0.1 * 2 / 2 = 0.9; s2 = 5, p2 = 0.9 + 0.1 / sqrt(5)
    assert run(fnn.adagrad(lr=0.1, eps=1e-300)) == pytest.approx((0.9, 0.9 + 0.1 / np.sqrt(5)), rel=1e-15)
    # s1 = 0.5 * 4 = 2, p1 = 1 - 0.1 * 2 / sqrt(2); s2 = 0.5 * 2 + 0.5 = 1.5, p2 = p1 + 0.1 / sqrt(1.5)
    p1 = 1 - 0.2 / np.sqrt(2)
    assert run(fnn.rmsprop(lr=0.1, decay=0.5, eps=1e-300)) == pytest.approx((p1, p1 + 0.1 / np.sqrt(1.5)), rel=1e-15)
    # adam, b1 = b2 = 0.5: m1 = 1, v1 = 2, m^ = 2, v^ = 4, p1 = 1 - 0.1 = 0.9;
    # m2 = 0, so the second step does not move
    assert run(fnn.adam(lr=0.1, b1=0.5, b2=0.5, eps=1e-300)) == pytest.approx((0.9, 0.9), rel=1e-15)


@pytest.mark.parametrize("lr", [1e-3, 0.1])
def test_adam_first_step_is_lr_times_sign_of_g(lr: float) -> None:
    opt = fnn.adam(lr=lr)
    params, g, _ = params_and_grads(seed=3)
    new, _ = opt.update(g, opt.init(params), params)
    eps = 1e-8
    for p, gg, q in zip(leaves(params), leaves(g), leaves(new), strict=True):
        # step = lr g / (|g| + eps), so |step - lr sign(g)| = lr eps / (|g| + eps)
        bound = lr * eps / np.abs(gg) + 1e-15
        assert np.all(np.abs((p - q) - lr * np.sign(gg)) <= bound)
        np.testing.assert_allclose(p - q, lr * np.sign(gg), rtol=1e-4)


# ------------------------------------------------------- structural checks ---


@pytest.mark.parametrize("name", NAMES)
def test_update_is_pure_and_returns_read_only_arrays(name: str) -> None:
    opt = fnn.make_optimizer(name)
    params, g1, g2 = params_and_grads(seed=1)
    state0 = opt.init(params)
    p1, state1 = opt.update(g1, state0, params)
    params_before, grads_before = snapshot(params), snapshot(g2)
    state_before = snapshot(_state_trees(state1))
    p2, state2 = opt.update(g2, state1, p1)
    p2_again, state2_again = opt.update(g2, state1, p1)
    assert_unchanged(params, params_before)
    assert_unchanged(g2, grads_before)
    assert_unchanged(_state_trees(state1), state_before)
    assert_trees_equal(p2, p2_again)  # same inputs, same outputs
    assert_trees_equal(_state_trees(state2), _state_trees(state2_again))
    assert_read_only(p2)
    assert_read_only(state2)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(state2, "count", 0)  # noqa: B010 (states are frozen records)


@pytest.mark.parametrize("name", NAMES)
def test_update_on_plain_writable_arrays_leaves_them_writable(name: str) -> None:
    opt = fnn.make_optimizer(name)
    params = (np.array([1.0, -2.0]), np.array([[0.5]]))
    grads = (np.array([0.1, 0.2]), np.array([[-0.3]]))
    new, _ = opt.update(grads, opt.init(params), params)
    assert params[0].flags.writeable and grads[0].flags.writeable
    np.testing.assert_array_equal(params[0], [1.0, -2.0])
    assert_read_only(new)


def _state_trees(state: fnn.OptState) -> tuple[object, ...]:
    """The fields of a state that hold a tree like the params (a tuple of records here),
    leaving out per-step scalars such as Adam's count."""
    return tuple(getattr(state, f.name) for f in attrs.fields(type(state)) if isinstance(getattr(state, f.name), tuple))


@pytest.mark.parametrize("name", NAMES)
def test_state_stays_finite_and_keeps_the_params_structure(name: str) -> None:
    opt = fnn.make_optimizer(name)
    params, _, _ = params_and_grads(seed=2)
    state = opt.init(params)
    rng = np.random.default_rng(0)
    for step in range(20):
        scale = 10.0 ** rng.uniform(-8, 3)
        grads = fnn.tree_map(lambda a, scale=scale: scale * rng.standard_normal(a.shape), params)
        if step == 5:
            grads = fnn.tree_map(np.zeros_like, params)  # a zero gradient must not give 0/0
        params, state = opt.update(grads, state, params)
        assert isinstance(state, type(opt.init(params)))
        for tree in _state_trees(state):
            assert structure(tree) == structure(params)
            assert all(np.all(np.isfinite(a)) for a in leaves(tree))
        assert all(np.all(np.isfinite(a)) for a in leaves(params))
    assert all(np.all(np.isfinite(a)) for a in leaves(state))
    if isinstance(state, fnn.AdamState):
        assert int(np.asarray(state.count)) == 20


@pytest.mark.parametrize("name", NAMES)
def test_init_state_is_zero(name: str) -> None:
    params, _, _ = params_and_grads(seed=0)
    state = fnn.make_optimizer(name).init(params)
    for tree in _state_trees(state):
        assert structure(tree) == structure(params)
        assert all(np.all(a == 0.0) for a in leaves(tree))


@pytest.mark.parametrize("name", NAMES)
def test_zero_gradient_does_not_move_params(name: str) -> None:
    opt = fnn.make_optimizer(name)
    params, _, _ = params_and_grads(seed=0)
    zeros = fnn.tree_map(np.zeros_like, params)
    new, _ = opt.update(zeros, opt.init(params), params)
    if name == "adamw":  # its decoupled decay shrinks the params whatever the gradient
        lr, wd = opt.lr, opt.hyperparams["weight_decay"]
        assert isinstance(lr, float) and isinstance(wd, float)
        decay = 1.0 - lr * wd
        assert_trees_equal(new, fnn.tree_map(lambda p: p * decay, params))
    else:
        assert_trees_equal(new, params)


# the factories' own defaults, written out: make_optimizer(name) uses exactly these
DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {"lr": 0.1},
    "momentum": {"lr": 0.1, "beta": 0.9},
    "nesterov": {"lr": 0.1, "beta": 0.9},
    "adam": {"lr": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8},
    "adamw": {"lr": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 1e-2},
    "rmsprop": {"lr": 1e-2, "decay": 0.9, "eps": 1e-8},
    "adagrad": {"lr": 1e-2, "eps": 1e-8},
}
# the L2 options every factory but adamw takes; their defaults (no decay) are left out of hyperparams
L2_DEFAULTS = {"weight_decay": 0.0, "decay_biases": True}


def test_defaults_table_covers_the_registry() -> None:
    assert set(DEFAULTS) == set(NAMES)


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError, match="does not support item assignment"):
        fnn.OPTIMIZERS["adam"] = fnn.sgd  # type: ignore[index]
    assert fnn.OPTIMIZERS["adam"] is fnn.adam
    assert_read_only_registry(fnn.OPTIMIZERS)


def test_registry_holds_the_factories() -> None:
    assert dict(fnn.OPTIMIZERS) == {
        "sgd": fnn.sgd,
        "momentum": fnn.momentum,
        "nesterov": fnn.nesterov,
        "adam": fnn.adam,
        "adamw": fnn.adamw,
        "rmsprop": fnn.rmsprop,
        "adagrad": fnn.adagrad,
    }


@pytest.mark.parametrize("name", NAMES)
def test_make_optimizer_is_the_factory_with_its_own_defaults(name: str) -> None:
    factory = fnn.OPTIMIZERS[name]
    opt = fnn.make_optimizer(name)
    assert opt == factory()
    assert opt.name == name
    assert dict(opt.hyperparams) == DEFAULTS[name]
    assert opt.lr == DEFAULTS[name]["lr"]
    # the factory's signature says the same defaults
    signature = inspect.signature(factory)
    extra = {} if name == "adamw" else L2_DEFAULTS
    assert {k: p.default for k, p in signature.parameters.items()} == DEFAULTS[name] | extra
    # keywords go to the factory
    other = fnn.make_optimizer(name, lr=0.123)
    assert other == factory(lr=0.123)
    assert other.hyperparams["lr"] == 0.123 and other.lr == 0.123
    assert other != opt


@pytest.mark.parametrize("name", NAMES)
def test_optimizer_is_a_frozen_record(name: str) -> None:
    opt = fnn.make_optimizer(name)
    with pytest.raises(TypeError, match="does not support item assignment"):
        opt.hyperparams["lr"] = 1.0  # type: ignore[index]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        opt.name = "other"  # type: ignore[misc]
    assert opt.hyperparams["lr"] == DEFAULTS[name]["lr"]


def test_constructors_record_every_hyperparameter() -> None:
    assert dict(fnn.sgd(lr=0.5).hyperparams) == {"lr": 0.5}
    assert dict(fnn.momentum(lr=0.5, beta=0.8).hyperparams) == {"lr": 0.5, "beta": 0.8}
    assert dict(fnn.nesterov(lr=0.5, beta=0.8).hyperparams) == {"lr": 0.5, "beta": 0.8}
    assert fnn.nesterov(lr=0.5).name == "nesterov" and fnn.momentum(lr=0.5).name == "momentum"
    assert fnn.nesterov(lr=0.5) != fnn.momentum(lr=0.5)  # same hyperparameters, other algorithm
    assert dict(fnn.adam(lr=0.1, b1=0.8, b2=0.99, eps=1e-7).hyperparams) == {
        "lr": 0.1,
        "b1": 0.8,
        "b2": 0.99,
        "eps": 1e-7,
    }
    assert dict(fnn.rmsprop(lr=0.1, decay=0.5, eps=1e-6).hyperparams) == {"lr": 0.1, "decay": 0.5, "eps": 1e-6}
    assert dict(fnn.adagrad(lr=0.1, eps=1e-6).hyperparams) == {"lr": 0.1, "eps": 1e-6}
    assert fnn.adam(lr=0.1) == fnn.make_optimizer("adam", lr=0.1)


def test_momentum_has_no_nesterov_switch() -> None:
    """Nesterov is a factory of its own now."""
    with pytest.raises(TypeError, match="nesterov"):
        fnn.momentum(lr=0.1, nesterov=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="nesterov"):
        fnn.make_optimizer("momentum", nesterov=True)


# ------------------------------------------------------------------ pickle ---


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lr", [0.05, np.array([0.01, 0.1, 0.5])], ids=["lr", "per-model-lr"])
def test_optimizer_pickles_as_name_and_hyperparameters(name: str, lr: float | FloatArray) -> None:
    opt = fnn.make_optimizer(name, lr=lr)
    data = pickle.dumps(opt)
    again = pickle.loads(data)
    assert isinstance(again, fnn.Optimizer) and again == opt
    assert len(data) < 1000 and name.encode() in data  # a name and a few numbers, not the closures' code
    params, g1, g2 = params_and_grads(seed=5, models=(3,))
    for got, want in zip(two_steps(again, params, g1, g2), two_steps(opt, params, g1, g2), strict=True):
        assert_trees_equal(got, want)


def test_an_optimizer_with_other_functions_does_not_pickle_as_a_built_in() -> None:
    """A record named like a built-in but holding other functions is not silently rebuilt as the built-in."""

    def update(grads: P, state: fnn.EmptyState, params: P) -> tuple[P, fnn.EmptyState]:
        return params, state  # never moves

    impostor = attrs.evolve(fnn.sgd(lr=0.1), update=update)
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):  # (what pickle says varies)
        pickle.dumps(impostor)


# ---------------------------------------------------------- validation ---


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lr", [0.0, -0.1])
def test_lr_must_be_positive(name: str, lr: float) -> None:
    with pytest.raises(ValueError, match=rf"lr must be > 0, got {lr}"):
        fnn.make_optimizer(name, lr=lr)


@pytest.mark.parametrize("name", NAMES)
def test_lr_must_be_finite_and_real(name: str) -> None:
    with pytest.raises(ValueError, match="lr must be finite, got nan"):
        fnn.make_optimizer(name, lr=float("nan"))
    with pytest.raises(TypeError, match="lr must be a positive number"):
        fnn.make_optimizer(name, lr="0.1")
    with pytest.raises(TypeError, match=r"lr must be a positive number or a 1-D array of them, got True \(bool\)"):
        fnn.make_optimizer(name, lr=True)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: fnn.momentum(lr=0.1, beta=1.0), r"beta must be in \[0\.0, 1\.0\), got 1\.0"),
        (lambda: fnn.momentum(lr=0.1, beta=-0.5), r"beta must be in \[0\.0, 1\.0\), got -0\.5"),
        (lambda: fnn.make_optimizer("nesterov", beta=1.5), r"beta must be in \[0\.0, 1\.0\)"),
        (lambda: fnn.adam(b1=1.0), r"b1 must be in \[0\.0, 1\.0\), got 1\.0"),
        (lambda: fnn.adam(b2=-0.1), r"b2 must be in \[0\.0, 1\.0\), got -0\.1"),
        (lambda: fnn.adam(eps=0.0), r"eps must be > 0, got 0\.0"),
        (lambda: fnn.rmsprop(decay=1.0), r"decay must be in \[0\.0, 1\.0\), got 1\.0"),
        (lambda: fnn.rmsprop(eps=-1.0), r"eps must be > 0"),
        (lambda: fnn.adagrad(eps=0.0), r"eps must be > 0"),
        (lambda: fnn.make_optimizer("lbfgs"), r"name must be one of 'sgd', .*got 'lbfgs'"),
    ],
)
def test_hyperparameter_ranges(build: Callable[[], fnn.Optimizer], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    ("lr", "error", "match"),
    [
        (np.array([0.1, 0.0]), ValueError, r"lr must hold finite values > 0"),
        (np.array([0.1, np.inf]), ValueError, r"lr must hold finite values > 0"),
        (np.ones((2, 2)), TypeError, r"lr must be a positive number or a non-empty 1-D array"),
        (np.array([]), TypeError, r"lr must be a positive number or a non-empty 1-D array"),
    ],
)
def test_per_model_lr_validation(lr: FloatArray, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        fnn.sgd(lr=lr)


# ------------------------------------------------------- per-model lr ---


@pytest.mark.parametrize("name", NAMES)
def test_per_model_lr_array_equals_separate_optimizers(name: str) -> None:
    lrs = np.array([0.01, 0.1, 0.5])
    params, g1, g2 = params_and_grads(seed=4, models=(3,))
    opt = fnn.make_optimizer(name, lr=lrs)
    assert opt.name == name
    np.testing.assert_array_equal(np.asarray(opt.lr), lrs)
    p1, p2 = two_steps(opt, params, g1, g2)

    def member(tree: fnn.Params, k: int) -> fnn.Params:
        return fnn.tree_map(lambda a: a[k], tree)

    for k, lr in enumerate(lrs):
        single = fnn.make_optimizer(name, lr=float(lr))
        q1, q2 = two_steps(single, member(params, k), member(g1, k), member(g2, k))
        for got, want in ((member(p1, k), q1), (member(p2, k), q2)):
            for a, b in zip(leaves(got), leaves(want), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-300)


def test_per_model_lr_array_is_read_only_and_callers_stays_writable() -> None:
    lrs = np.array([0.1, 0.2])
    opt = fnn.sgd(lr=lrs)
    stored = opt.lr
    assert isinstance(stored, np.ndarray) and not stored.flags.writeable
    assert lrs.flags.writeable
    assert fnn.sgd(lr=np.array([0.1, 0.2])) == opt
    assert fnn.sgd(lr=[0.1, 0.2]) == opt
