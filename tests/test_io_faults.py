"""Files under attack: every fault a ValueError naming the file, nothing read beyond what is needed,
no temporary files piling up, modes from the umask."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import io as fio

NET = fnn.mlp((2, 4, 1))
DATA = fnn.generate_xor_easy()


def _trace(epochs: int = 3, seeds: int | list[int] = 0, opt: fnn.Optimizer | None = None) -> fnn.Trace:
    cfg = fnn.TrainConfig(epochs=epochs, optimizer=opt or fnn.adam(lr=0.01), loss="mse", seed=seeds)
    return fnn.train(NET, fnn.init(NET, seed=seeds), DATA, cfg)


def _rewrite(path: Path, change_meta: object = None, **entries: np.ndarray) -> None:
    """Rewrite the archive with its metadata changed by ``change_meta(meta)`` and entries replaced."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(arrays["meta.json"].tobytes())
    if callable(change_meta):
        change_meta(meta)
    arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    arrays.update(entries)
    np.savez(path, **arrays)


def test_random_byte_flips_only_ever_raise_value_errors_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    fio.save_trace(path, _trace())
    good = path.read_bytes()
    rng = np.random.default_rng(0)
    outcomes = {"refused": 0, "loaded": 0}
    for _ in range(300):
        data = bytearray(good)
        for i in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
            data[i] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(data))
        try:
            fio.load_trace(path)
            outcomes["loaded"] += 1  # a flip in a float's bits, or in padding: a valid trace
        except ValueError as err:
            assert str(path) in str(err)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100, outcomes


def test_json_nested_deeply_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    fio.save_trace(path, _trace())
    deep = "[" * 100_000 + "]" * 100_000
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    text = arrays["meta.json"].tobytes().decode()
    arrays["meta.json"] = np.frombuffer(
        text.replace('"kind": "trace"', f'"kind": "trace", "x": {deep}').encode(), np.uint8
    )
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"t\.npz: corrupted"):
        fio.load_trace(path)


def test_a_header_claiming_more_data_than_the_file_holds_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    fio.save_trace(path, _trace())
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    header = np.lib.format.header_data_from_array_1_0(np.zeros(3))
    header["shape"] = (10**12,)
    fake = tmp_path / "fake.npy"
    with open(fake, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * 40_000)
    entries["a/0.npy"] = fake.read_bytes()
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in entries.items():
            z.writestr(name, blob)
    with pytest.raises(ValueError, match=r"t\.npz: corrupted.*claims"):
        fio.load_trace(path)


def test_an_unused_huge_entry_is_not_inflated(tmp_path: Path) -> None:
    path = tmp_path / "t.npz"
    fio.save_trace(path, _trace())
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as z, z.open("junk.npy", "w") as fh:
        np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(np.zeros(25 * 2**20)))
        block = bytes(2**20)
        for _ in range(200):  # 200 MiB of zeros, about 0.2 MiB deflated
            fh.write(block)
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    start = time.perf_counter()
    fio.load_trace(path)
    took = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2**20, f"reading took {peak / 2**20:.0f} MiB"
    assert took < 2.0


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m["network"]["layers"][0].update(in_features="abc"), r"t\.npz: the network it describes"),
        (lambda m: m["network"]["layers"][0].update(in_features=-1), r"t\.npz: the network it describes"),
        (lambda m: m["config"].update(epochs=0), r"t\.npz: inconsistent contents.*epochs"),
        (lambda m: m["config"]["optimizer"]["hyperparams"].update(lr=-1), r"t\.npz: inconsistent contents.*lr"),
        (lambda m: m["config"]["optimizer"]["hyperparams"].update(lr=10**400), r"t\.npz: inconsistent contents.*lr"),
        (lambda m: m["config"].update(seed=-1), r"t\.npz: inconsistent contents.*seed"),
        (lambda m: m["config"]["optimizer"].update(name="nope"), r"t\.npz: inconsistent contents.*optimizer"),
        (lambda m: m.update(stop_reasons=["a", "b"]), r"t\.npz: inconsistent contents.*stop_reasons"),
    ],
)
def test_bad_metadata_values_are_refused_naming_the_file(tmp_path: Path, change: object, match: str) -> None:
    path = tmp_path / "t.npz"
    fio.save_trace(path, _trace())
    _rewrite(path, change)
    with pytest.raises(ValueError, match=match):
        fio.load_trace(path)


def _entry_of(path: Path, find: str) -> str:
    """The entry name of the array the metadata's tree reaches by ``find`` (a path of keys/indices)."""
    with np.load(path, allow_pickle=False) as archive:
        node = json.loads(archive["meta.json"].tobytes())["tree"]
    for step in find.split("/"):
        node = node["tuple"][int(step)] if step.isdigit() else node["fields"][step]
    return f"a/{node['array']}"


@pytest.mark.parametrize(
    ("where", "array", "match"),
    [
        ("0/0", np.zeros((3, 3)), r"loss must have shape .* got \(3, 3\)"),  # the per-epoch loss
        ("2/mu/0/w", np.zeros((5, 5)), r"shape"),  # Adam's first moment of layer 0
        ("2/count", np.zeros(4), r"count must have shape"),
    ],
)
def test_arrays_of_the_wrong_shape_are_refused(tmp_path: Path, where: str, array: np.ndarray, match: str) -> None:
    path = tmp_path / "t.npz"
    fio.save_trace(path, _trace())
    _rewrite(path, None, **{_entry_of(path, where): array})
    with pytest.raises(ValueError, match=rf"t\.npz: .*{match}"):
        fio.load_trace(path)


def test_symbolic_links_and_overlong_names_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "t.npz"
    fio.save_trace(target, _trace())
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    with pytest.raises(ValueError, match=r"link\.npz: refused: it is a symbolic link"):
        fio.load_trace(link)
    with pytest.raises(ValueError, match=r"link\.npz: refused: it is a symbolic link"):
        fio.save_trace(link, _trace())
    long = tmp_path / ("x" * 300 + ".npz")
    with pytest.raises(ValueError, match=r"x{20}"):
        fio.save_trace(long, _trace())
    with pytest.raises(ValueError, match=r"x{20}"):
        fio.load_trace(long)


def test_wrong_arguments_are_named(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="trace must be a Trace, got NoneType"):
        fio.save_trace(tmp_path / "t.npz", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path must be a str or a path"):
        fio.load_trace(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="net must be a Network"):
        fio.network_to_dict(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="d does not describe a network"):
        fio.network_from_dict({})


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_files_get_the_mode_the_umask_gives(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        fio.save_trace(tmp_path / "t.npz", _trace())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t.npz").stat().st_mode) == 0o666 & ~umask


def test_leftovers_of_dead_processes_are_removed_and_those_of_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".t.npz.{int(dead.stdout)}-0000.tmp"
    live = tmp_path / f".t.npz.{os.getppid()}-0000.tmp"
    other = tmp_path / f".u.npz.{int(dead.stdout)}-0000.tmp"
    for p in (stale, live, other):
        p.write_bytes(b"partial")
    fio.save_trace(tmp_path / "t.npz", _trace())
    assert not stale.exists() and live.exists() and other.exists()


_SAVER = """
import sys, numpy as np, functional_nn as fnn
from functional_nn import io as fio
net = fnn.mlp((2, 64, 64, 1))
seeds = list(range(64))
cfg = fnn.TrainConfig(epochs=20, optimizer=fnn.adam(lr=0.01), loss="mse", seed=seeds, snapshot_every=1)
trace = fnn.train(net, fnn.init(net, seed=seeds), fnn.generate_xor_easy(), cfg)
print("ready", flush=True)
while True:
    fio.save_trace(sys.argv[1], trace)
"""


def test_kill_9_during_saves_leaves_the_target_intact_and_no_pile_of_temporary_files(tmp_path: Path) -> None:
    """20 savers killed with SIGKILL at random moments of their saves: the target always loads,
    and the next save sweeps the leftovers of the dead."""
    target = tmp_path / "t.npz"
    fio.save_trace(target, _trace())
    rng = np.random.default_rng(1)
    for _ in range(20):
        with subprocess.Popen([sys.executable, "-c", _SAVER, str(target)], stdout=subprocess.PIPE, text=True) as proc:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            time.sleep(float(rng.uniform(0.0, 0.3)))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        fio.load_trace(target)  # never truncated
    fio.save_trace(target, _trace())
    assert [p.name for p in tmp_path.iterdir()] == ["t.npz"]
