"""The logical query: what the compiler understood, before the planner cuts it into stages.

Column names with a double underscore are internal; sqlmr.compiler.names makes them all and
says what each kind holds (__k* group keys, __a* aggregate inputs, __p*/__f* partial and final
aggregates, __c* output columns, …).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmr.catalog import Table

IR = dict[str, Any]


@dataclass(frozen=True)
class Aggregate:
    """One aggregate computed in two phases: `partial` per map task, `final` per reducer."""

    partial_name: str
    partial_fn: str  # sum | count | count_all | min | max
    input: str | None  # the __a* column it reads (None for count_all)
    final_name: str
    final_fn: str  # sum (of partial sums and counts) | min | max


@dataclass(frozen=True)
class DistinctArg:
    """The argument of COUNT/SUM/AVG(DISTINCT …): deduplicated per group before it is aggregated.

    `count` and `sum` name the final columns that hold COUNT(DISTINCT x) and SUM(DISTINCT x).
    """

    name: str  # the __dv* column holding the argument in the deduplication stage
    input: str  # the __a* column it is computed in
    type: str
    count: str
    sum: str


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY key over an output or hidden column."""

    column: str
    descending: bool = False
    nulls_first: bool = False


@dataclass(frozen=True)
class OutputColumn:
    """A result column: internal name, the name shown to users, and its plan type."""

    internal: str
    name: str
    type: str


@dataclass(frozen=True)
class ScanSide:
    """One table a query reads: the columns, the filter pushed into its scan, and (when the query
    joins) the projection that qualifies its column names and computes its join keys."""

    table: Table
    read_columns: tuple[str, ...]
    filter: IR | None = None
    rename: tuple[tuple[str, IR], ...] = ()


@dataclass(frozen=True)
class LogicalQuery:
    """A SELECT over one table or an inner equi-join of two, analysed and typed.

    `where` is what remains of WHERE after pushing filters into the scans (with one table,
    nothing). `post_filter` and `post_projections` come from an outer query over a FROM
    subquery and apply to the inner query's projections.
    """

    sql: str
    sides: tuple[ScanSide, ...]
    where: IR | None
    grouped: bool
    keys: tuple[tuple[str, IR], ...] = ()
    agg_inputs: tuple[tuple[str, IR], ...] = ()
    aggregates: tuple[Aggregate, ...] = ()
    having: IR | None = None
    projections: tuple[tuple[str, IR], ...] = ()
    order: tuple[SortKey, ...] = ()
    limit: int | None = None
    outputs: tuple[OutputColumn, ...] = field(default_factory=tuple)
    join_keys: tuple[tuple[str, str], ...] = ()
    distinct: tuple[DistinctArg, ...] = ()
    post_filter: IR | None = None
    post_projections: tuple[tuple[str, IR], ...] = ()


@dataclass(frozen=True)
class Condition:
    """A conjunct over several FROM items, in internal column names.

    `equi` is (item a, key of a, item b, key of b) when it equates one item's value with
    another's, both cast to their common type: a join key pair.
    """

    ir: IR
    uses: frozenset[int]
    equi: tuple[int, IR, int, IR] | None = None


@dataclass(frozen=True)
class UnionAll:
    """UNION ALL of SELECT blocks, a derived FROM item (a query that is a union is compiled as
    SELECT * over one). `casts` holds, per branch, the union's columns (the internal names of
    `outputs`) as expressions over that branch's outputs, cast to the union's types."""

    branches: tuple[Block | UnionAll, ...]
    casts: tuple[tuple[tuple[str, IR], ...], ...]
    outputs: tuple[OutputColumn, ...]


def outputs_of(block: Block | UnionAll) -> tuple[OutputColumn, ...]:
    """The result columns of a Block or a UnionAll."""
    return block.outputs if isinstance(block, UnionAll) else block.top.outputs


@dataclass(frozen=True)
class FromItem:
    """One FROM item of a Block: a table, or a derived Block (a CTE or FROM subquery).

    `columns` projects the item's rows to internal names unique in the query (t<n>.<name>);
    `filter` holds the conjuncts on this item alone, applied before any join; `how` says how it
    joins the items before it, and `on` holds an outer join's own conditions.
    """

    name: str
    table: Table | None
    block: Block | UnionAll | None
    read_columns: tuple[str, ...]
    columns: tuple[tuple[str, IR], ...]
    filter: IR | None
    how: str = "inner"  # inner | cross | left | right | full
    on: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Block:
    """A SELECT over joined FROM items: the items, the conditions over several of them, and the
    grouping and shaping of the select list (a LogicalQuery without sides)."""

    items: tuple[FromItem, ...]
    conditions: tuple[Condition, ...]
    top: LogicalQuery
