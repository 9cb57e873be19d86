"""Atomic writes: a file of the scripts is either complete or absent, never partial.

    with atomic_write(path) as fh: ...      # binary file handle; renamed onto ``path`` on success
    write_text(path, text)                  # the same for a str (UTF-8)
    remove_temporaries(folder)              # what a writer killed mid-write left behind

Side effects: files only.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_COUNTER = itertools.count()


def _temporary(path: Path) -> Path:
    # hidden, and unique per process and call: worker processes may write beside each other
    return path.with_name(f".{path.name}.{os.getpid()}.{next(_COUNTER)}.tmp")


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """A binary file that replaces ``path`` once the block ends without an exception.

    On any exception (Ctrl-C included) the temporary file is removed and ``path``
    is left as it was.

    Raises:
        OSError: when writing fails, with ``path`` as its filename.
    """
    path = Path(path)
    tmp = _temporary(path)
    try:
        with open(tmp, "xb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror, str(path)) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path) as fh:
        fh.write(text.encode("utf-8"))


def remove_temporaries(folder: Path) -> None:
    """Remove the temporary files (hidden, ``*.tmp``) in ``folder``, as this module and
    ``functional_nn.io`` name them; call it only when no writer is running there."""
    if folder.is_dir():
        for path in folder.glob(".*.tmp"):
            path.unlink(missing_ok=True)
