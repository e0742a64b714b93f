"""Executors run task events: locally in a process pool, or on AWS Lambda."""

from __future__ import annotations

from typing import Any

from sqlmr.errors import UsageError
from sqlmr.execution.executor import Executor, Outcome
from sqlmr.execution.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "Outcome", "cost_table", "make_executor"]


def make_executor(
    kind: str,
    *,
    workers: int | None = None,
    function_name: str = "sqlmr",
    concurrency: int = 100,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    job_store: str | None = None,
    task_memory: int | None = None,
    task_timeout: float | None = None,
    converting: bool = True,
) -> Executor:
    """The executor a command line asked for (`converting`: see LocalExecutor)."""
    if kind == "local":
        return LocalExecutor(workers, task_memory, task_timeout, converting)
    if kind != "lambda":
        raise UsageError(f"unknown executor {kind!r}; use local or lambda")
    if not (job_store or "").startswith("s3://"):
        raise UsageError("--executor lambda needs --job-store s3://bucket/prefix for intermediates")
    from sqlmr.execution.aws_lambda import LambdaExecutor

    payload_store = job_store.rstrip("/") + "/events"
    return LambdaExecutor(function_name, concurrency, region, profile, endpoint_url, payload_store)


def cost_table(executor: Any, result: Any, driver_requests: dict[str, int] | None = None) -> str:
    """The reference architecture's cost table for a finished Lambda job: compute from the
    invocations' REPORT lines at the architecture and memory the function is configured with,
    S3 requests as the tasks counted them plus `driver_requests`, the driver's own (listing the
    inputs, reading the result: storage.requests_since); what is assumed says so."""
    from sqlmr.planning.cost import format_cost_table, lambda_cost, s3_request_classes

    estimated = []
    config = executor.function_configuration()
    if config is None:
        config = {"arch": "x86_64", "memory_mb": None}
        estimated.append(
            "the function's configuration could not be read (lambda:GetFunctionConfiguration): "
            "architecture assumed x86_64"
        )
    counts: dict[str, int] = dict(driver_requests or {})
    for stage in result.stages:
        for operation, n in stage.s3_requests.items():
            counts[operation] = counts.get(operation, 0) + n
    retried = sum(stage.attempts - stage.tasks for stage in result.stages)
    if retried > 0:
        estimated.append(
            f"S3 requests of {retried:,} failed or duplicate attempt(s) are not counted"
        )
    s3 = s3_request_classes(counts)
    report = lambda_cost(
        executor.invocations,
        config["arch"],
        s3_get=s3["get"],
        s3_put=s3["put"],
        s3_list=s3["list"],
        memory_mb=config["memory_mb"],
    )
    report.estimated[:0] = estimated
    return format_cost_table(report)
