"""Beyond two classes (issue parts 1, 2 and 6): softmax and cross_entropy, multiclass training,
``predict``/``accuracy`` by argmax, regression with R^2 as the trace's accuracy, and the refusals.

The registry-driven tests (``tests/test_activations.py``, ``test_losses.py``, ``test_network.py``,
``test_engine.py``) cover softmax and cross_entropy entry by entry, paired by ``tests/pairing.py``;
these are the cases of their own.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import io as fio
from functional_nn.images import bar_images
from functional_nn.network import class_hits, hits
from tests.engine_helpers import assert_close_run, assert_same_run, assert_trees_close, split_per_model, watch_merge
from tests.helpers import FloatArray, check_grad, check_tree_grad
from tests.pairing import one_hot_labels

SPIRAL = fnn.generate_spiral(60, classes=3, noise=0.1, seed=0)  # mini-batches of 7: eight of 7, one of 4
NET = fnn.mlp((2, 8, 3), hidden="tanh", output="softmax")
SOFTMAX = fnn.Softmax()


def logits(shape: tuple[int, ...], seed: int, scale: float = 2.0) -> FloatArray:
    return scale * np.random.default_rng(seed).standard_normal(shape)


# ---------------------------------------------------------------- softmax ---


@pytest.mark.parametrize("shape", [(1, 2), (6, 3), (2, 5, 4)])
def test_softmax_rows_are_distributions_and_match_the_textbook(shape: tuple[int, ...]) -> None:
    z = logits(shape, seed=len(shape))
    a = SOFTMAX.value(z)
    assert a.shape == z.shape and a.dtype == np.float64
    assert np.all(a > 0.0)
    np.testing.assert_allclose(a.sum(axis=-1), 1.0, rtol=0, atol=4e-16)
    e = np.exp(z)
    np.testing.assert_allclose(a, e / e.sum(axis=-1, keepdims=True), rtol=1e-14)
    shift = np.random.default_rng(0).uniform(-50.0, 50.0, size=(*shape[:-1], 1))  # one shift per row
    np.testing.assert_allclose(SOFTMAX.value(z + shift), a, rtol=1e-12)


def test_softmax_of_equal_logits_is_uniform() -> None:
    np.testing.assert_array_equal(SOFTMAX.value(np.zeros((3, 4))), np.full((3, 4), 0.25))
    np.testing.assert_array_equal(SOFTMAX.value(np.full((1, 2), -700.0)), [[0.5, 0.5]])


@pytest.mark.parametrize("shape", [(1, 2), (6, 3), (2, 5, 4)])
def test_softmax_backward_is_the_jacobian_vector_product(shape: tuple[int, ...]) -> None:
    """``backward(z, a, v)`` is ``J v`` with ``J = diag(a) - a a^T`` (symmetric: also ``J^T v``),
    and that is the derivative of ``value`` along ``v`` (central differences, row by row)."""
    z = logits(shape, seed=10 + len(shape))
    v = np.random.default_rng(11).standard_normal(shape)
    a = SOFTMAX.value(z)
    jvp = SOFTMAX.backward(z, a, v)
    assert jvp.shape == shape
    rows_z, rows_a, rows_v, rows_jvp = (t.reshape(-1, shape[-1]) for t in (z, a, v, jvp))
    for zz, aa, vv, got in zip(rows_z, rows_a, rows_v, rows_jvp, strict=True):
        jacobian = np.diag(aa) - np.outer(aa, aa)
        np.testing.assert_allclose(got, jacobian @ vv, rtol=1e-12, atol=1e-15)
        eps = 1e-6
        numeric = (SOFTMAX.value(zz + eps * vv) - SOFTMAX.value(zz - eps * vv)) / (2 * eps)
        np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(jvp.sum(axis=-1), 0.0, atol=1e-15)  # the outputs' sum is constant


def test_softmax_backward_matches_central_differences_of_a_scalar_loss() -> None:
    """L = sum(r * softmax(z)) over leading model axes: backward(z, a, r) is dL/dz."""
    z = logits((3, 4, 5), seed=3)
    r = np.random.default_rng(4).standard_normal(z.shape)
    check_grad(lambda zz: float(np.sum(r * SOFTMAX.value(zz))), z, SOFTMAX.backward(z, SOFTMAX.value(z), r), seed=5)


@pytest.mark.parametrize("big", [1e4, 1e300])
def test_softmax_of_huge_logits_is_exact_without_warning(big: float) -> None:
    z = np.array([[big, -big, 0.0], [-big, -big, -big], [0.0, big, big]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = SOFTMAX.value(z)
        dz = SOFTMAX.backward(z, a, np.ones_like(z))
    np.testing.assert_array_equal(a, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.5, 0.5]])
    assert np.all(np.isfinite(dz))


# ---------------------------------------------------------- cross_entropy ---


def textbook_cross_entropy(z: FloatArray, y: FloatArray) -> FloatArray:
    """``mean over samples of -sum_k y log softmax(z)``, per model (moderate z only)."""
    e = np.exp(z)
    log_a = np.log(e / e.sum(axis=-1, keepdims=True))
    out: FloatArray = -(y * log_a).sum(axis=-1).mean(axis=-1)
    return out


@pytest.mark.parametrize("shape", [(1, 2), (7, 4), (3, 5, 3)])
def test_cross_entropy_matches_the_textbook_formula(shape: tuple[int, ...]) -> None:
    z = logits(shape, seed=20 + shape[-1])
    y = one_hot_labels(np.random.default_rng(21), shape)
    value = fnn.cross_entropy.value(z, SOFTMAX.value(z), y)
    assert value.shape == shape[:-2]
    np.testing.assert_allclose(value, textbook_cross_entropy(z, y), rtol=1e-12)


def test_cross_entropy_is_a_mean_over_samples_not_over_outputs() -> None:
    """Equal logits: each sample costs log(k), and so does the mean (not log(k) / k)."""
    z = np.zeros((5, 4))
    y = one_hot_labels(np.random.default_rng(0), z.shape)
    assert float(fnn.cross_entropy.value(z, SOFTMAX.value(z), y)) == pytest.approx(np.log(4.0), rel=1e-15)


@pytest.mark.parametrize(("label", "expected"), [(0, 0.0), (1, 2e4), (2, 1e4)])
def test_cross_entropy_from_the_logits_at_1e4_is_exact_without_warning(label: int, expected: float) -> None:
    """z = [1e4, -1e4, 0]: no exp overflows, no log(0) is taken; the cost is logsumexp(z) - z_label exactly."""
    z = np.array([[1e4, -1e4, 0.0]])
    y = np.eye(3)[[label]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = SOFTMAX.value(z)
        value = fnn.cross_entropy.value(z, a, y)
        delta = fnn.cross_entropy.delta(z, a, y, SOFTMAX)
    assert float(value) == expected
    np.testing.assert_array_equal(delta, np.array([[1.0, 0.0, 0.0]]) - y)


def test_cross_entropy_from_the_logits_at_1e308_is_exact_without_warning() -> None:
    z = np.array([[1e308, -1e308, 0.0]])
    y = np.eye(3)[[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = fnn.cross_entropy.value(z, SOFTMAX.value(z), y)
    assert float(value) == 0.0


def test_cross_entropy_of_huge_logits_through_a_network_is_finite() -> None:
    """One softmax layer whose logits reach 1e4: the loss is exact, the gradient finite, nothing warns."""
    net = fnn.mlp((1, 3), output="softmax")
    params = (fnn.Dense(w=np.array([[1e4, -1e4, 0.0]]), b=np.zeros(3)),)
    x = np.array([[1.0], [1.0], [-1.0]])
    y = np.eye(3)[[1, 0, 0]]  # costs 2e4, 0 and 2e4 (the third sample's logits are [-1e4, 1e4, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grads = fnn.grad(net, params, x, y, loss="cross_entropy")
    assert float(value) == pytest.approx(4e4 / 3, rel=1e-15)
    assert np.all(np.isfinite(grads[0].w)) and np.all(np.isfinite(grads[0].b))


@pytest.mark.parametrize("shape", [(1, 2), (6, 4), (2, 5, 3)])
def test_cross_entropy_delta_is_fused_through_the_softmax(shape: tuple[int, ...]) -> None:
    """dL/dz = (a - y) / n: the softmax's chain rule of dL/da = -y / (a n), without the division by a."""
    z = logits(shape, seed=30 + shape[-1])
    y = one_hot_labels(np.random.default_rng(31), shape)
    a = SOFTMAX.value(z)
    n = shape[-2]
    delta = fnn.cross_entropy.delta(z, a, y, SOFTMAX)
    np.testing.assert_array_equal(delta, (a - y) / n)
    np.testing.assert_allclose(delta, SOFTMAX.backward(z, a, -y / (a * n)), rtol=1e-12, atol=1e-15)

    def total(zz: FloatArray) -> float:  # the models' sum: each model's loss sees only its own z
        return float(np.sum(fnn.cross_entropy.value(zz, SOFTMAX.value(zz), y)))

    check_grad(total, z, delta, seed=32)


# ------------------------------------------------- the network's gradient ---


def test_one_softmax_layer_with_cross_entropy_has_the_closed_form_gradient() -> None:
    """Multinomial logistic regression: dL/dw = x^T (a - y) / n, dL/db = mean(a - y)."""
    net = fnn.mlp((3, 4), output="softmax")
    rng = np.random.default_rng(0)
    params = (fnn.Dense(w=rng.standard_normal((3, 4)), b=rng.standard_normal(4)),)
    x = rng.standard_normal((9, 3))
    y = one_hot_labels(rng, (9, 4))
    value, grads = fnn.grad(net, params, x, y, loss=fnn.cross_entropy)
    a = fnn.forward(net, params, x)
    np.testing.assert_allclose(grads[0].w, x.T @ (a - y) / 9, rtol=1e-12)
    np.testing.assert_allclose(grads[0].b, np.mean(a - y, axis=0), rtol=1e-12)
    assert float(value) == pytest.approx(float(textbook_cross_entropy(x @ params[0].w + params[0].b, y)), rel=1e-12)


@pytest.mark.parametrize("models", [(), (2,)], ids=["single", "stacked"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_network_grad_with_a_softmax_output_matches_central_differences(loss: str, models: tuple[int, ...]) -> None:
    """cross_entropy through its fused delta, mse through the softmax's general backward."""
    net = fnn.mlp((3, 5, 4), hidden="tanh", output="softmax")
    params = fnn.init(net, seed=[1, 2] if models else 1)
    params = tuple(attrs.evolve(p, b=0.5 * np.random.default_rng(3).standard_normal(p.b.shape)) for p in params)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((7, 3))
    y = one_hot_labels(rng, (7, 4))
    value, grads = fnn.grad(net, params, x, y, loss=loss)
    assert value.shape == models

    def loss_of(p: fnn.Params) -> float:
        return float(np.sum(fnn.grad(net, p, x, y, loss=loss)[0]))

    check_tree_grad(loss_of, params, grads, seed=5)


def bars3(n: int, *, size: int = 6, seed: int) -> fnn.Dataset:
    """Three classes of images: a horizontal bar (0), a vertical bar (1), noise only (2); one-hot labels."""
    bars = bar_images(n - n // 3, size=size, noise=0.3, seed=seed)
    blank = 0.3 * np.random.default_rng(seed + 1).standard_normal((n // 3, size * size))
    order = np.random.default_rng(seed + 2).permutation(n)
    x = np.concatenate([bars.x, blank])[order]
    labels = np.concatenate([bars.y[:, 0].astype(np.int64), np.full(n // 3, 2)])[order]
    return fnn.Dataset(x=x, y=fnn.one_hot(labels, 3))


BARS3 = bars3(18, seed=0)


def cnn3(pool: str = "max", activation: str = "relu") -> fnn.Network:
    """Conv (2 filters of 3x3 on 6x6), a 2x2 pool, then a Dense softmax layer over the 3 classes."""
    conv = fnn.Conv2DLayer((1, 6, 6), 2, 3, activation=activation)
    if pool == "max":
        return fnn.cnn(conv, fnn.MaxPool2DLayer(conv.out_shape, 2), fnn.DenseLayer(8, 3, "softmax"))
    avg = fnn.AvgPool2DLayer(conv.out_shape, 2)
    return fnn.cnn(conv, avg, fnn.FlattenLayer(avg.out_shape), fnn.DenseLayer(8, 3, "softmax"))


def test_conv_network_with_a_softmax_output_matches_central_differences() -> None:
    net = cnn3("avg", "tanh")
    params = fnn.init(net, seed=0)
    x, y = BARS3.x[:5], BARS3.y[:5]
    _, grads = fnn.grad(net, params, x, y, loss="cross_entropy")
    check_tree_grad(lambda p: float(fnn.grad(net, p, x, y, loss="cross_entropy")[0]), params, grads, seed=1)


# ------------------------------------------------------ multiclass training ---

ENGINES = ["fast", "reference"]
SEEDS = [3, 4, 5]


def config(*, epochs: int = 15, optimizer: str | fnn.Optimizer = "adam", **kwargs: object) -> fnn.TrainConfig:
    kwargs.setdefault("loss", "cross_entropy")
    opt = fnn.make_optimizer(optimizer) if isinstance(optimizer, str) else optimizer
    return fnn.TrainConfig(epochs=epochs, optimizer=opt, **kwargs)  # type: ignore[arg-type]


def test_multiclass_data_from_the_generators_pose_a_multiclass_task() -> None:
    assert SPIRAL.task == "multiclass" and SPIRAL.classes == 3 and SPIRAL.y.shape == (60, 3)
    assert BARS3.task == "multiclass" and BARS3.y.sum(axis=0).tolist() == [6.0, 6.0, 6.0]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("batch_size", [None, 7])
def test_multiclass_stack_members_equal_models_trained_alone(batch_size: int | None, engine: str) -> None:
    lrs = np.array([0.01, 0.03, 0.1])
    cfg = config(optimizer=fnn.adam(lr=lrs), batch_size=batch_size, shuffle=True, seed=SEEDS)
    stacked = fnn.train(NET, fnn.init(NET, seed=SEEDS), SPIRAL, cfg, engine=engine)
    assert stacked.models == (3,) and stacked.stop_reason == "3 epochs done"
    for k, s in enumerate(SEEDS):
        alone = fnn.train(NET, fnn.init(NET, seed=s), SPIRAL, cfg.member(k), engine=engine)
        member = stacked.member(k)
        assert_close_run(member, alone, rtol=1e-12)
        assert_trees_close(member.params, alone.params, rtol=1e-12, atol=1e-300)
        assert member.config == alone.config and member.seed == alone.seed == s


def test_multiclass_stack_split_into_chunks_changes_no_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config(batch_size=7, shuffle=True, seed=SEEDS, snapshot_every=5)
    params = fnn.init(NET, seed=SEEDS)
    whole = fnn.train(NET, params, SPIRAL, cfg, workers=1)
    merged = watch_merge(monkeypatch)
    split_per_model(monkeypatch)
    assert_same_run(whole, fnn.train(NET, params, SPIRAL, cfg, workers=2))
    assert merged == [3]


MODES = {"full-single": (None, False), "mini-single": (7, False), "full-stack": (None, True), "mini-stack": (7, True)}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("opt", tuple(fnn.OPTIMIZERS))
def test_multiclass_fast_engine_equals_the_reference_bit_for_bit(opt: str, mode: str) -> None:
    """The fast engine runs its generic flat step for a softmax network: the same bits as the reference."""
    batch_size, stacked = MODES[mode]
    default = fnn.make_optimizer(opt).lr
    optimizer = fnn.make_optimizer(opt, lr=np.array([0.5, 1.0, 2.0]) * default if stacked else default)
    seed: int | list[int] = SEEDS if stacked else SEEDS[0]
    cfg = config(epochs=8, optimizer=optimizer, batch_size=batch_size, shuffle=True, seed=seed, snapshot_every=3)
    params = fnn.init(NET, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast = fnn.train(NET, params, SPIRAL, cfg, engine="fast")
        ref = fnn.train(NET, params, SPIRAL, cfg, engine="reference")
    assert_same_run(fast, ref)
    assert fast.config.optimizer.name == opt


@pytest.mark.parametrize("mode", ["full-single", "mini-stack"])
def test_conv_network_with_a_softmax_dense_layer_trains_the_same_in_both_engines(mode: str) -> None:
    batch_size, stacked = MODES[mode]
    seed: int | list[int] = [0, 1] if stacked else 0
    cfg = config(epochs=6, optimizer=fnn.adam(lr=0.02), batch_size=batch_size and 5, shuffle=True, seed=seed)
    net = cnn3()
    params = fnn.init(net, seed=seed)
    fast = fnn.train(net, params, BARS3, cfg, engine="fast")
    ref = fnn.train(net, params, BARS3, cfg, engine="reference")
    assert_same_run(fast, ref)
    assert fast.stop_reason.endswith("epochs done")
    np.testing.assert_array_equal(fast.final_accuracy, fnn.accuracy(net, fast.params, BARS3.x, BARS3.y))


def test_conv_network_with_a_softmax_output_learns_three_classes() -> None:
    data = bars3(30, seed=1)
    net = cnn3()
    cfg = config(epochs=60, optimizer=fnn.adam(lr=0.05), seed=0)
    trace = fnn.train(net, fnn.init(net, seed=0, scheme="he"), data, cfg)
    assert float(trace.final_loss) < 0.25 * float(trace.loss[0])
    assert float(trace.final_accuracy) >= 0.8 > 0.5 > float(trace.accuracy[0])  # (chance: 1/3)


def test_multiclass_run_learns_the_spiral_arms_it_is_given() -> None:
    net = fnn.mlp((2, 16, 3), hidden="tanh", output="softmax")
    cfg = config(epochs=150, optimizer=fnn.adam(lr=0.05), seed=0)
    trace = fnn.train(net, fnn.init(net, seed=0, scheme="xavier"), SPIRAL, cfg)
    assert float(trace.final_loss) < 0.5 * float(trace.loss[0])
    assert float(trace.final_accuracy) > 0.8 > float(trace.accuracy[0])


@pytest.mark.parametrize("seed", [0, SEEDS], ids=["single", "stack"])
def test_multiclass_trace_and_params_round_trip_and_resume_exactly(tmp_path: Path, seed: int | list[int]) -> None:
    cfg = config(epochs=5, batch_size=7, shuffle=True, seed=seed, snapshot_every=2)
    params = fnn.init(NET, seed=seed)
    first = fnn.train(NET, params, SPIRAL, cfg)
    fio.save_trace(tmp_path / "t.npz", first)
    loaded = fio.load_trace(tmp_path / "t.npz")
    assert_same_run(first, loaded)
    assert loaded.network == NET and loaded.config == first.config
    assert loaded.config.loss is fnn.cross_entropy
    whole = fnn.train(NET, params, SPIRAL, attrs.evolve(cfg, epochs=9))
    for start in (first, loaded):
        assert_same_run(whole, fnn.resume(start, SPIRAL, 4))
    fio.save_params(tmp_path / "p.npz", NET, whole.params)
    net2, params2 = fio.load_params(tmp_path / "p.npz")
    assert net2 == NET and net2.output_activation == SOFTMAX
    np.testing.assert_array_equal(fnn.predict(net2, params2, SPIRAL.x), fnn.predict(NET, whole.params, SPIRAL.x))


def test_conv_multiclass_run_resumes_exactly() -> None:
    net = cnn3()
    cfg = config(epochs=4, optimizer="momentum", batch_size=5, shuffle=True, seed=[0, 1])
    params = fnn.init(net, seed=[0, 1])
    whole = fnn.train(net, params, BARS3, attrs.evolve(cfg, epochs=6))
    assert_same_run(whole, fnn.resume(fnn.train(net, params, BARS3, cfg), BARS3, 2))


# ------------------------------------------------ predict and accuracy, k > 1 ---


@pytest.mark.parametrize("seed", [0, [0, 1, 2]], ids=["single", "stack"])
def test_predict_gives_the_one_hot_row_of_the_largest_output(seed: int | list[int]) -> None:
    params = fnn.init(NET, seed=seed)
    out = fnn.forward(NET, params, SPIRAL.x)
    labels = fnn.predict(NET, params, SPIRAL.x)
    assert labels.shape == out.shape and labels.dtype == np.float64
    np.testing.assert_array_equal(labels.sum(axis=-1), 1.0)
    np.testing.assert_array_equal(labels, np.eye(3)[np.argmax(out, axis=-1)])
    np.testing.assert_array_equal(fnn.predict(NET, params, SPIRAL.x, threshold=0.99), labels)  # not a threshold


def test_predict_breaks_ties_to_the_first_class() -> None:
    net = fnn.mlp((2, 3), output="softmax")
    params = (fnn.Dense(w=np.zeros((2, 3)), b=np.array([0.0, 1.0, 1.0])),)
    np.testing.assert_array_equal(fnn.predict(net, params, [[0.0, 0.0]]), [[0.0, 1.0, 0.0]])


@pytest.mark.parametrize("seed", [0, [0, 1, 2]], ids=["single", "stack"])
def test_accuracy_of_a_softmax_output_counts_samples_whose_argmax_matches(seed: int | list[int]) -> None:
    params = fnn.init(NET, seed=seed)
    x, y = SPIRAL.x, SPIRAL.y
    predicted = np.argmax(fnn.forward(NET, params, x), axis=-1)
    expected = np.mean(predicted == np.argmax(y, axis=-1), axis=-1)
    acc = fnn.accuracy(NET, params, x, y)
    assert acc.shape == np.shape(expected)
    np.testing.assert_array_equal(acc, expected)
    own = fnn.predict(NET, params, x)  # each model's own predictions, `(*models, n, 3)`
    xs = np.broadcast_to(x, own.shape[:-1] + x.shape[-1:])  # (a stack's per-model y needs per-model x)
    np.testing.assert_array_equal(fnn.accuracy(NET, params, xs, own), np.ones(acc.shape))
    # a wrong class costs its sample once, not once per output (k = 3 outputs, 2 of them wrong)
    single = fnn.init(NET, seed=0)
    mine = fnn.predict(NET, single, x)
    wrong = mine.copy()
    wrong[:6] = np.roll(wrong[:6], 1, axis=-1)
    assert float(fnn.accuracy(NET, single, x, wrong)) == pytest.approx(1.0 - 6 / 60, rel=1e-15)


def test_accuracy_with_one_output_and_several_sigmoids_keeps_counting_outputs() -> None:
    """k = 1 (and independent sigmoid outputs) as before: the share of correct 0/1 labels, threshold 0.5."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 3))
    for sizes in [(3, 4, 1), (3, 4, 2)]:
        net = fnn.mlp(sizes)
        params = fnn.init(net, seed=1)
        out = fnn.forward(net, params, x)
        np.testing.assert_array_equal(fnn.predict(net, params, x), (out >= 0.5).astype(np.float64))
        y = (rng.random(out.shape) < 0.5).astype(np.float64)
        assert float(fnn.accuracy(net, params, x, y)) == float(np.mean((out >= 0.5) == (y == 1.0)))
    net = fnn.mlp((3, 4, 2))
    params = fnn.init(net, seed=1)
    y = fnn.predict(net, params, x)
    y[0] = 1.0 - y[0]  # both outputs of one sample wrong: 2 of 20 labels (by argmax, 1 of 10 samples)
    y[1, 0] = 1.0 - y[1, 0]  # one output of another: 3 of 20
    assert float(fnn.accuracy(net, params, x, y)) == pytest.approx(17 / 20, rel=1e-15)


def test_hits_and_class_hits_by_hand() -> None:
    a = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    y = np.eye(3)[[1, 1, 2]]
    assert float(class_hits(a, y)) == 2.0  # samples 0 and 2
    assert float(hits(a, y)) == 7.0  # per output at 0.5: 3 + 1 + 3 (sample 1: 0.6 says 1 where 0 is right)


# ---------------------------------------------- the trace's accuracy per task ---


def test_trace_accuracy_of_a_multiclass_run_is_the_share_of_samples() -> None:
    """Full batch: epoch e's accuracy is that of the params it started from (the snapshot of epoch e - 1)."""
    cfg = config(epochs=6, seed=0, snapshot_every=1)
    params = fnn.init(NET, seed=0)
    trace = fnn.train(NET, params, SPIRAL, cfg)
    starts = [params, *(p for _, p in trace.snapshots[:-1])]
    for e, p in enumerate(starts):
        assert float(trace.accuracy[e]) == float(fnn.accuracy(NET, p, SPIRAL.x, SPIRAL.y)), e
    assert float(trace.final_accuracy) == float(fnn.accuracy(NET, trace.params, SPIRAL.x, SPIRAL.y))
    progress = list(fnn.train_iter(NET, params, SPIRAL, cfg))
    np.testing.assert_array_equal([float(p.accuracy) for p in progress], trace.accuracy)


def test_trace_accuracy_of_a_mini_batch_multiclass_stack_counts_every_sample_once() -> None:
    cfg = config(epochs=3, batch_size=7, shuffle=True, seed=SEEDS)
    trace = fnn.train(NET, fnn.init(NET, seed=SEEDS), SPIRAL, cfg)
    counts = trace.accuracy * 60
    np.testing.assert_allclose(counts, np.round(counts), rtol=0, atol=1e-9)  # whole samples out of 60
    assert np.all((trace.accuracy >= 0.0) & (trace.accuracy <= 1.0))
    np.testing.assert_array_equal(trace.final_accuracy, fnn.accuracy(NET, trace.params, SPIRAL.x, SPIRAL.y))


def test_trace_accuracy_of_a_binary_run_is_the_share_of_outputs() -> None:
    data = fnn.Dataset(x=SPIRAL.x, y=fnn.predict(NET, fnn.init(NET, seed=9), SPIRAL.x)[:, :2])
    assert data.task == "binary"  # two 0/1 columns, some rows all 0: not one-hot
    net = fnn.mlp((2, 6, 2), hidden="tanh")
    trace = fnn.train(net, fnn.init(net, seed=0), data, config(epochs=3, loss="bce", seed=0))
    assert float(trace.final_accuracy) == float(fnn.accuracy(net, trace.params, data.x, data.y))


REGRESSION_X = np.random.default_rng(0).uniform(-2.0, 2.0, size=(64, 2))
REGRESSION = fnn.Dataset(
    x=REGRESSION_X, y=np.sin(REGRESSION_X[:, :1]) + 0.5 * REGRESSION_X[:, 1:], task="regression"
)  # a smooth target


def r_squared(net: fnn.Network, params: fnn.Params, data: fnn.Dataset) -> FloatArray:
    """``1 - SSE / SST`` of ``params`` (per model), by hand."""
    sse = np.sum((fnn.forward(net, params, data.x) - data.y) ** 2, axis=(-2, -1))
    out: FloatArray = 1.0 - sse / np.sum((data.y - data.y.mean(axis=0)) ** 2)
    return out


def test_regression_trains_with_mse_and_an_identity_output_to_a_high_r_squared() -> None:
    net = fnn.mlp((2, 16, 1), hidden="tanh", output="identity")
    trace = fnn.train(net, fnn.init(net, seed=0, scheme="xavier"), REGRESSION, config(epochs=80, loss="mse", seed=0))
    assert trace.stop_reason == "epochs done"
    np.testing.assert_allclose(trace.final_accuracy, r_squared(net, trace.params, REGRESSION), rtol=1e-12)
    assert float(trace.final_accuracy) > 0.9
    assert float(trace.accuracy[0]) < 0.9 < float(trace.accuracy[-1])


@pytest.mark.parametrize("batch_size", [None, 10])
def test_regression_trace_accuracy_is_r_squared_at_every_epoch(batch_size: int | None) -> None:
    """Per epoch (full batch: of the params the epoch started from) and at the end, per model of a stack."""
    net = fnn.mlp((2, 6, 2), hidden="tanh", output="identity")
    y = np.concatenate([REGRESSION.y, np.cos(REGRESSION_X[:, 1:])], axis=1)  # two targets
    data = fnn.Dataset(x=REGRESSION_X, y=y, task="regression")
    params = fnn.init(net, seed=[0, 1])
    cfg = config(epochs=5, loss="mse", batch_size=batch_size, shuffle=True, seed=[0, 1], snapshot_every=1)
    trace = fnn.train(net, params, data, cfg)
    np.testing.assert_allclose(trace.final_accuracy, r_squared(net, trace.params, data), rtol=1e-12)
    if batch_size is None:
        starts = [params, *(p for _, p in trace.snapshots[:-1])]
        for e, p in enumerate(starts):
            np.testing.assert_allclose(trace.accuracy[e], r_squared(net, p, data), rtol=1e-12, err_msg=str(e))
    else:  # measured during the epoch's updates: SSE over every sample once, against the same SST
        assert np.all(trace.accuracy <= 1.0)


def test_regression_of_the_mean_has_r_squared_zero() -> None:
    """A network that outputs the targets' mean explains nothing: R^2 = 0."""
    net = fnn.mlp((2, 1), output="identity")
    params = (fnn.Dense(w=np.zeros((2, 1)), b=REGRESSION.y.mean(axis=0)),)
    trace = fnn.train(net, params, REGRESSION, config(epochs=1, optimizer=fnn.sgd(lr=1e-12), loss="mse", seed=0))
    assert float(trace.accuracy[0]) == pytest.approx(0.0, abs=1e-12)


def test_mse_takes_real_valued_targets_in_grad() -> None:
    net = fnn.mlp((2, 3, 1), output="identity")
    value, _ = fnn.grad(net, fnn.init(net, seed=0), REGRESSION.x[:4], REGRESSION.y[:4], loss="mse")
    assert np.isfinite(value)


# ----------------------------------------------------------------- refusals ---

Refusal = tuple[str, Callable[[], object], type[Exception], str]

SIGMOID_NET = fnn.mlp((2, 4, 1))
TRAIN_CE = config(epochs=2)
REFUSALS: list[Refusal] = [
    (
        "cross_entropy labels with two 1s",
        lambda: fnn.grad(
            NET, fnn.init(NET, seed=0), SPIRAL.x[:2], [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], loss="cross_entropy"
        ),
        ValueError,
        r"^y must hold one-hot rows \(one 1, the rest 0\) for loss 'cross_entropy', "
        r"got 1 row\(s\) that are not; build them with fnn\.one_hot\(labels\)$",
    ),
    (
        "cross_entropy labels a row of 0s",
        lambda: fnn.grad(
            NET, fnn.init(NET, seed=0), SPIRAL.x[:2], [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]], loss="cross_entropy"
        ),
        ValueError,
        r"^y must hold one-hot rows .* got 1 row\(s\) that are not",
    ),
    (
        "cross_entropy labels real-valued",
        lambda: fnn.grad(NET, fnn.init(NET, seed=0), SPIRAL.x[:1], [[0.2, 0.3, 0.5]], loss="cross_entropy"),
        ValueError,
        r"^y must hold labels 0 or 1 for loss 'cross_entropy', got 0\.2 \(and 3 such value\(s\) in all\)",
    ),
    (
        "cross_entropy data with 0/1 columns that are not one-hot",
        lambda: fnn.train(NET, fnn.init(NET, seed=0), fnn.Dataset(x=np.zeros((2, 2)), y=np.ones((2, 3))), TRAIN_CE),
        ValueError,
        r"^data\.y must hold one-hot rows .* for loss 'cross_entropy', got 2 row\(s\) that are not",
    ),
    (
        "cross_entropy labels in one column",
        lambda: fnn.cross_entropy.check_labels(np.ones((5, 1)), "data.y"),
        ValueError,
        r"^data\.y must have k >= 2 one-hot columns for loss 'cross_entropy', got shape \(5, 1\)",
    ),
    (
        "cross_entropy after a sigmoid",
        lambda: fnn.train(SIGMOID_NET, fnn.init(SIGMOID_NET, seed=0), fnn.generate_linear(5, seed=0), TRAIN_CE),
        ValueError,
        r"^loss 'cross_entropy' needs a softmax output layer \(output='softmax'\), got output='sigmoid'$",
    ),
    (
        "softmax with bce in grad",
        lambda: fnn.grad(NET, fnn.init(NET, seed=0), SPIRAL.x[:2], SPIRAL.y[:2], loss="bce"),
        ValueError,
        r"^loss 'bce' needs a sigmoid output layer \(output='sigmoid'\), got output='softmax'; "
        r"a softmax output goes with loss 'cross_entropy'$",
    ),
    (
        "softmax with bce in train",
        lambda: fnn.train(NET, fnn.init(NET, seed=0), SPIRAL, config(epochs=2, loss="bce")),
        ValueError,
        r"^loss 'bce' needs a sigmoid output layer.*got output='softmax'; a softmax output goes with loss 'cross_entropy'$",
    ),
    (
        "network outputs differ from the label columns in train",
        lambda: fnn.train(
            fnn.mlp((2, 4, 4), output="softmax"),
            fnn.init(fnn.mlp((2, 4, 4), output="softmax"), seed=0),
            SPIRAL,
            TRAIN_CE,
        ),
        ValueError,
        r"^data\.y must have shape \(n, 4\) to match the network, got shape \(60, 3\)$",
    ),
    (
        "network outputs differ from the label columns in grad",
        lambda: fnn.grad(NET, fnn.init(NET, seed=0), SPIRAL.x, SPIRAL.y[:, :2], loss="cross_entropy"),
        ValueError,
        r"^y must have shape \(n, 3\) to match the network's output size, got shape \(60, 2\)$",
    ),
    (
        "network outputs differ from the label columns in accuracy",
        lambda: fnn.accuracy(NET, fnn.init(NET, seed=0), SPIRAL.x, np.ones((60, 1))),
        ValueError,
        r"^y must have shape \(n, 3\) to match the network's output size, got shape \(60, 1\)$",
    ),
    (
        "real-valued targets with bce in train",
        lambda: fnn.train(SIGMOID_NET, fnn.init(SIGMOID_NET, seed=0), REGRESSION, config(epochs=2, loss="bce")),
        ValueError,
        r"^data\.y must hold labels 0 or 1 for loss 'bce', got -?\d\.\d+ \(and \d+ such value\(s\) in all\); "
        r"for real-valued targets use 'mse'$",
    ),
    (
        "real-valued targets with bce in grad",
        lambda: fnn.grad(SIGMOID_NET, fnn.init(SIGMOID_NET, seed=0), [[0.0, 0.0]], [[0.25]], loss="bce"),
        ValueError,
        r"^y must hold labels 0 or 1 for loss 'bce', got 0\.25 \(and 1 such value\(s\) in all\); for real-valued",
    ),
    (
        "real-valued targets with cross_entropy in train",
        lambda: fnn.train(
            NET, fnn.init(NET, seed=0), fnn.Dataset(x=SPIRAL.x, y=0.5 * SPIRAL.y + 0.1, task="regression"), TRAIN_CE
        ),
        ValueError,
        r"^data\.y must hold labels 0 or 1 for loss 'cross_entropy'.*for real-valued targets use 'mse'$",
    ),
    (
        "real-valued targets without task",
        lambda: fnn.Dataset(x=REGRESSION.x, y=REGRESSION.y),
        ValueError,
        r"^y must hold labels 0 or 1, got .*for real-valued targets pass task=\"regression\" explicitly$",
    ),
    (
        "unknown task",
        lambda: fnn.Dataset(x=SPIRAL.x, y=SPIRAL.y, task="classification"),
        ValueError,
        r"^task must be one of 'binary', 'multiclass', 'regression'; got 'classification'$",
    ),
    (
        "multiclass task with labels that are not one-hot",
        lambda: fnn.Dataset(x=np.zeros((2, 1)), y=[[1.0, 1.0], [0.0, 1.0]], task="multiclass"),
        ValueError,
        r"^y must hold one-hot rows \(one 1, the rest 0\) for task 'multiclass', got row 0 = \[1\.0, 1\.0\]",
    ),
    (
        "spiral with one class",
        lambda: fnn.generate_spiral(10, classes=1, seed=0),
        ValueError,
        r"^classes must be an integer >= 2, got 1$",
    ),
    (
        "gauss with fewer points than classes",
        lambda: fnn.generate_gauss(2, classes=3, seed=0),
        ValueError,
        r"^n must be >= classes \(3\) so that every class gets a point, got 2$",
    ),
    (
        "one_hot label out of range",
        lambda: fnn.one_hot([0, 3], classes=3),
        ValueError,
        r"^labels must be < classes \(3\), got 3$",
    ),
    (
        "loss check_labels names its argument",
        lambda: fnn.cross_entropy.check_labels(np.array([[1.0, 0.0], [1.0, 1.0]]), "targets"),
        ValueError,
        r"^targets must hold one-hot rows",
    ),
]


@pytest.mark.parametrize(("thunk", "error", "match"), [pytest.param(t, e, m, id=i) for i, t, e, m in REFUSALS])
def test_refusals_name_the_argument(thunk: Callable[[], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        thunk()


def test_refusal_ids_are_unique() -> None:
    ids = [case[0] for case in REFUSALS]
    assert len(ids) == len(set(ids))


def test_labels_are_checked_before_any_work() -> None:
    """A refused run touches nothing and computes nothing: the trace is never made."""
    bad = fnn.Dataset(x=SPIRAL.x, y=np.roll(SPIRAL.y, 1, axis=1) + SPIRAL.y)  # two 1s in every row: binary
    assert bad.task == "binary"
    with pytest.raises(ValueError, match=r"^data\.y must hold one-hot rows"):
        fnn.train_iter(NET, fnn.init(NET, seed=0), bad, TRAIN_CE)  # refused when called, not when iterated


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: fnn.mlp((2, 3, 1), output="softmax"), id="mlp output"),
        pytest.param(lambda: fnn.DenseLayer(3, 1, "softmax"), id="DenseLayer"),
    ],
)
def test_a_softmax_over_one_output_is_refused(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=r"(?s)^(?=.*softmax)(?=.*\b2\b)"):
        build()


def test_accuracy_of_a_softmax_output_refuses_rows_that_are_not_one_hot() -> None:
    params = fnn.init(NET, seed=0)
    with pytest.raises(ValueError, match=r"^y must hold one-hot rows"):
        fnn.accuracy(NET, params, SPIRAL.x[:2], [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
