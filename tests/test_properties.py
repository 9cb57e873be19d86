"""Property tests over the public entry points: for generated shapes, sizes and values
(NaN, inf, huge and tiny numbers, empty arrays, wrong dtypes) every call returns finite
results or raises ValueError/TypeError with a message; never another exception, never
a warning (warnings are errors in this suite).

Each property draws mostly valid arguments (about seven in eight) and a minority with
one argument spoilt, so that both branches run: the asserts on a finite result, and
the refusal.  A ``Tally`` counts the examples of each branch, and every test ends by
checking that most examples reached the asserts and that some were refused: a
strategy that drifts to refused inputs only makes the test fail, not pass vacuously.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import functional_nn as fnn
from functional_nn.tree import leaves
from tests.helpers import FloatArray, structure
from tests.pairing import output_for

T = TypeVar("T")

NASTY_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e300, -1e300, 1e3, -1e3, 0.5, 1.0]),
)
SCALARS: st.SearchStrategy[Any] = st.one_of(
    NASTY_FLOATS, st.integers(-(10**20), 10**20), st.booleans(), st.none(), st.text(max_size=3), st.just([1, 2])
)
FINITE = st.floats(min_value=-1e6, max_value=1e6)
LABELS = st.sampled_from([0.0, 1.0])


def _arrays(max_dims: int = 3) -> st.SearchStrategy[Any]:
    """Arrays of any shape and dtype (empty ones too), nested lists and scalars: mostly refused."""
    shapes = hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=5)
    floats = hnp.arrays(np.float64, shapes, elements=NASTY_FLOATS)
    ints = hnp.arrays(np.int64, shapes, elements=st.integers(-3, 3))
    strings = hnp.arrays(np.dtype("U1"), shapes)
    complexes = hnp.arrays(np.complex128, shapes, elements=st.complex_numbers(max_magnitude=10))
    bools = hnp.arrays(np.bool_, shapes)
    return st.one_of(floats, ints, strings, complexes, bools, st.just([[1.0, 2.0]]), st.just([]), SCALARS)


def mostly(valid: st.SearchStrategy[T], invalid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Seven draws in eight from ``valid``, the others from ``invalid``."""
    return st.integers(0, 7).flatmap(lambda i: invalid if i == 0 else valid)


@st.composite
def batches(
    draw: st.DrawFn, features: int = 2, outputs: int = 1, *, one_hot: bool = False
) -> tuple[FloatArray, FloatArray]:
    """A valid batch: finite inputs `(n, features)` and labels in {0, 1} `(n, outputs)` (one-hot rows if asked)."""
    n = draw(st.integers(1, 8))
    x = draw(hnp.arrays(np.float64, (n, features), elements=FINITE))
    if one_hot:
        classes = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, outputs - 1)))
        return x, (np.arange(outputs) == classes[:, None]).astype(np.float64)
    y = draw(hnp.arrays(np.float64, (n, outputs), elements=LABELS))
    return x, y


def spoilt(valid: st.SearchStrategy[tuple[FloatArray, FloatArray]]) -> st.SearchStrategy[tuple[Any, Any]]:
    """A batch with x, y or both replaced by anything at all."""
    return st.one_of(
        valid.flatmap(lambda xy: st.tuples(_arrays(), st.just(xy[1]))),
        valid.flatmap(lambda xy: st.tuples(st.just(xy[0]), _arrays())),
        st.tuples(_arrays(), _arrays()),
    )


@attrs.define
class Tally:
    """How a property's examples ended: at the asserts on a finite result, or refused."""

    runs: int = 0
    checked: int = 0
    refused: int = 0

    def outcome(self, call: Callable[[], T]) -> T | None:
        """Run ``call``: a ValueError/TypeError with a message is an accepted outcome (None)."""
        try:
            return call()
        except (ValueError, TypeError) as err:
            assert str(err), "errors carry a message"
            self.refused += 1
            return None

    def assert_mostly_checked(self, share: float = 0.5) -> None:
        assert self.runs >= 20, f"only {self.runs} examples ran"
        assert self.checked >= share * self.runs, (
            f"only {self.checked} of {self.runs} examples reached the asserts ({self.refused} refused)"
        )
        assert self.refused >= 1, f"none of {self.runs} examples was refused: the invalid branch never ran"


def _all_finite(tree: object) -> bool:
    return all(bool(np.all(np.isfinite(leaf))) for leaf in leaves(tree))


RELAXED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NET = fnn.mlp((2, 3, 1))
PARAMS = fnn.init(NET, seed=0)
SOFTMAX_NET = fnn.mlp((2, 3, 3), output="softmax")  # for the losses that need a softmax output
SOFTMAX_PARAMS = fnn.init(SOFTMAX_NET, seed=0)


def net_for(loss: str | fnn.Loss) -> tuple[fnn.Network, fnn.Params]:
    """NET, or SOFTMAX_NET for a loss that does not follow a sigmoid (cross_entropy)."""
    softmax = isinstance(output_for(fnn.get_loss(loss)), fnn.Softmax)
    return (SOFTMAX_NET, SOFTMAX_PARAMS) if softmax else (NET, PARAMS)


def batches_for(loss: str) -> st.SearchStrategy[tuple[FloatArray, FloatArray]]:
    """Valid batches for ``net_for(loss)``: 0/1 labels `(n, 1)`, or one-hot rows `(n, 3)`."""
    net, _ = net_for(loss)
    return batches(outputs=net.out_features, one_hot=net is SOFTMAX_NET)


def _loss_and_batch(loss: str) -> st.SearchStrategy[tuple[str, tuple[Any, Any]]]:
    return st.tuples(st.just(loss), mostly(batches_for(loss), spoilt(batches_for(loss))))


def test_tally_fails_a_property_whose_asserts_never_run() -> None:
    """The follow-up check is not vacuous."""
    never = Tally(runs=60, checked=0, refused=60)
    with pytest.raises(AssertionError, match="only 0 of 60 examples reached the asserts"):
        never.assert_mostly_checked()
    with pytest.raises(AssertionError, match="the invalid branch never ran"):
        Tally(runs=60, checked=60, refused=0).assert_mostly_checked()


def test_generate_linear() -> None:
    tally = Tally()

    @RELAXED
    @given(
        args=mostly(
            st.tuples(st.integers(1, 300), st.integers(0, 2**64)),
            st.one_of(st.tuples(SCALARS, st.integers(0, 10)), st.tuples(st.integers(1, 10), SCALARS)),
        )
    )
    @example(args=(0, 0))
    @example(args=(5, -1))
    def prop(args: tuple[Any, Any]) -> None:
        n, seed = args
        tally.runs += 1
        if isinstance(n, int) and n > 5000:
            return  # a valid but huge dataset is not allocated here
        data = tally.outcome(lambda: fnn.generate_linear(n=n, seed=seed))
        if data is None:
            return
        tally.checked += 1
        assert data.x.shape == (n, 2) and data.y.shape == (n, 1)
        assert np.all((data.x >= 0.0) & (data.x <= 1.0))
        np.testing.assert_array_equal(data.y[:, 0], (data.x[:, 0] <= data.x[:, 1]).astype(np.float64))
        assert fnn.generate_linear(n=n, seed=seed) == data  # the same seed gives the same points

    prop()
    tally.assert_mostly_checked()


def test_generate_xor_easy() -> None:
    tally = Tally()

    @RELAXED
    @given(n=mostly(st.integers(2, 60), SCALARS))
    @example(n=1)
    def prop(n: Any) -> None:
        tally.runs += 1
        if isinstance(n, int) and n > 5000:
            return
        data = tally.outcome(lambda: fnn.generate_xor_easy(n=n))
        if data is None:
            return
        tally.checked += 1
        assert data.x.shape == (2 * n - 1 if n % 2 else 2 * n, 2)
        assert np.all(np.isfinite(data.x)) and set(np.unique(data.y)) <= {0.0, 1.0}

    prop()
    tally.assert_mostly_checked()


def test_dataset() -> None:
    tally = Tally()
    valid = batches(features=3, outputs=2) | batches(features=1, outputs=1)

    @RELAXED
    @given(xy=mostly(valid, spoilt(valid)))
    @example(xy=(np.zeros((2, 2)), np.array([[0.0], [0.5]])))
    def prop(xy: tuple[Any, Any]) -> None:
        x, y = xy
        tally.runs += 1
        data = tally.outcome(lambda: fnn.Dataset(x=x, y=y))
        if data is None:
            return
        tally.checked += 1
        assert np.all(np.isfinite(data.x)) and data.y.shape == (data.x.shape[0], data.y.shape[1])
        np.testing.assert_array_equal(data.x, np.asarray(x, dtype=np.float64))
        np.testing.assert_array_equal(data.y, np.asarray(y, dtype=np.float64))
        assert not data.x.flags.writeable and not data.y.flags.writeable

    prop()
    tally.assert_mostly_checked()


def test_mlp_and_init() -> None:
    tally = Tally()
    valid_sizes = st.lists(st.integers(1, 6), min_size=2, max_size=5)
    valid_hidden = st.sampled_from(tuple(fnn.ACTIVATIONS))

    @RELAXED
    @given(
        args=mostly(
            st.tuples(valid_sizes, valid_hidden),
            st.one_of(
                st.tuples(
                    st.one_of(st.lists(st.one_of(st.integers(-2, 6), SCALARS), max_size=5), SCALARS), valid_hidden
                ),
                st.tuples(valid_sizes, SCALARS),
            ),
        )
    )
    @example(args=([2, 0, 1], "tanh"))
    def prop(args: tuple[Any, Any]) -> None:
        sizes, hidden = args
        tally.runs += 1
        net = tally.outcome(lambda: fnn.mlp(sizes, hidden=hidden))
        if net is None or sum(layer.in_features * layer.out_features for layer in net.layers) > 10**5:
            return  # (a valid but huge network is not allocated here)
        tally.checked += 1
        params = fnn.init(net, seed=1)
        assert _all_finite(params)
        assert [p.w.shape for p in params] == [(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]

    prop()
    tally.assert_mostly_checked()


def test_forward_predict_accuracy() -> None:
    tally = Tally()

    @RELAXED
    @given(xy=mostly(batches(), spoilt(batches())))
    @example(xy=(np.zeros((0, 2)), np.zeros((0, 1))))
    def prop(xy: tuple[Any, Any]) -> None:
        x, y = xy
        tally.runs += 1
        out = tally.outcome(lambda: fnn.forward(NET, PARAMS, x))
        if out is None:
            return
        acc = tally.outcome(lambda: fnn.accuracy(NET, PARAMS, x, y))
        if acc is None:
            return
        tally.checked += 1
        assert np.all(np.isfinite(out)) and out.shape == (np.shape(x)[0], 1)
        labels = fnn.predict(NET, PARAMS, x)
        np.testing.assert_array_equal(labels, (out >= 0.5).astype(np.float64))
        assert float(acc) == float(np.mean(labels == np.asarray(y)))

    prop()
    tally.assert_mostly_checked()


def test_grad() -> None:
    tally = Tally()

    @RELAXED
    @given(case=st.sampled_from(tuple(fnn.LOSSES)).flatmap(_loss_and_batch))
    @example(case=("mse", ([[0.0, np.nan]], [[1.0]])))
    @example(case=("cross_entropy", ([[0.0, 1.0]], [[1.0, 1.0, 0.0]])))
    def prop(case: tuple[str, tuple[Any, Any]]) -> None:
        loss, (x, y) = case
        net, params = net_for(loss)
        tally.runs += 1
        result = tally.outcome(lambda: fnn.grad(net, params, x, y, loss=loss))
        if result is None:
            return
        tally.checked += 1
        value, grads = result
        assert value.shape == () and np.isfinite(value) and float(value) >= 0.0
        assert structure(grads) == structure(params) and _all_finite(grads)

    prop()
    tally.assert_mostly_checked()


@RELAXED
@given(
    x=hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.just(2)), elements=st.floats(-1e6, 1e6)),
    loss=st.sampled_from(tuple(fnn.LOSSES)),
)
def test_grad_is_finite_for_huge_inputs(x: FloatArray, loss: str) -> None:
    net, params = net_for(loss)
    classes = (x[:, 0] > 0).astype(np.intp) + (x[:, 1] > 0).astype(np.intp)  # 0, 1 or 2
    y = np.minimum(classes, 1).astype(np.float64)[:, None] if net is NET else np.eye(3)[classes]
    value, grads = fnn.grad(net, params, x, y, loss=loss)
    assert np.all(np.isfinite(value)) and _all_finite(grads)


# each optimizer's second hyperparameter, if it has one
SECOND = {
    "sgd": None,
    "momentum": "beta",
    "nesterov": "beta",
    "adam": "b1",
    "adamw": "weight_decay",
    "rmsprop": "decay",
    "adagrad": "eps",
}


def spoil_one_of(names: tuple[str, ...]) -> st.SearchStrategy[str | None]:
    """None (spoil nothing) seven times in eight, else the name of the argument to replace."""
    return st.integers(0, 7).flatmap(lambda i: st.sampled_from(names) if i == 0 else st.none())


def test_optimizer_constructors() -> None:
    tally = Tally()

    @RELAXED
    @given(
        name=st.sampled_from(tuple(fnn.OPTIMIZERS)),
        lr=st.floats(1e-6, 10.0),
        second=st.floats(0.0, 1.0),
        spoil=spoil_one_of(("lr", "second")),
        replacement=SCALARS,
    )
    @example(name="adam", lr=0.1, second=0.5, spoil="lr", replacement=-1.0)
    def prop(name: str, lr: float, second: float, spoil: str | None, replacement: Any) -> None:
        tally.runs += 1
        kwargs: dict[str, Any] = {"lr": replacement if spoil == "lr" else lr}
        key = SECOND[name]
        if key is not None:  # ``second`` in [0, 1] moved into the valid range of that hyperparameter
            kwargs[key] = replacement if spoil == "second" else (1e-12 + second if key == "eps" else 0.999 * second)
        opt = tally.outcome(lambda: fnn.make_optimizer(name, **kwargs))
        if opt is None:
            return
        stepped = tally.outcome(lambda: opt.update(PARAMS, opt.init(PARAMS), PARAMS))
        if stepped is None:
            assert isinstance(opt.lr, np.ndarray), "only a per-model lr on unstacked params may be refused"
            return
        tally.checked += 1
        new, state = stepped
        assert _all_finite(new) and _all_finite(state)
        assert structure(new) == structure(PARAMS)

    prop()
    tally.assert_mostly_checked()


TRAIN_ARGS = ("epochs", "batch_size", "seed", "stop_loss", "snapshot_every", "loss")
XOR = fnn.generate_xor_easy()  # 21 samples
GAUSS3 = fnn.generate_gauss(XOR.n, classes=3, noise=0.2, seed=0)  # 21 samples too, one-hot: for SOFTMAX_NET


def test_train_config_and_train() -> None:
    tally = Tally()

    @RELAXED
    @given(
        epochs=st.integers(1, 6),
        batch_size=st.none() | st.integers(1, XOR.n),
        seed=st.integers(0, 2**64),
        stop_loss=st.none() | st.floats(1e-4, 1.0),
        snapshot_every=st.none() | st.integers(1, 6),
        loss=st.sampled_from(tuple(fnn.LOSSES)) | st.sampled_from(tuple(fnn.LOSSES.values())),
        spoil=spoil_one_of(TRAIN_ARGS),
        replacement=SCALARS,
    )
    @example(
        epochs=2,
        batch_size=None,
        seed=0,
        stop_loss=None,
        snapshot_every=None,
        loss="mse",
        spoil="batch_size",
        replacement=22,
    )
    @example(epochs=3, batch_size=5, seed=1, stop_loss=None, snapshot_every=2, loss="bce", spoil=None, replacement=None)
    @example(
        epochs=3,
        batch_size=4,
        seed=2,
        stop_loss=None,
        snapshot_every=1,
        loss="cross_entropy",
        spoil=None,
        replacement=None,
    )
    def prop(
        epochs: int,
        batch_size: int | None,
        seed: int,
        stop_loss: float | None,
        snapshot_every: int | None,
        loss: str | fnn.Loss,
        spoil: str | None,
        replacement: Any,
    ) -> None:
        tally.runs += 1
        kwargs: dict[str, Any] = {
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            "stop_loss": stop_loss,
            "snapshot_every": snapshot_every,
            "loss": loss,
        }
        if spoil is not None:
            kwargs[spoil] = replacement
        config = tally.outcome(lambda: fnn.TrainConfig(optimizer=fnn.sgd(lr=0.5), **kwargs))
        if config is None or config.epochs > 50:
            return  # (a valid but long run is not trained here)
        net, params = net_for(config.loss)
        trace = tally.outcome(lambda: fnn.train(net, params, XOR if net is NET else GAUSS3, config))
        if trace is None:
            return
        tally.checked += 1
        assert trace.loss.shape == (trace.epochs_run,) and 1 <= trace.epochs_run <= config.epochs
        assert np.all(np.isfinite(trace.loss)) and _all_finite(trace.params)
        if config.stop_loss is None:
            assert trace.stop_reason == "epochs done" and trace.epochs_run == config.epochs
        if config.snapshot_every is not None:
            assert len(trace.snapshots) == trace.epochs_run // config.snapshot_every

    prop()
    tally.assert_mostly_checked()


@pytest.mark.parametrize("lr", [1e3, 1e6, 1e12, 1e300])
@pytest.mark.parametrize("hidden", ["identity", "relu", "sigmoid"])
def test_huge_learning_rates_end_cleanly(lr: float, hidden: str) -> None:
    """A divergence is blamed on the update that caused it (``functional_nn.fold``): "diverged at
    epoch k" keeps the params from the start of epoch k, whose (full-batch) loss is the last recorded."""
    net = fnn.mlp((2, 8, 1), hidden=hidden, output="identity")
    config = fnn.TrainConfig(epochs=200, optimizer=fnn.sgd(lr=lr), loss="mse")
    trace = fnn.train(net, fnn.init(net, seed=0), fnn.generate_linear(seed=0), config)
    assert _all_finite(trace.params)
    assert np.all(np.isfinite(trace.loss)) and np.isfinite(trace.final_loss)
    k = int(trace.stop_epoch)  # every one of these learning rates diverges within the 200 epochs
    assert trace.stop_reason == f"diverged at epoch {k}"
    assert trace.epochs_run == k
    if k >= 1:
        assert float(trace.final_loss) == float(trace.loss[k - 1])  # the params epoch k started from


def test_saturated_sigmoids_give_finite_loss_and_grads() -> None:
    x = np.array([[1.0, 1.0], [-1.0, -1.0]])
    for loss in fnn.LOSSES:
        output = output_for(fnn.get_loss(loss))
        if isinstance(output, fnn.Softmax):  # logits -4e3 and 4e3 (confidently wrong), then 0 and 0
            net, w2, y = fnn.mlp((2, 4, 2), output=output), [[-1e3, 1e3]] * 4, np.array([[1.0, 0.0], [0.0, 1.0]])
        else:
            net, w2, y = fnn.mlp((2, 4, 1), output=output), [[-1e3]] * 4, np.array([[1.0], [0.0]])
        params = (fnn.Dense(w=np.full((2, 4), 1e3), b=np.zeros(4)), fnn.Dense(w=np.array(w2), b=np.zeros(len(w2[0]))))
        value, grads = fnn.grad(net, params, x, y, loss=loss)
        assert np.isfinite(value) and _all_finite(grads)
        if isinstance(output, fnn.Softmax):
            assert float(value) == pytest.approx((8e3 + np.log(2.0)) / 2, rel=1e-15)
