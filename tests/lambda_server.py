"""A small AWS Lambda for the tests: the Invoke API over HTTP on 127.0.0.1, running the sqlmr
runtime's handler in forked worker processes and answering as Lambda does.

  POST /2015-03-31/functions/{name}/invocations
    200 + the handler's JSON result; header x-amzn-RequestId, X-Amz-Executed-Version
    200 + X-Amz-Function-Error: Unhandled + {"errorMessage", "errorType", "requestId",
        "stackTrace": [lines]} when the handler raises
    200 + X-Amz-Function-Error: Unhandled + {"errorType": "Sandbox.Timedout", "errorMessage":
        "RequestId: … Error: Task timed out after 1.00 seconds"} on a timeout
    X-Amz-Log-Type: Tail -> X-Amz-Log-Result: base64 of the last 4 KB of the log, which ends
        with "REPORT RequestId: …\tDuration: … ms\tBilled Duration: … ms\tMemory Size: … MB\t
        Max Memory Used: … MB\t" (+ "Init Duration: … ms\t" on a worker's first invocation)
    404 ResourceNotFoundException for an unknown function; 413 RequestTooLargeException over
        6 MB; 400 InvalidRequestContentException for a body that is not JSON; 429
        TooManyRequestsException when throttling is injected.
  Errors carry the header x-amzn-ErrorType and a body {"Type": "User", "message": …}.

Faults are injected from the test through methods of the server (thread-safe): throttle_next,
fail_next / fail_matching, timeout_next / timeout_matching. Counters: requests, invocations,
throttled; `calls` records (stage, task, attempt, how it ended, whether the event came by URL).

The workers are forked when the server starts, so the S3 settings must be in the environment
before: the fixture `lambda_server` depends on `seaweed_s3` for that. A test module uses the
fixtures with `pytest_plugins = ["s3_server", "lambda_server"]` (registered once, so one server
serves the session; importing the fixtures into each module would start one per module).
"""

from __future__ import annotations

import base64
import json
import math
import multiprocessing
import re
import threading
import time
import traceback
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

MAX_REQUEST_BYTES = 6_291_456  # Lambda's synchronous request payload limit
MAX_RESPONSE_BYTES = 6_291_456
LOG_TAIL_BYTES = 4096
_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")

# -- the worker side ------------------------------------------------------------------------------

_INIT_MS: float | None = None
_COLD = True


def _worker_init() -> None:
    """Runs once in each worker: what Lambda's Init phase would do."""
    global _INIT_MS
    started = time.perf_counter()
    from sqlmr_runtime.s3 import S3Storage

    S3Storage._shared = None  # a client copied from the parent would share its sockets
    import sqlmr_runtime.handler  # noqa: F401

    _INIT_MS = (time.perf_counter() - started) * 1000


class _Context:
    """The parts of Lambda's context object a handler may use."""

    def __init__(self, request_id: str, function_name: str, memory_mb: int, timeout: float):
        self.aws_request_id = request_id
        self.function_name = function_name
        self.memory_limit_in_mb = memory_mb
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _max_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(
    event: Any,
    request_id: str,
    function_name: str,
    memory_mb: int,
    timeout: float,
    fault: dict[str, str] | None,
) -> dict[str, Any]:
    """Run the handler once in this worker; the result or the error, with duration and memory."""
    global _COLD
    init_ms, _COLD = (_INIT_MS if _COLD else None), False
    from sqlmr_runtime.handler import lambda_handler

    started = time.perf_counter()
    lines: list[str] = []
    try:
        if fault is not None:
            raise type(fault["type"], (Exception,), {})(fault["message"])
        result = lambda_handler(event, _Context(request_id, function_name, memory_mb, timeout))
        out = {"result": result}
        rss = result.get("max_rss_mb") if isinstance(result, dict) else None
    except Exception as e:
        frames = traceback.format_list(traceback.extract_tb(e.__traceback__))
        out = {
            "error": {
                "errorMessage": str(e),
                "errorType": type(e).__name__,
                "requestId": request_id,
                "stackTrace": frames,
            }
        }
        lines.append(f"[ERROR] {type(e).__name__}: {e}")
        lines.append("Traceback (most recent call last):")
        lines.extend(f.rstrip("\n") for f in frames)
        rss = None
    out["duration_ms"] = (time.perf_counter() - started) * 1000
    out["init_ms"] = init_ms
    out["max_rss_mb"] = rss if rss is not None else _max_rss_mb()
    out["log"] = lines
    return out


# -- the server side ------------------------------------------------------------------------------


@dataclass
class Fault:
    """An injected failure: for invocations matching stage/task/attempt (None matches any),
    `remaining` times (None: every time). kind is "error" or "timeout"."""

    kind: str
    remaining: int | None
    stage: str | None = None
    task: int | None = None
    attempt: int | None = None
    error_type: str = "InjectedFault"
    message: str = "injected failure"

    def matches(self, ident: tuple[str | None, int | None, int | None]) -> bool:
        stage, task, attempt = ident
        return (
            (self.stage is None or self.stage == stage)
            and (self.task is None or self.task == task)
            and (self.attempt is None or self.attempt == attempt)
        )


class LambdaServer:
    """The Invoke API of Lambda for the sqlmr runtime, on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        functions: tuple[str, ...] = ("sqlmr",),
        workers: int = 2,
        memory_mb: int = 1536,
        timeout: float = 900.0,
    ):
        self.functions = set(functions)
        self.workers = workers
        self.memory_mb = memory_mb
        self.timeout = timeout  # the function's timeout: a longer run is reported as timed out
        self.simulated_timeout = 1.0  # what an injected timeout reports (and waits)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> LambdaServer:
        self._pool = self._new_pool()  # fork before this process starts the server's threads
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        server.daemon_threads = True
        self._http = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="lambda-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> LambdaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        assert self._http is not None, "the server is not running"
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_worker_init,
        )
        pool.submit(int).result()  # a fork pool starts all its workers on the first task
        return pool

    # -- fault injection and counters (thread-safe) -----------------------------------------

    def reset(self) -> None:
        """No faults, counters at zero."""
        with self._lock:
            self._throttle = 0
            self._faults: list[Fault] = []
            self.requests = 0  # every Invoke request
            self.invocations = 0  # requests that reached the function
            self.throttled = 0
            self.calls: list[dict[str, Any]] = []

    def throttle_next(self, n: int) -> None:
        """Answer the next n Invoke requests with 429 TooManyRequestsException."""
        with self._lock:
            self._throttle += n

    def fail_next(
        self, n: int = 1, error_type: str = "InjectedFault", message: str = "injected failure"
    ) -> None:
        """Make the next n invocations raise error_type(message) in the handler."""
        self._add(Fault("error", n, error_type=error_type, message=message))

    def fail_matching(
        self,
        stage: str | None = None,
        task: int | None = None,
        attempt: int | None = None,
        times: int | None = None,
        error_type: str = "InjectedFault",
        message: str = "injected failure",
    ) -> None:
        """Make matching invocations raise, `times` times (None: always)."""
        self._add(Fault("error", times, stage, task, attempt, error_type, message))

    def timeout_next(self, n: int = 1) -> None:
        """Make the next n invocations time out after `simulated_timeout` seconds."""
        self._add(Fault("timeout", n))

    def timeout_matching(
        self,
        stage: str | None = None,
        task: int | None = None,
        attempt: int | None = None,
        times: int | None = None,
    ) -> None:
        self._add(Fault("timeout", times, stage, task, attempt))

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_throttle(self) -> bool:
        with self._lock:
            self.requests += 1
            if self._throttle > 0:
                self._throttle -= 1
                self.throttled += 1
                return True
            self.invocations += 1
            return False

    def _take_fault(self, ident: tuple) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(ident):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def _record(self, ident: tuple, outcome: str, by_url: bool, request_id: str) -> None:
        stage, task, attempt = ident
        with self._lock:
            self.calls.append(
                {
                    "stage": stage,
                    "task": task,
                    "attempt": attempt,
                    "outcome": outcome,
                    "by_url": by_url,
                    "request_id": request_id,
                }
            )

    # -- one invocation ---------------------------------------------------------------------

    def invoke(self, function_name: str, event: Any, request_id: str) -> tuple[dict, dict, str]:
        """Run one invocation: (headers, payload, log text)."""
        by_url = isinstance(event, dict) and set(event) == {"event_url"}
        ident = _identity(event)
        fault = self._take_fault(ident)
        log = [f"START RequestId: {request_id} Version: $LATEST"]
        if fault is not None and fault.kind == "timeout":
            time.sleep(self.simulated_timeout)
            self._record(ident, "timeout", by_url, request_id)
            return self._timed_out(request_id, self.simulated_timeout, log, None)
        assert self._pool is not None, "the server is not running"
        spec = {"type": fault.error_type, "message": fault.message} if fault else None
        args = (event, request_id, function_name, self.memory_mb, self.timeout, spec)
        started = time.perf_counter()
        try:
            future = self._pool.submit(_run, *args)
            out = future.result(timeout=self.timeout)
        except FutureTimeout:
            self._record(ident, "timeout", by_url, request_id)
            return self._timed_out(request_id, time.perf_counter() - started, log, None)
        except BrokenProcessPool as e:
            with self._lock:
                self._pool = self._new_pool()
            self._record(ident, "crashed", by_url, request_id)
            error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited unexpectedly: {e}",
            }
            return self._finish(request_id, error, log, 0.0, None, 0.0, error=True)
        log.extend(out["log"])
        if "error" in out:
            self._record(ident, "error", by_url, request_id)
            return self._finish(
                request_id,
                out["error"],
                log,
                out["duration_ms"],
                out["init_ms"],
                out["max_rss_mb"],
                error=True,
            )
        payload = out["result"]
        if len(json.dumps(payload)) > MAX_RESPONSE_BYTES:
            self._record(ident, "error", by_url, request_id)
            error = {
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                f"({MAX_RESPONSE_BYTES} bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
            return self._finish(
                request_id,
                error,
                log,
                out["duration_ms"],
                out["init_ms"],
                out["max_rss_mb"],
                error=True,
            )
        self._record(ident, "ok", by_url, request_id)
        return self._finish(
            request_id, payload, log, out["duration_ms"], out["init_ms"], out["max_rss_mb"]
        )

    def _timed_out(self, request_id: str, seconds: float, log: list[str], init_ms):
        message = f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds"
        error = {"errorType": "Sandbox.Timedout", "errorMessage": message}
        return self._finish(
            request_id,
            error,
            log,
            seconds * 1000,
            init_ms,
            _max_rss_mb(),
            error=True,
            status="timeout",
        )

    def _finish(
        self,
        request_id: str,
        payload: Any,
        log: list[str],
        duration_ms: float,
        init_ms: float | None,
        max_rss_mb: float,
        error: bool = False,
        status: str | None = None,
    ) -> tuple[dict, Any, str]:
        log.append(f"END RequestId: {request_id}")
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {max(1, math.ceil(duration_ms))} ms\t"
            f"Memory Size: {self.memory_mb} MB\tMax Memory Used: {max(1, round(max_rss_mb))} MB\t"
        )
        if init_ms is not None:
            report += f"Init Duration: {init_ms:.2f} ms\t"
        if status is not None:
            report += f"Status: {status}"
        log.append(report)
        headers = {"X-Amz-Function-Error": "Unhandled"} if error else {}
        return headers, payload, "\n".join(log) + "\n"


def _identity(event: Any) -> tuple[str | None, int | None, int | None]:
    """(stage id, task, attempt) of a task event, reading an event passed by URL."""
    if isinstance(event, dict) and set(event) == {"event_url"}:
        try:
            from sqlmr_runtime.storage import storage_for

            url = event["event_url"]
            event = json.loads(storage_for(url).read(url))
        except Exception:  # noqa: BLE001 - the handler will report it
            return (None, None, None)
    try:
        return (event["stage"]["id"], int(event["task"]), int(event["attempt"]))
    except (KeyError, TypeError, ValueError):
        return (None, None, None)


def _function_name(raw: str) -> str:
    """The name in a function name, ARN or partial ARN (with an optional :qualifier)."""
    name = unquote(raw)
    if ":function:" in name:
        name = name.split(":function:", 1)[1]
    return name.split(":", 1)[0]


def _handler_class(server: LambdaServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as botocore expects

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, kind: str, message: str, request_id: str) -> None:
            body = json.dumps({"Type": "User", "message": message}).encode()
            self._send(status, body, {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": kind})

        def do_POST(self) -> None:  # noqa: N802
            request_id = str(uuid.uuid4())
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            found = _PATH.match(urlsplit(self.path).path)
            if not found:
                self._error(404, "UnknownOperationException", "Unknown operation", request_id)
                return
            name = _function_name(found.group("name"))
            if name not in server.functions:
                message = (
                    f"Function not found: arn:aws:lambda:us-east-1:123456789012:function:{name}"
                )
                self._error(404, "ResourceNotFoundException", message, request_id)
                return
            if len(body) > MAX_REQUEST_BYTES:
                message = (
                    f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the "
                    "InvokeFunction operation"
                )
                self._error(413, "RequestTooLargeException", message, request_id)
                return
            kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
            if kind != "RequestResponse":
                message = f"this test server runs only RequestResponse invocations, not {kind}"
                self._error(400, "InvalidParameterValueException", message, request_id)
                return
            if server._take_throttle():
                body = json.dumps(
                    {
                        "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                        "Type": "User",
                        "message": "Rate Exceeded.",
                    }
                ).encode()
                headers = {
                    "x-amzn-RequestId": request_id,
                    "x-amzn-ErrorType": "TooManyRequestsException",
                }
                self._send(429, body, headers)
                return
            try:
                event = json.loads(body or b"{}")
            except ValueError as e:
                message = f"Could not parse request body into json: {e}"
                self._error(400, "InvalidRequestContentException", message, request_id)
                return
            headers, payload, log = server.invoke(name, event, request_id)
            headers["x-amzn-RequestId"] = request_id
            headers["X-Amz-Executed-Version"] = "$LATEST"
            if self.headers.get("X-Amz-Log-Type") == "Tail":
                tail = log.encode()[-LOG_TAIL_BYTES:]
                headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode()
            self._send(200, json.dumps(payload).encode(), headers)

    return Handler


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def lambda_server(seaweed_s3):
    """The session's Lambda server, its workers forked with the SeaweedFS settings in the
    environment; AWS_ENDPOINT_URL_LAMBDA points at it for the session."""
    server = LambdaServer().start()
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_ENDPOINT_URL_LAMBDA", server.endpoint)
            yield server
    finally:
        server.stop()


@pytest.fixture
def lambda_endpoint(lambda_server: LambdaServer):
    """The Lambda server with no faults and zeroed counters for this test."""
    lambda_server.reset()
    yield lambda_server
    lambda_server.reset()
