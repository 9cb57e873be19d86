"""Experiment G of the report (issue 13, part 7): its runs are the library's, its table and findings follow
the traces' numbers, its figures are written, ``--experiments G`` runs it alone."""

from __future__ import annotations

import contextlib
import io
import json
import struct
from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
import pytest

import functional_nn as fnn
from scripts import plots, report
from scripts.report import analysis as ra
from scripts.report import cli, figures
from scripts.report import generalization as gen
from scripts.report.render import Table

SEEDS, EPOCHS = 3, 40


@pytest.fixture(scope="module")
def results() -> list[gen.Result]:
    return [gen.run_job(job) for job in gen.jobs(SEEDS, EPOCHS)]


def test_data_splits_half_out_and_standardizes_with_the_training_half() -> None:
    train, validation, test = gen.data()
    assert train.n == gen.N // 2 and validation.n + test.n == gen.N // 2
    np.testing.assert_allclose(train.x.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(train.x.std(axis=0), 1.0, rtol=1e-12)
    points = {tuple(p) for p in np.round(np.concatenate([train.x, validation.x, test.x]), 12)}
    assert len(points) == gen.N  # no point in two parts


def test_jobs_are_one_stacked_run_per_setting(results: list[gen.Result]) -> None:
    jobs = gen.jobs(SEEDS, EPOCHS)
    assert {j.setting for j in jobs} == set(gen.SETTINGS) and all(j.epochs == EPOCHS for j in jobs)
    assert gen.jobs(SEEDS, 10**6)[0].epochs == gen.EPOCHS  # --epochs only lowers G's budget
    by_label = {j.setting.label: j for j in jobs}
    net, _, _, _, config = gen.build(by_label[gen.SETTINGS[2].label])
    assert any(isinstance(layer, fnn.DropoutLayer) for layer in net.layers)
    assert gen.build(by_label[gen.SETTINGS[1].label])[4].optimizer.hyperparams["weight_decay"] == gen.WEIGHT_DECAY
    assert gen.build(by_label[gen.SETTINGS[3].label])[4].patience == gen.PATIENCE
    assert config.seed == tuple(range(SEEDS))


def test_result_is_the_traces(results: list[gen.Result]) -> None:
    """A result's numbers are those of the run trained directly with the library."""
    job = next(j for j in gen.jobs(SEEDS, EPOCHS) if j.setting.patience is None and j.setting.dropout is None)
    net, params, train, validation, config = gen.build(job)
    trace = fnn.train(net, params, train, config, validation=validation)
    got = next(r for r in results if r.index == job.index)
    np.testing.assert_array_equal(got.train_accuracy, trace.final_accuracy)
    test = gen.data()[2]
    np.testing.assert_array_equal(got.test_accuracy, fnn.accuracy(net, trace.params, test.x, test.y))
    assert trace.val_loss is not None
    np.testing.assert_array_equal(got.curves.val_loss, np.median(trace.val_loss, axis=1))
    assert got.grid.shape == (gen.GRID, gen.GRID) and np.all((got.grid >= 0) & (got.grid <= 1))


def test_median_running_ignores_stopped_seeds() -> None:
    per_epoch = np.array([[1.0, 2.0, 3.0], [1.0, 5.0, np.nan], [2.0, np.nan, np.nan]])
    np.testing.assert_array_equal(gen.median_running(per_epoch), [2.0, 3.0, np.nan])


def _result(
    label: str, index: int, train: list[float], test: list[float], best: list[float] | None = None
) -> gen.Result:
    curves = gen.Curves(
        train_loss=np.array([0.7, 0.4, 0.2, 0.1]),
        val_loss=np.array([0.7, 0.5, 0.6, 0.8]),
        train_accuracy=np.array([0.5, 0.8, 0.9, 1.0]),
        val_accuracy=np.array([0.5, 0.7, 0.75, 0.7]),
    )
    k = len(test)
    return gen.Result(
        index=index,
        label=label,
        wall=1.0,
        train_accuracy=np.array(train),
        test_accuracy=np.array(test),
        epochs_run=np.full(k, 4.0) if best is None else np.full(k, 3.0),
        best_epoch=None if best is None else np.array(best),
        curves=curves,
        representative=0,
        grid=np.zeros((2, 2)),
    )


def test_findings_follow_the_numbers() -> None:
    base = _result("no regularization", 0, [1.0, 1.0, 0.9], [0.7, 0.8, 0.6])
    better = _result("dropout 0.1", 1, [0.9, 0.9, 0.9], [0.8, 0.85, 0.75])
    worse = _result("early stopping (patience 100)", 2, [0.8, 0.8, 0.7], [0.6, 0.65, 0.5], best=[2.0, 2.0, 1.0])
    text = gen.findings([base, better, worse])
    assert text[0].startswith("Without regularization the median seed fits 100% of the training points but 70%")
    assert "it overfits, a gap of 30.0 points" in text[0]
    assert (
        "lowest at epoch 2" in text[1]
        and "peaks at epoch 3" in text[1]
        and "a stop on the loss comes earlier" in text[1]
    )
    assert text[2].startswith("Dropout 0.1 raises the median held-out accuracy from 70% to 80%")
    assert "the worst seed's from 60% to 75%" in text[2]
    assert text[3].startswith("Early stopping (patience 100) lowers the median held-out accuracy from 70% to 60%")
    assert "keeping the params of epoch 2 (median)" in text[3]
    assert text[4] == "Best median held-out accuracy: dropout 0.1 (80%); best worst seed: dropout 0.1 (75%)."
    same = gen.findings([base, attrs.evolve(better, test_accuracy=base.test_accuracy)])
    assert "leaves the median held-out accuracy at 70% (the worst seed's unchanged at 60%)" in same[2]
    fits = gen.findings([attrs.evolve(base, train_accuracy=np.array([0.7, 0.81, 0.6]))])
    assert "hardly overfits" in fits[0]


def test_section_and_summary(results: list[gen.Result], tmp_path: Path) -> None:
    blocks, figs, summary = gen.section(results, SEEDS, EPOCHS, tmp_path)
    assert any(isinstance(b, Table) and len(b.rows) == len(gen.SETTINGS) for b in blocks)
    assert [f.path.name for f in figs] == ["G_spiral_curves.png", "G_spiral_boundaries.png"]
    assert [s["label"] for s in summary["settings"]] == [s.label for s in gen.SETTINGS]
    for entry, r in zip(summary["settings"], sorted(results, key=lambda r: r.index), strict=True):
        assert entry["test_accuracy"] == r.test_accuracy.tolist()
        assert entry["row"][2] == ra.fmt_pct(float(np.median(r.test_accuracy)))
    assert summary["data"]["train"] == gen.N // 2


def test_experiments_flag_takes_g() -> None:
    args = cli.build_parser().parse_args(["--experiments", "g,generalization,A"])
    assert args.experiments == ("A", "G")
    assert cli.build_parser().parse_args([]).experiments == ("A", "B", "C", "D", "E", "F", "G")
    assert cli.build_parser().parse_args(["--experiments", "overfitting"]).experiments == ("G",)


def test_g_alone_writes_its_section_and_figures(tmp_path: Path) -> None:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = report.main(
            ["--experiments", "G", "--seeds", "2", "--epochs", "30", "--jobs", "2", "--out", str(tmp_path)]
        )
    assert code == 0
    md = (tmp_path / "report.md").read_text()
    assert "## G. Generalization" in md and "## The defaults" not in md
    width, height = plots.panels_inches(2)
    sizes = {
        "G_spiral_curves.png": (round(width * figures.DPI), round(height * figures.DPI)),
        "G_spiral_boundaries.png": figures.boundary_size(len(gen.SETTINGS)),
    }
    for name, size in sizes.items():
        head = (tmp_path / "figures" / name).read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == size, name
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["experiments"]["G"]["epochs"] == 30
    assert "G: 4 runs trained" in stdout.getvalue()


def test_g_through_sweeps_equals_each_setting_trained_alone(results: list[gen.Result]) -> None:
    """The report trains G through ``fnn.sweep`` (``train_all``): the same results as ``run_job``'s, bit for bit."""

    def here(
        net: fnn.Network,
        data: fnn.Dataset,
        configs: Sequence[fnn.TrainConfig],
        *,
        seeds: Sequence[int],
        validation: fnn.Dataset,
        init: str,
    ) -> list[tuple[fnn.Trace, float]]:
        traces = fnn.sweep(net, data, configs, seeds=seeds, validation=validation, init=init, workers=2)
        return [(t, 0.0) for t in traces]

    swept = {r.index: attrs.evolve(r, wall=0.0) for r in gen.train_all(gen.jobs(SEEDS, EPOCHS), here)}
    assert swept == {r.index: attrs.evolve(r, wall=0.0) for r in results}
