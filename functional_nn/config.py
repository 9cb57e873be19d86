"""How to train: the ``TrainConfig`` record, and ``Run``, a training problem checked once.

TrainConfig(epochs, optimizer, loss, batch_size=None, shuffle=True, seed=0,
            stop_loss=None, snapshot_every=None)
config.member(k)                   -> the config model k of a stacked run has alone
prepare(net, params, data, config) -> Run      # every check, at the edge
run.models_slice(lo, hi)           -> Run      # models lo:hi of a stacked run
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from functional_nn import _validate
from functional_nn._records import FloatArray
from functional_nn.data import Dataset
from functional_nn.losses import Loss, get_loss
from functional_nn.network import Network, check_seeds, model_shape
from functional_nn.optimizers import OPTIMIZERS, Optimizer
from functional_nn.schedules import SCHEDULE_TYPES

__all__ = ["Run", "TrainConfig", "prepare"]


MAX_EPOCHS = 2**40
"""The most epochs a run may take: far beyond any real run, and every epoch count fits an int64."""


def _epochs_valid(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    del instance, attribute
    _validate.integer("epochs", value, minimum=1, maximum=MAX_EPOCHS)


def _optional_count(instance: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    del instance
    if value is not None:
        _validate.integer(attribute.name, value, minimum=1)


def _optimizer_valid(instance: object, attribute: attrs.Attribute[Optimizer], value: Optimizer) -> None:
    del instance, attribute
    if not isinstance(value, Optimizer):
        raise TypeError(f"optimizer must be an Optimizer (e.g. fnn.sgd(lr=0.1)), got {type(value).__name__}")


def _seeds(seed: int | Sequence[int]) -> int | tuple[int, ...]:
    return check_seeds(seed)


def _stop_loss_valid(instance: object, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    del instance, attribute
    if value is not None:
        _validate.positive("stop_loss", value)


def _clip_valid(instance: object, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    del instance, attribute
    if value is not None:
        _validate.positive("clip_norm", value)


def _min_delta_valid(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    del instance, attribute
    if _validate.real("min_delta", value) < 0.0:
        raise ValueError(f"min_delta must be >= 0, got {value}")


def _bool_valid(instance: object, attribute: attrs.Attribute[bool], value: bool) -> None:
    del instance
    if not isinstance(value, bool):
        raise TypeError(f"{attribute.name} must be a bool, got {_validate.show(value)}")


def _loss(value: str | Loss) -> Loss:
    return get_loss(value)


@attrs.frozen(kw_only=True)
class TrainConfig:
    """How to train (everything but the network, its params and the data).

    Attributes:
        epochs: number of epochs, >= 1.
        optimizer: e.g. ``sgd(lr=0.1)``; its name and hyperparameters are kept in the trace.
        loss: ``mse``, ``bce`` or their names.
        batch_size: samples per mini-batch, 1..n; None for full batch (the lab's setting).
        shuffle: reshuffle the mini-batch order each epoch (from ``seed`` and the epoch).
        seed: int >= 0 seeding the shuffles, or one per model for a stacked run.
        stop_loss: stop once the epoch's loss is below this (e.g. 0.005), or None.
        snapshot_every: keep the params every k epochs in ``trace.snapshots``, or None.
        clip_norm: clip each step's gradient to this global norm (per model: all its
            params as one vector, scaled by ``min(1, clip_norm / norm)``), or None.
        patience: early stopping: stop a model once its validation loss has not
            improved by more than ``min_delta`` for this many epochs, keeping the
            params of its best epoch (needs ``validation=``); None: never.
        min_delta: the least decrease of the validation loss that counts as an improvement.

    Example:
        >>> import functional_nn as fnn
        >>> cfg = fnn.TrainConfig(epochs=100, optimizer=fnn.sgd(lr=0.1), loss=fnn.mse)
    """

    epochs: int = attrs.field(converter=_validate.as_int, validator=_epochs_valid)
    optimizer: Optimizer = attrs.field(validator=_optimizer_valid)
    loss: Loss = attrs.field(converter=_loss)
    batch_size: int | None = attrs.field(default=None, converter=_validate.as_int, validator=_optional_count)
    shuffle: bool = attrs.field(default=True, validator=_bool_valid)
    seed: int | tuple[int, ...] = attrs.field(default=0, converter=_seeds)
    stop_loss: float | None = attrs.field(default=None, validator=_stop_loss_valid)
    snapshot_every: int | None = attrs.field(default=None, converter=_validate.as_int, validator=_optional_count)
    clip_norm: float | None = attrs.field(default=None, converter=_validate.as_float, validator=_clip_valid)
    patience: int | None = attrs.field(default=None, converter=_validate.as_int, validator=_optional_count)
    min_delta: float = attrs.field(default=0.0, converter=_validate.as_float, validator=_min_delta_valid)

    def member(self, k: int) -> TrainConfig:
        """The config model ``k`` of a stacked run would have alone."""
        seed = self.seed[k] if isinstance(self.seed, tuple) else self.seed
        return attrs.evolve(self, seed=seed, optimizer=optimizer_slice(self.optimizer, k))

    def models_slice(self, lo: int, hi: int) -> TrainConfig:
        """The config of models ``lo:hi`` of a stacked run: their seeds and per-model hyperparameters."""
        assert isinstance(self.seed, tuple)
        return attrs.evolve(self, seed=self.seed[lo:hi], optimizer=optimizer_slice(self.optimizer, slice(lo, hi)))


def per_model_hyperparams(opt: Optimizer) -> bool:
    """Whether some hyperparameter of ``opt`` holds one value per model."""
    return any(isinstance(v, np.ndarray) for v in opt.hyperparams.values())


def optimizer_slice(opt: Optimizer, index: int | slice) -> Optimizer:
    """``opt`` for one model or a slice of models of a stack: its per-model hyperparameters indexed.

    Only a built-in optimizer can be rebuilt so (from ``OPTIMIZERS``); another
    one with per-model hyperparameters is refused.
    """
    if not per_model_hyperparams(opt):
        return opt
    if opt.name not in OPTIMIZERS:
        raise ValueError(
            f"optimizer {opt.name!r} has per-model hyperparameters and is not built in, so it cannot be cut per model"
        )

    def cut(v: Any) -> Any:
        if not isinstance(v, np.ndarray):
            return v  # the same for every model (a schedule too)
        part = v[index]
        return float(part) if np.ndim(part) == 0 else part

    return OPTIMIZERS[opt.name](**{k: cut(v) for k, v in opt.hyperparams.items()})


@attrs.frozen
class Run:
    """A training problem, checked once: what the loop needs and nothing else.

    Attributes:
        net: the network.
        x, y: the training set, C-contiguous read-only float64 `(n, in)` and `(n, out)`.
        config: the TrainConfig.
        models: ``()`` for one model, ``(M,)`` for a stack.
        seeds: one seed per model.
        task: the data's task (``Dataset.task``): what the trace's ``accuracy`` measures.
        val_x, val_y: the validation set, or None.
    """

    net: Network
    x: FloatArray
    y: FloatArray
    config: TrainConfig
    models: tuple[int, ...]
    seeds: tuple[int, ...]
    task: str = "binary"
    val_x: FloatArray | None = None
    val_y: FloatArray | None = None

    def models_slice(self, lo: int, hi: int) -> Run:
        """Models ``lo:hi`` of a stacked run, as a stacked run of their own."""
        return attrs.evolve(self, config=self.config.models_slice(lo, hi), models=(hi - lo,), seeds=self.seeds[lo:hi])


def prepare(net: Network, params: Any, data: Dataset, config: TrainConfig, validation: Dataset | None = None) -> Run:
    """Check everything a training run needs, once, and return it as a ``Run``.

    Raises:
        TypeError, ValueError: naming the argument that does not fit.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a Dataset (e.g. fnn.generate_linear(seed=0)), got {type(data).__name__}")
    models = model_shape(net, params)
    if len(models) > 1:
        raise ValueError(f"params may be stacked over at most one model axis for training, got model axes {models}")
    for name, arr, want in (("data.x", data.x, net.in_features), ("data.y", data.y, net.out_features)):
        if arr.shape[1] != want:
            raise ValueError(f"{name} must have shape (n, {want}) to match the network, got shape {arr.shape}")
    config.loss.check_output(net.output_activation)
    config.loss.check_labels(_validate.distinct(data.y), "data.y")
    if config.batch_size is not None and config.batch_size > data.n:
        raise ValueError(f"batch_size must be between 1 and the number of samples ({data.n}), got {config.batch_size}")
    seeds = _run_seeds(config.seed, models)
    if config.patience is not None and validation is None:
        raise ValueError(
            f"patience={config.patience} watches the validation loss: pass validation= (a held-out Dataset)"
        )
    for name, value in config.optimizer.hyperparams.items():
        if isinstance(value, np.ndarray) and (not models or value.shape != models):
            expected = "a number for a single model" if not models else f"a number or an array of shape {models}"
            raise ValueError(f"optimizer {name} must be {expected}, got an array of shape {value.shape}")
    _check_schedule(config, data.n)
    x, y = normalized(data.x, "data.x"), normalized(data.y, "data.y")
    run = Run(net=net, x=x, y=y, config=config, models=models, seeds=seeds, task=data.task)
    if validation is None:
        return run
    if not isinstance(validation, Dataset):
        raise TypeError(f"validation must be a Dataset or None, got {type(validation).__name__}")
    for name, given, like in (("validation.x", validation.x, data.x), ("validation.y", validation.y, data.y)):
        if given.shape[1] != like.shape[1]:
            raise ValueError(
                f"{name} must have shape (n, {like.shape[1]}) to match the network, got shape {given.shape}"
            )
    if validation.task != data.task:
        raise ValueError(f"validation must have the task of data ({data.task!r}), got {validation.task!r}")
    config.loss.check_labels(_validate.distinct(validation.y), "validation.y")
    val_x, val_y = normalized(validation.x, "validation.x"), normalized(validation.y, "validation.y")
    return attrs.evolve(run, val_x=val_x, val_y=val_y)


def steps_per_epoch(config: TrainConfig, n: int) -> int:
    """The optimizer's updates in one epoch of ``n`` samples: one per mini-batch."""
    return 1 if config.batch_size is None else -(-n // config.batch_size)


def _check_schedule(config: TrainConfig, n: int) -> None:
    """A schedule as lr must yield a valid lr at the run's first and last step (each built-in schedule
    rises, then falls: those are its extremes); else a ValueError naming it, before any training."""
    lr = config.optimizer.hyperparams.get("lr")
    if isinstance(lr, SCHEDULE_TYPES):
        last = config.epochs * steps_per_epoch(config, n) - 1
        try:
            lr(np.array([0.0, float(last)]))
        except ValueError as err:
            raise ValueError(f"optimizer lr: {err} (within the {last + 1} steps of this run)") from None


def normalized(a: FloatArray, name: str = "x") -> FloatArray:
    """``a`` as a C-contiguous, aligned, read-only float64 array (a copy only when it is not one).

    NumPy's matmul hands aligned contiguous data to BLAS and computes other
    layouts itself, in another order: normalizing at the edge makes the
    results independent of how the caller's memory was laid out.
    """
    try:
        out = np.require(a, np.float64, ["C_CONTIGUOUS", "ALIGNED"])
    except MemoryError:  # a huge broadcast view, say: its copy does not fit
        raise ValueError(f"{name} of shape {a.shape} does not fit in memory as a contiguous array") from None
    if out is a:
        out = a.view()
    out.flags.writeable = False
    return out


def _run_seeds(seed: int | tuple[int, ...], models: tuple[int, ...]) -> tuple[int, ...]:
    if not models:
        if not isinstance(seed, int):
            raise ValueError(f"seed must be a single integer for a single model, got {_validate.show(seed)}")
        return (seed,)
    if not isinstance(seed, tuple) or len(seed) != models[0]:
        raise ValueError(
            f"seed must be a sequence of {models[0]} integers (one per stacked model), got {_validate.show(seed)}"
        )
    return seed
