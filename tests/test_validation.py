"""Every validation error of the public entry points, with its message.

DESIGN principle 5: public constructors and entry points raise ValueError /
TypeError naming the argument, what was expected and what was given.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn.tree import leaves, tree_unflatten

NET = fnn.mlp((2, 3, 1))
PARAMS = fnn.init(NET, seed=0)
LINEAR = fnn.mlp((2, 3, 1), hidden="identity", output="identity")
HUGE = (fnn.Dense(w=np.full((2, 3), 1e200), b=np.zeros(3)), fnn.Dense(w=np.full((3, 1), 1e200), b=np.zeros(1)))
ADAM = fnn.adam()
STACKED = fnn.init(NET, seed=[0, 1, 2])
DATA = fnn.generate_linear(10, seed=0)
X = DATA.x
Y = DATA.y


def cfg(**kwargs: object) -> fnn.TrainConfig:
    kwargs.setdefault("epochs", 2)
    kwargs.setdefault("optimizer", fnn.sgd(lr=0.1))
    kwargs.setdefault("loss", "mse")
    return fnn.TrainConfig(**kwargs)  # type: ignore[arg-type]


def train(
    config: fnn.TrainConfig, params: fnn.Params = PARAMS, data: fnn.Dataset = DATA, net: fnn.Network = NET
) -> object:
    return fnn.train(net, params, data, config)


Case = tuple[str, Callable[[], object], type[Exception], str]

CASES: list[Case] = [
    # --- x: shape, feature count, values
    (
        "x 1-D",
        lambda: fnn.forward(NET, PARAMS, np.zeros(2)),
        ValueError,
        r"x must have at least 2 axes, got shape \(2,\)",
    ),
    ("x scalar", lambda: fnn.forward(NET, PARAMS, 1.0), ValueError, r"x must have at least 2 axes, got shape \(\)"),
    (
        "x wrong features",
        lambda: fnn.forward(NET, PARAMS, np.zeros((4, 3))),
        ValueError,
        r"x must have shape \(n, 2\) to match the network's input size, got shape \(4, 3\)",
    ),
    (
        "x transposed",
        lambda: fnn.predict(NET, PARAMS, np.zeros((2, 5))),
        ValueError,
        r"x must have shape \(n, 2\).*got shape \(2, 5\)",
    ),
    (
        "x no samples",
        lambda: fnn.forward(NET, PARAMS, np.zeros((0, 2))),
        ValueError,
        r"x must hold at least one sample, got shape \(0, 2\)",
    ),
    (
        "x NaN",
        lambda: fnn.forward(NET, PARAMS, [[0.0, np.nan]]),
        ValueError,
        r"x must be finite, got 1 NaN/inf value\(s\)",
    ),
    (
        "x inf in grad",
        lambda: fnn.grad(NET, PARAMS, [[np.inf, -np.inf]], [[1.0]], loss="mse"),
        ValueError,
        r"x must be finite, got 2 NaN/inf",
    ),
    (
        "x strings",
        lambda: fnn.forward(NET, PARAMS, [["a", "b"]]),
        TypeError,
        r"x must be an array of real numbers, got dtype <U1",
    ),
    ("x string", lambda: fnn.forward(NET, PARAMS, "xy"), TypeError, r"x must be an array of real numbers"),
    (
        "x complex",
        lambda: fnn.forward(NET, PARAMS, np.zeros((1, 2), dtype=complex)),
        TypeError,
        r"x must be an array of real numbers, got dtype complex128",
    ),
    (
        "x per-model mismatch",
        lambda: fnn.forward(NET, STACKED, np.zeros((2, 4, 2))),
        ValueError,
        r"x must have shape \(n, 2\) shared by all models or \(3, 'n', 2\)",
    ),
    (
        "Dataset x wrong ndim",
        lambda: fnn.Dataset(x=np.zeros((2, 2, 2)), y=np.zeros((2, 1))),
        ValueError,
        r"x must have shape \(n, features\)",
    ),
    ("Dataset x NaN", lambda: fnn.Dataset(x=[[np.nan, 0.0]], y=[[0.0]]), ValueError, r"x must be finite"),
    (
        "data features vs network",
        lambda: train(cfg(), data=fnn.Dataset(x=np.zeros((4, 3)), y=np.zeros((4, 1)))),
        ValueError,
        r"data\.x must have shape \(n, 2\) to match the network, got shape \(4, 3\)",
    ),
    (
        "data outputs vs network",
        lambda: train(cfg(), data=fnn.Dataset(x=np.zeros((4, 2)), y=np.zeros((4, 2)))),
        ValueError,
        r"data\.y must have shape \(n, 1\) to match the network, got shape \(4, 2\)",
    ),
    (
        "data not a Dataset",
        lambda: fnn.train(NET, PARAMS, (X, Y), cfg()),  # type: ignore[arg-type]
        TypeError,
        r"data must be a Dataset \(e\.g\. fnn\.generate_linear\(seed=0\)\), got tuple",
    ),
    # --- labels
    (  # (mse takes any finite targets: real-valued ones are regression targets)
        "labels 0.5",
        lambda: fnn.grad(NET, PARAMS, X[:2], [[0.0], [0.5]], loss="bce"),
        ValueError,
        r"y must hold labels 0 or 1 for loss 'bce', got 0\.5 \(and 1 such value\(s\) in all\); for real-valued targets use 'mse'",
    ),
    (
        "labels -1 and 2",
        lambda: fnn.accuracy(NET, PARAMS, X[:2], [[-1.0], [2.0]]),
        ValueError,
        r"y must hold labels 0 or 1 \(one-hot rows for a softmax output\), got -1\.0 \(and 2 such value\(s\) in all\)",
    ),
    ("labels NaN", lambda: fnn.grad(NET, PARAMS, X[:1], [[np.nan]], loss="mse"), ValueError, r"y must be finite"),
    (
        "labels 1-D",
        lambda: fnn.grad(NET, PARAMS, X[:3], [0.0, 1.0, 1.0], loss="mse"),
        ValueError,
        r"y must have shape \(n, outputs\) such as \(3, 1\), got shape \(3,\); reshape it",
    ),
    (
        "labels wrong n",
        lambda: fnn.grad(NET, PARAMS, X[:3], [[0.0], [1.0]], loss="mse"),
        ValueError,
        r"y must have shape \(3, 1\) to match x, got shape \(2, 1\)",
    ),
    (
        "labels wrong outputs",
        lambda: fnn.grad(NET, PARAMS, X[:2], [[0.0, 1.0], [1.0, 0.0]], loss="mse"),
        ValueError,
        r"y must have shape \(n, 1\) to match the network's output size, got shape \(2, 2\)",
    ),
    ("Dataset labels 3", lambda: fnn.Dataset(x=np.zeros((1, 2)), y=[[3.0]]), ValueError, r"y must hold labels 0 or 1"),
    # --- sizes and counts
    ("generate_linear n=0", lambda: fnn.generate_linear(0, seed=0), ValueError, r"n must be an integer >= 1, got 0"),
    (
        "generate_linear n float",
        lambda: fnn.generate_linear(10.0, seed=0),  # type: ignore[arg-type]
        TypeError,
        r"n must be an integer, got 10\.0 \(float\)",
    ),
    ("generate_xor_easy n=1", lambda: fnn.generate_xor_easy(1), ValueError, r"n must be an integer >= 2, got 1"),
    ("hidden size 0", lambda: fnn.mlp((2, 0, 1)), ValueError, r"sizes\[1\] must be an integer >= 1, got 0"),
    ("hidden size -3", lambda: fnn.mlp((2, 10, -3, 1)), ValueError, r"sizes\[2\] must be an integer >= 1, got -3"),
    ("output size 0", lambda: fnn.mlp((2, 0)), ValueError, r"sizes\[1\] must be an integer >= 1, got 0"),
    ("hidden size float", lambda: fnn.mlp((2, 2.5, 1)), TypeError, r"sizes\[1\] must be an integer, got 2\.5"),  # type: ignore[arg-type]
    (
        "sizes too short",
        lambda: fnn.mlp((2,)),
        ValueError,
        r"sizes must hold at least an input and an output size, got \(2,\)",
    ),
    ("sizes a string", lambda: fnn.mlp("231"), TypeError, r"sizes must be a sequence of layer sizes"),  # type: ignore[arg-type]
    ("sizes an int", lambda: fnn.mlp(3), TypeError, r"sizes must be a sequence of layer sizes"),  # type: ignore[call-overload]
    ("DenseLayer size 0", lambda: fnn.DenseLayer(0, 1), ValueError, r"in_features must be an integer >= 1, got 0"),
    (
        "layers do not chain",
        lambda: fnn.sequential(fnn.DenseLayer(2, 3), fnn.DenseLayer(4, 1)),
        ValueError,
        r"layers\[1\]\.in_features must equal layers\[0\]\.out_features \(3\), got 4",
    ),
    ("no layers", lambda: fnn.sequential(), ValueError, r"layers must be a non-empty tuple of layers"),
    (
        "not a layer",
        lambda: fnn.sequential(fnn.Sigmoid()),  # type: ignore[arg-type]
        TypeError,
        r"layers\[0\] must be a layer \(e\.g\. DenseLayer\), got Sigmoid",
    ),
    # --- names
    (
        "unknown hidden activation",
        lambda: fnn.mlp((2, 3, 1), hidden="swish"),
        ValueError,
        r"hidden must be one of 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'identity', 'softmax'; got 'swish'",
    ),
    (
        "unknown output activation",
        lambda: fnn.mlp((2, 3, 1), output="softplus"),
        ValueError,
        r"output must be one of 'sigmoid'.*'softmax'; got 'softplus'",
    ),
    ("activation wrong type", lambda: fnn.mlp((2, 3, 1), hidden=None), TypeError, r"hidden must be an activation name"),  # type: ignore[call-overload]
    (
        "unknown loss in grad",
        lambda: fnn.grad(NET, PARAMS, X, Y, loss="l1"),
        ValueError,
        r"loss must be one of 'mse', 'bce', 'cross_entropy'; got 'l1'",
    ),
    (
        "unknown loss in config",
        lambda: cfg(loss="categorical_crossentropy"),
        ValueError,
        r"loss must be one of 'mse', 'bce', 'cross_entropy'; got 'categorical_crossentropy'",
    ),
    (
        "unknown initializer",
        lambda: fnn.init(NET, seed=0, scheme="glorot"),
        ValueError,
        r"scheme must be one of 'normal', 'uniform', 'xavier', 'he'; got 'glorot'",
    ),
    (
        "unknown optimizer",
        lambda: fnn.make_optimizer("sgdm"),
        ValueError,
        r"name must be one of 'sgd', 'momentum'.*got 'sgdm'",
    ),
    (
        "bce without sigmoid",
        lambda: train(
            cfg(loss="bce"),
            net=fnn.mlp((2, 3, 1), output="identity"),
            params=fnn.init(fnn.mlp((2, 3, 1), output="identity"), seed=0),
        ),
        ValueError,
        r"loss 'bce' needs a sigmoid output layer \(output='sigmoid'\), got output='identity'",
    ),
    # --- hyperparameters
    ("lr 0", lambda: fnn.sgd(lr=0.0), ValueError, r"lr must be > 0, got 0\.0"),
    ("lr negative", lambda: fnn.adam(lr=-1e-3), ValueError, r"lr must be > 0, got -0\.001"),
    ("lr inf", lambda: fnn.sgd(lr=float("inf")), ValueError, r"lr must be finite, got inf"),
    ("lr array with 0", lambda: fnn.sgd(lr=np.array([0.1, 0.0])), ValueError, r"lr must hold finite values > 0"),
    ("beta 1", lambda: fnn.momentum(lr=0.1, beta=1.0), ValueError, r"beta must be in \[0\.0, 1\.0\), got 1\.0"),
    ("b1 negative", lambda: fnn.adam(b1=-0.1), ValueError, r"b1 must be in \[0\.0, 1\.0\), got -0\.1"),
    ("b2 1", lambda: fnn.adam(b2=1.0), ValueError, r"b2 must be in \[0\.0, 1\.0\), got 1\.0"),
    ("epochs 0", lambda: cfg(epochs=0), ValueError, r"epochs must be an integer >= 1, got 0"),
    ("epochs negative", lambda: cfg(epochs=-10), ValueError, r"epochs must be an integer >= 1, got -10"),
    ("epochs float", lambda: cfg(epochs=10.0), TypeError, r"epochs must be an integer, got 10\.0 \(float\)"),
    ("batch_size 0", lambda: cfg(batch_size=0), ValueError, r"batch_size must be an integer >= 1, got 0"),
    (
        "batch_size > n",
        lambda: train(cfg(batch_size=11)),
        ValueError,
        r"batch_size must be between 1 and the number of samples \(10\), got 11",
    ),
    ("stop_loss 0", lambda: cfg(stop_loss=0.0), ValueError, r"stop_loss must be > 0, got 0\.0"),
    ("snapshot_every 0", lambda: cfg(snapshot_every=0), ValueError, r"snapshot_every must be an integer >= 1, got 0"),
    ("shuffle not bool", lambda: cfg(shuffle=1), TypeError, r"shuffle must be a bool, got 1"),
    (
        "optimizer not Optimizer",
        lambda: cfg(optimizer="sgd"),
        TypeError,
        r"optimizer must be an Optimizer \(e\.g\. fnn\.sgd\(lr=0\.1\)\), got str",
    ),
    (
        "threshold > 1",
        lambda: fnn.predict(NET, PARAMS, X, threshold=2.0),
        ValueError,
        r"threshold must be in \[0\.0, 1\.0\], got 2\.0",
    ),
    # --- seeds
    ("seed negative", lambda: fnn.init(NET, seed=-1), ValueError, r"seed must be an integer >= 0, got -1"),
    ("seed bool", lambda: fnn.init(NET, seed=True), TypeError, r"seed must be an integer >= 0 or a sequence of them"),
    (
        "seed list element",
        lambda: fnn.init(NET, seed=[0, -2]),
        ValueError,
        r"seed\[1\] must be an integer >= 0, got -2",
    ),
    (
        "seed empty",
        lambda: fnn.init(NET, seed=[]),
        ValueError,
        r"seed must be an integer or a non-empty sequence of integers",
    ),
    ("config seed empty", lambda: cfg(seed=()), ValueError, r"seed must be an integer or a non-empty sequence"),
    (
        "stacked params, one seed",
        lambda: train(cfg(seed=0), params=STACKED),
        ValueError,
        r"seed must be a sequence of 3 integers \(one per stacked model\), got 0",
    ),
    (
        "stacked params, two seeds",
        lambda: train(cfg(seed=[0, 1]), params=STACKED),
        ValueError,
        r"seed must be a sequence of 3 integers \(one per stacked model\), got \(0, 1\)",
    ),
    (
        "single params, seed list",
        lambda: train(cfg(seed=[0, 1])),
        ValueError,
        r"seed must be a single integer for a single model, got \(0, 1\)",
    ),
    (
        "lr array, single model",
        lambda: train(cfg(optimizer=fnn.sgd(lr=np.array([0.1, 0.2])))),
        ValueError,
        r"optimizer lr must be a number for a single model, got an array of shape \(2,\)",
    ),
    (
        "lr array, wrong length",
        lambda: train(cfg(optimizer=fnn.sgd(lr=np.array([0.1, 0.2])), seed=[0, 1, 2]), params=STACKED),
        ValueError,
        r"optimizer lr must be a number or an array of shape \(3,\), got an array of shape \(2,\)",
    ),
    # --- params
    (
        "params wrong count",
        lambda: fnn.forward(NET, PARAMS[:1], X),
        ValueError,
        r"params must be a tuple of 2 records \(one per layer\), got a tuple of 1 records",
    ),
    (
        "params a list",
        lambda: fnn.forward(NET, list(PARAMS), X),  # type: ignore[arg-type]
        ValueError,
        r"params must be a tuple of 2 records.*got list",
    ),
    (
        "params swapped",
        lambda: fnn.forward(NET, PARAMS[::-1], X),
        ValueError,
        r"params\[0\]\.w must have shape \(\.\.\., 2, 3\), got shape \(3, 1\)",
    ),
    (
        "params wrong record",
        lambda: fnn.forward(NET, (PARAMS[0], (PARAMS[1].w, PARAMS[1].b)), X),
        TypeError,
        r"params\[1\] must be a Dense record, got tuple",
    ),
    (
        "params mixed stacking",
        lambda: fnn.forward(NET, (STACKED[0], PARAMS[1]), X),
        ValueError,
        r"params\[1\] has model axes \(\), but params\[0\] has \(3,\)",
    ),
    (
        "params stacked twice",
        lambda: train(cfg(seed=[0]), params=fnn.tree_map(lambda a: a[None, None], PARAMS)),
        ValueError,
        r"params may be stacked over at most one model axis for training, got model axes \(1, 1\)",
    ),
    (
        "net not a Network",
        lambda: fnn.init((2, 3, 1), seed=0),  # type: ignore[arg-type]
        TypeError,
        r"net must be a Network \(e\.g\. from mlp\(\.\.\.\)\), got tuple",
    ),
    (
        "config not a TrainConfig",
        lambda: fnn.train(NET, PARAMS, DATA, {"epochs": 1}),  # type: ignore[arg-type]
        TypeError,
        r"config must be a TrainConfig, got dict",
    ),
    (
        "x ragged",
        lambda: fnn.forward(NET, PARAMS, [[1.0], [1.0, 2.0]]),
        TypeError,
        r"x must be an array of real numbers, got \[\[1\.0\], \[1\.0, 2\.0\]\]",
    ),
    (
        "x integers too large for a float",
        lambda: fnn.forward(NET, PARAMS, [[10**400, 0]]),
        TypeError,
        r"x must be an array of real numbers, got dtype object",
    ),
    (
        "forward overflows",
        lambda: fnn.forward(LINEAR, HUGE, [[1e200, 1e200]]),
        ValueError,
        r"forward: params and x are finite, but 1 value\(s\) of the result overflowed float64",
    ),
    (
        "grad overflows",
        lambda: fnn.grad(LINEAR, HUGE, [[1e200, 1e200]], [[1.0]], loss="mse"),
        ValueError,
        r"grad: params and x are finite, but \d+ value\(s\) of the result overflowed float64",
    ),
    # --- layers, activations, losses
    (
        "DenseLayer size bool",
        lambda: fnn.DenseLayer(2, True),
        TypeError,
        r"out_features must be an integer, got True \(bool\)",
    ),
    (
        "DenseLayer unknown activation",
        lambda: fnn.DenseLayer(2, 3, "swish"),
        ValueError,
        r"activation must be one of 'sigmoid'.*got 'swish'",
    ),
    (
        "check_params not a record",
        lambda: fnn.DenseLayer(2, 3).check_params(None, "params[0]"),
        TypeError,
        r"params\[0\] must be a Dense record, got NoneType",
    ),
    ("leaky alpha 1", lambda: fnn.LeakyReLU(alpha=1.0), ValueError, r"alpha must be in \[0\.0, 1\.0\), got 1\.0"),
    (
        "loss wrong type",
        lambda: fnn.get_loss(1.0),  # type: ignore[arg-type]
        TypeError,
        r"loss must be a loss name \(mse, bce, cross_entropy\) or a Loss, got 1\.0",
    ),
    # --- optimizers and trees
    (
        "momentum has no nesterov switch",
        lambda: fnn.momentum(lr=0.1, nesterov=True),  # type: ignore[call-arg]
        TypeError,
        r"unexpected keyword argument 'nesterov'",
    ),
    (
        "lr integer too large",
        lambda: fnn.sgd(lr=10**400),
        ValueError,
        r"lr must be a finite real number, got an integer too large for a float",
    ),
    (
        "lr 0-d array",
        lambda: fnn.sgd(lr=np.array(0.1)),
        TypeError,
        r"lr must be a positive number or a non-empty 1-D array of them \(one per model\)",
    ),
    (
        "update grads of another structure",
        lambda: ADAM.update(PARAMS[:1], ADAM.init(PARAMS), PARAMS),
        ValueError,
        r"adam\.update\(grads, state, params\): grads must have the structure and shapes of params",
    ),
    (
        "update state of another optimizer",
        lambda: ADAM.update(PARAMS, fnn.EmptyState(), PARAMS),
        ValueError,
        r"adam\.update\(grads, state, params\):.*state must come from this optimizer's init\(params\)",
    ),
    (
        "tree_map leaf shapes differ",
        lambda: fnn.tree_map(lambda a, b: a + b, (np.zeros(2),), (np.zeros(3),)),
        ValueError,
        r"tree_map: the trees must have one structure and leaf shapes: tree 2 has a leaf of shape \(3,\) where the first has \(2,\)",
    ),
    (
        "tree_unflatten leaf count",
        lambda: tree_unflatten(PARAMS, leaves(PARAMS)[:3]),
        ValueError,
        r"new_leaves must hold 4 arrays \(the leaves of like\), got 3",
    ),
    (
        "seed float",
        lambda: fnn.init(NET, seed=2.0),  # type: ignore[arg-type]
        TypeError,
        r"seed must be an integer >= 0 or a sequence of them \(one per model\), got 2\.0",
    ),
    (
        "seed 2-D array",
        lambda: fnn.init(NET, seed=np.array([[0, 1]])),  # type: ignore[arg-type]
        TypeError,
        r"seed must be an integer >= 0 or a 1-D sequence of them, got an array of shape \(1, 2\)",
    ),
    (
        "threshold a string",
        lambda: fnn.predict(NET, PARAMS, X, threshold="0.5"),  # type: ignore[arg-type]
        TypeError,
        r"threshold must be a real number, got '0\.5' \(str\)",
    ),
    (
        "Dense b mismatch",
        lambda: fnn.Dense(w=np.zeros((2, 3)), b=np.zeros(2)),
        ValueError,
        r"Dense\.b must have shape \(3,\) to match Dense\.w of shape \(2, 3\)",
    ),
]


@pytest.mark.parametrize(("thunk", "error", "match"), [pytest.param(t, e, m, id=i) for i, t, e, m in CASES])
def test_error_message(thunk: Callable[[], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        thunk()


BUGS = [
    pytest.param(
        lambda: fnn.LeakyReLU(alpha=None),
        TypeError,
        r"alpha must be a real number",
        id="leaky alpha None",
    ),
    pytest.param(
        lambda: fnn.LeakyReLU(alpha="0.5"),
        TypeError,
        r"alpha must be a real number",
        id="leaky alpha a string",
    ),
    pytest.param(
        lambda: fnn.LeakyReLU(alpha=False),
        TypeError,
        r"alpha must be a real number",
        id="leaky alpha a bool",
    ),
    pytest.param(
        lambda: fnn.Dense(w=[[1.0, 2.0], [3.0]], b=[0.0, 0.0]),
        TypeError,
        r"w must be an array of real numbers",
        id="Dense w ragged",
    ),
]


@pytest.mark.parametrize(("thunk", "error", "match"), BUGS)
def test_error_message_former_bugs(thunk: Callable[[], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        thunk()


# Messages that said more before the labels' checks moved to the losses (``network.check_y`` no
# longer goes through ``data.check_xy``); the refusals themselves are in CASES above.
FIXED_BUGS = [
    pytest.param(
        lambda: fnn.accuracy(NET, PARAMS, X[:2], [[-1.0], [2.0]]),
        ValueError,
        r"y must hold labels 0 or 1.*2 such value",
        id="accuracy labels -1 and 2: the count",
    ),
    pytest.param(
        lambda: fnn.grad(NET, PARAMS, X[:3], [0.0, 1.0, 1.0], loss="mse"),
        ValueError,
        r"y must have shape \(n, outputs\) such as \(3, 1\).*reshape",
        id="labels 1-D: the reshape hint",
    ),
]


@pytest.mark.parametrize(("thunk", "error", "match"), FIXED_BUGS)
def test_error_message_fixed_bugs(thunk: Callable[[], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        thunk()


def test_case_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


def test_long_given_values_are_shortened_in_messages() -> None:
    """A long given value is shortened (as _validate does), not dumped whole into the message."""
    with pytest.raises(TypeError, match=r"hidden must be an activation name .*got \[0, 1, 2, .*\.\.\.$") as info:
        fnn.mlp((2, 3, 1), hidden=list(range(1000)))  # type: ignore[call-overload]
    assert len(str(info.value)) < 400


def test_validation_happens_before_any_work() -> None:
    """A bad argument fails at once, with the data untouched (no partial training)."""
    x = X.copy()
    with pytest.raises(ValueError, match=r"batch_size must be between 1 and the number of samples \(10\), got 100"):
        train(cfg(batch_size=100))
    np.testing.assert_array_equal(X, x)
