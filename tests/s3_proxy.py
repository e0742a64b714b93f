"""An S3 proxy for the tests and benchmarks: latency, faults and request counts in front of a real
S3 server (SeaweedFS from s3_server.py).

It forwards every request byte for byte (headers included, so SigV4 signatures stay valid: the
client signs for the proxy's host, and the proxy keeps that Host header), and can:

- add a fixed delay to every request (`delay`, seconds; e.g. 0.020 for S3's first-byte latency);
- inject faults into matching requests (`inject(Fault(…))`, thread-safe):
    - "error":    answer with an S3 XML error (default 503 SlowDown) without forwarding;
    - "stall":    wait `seconds` before forwarding (a client read timeout fires first if shorter);
    - "reset":    close the connection without an answer;
    - "truncate": forward, then send the headers and only half of the body, and close;
  a fault matches by operation (GET, PUT, LIST, …, see `operation`) and a regular expression on
  the path and query, and applies to the next `times` matching requests (-1: all of them);
- count requests per operation (`counts`) and keep a log (`log`: operation, path, status, bytes).

A test uses the function-scoped fixture `s3_proxy` (with `pytest_plugins = ["s3_server",
"s3_proxy"]`): it points AWS_ENDPOINT_URL_S3 at the proxy for the test and forgets the S3
clients and forked workers made before, so tasks talk through it. Processes forked before the
fixture (such as an already started Lambda test server's workers) keep the direct endpoint.
Outside pytest: `with S3Proxy(upstream, delay=0.02) as proxy: … proxy.endpoint …`.

PYTEST_DONT_REWRITE (test modules import Fault from here before pytest loads it as a plugin)
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

UPSTREAM_TIMEOUT = 120.0
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


@dataclass
class Fault:
    """A fault for the next `times` requests that match `operation` and `match`."""

    kind: str = "error"  # error | stall | reset | truncate
    operation: str | None = None  # None: any operation
    match: str = ""  # regular expression searched in "path?query"
    times: int = 1  # -1: every matching request
    status: int = 503
    code: str = "SlowDown"
    seconds: float = 0.0  # for "stall"

    def __post_init__(self) -> None:
        if self.kind not in ("error", "stall", "reset", "truncate"):
            raise ValueError(f"unknown fault kind {self.kind!r}")


def operation(method: str, path: str, query: str) -> str:
    """The S3 operation of a request, as it is billed and counted: GET, HEAD, PUT, LIST,
    DELETE, DELETE_OBJECTS, CREATE_MULTIPART, PART, COMPLETE_MULTIPART, ABORT_MULTIPART,
    BUCKET (bucket-level requests other than listings)."""
    params = parse_qs(query, keep_blank_values=True)
    has_key = "/" in path.strip("/")
    if method == "GET":
        if not has_key:
            return "LIST" if "list-type" in params or not params else "BUCKET"
        return "GET"
    if method == "HEAD":
        return "HEAD" if has_key else "BUCKET"
    if method == "PUT":
        if not has_key:
            return "BUCKET"
        return "PART" if "partNumber" in params else "PUT"
    if method == "POST":
        if "delete" in params:
            return "DELETE_OBJECTS"
        if "uploads" in params:
            return "CREATE_MULTIPART"
        if "uploadId" in params:
            return "COMPLETE_MULTIPART"
        return "POST"
    if method == "DELETE":
        if "uploadId" in params:
            return "ABORT_MULTIPART"
        return "DELETE" if has_key else "BUCKET"
    return method


class S3Proxy:
    """A latency- and fault-injecting HTTP proxy in front of one S3 endpoint."""

    def __init__(self, upstream: str, delay: float = 0.0, host: str = "127.0.0.1"):
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the proxy forwards to an http:// endpoint, not {upstream!r}")
        self.upstream = (parts.hostname, parts.port or 80)
        self.delay = delay
        self.counts: Counter[str] = Counter()
        self.delayed: Counter[str] = Counter()  # requests held `delay` seconds, per operation
        self.log: list[tuple[str, str, int, int]] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> S3Proxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="s3-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every client connection (their threads then end)."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> S3Proxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, fault: Fault) -> None:
        """Apply a fault to the next matching requests."""
        with self._lock:
            self._faults.append(fault)

    def reset(self) -> None:
        """No faults, no delay, zero counts, empty log."""
        with self._lock:
            self._faults.clear()
            self.counts.clear()
            self.delayed.clear()
            self.log.clear()
            self.delay = 0.0

    def snapshot(self) -> Counter[str]:
        """A copy of the counts per operation."""
        with self._lock:
            return Counter(self.counts)

    def _take_fault(self, op: str, target: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.operation not in (None, op) or not re.search(fault.match, target):
                    continue
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _record(self, op: str, target: str, status: int, nbytes: int) -> None:
        with self._lock:
            self.counts[op] += 1
            self.log.append((op, target, status, nbytes))


def _error_body(code: str, target: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>injected by the test proxy</Message>"
        f"<Resource>{target}</Resource><RequestId>proxy</RequestId></Error>"
    ).encode()


def _handler_class(proxy: S3Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.proxy = proxy
    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as S3 clients expect
    proxy: S3Proxy
    _upstream: http.client.HTTPConnection | None = None

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without NODELAY, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.proxy._lock:
            self.proxy._connections.add(self.connection)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:
        self._forward()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _body(self) -> bytes:
        """The request body exactly as sent (chunked framing kept, since it may be signed)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = bytearray()
            while True:
                line = self.rfile.readline()
                raw += line
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers, then the empty line
                        trailer = self.rfile.readline()
                        raw += trailer
                        if trailer in (b"\r\n", b"\n", b""):
                            return bytes(raw)
                raw += self.rfile.read(size + 2)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self) -> None:
        proxy = self.proxy
        path, _, query = self.path.partition("?")
        op = operation(self.command, path, query)
        body = self._body()
        if proxy.delay:
            time.sleep(proxy.delay)
            with proxy._lock:
                proxy.delayed[op] += 1
        fault = proxy._take_fault(op, self.path)
        if fault is not None and fault.kind == "stall":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "reset":
            proxy._record(op, self.path, 0, 0)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        # Requests are logged before they are answered, so the log's order is the order in which
        # the client saw the answers.
        if fault is not None and fault.kind == "error":
            proxy._record(op, self.path, fault.status, 0)
            self._answer(
                fault.status, {"Content-Type": "application/xml"}, _error_body(fault.code, path)
            )
            return
        status, headers, data = self._upstream_request(body)
        if fault is not None and fault.kind == "truncate":
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            proxy._record(op, self.path, status, len(data) // 2)
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        proxy._record(op, self.path, status, len(data))
        self._answer(status, dict(headers), data)

    def _upstream_request(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
        for attempt in (0, 1):
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(
                    *self.proxy.upstream, timeout=UPSTREAM_TIMEOUT
                )
            try:
                self._upstream.request(self.command, self.path, body=body, headers=headers)
                response = self._upstream.getresponse()
                data = response.read()
                kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_HEADERS]
                return response.status, kept, data
            except (http.client.HTTPException, OSError):
                # A kept-alive upstream connection that the server closed: reconnect once.
                self._upstream.close()
                self._upstream = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "server", "date"):
                self.send_header(name, value)
        # A HEAD answer keeps the object's length; its body is empty.
        length = len(data)
        if self.command == "HEAD":
            length = next((v for k, v in headers.items() if k.lower() == "content-length"), 0)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def finish(self) -> None:
        with self.proxy._lock:
            self.proxy._connections.discard(self.connection)
        super().finish()
        if self._upstream is not None:
            self._upstream.close()


@pytest.fixture
def s3_proxy(seaweed_s3):
    """An S3Proxy in front of the session's SeaweedFS, used by boto3 for this test."""
    from s3_server import reset_s3_clients

    with S3Proxy(seaweed_s3.endpoint) as proxy, pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL_S3", proxy.endpoint)
        reset_s3_clients()
        try:
            yield proxy
        finally:
            env.undo()
            reset_s3_clients()
