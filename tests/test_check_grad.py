"""The public gradient check: what the tests do, offered to users who write their own layers."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from functional_nn.layers import Cache

X = np.random.default_rng(0).standard_normal((6, 3))
Y = fnn.one_hot([0, 1, 2, 0, 1, 2])


@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "leaky_relu", "identity"])
def test_built_in_layers_pass(hidden: str) -> None:
    net = fnn.mlp((3, 4, 3), hidden=hidden, output="softmax")
    errors = fnn.check_grad(net, fnn.init(net, seed=1), X, Y, "cross_entropy")
    assert [set(e) for e in errors] == [{"w", "b"}, {"w", "b"}]
    assert max(v for e in errors for v in e.values()) < 1e-6


@attrs.frozen
class HalfGradientDense:
    """A user's Dense layer whose backward forgets half of dL/dw (the bug check_grad must show)."""

    inner: fnn.DenseLayer

    @property
    def activation(self) -> fnn.Activation:
        return self.inner.activation

    @property
    def in_features(self) -> int:
        return self.inner.in_features

    @property
    def out_features(self) -> int:
        return self.inner.out_features

    def init(self, rng: np.random.Generator, scheme: str) -> fnn.Dense:
        return self.inner.init(rng, scheme)

    def forward(self, params: fnn.Dense, x: Any) -> tuple[Any, Cache]:
        return self.inner.forward(params, x)

    def backward(self, params: fnn.Dense, cache: Cache, da: Any, *, wrt_z: bool = False) -> tuple[fnn.Dense, Any]:
        grads, dx = self.inner.backward(params, cache, da, wrt_z=wrt_z)
        return fnn.Dense(w=grads.w * 0.5, b=grads.b), dx

    def check_params(self, params: object, where: str) -> None:
        self.inner.check_params(params, where)

    def model_shape(self, params: fnn.Dense) -> tuple[int, ...]:
        return self.inner.model_shape(params)


def test_a_wrong_backward_is_shown_where_it_is() -> None:
    net = fnn.sequential(HalfGradientDense(fnn.DenseLayer(3, 4, "tanh")), fnn.DenseLayer(4, 3, "softmax"))
    errors = fnn.check_grad(net, fnn.init(net, seed=2), X, Y, "cross_entropy")
    assert errors[0]["w"] > 0.3  # the broken gradient
    assert errors[0]["b"] < 1e-6 and max(errors[1].values()) < 1e-6  # the others are right


def test_parameter_free_layers_report_nothing() -> None:
    net = fnn.cnn(
        fnn.Conv2DLayer((1, 4, 4), 2, 3, activation="tanh"), fnn.FlattenLayer((2, 2, 2)), fnn.DenseLayer(8, 1)
    )
    x = np.random.default_rng(3).standard_normal((5, 16))
    errors = fnn.check_grad(net, fnn.init(net, seed=0), x, np.zeros((5, 1)), "mse")
    assert errors[1] == {} and max(errors[0].values()) < 1e-6


def test_refusals_name_the_argument() -> None:
    net = fnn.mlp((3, 2, 3), output="softmax")
    with pytest.raises(ValueError, match="single model"):
        fnn.check_grad(net, fnn.init(net, seed=[0, 1]), X, Y, "cross_entropy")
    with pytest.raises(ValueError, match="eps must be > 0"):
        fnn.check_grad(net, fnn.init(net, seed=0), X, Y, "cross_entropy", eps=-1.0)
    with pytest.raises(ValueError, match="samples must be an integer >= 1"):
        fnn.check_grad(net, fnn.init(net, seed=0), X, Y, "cross_entropy", samples=0)
