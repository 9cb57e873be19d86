"""Optimizers: a frozen record of two pure functions and its hyperparameters.

    opt.init(params)                   -> state
    opt.update(grads, state, params)   -> (new params, new state)    # inputs untouched

``params`` and ``grads`` are any tree of arrays with the same structure (see
``tree``): a network's Params, or a tuple of arrays.  States are frozen records
holding trees of that same structure.  ``opt.name`` and ``opt.hyperparams`` say
which algorithm and settings made a trace.

A learning rate (or any scalar hyperparameter named in ``PER_MODEL``) may be a
1-D array with one value per model, for params stacked over a leading model
axis: a learning-rate sweep is then one stacked run.

    sgd(lr)                                      p -= lr g
    momentum(lr, beta=0.9, *, nesterov=False)    v = beta v + g;  p -= lr v   (nesterov: p -= lr (g + beta v))
    adam(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8)    bias-corrected moments, p -= lr m^ / (sqrt(v^) + eps)
    rmsprop(lr=1e-2, decay=0.9, eps=1e-8)        s = decay s + (1 - decay) g^2;  p -= lr g / (sqrt(s) + eps)
    adagrad(lr=1e-2, eps=1e-8)                   s += g^2;  p -= lr g / (sqrt(s) + eps)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol, TypeAlias, TypeVar, cast

import attrs
import numpy as np

from functional_nn import _validate
from functional_nn._records import FloatArray
from functional_nn.tree import tree_equal, tree_map

__all__ = [
    "OPTIMIZERS",
    "AdagradState",
    "AdamState",
    "EmptyState",
    "MomentumState",
    "OptState",
    "Optimizer",
    "RMSPropState",
    "adagrad",
    "adam",
    "make_optimizer",
    "momentum",
    "rmsprop",
    "sgd",
]

P = TypeVar("P")
Hyper: TypeAlias = float | bool | FloatArray


# ---------------------------------------------------------------- states ---


TREE_EQ = attrs.cmp_using(eq=tree_equal)


@attrs.frozen
class EmptyState:
    """State of a stateless optimizer (sgd)."""


@attrs.frozen
class MomentumState:
    velocity: object = attrs.field(eq=TREE_EQ)  # tree like params: running sum of gradients


@attrs.frozen
class AdamState:
    count: FloatArray = attrs.field(
        eq=TREE_EQ
    )  # `()` or `(models,)`: steps taken so far (per model once models stop at different epochs)
    mu: object = attrs.field(eq=TREE_EQ)  # tree like params: first moment (mean of g)
    nu: object = attrs.field(eq=TREE_EQ)  # tree like params: second moment (mean of g**2)


@attrs.frozen
class RMSPropState:
    nu: object = attrs.field(eq=TREE_EQ)  # tree like params: running mean of g**2


@attrs.frozen
class AdagradState:
    sum_sq: object = attrs.field(eq=TREE_EQ)  # tree like params: running sum of g**2


OptState: TypeAlias = EmptyState | MomentumState | AdamState | RMSPropState | AdagradState


class InitFn(Protocol):
    def __call__(self, params: object) -> OptState:
        """A fresh state for ``params`` (zeros shaped like them)."""
        ...


class UpdateFn(Protocol):
    def __call__(self, grads: P, state: OptState, params: P) -> tuple[P, OptState]:
        """One step: ``(new params, new state)``; the arguments are left unchanged."""
        ...


class StepInto(Protocol):
    def __call__(
        self, grads: FloatArray, state: OptState, params: FloatArray, buffer: Callable[[str], FloatArray], /
    ) -> tuple[FloatArray, OptState]:
        """``update`` on flat arrays, writing every new array into ``buffer(role)``.

        The same arithmetic in the same order as ``update``, so the results are
        bit-identical.  The training loop passes buffers it reuses (a ring of
        three per role that is kept, one per temporary role ``"tmp..."``), so a
        step allocates nothing.
        """
        ...


@attrs.frozen
class Optimizer:
    """An optimization algorithm: its name, hyperparameters and pure init/update.

    Two optimizers compare equal when name and hyperparameters are equal.

    Example:
        >>> import numpy as np
        >>> opt = sgd(lr=0.5)
        >>> params = (np.array([1.0, 2.0]),)
        >>> new, _ = opt.update((np.array([1.0, 1.0]),), opt.init(params), params)
        >>> new[0]
        array([0.5, 1.5])
    """

    name: str
    hyperparams: Mapping[str, Hyper] = attrs.field(eq=False)
    init: InitFn = attrs.field(eq=False, repr=False)
    update: UpdateFn = attrs.field(eq=False, repr=False)
    step_into: StepInto | None = attrs.field(default=None, eq=False, repr=False)
    _key: tuple[object, ...] = attrs.field(init=False, repr=False)

    @_key.default
    def _make_key(self) -> tuple[object, ...]:
        return tuple(
            (k, tuple(np.asarray(v).ravel().tolist()) if isinstance(v, np.ndarray) else v)
            for k, v in sorted(self.hyperparams.items())
        )

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickle a built-in optimizer as its name and hyperparameters.

        Its init/update functions are closures, which pickle cannot carry, so
        the copy is rebuilt by ``make_optimizer`` (equal, and computing the
        same bits).  That is what lets ``train(..., executor=ProcessPoolExecutor())``
        send a run to other processes.  Any other optimizer pickles field by
        field, so only if its functions can be pickled.
        """
        if _built_in(self):
            return (_rebuild, (self.name, dict(self.hyperparams)))
        return super().__reduce_ex__(protocol)

    @property
    def lr(self) -> float | FloatArray:
        """The learning rate (a float, or one per model)."""
        value = self.hyperparams["lr"]
        assert not isinstance(value, bool)
        return value


_FACTORIES = ("sgd", "momentum", "adam", "rmsprop", "adagrad")


def _built_in(opt: Optimizer) -> bool:
    """Whether ``opt`` is as one of this module's factories made it: their closures, stamped by
    ``_make`` with the name and hyperparameters they compute with (``attrs.evolve`` cannot fake them)."""
    fns = [f for f in (opt.init, opt.update, opt.step_into) if f is not None]
    return opt.name in OPTIMIZERS and all(
        getattr(f, "__module__", None) == __name__
        and getattr(f, "__qualname__", "").split(".")[0] in _FACTORIES
        and getattr(f, "_made_as", None) == (opt.name, opt._key)
        for f in fns
    )


def _rebuild(name: str, hyperparams: dict[str, Hyper]) -> Optimizer:
    return make_optimizer(name, **hyperparams)


def _per_model(h: float | FloatArray, leaf: FloatArray) -> float | FloatArray:
    """A hyperparameter broadcast against a leaf stacked over leading model axes."""
    if isinstance(h, float):
        return h
    if leaf.shape[: h.ndim] != h.shape:
        raise ValueError(
            f"a per-model hyperparameter (e.g. lr) has {h.shape[0]} values, one per model, but the params' "
            f"leading model axis is {leaf.shape[:1] if leaf.ndim else '()'}; stack {h.shape[0]} models (init(net, seed=[...]))"
        )
    return h.reshape(h.shape + (1,) * (leaf.ndim - h.ndim))


def _frozen(a: FloatArray) -> FloatArray:
    a = np.asarray(a, dtype=np.float64)
    a.flags.writeable = False
    return a


def _scalar_or_array(a: FloatArray) -> float | FloatArray:
    """A 0-d array as a Python float (broadcasts anywhere), else the per-model array."""
    return float(a) if a.ndim == 0 else a


def _make(
    name: str, hyperparams: dict[str, Hyper], init: InitFn, update: UpdateFn, step_into: StepInto | None = None
) -> Optimizer:
    opt = Optimizer(name=name, hyperparams=MappingProxyType(hyperparams), init=init, update=update, step_into=step_into)
    for f in (init, update, step_into):
        if f is not None:
            setattr(f, "_made_as", (name, opt._key))  # noqa: B010 (the Protocol types have no such attribute)
    return opt


Buffer: TypeAlias = Callable[[str], FloatArray]


def _scaled_step(
    g: FloatArray, p: FloatArray, s: FloatArray, lr: float | FloatArray, eps: float, buffer: Buffer
) -> FloatArray:
    """``p - lr * g / (sqrt(s) + eps)`` into buffers, in the order the pure updates compute it."""
    step = np.multiply(g, _per_model(lr, p), out=buffer("tmp"))
    root = np.sqrt(s, out=buffer("tmp2"))
    root += eps
    step /= root
    return np.subtract(p, step, out=buffer("params"))


def _zeros(params: object) -> object:
    return tree_map(np.zeros_like, params)


# ------------------------------------------------------------ algorithms ---


def sgd(lr: float | Sequence[float] | FloatArray) -> Optimizer:
    """Plain gradient descent ``p -= lr * g``.

    Args:
        lr: learning rate > 0, or a 1-D array of them (one per stacked model).
    """
    lr_ = _validate.positive_array("lr", lr)

    def init(params: object) -> OptState:
        del params
        return EmptyState()

    def update(grads: P, state: OptState, params: P) -> tuple[P, OptState]:
        return tree_map(lambda p, g: p - _per_model(lr_, p) * g, params, grads), state

    def step_into(g: FloatArray, state: OptState, p: FloatArray, buffer: Buffer) -> tuple[FloatArray, OptState]:
        t = np.multiply(g, _per_model(lr_, p), out=buffer("tmp"))
        return np.subtract(p, t, out=buffer("params")), state

    return _make("sgd", {"lr": lr_}, init, update, step_into)


def momentum(lr: float | Sequence[float] | FloatArray, beta: float = 0.9, *, nesterov: bool = False) -> Optimizer:
    """Heavy-ball momentum: ``v = beta v + g``, ``p -= lr v`` (Nesterov: ``p -= lr (g + beta v)``).

    Args:
        lr: learning rate > 0 (or one per model).
        beta: momentum in [0, 1).
        nesterov: use Nesterov's look-ahead form.
    """
    lr_ = _validate.positive_array("lr", lr)
    beta_ = _validate.in_range("beta", beta, 0.0, 1.0)
    if not isinstance(nesterov, bool):
        raise TypeError(f"nesterov must be a bool, got {_validate.show(nesterov)}")

    def init(params: object) -> OptState:
        return MomentumState(velocity=_zeros(params))

    def update(grads: P, state: OptState, params: P) -> tuple[P, OptState]:
        assert isinstance(state, MomentumState)
        velocity = tree_map(lambda v, g: beta_ * v + g, cast(P, state.velocity), grads)
        if nesterov:
            new = tree_map(lambda p, g, v: p - _per_model(lr_, p) * (g + beta_ * v), params, grads, velocity)
        else:
            new = tree_map(lambda p, v: p - _per_model(lr_, p) * v, params, velocity)
        return new, MomentumState(velocity=velocity)

    def step_into(g: FloatArray, state: OptState, p: FloatArray, buffer: Buffer) -> tuple[FloatArray, OptState]:
        assert isinstance(state, MomentumState)
        v = np.multiply(cast(FloatArray, state.velocity), beta_, out=buffer("velocity"))
        v += g
        if nesterov:
            t = np.multiply(v, beta_, out=buffer("tmp"))
            t += g
            t *= _per_model(lr_, p)
        else:
            t = np.multiply(v, _per_model(lr_, p), out=buffer("tmp"))
        return np.subtract(p, t, out=buffer("params")), MomentumState(velocity=v)

    return _make(
        "nesterov" if nesterov else "momentum",
        {"lr": lr_, "beta": beta_, "nesterov": nesterov},
        init,
        update,
        step_into,
    )


def adam(
    lr: float | Sequence[float] | FloatArray = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> Optimizer:
    """Adam with bias correction (Kingma & Ba, 2015).

    The first step moves every parameter by about ``lr * sign(g)``.

    Args:
        lr: step size > 0 (or one per model).
        b1, b2: decay rates of the moment estimates, in [0, 1).
        eps: > 0, added to the root of the second moment.
    """
    lr_ = _validate.positive_array("lr", lr)
    b1_ = _validate.in_range("b1", b1, 0.0, 1.0)
    b2_ = _validate.in_range("b2", b2, 0.0, 1.0)
    eps_ = _validate.positive("eps", eps)

    def init(params: object) -> OptState:
        return AdamState(count=_frozen(np.zeros(())), mu=_zeros(params), nu=_zeros(params))

    def update(grads: P, state: OptState, params: P) -> tuple[P, OptState]:
        assert isinstance(state, AdamState)
        count = _frozen(state.count + 1.0)
        mu = tree_map(lambda m, g: b1_ * m + (1.0 - b1_) * g, cast(P, state.mu), grads)
        nu = tree_map(lambda v, g: b2_ * v + (1.0 - b2_) * (g * g), cast(P, state.nu), grads)
        c1 = _scalar_or_array(1.0 - b1_**count)
        c2 = _scalar_or_array(1.0 - b2_**count)
        new = tree_map(
            lambda p, m, v: p - _per_model(lr_, p) * (m / _per_model(c1, m)) / (np.sqrt(v / _per_model(c2, v)) + eps_),
            params,
            mu,
            nu,
        )
        return new, AdamState(count=count, mu=mu, nu=nu)

    def step_into(g: FloatArray, state: OptState, p: FloatArray, buffer: Buffer) -> tuple[FloatArray, OptState]:
        assert isinstance(state, AdamState)
        count = _frozen(state.count + 1.0)
        mu = np.multiply(cast(FloatArray, state.mu), b1_, out=buffer("mu"))
        mu += np.multiply(g, 1.0 - b1_, out=buffer("tmp"))
        nu = np.multiply(cast(FloatArray, state.nu), b2_, out=buffer("nu"))
        t = np.multiply(g, g, out=buffer("tmp"))
        t *= 1.0 - b2_
        nu += t
        c1 = _scalar_or_array(1.0 - b1_**count)
        c2 = _scalar_or_array(1.0 - b2_**count)
        step = np.divide(mu, _per_model(c1, mu), out=buffer("tmp"))
        step *= _per_model(lr_, p)
        root = np.divide(nu, _per_model(c2, nu), out=buffer("tmp2"))
        np.sqrt(root, out=root)
        root += eps_
        step /= root
        return np.subtract(p, step, out=buffer("params")), AdamState(count=count, mu=mu, nu=nu)

    return _make("adam", {"lr": lr_, "b1": b1_, "b2": b2_, "eps": eps_}, init, update, step_into)


def rmsprop(lr: float | Sequence[float] | FloatArray = 1e-2, decay: float = 0.9, eps: float = 1e-8) -> Optimizer:
    """RMSprop: ``s = decay s + (1 - decay) g^2``, ``p -= lr g / (sqrt(s) + eps)``."""
    lr_ = _validate.positive_array("lr", lr)
    decay_ = _validate.in_range("decay", decay, 0.0, 1.0)
    eps_ = _validate.positive("eps", eps)

    def init(params: object) -> OptState:
        return RMSPropState(nu=_zeros(params))

    def update(grads: P, state: OptState, params: P) -> tuple[P, OptState]:
        assert isinstance(state, RMSPropState)
        nu = tree_map(lambda v, g: decay_ * v + (1.0 - decay_) * (g * g), cast(P, state.nu), grads)
        new = tree_map(lambda p, g, v: p - _per_model(lr_, p) * g / (np.sqrt(v) + eps_), params, grads, nu)
        return new, RMSPropState(nu=nu)

    def step_into(g: FloatArray, state: OptState, p: FloatArray, buffer: Buffer) -> tuple[FloatArray, OptState]:
        assert isinstance(state, RMSPropState)
        nu = np.multiply(cast(FloatArray, state.nu), decay_, out=buffer("nu"))
        t = np.multiply(g, g, out=buffer("tmp"))
        t *= 1.0 - decay_
        nu += t
        return _scaled_step(g, p, nu, lr_, eps_, buffer), RMSPropState(nu=nu)

    return _make("rmsprop", {"lr": lr_, "decay": decay_, "eps": eps_}, init, update, step_into)


def adagrad(lr: float | Sequence[float] | FloatArray = 1e-2, eps: float = 1e-8) -> Optimizer:
    """Adagrad: ``s += g^2``, ``p -= lr g / (sqrt(s) + eps)``."""
    lr_ = _validate.positive_array("lr", lr)
    eps_ = _validate.positive("eps", eps)

    def init(params: object) -> OptState:
        return AdagradState(sum_sq=_zeros(params))

    def update(grads: P, state: OptState, params: P) -> tuple[P, OptState]:
        assert isinstance(state, AdagradState)
        sum_sq = tree_map(lambda s, g: s + g * g, cast(P, state.sum_sq), grads)
        new = tree_map(lambda p, g, s: p - _per_model(lr_, p) * g / (np.sqrt(s) + eps_), params, grads, sum_sq)
        return new, AdagradState(sum_sq=sum_sq)

    def step_into(g: FloatArray, state: OptState, p: FloatArray, buffer: Buffer) -> tuple[FloatArray, OptState]:
        assert isinstance(state, AdagradState)
        t = np.multiply(g, g, out=buffer("tmp"))
        sum_sq = np.add(cast(FloatArray, state.sum_sq), t, out=buffer("sum_sq"))
        return _scaled_step(g, p, sum_sq, lr_, eps_, buffer), AdagradState(sum_sq=sum_sq)

    return _make("adagrad", {"lr": lr_, "eps": eps_}, init, update, step_into)


OPTIMIZERS: Mapping[str, dict[str, Hyper]] = MappingProxyType(
    {
        "sgd": {"lr": 0.1},
        "momentum": {"lr": 0.1, "beta": 0.9},
        "nesterov": {"lr": 0.1, "beta": 0.9, "nesterov": True},
        "adam": {"lr": 1e-2},
        "rmsprop": {"lr": 1e-2},
        "adagrad": {"lr": 0.1},
    }
)
"""Every optimizer by name with default hyperparameters; tests are parametrized over it."""


def make_optimizer(name: str, **hyperparams: Hyper) -> Optimizer:
    """Build an optimizer by name (``OPTIMIZERS``); keyword arguments override its defaults.

    Example:
        >>> make_optimizer("adam", lr=0.01).hyperparams["lr"]
        0.01
    """
    _validate.choice("optimizer", name, tuple(OPTIMIZERS))
    kwargs: dict[str, Hyper] = {**OPTIMIZERS[name], **hyperparams}
    build: Any = {
        "sgd": sgd,
        "momentum": momentum,
        "nesterov": momentum,
        "adam": adam,
        "rmsprop": rmsprop,
        "adagrad": adagrad,
    }[name]
    opt: Optimizer = build(**kwargs)
    return opt
