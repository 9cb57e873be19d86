"""Fuzz of every public entry point: hostile arguments against the library's promises.

The promises (README; issue "Keep every promise under attack"):

1. bad input raises only ``ValueError`` or ``TypeError``, and the message names the argument
   (its parameter's name or a part of it: ``sizes[1]``, ``params[0].w``, ``data.x``; for a file,
   the path);
2. no warning, ever: each call runs under ``warnings.simplefilter("error")`` (as the whole suite
   does), so a NumPy ``RuntimeWarning`` is caught at the call that emitted it;
3. finite arguments give finite results: every array and float of a returned record, tuple or
   Trace (a Trace's per-epoch arrays up to each model's ``stop_epoch``: a model that stopped
   has NaN after it), so a diverging run must end with a stop reason and finite params;
4. a huge broadcast view is validated without materializing it: calls that only store or
   check such a view (and every refusal of one) run under ``tracemalloc`` with a small budget.

Each property draws mostly valid arguments (some of odd but valid kinds: NumPy integers,
Fortran, strided, reversed, misaligned, read-only and list layouts) and spoils one argument in
about a third of the examples, so that both the result checks and the refusals run; a few limit
cases per entry point (sizes of 2**62 and 10**400, 0-d arrays, traces whose fields do not fit
together, ...) run every time before the generated examples, as ``@example`` would.
``attempt`` makes every call and counts it per entry point in ``TALLIES``: ``checked``
(accepted, every result finite), ``refused`` (a ValueError/TypeError naming an argument) or
``known`` (a broken promise that an entry of ``KNOWN_BUGS`` describes).  ``test_tally`` runs
last: it checks that every public entry point ran, that most calls reached the result checks,
and prints the figures (run with ``-s`` or ``-rP`` to see them).

``KNOWN_BUGS`` lists the promises this fuzz found broken: each entry has the bug's text, a
minimal reproduction, and a predicate on the call's arguments (plus, for some, a regex on the
broken promise) saying which fuzz cases it excuses: only those, any other broken promise fails.  ``test_known_bug_reproduces`` fails as soon as a bug is fixed,
saying which entry to delete; the fuzz then holds the fix.  With ``FNN_FUZZ_COLLECT=1`` the broken
promises are listed all at once by ``test_tally`` instead of failing at the first.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import re
import subprocess
import sys
import tracemalloc
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import attrs
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import functional_nn as fnn
from functional_nn import data as fdata
from functional_nn import io as fio

T = TypeVar("T")
FloatArray = npt.NDArray[np.float64]
Args = Mapping[str, Any]

FUZZ = settings(
    max_examples=60,
    deadline=None,  # a loaded CI machine must not turn slowness into failures
    derandomize=True,  # the same examples on every run, so the tally figures are reproducible
    database=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)


def fuzz(examples: int) -> settings:
    return settings(FUZZ, max_examples=examples)


# ================================================================ the harness ===


@attrs.define
class Tally:
    """How the calls of one entry point ended."""

    calls: int = 0
    checked: int = 0  # accepted, and every returned array checked finite (or the arguments were not)
    refused: int = 0  # a ValueError / TypeError naming an argument
    known: int = 0  # a broken promise that an entry of KNOWN_BUGS excuses


TALLIES: defaultdict[str, Tally] = defaultdict(Tally)
FINISHED: set[str] = set()  # the properties that ran to the end (test_tally needs all of them)
COLLECT = os.environ.get("FNN_FUZZ_COLLECT") == "1"
"""With FNN_FUZZ_COLLECT=1, broken promises are collected and listed by test_tally instead of
failing at the first (to see them all at once after a change; hypothesis then does not shrink)."""
BROKEN: list[str] = []

HUGE_ROWS = 2**21
"""Rows of the huge broadcast views: 16 MB of float64 per feature that no check may materialize."""
HUGE_BUDGET = 2**20
"""Bytes a call may allocate while it validates a huge view (a block-wise scan needs far less;
one boolean mask over the view's rows needs twice as much)."""


def names_one_of(message: str, names: Iterable[str]) -> bool:
    """Whether ``message`` names one of ``names`` as a word of its own (``sizes[1]``, ``data.x``
    and ``params[0].w`` name ``sizes``, ``data`` or ``x``, and ``params``)."""
    return any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", message) for n in names if n)


def distinct(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``a`` without the repeats of a broadcast view (each axis of stride 0 cut to one entry): a view, no copy."""
    return a[tuple(slice(0, 1) if stride == 0 else slice(None) for stride in a.strides)]


def non_finite(value: object, where: str, depth: int = 0) -> list[str]:
    """Where ``value`` holds NaN/inf: every array and float inside records, tuples, lists and
    mappings; a Trace's per-epoch arrays only up to each model's ``stop_epoch``; of a Progress,
    only the trace it carries (its per-epoch values are NaN for a stacked model that stopped)."""
    if depth > 12:
        return []
    if isinstance(value, fnn.Trace):
        return _trace_non_finite(value, where)
    if isinstance(value, fnn.Progress):
        return non_finite(value.trace, f"{where}.trace", depth + 1)
    if isinstance(value, fnn.TraceDiff):
        return []  # inf is its documented answer for traces of different shapes: judged by the caller
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc" and not np.all(np.isfinite(distinct(value))):
            return [where]
        return []
    if isinstance(value, (float, complex, np.floating, np.complexfloating)):
        return [] if np.isfinite(value) else [where]
    items: Iterable[tuple[object, object]]
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, (tuple, list)):
        items = enumerate(value)
    elif attrs.has(type(value)):
        items = ((f.name, getattr(value, f.name)) for f in attrs.fields(cast(Any, type(value))))
    else:
        return []
    found: list[str] = []
    for key, item in items:
        found += non_finite(item, f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]", depth + 1)
    return found


def per_epoch_fields(trace: fnn.Trace) -> list[str]:
    """The Trace fields that hold one row per epoch (NaN for a model after it stopped)."""
    return [
        f.name
        for f in attrs.fields(fnn.Trace)
        if f.name in ("loss", "accuracy", "grad_norm", "lr") or f.name.startswith("val_")
    ]


def _trace_non_finite(trace: fnn.Trace, where: str) -> list[str]:
    found: list[str] = []
    stops = np.asarray(trace.stop_epoch).reshape(-1)
    rows = per_epoch_fields(trace)
    for name in rows:
        per_epoch = getattr(trace, name)
        if not isinstance(per_epoch, np.ndarray) or per_epoch.ndim == 0:  # (None: no validation set)
            found += non_finite(per_epoch, f"{where}.{name}")
            continue
        columns = per_epoch.reshape(per_epoch.shape[0], math.prod(per_epoch.shape[1:]))
        for k in range(columns.shape[1]):
            run = int(stops[k]) if stops.size == columns.shape[1] else columns.shape[0]
            if not np.all(np.isfinite(columns[: max(run, 0), k])):
                found.append(f"{where}.{name}[:{run}, {k}]")
    for f in attrs.fields(fnn.Trace):
        if f.name not in rows:
            found += non_finite(getattr(trace, f.name), f"{where}.{f.name}")
    return found


def huge_view(args: Args) -> bool:
    """Whether an argument is (or a Dataset argument holds) a broadcast view of HUGE_ROWS or more."""
    arrays = [v for v in args.values() if isinstance(v, np.ndarray)]
    arrays += [a for v in args.values() if isinstance(v, fnn.Dataset) for a in (v.x, v.y)]
    return any(a.ndim and a.shape[0] >= HUGE_ROWS and 0 in a.strides for a in arrays)


Outcome = Literal["checked", "refused", "broken"]


def outcome(fn: Callable[..., T], args: Args, names: Sequence[str], *, bounded: bool | None) -> tuple[Outcome, Any]:
    """Call ``fn(**args)`` and judge it against the promises.

    Returns ``("checked", result)``, ``("refused", error)`` or ``("broken", what went wrong)``.
    ``bounded``, with a huge broadcast view among the arguments: True, the call only stores or
    checks its arrays, so it must stay within HUGE_BUDGET; None, only a refusal must (validation
    is cheap, computing is not); False, never (it computes a whole result before it can refuse).
    """
    watch = huge_view(args)
    if watch:
        tracemalloc.start()
    verdict: tuple[Outcome, Any]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a RuntimeWarning is raised at the call that emits it
            try:
                verdict = ("checked", fn(**args))
            except (ValueError, TypeError) as err:
                if names_one_of(str(err), names):
                    verdict = ("refused", err)
                else:
                    verdict = ("broken", f"{type(err).__name__} naming none of {list(names)}: {err}")
            except Exception as err:  # anything else, warnings included, breaks promise 1 or 2
                verdict = ("broken", f"raised {type(err).__name__}: {err}")
    finally:
        peak = tracemalloc.get_traced_memory()[1] if watch else 0
        if watch:
            tracemalloc.stop()
    if watch and (bounded or (bounded is None and verdict[0] == "refused")) and peak > HUGE_BUDGET:
        return (
            "broken",
            f"allocated {peak / 2**20:.1f} MB on a huge broadcast view (budget {HUGE_BUDGET / 2**20:.0f} MB)",
        )
    if verdict[0] == "checked" and not non_finite(args, "args"):
        bad = non_finite(verdict[1], "result")
        if bad:
            return "broken", f"non-finite values from finite arguments in {', '.join(bad[:4])}"
    return verdict


def attempt(
    entry: str, fn: Callable[..., T], args: Args, *, also: Iterable[str] = (), bounded: bool | None = None
) -> T | None:
    """``fn(**args)`` as entry point ``entry``: the result if accepted and checked, else None.

    The message of a refusal must name an argument: a key of ``args`` (keys starting with "_"
    are context, such as the record a method is called on), a name of ``also``, or the path
    of a file argument.  A broken promise fails the test unless an entry of KNOWN_BUGS excuses
    this very case.
    """
    tally = TALLIES[entry]
    tally.calls += 1
    hang = hanging_bug(entry, args)
    if hang is not None:
        tally.known += 1  # not called: it would not return in time (its reproduction runs in a subprocess)
        EXCUSED[hang.key] += 1
        return None
    names = [k for k in args if not k.startswith("_")] + list(also) + path_names(args)
    verdict, value = outcome(fn, args, names, bounded=bounded)
    if verdict == "checked":
        tally.checked += 1
        result: T = value
        return result
    if verdict == "refused":
        tally.refused += 1
        return None
    if excused(entry, args, value):
        tally.known += 1
    return None


def excused(entry: str, args: Args, problem: str) -> bool:
    """True if an entry of KNOWN_BUGS excuses this broken promise (counted in EXCUSED); else the test
    fails here (or, with FNN_FUZZ_COLLECT=1, the failure is collected and False returned)."""
    bug = known_bug(entry, args, problem)
    if bug is not None:
        EXCUSED[bug.key] += 1
        return True
    failure = f"{entry}: {problem}\n  arguments: {show(args)}"
    if not COLLECT:
        raise AssertionError(failure)
    BROKEN.append(failure)
    return False


def path_names(args: Args) -> list[str]:
    """A file's refusal names the file: its path, as ``Path`` spells it, counts as the argument's name."""
    return [str(Path(v)) for k, v in args.items() if k == "path" and isinstance(v, (str, os.PathLike))]


def show(args: Args) -> str:
    """The arguments of a failing call, arrays by shape, dtype and strides."""

    def one(v: object) -> str:
        if isinstance(v, np.ndarray):
            return f"array(shape={v.shape}, dtype={v.dtype}, strides={v.strides})"
        text = repr(v)
        return text if len(text) <= 200 else text[:197] + "..."

    return ", ".join(f"{k}={one(v)}" for k, v in args.items())


def run(prop: Callable[[], None], label: str) -> None:
    """Run a ``@given`` property to the end and note that it did (``test_tally`` needs every one)."""
    prop()
    FINISHED.add(label)


def explicit(entry: str, fn: Callable[..., Any], cases: Iterable[Args], **kwargs: Any) -> None:
    """Limit cases every run makes before the generated ones (as ``@example`` would): values at the
    edges that random draws reach too rarely to rely on."""
    for case in cases:
        attempt(entry, fn, case, **kwargs)


def check_finite(entry: str, args: Args, value: object, where: str) -> None:
    """Promise 3 for a part of a result that ``attempt`` could not judge alone."""
    bad = non_finite(value, where)
    if bad and not non_finite(args, "args"):
        excused(entry, args, f"non-finite values from finite arguments in {', '.join(bad[:4])}")


@attrs.frozen
class KnownBug:
    """A broken promise the fuzz found: ``text`` says the call, what happens and what should; ``fn(**args)``
    reproduces it; ``applies`` says which fuzz calls of ``entry`` it excuses (those only)."""

    key: str
    entry: str
    text: str
    fn: Callable[..., object]
    args: Mapping[str, Any]
    applies: Callable[[Args], bool]
    hangs: bool = False  # the fuzz does not call these cases; the reproduction runs in a subprocess
    subprocess_code: str = ""
    symptom: str = ""  # a regex the broken promise must match too (empty: any)
    reproduce: Callable[[], str | None] | None = None  # a check of its own, where outcome() cannot judge it


def known_bug(entry: str, args: Args, problem: str) -> KnownBug | None:
    """The entry of KNOWN_BUGS that excuses ``problem`` of this call, if any."""
    for bug in KNOWN_BUGS:
        if bug.entry == entry and not bug.hangs and bug.applies(args) and re.search(bug.symptom, problem):
            return bug
    return None


def hanging_bug(entry: str, args: Args) -> KnownBug | None:
    """The entry of KNOWN_BUGS saying this call would not return (so it is not made), if any."""
    return next((b for b in KNOWN_BUGS if b.hangs and b.entry == entry and b.applies(args)), None)


EXCUSED: defaultdict[str, int] = defaultdict(int)
"""How many fuzz calls each KNOWN_BUGS entry excused (printed by test_tally)."""


# ================================================================ shared data ===

XOR = fnn.generate_xor_easy(3)  # 5 points, binary (5, 1) labels
LINEAR = fnn.generate_linear(7, seed=1)
GAUSS3 = fnn.generate_gauss(9, classes=3, seed=2)  # one-hot (9, 3) labels
_rng = np.random.default_rng(3)
REGRESSION = fnn.Dataset(x=_rng.uniform(-1.0, 1.0, (6, 2)), y=_rng.uniform(-2.0, 2.0, (6, 1)), task="regression")
BARS = fnn.generate_bars(6, 2, size=6, seed=4)[0]  # 36 features, images (1, 6, 6)

SIG = fnn.mlp((2, 3, 1), hidden="sigmoid", output="sigmoid")
LIN = fnn.mlp((2, 3, 1), hidden="identity", output="identity")
TANH = fnn.mlp((2, 4, 1), hidden="tanh", output="identity")
SOFT = fnn.mlp((2, 3, 3), hidden="relu", output="softmax")
CONV = fnn.cnn(
    fnn.Conv2DLayer((1, 6, 6), 2, 3, activation="relu"),
    fnn.MaxPool2DLayer((2, 4, 4), 2),
    fnn.FlattenLayer((2, 2, 2)),
    fnn.DenseLayer(8, 1, "sigmoid"),
)
CONV_AVG = fnn.cnn(
    fnn.Conv2DLayer((1, 6, 6), 2, 3, stride=2, padding=1, activation="leaky_relu"),
    fnn.AvgPool2DLayer((2, 3, 3), 2, stride=1),
    fnn.FlattenLayer((2, 2, 2)),
    fnn.DenseLayer(8, 1, "identity"),
)
DROP = fnn.mlp((2, 4, 1), hidden="tanh", output="sigmoid", dropout=0.5)
NETS = (SIG, LIN, TANH, SOFT, CONV, CONV_AVG, DROP)

ADAM_CONFIG = fnn.TrainConfig(epochs=3, optimizer=fnn.adam(lr=0.05), loss="mse")
TRACE = fnn.train(SIG, fnn.init(SIG, seed=0), XOR, ADAM_CONFIG)
STACK_CONFIG = fnn.TrainConfig(epochs=3, optimizer=fnn.momentum(lr=[0.1, 1e300]), loss="mse", seed=[0, 1])
STACKED_TRACE = fnn.train(LIN, fnn.init(LIN, seed=[0, 1]), XOR, STACK_CONFIG)  # model 1 diverges
CALM_STACK_TRACE = fnn.train(
    LIN, fnn.init(LIN, seed=[0, 1]), XOR, attrs.evolve(STACK_CONFIG, optimizer=fnn.momentum(lr=0.1))
)
"""The same shapes as STACKED_TRACE, no model stopped."""


CORRUPTIONS: dict[str, dict[str, Any]] = {
    "loss 1-D": {"loss": np.zeros(3)},
    "loss 3-D": {"loss": np.zeros((3, 2, 2))},
    "stop_reasons too short": {"stop_reasons": ("epochs done",)},
    "stop_epoch too short": {"stop_epoch": np.array([3])},
    "stop_epoch of halves": {"stop_epoch": np.array([1.5, 3])},
    "params of one model": {"params": TRACE.params},
    "opt_state of one model": {"opt_state": TRACE.opt_state},
    "resume_point of one model": {"resume_point": TRACE.resume_point},
    "opt_state of another optimizer": {"opt_state": fnn.EmptyState()},
    "config None": {"config": None},
    "network None": {"network": None},
    "snapshots of junk": {"snapshots": ((1, "x"),)},
    "seed of one model": {"seed": 0},
    "validation loss alone": {"val_loss": np.zeros((3, 2))},
}
"""Field changes that make a Trace whose fields do not fit together: Trace(...) and attrs.evolve refuse each."""


def test_trace_fields_must_fit() -> None:
    """A Trace checks at construction that its fields fit together, naming the first that does not, so
    member, resume, compare_traces and save_trace can trust any Trace they are given."""
    evolve: Callable[..., fnn.Trace] = attrs.evolve  # (untyped: these fields are wrong on purpose)
    for name, change in CORRUPTIONS.items():
        with pytest.raises((ValueError, TypeError)) as caught:
            evolve(STACKED_TRACE, **change)
        assert names_one_of(str(caught.value), TRACE_FIELDS), f"{name}: {caught.value}"
    assert evolve(STACKED_TRACE, seed=(5, 6)).seed == (5, 6)  # what fits is accepted


# ================================================================ hostile values ===

NAN, INF = math.nan, math.inf
HUGE_INTS: tuple[int, ...] = (10**400, -(10**400), 2**64, 2**63, 2**62)
NP_INTS: tuple[Any, ...] = (np.uint64(2), np.int64(2**62), np.uint64(2**64 - 1), np.int8(-1), np.uint8(3))
ODD_FLOATS: tuple[float, ...] = (NAN, INF, -INF, -0.0, 1e308, -1e308, 5e-324, 1e-300)

JUNK_SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(HUGE_INTS),
    st.sampled_from(NP_INTS),
    st.sampled_from(ODD_FLOATS),
    st.sampled_from(["", "x", "sgd", "nan", "1", b"x", 1j, np.complex128(1 + 1j), np.float32(NAN), np.bool_(True)]),
)
JUNK_CONTAINERS: st.SearchStrategy[Any] = st.sampled_from(
    [
        [],
        [1.0, [2.0]],
        [[1.0, 2.0], [3.0]],
        {},
        {"a": 1},
        {1, 2},
        (),
        (None,),
        np.array(0.5),
        np.array("x"),
        np.array([None, 1.0], dtype=object),
        np.array([[1j, 2.0]]),
        np.zeros((0, 2)),
        np.array([[10**400]], dtype=object),
        np.array(["2020-01-01"], dtype="datetime64[D]"),
        object(),
        len,
    ]
)


def _record_pool() -> list[object]:
    """One valid record of each public kind, to pass where another kind is expected."""
    return [
        fnn.Dense(w=np.ones((2, 3)), b=np.zeros(3)),
        fnn.Conv2D(w=np.ones((2, 1, 3, 3)), b=np.zeros(2)),
        fnn.NoParams(empty=np.zeros(0)),
        XOR,
        ADAM_CONFIG,
        TRACE,
        SIG,
        fnn.sgd(),
        fnn.AdamState(count=np.zeros(()), mu=(np.zeros(2),), nu=(np.zeros(2),)),
        fnn.EmptyState(),
        fnn.Sigmoid(),
        fnn.mse,
        fnn.DenseLayer(2, 3),
        fnn.compare_traces(TRACE, TRACE),
        fdata.Standardizer(mean=[0.0], scale=[1.0]),
        fnn.init(SIG, seed=0),
    ]


RECORDS = _record_pool()
JUNK: st.SearchStrategy[Any] = st.one_of(JUNK_SCALARS, JUNK_CONTAINERS, st.sampled_from(RECORDS))

FINITE = st.one_of(
    st.floats(-10.0, 10.0),
    st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 700.0, -700.0, 1e150, -1e150, 1e308, -1e308]),
)
"""Finite floats, some of them huge or tiny: overflow material that must not overflow."""
MODEST = st.floats(-3.0, 3.0)


def huge(row: Sequence[float]) -> FloatArray:
    """A read-only broadcast view of HUGE_ROWS copies of ``row``: 16 MB per feature, none of it allocated."""
    return np.broadcast_to(np.asarray(row, dtype=np.float64), (HUGE_ROWS, len(row)))


WRONG_DTYPES: st.SearchStrategy[np.dtype[Any]] = st.sampled_from(
    [np.dtype(np.int64), np.dtype(np.bool_), np.dtype(np.complex128), np.dtype("U2")]
)
LAYOUTS = ("c", "fortran", "strided", "reversed", "misaligned", "read-only", "list", "float32")
SAME_VALUES = frozenset(LAYOUTS) - {"float32"}


def relayout(a: FloatArray, layout: str) -> Any:
    """The values of ``a`` in another memory layout (``float32`` rounds them; ``list`` is nested lists)."""
    a = np.asarray(a, dtype=np.float64)
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "strided" and a.ndim:
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],))
        wide[..., ::2] = a
        return wide[..., ::2]
    if layout == "reversed" and a.ndim:
        return np.ascontiguousarray(a[::-1])[::-1]
    if layout == "misaligned":
        raw = np.zeros(a.size * 8 + 1, dtype=np.uint8)[1:]
        out = raw.view(np.float64).reshape(a.shape)
        out[...] = a
        return out
    if layout == "read-only":
        out = a.copy()
        out.flags.writeable = False
        return out
    if layout == "list":
        return a.tolist()
    if layout == "float32":  # rounded, where float32 can hold the values (else they stay float64)
        return a.astype(np.float32) if np.all(np.abs(a) < 1e38) else a
    return a


def hostile_arrays(features: int) -> st.SearchStrategy[Any]:
    """Array arguments that should be refused, or that are valid only in an odd way: NaN/inf and huge
    values, wrong dtypes and shapes, ragged lists, huge broadcast views (with and without a NaN)."""
    shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)
    return st.one_of(
        hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.just(features)), elements=st.sampled_from(ODD_FLOATS)),
        hnp.arrays(np.float64, shapes, elements=MODEST),
        hnp.arrays(WRONG_DTYPES, (2, features)),
        st.sampled_from(
            [
                huge([0.5] * features),
                huge([NAN] + [0.5] * (features - 1)),
                huge([0.5] * (features + 1)),
                huge([1e308] * features),
            ]
        ),
        JUNK,
    )


def mostly(specific: Sequence[Any], *more: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The ``specific`` hostile values three times as often as any of ``more`` (junk, by default)."""
    values = st.sampled_from(list(specific))
    return st.one_of(values, values, values, *(more or (JUNK,)))


@st.composite
def spoilt(
    draw: st.DrawFn, valid: Mapping[str, st.SearchStrategy[Any]], hostile: Mapping[str, st.SearchStrategy[Any]]
) -> dict[str, Any]:
    """Valid arguments, one of them replaced by a hostile one in about a third of the examples
    (on the top values of the draw: hypothesis favours the minimal one)."""
    args = {k: draw(s) for k, s in valid.items()}
    if hostile and draw(st.integers(0, 5)) >= 4:
        name = draw(st.sampled_from(sorted(hostile)))
        args[name] = draw(hostile[name])
    return args


# ================================================================ activations ===

ACTIVATION_RECORDS: dict[str, Any] = {**fnn.ACTIVATIONS, "leaky_relu(0.3)": fnn.LeakyReLU(0.3)}
ARRAY_LAYOUTS = tuple(x for x in LAYOUTS if x != "list")  # the methods take arrays (the protocol's FloatArray)


def _value(_act: Any, z: Any) -> Any:
    return _act.value(z)


def _backward(_act: Any, z: Any, a: Any, da: Any) -> Any:
    return _act.backward(z, a, da)


def _derivative(_act: Any, z: Any, a: Any) -> Any:
    return _act.derivative(z, a)


@pytest.mark.parametrize("name", list(ACTIVATION_RECORDS))
def test_activations(name: str) -> None:
    """``sigmoid(z)`` and each activation's ``value``, ``backward`` and ``derivative``: finite z and da
    up to 1e308 in odd layouts; junk, wrong dtypes, wrong shapes and huge views for any of them."""
    act = ACTIVATION_RECORDS[name]
    if name == "sigmoid":
        explicit(
            "sigmoid", fnn.sigmoid, ({"z": z} for z in (None, "nan", "x", 10**400, [[1.0], [1.0, 2.0]], np.array([1j])))
        )
    extremes = (np.array([[1e308, -1e308]]), np.array([[INF, 1.0]]), np.zeros((2, 0)), None, np.array([[True, False]]))
    explicit("Activation.value", _value, ({"_act": act, "z": z} for z in extremes))
    z2, a2 = np.zeros((1, 2)), np.array([[0.9, 0.1]])
    backward_cases = (
        {"da": np.array([[-1e308, 1e308]])},
        {"da": np.array([[INF, 1.0]])},
        {"a": None},
        {"da": np.zeros((1, 3))},
        {"z": [[0.0, 0.0]]},
    )
    explicit("Activation.backward", _backward, ({"_act": act, "z": z2, "a": a2, "da": a2} | c for c in backward_cases))
    if hasattr(act, "derivative"):
        explicit(
            "Activation.derivative", _derivative, ({"_act": act, "z": z, "a": a2} for z in (1, None, np.zeros((1, 3))))
        )

    @fuzz(30)
    @given(shape=st.tuples(st.integers(1, 3), st.integers(1, 4)), layout=st.sampled_from(ARRAY_LAYOUTS), data=st.data())
    def prop(shape: tuple[int, int], layout: str, data: st.DataObject) -> None:
        z = data.draw(hnp.arrays(np.float64, shape, elements=FINITE), "z")
        da = data.draw(hnp.arrays(np.float64, shape, elements=FINITE), "da")
        hostile = hostile_arrays(shape[-1])
        args = data.draw(spoilt({"z": st.just(relayout(z, layout))}, {"z": hostile}), "value args")
        attempt("sigmoid", fnn.sigmoid, args)
        attempt("Activation.value", _value, {"_act": act, **args})
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # the a = value(z) that backward needs (value was judged above)
            a = act.value(z)
        wrong_a = st.one_of(
            JUNK, hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, min_side=0), elements=st.floats(0, 1))
        )
        valid = {"z": st.just(z), "a": st.just(a), "da": st.just(relayout(da, layout))}
        args = data.draw(spoilt(valid, {"z": hostile, "a": wrong_a, "da": hostile}), "backward args")
        attempt("Activation.backward", _backward, {"_act": act, **args})
        if hasattr(act, "derivative"):
            args = data.draw(
                spoilt({"z": st.just(z), "a": st.just(a)}, {"z": hostile, "a": wrong_a}), "derivative args"
            )
            attempt("Activation.derivative", _derivative, {"_act": act, **args})

    run(prop, f"activations[{name}]")


# ================================================================ records ===


def _optimizer_states() -> dict[str, object]:
    params = fnn.init(SIG, seed=0)
    makers = {
        "EmptyState": "sgd",
        "MomentumState": "momentum",
        "AdamState": "adam",
        "RMSPropState": "rmsprop",
        "AdagradState": "adagrad",
    }
    states: dict[str, object] = {record: fnn.make_optimizer(name).init(params) for record, name in makers.items()}
    return states | {"ScheduleState": fnn.adam(lr=fnn.Cosine(0.1, steps=10)).init(params)}


SCHEDULE_EXAMPLES: dict[str, Any] = {
    "Constant": fnn.Constant(0.1),
    "StepDecay": fnn.StepDecay(0.1, factor=0.5, every=3),
    "Exponential": fnn.Exponential(0.1, decay=0.9, every=2),
    "Cosine": fnn.Cosine(0.1, steps=10, alpha=0.05),
    "WarmupCosine": fnn.WarmupCosine(0.1, warmup=2, steps=10),
}


RECORD_EXAMPLES: dict[str, object] = {
    "Dense": fnn.Dense(w=np.ones((2, 3)), b=np.zeros(3)),
    "Conv2D": fnn.Conv2D(w=np.ones((2, 1, 3, 3)), b=np.zeros(2)),
    "NoParams": fnn.NoParams(empty=np.zeros((2, 0))),
    "DenseLayer": fnn.DenseLayer(2, 3, "tanh"),
    "Conv2DLayer": fnn.Conv2DLayer((1, 6, 6), 2, 3, stride=2, padding=1, activation="relu"),
    "MaxPool2DLayer": fnn.MaxPool2DLayer((2, 4, 4), 2, stride=1),
    "AvgPool2DLayer": fnn.AvgPool2DLayer((2, 4, 4), 3),
    "FlattenLayer": fnn.FlattenLayer((2, 2, 2)),
    "DropoutLayer": fnn.DropoutLayer(3, 0.25),
    "LeakyReLU": fnn.LeakyReLU(0.2),
    "Network": SIG,
    "Dataset": XOR,
    "Standardizer": fdata.Standardizer(mean=[0.0, 1.0], scale=[1.0, 2.0]),
    "TrainConfig": STACK_CONFIG,
    "Optimizer": fnn.adam(lr=0.01),
    "Progress": next(iter(fnn.train_iter(SIG, fnn.init(SIG, seed=0), XOR, ADAM_CONFIG))),
    "Trace": TRACE,
    "TraceDiff": fnn.compare_traces(TRACE, STACKED_TRACE),
    **_optimizer_states(),
    **SCHEDULE_EXAMPLES,
}
RECORD_CLASSES = sorted(n for n in fnn.__all__ if isinstance(getattr(fnn, n), type) and attrs.has(getattr(fnn, n)))
for _name in RECORD_CLASSES:  # the records that take no arguments (activations, losses)
    _cls = getattr(fnn, _name)
    if _name not in RECORD_EXAMPLES and not [f for f in attrs.fields(_cls) if f.init]:
        RECORD_EXAMPLES[_name] = _cls()


HUGE_RECORDS: dict[str, tuple[Args, ...]] = {
    "Dense": (
        {"w": np.broadcast_to(np.ones((2, 3)), (HUGE_ROWS, 2, 3)), "b": np.broadcast_to(np.zeros(3), (HUGE_ROWS, 3))},
    ),
    "Conv2D": (
        {
            "w": np.broadcast_to(np.ones((2, 1, 3, 3)), (HUGE_ROWS, 2, 1, 3, 3)),
            "b": np.broadcast_to(np.zeros(2), (HUGE_ROWS, 2)),
        },
    ),
    "NoParams": ({"empty": np.broadcast_to(np.zeros((2, 0)), (HUGE_ROWS, 2, 0))},),
    "Standardizer": ({"mean": np.broadcast_to(0.0, (HUGE_ROWS,)), "scale": np.broadcast_to(1.0, (HUGE_ROWS,))},),
    "Dataset": ({"x": huge([0.5, 0.25]), "y": huge([1.0])}, {"x": huge([0.5, NAN]), "y": huge([1.0])}),
}
"""Huge broadcast views for the records that hold arrays: stored and checked, never materialized."""


def relaid(a: FloatArray, layout: str) -> Any:
    """``relayout``; or a broadcast view a record only stores: "huge", HUGE_ROWS models of ``a``;
    "huge-1d", a 1-D ``a`` stretched to HUGE_ROWS entries (others left as they are)."""
    if layout == "huge":
        return np.broadcast_to(a, (HUGE_ROWS, *a.shape))
    if layout == "huge-1d":
        return np.broadcast_to(a[:1], (HUGE_ROWS,)) if a.ndim == 1 else a
    return relayout(a, layout)


def init_fields(record: object) -> dict[str, Any]:
    """The arguments that rebuild ``record`` with its class (``attrs.fields`` with ``init``, by alias)."""
    return {f.alias: getattr(record, f.name) for f in attrs.fields(cast(Any, type(record))) if f.init}


@pytest.mark.parametrize("name", RECORD_CLASSES)
def test_records(name: str) -> None:
    """Every record class of ``fnn.__all__``, rebuilt from a valid example's fields: its arrays in odd
    layouts; one field replaced by junk or a record of another kind; or an unknown keyword."""
    assert name in RECORD_EXAMPLES, f"the record class {name} of fnn.__all__ has no example to fuzz"
    example, cls = RECORD_EXAMPLES[name], getattr(fnn, name)
    explicit(name, cls, HUGE_RECORDS.get(name, ()), bounded=True)
    if name == "Trace":  # its int field, converted apart from the float ones
        junk_stops = (None, "x", 10**400, 2**63, [1, [2]], fnn.EmptyState())
        explicit(name, cls, ({**init_fields(TRACE), "stop_epoch": v} for v in junk_stops))

    @fuzz(14)
    @given(layout=st.sampled_from((*LAYOUTS, "huge", "huge-1d")), data=st.data())
    def prop(layout: str, data: st.DataObject) -> None:
        fields = {
            k: (relaid(v, layout) if isinstance(v, np.ndarray) and v.ndim else v)
            for k, v in init_fields(example).items()
        }
        hostile = {k: JUNK for k in fields} | {"bogus": st.just(1)}
        attempt(name, cls, data.draw(spoilt({k: st.just(v) for k, v in fields.items()}, hostile)), bounded=True)

    run(prop, f"records[{name}]")


def _schedule_call(_schedule: Any, step: Any) -> Any:
    return _schedule(step)


@pytest.mark.parametrize("name", list(SCHEDULE_EXAMPLES))
def test_schedule_calls(name: str) -> None:
    """Each schedule called with steps: counts up to 2**62 as ints, floats and arrays (one per model); junk,
    negative, NaN and huge steps refused naming ``step``; a call that yields no valid lr names the schedule."""
    schedule = SCHEDULE_EXAMPLES[name]
    explicit(
        "Schedule.__call__", _schedule_call, ({"_schedule": schedule, "step": v} for v in (10**400, [[-1.0]], None))
    )
    steps = st.one_of(
        st.integers(0, 2**62),
        st.floats(0.0, 1e300),
        st.sampled_from([np.int64(3), np.uint8(0), np.float32(2.0)]),
        hnp.arrays(np.float64, st.integers(1, 3), elements=st.floats(0.0, 1e6)),
    )
    bad = mostly([-1, -0.5, NAN, INF, "3", [1, [2]], np.array([1.0, NAN]), 1j, np.array(["a"])])
    decaying = fnn.StepDecay(1e-300, factor=1e-10, every=1)

    @fuzz(25)
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        args = data.draw(spoilt({"step": steps}, {"step": bad}))
        attempt("Schedule.__call__", _schedule_call, {"_schedule": schedule, **args}, also=["schedule"])
        attempt("Schedule.__call__", _schedule_call, {"_schedule": decaying, **args}, also=["schedule"])

    run(prop, f"schedule_calls[{name}]")


# ================================================================ layers and networks ===

SIZES: st.SearchStrategy[Any] = st.one_of(st.integers(1, 5), st.sampled_from([np.int64(2), np.uint8(3), np.uint64(1)]))
LIMIT_SIZES: st.SearchStrategy[Any] = st.sampled_from([10**400, 2**62, 2**63, np.uint64(2**64 - 1), np.int64(2**62)])
"""Sizes at or beyond every array limit (>= 2**60: no machine could hold the weights, so no call allocates them)."""
BAD_SIZES: st.SearchStrategy[Any] = st.one_of(
    LIMIT_SIZES, LIMIT_SIZES, st.sampled_from([0, -1, 2.0, True, "3", 1e308, NAN, np.float64(2.0), -(10**400)]), JUNK
)
ACTIVATIONS_ARG: st.SearchStrategy[Any] = st.sampled_from(
    (*fnn.ACTIVATIONS, *fnn.ACTIVATIONS.values(), fnn.LeakyReLU(0.2))
)
IMAGE_SHAPES: st.SearchStrategy[Any] = st.tuples(st.integers(1, 2), st.integers(3, 6), st.integers(3, 6)).flatmap(
    lambda s: st.sampled_from([s, list(s), np.array(s), tuple(np.int64(v) for v in s)])
)
BAD_IMAGE_SHAPES: st.SearchStrategy[Any] = st.one_of(
    st.tuples(BAD_SIZES, st.integers(3, 6), st.integers(3, 6)),
    mostly(
        [
            (1, 4),
            (1, 4, 4, 4),
            "abc",
            np.array(3),
            np.array([[1, 4, 4]]),
            {1, 4, 5},
            (2**62, 2**62, 2**62),
            (1, 10**400, 4),
        ]
    ),
)
DROPOUT_RATES: st.SearchStrategy[Any] = st.floats(0.0, 0.99) | st.sampled_from([0, 5e-324, 1 - 2**-53, np.float32(0.5)])
BAD_RATES: st.SearchStrategy[Any] = mostly([1.0, -0.1, -5e-324, 1.5, NAN, INF, "0.5", None, 10**400, True])
LAYER_ARGS: dict[str, tuple[dict[str, st.SearchStrategy[Any]], dict[str, st.SearchStrategy[Any]]]] = {
    "DenseLayer": (
        {"in_features": SIZES, "out_features": SIZES, "activation": ACTIVATIONS_ARG},
        {"in_features": BAD_SIZES, "out_features": BAD_SIZES, "activation": JUNK},
    ),
    "Conv2DLayer": (
        {
            "in_shape": IMAGE_SHAPES,
            "out_channels": SIZES,
            "kernel_size": st.integers(1, 3),
            "stride": st.integers(1, 3) | st.sampled_from([np.int64(2), 10**400]),
            "padding": st.integers(0, 2),
            "activation": ACTIVATIONS_ARG,
        },
        {
            "in_shape": BAD_IMAGE_SHAPES,
            "out_channels": BAD_SIZES,
            "kernel_size": BAD_SIZES,
            "stride": BAD_SIZES,
            "padding": BAD_SIZES,
            "activation": JUNK,
        },
    ),
    "MaxPool2DLayer": (
        {"in_shape": IMAGE_SHAPES, "pool_size": st.integers(1, 3), "stride": st.none() | st.integers(1, 3)},
        {"in_shape": BAD_IMAGE_SHAPES, "pool_size": BAD_SIZES, "stride": BAD_SIZES},
    ),
    "FlattenLayer": ({"in_shape": IMAGE_SHAPES}, {"in_shape": BAD_IMAGE_SHAPES}),
    "DropoutLayer": ({"features": SIZES, "rate": DROPOUT_RATES}, {"features": BAD_SIZES, "rate": BAD_RATES}),
}
LAYER_ARGS["AvgPool2DLayer"] = LAYER_ARGS["MaxPool2DLayer"]
EXAMPLE_LAYER_ARGS: dict[str, Args] = {
    "DenseLayer": {"in_features": 2, "out_features": 3},
    "Conv2DLayer": {"in_shape": (1, 6, 6), "out_channels": 2, "kernel_size": 3},
    "MaxPool2DLayer": {"in_shape": (1, 6, 6), "pool_size": 2},
    "AvgPool2DLayer": {"in_shape": (1, 6, 6), "pool_size": 2},
    "FlattenLayer": {"in_shape": (1, 6, 6)},
    "DropoutLayer": {"features": 3, "rate": 0.5},
}


@pytest.mark.parametrize("kind", sorted(LAYER_ARGS))
def test_layer_kinds(kind: str) -> None:
    """The layer kinds' constructors (sizes near and beyond every limit), then ``init`` of a network of the layer."""
    valid, hostile = LAYER_ARGS[kind]
    if "in_shape" in EXAMPLE_LAYER_ARGS[kind]:  # a 0-d array for in_shape
        explicit(kind, getattr(fnn, kind), [{**EXAMPLE_LAYER_ARGS[kind], "in_shape": np.array(3)}])

    @fuzz(40)
    @given(args=spoilt(valid, hostile))
    def prop(args: dict[str, Any]) -> None:
        layer = attempt(kind, getattr(fnn, kind), args)
        if layer is not None:
            attempt("init", fnn.init, {"net": fnn.sequential(layer), "seed": 0})

    run(prop, f"layer_kinds[{kind}]")


LAYER_CHAINS: tuple[tuple[Any, ...], ...] = (
    (fnn.DenseLayer(2, 3, "tanh"), fnn.DenseLayer(3, 1, "sigmoid")),
    (fnn.DenseLayer(4, 2),),
    CONV.layers,
    CONV_AVG.layers,
    (fnn.FlattenLayer((1, 2, 2)), fnn.DenseLayer(4, 2, "softmax")),
    DROP.layers,
    (fnn.DropoutLayer(2, 0.1), fnn.DenseLayer(2, 1, "sigmoid")),
)
BAD_CHAINS: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(
        [
            (),
            (fnn.DenseLayer(2, 3), fnn.DenseLayer(2, 1)),  # features do not chain
            (CONV.layers[0], fnn.FlattenLayer((8, 1, 1)), fnn.DenseLayer(8, 1)),  # image shapes do not chain (cnn)
            tuple(reversed(CONV.layers)),
            (fnn.DenseLayer(2, 3), None),
            (fnn.sgd(),),
            (fnn.Dense(w=np.ones((2, 3)), b=np.zeros(3)),),
        ]
    ),
    st.lists(JUNK, min_size=1, max_size=2).map(tuple),
)


def _sequential(layers: Sequence[Any]) -> Any:
    return fnn.sequential(*layers)


def _cnn(layers: Sequence[Any]) -> Any:
    return fnn.cnn(*layers)


MLP_SIZES = st.lists(SIZES, min_size=2, max_size=4).flatmap(lambda s: st.sampled_from([s, tuple(s)]))
BAD_MLP_SIZES = st.one_of(
    st.lists(SIZES, min_size=1, max_size=3).flatmap(lambda s: BAD_SIZES.map(lambda bad: [*s[:1], bad, *s[1:]])),
    st.sampled_from([[3], (), "23", np.array([2, 3, 1]), {2, 3}, range(2, 4)]),
    JUNK,
)
NETWORK_CALLS: dict[
    str, tuple[Callable[..., Any], dict[str, st.SearchStrategy[Any]], dict[str, st.SearchStrategy[Any]]]
] = {
    "mlp": (
        fnn.mlp,
        {
            "sizes": MLP_SIZES,
            "hidden": ACTIVATIONS_ARG,
            "output": ACTIVATIONS_ARG,
            "dropout": st.none() | DROPOUT_RATES,
        },
        {"sizes": BAD_MLP_SIZES, "hidden": JUNK, "output": JUNK, "dropout": BAD_RATES},
    ),
    "sequential": (_sequential, {"layers": st.sampled_from(LAYER_CHAINS)}, {"layers": BAD_CHAINS}),
    "cnn": (_cnn, {"layers": st.sampled_from(LAYER_CHAINS)}, {"layers": BAD_CHAINS}),
    "Network": (fnn.Network, {"layers": st.sampled_from(LAYER_CHAINS)}, {"layers": BAD_CHAINS}),
}
SEEDS: st.SearchStrategy[Any] = st.one_of(
    st.integers(0, 2**64),
    st.sampled_from([10**400, np.uint64(2**64 - 1), np.int64(5), np.uint8(0)]),
    st.lists(st.integers(0, 2**40), min_size=1, max_size=3),
    st.sampled_from([(1, 2), range(1, 3), np.array([0, 1]), np.array([3], dtype=np.uint64), [np.int64(1), 2]]),
)
BAD_SEEDS: st.SearchStrategy[Any] = mostly(
    [-1, 1.5, True, "0", [], [[0]], np.zeros((1, 1), int), np.array([0.5]), {1, 2}, [-1], [0, "x"], -(10**400)]
)
BAD_EPOCHS: st.SearchStrategy[Any] = mostly([0, -1, 1.5, True, None, "3", 10**400, 2**63])
BAD_COUNTS: st.SearchStrategy[Any] = mostly([0, -1, 1.5, True, "3", 10**400, -(10**400)])


@pytest.mark.parametrize("kind", list(NETWORK_CALLS))
def test_networks_and_init(kind: str) -> None:
    """``mlp``, ``sequential``, ``cnn`` and ``Network`` (sizes near every limit, layers that do not
    chain, junk); then ``init`` of the network (seeds near every limit, stacks of models)."""
    fn, valid, hostile = NETWORK_CALLS[kind]

    @fuzz(40)
    @given(args=spoilt(valid, hostile), data=st.data())
    def prop(args: dict[str, Any], data: st.DataObject) -> None:
        net = attempt(kind, fn, args)
        if net is not None:
            valid_init = {"net": st.just(net), "seed": SEEDS, "scheme": st.sampled_from(tuple(fnn.INITIALIZERS))}
            attempt("init", fnn.init, data.draw(spoilt(valid_init, {"net": JUNK, "seed": BAD_SEEDS, "scheme": JUNK})))

    run(prop, f"networks_and_init[{kind}]")


@fuzz(60)
@given(data=st.data())
def fuzz_registry_lookups(data: st.DataObject) -> None:
    """``get_activation`` and ``get_loss``: names, records and junk; ``argument`` names the argument."""
    argument = data.draw(st.sampled_from(["activation", "output", "hidden"]))
    bad_names = st.sampled_from(["Sigmoid", "softmax ", "mse", ""])
    args = data.draw(
        spoilt(
            {"activation": ACTIVATIONS_ARG, "argument": st.just(argument)}, {"activation": st.one_of(JUNK, bad_names)}
        )
    )
    attempt("get_activation", fnn.get_activation, args, also=[argument])
    losses = st.sampled_from((*fnn.LOSSES, *fnn.LOSSES.values()))
    args = data.draw(spoilt({"loss": losses}, {"loss": st.one_of(JUNK, st.sampled_from(["MSE", "sigmoid", ""]))}))
    attempt("get_loss", fnn.get_loss, args)


def test_registry_lookups() -> None:
    run(fuzz_registry_lookups, "registry_lookups")


# ================================================================ forward, predict, accuracy, grad ===


def loss_fits(loss: Any, act: Any) -> bool:
    """Whether the loss takes this output activation (asked of the library, as tests/pairing.py does)."""
    try:
        loss.check_output(act)
    except ValueError:
        return False
    return True


def labels(draw: st.DrawFn, act: Any, shape: tuple[int, ...]) -> FloatArray:
    """Targets an output ``act`` can be trained on: one-hot rows (softmax), 0/1 labels (sigmoid),
    finite reals, some huge (any other output)."""
    if isinstance(act, fnn.Softmax):
        hot = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, shape[-1] - 1)))
        out: FloatArray = np.eye(shape[-1])[hot]
        return out
    if isinstance(act, fnn.Sigmoid):
        return draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0])))
    return draw(hnp.arrays(np.float64, shape, elements=FINITE))


@st.composite
def models(draw: st.DrawFn) -> dict[str, Any]:
    """A network, its params (one model or a stack of two; weights sometimes scaled to 1e100..1e200),
    inputs x (shared, or one batch per model), targets y that fit the output, a loss that fits it."""
    net = draw(st.sampled_from(NETS))
    stacked = draw(st.booleans())
    params = fnn.init(net, seed=[1, 2] if stacked else 1)
    scale = draw(st.sampled_from([1.0, 1.0, 1.0, 1e100, 1e200]))  # overflow material
    if scale != 1.0:
        params = fnn.tree_map(lambda a: a * scale, params)
    n = draw(st.integers(1, 4))
    lead = (2,) if stacked and draw(st.booleans()) else ()
    x = draw(hnp.arrays(np.float64, (*lead, n, net.in_features), elements=FINITE))
    act = net.output_activation
    y = labels(draw, act, (*lead, n, net.out_features))
    loss = draw(st.sampled_from([name for name, rec in fnn.LOSSES.items() if loss_fits(rec, act)]))
    single = (fnn.tree_map(lambda a: a[0], params) if stacked else params, x[0] if lead else x, y[0] if lead else y)
    return {"net": net, "params": params, "x": x, "y": y, "loss": loss, "_single": single}


def bad_params(net: Any) -> st.SearchStrategy[Any]:
    return st.one_of(
        JUNK,
        st.sampled_from(
            [
                fnn.init(SIG, seed=0),  # another network's
                fnn.init(CONV, seed=0),
                fnn.init(SIG, seed=[0, 1, 2]),  # three models where x may have a batch for two
                list(fnn.init(SIG, seed=0)),
                fnn.init(SIG, seed=0)[:1],
                (
                    fnn.Dense(w=np.ones((2, 2, 2, 3)), b=np.zeros((2, 2, 3))),
                    fnn.Dense(w=np.ones((3, 1)), b=np.zeros(1)),
                ),
            ]
        ),
    )


def _predict(net: Any, params: Any, x: Any, threshold: Any) -> Any:
    return fnn.predict(net, params, x, threshold=threshold)


def _grad(net: Any, params: Any, x: Any, y: Any, loss: Any) -> Any:
    return fnn.grad(net, params, x, y, loss=loss)


def _check_grad(net: Any, params: Any, x: Any, y: Any, loss: Any, eps: Any, samples: Any, seed: Any) -> Any:
    return fnn.check_grad(net, params, x, y, loss, eps=eps, samples=samples, seed=seed)


@fuzz(160)
@given(model=models(), layout=st.sampled_from(LAYOUTS), data=st.data())
def fuzz_model_entry_points(model: dict[str, Any], layout: str, data: st.DataObject) -> None:
    """``forward``, ``predict``, ``accuracy``, ``grad`` and ``check_grad`` on networks of every layer
    kind; x in odd layouts must give the very same bits as C-contiguous x (README: "results never
    depend on how your memory was laid out")."""
    net, x = model["net"], model["x"]
    relaid_x = relayout(x, layout)
    valid = {k: st.just(v) for k, v in model.items() if k != "_single"} | {"x": st.just(relaid_x)}
    hostile = {
        "net": st.one_of(JUNK, st.sampled_from(NETS)),
        "params": bad_params(net),
        "x": hostile_arrays(net.in_features),
        "y": hostile_arrays(net.out_features),
        "loss": st.one_of(JUNK, st.sampled_from(tuple(fnn.LOSSES))),
    }
    args = data.draw(spoilt(valid, hostile))
    # the same values in another layout: compare with the C-contiguous x (when nothing else was spoilt)
    relaid = layout in SAME_VALUES and layout != "c" and args["x"] is relaid_x
    relaid = relaid and all(args[k] is model[k] for k in ("net", "params"))
    base = {k: args[k] for k in ("net", "params", "x")}
    out = attempt("forward", fnn.forward, base)
    if out is not None and relaid:
        expect_same("forward", base, out, fnn.forward(net, model["params"], x))
    threshold = data.draw(
        st.one_of(st.floats(0.0, 1.0), st.sampled_from([np.float32(0.5), 1, 0, 1.5, -0.1, NAN, None, "0.5"]))
    )
    attempt("predict", _predict, base | {"threshold": threshold})
    attempt("accuracy", fnn.accuracy, base | {"y": args["y"]})
    grad_args = base | {"y": args["y"], "loss": args["loss"]}
    result = attempt("grad", _grad, grad_args)
    if result is not None and relaid and args["y"] is model["y"] and args["loss"] is model["loss"]:
        expect_same("grad", grad_args, result, fnn.grad(net, model["params"], x, model["y"], loss=model["loss"]))
    more = {
        "eps": st.sampled_from([1e-5, 1e-3, np.float32(1e-4), 5e-324, 1e300]),
        "samples": st.integers(1, 3) | st.sampled_from([10**400, np.int64(2)]),
        "seed": st.integers(0, 2**64),
    }
    bad_more = {"eps": st.sampled_from([0.0, -1e-5, NAN, INF, "1e-5", None]), "samples": BAD_COUNTS, "seed": BAD_SEEDS}
    extra = data.draw(spoilt(more, bad_more))
    # check_grad takes one model: the first of a stack, x and y of its own (unless spoilt)
    one_params, one_x, one_y = model["_single"]
    single = {
        "params": one_params if args["params"] is model["params"] else args["params"],
        "x": one_x if args["x"] is relaid_x else args["x"],
        "y": one_y if args["y"] is model["y"] else args["y"],
    }
    attempt("check_grad", _check_grad, grad_args | single | extra)


def expect_same(entry: str, args: Args, got: object, want: object) -> None:
    """The README's layout promise: the same values in another memory layout give the same bits."""
    got_leaves, want_leaves = fnn.tree.leaves(got), fnn.tree.leaves(want)
    if len(got_leaves) == len(want_leaves) and all(
        a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
        for a, b in zip(got_leaves, want_leaves, strict=True)
    ):
        return
    excused(entry, args, "another memory layout of x changed the result")


def test_model_entry_points() -> None:
    run(fuzz_model_entry_points, "model_entry_points")


# ================================================================ optimizers ===

HYPER_VALID: dict[str, st.SearchStrategy[Any]] = {
    "lr": st.one_of(
        st.floats(1e-4, 10.0),
        st.sampled_from([1e-300, 1e300, 1e308, np.float32(0.1), np.int64(1), 2]),
        st.sampled_from([*SCHEDULE_EXAMPLES.values(), fnn.StepDecay(1e300, factor=1e-300, every=1)]),
    ),
    "beta": st.floats(0.0, 0.999),
    "b1": st.floats(0.0, 0.999),
    "b2": st.floats(0.0, 0.999),
    "decay": st.floats(0.0, 0.999),
    "eps": st.one_of(st.floats(1e-12, 1.0), st.sampled_from([5e-324, 1e308])),
    "weight_decay": st.one_of(st.floats(0.0, 0.1), st.sampled_from([0.0, 5e-324, 1e300, np.float32(0.01)])),
    "decay_biases": st.booleans(),
}
HYPER_BAD: st.SearchStrategy[Any] = mostly(
    [
        0.0,
        -0.1,
        1.0,
        1.5,
        [],
        [[0.1]],
        [0.1, -1.0],
        [0.1, NAN],
        np.array([True]),
        "0.1",
        10**400,
        [10**400],
        [[0.1], [0.2, 0.3]],
    ]
)
TREES: tuple[Any, ...] = (
    fnn.init(SIG, seed=0),
    fnn.init(SIG, seed=[0, 1]),
    fnn.init(CONV, seed=[3, 4]),
    (np.ones(3), np.zeros((2, 2))),
    fnn.Dense(w=np.ones((2, 2)), b=np.zeros(2)),
)
STACKS = {id(TREES[1]): 2, id(TREES[2]): 2}  # the trees stacked over a leading model axis: how many models


def hyperparameters(name: str) -> tuple[str, ...]:
    return tuple(inspect.signature(fnn.OPTIMIZERS[name]).parameters)


def _init(_opt: Any, params: Any) -> Any:
    return _opt.init(params)


def _update(_opt: Any, grads: Any, state: Any, params: Any) -> Any:
    return _opt.update(grads, state, params)


def _make_optimizer(name: Any, **hyper: Any) -> Any:
    return fnn.make_optimizer(name, **hyper)


@pytest.mark.parametrize("name", list(fnn.OPTIMIZERS))
def test_optimizers(name: str) -> None:
    """Each optimizer's factory and ``make_optimizer`` (hyperparameters near their limits, one per
    model), then ``init`` and ``update``: grads and states that fit the params or do not, and finite
    grads from 1e-300 to 1e308."""
    missing = set(hyperparameters(name)) - set(HYPER_VALID)
    assert not missing, f"{name} takes {sorted(missing)}: give them strategies in HYPER_VALID"

    @fuzz(30)
    @given(tree=st.sampled_from(TREES), data=st.data())
    def prop(tree: Any, data: st.DataObject) -> None:
        keys = data.draw(st.lists(st.sampled_from(hyperparameters(name)), unique=True), "hyperparameters given")
        models = STACKS.get(id(tree), 0)
        valid = {k: HYPER_VALID[k] for k in keys}
        if "lr" in keys and models and data.draw(st.booleans()):
            valid["lr"] = st.lists(st.floats(1e-3, 1.0), min_size=models, max_size=models).flatmap(
                lambda v: st.sampled_from([v, np.array(v), tuple(v)])
            )
        hyper = data.draw(spoilt(valid, {k: HYPER_BAD for k in keys}), "hyper")
        if data.draw(st.booleans(), "via make_optimizer"):
            factory = data.draw(st.sampled_from([name, name, name, "SGD", None]))
            opt = attempt("make_optimizer", _make_optimizer, {"name": factory, **hyper})
        else:
            opt = attempt(name, fnn.OPTIMIZERS[name], hyper)
        if opt is None:
            return
        other_tree = st.sampled_from([t for t in TREES if t is not tree])
        init_args = data.draw(spoilt({"params": st.just(tree)}, {"params": st.one_of(JUNK, other_tree)}), "init args")
        state = attempt("Optimizer.init", _init, {"_opt": opt, **init_args})
        if state is None or init_args["params"] is not tree:
            return
        scale = data.draw(st.sampled_from([1.0, 1.0, 1e-300, 1e150, 1e300, 1e308]), "grad scale")
        grads = fnn.tree_map(lambda a: np.full_like(a, scale) * np.cos(np.arange(a.size)).reshape(a.shape), tree)
        other_state = st.sampled_from([fnn.make_optimizer(n).init(t) for n in ("momentum", "adam") for t in TREES[:3]])
        valid_update = {"grads": st.just(grads), "state": st.just(state), "params": st.just(tree)}
        hostile_update = {
            "grads": st.one_of(JUNK, other_tree),
            "state": st.one_of(JUNK, other_state),
            "params": st.one_of(JUNK, other_tree),
        }
        args = data.draw(spoilt(valid_update, hostile_update), "update args")
        stepped = attempt("Optimizer.update", _update, {"_opt": opt, **args})
        if stepped is not None and args["grads"] is grads and args["params"] is tree and args["state"] is state:
            attempt(
                "Optimizer.update", _update, {"_opt": opt, "grads": grads, "state": stepped[1], "params": stepped[0]}
            )

    run(prop, f"optimizers[{name}]")


# ================================================================ training ===

OVERFLOWING = fnn.Dataset(x=[[1e300, -1e300], [2e300, 1.0]], y=[[1e300], [-1e300]], task="regression")
"""Finite data whose loss overflows float64 at any ordinary params."""
SETUPS: tuple[tuple[Any, fnn.Dataset, tuple[str, ...]], ...] = (
    (LIN, OVERFLOWING, ("mse",)),
    (SIG, XOR, ("mse", "bce")),
    (SIG, LINEAR, ("bce",)),
    (LIN, REGRESSION, ("mse",)),
    (TANH, XOR, ("mse",)),
    (SOFT, GAUSS3, ("cross_entropy", "mse")),
    (CONV, BARS, ("bce",)),
    (DROP, XOR, ("mse", "bce")),
)
DATASETS = (XOR, LINEAR, GAUSS3, REGRESSION, BARS)
CONFIG_FIELDS = tuple(f.name for f in attrs.fields(fnn.TrainConfig))
TRACE_FIELDS = tuple(f.name for f in attrs.fields(fnn.Trace))


def _step_update(grads: Any, state: Any, params: Any) -> tuple[Any, Any]:
    return fnn.tree_map(lambda p, g: p - 0.1 * g, params, grads), state


def _empty_init(params: Any) -> Any:
    return fnn.EmptyState()


CUSTOM = fnn.Optimizer("custom", {}, _empty_init, _step_update)
"""An optimizer of one's own (README: "a custom optimizer ... train it with threads")."""
ENGINES = st.sampled_from(["fast", "reference"])
WORKERS: st.SearchStrategy[Any] = st.sampled_from([None, 1, 2, np.int64(2), 10**400])
POOL = ThreadPoolExecutor(max_workers=2)  # an executor of one's own (shut down by test_tally)


@st.composite
def trainings(draw: st.DrawFn) -> dict[str, Any]:
    """A network, its params (one model or a stack), a dataset that fits it and TrainConfig arguments
    (learning rates up to 1e300: some runs diverge, and must end with a stop reason)."""
    net, data, losses = draw(st.sampled_from(SETUPS))
    m = draw(st.sampled_from([0, 0, 2, 3]))  # models in the stack; 0: a single model
    seed: Any = (
        draw(st.lists(st.integers(0, 2**32), min_size=m, max_size=m, unique=True)) if m else draw(st.integers(0, 2**32))
    )
    params = fnn.init(net, seed=seed)
    lr: Any = draw(st.sampled_from([1e-3, 0.1, 1.0, 10.0, 1e10, 1e300, *SCHEDULE_EXAMPLES.values()]))
    if lr == 1.0 and draw(st.booleans()):  # schedules that reach huge rates, or decay to 0 within a run
        lr = draw(st.sampled_from([fnn.Exponential(1e300, decay=1e-200), fnn.WarmupCosine(1e10, warmup=3, steps=5)]))
    if m and isinstance(lr, float) and draw(st.booleans()):
        lr = np.array([lr, 0.1, 1e300][:m])  # a learning-rate sweep in one run
    optimizer = fnn.make_optimizer(draw(st.sampled_from(tuple(fnn.OPTIMIZERS))), lr=lr)
    if np.ndim(lr) == 0 and draw(st.integers(0, 5)) == 0:
        optimizer = CUSTOM
    valid = {
        "epochs": st.integers(1, 3) | st.sampled_from([np.int64(2)]),
        "optimizer": st.just(optimizer),
        "loss": st.sampled_from([*losses, *(fnn.LOSSES[k] for k in losses)]),
        "batch_size": st.none() | st.integers(1, data.n),
        "shuffle": st.booleans(),
        "seed": st.just(seed),
        "stop_loss": st.none() | st.floats(1e-3, 1.0),
        "snapshot_every": st.none() | st.integers(1, 3),
        "clip_norm": st.none() | st.floats(1e-3, 10.0) | st.sampled_from([1e-300, 1e300]),
        "patience": st.none() | st.integers(1, 3) | st.sampled_from([None, None]),
        "min_delta": st.floats(0.0, 0.1) | st.sampled_from([0, 1e300]),
    }
    assert set(valid) == set(CONFIG_FIELDS), f"TrainConfig has fields {CONFIG_FIELDS}: give each a strategy"
    hostile = {
        "epochs": BAD_EPOCHS,
        "optimizer": mostly([fnn.sgd, "adam"]),
        "loss": st.one_of(JUNK, st.sampled_from(tuple(fnn.LOSSES))),
        "batch_size": st.one_of(BAD_COUNTS, st.just(data.n + 1)),
        "shuffle": st.one_of(JUNK, st.sampled_from([np.True_, 1, "yes"])),
        "seed": st.one_of(BAD_SEEDS, st.just(list(range(m + 1)))),
        "stop_loss": st.one_of(JUNK, st.sampled_from([0.0, -1.0, NAN, INF, 10**400])),
        "snapshot_every": BAD_COUNTS,
        "clip_norm": mostly([0.0, -1.0, NAN, INF, "1", 10**400]),
        "patience": BAD_COUNTS,
        "min_delta": mostly([-0.1, NAN, INF, "0", 10**400]),
    }
    return {"net": net, "params": params, "data": data, "config": draw(spoilt(valid, hostile)), "models": m}


def _train(net: Any, params: Any, data: Any, config: Any, **keywords: Any) -> Any:
    return fnn.train(net, params, data, config, **keywords)


def _train_iter(net: Any, params: Any, data: Any, config: Any, **keywords: Any) -> list[Any]:
    return list(fnn.train_iter(net, params, data, config, **keywords))  # lazily raised errors count too


def _resume(trace: Any, data: Any, epochs: Any, **keywords: Any) -> Any:
    return fnn.resume(trace, data, epochs, **keywords)


def _resume_iter(trace: Any, data: Any, epochs: Any, **keywords: Any) -> list[Any]:
    return list(fnn.resume_iter(trace, data, epochs, **keywords))


def parameters(fn: Callable[..., Any]) -> set[str]:
    return set(inspect.signature(fn).parameters)


TRAIN_KEYWORDS = {"net", "params", "data", "config", "engine", "workers", "executor", "validation"}
RESUME_KEYWORDS = {"trace", "data", "epochs", "engine", "workers", "executor", "validation"}
"""What the training property passes (test_training checks that it is all train and resume take)."""


def _member(_trace: Any, k: Any) -> Any:
    return _trace.member(k)


def same_shapes(a: fnn.Trace, b: fnn.Trace) -> bool:
    """Whether compare_traces owes finite differences (it answers inf for traces of different shapes)."""
    try:
        pa, pb = fnn.tree.leaves(a.params), fnn.tree.leaves(b.params)
    except TypeError:
        return False
    return a.loss.shape == b.loss.shape and [p.shape for p in pa] == [p.shape for p in pb]


@fuzz(130)
@given(setup=trainings(), data=st.data())
def fuzz_training(setup: dict[str, Any], data: st.DataObject) -> None:
    """``TrainConfig``, ``train``/``train_iter`` (both engines, stacks, per-model learning rates,
    diverging runs, an optimizer of one's own), then ``Trace.member``, ``compare_traces`` and
    ``resume``/``resume_iter`` (with traces whose fields do not fit together, too)."""
    net, train_data, m = setup["net"], setup["data"], setup["models"]
    config = attempt("TrainConfig", fnn.TrainConfig, setup["config"])
    if config is None:
        return
    valid = {
        "net": st.just(net),
        "params": st.just(setup["params"]),
        "data": st.just(train_data),
        "config": st.just(config),
        "engine": ENGINES,
        "workers": WORKERS,
        "executor": st.sampled_from([None, None, POOL]),
        # early stopping watches a held-out set: the training set serves (a fit is all the fuzz needs)
        "validation": st.just(train_data) if config.patience is not None else st.sampled_from([None, train_data]),
    }
    hostile = {
        "net": st.one_of(JUNK, st.sampled_from(NETS)),
        "params": bad_params(net),
        "data": st.one_of(JUNK, st.sampled_from(DATASETS)),
        "config": JUNK,
        "engine": JUNK,
        "workers": st.one_of(st.sampled_from([0, -1, 1.5, "2", True]), JUNK),
        "executor": JUNK,
        "validation": st.one_of(st.none(), JUNK, st.sampled_from(DATASETS)),
    }
    args = data.draw(spoilt(valid, hostile), "train args")
    if data.draw(st.booleans(), "lazily"):
        lazy = {k: v for k, v in args.items() if k in parameters(fnn.train_iter)}
        progress = attempt("train_iter", _train_iter, lazy, also=CONFIG_FIELDS)
        trace = progress[-1].trace if progress else None
    else:
        trace = attempt("train", _train, args, also=CONFIG_FIELDS)
    if trace is None:
        return
    if trace.models:
        k = data.draw(
            st.one_of(
                st.integers(0, m - 1), st.sampled_from([np.int64(0), np.uint8(1), -1, m, 10**400, 1.5, "0", None, True])
            )
        )
        attempt("Trace.member", _member, {"_trace": trace, "k": k}, also=("trace",))
    other = data.draw(st.one_of(st.just(trace), mostly([trace, TRACE, STACKED_TRACE])))
    pair = {"a": trace, "b": other} if data.draw(st.booleans()) else {"a": other, "b": trace}
    diff = attempt("compare_traces", fnn.compare_traces, pair)
    if diff is not None and same_shapes(pair["a"], pair["b"]):
        check_finite("compare_traces", pair, (diff.max_abs_diff, diff.max_rel_diff), "result.max_*_diff")
    resume_valid = {
        "trace": st.just(trace),
        "data": st.just(train_data),
        "epochs": st.integers(1, 2) | st.sampled_from([np.uint8(1)]),
        "engine": ENGINES,
        "workers": WORKERS,
        "executor": st.sampled_from([None, POOL]),
        "validation": st.just(train_data) if trace.config.patience is not None else st.sampled_from([None, train_data]),
    }
    resume_hostile = {
        "trace": st.one_of(JUNK, st.sampled_from([TRACE, STACKED_TRACE])),
        "data": st.one_of(JUNK, st.sampled_from(DATASETS)),
        "epochs": BAD_EPOCHS,
        "engine": JUNK,
        "workers": st.sampled_from([0, -1, "2", None]),
        "executor": JUNK,
        "validation": st.one_of(st.none(), JUNK, st.sampled_from(DATASETS)),
    }
    args = data.draw(spoilt(resume_valid, resume_hostile), "resume args")
    also = CONFIG_FIELDS + TRACE_FIELDS  # a trace's parts are named without the "trace." prefix
    if data.draw(st.booleans(), "resume lazily"):
        lazy = {k: v for k, v in args.items() if k in parameters(fnn.resume_iter)}
        attempt("resume_iter", _resume_iter, lazy, also=also)
    else:
        attempt("resume", _resume, args, also=also)
    # a sweep of the config with itself, then resumed (issue 15)
    sweep_valid = {
        "net": st.just(net),
        "data": st.just(train_data),
        "configs": st.just([config, config]),
        "seeds": st.sampled_from([[0, 1], (3,), range(2)]),
        "workers": WORKERS,
        "executor": st.sampled_from([None, POOL]),
        "validation": st.just(train_data) if config.patience is not None else st.sampled_from([None, train_data]),
    }
    sweep_hostile = {
        "net": st.one_of(JUNK, st.sampled_from(NETS)),
        "data": st.one_of(JUNK, st.sampled_from(DATASETS)),
        "configs": st.one_of(JUNK, st.sampled_from([[], [config, None], config])),
        "seeds": st.one_of(JUNK, st.sampled_from([[], [-1], 3, [1.5], [10**400]])),
        "workers": st.one_of(st.sampled_from([0, -1, 1.5, "2", True]), JUNK),
        "executor": JUNK,
        "validation": st.one_of(st.none(), JUNK, st.sampled_from(DATASETS)),
    }
    args = data.draw(spoilt(sweep_valid, sweep_hostile), "sweep args")
    traces = attempt("sweep", fnn.sweep, args, also=CONFIG_FIELDS)
    if traces:
        again = {"traces": traces, "data": args["data"], "epochs": 1, "validation": args["validation"]}
        attempt("resume_sweep", fnn.resume_sweep, again, also=CONFIG_FIELDS + TRACE_FIELDS)


def training_limits() -> None:
    """The limit cases of the training entry points, met by every run (as ``@example`` would)."""
    trainers: tuple[tuple[str, Callable[..., Any]], ...] = (("train", _train), ("train_iter", _train_iter))
    resumers: tuple[tuple[str, Callable[..., Any]], ...] = (("resume", _resume), ("resume_iter", _resume_iter))
    one = {"net": LIN, "params": fnn.init(LIN, seed=0), "data": XOR}
    early_stop = attrs.evolve(ADAM_CONFIG, patience=2, stop_loss=10.0)
    for entry, call in trainers:
        attempt(entry, call, one | {"config": early_stop, "validation": XOR}, also=CONFIG_FIELDS)
    attempt("train", _train, one | {"data": OVERFLOWING, "config": ADAM_CONFIG}, also=CONFIG_FIELDS)
    overflowing_state = fnn.TrainConfig(epochs=3, optimizer=fnn.adamw(lr=1e10), loss="mse", batch_size=2)
    snapshots = fnn.TrainConfig(epochs=2, optimizer=fnn.adamw(lr=1e300), loss="bce", snapshot_every=1)
    for entry, call in trainers:
        attempt(entry, call, {**one, "data": REGRESSION, "config": overflowing_state}, also=CONFIG_FIELDS)
        attempt(entry, call, {"net": SIG, "params": fnn.init(SIG, seed=0), "data": XOR, "config": snapshots})
    early = fnn.train(LIN, fnn.init(LIN, seed=0), REGRESSION, attrs.evolve(overflowing_state, epochs=1))
    for entry, call in resumers:
        attempt(entry, call, {"trace": early, "data": REGRESSION, "epochs": 2}, also=CONFIG_FIELDS + TRACE_FIELDS)
    same_shapes = {"a": STACKED_TRACE, "b": CALM_STACK_TRACE}
    diff = attempt("compare_traces", fnn.compare_traces, same_shapes)
    if diff is not None:  # the same shapes: finite differences are owed
        check_finite("compare_traces", same_shapes, (diff.max_abs_diff, diff.max_rel_diff), "result.max_*_diff")
    for trace in (TRACE, STACKED_TRACE):
        for epochs in (2**63, 10**400):
            for entry, call in resumers:
                attempt(entry, call, {"trace": trace, "data": XOR, "epochs": epochs}, also=CONFIG_FIELDS + TRACE_FIELDS)


def test_training() -> None:
    for fn, names in ((fnn.train, TRAIN_KEYWORDS), (fnn.resume, RESUME_KEYWORDS)):
        assert parameters(fn) <= names, f"{fn.__name__} takes {sorted(parameters(fn) - names)}: fuzz them too"
    training_limits()
    run(fuzz_training, "training")


# ================================================================ files ===

SAVED_PARAMS = ((SIG, fnn.init(SIG, seed=0)), (CONV, fnn.init(CONV, seed=[0, 1])), (SOFT, fnn.init(SOFT, seed=5)))
SAVED_TRACES = (TRACE, STACKED_TRACE, fnn.train(CONV, fnn.init(CONV, seed=[1, 2]), BARS, STACK_CONFIG))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the files the io fuzz reads: an archive of each kind, junk, an empty file, a link."""
    root = tmp_path_factory.mktemp("fuzz-io")
    (root / "sub").mkdir()
    (root / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip archive")
    (root / "empty.npz").write_bytes(b"")
    fio.save_params(root / "params.npz", SIG, fnn.init(SIG, seed=0))
    fio.save_trace(root / "trace.npz", TRACE)
    os.symlink(root / "params.npz", root / "link.npz")
    return root


def paths(root: Path) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """Paths to write or read: valid ones (str or Path, in a sub-folder too), and hostile ones."""
    valid = st.sampled_from([root / "a.npz", str(root / "b.npz"), root / "sub" / "c.npz"])
    special = [
        None,
        5,
        b"bytes.npz",
        "",
        str(root),  # a folder
        root / "missing" / "x.npz",
        str(root / "nul\0byte.npz"),
        root / "link.npz",  # a symbolic link
        root / "junk.npz",  # not an archive
        root / "empty.npz",
        root / ("x" * 300 + ".npz"),  # a name too long
        root / "params.npz",  # a file of the other kind
        root / "trace.npz",
    ]
    return valid, mostly(special)


@st.composite
def mutated(draw: st.DrawFn, d: Any) -> Any:
    """``d`` (JSON-like) with one value somewhere replaced by junk, or one key dropped."""
    if isinstance(d, dict) and d and draw(st.integers(0, 3)) > 0:
        key = draw(st.sampled_from(sorted(d)))
        if draw(st.integers(0, 4)) == 0:
            return {k: v for k, v in d.items() if k != key}
        return {**d, key: draw(mutated(d[key]))}
    if isinstance(d, list) and d and draw(st.integers(0, 3)) > 0:
        i = draw(st.integers(0, len(d) - 1))
        return [*d[:i], draw(mutated(d[i])), *d[i + 1 :]]
    return draw(st.one_of(JUNK, st.sampled_from([[], {}, "dense", 0, -1, 2**62, 10**400, [[[[[]]]]], {"name": "x"}])))


def _save_params(path: Any, net: Any, params: Any) -> bool:
    fio.save_params(path, net, params)
    return True


def _save_trace(path: Any, trace: Any) -> bool:
    fio.save_trace(path, trace)
    return True


IO_KINDS = ("params", "trace", "network")


@pytest.mark.parametrize("kind", IO_KINDS)
def test_io(kind: str, scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``functional_nn.io``: saves and loads of params and traces (a round trip gives back the same
    records), hostile paths and files; network descriptions with a value spoilt somewhere."""
    monkeypatch.chdir(scratch)  # junk such as "1" or "x" is a valid relative path: keep such files in scratch
    valid_path, hostile_path = paths(scratch)
    if kind == "network":
        numpy_values: list[Args] = [{"d": np.float64(1.0)}, {"d": np.array(0.5)}, {"d": None}, {"d": []}]
        explicit("io.network_from_dict", fio.network_from_dict, numpy_values)
    if kind == "trace":
        explicit("io.save_trace", _save_trace, [{"path": str(scratch / "nul\0byte.npz"), "trace": TRACE}])
    if kind == "params":
        nul = {"path": str(scratch / "nul\0byte.npz"), "net": SIG, "params": fnn.init(SIG, seed=0)}
        explicit("io.save_params", _save_params, [nul])

    @fuzz(45)
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        if kind == "params":
            net, params = data.draw(st.sampled_from(SAVED_PARAMS))
            valid = {"path": valid_path, "net": st.just(net), "params": st.just(params)}
            hostile = {"path": hostile_path, "net": st.one_of(JUNK, st.sampled_from(NETS)), "params": bad_params(net)}
            args = data.draw(spoilt(valid, hostile))
            saved = attempt("io.save_params", _save_params, args)
            load_valid = {"path": st.just(args["path"]), "net": st.sampled_from([None, net])}
            load = data.draw(spoilt(load_valid, {"path": hostile_path, "net": st.one_of(JUNK, st.sampled_from(NETS))}))
            pair = attempt("io.load_params", fio.load_params, load)
            if pair is not None and saved and load["path"] is args["path"]:
                same = fnn.tree.tree_equal(pair[1], args["params"]) and pair[0] == (load["net"] or args["net"])
                assert same, f"load_params(save_params(...)) differs\n  arguments: {show(args)}"
        elif kind == "trace":
            trace = data.draw(st.sampled_from(SAVED_TRACES))
            bad_traces = st.one_of(JUNK, st.sampled_from([None, STACKED_TRACE.config]))
            args = data.draw(
                spoilt({"path": valid_path, "trace": st.just(trace)}, {"path": hostile_path, "trace": bad_traces})
            )
            saved = attempt("io.save_trace", _save_trace, args, also=TRACE_FIELDS + CONFIG_FIELDS)
            load = data.draw(spoilt({"path": st.just(args["path"])}, {"path": hostile_path}))
            loaded = attempt("io.load_trace", fio.load_trace, load)
            if loaded is not None and saved and load["path"] is args["path"]:
                same = fnn.compare_traces(loaded, args["trace"]).equal
                assert same, f"load_trace(save_trace(...)) differs\n  arguments: {show(args)}"
        else:
            net = data.draw(st.sampled_from(NETS))
            attempt("io.network_to_dict", fio.network_to_dict, data.draw(spoilt({"net": st.just(net)}, {"net": JUNK})))
            d = fio.network_to_dict(net)
            args = data.draw(spoilt({"d": st.just(d)}, {"d": mutated(d)}))
            rebuilt = attempt("io.network_from_dict", fio.network_from_dict, args)
            if rebuilt is not None and args["d"] is d:
                assert rebuilt == net, "network_from_dict(network_to_dict(net)) differs"

    run(prop, f"io[{kind}]")


# ================================================================ data ===

TASKS = ("binary", "multiclass", "regression")


@st.composite
def inputs_and_targets(draw: st.DrawFn) -> dict[str, Any]:
    """x `(n, features)` (odd layouts, huge finite values, sometimes a huge broadcast view) and
    targets y for a task; the task given or left to inference."""
    task = draw(st.sampled_from(TASKS))
    k = draw(st.integers(2, 3)) if task == "multiclass" else draw(st.integers(1, 2))
    features = draw(st.integers(1, 3))
    if draw(st.integers(0, 3)) == 0:  # a huge broadcast view: checked, never materialized
        row = draw(hnp.arrays(np.float64, (features,), elements=FINITE))
        x: Any = huge(list(row))
        y: Any = huge(list(np.eye(k)[0]) if task == "multiclass" else [1.0] * k)
    else:
        n = draw(st.integers(1, 6))
        x = relayout(draw(hnp.arrays(np.float64, (n, features), elements=FINITE)), draw(st.sampled_from(LAYOUTS)))
        if task == "multiclass":
            y = np.eye(k)[draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, k - 1)))]
        elif task == "binary":
            y = draw(hnp.arrays(np.float64, (n, k), elements=st.sampled_from([0.0, 1.0])))
        else:
            y = draw(hnp.arrays(np.float64, (n, k), elements=FINITE))
    args = {"x": x, "y": y}
    if task == "regression" or draw(st.booleans()):
        args["task"] = task
    return args


N_BAD: st.SearchStrategy[Any] = st.one_of(LIMIT_SIZES, LIMIT_SIZES, mostly([0, -1, 1.5, True, None, "5", -(10**400)]))
NOISE: st.SearchStrategy[Any] = st.one_of(
    st.floats(0.0, 1.0), st.sampled_from([0, np.float32(0.1), 5e-324, 1e150, 1e300, 1e308])
)
NOISE_BAD: st.SearchStrategy[Any] = mostly([-0.1, NAN, INF, 10**400, "0.1", None])
DATA_SEEDS: st.SearchStrategy[Any] = st.integers(0, 2**64) | st.sampled_from([np.uint64(7), 10**400])
DATA_BAD_SEEDS: st.SearchStrategy[Any] = st.one_of(st.sampled_from([-1, 1.5, None, "0", [0]]), JUNK)
PLAYGROUND = (
    {"n": st.integers(3, 30), "noise": NOISE, "seed": DATA_SEEDS, "classes": st.integers(2, 3)},
    {"n": N_BAD, "noise": NOISE_BAD, "seed": DATA_BAD_SEEDS, "classes": st.one_of(N_BAD, st.just(1))},
)
GENERATORS: dict[str, tuple[dict[str, st.SearchStrategy[Any]], dict[str, st.SearchStrategy[Any]]]] = {
    "generate_linear": ({"n": st.integers(1, 30), "seed": DATA_SEEDS}, {"n": N_BAD, "seed": DATA_BAD_SEEDS}),
    "generate_xor_easy": ({"n": st.integers(2, 30) | st.sampled_from([np.int8(3)])}, {"n": N_BAD}),
    "generate_bars": (
        {
            "n_train": st.integers(1, 6),
            "n_test": st.integers(1, 6),
            "size": st.integers(6, 9),
            "noise": NOISE,
            "seed": DATA_SEEDS,
        },
        {
            "n_train": N_BAD,
            "n_test": N_BAD,
            "size": st.one_of(N_BAD, st.just(5)),
            "noise": NOISE_BAD,
            "seed": DATA_BAD_SEEDS,
        },
    ),
    "generate_circle": (
        {k: v for k, v in PLAYGROUND[0].items() if k != "classes"},
        {k: v for k, v in PLAYGROUND[1].items() if k != "classes"},
    ),
    "generate_gauss": PLAYGROUND,
    "generate_spiral": PLAYGROUND,
}
SPLITTABLE = (XOR, LINEAR, GAUSS3, REGRESSION, BARS, fnn.Dataset(x=[[1.0], [2.0]], y=[[0.0], [1.0]]))


def _dataset(x: Any, y: Any, task: Any = None) -> Any:
    return fnn.Dataset(x, y) if task is None else fnn.Dataset(x, y, task=task)


def _split(data: Any, test_fraction: Any, seed: Any, stratify: Any) -> Any:
    return fnn.split(data, test_fraction=test_fraction, seed=seed, stratify=stratify)


@st.composite
def data_calls(draw: st.DrawFn, entry: str) -> tuple[Callable[..., Any], dict[str, Any], tuple[str, ...], bool | None]:
    """``(fn, args, other names a message may use, bounded)`` for one call of a data entry point
    (``bounded`` as ``outcome`` takes it)."""
    if entry in ("Dataset", "data.check_task", "data.check_xy"):
        valid = draw(inputs_and_targets())
        if entry == "data.check_xy":
            valid.pop("task", None)
        strategies: dict[str, st.SearchStrategy[Any]] = {k: st.just(v) for k, v in valid.items()}
        if entry != "Dataset":
            strategies |= {"x_name": st.sampled_from(["x", "inputs"]), "y_name": st.sampled_from(["y", "targets"])}
        hostile = {"x": hostile_arrays(np.shape(valid["x"])[-1]), "y": hostile_arrays(2)}
        if entry != "data.check_xy":
            hostile["task"] = st.one_of(JUNK, st.sampled_from(["Binary", *TASKS]))
        args = draw(spoilt(strategies, hostile))
        checks: dict[str, Callable[..., Any]] = {
            "Dataset": _dataset,
            "data.check_task": fdata.check_task,
            "data.check_xy": fdata.check_xy,
        }
        fn = checks[entry]
        return fn, args, (str(args.get("x_name", "x")), str(args.get("y_name", "y"))), True
    if entry == "one_hot":
        k = draw(st.integers(2, 4))
        hot = draw(hnp.arrays(np.int64, st.integers(1, 5), elements=st.integers(0, k - 1)))
        valid_labels = st.sampled_from([hot, hot.tolist(), hot.astype(np.float64), hot.astype(np.uint8)])
        bad_labels = mostly(
            [
                [2**62],
                [1e300],
                np.array([2**64 - 1], dtype=np.uint64),
                [-1, 1],
                [0.5, 1.0],
                [NAN],
                [[0, 1]],
                [],
                [[0], [1, 2]],
                [0, 0],
            ]
        )
        valid = {"labels": valid_labels, "classes": st.sampled_from([None, k, k + 1, np.int64(k)])}
        hostile = {"labels": bad_labels, "classes": mostly([1, 0, 10**400, 2**62, 1.5])}
        return fnn.one_hot, draw(spoilt(valid, hostile)), (), None
    if entry == "split":
        valid = {
            "data": st.sampled_from(SPLITTABLE),
            "test_fraction": st.floats(0.05, 0.95) | st.sampled_from([np.float32(0.5), 1e-300]),
            "seed": st.integers(0, 2**64) | st.just(10**400),
            "stratify": st.sampled_from([None, True, False]),
        }
        hostile = {
            "data": JUNK,
            "test_fraction": st.sampled_from([0.0, 1.0, -0.5, NAN, 10**400, "0.3"]) | JUNK,
            "seed": BAD_SEEDS,
            "stratify": st.one_of(st.sampled_from([np.True_, 1, "yes"]), JUNK),
        }
        return _split, draw(spoilt(valid, hostile)), (), None
    if entry in GENERATORS:
        valid, hostile = GENERATORS[entry]
        return getattr(fnn, entry), draw(spoilt(valid, hostile)), (), None
    if entry == "fit_standardizer":
        x = draw(inputs_and_targets())["x"]
        return (
            fnn.fit_standardizer,
            draw(spoilt({"x": st.sampled_from([x, XOR, REGRESSION])}, {"x": hostile_arrays(2)})),
            (),
            True,
        )
    if entry == "standardize":
        source = draw(st.sampled_from([XOR, GAUSS3, REGRESSION, BARS]))
        overflowing = [
            fdata.Standardizer(mean=[1e308, 0.0], scale=[1e-300, 1.0]),
            fdata.Standardizer(mean=[0.0, 0.0], scale=[5e-324, 1.0]),
        ]
        valid = {
            "data_or_x": st.sampled_from([source, source.x, relayout(source.x, "fortran"), source.x.tolist()]),
            "stats": st.just(fnn.fit_standardizer(source)),
        }
        hostile = {
            "data_or_x": hostile_arrays(source.x.shape[1]),
            "stats": st.one_of(JUNK, st.sampled_from(overflowing)),
        }
        # its docs: naming stats, x or data.x; it computes the whole result before it can tell that it overflows
        return fnn.standardize, draw(spoilt(valid, hostile)), ("x", "data"), False
    c, h, w = draw(st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 4)))
    images = draw(hnp.arrays(np.float64, (draw(st.integers(1, 3)), c, h, w), elements=FINITE))
    valid_images = [images, relayout(images, "fortran"), relayout(images, "reversed")] + (
        [images[:, 0]] if c == 1 else []
    )
    valid = {
        "images": st.sampled_from(valid_images),
        "shape": st.sampled_from([(c, h, w), [c, h, w], np.array([c, h, w])]),
        "name": st.sampled_from(["images", "pictures"]),
    }
    args = draw(spoilt(valid, {"images": hostile_arrays(w), "shape": BAD_IMAGE_SHAPES}))
    return fnn.flatten_images, args, (str(args["name"]), "in_shape"), True


DATA_FUNCTIONS: dict[str, tuple[Callable[..., Any], tuple[str, ...], bool | None]] = {
    "one_hot": (fnn.one_hot, (), None),
    "flatten_images": (fnn.flatten_images, ("images", "in_shape"), True),
    "Dataset": (_dataset, ("x", "y"), True),
    "data.check_task": (fdata.check_task, ("x", "y"), True),
    **{g: (getattr(fnn, g), (), None) for g in GENERATORS},
}
DATA_LIMITS: dict[str, tuple[Args, ...]] = {
    "one_hot": (
        {"labels": [0, 1], "classes": 2**62},
        {"labels": [2**62]},
        {"labels": [1e300]},
        {"labels": [[0], [1, 2]]},
    ),
    "generate_linear": ({"n": 2**62, "seed": 0}, {"n": 10**400, "seed": 0}),
    "flatten_images": ({"images": np.zeros((2, 1, 2, 2)), "shape": np.array(3), "name": "images"},),
    "Dataset": ({"x": [[1.0]], "y": [[1e308, 1e308]], "task": "multiclass"},),
    "data.check_task": ({"x": [[1.0]], "y": [[1e308, 1e308]], "task": "multiclass"},),
    "generate_xor_easy": ({"n": 2**62}, {"n": 10**400}),
    "generate_circle": ({"n": 2**62, "seed": 0}, {"n": 10**400, "seed": 0}, {"n": 9, "noise": 1e308, "seed": 0}),
    "generate_gauss": ({"n": 2**62, "seed": 0}, {"n": 2**62, "classes": 2**62, "seed": 0}, {"n": 10**400, "seed": 0}),
    "generate_spiral": (
        {"n": 2**62, "seed": 0},
        {"n": 10**400, "classes": 3, "seed": 0},
        {"n": 9, "noise": 1e308, "seed": 0},
    ),
    "generate_bars": (
        {"n_train": 2**62, "seed": 0},
        {"n_test": 2, "size": 2**31, "seed": 0},
        {"n_train": 2, "n_test": 2, "size": 6, "noise": 1e308, "seed": 0},
    ),
}
DATA_ENTRIES = (
    "Dataset",
    "data.check_task",
    "data.check_xy",
    "one_hot",
    "split",
    *GENERATORS,
    "fit_standardizer",
    "standardize",
    "flatten_images",
)


@pytest.mark.parametrize("entry", DATA_ENTRIES)
def test_data(entry: str) -> None:
    """Datasets and their checks, one-hot labels, splits, the seeded generators (sizes near every
    limit, noise up to 1e308), standardization and image flattening; huge broadcast views are
    validated within a small memory budget."""

    for case in DATA_LIMITS.get(entry, ()):
        fn, also, bounded = DATA_FUNCTIONS[entry]
        attempt(entry, fn, case, also=also, bounded=bounded)

    @fuzz(30)
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        fn, args, also, bounded = data.draw(data_calls(entry))
        made = attempt(entry, fn, args, also=also, bounded=bounded)
        if entry == "Dataset" and made is not None and made.task not in TASKS:
            raise AssertionError(f"Dataset(...).task is {made.task!r}, not one of {TASKS}\n  arguments: {show(args)}")

    run(prop, f"data[{entry}]")


# ================================================================ tree_map ===

MAP_TREES: tuple[Any, ...] = (
    *TREES,
    TRACE.params,
    STACKED_TRACE.opt_state,
    (np.arange(3), (np.ones((2, 1)),)),
    fnn.adam().init(TREES[0]),
)


def _tree_map(f: Any, tree: Any, rest: Sequence[Any], broadcast: Any) -> Any:
    return fnn.tree_map(f, tree, *rest, broadcast=broadcast)


def _half(a: FloatArray) -> FloatArray:
    return a * 0.5


def _blend(a: FloatArray, b: FloatArray) -> FloatArray:
    return a * 0.5 + b * 0.25


@fuzz(80)
@given(tree=st.sampled_from(MAP_TREES), arity=st.integers(1, 2), data=st.data())
def fuzz_tree_map(tree: Any, arity: int, data: st.DataObject) -> None:
    """``tree_map`` with functions that cannot overflow, over params, states and nested tuples; a
    second tree of the same structure or not; junk for the function or the trees."""
    with np.errstate(all="ignore"):
        twin = fnn.tree_map(np.cos, tree)
    one = st.sampled_from([np.negative, np.abs, _half])
    two = st.sampled_from([np.minimum, np.maximum, _blend])
    valid = {
        "f": one if arity == 1 else two,
        "tree": st.just(tree),
        "rest": st.just(() if arity == 1 else (twin,)),
        "broadcast": st.booleans(),
    }
    hostile: dict[str, st.SearchStrategy[Any]] = {"f": st.one_of(st.sampled_from([None, 5, "f"]), JUNK), "tree": JUNK}
    if arity == 2:  # (a one-argument f given a second tree would raise the caller's own TypeError)
        hostile["rest"] = st.one_of(
            st.sampled_from([(None,), (TREES[0],), (TREES[4],), ([np.ones(2)],)]), st.tuples(JUNK)
        )
    attempt("tree_map", _tree_map, data.draw(spoilt(valid, hostile)))


def test_tree_map() -> None:
    odd_trees = (np.array([[1j, 2.0]]), np.array([[10**400]], dtype=object), (np.array(["a"]),))
    explicit("tree_map", _tree_map, ({"f": _half, "tree": t, "rest": (), "broadcast": False} for t in odd_trees))
    run(fuzz_tree_map, "tree_map")


# ================================================================ the known bugs ===
# The promises this fuzz found broken.  Each entry excuses only the calls its predicate accepts;
# delete it once its bug is fixed (test_known_bug_reproduces fails then, naming it).

# ------------------------------------------------- what the predicates ask ---


def epochs_at_least(v: object, low: int, high: float = math.inf) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and low <= int(v) < high


def config_epochs_huge(args: Args) -> bool:
    config = args.get("config")
    return isinstance(config, fnn.TrainConfig) and epochs_at_least(config.epochs, 2**62)


def is_real_array_like(v: object) -> bool:
    """What ``sigmoid(z)`` can take: a real number or a real array-like (no None, str, object or complex
    dtype, ragged nesting, or integer too large for a float)."""
    if isinstance(v, bool) or v is None:
        return isinstance(v, bool)
    if isinstance(v, (str, bytes)):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            arr = np.asarray(v)
    except Exception:
        return False
    return arr.dtype.kind in "biuf"


def big_int(v: object) -> bool:
    """An integer at or beyond the limits of arrays (the fuzz's huge sizes are all >= 2**60)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and abs(int(v)) >= 2**60


def holds_huge(v: object, limit: float = 1e150) -> bool:
    """A real array or number with a finite magnitude above ``limit`` (overflow material)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.asarray(v, dtype=np.float64)
    except Exception:
        return False
    arr = distinct(arr) if arr.ndim else arr
    return bool(np.any(np.isfinite(arr) & (np.abs(arr) > limit)))


def tree_holds_huge(tree: object, limit: float = 1e150) -> bool:
    try:
        leaves = fnn.tree.leaves(tree) if not isinstance(tree, np.ndarray) else (tree,)
    except TypeError:
        return False
    return any(holds_huge(leaf, limit) for leaf in leaves)


def shapes_differ(*values: Any) -> bool:
    return len({np.shape(v) for v in values if is_real_array_like(v)}) > 1


def real_ndarray(v: object) -> bool:
    return isinstance(v, np.ndarray) and v.dtype.kind in "iuf"


def arguments(a: Args) -> list[Any]:
    return [v for k, v in a.items() if not k.startswith("_")]


def activation_args_unchecked(a: Args) -> bool:
    """An argument that is not a real array (None, str, Python scalars, bool/object/complex arrays),
    or arrays of different shapes: the activation methods check none of it."""
    values = arguments(a)
    return any(not real_ndarray(v) for v in values) or shapes_differ(*values)


def update_overflows(a: Args) -> bool:
    """Values (grads, params, state) or hyperparameters beyond 1e100: the step can overflow float64."""
    opt = a.get("_opt")
    hyper = isinstance(opt, fnn.Optimizer) and any(holds_huge(v, 1e100) for v in opt.hyperparams.values())
    return hyper or any(tree_holds_huge(a.get(k), 1e100) for k in ("grads", "params", "state"))


def not_a_tree_of_real_arrays(v: object) -> bool:
    try:
        leaves = fnn.tree.leaves(v)
    except TypeError:
        return True
    return any(leaf.dtype.kind not in "biuf" for leaf in leaves)


def dense_too_large(a: Args) -> bool:
    net = a.get("net")
    return isinstance(net, fnn.Network) and any(
        isinstance(layer, fnn.DenseLayer) and layer.in_features * layer.out_features >= 2**60 for layer in net.layers
    )


def sizes_beyond_limits(a: Args) -> bool:
    return any(big_int(a.get(k)) for k in ("n", "n_train", "n_test", "size", "classes"))


def noise_overflows(a: Args) -> bool:
    noise = a.get("noise")
    return isinstance(noise, (float, np.floating)) and math.isfinite(noise) and abs(float(noise)) > 1e305


def ragged(v: object) -> bool:
    """Nested lists NumPy cannot make an array of."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            np.asarray(v)
    except ValueError:
        return True
    except Exception:
        return False
    return False


def int64_refuses(v: object) -> bool:
    """Whether ``np.asarray(v, dtype=np.int64)`` (Trace's stop_epoch converter) raises for ``v``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            np.asarray(v, dtype=np.int64)
    except Exception:
        return True
    return False


def holds_numpy(v: object, depth: int = 0) -> bool:
    """A NumPy array or scalar anywhere in a JSON-like value."""
    if isinstance(v, (np.ndarray, np.generic)):
        return True
    if depth > 20:
        return False
    if isinstance(v, Mapping):
        return any(holds_numpy(x, depth + 1) for x in (*v.keys(), *v.values()))
    if isinstance(v, (list, tuple)):
        return any(holds_numpy(x, depth + 1) for x in v)
    return False


def config_of(a: Args) -> Any:
    config = a.get("config")
    return config if isinstance(config, fnn.TrainConfig) else None


def zero_d(v: object) -> bool:
    return isinstance(v, np.ndarray) and v.ndim == 0


def loss_overflows_from_the_start(a: Args) -> bool:
    """Training data whose loss overflows float64 at the initial params (the fuzz's OVERFLOWING set)."""
    return a.get("data") is OVERFLOWING


def known(
    key: str,
    entries: Sequence[str],
    text: str,
    fn: Callable[..., object],
    args: Args,
    applies: Callable[[Args], bool],
    symptom: str = "",
    reproduce: Callable[[], str | None] | None = None,
) -> list[KnownBug]:
    """One KnownBug per entry point a bug shows at (each counts and excuses its own cases)."""
    keys = [f"{key}/{e}" if len(entries) > 1 else key for e in entries]
    return [
        KnownBug(k, e, text, fn, args, applies, symptom=symptom, reproduce=reproduce)
        for k, e in zip(keys, entries, strict=True)
    ]


_HANG_TRAIN = """
import functional_nn as fnn
net = fnn.mlp((2, 3, 1))
config = fnn.TrainConfig(epochs=2**63, optimizer=fnn.sgd(lr=0.1), loss="mse")
fnn.train(net, fnn.init(net, seed=0), fnn.generate_xor_easy(3), config)
"""
_HANG_RESUME = """
import functional_nn as fnn
net = fnn.mlp((2, 3, 1))
data = fnn.generate_xor_easy(3)
trace = fnn.train(net, fnn.init(net, seed=0), data, fnn.TrainConfig(epochs=1, optimizer=fnn.sgd(lr=0.1), loss="mse"))
fnn.resume(trace, data, 2**63)
"""
_HANG_TRAIN_ITER = _HANG_TRAIN.replace(
    "fnn.train(net, fnn.init(net, seed=0), fnn.generate_xor_easy(3), config)",
    "list(fnn.train_iter(net, fnn.init(net, seed=0), fnn.generate_xor_easy(3), config))",
)
_HANG_RESUME_ITER = _HANG_RESUME.replace("fnn.resume(trace, data, 2**63)", "list(fnn.resume_iter(trace, data, 2**63))")
_ONE_EPOCH = fnn.TrainConfig(epochs=1, optimizer=fnn.sgd(lr=0.1), loss="mse")
_TRAIN_ARGS = {"net": LIN, "params": fnn.init(LIN, seed=0), "data": OVERFLOWING, "config": _ONE_EPOCH, "engine": "fast"}
_HUGE_TANH = fnn.tree_map(lambda a: a * 1e200, fnn.init(TANH, seed=1))

KNOWN_BUGS: tuple[KnownBug, ...] = (
    # --- calls that never return: not made by the fuzz; reproduced in a subprocess, for 2 s
    # --- refusals that raise another exception, or name no argument
)


_HANG_RUNNER = """
import json, os, resource, sys, threading, time
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**29, 3 * 2**29))  # a runaway call fails at 1.5 GB
import functional_nn
calls, results = json.loads(sys.argv[1]), {}

def one(key, code):
    try:
        exec(code, {})
        results[key] = "returned"
    except BaseException as err:
        results[key] = f"{type(err).__name__}: {err}"[:300]

threads = [threading.Thread(target=one, args=item, daemon=True) for item in calls.items()]
deadline = time.monotonic() + 2.0
for t in threads:
    t.start()
for t in threads:
    t.join(max(0.0, deadline - time.monotonic()))
print(json.dumps({k: results.get(k, "still running after 2 s") for k in calls}), flush=True)
os._exit(0)
"""


@functools.cache
def hang_reproductions() -> dict[str, str]:
    """How each reproduction of a ``hangs`` bug ended: all run at once in one subprocess, for 2 s."""
    calls = {b.key: b.subprocess_code for b in KNOWN_BUGS if b.hangs}
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _HANG_RUNNER, json.dumps(calls)], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def reproduces(bug: KnownBug) -> str | None:
    """What ``bug``'s reproduction still breaks, or None once it is fixed."""
    if bug.hangs:
        ended = hang_reproductions()[bug.key]
        return None if ended == "returned" or ended.startswith(("ValueError", "TypeError")) else ended
    if bug.reproduce is not None:
        return bug.reproduce()
    names = [k for k in bug.args if not k.startswith("_")] + path_names(bug.args)
    verdict, value = outcome(bug.fn, bug.args, names, bounded=True)
    return str(value) if verdict == "broken" else None


@pytest.mark.parametrize("bug", KNOWN_BUGS, ids=[b.key for b in KNOWN_BUGS])
def test_known_bug_reproduces(bug: KnownBug) -> None:
    """Each KNOWN_BUGS entry still breaks a promise; once fixed, delete the entry (the fuzz then holds the fix)."""
    assert bug.hangs or bug.applies(bug.args), f"{bug.key}: its reproduction is not among the cases it excuses"
    problem = reproduces(bug)
    assert problem is not None, f"{bug.key} is fixed: delete its entry from KNOWN_BUGS in tests/test_fuzz.py"


# ================================================================ the tally ===

EXCLUDED = {
    "Activation": "a Protocol (cannot be instantiated); the activation records' value/backward/derivative are fuzzed",
    "Layer": "a Protocol; the layer kinds are fuzzed",
    "Loss": "a Protocol; the loss records are fuzzed as records and through grad/train",
    "Params": "a type alias, tuple[LayerParams, ...]",
    "SweepError": "an exception class, raised by sweep (fuzzed there)",
    "SweepProgress": "the message a sweep's progress callback receives (a named tuple)",
}
METHODS = (
    "Optimizer.init",
    "Optimizer.update",
    "Trace.member",
    "Schedule.__call__",
    "Activation.value",
    "Activation.backward",
    "Activation.derivative",
)
PROPERTIES = (
    {f"activations[{n}]" for n in ACTIVATION_RECORDS}
    | {f"records[{n}]" for n in RECORD_CLASSES}
    | {f"layer_kinds[{k}]" for k in LAYER_ARGS}
    | {f"networks_and_init[{k}]" for k in NETWORK_CALLS}
    | {f"optimizers[{n}]" for n in fnn.OPTIMIZERS}
    | {f"schedule_calls[{n}]" for n in SCHEDULE_EXAMPLES}
    | {f"io[{k}]" for k in IO_KINDS}
    | {f"data[{e}]" for e in DATA_ENTRIES}
    | {"registry_lookups", "model_entry_points", "training", "tree_map"}
)


def entry_points() -> list[str]:
    """Every public entry point: the callables of ``fnn.__all__`` (but EXCLUDED), the methods,
    ``functional_nn.io``'s functions and ``functional_nn.data``'s that the package does not re-export."""
    names = {n for n in fnn.__all__ if callable(getattr(fnn, n)) and n not in EXCLUDED}
    names |= {f"io.{n}" for n in fio.__all__ if callable(getattr(fio, n))}
    names |= {f"data.{n}" for n in fdata.__all__ if callable(getattr(fdata, n)) and n not in fnn.__all__}
    return sorted(names | set(METHODS))


def test_tally() -> None:
    """Last: every entry point ran and most calls reached the result checks; print the figures."""
    if FINISHED != PROPERTIES:
        pytest.skip(f"run the whole file: {sorted(PROPERTIES - FINISHED)} did not run")
    POOL.shutdown()
    rows = [f"{'entry point':32} {'calls':>6} {'checked':>8} {'refused':>8} {'known':>6}"]
    for name in sorted(TALLIES):
        t = TALLIES[name]
        rows.append(f"{name:32} {t.calls:6d} {t.checked:8d} {t.refused:8d} {t.known:6d}")
    calls = sum(t.calls for t in TALLIES.values())
    checked = sum(t.checked for t in TALLIES.values())
    refused = sum(t.refused for t in TALLIES.values())
    known = sum(t.known for t in TALLIES.values())
    rows.append(f"{'total':32} {calls:6d} {checked:8d} {refused:8d} {known:6d}")
    rows.append(
        f"fuzz: {calls} calls of {len(TALLIES)} entry points: {checked} accepted and checked finite "
        f"({checked / calls:.0%}), {refused} refused naming an argument, {known} excused by {len(KNOWN_BUGS)} known bugs"
    )
    rows.append("known bugs (fuzz calls each excused): " + ", ".join(f"{b.key} {EXCUSED[b.key]}" for b in KNOWN_BUGS))
    print("\n" + "\n".join(rows))
    if COLLECT:
        print(f"\n{len(BROKEN)} broken promises:\n" + "\n".join(BROKEN))
    missing = [n for n in entry_points() if TALLIES[n].calls == 0]
    assert not missing, f"entry points the fuzz never called: {missing}"
    unchecked = [n for n in entry_points() if TALLIES[n].checked == 0]
    assert not unchecked, f"entry points whose results were never checked: {unchecked}"
    assert checked >= 0.5 * calls, f"only {checked} of {calls} calls reached the result checks"
    assert refused >= 0.1 * calls, f"only {refused} of {calls} calls were refused: the hostile arguments do not arrive"
    assert not BROKEN, f"{len(BROKEN)} broken promises (listed above)"
