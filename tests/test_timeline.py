"""A picture of every job: a real job's trace (with a failed and retried attempt) written in the
Chrome Trace Event format that Perfetto opens, and drawn by `sqlmr timeline` as PNG, SVG and
HTML: the image has the expected size and every task attempt is drawn."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import Future
from pathlib import Path

import pytest

from sqlmr.api import QueryOptions, compile_query, resolve_catalog, run
from sqlmr.cli import main
from sqlmr.execution.local import LocalExecutor
from sqlmr.execution.trace_export import read_trace, write_trace
from sqlmr.execution.tracing import Tracer

pytest.importorskip("matplotlib")

SQL = "SELECT countryCode, COUNT(*) AS n FROM uservisits GROUP BY countryCode"


class FlakyExecutor:
    """A local executor whose first attempt of map task 1 fails as a dropped connection would."""

    def __init__(self, inner: LocalExecutor):
        self.inner, self.workers = inner, inner.workers

    def submit(self, event):
        if event["stage"]["id"] == "map" and event["task"] == 1 and event["attempt"] == 0:
            future: Future = Future()
            error = {"errorType": "ConnectionError", "errorMessage": "connection reset by peer"}
            future.set_result({"error": error})
            return future
        return self.inner.submit(event)

    def close(self):
        self.inner.close()


@pytest.fixture(scope="module")
def trace(amplab_dir: str, tmp_path_factory) -> Path:
    """The Chrome trace of a real job: about 17 map tasks (one retried) and a reduce."""
    options = QueryOptions(workers=2, split_size="100KB", reducers=2)
    plan = compile_query(SQL, resolve_catalog(amplab_dir), options)
    tracer = Tracer(xray=False)
    executor = FlakyExecutor(LocalExecutor(2))
    try:
        with run(plan, options, executor, tracer=tracer) as result:
            assert result.read_all().num_rows > 0
    finally:
        executor.close()
    path = tmp_path_factory.mktemp("trace") / "job.json"
    write_trace(tracer.to_json(), str(path))
    return path


def test_chrome_trace_events_are_well_formed(trace: Path):
    doc = json.loads(trace.read_text())
    events = doc["traceEvents"]
    tasks = [e for e in events if e["ph"] == "X" and e.get("cat") in ("task", "failed")]
    phases = [e for e in events if e["ph"] == "X" and e.get("cat") == "phase"]
    assert len(tasks) >= 18 and {p["name"] for p in phases} == {"read", "compute", "write"}
    for e in events:
        assert {"ph", "pid", "tid", "name"} <= set(e)
        if e["ph"] == "X":
            assert e["dur"] >= 0 and e["ts"] >= 0
    # Attempts on one lane never overlap, and each phase lies inside its attempt (same lane).
    by_lane: dict[int, list[dict]] = {}
    for e in tasks:
        by_lane.setdefault(e["tid"], []).append(e)
    for lane in by_lane.values():
        lane.sort(key=lambda e: e["ts"])
        for a, b in zip(lane, lane[1:], strict=False):
            assert a["ts"] + a["dur"] <= b["ts"] + 0.2
    for p in phases:
        assert any(
            t["tid"] == p["tid"] and t["ts"] - 0.2 <= p["ts"] <= t["ts"] + t["dur"] + 0.2
            for t in tasks
        )
    failed = [e for e in tasks if e["cat"] == "failed"]
    assert len(failed) == 1 and failed[0]["args"]["error"] is True
    assert failed[0]["args"]["task"] == 1 and failed[0]["args"]["attempt"] == 0
    retry = [e for e in tasks if e["args"]["task"] == 1 and e["args"]["stage"] == "map"]
    assert sorted(e["args"]["attempt"] for e in retry) == [0, 1]


def test_timeline_svg_and_html_draw_every_attempt(trace: Path, tmp_path: Path, capsys):
    stages, tasks = read_trace(trace)
    assert [s.id for s in stages] == ["map", "reduce"]
    for name in ("job.svg", "job.html"):
        rc = main(["timeline", str(trace), "-o", str(tmp_path / name)])
        assert rc == 0, capsys.readouterr().err
        text = (tmp_path / name).read_text()
        drawn = set(re.findall(r'id="(task-[\w-]+)"', text))
        assert drawn == {f"task-{t.stage}-{t.task}-{t.attempt}" for t in tasks}
        assert "task-map-1-0" in drawn and "task-map-1-1" in drawn  # the failure and its retry
    assert (tmp_path / "job.html").read_text().startswith("<!DOCTYPE html>")


def test_xray_format_stays_available(amplab_dir: str, tmp_path: Path, capsys):
    path = tmp_path / "xray.json"
    # Several splits, so that the grouped query shuffles to a reduce stage (one split would
    # aggregate in its one map task).
    argv = ["query", SQL, "--tables", amplab_dir, "--workers", "2", "--split-size", "100KB"]
    rc = main([*argv, "--format", "csv", "--trace", str(path), "--trace-format", "xray"])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads(path.read_text())
    assert isinstance(doc, list) and doc[0]["trace_id"].startswith("1-")
    stages, tasks = read_trace(path)
    assert {s.id for s in stages} == {"map", "reduce"} and tasks


def test_timeline_errors_are_one_line(tmp_path: Path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a trace"}')
    rc = main(["timeline", str(bad), "-o", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert rc == 1 and "not a trace" in err and len(err.strip().splitlines()) == 1
    rc = main(["timeline", str(bad), "-o", str(tmp_path / "x.gif")])
    assert rc == 1


def test_timeline_png_through_the_script(trace: Path, tmp_path: Path):
    """The installed script draws the PNG: its size follows the attempt count, and the phase and
    failure colours are all in it."""
    import matplotlib.image as mpimg
    import numpy as np

    _, tasks = read_trace(trace)
    out = tmp_path / "job.png"
    exe = Path(sys.executable).parent / "sqlmr"
    done = subprocess.run(
        [str(exe), "timeline", str(trace), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = mpimg.imread(out)
    height = min(2 + 0.18 * len(tasks), 40) + 2.5
    assert image.shape[1] == 1200 and image.shape[0] == round(height * 100)
    rgb = (image[:, :, :3] * 255).round().astype(np.int64)
    packed = set(np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]).tolist())
    for hexa in ("#4C78A8", "#F58518", "#54A24B", "#D62728"):  # read, compute, write, failed
        assert int(hexa[1:], 16) in packed, hexa
