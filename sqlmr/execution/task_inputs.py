"""What each task of a stage is sent: its event (the stage, the job, the attempt) and its input,
the ranges of a scan or the committed outputs (or partitions of them) of the stages before it.

Reducers are packed here at run time: a shuffle's partitions are grouped by their real bytes, and
a combine stage gets as many tasks as the map outputs' real size needs.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmr_runtime import PLAN_VERSION

from sqlmr.planning.exchange import combine_groups
from sqlmr.planning.plan import Stage


def task_event(
    job: str,
    job_store: str,
    stage: Stage,
    task: int,
    attempt: int,
    inp: dict,
    compression: str = "auto",
) -> dict:
    """The event one attempt of one task is invoked with (the runtime's handler reads it)."""
    return {
        "version": PLAN_VERSION,
        "job": job,
        "job_store": job_store,
        "compression": compression,
        "stage": stage.definition(),
        "task": task,
        "attempt": attempt,
        "input": inp,
    }


def _input(source: dict, task: dict, committed: dict[str, list[dict[str, Any]]]) -> dict:
    """A task's input: its ranges, or the committed outputs (or partitions of them) it reads."""
    kind = source["type"]
    if kind == "scan":
        return {"ranges": task["ranges"]}
    if kind == "join":
        return {
            side: _input(source[side]["source"], task[side], committed)
            for side in ("left", "right")
        }
    if kind == "union":
        branch = task["branch"]
        inner = _input(source["branches"][branch]["source"], task["task"], committed)
        return {"branch": branch, "input": inner}
    upstream = committed[source["stage"]]
    if kind == "combine":  # whole map outputs: their partitions, without the index footer
        lo, hi = task["outputs"]
        return {"parts": [_partitions_range(s) for s in upstream[lo:hi]]}
    if kind == "gather":
        return {
            "parts": [
                {"url": s["output"]["url"], "offset": 0, "length": s["output"]["length"]}
                for s in upstream
            ]
        }
    parts = []
    for s in upstream:
        at = s["output"]["partitions"][task["partition"]]
        url, partition = s["output"]["url"], task["partition"]
        parts.append(
            {"url": url, "offset": at["offset"], "length": at["length"], "partition": partition}
        )
    return {"parts": parts}


def _partitions_range(summary: dict[str, Any]) -> dict[str, Any]:
    last = summary["output"]["partitions"][-1]
    return {"url": summary["output"]["url"], "offset": 0, "length": last["offset"] + last["length"]}


def task_inputs(
    stage: Stage, committed: dict[str, list[dict[str, Any]]], workers: int = 1
) -> list[dict[str, Any]]:
    """The input of each task of a stage, given the committed outputs of the stages before it
    (`committed`: each stage's winning task summaries, in task order)."""
    tasks = list(stage.tasks)
    if stage.source.get("range"):  # a range-partitioned sort: one task per key range
        # Loaded here: only sorts need it (with sqlmr_runtime.ranges, 2 ms of start-up).
        from sqlmr.execution.range_bounds import range_inputs

        upstream = committed[stage.source["stage"]]
        return range_inputs(stage.source, upstream, stage.coalesce_bytes or 0, workers)
    if stage.coalesce_bytes and stage.source["type"] == "combine":
        # As many combine tasks as planned, more if the map outputs' real bytes need them.
        upstream = committed[stage.source["stage"]]
        total = sum(_partitions_range(s)["length"] for s in upstream)
        count = max(len(tasks), -(-total // stage.coalesce_bytes))
        tasks = [{"outputs": g} for g in combine_groups(len(upstream), count)]
    if stage.coalesce_bytes and stage.source["type"] == "shuffle":
        tasks = _coalesce(tasks, committed[stage.source["stage"]], stage.coalesce_bytes, workers)
        return [
            {"parts": [p for t in group for p in _input(stage.source, t, committed)["parts"]]}
            for group in tasks
        ]
    return [_input(stage.source, task, committed) for task in tasks]


def _coalesce(tasks: list[dict], upstream: list[dict], limit: int, workers: int) -> list[list]:
    """Pack consecutive partitions into groups of about equal bytes: as many groups as `limit`
    bytes per group needs, and at least one per worker while there is over 1 MB a group."""
    sizes = [
        sum(s["output"]["partitions"][t["partition"]]["length"] for s in upstream) for t in tasks
    ]
    total = sum(sizes)
    count = max(-(-total // limit), min(workers, total // (1 << 20)), 1)
    if count > workers:
        count = -(-count // workers) * workers  # whole waves: no worker idles at the end
    count = min(count, len(tasks))
    share = total / count
    groups: list[list] = [[] for _ in range(count)]
    before = 0
    for task, size in zip(tasks, sizes, strict=True):
        # A partition goes to the group where its middle byte falls: groups come out even.
        index = min(count - 1, int((before + size / 2) // share)) if share else 0
        groups[index].append(task)
        before += size
    return [g for g in groups if g]


# Operators that give back what they are given when it already went through them.
_IDEMPOTENT = frozenset({"sort", "limit"})


def done_by(stage: Stage, stages: dict[str, Stage], committed: dict[str, list]) -> str | None:
    """The stage whose output is already this stage's, when this one has nothing to do: it
    gathers a single task's result that applied the same final sort and limit (a merge after a
    reduce that ran as one task, as a small GROUP BY … ORDER BY … LIMIT does). Running it would
    cost a stage barrier and a task (on Lambda an invocation) to rewrite the same rows."""
    source = stage.source
    if source["type"] != "gather" or len(committed.get(source["stage"], ())) != 1:
        return None
    upstream = stages[source["stage"]]
    ops = list(stage.ops)
    if not ops or any(op["op"] not in _IDEMPOTENT for op in ops):
        return None
    tail = list(upstream.ops[len(upstream.ops) - len(ops) :])
    same = _canonical([tail, upstream.sink]) == _canonical([ops, stage.sink])
    return upstream.id if same else None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
