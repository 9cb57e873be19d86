"""Tests of functional_nn.tree: leaves, tree_map, tree_unflatten, tree_vdot."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from tests.helpers import FloatArray, assert_read_only, assert_trees_equal, structure


def sample_params() -> fnn.Params:
    return fnn.init(fnn.mlp((2, 3, 1)), seed=0)


def test_leaves_order_is_depth_first_field_order() -> None:
    params = sample_params()
    got = fnn.leaves(params)
    expected = (params[0].w, params[0].b, params[1].w, params[1].b)
    assert len(got) == 4
    assert all(a is b for a, b in zip(got, expected, strict=True))


def test_leaves_of_states_and_plain_tuples() -> None:
    a, b = np.zeros(2), np.ones((2, 2))
    assert len(fnn.leaves((a, (b, a)))) == 3
    assert fnn.leaves(a)[0] is a
    assert fnn.leaves(fnn.EmptyState()) == ()
    assert len(fnn.leaves(fnn.momentum(lr=0.1).init(sample_params()))) == 4


@pytest.mark.parametrize("name", tuple(fnn.OPTIMIZERS))
def test_every_optimizer_state_is_a_tree(name: str) -> None:
    """States are records of trees, so leaves/tree_map (and io, and checks) work on any of them."""
    params = sample_params()
    opt = fnn.make_optimizer(name)
    _, state = opt.update(params, opt.init(params), params)
    state_leaves = fnn.leaves(state)
    assert all(np.all(np.isfinite(a)) for a in state_leaves)
    copy = fnn.tree_map(np.copy, state)
    assert type(copy) is type(state)
    assert_trees_equal(copy, state)


def test_leaves_rejects_non_trees() -> None:
    with pytest.raises(TypeError, match=r"expected a tree of arrays.*found list"):
        fnn.leaves([np.zeros(2)])
    with pytest.raises(TypeError, match="found dict"):
        fnn.leaves((np.zeros(2), {"a": np.zeros(1)}))


def test_tree_map_structure_values_and_read_only() -> None:
    params = sample_params()
    doubled = fnn.tree_map(lambda a: 2.0 * a, params)
    assert structure(doubled) == structure(params)
    assert all(isinstance(p, fnn.Dense) for p in doubled)
    for x, y in zip(fnn.leaves(doubled), fnn.leaves(params), strict=True):
        np.testing.assert_array_equal(x, 2.0 * y)
    assert_read_only(doubled)


def test_tree_map_several_trees() -> None:
    a, b = sample_params(), fnn.init(fnn.mlp((2, 3, 1)), seed=1)
    total = fnn.tree_map(lambda x, y: x + y, a, b)
    for s, x, y in zip(fnn.leaves(total), fnn.leaves(a), fnn.leaves(b), strict=True):
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


def test_tree_unflatten_round_trip() -> None:
    params = sample_params()
    again = fnn.tree_unflatten(params, fnn.leaves(params))
    assert_trees_equal(again, params)
    assert again == params


def test_tree_unflatten_places_new_leaves() -> None:
    like = sample_params()
    new = tuple(np.full(a.shape, float(i)) for i, a in enumerate(fnn.leaves(like)))
    out = fnn.tree_unflatten(like, new)
    assert structure(out) == structure(like)
    for i, a in enumerate(fnn.leaves(out)):
        np.testing.assert_array_equal(a, float(i))
    assert_read_only(out)


def test_tree_unflatten_leaves_the_callers_arrays_writable() -> None:
    """DESIGN principle 2: freeze a view, never the caller's own array."""
    like = (np.zeros(2), np.zeros(3))
    mine = (np.ones(2), np.ones(3))
    out = fnn.tree_unflatten(like, mine)
    assert not out[0].flags.writeable
    assert mine[0].flags.writeable and mine[1].flags.writeable, "tree_unflatten froze the caller's arrays in place"


def test_tree_vdot() -> None:
    a = (np.array([1.0, 2.0]), np.array([[3.0]]))
    b = (np.array([4.0, 5.0]), np.array([[6.0]]))
    assert float(fnn.tree_vdot(a, b)) == 1 * 4 + 2 * 5 + 3 * 6
    net = fnn.mlp((2, 3, 1))
    stacked = fnn.init(net, seed=[0, 1, 2])
    per_model = fnn.tree_vdot(stacked, stacked, model_ndim=1)
    assert per_model.shape == (3,)
    for k in range(3):
        single = fnn.init(net, seed=k)
        assert per_model[k] == pytest.approx(float(fnn.tree_vdot(single, single)), rel=1e-14)


leaf_shapes = st.lists(st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple), min_size=1, max_size=4)


@settings(max_examples=30, deadline=None)
@given(shapes=leaf_shapes, seed=st.integers(0, 1000))
def test_tree_property_map_and_unflatten_round_trip(shapes: list[tuple[int, ...]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    tree = tuple(fnn.Dense(w=rng.standard_normal((*s, 2, 3)), b=rng.standard_normal((*s, 3))) for s in shapes)
    copy: tuple[fnn.Dense, ...] = fnn.tree_map(np.copy, tree)
    assert copy == tree
    assert_trees_equal(fnn.tree_unflatten(tree, fnn.leaves(copy)), tree)
    total: FloatArray = fnn.tree_vdot(tree, tree)
    assert float(total) == pytest.approx(sum(float(np.sum(a * a)) for a in fnn.leaves(tree)))
