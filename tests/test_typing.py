"""Typing is tested too: typical user code passes ``mypy --strict``, and the
lines mypy must reject are marked ``# type: ignore[...]`` (with
``warn_unused_ignores`` each mark is an assertion)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mypy import api

from tests import typing_user_code

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
USER_CODE = HERE / "typing_user_code.py"


def run_mypy(path: Path, cache: Path) -> tuple[int, str]:
    # follow_imports=silent: report only the user file, as a user of the
    # installed package sees it (the package's own errors are the global run's job)
    stdout, stderr, status = api.run(
        [
            "--strict",
            "--warn-unused-ignores",
            "--follow-imports=silent",
            "--python-version=3.11",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(cache),
            "--no-error-summary",
            "--show-error-codes",
            str(path),
        ]
    )
    return status, stdout + stderr


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy_cache")


def test_user_code_passes_mypy_strict(mypy_cache: Path) -> None:
    status, output = run_mypy(USER_CODE, mypy_cache)
    assert status == 0, f"mypy --strict on {USER_CODE.name}:\n{output}"


def test_marked_lines_are_rejected_without_their_ignores(mypy_cache: Path, tmp_path: Path) -> None:
    """Strip the marks: mypy must then report an error of the marked code on each marked line."""
    source = USER_CODE.read_text()
    marked: dict[int, str] = {}
    lines = []
    for number, line in enumerate(source.splitlines(), start=1):
        found = re.search(r"  # type: ignore\[([a-z-]+)\]$", line)
        if found:
            marked[number] = found.group(1)
            line = line[: found.start()]
        lines.append(line)
    assert len(marked) >= 5
    stripped = tmp_path / "typing_user_code_stripped.py"
    stripped.write_text("\n".join(lines) + "\n")
    status, output = run_mypy(stripped, mypy_cache)
    assert status == 1
    reported: dict[int, set[str]] = {}
    for found in re.finditer(r"^[^:\n]+:(\d+): error: .*\[([a-z-]+)\]$", output, re.M):
        reported.setdefault(int(found.group(1)), set()).add(found.group(2))
    for number, code in marked.items():
        assert code in reported.get(number, set()), f"line {number}: expected a [{code}] error, mypy said:\n{output}"
    assert set(reported) == set(marked), f"errors on unmarked lines:\n{output}"


def test_user_code_runs() -> None:
    typing_user_code.main()
