"""The scripts: the lab's main job end to end, its flags and its errors."""

from __future__ import annotations

import io
import json
import os
import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import io as fio
from scripts import lab
from tests.helpers import unwritable_folder


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_lab_runs_both_datasets_and_writes_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = lab.main(["--epochs", "300", "--print-every", "100", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert re.search(r"^epoch +100 loss : \d+\.\d+$", out, re.M)
    lines = re.findall(r"^Iter(\d+) \| Ground truth: ([01]) \| prediction: ([0-9.e+-]+) \|$", out, re.M)
    assert len(lines) == 100 + 21
    assert re.search(r"^loss=\d+\.\d+ accuracy=\d+\.\d\d%$", out, re.M)
    for name in ("linear", "xor"):
        for kind in ("comparison", "learning_curve"):
            w, h = _png_size(tmp_path / f"{name}_{kind}.png")
            assert w > 400 and h > 300
        trace = fio.load_trace(tmp_path / f"{name}_trace.npz")
        assert trace.loss.shape == (300,)


def test_lab_defaults_reach_full_accuracy_on_xor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lab.main(["--dataset", "xor", "--out", str(tmp_path), "--print-every", "5000"]) == 0
    out = capsys.readouterr().out
    assert "accuracy=100.00%" in out
    trace = fio.load_trace(tmp_path / "xor_trace.npz")
    data = fnn.generate_xor_easy()
    assert np.array_equal(fnn.predict(trace.network, trace.params, data.x), data.y)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lr", "0"], "lr must be > 0"),
        (["--epochs", "0"], "epochs must be an integer >= 1"),
        (["--activation", "swish"], "hidden must be one of"),
        (["--loss", "hinge"], "loss must be one of"),
        (["--init", "zeros"], "scheme must be one of"),
        (["--hidden", "10,0"], r"sizes\[2\] must be an integer >= 1"),
        (["--batch-size", "500"], "batch_size must be between 1 and the number of samples"),
        (["--loss", "bce", "--output-activation", "tanh"], "needs a sigmoid output layer"),
    ],
)
def test_lab_bad_values_exit_2_with_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    short = [] if "--epochs" in argv else ["--epochs", "5"]
    assert lab.main([*argv, *short, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv", [["--epochs", "many"], ["--hidden", "a,b"], ["--dataset", "moons"], ["--optimizer", "lion"], ["--nope"]]
)
def test_lab_bad_flags_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        lab.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error" in err


def test_lab_unwritable_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert lab.main(["--epochs", "5", "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and len(err.strip().splitlines()) == 1


def test_readme_test_command_is_what_ci_runs() -> None:
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)\n```", readme, re.S)
    assert len(blocks) == 2, "the README gives exactly two set-up commands"
    run_lab, run_tests = blocks
    assert "scripts.lab" in run_lab and "pytest" in run_tests and "mypy" in run_tests
    assert run_tests in (root / ".ci" / "run").read_text()


def test_import_does_not_pull_in_matplotlib() -> None:
    import subprocess
    import sys

    code = "import sys, functional_nn; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_lab_read_only_output_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(tmp_path / "xor_comparison.png"))

    from scripts import plots

    monkeypatch.setattr(plots, "save_comparison", denied)
    assert lab.main(["--dataset", "xor", "--epochs", "5", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: cannot write {tmp_path / 'xor_comparison.png'}: Permission denied"


def test_lab_ctrl_c_keeps_written_files_and_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = fnn.train_iter
    calls = []

    def interrupted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:  # the second dataset is interrupted
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fnn, "train_iter", interrupted)
    assert lab.main(["--epochs", "50", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert f"interrupted; files already written are in {tmp_path}/" in err and "Traceback" not in err
    assert fio.load_trace(tmp_path / "linear_trace.npz").loss.shape == (50,)
    assert not (tmp_path / "xor_trace.npz").exists()


def test_cnn_script_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scripts import cnn

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert cnn.main(["--epochs", "1", "--n-train", "20", "--n-test", "10", "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.strip().startswith("error: --out: cannot write to output folder") and len(err.strip().splitlines()) == 1


def test_cnn_finds_an_unwritable_output_folder_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts import cnn

    out = unwritable_folder(tmp_path)
    _no_training(monkeypatch)
    assert cnn.main(["--epochs", "1", "--n-train", "20", "--n-test", "10", "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"error: --out: cannot write to output folder {str(out)!r} (")


def test_cnn_runs_and_writes_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scripts import cnn

    argv = [
        "--epochs",
        "2",
        "--n-train",
        "40",
        "--n-test",
        "20",
        "--size",
        "8",
        "--kernel",
        "3",
        "--out",
        str(tmp_path),
    ]
    assert cnn.main(argv) == 0
    assert "CNN held-out accuracy" in capsys.readouterr().out
    for name in ("learning_curve.png", "predictions.png", "filters.png"):
        w, h = _png_size(tmp_path / name)
        assert w > 400 and h > 200
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["models"]) == {"CNN", "MLP", "wide MLP"}
    assert metrics["models"]["CNN"]["parameters"] == 16 * 9 + 16 + 16 + 1
    assert "| CNN |" in (tmp_path / "report.md").read_text()
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_system_errors_without_a_file_are_not_called_write_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts._cli import reporting_errors

    def spawn_fails() -> int:
        raise OSError(11, "Resource temporarily unavailable")

    assert reporting_errors(spawn_fails, tmp_path) == 2
    assert capsys.readouterr().err.strip() == f"error: Resource temporarily unavailable (output folder {tmp_path})"


# ------------------------------------------------------------ lab: resume and sizes ---


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_lab_writes_a_sidecar_naming_the_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lab.main(["--dataset", "linear", "--seed", "3", "--epochs", "7", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    info = json.loads((tmp_path / "linear_trace.json").read_text())
    assert info == {"dataset": "linear", "data_seed": 3, "epochs_run": 7}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--dataset", "xor"], r"was trained on dataset 'linear', not on --dataset xor"),
        (["--dataset", "linear", "--seed", "1"], r"was trained on linear data drawn with --seed 0, not --seed 1"),
    ],
)
def test_lab_resume_refuses_other_data(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lab.main(["--dataset", "linear", "--epochs", "5", "--out", str(tmp_path / "a")]) == 0
    saved = tmp_path / "a" / "linear_trace.npz"
    capsys.readouterr()
    assert lab.main([*flags, "--epochs", "5", "--resume", str(saved), "--out", str(tmp_path / "b")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(saved) in line and re.search(message, line), line
    assert not (tmp_path / "b" / "xor_trace.npz").exists() and not (tmp_path / "b" / "linear_trace.npz").exists()


def test_lab_resume_refuses_a_trace_without_its_sidecar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = fnn.mlp((2, 3, 1))
    config = fnn.TrainConfig(epochs=4, optimizer=fnn.sgd(lr=0.5), loss="mse", seed=0)
    saved = tmp_path / "other_trace.npz"
    fio.save_trace(saved, fnn.train(net, fnn.init(net, seed=0), fnn.generate_linear(n=100, seed=0), config))
    assert lab.main(["--dataset", "linear", "--epochs", "3", "--resume", str(saved), "--out", str(tmp_path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(saved) in line and "other_trace.json" in line


def test_lab_resume_refuses_a_sidecar_of_another_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lab.main(["--dataset", "xor", "--epochs", "5", "--out", str(tmp_path)]) == 0
    (tmp_path / "xor_trace.json").write_text(json.dumps({"dataset": "xor", "data_seed": None, "epochs_run": 9}))
    capsys.readouterr()
    saved = tmp_path / "xor_trace.npz"
    assert lab.main(["--dataset", "xor", "--epochs", "3", "--resume", str(saved), "--out", str(tmp_path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "run of 9 epochs" in line and str(saved) in line


def test_lab_resume_refuses_a_stacked_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = fnn.mlp((2, 4, 1))
    config = fnn.TrainConfig(epochs=6, optimizer=fnn.sgd(lr=0.5), loss="mse", seed=[0, 1, 2])
    trace = fnn.train(net, fnn.init(net, seed=[0, 1, 2]), fnn.generate_xor_easy(), config)
    assert trace.loss.shape == (6, 3)
    saved = tmp_path / "xor_trace.npz"
    fio.save_trace(saved, trace)
    (tmp_path / "xor_trace.json").write_text(json.dumps({"dataset": "xor", "data_seed": None, "epochs_run": 6}))
    assert lab.main(["--dataset", "xor", "--epochs", "3", "--resume", str(saved), "--out", str(tmp_path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line == (
        f"error: {saved}: holds a stack of 3 models (loss of shape (6, 3)); "
        "--resume continues the run of a single model"
    )


def test_lab_resume_continues_and_records_the_total(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lab.main(["--dataset", "xor", "--epochs", "20", "--out", str(tmp_path / "a")]) == 0
    saved = tmp_path / "a" / "xor_trace.npz"
    assert lab.main(["--dataset", "xor", "--epochs", "10", "--resume", str(saved), "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    assert fio.load_trace(tmp_path / "b" / "xor_trace.npz").loss.shape == (30,)
    assert json.loads((tmp_path / "b" / "xor_trace.json").read_text())["epochs_run"] == 30


def _no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("training started")

    monkeypatch.setattr(fnn, "train_iter", refuse)
    monkeypatch.setattr(fnn, "init", refuse)


def test_lab_refuses_a_network_too_large_before_allocating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_training(monkeypatch)
    assert lab.main(["--hidden", "100000,100000", "--out", str(tmp_path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line == (
        "error: --hidden 100000,100000: the network would have 10,000,500,001 parameters; "
        f"the lab trains at most {lab.MAX_PARAMETERS:,}"
    )


@pytest.mark.parametrize("hidden", ["10,,10", "10,", ",10", ""])
def test_lab_refuses_empty_hidden_sizes(hidden: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        lab.main(["--hidden", hidden])
    assert info.value.code == 2
    line = _one_line(capsys.readouterr().err)
    assert "--hidden" in line and "empty item" in line


@pytest.mark.parametrize("where", ["under a file", "existing, unwritable"])
def test_lab_finds_an_unwritable_output_folder_before_training(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if where == "under a file":
        (tmp_path / "file").write_text("not a folder")
        out = tmp_path / "file" / "sub"
    else:
        out = unwritable_folder(tmp_path)
    _no_training(monkeypatch)
    assert lab.main(["--dataset", "xor", "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"error: --out: cannot write to output folder {str(out)!r} (")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lab_progress_bar_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert lab.main(["--dataset", "xor", "--epochs", "200", "--print-every", "100", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^epoch +200 loss : \d+\.\d+$", out, re.M)
    bar = terminal.getvalue()
    assert "/200" in bar and "epochs" in bar and "loss" in bar


# --------------------------------------------------------------- shared helpers ---


def test_atomic_write_replaces_whole_or_leaves_the_old_file(tmp_path: Path) -> None:
    from scripts import _files

    target = tmp_path / "a.txt"
    _files.write_text(target, "old\n")
    with pytest.raises(KeyboardInterrupt), _files.atomic_write(target) as fh:
        fh.write(b"partial")
        raise KeyboardInterrupt
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    _files.write_text(target, "new\n")
    assert target.read_text() == "new\n" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    with pytest.raises(OSError) as info:
        _files.write_text(tmp_path / "missing" / "b.txt", "x")
    assert info.value.filename == str(tmp_path / "missing" / "b.txt")


def test_remove_temporaries_removes_only_hidden_tmp_files(tmp_path: Path) -> None:
    from scripts import _files

    for name in (".a.png.123.0.tmp", ".run01.npz.x8f.tmp", "keep.tmp", "figure.png", ".keep"):
        (tmp_path / name).write_text("x")
    _files.remove_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".keep", "figure.png", "keep.tmp"]
    _files.remove_temporaries(tmp_path / "absent")


def test_blas_settings_are_set_once_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    from scripts import _tuning

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    previous = _tuning.one_blas_thread()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1" and os.environ["OMP_NUM_THREADS"] == "3"
    _tuning.restore_env(previous)
    assert "OPENBLAS_NUM_THREADS" not in os.environ and os.environ["OMP_NUM_THREADS"] == "3"


@pytest.mark.parametrize("presses", [1, 2])
def test_lab_ctrl_c_in_a_real_process_is_one_line_and_status_130(presses: int, tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    argv = [sys.executable, "-m", "scripts.lab", "--dataset", "linear", "--epochs", "10000000", "--out", str(tmp_path)]
    root = Path(__file__).resolve().parent.parent
    with subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        time.sleep(1.5)
        for _ in range(presses):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        started = time.monotonic()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.monotonic() - started < 5
    assert err == f"interrupted; files already written are in {tmp_path}/\n"
    assert "Traceback" not in out and out.startswith("== linear: ")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------- lab: Playground's sets ---

PER_CLASS = re.compile(r"^Iter(\d+) \| Ground truth: (\d) \| prediction: (\d) \(p=(\d\.\d\d)\) \|$", re.M)


def test_lab_spiral_with_three_classes_trains_a_softmax(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--dataset", "spiral", "--classes", "3", "--noise", "0.1", "--epochs", "40", "--print-every", "20"]
    assert lab.main([*argv, "--optimizer", "adam", "--lr", "0.05", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("== spiral: 200 samples, 3 classes, noise 0.1, network (2, 10, 10, 3) sigmoid/softmax, ")
    assert ", cross_entropy, batch size full\n" in out
    lines = PER_CLASS.findall(out)
    assert [int(i) for i, *_ in lines] == list(range(1, 201))
    assert {truth for _, truth, _, _ in lines} == {"0", "1", "2"}
    assert all(1 / 3 - 0.005 <= float(p) <= 1.0 for *_, p in lines)  # the largest of three probabilities
    data = fnn.generate_spiral(classes=3, noise=0.1, seed=0)
    assert [int(t) for _, t, _, _ in lines] == np.argmax(data.y, axis=1).tolist()
    right = sum(t == g for _, t, g, _ in lines)
    assert re.search(rf"^loss=\d+\.\d+ accuracy={100 * right / 200:.2f}%$", out, re.M)
    for kind in ("comparison", "learning_curve"):
        w, h = _png_size(tmp_path / f"spiral_{kind}.png")
        assert w > 400 and h > 300
    trace = fio.load_trace(tmp_path / "spiral_trace.npz")
    assert trace.network.out_features == 3 and trace.config.loss.name == "cross_entropy"
    info = json.loads((tmp_path / "spiral_trace.json").read_text())
    assert info == {"dataset": "spiral", "data_seed": 0, "epochs_run": 40, "classes": 3, "noise": 0.1}


@pytest.mark.parametrize(("name", "flags"), [("circle", ["--noise", "0.2"]), ("gauss", [])])
def test_lab_two_class_playground_sets_keep_the_sigmoid_output(
    name: str, flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lab.main(["--dataset", name, *flags, "--epochs", "30", "--print-every", "10", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    noise = flags[1] if flags else "0"
    assert out.startswith(f"== {name}: 200 samples, 2 classes, noise {noise}, network (2, 10, 10, 1) sigmoid/sigmoid")
    lines = re.findall(r"^Iter(\d+) \| Ground truth: ([01]) \| prediction: ([0-9.e+-]+) \|$", out, re.M)
    assert len(lines) == 200
    for kind in ("comparison", "learning_curve"):
        w, h = _png_size(tmp_path / f"{name}_{kind}.png")
        assert w > 400 and h > 300
    info = json.loads((tmp_path / f"{name}_trace.json").read_text())
    assert info == {"dataset": name, "data_seed": 0, "epochs_run": 30, "classes": 2, "noise": float(noise)}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "circle", "--classes", "3"], "--classes 3: only gauss and spiral have more than 2 classes"),
        (["--classes", "4"], "--classes 4: only gauss and spiral have more than 2 classes, not --dataset both"),
        (["--dataset", "xor", "--noise", "0.1"], "--noise 0.1: only circle, gauss and spiral have noise"),
        (["--dataset", "gauss", "--classes", "3", "--loss", "mse"], "--classes 3 trains a softmax output"),
        (["--dataset", "spiral", "--classes", "3", "--output-activation", "tanh"], "got --output-activation tanh"),
        (["--dataset", "spiral", "--loss", "cross_entropy"], "two classes train one output unit"),
        (["--dataset", "linear", "--output-activation", "softmax"], "two classes train one output unit"),
    ],
)
def test_lab_playground_flags_are_checked_before_training(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_training(monkeypatch)
    assert lab.main([*argv, "--out", str(tmp_path)]) == 2
    assert message in _one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["--classes", "1"], ["--classes", "11"], ["--noise", "-0.1"], ["--noise", "inf"]])
def test_lab_playground_flag_values_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        lab.main(["--dataset", "spiral", *argv])
    assert info.value.code == 2
    assert argv[0] in _one_line(capsys.readouterr().err)


@pytest.fixture
def spiral_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A 5-epoch run on spiral data (3 classes, noise 0.2, seed 1); its saved trace."""
    argv = ["--dataset", "spiral", "--classes", "3", "--noise", "0.2", "--seed", "1", "--epochs", "5"]
    assert lab.main([*argv, "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    return tmp_path / "a" / "spiral_trace.npz"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--dataset", "spiral", "--classes", "4", "--noise", "0.2", "--seed", "1"],
            r"with --classes 3, not --classes 4",
        ),
        (["--dataset", "spiral", "--classes", "3", "--seed", "1"], r"with --noise 0.2, not --noise 0.0"),
        (["--dataset", "spiral", "--classes", "3", "--noise", "0.2"], r"drawn with --seed 1, not --seed 0"),
        (["--dataset", "gauss", "--classes", "3", "--noise", "0.2", "--seed", "1"], r"on dataset 'spiral', not on"),
    ],
)
def test_lab_resume_refuses_other_playground_data(
    flags: list[str], message: str, spiral_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lab.main([*flags, "--epochs", "3", "--resume", str(spiral_run), "--out", str(tmp_path / "b")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(spiral_run) in line and re.search(message, line), line
    assert not (tmp_path / "b" / "spiral_trace.npz").exists()


def test_lab_resume_continues_a_playground_run(
    spiral_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--dataset", "spiral", "--classes", "3", "--noise", "0.2", "--seed", "1", "--epochs", "4"]
    assert lab.main([*flags, "--resume", str(spiral_run), "--out", str(tmp_path / "b")]) == 0
    assert len(PER_CLASS.findall(capsys.readouterr().out)) == 200
    assert fio.load_trace(tmp_path / "b" / "spiral_trace.npz").loss.shape == (9,)
    info = json.loads((tmp_path / "b" / "spiral_trace.json").read_text())
    assert info == {"dataset": "spiral", "data_seed": 1, "epochs_run": 9, "classes": 3, "noise": 0.2}


def test_lab_resume_refuses_a_playground_sidecar_without_classes(
    spiral_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    side = spiral_run.with_suffix(".json")
    side.write_text(json.dumps({"dataset": "spiral", "data_seed": 1, "epochs_run": 5}))
    flags = ["--dataset", "spiral", "--classes", "3", "--noise", "0.2", "--seed", "1", "--epochs", "3"]
    assert lab.main([*flags, "--resume", str(spiral_run), "--out", str(spiral_run.parent)]) == 2
    assert _one_line(capsys.readouterr().err) == (
        f"error: {side}: not a sidecar written by the lab (no classes and noise for spiral)"
    )


# ------------------------------------------------------------ lab: regression ---

PER_VALUE = re.compile(r"^Iter(\d+) \| Ground truth: (-?\d\.\d{3}) \| prediction: (-?\d+\.\d{3}) \|$", re.M)


def test_wave_dataset_is_drawn_from_the_seed() -> None:
    data = lab.wave_dataset(3, noise=0.1)
    assert data.task == "regression" and data.x.shape == (200, 2) and data.y.shape == (200, 1)
    assert np.all(np.abs(data.x) <= 1.0)
    rng = np.random.default_rng(np.random.SeedSequence(3, spawn_key=(7,)))
    x = rng.uniform(-1.0, 1.0, size=(200, 2))
    noise = rng.standard_normal((200, 1))
    np.testing.assert_array_equal(data.x, x)
    np.testing.assert_allclose(data.y, np.sin(3 * x[:, :1]) * np.cos(2 * x[:, 1:]) + 0.1 * noise)
    assert not np.array_equal(lab.wave_dataset(4).x, data.x)


def test_lab_wave_trains_an_identity_output_and_reports_r2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--dataset", "wave", "--noise", "0.05", "--epochs", "50", "--print-every", "25", "--optimizer", "adam"]
    assert lab.main([*argv, "--lr", "0.02", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("== wave: 200 samples, regression, noise 0.05, network (2, 10, 10, 1) sigmoid/identity, ")
    assert ", mse, batch size full\n" in out
    lines = PER_VALUE.findall(out)
    assert [int(i) for i, *_ in lines] == list(range(1, 201))
    data = lab.wave_dataset(0, noise=0.05)
    assert [t for _, t, _ in lines] == [f"{v:.3f}" for v in data.y[:, 0]]
    r2 = re.search(r"^loss=\d+\.\d+ R\^2=(-?\d+\.\d\d)$", out, re.M)
    assert r2 is not None and "accuracy=" not in out
    trace = fio.load_trace(tmp_path / "wave_trace.npz")
    pred = fnn.forward(trace.network, trace.params, data.x)
    assert r2.group(1) == f"{lab.r_squared(data.y, pred):.2f}"
    for kind in ("comparison", "learning_curve"):
        w, h = _png_size(tmp_path / f"wave_{kind}.png")
        assert w > 400 and h > 300
    assert trace.network.output_activation.name == "identity" and trace.config.loss.name == "mse"
    info = json.loads((tmp_path / "wave_trace.json").read_text())
    assert info == {"dataset": "wave", "data_seed": 0, "epochs_run": 50, "noise": 0.05}
    resumed = ["--dataset", "wave", "--noise", "0.05", "--epochs", "5", "--resume", str(tmp_path / "wave_trace.npz")]
    assert lab.main([*resumed, "--out", str(tmp_path / "b")]) == 0
    assert len(PER_VALUE.findall(capsys.readouterr().out)) == 200
    assert fio.load_trace(tmp_path / "b" / "wave_trace.npz").loss.shape == (55,)
    assert lab.main([*resumed[:2], *resumed[4:], "--out", str(tmp_path / "c")]) == 2
    assert "with --noise 0.05, not --noise 0.0" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "flags",
    [
        ["--loss", "bce"],
        ["--loss", "cross_entropy"],
        ["--output-activation", "softmax"],
        ["--output-activation", "sigmoid"],
        ["--classes", "3"],
    ],
)
def test_lab_wave_refuses_classification_outputs(
    flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_training(monkeypatch)
    assert lab.main(["--dataset", "wave", *flags, "--out", str(tmp_path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert ("regression set" in line or "--classes 3" in line) and flags[1] in line
    assert list(tmp_path.iterdir()) == []
