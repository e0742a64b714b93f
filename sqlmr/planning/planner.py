"""Cutting a logical query into stages.

- map: scan a split, filter, project, then a partial aggregate (shuffled by the group keys) or
  result rows (with a per-task top-k for ORDER BY … LIMIT);
- a join of two tables either broadcasts the small side into every map task of the big side, or
  shuffles both sides by the join key into a join stage;
- reduce: final aggregate, HAVING, projection, per-task top-k;
- merge: one task that orders and limits the outputs of several tasks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlmr_runtime import build

from sqlmr.catalog import Table
from sqlmr.compiler.logical import LogicalQuery, ScanSide
from sqlmr.compiler.names import internal
from sqlmr.defaults import BROADCAST_THRESHOLD, TASK_MEMORY
from sqlmr.planning.plan import Plan, Stage

MB = 1 << 20
TAG, ONE = internal("tag"), internal("one")
NUMERIC = ("int32", "int64", "float64")


@dataclass(frozen=True)
class PlanOptions:
    """Knobs that shape the physical plan."""

    workers: int = 2
    reducers: int | None = None
    broadcast_threshold: int = BROADCAST_THRESHOLD
    task_memory: int = TASK_MEMORY


@dataclass(frozen=True)
class SideInput:
    """The splits of one table and its size in bytes."""

    splits: list[list[dict]]
    bytes: int


def _scan_source(side: ScanSide) -> dict[str, Any]:
    return scan_source(side.table, side.read_columns)


def scan_source(t: Table, read_columns) -> dict[str, Any]:
    """The plan source that reads some columns of a table."""
    parts = set(t.partitions or ())
    return build.source(
        "scan",
        table=t.name,
        format=t.format,
        delimiter=t.delimiter,
        header=t.header,
        quote=t.quote,
        columns=[{"name": c.name, "type": c.type} for c in t.columns if c.name not in parts],
        read=list(read_columns),
        trailing_delimiter=True if t.trailing_delimiter else None,
        compression=t.compression,
        partitions=[{"name": c.name, "type": c.type} for c in t.columns if c.name in parts] or None,
    )


def _project(columns) -> dict[str, Any]:
    return {"op": "project", "columns": [{"name": n, "expr": e} for n, e in columns]}


def _side_ops(side: ScanSide) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    if side.filter is not None:
        ops.append({"op": "filter", "predicate": side.filter})
    if side.rename:
        ops.append(_project(side.rename))
    return ops


def _tail_ops(q: LogicalQuery) -> list[dict[str, Any]]:
    """ORDER BY and LIMIT: run per task (a top-k) and again in the merge."""
    ops: list[dict[str, Any]] = []
    if q.order:
        keys = [
            {"column": k.column, "descending": k.descending, "nulls_first": k.nulls_first}
            for k in q.order
        ]
        sort: dict[str, Any] = {"op": "sort", "keys": keys}
        if q.limit is not None:
            sort["limit"] = q.limit
        ops.append(sort)
    if q.limit is not None:
        ops.append({"op": "limit", "count": q.limit})
    return ops


def _shape_ops(q: LogicalQuery) -> list[dict[str, Any]]:
    """The select list, then an outer query's filter and select list over it."""
    ops = [_project(q.projections)]
    if q.post_filter is not None:
        ops.append({"op": "filter", "predicate": q.post_filter})
    if q.post_projections:
        ops.append(_project(q.post_projections))
    return ops


def _final_ops(q: LogicalQuery) -> list[dict[str, Any]]:
    """Drop hidden ORDER BY columns once the last sort is done."""
    last = q.post_projections or q.projections
    if len(last) == len(q.outputs):
        return []
    return [_project((o.internal, {"col": o.internal}) for o in q.outputs)]


MAX_REDUCERS = 1000
# A task's input is at most this fraction of its memory budget: parsed, hashed, aggregated and
# encoded again, data takes about eight times its (compressed or text) size at the peak, measured.
INPUT_SHARE = 24


def default_reducers(
    map_tasks: int, workers: int, shuffle_bytes: int = 0, task_memory: int = TASK_MEMORY
) -> int:
    """Reducers when --reducers is not given.

    Enough that each reducer's share of the shuffle (estimated from the bytes of the columns the
    map reads, an upper bound on what partial aggregation leaves) stays within INPUT_SHARE of the
    task memory budget, and at least one per worker while there are that many map tasks.
    """
    by_memory = -(-shuffle_bytes // max(1, task_memory // INPUT_SHARE))
    return max(1, min(MAX_REDUCERS, max(by_memory, min(workers, map_tasks))))


def shuffle_estimate(q: LogicalQuery, inputs: list[SideInput]) -> int:
    """Bytes the map stage may shuffle: the input, scaled by the share of columns it reads."""
    total = 0
    for side, inp in zip(q.sides, inputs, strict=True):
        total += inp.bytes * len(side.read_columns) // max(1, len(side.table.columns))
    return total


def _input_stage(q: LogicalQuery, inputs: list[SideInput], options: PlanOptions, flow=None):
    """Stages before the first operator over whole rows, and that operator stage's input:
    (earlier stages, stage id, kind, source, tasks, first ops)."""
    if flow is not None:  # a joined flow of FROM items (planning/joins.py)
        kind = {"shuffle": "reduce", "gather": "merge"}.get(flow.source["type"], "map")
        return list(flow.stages), "map", kind, flow.source, tuple(flow.tasks), list(flow.ops)
    if len(q.sides) == 1:
        side = q.sides[0]
        tasks = tuple({"ranges": ranges} for ranges in inputs[0].splits)
        return [], "map", "map", _scan_source(side), tasks, _side_ops(side)
    left_keys = [k for k, _ in q.join_keys]
    right_keys = [k for _, k in q.join_keys]
    residual = [{"op": "filter", "predicate": q.where}] if q.where is not None else []
    small = 0 if inputs[0].bytes <= inputs[1].bytes else 1
    if inputs[small].bytes <= options.broadcast_threshold:
        # Broadcast: every map task of the big side reads the whole small side; no shuffle.
        big = 1 - small
        whole = [r for split in inputs[small].splits for r in split]
        source = {
            "type": "join",
            "how": "inner",
            "left": {"source": _scan_source(q.sides[0]), "ops": _side_ops(q.sides[0])},
            "right": {"source": _scan_source(q.sides[1]), "ops": _side_ops(q.sides[1])},
            "left_keys": left_keys,
            "right_keys": right_keys,
            "broadcast": ("left", "right")[small],
        }
        tasks = []
        for split in inputs[big].splits:
            task = {("left", "right")[big]: {"ranges": split}}
            task[("left", "right")[small]] = {"ranges": whole}
            tasks.append(task)
        return [], "map", "map", source, tuple(tasks), residual
    # Shuffle join: both sides are partitioned by the join key; join task p joins partition p.
    partitions = options.reducers or default_reducers(
        max(len(i.splits) for i in inputs),
        options.workers,
        shuffle_estimate(q, inputs),
        options.task_memory,
    )
    stages = []
    for name, side, split_input, keys in (
        ("map_left", q.sides[0], inputs[0], left_keys),
        ("map_right", q.sides[1], inputs[1], right_keys),
    ):
        stages.append(
            Stage(
                name,
                "map",
                _scan_source(side),
                tuple(_side_ops(side)),
                {"type": "shuffle", "partitions": partitions, "keys": keys},
                tuple({"ranges": ranges} for ranges in split_input.splits),
            )
        )
    source = {
        "type": "join",
        "how": "inner",
        "left": {"source": {"type": "shuffle", "stage": "map_left"}, "ops": []},
        "right": {"source": {"type": "shuffle", "stage": "map_right"}, "ops": []},
        "left_keys": left_keys,
        "right_keys": right_keys,
    }
    tasks = tuple({"left": {"partition": p}, "right": {"partition": p}} for p in range(partitions))
    return stages, "join", "join", source, tasks, residual


def build_plan(
    q: LogicalQuery, inputs: list[SideInput], options: PlanOptions, flow: Any = None
) -> Plan:
    """The stages that compute a logical query over the given splits, or over a flow of joined
    rows (a Block's FROM items, planned by planning/joins.py)."""
    stages, first_id, first_kind, source, tasks, first_ops = _input_stage(q, inputs, options, flow)
    deps = tuple(s.id for s in stages) or (tuple(flow.deps) if flow is not None else ())
    estimate = flow.bytes if flow is not None else shuffle_estimate(q, inputs)
    tail, final = _tail_ops(q), _final_ops(q)

    if not q.grouped:
        producing_ops = [*first_ops, *_shape_ops(q)]
        last = Stage(first_id, first_kind, source, (), {"type": "result"}, tasks, deps)
    else:
        ops = list(first_ops)
        pre = [*q.keys, *q.agg_inputs]
        if pre:
            ops.append(_project(pre))
        keys = [name for name, _ in q.keys]
        if options.reducers:
            reducers, coalesce = options.reducers, None
        else:
            # Plan more partitions than reducers; the driver packs them into reduce tasks of at
            # most 1/INPUT_SHARE of the task memory once the map outputs' sizes are known.
            estimated = default_reducers(len(tasks), options.workers, estimate, options.task_memory)
            reducers = min(MAX_REDUCERS, 4 * max(estimated, options.workers))
            coalesce = options.task_memory // INPUT_SHARE
        partitions = 1 if not keys else reducers
        if q.distinct:
            first = (first_id, first_kind, source, tasks, deps)
            upstream = _distinct_stages(q, stages, first, ops, reducers, partitions, coalesce)
        else:
            partial = [
                {"name": a.partial_name, "fn": a.partial_fn}
                | ({"column": a.input} if a.input else {})
                for a in q.aggregates
            ]
            ops.append({"op": "aggregate", "phase": "partial", "keys": keys, "aggregates": partial})
            sink = {"type": "shuffle", "partitions": partitions, "keys": keys}
            stages.append(Stage(first_id, first_kind, source, tuple(ops), sink, tasks, deps))
            upstream = first_id
        final_aggs = [
            {"name": a.final_name, "fn": a.final_fn, "column": a.partial_name} for a in q.aggregates
        ]
        for i, d in enumerate(q.distinct):
            final_aggs.append({"name": d.count, "fn": "sum", "column": internal("dc", i)})
            if d.type in NUMERIC:
                final_aggs.append({"name": d.sum, "fn": "sum", "column": internal("ds", i)})
        producing_ops = [
            {"op": "aggregate", "phase": "final", "keys": keys, "aggregates": final_aggs}
        ]
        if q.having is not None:
            producing_ops.append({"op": "filter", "predicate": q.having})
        producing_ops += _shape_ops(q)
        last = Stage(
            "reduce",
            "reduce",
            {"type": "shuffle", "stage": upstream},
            (),
            {"type": "result"},
            tuple({"partition": p} for p in range(partitions)),
            (upstream,),
            coalesce if partitions > 1 else None,
        )

    if (len(last.tasks) == 1 and not last.coalesce_bytes) or not tail:
        stages.append(_with_ops(last, [*producing_ops, *tail, *final]))
    elif q.limit is None:
        stages += _range_sort(last, [*producing_ops, *tail], tail, final, options)
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


SORT_SAMPLE = 64  # sort-key rows each producing task returns for choosing range boundaries


def _range_sort(last: Stage, ops: list, tail: list, final: list, options: PlanOptions):
    """ORDER BY without LIMIT over several tasks: each task sorts its rows and returns a sample
    of its keys; the driver picks range boundaries from the samples, and merge task p sorts
    the rows of range p from every output (at most about 1/INPUT_SHARE of the task memory
    each). No task and not the driver ever holds the whole result."""
    keys = tail[0]["keys"]
    producing = dataclasses.replace(
        last,
        ops=tuple(ops),
        sink={"type": "result", "sample": {"keys": keys, "rows": SORT_SAMPLE}},
    )
    merge = Stage(
        "merge",
        "merge",
        {"type": "gather", "stage": last.id, "range": keys},
        tuple([*tail, *final]),
        {"type": "result"},
        ({},),
        (last.id,),
        options.task_memory // INPUT_SHARE,
    )
    return [producing, merge]


def _distinct_stages(
    q: LogicalQuery,
    stages: list,
    first: tuple,
    ops: list,
    reducers: int,
    partitions: int,
    coalesce: int | None,
) -> str:
    """Two-level aggregation for DISTINCT aggregates; returns the id of the stage to reduce.

    The map stage stacks one copy of each row per DISTINCT argument (tagged, with only that
    argument set) under the copy that carries the ordinary aggregates, and aggregates by group
    keys, tag and arguments, which deduplicates each argument per group. It shuffles by all of
    them; the dedup stage merges duplicates across map tasks, then counts and sums each argument
    per group and shuffles by the group keys alone to the usual reduce.
    """
    first_id, first_kind, source, tasks, deps = first
    keys = [name for name, _ in q.keys]
    dvs = [d.name for d in q.distinct]
    null = {"lit": None, "type": "null"}
    inputs = [name for name, _ in q.agg_inputs]

    def copy(tag: int, distinct_index: int | None) -> list[dict[str, Any]]:
        columns = [{"name": k, "expr": {"col": k}} for k in keys]
        columns.append({"name": TAG, "expr": {"lit": tag, "type": "int32"}})
        for i, d in enumerate(q.distinct):
            expr = {"col": d.input} if i == distinct_index else null
            columns.append({"name": d.name, "expr": expr})
        regular = distinct_index is None
        columns += [{"name": a, "expr": {"col": a} if regular else null} for a in inputs]
        one = {"lit": 1, "type": "int64"} if regular else null
        columns.append({"name": ONE, "expr": one})
        return columns

    copies = [copy(-1, None)] if q.aggregates else []
    copies += [copy(i, i) for i in range(len(q.distinct))]
    group = [*keys, TAG, *dvs]
    # COUNT(*) counts the ordinary copy of each row only.
    partial = [
        {"name": a.partial_name, "fn": "count", "column": ONE}
        if a.partial_fn == "count_all"
        else {"name": a.partial_name, "fn": a.partial_fn, "column": a.input}
        for a in q.aggregates
    ]
    map_ops = [
        *ops,
        {"op": "expand", "projections": copies},
        {"op": "aggregate", "phase": "partial", "keys": group, "aggregates": partial},
    ]
    sink = {"type": "shuffle", "partitions": reducers, "keys": group}
    stages.append(Stage(first_id, first_kind, source, tuple(map_ops), sink, tasks, deps))
    merged = [
        {"name": internal("q", n), "fn": a.final_fn, "column": a.partial_name}
        for n, a in enumerate(q.aggregates)
    ]
    per_group = [
        {"name": a.partial_name, "fn": a.final_fn, "column": internal("q", n)}
        for n, a in enumerate(q.aggregates)
    ]
    # BIGINT arguments are summed as 38-digit decimals (HUGEINT), like plain SUM(BIGINT).
    widen = {d.name: internal("dw", i) for i, d in enumerate(q.distinct) if d.type == "int64"}
    for i, d in enumerate(q.distinct):
        per_group.append({"name": internal("dc", i), "fn": "count", "column": d.name})
        if d.type in NUMERIC:
            per_group.append(
                {"name": internal("ds", i), "fn": "sum", "column": widen.get(d.name, d.name)}
            )
    dedup_ops: tuple[dict[str, Any], ...] = (
        {"op": "aggregate", "phase": "final", "keys": group, "aggregates": merged},
    )
    if widen:
        kept = [*group, *(m["name"] for m in merged)]
        columns = [(c, {"col": c}) for c in kept]
        columns += [
            (w, {"fn": "cast", "args": [{"col": d}], "to": "int128"}) for d, w in widen.items()
        ]
        dedup_ops += (_project(columns),)
    dedup_ops += ({"op": "aggregate", "phase": "partial", "keys": keys, "aggregates": per_group},)
    stages.append(
        Stage(
            "dedup",
            "reduce",
            {"type": "shuffle", "stage": first_id},
            dedup_ops,
            {"type": "shuffle", "partitions": partitions, "keys": keys},
            tuple({"partition": p} for p in range(reducers)),
            (first_id,),
            coalesce,
        )
    )
    return "dedup"


def _with_ops(stage: Stage, ops: list[dict[str, Any]]) -> Stage:
    return dataclasses.replace(stage, ops=tuple(ops))
