"""A job's result read while the job runs: each output of the last stage is handed to a reader
(the CLI's writer, on a thread of its own) as soon as it and every output before it are
committed, so writing the first rows overlaps the last tasks."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from sqlmr_runtime.errors import RuntimeTaskError
from sqlmr_runtime.shuffle import decode_table
from sqlmr_runtime.storage import read_view

from sqlmr.errors import SqlmrError
from sqlmr.planning.plan import Plan


def result_table(plan: Plan, job: str, summary: dict[str, Any]) -> pa.Table:
    """One committed output of a job's last stage, with the user-facing column names.

    A local output is mapped, not read: uncompressed (the default on a local job store), its
    columns are used in place with no copy, and they stay valid after cleanup deletes the
    file (the mapping holds it)."""
    url = summary["output"]["url"]
    try:
        data = read_view(url)
    except RuntimeTaskError as e:
        raise SqlmrError(f"cannot read the result of job {job}: {e}") from e
    table = decode_table(data).select(list(plan.internal))
    return table.rename_columns([n for n, _ in plan.columns])


class JobFailed(SqlmrError):
    """The job whose result was being read failed or was stopped (the driver raises why)."""


_END = object()
# How often a waiting reader checks that the driver's thread still runs: a thread that ended
# without closing or failing the stream (a bug, or a caller that forgot) must not hang it.
LIVENESS_SECONDS = 1.0


class ResultStream:
    """The last stage's outputs in task order (the order JobResult.tables gives), each put as
    soon as its task and all tasks before it have a winner.

    The driver calls begin, offer, then close or fail; one reader iterates tables(). A reader
    that fails calls reader_failed: the driver's next offer raises that error, which stops
    the job instead of running it to the end for nobody.

    The producer is the thread that made the stream, or the one that called begin: a reader
    whose producer ends without closing or failing the stream stops with JobFailed."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.job = ""
        self._producer = threading.current_thread()
        self._items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._sent = 0  # outputs put so far: tasks 0 .. _sent-1
        self._reader_error: BaseException | None = None
        self._abandoned = False

    def begin(self, job: str) -> None:
        self.job = job
        self._producer = threading.current_thread()

    def offer(self, winners: dict[int, dict[str, Any]]) -> None:
        """Put every output that now completes the prefix of tasks (driver side)."""
        if self._reader_error is not None:
            raise self._reader_error
        while self._sent in winners:
            self._items.put(winners[self._sent])
            self._sent += 1

    def close(self, results: list[dict[str, Any]]) -> None:
        """The job succeeded with these outputs (task order): those not put yet, then the end."""
        for summary in results[self._sent :]:
            self._items.put(summary)
        self._sent = len(results)
        self._items.put(_END)

    def fail(self, error: BaseException) -> None:
        """The job failed: the reader stops at its next table with JobFailed."""
        self._items.put(JobFailed(f"the job failed: {error}"))

    def abandon(self) -> None:
        """Nobody will wait for the reader: it stops at its next table, queued ones or not."""
        self._abandoned = True
        self._items.put(JobFailed("the job was stopped"))

    def reader_failed(self, error: BaseException) -> None:
        self._reader_error = error

    def tables(self) -> Iterator[pa.Table]:
        """The result, one committed output at a time, as the job commits them (reader side).
        Each wait ends: the driver closes or fails the stream (Driver.run), and a producer
        thread that ended without doing so stops the reader within LIVENESS_SECONDS."""
        while True:
            item = self._next()
            if self._abandoned:
                raise JobFailed("the job was stopped")
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield result_table(self.plan, self.job, item)

    def _next(self) -> Any:
        """The next item, waiting in slices while the producer thread is alive."""
        while True:
            try:
                return self._items.get(timeout=LIVENESS_SECONDS)
            except queue.Empty:
                pass
            if not self._producer.is_alive():
                try:  # it may have closed the stream just before it ended
                    return self._items.get_nowait()
                except queue.Empty:
                    return JobFailed(
                        f"the job {self.job or '(not started)'} ended without a result: its "
                        "driver's thread stopped without closing the result stream"
                    )
