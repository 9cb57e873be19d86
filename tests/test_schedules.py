"""Learning-rate schedules (issue 13, part 5): each against its formula; any optimizer takes one as its
lr (a constant schedule gives the float's bits); the step count lives in the optimizer state, so resume
is bit-exact; ``trace.lr`` records each epoch's lr through member(), stacks, save/load and resume."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import io as fio

DATA = fnn.generate_circle(60, noise=0.2, seed=1)
NET = fnn.mlp((2, 6, 1), hidden="tanh", output="sigmoid")
STEPS = np.arange(0, 40)

FORMULAS: dict[str, tuple[fnn.Schedule, Callable[[int], float]]] = {
    "constant": (fnn.Constant(0.3), lambda t: 0.3),
    "step_decay": (fnn.StepDecay(0.3, factor=0.5, every=7), lambda t: 0.3 * 0.5 ** math.floor(t / 7)),
    "exponential": (fnn.Exponential(0.3, decay=0.9, every=3), lambda t: 0.3 * 0.9 ** (t / 3)),
    "cosine": (
        fnn.Cosine(0.3, steps=25, alpha=0.1),
        lambda t: 0.3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 25) / 25))),
    ),
    "warmup_cosine": (
        fnn.WarmupCosine(0.3, warmup=5, steps=30, alpha=0.1),
        lambda t: (
            0.3 * (t + 1) / 5 if t < 5 else 0.3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t - 5, 25) / 25)))
        ),
    ),
}


def test_every_schedule_has_a_formula_test() -> None:
    assert set(FORMULAS) == set(fnn.SCHEDULES)
    for name, (schedule, _) in FORMULAS.items():
        assert type(schedule) is fnn.SCHEDULES[name] and schedule.name == name


@pytest.mark.parametrize("name", list(FORMULAS))
def test_schedule_against_its_formula(name: str) -> None:
    schedule, formula = FORMULAS[name]
    for t in STEPS:
        got = schedule(int(t))
        assert isinstance(got, float)
        assert got == pytest.approx(formula(int(t)), rel=1e-14, abs=0.0), (name, t)
    as_array = schedule(STEPS.astype(np.float64))  # one count per model of a stack
    np.testing.assert_allclose(as_array, [formula(int(t)) for t in STEPS], rtol=1e-14)


def test_schedule_shapes_at_the_ends() -> None:
    warm = fnn.WarmupCosine(1.0, warmup=4, steps=14, alpha=0.2)
    assert warm(0) == 0.25 and warm(3) == 1.0 and warm(4) == 1.0 and warm(14) == pytest.approx(0.2)
    assert warm(10**6) == pytest.approx(0.2)  # constant after the decay
    assert fnn.Cosine(2.0, steps=10, alpha=0.5)(10**9) == 1.0
    assert fnn.StepDecay(1.0, factor=0.5, every=2)(5) == 0.25


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: fnn.Constant(0.0), "lr must be > 0"),
        (lambda: fnn.Constant(float("nan")), "lr must be finite"),
        (lambda: fnn.Constant(-1.0), "lr must be > 0"),
        (lambda: fnn.StepDecay(0.1, factor=0.0, every=3), r"factor must be in \(0, 1\]"),
        (lambda: fnn.StepDecay(0.1, factor=1.5, every=3), r"factor must be in \(0, 1\]"),
        (lambda: fnn.StepDecay(0.1, factor=0.5, every=0), "every must be an integer >= 1"),
        (lambda: fnn.Exponential(0.1, decay=-0.5), r"decay must be in \(0, 1\]"),
        (lambda: fnn.Exponential(float("inf"), decay=0.5), "lr must be finite"),
        (lambda: fnn.Cosine(0.1, steps=10, alpha=0.0), r"alpha must be in \(0, 1\]"),
        (lambda: fnn.Cosine(0.1, steps=0), "steps must be an integer >= 1"),
        (lambda: fnn.WarmupCosine(0.1, warmup=10, steps=10), "steps must be greater than warmup"),
        (lambda: fnn.WarmupCosine(0.1, warmup=0, steps=10), "warmup must be an integer >= 1"),
    ],
)
def test_settings_that_yield_no_valid_lr_are_refused_at_construction(make: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()  # type: ignore[operator]


def test_bad_kinds_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match="lr must be a real number"):
        fnn.Constant("0.1")
    with pytest.raises(TypeError, match="steps must be an integer"):
        fnn.Cosine(0.1, steps=10.5)
    with pytest.raises(ValueError, match="step must be a number >= 0"):
        fnn.Constant(0.1)(-1)


def test_a_schedule_decayed_to_zero_is_refused_when_evaluated_naming_it() -> None:
    decayed = fnn.StepDecay(1e-300, factor=1e-10, every=1)  # valid settings; 0 in float64 from step 3 on
    assert decayed(2) > 0.0
    with pytest.raises(ValueError, match=r"lr schedule StepDecay\(.*\) yields lr 0.0 at step 3"):
        decayed(3)
    opt = fnn.sgd(lr=decayed)
    params = fnn.init(NET, seed=0)
    state = opt.init(params)
    grads = fnn.tree_map(np.ones_like, params)
    for _ in range(3):
        params, state = opt.update(grads, state, params)
    with pytest.raises(ValueError, match="lr schedule StepDecay"):
        opt.update(grads, state, params)
    # training checks the run's first and last steps before it starts
    cfg = fnn.TrainConfig(epochs=4, optimizer=opt, loss="bce")
    with pytest.raises(
        ValueError, match=r"optimizer lr: lr schedule StepDecay.* at step 3.*within the 4 steps of this run"
    ):
        fnn.train(NET, fnn.init(NET, seed=0), DATA, cfg)
    cfg2 = fnn.TrainConfig(epochs=2, optimizer=opt, loss="bce", batch_size=20)  # 3 steps an epoch
    with pytest.raises(ValueError, match="within the 6 steps of this run"):
        fnn.train(NET, fnn.init(NET, seed=0), DATA, cfg2)
    ok = fnn.train(NET, fnn.init(NET, seed=0), DATA, attrs.evolve(cfg, epochs=3))
    with pytest.raises(ValueError, match="within the 4 steps of this run"):
        fnn.resume(ok, DATA, 1)  # the resumed run would reach step 3


@pytest.mark.parametrize("opt_name", tuple(fnn.OPTIMIZERS))
@pytest.mark.parametrize("batch_size", [None, 16])
def test_constant_schedule_is_bit_identical_to_the_float(opt_name: str, batch_size: int | None) -> None:
    cfg = fnn.TrainConfig(epochs=5, optimizer=fnn.make_optimizer(opt_name, lr=0.05), loss="bce", batch_size=batch_size)
    plain = fnn.train(NET, fnn.init(NET, seed=2), DATA, cfg, engine="reference")
    scheduled_cfg = attrs.evolve(cfg, optimizer=fnn.make_optimizer(opt_name, lr=fnn.Constant(0.05)))
    scheduled = fnn.train(NET, fnn.init(NET, seed=2), DATA, scheduled_cfg)
    fnn.tree.tree_equal(scheduled.params, plain.params)
    diff = fnn.compare_traces(scheduled, plain)
    assert diff.equal, diff.reason
    assert isinstance(scheduled.opt_state, fnn.ScheduleState)
    np.testing.assert_array_equal(scheduled.opt_state.count, 5 * (1 if batch_size is None else 4))


@pytest.mark.parametrize("opt_name", tuple(fnn.OPTIMIZERS))
def test_optimizer_steps_at_the_schedules_lr(opt_name: str) -> None:
    """Step k of a scheduled optimizer equals step k of the same algorithm at the float lr schedule(k):
    the float-lr optimizers' states carried along."""
    schedule = fnn.WarmupCosine(0.2, warmup=2, steps=6)
    params = fnn.init(NET, seed=3)
    rng = np.random.default_rng(4)
    scheduled = fnn.make_optimizer(opt_name, lr=schedule)
    state = scheduled.init(params)
    assert isinstance(state, fnn.ScheduleState)
    p_sched, p_float, inner = params, params, fnn.make_optimizer(opt_name, lr=1.0).init(params)
    for k in range(8):
        grads = fnn.tree_map(lambda a: rng.standard_normal(a.shape), params)
        p_sched, state = scheduled.update(grads, state, p_sched)
        p_float, inner = fnn.make_optimizer(opt_name, lr=schedule(k)).update(grads, inner, p_float)
        assert fnn.tree.tree_equal(p_sched, p_float), (opt_name, k)
        assert fnn.tree.tree_equal(state.inner, inner)
        assert float(state.count) == k + 1


def test_trace_records_the_lr_of_each_epochs_first_update() -> None:
    schedule = fnn.StepDecay(0.1, factor=0.5, every=3)
    full = fnn.train(
        NET, fnn.init(NET, seed=0), DATA, fnn.TrainConfig(epochs=7, optimizer=fnn.sgd(lr=schedule), loss="bce")
    )
    assert full.lr is not None
    np.testing.assert_array_equal(full.lr, [schedule(e) for e in range(7)])  # one step per epoch
    cfg = fnn.TrainConfig(epochs=4, optimizer=fnn.adam(lr=schedule), loss="bce", batch_size=25)  # 3 steps an epoch
    mini = fnn.train(NET, fnn.init(NET, seed=0), DATA, cfg)
    assert mini.lr is not None
    np.testing.assert_array_equal(mini.lr, [schedule(3 * e) for e in range(4)])
    flat = fnn.train(NET, fnn.init(NET, seed=0), DATA, attrs.evolve(cfg, optimizer=fnn.adam(lr=0.01)))
    assert flat.lr is not None
    np.testing.assert_array_equal(flat.lr, np.full(4, 0.01))
    progress = list(fnn.train_iter(NET, fnn.init(NET, seed=0), DATA, cfg))
    assert [float(p.lr) for p in progress if p.lr is not None] == mini.lr.tolist()


def test_trace_lr_of_a_stack_and_a_custom_optimizer() -> None:
    lrs = np.array([0.1, 0.2, 0.05])
    cfg = fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=lrs), loss="bce", seed=[0, 1, 2])
    stack = fnn.train(NET, fnn.init(NET, seed=[0, 1, 2]), DATA, cfg)
    assert stack.lr is not None
    np.testing.assert_array_equal(stack.lr, np.tile(lrs, (3, 1)))
    member = stack.member(2).lr
    assert member is not None
    np.testing.assert_array_equal(member, [0.05] * 3)

    def update(grads: Any, state: Any, params: Any) -> tuple[Any, Any]:
        return fnn.tree_map(lambda p, g: p - 0.1 * g, params, grads), state

    custom = fnn.Optimizer("mine", {}, lambda params: fnn.EmptyState(), update)
    trace = fnn.train(NET, fnn.init(NET, seed=0), DATA, fnn.TrainConfig(epochs=2, optimizer=custom, loss="bce"))
    assert trace.lr is None  # no lr among its hyperparameters


@pytest.mark.parametrize("engine", ["fast", "reference"])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_stack_equals_singles_and_stopped_models_keep_their_count(engine: str, batch_size: int | None) -> None:
    """Every model of a stack follows the one schedule at its own step count (a model that stopped
    keeps its count), as it does alone."""
    seeds = [0, 5, 9]
    schedule = fnn.Cosine(0.5, steps=40, alpha=0.05)
    cfg = fnn.TrainConfig(
        epochs=12,
        optimizer=fnn.momentum(lr=schedule),
        loss="bce",
        batch_size=batch_size,
        seed=seeds,
        stop_loss=0.5 if batch_size is None else 0.35,
    )
    stack = fnn.train(NET, fnn.init(NET, seed=seeds), DATA, cfg, engine=engine, workers=2)
    assert len(set(stack.stop_epoch.tolist())) > 1  # the stop rule cut some models short
    per_epoch = 1 if batch_size is None else 4
    assert isinstance(stack.opt_state, fnn.ScheduleState)
    np.testing.assert_array_equal(stack.opt_state.count, stack.stop_epoch * per_epoch)
    for k, s in enumerate(seeds):
        alone = fnn.train(NET, fnn.init(NET, seed=s), DATA, cfg.member(k), engine=engine)
        member = stack.member(k)
        diff = fnn.compare_traces(member, alone)
        assert diff.max_rel_diff <= 1e-12, diff.reason
        assert member.lr is not None and alone.lr is not None
        np.testing.assert_array_equal(member.lr, alone.lr)
        assert member.config == alone.config and member.stop_reasons == alone.stop_reasons


@pytest.mark.parametrize("engine", ["fast", "reference"])
@pytest.mark.parametrize("models", [None, [3, 4]])
def test_resume_continues_the_schedule_bit_exactly(engine: str, models: list[int] | None) -> None:
    seed: int | list[int] = models if models is not None else 3
    cfg = fnn.TrainConfig(
        epochs=8,
        optimizer=fnn.adamw(lr=fnn.WarmupCosine(0.05, warmup=5, steps=30)),
        loss="bce",
        batch_size=20,
        seed=seed,
    )
    whole = fnn.train(NET, fnn.init(NET, seed=seed), DATA, cfg, engine=engine, validation=DATA)
    half = fnn.train(NET, fnn.init(NET, seed=seed), DATA, attrs.evolve(cfg, epochs=3), engine=engine, validation=DATA)
    resumed = fnn.resume(half, DATA, 5, engine=engine, validation=DATA)
    diff = fnn.compare_traces(resumed, whole)
    assert diff.equal, diff.reason
    assert resumed.lr is not None and whole.lr is not None
    np.testing.assert_array_equal(resumed.lr, whole.lr)
    assert fnn.tree.tree_equal(resumed.opt_state, whole.opt_state)


def test_save_load_round_trip(tmp_path: Path) -> None:
    for schedule in (s for s, _ in FORMULAS.values()):
        cfg = fnn.TrainConfig(epochs=3, optimizer=fnn.rmsprop(lr=schedule), loss="bce", seed=[1, 2], batch_size=30)
        trace = fnn.train(NET, fnn.init(NET, seed=[1, 2]), DATA, cfg)
        fio.save_trace(tmp_path / "t.npz", trace)
        loaded = fio.load_trace(tmp_path / "t.npz")
        assert loaded.config == trace.config and loaded.config.optimizer.lr == schedule
        assert loaded == trace and fnn.compare_traces(loaded, trace).equal
        assert fnn.compare_traces(fnn.resume(loaded, DATA, 2), fnn.resume(trace, DATA, 2)).equal


def test_compare_traces_sees_the_lr() -> None:
    cfg = fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=0.1), loss="bce")
    a = fnn.train(NET, fnn.init(NET, seed=0), DATA, cfg)
    assert a.lr is not None
    b = attrs.evolve(a, lr=a.lr * np.array([1.0, 1.0, 2.0]))
    diff = fnn.compare_traces(a, b)
    assert not diff.equal and diff.first_differing_epoch == 3
    assert "learning rates" in fnn.compare_traces(a, attrs.evolve(a, lr=None)).reason


def test_a_scheduled_optimizer_pickles_as_its_name_and_hyperparameters() -> None:
    """Process pools get the optimizer by pickle: a built-in one with a schedule is rebuilt from its factory."""
    opt = fnn.adam(lr=fnn.WarmupCosine(0.05, warmup=2, steps=9), weight_decay=1e-3)
    again = pickle.loads(pickle.dumps(opt))
    assert again == opt and again.lr == opt.lr
    params = fnn.init(NET, seed=0)
    grads = fnn.tree_map(np.ones_like, params)
    a, b = opt.update(grads, opt.init(params), params), again.update(grads, again.init(params), params)
    assert fnn.tree.tree_equal(a, b)
