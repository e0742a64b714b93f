"""The relational operators a stage applies to its input table, in plan order.

Group-by and hash join run in Acero, imported on first use: a group-by through pyarrow._acero
(grouping.aggregate), an outer join through Table.join, whose pyarrow.acero pulls in
pyarrow.dataset and its file systems (~12-20 ms of CPU), which no other task needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from . import compute as pc
from . import grouping
from .decimals import narrow_sum, widen_sums
from .errors import PlanValidationError
from .expressions import as_array, evaluate

Op = dict[str, Any]

AGGREGATE_KERNELS = {
    "sum": ("sum", pc.ScalarAggregateOptions(min_count=1)),
    "sum0": ("sum", pc.ScalarAggregateOptions(min_count=0)),  # sums of counts: 0 over no rows
    "count": ("count", pc.CountOptions(mode="only_valid")),
    "count_all": ("count_all", None),
    "min": ("min", None),
    "max": ("max", None),
}
"""Arrow's grouped aggregate for each aggregate of spec.AGGREGATES; count_all counts rows."""


def apply(ops: list[Op], table: pa.Table, local_shuffle: bool = False) -> pa.Table:
    """Run a stage's operators over a table. `local_shuffle`: the output goes to a local job
    store, where sending rows costs less than on S3 (see _barely_reduces)."""
    for op in ops:
        if op["op"] == "aggregate":
            table = _aggregate(op, table, local_shuffle)
        else:
            table = OPERATORS[op["op"]](op, table)
    return table


def _filter(op: Op, table: pa.Table) -> pa.Table:
    mask = evaluate(op["predicate"], table)
    if isinstance(mask, pa.Scalar):
        return table if mask.as_py() else table.slice(0, 0)
    return pc.filter(table, mask)  # NULL drops the row, as in SQL WHERE


def _project(op: Op, table: pa.Table) -> pa.Table:
    n = table.num_rows
    columns = [as_array(evaluate(c["expr"], table), n) for c in op["columns"]]
    names = [c["name"] for c in op["columns"]]
    return pa.Table.from_arrays(columns, names=names)


def _expand(op: Op, table: pa.Table) -> pa.Table:
    """Several projections of the same rows, stacked (one copy of the rows per projection)."""
    parts = [_project({"columns": columns}, table) for columns in op["projections"]]
    # NULL placeholders are of type null; permissive promotion gives them their column's type.
    return pa.concat_tables(parts, promote_options="permissive")


def _aggregate(op: Op, table: pa.Table, local_shuffle: bool = False) -> pa.Table:
    keys = op["keys"]
    specs, names = [], []
    for agg in op["aggregates"]:
        kernel, options = AGGREGATE_KERNELS[agg["fn"]]
        target = [] if agg["fn"] == "count_all" else agg["column"]
        specs.append((target, kernel, options) if options else (target, kernel))
        names.append(agg["name"])
    if not keys and not specs:
        specs = [([], "count_all")]
    table = normalize_zeros(table, keys)
    if op.get("phase") == "partial" and keys and _barely_reduces(table, keys, local_shuffle):
        return _rows_as_partials(op, table)
    table, widened = widen_sums(table, op["aggregates"])
    table, nan_flags = _nan_flags(table, op["aggregates"], specs)
    grouped = grouping.group_by(table, keys, specs)
    # Arrow names aggregates "<col>_<fn>" and has put keys first or last across versions.
    key_set = set(keys)
    aggs = [
        c
        for name, c in zip(grouped.column_names, grouped.columns, strict=True)
        if name not in key_set
    ]
    aggs = _nan_maxima(aggs, nan_flags, len(names))
    if widened:
        aggs = [narrow_sum(c) if pa.types.is_decimal256(c.type) else c for c in aggs]
    key_cols = [grouped.column(k) for k in keys]
    return pa.Table.from_arrays([*key_cols, *aggs], names=[*keys, *names])


def nans(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray | None:
    """Where a floating-point column holds NaN (False for NULL); None when it holds none."""
    if not pa.types.is_floating(column.type):
        return None
    found = pc.fill_null(pc.is_nan(column), False)
    return found if pc.any(found).as_py() else None


def _nan_flags(table: pa.Table, aggregates: list[dict[str, Any]], specs: list):
    """For each MAX over a column holding NaN, a flag column (is NaN) and a MAX of it appended
    to `specs`: NaN is the greatest value in DuckDB, where Arrow's MAX skips it. Returns the
    table with the flags and {aggregate index: spec index of its flag}."""
    flags: dict[int, int] = {}
    for i, agg in enumerate(aggregates):
        if agg["fn"] != "max":
            continue
        found = nans(table.column(agg["column"]))
        if found is not None:
            name = f"\x00nan{i}"
            table = table.append_column(name, found)
            flags[i] = len(specs)
            specs.append((name, "max"))
    return table, flags


def _nan_maxima(aggs: list, flags: dict[int, int], count: int) -> list:
    """The first `count` aggregates, each MAX whose group held a NaN made NaN."""
    for i, j in flags.items():
        nan = pa.scalar(float("nan"), aggs[i].type)
        aggs[i] = pc.if_else(pc.fill_null(aggs[j], False), nan, aggs[i])
    return aggs[:count]


_SAMPLE = 1 << 14  # 65,536 sampled rows cost 4 ms of a ~100 ms map task, these 1-2 ms (measured)
_BLOCKS = 16  # the sample is this many runs of adjacent rows, spread evenly over the table
_MIN_ROWS = 1 << 18  # smaller tables are always aggregated


def _barely_reduces(table: pa.Table, keys: list[str], local_shuffle: bool = False) -> bool:
    """Whether a map task should send its rows as partials instead of aggregating them.

    String keys into a local job store: when over 90% of a sample's keys are distinct. The
    map's one hash table of strings over the whole task misses the cache on keys spread at
    random, while reducers aggregate per partition in small tables and a local shuffle moves
    rows cheaply: skipping cut the CPU of Amplab 2a (text: tasks of 388 k rows kept 49% by
    aggregating; Parquet: 1.9 M rows kept 26%) by 13% and 8%, 2b on Parquet (86% kept) by 12%
    (under load). Integer keys hash cheaply: TPC-H Q17's l_partkey (37% kept, spread at random)
    cost 7% more CPU skipped; keys lying together (Q4, Q13, Q18: 36%, 10%, 25% kept) 2-8% more.
    Otherwise, and always into S3, where every byte is sent and fetched again: when the
    aggregate would leave over 80% of the rows, estimated as below.

    The sample is _BLOCKS runs of adjacent rows spread over the table, not single rows at a
    stride: rows of one key often lie together (TPC-H lineitem by l_orderkey, a join's output
    by its build row), and a stride of 20-30 rows stepped over every such run, so the sample
    looked unique while the aggregate shrank the table 3-10 times (Q4's and Q13's shuffles
    doubled). From n sampled rows with d distinct keys, uniform keys from a space of D values
    give 1 - d/n ≈ n/2D; the whole table's share of distinct keys is then ≈ 1 - N(1 - d/n)/n.
    """
    n = table.num_rows
    if n < _MIN_ROWS:
        return False
    keyed, stride, run = table.select(keys), n // _BLOCKS, _SAMPLE // _BLOCKS
    sample = pa.concat_tables([keyed.slice(i * stride, run) for i in range(_BLOCKS)])
    distinct = grouping.aggregate(sample, keys, []).num_rows
    if local_shuffle and any(_is_text(table.schema.field(k).type) for k in keys):
        return distinct > 0.9 * _SAMPLE
    return 1 - n * (1 - distinct / _SAMPLE) / _SAMPLE > 0.8


def _is_text(typ: pa.DataType) -> bool:
    return pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_binary(typ)


def _rows_as_partials(op: Op, table: pa.Table) -> pa.Table:
    """Each row as its own group's partial aggregate: what the reducer would get anyway, without
    building a hash table that would not shrink the data."""
    n = table.num_rows
    columns = [table.column(k) for k in op["keys"]]
    for agg in op["aggregates"]:
        fn = agg["fn"]
        if fn == "count_all":
            columns.append(pa.repeat(pa.scalar(1, pa.int64()), n))
            continue
        value = table.column(agg["column"])
        if fn == "count":
            columns.append(pc.cast(pc.is_valid(value), pa.int64()))
        elif fn in ("sum", "sum0") and pa.types.is_integer(value.type):
            columns.append(pc.cast(value, pa.int64()))  # what Arrow's sum returns
        elif fn in ("sum", "sum0") and pa.types.is_floating(value.type):
            columns.append(pc.cast(value, pa.float64()))
        else:
            columns.append(value)
    return pa.Table.from_arrays(
        columns, names=[*op["keys"], *(a["name"] for a in op["aggregates"])]
    )


def normalize_zeros(table: pa.Table, keys: list[str]) -> pa.Table:
    """-0.0 as 0.0 in floating-point key columns, so that equal keys group and join together."""
    for key in keys:
        column = table.column(key)
        if pa.types.is_floating(column.type):
            index = table.schema.get_field_index(key)
            table = table.set_column(index, key, pc.add(column, 0.0))  # -0.0 + 0.0 == +0.0
    return table


def _expr_columns(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("col"), str):
            out.add(node["col"])
        for value in node.values():
            _expr_columns(value, out)
    elif isinstance(node, list):
        for item in node:
            _expr_columns(item, out)


def expression_columns(expr: Any) -> set[str]:
    """The columns an IR expression reads."""
    used: set[str] = set()
    _expr_columns(expr, used)
    return used


def columns_read(ops: list[Op]) -> set[str] | None:
    """The input columns that a list of operators can ever read, or None for all of them.

    Filters read their predicates' columns; the first projection, expansion or aggregate reads
    its own and hides every other, so the walk stops there. A sort or limit first passes whole
    rows on, so nothing can be dropped before it."""
    used: set[str] = set()
    for op in ops:
        kind = op["op"]
        if kind == "filter":
            _expr_columns(op["predicate"], used)
        elif kind in ("project", "expand"):
            _expr_columns(op.get("columns", op.get("projections")), used)
            return used
        elif kind == "aggregate":
            used.update(op["keys"])
            used.update(a["column"] for a in op["aggregates"] if "column" in a)
            return used
        else:
            return None
    return None


# SQL join kinds and Acero's names for them.
JOIN_TYPES = {
    "inner": "inner",
    "left": "left outer",
    "right": "right outer",
    "full": "full outer",
}


def hash_join(
    left: pa.Table,
    right: pa.Table,
    left_keys: list[str],
    right_keys: list[str],
    how: str = "inner",
) -> pa.Table:
    """SQL equi-join: rows whose keys are equal and not NULL, all columns of both sides; an outer
    join also keeps the unmatched rows of its preserved side(s), with NULLs for the other."""
    left, right = normalize_zeros(left, left_keys), normalize_zeros(right, right_keys)
    joined = left.join(
        right,
        keys=left_keys,
        right_keys=right_keys,
        join_type=JOIN_TYPES[how],
        coalesce_keys=False,
        use_threads=False,
    )
    return joined


class Unmatched:
    """The rows of a table whose join keys equal no key of the other side's chunks, fed one at a
    time (each chunk's distinct keys are semi-joined, as hash_join would match them)."""

    def __init__(self, table: pa.Table, keys: list[str], other_keys: list[str]):
        table = normalize_zeros(table, keys)
        self.row = "__sqlmr_row"
        self.table = table.append_column(self.row, pa.array(range(table.num_rows), pa.int64()))
        self.keys, self.other_keys = keys, other_keys
        self.matched = pa.array([], pa.int64())
        self.schema: pa.Schema | None = None

    def add(self, chunk: pa.Table) -> None:
        """One chunk of the other side: its rows' keys mark the rows they match."""
        self.schema = chunk.schema
        if not chunk.num_rows:
            return
        chunk = normalize_zeros(chunk.select(self.other_keys), self.other_keys)
        distinct = grouping.aggregate(chunk, self.other_keys, [])
        hits = self.table.select([*self.keys, self.row]).join(
            distinct,
            keys=self.keys,
            right_keys=self.other_keys,
            join_type="left semi",
            use_threads=False,
        )
        self.matched = pa.concat_arrays([self.matched, hits.column(self.row).combine_chunks()])

    def rows(self, table_is_left: bool) -> pa.Table:
        """The unmatched rows, the other side's columns NULL, left columns first."""
        keep = pc.invert(pc.is_in(self.table.column(self.row), value_set=self.matched))
        rows = pc.filter(self.table, keep).drop_columns([self.row])
        if self.schema is None:  # every part, even an empty one, carries its schema
            raise PlanValidationError("an unmatched-rows join task got no part of the other side")
        nulls = [pa.nulls(rows.num_rows, f.type) for f in self.schema]
        if table_is_left:
            return pa.Table.from_arrays(
                [*rows.columns, *nulls], names=[*rows.column_names, *self.schema.names]
            )
        return pa.Table.from_arrays(
            [*nulls, *rows.columns], names=[*self.schema.names, *rows.column_names]
        )


def sort_indices(table: pa.Table, keys: list[dict[str, Any]]) -> pa.Array:
    """Row order for SQL ORDER BY keys, with NULLS FIRST/LAST per key, and NaN the greatest
    number as in DuckDB (first when descending)."""
    helper, sort_keys = {}, []
    for i, key in enumerate(keys):
        col = table.column(key["column"])
        order = "descending" if key.get("descending") else "ascending"
        if col.null_count:
            # One global null placement is all Arrow offers, so nulls get a leading flag key.
            flag = f"__null{i}"
            helper[flag] = pc.is_null(col)
            sort_keys.append((flag, "descending" if key.get("nulls_first") else "ascending"))
        found = nans(col)
        if found is not None:  # Arrow puts NaN last in either order: a flag key places it
            helper[f"__nan{i}"] = found
            sort_keys.append((f"__nan{i}", order))
        helper[f"__key{i}"] = col
        sort_keys.append((f"__key{i}", order))
    if not sort_keys:
        return pa.array(range(table.num_rows), pa.int64())
    return pc.sort_indices(pa.table(helper), sort_keys=sort_keys)


def _sort(op: Op, table: pa.Table) -> pa.Table:
    if table.num_rows <= 1:
        return table
    limit = op.get("limit")
    if limit is not None and limit < table.num_rows:
        # A top-k keeps only `limit` rows; select_k_unstable is O(n) where sorting is O(n log n),
        # but it has no per-key null placement and puts NaN last, so use it only when the keys
        # hold neither.
        if all(_plain_key(table.column(k["column"])) for k in op["keys"]):
            sort_keys = [
                (k["column"], "descending" if k.get("descending") else "ascending")
                for k in op["keys"]
            ]
            top = pc.select_k_unstable(table, k=limit, sort_keys=sort_keys)
            table = pc.take(table, top)
    return pc.take(table, sort_indices(table, op["keys"]))


def _plain_key(column: pa.ChunkedArray) -> bool:
    return column.null_count == 0 and nans(column) is None


def _limit(op: Op, table: pa.Table) -> pa.Table:
    return table.slice(0, op["count"])


OPERATORS: dict[str, Callable[[Op, pa.Table], pa.Table]] = {
    "filter": _filter,
    "project": _project,
    "aggregate": _aggregate,
    "expand": _expand,
    "sort": _sort,
    "limit": _limit,
}
"""Every operator a plan may name. The plan validator refuses any other."""
