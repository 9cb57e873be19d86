"""Ctrl-C on the report: exit status 130 within 5 s, one line, the files already written intact.

The subprocess test starts real ``python -m scripts.report --quick --out DIR``
runs in their own process group and sends SIGINT to the whole group, as a
terminal does, at seeded random moments spread over a run's duration (one
moment per equal slice of it; some trials press Ctrl-C twice).  The moments
start at ``EARLIEST`` s: before that the interpreter is still starting, before
any code of the project runs (CPython's own handling then: a KeyboardInterrupt
traceback from its start-up imports, or death by the signal).  Two runs go at
a time; the run's duration is measured first, two runs at a time too.

The in-process tests set the deferred Ctrl-C flag at a chosen point and check
that nothing is printed after it and that the worker processes are gone.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

import attrs
import pytest
from PIL import Image

from scripts import _signals
from scripts.report import cli
from scripts.report.progress import Progress

ROOT = Path(__file__).resolve().parent.parent
TRIALS = 20
PARALLEL = 2
SEED = 1234
EARLIEST = 0.2
EXIT_LIMIT = 5.0
GRACE = 1.5
"""A line printed just before the signal may reach the test this much later."""

NORMAL_LINES = [
    re.compile(p)
    for p in (
        r"^report: experiments ",
        r"^\[ *\d+/\d+\] run +\d+: ",
        r"^  \.\.\. \d+ s: ",
        r"^G: \d+ runs trained \(\d+\.\d s\)$",
        r"^figures: \d+ written to ",
        r"^wrote ",
        r"^total wall time: \d+\.\d s$",
    )
]

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")


@attrs.frozen
class Outcome:
    """What a run did: exit status, seconds from the (first) signal to the exit, timed output lines."""

    returncode: int | None
    signal_at: float | None  # monotonic time of the first SIGINT, None if the run ended before it
    exit_seconds: float
    stdout: tuple[tuple[float, str], ...]
    stderr: tuple[tuple[float, str], ...]


def _read_lines(stream: TextIO, into: list[tuple[float, str]]) -> None:
    for line in stream:
        into.append((time.monotonic(), line.rstrip("\n")))


def _live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are still running; a zombie has exited (its reaping is up to init,
    as for the resource tracker that outlives a report by a moment)."""
    if not Path("/proc/self/stat").exists():  # no procfs: any process of the group counts
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        if fields[0] != "Z" and int(fields[2]) == pgid:
            live.append(int(stat.parent.name))
    return live


def _group_gone(pgid: int, within: float) -> bool:
    """Whether every process of the group has exited within ``within`` s."""
    deadline = time.monotonic() + within
    while _live_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _signal_group(proc: subprocess.Popen[str], signals: Sequence[float]) -> float | None:
    """SIGINT to the group of ``proc`` at each of ``signals`` (s after now); the time of the first, if sent."""
    started, first = time.monotonic(), None
    for at in signals:
        time.sleep(max(0.0, started + at - time.monotonic()))
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
            first = first or time.monotonic()
    return first


def _run(out: Path, signals: Sequence[float]) -> Outcome:
    """``python -m scripts.report --quick --out OUT``; SIGINT to its group at each of ``signals`` (s after start)."""
    stdout: list[tuple[float, str]] = []
    stderr: list[tuple[float, str]] = []
    argv = [sys.executable, "-m", "scripts.report", "--quick", "--out", str(out)]
    with subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        readers = [
            threading.Thread(target=_read_lines, args=(proc.stdout, stdout)),
            threading.Thread(target=_read_lines, args=(proc.stderr, stderr)),
        ]
        for r in readers:
            r.start()
        started = time.monotonic()
        signal_at = _signal_group(proc, signals)
        try:
            proc.wait(timeout=EXIT_LIMIT + 60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        ended = time.monotonic()
        for r in readers:
            r.join()
    assert _group_gone(proc.pid, 3.0), f"processes of the run in {out} outlived it"
    return Outcome(
        returncode=proc.returncode,
        signal_at=signal_at,
        exit_seconds=ended - (signal_at if signal_at is not None else started),
        stdout=tuple(stdout),
        stderr=tuple(stderr),
    )


def _assert_files_complete(out: Path) -> None:
    """Every file in ``out`` is whole: PNGs decode, JSON parses, the report's text files end as they should."""
    for path in sorted(out.rglob("*")):
        if path.is_dir():
            continue
        assert not path.name.startswith(".") and not path.name.endswith(".tmp"), f"temporary file left: {path}"
        if path.suffix == ".png":
            with Image.open(path) as image:
                image.load()
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.name == "report.md":
            text = path.read_text()
            assert "total wall time of this report" in text and text.endswith("\n"), path
        elif path.name == "index.html":
            assert path.read_text().endswith("</html>\n"), path
        else:
            raise AssertionError(f"unexpected file {path}")


def _check(outcome: Outcome, out: Path, label: str) -> None:
    assert outcome.returncode == 130, (label, outcome.returncode, outcome.stderr[-5:])
    assert outcome.exit_seconds < EXIT_LIMIT, (label, outcome.exit_seconds)
    assert [line for _, line in outcome.stderr] == [f"interrupted; files already written are in {out}/"], (
        label,
        outcome.stderr,
    )
    for _, line in outcome.stdout:
        assert any(p.search(line) for p in NORMAL_LINES), (label, line)
    assert outcome.signal_at is not None
    late = [line for t, line in outcome.stdout if t > outcome.signal_at + GRACE]
    assert not late, (label, late)
    _assert_files_complete(out)


def _duration(tmp_path: Path) -> float:
    """Seconds of a whole --quick run while another runs beside it (as in the trials); checks both."""
    outs = [tmp_path / f"whole{i}" for i in range(PARALLEL)]
    with ThreadPoolExecutor(PARALLEL) as pool:
        outcomes = list(pool.map(lambda out: _run(out, []), outs))
    for out, outcome in zip(outs, outcomes, strict=True):
        assert outcome.returncode == 0, outcome.stderr
        assert not outcome.stderr and outcome.stdout[-1][1].startswith("total wall time")
        _assert_files_complete(out)
        assert len(list((out / "figures").iterdir())) == 28  # A-F: 26, G: 2
    return sum(o.exit_seconds for o in outcomes) / len(outcomes)


def _finished_first(outcome: Outcome) -> bool:
    """Whether the run had done all its work before the signal: none was sent, or it came while the
    run was exiting after its last line (a signal that a running report ignored would leave it running)."""
    if outcome.signal_at is None:
        return True
    last = outcome.stdout[-1][1] if outcome.stdout else ""
    return outcome.returncode == 0 and last.startswith("total wall time") and outcome.exit_seconds < 0.5


def _moments(duration: float) -> list[list[float]]:
    """One signal time per equal slice of [EARLIEST, 0.9 * duration], shuffled; every fourth trial signals twice."""
    rng = random.Random(SEED)
    span = 0.9 * duration - EARLIEST
    firsts = [EARLIEST + span * (i + rng.random()) / TRIALS for i in range(TRIALS)]
    rng.shuffle(firsts)
    return [[t, t + rng.uniform(0.01, 0.3)] if i % 4 == 3 else [t] for i, t in enumerate(firsts)]


def test_ctrl_c_at_random_moments_exits_130_at_once_with_one_line(tmp_path: Path) -> None:
    duration = _duration(tmp_path)
    plan = _moments(duration)

    def trial(i: int) -> tuple[int, list[float], Outcome]:
        signals = plan[i]
        for attempt in range(3):  # a run that ended before its signal is tried again, signalled earlier
            out = tmp_path / f"trial{i:02d}-{attempt}"
            outcome = _run(out, signals)
            if not _finished_first(outcome):
                _check(outcome, out, f"trial {i}, SIGINT at {signals} s")
                return i, signals, outcome
            signals = [EARLIEST + (t - EARLIEST) / 2 for t in signals]
        raise AssertionError(f"trial {i}: the run ended before every signal")

    with ThreadPoolExecutor(PARALLEL) as pool:
        done = list(pool.map(trial, range(TRIALS)))
    assert len(done) >= 20
    assert max(o.exit_seconds for _, _, o in done) < EXIT_LIMIT
    assert sum(len(s) == 2 for _, s, _ in done) == TRIALS // 4


# ------------------------------------------------------------------ in-process ---


def _interrupt_at(
    monkeypatch: pytest.MonkeyPatch, target: Any, name: str, calls: int
) -> Callable[[], int]:  # the number of calls seen so far
    """Set the deferred Ctrl-C flag once ``target.name`` has been called ``calls`` times."""
    real = getattr(target, name)
    seen = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        seen[0] += 1
        if seen[0] == calls:
            monkeypatch.setattr(_signals, "_interrupted", True)
        return result

    monkeypatch.setattr(target, name, wrapper)
    return lambda: seen[0]


def _no_children_within(seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while multiprocessing.active_children():  # reaps the children that have exited
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_deferred_ctrl_c_stops_the_runs_and_prints_nothing_more(
    jobs: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_signals, "_interrupted", False)
    seen = _interrupt_at(monkeypatch, Progress, "finished", 3)
    argv = ["--experiments", "B,C", "--dataset", "xor", "--seeds", "2", "--epochs", "300", "--jobs", jobs]
    started = time.monotonic()
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert cli.main([*argv, "--out", str(tmp_path)]) == 130
    assert time.monotonic() - started < 20
    assert seen() == 3
    lines = stdout.getvalue().splitlines()
    assert lines[0].startswith("report: ") and len(lines) == 4, lines  # the header and three finished runs
    assert capsys.readouterr().err == f"interrupted; files already written are in {tmp_path}/\n"
    assert _no_children_within(3.0)
    assert not list((tmp_path / "figures").iterdir()) and not (tmp_path / "report.md").exists()


def test_deferred_ctrl_c_while_drawing_keeps_the_figures_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.report import pool

    monkeypatch.setattr(_signals, "_interrupted", False)
    _interrupt_at(monkeypatch, pool, "draw_figure", 2)
    argv = ["--experiments", "C", "--dataset", "xor", "--seeds", "1", "--epochs", "20", "--jobs", "1"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main([*argv, "--out", str(tmp_path)]) == 130
    assert capsys.readouterr().err == f"interrupted; files already written are in {tmp_path}/\n"
    assert len(list((tmp_path / "figures").iterdir())) == 2
    _assert_files_complete(tmp_path)
