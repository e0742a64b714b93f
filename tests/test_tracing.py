"""The client-side tracer: recorded segment documents, the JSON file, and X-Ray emission through
the SDK (to a local UDP socket standing in for the daemon, and to no daemon at all)."""

from __future__ import annotations

import json
import logging
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from sqlmr.execution import tracing
from sqlmr.execution.tracing import Tracer

HEX16 = re.compile(r"^[0-9a-f]{16}$")
TRACE_ID = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")


@pytest.fixture(autouse=True)
def no_daemon(monkeypatch):
    monkeypatch.delenv(tracing.DAEMON_ENV, raising=False)


def _job(tracer: Tracer) -> None:
    with tracer.segment("sqlmr query", query="SELECT 1") as seg:
        seg.annotate("rows", 42)
        with tracer.subsegment("stage map", stage="map", tasks=2) as stage:
            for task in range(2):
                with tracer.subsegment(f"task {task}", task=task, attempt=0):
                    time.sleep(0.001)
            stage.put_metadata("bytes_in", 1234)
        with tracer.subsegment("stage reduce", stage="reduce", ok=True, ratio=0.5):
            pass


def test_records_nested_subsegments_with_annotations():
    tracer = Tracer()
    assert not tracer.xray_enabled
    _job(tracer)
    [doc] = tracer.to_json()
    assert doc["name"] == "sqlmr query"
    assert HEX16.match(doc["id"]) and TRACE_ID.match(doc["trace_id"])
    assert doc["annotations"] == {"query": "SELECT 1", "rows": 42}
    assert doc["start_time"] <= doc["end_time"]
    stage_map, stage_reduce = doc["subsegments"]
    assert stage_map["name"] == "stage map"
    assert stage_map["annotations"] == {"stage": "map", "tasks": 2}
    assert stage_map["metadata"] == {"default": {"bytes_in": 1234}}
    assert [t["name"] for t in stage_map["subsegments"]] == ["task 0", "task 1"]
    assert stage_map["subsegments"][1]["annotations"] == {"task": 1, "attempt": 0}
    assert stage_reduce["annotations"] == {"stage": "reduce", "ok": True, "ratio": 0.5}
    ids = {doc["id"], stage_map["id"], stage_reduce["id"]}
    ids |= {t["id"] for t in stage_map["subsegments"]}
    assert len(ids) == 5 and all(HEX16.match(i) for i in ids)
    for sub in stage_map["subsegments"]:
        assert stage_map["start_time"] <= sub["start_time"] <= sub["end_time"]
        assert sub["end_time"] <= stage_map["end_time"] <= doc["end_time"]


def test_annotations_are_made_valid_for_xray():
    tracer = Tracer()
    with tracer.segment("a(b)?") as seg:
        seg.annotate("bad key-1", {"x": 1})
    [doc] = tracer.to_json()
    assert doc["name"] == "a_b__"
    assert doc["annotations"] == {"bad_key_1": "{'x': 1}"}


def test_errors_are_marked_and_reraised():
    tracer = Tracer()
    with pytest.raises(RuntimeError, match="boom"):
        with tracer.segment("job"):
            with tracer.subsegment("stage"):
                raise RuntimeError("boom")
    [doc] = tracer.to_json()
    assert doc["error"] is True and doc["subsegments"][0]["error"] is True
    assert doc["subsegments"][0]["cause"]["exceptions"][0]["message"] == "boom"
    assert doc["end_time"] is not None


def test_subsegments_from_other_threads_join_the_current_segment():
    tracer = Tracer()
    with tracer.segment("job"):
        with tracer.subsegment("stage"):
            header = tracer.trace_header()

            def work(i):
                with tracer.subsegment(f"task {i}", task=i):
                    pass

            threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    [doc] = tracer.to_json()
    names = sorted(s["name"] for s in doc["subsegments"])
    assert names == ["stage", "task 0", "task 1", "task 2", "task 3"]
    stage = next(s for s in doc["subsegments"] if s["name"] == "stage")
    assert header == f"Root={doc['trace_id']};Parent={stage['id']};Sampled=1"
    assert tracer.trace_header() is None


def test_records_finished_subsegments_with_known_times():
    tracer = Tracer()
    assert tracer.record("task 0", 1.0, 2.0) is None  # no open segment
    with tracer.segment("job"):
        with tracer.subsegment("stage map") as stage:
            tracer.record("task 0", 100.0, 101.5, task=0, rows_in=10)
        tracer.record("task 1", 102.0, 103.0, parent=stage, error=True, task=1)
    [doc] = tracer.to_json()
    [stage_doc] = doc["subsegments"]
    assert [(t["name"], t["start_time"], t["end_time"]) for t in stage_doc["subsegments"]] == [
        ("task 0", 100.0, 101.5),
        ("task 1", 102.0, 103.0),
    ]
    assert stage_doc["subsegments"][0]["annotations"] == {"task": 0, "rows_in": 10}
    assert stage_doc["subsegments"][1]["error"] is True


def test_a_lone_subsegment_opens_a_segment():
    tracer = Tracer()
    with tracer.subsegment("alone", k=1):
        pass
    [doc] = tracer.to_json()
    assert doc["name"] == "alone" and TRACE_ID.match(doc["trace_id"])


def test_writes_json(tmp_path):
    tracer = Tracer()
    _job(tracer)
    _job(tracer)
    path = tmp_path / "trace.json"
    tracer.write(path)
    data = json.loads(path.read_text())
    assert isinstance(data, list) and len(data) == 2
    assert data[0]["trace_id"] != data[1]["trace_id"]
    assert data == tracer.to_json()
    for key in ("id", "name", "start_time", "end_time", "annotations", "subsegments"):
        assert key in data[0]


def test_sdk_is_not_imported_without_a_daemon():
    code = (
        "import sys; from sqlmr.execution.tracing import Tracer; t = Tracer()\n"
        "with t.segment('x'): pass\n"
        "assert not t.xray_enabled and 'aws_xray_sdk' not in sys.modules, 'imported'\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != tracing.DAEMON_ENV}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_no_daemon_listening_does_not_hang_or_raise(monkeypatch, caplog):
    pytest.importorskip("aws_xray_sdk")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nobody listens there
    monkeypatch.setenv(tracing.DAEMON_ENV, f"127.0.0.1:{port}")
    caplog.set_level(logging.INFO)
    tracer = Tracer()
    assert tracer.xray_enabled
    started = time.monotonic()
    for _ in range(3):
        _job(tracer)
    with tracer.segment("big"):
        for i in range(400):  # too large for one datagram: sent in pieces
            with tracer.subsegment(f"task {i}", task=i):
                pass
    assert time.monotonic() - started < 5
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(tracer.to_json()) == 4


class _Daemon:
    """A UDP socket standing in for the X-Ray daemon, read on a thread so that no burst of
    datagrams overflows its buffer."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.datagrams: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                self.datagrams.append(self.sock.recvfrom(70_000)[0])
            except TimeoutError:
                continue

    def take(self, count: int) -> list[dict]:
        deadline = time.monotonic() + 5
        while len(self.datagrams) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # nothing more should come
        docs = []
        for data in self.datagrams:
            header, _, body = data.decode().partition("\n")
            assert json.loads(header) == {"format": "json", "version": 1}
            docs.append(json.loads(body))
        self.datagrams.clear()
        return docs

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


def test_emits_segments_to_the_daemon_through_the_sdk(monkeypatch):
    pytest.importorskip("aws_xray_sdk")
    daemon = _Daemon()
    try:
        monkeypatch.setenv(tracing.DAEMON_ENV, daemon.address)
        tracer = Tracer()
        _job(tracer)
        [sent] = daemon.take(1)
        [recorded] = tracer.to_json()
        assert sent["id"] == recorded["id"] and sent["trace_id"] == recorded["trace_id"]
        assert sent["name"] == "sqlmr query"
        assert sent["annotations"] == {"query": "SELECT 1", "rows": 42}
        assert sent["start_time"] == pytest.approx(recorded["start_time"])
        assert sent["end_time"] == pytest.approx(recorded["end_time"])
        assert "in_progress" not in sent or sent["in_progress"] is False
        stage = sent["subsegments"][0]
        assert stage["id"] == recorded["subsegments"][0]["id"]
        assert stage["annotations"] == {"stage": "map", "tasks": 2}
        assert [t["annotations"]["task"] for t in stage["subsegments"]] == [0, 1]

        with tracer.segment("big", size="large"):
            for i in range(400):
                with tracer.subsegment(f"task {i:03d}", task=i, stage="map"):
                    pass
        docs = daemon.take(401)
        big = tracer.to_json()[-1]
        segments = [d for d in docs if d.get("type") != "subsegment"]
        subsegments = [d for d in docs if d.get("type") == "subsegment"]
        assert [s["id"] for s in segments] == [big["id"]]
        assert len(subsegments) == 400
        assert all(s["parent_id"] == big["id"] for s in subsegments)
        assert all(s["trace_id"] == big["trace_id"] for s in subsegments)
        assert all(len(json.dumps(d)) < 64_000 for d in docs)
    finally:
        daemon.close()
