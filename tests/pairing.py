"""Which registry entries go together, for the tests parametrized over the registries.

The rules are asked of the library, not copied from it:

- a loss follows an output activation when ``loss.check_output(act)`` passes (bce needs a
  sigmoid, cross_entropy a softmax, mse follows any);
- a softmax output needs k >= 2 outputs: over one output it is the constant 1;
- the labels of a softmax output are one-hot rows (what cross_entropy takes), those of any
  other output 0/1 labels (what bce takes; mse takes both).

fits(loss, act)                   -> whether ``loss`` follows the output ``act``
output_for(loss)                  -> the output activation a loss's tests use (sigmoid where it fits)
min_outputs(act)                  -> 2 for a softmax, else 1
fit_outputs(sizes, act)           -> ``sizes`` with 3 outputs where ``act`` needs more than ``sizes[-1]``
labels_for(act, rng, shape)       -> one-hot rows for a softmax, else 0/1 labels
one_hot_labels(rng, shape)        -> random one-hot rows `(..., n, k)`, k >= 2
"""

from __future__ import annotations

import numpy as np

import functional_nn as fnn
from tests.helpers import FloatArray, binary_labels


def fits(loss: fnn.Loss, act: fnn.Activation) -> bool:
    """Whether ``loss`` takes an output layer with activation ``act``."""
    try:
        loss.check_output(act)
    except ValueError:
        return False
    return True


def output_for(loss: fnn.Loss) -> fnn.Activation:
    """The output activation the tests pair with ``loss``: a sigmoid where it fits, else the first one that fits."""
    if fits(loss, fnn.Sigmoid()):
        return fnn.Sigmoid()
    found = [act for act in fnn.ACTIVATIONS.values() if fits(loss, act)]
    assert found, f"no activation of the registry fits loss {loss.name!r}"
    return found[0]


def min_outputs(act: fnn.Activation) -> int:
    """The fewest output units ``act`` makes sense over: 2 for a softmax, 1 for the elementwise ones."""
    return 2 if isinstance(act, fnn.Softmax) else 1


def fit_outputs(sizes: tuple[int, ...], act: fnn.Activation) -> tuple[int, ...]:
    """``sizes`` unchanged if its output count suits ``act``, else with 3 outputs (two classes are covered elsewhere)."""
    return sizes if sizes[-1] >= min_outputs(act) else (*sizes[:-1], 3)


def one_hot_labels(rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
    """Random one-hot rows: ``shape[-1]`` >= 2 classes, one 1 per row."""
    assert shape[-1] >= 2, f"one-hot rows need >= 2 classes, got shape {shape}"
    classes = rng.integers(0, shape[-1], size=shape[:-1])
    out: FloatArray = (np.arange(shape[-1]) == classes[..., None]).astype(np.float64)
    return out


def labels_for(act: fnn.Activation, rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
    """Labels an output ``act`` is trained on: one-hot rows for a softmax, else 0/1 labels."""
    return one_hot_labels(rng, shape) if isinstance(act, fnn.Softmax) else binary_labels(rng, shape)
