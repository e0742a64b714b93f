"""The Lambda executor's real boto3 path, against the test Lambda (tests/lambda_server.py, via
AWS_ENDPOINT_URL_LAMBDA) with SeaweedFS as S3: tables and job store on S3, DuckDB as the oracle,
and throttling, function errors, timeouts and oversized events injected."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy
import pyarrow as pa
import pytest
from conftest import assert_same, duck_connect
from sqlmr_benchmarks.queries import QUERIES
from sqlmr_runtime import PLAN_VERSION, environment
from sqlmr_runtime.errors import is_retryable
from sqlmr_runtime.handler import lambda_handler
from sqlmr_runtime.storage import storage_for

import sqlmr
from sqlmr.api import QueryOptions, compile_query, resolve_catalog
from sqlmr.aws import layer
from sqlmr.execution.aws_lambda import (
    MAX_PAYLOAD_BYTES,
    LambdaExecutor,
    _function_error,
    parse_report,
)
from sqlmr.execution.driver import Driver
from sqlmr.execution.tracing import Tracer

if TYPE_CHECKING:  # imported by pytest as plugins, so that their asserts are rewritten
    from lambda_server import LambdaServer
    from s3_server import SeaweedS3

# One SeaweedFS and one Lambda server for the whole session, whichever modules use them.
pytest_plugins = ["s3_server", "lambda_server"]

Q1A = "SELECT pageURL, pageRank FROM rankings WHERE pageRank > 10"
Q2A = (
    "SELECT SUBSTR(sourceIP, 1, 8), SUM(adRevenue) FROM uservisits GROUP BY SUBSTR(sourceIP, 1, 8)"
)
OPTIONS = dict(workers=4, split_size="64KB", reducers=2)


@pytest.fixture(scope="module")
def s3_tables(seaweed_s3: SeaweedS3, amplab_dir: str) -> str:
    """The tiny Amplab tables uploaded to s3://bucket/lambda-amplab."""
    return seaweed_s3.upload_tree(amplab_dir, "lambda-amplab")


@pytest.fixture(scope="module")
def oracle(amplab_dir: str):
    con = duck_connect(amplab_dir)
    yield con
    con.close()


@pytest.fixture
def job_store(seaweed_s3: SeaweedS3, request: pytest.FixtureRequest) -> str:
    return seaweed_s3.url("jobs", request.node.name.replace("[", "-").rstrip("]"))


@pytest.fixture
def executor(lambda_endpoint: LambdaServer, seaweed_s3: SeaweedS3):
    """A LambdaExecutor on the test Lambda (found through AWS_ENDPOINT_URL_LAMBDA)."""
    ex = LambdaExecutor(
        "sqlmr",
        concurrency=4,
        payload_store=seaweed_s3.url("events"),
        backoff_base=0.01,
        backoff_cap=0.1,
    )
    assert ex.client.meta.endpoint_url == lambda_endpoint.endpoint
    assert ex.workers == 4
    yield ex
    ex.close()


def _plan(sql: str, tables: str, job_store: str):
    options = QueryOptions(job_store=job_store, **OPTIONS)
    return compile_query(sql, resolve_catalog(tables), options)


def _task_count(plan) -> int:
    return sum(len(stage.tasks) for stage in plan.stages)


def _assert_job_store_empty(job_store: str) -> None:
    assert storage_for(job_store).list(job_store) == []


@pytest.mark.parametrize("sql", [q.sql for q in QUERIES.values()], ids=list(QUERIES))
def test_amplab_on_lambda_equals_duckdb(
    sql, s3_tables, job_store, executor, lambda_endpoint, oracle
):
    options = QueryOptions(job_store=job_store, **OPTIONS)
    plan = compile_query(sql, resolve_catalog(s3_tables), options)
    with sqlmr.run(plan, options, executor=executor) as result:
        table = result.read_all()
        summaries = result.results
    assert_same(table, oracle.execute(sql).fetchall(), ordered=False)
    tasks = _task_count(plan)
    assert tasks >= 2
    assert lambda_endpoint.invocations == tasks
    assert len(executor.invocations) == tasks
    assert all("lambda" in s and s["lambda"]["billed_ms"] >= 1 for s in summaries)
    _assert_job_store_empty(job_store)


def test_a_hot_key_join_is_split_on_lambda(s3_tables, job_store, executor, oracle):
    # The skew-aware join through the Invoke API and S3: the map tasks' hot-key samples travel
    # in their Lambda summaries, and the split partition's tasks equal DuckDB.
    (hot,) = oracle.execute("SELECT MIN(pageURL) FROM rankings").fetchone()
    sql = (
        "SELECT COUNT(*), SUM(u.adRevenue), SUM(r.pageRank) FROM uservisits u JOIN rankings r "
        f"ON (CASE WHEN u.duration <= 5 THEN '{hot}' ELSE u.destURL END) = r.pageURL"
    )
    options = QueryOptions(job_store=job_store, broadcast_threshold=1, **OPTIONS)
    plan = compile_query(sql, resolve_catalog(s3_tables), options)
    plan = dataclasses.replace(
        plan,
        stages=tuple(
            dataclasses.replace(s, split_bytes=8 << 10) if s.split_bytes else s for s in plan.stages
        ),
    )
    with sqlmr.run(plan, options, executor=executor) as result:
        table = result.read_all()
        splits = [line for s in result.stages for line in s.splits]
    assert_same(table, oracle.execute(sql).fetchall(), ordered=False)
    assert any(f"hot key '{hot[:40]}" in line and "split into" in line for line in splits), splits
    _assert_job_store_empty(job_store)


def test_throttling_is_retried_in_the_executor(
    s3_tables, job_store, executor, lambda_endpoint, oracle
):
    plan = _plan(Q2A, s3_tables, job_store)
    lambda_endpoint.throttle_next(6)  # fewer than max_attempts: no task can give up
    with Driver(executor, job_store, retries=0).run(plan) as result:  # no task retry allowed
        assert_same(result.read_all(), oracle.execute(Q2A).fetchall(), ordered=False)
    assert lambda_endpoint.throttled == 6
    tasks = _task_count(plan)
    assert lambda_endpoint.invocations == tasks  # every task ran exactly once
    assert sorted(c["attempt"] for c in lambda_endpoint.calls) == [0] * tasks
    assert sum(r["tries"] - 1 for r in executor.invocations) == 6


def test_function_errors_are_retried_by_the_driver(
    s3_tables,
    job_store,
    executor,
    lambda_endpoint,
    oracle,
):
    plan = _plan(Q2A, s3_tables, job_store)
    lambda_endpoint.fail_matching(stage="map", task=2, attempt=0, times=1, error_type="Boom")
    lambda_endpoint.fail_matching(stage="map", task=4, attempt=0, times=1)
    lambda_endpoint.fail_matching(stage="reduce", task=1, attempt=0, times=1)
    with Driver(executor, job_store, retries=2).run(plan) as result:
        # A retried task counted twice would change the sums.
        assert_same(result.read_all(), oracle.execute(Q2A).fetchall(), ordered=False)
        by_task = {(s["stage"], s["task"]): s["attempt"] for s in result.results}
        assert by_task[("reduce", 1)] == 1 and by_task[("reduce", 0)] == 0
    outcomes = {(c["stage"], c["task"], c["attempt"]): c["outcome"] for c in lambda_endpoint.calls}
    assert outcomes[("map", 2, 0)] == "error" and outcomes[("map", 2, 1)] == "ok"
    assert outcomes[("map", 4, 0)] == "error" and outcomes[("map", 4, 1)] == "ok"
    assert outcomes[("reduce", 1, 0)] == "error" and outcomes[("reduce", 1, 1)] == "ok"
    assert lambda_endpoint.invocations == _task_count(plan) + 3
    failed = [r for r in executor.invocations if r["error"]]
    assert len(failed) == 3 and all(r["billed_ms"] >= 1 for r in failed)
    _assert_job_store_empty(job_store)


@pytest.mark.parametrize(
    ("fault", "kind", "flags"),
    [
        ("timeout", "Sandbox.Timedout", ("--split-size", "--timeout")),
        ("oom", "Runtime.OutOfMemory", ("1536 MB", "--memory", "--task-memory")),
    ],
)
def test_a_timeout_or_out_of_memory_is_final_and_names_the_flag(
    fault, kind, flags, s3_tables, job_store, executor, lambda_endpoint
):
    plan = _plan(Q2A, s3_tables, job_store)
    lambda_endpoint.simulated_timeout = 0.3
    inject = getattr(lambda_endpoint, f"{fault}_matching")
    inject(stage="map", task=1, attempt=0, times=1)
    with pytest.raises(sqlmr.TaskError) as caught:
        Driver(executor, job_store, retries=2).run(plan)
    error = caught.value
    assert (error.stage, error.task, error.attempt, error.error_type) == ("map", 1, 0, kind)
    assert all(flag in str(error) for flag in flags), str(error)
    retried = [c for c in lambda_endpoint.calls if (c["stage"], c["task"]) == ("map", 1)]
    assert len(retried) == 1  # not run again with the same settings
    _assert_job_store_empty(job_store)


def test_a_function_of_an_older_runtime_is_a_final_error_that_says_deploy(
    s3_tables, job_store, executor, lambda_endpoint
):
    from sqlmr_runtime.errors import PlanValidationError
    from sqlmr_runtime.validate import _version

    # What a function deployed from the previous plan version answers to this sqlmr's events:
    # the runtime's own refusal, produced by its own check.
    with pytest.raises(PlanValidationError) as refused:
        _version({"version": PLAN_VERSION}, "task event", PLAN_VERSION - 1)
    plan = _plan(Q2A, s3_tables, job_store)
    lambda_endpoint.fail_matching(
        stage="map", error_type="PlanValidationError", message=str(refused.value)
    )
    with pytest.raises(sqlmr.PlanError) as caught:
        Driver(executor, job_store, retries=2).run(plan)
    message = str(caught.value)
    assert "sqlmr deploy" in message and f"plan version {PLAN_VERSION - 1}" in message
    retried = [c for c in lambda_endpoint.calls if c["stage"] == "map" and c["attempt"] > 0]
    assert retried == []  # deploying fixes it; retrying cannot
    _assert_job_store_empty(job_store)


def test_a_task_failing_every_attempt_raises_task_error_with_the_remote_trace(
    s3_tables,
    job_store,
    executor,
    lambda_endpoint,
):
    plan = _plan(Q2A, s3_tables, job_store)
    lambda_endpoint.fail_matching(stage="map", task=1, error_type="KaputError", message="kaput!")
    with pytest.raises(sqlmr.TaskError) as caught:
        Driver(executor, job_store, retries=2).run(plan)
    error = caught.value
    assert (error.stage, error.task, error.attempt) == ("map", 1, 2)
    assert error.error_type == "KaputError"
    assert "kaput!" in str(error)
    assert "Traceback" not in error.remote_traceback  # Lambda sends frames, not the header
    assert 'File "' in error.remote_traceback
    attempts = [
        c["attempt"] for c in lambda_endpoint.calls if (c["stage"], c["task"]) == ("map", 1)
    ]
    assert sorted(attempts) == [0, 1, 2]
    _assert_job_store_empty(job_store)  # the failed job cleaned up after itself


def test_report_lines_are_parsed_into_invocations(s3_tables, job_store, executor, lambda_endpoint):
    plan = _plan(Q1A, s3_tables, job_store)
    with Driver(executor, job_store).run(plan) as result:
        summary = result.results[0]
    assert len(executor.invocations) == _task_count(plan)
    request_ids = {c["request_id"] for c in lambda_endpoint.calls}
    for record in executor.invocations:
        assert record["task_id"].startswith("map-")
        assert record["request_id"] in request_ids
        assert record["memory_mb"] == 1536
        assert record["billed_ms"] >= 1 and record["billed_ms"] >= record["duration_ms"]
        assert record["max_memory_used_mb"] >= 1
        assert record["init_ms"] is None or record["init_ms"] > 0
        assert record["error"] is None and record["tries"] == 1
    assert summary["lambda"]["memory_mb"] == 1536
    assert summary["lambda"]["max_memory_used_mb"] == max(1, round(summary["max_rss_mb"]))
    expected = sum(r["billed_ms"] / 1000 * 1.5 for r in executor.invocations)
    assert executor.billed_gb_seconds() == pytest.approx(expected)


def test_parse_report_reads_real_lambda_lines():
    log = (
        "START RequestId: 6f0d Version: $LATEST\n"
        "END RequestId: 6f0d\n"
        "REPORT RequestId: 6f0d\tDuration: 1234.56 ms\tBilled Duration: 1235 ms\t"
        "Memory Size: 1536 MB\tMax Memory Used: 412 MB\tInit Duration: 789.01 ms\t\n"
    )
    assert parse_report(log) == {
        "request_id": "6f0d",
        "duration_ms": 1234.56,
        "billed_ms": 1235,
        "memory_mb": 1536,
        "max_memory_used_mb": 412,
        "init_ms": 789.01,
        "status": None,
    }
    timed_out = (
        "REPORT RequestId: 1a\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 21 MB\tStatus: timeout"
    )
    report = parse_report(timed_out)
    assert report["status"] == "timeout" and report["init_ms"] is None
    assert parse_report("no report here") is None


def test_function_error_payloads_of_every_shape():
    python = json.dumps(
        {
            "errorMessage": "division by zero",
            "errorType": "ZeroDivisionError",
            "requestId": "r1",
            "stackTrace": ['  File "/var/task/a.py", line 3, in f\n    1 / 0\n', "  File b\n"],
        }
    ).encode()
    assert _function_error("Unhandled", python) == {
        "errorType": "ZeroDivisionError",
        "errorMessage": "division by zero",
        "stackTrace": '  File "/var/task/a.py", line 3, in f\n    1 / 0\n  File b\n',
    }
    old_timeout = (
        b'{"errorMessage":"2024-01-01T00:00:00.000Z r2 Task timed out after 3.00 seconds"}'
    )
    assert _function_error("Unhandled", old_timeout)["errorType"] == "Sandbox.Timedout"
    assert _function_error("Handled", b'{"errorMessage":"x"}')["errorType"] == "Handled"
    assert _function_error("Unhandled", b"not json") == {
        "errorType": "Unhandled",
        "errorMessage": "not json",
        "stackTrace": "",
    }


def test_events_over_6mb_travel_through_the_payload_store(
    s3_tables,
    job_store,
    executor,
    lambda_endpoint,
    oracle,
    seaweed_s3,
):
    literal = "x" * 6_100_000
    sql = f"SELECT pageURL, pageRank FROM rankings WHERE pageURL <> '{literal}' AND pageRank > 10"
    plan = _plan(sql, s3_tables, job_store)
    stage = plan.stages[0]
    assert len(json.dumps(stage.definition())) > MAX_PAYLOAD_BYTES
    with Driver(executor, job_store, retries=0).run(plan) as result:
        assert_same(result.read_all(), oracle.execute(Q1A).fetchall(), ordered=False)
    assert lambda_endpoint.calls and all(c["by_url"] for c in lambda_endpoint.calls)
    assert all(c["outcome"] == "ok" for c in lambda_endpoint.calls)
    events = seaweed_s3.url("events")
    assert storage_for(events).list(events) == []  # each event object is removed after its run

    # Without a payload store, submit() returns a clear error outcome and invokes nothing.
    event = {
        "version": PLAN_VERSION,
        "job": "big",
        "job_store": job_store,
        "stage": stage.definition(),
        "task": 0,
        "attempt": 0,
        "input": {"ranges": stage.tasks[0]["ranges"]},
    }
    calls = len(lambda_endpoint.calls)
    bare = LambdaExecutor("sqlmr", concurrency=1)
    try:
        outcome = bare.submit(event).result(timeout=60)
    finally:
        bare.close()
    assert outcome["error"]["errorType"] == "PayloadTooLargeError"
    assert "payload store" in outcome["error"]["errorMessage"]
    assert len(lambda_endpoint.calls) == calls

    # With one, submit() works on its own too.
    outcome = executor.submit(event).result(timeout=60)
    assert outcome["result"]["rows_out"] > 0
    assert lambda_endpoint.calls[-1]["by_url"]
    storage_for(job_store).delete_prefix(job_store)


def test_unknown_function_is_an_error_outcome_not_a_retry(lambda_endpoint):
    ex = LambdaExecutor("no-such-function", concurrency=1, backoff_base=0.01)
    try:
        outcome = ex.submit({"task": 0}).result(timeout=60)
    finally:
        ex.close()
    assert outcome["error"]["errorType"] == "InvokeError"
    assert "ResourceNotFoundException" in outcome["error"]["errorMessage"]
    assert lambda_endpoint.requests == 0  # refused before it counted as an Invoke request


def test_a_throttle_that_never_ends_becomes_an_error_outcome(lambda_endpoint):
    lambda_endpoint.throttle_next(10_000)
    ex = LambdaExecutor("sqlmr", concurrency=1, stall_seconds=0.5, backoff_base=0.01)
    started = time.monotonic()
    try:
        outcome = ex.submit({"task": 0}).result(timeout=60)
    finally:
        ex.close()
    assert outcome["error"]["errorType"] == "TooManyRequestsException"
    assert "throttled with no invocation finishing for 0.5 s" in outcome["error"]["errorMessage"]
    # Retried, and for the whole stall window from the first 429, however slow the machine:
    # the window no longer starts when the executor is made (under load the first 429 came
    # after it had passed, and the task gave up after one or two).
    assert lambda_endpoint.throttled >= 2 and lambda_endpoint.invocations == 0
    assert time.monotonic() - started > 0.5


def test_the_stall_window_starts_at_the_first_throttle_not_when_the_executor_was_made():
    from sqlmr.execution.lambda_concurrency import AdaptiveLimit

    limit = AdaptiveLimit(2, stall_seconds=0.5)
    time.sleep(0.6)  # idle, longer than the window: nothing was throttled
    assert not limit.stalled()
    limit.acquire()
    limit.release(throttled=True)
    assert not limit.stalled()
    time.sleep(0.6)
    assert limit.stalled()
    limit.acquire()
    limit.release(throttled=False)  # an invocation finished: progress
    assert not limit.stalled()


def test_concurrency_starts_within_reserved_and_unreserved_concurrency(lambda_endpoint):
    lambda_endpoint.reserved = 3
    with LambdaExecutor("sqlmr", concurrency=50) as ex:
        assert ex.workers == 3
    lambda_endpoint.reserved = None
    lambda_endpoint.unreserved = 7
    with LambdaExecutor("sqlmr", concurrency=50) as ex:
        assert ex.workers == 7
    with LambdaExecutor("sqlmr", concurrency=4) as ex:
        assert ex.workers == 4


def test_throttling_shrinks_concurrency_and_never_fails_a_progressing_job(
    s3_tables, job_store, lambda_endpoint, oracle
):
    """The function may run 2 at once (reserved concurrency, which the executor is not told:
    GetFunctionConcurrency answers nothing) and the account throttles 40 more requests: the
    job completes with no task retry, and the limit fell, then grew again."""
    ex = LambdaExecutor("sqlmr", concurrency=8, backoff_base=0.02, backoff_cap=0.2, max_attempts=2)
    lambda_endpoint.reserved = 2
    lambda_endpoint.throttle_next(40)
    try:
        with Driver(ex, job_store, retries=0).run(_plan(Q2A, s3_tables, job_store)) as result:
            assert_same(result.read_all(), oracle.execute(Q2A).fetchall(), ordered=False)
    finally:
        ex.close()
    assert lambda_endpoint.throttled > 40 and lambda_endpoint.peak <= 2
    assert ex.workers == 8 and ex.limit.lowest < 8
    assert ex.limit.limit > ex.limit.lowest  # grew again as invocations finished


def test_access_denied_right_after_a_deployment_is_retried(
    s3_tables, job_store, executor, lambda_endpoint, oracle
):
    denied = "access to s3://sqlmr-test/x denied (AccessDenied); check the credentials and policy"
    lambda_endpoint.fail_matching(stage="map", task=0, times=2, error_type="StorageError",
                                  message=denied)  # fmt: skip
    lambda_endpoint.last_modified = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
    with Driver(executor, job_store, retries=0).run(_plan(Q2A, s3_tables, job_store)) as result:
        assert_same(result.read_all(), oracle.execute(Q2A).fetchall(), ordered=False)
    assert [c["outcome"] for c in lambda_endpoint.calls if c["task"] == 0][:3] == [
        "error", "error", "ok"
    ]  # fmt: skip

    lambda_endpoint.reset()  # deployed long ago: AccessDenied is the policy, not propagation
    lambda_endpoint.fail_matching(stage="map", task=0, times=1, error_type="StorageError",
                                  message=denied)  # fmt: skip
    fresh = LambdaExecutor("sqlmr", concurrency=2)
    try:
        with pytest.raises(sqlmr.TaskError, match="AccessDenied"):
            Driver(fresh, job_store, retries=0).run(_plan(Q2A, s3_tables, job_store))
    finally:
        fresh.close()


def test_the_functions_subsegments_join_the_drivers_trace(
    s3_tables, job_store, executor, lambda_endpoint
):
    tracer = Tracer(xray=False)
    with Driver(executor, job_store, tracer=tracer).run(_plan(Q1A, s3_tables, job_store)):
        pass
    (job,) = tracer.to_json()
    stage_ids = {sub["id"] for sub in job["subsegments"]}
    deadline = time.monotonic() + 10  # UDP documents arrive a moment after the answers
    while time.monotonic() < deadline:
        names = [
            d for d in lambda_endpoint.segments if d.get("name") in ("read", "compute", "write")
        ]
        if len(names) >= 3 * len(executor.invocations):
            break
        time.sleep(0.05)
    assert {d["name"] for d in names} == {"read", "compute", "write"}
    assert len(names) == 3 * len(executor.invocations)
    for doc in names:
        assert doc["trace_id"] == job["trace_id"]
        assert doc["parent_id"] in stage_ids
        assert doc["annotations"]["job"] and doc["end_time"] >= doc["start_time"]


def test_a_dead_endpoint_is_retried_then_reported(monkeypatch):
    from s3_server import free_ports

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "not-a-real-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    (port,) = free_ports(1)
    ex = LambdaExecutor(
        "sqlmr",
        concurrency=1,
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        max_attempts=2,
        backoff_base=0.01,
    )
    try:
        outcome = ex.submit({"task": 0}).result(timeout=60)
    finally:
        ex.close()
    assert outcome["error"]["errorType"] == "EndpointConnectionError"
    assert "gave up after 2 attempts" in outcome["error"]["errorMessage"]
    assert "not-a-real" not in json.dumps(outcome)


# -- the shipped artifact -------------------------------------------------------------------------


def test_the_function_runs_only_the_shipped_zip_layer_and_runtime(
    executor, lambda_endpoint, lambda_artifacts
):
    """The probe answers from the emulated function: its sys.path is the code zip, the layers
    and the runtime's own packages before the standard library, and nothing of this checkout;
    the session's layer takes LZ4 and ZSTD away (so every Lambda test above ran without them)."""
    response = executor.client.invoke(FunctionName="sqlmr", Payload=b'{"sqlmr_probe": 1}')
    assert "FunctionError" not in response
    probe = json.loads(response["Payload"].read())
    shipped = [
        str(lambda_artifacts["code_zip"]),
        str(lambda_artifacts["no_lz4_zstd"] / "python"),
        str(lambda_artifacts["layer"] / "python"),
        str(lambda_artifacts["runtime_dir"]),
    ]
    assert probe["sys_path"][:4] == shipped
    for entry in probe["sys_path"][4:]:  # the standard library of the base interpreter
        assert entry.startswith(sys.base_prefix) and "site-packages" not in entry, entry
    assert str(Path(__file__).parents[1]) not in json.dumps(probe["sys_path"])
    assert probe["codecs"]["lz4"] is False and probe["codecs"]["zstd"] is False
    assert set(probe["features"].values()) == {"ok"}
    assert probe["modules"]["aws_xray_sdk"] and probe["modules"]["boto3"]
    assert probe["modules"]["numpy"] == numpy.__version__  # from the layer: the driver's version
    assert probe["memory_mb"] == lambda_endpoint.memory_mb


def test_the_layer_ships_numpy_trimmed_within_lambdas_size_limit(lambda_artifacts):
    """numpy is in the layer deploy builds, without what a task never loads, and the layer with
    the code zip stays under Lambda's 250 MB unzipped limit (deploy's own check)."""
    python = lambda_artifacts["layer"] / "python"
    assert (python / "numpy" / "__init__.py").is_file()
    assert list((python / "numpy.libs").glob("*openblas*")), "numpy's shared libraries"
    for trimmed in ("f2py", "distutils", "testing", "typing", "_core/include", "_core/tests"):
        assert not (python / "numpy" / trimmed).exists(), trimmed
    assert not list(python.rglob("*.pyi")) and not list((python / "numpy").rglob("*_tests.*so"))
    facts = lambda_artifacts["layer_facts"]
    with zipfile.ZipFile(lambda_artifacts["code_zip"]) as zf:
        code = sum(i.file_size for i in zf.infolist())
    build = layer.LayerBuild(b"", facts["content_hash"], facts["unzipped_bytes"], 1, "3.12", "x")
    layer.check_size(build, code)  # raises over the limit


def _like_task(amplab_dir: str, job_store: str) -> dict:
    """The first task event of a LIKE query on the local tables."""
    from sqlmr.execution.task_inputs import task_event, task_inputs

    sql = "SELECT pageURL FROM rankings WHERE pageURL LIKE '%a%'"
    stage = compile_query(sql, resolve_catalog(amplab_dir), QueryOptions(workers=1)).stages[0]
    return task_event("job", job_store, stage, 0, 0, task_inputs(stage, {})[0])


def test_a_missing_arrow_feature_is_a_final_error_naming_it(monkeypatch, amplab_dir, tmp_path):
    from sqlmr_runtime import compute as pc

    def no_re2(*args, **kwargs):  # what an Arrow built without RE2 answers
        raise pa.ArrowNotImplementedError("Can't match_like: RE2 not built")

    monkeypatch.setattr(environment, "_checked", None)
    monkeypatch.setattr(pc, "match_like", no_re2)
    with pytest.raises(environment.MissingFeatureError, match="lacks RE2 regular expressions") as e:
        lambda_handler(_like_task(amplab_dir, str(tmp_path)))
    assert "RE2 not built" in str(e.value.__cause__)  # caused by the task's own failure
    assert not is_retryable("MissingFeatureError")  # the driver does not retry it


def test_features_are_tested_only_when_a_task_fails(monkeypatch, amplab_dir, tmp_path):
    """A task that succeeds runs no feature test (they cost a fresh worker 4-14 ms); one that
    fails with every feature present raises its own error."""
    from sqlmr_runtime import compute as pc

    monkeypatch.setattr(environment, "_checked", None)
    assert lambda_handler(_like_task(amplab_dir, str(tmp_path)))["rows_in"] > 0
    assert environment._checked is None

    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not a missing feature")

    monkeypatch.setattr(pc, "match_like", broken)
    re2 = "RE2 regular expressions (LIKE, REGEXP)"
    monkeypatch.setitem(environment.FEATURES, re2, lambda: None)
    with pytest.raises(RuntimeError, match="a bug"):
        lambda_handler(_like_task(amplab_dir, str(tmp_path)))
    assert environment._checked and set(environment._checked.values()) == {"ok"}
