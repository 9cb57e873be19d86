"""Tests of functional_nn.training: TrainConfig, train, train_iter, stop rules, stacking."""

from __future__ import annotations

import subprocess
import sys
import warnings

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from tests.helpers import assert_read_only, assert_trees_close, assert_trees_equal, assert_unchanged, snapshot

NET = fnn.mlp((2, 5, 4, 1), hidden="sigmoid", output="sigmoid")
LINEAR = fnn.generate_linear(40, seed=1)
XOR = fnn.generate_xor_easy()


def config(epochs: int = 20, **kwargs: object) -> fnn.TrainConfig:
    kwargs.setdefault("optimizer", fnn.sgd(lr=0.5))
    kwargs.setdefault("loss", fnn.mse)
    return fnn.TrainConfig(epochs=epochs, **kwargs)  # type: ignore[arg-type]


def run(
    cfg: fnn.TrainConfig, *, init_seed: int | list[int] = 0, data: fnn.Dataset = LINEAR, net: fnn.Network = NET
) -> fnn.Trace:
    return fnn.train(net, fnn.init(net, seed=init_seed), data, cfg)


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


def test_full_batch_epoch_is_one_gradient_step() -> None:
    """Full batch: loss[e] is the loss of the params before update e; update = sgd step on grad."""
    params = fnn.init(NET, seed=0)
    lr = 0.5
    trace = fnn.train(NET, params, LINEAR, config(epochs=3, optimizer=fnn.sgd(lr=lr)))
    p = params
    for e in range(3):
        value, grads = fnn.grad(NET, p, LINEAR.x, LINEAR.y, loss="mse")
        assert trace.loss[e] == float(value)
        assert trace.accuracy[e] == float(fnn.accuracy(NET, p, LINEAR.x, LINEAR.y))
        norm = np.sqrt(sum(float(np.sum(g * g)) for g in fnn.leaves(grads)))
        assert trace.grad_norm[e] == pytest.approx(norm, rel=1e-14)
        p = fnn.tree_map(lambda a, g: a - lr * g, p, grads)
    assert_trees_close(trace.params, p, rtol=1e-15)
    assert float(trace.final_loss) == float(fnn.grad(NET, p, LINEAR.x, LINEAR.y, loss="mse")[0])
    assert float(trace.final_accuracy) == float(fnn.accuracy(NET, p, LINEAR.x, LINEAR.y))


def test_minibatch_without_shuffle_is_a_fold_over_batches_in_order() -> None:
    params = fnn.init(NET, seed=0)
    lr, bs = 0.5, 16  # 40 samples: batches of 16, 16 and 8
    trace = fnn.train(NET, params, LINEAR, config(epochs=2, optimizer=fnn.sgd(lr=lr), batch_size=bs, shuffle=False))
    p = params
    for e in range(2):
        losses = []
        for start in range(0, 40, bs):
            xb, yb = LINEAR.x[start : start + bs], LINEAR.y[start : start + bs]
            value, grads = fnn.grad(NET, p, xb, yb, loss="mse")
            losses.append(float(value) * len(xb) / 40)
            p = fnn.tree_map(lambda a, g: a - lr * g, p, grads)
        assert trace.loss[e] == pytest.approx(sum(losses), rel=1e-14)
    assert_trees_close(trace.params, p, rtol=1e-14)


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


def test_same_trace_in_a_fresh_process() -> None:
    code = (
        "import functional_nn as fnn\n"
        "net = fnn.mlp((2, 5, 4, 1))\n"
        "cfg = fnn.TrainConfig(epochs=10, optimizer=fnn.adam(lr=0.05), loss='bce', batch_size=7, seed=3)\n"
        "t = fnn.train(net, fnn.init(net, seed=2), fnn.generate_linear(40, seed=1), cfg)\n"
        "print(t.loss.tobytes().hex())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    here = run(config(epochs=10, optimizer=fnn.adam(lr=0.05), loss="bce", batch_size=7, seed=3), init_seed=2)
    assert out == here.loss.tobytes().hex()


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


@pytest.mark.parametrize("batch_size", [None, 7])
@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_stacked_member_equals_model_trained_alone(opt_name: str, batch_size: int | None) -> None:
    seeds = [3, 4, 5]
    opt = fnn.make_optimizer(opt_name)
    stacked = run(config(epochs=25, optimizer=opt, loss="bce", batch_size=batch_size, seed=seeds), init_seed=seeds)
    assert stacked.models == (3,) and stacked.loss.shape == (25, 3) and stacked.final_loss.shape == (3,)
    assert stacked.stop_reason == "3 epochs done"
    for k, s in enumerate(seeds):
        alone = run(config(epochs=25, optimizer=opt, loss="bce", batch_size=batch_size, seed=s), init_seed=s)
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
    assert all(np.all(np.isfinite(a)) for a in fnn.leaves(stacked.params))


@pytest.mark.parametrize("batch_size", [None, 7])
def test_stacked_result_does_not_depend_on_the_number_of_workers(batch_size: int | None) -> None:
    """``train(..., workers=w)`` splits a stack into chunks; every model's result is the same."""
    seeds = list(range(8))
    cfg = config(epochs=15, optimizer=fnn.adam(lr=0.05), batch_size=batch_size, seed=seeds, snapshot_every=5)
    params = fnn.init(NET, seed=seeds)
    one = fnn.train(NET, params, LINEAR, cfg, workers=1)
    for workers in (2, 4):
        other = fnn.train(NET, params, LINEAR, cfg, workers=workers)
        diff = fnn.compare_traces(one, other)
        assert diff.equal, f"workers={workers}: {diff.reason}"
        assert [e for e, _ in other.snapshots] == [e for e, _ in one.snapshots] == [5, 10, 15]
        for (_, a), (_, b) in zip(one.snapshots, other.snapshots, strict=True):
            assert_trees_equal(a, b)
        assert other.stop_reasons == one.stop_reasons
        np.testing.assert_array_equal(other.stop_epoch, one.stop_epoch)


def test_workers_split_keeps_snapshots_of_models_still_training() -> None:
    """Models stopping at different epochs: the snapshots may not depend on how the stack is split."""
    lrs = np.array([3.0, 3.0, 0.3, 0.3])  # the first two stop early, the last two much later
    cfg = config(epochs=600, optimizer=fnn.sgd(lr=lrs), seed=[0] * 4, stop_loss=0.1, snapshot_every=20)
    params = fnn.init(NET, seed=[0] * 4)
    one = fnn.train(NET, params, LINEAR, cfg, workers=1)
    two = fnn.train(NET, params, LINEAR, cfg, workers=2)
    assert int(one.stop_epoch[0]) < int(one.stop_epoch[3])
    assert [e for e, _ in two.snapshots] == [e for e, _ in one.snapshots]
    assert fnn.compare_traces(one, two).equal


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
    assert 1 <= k < 200
    assert trace.stop_reason == f"diverged at epoch {k}"
    assert int(trace.stop_epoch) == k
    assert not np.isfinite(trace.loss[-1]) and np.all(np.isfinite(trace.loss[:-1]))
    assert all(np.all(np.isfinite(a)) for a in fnn.leaves(trace.params))
    assert np.isfinite(trace.final_loss)
    if batch_size is None:
        # full batch: loss[e] is the loss of the params at the start of epoch e + 1, so the
        # loss of the params at the start of epoch 1 is finite; the params kept are those
        # at the start of epoch k - 1, the last whose loss was finite
        assert k >= 2
        assert float(trace.final_loss) == trace.loss[-2]
    if k == 1:  # diverged within the first epoch: back to the initial params
        assert_trees_equal(trace.params, fnn.init(net, seed=0))


def test_divergence_with_train_iter_gives_no_warning() -> None:
    net = fnn.mlp((2, 10, 1), hidden="identity", output="identity")
    cfg = config(epochs=200, optimizer=fnn.sgd(lr=1e6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        items = list(fnn.train_iter(net, fnn.init(net, seed=0), LINEAR, cfg))
    trace = items[-1].trace
    assert trace is not None and trace.stop_reason.startswith("diverged at epoch")
    assert len(items) == trace.epochs_run


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


def test_train_iter_is_lazy() -> None:
    it = fnn.train_iter(NET, fnn.init(NET, seed=0), LINEAR, config(epochs=10**6))
    first = next(it)
    assert first.epoch == 1 and first.epochs == 10**6 and first.trace is None


def test_train_iter_progress_arrays_are_read_only() -> None:
    """DESIGN principle 2: arrays stored in a frozen record are read-only."""
    cfg = config(epochs=3, seed=[0, 1])
    for p in fnn.train_iter(NET, fnn.init(NET, seed=[0, 1]), LINEAR, cfg):
        for name in ("loss", "accuracy", "grad_norm"):
            arr = getattr(p, name)
            assert isinstance(arr, np.ndarray) and arr.shape == (2,)
            assert not arr.flags.writeable, f"epoch {p.epoch}: Progress.{name} is writable"


def test_last_progress_does_not_alias_the_trace() -> None:
    """Writing into the last Progress must not rewrite the (immutable) Trace."""
    cfg = config(epochs=3, seed=[0, 1])
    items = list(fnn.train_iter(NET, fnn.init(NET, seed=[0, 1]), LINEAR, cfg))
    trace = items[-1].trace
    assert trace is not None
    before = trace.loss.copy()
    arr = items[-1].loss
    if isinstance(arr, np.ndarray) and arr.flags.writeable:
        arr[...] = 123.0
    np.testing.assert_array_equal(trace.loss, before)


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


def test_train_config_member() -> None:
    cfg = fnn.TrainConfig(
        epochs=3, optimizer=fnn.momentum(lr=np.array([0.1, 0.2]), nesterov=True), loss="mse", seed=[7, 8]
    )
    m = cfg.member(1)
    assert m.seed == 8 and m.optimizer == fnn.momentum(lr=0.2, nesterov=True)
    assert m.optimizer.name == "nesterov"


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
