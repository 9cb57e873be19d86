"""scripts.explore: the training explorer's command, its page (read as a file here; the browser tests run
it) and its errors."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import views
from scripts import explore
from tests.helpers import unwritable_folder

SMALL = ["--datasets", "gauss", "--hidden", "2", "--activation", "relu", "--epochs", "30", "--snapshots", "5"]


def _data(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    assert found is not None
    data: dict[str, Any] = json.loads(found[1])
    return data


def _inflate(text: str) -> np.ndarray[Any, np.dtype[np.uint8]]:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8)


def test_the_default_run_writes_one_page_under_5_mb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "explorer.html"
    assert explore.main(["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    size = out.stat().st_size
    assert size < 5_000_000
    assert re.search(rf"^wrote {re.escape(str(out))} \({size / 1e6:.2f} MB, 4 runs, [\d.]+ s\); open it", printed, re.M)
    runs = _data(out.read_text(encoding="utf-8"))["runs"]
    assert [r["label"] for r in runs] == ["circle · tanh", "circle · relu", "spiral · tanh", "spiral · relu"]
    assert all(len(r["epochs"]) == 61 and r["epochs"][0] == 0 and r["epochs"][-1] == 1000 for r in runs)


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    assert explore.main([*SMALL, "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    for banned in ("<link", " src=", "url(", "@import", "@font-face", "fetch(", "XMLHttpRequest", "import("):
        assert banned not in page, banned
    addresses = set(re.findall(r"\w+://[^\s\"'`<>)]*", page))
    assert addresses == {"http://www.w3.org/2000/svg"}  # a name (SVG's namespace), never fetched
    # the policy allows exactly the page's own style and script, nothing else
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None and csp[1].startswith("default-src 'none'; ")
    for tag, name in (("style", "explorer.css"), ("script", "explorer.js")):
        body = re.search(rf"<{tag}>(.*?)</{tag}>", page, re.S)
        assert body is not None and body[1] == (explore.TEMPLATES / name).read_text(encoding="utf-8")
        digest = base64.b64encode(hashlib.sha256(body[1].encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in csp[1]


def test_the_page_holds_the_trace_and_the_maps_of_the_library(tmp_path: Path) -> None:
    flags = [*SMALL, "--lr", "0.01", "0.1", "--seeds", "3"]
    out = tmp_path / "page.html"
    assert explore.main([*flags, "--out", str(out)]) == 0
    shown = _data(out.read_text(encoding="utf-8"))["runs"]
    args = explore.build_parser().parse_args(flags)
    runs = explore.train_all(explore.groups_from(args), explore.Settings(epochs=30, snapshots=5), echo=False)
    assert [r["label"] for r in shown] == ["lr 0.01", "lr 0.1"] and [r.lr for r in runs] == [0.01, 0.1]
    for data, run in zip(shown, runs, strict=True):
        frames = dict(views.frames(run.trace, run.initial))
        epochs = data["epochs"]
        assert epochs == list(views.pick_epochs(sorted(frames), 6)) and epochs[-1] == 30
        fig = views.figures(run.trace, run.test)
        assert data["figures"]["loss"] == fig.loss[epochs].tolist()  # the trace's numbers, exactly
        assert fig.val_accuracy is not None and data["figures"]["valAccuracy"] == fig.val_accuracy[epochs].tolist()
        assert data["sizes"] == [2, 2, 1] and data["activation"] == "relu"
        assert len(data["train"]) == run.train.n and len(data["test"]) == run.test.n
        grid = views.plane(np.concatenate([run.train.x, run.test.x]), explore.UNIT_GRID)
        assert data["extent"] == [*grid.x1, *grid.x2]
        g, og = data["unitGrid"], data["outputGrid"]
        units = _inflate(data["units"]).reshape(len(epochs), 2, g, g)
        output = _inflate(data["output"]).reshape(len(epochs), og, og)
        big = views.plane(np.concatenate([run.train.x, run.test.x]), og)
        for k, e in enumerate(epochs):
            maps = views.unit_maps(run.trace.network, frames[e], grid)
            lo, hi = np.array(data["ranges"][k]).T
            want = views.quantize((maps[0] - lo[:, None, None]) / (hi - lo)[:, None, None], 0.0, 1.0)
            assert np.array_equal(units[k], want)
            assert np.array_equal(
                output[k], views.quantize(views.unit_maps(run.trace.network, frames[e], big)[-1][0], 0, 1)
            )
            layer = frames[e][0]
            assert data["params"][k][0]["w"] == [[float(f"{v:.5g}") for v in row] for row in layer.w]


def test_runs_differing_in_lr_and_seed_train_as_one_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []
    real = fnn.train

    def counting(*args: Any, **kwargs: Any) -> fnn.Trace:
        trace = real(*args, **kwargs)
        calls.append(trace.models)
        return trace

    monkeypatch.setattr(fnn, "train", counting)
    flags = [*SMALL, "--datasets", "xor", "linear", "--lr", "0.1", "0.3", "--seeds", "0", "1", "--epochs", "5"]
    assert explore.main([*flags, "--out", str(tmp_path / "p.html")]) == 0
    assert calls == [(4,), (4,)]
    labels = [r["label"] for r in _data((tmp_path / "p.html").read_text(encoding="utf-8"))["runs"]]
    assert labels[:2] == ["xor · lr 0.1 · seed 0", "xor · lr 0.1 · seed 1"] and len(labels) == 8


def test_unit_ranges_follow_the_activation() -> None:
    maps = np.array([[[[0.5, -2.0]], [[0.0, 0.0]]]])  # one frame, two units of 1 x 2
    assert explore.unit_ranges("tanh", maps).tolist() == [[[-1.0, 1.0], [-1.0, 1.0]]]
    assert explore.unit_ranges("sigmoid", maps).tolist() == [[[0.0, 1.0], [0.0, 1.0]]]
    assert explore.unit_ranges("relu", maps).tolist() == [[[-2.0, 2.0], [-1.0, 1.0]]]


def test_render_page_escapes_the_data() -> None:
    page = explore.render_page([{"label": "</script><script>alert(1)</script>"}], title="T")
    assert page.count("</script>") == 2 and "\\u003c/script>" in page
    assert _data(page)["runs"][0]["label"].startswith("</script>")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--datasets", "moons"],
            "argument --datasets: expected one of circle, spiral, gauss, xor, linear, got 'moons'",
        ),
        (["--lr", "0"], "argument --lr: expected a finite number > 0, got '0'"),
        (["--epochs", "0"], "argument --epochs: expected an integer >= 1, got 0"),
        (
            ["--hidden", "4,,4"],
            "argument --hidden: expected comma-separated integers such as 8,8, got '4,,4' (an empty item)",
        ),
        (["--hidden", "0"], "argument --hidden: expected integers >= 1 such as 8,8, got '0'"),
        (["--optimizer", "lbfgs"], "argument --optimizer: invalid choice: 'lbfgs'"),
        (["--test-fraction", "0.9"], "argument --test-fraction: expected a number from 0.05 to 0.8, got '0.9'"),
        (["--snapshots", "0"], "argument --snapshots: expected an integer >= 1, got 0"),
    ],
)
def test_bad_flags_are_one_line_and_status_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        explore.main([*argv, "--out", str(tmp_path / "p.html")])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--activation", "softmax"], "error: --activation softmax: expected one of sigmoid, tanh, relu"),
        (["--init", "ones"], "error: --init ones: expected one of normal"),
        (["--hidden", "17"], "error: --hidden 17: the page draws at most 4 hidden layers of 16 units"),
        (["--hidden", "1,1,1,1,1"], "error: --hidden 1,1,1,1,1: the page draws at most 4 hidden layers"),
        (["--epochs", "100001"], "error: --epochs 100001: at most 100,000"),
        (["--snapshots", "201"], "error: --snapshots 201: at most 200"),
        (["--lr", "1", "2", "3", "4", "--seeds", "1", "2", "3", "4"], "error: 64 runs asked for"),
    ],
)
def test_bad_values_are_refused_before_training(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fnn, "train", None)  # never reached
    assert explore.main([*argv, "--out", str(tmp_path / "p.html")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith(message), err


def test_an_unwritable_out_is_found_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = unwritable_folder(tmp_path)
    monkeypatch.setattr(fnn, "train", None)  # never reached
    assert explore.main([*SMALL, "--out", str(folder / "p.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out: cannot write to output folder '{folder}'") and len(err.splitlines()) == 1
    assert explore.main([*SMALL, "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: --out {tmp_path}: a folder; --out names the page")


def test_ctrl_c_is_one_line_and_status_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fnn, "train", interrupted)
    assert explore.main([*SMALL, "--out", str(tmp_path / "p.html")]) == 130
    err = capsys.readouterr().err
    assert err == f"interrupted; files already written are in {tmp_path}/\n"
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_in_a_real_process(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "scripts.explore", "--epochs", "100000", "--out", str(tmp_path / "p.html")]
    root = Path(__file__).resolve().parent.parent
    with subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err == f"interrupted; files already written are in {tmp_path}/\n" and "Traceback" not in out
    assert list(tmp_path.iterdir()) == []
