"""Shared assertions for the test suite (optax ``test_utils.py`` style).

check_grad(f, x, g, seed=...)               central differences of ``f`` at ``x`` along
                                            random directions vs. ``<g, direction>``
check_tree_grad(f, params, grads, seed=...) the same, one params leaf at a time
assert_read_only(tree)                      every array of ``tree`` refuses assignment
assert_read_only_registry(registry)         a name -> value mapping that refuses every mutation
assert_trees_equal / assert_trees_close     leafwise comparison (same structure too)
structure(tree)                             a comparable description: node types and leaf shapes
snapshot(tree) / assert_unchanged(tree, s)  writable deep copies of every leaf / nothing was modified
binary_labels(rng, shape)                   random labels in {0., 1.}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import numpy as np
import numpy.typing as npt
import pytest

from functional_nn.tree import leaves, tree_unflatten

FloatArray = npt.NDArray[np.float64]
T = TypeVar("T")

EPS = 1e-5
"""Step of the central differences (float64)."""


def central_difference(
    f: Callable[[FloatArray], float], x: FloatArray, direction: FloatArray, eps: float = EPS
) -> float:
    """``(f(x + eps d) - f(x - eps d)) / (2 eps)``: the derivative of ``f`` along ``d``."""
    return (f(x + eps * direction) - f(x - eps * direction)) / (2.0 * eps)


def check_grad(
    f: Callable[[FloatArray], float],
    x: FloatArray,
    g: FloatArray,
    *,
    seed: int,
    directions: int = 3,
    eps: float = EPS,
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> None:
    """Assert that ``g`` is the gradient of the scalar ``f`` at ``x``.

    Along ``directions`` random unit directions ``d``, the central difference of
    ``f`` must match ``vdot(g, d)`` to ``atol + rtol * max(|numeric|, |analytic|)``.
    """
    assert g.shape == x.shape, f"gradient shape {g.shape} != input shape {x.shape}"
    assert np.all(np.isfinite(g)), "gradient has NaN/inf entries"
    rng = np.random.default_rng(seed)
    for i in range(directions):
        d = rng.standard_normal(x.shape)
        d /= np.linalg.norm(d)
        numeric = central_difference(f, x, d, eps)
        analytic = float(np.vdot(g, d))
        tol = atol + rtol * max(abs(numeric), abs(analytic))
        assert abs(numeric - analytic) <= tol, (
            f"direction {i}: finite differences give {numeric!r}, the gradient gives {analytic!r} "
            f"(difference {abs(numeric - analytic):.3g} > tolerance {tol:.3g})"
        )


def check_tree_grad(
    f: Callable[[T], float],
    params: T,
    grads: T,
    *,
    seed: int,
    directions: int = 2,
    eps: float = EPS,
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> None:
    """Assert that ``grads`` is the gradient of ``f`` at ``params``, leaf by leaf.

    Each leaf is perturbed alone (the others held fixed) along random directions.
    """
    p_leaves = leaves(params)
    g_leaves = leaves(grads)
    assert structure(grads) == structure(params), "grads must have exactly the structure of params"
    for i, (p, g) in enumerate(zip(p_leaves, g_leaves, strict=True)):

        def along_leaf(x: FloatArray, i: int = i) -> float:
            new = tuple(np.array(x) if j == i else np.array(q) for j, q in enumerate(p_leaves))
            return f(tree_unflatten(params, new))

        try:
            check_grad(
                along_leaf, np.array(p), g, seed=seed + 1000 * i, directions=directions, eps=eps, rtol=rtol, atol=atol
            )
        except AssertionError as err:
            raise AssertionError(f"leaf {i} (shape {p.shape}): {err}") from err


def structure(tree: object) -> object:
    """Node types, leaf shapes and static values of a tree of arrays, as nested tuples (comparable with ==)."""
    if isinstance(tree, np.ndarray):
        return ("array", tree.shape)
    if isinstance(tree, tuple):
        return ("tuple", tuple(structure(t) for t in tree))
    cls: Any = type(tree)
    if attrs.has(cls):
        return (cls.__name__, tuple((f.name, structure(getattr(tree, f.name))) for f in attrs.fields(cls)))
    return ("value", repr(tree))  # a static value (a name, a count) must match too


def assert_read_only(tree: object) -> None:
    """Every array of ``tree`` is read-only: its flag is off and assignment raises ValueError."""
    arrays = leaves(tree)
    for i, a in enumerate(arrays):
        assert not a.flags.writeable, f"leaf {i} (shape {a.shape}) is writable"
        with pytest.raises(ValueError, match="read-only"):
            a[...] = 0.0


def assert_read_only_registry(registry: Mapping[str, object]) -> None:
    """A registry refuses every mutation (item assignment and deletion, the dict methods) and is unchanged after."""
    before = dict(registry)
    name = next(iter(before))
    writable: Any = registry  # the attempts below are what a user could type, refused or not

    def replace() -> None:
        writable[name] = None

    def add() -> None:
        writable["new_name"] = None

    def delete() -> None:
        del writable[name]

    attempts: dict[str, Callable[[], object]] = {
        "replace a name": replace,
        "add a name": add,
        "delete a name": delete,
        "update": lambda: writable.update({name: None}),
        "pop": lambda: writable.pop(name),
        "setdefault": lambda: writable.setdefault("new_name", None),
        "clear": lambda: writable.clear(),
    }
    for what, attempt in attempts.items():
        try:
            attempt()
        except (TypeError, AttributeError):
            continue
        raise AssertionError(f"the registry allowed this mutation: {what}")
    assert dict(registry) == before, "a refused mutation still changed the registry"


def snapshot(tree: object) -> tuple[FloatArray, ...]:
    """Writable copies of every leaf of ``tree`` (to check later that it was not modified)."""
    return tuple(np.array(a, copy=True) for a in leaves(tree))


def assert_unchanged(tree: object, before: tuple[FloatArray, ...]) -> None:
    """``tree`` still holds exactly the values copied by ``snapshot``."""
    now = leaves(tree)
    assert len(now) == len(before)
    for i, (a, b) in enumerate(zip(now, before, strict=True)):
        assert a.shape == b.shape and np.array_equal(a, b, equal_nan=True), f"leaf {i} was modified"


def assert_trees_equal(a: object, b: object) -> None:
    """Same structure and bit-identical leaves."""
    assert structure(a) == structure(b)
    for i, (x, y) in enumerate(zip(leaves(a), leaves(b), strict=True)):
        assert np.array_equal(x, y, equal_nan=True), f"leaf {i} differs"


def assert_trees_close(a: object, b: object, *, rtol: float = 1e-12, atol: float = 0.0) -> None:
    """Same structure and leaves equal to ``rtol`` (relative) / ``atol``."""
    assert structure(a) == structure(b)
    for i, (x, y) in enumerate(zip(leaves(a), leaves(b), strict=True)):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=f"leaf {i}")


def binary_labels(rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
    """Random labels in {0., 1.}."""
    return rng.integers(0, 2, size=shape).astype(np.float64)


def unwritable_folder(tmp_path: Path) -> Path:
    """An existing folder where no file can be created (root ignores permission bits: /sys then)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    for candidate in (folder, Path("/sys")):
        try:
            (candidate / ".probe").touch()
        except OSError:
            return candidate
        (candidate / ".probe").unlink()
    pytest.skip("no unwritable folder available")
