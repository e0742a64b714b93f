"""The cost table after a Lambda job is measured: tasks count their own S3 requests (on the
emulated Lambda, running the shipped zip), the driver adds its own, and the function's
architecture and memory come from its configuration; anything assumed is labelled."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import assert_same
from sqlmr_runtime.storage import request_counts, requests_since

import sqlmr
from sqlmr.api import QueryOptions, compile_query, resolve_catalog
from sqlmr.execution import cost_table
from sqlmr.execution.aws_lambda import LambdaExecutor
from sqlmr.execution.driver import StageStats
from sqlmr.planning.cost import s3_request_classes

pytest_plugins = ["s3_server", "lambda_server"]

Q2A = "SELECT SUBSTR(sourceIP, 1, 8), SUM(adRevenue) FROM uservisits GROUP BY 1"


@pytest.fixture(scope="module")
def s3_uservisits(seaweed_s3, amplab_dir: str) -> str:
    client = seaweed_s3.client()
    for path in sorted((Path(amplab_dir) / "uservisits").iterdir()):
        client.upload_file(str(path), seaweed_s3.bucket, f"cost-amplab/uservisits/{path.name}")
    return seaweed_s3.url("cost-amplab")


def _row(table: str, item: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"| {item} "))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_tasks_count_their_s3_requests_and_the_table_uses_them(
    s3_uservisits, seaweed_s3, lambda_endpoint, duck
):
    executor = LambdaExecutor("sqlmr", concurrency=4, payload_store=seaweed_s3.url("events"))
    options = QueryOptions(
        workers=4, split_size="64KB", reducers=2, job_store=seaweed_s3.url("jobs", "cost")
    )
    try:
        before = request_counts()
        plan = compile_query(Q2A, resolve_catalog(s3_uservisits), options)
        with sqlmr.run(plan, options, executor=executor) as result:
            assert_same(result.read_all(), duck.execute(Q2A).fetchall(), ordered=False)
            driver = requests_since(before)
            table = cost_table(executor, result, driver)
            maps, reduces = result.stages
    finally:
        executor.close()
    assert maps.s3_requests["PutObject"] == maps.tasks  # one shuffle object per map task
    assert maps.s3_requests["GetObject"] >= maps.tasks  # at least one ranged GET per split
    # A reducer reads each map output once, and writes one result object.
    assert reduces.s3_requests["GetObject"] == maps.tasks * reduces.tasks
    assert reduces.s3_requests["PutObject"] == reduces.tasks
    assert driver["GetObject"] == reduces.tasks  # the driver read the result objects
    expected = s3_request_classes(
        {
            op: maps.s3_requests.get(op, 0) + reduces.s3_requests.get(op, 0) + driver.get(op, 0)
            for op in {*maps.s3_requests, *reduces.s3_requests, *driver}
        }
    )
    assert _row(table, "S3 GET")[1] == f"{expected['get']:,}"
    assert _row(table, "S3 PUT")[1] == f"{expected['put']:,}"
    assert _row(table, "Lambda compute (x86_64)")  # the emulator's configured architecture
    assert "estimated:" not in table  # nothing was assumed


def test_what_is_assumed_is_labelled():
    executor = SimpleNamespace(
        invocations=[{"billed_ms": 1000, "memory_mb": 1024}, {"billed_ms": None}],
        function_configuration=lambda: None,
    )
    stage = StageStats("map", tasks=2, attempts=3, s3_requests={"GetObject": 4})
    table = cost_table(executor, SimpleNamespace(stages=[stage]), {"ListObjectsV2": 1})
    assert "estimated: the function's configuration could not be read" in table
    assert "architecture assumed x86_64" in table
    assert "estimated: S3 requests of 1 failed or duplicate attempt(s) are not counted" in table
    assert "estimated: 1 invocation(s) without a billed duration" in table
    assert _row(table, "S3 GET")[1] == "4" and _row(table, "S3 LIST")[1] == "1"


def test_request_classes_follow_s3_pricing():
    counts = {
        "GetObject": 5,
        "HeadObject": 1,
        "PutObject": 2,
        "UploadPart": 3,
        "CreateMultipartUpload": 1,
        "CompleteMultipartUpload": 1,
        "ListObjectsV2": 4,
        "DeleteObjects": 7,
        "AbortMultipartUpload": 1,
    }
    assert s3_request_classes(counts) == {"get": 6, "put": 7, "list": 4}
