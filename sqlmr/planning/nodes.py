"""The plan nodes the planner makes, each built through sqlmr_runtime.build from its declaration
in sqlmr_runtime.spec, so a misspelt operator, source, sink or field fails where the planner
makes it (in the planner's unit tests), not in a task.

Each function returns the node's JSON, with its keys in the order the plan has always written
them (the golden plans in tests/fixtures/plans compare the text).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlmr_runtime import build

from sqlmr.compiler.logical import SortKey

Json = dict[str, Any]


# -- operators ------------------------------------------------------------------------------------


def project(columns: Iterable[tuple[str, Json]]) -> Json:
    """Compute the output columns (name, expression), in order."""
    named = [build.record("named_expr", name=n, expr=e) for n, e in columns]
    return build.op("project", columns=named)


def keep(columns: Iterable[str]) -> Json:
    """Project to these columns as they are."""
    return project((c, build.col(c)) for c in columns)


def filter_rows(predicate: Json) -> Json:
    """Keep the rows where the predicate is true."""
    return build.op("filter", predicate=predicate)


def sort_keys(keys: Sequence[SortKey]) -> list[Json]:
    """ORDER BY keys as plan sort keys."""
    return [
        build.record(
            "sort_key", column=k.column, descending=k.descending, nulls_first=k.nulls_first
        )
        for k in keys
    ]


def sort(keys: list[Json], limit: int | None = None) -> Json:
    """Sort by the keys; with a limit, keep only the first `limit` rows (a top-k)."""
    return build.op("sort", keys=keys, limit=limit)


def limit(count: int) -> Json:
    """Keep the first `count` rows."""
    return build.op("limit", count=count)


def aggregate(phase: str, keys: list[str], aggregates: list[Json]) -> Json:
    """Group by the keys; `aggregates` are built with `call`."""
    return build.op("aggregate", phase=phase, keys=keys, aggregates=aggregates)


def call(name: str, fn: str, column: str | None = None) -> Json:
    """One aggregate call, output as column `name`."""
    return build.aggregate(name, fn, column)


def expand(projections: list[list[Json]]) -> Json:
    """Stack one copy of the rows per projection (lists of named_expr records)."""
    return build.op("expand", projections=projections)


def named(name: str, expr: Json) -> Json:
    """An output column of a projection."""
    return build.record("named_expr", name=name, expr=expr)


# -- sources and sinks ----------------------------------------------------------------------------


def shuffle_source(stage: str) -> Json:
    """Read this task's partitions of an earlier stage's shuffle outputs."""
    return build.source("shuffle", stage=stage)


def gather_source(stage: str, range_keys: list[Json] | None = None) -> Json:
    """Read every result of an earlier stage (with `range_keys`: this task's key range)."""
    return build.source("gather", stage=stage, range=range_keys)


def combine_source(stage: str) -> Json:
    """Merge runs of an earlier stage's shuffle outputs."""
    return build.source("combine", stage=stage)


def join_source(
    how: str,
    left: tuple[Json, list[Json]],
    right: tuple[Json, list[Json]],
    left_keys: list[str],
    right_keys: list[str],
    broadcast: str | None = None,
) -> Json:
    """Join two inputs, each (source, ops), on key columns; `broadcast` names the side every
    task reads whole."""
    return build.source(
        "join",
        how=how,
        left=build.record("join_side", source=left[0], ops=list(left[1])),
        right=build.record("join_side", source=right[0], ops=list(right[1])),
        left_keys=left_keys,
        right_keys=right_keys,
        broadcast=broadcast,
    )


def union_source(branches: list[tuple[Json, list[Json]]]) -> Json:
    """UNION ALL of inputs, each (source, ops): a task reads one branch."""
    sides = [build.record("join_side", source=src, ops=list(ops)) for src, ops in branches]
    return build.source("union", branches=sides)


def union_task(branch: int, task: Json) -> Json:
    """A task of a union: a task of one branch's source."""
    return build.record("union_task", branch=branch, task=task)


def shuffle_sink(partitions: int, keys: list[str]) -> Json:
    """Hash-partition the rows by the keys into one object per task."""
    return build.sink("shuffle", partitions=partitions, keys=keys)


def result_sink(sample_keys: list[Json] | None = None, rows: int = 0) -> Json:
    """Write the rows as the stage's result (with `sample_keys`: return a sample of them)."""
    sample = None
    if sample_keys is not None:
        sample = build.record("sort_sample", keys=sample_keys, rows=rows)
    return build.sink("result", sample=sample)


def stage_kind(source: Json) -> str:
    """The kind of stage that reads this source."""
    return {"shuffle": "reduce", "gather": "merge"}.get(source["type"], "map")


def renamed_source(source: Json, mapping: dict[str, str]) -> Json:
    """The source with the stages it reads (its sides' too) renamed by `mapping`."""
    if source["type"] == "join":
        sides = {
            side: {**source[side], "source": renamed_source(source[side]["source"], mapping)}
            for side in ("left", "right")
        }
        return {**source, **sides}
    if source["type"] == "union":
        branches = [
            {**b, "source": renamed_source(b["source"], mapping)} for b in source["branches"]
        ]
        return {**source, "branches": branches}
    if "stage" in source and source["stage"] in mapping:
        return {**source, "stage": mapping[source["stage"]]}
    return source


# -- tasks ----------------------------------------------------------------------------------------


def scan_task(ranges: list[Json]) -> Json:
    """A task reading byte ranges of a table's objects."""
    return build.record("scan_task", ranges=ranges)


def partition_task(partition: int) -> Json:
    """A task reading partition p of a shuffle (or joining partition p of two)."""
    return build.record("shuffle_task", partition=partition)


def join_task(left: Json, right: Json) -> Json:
    """A join task: the input of each side."""
    return build.record("join_task", left=left, right=right)


def gather_task() -> Json:
    """The one task of a stage that reads every result of another."""
    return build.record("gather_task")


def combine_task(outputs: list[int]) -> Json:
    """A combine task: the [lo, hi) run of map outputs it merges."""
    return build.record("combine_task", outputs=outputs)
