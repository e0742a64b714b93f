"""Analysis of one SELECT: resolve names, split aggregates into partial and final phases.

The result is a LogicalQuery; the supported subset is whatever this module and the expression
translator accept, and everything else raises UnsupportedError naming the construct.
"""

from __future__ import annotations

import json
from typing import Any

from sqlglot import exp

from ..catalog import Catalog, Table
from ..errors import CatalogError, SqlError, UnsupportedError
from ..logical import Aggregate, LogicalQuery, OutputColumn, SortKey
from .expressions import AGGREGATES, NUMERIC, TYPE_NAMES, Translator, Typed, call
from .parse import parse, position, sql_error

_SELECT_ARGS = {
    "expressions",
    "from",
    "from_",
    "where",
    "group",
    "having",
    "order",
    "limit",
    "distinct",
    "kind",
}
_CLAUSE_NAMES = {
    "joins": "JOIN",
    "with": "WITH (common table expressions)",
    "with_": "WITH (common table expressions)",
    "offset": "OFFSET",
    "qualify": "QUALIFY",
    "laterals": "LATERAL",
    "windows": "WINDOW clauses",
    "sample": "TABLESAMPLE",
    "pivots": "PIVOT",
    "prewhere": "PREWHERE",
    "connect": "CONNECT BY",
}


def _key(ir: dict[str, Any]) -> str:
    return json.dumps(ir, sort_keys=True)


class _Analysis:
    def __init__(self, sql: str, select: exp.Select, table: Table, alias: str | None):
        self.sql, self.select, self.table = sql, select, table
        self.qualifiers = {table.name.lower(), (alias or table.name).lower()}
        self.read: dict[str, None] = {}
        self.pre = Translator(sql, self._resolve)
        self.keys: list[tuple[str, Typed, str]] = []  # (name, typed, canonical)
        self.agg_inputs: dict[str, tuple[str, Typed]] = {}
        self.aggregates: list[Aggregate] = []
        self.agg_results: dict[str, Typed] = {}

    # -- names ---------------------------------------------------------------------------
    def _resolve(self, node: exp.Column) -> Typed:
        if isinstance(node.this, exp.Star):
            raise sql_error(
                UnsupportedError, "'t.*' inside an expression is not supported", self.sql, node
            )
        qualifier = node.table
        if qualifier and qualifier.lower() not in self.qualifiers:
            line, col = position(self.sql, node)
            raise CatalogError(
                f"unknown table or alias {qualifier!r} at line {line}, column {col}; "
                f"the query reads {self.table.name}"
            )
        column = self.table.column(node.name)
        if column is None:
            line, col = position(self.sql, node)
            names = ", ".join(c.name for c in self.table.columns)
            raise CatalogError(
                f"unknown column {node.name!r} at line {line}, column {col}; "
                f"{self.table.name} has: {names}"
            )
        self.read[column.name] = None
        return Typed({"col": column.name}, column.type)

    # -- aggregation ---------------------------------------------------------------------
    def _input(self, typed: Typed) -> str:
        canon = _key(typed.ir)
        if canon not in self.agg_inputs:
            self.agg_inputs[canon] = (f"__a{len(self.agg_inputs)}", typed)
        return self.agg_inputs[canon][0]

    def _add(self, fn: str, input_name: str | None) -> str:
        for a in self.aggregates:
            if a.partial_fn == fn and a.input == input_name:
                return a.final_name
        n = len(self.aggregates)
        final_fn = {"count": "sum", "count_all": "sum"}.get(fn, fn)
        self.aggregates.append(Aggregate(f"__p{n}", fn, input_name, f"__f{n}", final_fn))
        return f"__f{n}"

    def aggregate(self, node: exp.Expression) -> Typed:
        name = node.sql_name()
        if isinstance(node, exp.Count) and isinstance(node.this, exp.Star):
            return Typed({"col": self._add("count_all", None)}, "int64")
        arg = node.this
        if isinstance(arg, exp.Distinct):
            raise sql_error(
                UnsupportedError, f"{name}(DISTINCT …) is not supported yet", self.sql, node
            )
        if arg is None or node.expressions:
            raise sql_error(SqlError, f"{name}() takes exactly one argument", self.sql, node)
        typed = self.pre(arg)
        if isinstance(node, (exp.Sum, exp.Avg)) and typed.type not in NUMERIC:
            raise sql_error(
                SqlError,
                f"{name}() needs a numeric argument, got {TYPE_NAMES[typed.type]}",
                self.sql,
                node,
            )
        if typed.type == "null":
            raise sql_error(UnsupportedError, f"{name}(NULL) is not supported", self.sql, node)
        col = self._input(typed)
        if isinstance(node, exp.Count):
            return Typed({"col": self._add("count", col)}, "int64")
        if isinstance(node, exp.Sum):
            return Typed(
                {"col": self._add("sum", col)}, "float64" if typed.type == "float64" else "int64"
            )
        if isinstance(node, exp.Avg):
            total = Typed({"col": self._add("sum", col)}, "float64")
            count = Typed({"col": self._add("count", col)}, "int64")
            return call("div", "float64", total, count)
        fn = "min" if isinstance(node, exp.Min) else "max"
        return Typed({"col": self._add(fn, col)}, typed.type)

    def key_for(self, node: exp.Expression) -> Typed | None:
        if not self.keys or isinstance(node, (exp.Literal, exp.Null, exp.Boolean)):
            return None
        try:
            canon = _key(Translator(self.sql, self._resolve)(node).ir)
        except SqlError:
            return None
        for name, typed, key_canon in self.keys:
            if key_canon == canon:
                return Typed({"col": name}, typed.type)
        return None

    def post_hook(self, node: exp.Expression) -> Typed | None:
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


def _check_clauses(sql: str, select: exp.Select) -> None:
    for name, value in select.args.items():
        if name in _SELECT_ARGS or not value:
            continue
        construct = _CLAUSE_NAMES.get(name, name.upper())
        node = value[0] if isinstance(value, list) else value
        raise sql_error(
            UnsupportedError,
            f"{construct} is not supported",
            sql,
            node if isinstance(node, exp.Expression) else None,
        )
    distinct = select.args.get("distinct")
    if distinct is not None and distinct.args.get("on"):
        raise sql_error(UnsupportedError, "DISTINCT ON is not supported", sql, distinct)
    group = select.args.get("group")
    if group is not None:
        for extra in ("rollup", "cube", "grouping_sets", "totals"):
            if group.args.get(extra):
                raise sql_error(
                    UnsupportedError,
                    f"GROUP BY {extra.upper().replace('_', ' ')} is not supported",
                    sql,
                    group,
                )


def _from_table(sql: str, select: exp.Select, catalog: Catalog) -> tuple[Table, str | None]:
    source = select.args.get("from_") or select.args.get("from")
    if source is None:
        raise UnsupportedError("SELECT without FROM is not supported; name a table")
    node = source.this
    if isinstance(node, exp.Subquery) or isinstance(node, exp.Select):
        raise sql_error(UnsupportedError, "subqueries in FROM are not supported yet", sql, node)
    if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
        raise sql_error(
            UnsupportedError,
            f"FROM {node.sql(dialect='duckdb')} is not supported; name a table",
            sql,
            node,
        )
    if node.args.get("db") or node.args.get("catalog"):
        raise sql_error(
            UnsupportedError, "qualified table names (schema.table) are not supported", sql, node
        )
    return catalog.table(node.name), node.alias or None


def _select_items(sql: str, select: exp.Select, table: Table) -> list[tuple[str, exp.Expression]]:
    items = []
    for node in select.expressions:
        star = isinstance(node, exp.Star) or (
            isinstance(node, exp.Column) and isinstance(node.this, exp.Star)
        )
        if star:
            if isinstance(node, exp.Star) and any(
                node.args.get(k) for k in ("except", "replace", "rename")
            ):
                raise sql_error(UnsupportedError, "* EXCLUDE/REPLACE is not supported", sql, node)
            items += [(c.name, exp.column(c.name)) for c in table.columns]
        elif isinstance(node, exp.Alias):
            items.append((node.alias, node.this))
        elif isinstance(node, exp.Column):
            items.append((node.name, node))
        else:
            items.append((node.sql(dialect="duckdb"), node))
    return items


def _ordinal(sql: str, node: exp.Expression, count: int, clause: str) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string:
        index = int(node.this)
        if not 1 <= index <= count:
            raise sql_error(
                SqlError,
                f"{clause} position {index} is not in the select list (1 to {count})",
                sql,
                node,
            )
        return index - 1
    return None


def analyze(sql: str, catalog: Catalog) -> LogicalQuery:
    """Parse, check and analyse a query against a catalog."""
    statement = parse(sql)
    if isinstance(statement, exp.SetOperation):
        raise sql_error(
            UnsupportedError,
            f"set operations ({statement.key.upper()}) are not supported",
            sql,
            statement,
        )
    if not isinstance(statement, exp.Select):
        raise UnsupportedError(f"only SELECT queries are supported, not {statement.key.upper()}")
    _check_clauses(sql, statement)
    table, alias = _from_table(sql, statement, catalog)
    a = _Analysis(sql, statement, table, alias)
    items = _select_items(sql, statement, table)
    aliases = {name.lower(): i for i, (name, _) in enumerate(items)}
    where = statement.args.get("where")
    where_ir = a.pre.boolean(where.this).ir if where is not None else None

    group = statement.args.get("group")
    group_nodes: list[exp.Expression] = []
    if group is not None and group.args.get("all"):
        group_nodes = [node for _, node in items if not node.find(*AGGREGATES)]
    elif group is not None:
        for node in group.expressions:
            index = _ordinal(sql, node, len(items), "GROUP BY")
            if index is None and isinstance(node, exp.Column) and not node.table:
                if table.column(node.name) is None and node.name.lower() in aliases:
                    index = aliases[node.name.lower()]
            group_nodes.append(items[index][1] if index is not None else node)
    distinct = statement.args.get("distinct") is not None
    having = statement.args.get("having")
    order = statement.args.get("order")
    order_nodes = list(order.expressions) if order is not None else []
    has_aggs = any(
        n.find(*AGGREGATES)
        for n in [
            *(node for _, node in items),
            *(o.this for o in order_nodes),
            *([having.this] if having else []),
        ]
    )
    grouped = bool(group_nodes) or has_aggs or distinct or group is not None
    if distinct and (has_aggs or group is not None):
        raise UnsupportedError(
            "SELECT DISTINCT together with GROUP BY or aggregates is not supported yet"
        )
    if distinct:
        group_nodes = [node for _, node in items]
    if having is not None and not grouped:
        raise sql_error(SqlError, "HAVING needs GROUP BY or an aggregate", sql, having)

    for i, node in enumerate(group_nodes):
        if node.find(*AGGREGATES):
            raise sql_error(SqlError, "aggregate functions are not allowed in GROUP BY", sql, node)
        typed = a.pre(node)
        canon = _key(typed.ir)
        if all(canon != k[2] for k in a.keys):
            a.keys.append((f"__k{i}", typed, canon))

    translate = Translator(sql, a._resolve, a.post_hook) if grouped else a.pre
    outputs, projections = [], []
    for i, (name, node) in enumerate(items):
        typed = translate(node)
        outputs.append(OutputColumn(f"__c{i}", name, typed.type))
        projections.append((f"__c{i}", typed.ir))
    having_ir = translate.boolean(having.this).ir if having is not None else None

    sort_keys = []
    for ordered in order_nodes:
        node = ordered.this
        index = _ordinal(sql, node, len(items), "ORDER BY")
        if (
            index is None
            and isinstance(node, exp.Column)
            and not node.table
            and node.name.lower() in aliases
        ):
            index = aliases[node.name.lower()]
        if index is None:
            index = next((i for i, (_, item) in enumerate(items) if item == node), None)
        if index is not None:
            column = f"__c{index}"
        else:
            column = f"__o{len(projections) - len(items)}"
            projections.append((column, translate(node).ir))
        nulls_first = bool(ordered.args.get("nulls_first"))
        sort_keys.append(SortKey(column, bool(ordered.args.get("desc")), nulls_first))

    limit = None
    limit_node = statement.args.get("limit")
    if limit_node is not None:
        expr = limit_node.expression
        if not isinstance(expr, exp.Literal) or expr.is_string or not expr.this.isdigit():
            raise sql_error(
                UnsupportedError, "LIMIT must be a non-negative integer constant", sql, limit_node
            )
        limit = int(expr.this)

    read = tuple(a.read) or (table.columns[0].name,)  # COUNT(*) still reads one column
    return LogicalQuery(
        sql=sql,
        table=table,
        read_columns=read,
        where=where_ir,
        grouped=grouped,
        keys=tuple((name, typed.ir) for name, typed, _ in a.keys),
        agg_inputs=tuple((name, typed.ir) for name, typed in a.agg_inputs.values()),
        aggregates=tuple(a.aggregates),
        having=having_ir,
        projections=tuple(projections),
        order=tuple(sort_keys),
        limit=limit,
        outputs=tuple(outputs),
    )
