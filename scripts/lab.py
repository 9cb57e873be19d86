"""The lab's main job: train the two-hidden-layer network on both toy datasets.

    python -m scripts.lab [--dataset both] [--hidden 10,10] [--activation sigmoid] ...

Prints progress (epoch and loss every --print-every epochs, and an updating
progress line on a terminal), one line per sample, the final loss and accuracy;
writes into --out the comparison figure, the learning curve and the trace of
each dataset.  Bad arguments give a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

import functional_nn as fnn
from functional_nn import io as fio
from scripts._cli import Parser, int_list, reporting_errors

DATASETS = ("linear", "xor")


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
        help="hidden layer sizes, comma-separated (default: 10,10)",
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
        help="continue the run saved in FILE (a *_trace.npz) for --epochs more epochs; needs --dataset linear or xor "
        "(and the same --seed for linear); network, optimizer and loss come from the file",
    )
    return p


def _dataset(name: str, seed: int) -> fnn.Dataset:
    return fnn.generate_linear(n=100, seed=seed) if name == "linear" else fnn.generate_xor_easy(n=11)


def _progress_line(stream: TextIO, epoch: int, epochs: int, loss: float, started: float) -> None:
    width = 30
    done = int(width * epoch / epochs)
    rate = epoch / max(time.perf_counter() - started, 1e-9)
    stream.write(
        f"\r  [{'#' * done}{'.' * (width - done)}] epoch {epoch}/{epochs} loss {loss:.6f} ({rate:,.0f} epochs/s)"
    )
    stream.flush()


def _describe(net: fnn.Network) -> str:
    sizes = (net.in_features, *(layer.out_features for layer in net.layers))
    return f"{sizes} {net.layers[0].activation.name}/{net.output_activation.name}"


def run_one(name: str, args: argparse.Namespace, out: Path) -> fnn.Trace:
    data = _dataset(name, args.seed)
    steps: Iterator[fnn.Progress]
    if args.resume is not None:
        earlier = fio.load_trace(args.resume)
        net, config = earlier.network, earlier.config
        print(f"== {name}: resuming {args.resume} after epoch {earlier.epochs_run} for {args.epochs} more epochs")
        steps = fnn.resume_iter(earlier, data, args.epochs)
    else:
        net = fnn.mlp((2, *args.hidden, 1), hidden=args.activation, output=args.output_activation)
        config = fnn.TrainConfig(
            epochs=args.epochs,
            optimizer=fnn.make_optimizer(args.optimizer, lr=args.lr),
            loss=args.loss,
            batch_size=args.batch_size,
            seed=args.seed,
            stop_loss=args.stop_loss,
        )
        params = fnn.init(net, seed=args.seed, scheme=args.init)
        steps = fnn.train_iter(net, params, data, config)
    lr = config.optimizer.hyperparams["lr"]
    print(
        f"== {name}: {data.n} samples, network {_describe(net)}, "
        f"{config.optimizer.name} lr={lr}, {config.loss.name}, batch size {config.batch_size or 'full'}"
    )
    live = sys.stderr.isatty()
    started = time.perf_counter()
    trace: fnn.Trace | None = None
    for step in steps:
        loss = float(step.loss)
        if step.epoch % args.print_every == 0 or step.trace is not None:
            if live:
                sys.stderr.write("\r\033[K")
            print(f"epoch {step.epoch:>6} loss : {loss:.6f}")
        if live and (step.epoch % 50 == 0 or step.trace is not None):
            _progress_line(sys.stderr, step.epoch, step.epochs, loss, started)
        trace = step.trace
    if live:
        sys.stderr.write("\r\033[K")
    assert trace is not None
    elapsed = time.perf_counter() - started
    print(f"stopped: {trace.stop_reason} ({elapsed:.2f} s)")

    y_hat = fnn.forward(net, trace.params, data.x)
    pred = fnn.predict(net, trace.params, data.x)
    for i, (truth, p) in enumerate(zip(data.y[:, 0], y_hat[:, 0], strict=True), start=1):
        shown = f"{p:.5f}" if p == 0.0 or p >= 1e-5 else f"{p:.2e}"
        print(f"Iter{i} | Ground truth: {int(truth)} | prediction: {shown} |")
    acc = float(np.mean(pred == data.y))
    print(f"loss={float(trace.final_loss):.5f} accuracy={100 * acc:.2f}%")

    from scripts import plots

    title = f"{name}: {config.optimizer.name} lr={lr}, network {_describe(net)}"
    plots.save_comparison(out / f"{name}_comparison.png", data.x, data.y, pred, title)
    plots.save_learning_curve(out / f"{name}_learning_curve.png", trace.loss, trace.accuracy, title, config.loss.name)
    fio.save_trace(out / f"{name}_trace.npz", trace)
    print(f"wrote {out / f'{name}_comparison.png'}, {out / f'{name}_learning_curve.png'}, {out / f'{name}_trace.npz'}")
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
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"--out: cannot create output folder {str(out)!r} ({err.strerror})") from None
        for name in names:
            run_one(name, args, out)
        return 0

    return reporting_errors(run, out)


if __name__ == "__main__":
    sys.exit(main())
