"""Property tests over the public entry points: for generated shapes, sizes and values
(NaN, inf, huge and tiny numbers, empty arrays, wrong dtypes) every call returns finite
results or raises ValueError/TypeError with a message; never another exception, never
a warning (warnings are errors in this suite)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import functional_nn as fnn

T = TypeVar("T")

NASTY_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e300, -1e300, 1e3, -1e3, 0.5, 1.0]),
)
SCALARS: st.SearchStrategy[Any] = st.one_of(
    NASTY_FLOATS, st.integers(-(10**20), 10**20), st.booleans(), st.none(), st.text(max_size=3), st.just([1, 2])
)


def _arrays(max_dims: int = 3) -> st.SearchStrategy[Any]:
    shapes = hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=5)
    floats = hnp.arrays(np.float64, shapes, elements=NASTY_FLOATS)
    ints = hnp.arrays(np.int64, shapes, elements=st.integers(-3, 3))
    strings = hnp.arrays(np.dtype("U1"), shapes)
    complexes = hnp.arrays(np.complex128, shapes, elements=st.complex_numbers(max_magnitude=10))
    bools = hnp.arrays(np.bool_, shapes)
    return st.one_of(floats, ints, strings, complexes, bools, st.just([[1.0, 2.0]]), st.just([]), SCALARS)


def outcome(call: Callable[[], T]) -> T | None:
    """Run ``call``: a ValueError/TypeError with a message is an accepted outcome (None)."""
    try:
        return call()
    except (ValueError, TypeError) as err:
        assert str(err), "errors carry a message"
        return None


def _all_finite(tree: object) -> bool:
    return all(bool(np.all(np.isfinite(leaf))) for leaf in fnn.leaves(tree))


RELAXED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NET = fnn.mlp((2, 3, 1))
PARAMS = fnn.init(NET, seed=0)


@RELAXED
@given(n=SCALARS, seed=SCALARS)
def test_generate_linear(n: Any, seed: Any) -> None:
    data = outcome(lambda: fnn.generate_linear(n=n, seed=seed) if not isinstance(n, int) or abs(n) < 5000 else None)
    if data is not None:
        assert data.x.shape == (n, 2) and np.all(np.isfinite(data.x))


@RELAXED
@given(n=SCALARS)
def test_generate_xor_easy(n: Any) -> None:
    data = outcome(lambda: fnn.generate_xor_easy(n=n) if not isinstance(n, int) or abs(n) < 5000 else None)
    if data is not None:
        assert np.all(np.isfinite(data.x)) and set(np.unique(data.y)) <= {0.0, 1.0}


@RELAXED
@given(x=_arrays(), y=_arrays())
def test_dataset(x: Any, y: Any) -> None:
    data = outcome(lambda: fnn.Dataset(x=x, y=y))
    if data is not None:
        assert np.all(np.isfinite(data.x)) and data.y.shape == (data.x.shape[0], data.y.shape[1])


@RELAXED
@given(
    sizes=st.one_of(st.lists(st.one_of(st.integers(-2, 6), SCALARS), max_size=5), SCALARS),
    hidden=st.one_of(st.sampled_from(tuple(fnn.ACTIVATIONS)), SCALARS),
)
def test_mlp_and_init(sizes: Any, hidden: Any) -> None:
    net = outcome(lambda: fnn.mlp(sizes, hidden=hidden))
    if net is not None and sum(layer.in_features * layer.out_features for layer in net.layers) <= 10**5:
        params = fnn.init(net, seed=1)  # (a valid but huge network is not allocated here)
        assert _all_finite(params)


@RELAXED
@given(x=_arrays())
def test_forward_predict_accuracy(x: Any) -> None:
    out = outcome(lambda: fnn.forward(NET, PARAMS, x))
    if out is not None:
        assert np.all(np.isfinite(out)) and out.shape[-1] == 1
        labels = fnn.predict(NET, PARAMS, x)
        assert set(np.unique(labels)) <= {0.0, 1.0}


@RELAXED
@given(x=_arrays(), y=_arrays(), loss=st.sampled_from(tuple(fnn.LOSSES)))
def test_grad(x: Any, y: Any, loss: str) -> None:
    result = outcome(lambda: fnn.grad(NET, PARAMS, x, y, loss=loss))
    if result is not None:
        value, grads = result
        assert np.all(np.isfinite(value)) and _all_finite(grads)


@RELAXED
@given(
    x=hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.just(2)), elements=st.floats(-1e6, 1e6)),
    loss=st.sampled_from(tuple(fnn.LOSSES)),
)
def test_grad_is_finite_for_huge_inputs(x: Any, loss: str) -> None:
    y = (x[:, :1] > 0).astype(np.float64)
    value, grads = fnn.grad(NET, PARAMS, x, y, loss=loss)
    assert np.all(np.isfinite(value)) and _all_finite(grads)


@RELAXED
@given(name=st.sampled_from(tuple(fnn.OPTIMIZERS)), lr=SCALARS, extra=SCALARS)
def test_optimizer_constructors(name: str, lr: Any, extra: Any) -> None:
    key = {"sgd": None, "momentum": "beta", "nesterov": "beta", "adam": "b1", "rmsprop": "decay", "adagrad": "eps"}[
        name
    ]
    kwargs = {"lr": lr} if key is None else {"lr": lr, key: extra}
    opt = outcome(lambda: fnn.make_optimizer(name, **kwargs))
    if opt is not None:
        stepped = outcome(lambda: opt.update(PARAMS, opt.init(PARAMS), PARAMS))
        if stepped is None:
            assert isinstance(opt.lr, np.ndarray), "only a per-model lr on unstacked params may be refused"
            return
        new, state = stepped
        assert _all_finite(new) and _all_finite(state)


@RELAXED
@given(
    epochs=SCALARS,
    batch_size=st.one_of(st.none(), SCALARS),
    seed=SCALARS,
    stop_loss=st.one_of(st.none(), SCALARS),
    snapshot_every=st.one_of(st.none(), SCALARS),
    loss=st.one_of(st.sampled_from(tuple(fnn.LOSSES)), SCALARS),
)
def test_train_config_and_train(
    epochs: Any, batch_size: Any, seed: Any, stop_loss: Any, snapshot_every: Any, loss: Any
) -> None:
    config = outcome(
        lambda: fnn.TrainConfig(
            epochs=epochs,
            optimizer=fnn.sgd(lr=0.5),
            loss=loss,
            batch_size=batch_size,
            seed=seed,
            stop_loss=stop_loss,
            snapshot_every=snapshot_every,
        )
    )
    if config is None or config.epochs > 50:
        return
    trace = outcome(lambda: fnn.train(NET, PARAMS, fnn.generate_xor_easy(), config))
    if trace is not None:
        assert np.all(np.isfinite(trace.loss)) and _all_finite(trace.params)


@pytest.mark.parametrize("lr", [1e3, 1e6, 1e12, 1e300])
@pytest.mark.parametrize("hidden", ["identity", "relu", "sigmoid"])
def test_huge_learning_rates_end_cleanly(lr: float, hidden: str) -> None:
    net = fnn.mlp((2, 8, 1), hidden=hidden, output="identity")
    config = fnn.TrainConfig(epochs=200, optimizer=fnn.sgd(lr=lr), loss="mse")
    trace = fnn.train(net, fnn.init(net, seed=0), fnn.generate_linear(seed=0), config)
    assert _all_finite(trace.params)
    if trace.stop_reason != "epochs done":
        k = int(trace.stop_epoch)
        assert trace.stop_reason == f"diverged at epoch {k}"
        assert not np.isfinite(trace.loss[k - 1]) and np.all(np.isfinite(trace.loss[: k - 1]))


def test_saturated_sigmoids_give_finite_loss_and_grads() -> None:
    net = fnn.mlp((2, 4, 1))
    params = (fnn.Dense(w=np.full((2, 4), 1e3), b=np.zeros(4)), fnn.Dense(w=np.full((4, 1), -1e3), b=np.zeros(1)))
    x = np.array([[1.0, 1.0], [-1.0, -1.0]])
    y = np.array([[1.0], [0.0]])
    for loss in fnn.LOSSES:
        value, grads = fnn.grad(net, params, x, y, loss=loss)
        assert np.isfinite(value) and _all_finite(grads)
