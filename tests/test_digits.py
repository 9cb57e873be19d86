"""scripts.digits: the --quick run's files and numbers, the missing extra, bad flags, --out, Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import functional_nn as fnn
from scripts import digits, plots
from tests.helpers import unwritable_folder

pytest.importorskip("sklearn.neural_network")

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("learning_curves.png", "confusion.png", "misclassified_cnn.png", "misclassified_mlp.png")


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("training started")

    for name in ("train", "train_iter", "init"):
        monkeypatch.setattr(fnn, name, refuse)


def _pixels(path: Path) -> tuple[int, int]:
    """(height, width) of a PNG as matplotlib reads it."""
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] == 4
    return int(image.shape[0]), int(image.shape[1])


def _expected(inches: tuple[float, float], dpi: int) -> tuple[int, int]:
    return round(inches[1] * dpi), round(inches[0] * dpi)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One --quick run for the tests that read its output: (output folder, stdout)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("digits")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert digits.main(["--quick", "--out", str(out)]) == 0
    return out, printed.getvalue()


def test_quick_run_prints_each_model_and_the_targets(quick_run: tuple[Path, str]) -> None:
    _, out = quick_run
    assert out.startswith("seed 0: 1198 training, 599 held-out digits\n")
    for model in digits.MODELS:
        assert re.search(rf"^  {model} +held-out +\d+\.\d\d %", out, re.M), model
    assert len(re.findall(r"^target: .*: (met|MISSED) \(", out, re.M)) == 3


def test_quick_run_writes_every_file(quick_run: tuple[Path, str]) -> None:
    out, _ = quick_run
    names = {*FIGURES, "report.md", "metrics.json"}
    assert {p.name for p in out.iterdir()} == names  # no temporary file left
    assert _pixels(out / "learning_curves.png") == _expected(plots.panels_inches(2), 110)
    assert _pixels(out / "confusion.png") == _expected(plots.confusion_inches(3), 110)
    metrics = json.loads((out / "metrics.json").read_text())
    for name, model in (("misclassified_cnn.png", "CNN"), ("misclassified_mlp.png", "MLP")):
        [fit] = metrics["models"][model]
        wrong = round((1 - fit["held_out_accuracy"]) * 599)
        shown = min(wrong, digits.MAX_SHOWN)
        assert _pixels(out / name) == _expected(plots.image_grid_inches(shown, 10), 100)


def test_quick_report_holds_the_printed_numbers(quick_run: tuple[Path, str]) -> None:
    out, printed = quick_run
    report = (out / "report.md").read_text()
    for name in FIGURES:
        assert f"]({name})" in report
    sections = re.split(r"^## ", report, flags=re.M)
    titles = {"MLP": "Our MLP", "MLPClassifier": "scikit-learn's MLPClassifier", "CNN": "Our CNN"}
    for model in digits.MODELS:
        match = re.search(rf"^  {model} +held-out +(\d+\.\d\d) % +(\d+) ", printed, re.M)
        assert match, model
        accuracy, epochs = match.groups()
        [section] = [s for s in sections if s.startswith(titles[model] + "\n")]
        assert f"| 0 | {accuracy} % | {epochs} |" in section
        assert f"| median | {accuracy} % | {epochs} |" in section
    for line in re.findall(r"^target: (.*): (?:met|MISSED) \((.*)\)$", printed, re.M):
        goal, measured = line
        assert f"| {goal} | {measured} |" in report


def test_settings_quick_and_explicit_flags() -> None:
    parser = digits.build_parser()
    assert digits.settings(parser.parse_args([])) == digits.FULL
    quick = digits.settings(parser.parse_args(["--quick", "--epochs", "7", "--no-standardize"]))
    assert quick.seeds == (0,) and quick.epochs == 7 and quick.cnn_epochs == 2 and not quick.standardize
    assert digits.FULL.seeds == (0, 1, 2, 3, 4) and digits.FULL.epochs == 200


@pytest.mark.parametrize("module", ["sklearn.datasets", "sklearn.neural_network"])
def test_missing_extra_is_one_line_and_status_2(
    module: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError, as without scikit-learn
    _no_training(monkeypatch)
    assert digits.main(["--quick", "--out", str(tmp_path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line == f"error: {digits.EXTRA}" and "[data]" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["--epochs", "0"],
        ["--seeds", "1,,2"],
        ["--seeds", "-1"],
        ["--lr", "0"],
        ["--lr", "nan"],
        ["--filters", "x"],
        ["--nope"],
    ],
)
def test_bad_flags_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_training(monkeypatch)
    with pytest.raises(SystemExit) as info:
        digits.main(argv)
    assert info.value.code == 2
    assert "error" in _one_line(capsys.readouterr().err)


def test_a_seed_twice_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_training(monkeypatch)
    assert digits.main(["--seeds", "1,2,1", "--out", str(tmp_path)]) == 2
    assert _one_line(capsys.readouterr().err) == "error: --seeds: each seed once, got 1,2,1"


@pytest.mark.parametrize("where", ["under a file", "existing, unwritable"])
def test_unwritable_out_is_found_before_training(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if where == "under a file":
        (tmp_path / "file").write_text("not a folder")
        out = tmp_path / "file" / "sub"
    else:
        out = unwritable_folder(tmp_path)
    _no_training(monkeypatch)
    monkeypatch.setattr(digits, "load_extra", lambda: pytest.fail("data loaded before --out was checked"))
    assert digits.main(["--quick", "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"error: --out: cannot write to output folder {str(out)!r} (")


def test_ctrl_c_caught_by_mlpclassifier_still_stops_the_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLPClassifier.fit catches KeyboardInterrupt and only warns: the script must stop all the same."""
    import importlib

    MLPClassifier = importlib.import_module("sklearn.neural_network").MLPClassifier  # no stubs: by name
    if not hasattr(MLPClassifier, "_update_no_improvement_count"):
        pytest.skip("this scikit-learn has no _update_no_improvement_count to interrupt")

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    real = digits.train_ours

    def ours_until_the_cnn(model: str, *args: object) -> digits.Fit:
        assert model == "MLP", "the CNN started after Ctrl-C"
        return real(model, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(MLPClassifier, "_update_no_improvement_count", interrupt)
    monkeypatch.setattr(digits, "train_ours", ours_until_the_cnn)
    assert digits.main(["--quick", "--out", str(tmp_path)]) == 130
    assert _one_line(capsys.readouterr().err) == f"interrupted; files already written are in {tmp_path}/"


def test_ctrl_c_in_a_real_process_is_one_line_and_status_130(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "scripts.digits", "--out", str(tmp_path)]
    with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # flushed with the first model's line: training is under way
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.monotonic() - started < 5
    assert err == f"interrupted; files already written are in {tmp_path}/\n"
    assert first.startswith("seed 0: ") and "Traceback" not in out
    assert list(tmp_path.iterdir()) == []
