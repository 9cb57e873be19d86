"""Networks: a static tuple of layers, and pure functions over their params.

    mlp(sizes, *, hidden, output)          -> Network        # e.g. mlp((2, 10, 10, 1))
    init(net, seed, *, scheme="normal")    -> Params         # one record per layer
    forward(net, params, x)                -> `(..., n, out)`
    predict(net, params, x, *, threshold)  -> `(..., n, out)` labels in {0., 1.}
    grad(net, params, x, y, *, loss)       -> (loss `(...)`, grads)   # grads mirror params
    accuracy(net, params, x, y)            -> `(...)` share of correct labels

``Params`` is a tuple with one record per layer (``Dense(w, b)`` for ``mlp``).
Params may carry leading model axes (``init(net, seed=[0, 1, 2])`` stacks three
models); every function then returns one result per model, equal to separate
calls.  ``x`` is `(n, in)` shared by all models or `(..., n, in)` per model.
Inputs are validated here, once; the ``_``-prefixed versions used by the
training loop do no checks.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from functional_nn import _validate
from functional_nn._records import FloatArray
from functional_nn.activations import Activation, Identity, get_activation
from functional_nn.data import check_xy
from functional_nn.layers import INITIALIZERS, Cache, DenseLayer, Layer, LayerParams
from functional_nn.losses import Loss, get_loss
from functional_nn.tree import tree_map

if TYPE_CHECKING:
    from functional_nn.conv import Buffers

__all__ = [
    "Network",
    "Params",
    "accuracy",
    "forward",
    "grad",
    "init",
    "mlp",
    "model_shape",
    "predict",
    "seed_sequence",
    "sequential",
]

Params: TypeAlias = tuple[LayerParams, ...]
"""One params record per layer."""

Seed: TypeAlias = int | Sequence[int]


def _layers_valid(instance: Network, attribute: attrs.Attribute[tuple[Layer, ...]], layers: tuple[Layer, ...]) -> None:
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
class Network:
    """A static sequence of layers (the architecture; no arrays).

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


def mlp(sizes: Sequence[int], *, hidden: str | Activation = "sigmoid", output: str | Activation = "sigmoid") -> Network:
    """A multilayer perceptron of Dense layers.

    Args:
        sizes: ``(in, hidden_1, ..., out)``, at least two sizes, each >= 1.
        hidden: activation of the hidden layers (a name from ``ACTIVATIONS`` or a record).
        output: activation of the output layer.

    Returns:
        The Network (static; ``init`` makes its params).

    Example:
        >>> net = mlp((2, 10, 10, 1), hidden="sigmoid", output="sigmoid")
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"sizes must be a sequence of layer sizes such as (2, 10, 10, 1), got {_validate.show(sizes)}")
    if len(sizes) < 2:
        raise ValueError(f"sizes must hold at least an input and an output size, got {tuple(sizes)!r}")
    checked = [_validate.integer(f"sizes[{i}]", s, minimum=1) for i, s in enumerate(sizes)]
    hidden_act = get_activation(hidden, argument="hidden")
    output_act = get_activation(output, argument="output")
    layers = tuple(
        DenseLayer(checked[i], checked[i + 1], hidden_act if i + 2 < len(checked) else output_act)
        for i in range(len(checked) - 1)
    )
    return Network(layers)


def sequential(*layers: Layer) -> Network:
    """A network of the given layers, in order."""
    return Network(tuple(layers))


def seed_sequence(seed: int, stream: int) -> np.random.SeedSequence:
    """The seed sequence of one named stream of a model's seed (0: init, 1: shuffling).

    Streams are derived with ``SeedSequence(seed, spawn_key=(stream,))``, so each
    model's streams depend on its own seed only.
    """
    return np.random.SeedSequence(seed, spawn_key=(stream,))


def _check_seeds(seed: object, name: str = "seed") -> tuple[int, ...] | int:
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return _validate.integer(name, seed, minimum=0)
    if isinstance(seed, (Sequence, range, np.ndarray)) and not isinstance(seed, (str, bytes)):
        seeds = tuple(_validate.integer(f"{name}[{i}]", s, minimum=0) for i, s in enumerate(seed))
        if not seeds:
            raise ValueError(f"{name} must be an integer or a non-empty sequence of integers, got an empty sequence")
        return seeds
    raise TypeError(f"{name} must be an integer >= 0 or a sequence of them (one per model), got {_validate.show(seed)}")


def init(net: Network, seed: Seed, *, scheme: str = "normal") -> Params:
    """Fresh params for ``net``.

    Args:
        net: the network.
        seed: an integer >= 0 for one model, or a sequence of M of them for a
            stack of M models (leading model axis of size M); model k of a stack
            equals ``init(net, seed[k])`` exactly.
        scheme: weight initializer, one of ``INITIALIZERS`` (``"normal"`` is the
            lab's N(0, 1)); biases start at zero.

    Returns:
        A tuple with one read-only params record per layer.

    Example:
        >>> params = init(mlp((2, 4, 1)), seed=0)
        >>> params[0].w.shape, params[0].b.shape
        ((2, 4), (4,))
    """
    _check_network(net)
    seeds = _check_seeds(seed)
    _validate.choice("scheme", scheme, INITIALIZERS)

    def one(s: int) -> Params:
        rng = np.random.default_rng(seed_sequence(s, 0))
        return tuple(layer.init(rng, scheme) for layer in net.layers)

    if isinstance(seeds, int):
        return one(seeds)
    members = [one(s) for s in seeds]
    return tree_map(lambda *xs: np.stack(xs), members[0], *members[1:])


def _check_network(net: object) -> None:
    if not isinstance(net, Network):
        raise TypeError(f"net must be a Network (e.g. from mlp(...)), got {type(net).__name__}")


def model_shape(net: Network, params: Params) -> tuple[int, ...]:
    """Leading model axes of ``params`` after checking that they fit ``net``.

    Raises:
        TypeError, ValueError: naming the layer whose params do not fit.
    """
    _check_network(net)
    if not isinstance(params, tuple) or len(params) != len(net.layers):
        got = f"a tuple of {len(params)} records" if isinstance(params, tuple) else type(params).__name__
        raise ValueError(f"params must be a tuple of {len(net.layers)} records (one per layer), got {got}")
    shape: tuple[int, ...] | None = None
    for i, (layer, p) in enumerate(zip(net.layers, params, strict=True)):
        layer.check_params(p, f"params[{i}]")
        s = layer.model_shape(p)
        if shape is None:
            shape = s
        elif s != shape:
            raise ValueError(
                f"params[{i}] has model axes {s}, but params[0] has {shape}; all layers must stack the same models"
            )
    assert shape is not None
    return shape


def _check_x(net: Network, x: npt.ArrayLike, models: tuple[int, ...], name: str = "x") -> FloatArray:
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


def _check_y(net: Network, x: FloatArray, y: npt.ArrayLike) -> FloatArray:
    if x.ndim == 2:
        _, ya = check_xy(x, y)
    else:
        flat = np.asarray(y)
        _, ya = check_xy(x.reshape(-1, x.shape[-1]), flat.reshape(-1, flat.shape[-1]) if flat.ndim >= 2 else flat)
        ya = ya.reshape(x.shape[:-1] + ya.shape[-1:])
    if ya.shape[-1] != net.out_features:
        raise ValueError(
            f"y must have shape (n, {net.out_features}) to match the network's output size, got shape {ya.shape}"
        )
    return ya


def _forward(layers: tuple[Layer, ...], params: Params, x: FloatArray) -> tuple[FloatArray, list[Cache]]:
    caches: list[Cache] = []
    a = x
    for layer, p in zip(layers, params):
        a, cache = layer.forward(p, a)
        caches.append(cache)
    return a, caches


def _value_and_grad(
    layers: tuple[Layer, ...], params: Params, x: FloatArray, y: FloatArray, loss: Loss
) -> tuple[FloatArray, Params, FloatArray]:
    """``(loss, grads, output)``: forward fold, then backward fold over the reversed layers."""
    a, caches = _forward(layers, params, x)
    _, z, a = caches[-1]
    value, dz = loss.value_and_delta(z, a, y, layers[-1].activation)
    grads: list[LayerParams] = [params[0]] * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        g, dx = layers[i].backward(params[i], caches[i], dz, input_grad=i > 0)
        grads[i] = g
        if dx is not None:
            dz = _delta_before(layers[i - 1].activation, caches[i - 1], dx)
    return value, tuple(grads), a


def _delta_before(activation: Activation, cache: Cache, dx: FloatArray, out: FloatArray | None = None) -> FloatArray:
    """dL/dz of the layer before, from dL/d(its output) ``dx``: the chain rule through its activation."""
    if isinstance(activation, Identity):
        return dx
    _, z, a = cache
    dz = activation.derivative(z, a, out)
    dz *= dx
    return dz


class _Workspace:
    """Buffers one training loop reuses epoch after epoch (Dense and image layers).

    Allocating the activations of a stack of models anew every epoch costs more
    than computing them (each array is mapped and unmapped by the C allocator),
    so the loop writes into these instead.  A workspace belongs to one loop in
    one thread and never leaves it; ``grads`` are records of views into the
    loop's flat gradient buffer.  Dense layers take their buffers from ``get``;
    the image layers of ``conv`` from the ``buffers(layer)`` source, which
    returns the same zero-filled-at-first array for the same role and shape.
    """

    def __init__(self, models: tuple[int, ...], grads: Params) -> None:
        self.models = models
        self.grads = grads
        self._buffers: dict[tuple[int, str, int], FloatArray] = {}
        self._dense: dict[int, list[tuple[FloatArray, FloatArray, FloatArray | None, FloatArray | None]]] = {}
        self._arrays: dict[tuple[int, str, tuple[int, ...], type], np.ndarray[Any, Any]] = {}
        self._sources: dict[int, Buffers] = {}

    def get(self, layer: int, role: str, n: int, width: int) -> FloatArray:
        key = (layer, role, n)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = np.empty(self.models + (n, width))
        return buf

    def dense(
        self, layers: tuple[Layer, ...], n: int
    ) -> list[tuple[FloatArray, FloatArray, FloatArray | None, FloatArray | None]]:
        """Per layer, for a batch of n: the ``(z, a, dL/dx, dL/dz of the layer before)`` buffers
        of its Dense step (None where the layer is not Dense or has no input gradient)."""
        plan = self._dense.get(n)
        if plan is None:
            plan = []
            for i, layer in enumerate(layers):
                if isinstance(layer, DenseLayer):
                    w = layer.out_features
                    inner = (
                        (self.get(i, "dx", n, layer.in_features), self.get(i - 1, "dz", n, layer.in_features))
                        if i
                        else (None, None)
                    )
                    plan.append((self.get(i, "z", n, w), self.get(i, "a", n, w), *inner))
                else:
                    plan.append((np.empty(0), np.empty(0), None, None))
            self._dense[n] = plan
        return plan

    def buffers(self, layer: int) -> Buffers:
        """The ``conv.Buffers`` source of layer ``layer``: one array per role, shape and dtype."""
        source = self._sources.get(layer)
        if source is None:
            arrays = self._arrays

            def source(role: str, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray[Any, Any]:
                key = (layer, role, shape, dtype)
                buf = arrays.get(key)
                if buf is None:
                    buf = arrays[key] = np.zeros(shape, dtype=dtype)
                return buf

            self._sources[layer] = source
        return source


def supports_workspace(layers: tuple[Layer, ...]) -> bool:
    """Whether ``_value_and_grad_into`` can run this network.

    Dense layers and the image layers of ``conv`` (Conv2D, pooling, flatten),
    each with a built-in activation.
    """
    from functional_nn.activations import ACTIVATIONS, LeakyReLU
    from functional_nn.conv import IMAGE_LAYER_TYPES

    builtin = tuple({type(a) for a in ACTIVATIONS.values()} | {LeakyReLU})
    kinds = (DenseLayer, *IMAGE_LAYER_TYPES)
    return all(type(layer) in kinds and isinstance(layer.activation, builtin) for layer in layers)


def _value_and_grad_into(
    layers: tuple[Layer, ...], params: Params, x: FloatArray, y: FloatArray, loss: Loss, ws: _Workspace
) -> tuple[FloatArray, FloatArray]:
    """``_value_and_grad`` writing into the workspace: ``(loss, output)``; the grads land in ``ws.grads``.

    The same arithmetic in the same order as ``_value_and_grad``, so the results are bit-identical.
    Image layers (``supports_workspace``) get ``buffers=ws.buffers(i)``; a Conv2D layer
    writes its grads into ``ws.grads[i]``, pooling and flatten have none.
    """
    n = x.shape[-2]
    plan = ws.dense(layers, n)
    caches: list[Cache] = []
    a = x
    for i, (layer, p) in enumerate(zip(layers, params)):
        if isinstance(layer, DenseLayer):
            a, cache = layer.forward(p, a, out=plan[i][:2])
        else:
            image: Any = layer  # a conv layer kind (supports_workspace checked it); its params are not Dense
            a, cache = image.forward(p, a, buffers=ws.buffers(i))
        caches.append(cache)
    _, z, a = caches[-1]
    value, dz = loss.value_and_delta(z, a, y, layers[-1].activation)
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        g: Any = ws.grads[i]
        dx: FloatArray | None
        if isinstance(layer, DenseLayer):
            _, dx = layer.backward(params[i], caches[i], dz, input_grad=i > 0, out=(g, plan[i][2]))
        else:
            from functional_nn.conv import Conv2DLayer  # (imported here: conv imports this module)

            image = layer
            if isinstance(layer, Conv2DLayer):
                _, dx = image.backward(
                    params[i], caches[i], dz, input_grad=i > 0, buffers=ws.buffers(i), out=(g.w, g.b)
                )
            else:
                _, dx = image.backward(params[i], caches[i], dz, input_grad=i > 0, buffers=ws.buffers(i))
        if dx is not None:
            dz_buf = plan[i][3]
            out = dz_buf if dz_buf is not None else ws.get(i - 1, "dz", n, layer.in_features)
            dz = _delta_before(layers[i - 1].activation, caches[i - 1], dx, out)
    return value, a


def _accuracy(a: FloatArray, y: FloatArray) -> FloatArray:
    hits: FloatArray = ((a >= 0.5) == (y >= 0.5)).sum(axis=(-2, -1))
    out: FloatArray = hits * (1.0 / (a.shape[-1] * a.shape[-2]))
    return out


def forward(net: Network, params: Params, x: npt.ArrayLike) -> FloatArray:
    """The network's output for inputs ``x``.

    Args:
        net: the network.
        params: its params, possibly stacked over leading model axes.
        x: `(n, in)` shared by all models, or `(*models, n, in)`; finite.

    Returns:
        `(*models, n, out)`; the inputs are left unchanged.

    Example:
        >>> net = mlp((2, 3, 1))
        >>> forward(net, init(net, seed=0), [[0.0, 1.0]]).shape
        (1, 1)
    """
    models = model_shape(net, params)
    xa = _check_x(net, x, models)
    a, _ = _forward(net.layers, params, xa)
    return a


def predict(net: Network, params: Params, x: npt.ArrayLike, *, threshold: float = 0.5) -> FloatArray:
    """Labels in {0., 1.}: 1 where the output is >= ``threshold``.  Shape as ``forward``."""
    t = _validate.in_range("threshold", threshold, 0.0, 1.0, closed_high=True)
    return (forward(net, params, x) >= t).astype(np.float64)


def accuracy(net: Network, params: Params, x: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
    """Share of labels ``predict`` gets right, one value per model (shape `models`)."""
    models = model_shape(net, params)
    xa = _check_x(net, x, models)
    ya = _check_y(net, xa, y)
    a, _ = _forward(net.layers, params, xa)
    return _accuracy(a, ya)


def grad(
    net: Network, params: Params, x: npt.ArrayLike, y: npt.ArrayLike, *, loss: str | Loss
) -> tuple[FloatArray, Params]:
    """The loss and its gradient with respect to every parameter.

    Args:
        net: the network.
        params: its params, possibly stacked over leading model axes.
        x: `(n, in)` or `(*models, n, in)`, finite.
        y: `(n, out)` (or `(*models, n, out)`) labels in {0., 1.}.
        loss: ``mse``, ``bce`` or their names.

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
    xa = _check_x(net, x, models)
    ya = _check_y(net, xa, y)
    loss_fn = get_loss(loss)
    loss_fn.check_output(net.output_activation)
    value, grads, _ = _value_and_grad(net.layers, params, xa, ya, loss_fn)
    return value, grads
