"""Failed and interrupted jobs on S3 and Lambda leave nothing behind: no object, no incomplete
multipart upload, no process.

- A task SIGKILLed in the middle of a multipart upload cannot abort it; its parts are invisible
  to ListObjects. The job's cleanup lists the uploads under the job prefix and aborts them.
- A Lambda invocation cannot be stopped. A task that ends after its job failed (the driver's
  wait for it expired, or a second Ctrl-C ended it) must not write its output again below the
  prefix the driver cleaned: the driver deletes the job's heartbeat first, and the handler
  writes nothing once it is gone.
- A local task whose job was cleaned does not re-create the job folder.
Every wait here is bounded; no test measures time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from processes import finish, start, wait_gone
from s3_server import SeaweedS3
from sqlmr_runtime.errors import JobCancelledError
from sqlmr_runtime.handler import run_task
from sqlmr_runtime.storage import join

from sqlmr.api import QueryOptions, compile_query, resolve_catalog
from sqlmr.aws.lifecycle import (
    current_rules,
    ensure_job_lifecycle,
    job_rule,
    remove_job_lifecycle,
    rule_id,
)
from sqlmr.aws.policy import parse_s3_url
from sqlmr.errors import TaskError
from sqlmr.execution import aws_lambda
from sqlmr.execution.driver import Driver, remove_job
from sqlmr.execution.jobs import HEARTBEAT, new_job_id
from sqlmr.execution.task_inputs import task_event, task_inputs

pytest_plugins = ["s3_server", "lambda_server"]

BOUND = 30.0  # seconds: a bound on every wait, never a measured delay

# A task process that starts a multipart upload, sends one part, says so and waits to be killed.
_UPLOADER = r"""
import sys, threading, time
from sqlmr_runtime import s3
said = threading.Lock()  # parts upload in parallel threads: say it once
s3._MULTIPART_THRESHOLD = 1 << 20
s3._PART_SIZE = 5 << 20
storage = s3.S3Storage()
real = storage.client.upload_part
def upload_part(**kwargs):
    if kwargs["PartNumber"] > 1:
        if said.acquire(blocking=False):
            print("mid-upload", flush=True)
        time.sleep(600)
    return real(**kwargs)
storage.client.upload_part = upload_part
storage.write(sys.argv[1], b"x" * (11 << 20))
"""


def _uploads(seaweed_s3: SeaweedS3, prefix: str) -> list[str]:
    response = seaweed_s3.client().list_multipart_uploads(Bucket=seaweed_s3.bucket, Prefix=prefix)
    return [u["Key"] for u in response.get("Uploads", [])]


def _objects(seaweed_s3: SeaweedS3, prefix: str) -> list[str]:
    """Every key below a prefix, underscore files (the heartbeat) included."""
    pages = seaweed_s3.client().get_paginator("list_objects_v2")
    found = pages.paginate(Bucket=seaweed_s3.bucket, Prefix=prefix)
    return [item["Key"] for page in found for item in page.get("Contents", [])]


def _killed_mid_upload(url: str) -> None:
    """Run _UPLOADER on `url` until it is inside its upload, then SIGKILL it."""
    child = subprocess.Popen(
        [sys.executable, "-c", _UPLOADER, url], stdout=subprocess.PIPE, text=True
    )
    try:
        line = child.stdout.readline()  # the child's own S3 timeouts bound this read
        assert line.strip() == "mid-upload", f"the uploader ended first (exit {child.poll()})"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(BOUND)
        child.stdout.close()
    assert wait_gone([child.pid]) == []


def test_cleanup_aborts_the_upload_of_a_task_killed_mid_upload(seaweed_s3: SeaweedS3):
    store, job, other = seaweed_s3.url("leaks-mpu"), new_job_id(), new_job_id()
    _killed_mid_upload(join(store, job, "00", "map", "00000", "a0", "shuffle.bin"))
    _killed_mid_upload(join(store, other, "00", "map", "00000", "a0", "shuffle.bin"))
    client = seaweed_s3.client()
    client.put_object(Bucket=seaweed_s3.bucket, Key=f"leaks-mpu/{job}/{HEARTBEAT}", Body=b"{}")
    # Invisible to a listing of objects: what a delete by listing alone leaves, billed.
    assert _objects(seaweed_s3, f"leaks-mpu/{job}/") == [f"leaks-mpu/{job}/{HEARTBEAT}"]
    assert len(_uploads(seaweed_s3, f"leaks-mpu/{job}/")) == 1

    remove_job(store, job)

    assert _objects(seaweed_s3, f"leaks-mpu/{job}/") == []
    assert _uploads(seaweed_s3, f"leaks-mpu/{job}/") == []
    # ListMultipartUploads honours Prefix: another job's upload is not touched.
    assert len(_uploads(seaweed_s3, f"leaks-mpu/{other}/")) == 1
    remove_job(store, other)
    assert _uploads(seaweed_s3, "leaks-mpu/") == []


@pytest.fixture(scope="module")
def s3_tables(seaweed_s3: SeaweedS3, amplab_dir: str) -> str:
    return seaweed_s3.upload_tree(amplab_dir, "leaks-amplab")


def _wait_for_call(server, stage: str, task: int) -> dict:
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        calls = [c for c in server.calls if (c["stage"], c["task"]) == (stage, task)]
        if calls:
            return calls[-1]
        time.sleep(0.05)
    raise AssertionError(f"task {stage} {task} never ended")


def test_a_lambda_task_ending_after_its_job_failed_writes_nothing(
    seaweed_s3: SeaweedS3, s3_tables: str, lambda_endpoint, monkeypatch
):
    sql = "SELECT SUBSTR(sourceIP, 1, 8), SUM(adRevenue) FROM uservisits GROUP BY 1"
    store = seaweed_s3.url("leaks-late")
    options = QueryOptions(job_store=store, workers=4, split_size="64KB", reducers=2)
    plan = compile_query(sql, resolve_catalog(s3_tables), options)
    assert len(plan.stages[0].tasks) >= 3
    # Map task 0 fails (no retries); task 1 is slow and ends long after the job failed. The
    # driver's wait for it is cut short, as a second Ctrl-C or an expired bound cuts it.
    lambda_endpoint.fail_matching(stage="map", task=0, error_type="InjectedFault")
    release = lambda_endpoint.hold_matching(stage="map", task=1, bound=BOUND)
    monkeypatch.setattr(aws_lambda.LambdaExecutor, "drain_seconds", 0.1)
    with aws_lambda.LambdaExecutor("sqlmr", concurrency=4, backoff_base=0.01) as executor:
        try:
            with pytest.raises(TaskError) as failed:
                Driver(executor, store, retries=0).run(plan)
            assert "still ran after 0.1 s" in "\n".join(getattr(failed.value, "__notes__", []))
            assert not [c for c in lambda_endpoint.calls if (c["stage"], c["task"]) == ("map", 1)]
        finally:
            release.set()  # task 1 runs only now, after its job failed and was cleaned up
        late = _wait_for_call(lambda_endpoint, "map", 1)
    assert late["outcome"] == "error"
    assert _objects(seaweed_s3, "leaks-late/") == []
    assert _uploads(seaweed_s3, "leaks-late/") == []


def test_a_local_task_of_a_cleaned_job_writes_nothing_and_recreates_nothing(
    amplab_dir: str, tmp_path: Path
):
    store, job = str(tmp_path / "jobs"), new_job_id()
    plan = compile_query(
        "SELECT pageURL FROM rankings WHERE pageRank > 10",
        resolve_catalog(amplab_dir),
        QueryOptions(workers=1),
    )
    stage = plan.stages[0]
    event = task_event(job, store, stage, 0, 0, task_inputs(stage, {}, 1)[0])
    event["heartbeat"] = join(store, job, HEARTBEAT)
    os.makedirs(join(store, job))
    Path(event["heartbeat"]).write_text(json.dumps({"job": job}))
    summary = run_task(dict(event))  # a live job: the task writes its output
    assert Path(summary["output"]["url"]).is_file()

    remove_job(store, job)  # the job failed and was cleaned
    with pytest.raises(JobCancelledError, match="cancelled"):
        run_task(dict(event, attempt=1))
    assert not Path(store, job).exists()


def test_the_lifecycle_backstop_on_a_real_s3_protocol(seaweed_s3: SeaweedS3):
    """SeaweedFS stores and returns the rule as S3 does (whether it enforces expiry or the
    abort of incomplete uploads is not checked here: that takes days)."""
    bucket = "leaks-lifecycle"
    client = seaweed_s3.client()
    client.create_bucket(Bucket=bucket)
    store = parse_s3_url(f"s3://{bucket}/jobs")
    theirs = {"ID": "other", "Status": "Enabled", "Filter": {"Prefix": "logs/"}}
    theirs["Expiration"] = {"Days": 30}
    client.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [theirs]}
    )
    report = SimpleNamespace(dry_run=False, changes=[], unchanged=[])  # what the step uses
    ensure_job_lifecycle(client, report, store, 2)
    assert len(report.changes) == 1
    rules = {r["ID"]: r for r in current_rules(client, bucket)}
    assert rules["other"] == theirs
    assert rules[rule_id(store)] == job_rule(store, 2)
    assert remove_job_lifecycle(client, store)
    assert current_rules(client, bucket) == [theirs]
    client.delete_bucket_lifecycle(Bucket=bucket)
    assert current_rules(client, bucket) == []
    client.delete_bucket(Bucket=bucket)


def test_ctrl_c_twice_ends_a_lambda_query_whose_task_still_runs(
    seaweed_s3: SeaweedS3, s3_tables: str, lambda_endpoint
):
    """The first Ctrl-C cancels the job and waits for its running invocation; the second ends
    the wait: the driver removes the job's objects and exits at once, without waiting for
    Lambda to answer (its invocation threads must not hold the process). The late task then
    writes nothing."""
    store = seaweed_s3.url("leaks-sigint")
    release = lambda_endpoint.hold_matching(stage="map", task=0, bound=2 * BOUND)
    sql = "SELECT SUBSTR(sourceIP, 1, 8), SUM(adRevenue) FROM uservisits GROUP BY 1"
    argv = ["query", sql, "--tables", s3_tables, "--executor", "lambda", "--job-store", store]
    process = start([*argv, "--workers", "2", "--split-size", "64KB", "--format", "csv"])
    try:
        deadline = time.monotonic() + BOUND
        while lambda_endpoint.running < 1 or not any(c["outcome"] for c in lambda_endpoint.calls):
            assert process.poll() is None and time.monotonic() < deadline, "no task ran"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        time.sleep(0.5)  # into the wait for the running invocation (an earlier one works too)
        process.send_signal(signal.SIGINT)
        code, _, err = finish(process, timeout=BOUND)
        # Ended while task 0 is still held: the driver did not wait for Lambda's answer.
        assert not [c for c in lambda_endpoint.calls if (c["stage"], c["task"]) == ("map", 0)]
    finally:
        release.set()
    assert code == 130, (code, err)
    assert err.strip().splitlines()[-1] == "error: interrupted"
    assert _wait_for_call(lambda_endpoint, "map", 0)["outcome"] == "error"
    assert _objects(seaweed_s3, "leaks-sigint/") == []
    assert _uploads(seaweed_s3, "leaks-sigint/") == []
