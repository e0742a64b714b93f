"""The FROM clause: which tables a query reads, how its column names resolve, and how WHERE
splits into per-table filters (pushed into the scans), equi-join keys and a residual filter.

One table keeps its column names as they are. With two tables every column is qualified by its
table's alias ("uv.sourceIP"), so the two sides of a join never collide.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from sqlmr.catalog import Catalog, Table
from sqlmr.compiler.expressions import Typed, column_ref
from sqlmr.compiler.parse import position, sql_error
from sqlmr.compiler.paths import path_table
from sqlmr.errors import CatalogError, SqlError, UnsupportedError


@dataclass
class Source:
    """One table of the FROM clause and the columns the query reads from it."""

    table: Table
    alias: str
    read: dict[str, None] = field(default_factory=dict)  # parsed from the files
    exposed: dict[str, None] = field(default_factory=dict)  # still needed after the scan

    def names(self) -> set[str]:
        # Once aliased, a table is known by its alias only (as in DuckDB).
        return {self.alias.lower()}


def _table_of(sql: str, node: exp.Expression, catalog: Catalog) -> Source:
    if isinstance(node, (exp.Subquery, exp.Select)):
        raise sql_error(
            UnsupportedError, "a subquery joined to a table is not supported", sql, node
        )
    path = path_table(sql, node) if isinstance(node, exp.Table) else None
    if path is not None:
        table = path.resolved()
        return Source(table, node.alias or table.name)
    if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
        text = node.sql(dialect="duckdb")
        raise sql_error(UnsupportedError, f"FROM {text} is not supported; name a table", sql, node)
    if node.args.get("db") or node.args.get("catalog"):
        raise sql_error(
            UnsupportedError, "qualified table names (schema.table) are not supported", sql, node
        )
    table = catalog.table(node.name)
    return Source(table, node.alias or table.name)


def _join_conditions(sql: str, join: exp.Join) -> list[exp.Expression]:
    if join.args.get("method"):
        what = f"{join.args['method'].upper()} JOIN"
        raise sql_error(UnsupportedError, f"{what} is not supported; use JOIN … ON", sql, join)
    side, kind = (join.args.get("side") or "").upper(), (join.args.get("kind") or "").upper()
    if side or kind not in ("", "INNER", "CROSS"):
        what = " ".join(w for w in (side, kind, "JOIN") if w)
        raise sql_error(UnsupportedError, f"{what} is not supported (only inner joins)", sql, join)
    if join.args.get("using"):
        raise sql_error(UnsupportedError, "JOIN … USING is not supported; use ON", sql, join)
    on = join.args.get("on")
    return [on] if on is not None else []


def sources_of(sql: str, select: exp.Select, catalog: Catalog) -> tuple[list[Source], list]:
    """The tables of the FROM clause and the conditions of its JOIN … ON clauses."""
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is None:
        raise sql_error(
            UnsupportedError, "SELECT without FROM is not supported; name a table", sql, select
        )
    sources = [_table_of(sql, from_.this, catalog)]
    conditions: list[exp.Expression] = []
    for join in select.args.get("joins") or []:
        conditions += _join_conditions(sql, join)
        sources.append(_table_of(sql, join.this, catalog))
    if len(sources) > 2:
        raise sql_error(
            UnsupportedError, "joins of more than two tables are not supported yet", sql, select
        )
    if len(sources) == 2 and sources[0].alias.lower() == sources[1].alias.lower():
        message = f"the table name or alias {sources[0].alias!r} is used twice; alias one"
        raise sql_error(SqlError, message, sql, select.args["joins"][0].this)
    return sources, conditions


class Scope:
    """Resolves column references against the sources of one SELECT."""

    def __init__(self, sql: str, sources: list[Source]):
        self.sql, self.sources = sql, sources
        self.qualified = len(sources) > 1

    def source_of(self, node: exp.Column) -> int:
        """Index of the source a column reference belongs to."""
        qualifier = node.table
        if qualifier:
            for i, s in enumerate(self.sources):
                if qualifier.lower() in s.names():
                    if s.table.column(node.name) is None:
                        raise self._unknown(node, [s])
                    return i
            line, col = position(self.sql, node)
            known = ", ".join(s.alias for s in self.sources)
            raise CatalogError(
                f"unknown table or alias {qualifier!r} at line {line}, column {col}; "
                f"the query reads {known}"
            )
        found = [i for i, s in enumerate(self.sources) if s.table.column(node.name)]
        if not found:
            raise self._unknown(node, self.sources)
        if len(found) > 1:
            raise sql_error(
                SqlError,
                f"column {node.name!r} is ambiguous; qualify it with a table alias",
                self.sql,
                node,
            )
        return found[0]

    def _unknown(self, node: exp.Column, sources: list[Source]) -> CatalogError:
        line, col = position(self.sql, node)
        listing = "; ".join(
            f"{s.table.name} has: {', '.join(c.name for c in s.table.columns)}" for s in sources
        )
        return CatalogError(f"unknown column {node.name!r} at line {line}, column {col}; {listing}")

    def resolve(self, node: exp.Column) -> Typed:
        """The typed IR column for a reference, recording it as read."""
        if isinstance(node.this, exp.Star):
            raise sql_error(
                UnsupportedError, "'t.*' inside an expression is not supported", self.sql, node
            )
        source = self.sources[self.source_of(node)]
        column = source.table.column(node.name)
        source.read[column.name] = None
        source.exposed[column.name] = None
        return column_ref(self.name(source, column.name), column.type)

    def name(self, source: Source, column: str) -> str:
        """The name a column has after the scan (qualified when the query joins)."""
        return f"{source.alias}.{column}" if self.qualified else column

    def tables_used(self, node: exp.Expression) -> set[int]:
        """Which sources an expression reads."""
        return {self.source_of(c) for c in node.find_all(exp.Column)}


def conjuncts(node: exp.Expression | None) -> list[exp.Expression]:
    """The AND-ed parts of a condition."""
    if node is None:
        return []
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return conjuncts(node.this) + conjuncts(node.expression)
    return [node]


Rewrite = Callable[[exp.Select, exp.Expression, int], "exp.Expression | None"]


def rewrite_conjuncts(statement: exp.Expression, rewrite: Rewrite) -> exp.Expression:
    """A copy of the statement in which every WHERE conjunct that `rewrite(select, conjunct, n)`
    returns a replacement for is replaced (n numbers the replacements, for unique aliases; the
    rewrite may add joins to the select); None keeps the conjunct."""
    statement = statement.copy()
    counter = itertools.count()
    for select in list(statement.find_all(exp.Select)):
        where = select.args.get("where")
        if where is None:
            continue
        parts = conjuncts(where.this)
        kept = []
        for cond in parts:
            new = rewrite(select, cond, next(counter))
            kept.append(cond if new is None else new)
        if any(a is not b for a, b in zip(kept, parts, strict=True)):
            select.set("where", exp.Where(this=exp.and_(*kept, copy=False)))
    return statement
