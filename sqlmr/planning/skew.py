"""Skew-aware shuffle joins: which join stages may split a partition that a hot key made too big.

A shuffle join's task p reads partition p of both sides. One key in half of the rows puts half
of its side into one partition, whatever the partition count: that task's memory grows with the
data, not with the split size. The planner cannot know the hot keys (they are found at run
time, from the map outputs' partition sizes and key samples), so it marks the join stages where
splitting is correct with `split_bytes`; the driver (sqlmr/execution/skew.py) then splits each
partition over that size: one side's map outputs are spread over several tasks, and each of
those tasks reads the other side's whole partition (replicated).

Correctness: every row of the split side is joined in exactly one task, against every row of
its partition on the other side, so an inner join's result is exactly the unsplit one (a key
hot on both sides splits both, a task per pair of groups: each pair of rows still meets once).
An outer join never replicates a side it preserves, which would emit its unmatched rows once
per task: LEFT may cut its left side with the right one replicated as before; when it is the
right side that is big (or both, or any FULL join), the tasks of the pairs of groups join as an
inner join and each group of a preserved side gets a task that emits its rows matching no row
of the other side (that side read one part at a time, its distinct keys kept).

A split stage makes more tasks than partitions, so it is marked only when its operators are row
by row (filters, projections, partial aggregates), or when the stage already has several tasks
whose outputs a later stage combines (a top-k or a sort).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlmr_runtime import build

from sqlmr.planning.plan import Plan, Stage

PRESERVED: dict[str, tuple[str, ...]] = {
    "inner": (),
    "left": ("left",),
    "right": ("right",),
    "full": ("left", "right"),
}
"""The sides whose rows a join keeps without a match: never replicated over several tasks."""

_ROW_OPS = ("filter", "project", "expand")


def _row_by_row(op: dict[str, Any]) -> bool:
    return op["op"] in _ROW_OPS or (op["op"] == "aggregate" and op.get("phase") == "partial")


def can_split(stage: Stage) -> bool:
    """Whether a stage is a shuffle join that may run a partition as several tasks."""
    source = stage.source
    if source["type"] != "join" or source.get("broadcast"):
        return False
    if any(source[side]["source"]["type"] != "shuffle" for side in ("left", "right")):
        return False
    # Several planned tasks: a later stage already merges their top-k or sorted outputs.
    combined = ("sort", "limit") if len(stage.tasks) > 1 else ()
    return all(_row_by_row(op) or op["op"] in combined for op in stage.ops)


def skew_aware(plan: Plan, task_bytes: int) -> Plan:
    """The plan with `split_bytes` on every shuffle join that may split a partition over
    `task_bytes` (the input one task may hold), and the stages it reads asked to sample their
    hot keys (so that the run can say which keys made a partition too big)."""
    joins = [stage for stage in plan.stages if can_split(stage)]
    sampled = {j.source[side]["source"]["stage"] for j in joins for side in ("left", "right")}
    stages = []
    for stage in plan.stages:
        if stage in joins:
            stage = dataclasses.replace(stage, split_bytes=task_bytes)
        if stage.id in sampled:
            fields = {k: v for k, v in stage.sink.items() if k != "type"}
            sink = build.sink(stage.sink["type"], **fields, hot_keys=True)
            stage = dataclasses.replace(stage, sink=sink)
        stages.append(stage)
    return dataclasses.replace(plan, stages=tuple(stages))
