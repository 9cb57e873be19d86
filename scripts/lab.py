"""The lab's main job: train the two-hidden-layer network on both toy datasets.

    python -m scripts.lab [--dataset both] [--hidden 10,10] [--activation sigmoid] ...

Prints progress (epoch and loss every --print-every epochs, and a progress bar
on a terminal), one line per sample, the final loss and accuracy; writes into
--out the comparison figure, the learning curve and the trace of each dataset,
with ``<dataset>_trace.json`` beside the trace naming the data it was trained
on (``--resume`` refuses a trace of other data).  Bad arguments give a
one-line message and exit status 2; Ctrl-C one line and exit status 130.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

import functional_nn as fnn
from functional_nn import io as fio
from scripts import _files
from scripts._cli import Parser, int_list, prepare_out, reporting_errors

FloatArray = npt.NDArray[np.float64]

DATASETS = ("linear", "xor")
MAX_PARAMETERS = 1_000_000
"""Larger networks are refused up front: their arrays would not fit or take hours on the toy data."""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m scripts.lab",
        description="Train the lab's network with hand-written backprop on the toy datasets.",
    )
    p.add_argument("--dataset", choices=(*DATASETS, "both"), default="both", help="which dataset (default: both)")
    p.add_argument(
        "--hidden",
        type=int_list("10,10"),
        default=(10, 10),
        help=f"hidden layer sizes, comma-separated (default: 10,10; at most {MAX_PARAMETERS:,} parameters in all)",
    )
    p.add_argument(
        "--activation", default="sigmoid", help=f"hidden activation: {', '.join(fnn.ACTIVATIONS)} (default: sigmoid)"
    )
    p.add_argument("--output-activation", default="sigmoid", help="output activation (default: sigmoid)")
    p.add_argument("--loss", default="mse", help=f"loss: {', '.join(fnn.LOSSES)} (default: mse)")
    p.add_argument("--optimizer", default="sgd", help=f"optimizer: {', '.join(fnn.OPTIMIZERS)} (default: sgd)")
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
        "--resume",
        type=Path,
        default=None,
        metavar="FILE",
        help="continue the run saved in FILE (a *_trace.npz written by the lab) for --epochs more epochs; needs "
        "--dataset linear or xor, the dataset FILE was trained on (and the same --seed for linear); network, "
        "optimizer and loss come from the file",
    )
    return p


def _dataset(name: str, seed: int) -> fnn.Dataset:
    return fnn.generate_linear(n=100, seed=seed) if name == "linear" else fnn.generate_xor_easy(n=11)


def _data_seed(name: str, seed: int) -> int | None:
    """The seed that draws the data (the XOR points are fixed)."""
    return seed if name == "linear" else None


def _describe(net: fnn.Network) -> str:
    sizes = (net.in_features, *(layer.out_features for layer in net.layers))
    return f"{sizes} {net.layers[0].activation.name}/{net.output_activation.name}"


def _parameter_count(net: fnn.Network) -> int:
    return sum(layer.in_features * layer.out_features + layer.out_features for layer in net.layers)


def _new_network(hidden: Sequence[int], args: argparse.Namespace) -> fnn.Network:
    """The lab's network; refused up front when it is too large to train here."""
    net = fnn.mlp((2, *hidden, 1), hidden=args.activation, output=args.output_activation)
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


def save_run(path: Path, trace: fnn.Trace, name: str, seed: int) -> None:
    """The trace and its sidecar.  The old sidecar goes first: a trace is never left beside a sidecar of
    another run (an interrupted save leaves a trace without one, which ``--resume`` refuses)."""
    side = sidecar(path)
    side.unlink(missing_ok=True)
    fio.save_trace(path, trace)
    info = {"dataset": name, "data_seed": _data_seed(name, seed), "epochs_run": trace.epochs_run}
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
    return info


def load_for_resume(path: Path, name: str, seed: int) -> fnn.Trace:
    """The trace in ``path``, if it is one model trained on the data that ``--dataset name --seed seed`` give.

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
    return trace


# ------------------------------------------------------------- one run ---


def _start(
    name: str, data: fnn.Dataset, args: argparse.Namespace
) -> tuple[fnn.Network, fnn.TrainConfig, Iterator[fnn.Progress]]:
    """The network, config and epochs of a new or resumed run (everything checked before training)."""
    if args.resume is not None:
        earlier = load_for_resume(args.resume, name, args.seed)
        print(f"== {name}: resuming {args.resume} after epoch {earlier.epochs_run} for {args.epochs} more epochs")
        return earlier.network, earlier.config, fnn.resume_iter(earlier, data, args.epochs)
    net = _new_network(args.hidden, args)
    config = fnn.TrainConfig(
        epochs=args.epochs,
        optimizer=fnn.make_optimizer(args.optimizer, lr=args.lr),
        loss=args.loss,
        batch_size=args.batch_size,
        seed=args.seed,
        stop_loss=args.stop_loss,
    )
    params = fnn.init(net, seed=args.seed, scheme=args.init)
    return net, config, fnn.train_iter(net, params, data, config)


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


def _print_predictions(net: fnn.Network, trace: fnn.Trace, data: fnn.Dataset) -> FloatArray:
    y_hat = fnn.forward(net, trace.params, data.x)
    pred = fnn.predict(net, trace.params, data.x)
    for i, (truth, p) in enumerate(zip(data.y[:, 0], y_hat[:, 0], strict=True), start=1):
        shown = f"{p:.5f}" if p == 0.0 or p >= 1e-5 else f"{p:.2e}"
        print(f"Iter{i} | Ground truth: {int(truth)} | prediction: {shown} |")
    acc = float(np.mean(pred == data.y))
    print(f"loss={float(trace.final_loss):.5f} accuracy={100 * acc:.2f}%")
    return pred


def run_one(name: str, args: argparse.Namespace, out: Path) -> fnn.Trace:
    """Train (or resume) on one dataset, print the outcome, write the figures and the trace."""
    data = _dataset(name, args.seed)
    net, config, steps = _start(name, data, args)
    lr = config.optimizer.hyperparams["lr"]
    print(
        f"== {name}: {data.n} samples, network {_describe(net)}, "
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
    plots.save_comparison(comparison, data.x, data.y, pred, title)
    plots.save_learning_curves(
        curve,
        [plots.Curve(f"loss ({config.loss.name})", trace.loss, (plots.AccuracyLine(trace.accuracy, "accuracy"),))],
        plots.CurveLayout(title, f"{config.loss.name} loss (log scale)"),
    )
    save_run(saved, trace, name, args.seed)
    print(f"wrote {comparison}, {curve}, {saved}")
    return trace


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out: Path = args.out
    names = DATASETS if args.dataset == "both" else (args.dataset,)

    def run() -> int:
        if args.resume is not None and len(names) != 1:
            raise ValueError(
                "--resume needs --dataset linear or --dataset xor (the dataset the saved run was trained on)"
            )
        if args.print_every < 1:
            raise ValueError(f"--print-every must be an integer >= 1, got {args.print_every}")
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
