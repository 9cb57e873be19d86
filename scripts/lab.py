"""The lab's main job: train the two-hidden-layer network on both toy datasets.

    python -m scripts.lab [--dataset both] [--hidden 10,10] [--activation sigmoid] ...
    python -m scripts.lab --dataset spiral --classes 3 --noise 0.1 [...]

Prints progress (epoch and loss every --print-every epochs, and a progress bar
on a terminal), one line per sample, the final loss and accuracy; writes into
--out the comparison figure, the learning curve and the trace of each dataset,
with ``<dataset>_trace.json`` beside the trace naming the data it was trained
on (``--resume`` refuses a trace of other data).  Bad arguments give a
one-line message and exit status 2; Ctrl-C one line and exit status 130.

Besides the lab's two datasets (linear, xor), ``--dataset`` takes TensorFlow
Playground's circle, gauss and spiral (200 points drawn with ``--seed``, with
``--noise``; gauss and spiral with ``--classes K``).  Two classes train the
lab's sigmoid output (one unit, mse by default); more train a softmax output
of K units with cross_entropy, chosen automatically.  A softmax output prints
each sample's class and its probability ("Ground truth: 2 | prediction: 2
(p=0.93)"); a sigmoid output, as the lab always has, the probability of class 1.

``--animate`` also writes ``<dataset>_animation.gif``: the decision boundary forming
over the training (matplotlib's animation with the Pillow writer), from snapshots of
the params (``TrainConfig(snapshot_every=...)``, about 200 per run, kept in the
saved trace) of which about 60 are shown, denser at the start.

``--dataset wave`` is a regression set: 200 points in [-1, 1]^2 drawn with
``--seed``, target sin(3 x1) cos(2 x2) plus ``--noise`` times Gaussian noise.  It
trains an identity output with mse (chosen automatically; a sigmoid or softmax
output, bce or cross_entropy are refused), prints each sample's target and
prediction and the final R^2 instead of accuracy.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from tqdm import tqdm

import functional_nn as fnn
from functional_nn import io as fio
from functional_nn import views
from scripts import _files
from scripts._cli import Parser, int_list, number_in, prepare_out, reporting_errors

FloatArray = npt.NDArray[np.float64]

DATASETS = ("linear", "xor")
PLAYGROUND = ("circle", "gauss", "spiral")
"""TensorFlow Playground's sets, drawn by ``fnn.generate_<name>`` from the lab's seed."""
REGRESSION = ("wave",)
"""The lab's own regression set (``wave_dataset``): an identity output trained with mse."""
NOISY = (*PLAYGROUND, *REGRESSION)
"""The sets drawn with ``--noise``."""
WAVE_POINTS = 200
MULTICLASS = ("gauss", "spiral")
"""The sets that can have more than two classes."""
MAX_CLASSES = 10
"""One colour each in the figures."""
MAX_PARAMETERS = 1_000_000
"""Larger networks are refused up front: their arrays would not fit or take hours on the toy data."""
ANIMATION_SNAPSHOTS = 200
"""``--animate`` keeps the params about this many times per run (fewer for a huge network) ..."""
ANIMATION_FRAMES = 60
"""... and shows this many of them (and the initial params), denser at the start."""
ANIMATION_GRID = 80
"""Points per side of the map drawn in each frame."""


def _class_count(text: str) -> int:
    """An argparse type: a number of classes, 2..MAX_CLASSES."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 2 <= value <= MAX_CLASSES:
        raise argparse.ArgumentTypeError(f"expected an integer from 2 to {MAX_CLASSES}, got {text!r}")
    return value


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    """--dataset, --classes and --noise."""
    p.add_argument(
        "--dataset",
        choices=(*DATASETS, *PLAYGROUND, *REGRESSION, "both"),
        default="both",
        help="which dataset: the lab's linear or xor, both of them, TensorFlow Playground's circle, gauss or "
        "spiral (200 points drawn with --seed), or the regression set wave (default: both)",
    )
    p.add_argument(
        "--classes",
        type=_class_count,
        default=None,
        metavar="K",
        help=f"classes of gauss and spiral, 2 to {MAX_CLASSES} (default: 2); more than 2 train a softmax output "
        "of K units with cross_entropy, picked automatically",
    )
    p.add_argument(
        "--noise", type=number_in(0.0), default=None, help="noise of circle, gauss, spiral and wave, >= 0 (default: 0)"
    )


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m scripts.lab",
        description="Train the lab's network with hand-written backprop on the toy datasets.",
    )
    _add_data_flags(p)
    p.add_argument(
        "--hidden",
        type=int_list("10,10"),
        default=(10, 10),
        help=f"hidden layer sizes, comma-separated (default: 10,10; at most {MAX_PARAMETERS:,} parameters in all)",
    )
    p.add_argument(
        "--activation", default="sigmoid", help=f"hidden activation: {', '.join(fnn.ACTIVATIONS)} (default: sigmoid)"
    )
    p.add_argument(
        "--output-activation",
        default=None,
        help="output activation (default: sigmoid for 2 classes; softmax, picked automatically, for more; "
        "identity for wave)",
    )
    p.add_argument(
        "--loss",
        default=None,
        help=f"loss: {', '.join(fnn.LOSSES)} (default: mse for 2 classes and wave; cross_entropy, picked "
        "automatically, for more classes)",
    )
    p.add_argument("--optimizer", default="sgd", choices=tuple(fnn.OPTIMIZERS), help="optimizer (default: sgd)")
    p.add_argument("--lr", type=float, default=1.0, help="learning rate (default: 1.0)")
    p.add_argument("--epochs", type=int, default=10_000, help="epochs (default: 10000)")
    p.add_argument("--batch-size", type=int, default=None, help="mini-batch size (default: full batch)")
    p.add_argument(
        "--init", default="normal", help=f"weight initializer: {', '.join(fnn.INITIALIZERS)} (default: normal)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the data, the weights and the shuffles (default: 0)")
    p.add_argument("--stop-loss", type=float, default=None, help="stop once the loss is below this (default: never)")
    p.add_argument("--print-every", type=int, default=1000, help="print the loss every k epochs (default: 1000)")
    p.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results/)")
    p.add_argument(
        "--animate",
        action="store_true",
        help="also write <dataset>_animation.gif: the decision boundary forming, from snapshots of the params",
    )
    p.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="FILE",
        help="continue the run saved in FILE (a *_trace.npz written by the lab) for --epochs more epochs; needs "
        "the --dataset FILE was trained on (and the same --seed, except for xor, and for circle, gauss and "
        "spiral the same --classes and --noise, for wave the same --noise); network, optimizer and loss come from the file",
    )
    return p


def wave_dataset(seed: int, noise: float = 0.0, n: int = WAVE_POINTS) -> fnn.Dataset:
    """The lab's regression set: ``n`` points uniform in [-1, 1]^2 and targets `(n, 1)`
    ``sin(3 x1) cos(2 x2) + noise * N(0, 1)``, drawn from the seed's stream 7."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
    x = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = np.sin(3.0 * x[:, :1]) * np.cos(2.0 * x[:, 1:]) + noise * rng.standard_normal((n, 1))
    return fnn.Dataset(x, y, task="regression")


def _dataset(name: str, seed: int, classes: int = 2, noise: float = 0.0) -> fnn.Dataset:
    if name == "wave":
        return wave_dataset(seed, noise)
    if name == "linear":
        return fnn.generate_linear(n=100, seed=seed)
    if name == "xor":
        return fnn.generate_xor_easy(n=11)
    if name == "circle":
        return fnn.generate_circle(noise=noise, seed=seed)
    generate = fnn.generate_gauss if name == "gauss" else fnn.generate_spiral
    return generate(classes=classes, noise=noise, seed=seed)


def _data_seed(name: str, seed: int) -> int | None:
    """The seed that draws the data (the XOR points are fixed)."""
    return None if name == "xor" else seed


def _classes(args: argparse.Namespace) -> int:
    return 2 if args.classes is None else int(args.classes)


def _noise(args: argparse.Namespace) -> float:
    return 0.0 if args.noise is None else float(args.noise)


def check_data_flags(names: Sequence[str], args: argparse.Namespace) -> None:
    """Refuse --classes and --noise for datasets that do not have them.

    Raises:
        ValueError: one line naming the flag.
    """
    if _classes(args) != 2 and not set(names) <= set(MULTICLASS):
        raise ValueError(
            f"--classes {_classes(args)}: only gauss and spiral have more than 2 classes, not --dataset {args.dataset}"
        )
    if _noise(args) != 0.0 and not set(names) <= set(NOISY):
        raise ValueError(
            f"--noise {_noise(args)}: only circle, gauss and spiral have noise, not --dataset {args.dataset}"
        )


def _regression(args: argparse.Namespace) -> bool:
    return args.dataset in REGRESSION


def output_for(classes: int, args: argparse.Namespace) -> tuple[int, str, str]:
    """Output units, output activation and loss: for two classes the flags' (default sigmoid and mse);
    for more, ``classes`` softmax units with cross_entropy; for wave one unit, default identity with mse
    (other flags are refused with ValueError)."""
    if _regression(args):
        activation = "identity" if args.output_activation is None else args.output_activation
        loss = "mse" if args.loss is None else args.loss
        if activation in ("sigmoid", "softmax") or loss in ("bce", "cross_entropy"):
            raise ValueError(
                f"--dataset {args.dataset} is a regression set: it trains an identity output with mse, not "
                f"({activation}, {loss}) (leave --output-activation and --loss out)"
            )
        return 1, activation, loss
    if classes == 2:
        activation = "sigmoid" if args.output_activation is None else args.output_activation
        loss = "mse" if args.loss is None else args.loss
        if activation == "softmax" or loss == "cross_entropy":
            raise ValueError(
                f"two classes train one output unit ({activation}, {loss}); softmax and cross_entropy need "
                "--dataset gauss or spiral with --classes 3 or more (for two classes try --loss bce)"
            )
        return 1, activation, loss
    for flag, value, needed in (
        ("--output-activation", args.output_activation, "softmax"),
        ("--loss", args.loss, "cross_entropy"),
    ):
        if value is not None and value != needed:
            raise ValueError(
                f"--classes {classes} trains a softmax output with cross_entropy; got {flag} {value} "
                f"(leave it out, or pass {flag} {needed})"
            )
    return classes, "softmax", "cross_entropy"


def _describe(net: fnn.Network) -> str:
    sizes = (net.in_features, *(layer.out_features for layer in net.layers))
    return f"{sizes} {net.layers[0].activation.name}/{net.output_activation.name}"


def _parameter_count(net: fnn.Network) -> int:
    return sum(layer.in_features * layer.out_features + layer.out_features for layer in net.layers)


def _new_network(hidden: Sequence[int], args: argparse.Namespace) -> fnn.Network:
    """The lab's network; refused up front when it is too large to train here."""
    outputs, output, _ = output_for(_classes(args), args)
    net = fnn.mlp((2, *hidden, outputs), hidden=args.activation, output=output)
    count = _parameter_count(net)
    if count > MAX_PARAMETERS:
        raise ValueError(
            f"--hidden {','.join(map(str, hidden))}: the network would have {count:,} parameters; "
            f"the lab trains at most {MAX_PARAMETERS:,}"
        )
    return net


# ------------------------------------------------------------ saved runs ---


def sidecar(trace_path: Path) -> Path:
    """The JSON file beside a trace that names the data it was trained on."""
    return trace_path.with_suffix(".json")


def save_run(path: Path, trace: fnn.Trace, name: str, seed: int, *, classes: int = 2, noise: float = 0.0) -> None:
    """The trace and its sidecar (for circle, gauss and spiral also with the classes and noise of the data).
    The old sidecar goes first: a trace is never left beside a sidecar of another run (an interrupted save
    leaves a trace without one, which ``--resume`` refuses)."""
    side = sidecar(path)
    side.unlink(missing_ok=True)
    fio.save_trace(path, trace)
    info: dict[str, object] = {"dataset": name, "data_seed": _data_seed(name, seed), "epochs_run": trace.epochs_run}
    if name in PLAYGROUND:
        info |= {"classes": classes, "noise": noise}
    elif name in REGRESSION:
        info |= {"noise": noise}
    _files.write_text(side, json.dumps(info, indent=1) + "\n")


def _read_sidecar(path: Path) -> dict[str, Any]:
    side = sidecar(path)
    try:
        info = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"{path}: no {side.name} beside it to say which data it was trained on (the lab writes one with "
            "every trace); refusing to resume on data that may differ"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{side}: unreadable ({err})") from None
    if not isinstance(info, dict) or not {"dataset", "data_seed", "epochs_run"} <= info.keys():
        raise ValueError(f"{side}: not a sidecar written by the lab")
    if info["dataset"] in PLAYGROUND and not {"classes", "noise"} <= info.keys():
        raise ValueError(f"{side}: not a sidecar written by the lab (no classes and noise for {info['dataset']})")
    if info["dataset"] in REGRESSION and "noise" not in info:
        raise ValueError(f"{side}: not a sidecar written by the lab (no noise for {info['dataset']})")
    return info


def load_for_resume(path: Path, name: str, seed: int, *, classes: int = 2, noise: float = 0.0) -> fnn.Trace:
    """The trace in ``path``, if it is one model trained on the data that ``--dataset name --seed seed``
    (and ``--classes``, ``--noise``) give.

    Raises:
        ValueError: one line naming the file and what does not match.
    """
    trace = fio.load_trace(path)
    if trace.loss.ndim != 1:
        raise ValueError(
            f"{path}: holds a stack of {trace.loss.shape[1]} models (loss of shape {trace.loss.shape}); "
            "--resume continues the run of a single model"
        )
    info = _read_sidecar(path)
    if info["epochs_run"] != trace.epochs_run:
        raise ValueError(
            f"{sidecar(path)} describes a run of {info['epochs_run']} epochs but {path} holds {trace.epochs_run}: "
            "they belong to different runs"
        )
    if info["dataset"] != name:
        raise ValueError(f"{path} was trained on dataset {info['dataset']!r}, not on --dataset {name}")
    if info["data_seed"] != _data_seed(name, seed):
        raise ValueError(f"{path} was trained on {name} data drawn with --seed {info['data_seed']}, not --seed {seed}")
    if name in PLAYGROUND:
        for flag, value in (("classes", classes), ("noise", noise)):
            if info[flag] != value:
                raise ValueError(f"{path} was trained on {name} data with --{flag} {info[flag]}, not --{flag} {value}")
    if name in REGRESSION and info["noise"] != noise:
        raise ValueError(f"{path} was trained on {name} data with --noise {info['noise']}, not --noise {noise}")
    return trace


# ------------------------------------------------------------- one run ---


def _start(
    name: str, data: fnn.Dataset, args: argparse.Namespace
) -> tuple[fnn.Network, fnn.TrainConfig, Iterator[fnn.Progress], Any]:
    """The network, config, epochs and initial params (None when resuming) of a new or resumed run
    (everything checked before training)."""
    if args.resume is not None:
        earlier = load_for_resume(args.resume, name, args.seed, classes=_classes(args), noise=_noise(args))
        if args.animate and not earlier.config.snapshot_every:
            raise ValueError(
                f"--animate: {args.resume} was trained without --animate, so its run keeps no snapshots to draw"
            )
        print(f"== {name}: resuming {args.resume} after epoch {earlier.epochs_run} for {args.epochs} more epochs")
        return earlier.network, earlier.config, fnn.resume_iter(earlier, data, args.epochs), None
    net = _new_network(args.hidden, args)
    snapshots = None
    if args.animate:
        every = views.snapshot_every(args.epochs, _parameter_count(net))
        snapshots = max(every, math.ceil(args.epochs / ANIMATION_SNAPSHOTS))
    config = fnn.TrainConfig(
        epochs=args.epochs,
        optimizer=fnn.make_optimizer(args.optimizer, lr=args.lr),
        loss=output_for(_classes(args), args)[2],
        batch_size=args.batch_size,
        seed=args.seed,
        stop_loss=args.stop_loss,
        snapshot_every=snapshots,
    )
    params = fnn.init(net, seed=args.seed, scheme=args.init)
    return net, config, fnn.train_iter(net, params, data, config), params


def _train(steps: Iterator[fnn.Progress], print_every: int) -> fnn.Trace:
    """Run the epochs: a line every ``print_every`` epochs, a progress bar on a terminal."""
    trace: fnn.Trace | None = None
    with tqdm(file=sys.stderr, disable=not sys.stderr.isatty(), unit=" epochs", leave=False) as bar:
        for step in steps:
            if bar.total is None:
                bar.reset(total=step.epochs)
            bar.update(step.epoch - bar.n)
            if step.epoch % print_every == 0 or step.trace is not None:
                loss = float(step.loss)
                bar.set_postfix_str(f"loss {loss:.6f}", refresh=False)
                tqdm.write(f"epoch {step.epoch:>6} loss : {loss:.6f}", file=sys.stdout)
            trace = step.trace
    assert trace is not None
    return trace


def class_labels(y: FloatArray) -> npt.NDArray[np.intp]:
    """Class indices `(n,)` of 0/1 labels `(n, 1)` or one-hot rows `(n, k)`."""
    return y[:, 0].astype(np.intp) if y.shape[1] == 1 else np.argmax(y, axis=1)


def _print_classes(net: fnn.Network, trace: fnn.Trace, data: fnn.Dataset) -> FloatArray:
    """A softmax output: each sample's class and the probability of the predicted class."""
    y_hat = fnn.forward(net, trace.params, data.x)
    pred = fnn.predict(net, trace.params, data.x)
    truth, guess = class_labels(data.y), class_labels(pred)
    for i, (t, g) in enumerate(zip(truth, guess, strict=True), start=1):
        print(f"Iter{i} | Ground truth: {t} | prediction: {g} (p={y_hat[i - 1, g]:.2f}) |")
    acc = float(np.mean(truth == guess))
    print(f"loss={float(trace.final_loss):.5f} accuracy={100 * acc:.2f}%")
    return pred


def r_squared(y: FloatArray, pred: FloatArray) -> float:
    """1 - SSE / SST, as the trace's metric for regression (1 or 0 where the targets are constant)."""
    sse = float(np.sum((y - pred) ** 2))
    sst = float(np.sum((y - y.mean(axis=0)) ** 2))
    if sst == 0.0:
        return 1.0 if sse == 0.0 else 0.0
    return 1.0 - sse / sst


def _print_values(net: fnn.Network, trace: fnn.Trace, data: fnn.Dataset) -> FloatArray:
    """A regression output: each sample's target and prediction, then R^2."""
    y_hat = fnn.forward(net, trace.params, data.x)
    for i, (truth, p) in enumerate(zip(data.y[:, 0], y_hat[:, 0], strict=True), start=1):
        print(f"Iter{i} | Ground truth: {truth:.3f} | prediction: {p:.3f} |")
    print(f"loss={float(trace.final_loss):.5f} R^2={r_squared(data.y, y_hat):.2f}")
    return y_hat


def _print_predictions(net: fnn.Network, trace: fnn.Trace, data: fnn.Dataset) -> FloatArray:
    if data.task == "regression":
        return _print_values(net, trace, data)
    if isinstance(net.output_activation, fnn.Softmax):
        return _print_classes(net, trace, data)
    y_hat = fnn.forward(net, trace.params, data.x)
    pred = fnn.predict(net, trace.params, data.x)
    for i, (truth, p) in enumerate(zip(data.y[:, 0], y_hat[:, 0], strict=True), start=1):
        shown = f"{p:.5f}" if p == 0.0 or p >= 1e-5 else f"{p:.2e}"
        print(f"Iter{i} | Ground truth: {int(truth)} | prediction: {shown} |")
    acc = float(np.mean(pred == data.y))
    print(f"loss={float(trace.final_loss):.5f} accuracy={100 * acc:.2f}%")
    return pred


def _save_comparison(path: Path, name: str, data: fnn.Dataset, pred: FloatArray, title: str) -> None:
    from scripts import plots

    if data.task == "regression":
        plots.save_value_comparison(path, data.x, data.y[:, 0], pred[:, 0], r_squared(data.y, pred), title)
    elif name in PLAYGROUND:
        classes = data.classes or 2
        plots.save_class_comparison(path, data.x, class_labels(data.y), class_labels(pred), classes, title)
    else:
        plots.save_comparison(path, data.x, data.y, pred, title)


def run_one(name: str, args: argparse.Namespace, out: Path) -> fnn.Trace:
    """Train (or resume) on one dataset, print the outcome, write the figures and the trace."""
    classes, noise = _classes(args), _noise(args)
    data = _dataset(name, args.seed, classes, noise)
    net, config, steps, initial = _start(name, data, args)
    lr = config.optimizer.hyperparams["lr"]
    about = f", {classes} classes, noise {noise:g}" if name in PLAYGROUND else ""
    if name in REGRESSION:
        about = f", regression, noise {noise:g}"
    print(
        f"== {name}: {data.n} samples{about}, network {_describe(net)}, "
        f"{config.optimizer.name} lr={lr}, {config.loss.name}, batch size {config.batch_size or 'full'}"
    )
    started = time.perf_counter()
    trace = _train(steps, args.print_every)
    print(f"stopped: {trace.stop_reason} ({time.perf_counter() - started:.2f} s)")
    pred = _print_predictions(net, trace, data)

    from scripts import plots

    title = f"{name}: {config.optimizer.name} lr={lr}, network {_describe(net)}"
    comparison, curve, saved = (
        out / f"{name}_{kind}" for kind in ("comparison.png", "learning_curve.png", "trace.npz")
    )
    _save_comparison(comparison, name, data, pred, title)
    metric, layout = "accuracy", plots.CurveLayout(title, f"{config.loss.name} loss (log scale)")
    if data.task == "regression":  # R^2 may start far below 0: the axis shows down to -100%
        lowest = float(np.min(trace.accuracy)) if trace.accuracy.size else 0.0
        floor = max(-103.0, min(-3.0, 100 * lowest - 3.0))
        metric, layout = "R²", attrs.evolve(layout, accuracy_label="R² (%)", accuracy_floor=floor)
    plots.save_learning_curves(
        curve,
        [plots.Curve(f"loss ({config.loss.name})", trace.loss, (plots.AccuracyLine(trace.accuracy, metric),))],
        layout,
    )
    save_run(saved, trace, name, args.seed, classes=classes, noise=noise)
    print(f"wrote {comparison}, {curve}, {saved}")
    if args.animate:
        animation = out / f"{name}_animation.gif"
        _save_animation(animation, name, data, trace, initial)
        print(f"wrote {animation}")
    return trace


def animation_frames(
    name: str, data: fnn.Dataset, trace: fnn.Trace, initial: Any, frames: int = ANIMATION_FRAMES
) -> tuple[views.Plane, list[tuple[str, FloatArray]]]:
    """The grid, and each shown epoch's title and map over it: P(class 1) `(G, G)` for two classes,
    the class probabilities `(K, G, G)` for more, the prediction `(G, G)` for regression."""
    available = views.frames(trace, initial)
    chosen = set(views.pick_epochs([e for e, _ in available], frames + 1))
    shown = [(e, p) for e, p in available if e in chosen]
    figures = views.figures(trace)
    grid = views.plane(data.x, ANIMATION_GRID, margin=0.08)
    stacked = fnn.tree_map(lambda *leaf: np.stack(leaf), *(p for _, p in shown))
    maps = views.unit_maps(trace.network, stacked, grid)[-1]  # (frames, outputs, G, G)
    metric = "R²" if data.task == "regression" else "accuracy"
    out = []
    for k, (e, _) in enumerate(shown):
        title = f"{name}: epoch {e}, loss {figures.loss[e]:.4g}, {metric} {100 * figures.accuracy[e]:.1f}%"
        out.append((title, maps[k, 0] if maps.shape[1] == 1 else maps[k]))
    return grid, out


def _save_animation(path: Path, name: str, data: fnn.Dataset, trace: fnn.Trace, initial: Any) -> None:
    from scripts import plots

    grid, frames = animation_frames(name, data, trace, initial)
    extent = (*grid.x1, *grid.x2)
    if data.task == "regression":
        plots.save_animation(path, frames, data.x, data.y[:, 0], extent, kind="values")
    else:
        kind = "probability" if data.y.shape[1] == 1 else "classes"
        plots.save_animation(path, frames, data.x, class_labels(data.y).astype(np.float64), extent, kind=kind)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out: Path = args.out
    names = DATASETS if args.dataset == "both" else (args.dataset,)

    def run() -> int:
        if args.resume is not None and len(names) != 1:
            raise ValueError(
                "--resume needs --dataset linear, xor, circle, gauss, spiral or wave "
                "(the one dataset the saved run was trained on)"
            )
        if args.print_every < 1:
            raise ValueError(f"--print-every must be an integer >= 1, got {args.print_every}")
        check_data_flags(names, args)
        if args.resume is None:
            _new_network(args.hidden, args)  # a network too large is refused before anything runs
        prepare_out(out)
        for name in names:
            run_one(name, args, out)
        return 0

    return reporting_errors(run, out)


if __name__ == "__main__":
    from scripts import _signals

    _signals.sigint_once()
    _signals.exit_ignoring_sigint(main())
