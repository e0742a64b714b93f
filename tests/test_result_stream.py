"""A result written while its job runs (sqlmr/cli/streamed.py, driver's ResultStream): the same
bytes as the result written after the job, whatever the partition count and the order in which
the last stage's tasks finish; rows equal DuckDB's (in order for ORDER BY); a job that fails
after some outputs were streamed exits 1, writes no -o file and leaves no object."""

from __future__ import annotations

import dataclasses
import io
import random
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pytest
from conftest import assert_same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlmr.api import QueryOptions, compile_query, resolve_catalog, run
from sqlmr.cli import query as cli_query
from sqlmr.cli.app import main
from sqlmr.cli.output import write_csv
from sqlmr.cli.streamed import run_and_write
from sqlmr.errors import PlanError
from sqlmr.execution.driver import remove_job
from sqlmr.execution.local import LocalExecutor
from sqlmr.execution.result_stream import LIVENESS_SECONDS, JobFailed, ResultStream

QUERIES = {
    "group": ("SELECT SUBSTR(sourceIP, 1, 5) AS k, SUM(adRevenue) AS s, COUNT(*) AS c "
              "FROM uservisits GROUP BY SUBSTR(sourceIP, 1, 5)", False),
    "order": ("SELECT pageURL, pageRank FROM rankings WHERE pageRank > 10 "
              "ORDER BY pageRank DESC, pageURL", True),
    "scan": ("SELECT sourceIP, visitDate, adRevenue FROM uservisits WHERE adRevenue > 0.5", False),
}  # fmt: skip


class Reordered:
    """An executor whose last-stage outcomes arrive after a random delay (so in any order), and
    that may turn one of them into a final error."""

    def __init__(self, inner: LocalExecutor, last: str, seed: int, fail: int | None = None):
        self.inner, self.workers, self.last = inner, inner.workers, last
        self.rng, self.fail = random.Random(seed), fail

    def submit(self, event: dict[str, Any]) -> Future:
        future = self.inner.submit(event)
        if event["stage"]["id"] != self.last:
            return future
        out: Future = Future()
        delay = self.rng.random() * 0.05 + (0.3 if event["task"] == self.fail else 0.0)

        def settle(done: Future) -> None:
            outcome = done.result()
            if event["task"] == self.fail:
                error = {"errorType": "Injected", "errorMessage": "injected failure"}
                outcome = {"error": {**error, "stackTrace": "", "retryable": False}}
            threading.Timer(delay, out.set_result, [outcome]).start()

        future.add_done_callback(settle)
        return out

    def stop_job(self, job: str) -> None:
        self.inner.stop_job(job)

    def close(self) -> None:
        pass


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(sorted(QUERIES)),
    reducers=st.integers(1, 5),
    split=st.sampled_from(["64KB", "256KB", "64MB"]),
    seed=st.integers(0, 1000),
)
def test_streamed_bytes_equal_the_written_result_and_duckdb(
    amplab_dir: str, duck, tmp_path: Path, name: str, reducers: int, split: str, seed: int
) -> None:
    sql, ordered = QUERIES[name]
    options = QueryOptions(
        workers=2,
        reducers=reducers,
        split_size=split,
        keep_intermediates=True,
        job_store=str(tmp_path / "jobs"),
    )
    plan = compile_query(sql, resolve_catalog(amplab_dir, None), options)
    executor = Reordered(LocalExecutor(2), plan.stages[-1].id, seed)
    streamed = io.BytesIO()
    result, rows = run_and_write(
        plan,
        lambda stream: run(plan, options, executor, stream=stream),
        lambda tables: write_csv(tables, streamed, True, ","),
    )
    try:
        after = io.BytesIO()  # the same job's result, written after the job as before
        assert write_csv(result.tables(), after, True, ",") == rows == result.rows
    finally:
        remove_job(options.job_store, result.job)
    assert streamed.getvalue() == after.getvalue()
    table = pacsv.read_csv(io.BytesIO(streamed.getvalue()))
    assert_same(table, duck.execute(sql).fetchall(), ordered)


@pytest.mark.parametrize("to_file", [True, False])
def test_a_job_failing_after_streamed_outputs_exits_1_and_writes_no_file(
    amplab_dir: str, duck, tmp_path: Path, monkeypatch, capsys, to_file: bool
) -> None:
    sql = QUERIES["group"][0]
    jobs = tmp_path / "jobs"

    def executor_from(args: Any) -> Reordered:  # the last reduce task fails after the others
        return Reordered(LocalExecutor(2), "reduce", seed=1, fail=1)

    monkeypatch.setattr(cli_query, "executor_from", executor_from)
    out = tmp_path / "out" / "r.csv"
    out.parent.mkdir()
    argv = ["query", sql, "--tables", amplab_dir, "--workers", "2", "--reducers", "4"]
    argv += ["--job-store", str(jobs), "--format", "csv"]
    rc = main([*argv, "-o", str(out)] if to_file else argv)
    captured = capsys.readouterr()
    assert rc == 1
    assert "injected failure" in captured.err
    assert not list(jobs.glob("*"))  # the failed job left no object
    if to_file:
        assert not list(out.parent.iterdir())  # neither the file nor its temporary
        return
    # Standard output holds the header and the rows of the outputs committed before the failed
    # one (task 0's, which ends first): rows of the result, as a consumer of a stream sees them.
    expected = {(k, c) for k, _, c in duck.execute(sql).fetchall()}
    printed = pacsv.read_csv(io.BytesIO(captured.out.encode()))
    assert printed.column_names == ["k", "s", "c"] and printed.num_rows > 0
    assert {(r["k"], r["c"]) for r in printed.to_pylist()} <= expected


def _read_on_a_thread(stream: ResultStream) -> dict[str, Any]:
    """Iterate the stream's tables on a thread (as the CLI's writer does); what it got, or
    what it raised. The test's own wait is bounded, so a hang fails instead of hanging."""
    got: dict[str, Any] = {"tables": 0}

    def read() -> None:
        try:
            for _ in stream.tables():
                got["tables"] += 1
        except Exception as e:  # noqa: BLE001 - the test asserts on it
            got["error"] = e

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(LIVENESS_SECONDS * 10)
    assert not reader.is_alive(), "the reader still waits"
    return got


def _producer(work) -> ResultStream:
    """A stream made and begun on a producer thread that runs `work(stream)`, then ends."""
    made: list[ResultStream] = []

    def produce() -> None:
        stream = ResultStream(None)  # type: ignore[arg-type] - no table is ever read
        stream.begin("job-1")
        made.append(stream)
        work(stream)

    thread = threading.Thread(target=produce)
    thread.start()
    thread.join(10)
    return made[0]


def test_a_producer_ending_without_closing_the_stream_does_not_hang_its_reader() -> None:
    got = _read_on_a_thread(_producer(lambda stream: None))
    assert isinstance(got.get("error"), JobFailed), got
    assert "job-1" in str(got["error"]) and "without closing" in str(got["error"])


def test_a_stream_closed_before_its_producer_ended_is_read_to_the_end() -> None:
    got = _read_on_a_thread(_producer(lambda stream: stream.close([])))
    assert got == {"tables": 0}


def test_a_plan_the_runtime_refuses_fails_the_stream(amplab_dir: str, tmp_path: Path) -> None:
    options = QueryOptions(job_store=str(tmp_path / "jobs"))
    plan = compile_query("SELECT COUNT(*) FROM rankings", resolve_catalog(amplab_dir), options)
    bad = dataclasses.replace(plan, version=999)
    stream = ResultStream(bad)
    with pytest.raises(PlanError):
        run(bad, options, stream=stream)
    got = _read_on_a_thread(stream)  # this thread, the producer, lives on: no liveness help
    assert isinstance(got.get("error"), JobFailed) and "refuses" in str(got["error"])
