"""Writing a query's result while its job runs: a writer thread consumes the job's result stream
(each output of the last stage as soon as it and those before it are committed) while the
driver, on the main thread, runs the job's last tasks.

A job that fails after some rows went to standard output has written those rows (as DuckDB
does); a file output (-o) is renamed into place only when complete, so it never holds them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from sqlmr.execution.driver import JobResult
    from sqlmr.execution.result_stream import ResultStream
    from sqlmr.planning.plan import Plan

# How long a writer told to stop may take to unwind (remove its temporary file) before the
# error that stopped it is raised anyway: it stops at its next result object.
STOP_SECONDS = 10.0
_TICK = 0.5  # the main thread joins in slices, so that Ctrl-C and SIGTERM are answered at once


class _Writer(threading.Thread):
    def __init__(self, write: Callable[[Iterable[pa.Table]], int], stream: ResultStream):
        # A daemon: an interrupted process must not wait for a writer blocked on a full pipe.
        super().__init__(name="sqlmr-result-writer", daemon=True)
        self._write, self._stream = write, stream
        self.rows = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.rows = self._write(self._stream.tables())
        except BaseException as e:  # noqa: BLE001 - handed to the main thread, which raises it
            self.error = e
            self._stream.reader_failed(e)  # the driver's next offer stops the job with it

    def finish(self) -> int:
        """Wait for the writer to end; its rows, or its error raised here."""
        try:
            while self.is_alive():
                self.join(_TICK)
        except BaseException:
            self.stop()
            raise
        if self.error is not None:
            raise self.error
        return self.rows

    def stop(self) -> None:
        """Make the writer stop at its next result object, and give it time to unwind."""
        self._stream.abandon()
        self.join(STOP_SECONDS)


def run_and_write(
    plan: Plan,
    run_job: Callable[[ResultStream], JobResult],
    write: Callable[[Iterable[pa.Table]], int],
) -> tuple[JobResult, int]:
    """Run a job with `run_job` while `write` writes its result on a thread of its own; returns
    the (cleaned up) JobResult and the rows written. The job's error, or else the writer's, is
    raised; either way the writer has stopped (or was given STOP_SECONDS to) and the job's
    objects are removed."""
    from sqlmr.execution.result_stream import ResultStream

    stream = ResultStream(plan)
    writer = _Writer(write, stream)
    writer.start()
    try:
        result = run_job(stream)  # the driver fails the stream when the job fails
    except BaseException:
        writer.stop()
        raise
    with result:
        rows = writer.finish()
    return result, rows
