"""Cutting a logical query into stages: map (scan, filter, project, partial aggregate or top-k),
reduce (final aggregate, HAVING, projection, top-k) and, when several tasks produce ordered or
limited output, a single-task merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .logical import LogicalQuery
from .plan import Plan, Stage


@dataclass(frozen=True)
class PlanOptions:
    """Knobs that shape the physical plan."""

    workers: int = 2
    reducers: int | None = None


def _scan_source(q: LogicalQuery) -> dict[str, Any]:
    t = q.table
    return {
        "type": "scan",
        "table": t.name,
        "format": t.format,
        "delimiter": t.delimiter,
        "header": t.header,
        "columns": [{"name": c.name, "type": c.type} for c in t.columns],
        "read": list(q.read_columns),
    }


def _project(columns) -> dict[str, Any]:
    return {"op": "project", "columns": [{"name": n, "expr": e} for n, e in columns]}


def _tail_ops(q: LogicalQuery) -> list[dict[str, Any]]:
    """ORDER BY and LIMIT: run per task (a top-k) and again in the merge."""
    ops: list[dict[str, Any]] = []
    if q.order:
        sort: dict[str, Any] = {
            "op": "sort",
            "keys": [
                {"column": k.column, "descending": k.descending, "nulls_first": k.nulls_first}
                for k in q.order
            ],
        }
        if q.limit is not None:
            sort["limit"] = q.limit
        ops.append(sort)
    if q.limit is not None:
        ops.append({"op": "limit", "count": q.limit})
    return ops


def _final_ops(q: LogicalQuery) -> list[dict[str, Any]]:
    """Drop hidden ORDER BY columns once the last sort is done."""
    if len(q.projections) == len(q.outputs):
        return []
    return [_project((o.internal, {"col": o.internal}) for o in q.outputs)]


def default_reducers(map_tasks: int, workers: int) -> int:
    """Reducers when --reducers is not given: one per worker, never more than map tasks."""
    return max(1, min(workers, map_tasks))


def build_plan(q: LogicalQuery, splits: list[list[dict]], options: PlanOptions) -> Plan:
    """The stages that compute a logical query over the given splits."""
    map_tasks = tuple({"ranges": ranges} for ranges in splits)
    map_ops: list[dict[str, Any]] = []
    if q.where is not None:
        map_ops.append({"op": "filter", "predicate": q.where})
    tail, final = _tail_ops(q), _final_ops(q)
    stages: list[Stage] = []

    if not q.grouped:
        map_ops.append(_project(q.projections))
        last = Stage("map", "map", _scan_source(q), (), {"type": "result"}, map_tasks)
        producing_ops = map_ops
    else:
        pre = [*q.keys, *q.agg_inputs]
        if pre:
            map_ops.append(_project(pre))
        keys = [name for name, _ in q.keys]
        map_ops.append(
            {
                "op": "aggregate",
                "phase": "partial",
                "keys": keys,
                "aggregates": [
                    {
                        "name": a.partial_name,
                        "fn": a.partial_fn,
                        **({"column": a.input} if a.input else {}),
                    }
                    for a in q.aggregates
                ],
            }
        )
        partitions = (
            1 if not keys else options.reducers or default_reducers(len(map_tasks), options.workers)
        )
        stages.append(
            Stage(
                "map",
                "map",
                _scan_source(q),
                tuple(map_ops),
                {"type": "shuffle", "partitions": partitions, "keys": keys},
                map_tasks,
            )
        )
        reduce_ops: list[dict[str, Any]] = [
            {
                "op": "aggregate",
                "phase": "final",
                "keys": keys,
                "aggregates": [
                    {"name": a.final_name, "fn": a.final_fn, "column": a.partial_name}
                    for a in q.aggregates
                ],
            }
        ]
        if q.having is not None:
            reduce_ops.append({"op": "filter", "predicate": q.having})
        reduce_ops.append(_project(q.projections))
        last = Stage(
            "reduce",
            "reduce",
            {"type": "shuffle", "stage": "map"},
            (),
            {"type": "result"},
            tuple({"partition": p} for p in range(partitions)),
            ("map",),
        )
        producing_ops = reduce_ops

    if len(last.tasks) == 1 or not tail:
        stages.append(_with_ops(last, [*producing_ops, *tail, *final]))
    else:
        stages.append(_with_ops(last, [*producing_ops, *tail]))
        stages.append(
            Stage(
                "merge",
                "merge",
                {"type": "gather", "stage": last.id},
                tuple([*tail, *final]),
                {"type": "result"},
                ({},),
                (last.id,),
            )
        )
    return Plan(
        query=q.sql,
        columns=tuple((o.name, o.type) for o in q.outputs),
        stages=tuple(stages),
        internal=tuple(o.internal for o in q.outputs),
    )


def _with_ops(stage: Stage, ops: list[dict[str, Any]]) -> Stage:
    return Stage(
        stage.id, stage.kind, stage.source, tuple(ops), stage.sink, stage.tasks, stage.depends_on
    )
