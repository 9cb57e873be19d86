"""The report script: a quick run writes every file, its tables agree with the traces, its figures
are PNGs of the expected size, its findings follow the numbers, its flags fail with one line."""

from __future__ import annotations

import contextlib
import html
import io
import json
import math
import re
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import io as fio
from scripts import report
from scripts.report import analysis as ra
from scripts.report import cli, figures, jobs, pool

T = TypeVar("T")

QUICK_EPOCHS = 60


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One quick run of every experiment on both datasets (2 seeds), in this process, traces saved."""
    out = tmp_path_factory.mktemp("report")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = report.main(
            ["--quick", "--epochs", str(QUICK_EPOCHS), "--jobs", "1", "--save-traces", "--out", str(out)]
        )
    assert code == 0
    return out, stdout.getvalue()


def _summary(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return data


# --------------------------------------------------------------- end to end ---


def test_quick_run_writes_every_file(quick: tuple[Path, str]) -> None:
    out, _ = quick
    md = (out / "report.md").read_text()
    for name in ("report.md", "index.html", "summary.json"):
        assert (out / name).stat().st_size > 0
    images = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", md)
    expected = (
        {f"figures/defaults_{d}_comparison.png" for d in ra.DATASETS}
        | {
            f"figures/{k}_{d}_{kind}.png"
            for k in ra.EXPERIMENTS
            for d in ra.DATASETS
            for kind in ("curves", "boundaries")
        }
        | {"figures/G_spiral_curves.png", "figures/G_spiral_boundaries.png"}
    )
    assert set(images) == expected
    assert {f"figures/{p.name}" for p in (out / "figures").iterdir()} == expected
    for k, title in ra.EXPERIMENTS.items():
        for d in ra.DATASETS:
            assert f"### {k}. {title}: {d}" in md
    summary = _summary(out)
    assert summary["options"]["seeds"] == cli.QUICK_SEEDS and summary["options"]["epochs"] == QUICK_EPOCHS
    for run in summary["runs"]:
        assert Path(run["trace"]).is_file()


def test_figures_are_pngs_of_the_expected_size(quick: tuple[Path, str]) -> None:
    out, _ = quick
    for path in sorted((out / "figures").iterdir()):
        size = _png_size(path)
        if path.name.startswith("G_"):
            continue  # experiment G's: tests/test_report_generalization.py
        if path.name.startswith("defaults_"):
            assert size == figures.comparison_size(), path.name
        elif path.name.endswith("_curves.png"):
            assert size == figures.curves_size(), path.name
        else:
            panels = len(ra.experiment_settings(path.name[0]))
            assert size == figures.boundary_size(panels), path.name
    assert figures.boundary_size(7) == (4 * 320 + 80, 2 * 320 + 40)


def test_html_shows_the_same_as_the_markdown(quick: tuple[Path, str]) -> None:
    out, _ = quick
    md = (out / "report.md").read_text()
    page = (out / "index.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    for src in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert f'<img src="{src}"' in page
    bullets = [line[2:] for line in md.splitlines() if line.startswith("- ")]
    assert bullets
    plain = re.sub(r"<[^>]+>", "", page)
    for b in bullets:
        assert html.unescape(html.escape(b.replace("`", ""), quote=False)) in html.unescape(plain)
    assert md.count("\n| ") - md.count("\n|---") > 0
    assert page.count("<tr>") == sum(1 for line in md.splitlines() if line.startswith("| "))


def test_progress_and_total_wall_time_are_printed_and_reported(quick: tuple[Path, str]) -> None:
    out, printed = quick
    runs = len(_summary(out)["runs"])
    assert re.search(rf"^\[ ?1/{runs}\] run +\d+: ", printed, re.M)
    assert re.search(rf"^\[{runs}/{runs}\] run", printed, re.M)
    total = re.search(r"^total wall time: (\d+\.\d) s$", printed, re.M)
    assert total is not None
    md = (out / "report.md").read_text()
    assert f"Total wall time: {total.group(1)} s" in md
    assert f"total wall time of this report: {total.group(1)} s" in md


def _independent_row(trace: fnn.Trace, columns: range, threshold: float) -> dict[str, Any]:
    """The table's numbers recomputed member by member, without report_analysis."""
    acc, loss_epochs, perfect_epochs = [], [], []
    for k in columns:
        m = trace.member(k)
        acc.append(float(m.final_accuracy))
        below = [e + 1 for e, v in enumerate(m.loss) if v < threshold]
        loss_epochs.append(below[0] if below else None)
        hits = [e + 1 for e, a in enumerate(m.accuracy) if a > 1 - 1e-9]
        perfect_epochs.append(hits[0] if hits else None)

    def median(values: list[int | None]) -> float | None:
        ordered = sorted(float("inf") if v is None else float(v) for v in values)
        n = len(ordered)
        mid = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
        return None if mid == float("inf") else mid

    return {
        "median_accuracy": float(np.median(acc)),
        "worst_accuracy": min(acc),
        "perfect": sum(a == 1.0 for a in acc),
        "reached": sum(e is not None for e in loss_epochs),
        "median_epochs_to_loss": median(loss_epochs),
        "median_epochs_to_perfect": median(perfect_epochs),
        "diverged": sum(trace.stop_reasons[k].startswith("diverged") for k in columns),
    }


def test_tables_agree_with_the_traces_they_came_from(quick: tuple[Path, str]) -> None:
    out, _ = quick
    summary = _summary(out)
    md = (out / "report.md").read_text()
    runs = {r["run"]: r for r in summary["runs"]}
    traces = {rid: fio.load_trace(r["trace"]) for rid, r in runs.items()}
    seeds, threshold = summary["options"]["seeds"], summary["options"]["threshold"]
    checked = 0
    for key, by_dataset in summary["experiments"].items():
        if key not in ra.EXPERIMENTS:
            continue  # experiment G's: tests/test_report_generalization.py
        for dataset, rows in by_dataset.items():
            assert [r["label"] for r in rows] == [s.label for s in ra.experiment_settings(key)]
            for row in rows:
                run = runs[row["run"]]
                assert run["dataset"] == dataset
                trace = traces[row["run"]]
                j = run["lrs"].index(row["lr"])
                expect = _independent_row(trace, range(j * seeds, (j + 1) * seeds), threshold)
                for name, value in expect.items():
                    assert row[name] == pytest.approx(value), (key, dataset, row["label"], name)
                assert trace.loss.shape[0] == QUICK_EPOCHS
                # the very cells printed in the report
                assert "| " + " | ".join(c.replace("|", "\\|") for c in row["row"]) + " |" in md
                cells = row["row"]
                assert cells[3] == f"{expect['perfect']}/{seeds} ({ra.fmt_pct(expect['perfect'] / seeds)})"
                assert cells[4].startswith(
                    ra.fmt_epochs(expect["median_epochs_to_loss"]) + f" ({expect['reached']}/{seeds})"
                )
                assert cells[1] == ra.fmt_pct(expect["median_accuracy"])
                checked += 1
    assert checked == 2 * sum(len(ra.experiment_settings(k)) for k in ra.EXPERIMENTS)


def test_worker_processes_give_the_same_numbers(tmp_path: Path) -> None:
    args = ["--experiments", "C,lr", "--dataset", "xor", "--seeds", "2", "--epochs", "40"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert report.main([*args, "--jobs", "1", "--out", str(tmp_path / "one")]) == 0
        assert report.main([*args, "--jobs", "2", "--out", str(tmp_path / "two")]) == 0

    def numbers(out: Path) -> Any:
        exps = _summary(out)["experiments"]
        for rows in (r for d in exps.values() for r in d.values()):
            for row in rows:
                del row["row"]  # holds the wall time
        return exps

    assert numbers(tmp_path / "one") == numbers(tmp_path / "two")
    assert len(list((tmp_path / "two" / "figures").iterdir())) == 1 + 2 * 2


def test_quick_defaults_keep_the_full_report_apart() -> None:
    parse = cli.build_parser().parse_args
    assert cli.out_folder(parse([])) == Path("results/report")
    assert cli.out_folder(parse(["--quick"])) == Path("results/report-quick")
    assert cli.out_folder(parse(["--quick", "--out", "x"])) == Path("x")
    opts = cli.options(parse(["--quick", "--epochs", "7"]), [])
    assert (opts.seeds, opts.epochs) == (cli.QUICK_SEEDS, 7)
    opts = cli.options(parse(["--experiments", "loss,A", "--dataset", "xor"]), [])
    assert opts.experiments == ("A", "F") and opts.datasets == ("xor",) and (opts.seeds, opts.epochs) == (20, 10_000)


# ----------------------------------------------------------- pure functions ---


def test_first_epochs_and_medians_count_never_as_infinitely_slow() -> None:
    loss = np.array([[0.5, 0.5, 0.5], [0.1, 0.5, np.nan], [0.01, 0.2, np.nan]])
    assert ra.first_epoch_below(loss, 0.2).tolist() == [2, ra.NEVER, ra.NEVER]
    assert ra.first_epoch_below(loss, 0.3).tolist() == [2, 3, ra.NEVER]
    acc = np.array([[0.5, 1.0], [20 * (1 / 21) + 1 / 21, 1.0]])
    assert ra.first_epoch_perfect(acc).tolist() == [2, 1]
    assert ra.median_epochs(np.array([3, 5, ra.NEVER])) == 5.0
    assert ra.median_epochs(np.array([3, ra.NEVER])) is None
    assert ra.median_epochs(np.array([3, 4])) == 3.5
    assert ra.representative_seed(np.array([4.0, 1.0, 3.0, 0.0])) == 1  # median 2: 1 and 3 tie, the first wins
    assert ra.fmt_epochs(None) == "never" and ra.fmt_epochs(812.0) == "812" and ra.fmt_epochs(812.5) == "812.5"


def _diverging_trace() -> tuple[fnn.Trace, tuple[float, ...]]:
    net = fnn.mlp((2, 4, 1), hidden="tanh", output="identity")
    lrs = (0.05, 20.0)
    seeds = [0, 1, 2] * 2
    config = fnn.TrainConfig(epochs=200, optimizer=fnn.sgd(lr=np.repeat(lrs, 3)), loss="mse", seed=seeds)
    return fnn.train(net, fnn.init(net, seed=seeds), fnn.generate_xor_easy(), config), lrs


def test_summaries_of_a_stacked_trace_agree_with_its_members() -> None:
    trace, _ = _diverging_trace()
    assert any(r.startswith("diverged") for r in trace.stop_reasons)
    for j in range(2):
        cols = slice(3 * j, 3 * j + 3)
        s = ra.summarize_trace(trace, cols, 0.2)
        expect = _independent_row(trace, range(3 * j, 3 * j + 3), 0.2)
        assert s.median_accuracy == pytest.approx(expect["median_accuracy"])
        assert s.worst_accuracy == expect["worst_accuracy"]
        assert s.perfect == expect["perfect"] and s.reached == expect["reached"] and s.diverged == expect["diverged"]
        assert s.median_epochs_to_loss == expect["median_epochs_to_loss"]
        assert s.median_epochs_to_perfect == expect["median_epochs_to_perfect"]
        members = [trace.member(k) for k in range(3 * j, 3 * j + 3)]
        finals = np.array([float(m.final_loss) for m in members])
        assert s.representative == int(np.argmin(np.abs(finals - np.median(finals))))


def test_curves_carry_a_stopped_model_at_its_final_values() -> None:
    trace, _ = _diverging_trace()
    c = ra.curves_of_trace(trace, slice(3, 6))
    assert (
        np.all(np.isfinite(c.loss_median)) and np.all(c.loss_q1 <= c.loss_median) and np.all(c.loss_median <= c.loss_q3)
    )
    for e in (0, 10, trace.epochs_run - 1):
        values = [
            float(m.loss[e]) if e < m.loss.shape[0] and np.isfinite(m.loss[e]) else float(m.final_loss)
            for m in (trace.member(k) for k in range(3, 6))
        ]
        assert c.loss_median[e] == pytest.approx(np.median(values))
    assert c.loss_median.shape == (trace.epochs_run,)
    assert np.all((c.share_perfect >= 0) & (c.share_perfect <= 1))


def test_plan_stacks_learning_rates_and_shares_the_default() -> None:
    settings = [s for k in ra.EXPERIMENTS for s in ra.experiment_settings(k)]
    plans = ra.plan_runs(settings, ["linear", "xor"])
    assert len(plans) == 2 * 17
    default = next(s for s in settings if s.default)
    sweep = ra.find_run(plans, "xor", default)
    assert sweep.lrs == ra.LEARNING_RATES and sweep.dataset == "xor"
    assert {e for e, _ in sweep.users} == set(ra.EXPERIMENTS)
    assert sweep.columns(1.0, 20) == slice(60, 80)
    job = jobs.Job(sweep, seeds=3, epochs=5, threshold=0.005)
    _, params, _, config = jobs.build(job)
    assert [layer.w.shape for layer in params if isinstance(layer, fnn.Dense)] == [
        (15, 2, 10),
        (15, 10, 10),
        (15, 10, 1),
    ]
    assert config.seed == (0, 1, 2) * 5
    lr = config.optimizer.hyperparams["lr"]
    assert isinstance(lr, np.ndarray) and lr.tolist() == [v for v in ra.LEARNING_RATES for _ in range(3)]


class _Held(ThreadPoolExecutor):
    """Threads whose tasks wait for ``release`` before they run."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__(2)
        self.release = release

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        def held() -> T:
            self.release.wait(30)
            return fn(*args, **kwargs)

        return super().submit(held)


def test_a_sweep_waits_for_its_turn_and_tells_when_its_tasks_are_queued() -> None:
    """The report queues its sweeps in order: a sweep starts once the one before has queued its tasks
    (not once they are done)."""
    settings = [s for k in ra.EXPERIMENTS for s in ra.experiment_settings(k)]
    plan = ra.plan_runs(settings, ["xor"])[0]
    job = jobs.Job(plan, seeds=2, epochs=5, threshold=0.005)
    after, queued, release = threading.Event(), threading.Event(), threading.Event()
    told: list[object] = []
    with _Held(release) as held:
        worker = threading.Thread(target=pool._sweep, args=([job], held, 1, told.append, None, (after, queued)))
        worker.start()
        time.sleep(0.3)
        assert not queued.is_set() and told == []  # still waiting for the sweep before it
        after.set()
        assert queued.wait(10)  # its tasks are queued ...
        assert not [t for t in told if isinstance(t, tuple)]  # ... and none of them has run
        release.set()
        worker.join(timeout=60)
    assert not worker.is_alive()
    finished = [t for t in told if isinstance(t, tuple)]
    assert [j.plan.run_id for j, _ in finished] == [plan.run_id]


def test_a_failed_sweep_stops_the_one_after_it() -> None:
    settings = [s for k in ra.EXPERIMENTS for s in ra.experiment_settings(k)]
    plan = ra.plan_runs(settings, ["xor"])[0]
    bad = jobs.Job(plan, seeds=2, epochs=0, threshold=0.005)  # epochs=0: refused by TrainConfig
    stop, queued = threading.Event(), threading.Event()
    with pytest.raises(ValueError, match="epochs"):
        pool._sweep([bad], None, 1, lambda _: None, stop, (None, queued))
    assert stop.is_set() and queued.is_set()
    with pytest.raises(pool.Stopped):  # the next in turn does not start
        pool._sweep([bad], None, 1, lambda _: None, stop, (queued, threading.Event()))


def test_each_sweep_counts_on_its_share_of_the_workers() -> None:
    settings = [s for k in ra.EXPERIMENTS for s in ra.experiment_settings(k)]
    plans = ra.plan_runs(settings, ["linear", "xor"])
    grids: dict[tuple[object, ...], list[jobs.Job]] = {}
    for plan in plans:
        job = jobs.Job(plan, seeds=20, epochs=10000, threshold=0.005)
        grids.setdefault(jobs.grid_key(job), []).append(job)
    ordered = sorted(grids.values(), key=lambda g: -sum(map(jobs.estimated_cost, g)))
    costs = [sum(map(jobs.estimated_cost, g)) for g in ordered]
    # the full report on 2 workers: no sweep holds half the work, so none is cut for both workers
    assert max(costs) < sum(costs) / 2
    assert pool._shares(ordered, 2) == [1] * len(ordered)
    # on 16 workers the largest sweeps count on several, in proportion to their work
    shares = pool._shares(ordered, 16)
    assert shares[0] == math.ceil(16 * costs[0] / sum(costs)) > 1 and min(shares) == 1
    assert shares == sorted(shares, reverse=True)


# ----------------------------------------------------------------- findings ---


def _summary_of(
    acc: list[float], epochs: list[int], perfect_epochs: list[int] | None = None, diverged: int = 0
) -> ra.Summary:
    return ra.Summary(
        final_accuracy=np.array(acc),
        final_loss=np.linspace(0.1, 0.2, len(acc)),
        epochs_to_loss=np.array(epochs, dtype=np.int64),
        epochs_to_perfect=np.array(perfect_epochs if perfect_epochs is not None else epochs, dtype=np.int64),
        diverged=diverged,
        representative=0,
        threshold=0.005,
    )


def test_identity_finding_follows_the_numbers_either_way() -> None:
    ident, sig = ra.experiment_settings("C")
    bad = _summary_of([0.5, 0.5, 0.7, 1.0], [-1, -1, -1, 50])
    good = _summary_of([1.0] * 4, [10, 20, 30, 40])
    text = " ".join(ra.findings("C", [(ident, bad), (sig, good)], epochs=100, chance=0.52))
    assert "50% of seeds end at or below chance level (52%" in text
    assert "the best seed reaches 100% and 25% of seeds reach 100%" in text
    assert "more seeds reach 100% with sigmoid hidden layers than without activation" in text
    flipped = " ".join(ra.findings("C", [(ident, good), (sig, bad)], epochs=100, chance=0.52))
    assert "more seeds reach 100% without activation than with sigmoid hidden layers" in flipped
    same = " ".join(ra.findings("C", [(ident, good), (sig, good)], epochs=100, chance=0.52))
    assert "as many seeds reach 100% with sigmoid" in same


def test_loss_and_lr_findings_follow_the_numbers() -> None:
    mse, bce = ra.experiment_settings("F")
    fast, slow = _summary_of([1.0] * 3, [10] * 3, [10] * 3), _summary_of([1.0] * 3, [10] * 3, [40] * 3)
    assert "with BCE, 4.0x sooner than with MSE" in " ".join(
        ra.findings("F", [(mse, slow), (bce, fast)], epochs=99, chance=0.5)
    )
    assert "with MSE, 4.0x sooner than with BCE" in " ".join(
        ra.findings("F", [(mse, fast), (bce, slow)], epochs=99, chance=0.5)
    )
    lrs = ra.experiment_settings("A")
    rising = [(s, _summary_of([1.0 if i >= 3 else 0.5] * 2, [-1, -1])) for i, s in enumerate(lrs)]
    text = " ".join(ra.findings("A", rising, epochs=99, chance=0.5))
    assert "smallest learning rate at which every seed reaches 100% is lr=1 (default)" in text
    assert "a larger learning rate never lowers" in text
    assert "With no setting does the median seed's loss get below 0.005 within 99 epochs." in text
    falling = [(s, _summary_of([1.0 if i == 2 else 0.5] * 2, [5, 5])) for i, s in enumerate(lrs)]
    text = " ".join(ra.findings("A", falling, epochs=99, chance=0.5))
    assert "Above lr=0.1 the share of seeds at 100% falls again (to 0%)" in text
    assert "a larger learning rate never lowers" not in text


def test_general_findings_name_fastest_never_and_diverged() -> None:
    a, b, c = ra.experiment_settings("E")[:3]
    rows = [
        (a, _summary_of([1.0, 1.0], [100, 100])),
        (b, _summary_of([1.0, 1.0], [25, 25])),
        (c, _summary_of([0.5, 1.0], [-1, 30], diverged=1)),
    ]
    text = ra.general_findings(rows, 500)
    assert (
        "Fastest to a loss below 0.005: tanh, median 25 epochs; "
        "the slowest that gets there, sigmoid (default), needs 4.0x as many (100)." in text
    )
    assert "The median seed's loss never gets below 0.005 within 500 epochs with ReLU." in text
    assert "The loss became NaN/inf (training stopped) with ReLU on 1/2 seeds." in text
    assert ra.across_datasets({"linear": rows, "xor": rows}) == [
        "Each setting's share of seeds at 100% differs by less than 25 percentage points between linear and xor."
    ]


# -------------------------------------------------------------------- errors ---


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "0"], "--seeds must be an integer >= 1"),
        (["--epochs", "0"], "--epochs must be an integer >= 1"),
        (["--threshold", "0"], "--threshold must be a finite number > 0"),
        (["--jobs", "0"], "--jobs must be an integer >= 1"),
    ],
)
def test_bad_values_exit_2_with_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert report.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_a_failed_write_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "report.md").mkdir()  # the report cannot replace a folder
    argv = ["--experiments", "C", "--dataset", "xor", "--seeds", "1", "--epochs", "5", "--jobs", "1"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert report.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: cannot write {tmp_path / 'report.md'}: Is a directory"
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


@pytest.mark.parametrize(
    "argv", [["--experiments", "Z"], ["--experiments", ","], ["--dataset", "moons"], ["--seeds", "many"]]
)
def test_bad_flags_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        report.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error" in err


def test_an_unwritable_output_folder_is_found_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("training started")

    monkeypatch.setattr(fnn, "sweep", refuse)
    (tmp_path / "file").write_text("not a folder")
    out = tmp_path / "file" / "report"
    argv = ["--experiments", "C", "--dataset", "xor", "--seeds", "1", "--epochs", "5", "--jobs", "1"]
    assert report.main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out: cannot write to output folder {str(out)!r} (") and err.count("\n") == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_a_tqdm_bar_with_the_runs_under_way() -> None:
    from scripts.report.progress import Progress

    settings = ra.experiment_settings("C")
    plans = ra.plan_runs(settings, ["xor"])
    runs = [jobs.Job(p, seeds=2, epochs=100, threshold=0.005) for p in plans]
    out, live = io.StringIO(), _Terminal()
    with Progress(runs, out, live) as progress:
        progress.update_all({plans[0].run_id: 40})
        progress.finished(runs[1], jobs.run_job(runs[1]))
    bar = live.getvalue()
    assert "epochs" in bar and "1/2 runs done" in bar and f"run {plans[0].run_id} xor 40%" in bar
    assert re.fullmatch(r"\[1/2\] run 2: xor +C +sigmoid \(default\) +2 models +\d+\.\d+ s\n", out.getvalue())
