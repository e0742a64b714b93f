"""The driver: runs a plan's stages in order through an executor, retrying failed tasks.

The driver sees every task's outcome, so it knows exactly which attempt of each task won and
hands reducers only those outputs: a retried or duplicated task can never be counted twice.
"""

from __future__ import annotations

import atexit
import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa
from sqlmr_runtime.errors import PlanValidationError
from sqlmr_runtime.spec import COMPRESSIONS
from sqlmr_runtime.storage import join, storage_for
from sqlmr_runtime.validate import validate_plan

from sqlmr.defaults import RETRIES
from sqlmr.errors import PlanError, SqlmrError, TaskError, UsageError
from sqlmr.execution.executor import Executor, Outcome
from sqlmr.execution.jobs import HEARTBEAT, Heartbeat, new_job_id
from sqlmr.execution.result_stream import ResultStream, result_table
from sqlmr.execution.skew import Split, split_skewed
from sqlmr.execution.speculation import Speculation, Stragglers
from sqlmr.execution.task_inputs import done_by, task_event, task_inputs
from sqlmr.execution.tracing import Tracer
from sqlmr.planning.limits import early_stop_rows
from sqlmr.planning.plan import Plan, Stage

# How long a failing driver waits for tasks it cannot stop (a running Lambda invocation) to end
# before it cleans up: longer than the longest Lambda timeout, 900 s.
DRAIN_SECONDS = 960


@dataclass
class StageStats:
    """What one stage did."""

    id: str
    tasks: int
    attempts: int = 0
    rows_in: int = 0
    rows_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    max_rss_mb: float = 0.0
    task_seconds: list[float] = field(default_factory=list)
    # Seconds summed over the winning attempts, per phase, and the slowest task (id, seconds).
    phase_seconds: dict[str, float] = field(
        default_factory=lambda: {"read": 0.0, "compute": 0.0, "write": 0.0}
    )
    slowest: tuple[int, float] | None = None
    skipped: int = 0  # tasks never launched: a LIMIT was reached first
    # S3 requests per API operation made by the winning attempts (their summaries count them).
    s3_requests: dict[str, int] = field(default_factory=dict)
    # Shuffle-join partitions that a hot key made too big, each run as several tasks.
    splits: list[str] = field(default_factory=list)
    # The stage whose output was already this one's, so that it ran no task (task_inputs.done_by).
    done_by: str | None = None


class Listener(Protocol):
    """Progress callbacks (the CLI draws progress bars with them)."""

    def stage_started(self, stage: Stage, tasks: int) -> None: ...
    def task_finished(self, stage: Stage, summary: dict[str, Any]) -> None: ...
    def stage_finished(self, stage: Stage, stats: StageStats) -> None: ...


@dataclass
class JobResult:
    """The outcome of a job: result objects to stream, stats, and the cleanup duty."""

    plan: Plan
    job: str
    job_store: str
    results: list[dict[str, Any]]
    stages: list[StageStats]
    seconds: float
    keep_intermediates: bool = False

    def tables(self) -> Iterator[pa.Table]:
        """The result, one committed output at a time, with user-facing column names (mapped
        from a local job store, not read: see result_stream.result_table)."""
        for summary in self.results:
            yield result_table(self.plan, self.job, summary)

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The result as a stream of record batches."""
        for table in self.tables():
            yield from table.to_batches()

    def read_all(self) -> pa.Table:
        """The whole result as one table."""
        return pa.concat_tables(list(self.tables()))

    @property
    def rows(self) -> int:
        return sum(s["rows_out"] for s in self.results)

    def cleanup(self) -> None:
        """Remove the job's intermediate and result objects, unless asked to keep them."""
        if not self.keep_intermediates:
            remove_job(self.job_store, self.job)
        _UNCLAIMED.pop(self.job, None)

    def __enter__(self) -> JobResult:
        return self

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        if error is None:
            self.cleanup()
        elif not self.keep_intermediates:
            remove_job(self.job_store, self.job, error)
            _UNCLAIMED.pop(self.job, None)


# Jobs whose objects no one has removed yet (job -> job store). A SIGTERM between Driver.run
# returning a JobResult and the caller's `with result:` unwinds past both cleanups (seen in the
# chaos suite: a finished job's every object left); at exit these are removed.
_UNCLAIMED: dict[str, str] = {}


@atexit.register
def _remove_unclaimed() -> None:
    """Remove the objects of every job whose result was never cleaned up (see _UNCLAIMED)."""
    for job, job_store in list(_UNCLAIMED.items()):
        with contextlib.suppress(Exception):  # nothing is left to tell at exit; gc can retry
            remove_job(job_store, job)
        _UNCLAIMED.pop(job, None)


def remove_job(job_store: str, job: str, cause: BaseException | None = None) -> None:
    """Delete a job's prefix. When a failure `cause` is being reported, a failed cleanup is only
    noted on it: the error that caused the cleanup is the one the user must see."""
    root = join(job_store, job)
    try:
        storage_for(root).delete_prefix(root)
    except Exception as e:  # noqa: BLE001 - any failure to clean up is reported the same way
        message = f"cannot remove the objects of job {job} under {root}: {e}"
        if cause is None:
            raise SqlmrError(f"{message}; remove them with `sqlmr gc`") from e
        cause.add_note(message)


# A task's memory ran out: the local executor's error type, and Lambda's.
_OUT_OF_MEMORY = ("OutOfTaskMemory", "Runtime.OutOfMemory")
_TICK = 0.5  # seconds between checks for stragglers while waiting for task outcomes


class Driver:
    """Runs plans through one executor."""

    def __init__(
        self,
        executor: Executor,
        job_store: str,
        retries: int = RETRIES,
        listener: Listener | None = None,
        tracer: Tracer | None = None,
        compression: str = "auto",
        speculation: Speculation | None = None,
    ):
        if compression not in COMPRESSIONS:
            raise UsageError(
                f"unknown shuffle compression {compression!r}; "
                f"expected one of {', '.join(COMPRESSIONS)}"
            )
        self.executor, self.job_store, self.retries = executor, job_store, retries
        self.speculation = speculation or Speculation()
        self.listener, self.tracer = listener, tracer
        bind = getattr(executor, "bind_tracer", None)  # executors that pass trace headers on
        if tracer is not None and bind is not None:
            bind(tracer)
        self._submitted: dict[tuple[str, int, int], float] = {}  # when each attempt was sent
        self._running: list[Future[Outcome]] = []  # of a failing stage, for _abandon to wait on
        self._stream: ResultStream | None = None
        self.compression = compression  # of shuffle and result objects; see shuffle.choose_codec

    def run(
        self, plan: Plan, keep_intermediates: bool = False, stream: ResultStream | None = None
    ) -> JobResult:
        """Run every stage; return the committed outputs of the last one. A `stream` gets them
        while the last stage runs, in task order, and is closed (or failed) before this returns."""
        try:
            validate_plan(plan.to_json())
        except PlanValidationError as e:
            refused = PlanError(f"the runtime refuses this plan: {e}")
            if stream is not None:
                stream.fail(refused)  # its reader, on another thread, must not wait on
            raise refused from e
        job = new_job_id()
        started = time.perf_counter()
        committed: dict[str, list[dict[str, Any]]] = {}
        all_stats = []
        segment = (
            self.tracer.segment("sqlmr job", job=job, stages=len(plan.stages))
            if self.tracer
            else contextlib.nullcontext()
        )
        heartbeat = Heartbeat(self.job_store, job)
        _UNCLAIMED[job] = self.job_store  # until the JobResult's cleanup, or the failure's
        if stream is not None:
            stream.begin(job)
        try:
            with segment, heartbeat:
                by_id = {s.id: s for s in plan.stages}
                for stage in plan.stages:
                    earlier = done_by(stage, by_id, committed)
                    if earlier is not None:  # its output is that stage's already
                        committed[stage.id] = committed[earlier]
                        all_stats.append(StageStats(stage.id, 0, done_by=earlier))
                        continue
                    inputs = task_inputs(stage, committed, self.executor.workers)
                    inputs, splits = split_skewed(stage, inputs, committed)
                    last = stream if stage is plan.stages[-1] else None
                    summaries, stats = self._run_stage(job, stage, inputs, splits, last)
                    committed[stage.id] = summaries
                    all_stats.append(stats)
                if keep_intermediates:
                    heartbeat.write(keep=True)  # `sqlmr gc` leaves it: removed by hand
        except BaseException as e:
            if stream is not None:
                stream.fail(e)
            self._abandon(job, heartbeat, e, keep_intermediates)
            raise
        if keep_intermediates:
            _UNCLAIMED.pop(job, None)  # kept on purpose, for `sqlmr gc` or by hand
        if stream is not None:
            stream.close(committed[plan.stages[-1].id])
        return JobResult(
            plan,
            job,
            self.job_store,
            committed[plan.stages[-1].id],
            all_stats,
            time.perf_counter() - started,
            keep_intermediates,
        )

    def _abandon(
        self, job: str, heartbeat: Heartbeat, cause: BaseException, keep_intermediates: bool
    ) -> None:
        """Cancel a failed or interrupted job, then remove its objects.

        Tasks of the job may still run (a Lambda invocation cannot be stopped) or wait in the
        executor's queue (the driver was interrupted between submitting a task and recording
        it). Deleting the heartbeat first cancels the job: a task that ends later writes
        nothing (runtime handler._check_live). The executor then stops what it can, running
        tasks are waited for (bounded by the executor's drain_seconds; a second Ctrl-C ends the
        wait), and only then are the job's objects and incomplete uploads removed."""
        running, self._running = self._running, []
        try:
            with contextlib.suppress(Exception):  # cleanup never hides the cause
                heartbeat.cancel()
            stop = getattr(self.executor, "stop_job", None)
            if stop is not None:
                stop(job)
            if running:
                bound = float(getattr(self.executor, "drain_seconds", DRAIN_SECONDS))
                _, late = wait(running, timeout=bound)
                if late:
                    cause.add_note(
                        f"{len(late)} task(s) of job {job} still ran after {bound:g} s; the job "
                        "is cancelled, so they write nothing"
                    )
        finally:
            if not keep_intermediates:
                remove_job(self.job_store, job, cause)
            _UNCLAIMED.pop(job, None)

    def _run_stage(
        self,
        job: str,
        stage: Stage,
        inputs: list[dict],
        splits: list[Split],
        stream: ResultStream | None = None,
    ) -> tuple[list[dict], StageStats]:
        tracer = self.tracer
        stats = StageStats(stage.id, len(inputs), splits=[s.describe() for s in splits])
        notes = {"splits": "; ".join(stats.splits)} if splits else {}
        span_cm = (
            tracer.subsegment(
                f"stage {stage.id}", stage=stage.id, kind=stage.kind, tasks=len(inputs), **notes
            )
            if tracer
            else contextlib.nullcontext()
        )
        with span_cm as span:
            self._stream = stream  # the stage's winners are offered to it as they win
            try:
                return self._run_stage_traced(job, stage, inputs, span, stats)
            finally:
                self._stream = None

    def _run_stage_traced(
        self, job: str, stage: Stage, inputs: list[dict], span: Any, stats: StageStats
    ):
        if self.listener:
            self.listener.stage_started(stage, len(inputs))
        started = time.perf_counter()
        winners: dict[int, dict[str, Any]] = {}
        pending: dict[Future[Outcome], tuple[int, int]] = {}
        # A scan with LIMIT and nothing that needs every row runs in waves of the worker count
        # and launches no more tasks once its finished tasks hold enough rows.
        limit = early_stop_rows(stage)
        window = len(inputs) if limit is None else max(1, self.executor.workers)
        launched = 0

        def launch() -> None:
            nonlocal launched
            while launched < len(inputs) and len(pending) < window:
                if limit is not None and stats.rows_out >= limit:
                    return
                submit(launched, 0)
                launched += 1

        def submit(task: int, attempt: int) -> None:
            event = task_event(
                job, self.job_store, stage, task, attempt, inputs[task], self.compression
            )
            event["heartbeat"] = join(self.job_store, job, HEARTBEAT)
            self._submitted[(stage.id, task, attempt)] = time.time()
            pending[self.executor.submit(event)] = (task, attempt)
            stats.attempts += 1

        failures: dict[int, int] = {}
        watch = Stragglers(self.speculation, len(inputs))
        try:
            launch()  # inside: an interrupt while tasks are submitted cancels those submitted
            while pending:
                done, _ = wait(list(pending), timeout=_TICK, return_when=FIRST_COMPLETED)
                for future in done:
                    task, attempt = pending.pop(future)
                    outcome = future.result()
                    self._trace_task(span, stage, task, attempt, outcome)
                    if self._settle(stage, stats, task, attempt, outcome, pending, winners):
                        failures[task] = failures.get(task, 0) + 1
                        if failures[task] > self.retries:
                            raise self._task_error(stage, task, attempt, outcome["error"])
                        submit(task, watch.next_attempt(task, attempt))
                for task, attempt in watch.stragglers(pending, winners, stats.task_seconds):
                    submit(task, attempt)  # a speculative second attempt; the first to end wins
                launch()
        except BaseException:
            # Tasks already running cannot be stopped here: Driver._abandon cancels the job and
            # waits for them before the job's objects are removed.
            self._running += [f for f in pending if not f.cancel()]
            raise
        stats.seconds = time.perf_counter() - started
        stats.tasks, stats.skipped = launched, len(inputs) - launched
        if self.listener:
            self.listener.stage_finished(stage, stats)
        return [winners[t] for t in sorted(winners)], stats

    def _settle(
        self,
        stage: Stage,
        stats: StageStats,
        task: int,
        attempt: int,
        outcome: Outcome,
        pending: dict[Future[Outcome], tuple[int, int]],
        winners: dict[int, dict[str, Any]],
    ) -> bool:
        """Record one attempt's outcome; True if it failed and a retry may help.

        The first attempt to succeed wins; a late duplicate is ignored, and a speculative twin
        still running is stopped. A failure counts only if no other attempt of the task won or
        may still win. Each executor decided where the error crossed into it whether a retry
        could help; a plan the runtime refuses, or bad input, is raised at once."""
        others = [f for f, (t, _) in pending.items() if t == task]
        if "result" in outcome:
            if task not in winners:
                winners[task] = outcome["result"]
                self._account(stage, stats, outcome["result"])
                if self._stream is not None:  # the last stage's outputs that now lead
                    self._stream.offer(winners)
                for other in others:
                    other.cancel()
            return False
        if task in winners or others:
            return False
        if not outcome["error"].get("retryable", True):
            raise self._task_error(stage, task, attempt, outcome["error"])
        return True

    def _trace_task(self, span: Any, stage: Stage, task: int, attempt: int, outcome: Outcome):
        if self.tracer is None or span is None:
            return
        end = time.time()
        summary = outcome.get("result")
        if summary is None:
            kind = outcome["error"].get("errorType", "Error")
            start = self._submitted.get((stage.id, task, attempt), end)  # includes queueing
            self.tracer.record(
                f"task {task}",
                start,
                end,
                span,
                True,
                stage=stage.id,
                task=task,
                attempt=attempt,
                error_type=kind,
            )
            return
        t = summary["timings"]
        numbers = {k: summary[k] for k in ("rows_in", "rows_out", "bytes_in", "bytes_out")}
        start = end - t["total"]
        node = self.tracer.record(
            f"task {task}", start, end, span, stage=stage.id, task=task, attempt=attempt, **numbers
        )
        at = start
        for phase in ("read", "compute", "write"):
            self.tracer.record(phase, at, at + t[phase], node)
            at += t[phase]

    def _account(self, stage: Stage, stats: StageStats, summary: dict[str, Any]) -> None:
        stats.rows_in += summary["rows_in"]
        stats.rows_out += summary["rows_out"]
        stats.bytes_in += summary["bytes_in"]
        stats.bytes_out += summary["bytes_out"]
        timings = summary["timings"]
        stats.task_seconds.append(timings["total"])
        for phase in stats.phase_seconds:
            stats.phase_seconds[phase] += timings.get(phase, 0.0)
        if stats.slowest is None or timings["total"] > stats.slowest[1]:
            stats.slowest = (summary["task"], timings["total"])
        stats.max_rss_mb = max(stats.max_rss_mb, summary.get("max_rss_mb", 0.0))
        for operation, count in summary.get("s3_requests", {}).items():
            stats.s3_requests[operation] = stats.s3_requests.get(operation, 0) + count
        if self.listener:
            self.listener.task_finished(stage, summary)

    @staticmethod
    def _task_error(stage: Stage, task: int, attempt: int, error: dict[str, Any]) -> Exception:
        kind = error.get("errorType", "Error")
        message = error.get("errorMessage", "")
        if kind == "PlanValidationError":
            return PlanError(f"the runtime refuses this plan: {message}")
        # A final error's message says what is wrong; a transient one's type says what failed.
        shown = message if not error.get("retryable", True) else f"{kind}: {message}"
        if kind in _OUT_OF_MEMORY:
            from sqlmr.planning.explain import builds_broadcast

            if builds_broadcast(stage.source):
                shown += (
                    "; each task of this stage holds a join's broadcast side whole, chosen from "
                    "a size estimated at plan time: a lower --broadcast-threshold joins by "
                    "shuffling both sides instead"
                )
        if kind == "EvaluationError":
            from sqlmr.planning.explain import failing_expressions

            # The runtime names the function ("mul: overflow"); name the query's expression.
            where = failing_expressions(stage, message.split(":", 1)[0].strip())
            if where:
                shown = f"{message}, in {' or '.join(where[:3])}"
        return TaskError(shown, stage.id, task, attempt, kind, error.get("stackTrace", ""))
