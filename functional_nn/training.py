"""Training: a fold over epochs that returns the whole trace.

    TrainConfig(epochs, optimizer, loss, batch_size=None, shuffle=True, seed=0,
                stop_loss=None, snapshot_every=None)
    train(net, params, data, config, *, workers=None, executor=None) -> Trace
    train_iter(net, params, data, config) -> Iterator[Progress]   # lazy: one item per epoch;
                                                                  # the last one carries the Trace

One epoch folds the optimizer's update over the mini-batches (one batch of all
samples when ``batch_size`` is None).  Mini-batches are drawn in an order
shuffled each epoch by a generator seeded from ``config.seed`` alone, so the
same inputs give the same trace, bit for bit.  Params stacked over one leading
model axis of size M train M models at once; model k uses ``seed[k]`` (and
``lr[k]`` when the learning rate is an array) and equals model k trained alone.
A large stack is split into chunks trained at once, in threads or in a pool
of processes the caller passes as ``executor``; the split never changes a bit.

Stop rules, checked after each epoch, per model: the loss turned NaN/inf
("diverged at epoch k": the model keeps the params from the start of epoch
k - 1, the last whose loss was finite), the loss fell below ``stop_loss``
("loss threshold reached at epoch k"), or all epochs ran ("epochs done").
A stopped model of a stack stops updating while the others go on.
"""

from __future__ import annotations

import math
import os
import pickle
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, TypeVar, cast

import attrs
import numpy as np
import numpy.typing as npt

from functional_nn import _validate
from functional_nn._records import ARRAY_EQ, FloatArray, real_array, to_array
from functional_nn.data import Dataset
from functional_nn.losses import Loss, get_loss
from functional_nn.network import (
    Network,
    Params,
    _check_seeds,
    _value_and_grad,
    _value_and_grad_into,
    _Workspace,
    model_shape,
    seed_sequence,
    supports_workspace,
)
from functional_nn.optimizers import Optimizer, OptState, _built_in, make_optimizer
from functional_nn.trace import EPOCHS_DONE, ResumePoint, Trace, _member_state
from functional_nn.tree import tree_map

__all__ = ["Progress", "TrainConfig", "resume", "resume_iter", "train", "train_iter"]

BoolArray = npt.NDArray[np.bool_]


def _epochs_valid(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    del instance, attribute
    _validate.integer("epochs", value, minimum=1)


def _optional_int(name: str) -> Any:
    def check(instance: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
        del instance, attribute
        if value is not None:
            _validate.integer(name, value, minimum=1)

    return check


def _optimizer_valid(instance: object, attribute: attrs.Attribute[Optimizer], value: Optimizer) -> None:
    del instance, attribute
    if not isinstance(value, Optimizer):
        raise TypeError(f"optimizer must be an Optimizer (e.g. fnn.sgd(lr=0.1)), got {type(value).__name__}")


def _seed_convert(seed: int | Sequence[int]) -> int | tuple[int, ...]:
    return _check_seeds(seed)


def _stop_loss_valid(instance: object, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    del instance, attribute
    if value is not None:
        _validate.positive("stop_loss", value)


def _bool_valid(instance: object, attribute: attrs.Attribute[bool], value: bool) -> None:
    del instance
    if not isinstance(value, bool):
        raise TypeError(f"{attribute.name} must be a bool, got {_validate.show(value)}")


@attrs.frozen(kw_only=True)
class TrainConfig:
    """How to train (everything but the network, its params and the data).

    Attributes:
        epochs: number of epochs, >= 1.
        optimizer: e.g. ``sgd(lr=0.1)``; its name and hyperparameters are kept in the trace.
        loss: ``mse``, ``bce`` or their names.
        batch_size: samples per mini-batch, 1..n; None for full batch (the lab's setting).
        shuffle: reshuffle the mini-batch order each epoch (from ``seed``).
        seed: int >= 0 seeding the shuffles, or one per model for a stacked run.
        stop_loss: stop once the epoch's loss is below this (e.g. 0.005), or None.
        snapshot_every: keep the params every k epochs in ``trace.snapshots``, or None.

    Example:
        >>> import functional_nn as fnn
        >>> cfg = fnn.TrainConfig(epochs=100, optimizer=fnn.sgd(lr=0.1), loss=fnn.mse)
    """

    epochs: int = attrs.field(validator=_epochs_valid)
    optimizer: Optimizer = attrs.field(validator=_optimizer_valid)
    loss: Loss = attrs.field(converter=get_loss)
    batch_size: int | None = attrs.field(default=None, validator=_optional_int("batch_size"))
    shuffle: bool = attrs.field(default=True, validator=_bool_valid)
    seed: int | tuple[int, ...] = attrs.field(default=0, converter=_seed_convert)
    stop_loss: float | None = attrs.field(default=None, validator=_stop_loss_valid)
    snapshot_every: int | None = attrs.field(default=None, validator=_optional_int("snapshot_every"))

    def member(self, k: int) -> TrainConfig:
        """The config model ``k`` of a stacked run would have alone."""
        seed = self.seed[k] if isinstance(self.seed, tuple) else self.seed
        hyper = self.optimizer.hyperparams
        if any(isinstance(v, np.ndarray) for v in hyper.values()):
            name = "momentum" if self.optimizer.name == "nesterov" else self.optimizer.name
            opt = make_optimizer(
                name, **{h: (float(v[k]) if isinstance(v, np.ndarray) else v) for h, v in hyper.items()}
            )
        else:
            opt = self.optimizer
        return attrs.evolve(self, seed=seed, optimizer=opt)


@attrs.frozen
class Progress:
    """One epoch of ``train_iter``.

    Attributes:
        epoch: 1-based epoch just finished.
        epochs: the configured number of epochs.
        loss, accuracy, grad_norm: this epoch's values, shape `models` (read-only copies).
        trace: the finished Trace on the last item, else None.
    """

    epoch: int
    epochs: int
    loss: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    accuracy: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    grad_norm: FloatArray = attrs.field(converter=to_array, validator=real_array, eq=ARRAY_EQ)
    trace: Trace | None = None


@attrs.frozen
class _Problem:
    """Everything validated, ready for the inner loop."""

    net: Network
    params: Params
    x: FloatArray
    y: FloatArray
    config: TrainConfig
    models: tuple[int, ...]
    seeds: tuple[int, ...]


def _prepare(net: Network, params: Params, data: Dataset, config: TrainConfig) -> _Problem:
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a Dataset (e.g. fnn.generate_linear(seed=0)), got {type(data).__name__}")
    models = model_shape(net, params)
    if len(models) > 1:
        raise ValueError(f"params may be stacked over at most one model axis for training, got model axes {models}")
    if data.x.shape[1] != net.in_features:
        raise ValueError(
            f"data.x must have shape (n, {net.in_features}) to match the network's input size, got shape {data.x.shape}"
        )
    if data.y.shape[1] != net.out_features:
        raise ValueError(
            f"data.y must have shape (n, {net.out_features}) to match the network's output size, got shape {data.y.shape}"
        )
    config.loss.check_output(net.output_activation)
    n = data.n
    if config.batch_size is not None and config.batch_size > n:
        raise ValueError(f"batch_size must be between 1 and the number of samples ({n}), got {config.batch_size}")
    m = models[0] if models else None
    if m is None:
        if not isinstance(config.seed, int):
            raise ValueError(f"seed must be a single integer for a single model, got {_validate.show(config.seed)}")
        seeds: tuple[int, ...] = (config.seed,)
    else:
        if not isinstance(config.seed, tuple) or len(config.seed) != m:
            raise ValueError(
                f"seed must be a sequence of {m} integers (one per stacked model), got {_validate.show(config.seed)}"
            )
        seeds = config.seed
    for name, value in config.optimizer.hyperparams.items():
        if isinstance(value, np.ndarray):
            if m is None or value.shape != (m,):
                expected = "a number for a single model" if m is None else f"a number or an array of shape ({m},)"
                raise ValueError(f"optimizer {name} must be {expected}, got an array of shape {value.shape}")
    return _Problem(net=net, params=params, x=data.x, y=data.y, config=config, models=models, seeds=seeds)


@attrs.frozen
class _Layout:
    """Where each leaf of the params lives in one flat vector per model.

    The training loop keeps params, grads and optimizer states as flat arrays
    `(*models, total)`: an elementwise optimizer step is then one NumPy
    operation instead of one per leaf, and the gradient norm one dot product.
    Records handed to the layers are read-only views into the flat array.
    """

    models: tuple[int, ...]
    records: tuple[tuple[type, tuple[tuple[str, int, int, tuple[int, ...]], ...]], ...]
    total: int

    @classmethod
    def of(cls, params: Params, models: tuple[int, ...]) -> _Layout:
        records = []
        offset = 0
        for record in params:
            fields = []
            for f in attrs.fields(type(record)):
                shape = getattr(record, f.name).shape[len(models) :]
                size = int(np.prod(shape, dtype=np.int64))
                fields.append((f.name, offset, offset + size, tuple(shape)))
                offset += size
            records.append((type(record), tuple(fields)))
        return cls(models=models, records=tuple(records), total=offset)

    def flatten(self, params: Params) -> FloatArray:
        """`(*models, total)`: every leaf of ``params`` (or grads) raveled and joined."""
        if not self.models:  # concatenate(axis=None) ravels every leaf itself
            return np.concatenate(
                [getattr(r, f[0]) for r, (_, fields) in zip(params, self.records) for f in fields], axis=None
            )
        lead = self.models + (-1,)
        parts = [getattr(r, f[0]).reshape(lead) for r, (_, fields) in zip(params, self.records) for f in fields]
        return np.concatenate(parts, axis=-1)

    def unflatten(self, flat: FloatArray, *, readonly: bool = True) -> Params:
        """Params records whose arrays are views into ``flat`` (read-only unless told)."""
        out = []
        models = self.models
        for cls, fields in self.records:
            record: Any = object.__new__(cls)
            for name, start, stop, shape in fields:
                view = flat[..., start:stop].reshape(models + shape)
                if readonly:
                    view.flags.writeable = False
                object.__setattr__(record, name, view)
            out.append(record)
        return tuple(out)

    def state_to_records(self, state: OptState) -> OptState:
        """The optimizer state with its flat arrays turned into params-shaped records."""
        changes = {}
        for field in attrs.fields(type(state)):
            value = getattr(state, field.name)
            if isinstance(value, np.ndarray) and value.shape == self.models + (self.total,):
                changes[field.name] = self.unflatten(value)
        return _evolve(state, changes)


def _evolve(state: OptState, changes: dict[str, Any]) -> OptState:
    if not changes:
        return state
    new: OptState = attrs.evolve(cast(Any, state), **changes)
    return new


def _per_model_state(state: OptState, models: tuple[int, ...]) -> OptState:
    """Give a stacked run's shared 0-d state fields (Adam's count) one entry per model."""
    if not models:
        return state
    changes = {}
    for field in attrs.fields(type(state)):
        value = getattr(state, field.name)
        if isinstance(value, np.ndarray) and value.ndim == 0:
            full = np.full(models, float(value))
            full.flags.writeable = False
            changes[field.name] = full
    return _evolve(state, changes)


def _grad_norm(gflat: FloatArray, stacked: bool) -> FloatArray:
    # vecdot: each model's sum in the same order whatever the number of models (see losses._sum_sq)
    sq: FloatArray = np.vecdot(gflat, gflat) if stacked else np.asarray(np.dot(gflat, gflat))
    return np.sqrt(sq)


def _where(mask: BoolArray, a: FloatArray, b: FloatArray) -> FloatArray:
    """Per model: ``a`` where mask else ``b``; a and b are `(models, ...)` or 0-d (shared by all)."""
    m = mask.reshape(mask.shape + (1,) * max(np.ndim(a) - 1, np.ndim(b) - 1, 0))
    return np.where(m, a, b)


def _where_state(mask: BoolArray, a: OptState, b: OptState) -> OptState:
    changes = {}
    for field in attrs.fields(type(a)):
        va = getattr(a, field.name)
        if isinstance(va, np.ndarray):
            changes[field.name] = _where(mask, va, getattr(b, field.name))  # flat trees and counts
    return _evolve(a, changes)


def _run(
    p: _Problem, layout: _Layout, flat: FloatArray, state: OptState, rngs: list[np.random.Generator] | None
) -> Generator[tuple[FloatArray, FloatArray, FloatArray, FloatArray, OptState], None, None]:
    """The fold over epochs on flat params: yields ``(loss, accuracy, grad_norm, flat, state)`` after each."""
    layers, loss, update, cfg = p.net.layers, p.config.loss, p.config.optimizer.update, p.config
    stacked = bool(p.models)
    x, y = p.x, p.y
    n = x.shape[0]
    full = cfg.batch_size is None or cfg.batch_size >= n
    ytrue = y >= 0.5
    flatten = layout.flatten
    # The layers read the current params through records of views into one
    # private buffer; each epoch the optimizer's new (pure) result is copied in.
    # That is cheaper than making new views every epoch, and nothing outside
    # this generator ever sees the buffer.
    buffer = flat.copy()
    params = layout.unflatten(buffer, readonly=False)
    ws: _Workspace | None = None
    if supports_workspace(layers):
        gbuffer = np.empty_like(flat)
        ws = _Workspace(p.models, layout.unflatten(gbuffer, readonly=False))
        # the built-in optimizers compute new arrays from the grads; anyone else's
        # might keep them, so they get a copy of the reused gradient buffer
        own = getattr(update, "__module__", None) == "functional_nn.optimizers"

    def grad_step(xb: FloatArray, yb: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        if ws is None:
            value, grads, a = _value_and_grad(layers, params, xb, yb, loss)
            return value, flatten(grads), a
        value, a = _value_and_grad_into(layers, params, xb, yb, loss, ws)
        return value, (gbuffer if own else gbuffer.copy()), a

    if full:
        # Built-in optimizers can write each step into buffers the loop reuses (a
        # fresh 600 KB array per epoch is page-faulted in every time); a ring of
        # three per kept role, because the fold holds the last two (a divergence
        # falls back to the older one).  Mini-batch epochs take several steps per
        # yield, so they keep the allocating update.
        step_into = p.config.optimizer.step_into
        ring = _Ring(flat)
        while True:
            value, gflat, a = grad_step(x, y)
            acc = _accuracy_bool(a, ytrue)
            gnorm = _grad_norm(gflat, stacked)
            if step_into is not None:
                flat, state = step_into(gflat, state, flat, ring.buffer)
            else:
                flat, state = update(gflat, state, flat)
            buffer[...] = flat
            yield value, acc, gnorm, flat, state
    bs = cfg.batch_size
    assert bs is not None
    while True:
        xs, ys = x, y
        if rngs is not None:
            perm = np.stack([r.permutation(n) for r in rngs]) if stacked else rngs[0].permutation(n)
            xs, ys = x[perm], y[perm]
        total_loss: Any = 0.0
        total_acc: Any = 0.0
        total_gn: Any = 0.0
        batches = 0
        for start in range(0, n, bs):
            xb, yb = xs[..., start : start + bs, :], ys[..., start : start + bs, :]
            value, gflat, a = grad_step(xb, yb)
            w = xb.shape[-2] / n
            total_loss = total_loss + value * w
            total_acc = total_acc + _accuracy_bool(a, yb >= 0.5) * w
            total_gn = total_gn + _grad_norm(gflat, stacked)
            batches += 1
            flat, state = update(gflat, state, flat)
            buffer[...] = flat
        yield np.asarray(total_loss), np.asarray(total_acc), np.asarray(total_gn / batches), flat, state


class _Ring:
    """Buffers shaped like the flat params: three in turn per kept role, one per ``"tmp..."`` role."""

    def __init__(self, like: FloatArray) -> None:
        self._like = like
        self._kept: dict[str, tuple[list[FloatArray], list[int]]] = {}
        self._tmp: dict[str, FloatArray] = {}

    def buffer(self, role: str) -> FloatArray:
        if role.startswith("tmp"):
            buf = self._tmp.get(role)
            if buf is None:
                buf = self._tmp[role] = np.empty_like(self._like)
            return buf
        entry = self._kept.get(role)
        if entry is None:
            entry = self._kept[role] = ([np.empty_like(self._like) for _ in range(3)], [0])
        bufs, turn = entry
        turn[0] = (turn[0] + 1) % 3
        return bufs[turn[0]]


def _accuracy_bool(a: FloatArray, ytrue: BoolArray) -> FloatArray:
    right = (a >= 0.5) == ytrue
    hits = np.count_nonzero(right) if right.ndim == 2 else right.sum(axis=(-2, -1))
    return np.asarray(hits * (1.0 / (a.shape[-1] * a.shape[-2])))


@attrs.frozen
class _Start:
    """Where a fold starts: fresh, or where an earlier trace left off."""

    cur: FloatArray
    cur_state: OptState
    prev: FloatArray
    prev_state: OptState
    shuffle_states: tuple[dict[str, Any], ...]
    earlier: Trace | None


def _fresh_start(p: _Problem, layout: _Layout) -> _Start:
    flat = layout.flatten(p.params)
    state = p.config.optimizer.init(flat)
    return _Start(cur=flat, cur_state=state, prev=flat, prev_state=state, shuffle_states=(), earlier=None)


def _state_to_flat(layout: _Layout, state: OptState) -> OptState:
    changes = {}
    for field in attrs.fields(type(state)):
        value = getattr(state, field.name)
        if isinstance(value, tuple):
            changes[field.name] = layout.flatten(value)
    return _evolve(state, changes)


_BUFFER_EPOCHS = 1 << 20


def _grow(buf: FloatArray, capacity: int) -> FloatArray:
    out = np.full((capacity,) + buf.shape[1:], np.nan)
    out[: buf.shape[0]] = buf
    return out


def _fold(p: _Problem, on_epoch: bool = False, start: _Start | None = None) -> Iterator[Progress]:
    """Consume ``_run`` into a Trace; yields a Progress per epoch when ``on_epoch``."""
    cfg = p.config
    layout = _Layout.of(p.params, p.models)
    if start is None:
        start = _fresh_start(p, layout)
    earlier = start.earlier
    offset = earlier.epochs_run if earlier is not None else 0
    epochs = cfg.epochs - offset  # epochs to run now
    stacked = bool(p.models)
    # The per-epoch buffers hold every epoch up to _BUFFER_EPOCHS at once (a trace of
    # 100,000 epochs is allocated once, exactly); past that they grow by doubling, so
    # a huge epoch budget that a stop rule cuts short does not claim its memory.
    capacity = min(epochs, _BUFFER_EPOCHS)
    loss_buf = np.full((capacity,) + p.models, np.nan)
    acc_buf = np.full((capacity,) + p.models, np.nan)
    gn_buf = np.full((capacity,) + p.models, np.nan)
    snapshots: list[tuple[int, Params]] = list(earlier.snapshots) if earlier is not None else []
    stop_loss = cfg.stop_loss if cfg.stop_loss is not None else -math.inf
    snap = cfg.snapshot_every or 0

    # (flat params, state) at the start of the current epoch and of the one before
    cur, cur_state = start.cur, start.cur_state
    prev, prev_state = start.prev, start.prev_state
    m = p.models[0] if stacked else 1
    if earlier is not None:
        reasons = list(earlier.stop_reasons)
        stop_epoch = np.array(earlier.stop_epoch).reshape(p.models)
        stopped = np.array([r != EPOCHS_DONE for r in reasons])
        stop_epoch = np.where(stopped.reshape(p.models), stop_epoch, cfg.epochs)
    else:
        reasons = [EPOCHS_DONE] * m
        stop_epoch = np.full(p.models, cfg.epochs)
        stopped = np.zeros(m, dtype=bool)
    active = ~stopped
    all_active = bool(active.all())
    no_threshold = cfg.stop_loss is None

    n = p.x.shape[0]
    shuffled = cfg.shuffle and cfg.batch_size is not None and cfg.batch_size < n
    rngs = [np.random.default_rng(seed_sequence(s, 1)) for s in p.seeds] if shuffled else None
    if rngs is not None and start.shuffle_states:
        for r, st in zip(rngs, start.shuffle_states, strict=True):
            r.bit_generator.state = st
    # the shuffling state of each stopped model, as it was when it stopped (a stack goes on drawing)
    frozen = {int(k): dict(rngs[k].bit_generator.state) for k in np.flatnonzero(stopped)} if rngs is not None else {}

    epoch = offset
    i = -1
    done = not active.any()
    run = _run(p, layout, cur, cur_state, rngs)
    for value, acc, gnorm, new, new_state in () if done or epochs <= 0 else run:
        i += 1
        epoch += 1
        if i == capacity:
            capacity = min(2 * capacity, epochs)
            loss_buf, acc_buf, gn_buf = (_grow(b, capacity) for b in (loss_buf, acc_buf, gn_buf))
        loss_buf[i] = value
        acc_buf[i] = acc
        gn_buf[i] = gnorm
        all_active_before = all_active
        if not stacked:
            v = float(value)
            if not math.isfinite(v):
                reasons[0] = f"diverged at epoch {epoch}"
                new, new_state = prev, prev_state
                stop_epoch = np.asarray(epoch)
                done = True
            elif v < stop_loss:
                reasons[0] = f"loss threshold reached at epoch {epoch}"
                stop_epoch = np.asarray(epoch)
                done = True
        elif (
            all_active
            and math.isfinite(float(np.add.reduce(value)))
            and (no_threshold or float(np.min(value)) >= stop_loss)
        ):
            pass  # the common epoch, in two NumPy calls: every model active, finite and above the threshold
        else:
            was_active = active
            diverged = was_active & ~np.isfinite(value)
            reached = was_active & ~diverged & (value < stop_loss)
            if not was_active.all():
                # models stopped earlier keep their params and state; their entries stay NaN
                loss_buf[i, ~was_active] = np.nan
                acc_buf[i, ~was_active] = np.nan
                gn_buf[i, ~was_active] = np.nan
                new = _where(was_active, new, cur)
                new_state = _where_state(was_active, new_state, cur_state)
            if diverged.any():
                new = _where(diverged, prev, new)
                new_state = _where_state(diverged, prev_state, new_state)
            for k in np.flatnonzero(diverged | reached):
                reasons[k] = f"{'diverged' if diverged[k] else 'loss threshold reached'} at epoch {epoch}"
                stop_epoch[k] = epoch
                if rngs is not None:
                    frozen[int(k)] = dict(rngs[k].bit_generator.state)
            active = was_active & ~diverged & ~reached
            done = not active.any()
            all_active = bool(active.all())
        if stacked and not all_active_before:
            # a stopped model's resume point stays where it stopped, however long its stack goes on
            prev, prev_state = _where(was_active, cur, prev), _where_state(was_active, cur_state, prev_state)
        else:
            prev, prev_state = cur, cur_state
        cur, cur_state = new, new_state
        if snap and epoch % snap == 0:
            snapshots.append((epoch, layout.unflatten(cur.copy())))  # cur's buffer is reused
        if done or i + 1 == epochs:
            break
        if on_epoch:
            yield Progress(
                epoch=epoch,
                epochs=cfg.epochs,
                loss=loss_buf[i].copy(),
                accuracy=acc_buf[i].copy(),
                grad_norm=gn_buf[i].copy(),
            )
    run.close()

    ran = i + 1
    if stacked and ran < epochs:
        stop_epoch = np.minimum(stop_epoch, epoch)

    def joined(buf: FloatArray, name: str) -> FloatArray:
        mine = buf[:ran].copy() if ran < buf.shape[0] else buf
        if earlier is None:
            return mine
        return np.concatenate([getattr(earlier, name), mine])

    params = layout.unflatten(cur)
    final_value, _, final_a = _value_and_grad(p.net.layers, params, p.x, p.y, cfg.loss)
    records = layout.state_to_records
    trace = Trace(
        loss=joined(loss_buf, "loss"),
        accuracy=joined(acc_buf, "accuracy"),
        grad_norm=joined(gn_buf, "grad_norm"),
        params=params,
        opt_state=records(_per_model_state(cur_state, p.models)),
        final_loss=final_value,
        final_accuracy=_accuracy_bool(final_a, p.y >= 0.5),
        stop_epoch=stop_epoch,
        stop_reasons=tuple(reasons),
        snapshots=tuple(snapshots),
        network=p.net,
        config=cfg,
        seed=cfg.seed,
        resume_point=ResumePoint(
            prev_params=layout.unflatten(prev),
            prev_opt_state=records(_per_model_state(prev_state, p.models)),
            shuffle_states=(
                tuple(frozen.get(k, dict(r.bit_generator.state)) for k, r in enumerate(rngs))
                if rngs is not None
                else ()
            ),
        ),
    )
    last = trace.epochs_run - 1
    yield Progress(
        epoch=trace.epochs_run,
        epochs=cfg.epochs,
        loss=trace.loss[last].copy(),
        accuracy=trace.accuracy[last].copy(),
        grad_norm=trace.grad_norm[last].copy(),
        trace=trace,
    )


def resume(
    trace: Trace, data: Dataset, epochs: int, *, workers: int | None = None, executor: Executor | None = None
) -> Trace:
    """Continue a run for ``epochs`` more epochs, exactly where ``trace`` left off.

    The result equals, bit for bit, one uninterrupted run of the total length
    (params, optimizer state and the shuffling streams all continue).  Models
    that had stopped (threshold reached, diverged) stay stopped.

    Args:
        trace: a trace made by ``train``/``resume`` (or loaded with ``io.load_trace``).
        data: the same training set.
        epochs: how many more epochs, >= 1.
        workers, executor: how a stack is split and where its chunks run, as for ``train``.

    Returns:
        The combined Trace (its config's ``epochs`` is the total).

    Example:
        >>> import functional_nn as fnn
        >>> net = fnn.mlp((2, 4, 1))
        >>> cfg = fnn.TrainConfig(epochs=3, optimizer=fnn.adam(lr=0.01), loss="mse")
        >>> first = fnn.train(net, fnn.init(net, seed=0), fnn.generate_xor_easy(), cfg)
        >>> fnn.resume(first, fnn.generate_xor_easy(), epochs=2).loss.shape
        (5,)
    """
    problem, start = _resume_problem(trace, data, epochs)
    n_workers = _check_parallel(workers, executor)
    chunks = _chunks(problem, n_workers)
    if len(chunks) == 1:
        return _folded(problem, start)
    parts = _run_parts(
        _resume_part,
        [(_models_of(trace, problem, lo, hi), data, epochs) for lo, hi in chunks],
        problem,
        n_workers,
        executor,
    )
    return _merge(problem, parts)


def _resume_part(args: tuple[Trace, Dataset, int]) -> Trace:
    return _folded(*_resume_problem(*args))


def _models_of(trace: Trace, p: _Problem, lo: int, hi: int) -> Trace:
    """Models ``lo:hi`` of a stacked trace, as the stacked trace of those models alone (all its epochs)."""
    pick = lambda a: a[lo:hi]  # noqa: E731
    point = trace.resume_point
    assert point is not None  # _resume_problem checked it
    config = _sub_config(p, lo, hi)
    return Trace(
        loss=trace.loss[:, lo:hi],
        accuracy=trace.accuracy[:, lo:hi],
        grad_norm=trace.grad_norm[:, lo:hi],
        params=tree_map(pick, trace.params),
        opt_state=_member_state(trace.opt_state, slice(lo, hi)),
        final_loss=trace.final_loss[lo:hi],
        final_accuracy=trace.final_accuracy[lo:hi],
        stop_epoch=trace.stop_epoch[lo:hi],
        stop_reasons=trace.stop_reasons[lo:hi],
        snapshots=tuple((e, tree_map(pick, params)) for e, params in trace.snapshots),
        network=trace.network,
        config=attrs.evolve(config, epochs=trace.config.epochs),
        seed=config.seed,
        resume_point=ResumePoint(
            prev_params=tree_map(pick, point.prev_params),
            prev_opt_state=_member_state(point.prev_opt_state, slice(lo, hi)),
            shuffle_states=point.shuffle_states[lo:hi],
        ),
    )


def resume_iter(trace: Trace, data: Dataset, epochs: int) -> Iterator[Progress]:
    """``resume``, lazily, like ``train_iter``: one Progress per epoch, the last carrying the Trace."""
    problem, start = _resume_problem(trace, data, epochs)
    return _guarded(_fold(problem, on_epoch=True, start=start))


def _resume_problem(trace: Trace, data: Dataset, epochs: int) -> tuple[_Problem, _Start]:
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be a Trace, got {type(trace).__name__}")
    more = _validate.integer("epochs", epochs, minimum=1)
    point = trace.resume_point
    if point is None:
        raise ValueError("trace cannot be resumed: it has no resume point (a trace saved without one)")
    config = attrs.evolve(trace.config, epochs=trace.epochs_run + more)
    problem = _prepare(trace.network, trace.params, data, config)
    layout = _Layout.of(trace.params, problem.models)
    start = _Start(
        cur=layout.flatten(trace.params),
        cur_state=_state_to_flat(layout, trace.opt_state),
        prev=layout.flatten(point.prev_params),
        prev_state=_state_to_flat(layout, point.prev_opt_state),
        shuffle_states=point.shuffle_states,
        earlier=trace,
    )
    return problem, start


def train(
    net: Network,
    params: Params,
    data: Dataset,
    config: TrainConfig,
    *,
    workers: int | None = None,
    executor: Executor | None = None,
) -> Trace:
    """Train ``params`` of ``net`` on ``data``: a fold over epochs.

    Args:
        net: the network.
        params: initial params (``init(net, seed)``); stacked over one model axis to train many at once.
        data: the training set.
        config: epochs, optimizer, loss, batching, seed and stop rules.
        workers: how many parts run at once for a stacked run (default: the
            machine's cores, ``os.cpu_count()``).  The models are split into
            chunks trained independently; every model's result is the same, bit
            for bit, whatever the split.
        executor: where the chunks run (default: threads of this process,
            started and joined here).  Pass a ``concurrent.futures.ProcessPoolExecutor``
            you own to use every core fully: NumPy releases the GIL inside its
            kernels but not between them, so on the lab's small arrays two
            threads reach about 1.5x one, two processes nearly 2x.  The chunks
            are pickled to it (networks, data and the built-in optimizers
            pickle); starting a pool costs about 0.2 s, so keep one for many
            runs, and start it under ``if __name__ == "__main__":``.

    Returns:
        The Trace: per-epoch loss / accuracy / gradient norm, final params and
        optimizer state, snapshots, and why training stopped.  Nothing passed in
        is modified; the same arguments give the same trace, bit for bit.  A
        diverging loss ends training with a stop reason, never a warning.

    Example:
        >>> import functional_nn as fnn
        >>> net = fnn.mlp((2, 4, 1))
        >>> cfg = fnn.TrainConfig(epochs=5, optimizer=fnn.sgd(lr=0.1), loss=fnn.mse)
        >>> fnn.train(net, fnn.init(net, seed=0), fnn.generate_xor_easy(), cfg).loss.shape
        (5,)
    """
    problem = _prepare(net, params, data, config)
    n_workers = _check_parallel(workers, executor)
    chunks = _chunks(problem, n_workers)
    if len(chunks) == 1:
        return _train_problem(problem)
    parts = _run_parts(
        _train_problem, [_sub_problem(problem, lo, hi) for lo, hi in chunks], problem, n_workers, executor
    )
    return _merge(problem, parts)


def _check_parallel(workers: int | None, executor: Executor | None) -> int:
    """The number of workers (validated; default: the machine's cores), after checking ``executor``."""
    n_workers = _validate.integer("workers", workers, minimum=1) if workers is not None else (os.cpu_count() or 1)
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(
            "executor must be a concurrent.futures.Executor (e.g. a ProcessPoolExecutor) or None, "
            f"got {_validate.show(executor)}"
        )
    return n_workers


T = TypeVar("T")


def _run_parts(
    fn: Callable[[T], Trace], args: list[T], p: _Problem, n_workers: int, executor: Executor | None
) -> list[Trace]:
    """``fn`` on each chunk's arguments: in turn (one worker), in threads, or in ``executor``."""
    if executor is None and n_workers == 1:
        return [fn(a) for a in args]
    if executor is None:
        with ThreadPoolExecutor(max_workers=min(n_workers, len(args))) as threads:
            return _gather(threads, fn, args)
    if not isinstance(executor, ThreadPoolExecutor):
        _check_picklable(p, executor)
    return _gather(executor, fn, args)


def _gather(executor: Executor, fn: Callable[[T], Trace], args: list[T]) -> list[Trace]:
    """Submit every chunk, collect them in order; after an error or Ctrl-C, cancel those not started."""
    futures: list[Future[Trace]] = []
    try:
        for a in args:
            futures.append(executor.submit(fn, a))
        return [f.result() for f in futures]
    finally:
        for f in futures:
            f.cancel()  # a no-op for the chunks done or running


def _check_picklable(p: _Problem, executor: Executor) -> None:
    """An executor other than threads may run the chunks in other processes: they must pickle."""
    try:
        pickle.dumps((p.net, p.config))
    except Exception as e:
        raise TypeError(
            f"executor: a {type(executor).__name__} may run the chunks in other processes, so the network and "
            f"config must pickle; they do not ({type(e).__name__}: {e}).  The built-in layers, losses and "
            "optimizers pickle; a custom optimizer whose functions are closures or lambdas does not: "
            "train it with threads (executor=None)"
        ) from e


def _train_problem(problem: _Problem) -> Trace:
    return _folded(problem, None)


def _folded(problem: _Problem, start: _Start | None) -> Trace:
    """The trace of the whole fold (from ``start``, or fresh)."""
    # errstate is per thread (a context variable): set it in the thread that computes
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        last = None
        for last in _fold(problem, start=start):
            pass
    assert last is not None and last.trace is not None
    return last.trace


_CHUNK_BYTES = 512 * 1024
"""Target size of one activation array of a chunk: big enough to amortize the
per-operation Python overhead, small enough that a chunk's arrays stay in a
core's cache (``python -m scripts.bench`` measures one core training one chunk
of 256 XOR models, 430 KB, against one of 1024)."""


_MIN_CHUNK_BYTES = 192 * 1024
"""Below this much activation memory per thread, a second thread costs more
(Python overhead per chunk and epoch) than it saves."""


def _chunks(p: _Problem, workers: int) -> list[tuple[int, int]]:
    """Split a stack of models into contiguous chunks: each small enough for a core's cache, and
    (given enough work) a multiple of ``workers`` of them."""
    if not p.models:
        return [(0, 1)]
    m = p.models[0]
    opt = p.config.optimizer
    if not _built_in(opt) and any(isinstance(v, np.ndarray) for v in opt.hyperparams.values()):
        return [(0, m)]  # per-model hyperparameters are cut per chunk by rebuilding a built-in optimizer only
    n = p.x.shape[0] if p.config.batch_size is None else min(p.config.batch_size, p.x.shape[0])
    width = max(max(layer.in_features, layer.out_features) for layer in p.net.layers)
    per_model = max(n * width * 8, 1)
    total = m * per_model
    count = -(-total // _CHUNK_BYTES)  # chunks of about _CHUNK_BYTES
    if workers > 1 and total >= workers * _MIN_CHUNK_BYTES:
        count = -(-max(count, workers) // workers) * workers  # every core busy, all with equal shares
    count = max(1, min(count, m))
    bounds = np.linspace(0, m, count + 1).round().astype(int)
    return [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]


def _sub_config(p: _Problem, lo: int, hi: int) -> TrainConfig:
    """The config of models ``lo:hi`` of a stack: their seeds, and their per-model hyperparameters."""
    hyper = p.config.optimizer.hyperparams
    opt = p.config.optimizer
    if any(isinstance(v, np.ndarray) for v in hyper.values()):
        assert _built_in(opt)  # _chunks keeps other optimizers with per-model arrays in one chunk
        name = "momentum" if opt.name == "nesterov" else opt.name
        opt = make_optimizer(name, **{k: (v[lo:hi] if isinstance(v, np.ndarray) else v) for k, v in hyper.items()})
    return attrs.evolve(p.config, seed=p.seeds[lo:hi], optimizer=opt)


def _sub_problem(p: _Problem, lo: int, hi: int) -> _Problem:
    config = _sub_config(p, lo, hi)
    params = tree_map(lambda a: a[lo:hi], p.params)
    return attrs.evolve(p, params=params, config=config, models=(hi - lo,), seeds=p.seeds[lo:hi])


def _merge(p: _Problem, parts: list[Trace]) -> Trace:
    """One stacked trace from the traces of consecutive chunks of models."""
    run = max(t.epochs_run for t in parts)

    def pad(a: FloatArray) -> FloatArray:
        if a.shape[0] == run:
            return a
        return np.concatenate([a, np.full((run - a.shape[0],) + a.shape[1:], np.nan)])

    def cat(*xs: FloatArray) -> FloatArray:
        return np.concatenate(xs)

    # a chunk whose models all stopped early contributes its final params to later snapshots
    epochs = sorted({e for t in parts for e, _ in t.snapshots})
    by_chunk = [dict(t.snapshots) for t in parts]
    snapshots = tuple(
        (e, tree_map(cat, *[snaps.get(e, t.params) for snaps, t in zip(by_chunk, parts, strict=True)])) for e in epochs
    )

    def cat_states(states: list[OptState]) -> OptState:
        changes = {}
        for field in attrs.fields(type(states[0])):
            if isinstance(getattr(states[0], field.name), (tuple, np.ndarray)):
                changes[field.name] = tree_map(cat, *[getattr(s, field.name) for s in states])
        return _evolve(states[0], changes)

    points = [t.resume_point for t in parts]
    point = None
    if all(pt is not None for pt in points):
        pts = [pt for pt in points if pt is not None]
        point = ResumePoint(
            prev_params=tree_map(cat, *[pt.prev_params for pt in pts]),
            prev_opt_state=cat_states([pt.prev_opt_state for pt in pts]),
            shuffle_states=tuple(s for pt in pts for s in pt.shuffle_states),
        )
    return Trace(
        loss=np.concatenate([pad(t.loss) for t in parts], axis=1),
        accuracy=np.concatenate([pad(t.accuracy) for t in parts], axis=1),
        grad_norm=np.concatenate([pad(t.grad_norm) for t in parts], axis=1),
        params=tree_map(cat, *[t.params for t in parts]),
        opt_state=cat_states([t.opt_state for t in parts]),
        final_loss=np.concatenate([t.final_loss for t in parts]),
        final_accuracy=np.concatenate([t.final_accuracy for t in parts]),
        stop_epoch=np.concatenate([t.stop_epoch for t in parts]),
        stop_reasons=tuple(r for t in parts for r in t.stop_reasons),
        snapshots=snapshots,
        network=p.net,
        config=p.config,
        seed=p.config.seed,
        resume_point=point,
    )


def train_iter(net: Network, params: Params, data: Dataset, config: TrainConfig) -> Iterator[Progress]:
    """``train``, lazily: yields a Progress after each epoch; the last one carries the Trace.

    The arguments are validated when this is called.  Iterating drives the
    same pure fold as ``train`` (identical trace); a script can print progress
    between items.

    Example:
        >>> import functional_nn as fnn
        >>> net = fnn.mlp((2, 4, 1))
        >>> cfg = fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=0.1), loss="mse")
        >>> items = list(fnn.train_iter(net, fnn.init(net, seed=0), fnn.generate_xor_easy(), cfg))
        >>> [p.epoch for p in items], items[-1].trace is not None
        ([1, 2, 3], True)
    """
    problem = _prepare(net, params, data, config)
    return _guarded(_fold(problem, on_epoch=True))


def _guarded(gen: Iterator[Progress]) -> Iterator[Progress]:
    while True:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            try:
                item = next(gen)
            except StopIteration:
                return
        yield item
