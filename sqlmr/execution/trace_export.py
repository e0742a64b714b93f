"""A job's trace in the formats viewers open, and read back as task attempts.

The Tracer records X-Ray segment documents. `chrome_trace` turns them into the Chrome Trace Event
format that Perfetto (ui.perfetto.dev) and chrome://tracing open: one process per job, the stages
on one track, and every task attempt on a lane of its own for as long as it runs, with its read,
compute and write phases nested inside it. `attempts` reads either format back into TaskAttempt
values, which the timeline draws.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from sqlmr.errors import UsageError

PHASES = ("read", "compute", "write")


@dataclass(frozen=True)
class TaskAttempt:
    """One attempt of one task: when it ran, its phases (name, start, end), and how it ended."""

    stage: str
    task: int
    attempt: int
    start: float
    end: float
    phases: tuple[tuple[str, float, float], ...] = ()
    error: bool = False
    numbers: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class StageSpan:
    """A stage of a job: its name, kind and when it ran."""

    id: str
    kind: str
    start: float
    end: float
    splits: str = ""  # join partitions split over several tasks (hot keys), if any


def _from_xray(segments: list[dict[str, Any]]) -> tuple[list[StageSpan], list[TaskAttempt]]:
    stages, tasks = [], []
    for job in segments:
        for stage in job.get("subsegments", []):
            notes = stage.get("annotations", {})
            stage_id = str(notes.get("stage", stage.get("name", "")))
            end = stage.get("end_time") or stage["start_time"]
            kind, splits = str(notes.get("kind", "")), str(notes.get("splits", ""))
            stages.append(StageSpan(stage_id, kind, stage["start_time"], end, splits))
            for task in stage.get("subsegments", []):
                a = task.get("annotations", {})
                phases = tuple(
                    (p["name"], p["start_time"], p.get("end_time") or p["start_time"])
                    for p in task.get("subsegments", [])
                    if p.get("name") in PHASES
                )
                numbers = {k: v for k, v in a.items() if k not in ("stage", "task", "attempt")}
                tasks.append(
                    TaskAttempt(
                        str(a.get("stage", stage_id)),
                        int(a.get("task", 0)),
                        int(a.get("attempt", 0)),
                        task["start_time"],
                        task.get("end_time") or task["start_time"],
                        phases,
                        bool(task.get("error")),
                        numbers,
                    )
                )
    return stages, tasks


def _lanes(tasks: list[TaskAttempt]) -> list[int]:
    """A lane per attempt such that attempts on one lane never overlap (first free lane)."""
    order = sorted(range(len(tasks)), key=lambda i: (tasks[i].start, tasks[i].end))
    free_at: list[float] = []
    lanes = [0] * len(tasks)
    for i in order:
        lane = next((n for n, t in enumerate(free_at) if t <= tasks[i].start), len(free_at))
        if lane == len(free_at):
            free_at.append(0.0)
        free_at[lane] = tasks[i].end
        lanes[i] = lane
    return lanes


def chrome_trace(segments: list[dict[str, Any]]) -> dict[str, Any]:
    """The Tracer's segments as a Chrome Trace Event document (times in microseconds from the
    first segment's start). The X-Ray documents ride along under "xraySegments"."""
    stages, tasks = _from_xray(segments)
    origin = min((s["start_time"] for s in segments), default=0.0)

    def us(t: float) -> float:
        return round((t - origin) * 1e6, 1)

    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": 1, "tid": 0, "name": "process_name", "args": {"name": "sqlmr job"}},
        {"ph": "M", "pid": 1, "tid": 0, "name": "thread_name", "args": {"name": "stages"}},
    ]
    for s in stages:
        events.append(
            {
                "ph": "X",
                "pid": 1,
                "tid": 0,
                "name": f"stage {s.id}",
                "cat": "stage",
                "ts": us(s.start),
                "dur": us(s.end) - us(s.start),
                "args": {"stage": s.id, "kind": s.kind}
                | ({"splits": s.splits} if s.splits else {}),
            }
        )
    lanes = _lanes(tasks)
    for lane in sorted(set(lanes)):
        name = {"name": f"slot {lane + 1}"}
        events.append({"ph": "M", "pid": 1, "tid": lane + 1, "name": "thread_name", "args": name})
    for t, lane in zip(tasks, lanes, strict=True):
        args = {"stage": t.stage, "task": t.task, "attempt": t.attempt, **t.numbers}
        if t.error:
            args["error"] = True
        base = {"ph": "X", "pid": 1, "tid": lane + 1}
        events.append(
            {
                **base,
                "name": f"{t.stage} task {t.task}"
                + (f" (attempt {t.attempt})" if t.attempt else ""),
                "cat": "failed" if t.error else "task",
                "ts": us(t.start),
                "dur": us(t.end) - us(t.start),
                "args": args,
            }
        )
        for name, start, end in t.phases:
            events.append(
                {**base, "name": name, "cat": "phase", "ts": us(start), "dur": us(end) - us(start)}
            )
    return {"traceEvents": events, "displayTimeUnit": "ms", "xraySegments": segments}


def write_trace(segments: list[dict[str, Any]], path: str, fmt: str = "chrome") -> None:
    """Write a trace file: Chrome Trace Event format (default) or X-Ray segment documents."""
    doc: Any = chrome_trace(segments) if fmt == "chrome" else segments
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    except OSError as e:
        raise UsageError(f"cannot write the trace {path}: {e.strerror}") from e


def read_trace(path: str | os.PathLike) -> tuple[list[StageSpan], list[TaskAttempt]]:
    """The stages and task attempts of a trace file in either format."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise UsageError(f"cannot read the trace {path}: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise UsageError(f"{path} is not a JSON trace: {e}") from e
    if isinstance(doc, dict) and isinstance(doc.get("xraySegments"), list):
        doc = doc["xraySegments"]
    if not isinstance(doc, list) or not all(isinstance(s, dict) for s in doc):
        raise UsageError(f"{path} is not a trace written by sqlmr query --trace")
    try:
        return _from_xray(doc)
    except (KeyError, TypeError, ValueError) as e:
        raise UsageError(f"{path} is not a trace written by sqlmr query --trace: {e}") from e
