"""The epoch step of a Dense network, computed into buffers reused every epoch.

    supports(run)        -> whether ``DenseStep`` can run this network and loss
    DenseStep(run, layout)(run, flat, state, epoch) -> (flat, state, EpochStats)

For the lab's small arrays, NumPy's cost is per call, and a fresh array
costs a call to the allocator (and, above glibc's threshold, page faults), so
this step computes the reference's formulas (``layers.DenseLayer``,
``activations``, ``losses``) operation for operation, in the same order, but
writes every result into a buffer planned once per batch size.  The same
operations on the same numbers give the same bits: ``tests/test_engine.py``
compares the two over every activation, loss, optimizer and batch mode.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from functional_nn._records import FloatArray
from functional_nn.activations import Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from functional_nn.config import Run
from functional_nn.engine.flat import Layout
from functional_nn.fold import EpochStats, batch_order, sum_in_order
from functional_nn.layers import DenseLayer
from functional_nn.losses import BCE, MSE
from functional_nn.losses import model_sum as _model_sum
from functional_nn.optimizers import OPTIMIZERS, training_update
from functional_nn.tree import global_norm

__all__ = ["DenseStep", "supports"]

_ACTIVATIONS = (Sigmoid, Tanh, ReLU, LeakyReLU, Identity)


def supports(run: Run) -> bool:
    """Dense layers with elementwise built-in activations, mse or bce, and binary labels."""
    dense = all(type(layer) is DenseLayer and type(layer.activation) in _ACTIVATIONS for layer in run.net.layers)
    plain = run.config.clip_norm is None  # (clipping: the generic flat step)
    return dense and plain and type(run.config.loss) in (MSE, BCE) and run.task == "binary"


def _value_into(act: Any, z: FloatArray, a: FloatArray, t: FloatArray, mask: Any) -> None:
    """``a = act.value(z)``, the reference's formula, into ``a`` (``t``, ``mask``: scratch)."""
    if isinstance(act, Sigmoid):
        # 1 / (1 + exp(-z)): four passes instead of the reference's seven.  It is
        # within 3 ulp of the reference's where exp(-z) does not overflow (z > -709.78);
        # below, it gives 0 for results under 1e-308.  So sigmoid networks agree with
        # the reference to 1e-12 (tested), not bit for bit.
        np.negative(z, out=t)
        np.exp(t, out=t)
        np.add(t, 1.0, out=t)
        np.divide(1.0, t, out=a)
    elif isinstance(act, Tanh):
        np.tanh(z, out=a)
    elif isinstance(act, ReLU):
        np.maximum(z, 0.0, out=a)
    elif isinstance(act, LeakyReLU):  # where(z > 0, z, alpha z)
        np.multiply(z, act.alpha, out=a)
        np.greater(z, 0.0, out=mask)
        np.copyto(a, z, where=mask)
    else:
        np.copyto(a, z)


def _backward_into(act: Any, z: FloatArray, a: FloatArray, da: FloatArray, t: FloatArray, mask: Any) -> FloatArray:
    """``act.backward(z, a, da)``, the reference's formula, into ``da`` (returned)."""
    if isinstance(act, Sigmoid):  # a * (1 - a) * da
        np.subtract(1.0, a, out=t)
        np.multiply(a, t, out=t)
        np.multiply(t, da, out=da)
    elif isinstance(act, Tanh):  # (1 - a * a) * da
        np.multiply(a, a, out=t)
        np.subtract(1.0, t, out=t)
        np.multiply(t, da, out=da)
    elif isinstance(act, (ReLU, LeakyReLU)):  # where(z > 0, 1, alpha) * da  (ReLU: (z > 0) * da)
        np.greater(z, 0.0, out=mask)
        if isinstance(act, ReLU):
            np.multiply(mask, da, out=da, casting="unsafe")
        else:
            t.fill(act.alpha)
            np.copyto(t, 1.0, where=mask)
            np.multiply(t, da, out=da)
    return da


class _Buffers:
    """Every array one batch size needs, per layer: z, a, scratch, mask, dL/dx."""

    def __init__(self, run: Run, n: int) -> None:
        lead = run.models
        self.z, self.a, self.t, self.dx = [], [], [], []
        self.mask: list[Any] = []
        for layer in run.net.layers:
            shape = lead + (n, layer.out_features)
            self.z.append(np.empty(shape))
            self.a.append(np.empty(shape))
            self.t.append(np.empty(shape))
            self.mask.append(np.empty(shape, dtype=bool))
            self.dx.append(np.empty(lead + (n, layer.in_features)))
        self.r = np.empty(lead + (n, run.net.out_features))


class DenseStep:
    """``fold.epoch_step`` for a Dense network, into reused buffers (same bits)."""

    def __init__(self, run: Run, layout: Layout) -> None:
        self.layers: tuple[DenseLayer, ...] = tuple(layer for layer in run.net.layers if isinstance(layer, DenseLayer))
        self.layout = layout
        self.model_ndim = len(run.models)
        self._ytrue = run.y >= 0.5
        self.cur = np.empty(run.models + (layout.total,))  # the params the layers read, as views
        self.params = layout.unflatten(self.cur)
        self.bias = [p.b[..., None, :] for p in self.params]
        self.w_t = [p.w.swapaxes(-1, -2) for p in self.params]
        self.grads = np.empty_like(self.cur)
        self.grad_views = layout.unflatten(self.grads, writable=True)
        self.buffers: dict[int, _Buffers] = {}
        self.update = update = training_update(run.config.optimizer)
        # a built-in optimizer computes new arrays from the grads; another might keep them
        self.own_grads = getattr(update, "__code__", None) in {
            getattr(training_update(f()), "__code__", 0) for f in OPTIMIZERS.values()
        }

    def _plan(self, run: Run, n: int) -> _Buffers:
        buf = self.buffers.get(n)
        if buf is None:
            buf = self.buffers[n] = _Buffers(run, n)
        return buf

    def __call__(self, run: Run, flat: FloatArray, state: Any, epoch: int) -> tuple[FloatArray, Any, EpochStats]:
        cfg, x, y = run.config, run.x, run.y
        if cfg.batch_size is None:  # one batch: the loop below, once, without its bookkeeping
            self.cur[...] = flat
            value, a = self._value_and_grad(run, x, y)
            grads = self.grads if self.own_grads else self.grads.copy()
            stats = EpochStats(np.asarray(value), self._hits(a, self._ytrue), global_norm(grads, self.model_ndim) / 1)
            flat, state = self.update(grads, state, flat)
            return flat, state, stats
        order = batch_order(run, epoch)
        if order is not None:
            x, y = x[order], y[order]
        n = x.shape[-2]
        size = cfg.batch_size or n
        values, counts, norms = [], [], []
        for start in range(0, n, size):
            xb, yb = x[..., start : start + size, :], y[..., start : start + size, :]
            self.cur[...] = flat
            value, a = self._value_and_grad(run, xb, yb)
            grads = self.grads if self.own_grads else self.grads.copy()
            norms.append(global_norm(grads, self.model_ndim))
            counts.append(self._hits(a, yb >= 0.5))
            flat, state = self.update(grads, state, flat)
            values.append(value * (xb.shape[-2] / n) if size < n else value)
        stats = EpochStats(
            loss=sum_in_order(values), hits=sum_in_order(counts), grad_norm=sum_in_order(norms) / len(norms)
        )
        return flat, state, stats

    def _hits(self, a: FloatArray, ytrue: Any) -> FloatArray:
        right = (a >= 0.5) == ytrue
        if right.ndim == 2:
            return np.asarray(float(np.count_nonzero(right)))
        out: FloatArray = right.sum(axis=(-2, -1)).astype(np.float64)
        return out

    def _value_and_grad(self, run: Run, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``network.value_and_grad`` into the buffers: ``(loss, output)``; the grads land in ``self.grads``."""
        buf = self._plan(run, x.shape[-2])
        layers, params = self.layers, self.params
        # one model: np.dot, which BLAS computes as matmul does (same bits, tested) with less overhead
        product = np.dot if not self.model_ndim and x.ndim == 2 else np.matmul
        a = x
        for i, layer in enumerate(layers):
            product(a, params[i].w, out=buf.z[i])
            buf.z[i] += self.bias[i]
            _value_into(layer.activation, buf.z[i], buf.a[i], buf.t[i], buf.mask[i])
            a = buf.a[i]
        value, dz = self._loss(run, buf, a, y)
        for i in reversed(range(len(layers))):
            g = self.grad_views[i]
            inputs = buf.a[i - 1] if i else x
            product(inputs.swapaxes(-1, -2), dz, out=g.w)
            np.add.reduce(dz, axis=-2, out=g.b)  # dz.sum(axis=-2)
            if i:
                product(dz, self.w_t[i], out=buf.dx[i])
                prev = layers[i - 1].activation
                dz = _backward_into(prev, buf.z[i - 1], buf.a[i - 1], buf.dx[i], buf.t[i - 1], buf.mask[i - 1])
        return value, a

    def _loss(self, run: Run, buf: _Buffers, a: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The loss's ``value`` and ``delta`` (dL/dz of the output layer) into the buffers."""
        last = len(self.layers) - 1
        z, r, t = buf.z[last], buf.r, buf.t[last]
        count = float(z.shape[-1] * z.shape[-2])
        np.subtract(a, y, out=r)
        if isinstance(run.config.loss, BCE):  # (softplus(z) - y z) summed / count;  (a - y) / count
            np.logaddexp(0.0, z, out=t)
            value = _model_sum(t - y * z) / count
            return value, np.divide(r, count, out=r)
        np.multiply(r, r, out=t)
        value = _model_sum(t) / count
        np.multiply(r, 2.0 / count, out=r)  # dL/da
        return value, _backward_into(self.layers[last].activation, z, a, r, t, buf.mask[last])
