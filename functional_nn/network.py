"""Networks: a static tuple of layers, and pure functions over their params.

    mlp(sizes, *, hidden, output)          -> Network[Dense]      # e.g. mlp((2, 10, 10, 1))
    mlp(sizes, ..., dropout=0.2)           -> Network             # a DropoutLayer after each hidden layer
    sequential(*layers) / cnn(*layers)     -> Network             # any layer kinds
    init(net, seed, *, scheme="normal")    -> params: one record per layer
    forward(net, params, x)                -> `(..., n, out)`
    predict(net, params, x)                -> `(..., n, out)` labels in {0., 1.}
    accuracy(net, params, x, y)            -> `(...)` share of correct labels (softmax: of samples)
    grad(net, params, x, y, *, loss)       -> (loss `(...)`, grads)   # grads mirror params
    check_grad(net, params, x, y, loss)    -> per layer: {param name: worst relative error vs finite differences}

``grad`` is a forward fold over the layers that keeps each layer's cache, then
a backward fold over the reversed layers (``value_and_grad``).  Params may
carry leading model axes (``init(net, seed=[0, 1, 2])`` stacks three models);
every function then returns one result per model, equal to separate calls.
``x`` is `(n, in)` shared by all models or `(..., n, in)` per model.  The public
functions validate their inputs once; ``value_and_grad`` and ``output`` (used
by the training loop) do no checks.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
from collections.abc import Iterator, Sequence
from typing import Any, Generic, TypeAlias, cast, overload

import attrs
import numpy as np
import numpy.typing as npt
from typing_extensions import TypeVar

from functional_nn import _validate
from functional_nn._records import FloatArray
from functional_nn.activations import Activation, Softmax, get_activation
from functional_nn.conv import IMAGE_LAYERS, Conv2D
from functional_nn.layers import INITIALIZERS, MAX_WEIGHTS, Cache, Dense, DenseLayer, DropoutLayer, Layer, NoParams
from functional_nn.losses import Loss, cross_entropy, get_loss
from functional_nn.tree import leaves as tree_leaves
from functional_nn.tree import tree_map

__all__ = [
    "LayerParams",
    "Masks",
    "Network",
    "Params",
    "accuracy",
    "check_grad",
    "cnn",
    "forward",
    "grad",
    "init",
    "mlp",
    "predict",
    "sequential",
    "value_and_grad",
]

LayerParams: TypeAlias = Dense | Conv2D | NoParams
"""The params record of any built-in layer kind."""

Params: TypeAlias = tuple[LayerParams, ...]
"""One params record per layer."""

P = TypeVar("P", covariant=True, default=LayerParams)
Seed: TypeAlias = int | Sequence[int]


def _layers_valid(instance: object, attribute: attrs.Attribute[tuple[Layer, ...]], layers: tuple[Layer, ...]) -> None:
    del instance, attribute
    if not isinstance(layers, tuple) or len(layers) == 0:
        raise ValueError(f"layers must be a non-empty tuple of layers, got {_validate.show(layers)}")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"layers[{i}] must be a layer (e.g. DenseLayer), got {type(layer).__name__}")
    for i in range(1, len(layers)):
        if layers[i].in_features != layers[i - 1].out_features:
            raise ValueError(
                f"layers[{i}].in_features must equal layers[{i - 1}].out_features "
                f"({layers[i - 1].out_features}), got {layers[i].in_features}"
            )


@attrs.frozen
class Network(Generic[P]):
    """A static sequence of layers (the architecture; no arrays).

    ``Network[Dense]`` (what ``mlp`` makes) types its params as Dense records;
    a network of other kinds holds any ``LayerParams``.

    Example:
        >>> net = mlp((2, 10, 10, 1))
        >>> net.in_features, net.out_features, len(net.layers)
        (2, 1, 3)
    """

    layers: tuple[Layer, ...] = attrs.field(validator=_layers_valid)

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    @property
    def out_features(self) -> int:
        return self.layers[-1].out_features

    @property
    def output_activation(self) -> Activation:
        return self.layers[-1].activation


@overload
def mlp(
    sizes: Sequence[int], *, hidden: str | Activation = "sigmoid", output: str | Activation = "sigmoid"
) -> Network[Dense]: ...


@overload
def mlp(
    sizes: Sequence[int], *, hidden: str | Activation = "sigmoid", output: str | Activation = "sigmoid", dropout: float
) -> Network: ...


def mlp(
    sizes: Sequence[int],
    *,
    hidden: str | Activation = "sigmoid",
    output: str | Activation = "sigmoid",
    dropout: float | None = None,
) -> Network:
    """A multilayer perceptron of Dense layers.

    Args:
        sizes: ``(in, hidden_1, ..., out)``, at least two sizes, each >= 1.
        hidden: activation of the hidden layers (a name from ``ACTIVATIONS`` or a record).
        output: activation of the output layer.
        dropout: a rate in [0, 1): a ``DropoutLayer`` after each hidden layer (after its
            activation; none on the inputs or the output).  Its params are ``NoParams``
            records, so the params tuple has one more record per hidden layer.  None: no
            dropout layers (the network is a ``Network[Dense]``).

    Example:
        >>> net = mlp((2, 10, 10, 1), hidden="sigmoid", output="sigmoid")
        >>> [type(layer).__name__ for layer in mlp((2, 8, 1), hidden="relu", dropout=0.2).layers]
        ['DenseLayer', 'DropoutLayer', 'DenseLayer']
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"sizes must be a sequence of layer sizes such as (2, 10, 10, 1), got {_validate.show(sizes)}")
    if len(sizes) < 2:
        raise ValueError(f"sizes must hold at least an input and an output size, got {tuple(sizes)!r}")
    checked = [_validate.integer(f"sizes[{i}]", s, minimum=1, maximum=MAX_WEIGHTS) for i, s in enumerate(sizes)]
    hidden_act = get_activation(hidden, argument="hidden")
    output_act = get_activation(output, argument="output")
    rate = None if dropout is None else _validate.in_range("dropout", dropout, 0.0, 1.0)
    last = len(checked) - 2
    layers: list[Layer] = []
    for i in range(last + 1):
        layers.append(DenseLayer(checked[i], checked[i + 1], output_act if i == last else hidden_act))
        if rate is not None and i < last:
            layers.append(DropoutLayer(checked[i + 1], rate))
    if rate is None:
        return Network[Dense](tuple(layers))
    return Network(tuple(layers))


def sequential(*layers: Layer) -> Network:
    """A network of the given layers, in order (their feature counts must chain)."""
    return Network(tuple(layers))


def cnn(*layers: Layer) -> Network:
    """``sequential``, also checking that each image layer's ``in_shape`` is the
    ``out_shape`` of the image layer before it (a channel mix-up with the same
    feature count is caught).

    Example:
        >>> import functional_nn as fnn
        >>> net = cnn(fnn.Conv2DLayer((1, 6, 6), 2, 3), fnn.FlattenLayer((2, 4, 4)), fnn.DenseLayer(32, 1))
        >>> net.in_features, net.out_features
        (36, 1)
    """
    for i in range(1, len(layers)):
        prev, layer = layers[i - 1], layers[i]
        if isinstance(layer, IMAGE_LAYERS) and isinstance(prev, IMAGE_LAYERS) and layer.in_shape != prev.out_shape:
            raise ValueError(
                f"layers[{i}].in_shape must equal layers[{i - 1}].out_shape {prev.out_shape}, got {layer.in_shape}"
            )
    return sequential(*layers)


def seed_sequence(seed: int, *stream: int) -> np.random.SeedSequence:
    """The seed sequence of one named stream of a model's seed.

    Streams: ``(0,)`` init, ``(1, epoch)`` the shuffle of that epoch, ``(2, epoch, batch)``
    the dropout masks of that batch.  Each
    model's streams depend on its own seed only, and a stream on nothing else.
    """
    return np.random.SeedSequence(seed, spawn_key=stream)


def check_seeds(seed: object, name: str = "seed") -> int | tuple[int, ...]:
    """An integer >= 0, or a non-empty sequence of them (one per model), checked by name."""
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return _validate.integer(name, seed, minimum=0)
    if isinstance(seed, (Sequence, range, np.ndarray)) and not isinstance(seed, (str, bytes)):
        if isinstance(seed, np.ndarray) and seed.ndim != 1:
            raise TypeError(
                f"{name} must be an integer >= 0 or a 1-D sequence of them, got an array of shape {seed.shape}"
            )
        seeds = tuple(_validate.integer(f"{name}[{i}]", s, minimum=0) for i, s in enumerate(seed))
        if not seeds:
            raise ValueError(f"{name} must be an integer or a non-empty sequence of integers, got an empty sequence")
        return seeds
    raise TypeError(f"{name} must be an integer >= 0 or a sequence of them (one per model), got {_validate.show(seed)}")


def init(net: Network[P], seed: Seed, *, scheme: str = "normal") -> tuple[P, ...]:
    """Fresh params for ``net``.

    Args:
        net: the network.
        seed: an integer >= 0 for one model, or a sequence of M of them for a
            stack of M models (leading model axis of size M); model k of a stack
            equals ``init(net, seed[k])`` exactly.
        scheme: weight initializer, a name from ``INITIALIZERS`` (``"normal"`` is
            the lab's N(0, 1)); biases start at zero.

    Returns:
        A tuple with one read-only params record per layer.

    Example:
        >>> params = init(mlp((2, 4, 1)), seed=0)
        >>> params[0].w.shape, params[0].b.shape
        ((2, 4), (4,))
    """
    check_network(net)
    seeds = check_seeds(seed)
    _validate.choice("scheme", scheme, tuple(INITIALIZERS))

    def one(s: int) -> tuple[P, ...]:
        rng = np.random.default_rng(seed_sequence(s, 0))
        return tuple(layer.init(rng, scheme) for layer in net.layers)

    if isinstance(seeds, int):
        return one(seeds)
    members = [one(s) for s in seeds]
    return tree_map(lambda *xs: np.stack(xs), members[0], *members[1:])


def check_network(net: object) -> None:
    if not isinstance(net, Network):
        raise TypeError(f"net must be a Network (e.g. from mlp(...)), got {type(net).__name__}")


def model_shape(net: Network[P], params: tuple[P, ...]) -> tuple[int, ...]:
    """Leading model axes of ``params`` after checking that they fit ``net``.

    Raises:
        TypeError, ValueError: naming the layer whose params do not fit.
    """
    check_network(net)
    if not isinstance(params, tuple) or len(params) != len(net.layers):
        got = f"a tuple of {len(params)} records" if isinstance(params, tuple) else type(params).__name__
        raise ValueError(f"params must be a tuple of {len(net.layers)} records (one per layer), got {got}")
    shape: tuple[int, ...] | None = None
    for i, (layer, p) in enumerate(zip(net.layers, params, strict=True)):
        layer.check_params(p, f"params[{i}]")
        s = layer.model_shape(p)
        if shape is None:
            shape = s
        elif s is not None and s != shape:
            raise ValueError(
                f"params[{i}] has model axes {s}, but params[0] has {shape}; all layers must stack the same models"
            )
    return shape if shape is not None else ()


def check_x(net: Network[P], x: npt.ArrayLike, models: tuple[int, ...], name: str = "x") -> FloatArray:
    """``x`` as a C-contiguous read-only float64 array that fits the network and the models."""
    xa = _validate.finite_array(name, x, ndim_min=2)
    if xa.shape[-1] != net.in_features:
        raise ValueError(
            f"{name} must have shape (n, {net.in_features}) to match the network's input size, got shape {xa.shape}"
        )
    if xa.shape[-2] < 1:
        raise ValueError(f"{name} must hold at least one sample, got shape {xa.shape}")
    lead = xa.shape[:-2]
    if lead and lead != models:
        raise ValueError(
            f"{name} must have shape (n, {net.in_features}) shared by all models or "
            f"{models + ('n', net.in_features)} with one batch per model, got shape {xa.shape}"
        )
    return xa


def check_y(net: Network[P], x: FloatArray, y: npt.ArrayLike) -> FloatArray:
    """Finite targets ``y`` `(..., n, out)` that fit ``x`` and the network's outputs (their values: the loss checks)."""
    ya = _validate.finite_array("y", y, ndim_min=1)
    if ya.ndim == 1:
        raise ValueError(
            f"y must have shape (n, outputs) such as ({ya.shape[0]}, {net.out_features}), got shape {ya.shape}; "
            "reshape it with y.reshape(-1, 1)"
        )
    if ya.shape[-1] != net.out_features:
        raise ValueError(
            f"y must have shape (n, {net.out_features}) to match the network's output size, got shape {ya.shape}"
        )
    if ya.shape[:-1] != x.shape[:-1]:
        raise ValueError(f"y must have shape {x.shape[:-1] + (net.out_features,)} to match x, got shape {ya.shape}")
    return ya


Masks: TypeAlias = tuple[FloatArray | None, ...]
"""Training noise: per layer, a DropoutLayer's keep mask (``DropoutLayer.mask``), or None."""


def output(
    layers: tuple[Layer, ...], params: Sequence[object], x: FloatArray, masks: Masks | None = None
) -> tuple[FloatArray, list[Cache]]:
    """The forward fold: the output and every layer's cache (no checks).  With ``masks`` (training),
    a DropoutLayer given a mask applies it (``forward_train``); without, every layer runs ``forward``."""
    caches: list[Cache] = []
    a = x
    for i, (layer, p) in enumerate(zip(layers, params)):
        mask = None if masks is None else masks[i]
        if mask is not None and isinstance(layer, DropoutLayer):
            a, cache = layer.forward_train(cast(NoParams, p), a, mask)
        else:
            a, cache = layer.forward(p, a)
        caches.append(cache)
    return a, caches


def value_and_grad(
    layers: tuple[Layer, ...],
    params: tuple[P, ...],
    x: FloatArray,
    y: FloatArray,
    loss: Loss,
    masks: Masks | None = None,
) -> tuple[FloatArray, tuple[P, ...], FloatArray]:
    """``(loss, grads, output)``: the forward fold (with the dropout ``masks`` of training, if given),
    then the backward fold over the reversed layers (no checks)."""
    a, caches = output(layers, params, x, masks)
    last = caches[-1]
    value = loss.value(last.z, last.a, y)
    g = loss.delta(last.z, last.a, y, layers[-1].activation)  # dL/dz of the output layer
    grads: list[P] = []
    for i in reversed(range(len(layers))):
        gp, g = layers[i].backward(params[i], caches[i], g, wrt_z=i == len(layers) - 1)
        grads.append(gp)
    return value, tuple(reversed(grads)), a


def hits(a: FloatArray, y: FloatArray) -> FloatArray:
    """Correct labels per model: outputs and labels on the same side of 0.5, counted over samples and outputs."""
    right = (a >= 0.5) == (y >= 0.5)
    out: FloatArray = right.sum(axis=(-2, -1)).astype(np.float64)
    return out


def class_hits(a: FloatArray, y: FloatArray) -> FloatArray:
    """Correct samples per model: the largest output is the label's class (one-hot ``y``)."""
    right = np.argmax(a, axis=-1) == np.argmax(y, axis=-1)
    out: FloatArray = right.sum(axis=-1).astype(np.float64)
    return out


def score(task: str, a: FloatArray, y: FloatArray) -> FloatArray:
    """What a batch adds to the epoch's metric, per model: correct labels (``binary``: per output;
    ``multiclass``: per sample), or the sum of squared errors (``regression``)."""
    if task == "binary":
        return hits(a, y)
    if task == "multiclass":
        return class_hits(a, y)
    r = a - y
    out: FloatArray = (r * r).sum(axis=(-2, -1))
    return out


def forward(net: Network[P], params: tuple[P, ...], x: npt.ArrayLike) -> FloatArray:
    """The network's output for inputs ``x``.

    Args:
        net: the network.
        params: its params, possibly stacked over leading model axes.
        x: `(n, in)` shared by all models, or `(*models, n, in)`; finite.

    Returns:
        `(*models, n, out)`; the inputs are left unchanged.

    Raises:
        ValueError: if the output overflows float64 (weights or inputs too large).

    Example:
        >>> net = mlp((2, 3, 1))
        >>> forward(net, init(net, seed=0), [[0.0, 1.0]]).shape
        (1, 1)
    """
    models = model_shape(net, params)
    xa = check_x(net, x, models)
    with np.errstate(all="ignore"), _fits_in_memory("x", xa):
        a, _ = output(net.layers, params, xa)
    return _finite("forward", a)


def predict(net: Network[P], params: tuple[P, ...], x: npt.ArrayLike, *, threshold: float = 0.5) -> FloatArray:
    """Labels in {0., 1.}: 1 where the output is >= ``threshold``; for a softmax output, the
    one-hot row of the largest output.  Shape as ``forward``."""
    t = _validate.in_range("threshold", threshold, 0.0, 1.0, closed_high=True)
    a = forward(net, params, x)
    if isinstance(net.output_activation, Softmax):
        labels: FloatArray = (np.arange(a.shape[-1]) == np.argmax(a, axis=-1)[..., None]).astype(np.float64)
        return labels
    return (a >= t).astype(np.float64)


def accuracy(net: Network[P], params: tuple[P, ...], x: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
    """Share of labels ``predict`` gets right, one value per model (shape `models`)."""
    models = model_shape(net, params)
    xa = check_x(net, x, models)
    ya = check_y(net, xa, y)
    bad = (ya != 0.0) & (ya != 1.0)
    if bad.any():
        raise ValueError(
            f"y must hold labels 0 or 1 (one-hot rows for a softmax output), got {float(ya[bad][0])!r} "
            f"(and {int(bad.sum())} such value(s) in all)"
        )
    if isinstance(net.output_activation, Softmax):
        cross_entropy.check_labels(ya, "y")
    with np.errstate(all="ignore"), _fits_in_memory("x", xa):
        a, _ = output(net.layers, params, xa)
    if isinstance(net.output_activation, Softmax):
        samples: FloatArray = class_hits(a, ya) / ya.shape[-2]
        return samples
    share: FloatArray = hits(a, ya) / (ya.shape[-1] * ya.shape[-2])
    return share


def grad(
    net: Network[P], params: tuple[P, ...], x: npt.ArrayLike, y: npt.ArrayLike, *, loss: str | Loss
) -> tuple[FloatArray, tuple[P, ...]]:
    """The loss and its gradient with respect to every parameter.

    Args:
        net: the network.
        params: its params, possibly stacked over leading model axes.
        x: `(n, in)` or `(*models, n, in)`, finite.
        y: `(n, out)` (or `(*models, n, out)`) targets the loss takes (``bce``: labels
            in {0., 1.}; ``cross_entropy``: one-hot rows; ``mse``: any finite reals).
        loss: a Loss record of ``LOSSES`` or its name.

    Returns:
        ``(loss, grads)``: loss of shape `models` (a 0-d array for one model) and
        grads with exactly the structure and shapes of ``params``.  Nothing is modified.

    Example:
        >>> import functional_nn as fnn
        >>> net = fnn.mlp((2, 3, 1))
        >>> value, grads = fnn.grad(net, fnn.init(net, seed=0), [[0.0, 1.0]], [[1.0]], loss=fnn.mse)
        >>> grads[0].w.shape
        (2, 3)
    """
    models = model_shape(net, params)
    xa = check_x(net, x, models)
    ya = check_y(net, xa, y)
    loss_fn = get_loss(loss)
    loss_fn.check_output(net.output_activation)
    loss_fn.check_labels(_validate.distinct(ya), "y")
    with np.errstate(all="ignore"), _fits_in_memory("x", xa):
        value, grads, _ = value_and_grad(net.layers, params, xa, ya, loss_fn)
    _finite("grad", value)
    for g in tree_leaves(grads):
        _finite("grad", g)
    return value, grads


@contextlib.contextmanager
def _fits_in_memory(name: str, a: FloatArray) -> Iterator[None]:
    """Turn a MemoryError (a huge broadcast view, say, whose activations cannot be allocated) into a ValueError."""
    try:
        yield
    except MemoryError:
        raise ValueError(f"{name} of shape {a.shape} is too large: its activations do not fit in memory") from None


def _finite(where: str, result: FloatArray) -> FloatArray:
    """``result``, or a ValueError if float64 overflowed computing it from finite ``params`` and ``x``."""
    bad = _validate.count_non_finite(result)
    if bad:
        raise ValueError(
            f"{where}: params and x are finite, but {bad} value(s) of the result overflowed float64 "
            "(NaN/inf): the weights or the inputs are too large"
        )
    return result


def check_grad(
    net: Network[P],
    params: tuple[P, ...],
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    loss: str | Loss,
    *,
    eps: float = 1e-5,
    samples: int = 32,
    seed: int = 0,
) -> tuple[dict[str, float], ...]:
    """The worst relative error of ``grad`` against central finite differences, per layer and parameter.

    For each array of each layer's params, up to ``samples`` entries (chosen
    with ``seed``; all of them when there are fewer) are moved by ``+-eps`` and
    ``(L(p + eps) - L(p - eps)) / (2 eps)`` is compared with the analytic
    gradient: ``|numeric - analytic| / max(|numeric|, |analytic|, 1e-8)``.
    For a layer kind of your own, errors around 1e-6 or below say its
    backward is right; errors near 1 say it is not.  One model (no model axes).

    Returns:
        One dict per layer, parameter name -> worst relative error (empty for a
        layer without params).

    Example:
        >>> import functional_nn as fnn
        >>> net = fnn.mlp((2, 3, 1), hidden="tanh")
        >>> errors = fnn.check_grad(net, fnn.init(net, seed=0), [[0.5, -1.0], [2.0, 0.1]], [[1.0], [0.0]], "mse")
        >>> all(e < 1e-6 for layer in errors for e in layer.values())
        True
    """
    if model_shape(net, params):
        raise ValueError("params must be a single model (no model axes) for check_grad")
    _validate.positive("eps", eps)
    samples = _validate.integer("samples", samples, minimum=1)
    rng = np.random.default_rng(_validate.integer("seed", seed, minimum=0))
    _, grads = grad(net, params, x, y, loss=loss)
    xa = check_x(net, x, ())
    loss_at = functools.partial(_moved_loss, net, params, xa, check_y(net, xa, y), get_loss(loss))
    report: list[dict[str, float]] = []
    for i, record in enumerate(params):
        worst: dict[str, float] = {}
        for f in attrs.fields(cast(Any, type(record))):
            analytic = getattr(grads[i], f.name)
            if analytic.size == 0:
                continue
            picks = rng.choice(analytic.size, size=min(samples, analytic.size), replace=False)
            errors = [
                abs(numeric - analytic.flat[k]) / max(abs(numeric), abs(analytic.flat[k]), 1e-8)
                for k in picks
                for numeric in [(loss_at(i, f.name, k, eps) - loss_at(i, f.name, k, -eps)) / (2.0 * eps)]
            ]
            if not all(math.isfinite(e) for e in errors):  # a difference of losses near float64's limit
                raise ValueError(f"check_grad: the finite differences of params[{i}].{f.name} overflow float64")
            worst[f.name] = float(max(errors))
        report.append(worst)
    return tuple(report)


def _moved_loss(
    net: Network[P],
    params: tuple[P, ...],
    x: FloatArray,
    y: FloatArray,
    loss: Loss,
    layer: int,
    name: str,
    index: int,
    delta: float,
) -> float:
    """The loss with one entry of ``params[layer].<name>`` moved by ``delta`` (check_grad's finite differences)."""
    record = params[layer]
    moved = np.array(getattr(record, name))
    changed = list(params)
    with np.errstate(all="ignore"):
        moved.flat[index] += delta
        if np.isfinite(moved.flat[index]):
            changed[layer] = attrs.evolve(cast(Any, record), **{name: moved})
            a, caches = output(net.layers, tuple(changed), x)
            value = float(loss.value(caches[-1].z, a, y))
    if not np.isfinite(moved.flat[index]) or not math.isfinite(value):
        raise ValueError(
            f"check_grad: the loss at params[{layer}].{name} moved by eps={abs(delta):g} overflows float64; "
            "check smaller params (or a smaller eps)"
        )
    return value
