"""Tests of functional_nn.tree: leaves, tree_map, tree_unflatten, global_norm, tree_equal."""

from __future__ import annotations

import math
import warnings

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn.tree import global_norm, leaves, tree_equal, tree_unflatten
from tests.helpers import FloatArray, assert_read_only, assert_trees_equal, structure


def sample_params() -> tuple[fnn.Dense, ...]:
    return fnn.init(fnn.mlp((2, 3, 1)), seed=0)


def test_leaves_order_is_depth_first_field_order() -> None:
    params = sample_params()
    got = leaves(params)
    expected = (params[0].w, params[0].b, params[1].w, params[1].b)
    assert len(got) == 4
    assert all(a is b for a, b in zip(got, expected, strict=True))


def test_leaves_of_states_and_plain_tuples() -> None:
    a, b = np.zeros(2), np.ones((2, 2))
    assert len(leaves((a, (b, a)))) == 3
    assert leaves(a)[0] is a
    assert leaves(fnn.EmptyState()) == ()
    assert len(leaves(fnn.momentum(lr=0.1).init(sample_params()))) == 4


@pytest.mark.parametrize("name", tuple(fnn.OPTIMIZERS))
def test_every_optimizer_state_is_a_tree(name: str) -> None:
    """States are records of trees, so leaves/tree_map (and io, and checks) work on any of them."""
    params = sample_params()
    opt = fnn.make_optimizer(name)
    _, state = opt.update(params, opt.init(params), params)
    state_leaves = leaves(state)
    assert all(np.all(np.isfinite(a)) for a in state_leaves)
    copy = fnn.tree_map(np.copy, state)
    assert type(copy) is type(state)
    assert_trees_equal(copy, state)


@attrs.frozen
class Tagged:
    """A record with static fields (a count, a name) beside its array."""

    count: int
    name: str
    values: FloatArray


def test_static_fields_are_skipped_by_leaves_and_kept_by_tree_map() -> None:
    tagged = Tagged(count=3, name="x", values=np.ones(2))
    assert len(leaves(tagged)) == 1 and leaves(tagged)[0] is tagged.values
    out = fnn.tree_map(lambda a: 2.0 * a, tagged)
    assert isinstance(out, Tagged) and out.count == 3 and out.name == "x"
    np.testing.assert_array_equal(out.values, [2.0, 2.0])
    assert tree_unflatten(tagged, (np.zeros(2),)).count == 3


def test_leaves_rejects_non_trees() -> None:
    with pytest.raises(TypeError, match=r"expected a tree of arrays.*found list"):
        leaves([np.zeros(2)])
    with pytest.raises(TypeError, match="found dict"):
        leaves((np.zeros(2), {"a": np.zeros(1)}))


def test_tree_map_structure_values_and_read_only() -> None:
    params = sample_params()
    doubled = fnn.tree_map(lambda a: 2.0 * a, params)
    assert structure(doubled) == structure(params)
    assert all(isinstance(p, fnn.Dense) for p in doubled)
    for x, y in zip(leaves(doubled), leaves(params), strict=True):
        np.testing.assert_array_equal(x, 2.0 * y)
    assert_read_only(doubled)


def test_read_only_check_fails_a_writable_leaf() -> None:
    """The helper the purity tests rely on is not vacuous."""
    with pytest.raises(AssertionError, match=r"leaf 1 \(shape \(2,\)\) is writable"):
        assert_read_only(fnn.tree_map(np.copy, (np.zeros(3),)) + (np.zeros(2),))


def test_tree_map_several_trees() -> None:
    a, b = sample_params(), fnn.init(fnn.mlp((2, 3, 1)), seed=1)
    total = fnn.tree_map(lambda x, y: x + y, a, b)
    for s, x, y in zip(leaves(total), leaves(a), leaves(b), strict=True):
        np.testing.assert_array_equal(s, x + y)


def test_tree_map_leaves_inputs_unchanged_and_callers_writable() -> None:
    mine = (np.array([1.0, 2.0]), np.array([[3.0]]))
    out = fnn.tree_map(lambda a: a * 3.0, mine)
    np.testing.assert_array_equal(mine[0], [1.0, 2.0])
    assert mine[0].flags.writeable and mine[1].flags.writeable
    np.testing.assert_array_equal(out[0], [3.0, 6.0])


def test_tree_map_identity_freezes_a_view_not_the_callers_array() -> None:
    mine = (np.array([1.0, 2.0]),)
    out = fnn.tree_map(lambda a: a, mine)
    assert mine[0].flags.writeable
    assert not out[0].flags.writeable


def test_tree_map_returning_another_tree_leaf_keeps_it_writable() -> None:
    a, b = (np.zeros(2),), (np.ones(2),)
    out = fnn.tree_map(lambda x, y: y, a, b)
    assert b[0].flags.writeable
    assert not out[0].flags.writeable


def test_tree_map_rebuilds_records_without_running_validators_on_each_leaf() -> None:
    """Records come back as the same class, frozen, with read-only arrays."""
    state = fnn.momentum(lr=0.1).init(sample_params())
    out = fnn.tree_map(lambda a: a + 1.0, state)
    assert isinstance(out, fnn.MomentumState)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        out.velocity = ()  # type: ignore[misc]
    assert_read_only(out)


def test_tree_map_errors() -> None:
    with pytest.raises(TypeError, match="f must return an array, got float"):
        fnn.tree_map(lambda a: float(a.sum()), (np.zeros(2),))  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="expected a tree of arrays"):
        fnn.tree_map(lambda a: a, [np.zeros(2)])


@pytest.mark.parametrize(
    ("other", "match"),
    [
        ((np.zeros(2),), r"tree 2 has a tuple of 1 where the first has a tuple of 2"),
        ((np.zeros(2), np.zeros(4)), r"tree 2 has a leaf of shape \(4,\) where the first has \(3,\)"),
        ((np.zeros(2), (np.zeros(3),)), r"tree 2 has a tuple where the first has an array"),
        ((np.zeros(2), fnn.EmptyState()), r"tree 2 has a EmptyState where the first has an array"),
    ],
    ids=["fewer nodes", "leaf shape", "tuple for a leaf", "record for a leaf"],
)
def test_tree_map_refuses_trees_of_other_structures(other: tuple[object, ...], match: str) -> None:
    tree = (np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match=r"tree_map: the trees must have one structure and leaf shapes: " + match):
        fnn.tree_map(lambda a, b: a + b, tree, other)


def test_tree_map_broadcast_lets_leaf_shapes_differ() -> None:
    out = fnn.tree_map(lambda a, b: a * b, (np.ones((2, 3)),), (np.array([1.0, 2.0, 3.0]),), broadcast=True)
    np.testing.assert_array_equal(out[0], [[1.0, 2.0, 3.0]] * 2)
    with pytest.raises(ValueError, match=r"tree 2 has a tuple where the first has an array"):
        fnn.tree_map(lambda a, b: a * b, (np.ones(2),), ((np.ones(2),),), broadcast=True)  # structure still checked


def test_tree_unflatten_round_trip() -> None:
    params = sample_params()
    again = tree_unflatten(params, leaves(params))
    assert_trees_equal(again, params)
    assert again == params


def test_tree_unflatten_places_new_leaves() -> None:
    like = sample_params()
    new = tuple(np.full(a.shape, float(i)) for i, a in enumerate(leaves(like)))
    out = tree_unflatten(like, new)
    assert structure(out) == structure(like)
    for i, a in enumerate(leaves(out)):
        np.testing.assert_array_equal(a, float(i))
    assert_read_only(out)


def test_tree_unflatten_leaves_the_callers_arrays_writable() -> None:
    """DESIGN principle 2: freeze a view, never the caller's own array."""
    like = (np.zeros(2), np.zeros(3))
    mine = (np.ones(2), np.ones(3))
    out = tree_unflatten(like, mine)
    assert not out[0].flags.writeable
    assert mine[0].flags.writeable and mine[1].flags.writeable, "tree_unflatten froze the caller's arrays in place"


def test_tree_unflatten_refuses_the_wrong_number_of_leaves() -> None:
    like = sample_params()
    new = leaves(like)
    with pytest.raises(ValueError, match=r"new_leaves must hold 4 arrays \(the leaves of like\), got 3"):
        tree_unflatten(like, new[:3])
    with pytest.raises(ValueError, match=r"new_leaves must hold 4 arrays \(the leaves of like\), got 5"):
        tree_unflatten(like, (*new, new[0]))


# ------------------------------------------------------------- global_norm ---


def test_global_norm_is_the_norm_of_all_leaves_joined() -> None:
    a = (np.array([3.0]), fnn.Dense(w=np.array([[4.0, 0.0]]), b=np.array([0.0, 12.0])))
    assert float(global_norm(a)) == 13.0
    params = sample_params()
    flat = np.concatenate([leaf.ravel() for leaf in leaves(params)])
    np.testing.assert_allclose(global_norm(params), np.linalg.norm(flat), rtol=1e-15)
    assert global_norm(params).shape == ()


def test_global_norm_per_model_equals_each_model_alone() -> None:
    net = fnn.mlp((2, 3, 1))
    stacked = fnn.init(net, seed=[0, 1, 2])
    per_model = global_norm(stacked, model_ndim=1)
    assert per_model.shape == (3,)
    for k in range(3):
        assert per_model[k] == pytest.approx(float(global_norm(fnn.init(net, seed=k))), rel=1e-15)
    # a bare array of one vector per model
    rows = np.array([[3.0, 4.0], [5.0, 12.0]])
    np.testing.assert_array_equal(global_norm(rows, model_ndim=1), [5.0, 13.0])


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        ((np.array([1e200, 1e200]),), math.sqrt(2.0) * 1e200),  # the squares overflow
        ((np.array([1e308]), np.array([[1e308]])), math.sqrt(2.0) * 1e308),
        ((np.array([-1e308, 1e308]), np.array([1e308])), math.sqrt(3.0) * 1e308),  # near the largest float, 1.8e308
        ((np.array([1e-200, 1e-200]),), math.sqrt(2.0) * 1e-200),  # the squares underflow
        ((np.array([5e-324, 5e-324]),), 5e-324),  # subnormal
        ((np.array([3e-170]), np.array([4e-170])), 5e-170),
        ((np.zeros(3),), 0.0),
    ],
    ids=["1e200", "1e308", "1.7e308", "1e-200", "subnormal", "3-4-5 tiny", "zeros"],
)
def test_global_norm_neither_overflows_nor_underflows(tree: tuple[FloatArray, ...], expected: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        got = float(global_norm(tree))
    assert got == pytest.approx(expected, rel=4e-16, abs=0.0)


def test_global_norm_stacked_overflow_in_one_model_only() -> None:
    rows = np.array([[1e200, 1e200], [3.0, 4.0], [1e-200, 1e-200]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = global_norm((rows,), model_ndim=1)
    np.testing.assert_allclose(got, [math.sqrt(2.0) * 1e200, 5.0, math.sqrt(2.0) * 1e-200], rtol=4e-16)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: v == 0.0 or 1e-150 < abs(v) < 1e150),
        min_size=1,
        max_size=30,
    ),
    split=st.integers(0, 30),
)
def test_global_norm_property_equals_linalg_norm_where_squares_fit(values: list[float], split: int) -> None:
    """Away from over/underflow of the squares: np.linalg.norm of the concatenation, to 1e-15."""
    flat = np.array(values)
    tree = (flat[:split], fnn.EmptyState(), (flat[split:],))
    np.testing.assert_allclose(global_norm(tree), np.linalg.norm(flat), rtol=1e-15, atol=0.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=-1e300, max_value=1e300), min_size=1, max_size=8))
def test_global_norm_property_equals_math_hypot_everywhere(values: list[float]) -> None:
    """Over the whole range (huge, tiny, subnormal values): math.hypot, to 1e-15."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = float(global_norm(np.array(values)))
    assert got == pytest.approx(math.hypot(*values), rel=1e-15, abs=0.0)


# --------------------------------------------------------------- tree_equal ---


def test_tree_equal() -> None:
    params = sample_params()
    assert tree_equal(params, fnn.tree_map(np.copy, params))
    assert not tree_equal(params, fnn.tree_map(lambda a: a + 1.0, params))
    assert not tree_equal(params, params[:1])
    assert not tree_equal((np.zeros(2),), (np.zeros((1, 2)),))  # same values, other shape
    assert tree_equal((np.array([np.nan]),), (np.array([np.nan]),))  # NaN equals NaN
    assert not tree_equal((np.zeros(2),), [np.zeros(2)])  # a list is not a tree


leaf_shapes = st.lists(st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple), min_size=1, max_size=4)


@settings(max_examples=30, deadline=None)
@given(shapes=leaf_shapes, seed=st.integers(0, 1000))
def test_tree_property_map_and_unflatten_round_trip(shapes: list[tuple[int, ...]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    tree = tuple(fnn.Dense(w=rng.standard_normal((*s, 2, 3)), b=rng.standard_normal((*s, 3))) for s in shapes)
    copy: tuple[fnn.Dense, ...] = fnn.tree_map(np.copy, tree)
    assert copy == tree
    assert_trees_equal(tree_unflatten(tree, leaves(copy)), tree)
    assert float(global_norm(tree)) == pytest.approx(math.sqrt(sum(float(np.sum(a * a)) for a in leaves(tree))))
