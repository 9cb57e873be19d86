"""The report's numbers and sentences, computed from traces: pure functions only.

    experiment_settings(key)                      -> tuple[Setting, ...]     # "A" .. "F"
    plan_runs(settings, datasets)                 -> tuple[RunPlan, ...]     # one stacked run per shared network
    first_epoch_below(loss, threshold)            -> `(K,)` int, -1 = never
    first_epoch_perfect(accuracy)                 -> `(K,)` int, -1 = never
    summarize(loss, accuracy, final_loss, final_accuracy, stop_reasons, threshold) -> Summary
    summarize_trace(trace, columns, threshold)    -> Summary                 # one setting's seeds of a stacked trace
    curves(loss, accuracy, final_loss, final_accuracy) -> Curves             # median / quartiles per epoch
    table_row(label, summary, run, wall)          -> tuple[str, ...]        # one line of a report table
    findings(key, rows, ...)                      -> list[str]               # sentences, each from the numbers
    across_datasets(rows_by_dataset)              -> list[str]

Nothing here trains, plots, prints or touches a file: the rest of
``scripts.report`` does that and calls these on the traces, and the tests call them on traces of
their own.  Every sentence of finding is built from measured numbers; every
comparison in one is decided by an ``if`` on those numbers.

Conventions.  Epoch ``e`` (1-based) is index ``e - 1`` of a trace's per-epoch
arrays.  "Epochs to reach" a loss threshold is the first epoch whose recorded
loss is below it; a seed that never gets there counts as infinitely slow, so a
median over seeds is "never" when at least half of them never do.  A model of a
stack that stopped (diverged) keeps its last finite params, so for the curves
its loss and accuracy after stopping are its final ones.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import attrs
import numpy as np
import numpy.typing as npt

import functional_nn as fnn

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PERFECT = 1.0 - 1e-9
"""An accuracy at least this is 100% (k * (1 / n) may round just below 1)."""

NEVER = -1
"""Marks a seed that never reached a threshold in ``first_epoch_*``."""

DATASETS = ("linear", "xor")

EXPERIMENTS: Mapping[str, str] = {
    "A": "Learning rates",
    "B": "Hidden units",
    "C": "Without activation",
    "D": "Optimizers",
    "E": "Activations",
    "F": "Losses",
}

EXPERIMENT_ALIASES: Mapping[str, str] = {
    "lr": "A",
    "hidden": "B",
    "linear": "C",
    "identity": "C",
    "optimizer": "D",
    "activation": "E",
    "loss": "F",
}

DEFAULT_LR = 1.0
LEARNING_RATES = (1e-3, 1e-2, 0.1, 1.0, 10.0)
HIDDEN_SIZES = ((1, 1), (2, 2), (4, 4), (10, 10), (16, 16), (100, 100))
MINI_BATCHES = 4
"""Mini-batch SGD splits the data into this many shuffled batches per epoch."""

D_OPTIMIZERS: dict[str, dict[str, float]] = {
    "momentum": {"lr": 0.1, "beta": 0.9},
    "nesterov": {"lr": 0.1, "beta": 0.9},
    "adam": {"lr": 1e-2, "b1": 0.9, "b2": 0.999, "eps": 1e-8},
    "rmsprop": {"lr": 1e-2, "decay": 0.9, "eps": 1e-8},
    "adagrad": {"lr": 0.1, "eps": 1e-8},
}
"""Experiment D's optimizers and the hyperparameters it compares them with (the lab's learning rates)."""
"""Experiment D's optimizers besides SGD, each with its defaults from ``fnn.OPTIMIZERS``."""


# ------------------------------------------------------------ settings ---


@attrs.frozen
class Setting:
    """One setting of an experiment: the lab's defaults with one thing changed.

    Attributes:
        experiment: "A" .. "F".
        label: how the tables and figures name it.
        hidden: hidden layer sizes.
        activation: hidden activation (registry name); the output is always a sigmoid.
        loss: "mse" or "bce".
        optimizer: registry name ("sgd", "momentum", "nesterov", "adam", ...).
        hyper: the optimizer's hyperparameters other than ``lr``, as sorted pairs.
        lr: learning rate.
        batches: mini-batches per epoch (batch size = ceil(n / batches)); None for full batch.
        default: True for the lab's default setting (it is trained once and shared).
    """

    experiment: str
    label: str
    hidden: tuple[int, ...] = (10, 10)
    activation: str = "sigmoid"
    loss: str = "mse"
    optimizer: str = "sgd"
    hyper: tuple[tuple[str, float | bool], ...] = ()
    lr: float = DEFAULT_LR
    batches: int | None = None
    default: bool = False

    def run_key(self) -> tuple[object, ...]:
        """Everything but the learning rate: settings with equal keys share one stacked run."""
        return (self.hidden, self.activation, self.loss, self.optimizer, self.hyper, self.batches)


def _fmt_lr(lr: float) -> str:
    return f"{lr:g}"


def _default(experiment: str, label: str) -> Setting:
    return Setting(experiment=experiment, label=f"{label} (default)", default=True)


def experiment_settings(key: str) -> tuple[Setting, ...]:
    """The settings of experiment ``key`` ("A" .. "F"), the default among them."""
    if key == "A":
        return tuple(
            _default("A", f"lr={_fmt_lr(lr)}") if lr == DEFAULT_LR else Setting("A", f"lr={_fmt_lr(lr)}", lr=lr)
            for lr in LEARNING_RATES
        )
    if key == "B":
        return tuple(_default("B", str(h)) if h == (10, 10) else Setting("B", str(h), hidden=h) for h in HIDDEN_SIZES)
    if key == "C":
        return (Setting("C", "identity (no activation)", activation="identity"), _default("C", "sigmoid"))
    if key == "D":
        out = [
            _default("D", f"SGD, full batch, lr={_fmt_lr(DEFAULT_LR)}"),
            Setting("D", f"SGD, {MINI_BATCHES} shuffled mini-batches, lr={_fmt_lr(DEFAULT_LR)}", batches=MINI_BATCHES),
        ]
        for name, hyper in D_OPTIMIZERS.items():
            rest = tuple(sorted((k, v) for k, v in hyper.items() if k != "lr"))
            shown = ", ".join(f"{k}={v:g}" for k, v in hyper.items() if not isinstance(v, bool))
            out.append(Setting("D", f"{name} ({shown})", optimizer=name, hyper=rest, lr=float(hyper["lr"])))
        return tuple(out)
    if key == "E":
        alpha = getattr(fnn.ACTIVATIONS["leaky_relu"], "alpha", None)
        leaky = "leaky ReLU" if alpha is None else f"leaky ReLU (alpha={alpha:g})"
        names = {"tanh": "tanh", "relu": "ReLU", "leaky_relu": leaky}
        return (_default("E", "sigmoid"), *(Setting("E", label, activation=act) for act, label in names.items()))
    if key == "F":
        return (_default("F", "MSE"), Setting("F", "BCE", loss="bce"))
    raise ValueError(f"experiment must be one of {', '.join(EXPERIMENTS)}, got {key!r}")


@attrs.frozen
class RunPlan:
    """One stacked run: settings that differ only in the learning rate, on one dataset.

    The models are ordered group by group: learning rate ``lrs[j]`` owns
    columns ``j * seeds`` to ``(j + 1) * seeds - 1``, with seeds ``0 .. seeds - 1``
    (the same initial weights in every group, so the groups are paired).
    """

    run_id: int
    dataset: str
    setting: Setting  # the first setting of the run; its lr is ignored
    lrs: tuple[float, ...]
    users: tuple[tuple[str, str], ...]  # (experiment, label) of every setting trained here

    def columns(self, lr: float, seeds: int) -> slice:
        j = self.lrs.index(lr)
        return slice(j * seeds, (j + 1) * seeds)


def plan_runs(settings: Sequence[Setting], datasets: Sequence[str]) -> tuple[RunPlan, ...]:
    """Group the settings into stacked runs: one per dataset and ``run_key``; learning rates stack."""
    plans: list[RunPlan] = []
    for dataset in datasets:
        by_key: dict[tuple[object, ...], list[Setting]] = {}
        for s in settings:
            by_key.setdefault(s.run_key(), []).append(s)
        for group in by_key.values():
            lrs = tuple(dict.fromkeys(s.lr for s in group))
            users = tuple(dict.fromkeys((s.experiment, s.label) for s in group))
            plans.append(RunPlan(run_id=len(plans) + 1, dataset=dataset, setting=group[0], lrs=lrs, users=users))
    return tuple(plans)


def find_run(plans: Sequence[RunPlan], dataset: str, setting: Setting) -> RunPlan:
    """The run of ``plans`` that trains ``setting`` on ``dataset``."""
    for p in plans:
        if p.dataset == dataset and p.setting.run_key() == setting.run_key() and setting.lr in p.lrs:
            return p
    raise KeyError(f"no run trains {setting.label!r} on {dataset}")


# ------------------------------------------------------------- numbers ---


def first_epoch_below(loss: FloatArray, threshold: float) -> IntArray:
    """Per seed, the first epoch (1-based) whose loss is below ``threshold``, or ``NEVER``.

    Args:
        loss: `(epochs, K)`; NaN after a model stopped (NaN is never below).
    """
    hit = loss < threshold
    first = np.argmax(hit, axis=0) + 1
    return np.where(hit.any(axis=0), first, NEVER).astype(np.int64)


def first_epoch_perfect(accuracy: FloatArray) -> IntArray:
    """Per seed, the first epoch (1-based) with 100% training accuracy, or ``NEVER``."""
    hit = accuracy >= PERFECT
    first = np.argmax(hit, axis=0) + 1
    return np.where(hit.any(axis=0), first, NEVER).astype(np.int64)


def median_epochs(epochs: IntArray) -> float | None:
    """Median over seeds with ``NEVER`` counted as infinitely many epochs; None means never."""
    value = float(np.median(np.where(epochs == NEVER, np.inf, epochs.astype(np.float64))))
    return value if math.isfinite(value) else None


def representative_seed(final_loss: FloatArray) -> int:
    """The seed (column) whose final loss is closest to the median final loss; ties go to the first."""
    return int(np.argmin(np.abs(final_loss - np.median(final_loss))))


ARRAY_EQ = attrs.cmp_using(eq=np.array_equal)


@attrs.frozen
class Summary:
    """What a table row says about one setting's K seeds, and the per-seed numbers behind it.

    Attributes:
        final_accuracy, final_loss: `(K,)` of each seed's final params on the training set.
        epochs_to_loss: `(K,)` first epoch with loss below the threshold, or ``NEVER``.
        epochs_to_perfect: `(K,)` first epoch with 100% accuracy, or ``NEVER``.
        diverged: how many seeds stopped because the loss became NaN/inf.
        representative: the column of the seed whose final loss is the median's.
        threshold: the loss threshold used.
    """

    final_accuracy: FloatArray = attrs.field(eq=ARRAY_EQ)
    final_loss: FloatArray = attrs.field(eq=ARRAY_EQ)
    epochs_to_loss: IntArray = attrs.field(eq=ARRAY_EQ)
    epochs_to_perfect: IntArray = attrs.field(eq=ARRAY_EQ)
    diverged: int
    representative: int
    threshold: float

    @property
    def seeds(self) -> int:
        return int(self.final_accuracy.shape[0])

    @property
    def median_accuracy(self) -> float:
        return float(np.median(self.final_accuracy))

    @property
    def worst_accuracy(self) -> float:
        return float(np.min(self.final_accuracy))

    @property
    def best_accuracy(self) -> float:
        return float(np.max(self.final_accuracy))

    @property
    def perfect(self) -> int:
        """Seeds whose final accuracy is 100%."""
        return int(np.count_nonzero(self.final_accuracy >= PERFECT))

    @property
    def share_perfect(self) -> float:
        return self.perfect / self.seeds

    @property
    def reached(self) -> int:
        """Seeds whose loss got below the threshold."""
        return int(np.count_nonzero(self.epochs_to_loss != NEVER))

    @property
    def median_epochs_to_loss(self) -> float | None:
        return median_epochs(self.epochs_to_loss)

    @property
    def median_epochs_to_perfect(self) -> float | None:
        return median_epochs(self.epochs_to_perfect)

    def share_at_most(self, accuracy: float) -> float:
        """Share of seeds whose final accuracy is at most ``accuracy`` (e.g. chance level)."""
        return float(np.count_nonzero(self.final_accuracy <= accuracy + 1e-9)) / self.seeds

    def to_json(self) -> dict[str, object]:
        """Plain numbers for ``summary.json``: the table's cells and the per-seed arrays."""
        return {
            "seeds": self.seeds,
            "median_accuracy": self.median_accuracy,
            "worst_accuracy": self.worst_accuracy,
            "perfect": self.perfect,
            "share_perfect": self.share_perfect,
            "median_epochs_to_loss": self.median_epochs_to_loss,
            "reached": self.reached,
            "median_epochs_to_perfect": self.median_epochs_to_perfect,
            "diverged": self.diverged,
            "representative": self.representative,
            "threshold": self.threshold,
            "final_accuracy": self.final_accuracy.tolist(),
            "final_loss": self.final_loss.tolist(),
            "epochs_to_loss": self.epochs_to_loss.tolist(),
            "epochs_to_perfect": self.epochs_to_perfect.tolist(),
        }


def summarize(
    loss: FloatArray,
    accuracy: FloatArray,
    final_loss: FloatArray,
    final_accuracy: FloatArray,
    stop_reasons: Sequence[str],
    threshold: float,
) -> Summary:
    """The table's numbers for K seeds.

    Args:
        loss, accuracy: `(epochs, K)` per-epoch arrays (NaN after a model stopped).
        final_loss, final_accuracy: `(K,)`.
        stop_reasons: K strings as in ``Trace.stop_reasons``.
        threshold: loss threshold for "epochs to reach".
    """
    return Summary(
        final_accuracy=np.asarray(final_accuracy, dtype=np.float64).copy(),
        final_loss=np.asarray(final_loss, dtype=np.float64).copy(),
        epochs_to_loss=first_epoch_below(loss, threshold),
        epochs_to_perfect=first_epoch_perfect(accuracy),
        diverged=sum(r.startswith("diverged") for r in stop_reasons),
        representative=representative_seed(np.asarray(final_loss, dtype=np.float64)),
        threshold=threshold,
    )


def summarize_trace(trace: fnn.Trace, columns: slice, threshold: float) -> Summary:
    """``summarize`` of the models ``columns`` of a trace stacked over one model axis."""
    return summarize(
        trace.loss[:, columns],
        trace.accuracy[:, columns],
        trace.final_loss[columns],
        trace.final_accuracy[columns],
        trace.stop_reasons[columns],
        threshold,
    )


@attrs.frozen
class Curves:
    """Learning curves of K seeds: `(epochs,)` each."""

    loss_median: FloatArray = attrs.field(eq=ARRAY_EQ)
    loss_q1: FloatArray = attrs.field(eq=ARRAY_EQ)
    loss_q3: FloatArray = attrs.field(eq=ARRAY_EQ)
    share_perfect: FloatArray = attrs.field(eq=ARRAY_EQ)  # share of seeds at 100% accuracy


def curves(loss: FloatArray, accuracy: FloatArray, final_loss: FloatArray, final_accuracy: FloatArray) -> Curves:
    """Median and quartiles of the loss per epoch, and the share of seeds at 100% accuracy.

    A stopped model keeps its final params, so its non-finite / missing entries
    are replaced by its final loss and accuracy.

    Args:
        loss, accuracy: `(epochs, K)`; final_loss, final_accuracy: `(K,)`.
    """
    filled = np.where(np.isfinite(loss), loss, final_loss[np.newaxis, :])
    acc = np.where(np.isfinite(accuracy), accuracy, final_accuracy[np.newaxis, :])
    q1, med, q3 = np.quantile(filled, [0.25, 0.5, 0.75], axis=1)
    return Curves(loss_median=med, loss_q1=q1, loss_q3=q3, share_perfect=np.mean(acc >= PERFECT, axis=1))


def curves_of_trace(trace: fnn.Trace, columns: slice) -> Curves:
    return curves(
        trace.loss[:, columns], trace.accuracy[:, columns], trace.final_loss[columns], trace.final_accuracy[columns]
    )


def chance_level(y: FloatArray) -> float:
    """Accuracy of always predicting the majority class."""
    ones = float(np.mean(y))
    return max(ones, 1.0 - ones)


# -------------------------------------------------------------- tables ---

TABLE_HEADER = (
    "setting",
    "final acc. (median)",
    "final acc. (worst seed)",
    "seeds at 100%",
    "median epochs to loss < {threshold:g} (seeds reaching)",
    "median epochs to 100% acc.",
    "diverged",
    "run",
    "wall time",
)


def fmt_epochs(value: float | None) -> str:
    """A median epoch count: "never", "812" or "812.5"."""
    if value is None:
        return "never"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def fmt_seconds(value: float) -> str:
    return f"{value:.1f} s" if value >= 10 else f"{value:.2f} s"


def fmt_pct(value: float) -> str:
    return (
        f"{100 * value:.1f}%"
        if 0.0 < value < 1.0 and round(100 * value, 1) != round(100 * value)
        else f"{100 * value:.0f}%"
    )


def table_header(threshold: float) -> tuple[str, ...]:
    return tuple(h.format(threshold=threshold) for h in TABLE_HEADER)


def table_row(label: str, s: Summary, run: str, wall: float) -> tuple[str, ...]:
    """One table line; every cell is a number of ``s`` (or of the run), formatted."""
    return (
        label,
        fmt_pct(s.median_accuracy),
        fmt_pct(s.worst_accuracy),
        f"{s.perfect}/{s.seeds} ({fmt_pct(s.share_perfect)})",
        f"{fmt_epochs(s.median_epochs_to_loss)} ({s.reached}/{s.seeds})",
        fmt_epochs(s.median_epochs_to_perfect),
        f"{s.diverged}/{s.seeds}",
        run,
        fmt_seconds(wall),
    )


# ------------------------------------------------------------ findings ---

Row = tuple[Setting, Summary]


def _names(rows: Sequence[Row]) -> str:
    return ", ".join(s.label for s, _ in rows)


def _ratio(a: float, b: float) -> str:
    """How ``a`` compares with ``b`` in words, e.g. '3.2x fewer'."""
    if abs(a - b) <= 0.05 * max(a, b):
        return "about as many"
    return f"{b / a:.1f}x fewer" if a < b else f"{a / b:.1f}x more"


def general_findings(rows: Sequence[Row], epochs: int) -> list[str]:
    """Sentences every experiment gets: who reaches 100%, who is fastest, who diverges."""
    if not rows:
        return []
    thr = rows[0][1].threshold
    out: list[str] = []
    all_perfect = [r for r in rows if r[1].perfect == r[1].seeds]
    none_perfect = [r for r in rows if r[1].perfect == 0]
    if len(all_perfect) == len(rows):
        out.append(f"Every seed of every setting reaches 100% training accuracy within {epochs} epochs.")
    elif len(none_perfect) == len(rows):
        best = max(rows, key=lambda r: r[1].best_accuracy)
        out.append(
            f"No seed of any setting reaches 100% training accuracy within {epochs} epochs; "
            f"the best final accuracy is {fmt_pct(best[1].best_accuracy)} ({best[0].label})."
        )
    else:
        parts = []
        if all_perfect:
            parts.append(f"every seed reaches 100% training accuracy with {_names(all_perfect)}")
        if none_perfect:
            parts.append(f"no seed does with {_names(none_perfect)}")
        mixed = [r for r in rows if 0 < r[1].perfect < r[1].seeds]
        if mixed:
            parts.append("only some do with " + ", ".join(f"{s.label} ({fmt_pct(m.share_perfect)})" for s, m in mixed))
        text = "; ".join(parts)
        out.append(text[0].upper() + text[1:] + ".")
    timed = [(r, r[1].median_epochs_to_loss) for r in rows]
    reached = [(r, e) for r, e in timed if e is not None]
    never = [r for r, e in timed if e is None]
    if not reached:
        out.append(f"With no setting does the median seed's loss get below {thr:g} within {epochs} epochs.")
    else:
        fastest, fe = min(reached, key=lambda t: t[1])
        sentence = f"Fastest to a loss below {thr:g}: {fastest[0].label}, median {fmt_epochs(fe)} epochs"
        if len(reached) > 1:
            slowest, se = max(reached, key=lambda t: t[1])
            if se > fe:
                slow = f"{slowest[0].label}, needs {se / fe:.1f}x as many ({fmt_epochs(se)})"
                sentence += f"; the slowest that gets there, {slow}"
            else:
                sentence += "; every setting that gets there needs as many"
        out.append(sentence + ".")
        if never:
            out.append(f"The median seed's loss never gets below {thr:g} within {epochs} epochs with {_names(never)}.")
    diverged = [r for r in rows if r[1].diverged]
    if diverged:
        out.append(
            "The loss became NaN/inf (training stopped) with "
            + ", ".join(f"{s.label} on {m.diverged}/{m.seeds} seeds" for s, m in diverged)
            + "."
        )
    return out


def _lr_findings(rows: Sequence[Row]) -> list[str]:
    ordered = sorted(rows, key=lambda r: r[0].lr)
    shares = [m.share_perfect for _, m in ordered]
    trend = ", ".join(f"{s.label}: {fmt_pct(m.share_perfect)}" for s, m in ordered)
    out = [f"Seeds at 100% accuracy by learning rate: {trend}."]
    full = [s for s, m in ordered if m.perfect == m.seeds]
    if full:
        out.append(f"The smallest learning rate at which every seed reaches 100% is {full[0].label}.")
    if len(ordered) > 1:
        if len(set(shares)) == 1:
            out.append(f"The share of seeds at 100% is the same ({fmt_pct(shares[0])}) at every learning rate tried.")
        elif all(b >= a for a, b in itertools.pairwise(shares)):
            out.append("Within this range, a larger learning rate never lowers the share of seeds at 100%.")
        else:
            peak = max(range(len(shares)), key=lambda i: (shares[i], -i))
            if any(shares[i] < shares[peak] for i in range(peak + 1, len(shares))):
                out.append(
                    f"Above {ordered[peak][0].label} the share of seeds at 100% falls again "
                    f"(to {fmt_pct(min(shares[peak + 1 :]))})."
                )
    return out


def _hidden_findings(rows: Sequence[Row]) -> list[str]:
    ordered = sorted(rows, key=lambda r: sum(r[0].hidden))
    smallest = ordered[0]
    out = [
        f"With the smallest layers, {smallest[0].label}, {fmt_pct(smallest[1].share_perfect)} of seeds reach 100% "
        f"and the median final accuracy is {fmt_pct(smallest[1].median_accuracy)}."
    ]
    full = [s for s, m in ordered if m.perfect == m.seeds]
    if full:
        out.append(f"The smallest hidden layers with which every seed reaches 100% are {full[0].label}.")
    else:
        out.append("No hidden size tried brings every seed to 100%.")
    return out


def _identity_findings(rows: Sequence[Row], chance: float) -> list[str]:
    ident = [r for r in rows if r[0].activation == "identity"]
    sig = [r for r in rows if r[0].activation == "sigmoid"]
    if not ident:
        return []
    i = ident[0][1]
    out = [
        f"Without activation (identity hidden layers), {fmt_pct(i.share_at_most(chance))} of seeds end at or below "
        f"chance level ({fmt_pct(chance)}, always predicting the majority class); the best seed reaches "
        f"{fmt_pct(i.best_accuracy)} and {fmt_pct(i.share_perfect)} of seeds reach 100%."
    ]
    if sig:
        s = sig[0][1]
        if s.share_perfect > i.share_perfect:
            verdict = "more seeds reach 100% with sigmoid hidden layers than without activation"
        elif s.share_perfect < i.share_perfect:
            verdict = "more seeds reach 100% without activation than with sigmoid hidden layers"
        else:
            verdict = "as many seeds reach 100% with sigmoid hidden layers as without activation"
        out.append(
            f"With sigmoid, {fmt_pct(s.share_at_most(chance))} end at or below chance and "
            f"{fmt_pct(s.share_perfect)} reach 100%: {verdict}."
        )
    return out


def _optimizer_findings(rows: Sequence[Row]) -> list[str]:
    base = [r for r in rows if r[0].default]
    if not base:
        return []
    b = base[0][1].median_epochs_to_loss
    others = [r for r in rows if not r[0].default]
    out: list[str] = []
    if b is None:
        faster = [s.label for s, m in others if m.median_epochs_to_loss is not None]
        if faster:
            out.append(f"Full-batch SGD's median seed never gets below the threshold; these do: {', '.join(faster)}.")
        return out
    parts = []
    for s, m in others:
        e = m.median_epochs_to_loss
        parts.append(f"{s.label}: never" if e is None else f"{s.label}: {fmt_epochs(e)} ({_ratio(e, b)})")
    if parts:
        out.append(
            f"Median epochs to the threshold against full-batch SGD's {fmt_epochs(b)}: " + "; ".join(parts) + "."
        )
    mb = [r for r in others if r[0].batches]
    if mb:
        out.append(f"An epoch of mini-batch SGD makes {mb[0][0].batches} updates, full-batch SGD one.")
    return out


def _loss_findings(rows: Sequence[Row]) -> list[str]:
    by = {s.loss: m for s, m in rows}
    if "mse" not in by or "bce" not in by:
        return []
    mse, bce = by["mse"].median_epochs_to_perfect, by["bce"].median_epochs_to_perfect
    out = [
        "The loss threshold applies to each setting's own loss (mean squared error vs. cross-entropy), "
        "so epochs to 100% accuracy compare the two more fairly."
    ]
    if mse is None and bce is None:
        out.append("With neither loss does the median seed reach 100% accuracy.")
    elif mse is None or bce is None:
        winner = "BCE" if mse is None else "MSE"
        e = bce if mse is None else mse
        out.append(f"Only with {winner} does the median seed reach 100% accuracy (after {fmt_epochs(e)} epochs).")
    elif bce < mse:
        out.append(
            f"The median seed reaches 100% accuracy after {fmt_epochs(bce)} epochs with BCE, "
            f"{mse / bce:.1f}x sooner than with MSE ({fmt_epochs(mse)})."
        )
    elif bce > mse:
        out.append(
            f"The median seed reaches 100% accuracy after {fmt_epochs(mse)} epochs with MSE, "
            f"{bce / mse:.1f}x sooner than with BCE ({fmt_epochs(bce)})."
        )
    else:
        out.append(f"The median seed reaches 100% accuracy after {fmt_epochs(mse)} epochs with either loss.")
    return out


def findings(key: str, rows: Sequence[Row], *, epochs: int, chance: float) -> list[str]:
    """The sentences of one experiment on one dataset, each from ``rows``' numbers."""
    specific: list[str] = []
    if key == "A":
        specific = _lr_findings(rows)
    elif key == "B":
        specific = _hidden_findings(rows)
    elif key == "C":
        specific = _identity_findings(rows, chance)
    elif key == "D":
        specific = _optimizer_findings(rows)
    elif key == "F":
        specific = _loss_findings(rows)
    return specific + general_findings(rows, epochs)


def across_datasets(rows_by_dataset: Mapping[str, Sequence[Row]], *, gap: float = 0.25) -> list[str]:
    """Settings whose share of seeds at 100% differs by at least ``gap`` between datasets."""
    names = list(rows_by_dataset)
    if len(names) < 2:
        return []
    a, b = names[0], names[1]
    right = {s.label: m for s, m in rows_by_dataset[b]}
    diffs = []
    for s, m in rows_by_dataset[a]:
        other = right.get(s.label)
        if other is not None and abs(m.share_perfect - other.share_perfect) >= gap:
            diffs.append(
                f"{s.label}: {fmt_pct(m.share_perfect)} of seeds at 100% on {a}, {fmt_pct(other.share_perfect)} on {b}"
            )
    if not diffs:
        return [
            f"Each setting's share of seeds at 100% differs by less than {100 * gap:.0f} percentage points "
            f"between {a} and {b}."
        ]
    return ["Between the datasets: " + "; ".join(diffs) + "."]
