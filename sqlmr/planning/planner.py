"""Cutting a logical query into stages.

- map: scan a split, filter, project, then a partial aggregate (shuffled by the group keys) or
  result rows (with a per-task top-k for ORDER BY … LIMIT);
- a join of two tables either broadcasts the small side into every map task of the big side, or
  shuffles both sides by the join key into a join stage;
- reduce: final aggregate, HAVING, projection, per-task top-k;
- merge: one task that orders and limits the outputs of several tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmr_runtime import build

from sqlmr.catalog import Table
from sqlmr.compiler.logical import LogicalQuery, ScanSide
from sqlmr.compiler.names import internal
from sqlmr.defaults import BROADCAST_THRESHOLD, TASK_MEMORY
from sqlmr.planning import nodes
from sqlmr.planning.distinct import Fanout, distinct_stages, summable
from sqlmr.planning.ordering import ordered_stages
from sqlmr.planning.plan import InputStage, Plan, Stage

Json = dict[str, Any]


@dataclass(frozen=True)
class PlanOptions:
    """Knobs that shape the physical plan."""

    workers: int = 2
    reducers: int | None = None
    broadcast_threshold: int = BROADCAST_THRESHOLD
    task_memory: int = TASK_MEMORY


@dataclass(frozen=True)
class SideInput:
    """The splits of one table, its size in bytes, and the share of its rows the scan's filter
    keeps where that was sampled (Parquet; None: not known)."""

    splits: list[list[dict]]
    bytes: int
    kept: float | None = None


def _scan_source(side: ScanSide) -> Json:
    return scan_source(side.table, side.read_columns)


def scan_source(t: Table, read_columns) -> Json:
    """The plan source that reads some columns of a table."""
    parts = set(t.partitions or ())

    def defs(partitions: bool) -> list[Json]:
        return [
            build.record("column_def", name=c.name, type=c.type)
            for c in t.columns
            if (c.name in parts) == partitions
        ]

    return build.source(
        "scan",
        table=t.name,
        format=t.format,
        delimiter=t.delimiter,
        header=t.header,
        header_names=list(t.header_names) or None,
        quote=t.quote,
        columns=defs(False),
        read=list(read_columns),
        trailing_delimiter=True if t.trailing_delimiter else None,
        newlines_in_values=True if t.newlines_in_values else None,
        compression=t.compression,
        partitions=defs(True) or None,
    )


def _side_ops(side: ScanSide) -> list[Json]:
    ops: list[Json] = []
    if side.filter is not None:
        ops.append(nodes.filter_rows(side.filter))
    if side.rename:
        ops.append(nodes.project(side.rename))
    return ops


def _shape_ops(q: LogicalQuery) -> list[Json]:
    """The select list, then an outer query's filter and select list over it."""
    ops = [nodes.project(q.projections)]
    if q.post_filter is not None:
        ops.append(nodes.filter_rows(q.post_filter))
    if q.post_projections:
        ops.append(nodes.project(q.post_projections))
    return ops


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
    """The stages before the first operator over whole rows, and that operator's stage."""
    if flow is not None:  # a joined flow of FROM items (planning/joins.py)
        kind = nodes.stage_kind(flow.source)
        earlier = tuple(flow.stages)
        deps = tuple(s.id for s in earlier) or tuple(flow.deps)
        return InputStage(
            earlier, "map", kind, flow.source, tuple(flow.tasks), tuple(flow.ops), deps
        )
    if len(q.sides) == 1:
        side = q.sides[0]
        tasks = tuple(nodes.scan_task(ranges) for ranges in inputs[0].splits)
        return InputStage((), "map", "map", _scan_source(side), tasks, tuple(_side_ops(side)))
    gathered = _gathered_side(q, inputs, options)
    if gathered is not None:
        return _gathered_broadcast_input(q, inputs, gathered)
    small = 0 if inputs[0].bytes <= inputs[1].bytes else 1
    if inputs[small].bytes <= options.broadcast_threshold:
        return _broadcast_input(q, inputs, small)
    return _shuffle_input(q, inputs, options)


# A side whose sampled filter leaves it this many times smaller than the other is scanned and
# filtered in a stage of its own and broadcast. Measured on Parquet at Amplab 0.05 (under load):
# 3a's uservisits kept 0.6%, 18x smaller than rankings: CPU 0.81x, wall 0.67x; 3b's kept 7%,
# 1.5x smaller: CPU 1.06x, wall 1.25x (indexing 550k rows instead of 900k gains less than the
# extra stage's results cost).
_GATHER_MARGIN = 4


def _gathered_side(q: LogicalQuery, inputs: list[SideInput], options: PlanOptions) -> int | None:
    """The side to broadcast once filtered, when its filter was sampled (Parquet) and leaves it
    small: the bytes of the columns it reads, in the share of rows kept, at most the broadcast
    threshold and _GATHER_MARGIN times less than the other side's. Amplab 3a's date range keeps
    0.6% of uservisits, 2 MB against rankings' 35 MB: indexing those rows and probing rankings
    costs less than indexing rankings' 900k rows (and waiting for it)."""
    if all(i.kept is None for i in inputs):
        return None
    sizes = [
        i.bytes * len(side.read_columns) / max(1, len(side.table.columns)) * _kept(i)
        for side, i in zip(q.sides, inputs, strict=True)
    ]
    s = 0 if sizes[0] <= sizes[1] else 1  # both filtered: the smaller
    sampled = inputs[s].kept is not None and len(inputs[s].splits) > 1
    fits = sizes[s] <= options.broadcast_threshold
    return s if sampled and fits and sizes[s] * _GATHER_MARGIN <= sizes[1 - s] else None


def _kept(side: SideInput) -> float:
    return 1.0 if side.kept is None else side.kept


def _join_keys(q: LogicalQuery) -> tuple[list[str], list[str]]:
    return [k for k, _ in q.join_keys], [k for _, k in q.join_keys]


def _residual(q: LogicalQuery) -> tuple[Json, ...]:
    return (nodes.filter_rows(q.where),) if q.where is not None else ()


def _broadcast_input(q: LogicalQuery, inputs: list[SideInput], small: int) -> InputStage:
    """Two tables, one small: every map task of the big side reads the whole small side; no
    shuffle."""
    big, sides = 1 - small, ("left", "right")
    whole = [r for split in inputs[small].splits for r in split]
    left_keys, right_keys = _join_keys(q)
    source = nodes.join_source(
        "inner",
        (_scan_source(q.sides[0]), _side_ops(q.sides[0])),
        (_scan_source(q.sides[1]), _side_ops(q.sides[1])),
        left_keys,
        right_keys,
        broadcast=sides[small],
    )
    tasks = []
    for split in inputs[big].splits:
        # The big side first, as the plans have always been written.
        task = {sides[big]: nodes.scan_task(split), sides[small]: nodes.scan_task(whole)}
        tasks.append(build.record("join_task", **task))
    return InputStage((), "map", "map", source, tuple(tasks), _residual(q))


def _gathered_broadcast_input(q: LogicalQuery, inputs: list[SideInput], small: int) -> InputStage:
    """Two tables, one small once its (sampled) filter has run: a stage of its own scans and
    filters it in parallel into results, which every map task of the other side reads whole
    (read directly, its whole scan would run in the one task that indexes it, the other
    workers waiting)."""
    big, sides = 1 - small, ("left", "right")
    side = q.sides[small]
    stage = Stage(
        f"map_{sides[small]}",
        "map",
        _scan_source(side),
        tuple(_side_ops(side)),
        nodes.result_sink(),
        tuple(nodes.scan_task(ranges) for ranges in inputs[small].splits),
    )
    shaped = [(_scan_source(s), _side_ops(s)) for s in q.sides]
    shaped[small] = (nodes.gather_source(stage.id), [])
    left_keys, right_keys = _join_keys(q)
    source = nodes.join_source(
        "inner", shaped[0], shaped[1], left_keys, right_keys, broadcast=sides[small]
    )
    tasks = []
    for split in inputs[big].splits:
        task = {sides[big]: nodes.scan_task(split), sides[small]: nodes.gather_task()}
        tasks.append(build.record("join_task", **task))
    return InputStage((stage,), "map", "map", source, tuple(tasks), _residual(q), (stage.id,))


def _shuffle_input(q: LogicalQuery, inputs: list[SideInput], options: PlanOptions) -> InputStage:
    """Two tables, both big: both are partitioned by the join key; join task p joins partition p."""
    partitions = options.reducers or default_reducers(
        max(len(i.splits) for i in inputs),
        options.workers,
        shuffle_estimate(q, inputs),
        options.task_memory,
    )
    left_keys, right_keys = _join_keys(q)
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
                nodes.shuffle_sink(partitions, keys),
                tuple(nodes.scan_task(ranges) for ranges in split_input.splits),
            )
        )
    source = nodes.join_source(
        "inner",
        (nodes.shuffle_source("map_left"), []),
        (nodes.shuffle_source("map_right"), []),
        left_keys,
        right_keys,
    )
    part = nodes.partition_task
    tasks = tuple(nodes.join_task(part(p), part(p)) for p in range(partitions))
    deps = tuple(s.id for s in stages)
    return InputStage(tuple(stages), "join", "join", source, tasks, _residual(q), deps)


def build_plan(
    q: LogicalQuery, inputs: list[SideInput], options: PlanOptions, flow: Any = None
) -> Plan:
    """The stages that compute a logical query over the given splits, or over a flow of joined
    rows (a Block's FROM items, planned by planning/joins.py)."""
    first = _input_stage(q, inputs, options, flow)
    if not q.grouped:
        stages = list(first.earlier)
        last = first.close((), nodes.result_sink())
        producing = [*first.ops, *_shape_ops(q)]
    else:
        estimate = flow.bytes if flow is not None else shuffle_estimate(q, inputs)
        stages, last, producing = _grouped(q, first, estimate, options)
    stages += ordered_stages(q, last, producing, options.task_memory // INPUT_SHARE)
    return Plan(
        query=q.sql,
        columns=tuple((o.name, o.type) for o in q.outputs),
        stages=tuple(stages),
        internal=tuple(o.internal for o in q.outputs),
    )


def _fanout(q: LogicalQuery, tasks: int, estimate: int, options: PlanOptions) -> Fanout:
    """Reducers for a grouped query: given, or more partitions than reducers, which the driver
    packs into reduce tasks of at most 1/INPUT_SHARE of the task memory once the map outputs'
    sizes are known."""
    if options.reducers:
        reducers, coalesce = options.reducers, None
    else:
        estimated = default_reducers(tasks, options.workers, estimate, options.task_memory)
        reducers = min(MAX_REDUCERS, 4 * max(estimated, options.workers))
        coalesce = options.task_memory // INPUT_SHARE
    return Fanout(reducers, 1 if not q.keys else reducers, coalesce)


def _grouped(
    q: LogicalQuery, first: InputStage, estimate: int, options: PlanOptions
) -> tuple[list[Stage], Stage, list[Json]]:
    """A grouped query: the stages up to the final reduce, the reduce (without ops yet), and
    the ops it runs (final aggregate, HAVING, select list)."""
    ops = list(first.ops)
    pre = [*q.keys, *q.agg_inputs]
    if pre:
        ops.append(nodes.project(pre))
    keys = [name for name, _ in q.keys]
    stages = list(first.earlier)
    if _one_scan_task(first) and not q.distinct and not options.reducers:
        # One task reads every row: it aggregates them itself, a shuffle and a stage fewer
        # (TPC-H Q16's NOT IN over supplier was two round trips of one tiny task each).
        partial = [nodes.call(a.partial_name, a.partial_fn, a.input) for a in q.aggregates]
        ops.append(nodes.aggregate("partial", keys, partial))
        last = first.close((), nodes.result_sink())
        return stages, last, [*ops, *_producing(q, keys)]
    fanout = _fanout(q, len(first.tasks), estimate, options)
    if q.distinct:
        stages += distinct_stages(q, first, ops, fanout)
    else:
        partial = [nodes.call(a.partial_name, a.partial_fn, a.input) for a in q.aggregates]
        ops.append(nodes.aggregate("partial", keys, partial))
        stages.append(first.close(ops, nodes.shuffle_sink(fanout.partitions, keys)))
    upstream = stages[-1].id
    producing = _producing(q, keys)
    last = Stage(
        "reduce",
        "reduce",
        nodes.shuffle_source(upstream),
        (),
        nodes.result_sink(),
        tuple(nodes.partition_task(p) for p in range(fanout.partitions)),
        (upstream,),
        fanout.coalesce if fanout.partitions > 1 else None,
    )
    return stages, last, producing


def _producing(q: LogicalQuery, keys: list[str]) -> list[Json]:
    """The final aggregate over the partials, HAVING and the select list."""
    producing = [nodes.aggregate("final", keys, _final_aggregates(q))]
    if q.having is not None:
        producing.append(nodes.filter_rows(q.having))
    return producing + _shape_ops(q)


def _one_scan_task(first: InputStage) -> bool:
    """Whether the input is one task over table splits (a scan, or a probe scan joined to
    broadcast sides): fixed when planned, never split or packed at run time."""
    source = first.source
    if source["type"] == "join" and source.get("broadcast") in ("left", "right"):
        probe = "right" if source["broadcast"] == "left" else "left"
        source = source[probe]["source"]
    return len(first.tasks) == 1 and source["type"] == "scan"


def _final_aggregates(q: LogicalQuery) -> list[Json]:
    """The reduce's aggregates: each partial's final, and the DISTINCT counts and sums."""
    final = [nodes.call(a.final_name, a.final_fn, a.partial_name) for a in q.aggregates]
    for i, d in enumerate(q.distinct):
        final.append(nodes.call(d.count, "sum", internal("dc", i)))
        if summable(d.type):
            final.append(nodes.call(d.sum, "sum", internal("ds", i)))
    return final
