"""The training fold: a pure epoch step, folded over the epochs into a ``Trace``.

    epoch_step(run, params, state, epoch) -> (params, state, EpochStats)   # one epoch, pure
    fold(run, start, step=epoch_step)     -> Iterator[Progress]            # the last one carries the Trace
    advance(carry, params, state, loss, epoch, stop_loss) -> Carry         # the stop rules, per model

One epoch folds the optimizer's update over the mini-batches (one batch of all
samples when ``batch_size`` is None).  The batches' order, and the dropout masks
of each batch, are pure functions of each model's seed, the epoch (and the
batch), so an epoch depends on nothing but its inputs, and a run resumed at
epoch k continues exactly.  With dropout, an epoch's training loss and accuracy
are those of the masked network its gradients came from; the held-out figures
and the final loss are the network's without dropout (its ``forward``).

Stop rules, checked after each epoch, per model of a stack:

- the update of epoch k made the loss NaN/inf: "diverged at epoch k".  It is
  seen in the loss of epoch k + 1, which is not recorded, or, after the last
  epoch, in the loss of the final params, which is checked too.  The model
  keeps the params from the start of epoch k, the last whose loss was finite,
  and its trace ends with epoch k.  (With mini-batches an epoch's loss is
  measured during its own updates, so the blame may fall one epoch early; and
  "diverged at epoch 0" means the loss was NaN/inf within the first epoch.);
- the loss fell below ``stop_loss``: "loss threshold reached at epoch k";
- otherwise, when all epochs ran: "epochs done".

A stopped model of a stack keeps its params while the others go on.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Protocol, cast

import attrs
import numpy as np
import numpy.typing as npt

from functional_nn._records import ARRAY_EQ, FloatArray, real_array, to_array
from functional_nn.config import Run
from functional_nn.layers import DropoutLayer
from functional_nn.network import Masks, output, score, seed_sequence, value_and_grad
from functional_nn.optimizers import ScheduleState, training_update
from functional_nn.schedules import SCHEDULE_TYPES
from functional_nn.trace import EPOCHS_DONE, ResumePoint, Trace, optional_array
from functional_nn.tree import global_norm, leaves, tree_map

__all__ = [
    "Carry",
    "EpochStats",
    "Progress",
    "Start",
    "Step",
    "Watch",
    "advance",
    "dropout_masks",
    "epoch_lr",
    "epoch_step",
    "fold",
    "fresh_start",
    "needs_reference",
    "watch_step",
]

BoolArray = npt.NDArray[np.bool_]


@attrs.frozen
class EpochStats:
    """What one epoch measured, one value per model (shape `models`)."""

    loss: FloatArray  # mean loss over the epoch's samples
    hits: FloatArray  # the epoch's summed scores (network.score): correct labels, or squared errors
    grad_norm: FloatArray  # norm of the gradient (mini-batch: mean over the batches)


@attrs.frozen
class Progress:
    """One epoch of ``train_iter``.

    Attributes:
        epoch: 1-based epoch just finished.
        epochs: the configured number of epochs.
        loss, accuracy, grad_norm: this epoch's values, shape `models` (read-only copies).
        trace: the finished Trace on the last item, else None.
        val_loss, val_accuracy: on the validation set, or None without one.
        lr: the learning rate of the epoch's first update (``Trace.lr``), or None.
    """

    epoch: int
    epochs: int
    loss: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    accuracy: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    grad_norm: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    trace: Trace | None = None
    val_loss: FloatArray | None = attrs.field(default=None, converter=optional_array, eq=ARRAY_EQ)
    val_accuracy: FloatArray | None = attrs.field(default=None, converter=optional_array, eq=ARRAY_EQ)
    lr: FloatArray | None = attrs.field(default=None, converter=optional_array, eq=ARRAY_EQ)


def batch_order(run: Run, epoch: int) -> npt.NDArray[np.intp] | None:
    """The samples' order in ``epoch``: `(n,)` or `(models, n)`, or None to keep the data's order."""
    cfg, n = run.config, run.x.shape[0]
    if not cfg.shuffle or cfg.batch_size is None or cfg.batch_size >= n:
        return None
    perms = [np.random.default_rng(seed_sequence(s, 1, epoch)).permutation(n) for s in run.seeds]
    return np.stack(perms) if run.models else perms[0]


def needs_reference(run: Run) -> bool:
    """Whether only the reference fold runs ``run`` (``engine.fast_fold`` then falls back to it):
    weight decay that leaves the biases out (it needs the records' field names, which a flat
    vector lost), dropout layers (the engine's steps draw no masks), or a schedule as lr (its
    step count lives in a ``ScheduleState``, which the flat layout does not hold)."""
    hyper = run.config.optimizer.hyperparams
    if hyper.get("decay_biases") is False or isinstance(hyper.get("lr"), SCHEDULE_TYPES):
        return True
    return any(isinstance(layer, DropoutLayer) for layer in run.net.layers)


def epoch_lr(run: Run, state: Any) -> FloatArray:
    """The learning rate of the next update, per model (shape `models`): the optimizer's float or
    per-model lr, or its schedule's at the step count ``state`` (a ``ScheduleState``) keeps; NaN for
    an lr of another kind (an optimizer of one's own)."""
    lr = run.config.optimizer.hyperparams.get("lr")
    if isinstance(lr, SCHEDULE_TYPES):
        count = getattr(state, "count", None)
        value = lr(count) if isinstance(state, ScheduleState) and count is not None else np.nan
    elif isinstance(lr, (float, int, np.ndarray)) and not isinstance(lr, bool):
        value = lr
    else:
        value = np.nan
    try:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), run.models)
    except (ValueError, TypeError):
        return np.full(run.models, np.nan)


def dropout_masks(run: Run, epoch: int, batch: int, n: int) -> Masks | None:
    """The keep masks of batch ``batch`` (0-based) of ``epoch`` for a batch of ``n`` samples: per layer, a
    DropoutLayer's `(n, f)` or `(models, n, f)` mask, else None; None when the network has no dropout.

    Each model draws from its own stream ``seed_sequence(seed, 2, epoch, batch)``, one
    ``layer.mask`` per DropoutLayer in layer order, so a model's masks depend on its seed, the
    epoch and the batch alone: the same in a stack as alone, and again when a run is resumed.
    """
    where = [i for i, layer in enumerate(run.net.layers) if isinstance(layer, DropoutLayer)]
    if not where:
        return None
    drawn: dict[int, list[FloatArray]] = {i: [] for i in where}
    for s in run.seeds:
        rng = np.random.default_rng(seed_sequence(s, 2, epoch, batch))
        for i in where:
            drawn[i].append(cast(DropoutLayer, run.net.layers[i]).mask(rng, n))
    masks = {i: np.stack(m) if run.models else m[0] for i, m in drawn.items()}
    return tuple(masks.get(i) for i in range(len(run.net.layers)))


def epoch_step(
    run: Run, params: Any, state: Any, epoch: int, *, grad: Any = value_and_grad
) -> tuple[Any, Any, EpochStats]:
    """One epoch: the optimizer's update folded over the mini-batches.  Pure.

    ``grad`` is ``network.value_and_grad``; an engine may pass its own, with
    params and grads in its own layout, as long as the optimizer takes them.

    Returns:
        ``(params, state, stats)`` after the epoch; the stats of each batch are
        measured on the params before its update.
    """
    cfg, x, y = run.config, run.x, run.y
    order = batch_order(run, epoch)
    if order is not None:
        x, y = x[order], y[order]  # one shuffled copy per model of a stack
    n = x.shape[-2]
    size = cfg.batch_size or n
    values, counts, norms = [], [], []
    for batch, start in enumerate(range(0, n, size)):
        xb, yb = x[..., start : start + size, :], y[..., start : start + size, :]
        masks = dropout_masks(run, epoch, batch, xb.shape[-2])
        if masks is None:
            value, grads, a = grad(run.net.layers, params, xb, yb, cfg.loss)
        else:  # only the reference's value_and_grad takes masks (engine.fast_fold sends dropout here)
            value, grads, a = value_and_grad(run.net.layers, params, xb, yb, cfg.loss, masks)
        norms.append(global_norm(grads, len(run.models)))
        if cfg.clip_norm is not None:
            grads = clipped(grads, norms[-1], cfg.clip_norm)
        params, state = training_update(cfg.optimizer)(grads, state, params)
        values.append(value * (xb.shape[-2] / n) if size < n else value)
        counts.append(score(run.task, a, yb))
    stats = EpochStats(loss=sum_in_order(values), hits=sum_in_order(counts), grad_norm=sum_in_order(norms) / len(norms))
    return params, state, stats


def clipped(grads: Any, norm: FloatArray, clip_norm: float) -> Any:
    """``grads`` scaled by ``min(1, clip_norm / norm)``, per model (``norm``: `models`)."""
    scale = np.minimum(1.0, clip_norm / np.where(norm > 0.0, norm, 1.0))
    return tree_map(lambda g: g * scale.reshape(scale.shape + (1,) * (g.ndim - scale.ndim)), grads)


def sum_in_order(parts: list[FloatArray]) -> FloatArray:
    """``parts[0] + parts[1] + ...``, left to right (the list itself when it holds one)."""
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return np.asarray(total)


class Step(Protocol):
    def __call__(self, run: Run, params: Any, state: Any, epoch: int, /) -> tuple[Any, Any, EpochStats]:
        """One epoch, as ``epoch_step`` (an engine may keep params and state in its own layout)."""
        ...


@attrs.frozen
class Carry:
    """What one epoch hands the next, per model (arrays of shape `models`)."""

    params: Any  # at the start of the next epoch
    state: Any
    prev_params: Any  # at the start of the epoch before (a divergence falls back to them)
    prev_state: Any
    active: BoolArray  # still training
    all_active: bool  # active.all(), kept as a Python bool for the common epoch
    stop_epoch: npt.NDArray[np.int64]  # the last epoch each model ran (or will run)
    reasons: tuple[str, ...]
    watch: Watch | None = None  # early stopping's bookkeeping (config.patience), else None


@attrs.frozen
class Watch:
    """Early stopping's bookkeeping, per model: the best validation loss and the params that had it."""

    best_loss: FloatArray  # `models`: the lowest validation loss so far (inf before the first)
    best_epoch: FloatArray  # `models`: the epoch whose figures had it (its params: those at its start)
    wait: FloatArray  # `models`: epochs since then
    params: Any
    state: Any


def watch_step(carry: Carry, before: Carry, val_loss: FloatArray, epoch: int, patience: int, min_delta: float) -> Carry:
    """Early stopping after one epoch: a model whose validation loss has not improved by more than
    ``min_delta`` for ``patience`` epochs stops, with the params of its best epoch."""
    w = carry.watch
    assert w is not None
    active = carry.active
    better = before.active & (val_loss < w.best_loss - min_delta)  # of every model the figures measured
    watch = Watch(
        best_loss=np.where(better, val_loss, w.best_loss),
        best_epoch=np.where(better, epoch, w.best_epoch),
        wait=np.where(better, 0, np.where(active, w.wait + 1, w.wait)),
        params=where_models(better, before.params, w.params),  # the params the figures of `epoch` measured
        state=where_models(better, before.state, w.state),
    )
    tired = active & (watch.wait >= patience)
    if not tired.any():
        return attrs.evolve(carry, watch=watch)
    reasons = list(carry.reasons)
    for k in np.flatnonzero(tired):
        reasons[int(k)] = f"no improvement for {patience} epochs (best at epoch {int(watch.best_epoch.flat[k])})"
    return attrs.evolve(
        carry,
        params=where_models(tired, watch.params, carry.params),
        state=where_models(tired, watch.state, carry.state),
        active=active & ~tired,
        all_active=bool((active & ~tired).all()),
        stop_epoch=np.where(tired, epoch, carry.stop_epoch),
        reasons=tuple(reasons),
        watch=watch,
    )


def where_models(mask: BoolArray, a: Any, b: Any) -> Any:
    """Per model: the tree ``a`` where ``mask`` else ``b`` (leaves `(models, ...)`, or 0-d if shared)."""

    def pick(u: FloatArray, v: FloatArray) -> FloatArray:
        extra = max(u.ndim, v.ndim) - mask.ndim
        return np.where(mask.reshape(mask.shape + (1,) * extra) if extra > 0 else mask, u, v)

    return tree_map(pick, a, b, broadcast=True)


def advance(carry: Carry, params: Any, state: Any, loss: FloatArray, epoch: int, stop_loss: float | None) -> Carry:
    """Apply the stop rules to one epoch's result: the carry for the next epoch.

    Args:
        carry: the carry at the start of the epoch.
        params, state: after the epoch's updates.
        loss: the epoch's loss, shape `models`.
        epoch: the epoch just run (1-based).
        stop_loss: the threshold, or None.
    """
    threshold = stop_loss if stop_loss is not None else -math.inf
    if carry.all_active:
        # the common epoch, every model going on, in one or two NumPy calls (a sum is finite only if every term is)
        if loss.ndim == 0:
            value = float(loss)
            common = math.isfinite(value) and value >= threshold
        else:
            common = math.isfinite(float(np.add.reduce(loss))) and (stop_loss is None or float(loss.min()) >= threshold)
        if common and all(math.isfinite(float(np.add.reduce(leaf, axis=None))) for leaf in leaves(state)):
            c = carry
            return Carry(params, state, c.params, c.state, c.active, True, c.stop_epoch, c.reasons, c.watch)
    active = carry.active
    diverged = active & ~np.isfinite(loss)
    overflowed = active & ~diverged & ~finite_models(state, loss.shape)  # e.g. Adam's squared gradients
    reached = active & ~diverged & ~overflowed & (loss < threshold)
    moved = active & ~diverged & ~overflowed  # models whose update counts
    reasons = list(carry.reasons)
    for k in np.flatnonzero(diverged | overflowed | reached):  # a NaN/inf loss of epoch k blames the update before it
        reasons[int(k)] = (
            f"diverged at epoch {epoch - 1}"
            if diverged.flat[k]
            else f"diverged at epoch {epoch}"
            if overflowed.flat[k]
            else f"loss threshold reached at epoch {epoch}"
        )
    stopping = diverged | overflowed | reached
    return Carry(
        params=where_models(moved, params, where_models(diverged, carry.prev_params, carry.params)),
        state=where_models(moved, state, where_models(diverged, carry.prev_state, carry.state)),
        prev_params=where_models(moved, carry.params, carry.prev_params),
        prev_state=where_models(moved, carry.state, carry.prev_state),
        active=active & ~stopping,
        all_active=bool((active & ~stopping).all()),
        stop_epoch=np.where(diverged, epoch - 1, np.where(reached | overflowed, epoch, carry.stop_epoch)),
        reasons=tuple(reasons),
        watch=carry.watch,
    )


def finite_models(tree: Any, models: tuple[int, ...]) -> BoolArray:
    """Per model (shape ``models``): whether every value of ``tree`` is finite (a shared 0-d leaf counts for all)."""
    ok = np.ones(models, dtype=bool)
    for leaf in leaves(tree):
        if leaf.ndim == 0 or not models:
            ok &= bool(np.isfinite(leaf).all())
        else:
            ok &= np.isfinite(leaf).reshape(leaf.shape[: len(models)] + (-1,)).all(axis=-1)
    return ok


@attrs.frozen
class Start:
    """Where a fold starts: fresh (``epochs_run`` 0), or where an earlier trace left off."""

    carry: Carry
    epochs_run: int


def fresh_start(run: Run, params: Any, state: Any) -> Start:
    """The start of a new run from ``params`` and the optimizer's fresh ``state``.

    Raises:
        ValueError: naming data, if the loss of ``params`` on it overflows float64 already.
    """
    with np.errstate(all="ignore"):
        loss, _ = _final_loss(run, params)
    if not np.all(np.isfinite(loss)):
        where = "" if not run.models else f" (models {np.flatnonzero(~np.isfinite(loss)).tolist()})"
        raise ValueError(
            f"data: the loss of the initial params on it overflows float64{where}; "
            "scale the data (fnn.standardize) or the params"
        )
    m = run.models
    state = _per_model(state, m)  # Adam's count: one per model from the start, as a resumed stack has
    carry = Carry(
        params=params,
        state=state,
        prev_params=params,
        prev_state=state,
        active=np.ones(m, dtype=bool),
        all_active=True,
        stop_epoch=np.full(m, run.config.epochs),
        reasons=(EPOCHS_DONE,) * len(run.seeds),
        watch=None
        if run.config.patience is None
        else Watch(np.full(m, np.inf), np.zeros(m), np.zeros(m), params, state),
    )
    return Start(carry=carry, epochs_run=0)


def _identity(tree: Any) -> Any:
    return tree


class _History:
    """The per-epoch arrays, filled epoch by epoch (NaN where a model had stopped).

    They hold every epoch up to ``_BLOCK`` at once; past that they grow by
    doubling, so a huge epoch budget that a stop rule cuts short does not
    claim its memory.
    """

    _BLOCK = 1 << 20

    def __init__(self, epochs: int, models: tuple[int, ...], columns: int) -> None:
        self.rows = 0
        self.arrays = [np.full((min(epochs, self._BLOCK),) + models, np.nan) for _ in range(columns)]
        self.limit = epochs

    def record(self, values: tuple[FloatArray, ...], active: BoolArray, all_active: bool) -> None:
        if self.rows == self.arrays[0].shape[0]:
            size = min(2 * self.rows, self.limit)
            self.arrays = [np.concatenate([a, np.full((size - self.rows,) + a.shape[1:], np.nan)]) for a in self.arrays]
        for buf, value in zip(self.arrays, values):
            buf[self.rows] = value if all_active else np.where(active, value, np.nan)
        self.rows += 1

    def forget(self, models: BoolArray) -> None:
        """Blank the last epoch of ``models`` (it measured params that diverged)."""
        for buf in self.arrays:
            buf[self.rows - 1] = np.where(models, np.nan, buf[self.rows - 1])

    def done(self, rows: int) -> list[FloatArray]:
        """The first ``rows`` epochs, frozen (the buffers themselves, so no view can be made writable)."""
        for buf in self.arrays:
            buf.flags.writeable = False
        return [a[:rows] if rows < a.shape[0] else a for a in self.arrays]


def fold(
    run: Run, start: Start, step: Step = epoch_step, records: Any = _identity, *, on_epoch: bool = True
) -> Iterator[Progress]:
    """Fold ``step`` over the epochs from ``start`` to ``run.config.epochs``.

    Yields a Progress after each epoch (only the last one unless ``on_epoch``);
    the last one carries the Trace of the
    epochs run here (``training`` joins it to an earlier trace when resuming).
    ``records`` turns the step's params and state into records (an engine's
    step may keep them in its own layout; the reference step keeps records).
    """
    cfg = run.config
    validated = run.val_x is not None
    lr_of = cfg.optimizer.hyperparams.get("lr")
    rated = lr_of is not None
    constant_lr = (epoch_lr(run, None),) if rated and not isinstance(lr_of, SCHEDULE_TYPES) else None
    columns = 3 + (2 if validated else 0) + (1 if rated else 0)  # loss, hits, norm[, val loss, val hits][, lr]
    carry, history = start.carry, _History(cfg.epochs - start.epochs_run, run.models, columns)
    snapshots: list[tuple[int, Any]] = []
    epoch = start.epochs_run
    while epoch < cfg.epochs and (carry.all_active or carry.active.any()):
        epoch += 1
        held_out = _held_out(run, records(carry.params)) if validated else None
        lr = constant_lr or ((epoch_lr(run, carry.state),) if rated else ())
        params, state, stats = step(run, carry.params, carry.state, epoch)
        row = (stats.loss, stats.hits, stats.grad_norm, *(held_out or ()), *lr)
        history.record(row, carry.active, carry.all_active)
        before = carry
        carry = advance(carry, params, state, stats.loss, epoch, cfg.stop_loss)
        if cfg.patience is not None and held_out is not None:
            carry = watch_step(carry, before, held_out[0], epoch, cfg.patience, cfg.min_delta)
        if not carry.all_active:
            history.forget(before.active & (carry.stop_epoch < epoch))
        if cfg.snapshot_every and epoch % cfg.snapshot_every == 0:
            snapshots.append((epoch, records(carry.params)))
        if on_epoch and epoch < cfg.epochs and carry.active.any():
            yield _progress(run, epoch, [a[history.rows - 1].copy() for a in history.arrays])
    carry = attrs.evolve(carry, stop_epoch=np.where(carry.active, epoch, carry.stop_epoch))
    carry, final_loss, final_hits = _final_check(run, carry, records)
    if snapshots and snapshots[-1][0] == epoch:  # the final check may have set diverged params back
        snapshots[-1] = (epoch, records(carry.params))
    rows = history.done(max(int(np.max(carry.stop_epoch, initial=0)) - start.epochs_run, 0))
    trace = _trace(run, carry, rows, (final_loss, final_hits), tuple(snapshots), records)
    last = [a[-1].copy() if len(a) else np.full(run.models, np.nan) for a in rows]
    # after a divergence it repeats the last epoch recorded, now with the trace
    yield attrs.evolve(_progress(run, start.epochs_run + len(rows[0]), last), trace=trace)


def _trace(
    run: Run,
    carry: Carry,
    rows: list[FloatArray],
    final: tuple[FloatArray, FloatArray],
    snapshots: tuple[Any, ...],
    records: Any,
) -> Trace:
    """The Trace of a finished fold: its history's columns (loss, hits, norm[, val loss, val hits][, lr])
    and the final check's loss and hits."""
    cfg, validated = run.config, run.val_x is not None
    (loss, count, norm), (final_loss, final_hits) = rows[:3], final
    return Trace(
        loss=loss,
        accuracy=metric(run, count),
        grad_norm=norm,
        params=records(carry.params),
        opt_state=_per_model(records(carry.state), run.models),
        final_loss=final_loss,
        final_accuracy=metric(run, final_hits),
        stop_epoch=carry.stop_epoch,
        stop_reasons=carry.reasons,
        snapshots=snapshots,
        network=run.net,
        config=cfg,
        seed=cfg.seed,
        resume_point=ResumePoint(
            records(carry.prev_params), _per_model(records(carry.prev_state), run.models), records(carry.watch)
        ),
        val_loss=rows[3] if validated else None,
        val_accuracy=metric(run, rows[4], run.val_y) if validated else None,
        lr=rows[-1] if cfg.optimizer.hyperparams.get("lr") is not None else None,
    )


def _progress(run: Run, epoch: int, row: list[FloatArray]) -> Progress:
    """The Progress of one row of the history: loss, score, norm (then the held-out loss and score, with
    a validation set; then the lr, when the optimizer has one)."""
    lr = row[-1] if len(row) in (4, 6) else None
    if run.val_x is None:
        return Progress(epoch, run.config.epochs, row[0], metric(run, row[1]), row[2], lr=lr)
    val_accuracy = metric(run, row[4], run.val_y)
    return Progress(epoch, run.config.epochs, row[0], metric(run, row[1]), row[2], None, row[3], val_accuracy, lr)


def _held_out(run: Run, params: Any) -> tuple[FloatArray, FloatArray]:
    """The held-out loss and score of ``params`` (no checks: ``config.prepare`` made them)."""
    assert run.val_x is not None and run.val_y is not None
    a, caches = output(run.net.layers, params, run.val_x)
    return run.config.loss.value(caches[-1].z, a, run.val_y), score(run.task, a, run.val_y)


def metric(run: Run, total: FloatArray, y: FloatArray | None = None) -> FloatArray:
    """An epoch's summed scores (``network.score``) on ``y`` (default: the training set's) as the trace's
    ``accuracy``: the share of correct
    labels (binary: of the outputs; multiclass: of the samples), or for regression R^2, ``1 - SSE / SST``
    (1 where the targets are constant and fitted exactly, 0 where they are constant and missed)."""
    y = run.y if y is None else y  # the training set's, or the validation set's
    n, k = y.shape
    if run.task != "regression":
        share: FloatArray = total / (n * k if run.task == "binary" else n)
        return share
    sst = float(np.sum((y - y.mean(axis=0)) ** 2))
    r2: FloatArray = 1.0 - total / sst if sst > 0.0 else np.where(total == 0.0, 1.0, 0.0)
    return r2


def _final_loss(run: Run, params: Any) -> tuple[FloatArray, FloatArray]:
    a, caches = output(run.net.layers, params, run.x)
    return run.config.loss.value(caches[-1].z, a, run.y), score(run.task, a, run.y)


def _final_check(run: Run, carry: Carry, records: Any) -> tuple[Carry, FloatArray, FloatArray]:
    """The loss of the final params; a model whose last update made it NaN/inf diverged there."""
    value, count = _final_loss(run, records(carry.params))
    bad = ~np.isfinite(value) & np.array([not r.startswith("diverged") for r in carry.reasons]).reshape(run.models)
    if not bad.any():
        return carry, value, count
    reasons = list(carry.reasons)
    for k in np.flatnonzero(bad):
        reasons[int(k)] = f"diverged at epoch {int(carry.stop_epoch.flat[k])}"
    carry = attrs.evolve(
        carry,
        params=where_models(bad, carry.prev_params, carry.params),
        state=where_models(bad, carry.prev_state, carry.state),
        active=carry.active & ~bad,
        all_active=bool((carry.active & ~bad).all()),
        reasons=tuple(reasons),
    )
    value2, count2 = _final_loss(run, records(carry.params))
    return carry, np.where(bad, value2, value), np.where(bad, count2, count)


def _per_model(state: Any, models: tuple[int, ...]) -> Any:
    """A stacked state with its shared 0-d leaves (Adam's count) given one entry per model."""
    if not models:
        return state
    return tree_map(lambda a: np.full(models, float(a)) if a.ndim == 0 else a, state)
