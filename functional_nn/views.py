"""What a picture of a training run shows, computed from its trace: pure functions, no drawing.

    plane(x, size=32, margin=0.1)        -> Plane          # a square grid over the input plane around x
    layer_outputs(net, params, x)        -> (a_1, ..., a_L) # every layer's output `(*models, n, units)`
    unit_maps(net, params, grid)         -> (m_1, ..., m_L) # each unit's output over the grid `(*models, units, G, G)`
    frames(trace, initial=None)          -> ((epoch, params), ...)   # the params after 0, k, 2k, ... epochs
    pick_epochs(epochs, count)           -> epochs          # ``count`` of them, denser at the start
    figures(trace, validation=None)      -> Figures         # loss / accuracy after each epoch, as the trace says
    snapshot_every(epochs, parameters)   -> k               # the densest snapshots that fit a memory budget
    quantize(values, lo, hi)             -> uint8 array     # 0..255 for an image

Epochs here count the updates done: "epoch e" is the params after e epochs
(``e = 0``: the initial params).  The trace's per-epoch arrays measure the params
at the start of each epoch, so ``trace.loss[e]`` (epoch e + 1's entry) is the
loss of the params after e epochs, and ``trace.final_loss`` that of the params
after the last one; ``figures`` lines them up so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from functional_nn import _validate
from functional_nn._records import ARRAY_EQ, FloatArray, readonly, to_array
from functional_nn.config import prepare
from functional_nn.data import Dataset
from functional_nn.fold import metric
from functional_nn.network import Network, check_network, check_x, model_shape, output, score
from functional_nn.trace import Trace
from functional_nn.tree import leaves

__all__ = [
    "Figures",
    "Plane",
    "figures",
    "frames",
    "layer_outputs",
    "parameter_count",
    "pick_epochs",
    "plane",
    "quantize",
    "snapshot_every",
    "unit_maps",
]

MAX_GRID = 1024
"""The largest grid side ``plane`` makes: a million points per map."""


@attrs.frozen
class Plane:
    """A square grid of ``size`` x ``size`` points over the input plane, at the centres of its cells.

    Attributes:
        x1, x2: the ``(low, high)`` edges of the square along each input.
        size: points per side.

    Row 0 of the grid is the top (largest x2), column 0 the left (smallest x1):
    the order of an image's pixels.
    """

    x1: tuple[float, float]
    x2: tuple[float, float]
    size: int

    @property
    def points(self) -> FloatArray:
        """`(size * size, 2)` inputs, row by row from the top left."""
        step = (np.arange(self.size) + 0.5) / self.size
        c1 = self.x1[0] + step * (self.x1[1] - self.x1[0])
        c2 = self.x2[1] - step * (self.x2[1] - self.x2[0])
        g2, g1 = np.meshgrid(c2, c1, indexing="ij")
        return readonly(np.stack([g1.ravel(), g2.ravel()], axis=1))


def plane(x: npt.ArrayLike, size: int = 32, *, margin: float = 0.1) -> Plane:
    """The square grid that holds every point of ``x`` `(n, 2)`, centred on them, with ``margin``
    (a share of the square's half side) on each side.

    Raises:
        ValueError, TypeError: naming ``x``, ``size`` or ``margin``.

    Example:
        >>> g = plane([[0.0, 0.0], [1.0, 1.0]], size=4, margin=0.0)
        >>> g.x1, g.points.shape
        ((0.0, 1.0), (16, 2))
    """
    xa = _validate.finite_array("x", x, ndim_min=2)
    if xa.ndim != 2 or xa.shape[1] != 2 or xa.shape[0] < 1:
        raise ValueError(f"x must have shape (n, 2) with n >= 1 (points of the plane), got shape {xa.shape}")
    side = _validate.integer("size", size, minimum=2, maximum=MAX_GRID)
    pad = _validate.real("margin", margin)
    if pad < 0.0:
        raise ValueError(f"margin must be >= 0, got {pad}")
    lo, hi = xa.min(axis=0), xa.max(axis=0)
    with np.errstate(over="ignore"):
        centre = lo / 2.0 + hi / 2.0
        half = float(np.max(hi / 2.0 - lo / 2.0))
        half = (half if half > 0.0 else 1.0) * (1.0 + pad)
        edges = (float(centre[0]) - half, float(centre[0]) + half, float(centre[1]) - half, float(centre[1]) + half)
    if not all(math.isfinite(e) for e in edges) or not half * 2.0 < math.inf:
        raise ValueError(f"x and margin give a square too large for float64 (half side {half}): scale the points down")
    return Plane(x1=edges[:2], x2=edges[2:], size=side)


def layer_outputs(net: Network, params: Any, x: npt.ArrayLike) -> tuple[FloatArray, ...]:
    """Every layer's output for inputs ``x``: the hidden units' activations, and last the network's
    output (equal to ``forward(net, params, x)``).

    Args:
        net: the network.
        params: its params, possibly stacked over leading model axes.
        x: `(n, in)` shared by all models, or `(*models, n, in)`; finite.

    Returns:
        One read-only array per layer, `(*models, n, units)`.

    Raises:
        ValueError, TypeError: naming ``net``, ``params`` or ``x``; a ValueError if an output overflows.
    """
    models = model_shape(net, params)
    xa = check_x(net, x, models)
    with np.errstate(all="ignore"):
        _, caches = output(net.layers, params, xa)
    outs = tuple(readonly(c.a) for c in caches)
    for i, a in enumerate(outs):
        bad = _validate.count_non_finite(a)
        if bad:
            raise ValueError(
                f"layer_outputs: params and x are finite, but {bad} output(s) of layer {i} overflowed float64: "
                "the weights or the inputs are too large"
            )
    return outs


def unit_maps(net: Network, params: Any, grid: Plane) -> tuple[FloatArray, ...]:
    """What every unit of every layer computes over the input plane: one map per unit.

    Args:
        net: a network with two inputs.
        params: its params, possibly stacked over leading model axes.
        grid: the points (``plane``).

    Returns:
        One read-only array per layer, `(*models, units, size, size)`; ``[..., u, i, j]`` is unit u's
        output at ``grid.points[i * size + j]`` (row i from the top, column j from the left).

    Raises:
        ValueError, TypeError: naming the argument.
    """
    check_network(net)
    if net.in_features != 2:
        raise ValueError(f"net must have 2 inputs to be drawn over a plane, got {net.in_features}")
    if not isinstance(grid, Plane):
        raise TypeError(f"grid must be a Plane (from views.plane), got {type(grid).__name__}")
    g = grid.size
    maps = []
    for a in layer_outputs(net, params, grid.points):
        lead = a.shape[:-2]
        maps.append(readonly(np.moveaxis(a, -1, -2).reshape(*lead, a.shape[-1], g, g)))
    return tuple(maps)


def _single(trace: object) -> Trace:
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be a Trace, got {type(trace).__name__}")
    if trace.models:
        raise ValueError(
            f"trace must be the trace of one model, got a stack with models {trace.models}; take one with trace.member(k)"
        )
    if trace.config.patience is not None:
        raise ValueError(
            "trace must not come from early stopping (config.patience): its final params are those of its best "
            "epoch, not of its last"
        )
    return trace


def frames(trace: Trace, initial: Any = None) -> tuple[tuple[int, Any], ...]:
    """The params the trace holds, by the number of epochs done: ``initial`` at 0 (if given), the
    snapshots (``TrainConfig(snapshot_every=k)``), and ``trace.params`` after its last epoch.

    Raises:
        ValueError, TypeError: ``trace`` not of one model, or from early stopping; ``initial`` not
            params of the trace's network for one model.
    """
    t = _single(trace)
    run = t.epochs_run
    out: list[tuple[int, Any]] = []
    if initial is not None:
        try:
            models = model_shape(t.network, initial)
        except (TypeError, ValueError) as err:
            raise type(err)(f"initial: {err}") from None
        if models:
            raise ValueError(f"initial must be the params of one model, got model axes {models}")
        out.append((0, initial))
    out.extend((e, p) for e, p in t.snapshots if e < run)  # epochs >= 1, increasing
    if not out or out[-1][0] < run:
        out.append((run, t.params))
    return tuple(out)


def pick_epochs(epochs: Sequence[int], count: int) -> tuple[int, ...]:
    """``count`` of ``epochs`` (increasing), the first and the last among them, spaced
    quadratically: dense at the start, where a network changes fastest.

    Raises:
        ValueError, TypeError: naming ``epochs`` or ``count``.

    Example:
        >>> pick_epochs(range(0, 101), 5)
        (0, 6, 25, 56, 100)
    """
    if isinstance(epochs, (str, bytes)) or not isinstance(epochs, Sequence):
        raise TypeError(f"epochs must be a sequence of integers, got {type(epochs).__name__}")
    values = [_validate.integer("epochs[i]", e, minimum=0) for e in epochs]
    n = _validate.integer("count", count, minimum=2)
    if not values:
        raise ValueError("epochs must hold at least one epoch, got none")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError("epochs must be strictly increasing")
    if len(values) <= n:
        return tuple(values)
    first, last = values[0], values[-1]
    ep = np.asarray(values)
    picked: list[int] = []
    for i in range(n):
        target = first + (last - first) * (i / (n - 1)) ** 2
        # the nearest epoch after the last one picked, keeping room for the picks still to come
        lo = len(picked) and int(np.searchsorted(ep, picked[-1], side="right"))
        hi = len(ep) - (n - 1 - i)
        j = int(np.clip(np.searchsorted(ep, target), lo, hi - 1))
        if j > lo and abs(ep[j - 1] - target) <= abs(ep[j] - target):
            j -= 1
        picked.append(int(ep[j]))
    return tuple(picked)


@attrs.frozen
class Figures:
    """A run's measures after each epoch: index e is the params after e epochs (0 to ``epochs_run``).

    Attributes:
        loss, accuracy: on the training set: ``trace.loss[e]`` and ``trace.accuracy[e]`` (with
            mini-batches: the mean over epoch e + 1's batches), and after the last epoch
            ``trace.final_loss`` and ``trace.final_accuracy``.
        val_loss, val_accuracy: on the held-out set, ``trace.val_loss[e]`` ...; after the last
            epoch measured here as the fold measures it; None without a held-out set.
    """

    loss: FloatArray = attrs.field(converter=to_array, eq=ARRAY_EQ)
    accuracy: FloatArray = attrs.field(converter=to_array, eq=ARRAY_EQ)
    val_loss: FloatArray | None = attrs.field(default=None, eq=ARRAY_EQ)
    val_accuracy: FloatArray | None = attrs.field(default=None, eq=ARRAY_EQ)


def figures(trace: Trace, validation: Dataset | None = None) -> Figures:
    """The trace's loss and accuracy, training and held-out, after 0, 1, ..., ``epochs_run`` epochs.

    Args:
        trace: the trace of one model.
        validation: the held-out set the trace was trained with (``train(..., validation=)``);
            needed exactly when the trace has held-out figures, for the params after the last epoch.

    Raises:
        ValueError, TypeError: naming ``trace`` or ``validation``.
    """
    t = _single(trace)
    train_loss = np.append(t.loss, t.final_loss)
    train_acc = np.append(t.accuracy, t.final_accuracy)
    if t.val_loss is None or t.val_accuracy is None:
        if validation is not None:
            raise ValueError("validation was given, but the trace has no held-out figures (trained without one)")
        return Figures(loss=train_loss, accuracy=train_acc)
    if not isinstance(validation, Dataset):
        raise TypeError(
            f"validation must be the held-out Dataset the trace was trained with, got {type(validation).__name__}"
        )
    try:
        # the held-out set measured as the training set is (any batch size fits: one pass, no batches)
        run = prepare(t.network, t.params, validation, attrs.evolve(t.config, batch_size=None))
    except (TypeError, ValueError) as err:
        raise type(err)(f"validation: {err}") from None
    with np.errstate(all="ignore"):
        a, caches = output(t.network.layers, t.params, run.x)
    last_loss = t.config.loss.value(caches[-1].z, a, run.y)
    last_acc = metric(run, score(run.task, a, run.y))
    return Figures(
        loss=train_loss,
        accuracy=train_acc,
        val_loss=to_array(np.append(t.val_loss, last_loss)),
        val_accuracy=to_array(np.append(t.val_accuracy, last_acc)),
    )


def snapshot_every(epochs: int, parameters: int, *, budget: int = 64 * 2**20) -> int:
    """The smallest k such that the snapshots of every k-th epoch of a run of ``epochs`` epochs,
    ``parameters`` float64 values each, take at most ``budget`` bytes (and at least 1).

    Example:
        >>> snapshot_every(10_000, 151), snapshot_every(10_000, 100_000, budget=2**30)
        (1, 8)
    """
    e = _validate.integer("epochs", epochs, minimum=1)
    p = _validate.integer("parameters", parameters, minimum=1)
    b = _validate.integer("budget", budget, minimum=1)
    keep = max(b // (8 * p), 1)  # snapshots that fit (one at least)
    return e // (keep + 1) + 1  # the smallest k with e // k <= keep


def parameter_count(params: Any) -> int:
    """The number of values in ``params`` (all its arrays).

    Raises:
        TypeError: naming ``params`` when it is not a tree of arrays.
    """
    try:
        found = leaves(params)
    except TypeError as err:
        raise TypeError(f"params: {err}") from None
    return int(sum(leaf.size for leaf in found))


def quantize(values: npt.ArrayLike, lo: float, hi: float) -> npt.NDArray[np.uint8]:
    """``values`` mapped linearly from ``[lo, hi]`` to the integers 0..255 (rounded, clipped): one byte
    per pixel of an image.

    Raises:
        ValueError, TypeError: naming ``values``, ``lo`` or ``hi``.

    Example:
        >>> quantize([0.0, 0.5, 1.0, 2.0], 0.0, 1.0).tolist()
        [0, 128, 255, 255]
    """
    v = _validate.finite_array("values", values, ndim_min=0)
    low, high = _validate.real("lo", lo), _validate.real("hi", hi)
    if not low < high or not math.isfinite(high - low):
        raise ValueError(f"hi must be > lo, with hi - lo finite, got lo={low}, hi={high}")
    with np.errstate(over="ignore"):  # a value far outside [lo, hi] is clipped all the same
        scaled = np.clip((v - low) / (high - low), 0.0, 1.0) * 255.0
    out: npt.NDArray[np.uint8] = np.asarray(np.floor(scaled + 0.5).astype(np.uint8)).view()
    out.flags.writeable = False
    return out
