"""A small AWS Lambda for the tests: the Invoke API over HTTP on 127.0.0.1, running the handler
from the artifact `sqlmr deploy` ships, in fresh interpreters, and answering as Lambda does.

What runs: the exact code zip `sqlmr.aws.build_package` builds, plus the contents of the layer
`sqlmr.aws.layer.build_layer` builds (from the distributions installed here: same staging, trim
and zip code as deploy, only the wheels' source differs), plus a folder standing in for what the
Lambda Python runtime provides (/var/runtime: boto3, botocore and their dependencies). Each
worker is a new `python -I -S` process whose sys.path holds only those and the standard library,
never this checkout or the developer's site-packages. Extra layer folders (e.g. one whose
sitecustomize makes pyarrow lack LZ4 and ZSTD) go before the main layer, as Lambda orders them.

  POST /2015-03-31/functions/{name}/invocations
    200 + the handler's JSON result; header x-amzn-RequestId, X-Amz-Executed-Version
    200 + X-Amz-Function-Error: Unhandled + {"errorMessage", "errorType", "requestId",
        "stackTrace": [lines]} when the handler raises (Runtime.ImportModuleError when the
        handler cannot be imported)
    200 + X-Amz-Function-Error: Unhandled + {"errorType": "Sandbox.Timedout", "errorMessage":
        "RequestId: … Error: Task timed out after 1.00 seconds"} on a timeout (the worker is
        killed and replaced, as Lambda resets the sandbox); Runtime.OutOfMemory when injected
    X-Amz-Log-Type: Tail -> X-Amz-Log-Result: base64 of the last 4 KB of the log, ending with
        the REPORT line (+ "Init Duration" on a worker's first invocation)
    X-Amzn-Trace-Id on the request: the invocation's _X_AMZN_TRACE_ID is a child of it, and the
        function's X-Ray documents (UDP, as to the X-Ray daemon) are collected in `segments`
    404 ResourceNotFoundException; 413 RequestTooLargeException over 6 MB; 400
        InvalidRequestContentException; 429 TooManyRequestsException when throttling is injected
        or more invocations than `reserved` run at once.
  GET /2016-08-19/account-settings/ -> AccountLimit/AccountUsage (UnreservedConcurrentExecutions)
  GET /2019-09-30/functions/{name}/concurrency -> ReservedConcurrentExecutions (if set)
  GET /2015-03-31/functions/{name}/configuration -> MemorySize, Timeout, LastModified, …

Faults are injected through methods of the server (thread-safe): throttle_next, fail_next /
fail_matching, timeout_next / timeout_matching, oom_matching, delay_matching (a slow task),
hold_matching (a task held until the test releases it).
Counters: requests, invocations, throttled, peak (most invocations at once); `calls` records
(stage, task, attempt, outcome, by_url).
"""

from __future__ import annotations

import base64
import json
import math
import os
import queue
import re
import select
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

MAX_REQUEST_BYTES = 6_291_456  # Lambda's synchronous request payload limit
MAX_RESPONSE_BYTES = 6_291_456
LOG_TAIL_BYTES = 4096
HANDLER = "sqlmr_runtime.handler.lambda_handler"
# What the Lambda Python runtime holds besides the standard library (/var/runtime).
RUNTIME_DISTRIBUTIONS = (
    "boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3",
)  # fmt: skip
_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
_CONCURRENCY = re.compile(r"^/2019-09-30/functions/(?P<name>[^/]+)/concurrency$")
_CONFIGURATION = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/configuration$")

# -- the worker: a fresh interpreter running Lambda's runtime loop ------------------------------

# Run with `python -I -S -c`: no site, no PYTHON* variables, no script folder on sys.path.
_BOOTSTRAP = r"""
import importlib, importlib.util, json, os, sys, time, traceback
config = json.loads(sys.argv[1])
sys.path[0:0] = config["path"]
reply = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # what the handler prints goes to the log, not to the reply pipe
started = time.perf_counter()
init_error = None
try:
    if importlib.util.find_spec("sitecustomize") is not None:
        import sitecustomize  # what `site` would do on Lambda, where the layer is on PYTHONPATH
    module, _, name = config["handler"].rpartition(".")
    handler = getattr(importlib.import_module(module), name)
except Exception as e:
    init_error = {
        "errorType": "Runtime.ImportModuleError",
        "errorMessage": f"Unable to import module '{config['handler']}': {e}",
        "stackTrace": traceback.format_exception(e),
    }
init_ms = (time.perf_counter() - started) * 1000

class Context:
    def __init__(self, request):
        self.aws_request_id = request["request_id"]
        self.function_name = config["function_name"]
        self.memory_limit_in_mb = config["memory_mb"]
        self._deadline = time.monotonic() + request["timeout"]
    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))

import resource
for line in sys.stdin:
    request = json.loads(line)
    os.environ["_X_AMZN_TRACE_ID"] = request["trace"]
    begun = time.perf_counter()
    if init_error is not None:
        out = {"error": init_error}
    else:
        try:
            if request.get("inject"):  # a fault the test injects: raised where the handler runs
                raise type(request["inject"][0], (Exception,), {})(request["inject"][1])
            out = {"result": handler(request["event"], Context(request))}
        except Exception as e:
            frames = traceback.format_list(traceback.extract_tb(e.__traceback__))
            out = {"error": {"errorMessage": str(e), "errorType": type(e).__name__,
                             "stackTrace": frames}}
    out["duration_ms"] = (time.perf_counter() - begun) * 1000
    out["init_ms"], init_ms = init_ms, None
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reply.write(json.dumps(out, default=str) + "\n")
    reply.flush()
"""


@dataclass(frozen=True)
class Artifacts:
    """What the emulated function runs: the code zip, layer folders (each holding python/), in
    Lambda's order (a later layer's files lose to an earlier one's here: first on sys.path), and
    the folder standing in for the runtime's own packages."""

    code_zip: Path
    layers: tuple[Path, ...]
    runtime_dir: Path

    def sys_path(self) -> list[str]:
        return [
            str(self.code_zip),
            *(str(p / "python") for p in self.layers),
            str(self.runtime_dir),
        ]


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class _Worker:
    """One sandbox: a fresh interpreter that runs invocations one at a time."""

    def __init__(self, server: LambdaServer):
        config = {
            "path": server.artifacts.sys_path(),
            "handler": server.handler,
            "function_name": "sqlmr",
            "memory_mb": server.memory_mb,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env.update(
            LAMBDA_TASK_ROOT=str(server.artifacts.code_zip.parent),
            AWS_LAMBDA_FUNCTION_NAME="sqlmr",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(server.memory_mb),
            AWS_XRAY_DAEMON_ADDRESS=server.xray_address,
            AWS_XRAY_CONTEXT_MISSING="LOG_ERROR",
        )
        self.log = open(server.log_dir / f"worker-{uuid.uuid4().hex[:8]}.log", "w+b")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _BOOTSTRAP, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=server.artifacts.code_zip.parent,
            env=env,
            preexec_fn=_die_with_parent,
        )

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """The worker's answer, or None if it did not answer within timeout (or died)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return {"crashed": True}
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.process.stdout.readline()
        return json.loads(line) if line else {"crashed": True}

    def log_tail(self, size: int = 2000) -> str:
        self.log.flush()
        self.log.seek(0, os.SEEK_END)
        self.log.seek(max(0, self.log.tell() - size))
        return self.log.read().decode("utf-8", "replace")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self.log.close()


@dataclass
class Fault:
    """An injected failure: for invocations matching stage/task/attempt (None matches any),
    `remaining` times (None: every time). kind is "error", "timeout", "oom" or "delay"."""

    kind: str
    remaining: int | None
    stage: str | None = None
    task: int | None = None
    attempt: int | None = None
    error_type: str = "InjectedFault"
    message: str = "injected failure"
    seconds: float = 0.0  # of a "delay": the handler runs after this long
    release: threading.Event | None = None  # of a "delay": set, it ends the delay at once

    def matches(self, ident: tuple[str | None, int | None, int | None]) -> bool:
        stage, task, attempt = ident
        return (
            (self.stage is None or self.stage == stage)
            and (self.task is None or self.task == task)
            and (self.attempt is None or self.attempt == attempt)
        )


@dataclass
class _Xray:
    """A UDP socket standing in for the X-Ray daemon: collects the documents it is sent."""

    sock: socket.socket = field(
        default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    )
    documents: list[dict[str, Any]] = field(default_factory=list)

    def start(self) -> str:
        self.sock.bind(("127.0.0.1", 0))
        threading.Thread(target=self._receive, name="xray-daemon", daemon=True).start()
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _receive(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            _header, _, body = data.partition(b"\n")
            try:
                self.documents.append(json.loads(body))
            except ValueError:
                pass


class LambdaServer:
    """The Invoke API of Lambda for the sqlmr runtime, on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        artifacts: Artifacts,
        log_dir: Path,
        functions: tuple[str, ...] = ("sqlmr",),
        workers: int = 2,
        memory_mb: int = 1536,
        timeout: float = 900.0,
        handler: str = HANDLER,
    ):
        self.artifacts, self.log_dir, self.handler = artifacts, log_dir, handler
        self.functions = set(functions)
        self.workers = workers
        self.memory_mb = memory_mb
        self.timeout = timeout  # the function's timeout: a longer run is reported as timed out
        self.simulated_timeout = 1.0  # what an injected timeout reports (and waits)
        self.unreserved = 1000  # the account's unreserved concurrency (GetAccountSettings)
        self.reserved: int | None = None  # the function's reserved concurrency, if any
        self._lock = threading.Lock()
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._xray = _Xray()
        self.xray_address = ""
        self._http: ThreadingHTTPServer | None = None
        self.reset()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> LambdaServer:
        self.xray_address = self._xray.start()
        for _ in range(self.workers):
            self._add_worker()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        server.daemon_threads = True
        self._http = server
        threading.Thread(target=server.serve_forever, name="lambda-server", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.kill()
        self._xray.sock.close()

    def restart_workers(self) -> None:
        """New sandboxes (a cold start for each), e.g. after the artifacts changed."""
        with self._lock:
            old, self._all = self._all, []
        while not self._idle.empty():
            self._idle.get_nowait()
        for worker in old:
            worker.kill()
        for _ in range(self.workers):
            self._add_worker()

    def _add_worker(self) -> None:
        worker = _Worker(self)
        with self._lock:
            self._all.append(worker)
        self._idle.put(worker)

    def _retire(self, worker: _Worker) -> None:
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
        worker.kill()
        self._add_worker()

    def __enter__(self) -> LambdaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        assert self._http is not None, "the server is not running"
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def segments(self) -> list[dict[str, Any]]:
        """The X-Ray documents the function sent, and one per invocation for the function."""
        return list(self._xray.documents)

    # -- fault injection and counters (thread-safe) -----------------------------------------

    def reset(self) -> None:
        """No faults, counters at zero."""
        with self._lock:
            self._throttle = 0
            self._faults: list[Fault] = []
            self.requests = 0  # every Invoke request
            self.invocations = 0  # requests that reached the function
            self.throttled = 0
            self.running = 0
            self.peak = 0
            self.calls: list[dict[str, Any]] = []
        self.reserved = None
        self.unreserved = 1000
        self.last_modified = "2020-01-01T00:00:00.000+0000"  # when the function was deployed
        self._xray.documents.clear()

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

    def delay_matching(self, seconds: float, stage=None, task=None, attempt=None, times=None):
        """Make matching invocations run the handler only after `seconds` (a slow task)."""
        self._add(Fault("delay", times, stage, task, attempt, seconds=seconds))

    def hold_matching(self, stage=None, task=None, attempt=None, times=None, bound=60.0):
        """Make matching invocations run the handler only once the returned event is set (or
        after `bound` seconds): a slow task whose end the test chooses, not a clock."""
        release = threading.Event()
        self._add(Fault("delay", times, stage, task, attempt, seconds=bound, release=release))
        return release

    def timeout_next(self, n: int = 1) -> None:
        """Make the next n invocations time out after `simulated_timeout` seconds."""
        self._add(Fault("timeout", n))

    def timeout_matching(self, stage=None, task=None, attempt=None, times=None) -> None:
        self._add(Fault("timeout", times, stage, task, attempt))

    def oom_matching(self, stage=None, task=None, attempt=None, times=None) -> None:
        """Make matching invocations end as Lambda ends one that exceeds its memory."""
        self._add(Fault("oom", times, stage, task, attempt))

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _admit(self) -> bool:
        """Count a request; False if it is throttled (injected, or over reserved concurrency)."""
        with self._lock:
            self.requests += 1
            over = self.reserved is not None and self.running >= self.reserved
            if self._throttle > 0 or over:
                self._throttle = max(0, self._throttle - 1)
                self.throttled += 1
                return False
            self.invocations += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
            return True

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
            self.running -= 1
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

    def invoke(self, event: Any, request_id: str, trace_header: str | None) -> tuple:
        """Run one admitted invocation: (headers, payload, log text)."""
        by_url = isinstance(event, dict) and set(event) == {"event_url"}
        ident = _identity(event)
        fault = self._take_fault(ident)
        log = [f"START RequestId: {request_id} Version: $LATEST"]
        if fault is not None and fault.kind == "delay":
            if fault.release is not None:
                fault.release.wait(fault.seconds)
            else:
                time.sleep(fault.seconds)
            fault = None
        if fault is not None and fault.kind in ("timeout", "oom"):
            time.sleep(self.simulated_timeout if fault.kind == "timeout" else 0.05)
            self._record(ident, fault.kind, by_url, request_id)
            if fault.kind == "oom":
                error = {
                    "errorType": "Runtime.OutOfMemory",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                    "signal: killed",
                }
                return self._finish(request_id, error, log, 50.0, None, self.memory_mb, True)
            return self._timed_out(request_id, self.simulated_timeout, log)
        request = {
            "event": event,
            "request_id": request_id,
            "timeout": self.timeout,
            "trace": _function_trace(trace_header),
        }
        if fault is not None:  # an injected error: the worker raises it instead of the handler
            request["inject"] = [fault.error_type, fault.message]
        worker = self._idle.get(timeout=self.timeout + 60)
        started = time.perf_counter()
        out = worker.call(request, self.timeout)
        if out is None or out.get("crashed"):
            tail = worker.log_tail()
            self._retire(worker)
            if out is None:
                self._record(ident, "timeout", by_url, request_id)
                return self._timed_out(request_id, time.perf_counter() - started, log)
            self._record(ident, "crashed", by_url, request_id)
            error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited "
                f"unexpectedly: {tail[-500:]}",
            }
            return self._finish(request_id, error, log, 0.0, None, 0.0, True)
        self._idle.put(worker)
        if "error" in out:
            log.append(f"[ERROR] {out['error']['errorType']}: {out['error']['errorMessage']}")
            self._record(ident, "error", by_url, request_id)
            error = {**out["error"], "requestId": request_id}
            return self._finish(
                request_id, error, log, out["duration_ms"], out["init_ms"], out["max_rss_mb"], True
            )
        payload = out["result"]
        if isinstance(payload, dict) and payload.get("max_rss_mb"):
            out["max_rss_mb"] = payload["max_rss_mb"]  # the same figure, rounded as the task did
        if len(json.dumps(payload)) > MAX_RESPONSE_BYTES:
            self._record(ident, "error", by_url, request_id)
            error = {
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                f"({MAX_RESPONSE_BYTES} bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
            return self._finish(
                request_id, error, log, out["duration_ms"], out["init_ms"], out["max_rss_mb"], True
            )
        self._record(ident, "ok", by_url, request_id)
        return self._finish(
            request_id, payload, log, out["duration_ms"], out["init_ms"], out["max_rss_mb"]
        )

    def _timed_out(self, request_id: str, seconds: float, log: list[str]):
        message = f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds"
        error = {"errorType": "Sandbox.Timedout", "errorMessage": message}
        return self._finish(request_id, error, log, seconds * 1000, None, 1, True, status="timeout")

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


def _function_trace(header: str | None) -> str:
    """The _X_AMZN_TRACE_ID of an invocation: a child of the caller's trace header if it sent
    one (Lambda joins the caller's trace), else a new sampled trace (active tracing)."""
    fields = dict(p.split("=", 1) for p in (header or "").split(";") if "=" in p)
    root = fields.get("Root") or f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
    parent = fields.get("Parent") or uuid.uuid4().hex[:16]
    return f"Root={root};Parent={parent};Sampled=1"


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

        def _unknown(self, name: str, request_id: str) -> None:
            message = f"Function not found: arn:aws:lambda:us-east-1:123456789012:function:{name}"
            self._error(404, "ResourceNotFoundException", message, request_id)

        def do_GET(self) -> None:  # noqa: N802
            request_id = str(uuid.uuid4())
            path = urlsplit(self.path).path
            if path.rstrip("/") == "/2016-08-19/account-settings":
                body = {
                    "AccountLimit": {
                        "ConcurrentExecutions": 1000,
                        "UnreservedConcurrentExecutions": server.unreserved,
                    },
                    "AccountUsage": {"FunctionCount": len(server.functions)},
                }
                self._send(200, json.dumps(body).encode(), {"x-amzn-RequestId": request_id})
                return
            found = _CONFIGURATION.match(path)
            if found:
                name = _function_name(found.group("name"))
                if name not in server.functions:
                    self._unknown(name, request_id)
                    return
                body = {
                    "FunctionName": name,
                    "Runtime": "python3.12",
                    "MemorySize": server.memory_mb,
                    "Timeout": int(server.timeout),
                    "LastModified": server.last_modified,
                    "Architectures": ["x86_64"],
                    "TracingConfig": {"Mode": "Active"},
                }
                self._send(200, json.dumps(body).encode(), {"x-amzn-RequestId": request_id})
                return
            found = _CONCURRENCY.match(path)
            if found:
                name = _function_name(found.group("name"))
                if name not in server.functions:
                    self._unknown(name, request_id)
                    return
                body = {}
                if server.reserved is not None:
                    body["ReservedConcurrentExecutions"] = server.reserved
                self._send(200, json.dumps(body).encode(), {"x-amzn-RequestId": request_id})
                return
            self._error(404, "UnknownOperationException", "Unknown operation", request_id)

        def do_POST(self) -> None:  # noqa: N802
            request_id = str(uuid.uuid4())
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            found = _INVOKE.match(urlsplit(self.path).path)
            if not found:
                self._error(404, "UnknownOperationException", "Unknown operation", request_id)
                return
            name = _function_name(found.group("name"))
            if name not in server.functions:
                self._unknown(name, request_id)
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
            try:
                event = json.loads(body or b"{}")
            except ValueError as e:
                message = f"Could not parse request body into json: {e}"
                self._error(400, "InvalidRequestContentException", message, request_id)
                return
            if not server._admit():
                reason = "ReservedFunctionConcurrentInvocationLimitExceeded"
                body = json.dumps({"Reason": reason, "Type": "User", "message": "Rate Exceeded."})
                headers = {
                    "x-amzn-RequestId": request_id,
                    "x-amzn-ErrorType": "TooManyRequestsException",
                }
                self._send(429, body.encode(), headers)
                return
            trace = self.headers.get("X-Amzn-Trace-Id")
            headers, payload, log = server.invoke(event, request_id, trace)
            headers["x-amzn-RequestId"] = request_id
            headers["X-Amz-Executed-Version"] = "$LATEST"
            if self.headers.get("X-Amz-Log-Type") == "Tail":
                tail = log.encode()[-LOG_TAIL_BYTES:]
                headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode()
            self._send(200, json.dumps(payload).encode(), headers)

    return Handler


# -- the artifacts and fixtures -------------------------------------------------------------------

NO_LZ4_ZSTD_SITECUSTOMIZE = '''"""Test-only layer: pyarrow without LZ4 and ZSTD (as public layers).

Codec.is_available answers False for them, creating the codec or IPC options that use them
raises as an Arrow built without them does (ArrowNotImplementedError "Support for codec ... not
built"), and pa.compress/decompress refuse them. Reading an LZ4/ZSTD stream is not intercepted
(the C++ reader is out of reach), but no writer in the function can produce one."""
import pyarrow as pa
import pyarrow.ipc

_MISSING = {"lz4", "lz4_frame", "lz4_raw", "zstd"}
_Codec, _Options = pa.Codec, pa.ipc.IpcWriteOptions
_compress, _decompress = pa.compress, pa.decompress


def _refuse(name):
    if name is not None and str(name).lower() in _MISSING:
        raise pa.ArrowNotImplementedError(f"Support for codec '{name}' not built")


class Codec(_Codec):
    @staticmethod
    def is_available(name):
        return str(name).lower() not in _MISSING and _Codec.is_available(name)

    def __init__(self, compression, compression_level=None):
        _refuse(compression)
        super().__init__(compression, compression_level)


class IpcWriteOptions(_Options):
    def __init__(self, *args, compression=None, **kwargs):
        _refuse(getattr(compression, "name", compression))
        super().__init__(*args, compression=compression, **kwargs)


def compress(buf, codec="lz4", **kw):
    _refuse(codec)
    return _compress(buf, codec=codec, **kw)


def decompress(buf, decompressed_size=None, codec="lz4", **kw):
    _refuse(codec)
    return _decompress(buf, decompressed_size, codec=codec, **kw)


pa.Codec = Codec  # not pyarrow.lib.Codec: Cython modules look up its vtable there
pa.ipc.IpcWriteOptions = IpcWriteOptions
pa.compress, pa.decompress = compress, decompress
'''


def _cache_key() -> str:
    """What the layer and runtime folders are built from: versions and the building code."""
    import hashlib
    import importlib.metadata

    import sqlmr.aws.layer as layer_code

    parts = [sys.version, Path(layer_code.__file__).read_text()]
    for name in (*layer_code.LAYER_DISTRIBUTIONS, *RUNTIME_DISTRIBUTIONS):
        parts.append(f"{name}=={importlib.metadata.version(name)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _build_dependencies(folder: Path) -> None:
    """The layer, as deploy builds it but from the installed distributions, and the runtime's
    own packages, into folder (layer/, layer.json, runtime/)."""
    from sqlmr.aws.layer import build_layer, stage_installed, trim

    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    layer = build_layer(python, "x86_64", installed=True, dest=folder / "layer")
    facts = {"content_hash": layer.content_hash, "unzipped_bytes": layer.unzipped_bytes,
             "zip_bytes": len(layer.zip_bytes), "files": layer.files, "python": python}  # fmt: skip
    (folder / "layer.json").write_text(json.dumps(facts))
    stage_installed(RUNTIME_DISTRIBUTIONS, folder / "runtime")
    trim(folder / "runtime")


def dependencies_folder() -> Path:
    """The built layer and runtime folders, cached between sessions under ~/.cache (building
    them zips ~100 MB, about 15 s): keyed by the versions and the layer-building code, built in
    a temporary folder and renamed into place, so concurrent sessions never see half of one."""
    import shutil
    import tempfile

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sqlmr-tests"
    folder = base / f"lambda-{_cache_key()}"
    if not (folder / "layer.json").exists():
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="building-", dir=base))
        try:
            _build_dependencies(tmp)
            tmp.rename(folder)
        except OSError:
            if not (folder / "layer.json").exists():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def build_artifacts(root: Path) -> dict[str, Any]:
    """The code zip deploy builds (always fresh), the layer and runtime folders (cached), and a
    second layer that takes LZ4 and ZSTD away from pyarrow."""
    from sqlmr.aws.package import build_package

    build_package(root)
    deps = dependencies_folder()
    no_lz4 = root / "no-lz4-zstd" / "python"
    no_lz4.mkdir(parents=True)
    (no_lz4 / "sitecustomize.py").write_text(NO_LZ4_ZSTD_SITECUSTOMIZE)
    return {
        "code_zip": root / "sqlmr_runtime.zip",
        "layer": deps / "layer",
        "layer_facts": json.loads((deps / "layer.json").read_text()),
        "runtime_dir": deps / "runtime",
        "no_lz4_zstd": root / "no-lz4-zstd",
    }


@pytest.fixture(scope="session")
def lambda_artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What deploy ships, built once per session (see build_artifacts)."""
    return build_artifacts(tmp_path_factory.mktemp("lambda-artifacts"))


@pytest.fixture(scope="session")
def lambda_server(seaweed_s3, lambda_artifacts, tmp_path_factory):
    """The session's Lambda server, running the shipped zip and layer with the layer that
    takes LZ4 and ZSTD away from pyarrow (as the public layers build it); its workers start
    with the SeaweedFS settings in the environment. AWS_ENDPOINT_URL_LAMBDA points at it."""
    artifacts = Artifacts(
        lambda_artifacts["code_zip"],
        (lambda_artifacts["no_lz4_zstd"], lambda_artifacts["layer"]),
        lambda_artifacts["runtime_dir"],
    )
    server = LambdaServer(artifacts, tmp_path_factory.mktemp("lambda-logs")).start()
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
