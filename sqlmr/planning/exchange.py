"""Two-level exchange for very wide shuffles (as Lambada does).

A direct shuffle of M map tasks into R partitions makes every reducer read all M map outputs:
M x (reduce tasks) GETs, each paying S3's first-byte latency. Above TWO_LEVEL_THRESHOLD map tasks
x partitions, a combine stage is put between the map and its consumer: about sqrt(M) combine
tasks each read whole map outputs (one GET each) and write one shuffle object with the same R
partitions, so a reducer reads about sqrt(M) objects instead of M. The partitioning is by the
same keys and hash, so partition p of a combine output holds exactly the rows of partition p of
its map outputs.

The plan's combine tasks name consecutive runs of map outputs; the driver regroups them by the
map outputs' real sizes so that no combine task reads more than the stage's coalesce_bytes.
"""

from __future__ import annotations

import dataclasses
import math

from sqlmr.errors import UsageError
from sqlmr.planning import nodes
from sqlmr.planning.plan import Plan, Stage

TWO_LEVEL_THRESHOLD = 1000 * 100  # map tasks x partitions
EXCHANGES = ("auto", "direct", "two-level")


def combine_groups(outputs: int, groups: int) -> list[list[int]]:
    """[lo, hi) runs of map outputs, `groups` of them (fewer if there are fewer outputs)."""
    groups = max(1, min(groups, outputs))
    bounds = [round(i * outputs / groups) for i in range(groups + 1)]
    return [[bounds[i], bounds[i + 1]] for i in range(groups) if bounds[i] < bounds[i + 1]]


def _wide(stage: Stage, exchange: str) -> bool:
    if stage.sink.get("type") != "shuffle" or len(stage.tasks) < 4:
        return False
    if exchange == "two-level":
        return True
    return exchange == "auto" and len(stage.tasks) * stage.sink["partitions"] >= TWO_LEVEL_THRESHOLD


def _combine_stage(stage: Stage, task_bytes: int) -> Stage:
    groups = combine_groups(len(stage.tasks), math.isqrt(len(stage.tasks) - 1) + 1)
    return Stage(
        id=f"{stage.id}_combine",
        kind="combine",
        source=nodes.combine_source(stage.id),
        ops=(),
        sink=dict(stage.sink),
        tasks=tuple(nodes.combine_task(g) for g in groups),
        depends_on=(stage.id,),
        coalesce_bytes=task_bytes,
    )


def two_level(plan: Plan, exchange: str, task_bytes: int) -> Plan:
    """The plan with a combine stage after every shuffle wide enough for `exchange` ("auto":
    above TWO_LEVEL_THRESHOLD; "direct": never; "two-level": every shuffle of 4+ map tasks)."""
    if exchange not in EXCHANGES:
        raise UsageError(f"unknown exchange {exchange!r}; expected one of {', '.join(EXCHANGES)}")
    stages: list[Stage] = []
    renamed: dict[str, str] = {}
    for stage in plan.stages:
        # A stage with a shuffle sink is read only through shuffle sources: they read the
        # combine stage instead.
        source = nodes.renamed_source(stage.source, renamed)
        deps = tuple(renamed.get(d, d) for d in stage.depends_on)
        stage = dataclasses.replace(stage, source=source, depends_on=deps)
        stages.append(stage)
        if _wide(stage, exchange):
            combine = _combine_stage(stage, task_bytes)
            renamed[stage.id] = combine.id
            stages.append(combine)
    if not renamed:
        return plan
    return dataclasses.replace(plan, stages=tuple(stages))
