"""Training traces: what a run did, epoch by epoch, and how two runs differ.

    Trace                               # per-epoch loss / accuracy / grad_norm, final params,
                                        # snapshots, config, seed, why it stopped
    trace.member(k)      -> Trace       # model k of a stacked run, as if trained alone
    compare_traces(a, b) -> TraceDiff   # equal?, first differing epoch, largest difference

Epoch ``e`` (1-based) is stored at index ``e - 1``.  For a stacked run of M
models the per-epoch arrays have shape `(epochs, M)`; a model that stopped
early has NaN after its last epoch.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from functional_nn import _validate
from functional_nn._records import ARRAY_EQ, FloatArray, real_array, to_array
from functional_nn.config import TrainConfig
from functional_nn.network import Network, Params, check_seeds, model_shape
from functional_nn.optimizers import OptState
from functional_nn.tree import leaves, tree_map

__all__ = ["EPOCHS_DONE", "ResumePoint", "Trace", "TraceDiff", "compare_traces", "take_models"]

EPOCHS_DONE = "epochs done"

IntArray = npt.NDArray[np.int64]


def _int_array(value: npt.ArrayLike) -> IntArray:
    """Converter of ``stop_epoch``: whole numbers (of any real dtype) as a read-only int64 array."""
    arr = _validate.as_array("stop_epoch", value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"Trace.stop_epoch must hold whole numbers of epochs, got {_validate.show(value)}")
    if not np.all((arr == np.round(arr)) & (arr >= 0) & (arr <= 2**62)):
        raise ValueError(
            f"Trace.stop_epoch must hold whole numbers of epochs in [0, 2**62], got {_validate.show(value)}"
        )
    out: IntArray = arr.astype(np.int64).view()
    out.flags.writeable = False
    return out


def optional_array(value: npt.ArrayLike | None) -> FloatArray | None:
    return None if value is None else to_array(value)


def take_models(tree: Any, index: int | slice) -> Any:
    """Model ``index`` (or the models of a slice) of a stacked tree: every array with a model axis indexed.

    A 0-d leaf (Adam's step count while every model of a stack took the same
    steps) is shared by all models and kept as it is.
    """
    return tree_map(lambda a: a[index] if a.ndim else a, tree)


@attrs.frozen
class ResumePoint:
    """What continuing a run needs beyond its final params and optimizer state.

    Attributes:
        prev_params, prev_opt_state: params and state at the start of the last
            epoch (a divergence in the next epoch falls back to them); for a
            model of a stack that stopped, at the start of its own last epoch.
    """

    prev_params: Params
    prev_opt_state: OptState
    watch: Any = None  # fold.Watch: early stopping's bookkeeping, when config.patience is set


@attrs.frozen
class Trace:
    """The result of ``train``.

    Attributes:
        loss: `(epochs_run, *models)` loss during each epoch (full batch: of the
            params before that epoch's update; mini-batch: mean over the batches).
        accuracy: same shape, measured as ``loss``: the share of correct labels (per output
            for binary data, per sample by argmax for multiclass), or R^2 for regression.
        grad_norm: same shape; Euclidean norm of the gradient (mini-batch: mean over batches).
        params: final params (after divergence: the last params whose loss was finite).
        opt_state: optimizer state belonging to ``params``.
        final_loss, final_accuracy: `models`; of ``params`` on the whole training set.
        stop_epoch: `models` int array: epochs run by each model.
        stop_reasons: one per model: "epochs done", "loss threshold reached at
            epoch k" or "diverged at epoch k".
        snapshots: ``(epoch, params)`` pairs, every ``config.snapshot_every`` epochs.
        network, config, seed: what produced the trace.
        resume_point: what ``resume`` needs to continue the run exactly.
        val_loss, val_accuracy: `(epochs_run, *models)`, on the ``validation`` set, of the
            params at the start of each epoch (those of the full-batch training figures);
            None when training had no validation set.
        lr: `(epochs_run, *models)`, the learning rate of each epoch's first update (mini-batch:
            of its first batch; a schedule's lr then changes within the epoch); None for an
            optimizer of one's own whose hyperparameters hold no lr.
    """

    loss: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    accuracy: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    grad_norm: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    params: Params
    opt_state: OptState
    final_loss: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    final_accuracy: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    stop_epoch: IntArray = attrs.field(converter=_int_array, eq=ARRAY_EQ)
    stop_reasons: tuple[str, ...]
    snapshots: tuple[tuple[int, Params], ...]
    network: Network
    config: TrainConfig
    seed: int | tuple[int, ...]
    resume_point: ResumePoint | None = attrs.field(default=None, eq=False, repr=False)
    val_loss: FloatArray | None = attrs.field(default=None, converter=optional_array, eq=ARRAY_EQ)
    val_accuracy: FloatArray | None = attrs.field(default=None, converter=optional_array, eq=ARRAY_EQ)
    lr: FloatArray | None = attrs.field(default=None, converter=optional_array, eq=ARRAY_EQ)

    def __attrs_post_init__(self) -> None:
        _fields_fit(self)

    @property
    def models(self) -> tuple[int, ...]:
        """Leading model axes (``()`` for a single model)."""
        return tuple(self.loss.shape[1:])

    @property
    def epochs_run(self) -> int:
        """Number of epochs recorded (the longest-running model's)."""
        return int(self.loss.shape[0])

    @property
    def stop_reason(self) -> str:
        """Why training stopped; for a stack, a count of each member's reason."""
        if len(self.stop_reasons) == 1 and not self.models:
            return self.stop_reasons[0]
        kinds: dict[str, int] = {}
        for r in self.stop_reasons:
            key = r.split(" at epoch")[0]
            kinds[key] = kinds.get(key, 0) + 1
        return ", ".join(f"{v} {k}" for k, v in kinds.items())

    def member(self, k: int) -> Trace:
        """Model ``k`` of a stacked run (one leading model axis), as a single-model trace.

        Raises:
            ValueError, TypeError: if the trace is not stacked or ``k`` is not a model's index.
        """
        if len(self.models) != 1:
            raise ValueError(f"member() needs a trace stacked over one model axis, this one has models {self.models}")
        k = _validate.integer("k", k, minimum=0, maximum=self.models[0] - 1)
        run = int(self.stop_epoch[k])
        point = self.resume_point
        seeds = self.seed if isinstance(self.seed, tuple) else (self.seed,) * self.models[0]
        return Trace(
            loss=self.loss[:run, k],
            accuracy=self.accuracy[:run, k],
            grad_norm=self.grad_norm[:run, k],
            params=take_models(self.params, k),
            opt_state=take_models(self.opt_state, k),
            final_loss=self.final_loss[k],
            final_accuracy=self.final_accuracy[k],
            stop_epoch=self.stop_epoch[k],
            stop_reasons=(self.stop_reasons[k],),
            snapshots=tuple((e, take_models(p, k)) for e, p in self.snapshots if e <= run),
            network=self.network,
            config=self.config.member(k),
            seed=seeds[k],
            resume_point=None if point is None else take_models(point, k),
            val_loss=None if self.val_loss is None else self.val_loss[:run, k],
            val_accuracy=None if self.val_accuracy is None else self.val_accuracy[:run, k],
            lr=None if self.lr is None else self.lr[:run, k],
        )


def _fields_fit(t: Trace) -> None:
    """Check, at construction, that the fields of ``t`` fit together (naming the first that does not)."""
    if not isinstance(t.network, Network):
        raise TypeError(f"Trace.network must be a Network, got {type(t.network).__name__}")
    if not isinstance(t.config, TrainConfig):
        raise TypeError(f"Trace.config must be a TrainConfig, got {type(t.config).__name__}")
    _params_fit("Trace.params", t, t.params, None)
    models = model_shape(t.network, t.params)
    if t.loss.shape[1:] != models or t.loss.ndim != 1 + len(models):
        raise ValueError(
            f"Trace.loss must have shape (epochs, *{models}) for Trace.params of model axes {models}, got {t.loss.shape}"
        )
    if (t.val_loss is None) != (t.val_accuracy is None):
        raise ValueError("Trace.val_loss and Trace.val_accuracy must be given together")
    for name in (
        "accuracy",
        "grad_norm",
        "val_loss",
        "val_accuracy",
        "lr",
        "final_loss",
        "final_accuracy",
        "stop_epoch",
    ):
        value, want = getattr(t, name), t.loss.shape if name[:5] != "final" and name != "stop_epoch" else models
        if value is not None and value.shape != want:
            raise ValueError(f"Trace.{name} must have shape {want} (as Trace.loss {t.loss.shape}), got {value.shape}")
    count = models[0] if models else 1
    if not isinstance(t.stop_reasons, tuple) or len(t.stop_reasons) != count:
        raise ValueError(
            f"Trace.stop_reasons must be a tuple of {count} reason(s), one per model, got {t.stop_reasons!r}"
        )
    if not all(isinstance(r, str) for r in t.stop_reasons):
        raise TypeError(f"Trace.stop_reasons must hold strings, got {t.stop_reasons!r}")
    seed = check_seeds(t.seed, "Trace.seed")
    if (len(seed) if isinstance(seed, tuple) else None) != (models[0] if models else None):
        raise ValueError(f"Trace.seed must be {'one seed per model' if models else 'one seed'}, got {t.seed!r}")
    _state_fits("Trace.opt_state", t, t.opt_state, models)
    if not isinstance(t.snapshots, tuple):
        raise TypeError(f"Trace.snapshots must be a tuple of (epoch, params) pairs, got {type(t.snapshots).__name__}")
    for i, snap in enumerate(t.snapshots):
        if not (isinstance(snap, tuple) and len(snap) == 2 and isinstance(snap[0], int) and snap[0] >= 0):
            raise TypeError(f"Trace.snapshots[{i}] must be an (epoch, params) pair, got {_validate.show(snap)}")
        _params_fit(f"Trace.snapshots[{i}]", t, snap[1], models)
    point = t.resume_point
    if point is not None:
        if not isinstance(point, ResumePoint):
            raise TypeError(f"Trace.resume_point must be a ResumePoint or None, got {type(point).__name__}")
        _params_fit("Trace.resume_point.prev_params", t, point.prev_params, models)
        _state_fits("Trace.resume_point.prev_opt_state", t, point.prev_opt_state, models)


def _params_fit(name: str, t: Trace, params: Any, models: tuple[int, ...] | None) -> None:
    try:
        shape = model_shape(t.network, params)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{name} does not fit Trace.network: {err}") from None
    if models is not None and shape != models:
        raise ValueError(f"{name} must hold the models {models} of Trace.loss, got model axes {shape}")


def _state_fits(name: str, t: Trace, state: Any, models: tuple[int, ...]) -> None:
    """An optimizer state of ``t.config.optimizer`` for ``t.params``: its record type, the params' shapes
    in every tree it holds, and per-model counters of shape ``()`` or ``models``."""
    kind = type(t.config.optimizer.init(t.params))
    if type(state) is not kind:
        raise TypeError(f"{name} must be a {kind.__name__} (of {t.config.optimizer.name}), got {type(state).__name__}")
    _inner_fits(name, t, state, models)


def _inner_fits(name: str, t: Trace, state: Any, models: tuple[int, ...]) -> None:
    for f in attrs.fields(type(state)):
        value = getattr(state, f.name)
        if isinstance(value, tuple):
            try:
                tree_map(lambda u, v: u, value, t.params)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{name}.{f.name} must have the structure and shapes of Trace.params: {err}") from None
        elif isinstance(value, np.ndarray) and value.shape not in ((), models):
            raise ValueError(f"{name}.{f.name} must have shape () or {models}, got {value.shape}")
        elif attrs.has(type(value)):  # a ScheduleState's inner state
            _inner_fits(f"{name}.{f.name}", t, value, models)


@attrs.frozen
class TraceDiff:
    """How two traces differ.

    Attributes:
        equal: same epochs run, bit-identical per-epoch arrays and final params.
        first_differing_epoch: first epoch (1-based) whose loss, accuracy, gradient norm,
            validation figures or learning rate differ, or None.
        max_abs_diff: largest absolute difference over per-epoch arrays and final params, over the
            epochs both ran (inf when the shapes differ; a model that stopped earlier in one trace
            shows in ``first_differing_epoch`` and ``reason``).
        max_rel_diff: the same, relative to the larger magnitude.
        reason: one line saying what differs ("" when equal).
    """

    equal: bool
    first_differing_epoch: int | None
    max_abs_diff: float
    max_rel_diff: float
    reason: str

    def __bool__(self) -> bool:
        return self.equal


def _diff(a: FloatArray, b: FloatArray) -> tuple[float, float]:
    """The largest absolute and relative differences where both hold a number (NaN: an epoch not run)."""
    if a.shape != b.shape:
        return float("inf"), float("inf")
    if a.size == 0:
        return 0.0, 0.0
    same = (a == b) | np.isnan(a) | np.isnan(b)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.where(same, 0.0, np.abs(a - b))
        d = np.where(np.isfinite(d), d, np.finfo(np.float64).max)  # two numbers a float64 apart
        scale = np.maximum(np.abs(a), np.abs(b))
        rel = np.where(same, 0.0, d / np.where(scale == 0, 1.0, scale))
    return float(np.max(d)), float(np.max(rel))


def _epochs_diff(a: Trace, b: Trace) -> tuple[int | None, float, float]:
    """The per-epoch figures compared over the epochs both ran: first differing epoch (the first
    epoch only one ran, if none differs before), largest absolute and relative differences."""
    first: int | None = None
    abs_max, rel_max = 0.0, 0.0
    for name in ("loss", "accuracy", "grad_norm", "val_loss", "val_accuracy", "lr"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            continue
        common = min(x.shape[0], y.shape[0])
        if x.shape[1:] != y.shape[1:]:
            abs_max = rel_max = float("inf")
            continue
        xs, ys = x[:common], y[:common]
        d, r = _diff(xs, ys)
        abs_max, rel_max = max(abs_max, d), max(rel_max, r)
        differs = ~((xs == ys) | (np.isnan(xs) & np.isnan(ys)))
        rows = np.flatnonzero(differs.reshape(common, -1).any(axis=1)) if common else np.array([], dtype=int)
        if rows.size:
            e = int(rows[0]) + 1
            first = e if first is None else min(first, e)
        if x.shape[0] != y.shape[0] and first is None:
            first = common + 1
    return first, abs_max, rel_max


def compare_traces(a: Trace, b: Trace) -> TraceDiff:
    """Compare two traces epoch by epoch and by final params.

    Returns:
        A TraceDiff; ``bool(diff)`` is True when the traces are identical.

    Example:
        >>> # compare_traces(trace, trace).equal is True for any trace
    """
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, Trace):
            raise TypeError(f"{name} must be a Trace, got {type(value).__name__}")
    reasons: list[str] = []
    if a.loss.shape != b.loss.shape:
        reasons.append(f"epochs run / models differ: {a.loss.shape} vs {b.loss.shape}")
    if (a.val_loss is None) != (b.val_loss is None):
        reasons.append("one trace has validation figures, the other not")
    if (a.lr is None) != (b.lr is None):
        reasons.append("one trace records learning rates, the other not")
    first, abs_max, rel_max = _epochs_diff(a, b)
    if a.stop_epoch.shape == b.stop_epoch.shape and not np.array_equal(a.stop_epoch, b.stop_epoch):
        reasons.append(f"stop epochs differ: {a.stop_epoch.tolist()} vs {b.stop_epoch.tolist()}")
    pa, pb = leaves(a.params), leaves(b.params)
    if len(pa) != len(pb):
        abs_max = rel_max = float("inf")
        reasons.append("params have different structures")
    else:
        for x, y in zip(pa, pb, strict=True):
            d, r = _diff(x, y)
            abs_max, rel_max = max(abs_max, d), max(rel_max, r)
    if first is not None:
        reasons.insert(0, f"first difference at epoch {first}")
    if abs_max > 0 and not reasons:
        reasons.append("final params differ")
    equal = not reasons and abs_max == 0.0
    return TraceDiff(
        equal=equal,
        first_differing_epoch=first,
        max_abs_diff=abs_max,
        max_rel_diff=rel_max,
        reason="; ".join(reasons),
    )
