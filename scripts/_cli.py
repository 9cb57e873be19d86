"""Shared pieces of the scripts' command lines (side effects: exit with a message, create the output folder)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from scripts._tuning import MALLOC_ENV

__all__ = ["MALLOC_ENV", "Parser", "int_at_least", "int_list", "prepare_out", "reporting_errors"]


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= minimum."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def number_in(low: float, high: float = math.inf) -> Callable[[str], float]:
    """An argparse type: a finite number from ``low`` to ``high`` (no upper bound by default)."""
    expected = f"a finite number >= {low:g}" if high == math.inf else f"a number from {low:g} to {high:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def int_list(example: str, minimum: int | None = None) -> Callable[[str], tuple[int, ...]]:
    """An argparse type: comma-separated integers such as ``example`` (each >= minimum, if given); no empty item."""

    def parse(text: str) -> tuple[int, ...]:
        parts = text.split(",")
        if any(not part.strip() for part in parts):
            raise argparse.ArgumentTypeError(
                f"expected comma-separated integers such as {example}, got {text!r} (an empty item)"
            )
        try:
            values = tuple(int(part) for part in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated integers such as {example}, got {text!r}"
            ) from None
        if minimum is not None and min(values) < minimum:
            raise argparse.ArgumentTypeError(f"expected integers >= {minimum} such as {example}, got {text!r}")
        return values

    return parse


def prepare_out(out: Path, *subfolders: str) -> None:
    """Create the output folder (and ``subfolders`` in it) and make sure files can be written there.

    Called before any training, so that an unwritable folder is found at once.

    Raises:
        ValueError: one line naming the folder and the reason.
    """
    for folder in (out, *(out / name for name in subfolders)):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".write-test-{os.getpid()}"
            probe.touch(exist_ok=False)
            probe.unlink()
        except OSError as err:
            raise ValueError(f"--out: cannot write to output folder {str(folder)!r} ({err.strerror or err})") from None


def reporting_errors(run: Callable[[], int], out: Path) -> int:
    """Run a script's body; bad input and system errors (an unwritable file) become one line and exit status 2.

    Ctrl-C says, in one line, where the files already written are and exits with 130.
    """
    try:
        return run()
    except (ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        if err.filename:
            print(f"error: cannot write {err.filename}: {err.strerror or err}", file=sys.stderr)
        else:  # not a file of ours (e.g. starting a worker process failed)
            print(f"error: {err.strerror or err} (output folder {out})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        start = "\n" if sys.stderr.isatty() else ""  # a terminal has echoed ^C on the current line
        print(f"{start}interrupted; files already written are in {out}/", file=sys.stderr, flush=True)
        return 130
