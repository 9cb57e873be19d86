"""functional_nn: neural networks in NumPy with hand-written backprop, as pure functions.

Parameters and optimizer states are immutable records; ``forward``, ``grad`` and
``update`` are pure; ``train`` is a fold over epochs that returns a ``Trace``.

Naming: records, layer kinds and protocols are CapWords (``Dense``,
``DenseLayer``, ``AdamState``, ``Trace``); functions and factories are
lowercase (``mlp``, ``adam``, ``train``); registries are UPPER_CASE read-only
mappings from a name to one kind of value.

Example:
    >>> import functional_nn as fnn
    >>> net = fnn.mlp((2, 10, 10, 1), hidden="sigmoid", output="sigmoid")
    >>> cfg = fnn.TrainConfig(epochs=10, optimizer=fnn.sgd(lr=0.1), loss=fnn.mse, seed=0)
    >>> trace = fnn.train(net, fnn.init(net, seed=0), fnn.generate_xor_easy(), cfg)
    >>> trace.loss.shape, trace.stop_reason
    ((10,), 'epochs done')
"""

from functional_nn._version import __version__
from functional_nn.activations import (
    ACTIVATIONS,
    Activation,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    get_activation,
    sigmoid,
)
from functional_nn.config import TrainConfig
from functional_nn.conv import (
    AvgPool2DLayer,
    Conv2D,
    Conv2DLayer,
    FlattenLayer,
    MaxPool2DLayer,
    NoParams,
    flatten_images,
)
from functional_nn.data import (
    Dataset,
    Standardizer,
    fit_standardizer,
    generate_circle,
    generate_gauss,
    generate_linear,
    generate_spiral,
    generate_xor_easy,
    one_hot,
    split,
    standardize,
)
from functional_nn.fold import Progress
from functional_nn.images import generate_bars
from functional_nn.layers import INITIALIZERS, Dense, DenseLayer, DropoutLayer, Layer
from functional_nn.losses import BCE, LOSSES, MSE, CrossEntropy, Loss, bce, cross_entropy, get_loss, mse
from functional_nn.network import (
    LayerParams,
    Network,
    Params,
    accuracy,
    check_grad,
    cnn,
    forward,
    grad,
    init,
    mlp,
    predict,
    sequential,
)
from functional_nn.optimizers import (
    OPTIMIZERS,
    AdagradState,
    AdamState,
    EmptyState,
    MomentumState,
    Optimizer,
    OptState,
    RMSPropState,
    ScheduleState,
    adagrad,
    adam,
    adamw,
    make_optimizer,
    momentum,
    nesterov,
    rmsprop,
    sgd,
)
from functional_nn.schedules import SCHEDULES, Constant, Cosine, Exponential, Schedule, StepDecay, WarmupCosine

# sweeps: a grid of configs x seeds on any executor (exported at the end of this file)
from functional_nn.sweep import SweepError, SweepProgress, resume_sweep, sweep
from functional_nn.trace import Trace, TraceDiff, compare_traces
from functional_nn.training import resume, resume_iter, train, train_iter
from functional_nn.tree import tree_map

__all__ = [
    "ACTIVATIONS",
    "BCE",
    "INITIALIZERS",
    "LOSSES",
    "MSE",
    "OPTIMIZERS",
    "SCHEDULES",
    "Activation",
    "AdagradState",
    "AdamState",
    "AvgPool2DLayer",
    "Constant",
    "Conv2D",
    "Conv2DLayer",
    "Cosine",
    "CrossEntropy",
    "Dataset",
    "Dense",
    "DenseLayer",
    "DropoutLayer",
    "EmptyState",
    "Exponential",
    "FlattenLayer",
    "Identity",
    "Layer",
    "LayerParams",
    "LeakyReLU",
    "Loss",
    "MaxPool2DLayer",
    "MomentumState",
    "Network",
    "NoParams",
    "OptState",
    "Optimizer",
    "Params",
    "Progress",
    "RMSPropState",
    "ReLU",
    "Schedule",
    "ScheduleState",
    "Sigmoid",
    "Softmax",
    "Standardizer",
    "StepDecay",
    "Tanh",
    "Trace",
    "TraceDiff",
    "TrainConfig",
    "WarmupCosine",
    "__version__",
    "accuracy",
    "adagrad",
    "adam",
    "adamw",
    "bce",
    "check_grad",
    "cnn",
    "compare_traces",
    "cross_entropy",
    "fit_standardizer",
    "flatten_images",
    "forward",
    "generate_bars",
    "generate_circle",
    "generate_gauss",
    "generate_linear",
    "generate_spiral",
    "generate_xor_easy",
    "get_activation",
    "get_loss",
    "grad",
    "init",
    "make_optimizer",
    "mlp",
    "momentum",
    "mse",
    "nesterov",
    "one_hot",
    "predict",
    "resume",
    "resume_iter",
    "rmsprop",
    "sequential",
    "sgd",
    "sigmoid",
    "split",
    "standardize",
    "train",
    "train_iter",
    "tree_map",
]

# sweeps (issue 15)
__all__ += ["SweepError", "SweepProgress", "resume_sweep", "sweep"]
