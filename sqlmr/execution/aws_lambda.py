"""The AWS Lambda executor: every task is one synchronous invocation of the sqlmr function.

Invocations run on a bounded pool of threads. How many run at once starts at the requested
concurrency capped by the function's reserved or the account's unreserved concurrency, halves
on throttling and grows again as invocations finish (lambda_concurrency). Throttling (429) is
retried for as long as the job makes progress; transient service or network errors are retried
a bounded number of times, with full-jitter exponential backoff: they say nothing about the task.
A function error (the handler raised, ran out of memory or timed out) is returned as an error
outcome with the remote type, message and trace, and the driver decides whether to run the task
again; a timeout or running out of memory is final (the same settings would fail the same way)
and its message names the flag to change. An S3 AccessDenied within two minutes of the
function's last deployment is retried here: IAM needs seconds to propagate a new policy. An
event over Lambda's 6 MB request limit is written to the payload store and the invocation
carries only its URL.

With a tracer bound (bind_tracer), each Invoke carries the X-Amzn-Trace-Id of the driver's
stage, so the function's subsegments join the driver's trace.

The tail of each invocation's log (LogType=Tail) ends with Lambda's REPORT line; its durations
and memory figures are kept in `invocations` for the cost report and attached to the summary.
Credentials come from boto3's standard chain (or the named profile) and never appear in
messages.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import threading
import time
from concurrent.futures import Future
from typing import Any

from sqlmr_runtime.errors import is_retryable
from sqlmr_runtime.s3 import error_code

from sqlmr.defaults import LAMBDA_CONCURRENCY
from sqlmr.errors import UsageError
from sqlmr.execution.daemon_pool import DaemonPool
from sqlmr.execution.executor import Outcome, error_outcome, failure
from sqlmr.execution.lambda_concurrency import AdaptiveLimit, concurrency_cap

log = logging.getLogger(__name__)

# Lambda refuses synchronous request payloads over 6 MB (6,291,456 bytes); keep a margin.
MAX_PAYLOAD_BYTES = 6_000_000
# Lambda's longest timeout is 900 s; the read timeout must outlast it.
READ_TIMEOUT_SECONDS = 960
CONNECT_TIMEOUT_SECONDS = 10
# After the function's timeout, how long a failing driver still waits for an invocation's answer.
DRAIN_MARGIN_SECONDS = 30

# Errors that say nothing about the task: Lambda could not (yet) run it.
_RETRYABLE_CODES = {
    "TooManyRequestsException",
    "ServiceException",
    "EC2ThrottledException",
    "ResourceNotReadyException",
    "ResourceConflictException",  # the function is being updated
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeoutException",
}

# REPORT line fields: name -> (key, type).
_REPORT_FIELDS = {
    "Duration": ("duration_ms", float),
    "Billed Duration": ("billed_ms", int),
    "Memory Size": ("memory_mb", int),
    "Max Memory Used": ("max_memory_used_mb", int),
    "Init Duration": ("init_ms", float),
}


def parse_report(log_text: str) -> dict[str, Any] | None:
    """The figures of the last REPORT line of a Lambda log, or None without one.

    A REPORT line is tab-separated "Name: value unit" fields, e.g.
    "REPORT RequestId: 7c…\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 1536 MB\t
    Max Memory Used: 180 MB\tInit Duration: 250.01 ms\t". Keys: request_id, duration_ms,
    billed_ms, memory_mb, max_memory_used_mb, init_ms (None unless a cold start), status
    (e.g. "timeout", else None).
    """
    lines = [ln for ln in log_text.splitlines() if ln.startswith("REPORT ")]
    if not lines:
        return None
    report: dict[str, Any] = {key: None for key, _ in _REPORT_FIELDS.values()}
    report.update(request_id=None, status=None)
    for field in lines[-1][len("REPORT ") :].split("\t"):
        name, sep, value = field.strip().partition(": ")
        if not sep:
            continue
        if name == "RequestId":
            report["request_id"] = value.strip()
        elif name == "Status":
            report["status"] = value.strip()
        elif name in _REPORT_FIELDS:
            key, kind = _REPORT_FIELDS[name]
            number = value.split()[0] if value.split() else ""
            try:
                report[key] = kind(float(number)) if kind is int else kind(number)
            except ValueError:
                pass
    return report


def _task_id(event: dict[str, Any]) -> str:
    try:
        return f"{event['stage']['id']}-{int(event['task']):05d}-a{int(event['attempt'])}"
    except (KeyError, TypeError, ValueError):
        return "unknown"


def _stack_trace(value: Any) -> str:
    if isinstance(value, list):
        return "".join(line if line.endswith("\n") else line + "\n" for line in map(str, value))
    return "" if value is None else str(value)


def _function_error(kind: str, payload: bytes) -> dict[str, Any]:
    """The error outcome of a function error (X-Amz-Function-Error), from Lambda's payload."""
    try:
        body = json.loads(payload)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = payload.decode("utf-8", "replace")
        return {"errorType": kind or "Unhandled", "errorMessage": text, "stackTrace": ""}
    message = str(body.get("errorMessage", ""))
    error_type = body.get("errorType")
    if not error_type:
        # Older runtimes report a timeout with a bare message.
        error_type = "Sandbox.Timedout" if "Task timed out after" in message else kind
    return {
        "errorType": str(error_type or "Unhandled"),
        "errorMessage": message,
        "stackTrace": _stack_trace(body.get("stackTrace")),
    }


_THROTTLED = {"TooManyRequestsException", "ThrottlingException", "EC2ThrottledException"}
# Errors the same settings would repeat: their outcomes are not retryable.
TIMED_OUT, OUT_OF_MEMORY = "Sandbox.Timedout", "Runtime.OutOfMemory"


def _explain_limits(error: dict[str, Any], report: dict[str, Any] | None) -> dict[str, Any]:
    """A timeout or out-of-memory error, with the flags that change the limit it hit."""
    memory = (report or {}).get("memory_mb")
    if error["errorType"] == TIMED_OUT:
        advice = (
            "the task ran past the function's timeout; give the query a smaller --split-size "
            "(or --task-memory), or redeploy with a longer --timeout (at most 900 s)"
        )
    elif error["errorType"] == OUT_OF_MEMORY:
        size = f"{memory} MB" if memory else "memory"
        advice = (
            f"the task needed more than the function's {size}; redeploy with a larger "
            "--memory, or give the query a smaller --task-memory or --split-size"
        )
    else:
        return error
    return {**error, "errorMessage": f"{advice} (Lambda: {error['errorMessage']})"}


# An older runtime refuses a newer plan by its version (runtime/validate.py's wording).
_VERSION_REFUSED = re.compile(r"version (\d+) is not supported \(this runtime reads (\d+)\)")


def _explain_version(error: dict[str, Any]) -> dict[str, Any]:
    """A function deployed from another sqlmr release refuses this plan's version: say that the
    function must be deployed again, which is what fixes it (retrying cannot)."""
    found = _VERSION_REFUSED.search(error["errorMessage"])
    if not found:
        return error
    sent, reads = found.groups()
    message = (
        f"the deployed function runs another sqlmr runtime (it reads plan version {reads}; this "
        f"sqlmr writes {sent}); run `sqlmr deploy` again to update it"
    )
    return {**error, "errorMessage": message, "retryable": False}


def _epoch(stamp: str | None) -> float | None:
    """Lambda's LastModified ("2024-01-31T12:00:00.000+0000") in epoch seconds."""
    from datetime import datetime

    try:
        return datetime.strptime(stamp or "", "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        return None


class _Retryable(Exception):
    """An invocation that did not run the task and may be tried again."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class LambdaExecutor:
    """Runs tasks as synchronous invocations of an AWS Lambda function."""

    def __init__(
        self,
        function_name: str = "sqlmr",
        concurrency: int = LAMBDA_CONCURRENCY,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        payload_store: str | None = None,
        *,
        max_attempts: int = 8,
        backoff_base: float = 0.2,
        backoff_cap: float = 20.0,
        stall_seconds: float = 300.0,
        iam_grace_seconds: float = 120.0,
    ):
        import boto3
        from botocore.config import Config

        if concurrency < 1:
            raise UsageError(f"--concurrency must be at least 1, not {concurrency}")
        self.function_name = function_name
        self.payload_store = payload_store
        self.max_attempts = max(1, max_attempts)
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        session = boto3.session.Session(profile_name=profile, region_name=region)
        config = Config(
            max_pool_connections=max(concurrency, 10),
            read_timeout=READ_TIMEOUT_SECONDS,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            retries={"total_max_attempts": 1},  # retried here, with backoff, per invocation
            tcp_keepalive=True,
        )
        # Without endpoint_url, boto3 honours AWS_ENDPOINT_URL_LAMBDA and AWS_ENDPOINT_URL.
        self.client = session.client("lambda", endpoint_url=endpoint_url, config=config)
        self.client.meta.events.register("before-sign.lambda.Invoke", self._add_trace_header)
        self._session, self._endpoint_url = session, endpoint_url
        self._control: Any = None  # see _control_client
        cap = concurrency_cap(self.client, function_name)
        self.workers = min(concurrency, cap) if cap else concurrency
        self.limit = AdaptiveLimit(self.workers, stall_seconds)
        self.iam_grace_seconds = iam_grace_seconds
        self.invocations: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._tracer: Any = None
        self._deployed_at: float | None = None
        self._pool = DaemonPool(self.workers, "sqlmr-lambda")

    # -- the executor interface -------------------------------------------------------------

    def submit(self, event: dict[str, Any]) -> Future[Outcome]:
        # The header is taken here, in the driver's thread, inside the stage's subsegment.
        header = self._tracer.trace_header() if self._tracer is not None else None
        return self._pool.submit(self._run, event, header)

    def bind_tracer(self, tracer: Any) -> None:
        """Send the tracer's current trace header with each Invoke (X-Ray joins the traces)."""
        self._tracer = tracer

    def _add_trace_header(self, request: Any, **_: Any) -> None:
        header = getattr(self._local, "trace_header", None)
        if header:
            request.headers["X-Amzn-Trace-Id"] = header

    def close(self) -> None:
        self._pool.shutdown()

    @property
    def drain_seconds(self) -> float:
        """How long a failing driver waits for running invocations (which nothing can stop)
        before it removes the job's objects: the function's timeout and a margin for the
        Invoke's answer; Lambda's longest timeout when the configuration cannot be read."""
        timeout = (self.function_configuration() or {}).get("timeout")
        return float(timeout) + DRAIN_MARGIN_SECONDS if timeout else float(READ_TIMEOUT_SECONDS)

    def __enter__(self) -> LambdaExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one task ---------------------------------------------------------------------------

    def _run(self, event: dict[str, Any], trace_header: str | None = None) -> Outcome:
        task_id = _task_id(event)
        spilled = None
        self._local.trace_header = trace_header
        try:
            payload = json.dumps(event, separators=(",", ":")).encode()
            if len(payload) > MAX_PAYLOAD_BYTES:
                spilled = self._spill(event, payload)
                payload = json.dumps({"event_url": spilled[1]}).encode()
            return self._invoke(task_id, payload)
        except _Retryable as e:
            return failure(e.kind, str(e), retryable=True)
        except PayloadTooLargeError as e:
            return failure("PayloadTooLargeError", str(e), retryable=False)
        except Exception as e:  # noqa: BLE001 - every failure becomes an outcome
            return error_outcome(e, "InvokeError")
        finally:
            if spilled is not None:
                self._unspill(spilled[0])

    def _spill(self, event: dict[str, Any], payload: bytes) -> tuple[str, str]:
        """Write an oversized event to the payload store: (its folder, its URL)."""
        from sqlmr_runtime.storage import join, storage_for

        if not self.payload_store:
            raise PayloadTooLargeError(
                f"task {_task_id(event)}: its event is {len(payload):,} bytes, over Lambda's "
                f"{MAX_PAYLOAD_BYTES:,}-byte request limit, and no payload store is configured "
                "(pass payload_store='s3://bucket/prefix')"
            )
        folder = join(self.payload_store, str(event.get("job", "job")), _task_id(event))
        url = join(folder, "event.json")
        storage_for(url).write(url, payload)
        return folder, url

    @staticmethod
    def _unspill(folder: str) -> None:
        from sqlmr_runtime.storage import storage_for

        try:
            storage_for(folder).delete_prefix(folder)
        except Exception as e:  # noqa: BLE001 - a leftover event object is harmless
            log.warning("could not delete %s: %s", folder, e)

    def _invoke(self, task_id: str, payload: bytes) -> Outcome:
        """Invoke until Lambda runs the task: throttling is retried while the job progresses,
        other transient failures max_attempts times, AccessDenied during IAM propagation."""
        tries = failures = 0
        while True:
            tries += 1
            self.limit.acquire()
            throttled = False
            try:
                response = self._call(payload)
            except _Retryable as e:
                throttled = e.kind in _THROTTLED
                failures += 0 if throttled else 1
                if (throttled and self.limit.stalled()) or failures >= self.max_attempts:
                    why = (
                        f"throttled with no invocation finishing for {self.limit.stall_seconds:g} s"
                        if throttled
                        else f"gave up after {self.max_attempts} attempts"
                    )
                    raise _Retryable(e.kind, f"{e} ({why})") from None
                self._backoff(task_id, e.kind, tries)
                continue
            finally:
                self.limit.release(throttled)
            outcome = self._outcome(task_id, response, tries)
            if not self._iam_propagating(outcome):
                return outcome
            self._backoff(task_id, "AccessDenied right after a deployment", tries)

    def _backoff(self, task_id: str, why: str, tries: int) -> None:
        cap = min(self.backoff_cap, self.backoff_base * 2 ** min(tries - 1, 20))
        delay = random.uniform(0, cap)
        log.debug("task %s: %s; retrying in %.2f s", task_id, why, delay)
        time.sleep(delay)

    def _iam_propagating(self, outcome: Outcome) -> bool:
        """True for an S3 AccessDenied within iam_grace_seconds of the function's last update:
        a policy deploy just changed may not have reached S3 yet."""
        message = outcome.get("error", {}).get("errorMessage", "")
        if "(AccessDenied)" not in message:
            return False
        if self._deployed_at is None:
            config = self.function_configuration() or {}
            self._deployed_at = config.get("last_modified") or 0.0
        return time.time() - self._deployed_at < self.iam_grace_seconds

    def _call(self, payload: bytes) -> dict[str, Any]:
        """One Invoke request; its response with the payload read, or _Retryable."""
        from botocore.exceptions import (
            ClientError,
            HTTPClientError,
            ResponseStreamingError,
        )
        from botocore.exceptions import ConnectionError as BotoConnectionError

        try:
            response = self.client.invoke(
                FunctionName=self.function_name,
                InvocationType="RequestResponse",
                LogType="Tail",
                Payload=payload,
            )
            response["Payload"] = response["Payload"].read()
            return response
        except ClientError as e:
            code = error_code(e)
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in _RETRYABLE_CODES or status == 429 or status >= 500:
                raise _Retryable(code or f"HTTP{status}", str(e)) from None
            raise
        except (BotoConnectionError, HTTPClientError, ResponseStreamingError) as e:
            # Connection refused or reset, read timeout: the request may be sent again.
            raise _Retryable(type(e).__name__, str(e)) from None

    def _outcome(self, task_id: str, response: dict[str, Any], tries: int) -> Outcome:
        report = None
        if response.get("LogResult"):
            try:
                text = base64.b64decode(response["LogResult"]).decode("utf-8", "replace")
                report = parse_report(text)
            except ValueError:
                report = None
        record = {
            "task_id": task_id,
            "request_id": response.get("ResponseMetadata", {}).get("RequestId"),
            "duration_ms": None,
            "billed_ms": None,
            "memory_mb": None,
            "max_memory_used_mb": None,
            "init_ms": None,
            "status": None,
            **{k: v for k, v in (report or {}).items() if v is not None},
            "tries": tries,  # Invoke requests made, throttled ones included
            "error": response.get("FunctionError"),
        }
        with self._lock:
            self.invocations.append(record)
        payload = response.get("Payload") or b""
        if response.get("FunctionError"):
            error = _function_error(response["FunctionError"], payload)
            # Lambda reports the runtime's error by its type name: retryable as that type is,
            # but a timeout or out-of-memory would recur with the same settings.
            final = error["errorType"] in (TIMED_OUT, OUT_OF_MEMORY)
            error["retryable"] = is_retryable(error["errorType"]) and not final
            return {"error": _explain_version(_explain_limits(error, report))}
        try:
            summary = json.loads(payload)
        except ValueError:
            summary = None
        if not isinstance(summary, dict):
            text = payload[:200].decode("utf-8", "replace")
            return {
                "error": {
                    "errorType": "InvokeError",
                    "errorMessage": f"task {task_id}: the function returned no summary: {text!r}",
                    "stackTrace": "",
                    "retryable": True,
                }
            }
        summary["lambda"] = {k: v for k, v in record.items() if k not in ("task_id", "error")}
        return {"result": summary}

    # -- the cost report ----------------------------------------------------------------------

    def function_configuration(self) -> dict[str, Any] | None:
        """The function's architecture, memory and last deployment (epoch seconds) from
        GetFunctionConfiguration, or None when it cannot be read (the cost table then says what
        it assumed; an AccessDenied is then not retried as IAM propagation)."""
        try:
            config = self._control_client().get_function_configuration(
                FunctionName=self.function_name
            )
        except Exception as e:  # noqa: BLE001 - a cost table is no reason to fail a finished job
            log.debug("GetFunctionConfiguration: %s", e)
            return None
        return {
            "arch": (config.get("Architectures") or ["x86_64"])[0],
            "memory_mb": config.get("MemorySize"),
            "last_modified": _epoch(config.get("LastModified")),
            "timeout": config.get("Timeout"),
        }

    def _control_client(self) -> Any:
        """A Lambda client for small control-plane reads, with short timeouts: the Invoke
        client's read timeout outlasts a 15-minute invocation, and a failing driver reads the
        configuration (drain_seconds) before it cleans up, so a stalled endpoint must not
        hold that cleanup for 16 minutes."""
        if self._control is None:
            from botocore.config import Config

            config = Config(connect_timeout=5, read_timeout=10, retries={"total_max_attempts": 2})
            self._control = self._session.client(
                "lambda", endpoint_url=self._endpoint_url, config=config
            )
        return self._control

    def billed_gb_seconds(self) -> float:
        """Billed duration times memory over every invocation so far, in GB-seconds."""
        with self._lock:
            records = list(self.invocations)
        return sum((r["billed_ms"] or 0) / 1000 * (r["memory_mb"] or 0) / 1024 for r in records)


class PayloadTooLargeError(Exception):
    """A task event is over Lambda's request limit and there is nowhere to put it."""
