"""Optimizers: a frozen record of two pure functions and the hyperparameters they use.

    opt.init(params)                   -> state
    opt.update(grads, state, params)   -> (new params, new state)    # inputs untouched

``params`` and ``grads`` are any tree of arrays with the same structure (see
``tree``): a network's params, or a tuple of arrays.  Each algorithm has its own
frozen state record, written right above its constructor; ``opt.name`` and
``opt.hyperparams`` say which algorithm and settings made a trace.

A learning rate may be a 1-D array with one value per model, for params
stacked over a leading model axis: a learning-rate sweep is then one run.  It
may also be a schedule (``functional_nn.schedules``: ``Cosine(0.1, steps=1000)``,
...), a pure function of the step: the state is then a ``ScheduleState``, the
steps taken (one count per model of a stack) around the algorithm's own state,
and every model of a stack follows the one schedule at its own step count.

    sgd(lr=0.1)                                  p -= lr g
    momentum(lr=0.1, beta=0.9)                   v = beta v + g;  p -= lr v
    nesterov(lr=0.1, beta=0.9)                   v = beta v + g;  p -= lr (g + beta v)
    adam(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8)    bias-corrected moments, p -= lr m^ / (sqrt(v^) + eps)
    rmsprop(lr=1e-2, decay=0.9, eps=1e-8)        s = decay s + (1 - decay) g^2;  p -= lr g / (sqrt(s) + eps)
    adagrad(lr=1e-2, eps=1e-8)                   s += g^2;  p -= lr g / (sqrt(s) + eps)
    adamw(lr=1e-3, ..., weight_decay=1e-2)       p *= 1 - lr wd, then Adam's step (decoupled decay)

Every factory but adamw also takes ``weight_decay=`` (torch's L2 term: ``g += wd p``
before the step; ``decay_biases=False`` leaves the biases, the records' ``b``, out).

    OPTIMIZERS: name -> factory;  make_optimizer(name, **hyperparams) = OPTIMIZERS[name](**hyperparams)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol, TypeAlias, TypeVar, cast

import attrs
import numpy as np

from functional_nn import _validate
from functional_nn._records import FloatArray, trusted
from functional_nn.schedules import SCHEDULE_TYPES, Schedule
from functional_nn.tree import leaves, tree_equal, tree_map

__all__ = [
    "OPTIMIZERS",
    "AdagradState",
    "AdamState",
    "EmptyState",
    "MomentumState",
    "OptState",
    "Optimizer",
    "RMSPropState",
    "ScheduleState",
    "adagrad",
    "adam",
    "adamw",
    "make_optimizer",
    "momentum",
    "nesterov",
    "rmsprop",
    "sgd",
]

P = TypeVar("P")
Hyper: TypeAlias = float | FloatArray | Schedule
LearningRate: TypeAlias = float | Sequence[float] | FloatArray | Schedule
TREE_EQ = attrs.cmp_using(eq=tree_equal)


class InitFn(Protocol):
    def __call__(self, params: Any) -> OptState:
        """A fresh state for ``params`` (zeros shaped like them)."""
        ...


class UpdateFn(Protocol):
    def __call__(self, grads: P, state: Any, params: P) -> tuple[P, Any]:
        """One step: ``(new params, new state)``; the arguments are left unchanged."""
        ...


class StepFn(Protocol):
    def __call__(self, grads: P, state: Any, params: P, lr: float | FloatArray) -> tuple[P, Any]:
        """One step of an algorithm at learning rate ``lr`` (a float, or one per model)."""
        ...


def _mapping(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    del instance
    if not isinstance(value, Mapping):
        raise TypeError(f"{attribute.name} must be a mapping of names to values, got {type(value).__name__}")


@attrs.frozen
class Optimizer:
    """An optimization algorithm: its name, hyperparameters and pure init/update.

    Two optimizers compare equal when name and hyperparameters are equal.  A
    built-in optimizer pickles as its name and hyperparameters (its functions
    are closures, which pickle cannot carry), so a run can be sent to other
    processes; an optimizer of your own pickles only if its functions do.

    Example:
        >>> import numpy as np
        >>> opt = sgd(lr=0.5)
        >>> params = (np.array([1.0, 2.0]),)
        >>> new, _ = opt.update((np.array([1.0, 1.0]),), opt.init(params), params)
        >>> new[0]
        array([0.5, 1.5])
    """

    name: str = attrs.field(validator=attrs.validators.instance_of(str))
    hyperparams: Mapping[str, Hyper] = attrs.field(
        eq=attrs.cmp_using(eq=lambda a, b: _key(a) == _key(b)), validator=_mapping
    )
    init: InitFn = attrs.field(eq=False, repr=False, validator=attrs.validators.is_callable())
    update: UpdateFn = attrs.field(eq=False, repr=False, validator=attrs.validators.is_callable())

    def __reduce_ex__(self, protocol: Any) -> Any:
        factory = OPTIMIZERS.get(self.name)
        if factory is not None:
            rebuilt = factory(**self.hyperparams)
            made_with = getattr(self.update, "made_with", None)
            same = _same_code(self.init, rebuilt.init) and _same_code(self.update, rebuilt.update)
            if same and made_with is not None and _key(made_with) == _key(self.hyperparams):
                return (_rebuild, (self.name, dict(self.hyperparams)))
        return super().__reduce_ex__(protocol)

    @property
    def lr(self) -> float | FloatArray | Schedule:
        """The learning rate (a float, one per model, or a schedule)."""
        return self.hyperparams["lr"]


def _key(hyper: Mapping[str, Hyper]) -> tuple[object, ...]:
    return tuple((k, np.asarray(v).tolist()) for k, v in sorted(hyper.items()))


def _same_code(f: object, g: object) -> bool:
    """Whether ``f`` is the closure ``g``'s factory made (so the name and hyperparameters describe it)."""
    code = getattr(getattr(f, "__wrapped__", f), "__code__", None)
    return code is getattr(getattr(g, "__wrapped__", g), "__code__", 0)


@attrs.frozen
class ScheduleState:
    """State of an optimizer whose lr is a schedule: the steps taken and the algorithm's own state."""

    count: FloatArray = attrs.field(eq=TREE_EQ)  # `()` or `(models,)`: steps taken so far (the schedule's argument)
    inner: Any = attrs.field(eq=TREE_EQ)  # the algorithm's state record


def _at(step: StepFn, lr: Any) -> UpdateFn:
    """``step`` at a fixed learning rate (a float, or one per model)."""

    def update(grads: P, state: Any, params: P) -> tuple[P, Any]:
        return step(grads, state, params, lr)

    return update


def _scheduled(schedule: Any, init: InitFn, step: StepFn) -> tuple[InitFn, UpdateFn]:
    """``init`` and ``step`` under a schedule: the state counts the steps, the lr is the schedule's at
    that count."""

    def scheduled_init(params: Any) -> ScheduleState:
        return ScheduleState(count=_frozen(np.zeros(())), inner=init(params))

    def scheduled(grads: P, state: ScheduleState, params: P) -> tuple[P, ScheduleState]:
        new, inner = step(grads, state.inner, params, schedule(state.count))
        return new, ScheduleState(count=_frozen(state.count + 1.0), inner=inner)

    scheduled_init.__wrapped__ = init  # type: ignore[attr-defined]  # what _same_code compares
    return scheduled_init, scheduled


def _checked(name: str, lr: Any, raw: UpdateFn) -> UpdateFn:
    """``raw`` for users: a schedule's lr checked at the step count, bad arguments and a step that
    overflows float64 refused by name."""

    def checked(grads: P, state: Any, params: P) -> tuple[P, Any]:
        if isinstance(lr, SCHEDULE_TYPES) and isinstance(state, ScheduleState):
            lr(state.count)  # a schedule that yields no valid lr at this step: a ValueError naming it, as it is
        try:
            with np.errstate(all="ignore"):
                new, new_state = raw(grads, state, params)
        except (ValueError, TypeError, AttributeError, IndexError, KeyError) as err:
            raise ValueError(
                f"{name}.update(grads, state, params): grads must have the structure and shapes of params, and "
                f"state must come from this optimizer's init(params) ({type(err).__name__}: {err})"
            ) from None
        if not (_finite(new) and _finite(new_state)) and _finite((grads, state, params)):
            raise ValueError(
                f"{name}.update(grads, state, params): the step overflows float64 (grads, params or state too "
                "large for these hyperparameters)"
            )
        return new, new_state

    return checked


def _optimizer(
    name: str, hyperparams: dict[str, Any], init: InitFn, step: StepFn, weight_decay: float, decay_biases: bool
) -> Optimizer:
    """The record of a built-in optimizer: its update adds torch's L2 term ``weight_decay * p`` to the
    gradient first (of the biases too unless ``decay_biases`` is False), runs ``step`` at the learning
    rate (a schedule's at the step count its state keeps), and names the arguments that do not fit
    together."""
    wd = _validate.in_range("weight_decay", weight_decay, 0.0, math.inf)
    if not isinstance(decay_biases, bool):
        raise TypeError(f"decay_biases must be a bool, got {_validate.show(decay_biases)}")
    extra = {"weight_decay": wd} if wd else {}
    extra |= {} if decay_biases else {"decay_biases": False}
    hyperparams = {**hyperparams, **extra}
    lr = hyperparams["lr"]
    make, update = _scheduled(lr, init, step) if isinstance(lr, SCHEDULE_TYPES) else (init, _at(step, lr))

    def raw(grads: P, state: Any, params: P) -> tuple[P, Any]:
        """The step training folds over (no checks: a step that overflows is caught there as divergence)."""
        return update(_with_decay(grads, params, wd, decay_biases) if wd else grads, state, params)

    checked = _checked(name, lr, raw)

    def init_checked(params: Any) -> Any:
        _check_params(params)
        return make(params)

    init_checked.__wrapped__ = getattr(make, "__wrapped__", make)  # type: ignore[attr-defined]  # for _same_code
    checked.__wrapped__ = step  # type: ignore[attr-defined]  # what _same_code compares
    checked.unchecked = raw  # type: ignore[attr-defined]  # what training runs: training_update(opt)
    checked.made_with = dict(hyperparams)  # type: ignore[attr-defined]  # attrs.evolve cannot change it
    return Optimizer(name, MappingProxyType(hyperparams), init_checked, checked)


def training_update(opt: Optimizer) -> UpdateFn:
    """The update training folds over: a built-in optimizer's step without ``update``'s checks (the
    fold turns a step that overflows into divergence, per model); another optimizer's own update."""
    raw: UpdateFn = getattr(opt.update, "unchecked", opt.update)
    return raw


def _finite(tree: Any) -> bool:
    return all(bool(np.isfinite(leaf).all()) for leaf in leaves(tree))


def _check_params(params: object) -> None:
    """``params`` is a tree of real arrays (what ``init`` can build a state for), else a TypeError naming it."""
    try:
        arrays = leaves(params)
    except TypeError as err:
        raise TypeError(f"params must be a tree of arrays (records, tuples, arrays): {err}") from None
    for leaf in arrays:
        if leaf.dtype.kind not in "biuf":
            raise TypeError(f"params must hold arrays of real numbers, got dtype {leaf.dtype}")


def _with_decay(grads: P, params: P, wd: float, biases: bool) -> P:
    """``g + wd * p`` leaf by leaf; a record's field ``b`` (a bias) keeps ``g`` when ``biases`` is False."""
    if biases or not isinstance(params, tuple):
        return tree_map(lambda g, p: g + wd * p, grads, params)
    decayed = []
    for g_record, p_record in zip(cast(tuple[Any, ...], grads), params, strict=True):
        fields = {f.name: getattr(g_record, f.name) for f in attrs.fields(type(g_record))}
        for name, g in fields.items():
            if name != "b":
                fields[name] = g + wd * getattr(p_record, name)
        decayed.append(trusted(type(g_record), **fields))
    return cast(P, tuple(decayed))


def _rebuild(name: str, hyperparams: dict[str, Hyper]) -> Optimizer:
    return OPTIMIZERS[name](**hyperparams)


def _per_model(h: float | FloatArray, leaf: FloatArray) -> float | FloatArray:
    """A hyperparameter broadcast against a leaf stacked over a leading model axis."""
    if isinstance(h, float):
        return h
    return h.reshape(h.shape + (1,) * (leaf.ndim - 1))


def _zeros(params: P) -> P:
    return tree_map(np.zeros_like, params)


def _lr(lr: LearningRate) -> Hyper:
    if isinstance(lr, SCHEDULE_TYPES):
        return lr
    return _validate.positive_array("lr", lr)


# -------------------------------------------------------------- algorithms ---


@attrs.frozen
class EmptyState:
    """State of a stateless optimizer (sgd)."""


def sgd(lr: LearningRate = 0.1, *, weight_decay: float = 0.0, decay_biases: bool = True) -> Optimizer:
    """Plain gradient descent ``p -= lr * g``.

    Args:
        lr: learning rate > 0, a 1-D array of them (one per stacked model), or a schedule
            (``functional_nn.schedules``; the state is then a ``ScheduleState``), as for every optimizer.
    """
    lr_ = _lr(lr)

    def init(params: object) -> EmptyState:
        del params
        return EmptyState()

    def update(grads: P, state: EmptyState, params: P, lr: float | FloatArray) -> tuple[P, EmptyState]:
        return tree_map(lambda p, g: p - _per_model(lr, p) * g, params, grads), state

    return _optimizer("sgd", {"lr": lr_}, init, update, weight_decay, decay_biases)


@attrs.frozen
class MomentumState:
    velocity: Any = attrs.field(eq=TREE_EQ)  # tree like params: decaying sum of gradients


def momentum(
    lr: LearningRate = 0.1, beta: float = 0.9, *, weight_decay: float = 0.0, decay_biases: bool = True
) -> Optimizer:
    """Heavy-ball momentum: ``v = beta v + g``, ``p -= lr v``.

    Args:
        lr: learning rate > 0 (or one per model).
        beta: momentum in [0, 1).
    """
    lr_, beta_ = _lr(lr), _validate.in_range("beta", beta, 0.0, 1.0)

    def init(params: object) -> MomentumState:
        return MomentumState(velocity=_zeros(params))

    def update(grads: P, state: MomentumState, params: P, lr: float | FloatArray) -> tuple[P, MomentumState]:
        velocity = tree_map(lambda v, g: beta_ * v + g, state.velocity, grads)
        return tree_map(lambda p, v: p - _per_model(lr, p) * v, params, velocity), MomentumState(velocity)

    return _optimizer("momentum", {"lr": lr_, "beta": beta_}, init, update, weight_decay, decay_biases)


def nesterov(
    lr: LearningRate = 0.1, beta: float = 0.9, *, weight_decay: float = 0.0, decay_biases: bool = True
) -> Optimizer:
    """Nesterov momentum: ``v = beta v + g``, ``p -= lr (g + beta v)`` (state: ``MomentumState``)."""
    lr_, beta_ = _lr(lr), _validate.in_range("beta", beta, 0.0, 1.0)

    def init(params: object) -> MomentumState:
        return MomentumState(velocity=_zeros(params))

    def update(grads: P, state: MomentumState, params: P, lr: float | FloatArray) -> tuple[P, MomentumState]:
        velocity = tree_map(lambda v, g: beta_ * v + g, state.velocity, grads)
        new = tree_map(lambda p, g, v: p - _per_model(lr, p) * (g + beta_ * v), params, grads, velocity)
        return new, MomentumState(velocity)

    return _optimizer("nesterov", {"lr": lr_, "beta": beta_}, init, update, weight_decay, decay_biases)


@attrs.frozen
class AdamState:
    count: FloatArray = attrs.field(eq=TREE_EQ)  # `()` or `(models,)`: steps taken so far
    mu: Any = attrs.field(eq=TREE_EQ)  # tree like params: first moment (mean of g)
    nu: Any = attrs.field(eq=TREE_EQ)  # tree like params: second moment (mean of g**2)


def adam(
    lr: LearningRate = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    weight_decay: float = 0.0,
    decay_biases: bool = True,
) -> Optimizer:
    """Adam with bias correction (Kingma & Ba, 2015).

    The first step moves every parameter by about ``lr * sign(g)``.

    Args:
        lr: step size > 0 (or one per model).
        b1, b2: decay rates of the moment estimates, in [0, 1).
        eps: > 0, added to the root of the second moment.
        weight_decay, decay_biases: torch's L2 term ``weight_decay * p``, added to the
            gradient (``adamw`` decouples it instead).
    """
    init, update, hyper = _adam("adam", lr, b1, b2, eps, 0.0)
    return _optimizer("adam", hyper, init, update, weight_decay, decay_biases)


def adamw(
    lr: LearningRate = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, weight_decay: float = 1e-2
) -> Optimizer:
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019; torch's AdamW):
    ``p <- p (1 - lr weight_decay)``, then Adam's step from the gradient alone (state: ``AdamState``)."""
    init, update, hyper = _adam("adamw", lr, b1, b2, eps, weight_decay)
    return _optimizer("adamw", hyper, init, update, 0.0, True)


def _adam(
    name: str, lr: LearningRate, b1: float, b2: float, eps: float, decoupled: float
) -> tuple[InitFn, StepFn, dict[str, Any]]:
    lr_ = _lr(lr)
    b1_, b2_ = _validate.in_range("b1", b1, 0.0, 1.0), _validate.in_range("b2", b2, 0.0, 1.0)
    eps_ = _validate.positive("eps", eps)
    wd_ = _validate.in_range("weight_decay", decoupled, 0.0, math.inf)

    def init(params: object) -> AdamState:
        return AdamState(count=np.zeros(()), mu=_zeros(params), nu=_zeros(params))

    def update(grads: P, state: AdamState, params: P, lr: float | FloatArray) -> tuple[P, AdamState]:
        count = state.count + 1.0
        mu = tree_map(lambda m, g: b1_ * m + (1.0 - b1_) * g, state.mu, grads)
        nu = tree_map(lambda v, g: b2_ * v + (1.0 - b2_) * (g * g), state.nu, grads)
        c1, c2 = 1.0 - b1_**count, 1.0 - b2_**count  # bias corrections, one per model

        def step(p: FloatArray, m: FloatArray, v: FloatArray) -> FloatArray:
            lr_p = _per_model(lr, p)
            if wd_:  # AdamW: the decay, decoupled from the gradient's moments
                p = p * (1.0 - lr_p * wd_)
            m_hat = m / _per_model(c1, m)
            v_hat = v / _per_model(c2, v)
            return p - lr_p * m_hat / (np.sqrt(v_hat) + eps_)

        return tree_map(step, params, mu, nu), AdamState(count=_frozen(count), mu=mu, nu=nu)

    hyper: dict[str, Any] = {"lr": lr_, "b1": b1_, "b2": b2_, "eps": eps_}
    return init, update, hyper | ({"weight_decay": wd_} if name == "adamw" else {})


@attrs.frozen
class RMSPropState:
    nu: Any = attrs.field(eq=TREE_EQ)  # tree like params: running mean of g**2


def rmsprop(
    lr: LearningRate = 1e-2,
    decay: float = 0.9,
    eps: float = 1e-8,
    *,
    weight_decay: float = 0.0,
    decay_biases: bool = True,
) -> Optimizer:
    """RMSprop: ``s = decay s + (1 - decay) g^2``, ``p -= lr g / (sqrt(s) + eps)``."""
    lr_, decay_ = _lr(lr), _validate.in_range("decay", decay, 0.0, 1.0)
    eps_ = _validate.positive("eps", eps)

    def init(params: object) -> RMSPropState:
        return RMSPropState(nu=_zeros(params))

    def update(grads: P, state: RMSPropState, params: P, lr: float | FloatArray) -> tuple[P, RMSPropState]:
        nu = tree_map(lambda v, g: decay_ * v + (1.0 - decay_) * (g * g), state.nu, grads)
        new = tree_map(lambda p, g, v: p - _per_model(lr, p) * g / (np.sqrt(v) + eps_), params, grads, nu)
        return new, RMSPropState(nu)

    return _optimizer("rmsprop", {"lr": lr_, "decay": decay_, "eps": eps_}, init, update, weight_decay, decay_biases)


@attrs.frozen
class AdagradState:
    sum_sq: Any = attrs.field(eq=TREE_EQ)  # tree like params: running sum of g**2


def adagrad(
    lr: LearningRate = 1e-2, eps: float = 1e-8, *, weight_decay: float = 0.0, decay_biases: bool = True
) -> Optimizer:
    """Adagrad: ``s += g^2``, ``p -= lr g / (sqrt(s) + eps)``."""
    lr_, eps_ = _lr(lr), _validate.positive("eps", eps)

    def init(params: object) -> AdagradState:
        return AdagradState(sum_sq=_zeros(params))

    def update(grads: P, state: AdagradState, params: P, lr: float | FloatArray) -> tuple[P, AdagradState]:
        sum_sq = tree_map(lambda s, g: s + g * g, state.sum_sq, grads)
        new = tree_map(lambda p, g, s: p - _per_model(lr, p) * g / (np.sqrt(s) + eps_), params, grads, sum_sq)
        return new, AdagradState(sum_sq)

    return _optimizer("adagrad", {"lr": lr_, "eps": eps_}, init, update, weight_decay, decay_biases)


OptState: TypeAlias = EmptyState | MomentumState | AdamState | RMSPropState | AdagradState | ScheduleState
"""The state record of any built-in optimizer."""


def _frozen(a: FloatArray) -> FloatArray:
    a = np.asarray(a, dtype=np.float64)
    a.flags.writeable = False
    return a


OPTIMIZERS: Mapping[str, Callable[..., Optimizer]] = MappingProxyType(
    {
        "sgd": sgd,
        "momentum": momentum,
        "nesterov": nesterov,
        "adam": adam,
        "adamw": adamw,
        "rmsprop": rmsprop,
        "adagrad": adagrad,
    }
)
"""Every optimizer factory by name; tests are parametrized over it."""


def make_optimizer(name: str, **hyperparams: Any) -> Optimizer:
    """``OPTIMIZERS[name](**hyperparams)``: the factory's own defaults for what is not given.

    Example:
        >>> make_optimizer("adam", lr=0.01).hyperparams["lr"]
        0.01
    """
    return OPTIMIZERS[_validate.choice("name", name, tuple(OPTIMIZERS))](**hyperparams)
