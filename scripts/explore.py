"""The training explorer: train a few small networks and write one self-contained HTML page to watch them learn.

    python -m scripts.explore [--datasets circle spiral] [--hidden 8,8] [--activation tanh relu]
                              [--optimizer adam] [--lr 0.03] [--epochs 1000] [--seeds 0] [--snapshots 60]
                              [--out results/explorer.html]

Every combination of the list flags (datasets, hidden sizes, activations,
optimizers, learning rates, seeds) is one run on the page.  Runs that differ
only in learning rate or seed train together as one stack of models
(``trace.member(k)`` is each one).  Each dataset is split into a training and a
held-out part (``--test-fraction``); the page shows, at each of ``--snapshots``
epochs (denser at the start), the decision boundary over both parts, what every
hidden unit computes over the input plane, the weights, and the loss curves.

The page is one file: its script and style (``scripts/explorer/``) and the runs
(heatmaps as deflate-compressed bytes) are inside it; it makes no request and
opens from ``file://``.  Bad flags give a one-line message and exit status 2;
Ctrl-C one line and exit status 130.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import math
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

import functional_nn as fnn
from functional_nn import views
from functional_nn.trace import take_models
from scripts import _files
from scripts._cli import Parser, int_at_least, int_list, number_in, prepare_out, reporting_errors

FloatArray = npt.NDArray[np.float64]

TEMPLATES = Path(__file__).with_name("explorer")
DATASETS = ("circle", "spiral", "gauss", "xor", "linear")
"""Two-class sets: TensorFlow Playground's circle, spiral and gauss, and the lab's xor and linear."""
MAX_RUNS = 12
MAX_LAYERS = 4
MAX_UNITS = 16
"""Hidden layers and units per layer the page draws (each unit has its own picture)."""
MAX_EPOCHS = 100_000
MAX_SNAPSHOTS = 200
UNIT_GRID = 24
"""Points per side of a hidden unit's map."""
OUTPUT_GRID = 64
"""Points per side of the decision boundary's map."""
MAX_KEPT = 10_000
"""Snapshots kept while training, at most (the page shows up to ``MAX_SNAPSHOTS + 1`` of them; more kept
only refines the choice of the first epochs)."""
CURVE_POINTS = 1000
"""At most this many points of each loss curve go into the page (the numbers shown are exact)."""
BOUNDED = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
"""Activations whose maps are drawn over their whole range; the others over [-m, m], m their largest |value|."""


def _dataset_names(text: str) -> str:
    if text not in DATASETS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(DATASETS)}, got {text!r}")
    return text


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value > 0.0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m scripts.explore",
        description="Train small networks on 2-D data and write one HTML page that replays their training.",
    )
    p.add_argument(
        "--datasets",
        nargs="+",
        type=_dataset_names,
        default=["circle", "spiral"],
        metavar="NAME",
        help=f"datasets, one run each: {', '.join(DATASETS)} (default: circle spiral)",
    )
    p.add_argument(
        "--hidden",
        nargs="+",
        type=int_list("8,8", minimum=1),
        default=[(8, 8)],
        metavar="SIZES",
        help=f"hidden layer sizes of each network, e.g. 8,8 4 (default: 8,8; at most {MAX_LAYERS} layers of "
        f"{MAX_UNITS} units)",
    )
    p.add_argument(
        "--activation",
        nargs="+",
        default=["tanh", "relu"],
        metavar="NAME",
        help=f"hidden activations: {', '.join(a for a in fnn.ACTIVATIONS if a != 'softmax')} (default: tanh relu)",
    )
    p.add_argument(
        "--optimizer",
        nargs="+",
        choices=tuple(fnn.OPTIMIZERS),
        default=["adam"],
        metavar="NAME",
        help=f"optimizers: {', '.join(fnn.OPTIMIZERS)} (default: adam)",
    )
    p.add_argument(
        "--lr", nargs="+", type=_positive_float, default=[0.03], metavar="LR", help="learning rates (default: 0.03)"
    )
    p.add_argument("--loss", choices=("bce", "mse"), default="bce", help="loss (default: bce)")
    p.add_argument(
        "--epochs",
        type=int_at_least(1),
        default=1000,
        help=f"epochs, full batch (default: 1000; at most {MAX_EPOCHS:,})",
    )
    p.add_argument(
        "--seeds", nargs="+", type=int_at_least(0), default=[0], metavar="SEED", help="weight seeds (default: 0)"
    )
    p.add_argument(
        "--snapshots",
        type=int_at_least(1),
        default=60,
        help=f"epochs shown after the first, denser at the start (default: 60; at most {MAX_SNAPSHOTS})",
    )
    p.add_argument(
        "--init", default="xavier", help=f"weight initializer: {', '.join(fnn.INITIALIZERS)} (default: xavier)"
    )
    p.add_argument("--noise", type=number_in(0.0), default=0.0, help="noise of circle, spiral and gauss (default: 0)")
    p.add_argument(
        "--test-fraction",
        type=number_in(0.05, 0.8),
        default=0.3,
        help="share of each dataset held out, 0.05 to 0.8 (default: 0.3)",
    )
    p.add_argument("--data-seed", type=int_at_least(0), default=0, help="seed of the data and its split (default: 0)")
    p.add_argument(
        "--out", type=Path, default=Path("results/explorer.html"), help="the page (default: results/explorer.html)"
    )
    return p


# ------------------------------------------------------------------ runs ---


@attrs.frozen
class Group:
    """Runs that train as one stack: same data, network and optimizer; one model per (lr, seed)."""

    dataset: str
    hidden: tuple[int, ...]
    activation: str
    optimizer: str
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]

    @property
    def members(self) -> tuple[tuple[float, int], ...]:
        """(lr, seed) of each model of the stack."""
        return tuple(itertools.product(self.lrs, self.seeds))


@attrs.frozen
class Settings:
    """What every run shares."""

    loss: str = "bce"
    epochs: int = 1000
    snapshots: int = 60
    init: str = "xavier"
    noise: float = 0.0
    test_fraction: float = 0.3
    data_seed: int = 0


@attrs.frozen
class Run:
    """One model's training, with what the page needs beside its trace."""

    label: str
    group: Group
    lr: float
    seed: int
    trace: fnn.Trace
    initial: Any
    train: fnn.Dataset
    test: fnn.Dataset


def groups_from(args: argparse.Namespace) -> list[Group]:
    """One group per (dataset, hidden sizes, activation, optimizer), in the order of the flags.

    Raises:
        ValueError: one line naming the flag, before any training.
    """
    for act in args.activation:
        if act not in fnn.ACTIVATIONS or act == "softmax":
            names = ", ".join(a for a in fnn.ACTIVATIONS if a != "softmax")
            raise ValueError(f"--activation {act}: expected one of {names}")
    if args.init not in fnn.INITIALIZERS:
        raise ValueError(f"--init {args.init}: expected one of {', '.join(fnn.INITIALIZERS)}")
    for sizes in args.hidden:
        if len(sizes) > MAX_LAYERS or max(sizes) > MAX_UNITS:
            raise ValueError(
                f"--hidden {','.join(map(str, sizes))}: the page draws at most {MAX_LAYERS} hidden layers of "
                f"{MAX_UNITS} units"
            )
    if args.epochs > MAX_EPOCHS:
        raise ValueError(f"--epochs {args.epochs}: at most {MAX_EPOCHS:,}")
    if args.snapshots > MAX_SNAPSHOTS:
        raise ValueError(f"--snapshots {args.snapshots}: at most {MAX_SNAPSHOTS}")
    lrs, seeds = _unique(args.lr), _unique(args.seeds)
    keys = itertools.product(
        _unique(args.datasets), _unique(args.hidden), _unique(args.activation), _unique(args.optimizer)
    )
    groups = [Group(d, tuple(h), a, o, lrs, seeds) for d, h, a, o in keys]
    count = len(groups) * len(lrs) * len(seeds)
    if count > MAX_RUNS:
        raise ValueError(
            f"{count} runs asked for (every combination of --datasets, --hidden, --activation, --optimizer, --lr "
            f"and --seeds); the page holds at most {MAX_RUNS}"
        )
    return groups


def _unique(values: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


def dataset(name: str, settings: Settings) -> fnn.Dataset:
    """The two-class set ``name`` (Playground's drawn with the data seed and noise; the lab's xor is fixed)."""
    seed, noise = settings.data_seed, settings.noise
    if name == "circle":
        return fnn.generate_circle(noise=noise, seed=seed)
    if name == "spiral":
        return fnn.generate_spiral(noise=noise, seed=seed)
    if name == "gauss":
        return fnn.generate_gauss(noise=noise, seed=seed)
    if name == "xor":
        return fnn.generate_xor_easy(n=11)
    return fnn.generate_linear(n=100, seed=seed)


def _labels(groups: Sequence[Group]) -> list[str]:
    """Each run's label: the settings that vary between the runs (all of them for a single run)."""
    runs = [(g, lr, seed) for g in groups for lr, seed in g.members]
    parts: list[list[str]] = [[] for _ in runs]
    columns = [
        [
            (g.dataset, "-".join(map(str, g.hidden)), g.activation, g.optimizer, f"lr {lr:g}", f"seed {s}")[c]
            for g, lr, s in runs
        ]
        for c in range(6)
    ]
    for values in columns:
        if len(set(values)) > 1 or len(runs) == 1:
            for part, value in zip(parts, values):
                part.append(value)
    return [" · ".join(p) for p in parts]


def train_group(group: Group, settings: Settings) -> list[Run]:
    """Train the group's models as one stack; one Run per model, with snapshots for the page."""
    data = dataset(group.dataset, settings)
    train, test = fnn.split(data, test_fraction=settings.test_fraction, seed=settings.data_seed, stratify=True)
    net = fnn.mlp((2, *group.hidden, 1), hidden=group.activation, output="sigmoid")
    members = group.members
    seeds = [s for _, s in members]
    initial = fnn.init(net, seed=seeds, scheme=settings.init)
    lr = np.array([lr for lr, _ in members])
    config = fnn.TrainConfig(
        epochs=settings.epochs,
        optimizer=fnn.make_optimizer(group.optimizer, lr=lr),
        loss=settings.loss,
        seed=seeds,
        snapshot_every=max(
            views.snapshot_every(settings.epochs, views.parameter_count(initial)),
            math.ceil(settings.epochs / MAX_KEPT),
        ),
    )
    trace = fnn.train(net, initial, train, config, validation=test)
    return [
        Run("", group, lr_k, seed_k, trace.member(k), take_models(initial, k), train, test)
        for k, (lr_k, seed_k) in enumerate(members)
    ]


def train_all(groups: Sequence[Group], settings: Settings, *, echo: bool = True) -> list[Run]:
    """Every run, labelled, in the order of the groups."""
    runs: list[Run] = []
    for group in groups:
        started = time.perf_counter()
        done = train_group(group, settings)
        if echo:
            print(
                f"trained {group.dataset}, network {'-'.join(map(str, (2, *group.hidden, 1)))} {group.activation}, "
                f"{group.optimizer}: {len(done)} model{'s' if len(done) > 1 else ''} in "
                f"{time.perf_counter() - started:.2f} s"
            )
        runs.extend(done)
    return [attrs.evolve(r, label=label) for r, label in zip(runs, _labels(groups))]


# ------------------------------------------------------------- the page ---


def _round(values: npt.ArrayLike, digits: int = 5) -> Any:
    """A float, or nested lists of them, with ``digits`` significant digits (None for NaN/inf: JSON has neither)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        v = float(arr)
        return float(f"{v:.{digits}g}") if math.isfinite(v) else None
    return [_round(v, digits) for v in arr]


def _exact(values: npt.ArrayLike) -> list[float | None]:
    """Floats as they are (JSON's shortest repr reads back to the same double), None for NaN/inf."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).ravel()]


def _packed(data: npt.NDArray[np.uint8]) -> str:
    """Bytes for the page: deflate (zlib) then base64; the page inflates them with DecompressionStream."""
    return base64.b64encode(zlib.compress(np.ascontiguousarray(data).tobytes(), 9)).decode("ascii")


def unit_ranges(activation: str, maps: FloatArray) -> FloatArray:
    """``(lo, hi)`` of each map `(frames, units, G, G)`, shape `(frames, units, 2)`: the activation's range
    if it is bounded, else ``[-m, m]`` with m the map's largest |value| (white is 0 either way, or 0.5 for
    a sigmoid)."""
    frames, units = maps.shape[:2]
    if activation in BOUNDED:
        return np.broadcast_to(np.array(BOUNDED[activation]), (frames, units, 2))
    m = np.max(np.abs(maps), axis=(2, 3))
    m = np.where(m > 0.0, m, 1.0)
    return np.stack([-m, m], axis=-1)


def run_data(run: Run, snapshots: int) -> dict[str, Any]:
    """What the page holds of one run: points, the chosen epochs' figures, params and maps, the curves."""
    trace, net = run.trace, run.trace.network
    available = views.frames(trace, run.initial)
    chosen = set(views.pick_epochs([e for e, _ in available], snapshots + 1))
    shown = [(e, p) for e, p in available if e in chosen]
    epochs = [e for e, _ in shown]
    stacked = fnn.tree_map(lambda *leaf: np.stack(leaf), *(p for _, p in shown))  # frames as a stack of models
    both = np.concatenate([run.train.x, run.test.x])
    small, large = views.plane(both, UNIT_GRID), views.plane(both, OUTPUT_GRID)
    hidden = views.unit_maps(net, stacked, small)[:-1]  # each `(frames, units, G, G)`
    out = views.unit_maps(net, stacked, large)[-1][:, 0]  # `(frames, G, G)` P(class 1)
    ranges = [unit_ranges(run.group.activation, m) for m in hidden]
    hidden_bytes = [
        views.quantize((m - r[..., 0, None, None]) / (r[..., 1, None, None] - r[..., 0, None, None]), 0.0, 1.0)
        for m, r in zip(hidden, ranges)
    ]
    fig = views.figures(trace, run.test)
    step = max(1, math.ceil(len(fig.loss) / CURVE_POINTS))
    curve_epochs = list(range(0, len(fig.loss), step))
    if curve_epochs[-1] != len(fig.loss) - 1:
        curve_epochs.append(len(fig.loss) - 1)
    assert fig.val_loss is not None and fig.val_accuracy is not None
    opt = trace.config.optimizer
    return {
        "label": run.label,
        "about": (
            f"{run.group.dataset}: {run.train.n} training and {run.test.n} held-out points; network "
            f"{'-'.join(map(str, (2, *run.group.hidden, 1)))}, {run.group.activation} hidden units, sigmoid "
            f"output; {opt.name} lr {run.lr:g}; {trace.config.loss.name} loss, full batch; seed {run.seed}; "
            f"{trace.stop_reason}"
        ),
        "activation": run.group.activation,
        "sizes": [2, *run.group.hidden, 1],
        "extent": [*small.x1, *small.x2],
        "train": [[*_round(x, 4), int(y)] for x, y in zip(run.train.x, run.train.y[:, 0])],
        "test": [[*_round(x, 4), int(y)] for x, y in zip(run.test.x, run.test.y[:, 0])],
        "epochs": epochs,
        "epochsRun": trace.epochs_run,
        "figures": {
            "loss": _exact(fig.loss[epochs]),
            "accuracy": _exact(fig.accuracy[epochs]),
            "valLoss": _exact(fig.val_loss[epochs]),
            "valAccuracy": _exact(fig.val_accuracy[epochs]),
        },
        "curve": {
            "epochs": curve_epochs,
            "loss": _round(fig.loss[curve_epochs], 4),
            "valLoss": _round(fig.val_loss[curve_epochs], 4),
        },
        "params": [[{"w": _round(layer.w), "b": _round(layer.b)} for layer in p] for _, p in shown],
        "unitGrid": UNIT_GRID,
        "outputGrid": OUTPUT_GRID,
        "ranges": np.concatenate(ranges, axis=1).tolist(),  # (frames, hidden units, 2), each map's (lo, hi)
        "units": _packed(np.concatenate(hidden_bytes, axis=1)),  # (frames, hidden units, G, G)
        "output": _packed(views.quantize(out, 0.0, 1.0)),  # (frames, G, G)
    }


def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def render_page(runs: Sequence[dict[str, Any]], title: str = "Training explorer") -> str:
    """The HTML page: the template with its style, its script and the runs (JSON) inside.

    Its Content-Security-Policy allows nothing but this style and this script: no request can leave it.
    """
    style, script = _template("explorer.css"), _template("explorer.js")
    data = json.dumps({"runs": list(runs)}, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    csp = f"default-src 'none'; script-src {_csp_hash(script)}; style-src {_csp_hash(style)}"
    page = _template("page.html")
    for key, value in (("title", title), ("csp", csp), ("style", style), ("script", script), ("data", data)):
        page = page.replace("{{" + key + "}}", value)
    return page


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out: Path = args.out

    def run() -> int:
        groups = groups_from(args)
        settings = Settings(
            loss=args.loss,
            epochs=args.epochs,
            snapshots=args.snapshots,
            init=args.init,
            noise=args.noise,
            test_fraction=args.test_fraction,
            data_seed=args.data_seed,
        )
        if out.is_dir():
            raise ValueError(f"--out {out}: a folder; --out names the page, e.g. {out / 'explorer.html'}")
        prepare_out(out.parent)
        started = time.perf_counter()
        runs = train_all(groups, settings)
        page = render_page([run_data(r, settings.snapshots) for r in runs])
        _files.write_text(out, page)
        size = out.stat().st_size
        print(
            f"wrote {out} ({size / 1e6:.2f} MB, {len(runs)} run{'s' if len(runs) > 1 else ''}, "
            f"{time.perf_counter() - started:.1f} s); "
            f"open it in a browser: file://{out.resolve()}"
        )
        return 0

    return reporting_errors(run, out.parent)


if __name__ == "__main__":
    from scripts import _signals

    _signals.sigint_once()
    _signals.exit_ignoring_sigint(main())
