"""Trees of arrays: records (attrs classes) and tuples of them, so optimizers
are written once for every network.

    leaves(tree)                 -> tuple of arrays, in field order, depth first
    tree_map(f, tree, *rest)     -> tree of f(leaf, *rest_leaves), same structure
    global_norm(tree, model_ndim=0) -> per-model Euclidean norm of all leaves together
    tree_unflatten(like, leaves) -> tree shaped as ``like`` holding ``leaves``

A leaf is an ``np.ndarray``; a node is a tuple or an attrs instance whose
fields are trees.  Plain Python scalars and strings in a record (a step count,
a name) are static: ``leaves`` skips them and ``tree_map`` keeps them as they are.  Records are rebuilt without re-running validators (their
leaves come from arithmetic on validated records), and every new array is
made read-only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

import attrs
import numpy as np

from functional_nn._records import FloatArray, readonly, trusted

__all__ = ["global_norm", "leaves", "tree_equal", "tree_map", "tree_unflatten"]

T = TypeVar("T")


_STATIC = (int, float, bool, str, type(None))


def _iter_leaves(tree: object) -> Iterator[FloatArray]:
    if isinstance(tree, _STATIC):
        return
    if isinstance(tree, np.ndarray):
        yield tree
    elif isinstance(tree, tuple):
        for item in tree:
            yield from _iter_leaves(item)
    elif attrs.has(type(tree)):
        for field in attrs.fields(cast(Any, type(tree))):
            yield from _iter_leaves(getattr(tree, field.name))
    else:
        raise TypeError(f"expected a tree of arrays (records, tuples, arrays), found {type(tree).__name__}")


def leaves(tree: object) -> tuple[FloatArray, ...]:
    """All arrays of ``tree``, depth first, records in field order."""
    return tuple(_iter_leaves(tree))


def _mismatch(tree: Any, rest: tuple[Any, ...], broadcast: bool) -> str | None:
    """What keeps the trees ``rest`` from having the node (or leaf shape) of ``tree``, or None."""
    for k, r in enumerate(rest, start=2):
        if isinstance(tree, np.ndarray):
            if not isinstance(r, np.ndarray):
                return f"tree {k} has a {type(r).__name__} where the first has an array"
            if not broadcast and r.shape != tree.shape:
                return f"tree {k} has a leaf of shape {r.shape} where the first has {tree.shape}"
        elif type(r) is not type(tree) or (isinstance(tree, tuple) and len(r) != len(tree)):
            size = f" of {len(r)}" if isinstance(r, tuple) else ""
            want = f" of {len(tree)}" if isinstance(tree, tuple) else ""
            return f"tree {k} has a {type(r).__name__}{size} where the first has a {type(tree).__name__}{want}"
    return None


def _map(f: Callable[..., FloatArray], tree: Any, rest: tuple[Any, ...], broadcast: bool) -> Any:
    if rest and (problem := _mismatch(tree, rest, broadcast)):
        raise ValueError(f"tree_map: the trees must have one structure and leaf shapes: {problem}")
    if isinstance(tree, np.ndarray):
        if any(leaf.dtype.kind not in "biuf" for leaf in (tree, *rest)):
            kinds = ", ".join(str(leaf.dtype) for leaf in (tree, *rest))
            raise TypeError(
                f"tree_map: the leaves of tree (and rest) must be arrays of real numbers, got dtype {kinds}"
            )
        out = f(tree, *rest)
        if isinstance(out, np.generic):
            out = np.asarray(out)
        if not isinstance(out, np.ndarray):
            raise TypeError(f"tree_map: f must return an array, got {type(out).__name__}")
        if out.flags.writeable or out.dtype != np.float64:
            try:  # freeze a view: f may have returned an array someone else holds
                out = readonly(out)
            except (TypeError, OverflowError) as err:
                raise TypeError(
                    f"tree_map: f must return arrays of real numbers for the leaves of tree; {err}"
                ) from None
        return out
    if isinstance(tree, _STATIC):
        return tree
    if isinstance(tree, tuple):
        return tuple(_map(f, t, tuple(r[i] for r in rest), broadcast) for i, t in enumerate(tree))
    cls = type(tree)
    if attrs.has(cls):
        fields = {
            fld.name: _map(f, getattr(tree, fld.name), tuple(getattr(r, fld.name) for r in rest), broadcast)
            for fld in attrs.fields(cls)
        }
        return trusted(cls, **fields)
    raise TypeError(f"expected a tree of arrays (records, tuples, arrays), found {cls.__name__}")


def tree_map(f: Callable[..., FloatArray], tree: T, *rest: T, broadcast: bool = False) -> T:
    """Apply ``f`` leafwise to ``tree`` and the trees ``rest`` of the same structure.

    Args:
        f: called as ``f(leaf, *rest_leaves)``; must return a new array.
        tree: a record, tuple or array.
        rest: trees with exactly the structure of ``tree`` and, unless
            ``broadcast``, the same leaf shapes.
        broadcast: let leaves of different shapes meet in ``f``.

    Returns:
        A new tree of the same structure; the inputs are left unchanged.

    Raises:
        ValueError: if ``rest`` differs from ``tree`` in structure or leaf shapes.

    Example:
        >>> import numpy as np
        >>> tree_map(lambda a, b: a + b, (np.ones(2),), (np.ones(2),))[0]
        array([2., 2.])
    """
    if not callable(f):
        raise TypeError(f"f must be a function of the leaves, got {type(f).__name__}")
    result: T = _map(f, tree, rest, broadcast)
    return result


def tree_unflatten(like: T, new_leaves: Sequence[FloatArray]) -> T:
    """A tree with the structure of ``like`` holding ``new_leaves`` in leaf order.

    Raises:
        ValueError: if the number of leaves differs from ``like``'s.
    """
    count = len(leaves(like))
    if len(new_leaves) != count:
        raise ValueError(f"new_leaves must hold {count} arrays (the leaves of like), got {len(new_leaves)}")
    it = iter(new_leaves)
    result = tree_map(lambda _: next(it), like)
    return result


def global_norm(tree: object, model_ndim: int = 0) -> FloatArray:
    """The Euclidean norm of all leaves of ``tree`` taken as one vector per model.

    The leaves are joined into one vector per model (over all but the leading
    ``model_ndim`` axes).  Where the sum of squares would overflow or
    underflow, the vector is divided by its largest magnitude before squaring,
    so the norm is right for any finite input.  Each
    model's vector is summed by one ``np.vecdot``, in the same order whatever
    the number of models.

    Example:
        >>> import numpy as np
        >>> float(global_norm((np.array([3.0]), np.array([4e200]))))
        4e+200
    """
    if isinstance(tree, np.ndarray) and tree.ndim == model_ndim + 1:
        flat = tree  # already one vector per model
    else:
        parts = [leaf.reshape(leaf.shape[:model_ndim] + (-1,)) for leaf in leaves(tree)]
        flat = np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
    with np.errstate(over="ignore", under="ignore"):  # detected below, and then computed scaled
        sq = np.vecdot(flat, flat)
    norm: FloatArray = np.sqrt(sq)
    low, high = (float(sq), float(sq)) if sq.ndim == 0 else (float(np.min(sq)), float(np.max(sq)))
    if 1e-300 < low and high < 1e300:
        return norm  # no square overflowed or underflowed
    scale = np.max(np.abs(flat), axis=-1, initial=0.0)
    safe = np.where((scale > 0.0) & np.isfinite(scale), scale, 1.0)
    with np.errstate(invalid="ignore"):  # inf / inf where a leaf is inf: the norm is then NaN/inf anyway
        unit = flat / safe[..., None]
    scaled: FloatArray = safe * np.sqrt(np.vecdot(unit, unit))
    return np.where((sq > 1e-300) & (sq < 1e300), norm, scaled)


def tree_equal(a: object, b: object) -> bool:
    """Same structure and bit-identical leaves (NaN equal to NaN)."""
    try:
        la, lb = leaves(a), leaves(b)
    except TypeError:
        return False
    if _structure(a) != _structure(b):
        return False
    return all(x.shape == y.shape and bool(np.array_equal(x, y, equal_nan=True)) for x, y in zip(la, lb, strict=True))


def _structure(tree: object) -> object:
    if isinstance(tree, np.ndarray):
        return ("array", tree.shape)
    if isinstance(tree, tuple):
        return tuple(_structure(t) for t in tree)
    if attrs.has(type(tree)):
        return (type(tree), tuple(_structure(getattr(tree, f.name)) for f in attrs.fields(cast(Any, type(tree)))))
    return tree
