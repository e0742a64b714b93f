"""Two-level aggregation for DISTINCT aggregates (COUNT/SUM/AVG(DISTINCT …)).

The map stage stacks one copy of each row per DISTINCT argument (tagged, with only that argument
set) under the copy that carries the ordinary aggregates, and aggregates by group keys, tag and
arguments, which deduplicates each argument per group. It shuffles by all of them; the dedup
stage merges duplicates across map tasks, then counts and sums each argument per group and
shuffles by the group keys alone to the usual reduce (planner.build_plan).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmr_runtime import build

from sqlmr.compiler.logical import LogicalQuery
from sqlmr.compiler.names import internal
from sqlmr.planning import nodes
from sqlmr.planning.plan import InputStage, Stage

Json = dict[str, Any]
TAG, ONE = internal("tag"), internal("one")
NUMERIC = ("int32", "int64", "float64")


def summable(type_name: str) -> bool:
    """Whether a DISTINCT argument of this type is summed (numbers; HUGEINT and DECIMAL too)."""
    return type_name in NUMERIC or type_name == "int128" or type_name.startswith("decimal(")


DEDUP = "dedup"  # the id of the stage that the final reduce reads


@dataclass(frozen=True)
class Fanout:
    """How the two shuffles are cut: `reducers` partitions into the dedup stage (coalesced up to
    `coalesce` bytes per task when set), `partitions` out of it into the reduce."""

    reducers: int
    partitions: int
    coalesce: int | None


def distinct_stages(
    q: LogicalQuery, first: InputStage, ops: list[Json], fanout: Fanout
) -> list[Stage]:
    """The map stage (the first stage's ops, then `ops`, then the tagged copies) and the dedup
    stage; the final reduce reads DEDUP."""
    keys = [name for name, _ in q.keys]
    group = [*keys, TAG, *(d.name for d in q.distinct)]
    map_ops = [
        *ops,
        nodes.expand(_copies(q, keys)),
        nodes.aggregate("partial", group, _map_aggregates(q)),
    ]
    dedup = Stage(
        DEDUP,
        "reduce",
        nodes.shuffle_source(first.id),
        tuple(_dedup_ops(q, keys, group)),
        nodes.shuffle_sink(fanout.partitions, keys),
        tuple(nodes.partition_task(p) for p in range(fanout.reducers)),
        (first.id,),
        fanout.coalesce,
    )
    return [first.close(map_ops, nodes.shuffle_sink(fanout.reducers, group)), dedup]


def _copies(q: LogicalQuery, keys: list[str]) -> list[list[Json]]:
    """The projections of the expand: the ordinary copy (when there are ordinary aggregates),
    then one per DISTINCT argument, tagged with its index."""
    null = build.lit(None, "null")
    inputs = [name for name, _ in q.agg_inputs]

    def copy(tag: int, distinct_index: int | None) -> list[Json]:
        columns = [nodes.named(k, build.col(k)) for k in keys]
        columns.append(nodes.named(TAG, build.lit(tag, "int32")))
        for i, d in enumerate(q.distinct):
            columns.append(nodes.named(d.name, build.col(d.input) if i == distinct_index else null))
        regular = distinct_index is None
        columns += [nodes.named(a, build.col(a) if regular else null) for a in inputs]
        columns.append(nodes.named(ONE, build.lit(1, "int64") if regular else null))
        return columns

    copies = [copy(-1, None)] if q.aggregates else []
    return copies + [copy(i, i) for i in range(len(q.distinct))]


def _map_aggregates(q: LogicalQuery) -> list[Json]:
    """The ordinary aggregates over the ordinary copy: COUNT(*) counts that copy's rows only."""
    return [
        nodes.call(a.partial_name, "count", ONE)
        if a.partial_fn == "count_all"
        else nodes.call(a.partial_name, a.partial_fn, a.input)
        for a in q.aggregates
    ]


def _dedup_ops(q: LogicalQuery, keys: list[str], group: list[str]) -> list[Json]:
    """Merge duplicates across map tasks, then count (and sum) each argument per group."""
    merged = [
        nodes.call(internal("q", n), a.final_fn, a.partial_name) for n, a in enumerate(q.aggregates)
    ]
    per_group = [
        nodes.call(a.partial_name, a.final_fn, internal("q", n)) for n, a in enumerate(q.aggregates)
    ]
    # BIGINT arguments are summed as 38-digit decimals (HUGEINT), like plain SUM(BIGINT).
    widen = {d.name: internal("dw", i) for i, d in enumerate(q.distinct) if d.type == "int64"}
    for i, d in enumerate(q.distinct):
        per_group.append(nodes.call(internal("dc", i), "count", d.name))
        if summable(d.type):
            per_group.append(nodes.call(internal("ds", i), "sum", widen.get(d.name, d.name)))
    ops = [nodes.aggregate("final", group, merged)]
    if widen:
        kept = [*group, *(m["name"] for m in merged)]
        columns = [(c, build.col(c)) for c in kept]
        columns += [(w, build.fn("cast", build.col(d), to="int128")) for d, w in widen.items()]
        ops.append(nodes.project(columns))
    ops.append(nodes.aggregate("partial", keys, per_group))
    return ops
