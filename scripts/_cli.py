"""Shared pieces of the scripts' command lines (side effects: exit with a message)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(256 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(1024 * 2**20)}
"""glibc malloc told to keep freed memory (see scripts/bench.py): no page faults on reused sizes."""


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


def int_list(example: str, minimum: int | None = None) -> Callable[[str], tuple[int, ...]]:
    """An argparse type: comma-separated integers such as ``example`` (each >= minimum, if given)."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated integers such as {example}, got {text!r}"
            ) from None
        if not values:
            raise argparse.ArgumentTypeError(f"expected at least one integer such as {example}, got {text!r}")
        if minimum is not None and min(values) < minimum:
            raise argparse.ArgumentTypeError(f"expected integers >= {minimum} such as {example}, got {text!r}")
        return values

    return parse


def reporting_errors(run: Callable[[], int], out: Path) -> int:
    """Run a script's body; bad input and system errors (an unwritable file) become one line and exit status 2.

    Ctrl-C says where the files already written are and exits with 130.
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
        print(f"\ninterrupted; files already written are in {out}/", file=sys.stderr)
        return 130
