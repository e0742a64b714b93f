"""Progress bars while a job runs, and its statistics after, on standard error."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """Rich progress bars on standard error, one per stage, counting the tasks the driver runs
    (after reduce partitions are packed into tasks, so the bar and the summary agree)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.ids: dict[str, Any] = {}

    def stage_started(self, stage, tasks: int) -> None:
        self.ids[stage.id] = self.bars.add_task(f"{stage.id} ({stage.kind})", total=tasks)

    def task_finished(self, stage, summary) -> None:
        self.bars.advance(self.ids[stage.id])

    def stage_finished(self, stage, stats) -> None:
        self.bars.update(self.ids[stage.id], total=stats.tasks, completed=stats.tasks)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def _stage_summary(s) -> str:
    if getattr(s, "done_by", None):
        return f"{s.id}: done by {s.done_by}"
    return f"{s.id}: {s.tasks} task(s), {s.rows_in:,} rows in, {s.rows_out:,} out, {s.seconds:.2f}s"


def print_stats(result, rows: int, detailed: bool = False) -> None:
    """One summary line; with `detailed`, one line per stage with phases, bytes and the slowest
    task."""
    parts = [_stage_summary(s) for s in result.stages]
    print(f"{rows:,} row(s) in {result.seconds:.2f}s  [" + "; ".join(parts) + "]", file=sys.stderr)
    if not detailed:
        return
    for s in result.stages:
        if getattr(s, "done_by", None):
            print(
                f"  stage {s.id}: no task: {s.done_by} ran as one task and already applied "
                "its sort and limit",
                file=sys.stderr,
            )
            continue
        phases = ", ".join(f"{k} {v:.2f}s" for k, v in s.phase_seconds.items())
        slowest = f"task {s.slowest[0]} {s.slowest[1]:.2f}s" if s.slowest else "none"
        skipped = f", {s.skipped} skipped (LIMIT reached)" if getattr(s, "skipped", 0) else ""
        print(
            f"  stage {s.id}: {s.tasks} task(s){skipped}, {s.attempts} attempt(s); "
            f"task seconds: {phases}; bytes in {_mb(s.bytes_in)}, out {_mb(s.bytes_out)}; "
            f"slowest {slowest}",
            file=sys.stderr,
        )
        for split in getattr(s, "splits", ()):
            print(f"    skew: {split}", file=sys.stderr)


class BenchProgress:
    """One line per benchmark run on standard error: which run, time so far, and an ETA from
    the mean time per run."""

    def __init__(self, total: int) -> None:
        import time

        self.total, self.done, self.clock = total, 0, time.perf_counter
        self.started = self.clock()

    def __call__(self, message: str) -> None:
        elapsed = self.clock() - self.started
        eta = ""
        if self.done:
            eta = f", about {elapsed / self.done * (self.total - self.done):.0f}s left"
        self.done += 1
        print(
            f"  [{self.done}/{self.total}] {message} ({elapsed:.1f}s elapsed{eta})",
            file=sys.stderr,
            flush=True,
        )
