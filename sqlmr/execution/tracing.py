"""Client-side tracing of a job: X-Ray-like segment documents, optionally sent to X-Ray.

A Tracer records every segment and subsegment as a dict shaped like an X-Ray segment document
(id, trace_id, name, start_time, end_time, annotations, subsegments; error and cause when the
block raised), for `--trace FILE`. When aws_xray_sdk is importable and AWS_XRAY_DAEMON_ADDRESS is
set, each finished segment is also sent to the X-Ray daemon through the SDK's UDP emitter. The
SDK is imported only then; sampling is off (every trace is kept, no sampling-rule polling),
context_missing is IGNORE_ERROR, and a daemon that is not listening costs a debug log line, never
a hang: UDP sends do not block.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

DAEMON_ENV = "AWS_XRAY_DAEMON_ADDRESS"
_MAX_UDP_DOCUMENT = 60_000  # a UDP datagram holds 64 KB; larger segments go in pieces
_KEY_BAD = re.compile(r"[^A-Za-z0-9_]")
_NAME_BAD = re.compile(r"[?;*()!$~^<>]")  # characters X-Ray removes from names


def new_trace_id(now: float | None = None) -> str:
    """An X-Ray trace id: 1-<epoch seconds, 8 hex>-<96 random bits, 24 hex>."""
    return f"1-{int(now if now is not None else time.time()):08x}-{os.urandom(12).hex()}"


def new_id() -> str:
    """An X-Ray segment or subsegment id: 64 random bits as 16 hex digits."""
    return os.urandom(8).hex()


def _annotation(value: Any) -> str | int | float | bool:
    """X-Ray annotations hold strings, numbers and booleans; anything else becomes a string."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _key(key: str) -> str:
    return _KEY_BAD.sub("_", str(key))[:500] or "_"


def _name(name: str) -> str:
    return _NAME_BAD.sub("_", str(name))[:200] or "_"


class Span:
    """An open segment or subsegment; annotate it while it runs."""

    def __init__(self, doc: dict[str, Any], lock: threading.Lock):
        self.doc = doc
        self._lock = lock

    @property
    def id(self) -> str:
        return self.doc["id"]

    def annotate(self, key: str, value: Any) -> None:
        """Add an indexed annotation (string, number or boolean)."""
        with self._lock:
            self.doc["annotations"][_key(key)] = _annotation(value)

    def put_metadata(self, key: str, value: Any) -> None:
        """Add unindexed metadata (any JSON value)."""
        with self._lock:
            self.doc.setdefault("metadata", {}).setdefault("default", {})[_key(key)] = value


class Tracer:
    """Records segments and subsegments; sends them to X-Ray when a daemon is configured.

    segment(name) opens a top-level segment (one per job, typically); subsegment(name, **ann)
    opens a child of the innermost open (sub)segment of the calling thread, or of the current
    segment when the thread has none open (tasks finishing on executor threads). Both are
    context managers yielding a Span.
    """

    def __init__(self, service: str = "sqlmr", xray: bool | None = None):
        self.service = service
        self.segments: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._current: dict[str, Any] | None = None
        self._emitter = None
        if xray is None:
            xray = bool(os.environ.get(DAEMON_ENV))
        if xray:
            self._emitter = _xray_emitter(os.environ.get(DAEMON_ENV))

    @property
    def xray_enabled(self) -> bool:
        """True when finished segments are sent to an X-Ray daemon."""
        return self._emitter is not None

    def _stack(self) -> list[dict[str, Any]]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    @contextlib.contextmanager
    def _open(self, doc: dict[str, Any]) -> Iterator[Span]:
        """Make doc the innermost open (sub)segment of this thread until the block ends."""
        stack = self._stack()
        stack.append(doc)
        try:
            yield Span(doc, self._lock)
        except BaseException as e:
            _mark_error(doc, e)
            raise
        finally:
            stack.pop()
            with self._lock:
                doc["end_time"] = time.time()

    @contextlib.contextmanager
    def segment(self, name: str, **annotations: Any) -> Iterator[Span]:
        """A top-level segment, with its own trace id."""
        now = time.time()
        doc = {"trace_id": new_trace_id(now), **_document(name, now, annotations)}
        with self._lock:
            self.segments.append(doc)
            previous, self._current = self._current, doc
        try:
            with self._open(doc) as span:
                yield span
        finally:
            with self._lock:
                self._current = previous
            self._emit(doc)

    @contextlib.contextmanager
    def subsegment(self, name: str, **annotations: Any) -> Iterator[Span]:
        """A subsegment of the innermost open (sub)segment; alone, it opens a segment."""
        stack = self._stack()
        parent = stack[-1] if stack else self._current
        if parent is None:
            with self.segment(name, **annotations) as span:
                yield span
            return
        doc = _document(name, time.time(), annotations)
        with self._lock:
            parent["subsegments"].append(doc)
        with self._open(doc) as span:
            yield span

    def record(
        self,
        name: str,
        start_time: float,
        end_time: float,
        parent: Span | None = None,
        error: bool = False,
        **annotations: Any,
    ) -> Span | None:
        """Add a finished subsegment with known times (a task whose outcome arrived from an
        executor) under `parent`, else under the innermost open (sub)segment of this thread or
        the current segment. Without any open segment nothing is recorded and None returned."""
        stack = self._stack()
        node = parent.doc if parent is not None else (stack[-1] if stack else self._current)
        if node is None:
            return None
        doc = _document(name, float(start_time), annotations)
        doc["end_time"] = float(end_time)
        if error:
            doc["error"] = True
        with self._lock:
            node["subsegments"].append(doc)
        return Span(doc, self._lock)

    def trace_header(self) -> str | None:
        """The X-Amzn-Trace-Id header value for a call made inside the current (sub)segment,
        so that Lambda (with active tracing) joins its segments to this trace; None outside
        any segment."""
        stack = self._stack()
        node = stack[-1] if stack else self._current
        if node is None:
            return None
        root = self._current if not stack else stack[0]
        return f"Root={root['trace_id']};Parent={node['id']};Sampled=1"

    def to_json(self) -> list[dict[str, Any]]:
        """Every recorded segment document (a deep copy, safe to serialise)."""
        with self._lock:
            return json.loads(json.dumps(self.segments, default=str))

    def write(self, path: str | os.PathLike) -> None:
        """Write the segment documents to a JSON file (a list of segments)."""
        data = self.to_json()
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")

    def _emit(self, doc: dict[str, Any]) -> None:
        if self._emitter is None:
            return
        try:
            with self._lock:
                document = json.loads(json.dumps(doc, default=str))
            _send(self._emitter, document, self.service)
        except Exception:  # tracing must never break a job
            log.debug("could not send the trace to X-Ray", exc_info=True)


def _document(name: str, start_time: float, annotations: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_id(),
        "name": _name(name),
        "start_time": start_time,
        "end_time": None,
        "annotations": {_key(k): _annotation(v) for k, v in annotations.items()},
        "subsegments": [],
    }


def _mark_error(doc: dict[str, Any], error: BaseException) -> None:
    doc["error"] = True
    doc["cause"] = {
        "exceptions": [{"id": new_id(), "type": type(error).__name__, "message": str(error)[:1000]}]
    }


# -- the X-Ray SDK, imported only when a daemon is configured -------------------------------------


def _xray_emitter(address: str | None):
    """The SDK's UDP emitter for the daemon address, made quiet; None without the SDK."""
    try:
        from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter
        from aws_xray_sdk.core.recorder import AWSXRayRecorder
    except ImportError:
        log.debug("aws_xray_sdk is not installed; traces are only recorded locally")
        return None

    class QuietEmitter(UDPEmitter):
        """UDP sends never block; a missing daemon is worth a debug line, not a stack trace."""

        def send_entity(self, entity):
            try:
                self._send_data(f'{{"format":"json","version":1}}\n{entity.serialize()}')
            except Exception:
                log.debug("X-Ray daemon at %s did not take a segment", address, exc_info=True)

    try:
        emitter = QuietEmitter(address) if address else QuietEmitter()
        # A private recorder, configured but never used to open segments (its context is
        # thread-local and the driver's tasks finish on other threads): it carries the
        # settings that keep the SDK quiet should anything consult it.
        recorder = AWSXRayRecorder()
        recorder.configure(
            sampling=False,
            context_missing="IGNORE_ERROR",
            emitter=emitter,
            plugins=(),
            service="sqlmr",
        )
        return emitter
    except Exception:
        log.debug("cannot set up X-Ray emission", exc_info=True)
        return None


def _entities(document: dict[str, Any], service: str):
    """The SDK Segment for a recorded document, with its subsegments, all closed."""
    from aws_xray_sdk.core.models.segment import Segment
    from aws_xray_sdk.core.models.subsegment import Subsegment

    segment = Segment(document["name"], entityid=document["id"], traceid=document["trace_id"])
    segment.start_time = document["start_time"]
    segment.set_service({"name": service})

    def fill(entity, doc):
        for key, value in doc.get("annotations", {}).items():
            entity.put_annotation(key, value)
        for key, value in doc.get("metadata", {}).get("default", {}).items():
            entity.put_metadata(key, value)
        if doc.get("error"):
            entity.add_error_flag()
            entity.put_metadata("cause", doc.get("cause", {}))
        for child in doc.get("subsegments", []):
            sub = Subsegment(child["name"], "local", segment)
            sub.id = child["id"]
            sub.start_time = child["start_time"]
            entity.add_subsegment(sub)
            fill(sub, child)
            sub.close(child.get("end_time") or child["start_time"])

    fill(segment, document)
    segment.close(document.get("end_time") or document["start_time"])
    return segment


def _send(emitter, document: dict[str, Any], service: str) -> None:
    """Send one segment; one too large for a datagram goes as separate subsegment documents."""
    segment = _entities(document, service)
    if len(segment.serialize()) <= _MAX_UDP_DOCUMENT:
        emitter.send_entity(segment)
        return
    children = list(segment.subsegments)
    for child in children:
        emitter.send_entity(child)  # a subsegment document carries trace_id and parent_id
        segment.remove_subsegment(child)
    emitter.send_entity(segment)
