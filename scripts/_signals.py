"""Ctrl-C for the scripts: one KeyboardInterrupt at most, raised where the script can clean up.

    sigint_once()          # single-process scripts: the first SIGINT raises KeyboardInterrupt, later ones are ignored
    sigint_deferred()      # SIGINT only sets a flag ...
    check()                # ... which this turns into KeyboardInterrupt, at the caller's safe points
    sigint_blocked()       # context: processes started inside begin with SIGINT blocked
    ignore_sigint()        # in such a child: ignore SIGINT, drop one that is pending, unblock
    exit_ignoring_sigint(status)   # sys.exit, SIGINT ignored for the interpreter's shutdown

Side effects: this process's signal handling.  The handlers are installed only
by a script's ``__main__`` (never on import), so tests calling ``main`` keep
pytest's own handling.  A terminal sends Ctrl-C to every process of the
foreground group, worker processes included: workers ignore it, the parent
stops them.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import NoReturn

_interrupted = False


def _raise_once(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # first, so that a second Ctrl-C cannot interrupt the clean-up
    raise KeyboardInterrupt


def _set_flag(signum: int, frame: FrameType | None) -> None:
    global _interrupted
    _interrupted = True


def sigint_once() -> None:
    """The first SIGINT raises KeyboardInterrupt; the later ones are ignored (the exit is under way)."""
    signal.signal(signal.SIGINT, _raise_once)


def sigint_deferred() -> None:
    """SIGINT sets a flag that ``check`` turns into KeyboardInterrupt; nothing is raised anywhere else."""
    signal.signal(signal.SIGINT, _set_flag)


def check() -> None:
    """Raise KeyboardInterrupt if a deferred SIGINT has arrived."""
    if _interrupted:
        raise KeyboardInterrupt


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread for the block.

    A process started here inherits the block (through exec too), so a Ctrl-C
    that reaches it before it can ignore SIGINT (``ignore_sigint``) stays
    pending instead of printing a traceback; this process gets its own SIGINT
    once the block ends.
    """
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_sigint() -> None:
    """Ignore SIGINT in this (child) process; a pending one is dropped."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def exit_ignoring_sigint(status: int) -> NoReturn:
    """``sys.exit(status)`` with SIGINT ignored from now on.

    The interpreter puts back the default SIGINT action while it shuts down;
    a Ctrl-C then would kill the process without a word (status -2) after it
    has printed its last line.  The work is done: later Ctrl-Cs change nothing.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(status)
