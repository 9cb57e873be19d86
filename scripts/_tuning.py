"""Allocator and BLAS settings of the scripts, in one place.

    one_blas_thread()        -> the previous values   # BLAS_THREAD_VARS set to 1 unless already set
    restore_env(previous)                             # undo one_blas_thread
    keep_freed_memory()                               # glibc keeps freed memory (mallopt), this process
    MALLOC_ENV                                        # the same malloc settings, for a child's environment

Side effects: this process's environment and allocator.  BLAS reads its thread
count when numpy loads it, so ``one_blas_thread`` acts on this process only if
called before numpy is imported, and on every process started after it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Mapping

BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

MMAP_THRESHOLD = 256 * 2**20
TRIM_THRESHOLD = 1024 * 2**20

MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}
"""glibc malloc told to keep freed memory (see scripts/bench.py): no page faults on reused sizes."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def one_blas_thread() -> dict[str, str | None]:
    """One BLAS thread unless the environment already says how many; returns the previous values.

    The products of the scripts are small: BLAS threads gain nothing there, and
    on a busy machine threaded OpenBLAS spin-waits (a 7 s run took 110 s).
    """
    previous = {name: os.environ.get(name) for name in BLAS_THREAD_VARS}
    for name in BLAS_THREAD_VARS:
        os.environ.setdefault(name, "1")
    return previous


def restore_env(previous: Mapping[str, str | None]) -> None:
    """Put back environment variables as ``one_blas_thread`` found them."""
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def keep_freed_memory() -> None:
    """Keep freed memory in this process (glibc); does nothing where mallopt is not available.

    A stacked epoch allocates arrays of hundreds of KB that glibc would
    otherwise map and unmap on every operation (see scripts/bench.py).
    """
    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    except (OSError, AttributeError):
        pass
