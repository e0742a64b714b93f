"""Grouping: group keys, and aggregates split into a partial (map) and a final (reduce) phase.

SUM and MIN/MAX combine with themselves, COUNT combines by SUM, and AVG is planned as SUM and
COUNT divided after the final phase. After aggregation an expression may only read group keys
and aggregates; the hook below rewrites both into references to the reduce stage's columns.
"""

from __future__ import annotations

import json
from typing import Any

from sqlglot import exp

from sqlmr.compiler import decimals
from sqlmr.compiler.expressions import (
    AGGREGATES,
    TYPE_NAMES,
    Translator,
    Typed,
    call,
    cast,
    column_ref,
    is_numeric,
)
from sqlmr.compiler.logical import Aggregate, DistinctArg
from sqlmr.compiler.names import internal
from sqlmr.compiler.parse import sql_error
from sqlmr.errors import CatalogError, SqlError, UnsupportedError


def sum_input(typed: Typed) -> tuple[Typed, str]:
    """What SUM adds up and its result type, as DuckDB: BIGINT and HUGEINT into HUGEINT (a
    38-digit decimal), DECIMAL(p,s) into DECIMAL(38,s) exactly, INTEGER into BIGINT."""
    if typed.type in ("int64", "int128"):
        return cast(typed, "int128"), "int128"
    if decimals.is_decimal(typed.type):
        total = decimals.sum_type(typed.type)
        return cast(typed, total), total
    return typed, {"float64": "float64"}.get(typed.type, "int64")


def canonical(ir: dict[str, Any]) -> str:
    """A key under which equal IR expressions compare equal."""
    return json.dumps(ir, sort_keys=True)


class Grouping:
    """The group keys and aggregates of one SELECT."""

    def __init__(self, sql: str, pre: Translator):
        self.sql, self.pre = sql, pre
        self.keys: list[tuple[str, Typed, str]] = []  # (name, typed, canonical)
        self.inputs: dict[str, tuple[str, Typed]] = {}
        self.aggregates: list[Aggregate] = []
        self.distinct: list[DistinctArg] = []

    def add_key(self, node: exp.Expression) -> None:
        if node.find(*AGGREGATES):
            raise sql_error(
                SqlError, "aggregate functions are not allowed in GROUP BY", self.sql, node
            )
        typed = self.pre(node)
        canon = canonical(typed.ir)
        if all(canon != k[2] for k in self.keys):
            self.keys.append((internal("k", len(self.keys)), typed, canon))

    def _input(self, typed: Typed) -> str:
        canon = canonical(typed.ir)
        if canon not in self.inputs:
            self.inputs[canon] = (internal("a", len(self.inputs)), typed)
        return self.inputs[canon][0]

    def _add(self, fn: str, input_name: str | None) -> str:
        for a in self.aggregates:
            if a.partial_fn == fn and a.input == input_name:
                return a.final_name
        n = len(self.aggregates)
        # Counts combine by a sum that is 0, not NULL, over no rows at all.
        final_fn = {"count": "sum0", "count_all": "sum0"}.get(fn, fn)
        self.aggregates.append(
            Aggregate(internal("p", n), fn, input_name, internal("f", n), final_fn)
        )
        return internal("f", n)

    def aggregate(self, node: exp.Expression) -> Typed:
        """The final-phase expression of one aggregate call."""
        name = node.sql_name()
        if isinstance(node, exp.Count) and isinstance(node.this, exp.Star):
            return column_ref(self._add("count_all", None), "int64")
        arg = node.this
        if isinstance(arg, exp.Distinct):
            return self._distinct(node, arg)
        if arg is None or node.expressions:
            raise sql_error(SqlError, f"{name}() takes exactly one argument", self.sql, node)
        typed = self.pre(arg)
        if isinstance(node, (exp.Sum, exp.Avg)) and not is_numeric(typed.type):
            message = f"{name}() needs a numeric argument, got {TYPE_NAMES[typed.type]}"
            raise sql_error(SqlError, message, self.sql, node)
        if typed.type == "null":
            raise sql_error(UnsupportedError, f"{name}(NULL) is not supported", self.sql, node)
        col = self._input(typed)
        if isinstance(node, exp.Count):
            return column_ref(self._add("count", col), "int64")
        if isinstance(node, (exp.Sum, exp.Avg)):
            summed, result_type = sum_input(typed)
            col = self._input(summed)
        if isinstance(node, exp.Sum):
            return column_ref(self._add("sum", col), result_type)
        if isinstance(node, exp.Avg):
            total = column_ref(self._add("sum", col), result_type)
            count = column_ref(self._add("count", col), "int64")
            return call("div", "float64", total, count)
        fn = "min" if isinstance(node, exp.Min) else "max"
        return column_ref(self._add(fn, col), typed.type)

    def _distinct(self, node: exp.Expression, arg: exp.Distinct) -> Typed:
        name = node.sql_name()
        if len(arg.expressions) != 1:
            message = f"{name}(DISTINCT …) of several values is not supported"
            raise sql_error(UnsupportedError, message, self.sql, node)
        if isinstance(node, (exp.Min, exp.Max)):
            inner = node.copy()
            inner.set("this", arg.expressions[0])
            return self.aggregate(inner)  # MIN/MAX ignore duplicates anyway
        typed = self.pre(arg.expressions[0])
        if isinstance(node, (exp.Sum, exp.Avg)) and not is_numeric(typed.type):
            message = f"{name}() needs a numeric argument, got {TYPE_NAMES[typed.type]}"
            raise sql_error(SqlError, message, self.sql, node)
        summed, sum_type = sum_input(typed) if is_numeric(typed.type) else (typed, typed.type)
        col = self._input(summed)
        found = next((d for d in self.distinct if d.input == col), None)
        if found is None:
            i = len(self.distinct)
            found = DistinctArg(
                internal("dv", i), col, summed.type, internal("fdc", i), internal("fds", i)
            )
            self.distinct.append(found)
        count = column_ref(found.count, "int64")
        total = column_ref(found.sum, sum_type)
        if isinstance(node, exp.Count):
            return count
        if isinstance(node, exp.Sum):
            return total
        return call("div", "float64", total, count)

    def key_for(self, node: exp.Expression) -> Typed | None:
        """The group key an expression equals, if any."""
        if not self.keys or isinstance(node, (exp.Literal, exp.Null, exp.Boolean)):
            return None
        try:
            canon = canonical(Translator(self.sql, self.pre.resolve)(node).ir)
        except (SqlError, CatalogError):
            return None
        for name, typed, key_canon in self.keys:
            if key_canon == canon:
                return column_ref(name, typed.type)
        return None

    def hook(self, node: exp.Expression) -> Typed | None:
        """Translator hook for expressions evaluated after aggregation."""
        if isinstance(node, AGGREGATES):
            return self.aggregate(node)
        found = self.key_for(node)
        if found is not None:
            return found
        if isinstance(node, exp.Column):
            raise sql_error(
                SqlError,
                f"column {node.name!r} must appear in the GROUP BY clause or be used in an "
                "aggregate function",
                self.sql,
                node,
            )
        return None
