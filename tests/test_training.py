"""Tests of functional_nn.training: TrainConfig, train, train_iter, stop rules, stacking."""

from __future__ import annotations

import itertools
import subprocess
import sys
import warnings
from collections.abc import Callable

import attrs
import numpy as np
import numpy.typing as npt
import pytest

import functional_nn as fnn
from functional_nn.tree import leaves
from tests.engine_helpers import (
    assert_read_only,
    assert_same_run,
    assert_trees_close,
    assert_trees_equal,
    assert_unchanged,
    custom_sgd,
    snapshot,
    split_per_model,
    watch_merge,
)

NET = fnn.mlp((2, 5, 4, 1), hidden="sigmoid", output="sigmoid")
TANH = fnn.mlp((2, 5, 4, 1), hidden="tanh", output="identity")  # no sigmoid: both engines give the same bits
LINEAR = fnn.generate_linear(40, seed=1)
XOR = fnn.generate_xor_easy()
ENGINES = ["fast", "reference"]


def config(epochs: int = 20, **kwargs: object) -> fnn.TrainConfig:
    kwargs.setdefault("optimizer", fnn.sgd(lr=0.5))
    kwargs.setdefault("loss", fnn.mse)
    return fnn.TrainConfig(epochs=epochs, **kwargs)  # type: ignore[arg-type]


def run(
    cfg: fnn.TrainConfig,
    *,
    init_seed: int | list[int] = 0,
    data: fnn.Dataset = LINEAR,
    net: fnn.Network = NET,
    engine: str = "fast",
) -> fnn.Trace:
    return fnn.train(net, fnn.init(net, seed=init_seed), data, cfg, engine=engine)


# ----------------------------------------------------------- the fold itself ---


def test_trace_shapes_and_defaults() -> None:
    trace = run(config(epochs=15))
    assert trace.loss.shape == trace.accuracy.shape == trace.grad_norm.shape == (15,)
    assert trace.epochs_run == 15 and trace.models == ()
    assert trace.stop_reason == "epochs done" and trace.stop_reasons == ("epochs done",)
    assert int(trace.stop_epoch) == 15
    assert trace.snapshots == ()
    assert trace.network == NET and trace.seed == 0
    assert trace.config.optimizer.name == "sgd" and trace.config.optimizer.hyperparams["lr"] == 0.5
    assert np.all(np.isfinite(trace.loss)) and np.all((trace.accuracy >= 0) & (trace.accuracy <= 1))


@pytest.mark.parametrize("engine", ENGINES)
def test_full_batch_epoch_is_one_gradient_step(engine: str) -> None:
    """Full batch: loss[e] is the loss of the params before update e; update = sgd step on grad."""
    params = fnn.init(TANH, seed=0)
    lr = 0.1
    trace = fnn.train(TANH, params, LINEAR, config(epochs=3, optimizer=fnn.sgd(lr=lr)), engine=engine)
    p = params
    for e in range(3):
        value, grads = fnn.grad(TANH, p, LINEAR.x, LINEAR.y, loss="mse")
        assert trace.loss[e] == float(value)
        assert trace.accuracy[e] == float(fnn.accuracy(TANH, p, LINEAR.x, LINEAR.y))
        norm = np.sqrt(sum(float(np.sum(g * g)) for g in leaves(grads)))
        assert trace.grad_norm[e] == pytest.approx(norm, rel=1e-14)
        p = fnn.tree_map(lambda a, g: a - lr * g, p, grads)
    assert_trees_equal(trace.params, p)
    assert float(trace.final_loss) == float(fnn.grad(TANH, p, LINEAR.x, LINEAR.y, loss="mse")[0])
    assert float(trace.final_accuracy) == float(fnn.accuracy(TANH, p, LINEAR.x, LINEAR.y))


@pytest.mark.parametrize("engine", ENGINES)
def test_minibatch_without_shuffle_is_a_fold_over_batches_in_order(engine: str) -> None:
    params = fnn.init(TANH, seed=0)
    lr, bs = 0.1, 16  # 40 samples: batches of 16, 16 and 8
    cfg = config(epochs=2, optimizer=fnn.sgd(lr=lr), batch_size=bs, shuffle=False)
    trace = fnn.train(TANH, params, LINEAR, cfg, engine=engine)
    p = params
    for e in range(2):
        losses = []
        for start in range(0, 40, bs):
            xb, yb = LINEAR.x[start : start + bs], LINEAR.y[start : start + bs]
            value, grads = fnn.grad(TANH, p, xb, yb, loss="mse")
            losses.append(float(value) * len(xb) / 40)
            p = fnn.tree_map(lambda a, g: a - lr * g, p, grads)
        assert trace.loss[e] == pytest.approx(sum(losses), rel=1e-14)
    assert_trees_equal(trace.params, p)


@pytest.mark.parametrize("engine", ENGINES)
def test_shuffled_batches_follow_the_seed_and_the_epoch_only(engine: str) -> None:
    """Epoch e of a model with seed s visits the samples in ``default_rng(SeedSequence(s, spawn_key=(1, e)))``'s
    permutation: a hand-written fold over those orders gives the trace."""
    params = fnn.init(TANH, seed=0)
    lr, bs, seed = 0.1, 16, 7
    cfg = config(epochs=3, optimizer=fnn.sgd(lr=lr), batch_size=bs, seed=seed)
    trace = fnn.train(TANH, params, LINEAR, cfg, engine=engine)
    p = params
    for e in range(1, 4):
        order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, e))).permutation(40)
        x, y = LINEAR.x[order], LINEAR.y[order]
        for start in range(0, 40, bs):
            _, grads = fnn.grad(TANH, p, x[start : start + bs], y[start : start + bs], loss="mse")
            p = fnn.tree_map(lambda a, g: a - lr * g, p, grads)
    assert_trees_equal(trace.params, p)


def test_train_leaves_its_inputs_unchanged() -> None:
    params = fnn.init(NET, seed=0)
    before = snapshot(params)
    x_before = LINEAR.x.copy()
    cfg = config(epochs=5, optimizer=fnn.adam(lr=0.01), batch_size=8)
    fnn.train(NET, params, LINEAR, cfg)
    assert_unchanged(params, before)
    np.testing.assert_array_equal(LINEAR.x, x_before)


def test_train_accepts_user_built_writable_params_and_leaves_them_writable() -> None:
    rng = np.random.default_rng(0)
    arrays = [
        (rng.standard_normal((2, 5)), np.zeros(5)),
        (rng.standard_normal((5, 4)), np.zeros(4)),
        (rng.standard_normal((4, 1)), np.zeros(1)),
    ]
    params = tuple(fnn.Dense(w=w, b=b) for w, b in arrays)
    trace = fnn.train(NET, params, LINEAR, config(epochs=3))
    assert trace.epochs_run == 3
    for w, b in arrays:
        assert w.flags.writeable and b.flags.writeable


def test_trace_arrays_and_params_are_read_only() -> None:
    trace = run(config(epochs=4, optimizer=fnn.momentum(lr=0.1), snapshot_every=2))
    for name in ("loss", "accuracy", "grad_norm", "final_loss", "final_accuracy"):
        arr = getattr(trace, name)
        assert not arr.flags.writeable, name
    assert_read_only(trace.params)
    assert_read_only(trace.opt_state)
    for _, p in trace.snapshots:
        assert_read_only(p)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        trace.loss = trace.loss  # type: ignore[misc]


def test_no_global_rng_used() -> None:
    np.random.seed(0)  # noqa: NPY002
    expected = np.random.random()  # noqa: NPY002
    np.random.seed(0)  # noqa: NPY002
    run(config(epochs=3, batch_size=5))
    assert np.random.random() == expected  # noqa: NPY002


# -------------------------------------------------------------- determinism ---


@pytest.mark.parametrize("batch_size", [None, 7])
@pytest.mark.parametrize("opt_name", tuple(fnn.OPTIMIZERS))
def test_same_seed_same_trace_bit_for_bit(opt_name: str, batch_size: int | None) -> None:
    cfg = config(epochs=10, optimizer=fnn.make_optimizer(opt_name), batch_size=batch_size, seed=3)
    a, b = run(cfg, init_seed=2), run(cfg, init_seed=2)
    diff = fnn.compare_traces(a, b)
    assert diff.equal and bool(diff) and diff.first_differing_epoch is None and diff.max_abs_diff == 0.0
    assert a.loss.tobytes() == b.loss.tobytes()
    assert_trees_equal(a.params, b.params)


def _fingerprint(trace: fnn.Trace) -> str:
    return "".join(a.tobytes().hex() for a in (trace.loss, trace.accuracy, trace.grad_norm, *leaves(trace.params)))


def test_same_trace_in_a_fresh_process() -> None:
    """Single and stacked, both engines, shuffled mini-batches: the same bits in another process."""
    code = (
        "import functional_nn as fnn\n"
        "from functional_nn.tree import leaves\n"
        "net = fnn.mlp((2, 5, 4, 1))\n"
        "data = fnn.generate_linear(40, seed=1)\n"
        "for seeds in (3, [3, 4]):\n"
        "    cfg = fnn.TrainConfig(epochs=10, optimizer=fnn.adam(lr=0.05), loss='bce', batch_size=7, seed=seeds)\n"
        "    for engine in ('fast', 'reference'):\n"
        "        t = fnn.train(net, fnn.init(net, seed=seeds), data, cfg, engine=engine)\n"
        "        arrays = (t.loss, t.accuracy, t.grad_norm, *leaves(t.params))\n"
        "        print(''.join(a.tobytes().hex() for a in arrays))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    here = []
    for seeds in (3, [3, 4]):
        cfg = config(epochs=10, optimizer=fnn.adam(lr=0.05), loss="bce", batch_size=7, seed=seeds)
        for engine in ENGINES:
            here.append(_fingerprint(run(cfg, init_seed=seeds, engine=engine)))
    assert out == here


def test_different_init_seed_different_trace() -> None:
    cfg = config(epochs=5)
    diff = fnn.compare_traces(run(cfg, init_seed=0), run(cfg, init_seed=1))
    assert not diff.equal and diff.first_differing_epoch == 1 and diff.max_abs_diff > 0


def test_different_shuffle_seed_different_trace_with_minibatches() -> None:
    a = run(config(epochs=5, batch_size=8, seed=0))
    b = run(config(epochs=5, batch_size=8, seed=1))
    diff = fnn.compare_traces(a, b)
    assert not diff.equal and diff.first_differing_epoch == 1


def test_shuffle_seed_is_irrelevant_without_shuffling_or_in_full_batch() -> None:
    for kwargs in ({"batch_size": 8, "shuffle": False}, {}):
        a = run(config(epochs=5, seed=0, **kwargs))
        b = run(config(epochs=5, seed=1, **kwargs))
        assert fnn.compare_traces(a, b).equal


def test_shuffling_changes_the_trajectory() -> None:
    a = run(config(epochs=5, batch_size=8, shuffle=True))
    b = run(config(epochs=5, batch_size=8, shuffle=False))
    assert not fnn.compare_traces(a, b).equal


def test_batch_size_n_equals_full_batch() -> None:
    a = run(config(epochs=5, batch_size=LINEAR.n))
    b = run(config(epochs=5))
    np.testing.assert_array_equal(a.loss, b.loss)
    assert_trees_equal(a.params, b.params)


# --------------------------------------------------------- stacked training ---


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("batch_size", [None, 7])
@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_stacked_member_equals_model_trained_alone(opt_name: str, batch_size: int | None, engine: str) -> None:
    seeds = [3, 4, 5]
    opt = fnn.make_optimizer(opt_name)
    cfg = config(epochs=25, optimizer=opt, loss="bce", batch_size=batch_size, seed=seeds)
    stacked = run(cfg, init_seed=seeds, engine=engine)
    assert stacked.models == (3,) and stacked.loss.shape == (25, 3) and stacked.final_loss.shape == (3,)
    assert stacked.stop_reason == "3 epochs done"
    for k, s in enumerate(seeds):
        alone = run(cfg.member(k), init_seed=s, engine=engine)
        member = stacked.member(k)
        for name in ("loss", "accuracy", "grad_norm", "final_loss", "final_accuracy"):
            np.testing.assert_allclose(getattr(member, name), getattr(alone, name), rtol=1e-12, err_msg=name)
        assert_trees_close(member.params, alone.params, rtol=1e-12, atol=1e-300)
        assert member.config == alone.config and member.seed == alone.seed == s
        assert member.stop_reasons == alone.stop_reasons
        diff = fnn.compare_traces(member, alone)
        assert diff.max_rel_diff <= 1e-12


@pytest.mark.parametrize("opt_name", tuple(fnn.OPTIMIZERS))
def test_learning_rate_sweep_as_one_stacked_run(opt_name: str) -> None:
    lrs = np.array([0.05, 0.2, 0.8])
    opt = fnn.make_optimizer(opt_name, lr=lrs)
    stacked = run(config(epochs=12, optimizer=opt, seed=[0, 0, 0]), init_seed=[0, 0, 0])
    for k, lr in enumerate(lrs):
        alone = run(config(epochs=12, optimizer=fnn.make_optimizer(opt_name, lr=float(lr)), seed=0), init_seed=0)
        member = stacked.member(k)
        assert member.config == alone.config
        np.testing.assert_allclose(member.loss, alone.loss, rtol=1e-12)
        assert_trees_close(member.params, alone.params, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_stacked_models_stop_independently(opt_name: str) -> None:
    """Each member reaches the loss threshold at its own epoch and then stays put, as if alone."""
    lrs = np.array([0.3, 1.0, 3.0]) if opt_name == "sgd" else np.array([0.01, 0.03, 0.1])
    stop = 0.1
    stacked = run(
        config(epochs=800, optimizer=fnn.make_optimizer(opt_name, lr=lrs), seed=[0, 0, 0], stop_loss=stop),
        init_seed=[0, 0, 0],
    )
    epochs = [int(e) for e in stacked.stop_epoch]
    assert len(set(epochs)) == 3, f"want distinct stop epochs for this test, got {epochs}"
    assert stacked.epochs_run == max(epochs)
    assert stacked.stop_reason == "3 loss threshold reached"
    for k, lr in enumerate(lrs):
        assert np.all(np.isnan(stacked.loss[epochs[k] :, k]))
        alone = run(
            config(epochs=800, optimizer=fnn.make_optimizer(opt_name, lr=float(lr)), seed=0, stop_loss=stop),
            init_seed=0,
        )
        member = stacked.member(k)
        assert member.stop_reasons == alone.stop_reasons == (f"loss threshold reached at epoch {epochs[k]}",)
        assert int(member.stop_epoch) == int(alone.stop_epoch) == epochs[k]
        np.testing.assert_allclose(member.loss, alone.loss, rtol=1e-12)
        assert_trees_close(member.params, alone.params, rtol=1e-12, atol=1e-300)
        # the optimizer state belongs to the params (Adam's step count included):
        # resuming from it must equal resuming alone
        assert_trees_close(member.opt_state, alone.opt_state, rtol=1e-12, atol=1e-300)
        if isinstance(alone.opt_state, fnn.AdamState):
            assert isinstance(member.opt_state, fnn.AdamState)
            assert np.array_equal(member.opt_state.count, alone.opt_state.count), "Adam's step count"


def test_stacked_member_that_diverges_keeps_its_last_finite_params() -> None:
    net = fnn.mlp((2, 10, 1), hidden="identity", output="identity")
    lrs = np.array([0.1, 1e6])
    stacked = run(config(epochs=30, optimizer=fnn.sgd(lr=lrs), seed=[0, 1]), init_seed=[0, 1], net=net)
    assert stacked.stop_reasons[0] == "epochs done" and stacked.stop_reasons[1].startswith("diverged at epoch")
    assert stacked.stop_reason == "1 epochs done, 1 diverged"
    for k, lr in enumerate(lrs):
        alone = run(config(epochs=30, optimizer=fnn.sgd(lr=float(lr)), seed=k), init_seed=k, net=net)
        member = stacked.member(k)
        assert member.stop_reasons == alone.stop_reasons
        np.testing.assert_allclose(member.loss, alone.loss, rtol=1e-12)
        assert_trees_close(member.params, alone.params, rtol=1e-12, atol=1e-300)
    assert all(np.all(np.isfinite(a)) for a in leaves(stacked.params))


@pytest.mark.parametrize("batch_size", [None, 7])
def test_stacked_result_does_not_depend_on_the_number_of_workers(
    batch_size: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``train(..., workers=w)`` splits a stack into chunks; every model's result is the same."""
    seeds = list(range(8))
    cfg = config(epochs=15, optimizer=fnn.adam(lr=0.05), batch_size=batch_size, seed=seeds, snapshot_every=5)
    params = fnn.init(NET, seed=seeds)
    merged = watch_merge(monkeypatch)
    one = fnn.train(NET, params, LINEAR, cfg, workers=1)
    assert merged == []  # 8 small models: one chunk
    split_per_model(monkeypatch)
    for workers in (1, 2, 4):
        other = fnn.train(NET, params, LINEAR, cfg, workers=workers)
        assert_same_run(one, other)
        assert [e for e, _ in other.snapshots] == [5, 10, 15]
    assert merged == [8, 8, 8]


def test_workers_split_keeps_snapshots_of_models_still_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Models stopping at different epochs: the snapshots may not depend on how the stack is split."""
    lrs = np.array([3.0, 3.0, 0.3, 0.3])  # the first two stop early, the last two much later
    cfg = config(epochs=600, optimizer=fnn.sgd(lr=lrs), seed=[0] * 4, stop_loss=0.1, snapshot_every=20)
    params = fnn.init(NET, seed=[0] * 4)
    one = fnn.train(NET, params, LINEAR, cfg, workers=1)
    merged = watch_merge(monkeypatch)
    split_per_model(monkeypatch)
    two = fnn.train(NET, params, LINEAR, cfg, workers=2)
    assert merged == [4]
    assert int(one.stop_epoch[0]) < int(one.stop_epoch[3])
    assert [e for e, _ in two.snapshots] == [e for e, _ in one.snapshots]
    assert_same_run(one, two)


def test_workers_validation() -> None:
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got 0"):
        fnn.train(NET, fnn.init(NET, seed=0), LINEAR, config(), workers=0)


# --------------------------------------------------------------- stop rules ---


def test_stop_loss_reached() -> None:
    stop = 0.15
    trace = run(config(epochs=2000, optimizer=fnn.sgd(lr=1.0), stop_loss=stop))
    k = trace.epochs_run
    assert 1 < k < 2000
    assert trace.stop_reason == f"loss threshold reached at epoch {k}"
    assert int(trace.stop_epoch) == k
    assert trace.loss[-1] < stop and np.all(trace.loss[:-1] >= stop)
    assert float(trace.final_loss) < stop


def test_stop_loss_not_reached_runs_every_epoch() -> None:
    trace = run(config(epochs=5, stop_loss=1e-6))
    assert trace.epochs_run == 5 and trace.stop_reason == "epochs done"


@pytest.mark.parametrize("hidden", ["identity", "relu"])
@pytest.mark.parametrize("batch_size", [None, 10])
def test_divergence_ends_training_with_a_reason_and_finite_params(hidden: str, batch_size: int | None) -> None:
    net = fnn.mlp((2, 10, 1), hidden=hidden, output="identity")
    cfg = config(epochs=200, optimizer=fnn.sgd(lr=1e6), batch_size=batch_size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trace = run(cfg, net=net)
    k = trace.epochs_run
    assert 0 <= k < 200
    assert trace.stop_reason == f"diverged at epoch {k}"
    assert int(trace.stop_epoch) == k
    assert np.all(np.isfinite(trace.loss))  # the NaN/inf loss that revealed it is not recorded
    assert all(np.all(np.isfinite(a)) for a in leaves(trace.params))
    assert np.isfinite(trace.final_loss)
    if batch_size is None:
        # full batch: loss[e] is the loss of the params at the start of epoch e + 1; the update
        # of epoch k diverged, so the params kept are those at the start of epoch k
        assert float(trace.final_loss) == trace.loss[-1]
    if k == 0:  # diverged within the first epoch: back to the initial params
        assert_trees_equal(trace.params, fnn.init(net, seed=0))


def test_divergence_with_train_iter_gives_no_warning() -> None:
    net = fnn.mlp((2, 10, 1), hidden="identity", output="identity")
    cfg = config(epochs=200, optimizer=fnn.sgd(lr=1e6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        items = list(fnn.train_iter(net, fnn.init(net, seed=0), LINEAR, cfg))
    trace = items[-1].trace
    assert trace is not None and trace.stop_reason.startswith("diverged at epoch")
    # one item per epoch computed: the last, which revealed the divergence, repeats the last epoch recorded
    assert [p.epoch for p in items] == [*range(1, trace.epochs_run + 1), trace.epochs_run]


@pytest.mark.parametrize("engine", ENGINES)
def test_divergence_on_the_last_update_is_caught(engine: str) -> None:
    """sgd(lr=1e6), relu, 3 epochs: every epoch's loss is finite, but the last update sends the loss to
    inf.  The final params' loss is checked: "diverged at epoch 3", the params from the start of epoch 3."""
    net = fnn.mlp((2, 10, 10, 1), hidden="relu", output="identity")
    cfg = config(epochs=3, optimizer=fnn.sgd(lr=1e6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trace = run(cfg, net=net, engine=engine)
    assert np.all(np.isfinite(trace.loss)), "the test needs every epoch's loss to be finite"
    assert trace.stop_reason == "diverged at epoch 3"
    assert int(trace.stop_epoch) == 3 and trace.epochs_run == 3
    assert np.isfinite(trace.final_loss) and float(trace.final_loss) == trace.loss[-1]
    assert all(np.all(np.isfinite(a)) for a in leaves(trace.params))
    two = run(config(epochs=2, optimizer=fnn.sgd(lr=1e6)), net=net, engine=engine)
    assert two.stop_reason == "epochs done"
    assert_trees_equal(trace.params, two.params)  # the params at the start of epoch 3


@pytest.mark.parametrize("epochs", [1, 3])
@pytest.mark.parametrize("engine", ENGINES)
def test_no_run_ends_epochs_done_with_a_non_finite_loss(engine: str, epochs: int) -> None:
    """sgd(lr=1e6) and adam(lr=1e308), relu, any batch mode, single or stacked: a model either ends
    "epochs done" with a finite final loss, or diverged and kept finite params."""
    net = fnn.mlp((2, 10, 10, 1), hidden="relu", output="identity")
    big = (fnn.sgd(lr=1e6), fnn.adam(lr=1e308), fnn.sgd(lr=np.array([1e-3, 1e6])), fnn.adam(lr=np.array([1e-3, 1e308])))
    for opt in big:
        stacked = isinstance(opt.lr, np.ndarray)
        for batch_size in (None, 10):
            seeds = [0, 0] if stacked else 0
            cfg = config(epochs=epochs, optimizer=opt, batch_size=batch_size, seed=seeds)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                trace = run(cfg, net=net, init_seed=seeds, engine=engine)
            assert np.all(np.isfinite(trace.final_loss)), (opt, batch_size)
            assert all(np.all(np.isfinite(a)) for a in leaves(trace.params))
            for reason in trace.stop_reasons:
                assert reason == "epochs done" or reason.startswith("diverged at epoch")
            if epochs == 3:  # by then the big step has sent the loss to inf / NaN
                assert trace.stop_reasons[-1].startswith("diverged"), (opt, batch_size, trace.stop_reasons)
            if stacked:
                assert trace.stop_reasons[0] == "epochs done"


@pytest.mark.parametrize("engine", ENGINES)
def test_adam_that_diverges_in_its_only_epoch_keeps_the_initial_params(engine: str) -> None:
    net = fnn.mlp((2, 10, 1), hidden="relu", output="identity")
    params = fnn.init(net, seed=0)
    trace = fnn.train(net, params, LINEAR, config(epochs=1, optimizer=fnn.adam(lr=1e308)), engine=engine)
    assert trace.stop_reason == "diverged at epoch 1"
    assert_trees_equal(trace.params, params)
    assert float(trace.final_loss) == trace.loss[0]


# ---------------------------------------------------------------- snapshots ---


@pytest.mark.parametrize("batch_size", [None, 8])
def test_snapshots_every_k_epochs_equal_shorter_runs(batch_size: int | None) -> None:
    trace = run(config(epochs=10, snapshot_every=3, batch_size=batch_size))
    assert [e for e, _ in trace.snapshots] == [3, 6, 9]
    for e, params in trace.snapshots:
        shorter = run(config(epochs=e, batch_size=batch_size))
        assert_trees_equal(params, shorter.params)


def test_snapshot_on_the_last_epoch_is_the_final_params() -> None:
    trace = run(config(epochs=6, snapshot_every=2))
    assert [e for e, _ in trace.snapshots] == [2, 4, 6]
    assert_trees_equal(trace.snapshots[-1][1], trace.params)


def test_snapshots_stop_with_training() -> None:
    trace = run(config(epochs=2000, optimizer=fnn.sgd(lr=1.0), stop_loss=0.15, snapshot_every=10))
    assert [e for e, _ in trace.snapshots] == list(range(10, trace.epochs_run + 1, 10))


# --------------------------------------------------------------- train_iter ---


@pytest.mark.parametrize("seeds", [0, [0, 1]])
def test_train_iter_yields_one_progress_per_epoch_and_the_trace_last(seeds: int | list[int]) -> None:
    cfg = config(epochs=7, batch_size=9, seed=seeds)
    items = list(fnn.train_iter(NET, fnn.init(NET, seed=seeds), LINEAR, cfg))
    assert [p.epoch for p in items] == list(range(1, 8))
    assert all(p.epochs == 7 for p in items)
    assert all(p.trace is None for p in items[:-1])
    last = items[-1].trace
    assert last is not None
    trace = fnn.train(NET, fnn.init(NET, seed=seeds), LINEAR, cfg)
    assert fnn.compare_traces(last, trace).equal
    for p in items:
        np.testing.assert_array_equal(p.loss, trace.loss[p.epoch - 1])
        np.testing.assert_array_equal(p.accuracy, trace.accuracy[p.epoch - 1])
        np.testing.assert_array_equal(p.grad_norm, trace.grad_norm[p.epoch - 1])


def test_train_iter_stops_early_with_the_trace() -> None:
    cfg = config(epochs=2000, optimizer=fnn.sgd(lr=1.0), stop_loss=0.15)
    items = list(fnn.train_iter(NET, fnn.init(NET, seed=0), LINEAR, cfg))
    trace = items[-1].trace
    assert trace is not None
    assert len(items) == trace.epochs_run < 2000
    assert fnn.compare_traces(trace, run(cfg)).equal


def test_train_iter_validates_when_called_not_when_iterated() -> None:
    with pytest.raises(ValueError, match="batch_size must be between 1 and the number of samples"):
        fnn.train_iter(NET, fnn.init(NET, seed=0), LINEAR, config(batch_size=41))


@pytest.mark.parametrize("batch_size", [None, 8])
@pytest.mark.parametrize("engine", ENGINES)
def test_train_iter_is_lazy(engine: str, batch_size: int | None) -> None:
    """Creating the iterator computes nothing; taking k items computes exactly k epochs (counted updates)."""
    calls: list[int] = []
    cfg = config(epochs=1000, optimizer=custom_sgd(0.1, calls), batch_size=batch_size)
    it = fnn.train_iter(TANH, fnn.init(TANH, seed=0), LINEAR, cfg, engine=engine)
    assert calls == []
    per_epoch = 1 if batch_size is None else 5
    items = list(itertools.islice(it, 3))
    assert [p.epoch for p in items] == [1, 2, 3] and all(p.epochs == 1000 and p.trace is None for p in items)
    assert len(calls) == 3 * per_epoch
    next(it)
    assert len(calls) == 4 * per_epoch


@pytest.mark.parametrize("engine", ENGINES)
def test_resume_iter_is_lazy(engine: str) -> None:
    calls: list[int] = []
    cfg = config(epochs=2, optimizer=custom_sgd(0.1, calls))
    trace = fnn.train(TANH, fnn.init(TANH, seed=0), LINEAR, cfg, engine=engine)
    assert len(calls) == 2
    it = fnn.resume_iter(trace, LINEAR, 500, engine=engine)
    assert len(calls) == 2
    assert [p.epoch for p in itertools.islice(it, 2)] == [3, 4]
    assert len(calls) == 4


def test_train_iter_progress_arrays_are_read_only() -> None:
    """DESIGN principle 2: arrays stored in a frozen record are read-only."""
    cfg = config(epochs=3, seed=[0, 1])
    for p in fnn.train_iter(NET, fnn.init(NET, seed=[0, 1]), LINEAR, cfg):
        for name in ("loss", "accuracy", "grad_norm"):
            arr = getattr(p, name)
            assert isinstance(arr, np.ndarray) and arr.shape == (2,)
            assert not arr.flags.writeable, f"epoch {p.epoch}: Progress.{name} is writable"


def _write(arr: npt.NDArray[np.float64], value: float) -> bool:
    """Try hard to write ``value`` into ``arr``: directly, then by turning its writeable flag back on.

    Returns whether it was written (NumPy lets a read-only view of a writable base be made writable again).
    """
    with pytest.raises(ValueError, match="read-only"):
        arr[...] = value
    try:
        arr.flags.writeable = True
    except ValueError:
        return False
    arr[...] = value
    return True


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "seeds",
    [
        0,
        pytest.param(
            [0, 1],
        ),
    ],
)
def test_last_progress_does_not_alias_the_trace(seeds: int | list[int], engine: str) -> None:
    """Writing into any Progress (the last one too) must not rewrite the (immutable) Trace."""
    cfg = config(epochs=3, seed=seeds)
    items = list(fnn.train_iter(NET, fnn.init(NET, seed=seeds), LINEAR, cfg, engine=engine))
    trace = items[-1].trace
    assert trace is not None
    before = [np.array(getattr(trace, name)) for name in ("loss", "accuracy", "grad_norm")]
    for p in items:
        for name in ("loss", "accuracy", "grad_norm"):
            _write(getattr(p, name), 123.0)
    for name, old in zip(("loss", "accuracy", "grad_norm"), before, strict=True):
        np.testing.assert_array_equal(getattr(trace, name), old, err_msg=name)


# ----------------------------------------------------------------- accuracy ---


def _separable(n: int) -> fnn.Dataset:
    """``n`` points away from the axes, two labels each: x0 > 0 and x1 > 0."""
    rng = np.random.default_rng(5)
    x = rng.uniform(0.5, 2.0, size=(n, 2)) * rng.choice([-1.0, 1.0], size=(n, 2))
    return fnn.Dataset(x=x, y=(x > 0).astype(np.float64))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("seeds", [0, [0, 1, 2]])
def test_accuracy_of_a_perfect_mini_batch_run_is_exactly_one(seeds: int | list[int], engine: str) -> None:
    """Hits are counted over the batches and divided once: 100 samples in batches of 7 give exactly 1.0
    (a sum of the batches' shares, 7/100 + ... + 2/100, would not)."""
    data = _separable(100)
    net = fnn.mlp((2, 2), output="sigmoid")
    models = () if isinstance(seeds, int) else (len(seeds),)
    right = fnn.Dense(w=np.broadcast_to(10.0 * np.eye(2), models + (2, 2)), b=np.zeros(models + (2,)))
    cfg = config(epochs=4, optimizer=fnn.sgd(lr=1e-6), loss="bce", batch_size=7, seed=seeds)
    trace = fnn.train(net, (right,), data, cfg, engine=engine)
    assert np.all(trace.accuracy == 1.0) and np.all(trace.final_accuracy == 1.0)
    items = list(fnn.train_iter(net, (right,), data, cfg, engine=engine))
    assert all(np.all(p.accuracy == 1.0) for p in items)


# ------------------------------------------------------------ memory layout ---
# Inputs are normalized at the edge: whatever the memory layout of data.x, data.y
# and the params, the run is the one of C-contiguous float64 copies, bit for bit.


def _misaligned(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    buf = np.zeros(a.size * 8 + 1, dtype=np.uint8)
    out = np.frombuffer(buf, dtype=np.float64, offset=1, count=a.size).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned
    return out


def _strided(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],))
    big[..., ::2] = a
    out = big[..., ::2]
    assert not out.flags.c_contiguous
    return out


def _fortran(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out = np.asfortranarray(a)
    assert out.ndim < 2 or min(a.shape[-2:]) == 1 or not out.flags.c_contiguous
    return out


def _read_only(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out = np.array(a)
    out.flags.writeable = False
    return out


def _float32(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    return a.astype(np.float32)


LAYOUTS: dict[str, Callable[[npt.NDArray[np.float64]], npt.NDArray[np.generic]]] = {
    "misaligned": _misaligned,
    "strided": _strided,
    "fortran": _fortran,
    "read-only": _read_only,
    "float32": _float32,
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("seeds", [0, [0, 1, 2]])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_memory_layout_of_the_inputs_does_not_change_a_bit(
    layout: str, seeds: int | list[int], engine: str
) -> None:
    rng = np.random.default_rng(11)
    # float32-representable values, so the float32 layout holds the same numbers; wide enough
    # (40 inputs, a full batch of 60) that NumPy's own matmul loop and BLAS round differently
    x = rng.standard_normal((60, 40)).astype(np.float32).astype(np.float64)
    y = (rng.random((60, 2)) > 0.5).astype(np.float64)
    net = fnn.mlp((40, 24, 2), hidden="tanh", output="sigmoid")
    params = fnn.tree_map(lambda a: a.astype(np.float32).astype(np.float64), fnn.init(net, seed=seeds))
    cfg = config(epochs=5, optimizer=fnn.adam(lr=0.05), loss="bce", seed=seeds, snapshot_every=2)
    plain = fnn.train(net, params, fnn.Dataset(x=x, y=y), cfg, engine=engine)
    change = LAYOUTS[layout]
    odd_params = tuple(fnn.Dense(w=change(p.w), b=change(p.b)) for p in params)
    odd_data = fnn.Dataset(x=change(x), y=change(y))
    assert_same_run(plain, fnn.train(net, odd_params, odd_data, cfg, engine=engine))
    odd_trace = fnn.train(net, params, odd_data, cfg, engine=engine)
    assert_same_run(plain, odd_trace)
    assert_same_run(
        fnn.resume(plain, fnn.Dataset(x=x, y=y), 2, engine=engine), fnn.resume(odd_trace, odd_data, 2, engine=engine)
    )


# ------------------------------------------------------------- TrainConfig ---


def test_train_config_defaults_and_conversions() -> None:
    cfg = fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=0.1), loss="bce")
    assert cfg.loss is fnn.bce
    assert cfg.batch_size is None and cfg.shuffle is True and cfg.seed == 0
    assert cfg.stop_loss is None and cfg.snapshot_every is None
    assert fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=0.1), loss="mse", seed=[1, 2]).seed == (1, 2)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        cfg.epochs = 5  # type: ignore[misc]
    assert attrs.evolve(cfg, epochs=5).epochs == 5


@pytest.mark.parametrize("opt_name", tuple(fnn.OPTIMIZERS))
def test_train_config_member(opt_name: str) -> None:
    cfg = fnn.TrainConfig(
        epochs=3, optimizer=fnn.make_optimizer(opt_name, lr=np.array([0.1, 0.2])), loss="mse", seed=[7, 8]
    )
    m = cfg.member(1)
    assert m.seed == 8 and m.optimizer == fnn.make_optimizer(opt_name, lr=0.2)
    assert m.optimizer.name == opt_name and m.epochs == 3 and m.loss is fnn.mse


def test_optimizer_registry_and_make_optimizer() -> None:
    """``OPTIMIZERS`` maps names to factories; ``make_optimizer(name)`` is the factory's defaults."""
    assert tuple(fnn.OPTIMIZERS) == ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad")
    for name, factory in fnn.OPTIMIZERS.items():
        assert fnn.make_optimizer(name) == factory() and factory().name == name
    assert fnn.nesterov(lr=0.3) == fnn.make_optimizer("nesterov", lr=0.3) != fnn.momentum(lr=0.3)
    with pytest.raises(TypeError):
        fnn.momentum(lr=0.1, nesterov=True)  # type: ignore[call-arg]


# -------------------------------------------------------------- convergence ---
# The lab's defaults: mlp((2, 10, 10, 1)), sigmoid everywhere, MSE, plain SGD at
# lr = 1.0, full batch, 10,000 epochs.  Every one of five init seeds must reach
# 100 % training accuracy on both lab tasks (one stacked run per task).


@pytest.mark.parametrize("task", ["linear", "xor_easy"])
def test_lab_defaults_converge_to_full_accuracy(task: str) -> None:
    data = fnn.generate_linear(seed=0) if task == "linear" else fnn.generate_xor_easy()
    net = fnn.mlp((2, 10, 10, 1), hidden="sigmoid", output="sigmoid")
    seeds = [0, 1, 2, 3, 4]
    cfg = fnn.TrainConfig(epochs=10_000, optimizer=fnn.sgd(lr=1.0), loss=fnn.mse, seed=seeds)
    trace = fnn.train(net, fnn.init(net, seed=seeds), data, cfg)
    assert trace.stop_reason == "5 epochs done"
    np.testing.assert_array_equal(trace.final_accuracy, 1.0)
    np.testing.assert_array_equal(fnn.accuracy(net, trace.params, data.x, data.y), 1.0)
    assert np.all(trace.final_loss < 0.01)
    # seed 0 alone, as a user would run it
    single = fnn.train(net, fnn.init(net, seed=0), data, attrs.evolve(cfg, seed=0))
    assert float(single.final_accuracy) == 1.0
    np.testing.assert_array_equal(fnn.predict(net, single.params, data.x), data.y)


@pytest.mark.parametrize("opt_name", tuple(fnn.OPTIMIZERS))
def test_every_optimizer_makes_progress_with_its_defaults(opt_name: str) -> None:
    seeds = [0, 1, 2]
    cfg = fnn.TrainConfig(epochs=300, optimizer=fnn.make_optimizer(opt_name), loss=fnn.mse, seed=seeds)
    net = fnn.mlp((2, 10, 10, 1))
    trace = fnn.train(net, fnn.init(net, seed=seeds), fnn.generate_linear(seed=0), cfg)
    assert np.all(trace.final_loss < 0.9 * trace.loss[0])
