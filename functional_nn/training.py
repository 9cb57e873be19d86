"""Training: a fold over epochs that returns the whole trace.

    TrainConfig(epochs, optimizer, loss, batch_size=None, shuffle=True, seed=0,
                stop_loss=None, snapshot_every=None)
    train(net, params, data, config)      -> Trace
    train_iter(net, params, data, config) -> Iterator[Progress]   # lazy: one item per epoch;
                                                                  # the last one carries the Trace

One epoch folds the optimizer's update over the mini-batches (one batch of all
samples when ``batch_size`` is None).  Mini-batches are drawn in an order
shuffled each epoch by a generator seeded from ``config.seed`` alone, so the
same inputs give the same trace, bit for bit.  Params stacked over one leading
model axis of size M train M models at once; model k uses ``seed[k]`` (and
``lr[k]`` when the learning rate is an array) and equals model k trained alone.

Stop rules, checked after each epoch, per model: the loss turned NaN/inf
("diverged at epoch k": the model keeps the params from the start of epoch
k - 1, the last whose loss was finite), the loss fell below ``stop_loss``
("loss threshold reached at epoch k"), or all epochs ran ("epochs done").
A stopped model of a stack stops updating while the others go on.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import numpy as np

from functional_nn import _validate
from functional_nn._records import FloatArray, trusted
from functional_nn.data import Dataset
from functional_nn.losses import Loss, get_loss
from functional_nn.network import (
    Network,
    Params,
    _accuracy,
    _check_seeds,
    _forward,
    _value_and_grad,
    model_shape,
    seed_sequence,
)
from functional_nn.optimizers import Optimizer, OptState, make_optimizer
from functional_nn.trace import EPOCHS_DONE, Trace
from functional_nn.tree import leaves, tree_map

__all__ = ["TrainConfig", "Progress", "train", "train_iter"]


def _epochs_valid(instance: object, attribute: "attrs.Attribute[int]", value: int) -> None:
    del instance, attribute
    _validate.integer("epochs", value, minimum=1)


def _optional_int(name: str) -> Any:
    def check(instance: object, attribute: "attrs.Attribute[int | None]", value: int | None) -> None:
        del instance, attribute
        if value is not None:
            _validate.integer(name, value, minimum=1)

    return check


def _optimizer_valid(instance: object, attribute: "attrs.Attribute[Optimizer]", value: Optimizer) -> None:
    del instance, attribute
    if not isinstance(value, Optimizer):
        raise TypeError(f"optimizer must be an Optimizer (e.g. fnn.sgd(lr=0.1)), got {type(value).__name__}")


def _seed_convert(seed: int | Sequence[int]) -> int | tuple[int, ...]:
    return _check_seeds(seed)


def _stop_loss_valid(instance: object, attribute: "attrs.Attribute[float | None]", value: float | None) -> None:
    del instance, attribute
    if value is not None:
        _validate.positive("stop_loss", value)


def _bool_valid(instance: object, attribute: "attrs.Attribute[bool]", value: bool) -> None:
    del instance
    if not isinstance(value, bool):
        raise TypeError(f"{attribute.name} must be a bool, got {value!r}")


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

    def member(self, k: int) -> "TrainConfig":
        """The config model ``k`` of a stacked run would have alone."""
        seed = self.seed[k] if isinstance(self.seed, tuple) else self.seed
        hyper = self.optimizer.hyperparams
        if any(isinstance(v, np.ndarray) for v in hyper.values()):
            name = "momentum" if self.optimizer.name == "nesterov" else self.optimizer.name
            opt = make_optimizer(name, **{h: (float(v[k]) if isinstance(v, np.ndarray) else v) for h, v in hyper.items()})
        else:
            opt = self.optimizer
        return attrs.evolve(self, seed=seed, optimizer=opt)


@attrs.frozen
class Progress:
    """One epoch of ``train_iter``.

    Attributes:
        epoch: 1-based epoch just finished.
        epochs: the configured number of epochs.
        loss, accuracy, grad_norm: this epoch's values, shape `models`.
        trace: the finished Trace on the last item, else None.
    """

    epoch: int
    epochs: int
    loss: FloatArray
    accuracy: FloatArray
    grad_norm: FloatArray
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
        raise ValueError(f"data.x must have shape (n, {net.in_features}) to match the network's input size, got shape {data.x.shape}")
    if data.y.shape[1] != net.out_features:
        raise ValueError(f"data.y must have shape (n, {net.out_features}) to match the network's output size, got shape {data.y.shape}")
    config.loss.check_output(net.output_activation)
    n = data.n
    if config.batch_size is not None and config.batch_size > n:
        raise ValueError(f"batch_size must be between 1 and the number of samples ({n}), got {config.batch_size}")
    m = models[0] if models else None
    if m is None:
        if not isinstance(config.seed, int):
            raise ValueError(f"seed must be a single integer for a single model, got {config.seed!r}")
        seeds: tuple[int, ...] = (config.seed,)
    else:
        if not isinstance(config.seed, tuple) or len(config.seed) != m:
            raise ValueError(f"seed must be a sequence of {m} integers (one per stacked model), got {config.seed!r}")
        seeds = config.seed
    for name, value in config.optimizer.hyperparams.items():
        if isinstance(value, np.ndarray):
            if m is None or value.shape != (m,):
                expected = "a number for a single model" if m is None else f"a number or an array of shape ({m},)"
                raise ValueError(f"optimizer {name} must be {expected}, got an array of shape {value.shape}")
    return _Problem(net=net, params=params, x=data.x, y=data.y, config=config, models=models, seeds=seeds)


def _sq_norm(grads: Params, stacked: bool) -> FloatArray:
    if not stacked:
        total = 0.0
        for g in leaves(grads):
            total += float(np.vdot(g, g))
        return np.asarray(total)
    out: FloatArray = np.zeros(())
    for g in leaves(grads):
        out = out + np.sum(g * g, axis=tuple(range(1, g.ndim)))
    return out


def _select(mask: FloatArray, a: Any, b: Any) -> Any:
    """Per model: ``a`` where mask else ``b`` (trees with the same structure, leading model axis)."""
    return tree_map(lambda x, y: np.where(mask.reshape(mask.shape + (1,) * (x.ndim - 1)), x, y), a, b)


def _select_state(mask: FloatArray, a: OptState, b: OptState) -> OptState:
    changes = {}
    for field in attrs.fields(type(a)):
        va, vb = getattr(a, field.name), getattr(b, field.name)
        if isinstance(va, tuple):
            changes[field.name] = _select(mask, va, vb)
    return attrs.evolve(a, **changes)


@attrs.frozen
class _Epoch:
    loss: FloatArray
    accuracy: FloatArray
    grad_norm: FloatArray
    params: Params
    state: OptState


def _run(p: _Problem, state: OptState) -> Iterator[_Epoch]:
    """The fold over epochs, yielding after each; the caller decides when to stop."""
    layers, loss, opt, cfg = p.net.layers, p.config.loss, p.config.optimizer, p.config
    stacked = bool(p.models)
    x, y, params = p.x, p.y, p.params
    n = x.shape[0]
    full = cfg.batch_size is None or cfg.batch_size >= n
    rngs = [np.random.default_rng(seed_sequence(s, 1)) for s in p.seeds] if (cfg.shuffle and not full) else None
    while True:
        if full:
            value, grads, a = _value_and_grad(layers, params, x, y, loss)
            acc = _accuracy(a, y)
            gnorm = np.sqrt(_sq_norm(grads, stacked))
            params, state = opt.update(grads, state, params)
        else:
            params, state, value, acc, gnorm = _minibatch_epoch(p, params, state, rngs)
        yield _Epoch(value, acc, gnorm, params, state)


def _minibatch_epoch(
    p: _Problem, params: Params, state: OptState, rngs: list[np.random.Generator] | None
) -> tuple[Params, OptState, FloatArray, FloatArray, FloatArray]:
    layers, loss, opt = p.net.layers, p.config.loss, p.config.optimizer
    stacked = bool(p.models)
    x, y = p.x, p.y
    n = x.shape[0]
    bs = p.config.batch_size
    assert bs is not None
    if rngs is not None:
        if stacked:
            perm = np.stack([r.permutation(n) for r in rngs])
        else:
            perm = rngs[0].permutation(n)
        x, y = x[perm], y[perm]
    total_loss: Any = 0.0
    total_acc: Any = 0.0
    total_gn: Any = 0.0
    batches = 0
    for start in range(0, n, bs):
        xb, yb = x[..., start : start + bs, :], y[..., start : start + bs, :]
        value, grads, a = _value_and_grad(layers, params, xb, yb, loss)
        w = xb.shape[-2] / n
        total_loss = total_loss + value * w
        total_acc = total_acc + _accuracy(a, yb) * w
        total_gn = total_gn + np.sqrt(_sq_norm(grads, stacked))
        batches += 1
        params, state = opt.update(grads, state, params)
    return params, state, np.asarray(total_loss), np.asarray(total_acc), np.asarray(total_gn / batches)


def _fold(p: _Problem, on_epoch: Any = None) -> Iterator[Progress]:
    """Consume ``_run`` into a Trace; yields a Progress per epoch when ``on_epoch`` is set."""
    cfg = p.config
    epochs = cfg.epochs
    stacked = bool(p.models)
    shape = (epochs,) + p.models
    loss_buf = np.full(shape, np.nan)
    acc_buf = np.full(shape, np.nan)
    gn_buf = np.full(shape, np.nan)
    state0 = cfg.optimizer.init(p.params)
    snapshots: list[tuple[int, Params]] = []
    stop_loss = cfg.stop_loss if cfg.stop_loss is not None else -math.inf
    snap = cfg.snapshot_every or 0

    # (params, state) at the start of the current epoch and of the one before
    cur_params, cur_state = p.params, state0
    prev_params, prev_state = p.params, state0
    if stacked:
        m = p.models[0]
        active = np.ones(m, dtype=bool)
        stop_epoch = np.full(m, epochs)
        reasons = [EPOCHS_DONE] * m
    else:
        stop_epoch = np.asarray(epochs)
        reasons = [EPOCHS_DONE]

    epoch = 0
    run = _run(p, state0)
    while epoch < epochs:
        step = next(run)
        epoch += 1
        i = epoch - 1
        loss_buf[i] = step.loss
        acc_buf[i] = step.accuracy
        gn_buf[i] = step.grad_norm
        new_params, new_state = step.params, step.state
        if not stacked:
            value = float(step.loss)
            if not math.isfinite(value):
                reasons[0] = f"diverged at epoch {epoch}"
                new_params, new_state = prev_params, prev_state
                stop_epoch = np.asarray(epoch)
            elif value < stop_loss:
                reasons[0] = f"loss threshold reached at epoch {epoch}"
                stop_epoch = np.asarray(epoch)
            done = epoch < epochs and reasons[0] != EPOCHS_DONE
        else:
            was_active = active
            diverged = was_active & ~np.isfinite(step.loss)
            reached = was_active & ~diverged & (step.loss < stop_loss)
            if not was_active.all():
                # models stopped before keep everything; their entries stay NaN
                loss_buf[i, ~was_active] = np.nan
                acc_buf[i, ~was_active] = np.nan
                gn_buf[i, ~was_active] = np.nan
                new_params = _select(was_active, new_params, cur_params)
                new_state = _select_state(was_active, new_state, cur_state)
            if diverged.any():
                new_params = _select(diverged, prev_params, new_params)
                new_state = _select_state(diverged, prev_state, new_state)
            for k in np.flatnonzero(diverged | reached):
                reasons[k] = f"{'diverged' if diverged[k] else 'loss threshold reached'} at epoch {epoch}"
                stop_epoch[k] = epoch
            active = was_active & ~diverged & ~reached
            done = not active.any()
        prev_params, prev_state = cur_params, cur_state
        cur_params, cur_state = new_params, new_state
        if snap and epoch % snap == 0:
            snapshots.append((epoch, cur_params))
        if on_epoch is not None and not done and epoch < epochs:
            yield Progress(epoch=epoch, epochs=epochs, loss=loss_buf[i].copy(), accuracy=acc_buf[i].copy(), grad_norm=gn_buf[i].copy())
        if done:
            break
    run.close()

    final_value, _, final_a = _value_and_grad(p.net.layers, cur_params, p.x, p.y, cfg.loss)
    final_acc = _accuracy(final_a, p.y)
    keep = slice(0, epoch)
    trace = Trace(
        loss=loss_buf[keep].copy() if epoch < epochs else loss_buf,
        accuracy=acc_buf[keep].copy() if epoch < epochs else acc_buf,
        grad_norm=gn_buf[keep].copy() if epoch < epochs else gn_buf,
        params=_freeze(cur_params),
        opt_state=cur_state,
        final_loss=final_value,
        final_accuracy=final_acc,
        stop_epoch=stop_epoch,
        stop_reasons=tuple(reasons),
        snapshots=tuple(snapshots),
        network=p.net,
        config=cfg,
        seed=cfg.seed,
    )
    yield Progress(epoch=epoch, epochs=epochs, loss=loss_buf[epoch - 1], accuracy=acc_buf[epoch - 1], grad_norm=gn_buf[epoch - 1], trace=trace)


def _freeze(params: Params) -> Params:
    return tuple(trusted(type(r), **{f.name: getattr(r, f.name) for f in attrs.fields(type(r))}) for r in params)


def train(net: Network, params: Params, data: Dataset, config: TrainConfig) -> Trace:
    """Train ``params`` of ``net`` on ``data``: a fold over epochs.

    Args:
        net: the network.
        params: initial params (``init(net, seed)``); stacked over one model axis to train many at once.
        data: the training set.
        config: epochs, optimizer, loss, batching, seed and stop rules.

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
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        last = None
        for last in _fold(problem):
            pass
    assert last is not None and last.trace is not None
    return last.trace


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
