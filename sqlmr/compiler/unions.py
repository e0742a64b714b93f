"""UNION ALL and UNION, and the refusal of INTERSECT and EXCEPT.

Before sqlglot's optimizer runs, every union that is more than a plain UNION ALL becomes a
SELECT over a plain one: a query that is a union, or a union with ORDER BY or LIMIT, becomes
`SELECT * FROM (a UNION ALL b) ORDER BY … LIMIT …`, and UNION (distinct) becomes
`SELECT DISTINCT * FROM (a UNION ALL b)`, planned like any DISTINCT (grouped by every column).
So ORDER BY, LIMIT, aggregation and joins over a union are the usual Block machinery over one
derived FROM item, and what remains to compile is a plain UNION ALL in FROM or in a CTE: a
UnionAll of the branches' Blocks, each branch's columns cast to the union's types as DuckDB
unifies them (INTEGER with BIGINT is BIGINT, with DOUBLE DOUBLE; NULL takes the other type;
the names are the first branch's).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from sqlglot import exp

from sqlmr.catalog import TYPE_NAMES
from sqlmr.compiler.expressions import cast, column_ref, widest
from sqlmr.compiler.logical import OutputColumn, UnionAll, outputs_of
from sqlmr.compiler.names import internal
from sqlmr.compiler.parse import sql_error
from sqlmr.errors import SqlError, UnsupportedError

if TYPE_CHECKING:
    from sqlmr.compiler.blocks import BlockCompiler


def _plain(node: exp.Expression) -> bool:
    """A UNION ALL without ORDER BY, LIMIT or OFFSET of its own."""
    return (
        isinstance(node, exp.Union)
        and not node.args.get("distinct")
        and not any(node.args.get(k) for k in ("order", "limit", "offset"))
    )


def _as_select(union: exp.Union, alias: str) -> exp.Select:
    """SELECT [DISTINCT] * FROM (the union as UNION ALL) alias, with the union's ORDER BY,
    LIMIT and OFFSET."""
    body = union.copy()
    moved = {k: body.args.get(k) for k in ("order", "limit", "offset")}
    for key in (*moved, "with_", "with"):
        body.set(key, None)
    distinct = bool(body.args.get("distinct"))
    body.set("distinct", False)
    select = exp.select("*").from_(exp.Subquery(this=body, alias=exp.TableAlias(this=alias)))
    if distinct:
        select = select.distinct()
    for key, value in moved.items():
        if value is not None:
            select.set(key, value)
    with_ = union.args.get("with_") or union.args.get("with")
    if with_ is not None:
        select.set("with_" if "with_" in exp.Select.arg_types else "with", with_)
    return select


def unions_as_selects(sql: str, statement: exp.Expression) -> exp.Expression:
    """The statement with INTERSECT and EXCEPT refused by name, and every union but a plain
    UNION ALL in FROM or a CTE rewritten as a SELECT over a plain one."""
    for node in statement.find_all(exp.Intersect, exp.Except):
        what = "INTERSECT" if isinstance(node, exp.Intersect) else "EXCEPT"
        raise sql_error(UnsupportedError, f"{what} is not supported", sql, node)
    for node in statement.find_all(exp.Union):
        left, right = node.this.selects, node.expression.selects
        starred = any(isinstance(e, exp.Star) or e.is_star for e in (*left, *right))
        if not starred and len(left) != len(right):
            raise sql_error(
                SqlError,
                f"each side of UNION must have as many columns ({len(left)} and {len(right)})",
                sql,
                node.expression,
            )
    statement = statement.copy()
    counter = itertools.count()
    # Deepest first (the reverse of breadth-first order), so a rewritten union's branches are
    # already rewritten when it is copied into its SELECT.
    for node in reversed(list(statement.find_all(exp.Union))):
        if node is statement:
            return _as_select(node, f"_union{next(counter)}")
        if not _plain(node):
            node.replace(_as_select(node, f"_union{next(counter)}"))
    return statement


def _branches(node: exp.Expression) -> list[exp.Expression]:
    """The SELECTs of a chain of plain UNION ALLs, left to right."""
    if _plain(node):
        return [*_branches(node.this), *_branches(node.expression)]
    return [node]


def compile_union(owner: BlockCompiler, union: exp.Union, ctes: dict) -> UnionAll:
    """A plain UNION ALL's branches, compiled, with their columns unified."""
    if not _plain(union):  # unions_as_selects rewrote every other kind
        raise sql_error(UnsupportedError, "this UNION", owner.sql, union)
    nodes = _branches(union)
    blocks = [owner.compile(node, ctes) for node in nodes]
    outputs = [outputs_of(b) for b in blocks]
    for node, columns in zip(nodes[1:], outputs[1:], strict=True):
        if len(columns) != len(outputs[0]):
            raise sql_error(
                SqlError,
                f"each side of UNION ALL must have as many columns ({len(outputs[0])} and "
                f"{len(columns)})",
                owner.sql,
                node,
            )
    union_outputs = []
    for i, first in enumerate(outputs[0]):
        types = [columns[i].type for columns in outputs]
        target = widest(types)
        if target is None:
            shown = " and ".join(dict.fromkeys(TYPE_NAMES[t] for t in types))
            raise sql_error(
                SqlError,
                f"column {i + 1} ({first.name}) of UNION ALL has no common type ({shown})",
                owner.sql,
                union,
            )
        target = "int32" if target == "null" else target
        union_outputs.append(OutputColumn(internal("u", i), first.name, target))
    casts = tuple(
        tuple(
            (out.internal, cast(column_ref(col.internal, col.type), out.type).ir)
            for out, col in zip(union_outputs, columns, strict=True)
        )
        for columns in outputs
    )
    return UnionAll(tuple(blocks), casts, tuple(union_outputs))
