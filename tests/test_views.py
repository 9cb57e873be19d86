"""functional_nn.views: the data of the training explorer, pure and checked on its own."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import views


def _net(hidden: str = "tanh") -> fnn.Network[fnn.Dense]:
    return fnn.mlp((2, 3, 4, 1), hidden=hidden, output="sigmoid")


def _run(epochs: int = 12, every: int | None = 1, **config: Any) -> tuple[fnn.Trace, Any, fnn.Dataset, fnn.Dataset]:
    train, test = fnn.split(fnn.generate_circle(60, seed=0), test_fraction=0.3, seed=0)
    net = _net()
    initial = fnn.init(net, seed=0, scheme="xavier")
    cfg = fnn.TrainConfig(epochs=epochs, optimizer=fnn.adam(lr=0.05), loss="bce", snapshot_every=every, **config)
    return fnn.train(net, initial, train, cfg, validation=test), initial, train, test


# ------------------------------------------------------------------ plane ---


def test_plane_is_a_square_around_the_points_in_image_order() -> None:
    x = np.array([[0.0, 0.0], [2.0, 1.0]])
    g = views.plane(x, 4, margin=0.5)
    assert g.x1 == (-0.5, 2.5) and g.x2 == (-1.0, 2.0) and g.size == 4
    pts = g.points
    assert pts.shape == (16, 2) and not pts.flags.writeable
    # row 0 is the top (largest x2), column 0 the left (smallest x1), at the cells' centres
    assert pts[0].tolist() == [-0.125, 1.625]
    assert pts[3].tolist() == [2.125, 1.625]
    assert pts[-1].tolist() == [2.125, -0.625]
    assert np.all((pts[:, 0] > g.x1[0]) & (pts[:, 0] < g.x1[1]) & (pts[:, 1] > g.x2[0]) & (pts[:, 1] < g.x2[1]))


def test_plane_of_one_point_has_a_unit_square() -> None:
    g = views.plane([[3.0, 4.0]], 2, margin=0.0)
    assert g.x1 == (2.0, 4.0) and g.x2 == (3.0, 5.0)


@pytest.mark.parametrize(
    ("args", "kind", "name"),
    [
        (([[0.0, 0.0, 0.0]],), ValueError, "x must have shape (n, 2)"),
        (([0.0, 1.0],), ValueError, "x must have at least 2 axes"),
        (([[0.0, np.nan]],), ValueError, "x must be finite"),
        (("ab",), TypeError, "x must be an array"),
        (([[0.0, 1.0]], 1), ValueError, "size must be an integer >= 2"),
        (([[0.0, 1.0]], 2.5), TypeError, "size must be an integer"),
        (([[0.0, 1.0]], 5000), ValueError, "size must be an integer <= 1024"),
    ],
)
def test_plane_refuses_bad_input_by_name(args: tuple[Any, ...], kind: type[Exception], name: str) -> None:
    with pytest.raises(kind, match=rf"^{name.replace('(', '[(]').replace(')', '[)]')}"):
        views.plane(*args)


def test_plane_refuses_a_negative_margin() -> None:
    with pytest.raises(ValueError, match=r"^margin must be >= 0"):
        views.plane([[0.0, 1.0]], margin=-0.1)


# ------------------------------------------------------- layer outputs ---


def test_layer_outputs_are_the_forward_fold() -> None:
    net = _net()
    params = fnn.init(net, seed=3)
    x = np.random.default_rng(0).normal(size=(7, 2))
    outs = views.layer_outputs(net, params, x)
    assert [a.shape for a in outs] == [(7, 3), (7, 4), (7, 1)]
    assert all(not a.flags.writeable for a in outs)
    h1 = np.tanh(x @ params[0].w + params[0].b)
    h2 = np.tanh(h1 @ params[1].w + params[1].b)
    np.testing.assert_allclose(outs[0], h1, rtol=1e-14)
    np.testing.assert_allclose(outs[1], h2, rtol=1e-14)
    assert np.array_equal(outs[-1], fnn.forward(net, params, x))


def test_layer_outputs_of_a_stack_equal_each_model_alone() -> None:
    net = _net("relu")
    stack = fnn.init(net, seed=[0, 1, 2])
    x = np.random.default_rng(1).normal(size=(5, 2))
    outs = views.layer_outputs(net, stack, x)
    assert [a.shape for a in outs] == [(3, 5, 3), (3, 5, 4), (3, 5, 1)]
    for k in range(3):
        alone = views.layer_outputs(net, fnn.init(net, seed=k), x)
        for a, b in zip(outs, alone, strict=True):
            np.testing.assert_allclose(a[k], b, rtol=1e-13, atol=1e-15)
    per_model = np.stack([x, 2 * x, -x])  # one batch per model
    assert views.layer_outputs(net, stack, per_model)[-1].shape == (3, 5, 1)


def test_layer_outputs_refuse_bad_input_by_name() -> None:
    net, params = _net(), fnn.init(_net(), seed=0)
    with pytest.raises(TypeError, match=r"^net must be a Network"):
        views.layer_outputs("net", params, [[0.0, 0.0]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^params must be a tuple of 3 records"):
        views.layer_outputs(net, params[:2], [[0.0, 0.0]])
    with pytest.raises(ValueError, match=r"^x must have shape \(n, 2\)"):
        views.layer_outputs(net, params, [[0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"^x must be finite"):
        views.layer_outputs(net, params, [[0.0, np.inf]])


def test_layer_outputs_refuse_an_overflow() -> None:
    net = fnn.mlp((2, 2, 1), hidden="identity", output="identity")
    big = (fnn.Dense(w=np.full((2, 2), 1e200), b=np.zeros(2)), fnn.Dense(w=np.full((2, 1), 1e200), b=np.zeros(1)))
    with pytest.raises(ValueError, match=r"^layer_outputs: .* layer 1 overflowed"):
        views.layer_outputs(net, big, [[1e10, 1e10]])


# ------------------------------------------------------------ unit maps ---


def test_unit_maps_are_the_layer_outputs_over_the_grid() -> None:
    net = _net()
    params = fnn.init(net, seed=1)
    g = views.plane([[-1.0, -1.0], [1.0, 1.0]], 5)
    maps = views.unit_maps(net, params, g)
    assert [m.shape for m in maps] == [(3, 5, 5), (4, 5, 5), (1, 5, 5)]
    outs = views.layer_outputs(net, params, g.points)
    for m, a in zip(maps, outs, strict=True):
        for i in range(5):
            for j in range(5):
                assert np.array_equal(m[:, i, j], a[i * 5 + j])
    assert np.array_equal(maps[-1][0].ravel(), fnn.forward(net, params, g.points)[:, 0])


def test_unit_maps_of_a_stack_have_a_model_axis() -> None:
    net = _net()
    stack = fnn.init(net, seed=[4, 5])
    g = views.plane([[0.0, 0.0], [1.0, 1.0]], 6)
    maps = views.unit_maps(net, stack, g)
    assert [m.shape for m in maps] == [(2, 3, 6, 6), (2, 4, 6, 6), (2, 1, 6, 6)]
    alone = views.unit_maps(net, fnn.init(net, seed=5), g)
    np.testing.assert_allclose(maps[1][1], alone[1], rtol=1e-13)


def test_unit_maps_refuse_bad_input_by_name() -> None:
    g = views.plane([[0.0, 0.0]], 3)
    three = fnn.mlp((3, 2, 1))
    with pytest.raises(ValueError, match=r"^net must have 2 inputs"):
        views.unit_maps(three, fnn.init(three, seed=0), g)
    with pytest.raises(TypeError, match=r"^grid must be a Plane"):
        views.unit_maps(_net(), fnn.init(_net(), seed=0), np.zeros((9, 2)))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^net must be a Network"):
        views.unit_maps(None, (), g)  # type: ignore[arg-type]


# --------------------------------------------------------------- frames ---


def test_frames_are_the_initial_params_the_snapshots_and_the_final_params() -> None:
    trace, initial, _, _ = _run(epochs=10, every=3)
    got = views.frames(trace, initial)
    assert [e for e, _ in got] == [0, 3, 6, 9, 10]
    assert got[0][1] is initial and got[-1][1] is trace.params
    assert all(np.array_equal(a, b) for a, b in zip(fnn.tree.leaves(got[1][1]), fnn.tree.leaves(trace.snapshots[0][1])))
    assert [e for e, _ in views.frames(trace)] == [3, 6, 9, 10]


def test_frames_end_with_the_last_snapshot_when_it_is_the_last_epoch() -> None:
    trace, initial, _, _ = _run(epochs=9, every=3)
    assert [e for e, _ in views.frames(trace, initial)] == [0, 3, 6, 9]
    no_snapshots, initial, _, _ = _run(epochs=4, every=None)
    assert [e for e, _ in views.frames(no_snapshots, initial)] == [0, 4]


def test_frames_follow_a_run_that_stopped_early() -> None:
    trace, initial, _, _ = _run(epochs=400, every=1, stop_loss=0.3)
    assert trace.stop_reason.startswith("loss threshold reached")
    got = views.frames(trace, initial)
    assert got[-1][0] == trace.epochs_run and [e for e, _ in got] == list(range(trace.epochs_run + 1))


def test_frames_refuse_a_stack_early_stopping_and_bad_initial_params() -> None:
    train = fnn.generate_linear(20, seed=0)
    net = _net()
    cfg = fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=0.1), loss="mse", seed=[0, 1])
    stacked = fnn.train(net, fnn.init(net, seed=[0, 1]), train, cfg)
    with pytest.raises(ValueError, match=r"^trace must be the trace of one model, .*member\(k\)"):
        views.frames(stacked)
    views.frames(stacked.member(1))  # one model of it is fine
    early, initial, _, _ = _run(epochs=5, patience=2)
    with pytest.raises(ValueError, match=r"^trace must not come from early stopping"):
        views.frames(early, initial)
    with pytest.raises(TypeError, match=r"^trace must be a Trace"):
        views.frames("trace")  # type: ignore[arg-type]
    trace, initial, _, _ = _run(epochs=3)
    with pytest.raises(ValueError, match=r"^initial: params must be a tuple of 3 records"):
        views.frames(trace, initial[:1])
    with pytest.raises(ValueError, match=r"^initial must be the params of one model"):
        views.frames(trace, fnn.init(_net(), seed=[0, 1]))


# -------------------------------------------------------------- figures ---


def test_figures_line_up_the_trace_with_the_params_after_each_epoch() -> None:
    trace, initial, train, test = _run(epochs=15, every=1)
    fig = views.figures(trace, test)
    assert fig.loss.shape == fig.accuracy.shape == (16,)
    assert fig.val_loss is not None and fig.val_accuracy is not None and fig.val_loss.shape == (16,)
    assert np.array_equal(fig.loss[:-1], trace.loss) and fig.loss[-1] == trace.final_loss
    assert trace.val_accuracy is not None and np.array_equal(fig.val_accuracy[:-1], trace.val_accuracy)
    net = trace.network
    for e, params in views.frames(trace, initial):  # each number is that of the params after e epochs
        loss, _ = fnn.grad(net, params, train.x, train.y, loss="bce")
        val, _ = fnn.grad(net, params, test.x, test.y, loss="bce")
        np.testing.assert_allclose(fig.loss[e], loss, rtol=1e-12)
        np.testing.assert_allclose(fig.val_loss[e], val, rtol=1e-12)
        assert fig.accuracy[e] == fnn.accuracy(net, params, train.x, train.y)
        assert fig.val_accuracy[e] == fnn.accuracy(net, params, test.x, test.y)


def test_figures_without_a_held_out_set() -> None:
    train = fnn.generate_linear(20, seed=0)
    net = _net()
    trace = fnn.train(
        net, fnn.init(net, seed=0), train, fnn.TrainConfig(epochs=3, optimizer=fnn.sgd(lr=0.1), loss="mse")
    )
    fig = views.figures(trace)
    assert fig.val_loss is None and fig.val_accuracy is None and fig.loss.shape == (4,)
    with pytest.raises(ValueError, match=r"^validation was given, but the trace has no held-out figures"):
        views.figures(trace, train)


def test_figures_refuse_a_missing_or_unfit_held_out_set() -> None:
    trace, _, _, _ = _run(epochs=3)
    with pytest.raises(TypeError, match=r"^validation must be the held-out Dataset"):
        views.figures(trace)
    three = fnn.Dataset(np.zeros((4, 3)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"^validation: data.x must have shape"):
        views.figures(trace, three)


# ---------------------------------------------------------- pick_epochs ---


def test_pick_epochs_keeps_the_ends_and_is_denser_at_the_start() -> None:
    picked = views.pick_epochs(list(range(1001)), 11)
    assert len(picked) == 11 and picked[0] == 0 and picked[-1] == 1000
    assert list(picked) == sorted(set(picked))
    gaps = np.diff(picked)
    assert gaps[0] < gaps[-1]
    assert views.pick_epochs([0, 5, 10], 10) == (0, 5, 10)


def test_pick_epochs_from_sparse_epochs_picks_distinct_ones() -> None:
    available = [0, 1, 2, 3, 50, 100, 150, 200]
    picked = views.pick_epochs(available, 6)
    assert len(picked) == 6 and set(picked) <= set(available) and list(picked) == sorted(set(picked))
    assert picked[0] == 0 and picked[-1] == 200


@pytest.mark.parametrize(
    ("epochs", "count", "kind", "message"),
    [
        ([0, 1], 1, ValueError, "count must be an integer >= 2"),
        ([], 3, ValueError, "epochs must hold at least one epoch"),
        ([2, 1], 3, ValueError, "epochs must be strictly increasing"),
        ([0, -1], 3, ValueError, r"epochs\[i\] must be an integer >= 0"),
        ("abc", 3, TypeError, "epochs must be a sequence of integers"),
        ([0.5], 3, TypeError, r"epochs\[i\] must be an integer"),
    ],
)
def test_pick_epochs_refuses_bad_input_by_name(epochs: Any, count: int, kind: type[Exception], message: str) -> None:
    with pytest.raises(kind, match=rf"^{message}"):
        views.pick_epochs(epochs, count)


# ------------------------------------------------- snapshots and images ---


def test_snapshot_every_keeps_the_snapshots_within_the_budget() -> None:
    assert views.snapshot_every(1000, 100) == 1
    k = views.snapshot_every(100_000, 10_000, budget=2**20)
    assert (100_000 // k) * 10_000 * 8 <= 2**20 and (100_000 // (k - 1)) * 10_000 * 8 > 2**20
    assert views.snapshot_every(10, 10**9, budget=8) == 6  # one snapshot at least
    with pytest.raises(ValueError, match=r"^parameters must be an integer >= 1"):
        views.snapshot_every(10, 0)


def test_parameter_count_counts_every_value() -> None:
    assert views.parameter_count(fnn.init(_net(), seed=0)) == 2 * 3 + 3 + 3 * 4 + 4 + 4 + 1


def test_quantize_maps_the_range_onto_bytes() -> None:
    q = views.quantize([[-1.0, 0.0], [1.0, 3.0]], -1.0, 1.0)
    assert q.dtype == np.uint8 and q.shape == (2, 2) and not q.flags.writeable
    assert q.tolist() == [[0, 128], [255, 255]]
    assert views.quantize(np.array(-5.0), 0.0, 1.0) == 0
    assert views.quantize([1e308], -1e300, 1.0).tolist() == [255]


@pytest.mark.parametrize(
    ("values", "lo", "hi", "kind", "message"),
    [
        ([0.0], 1.0, 1.0, ValueError, "hi must be > lo"),
        ([0.0], -1e308, 1e308, ValueError, "hi must be > lo, with hi - lo finite"),
        ([np.nan], 0.0, 1.0, ValueError, "values must be finite"),
        (["a"], 0.0, 1.0, TypeError, "values must be an array of real numbers"),
        ([0.0], "0", 1.0, TypeError, "lo must be a real number"),
        ([0.0], 0.0, np.inf, ValueError, "hi must be finite"),
    ],
)
def test_quantize_refuses_bad_input_by_name(values: Any, lo: Any, hi: Any, kind: type[Exception], message: str) -> None:
    with pytest.raises(kind, match=rf"^{message}"):
        views.quantize(values, lo, hi)


# ------------------------------------------------------- hostile arguments ---

HOSTILE: list[Any] = [
    None,
    True,
    "a",
    -1,
    0,
    2.5,
    np.nan,
    np.inf,
    10**400,
    1e308,
    [],
    [1.0],
    [[np.nan, 0.0]],
    [[1e308, -1e308]],
    np.zeros((0, 2)),
    np.zeros((3, 3)),
    np.array(["a"]),
    object(),
    (),
]


def _valid_calls() -> dict[str, tuple[Any, dict[str, Any]]]:
    trace, initial, _, test = _run(epochs=4, every=2)
    net = trace.network
    return {
        "plane": (views.plane, {"x": [[0.0, 0.0], [1.0, 2.0]], "size": 4, "margin": 0.1}),
        "layer_outputs": (views.layer_outputs, {"net": net, "params": initial, "x": [[0.0, 1.0]]}),
        "unit_maps": (views.unit_maps, {"net": net, "params": initial, "grid": views.plane([[0.0, 0.0]], 3)}),
        "frames": (views.frames, {"trace": trace, "initial": initial}),
        "figures": (views.figures, {"trace": trace, "validation": test}),
        "pick_epochs": (views.pick_epochs, {"epochs": [0, 1, 2, 5, 9], "count": 3}),
        "snapshot_every": (views.snapshot_every, {"epochs": 100, "parameters": 10, "budget": 1000}),
        "parameter_count": (views.parameter_count, {"params": initial}),
        "quantize": (views.quantize, {"values": [0.0, 1.0], "lo": 0.0, "hi": 1.0}),
    }


def _finite(result: Any) -> bool:
    if isinstance(result, views.Plane):
        return _finite(result.points) and _finite(np.array([*result.x1, *result.x2]))
    if isinstance(result, views.Figures):
        return all(_finite(a) for a in (result.loss, result.accuracy, result.val_loss) if a is not None)
    if isinstance(result, tuple):
        return all(_finite(r) for r in result)
    if isinstance(result, np.ndarray) and result.dtype.kind == "f":
        return bool(np.all(np.isfinite(result)))
    return True  # params records, integers


def test_every_function_takes_a_hostile_argument_with_a_result_or_a_refusal_naming_it() -> None:
    """Each argument of each function replaced in turn by each hostile value: a finite result, or a
    ValueError/TypeError whose message names that argument (warnings are errors in this suite)."""
    calls = _valid_calls()
    tried = refused = 0
    for name, (function, valid) in calls.items():
        assert _finite(function(**valid)), name
        for argument in valid:
            for value in HOSTILE:
                tried += 1
                try:
                    result = function(**{**valid, argument: value})
                except (TypeError, ValueError) as err:
                    refused += 1
                    assert re.search(rf"\b{argument}\b", str(err)), f"{name}({argument}={value!r}): {err}"
                else:
                    assert _finite(result), f"{name}({argument}={value!r}) gave a non-finite result"
    assert refused > 0.6 * tried
