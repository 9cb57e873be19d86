"""``python -m scripts.lab --animate``: a GIF of the decision boundary forming (matplotlib's Pillow writer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

import functional_nn as fnn
from functional_nn import io as fio
from functional_nn import views
from scripts import lab, plots


def _frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]


def test_animate_writes_a_gif_of_the_boundary_forming(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lab.main(["--dataset", "xor", "--epochs", "300", "--animate", "--out", str(tmp_path)]) == 0
    gif = tmp_path / "xor_animation.gif"
    assert f"wrote {gif}\n" in capsys.readouterr().out
    frames = _frames(gif)
    assert len(frames) == lab.ANIMATION_FRAMES + 1 and frames[0].shape == (424, 400, 3)
    assert not np.array_equal(frames[0], frames[-1]) and not np.array_equal(frames[1], frames[2])
    with Image.open(gif) as im:
        assert im.info["duration"] == 120 and im.info["loop"] == 0  # 8 frames a second (GIF: in 10 ms), repeated
    trace = fio.load_trace(tmp_path / "xor_trace.npz")  # the snapshots are kept with the trace
    assert [e for e, _ in trace.snapshots] == list(range(2, 301, 2))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_without_animate_there_is_no_gif_and_no_snapshot(tmp_path: Path) -> None:
    assert lab.main(["--dataset", "xor", "--epochs", "20", "--out", str(tmp_path)]) == 0
    assert not (tmp_path / "xor_animation.gif").exists()
    assert fio.load_trace(tmp_path / "xor_trace.npz").snapshots == ()


def test_animation_frames_are_the_trace_s_params_and_numbers() -> None:
    data = fnn.generate_linear(n=30, seed=1)
    net = fnn.mlp((2, 4, 1))
    initial = fnn.init(net, seed=1)
    cfg = fnn.TrainConfig(epochs=90, optimizer=fnn.sgd(lr=1.0), loss="mse", snapshot_every=3)
    trace = fnn.train(net, initial, data, cfg)
    grid, frames = lab.animation_frames("linear", data, trace, initial, frames=10)
    epochs = views.pick_epochs([e for e, _ in views.frames(trace, initial)], 11)
    fig = views.figures(trace)
    assert len(frames) == 11 and grid.size == lab.ANIMATION_GRID
    params = dict(views.frames(trace, initial))
    for (title, grid_map), e in zip(frames, epochs, strict=True):
        assert title == f"linear: epoch {e}, loss {fig.loss[e]:.4g}, accuracy {100 * fig.accuracy[e]:.1f}%"
        assert np.array_equal(grid_map, views.unit_maps(net, params[e], grid)[-1][0])


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["--dataset", "spiral", "--classes", "3", "--optimizer", "adam", "--lr", "0.05"], "spiral"),
        (["--dataset", "wave", "--optimizer", "adam", "--lr", "0.01", "--activation", "tanh"], "wave"),
    ],
)
def test_animate_draws_many_classes_and_regression(argv: list[str], name: str, tmp_path: Path) -> None:
    assert lab.main([*argv, "--epochs", "12", "--animate", "--out", str(tmp_path)]) == 0
    frames = _frames(tmp_path / f"{name}_animation.gif")
    assert len(frames) == 13 and not np.array_equal(frames[0], frames[-1])


def test_animate_resumes_a_run_with_snapshots_and_refuses_one_without(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, plain = tmp_path / "first", tmp_path / "plain"
    assert lab.main(["--dataset", "xor", "--epochs", "10", "--animate", "--out", str(first)]) == 0
    assert lab.main(["--dataset", "xor", "--epochs", "10", "--out", str(plain)]) == 0
    capsys.readouterr()
    saved = first / "xor_trace.npz"
    again = ["--dataset", "xor", "--epochs", "10", "--animate", "--resume"]
    assert lab.main([*again, str(saved), "--out", str(tmp_path / "more")]) == 0
    assert len(_frames(tmp_path / "more" / "xor_animation.gif")) == 20  # epochs 1..20: no initial params
    assert lab.main([*again, str(plain / "xor_trace.npz"), "--out", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"error: --animate: {plain / 'xor_trace.npz'} was trained without --animate, so its run keeps no snapshots to draw\n"
    )


def test_save_animation_is_atomic_and_refuses_a_bad_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.array([[0.0, 0.0], [1.0, 1.0]])
    frames = [("a", np.zeros((4, 4))), ("b", np.ones((4, 4)))]
    with pytest.raises(ValueError, match=r"^kind must be one of probability, classes, values, got 'heat'"):
        plots.save_animation(tmp_path / "a.gif", frames, x, np.zeros(2), (0.0, 1.0, 0.0, 1.0), kind="heat")
    target = tmp_path / "a.gif"
    target.write_bytes(b"old")
    from matplotlib.animation import PillowWriter

    def broken(self: PillowWriter) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(PillowWriter, "finish", broken)
    with pytest.raises(KeyboardInterrupt):
        plots.save_animation(target, frames, x, np.zeros(2), (0.0, 1.0, 0.0, 1.0), kind="probability")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]
