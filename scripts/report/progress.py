"""What the report shows while it runs.

On a terminal: a tqdm bar over all epochs of all runs, naming the runs under
way.  Otherwise: a heartbeat line every ``heartbeat`` seconds.  In both: one
line per finished run.  Every call first checks for a deferred Ctrl-C
(``scripts._signals.check``), so nothing is printed after one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TextIO

from tqdm import tqdm

from scripts import _signals
from scripts.report import analysis as ra
from scripts.report.jobs import Job, RunResult


def describe(job: Job) -> str:
    """Dataset, experiments and settings of a job, in 6 + 1 + 6 + 1 + at most 48 characters."""
    p = job.plan
    exps = "".join(sorted({e for e, _ in p.users}))
    labels = "; ".join(dict.fromkeys(label for _, label in p.users))
    if len(labels) > 48:
        labels = labels[:45] + "..."
    return f"{p.dataset:<6} {exps:<6} {labels}"


class Progress:
    """Which runs are going and how far; a context manager that closes the bar."""

    def __init__(self, jobs: Sequence[Job], out: TextIO, live: TextIO | None, heartbeat: float = 15.0) -> None:
        self.jobs = {j.plan.run_id: j for j in jobs}
        self.out, self.heartbeat = out, heartbeat
        self.epochs: dict[int, int] = {}  # run id -> epochs done, for runs under way
        self.finished_epochs = 0
        self.finished_ids: set[int] = set()  # a worker's last count may be read after its result
        self.done = 0
        self.started = self.last_beat = self.last_show = time.perf_counter()
        self.bar = tqdm(
            total=sum(j.epochs for j in jobs),
            file=live,
            disable=live is None,
            unit=" epochs",
            leave=False,
            dynamic_ncols=True,
            mininterval=0.2,
        )

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.bar.close()

    def update(self, run_id: int, epoch: int, epochs: int) -> None:
        """Run ``run_id`` has done ``epoch`` of its ``epochs`` epochs."""
        _signals.check()
        if run_id in self.jobs and run_id not in self.finished_ids and epoch < epochs:
            self.epochs[run_id] = epoch
        self._show()

    def update_all(self, epochs: Mapping[int, int]) -> None:
        """Epochs done by each run under way (run id -> epochs), as the worker processes report them."""
        _signals.check()
        for run_id, epoch in epochs.items():
            if run_id in self.jobs and run_id not in self.finished_ids and 0 < epoch < self.jobs[run_id].epochs:
                self.epochs[run_id] = epoch
        self._show()

    def _show(self, force: bool = False) -> None:
        now = time.perf_counter()
        if now - self.last_show < 0.1 and not force:  # in-process runs report every epoch
            return
        self.last_show = now
        if not self.bar.disable:
            running = " | ".join(
                f"run {r} {self.jobs[r].plan.dataset} {100 * e // self.jobs[r].epochs}%"
                for r, e in sorted(self.epochs.items())
            )
            self.bar.set_postfix_str(f"{self.done}/{len(self.jobs)} runs done; {running}", refresh=False)
            self.bar.update(self.finished_epochs + sum(self.epochs.values()) - self.bar.n)
            if force:  # tqdm would wait for its own interval
                self.bar.refresh()
            return
        if now - self.last_beat > self.heartbeat and self.epochs:
            self.last_beat = now
            running = ", ".join(
                f"run {r} ({self.jobs[r].plan.dataset}) epoch {e}/{self.jobs[r].epochs}"
                for r, e in sorted(self.epochs.items())
            )
            self.print(f"  ... {now - self.started:.0f} s: {self.done}/{len(self.jobs)} runs done; running {running}")

    def print(self, text: str) -> None:
        """A line of output, below the bar."""
        _signals.check()
        tqdm.write(text, file=self.out)
        self.out.flush()

    def finished(self, job: Job, result: RunResult) -> None:
        """One line for a finished run."""
        _signals.check()
        self.epochs.pop(job.plan.run_id, None)
        self.finished_ids.add(job.plan.run_id)
        self.finished_epochs += job.epochs
        self.done += 1
        width = len(str(len(self.jobs)))
        self.print(
            f"[{self.done:>{width}}/{len(self.jobs)}] run {job.plan.run_id:>{width}}: {describe(job):<66} "
            f"{job.models:>4} models  {ra.fmt_seconds(result.wall):>7}"
        )
        self._show(force=True)
