"""Analysis of a SELECT: names, filters pushed into scans, join keys, grouping, ordering.

The result is a LogicalQuery. The supported subset is whatever this module, scope.py,
aggregates.py and the expression translator accept; everything else raises UnsupportedError
naming the construct.
"""

from __future__ import annotations

import dataclasses

from sqlglot import exp
from sqlmr_runtime import build

from sqlmr.catalog import Catalog
from sqlmr.compiler.aggregates import Grouping
from sqlmr.compiler.depth import on_deep_stack
from sqlmr.compiler.expressions import (
    AGGREGATES,
    TYPE_NAMES,
    Translator,
    Typed,
    cast,
    column_ref,
    widest,
)
from sqlmr.compiler.logical import LogicalQuery, OutputColumn, ScanSide, SortKey
from sqlmr.compiler.names import internal
from sqlmr.compiler.parse import keyword_position, parse, position, sql_error, statement_start
from sqlmr.compiler.scope import Scope, conjuncts, sources_of
from sqlmr.errors import CatalogError, SqlError, UnsupportedError

_SELECT_ARGS = {"expressions", "from", "from_", "where", "group", "having", "order", "limit"}
_SELECT_ARGS |= {"distinct", "kind", "joins"}
_CLAUSE_NAMES = {
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


def _check_clauses(sql: str, select: exp.Select) -> None:
    for window in select.find_all(exp.Window):
        raise sql_error(
            UnsupportedError, "a window function (OVER …) is not supported", sql, window
        )
    for name, value in select.args.items():
        if name in _SELECT_ARGS or not value:
            continue
        construct = _CLAUSE_NAMES.get(name, name.upper())
        node = value[0] if isinstance(value, list) else value
        located = node if isinstance(node, exp.Expression) else None
        raise sql_error(UnsupportedError, f"{construct} is not supported", sql, located)
    distinct = select.args.get("distinct")
    if distinct is not None and distinct.args.get("on"):
        raise sql_error(UnsupportedError, "DISTINCT ON is not supported", sql, distinct)
    group = select.args.get("group")
    if group is not None:
        for extra in ("rollup", "cube", "grouping_sets", "totals"):
            if group.args.get(extra):
                what = extra.upper().replace("_", " ")
                raise sql_error(UnsupportedError, f"GROUP BY {what} is not supported", sql, group)


def _select_items(sql: str, select: exp.Select, columns: list[tuple[str, exp.Expression]]):
    items = []
    for node in select.expressions:
        star = isinstance(node, exp.Star) or (
            isinstance(node, exp.Column) and isinstance(node.this, exp.Star)
        )
        if star:
            if isinstance(node, exp.Star) and any(
                node.args.get(k) for k in ("except", "except_", "replace", "rename")
            ):
                raise sql_error(UnsupportedError, "* EXCLUDE/REPLACE is not supported", sql, node)
            qualifier = node.table.lower() if isinstance(node, exp.Column) else ""
            items += [(n, c) for n, c in columns if not qualifier or c.table.lower() == qualifier]
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
            message = f"{clause} position {index} is not in the select list (1 to {count})"
            raise sql_error(SqlError, message, sql, node)
        return index - 1
    return None


@dataclasses.dataclass
class _Shaped:
    """What the select-list part of the analysis produces (shared by inner and outer queries)."""

    grouped: bool
    grouping: Grouping
    having: dict | None
    projections: list[tuple[str, dict]]
    order: list[SortKey]
    limit: int | None
    outputs: list[OutputColumn]


def _shape(
    sql: str, select: exp.Select, pre: Translator, columns, prefix: tuple[str, str]
) -> _Shaped:
    """Select list, GROUP BY, HAVING, ORDER BY and LIMIT over already-resolvable columns."""
    out_p, hidden_p = prefix
    items = _select_items(sql, select, columns)
    aliases = {name.lower(): i for i, (name, _) in enumerate(items)}
    grouping = Grouping(sql, pre)
    grouped = _grouping(sql, select, pre, items, aliases, grouping)

    translate = Translator(sql, pre.resolve, grouping.hook) if grouped else pre
    outputs, projections = [], []
    for i, (name, node) in enumerate(items):
        typed = translate(node)
        outputs.append(OutputColumn(internal(out_p, i), name, typed.type))
        projections.append((internal(out_p, i), typed.ir))
    having = select.args.get("having")
    having_ir = None
    if having is not None:
        # HAVING may name a select-list alias, as in DuckDB (a column of the table wins).
        def alias_hook(node: exp.Expression) -> Typed | None:
            if isinstance(node, exp.Column) and not node.table and node.name.lower() in aliases:
                if not _resolvable(pre, node):
                    return translate(items[aliases[node.name.lower()]][1])
            return grouping.hook(node) if grouped else None

        having_ir = Translator(sql, pre.resolve, alias_hook).boolean(having.this).ir
    sort_keys = _sort_keys(sql, select, items, aliases, projections, translate, prefix)
    limit = _limit(sql, select)
    return _Shaped(grouped, grouping, having_ir, projections, sort_keys, limit, outputs)


def _grouping(
    sql: str, select: exp.Select, pre: Translator, items, aliases: dict, grouping: Grouping
) -> bool:
    """Whether the query is grouped; adds its GROUP BY keys (or DISTINCT's) to `grouping`."""
    group = select.args.get("group")
    group_nodes: list[exp.Expression] = []
    if group is not None and group.args.get("all"):
        group_nodes = [node for _, node in items if not node.find(*AGGREGATES)]
    elif group is not None:
        for node in group.expressions:
            index = _ordinal(sql, node, len(items), "GROUP BY")
            if index is None and isinstance(node, exp.Column) and not node.table:
                if not _resolvable(pre, node) and node.name.lower() in aliases:
                    index = aliases[node.name.lower()]
            group_nodes.append(items[index][1] if index is not None else node)
    distinct = select.args.get("distinct") is not None
    having = select.args.get("having")
    order = select.args.get("order")
    scanned = [node for _, node in items]
    scanned += [o.this for o in order.expressions] if order is not None else []
    has_aggs = any(n.find(*AGGREGATES) for n in scanned + ([having.this] if having else []))
    grouped = bool(group_nodes) or has_aggs or distinct or group is not None
    if distinct and (has_aggs or group is not None):
        raise UnsupportedError(
            "SELECT DISTINCT together with GROUP BY or aggregates is not supported yet"
        )
    if distinct:
        group_nodes = [node for _, node in items]
    if having is not None and not grouped:
        raise sql_error(SqlError, "HAVING needs GROUP BY or an aggregate", sql, having)
    for node in group_nodes:
        grouping.add_key(node)
    return grouped


def _sort_keys(
    sql: str, select: exp.Select, items, aliases: dict, projections: list, translate, prefix
) -> list[SortKey]:
    """ORDER BY keys: a select-list column (by ordinal, alias or equal expression), or a hidden
    column appended to `projections`."""
    out_p, hidden_p = prefix
    order = select.args.get("order")
    sort_keys = []
    for ordered in order.expressions if order is not None else []:
        node = ordered.this
        index = _ordinal(sql, node, len(items), "ORDER BY")
        if index is None and isinstance(node, exp.Column) and not node.table:
            index = aliases.get(node.name.lower())
        if index is None:
            index = next((i for i, (_, item) in enumerate(items) if item == node), None)
        if index is not None:
            column = internal(out_p, index)
        else:
            column = internal(hidden_p, len(projections) - len(items))
            projections.append((column, translate(node).ir))
        nulls_first = bool(ordered.args.get("nulls_first"))
        sort_keys.append(SortKey(column, bool(ordered.args.get("desc")), nulls_first))
    return sort_keys


def _limit(sql: str, select: exp.Select) -> int | None:
    """LIMIT's count: a non-negative integer constant."""
    limit_node = select.args.get("limit")
    if limit_node is None:
        return None
    value = limit_node.expression
    if not isinstance(value, exp.Literal) or value.is_string or not value.this.isdigit():
        message = "LIMIT must be a non-negative integer constant"
        raise sql_error(UnsupportedError, message, sql, limit_node)
    return int(value.this)


def _resolvable(pre: Translator, node: exp.Column) -> bool:
    try:
        pre.resolve(node)
        return True
    except (CatalogError, SqlError):
        return False


def _join_keys(scope: Scope, pushed, sql: str, conditions: list[exp.Expression]):
    """Split conditions into per-side filters, equi-join key pairs and a residual filter."""
    pairs, residual = [], []
    for cond in conditions:
        used = scope.tables_used(cond)
        if len(used) <= 1:
            pushed[min(used) if used else 0].append(cond)
            continue
        if isinstance(cond, exp.EQ):
            left, right = scope.tables_used(cond.this), scope.tables_used(cond.expression)
            if len(left) == 1 and len(right) == 1 and left != right:
                a, b = (cond.this, cond.expression) if left == {0} else (cond.expression, cond.this)
                pairs.append((a, b, cond))
                continue
        residual.append(cond)
    return pairs, residual


def _side_translator(sql: str, scope: Scope, index: int) -> Translator:
    """Translates expressions of one side with its raw column names (before qualification)."""
    source = scope.sources[index]

    def resolve(node: exp.Column) -> Typed:
        if scope.source_of(node) != index:
            raise sql_error(SqlError, f"column {node.name!r} is not in this table", sql, node)
        column = source.table.column(node.name)
        source.read[column.name] = None  # read by the scan, not necessarily kept after it
        return column_ref(column.name, column.type)

    return Translator(sql, resolve)


def _and(parts: list[dict]) -> dict | None:
    if len(parts) < 2:
        return parts[0] if parts else None
    return build.fn("and", *parts)  # n-ary: see expressions._logical


def _analyze_tables(sql: str, select: exp.Select, catalog: Catalog) -> LogicalQuery:
    sources, on_conditions = sources_of(sql, select, catalog)
    scope = Scope(sql, sources)
    pre = Translator(sql, scope.resolve)
    where = select.args.get("where")
    conditions = conjuncts(where.this if where is not None else None)
    for cond in on_conditions:
        conditions += conjuncts(cond)
    pushed: list[list[exp.Expression]] = [[] for _ in sources]
    keys: list[tuple[str, str]] = []
    residual: list[exp.Expression] = []
    side_keys: list[list[tuple[str, dict]]] = [[] for _ in sources]
    if len(sources) == 1:
        pushed[0] = conditions
        for cond in conditions:
            pre.boolean(cond)  # type-check WHERE (and refuse aggregates in it) before the rest
    else:
        pairs, residual = _join_keys(scope, pushed, sql, conditions)
        if not pairs:
            raise sql_error(
                UnsupportedError,
                "a join without an equality between the two tables (a cross join) is not supported",
                sql,
                select,
            )
        for n, (a, b, cond) in enumerate(pairs):
            left, right = _side_translator(sql, scope, 0)(a), _side_translator(sql, scope, 1)(b)
            common = widest([left.type, right.type])
            if common is None:
                message = f"cannot join {TYPE_NAMES[left.type]} with {TYPE_NAMES[right.type]}"
                raise sql_error(SqlError, message, sql, cond)
            side_keys[0].append((internal("jl", n), cast(left, common).ir))
            side_keys[1].append((internal("jr", n), cast(right, common).ir))
            keys.append((internal("jl", n), internal("jr", n)))

    columns = [
        (c.name, exp.column(c.name, table=s.alias if scope.qualified else None))
        for s in sources
        for c in s.table.columns
    ]
    shaped = _shape(sql, select, pre, columns, ("c", "o"))
    residual_ir = _and([pre.boolean(c).ir for c in residual])
    side_filters = []
    for i in range(len(sources)):
        translate = _side_translator(sql, scope, i) if scope.qualified else pre
        side_filters.append(_and([translate.boolean(c).ir for c in pushed[i]]))
    sides = []
    for i, source in enumerate(sources):
        read = tuple(source.read) or (source.table.columns[0].name,)  # COUNT(*) reads one column
        rename: tuple = ()
        if scope.qualified:
            rename = tuple((scope.name(source, c), build.col(c)) for c in source.exposed)
            rename += tuple(side_keys[i])
        sides.append(ScanSide(source.table, read, side_filters[i], rename))
    return _logical(sql, tuple(sides), residual_ir, shaped, tuple(keys))


def _logical(sql, sides, where, shaped: _Shaped, join_keys=()) -> LogicalQuery:
    g = shaped.grouping
    return LogicalQuery(
        sql=sql,
        sides=sides,
        where=where,
        grouped=shaped.grouped,
        keys=tuple((name, typed.ir) for name, typed, _ in g.keys),
        agg_inputs=tuple((name, typed.ir) for name, typed in g.inputs.values()),
        aggregates=tuple(g.aggregates),
        having=shaped.having,
        projections=tuple(shaped.projections),
        order=tuple(shaped.order),
        limit=shaped.limit,
        outputs=tuple(shaped.outputs),
        join_keys=join_keys,
        distinct=tuple(g.distinct),
    )


def _analyze_over_subquery(
    sql: str, select: exp.Select, subquery: exp.Subquery, catalog
) -> LogicalQuery:
    """An outer query over a FROM subquery, merged into the inner query's last stage."""
    inner_select = subquery.this
    if not isinstance(inner_select, exp.Select):
        raise sql_error(UnsupportedError, "set operations in FROM are not supported", sql, subquery)
    if select.args.get("joins"):
        raise sql_error(UnsupportedError, "joining a subquery is not supported", sql, subquery)
    inner = _analyze_select(sql, inner_select, catalog)
    if inner.order or inner.limit is not None or inner.post_projections:
        raise sql_error(
            UnsupportedError, "ORDER BY, LIMIT or nesting inside a FROM subquery", sql, subquery
        )
    alias = (subquery.alias or "").lower()
    by_name = {o.name.lower(): o for o in inner.outputs}

    def resolve(node: exp.Column) -> Typed:
        if node.table and node.table.lower() != alias:
            raise CatalogError(f"unknown table or alias {node.table!r}; the subquery is {alias!r}")
        found = by_name.get(node.name.lower())
        if found is None:
            line, col = position(sql, node)
            names = ", ".join(o.name for o in inner.outputs)
            raise CatalogError(
                f"unknown column {node.name!r} at line {line}, column {col}; "
                f"the subquery has: {names}"
            )
        return column_ref(found.internal, found.type)

    pre = Translator(sql, resolve)
    columns = [(o.name, exp.column(o.name)) for o in inner.outputs]
    shaped = _shape(sql, select, pre, columns, ("d", "e"))
    if shaped.grouped:
        raise sql_error(
            UnsupportedError, "aggregation over a FROM subquery is not supported yet", sql, select
        )
    where = select.args.get("where")
    post_filter = pre.boolean(where.this).ir if where is not None else None
    return dataclasses.replace(
        inner,
        post_filter=post_filter,
        post_projections=tuple(shaped.projections),
        order=tuple(shaped.order),
        limit=shaped.limit,
        outputs=tuple(shaped.outputs),
    )


def _analyze_select(sql: str, select: exp.Select, catalog: Catalog) -> LogicalQuery:
    _check_clauses(sql, select)
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is not None and isinstance(from_.this, exp.Subquery):
        return _analyze_over_subquery(sql, select, from_.this, catalog)
    return _analyze_tables(sql, select, catalog)


def analyze(sql: str, catalog: Catalog) -> LogicalQuery:
    """Parse, check and analyse a query against a catalog (on a deep stack: see depth.py)."""
    return on_deep_stack(_analyze, sql, catalog)


def _analyze(sql: str, catalog: Catalog) -> LogicalQuery:
    statement = parse(sql)
    if isinstance(statement, exp.SetOperation):
        what = statement.key.upper()
        line, col = keyword_position(sql, what)
        raise UnsupportedError(f"set operations ({what}) are not supported", sql, line, col)
    if not isinstance(statement, exp.Select):
        message = f"only SELECT queries are supported, not {statement.key.upper()}"
        raise UnsupportedError(message, sql, *statement_start(sql))
    return _analyze_select(sql, statement, catalog)
