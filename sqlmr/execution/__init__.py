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
) -> Executor:
    """The executor a command line asked for."""
    if kind == "local":
        return LocalExecutor(workers, task_memory, task_timeout)
    if kind != "lambda":
        raise UsageError(f"unknown executor {kind!r}; use local or lambda")
    if not (job_store or "").startswith("s3://"):
        raise UsageError("--executor lambda needs --job-store s3://bucket/prefix for intermediates")
    from sqlmr.execution.aws_lambda import LambdaExecutor

    payload_store = job_store.rstrip("/") + "/events"
    return LambdaExecutor(function_name, concurrency, region, profile, endpoint_url, payload_store)


def cost_table(executor: Any, result: Any) -> str:
    """The reference architecture's cost table for a finished Lambda job."""
    from sqlmr.planning.cost import estimate, format_cost_table, lambda_cost

    s3 = estimate(result.plan.to_json())["s3"]
    report = lambda_cost(
        executor.invocations,
        "x86_64",
        s3_get=s3.get("get", 0),
        s3_put=s3.get("put", 0),
        s3_list=s3.get("list", 0),
    )
    return format_cost_table(report)
