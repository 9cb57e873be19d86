"""The flat layout: params, gradients and optimizer states as one vector per model.

    Layout.of(params, models)        -> Layout
    layout.flatten(params)           -> `(*models, total)`      # every leaf raveled, joined
    layout.unflatten(flat)           -> params records of read-only views into ``flat``
    layout.to_flat(tree)             -> the same tree with every params tuple flattened
    layout.to_records(tree)          -> the reverse
    layout.value_and_grad(layers, flat, x, y, loss) -> (loss, flat grads, output)
    flat_start(start, layout)        -> the start with params and states flattened

An elementwise optimizer step on one flat vector is one NumPy operation per
formula instead of one per leaf, and the gradient norm one dot product.  The
arithmetic is the reference's, element for element (the layers compute on
views, the optimizer's own update runs on the flat vectors, and the norm
joins the leaves in the same order), so the results are bit-identical.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from functional_nn._records import FloatArray
from functional_nn.fold import Start
from functional_nn.layers import Layer
from functional_nn.losses import Loss
from functional_nn.network import value_and_grad

__all__ = ["Layout", "flat_start"]

_Field = tuple[str, int, int, tuple[int, ...]]  # name, start, stop, shape per model


@attrs.frozen
class Layout:
    """Where each leaf of the params lives in one flat vector per model."""

    models: tuple[int, ...]
    records: tuple[tuple[type, tuple[_Field, ...]], ...]
    total: int

    @classmethod
    def of(cls, params: tuple[Any, ...], models: tuple[int, ...]) -> Layout:
        records, offset = [], 0
        for record in params:
            fields = []
            for f in attrs.fields(type(record)):
                shape = tuple(getattr(record, f.name).shape[len(models) :])
                size = int(np.prod(shape, dtype=np.int64))
                fields.append((f.name, offset, offset + size, shape))
                offset += size
            records.append((type(record), tuple(fields)))
        return cls(models=models, records=tuple(records), total=offset)

    def flatten(self, params: tuple[Any, ...]) -> FloatArray:
        """`(*models, total)`: every leaf of ``params`` (or grads) raveled and joined, in leaf order."""
        lead = self.models + (-1,)
        parts = [getattr(r, f[0]).reshape(lead) for r, (_, fields) in zip(params, self.records) for f in fields]
        return np.concatenate(parts, axis=-1) if len(parts) != 1 else parts[0].copy()

    def unflatten(self, flat: FloatArray, *, writable: bool = False) -> tuple[Any, ...]:
        """Params records whose arrays are read-only views into ``flat`` (writable: the engine's own buffers)."""
        out = []
        for cls, fields in self.records:
            record: Any = object.__new__(cls)
            for name, start, stop, shape in fields:
                view = flat[..., start:stop].reshape(self.models + shape)
                view.flags.writeable = writable
                object.__setattr__(record, name, view)
            out.append(record)
        return tuple(out)

    def _is_params(self, tree: object) -> bool:
        return (
            isinstance(tree, tuple)
            and len(tree) == len(self.records)
            and all(type(r) is cls for r, (cls, _) in zip(tree, self.records))
        )

    def to_flat(self, tree: Any) -> Any:
        """``tree`` (params, or an optimizer state holding params-like trees) with each params tuple flattened."""
        if self._is_params(tree):
            return self.flatten(tree)
        if attrs.has(type(tree)):
            return attrs.evolve(tree, **{f.name: self.to_flat(getattr(tree, f.name)) for f in attrs.fields(type(tree))})
        return tree

    def to_records(self, tree: Any) -> Any:
        """The reverse of ``to_flat``: every flat `(*models, total)` array as params records."""
        if isinstance(tree, np.ndarray):
            return self.unflatten(tree) if tree.shape == self.models + (self.total,) else tree
        if attrs.has(type(tree)):
            fields = {f.name: self.to_records(getattr(tree, f.name)) for f in attrs.fields(type(tree))}
            return attrs.evolve(tree, **fields)
        return tree

    def value_and_grad(
        self, layers: tuple[Layer, ...], flat: FloatArray, x: FloatArray, y: FloatArray, loss: Loss
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``network.value_and_grad`` on the params of ``flat``, with flat grads."""
        value, grads, a = value_and_grad(layers, self.unflatten(flat), x, y, loss)
        return value, self.flatten(grads), a


def flat_start(start: Start, layout: Layout) -> Start:
    """``start`` with its params and optimizer states flattened."""
    c = start.carry
    carry = attrs.evolve(
        c,
        params=layout.flatten(c.params),
        state=layout.to_flat(c.state),
        prev_params=layout.flatten(c.prev_params),
        prev_state=layout.to_flat(c.prev_state),
        watch=layout.to_flat(c.watch),
    )
    return attrs.evolve(start, carry=carry)
