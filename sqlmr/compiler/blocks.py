"""Queries beyond one SELECT over one or two tables: joins of many tables, outer joins,
subqueries in WHERE and HAVING, CTEs and aggregation over FROM subqueries.

sqlglot's optimizer does the rewriting that is pure SQL: `qualify` resolves every name,
`unnest_subqueries` decorrelates IN/EXISTS/scalar subqueries into LEFT JOINs with grouped
derived tables (or CROSS JOINs with one-row ones), `eliminate_subqueries` turns derived tables
into CTEs, `merge_subqueries` folds simple ones back, `pushdown_predicates` and
`pushdown_projections` move filters and columns toward the scans, and `simplify` folds constant
date arithmetic (DATE '1998-12-01' - INTERVAL '90' DAY). What is written here: turning the
normalised SELECT into a Block (FROM items with internal column names, conjuncts classified
into per-item filters, equi-join keys typed to a common type, and residual conditions), and
refusing what the runtime cannot do, by name.
"""

from __future__ import annotations

import dataclasses
import itertools

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, SqlglotError
from sqlmr_runtime import build

from sqlmr.catalog import TYPE_NAMES, Catalog
from sqlmr.compiler.depth import on_deep_stack
from sqlmr.compiler.exists_residual import exists_with_residual
from sqlmr.compiler.expressions import Translator, Typed, cast, column_ref, widest
from sqlmr.compiler.logical import Block, Condition, FromItem, UnionAll, outputs_of
from sqlmr.compiler.parse import keyword_count, keyword_position, parse, sql_error
from sqlmr.compiler.paths import bind_paths
from sqlmr.compiler.query import _check_clauses, _logical, _select_items, _shape
from sqlmr.compiler.scope import conjuncts, rewrite_conjuncts
from sqlmr.compiler.unions import compile_union, unions_as_selects
from sqlmr.errors import CatalogError, SqlError, UnsupportedError

Derived = Block | UnionAll

_SIDES = {"": "inner", "LEFT": "left", "RIGHT": "right", "FULL": "full"}


def _rules() -> tuple:
    """sqlglot's optimizer rules, in order; loaded by the first query needing blocks (≈ 4 ms
    that a one- or two-table query's compile, query.py, does without)."""
    from sqlglot.optimizer.eliminate_ctes import eliminate_ctes
    from sqlglot.optimizer.eliminate_joins import eliminate_joins
    from sqlglot.optimizer.eliminate_subqueries import eliminate_subqueries
    from sqlglot.optimizer.merge_subqueries import merge_subqueries
    from sqlglot.optimizer.normalize import normalize
    from sqlglot.optimizer.optimize_joins import optimize_joins
    from sqlglot.optimizer.pushdown_predicates import pushdown_predicates
    from sqlglot.optimizer.pushdown_projections import pushdown_projections
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.simplify import simplify
    from sqlglot.optimizer.unnest_subqueries import unnest_subqueries

    return (
        qualify,
        pushdown_projections,
        normalize,
        unnest_subqueries,
        pushdown_predicates,
        optimize_joins,
        eliminate_subqueries,
        merge_subqueries,
        eliminate_joins,
        eliminate_ctes,
        simplify,
    )


def normalise(sql: str, statement: exp.Expression, catalog: Catalog) -> exp.Expression:
    """The statement after sqlglot's optimizer rules, against the catalog's schemas."""
    # Tables without columns yet are those the statement does not name (compile_blocks
    # resolved the others): sqlglot refuses a table of no columns.
    schema = {
        t.name: {c.name: TYPE_NAMES[c.type] for c in t.columns} for t in catalog.tables if t.columns
    }
    for window in statement.find_all(exp.Window):
        raise sql_error(
            UnsupportedError, "a window function (OVER …) is not supported", sql, window
        )
    from sqlglot.optimizer import optimize
    from sqlglot.optimizer.qualify import qualify

    try:
        # qualify first, so that the EXISTS rewrite knows which table each column reads
        qualified = optimize(statement, schema=schema, dialect="duckdb", rules=(qualify,))
        rewritten = exists_with_residual(qualified)
        return optimize(rewritten, schema=schema, dialect="duckdb", rules=_rules())
    except OptimizeError as e:
        raise CatalogError(f"cannot resolve the query's names: {e}") from e
    except SqlglotError as e:
        raise UnsupportedError(f"cannot rewrite the query: {e}") from e


class BlockCompiler:
    """Compiles the SELECT blocks of one normalised statement; internal column names are unique
    across the whole query (t<n>.<column>)."""

    def __init__(self, sql: str, catalog: Catalog):
        self.sql, self.catalog = sql, catalog
        self.counter = itertools.count()
        # A CTE named twice is one Block, planned once: both uses read the same stages (two
        # computations of a DOUBLE sum may differ in the last bit, and Q15 compares them).
        self.cte_blocks: dict[int, Block] = {}

    def compile(self, select: exp.Expression, ctes: dict[str, exp.Expression]) -> Derived:
        if isinstance(select, exp.Subquery):
            select = select.this
        if isinstance(select, exp.Union):
            return compile_union(self, select, ctes)
        if not isinstance(select, exp.Select):
            what = select.key.upper()
            raise sql_error(
                UnsupportedError, f"set operations ({what}) are not supported", self.sql, select
            )
        with_ = select.args.get("with") or select.args.get("with_")
        if with_ is not None:
            if with_.args.get("recursive"):
                raise sql_error(
                    UnsupportedError, "WITH RECURSIVE is not supported", self.sql, with_
                )
            ctes = dict(ctes)
            for cte in with_.expressions:
                ctes[cte.alias_or_name.lower()] = cte.this
            select = select.copy()
            select.set("with", None)
            select.set("with_", None)
        _check_clauses(self.sql, select)
        return _BlockBuilder(self, select, ctes).build()


class _BlockBuilder:
    def __init__(self, owner: BlockCompiler, select: exp.Select, ctes: dict):
        self.owner, self.sql, self.select, self.ctes = owner, owner.sql, select, ctes
        self.items: list[FromItem] = []
        self.by_alias: dict[str, int] = {}
        self.types: dict[str, str] = {}  # internal column name -> plan type
        self.names: list[dict[str, str]] = []  # per item: column name (lower) -> internal name
        self.used: set[str] = set()

    def build(self) -> Block:
        from_ = self.select.args.get("from_") or self.select.args.get("from")
        if from_ is None:
            raise UnsupportedError("SELECT without FROM is not supported; name a table")
        self._add_item(from_.this, "inner")
        outer_on: dict[int, list[exp.Expression]] = {}
        outer_joins: dict[int, exp.Join] = {}
        pooled = list(
            conjuncts(self.select.args["where"].this if self.select.args.get("where") else None)
        )
        for join in self.select.args.get("joins") or []:
            how = self._join_kind(join)
            index = self._add_item(join.this, how)
            on = conjuncts(join.args.get("on"))
            if how in ("inner", "cross"):
                pooled += on
            else:
                outer_on[index], outer_joins[index] = on, join
        pooled = [part for cond in pooled for part in _factor_or(cond)]
        nullable = self._nullable()
        filters: list[list[dict]] = [[] for _ in self.items]
        conditions: list[Condition] = []
        pre = Translator(self.sql, self._resolve)
        for cond in pooled:
            if _is_true(cond):
                continue
            self._check_subqueries(cond)
            typed = pre.boolean(cond)
            uses = self._uses(cond)
            if len(uses) == 1 and not (uses & nullable):
                filters[min(uses)].append(typed.ir)
            else:
                conditions.append(self._condition(cond, typed, uses, pre))
        ons = [
            tuple(self._outer_conditions(i, item.how, outer_on.get(i, []), pre, filters))
            for i, item in enumerate(self.items)
        ]
        self._check_outer_equalities(outer_joins, ons)
        shaped = _shape(self.sql, self.select, pre, [], ("c", "o"))
        top = _logical(self.sql, (), None, shaped)
        return Block(self._finished_items(filters, ons), tuple(conditions), top)

    def _check_outer_equalities(self, outer_joins: dict[int, exp.Join], ons: list[tuple]) -> None:
        for i, join in outer_joins.items():
            if not any(c.equi is not None for c in ons[i]):
                # The planner runs an outer join as a hash join on its equality keys.
                how = self.items[i].how.upper()
                message = f"a {how} JOIN without an equality (ON a.x = b.y) is not supported"
                raise self._join_error(message, join)

    def _finished_items(self, filters: list[list[dict]], ons: list[tuple]) -> tuple[FromItem, ...]:
        items = []
        for i, item in enumerate(self.items):
            # An item passes on only the columns the query uses (at least one, for COUNT(*)): a
            # scan reads no other, a derived item drops the rest before its rows are written
            # (TPC-H Q13 shuffled o_comment, used only by the filter inside its subquery).
            columns = tuple(c for c in item.columns if c[0] in self.used) or item.columns[:1]
            read = item.read_columns
            if item.table is not None:
                read = tuple(ir["col"] for _, ir in columns)
            items.append(
                FromItem(
                    item.name,
                    item.table,
                    item.block,
                    read,
                    columns,
                    _and(filters[i]),
                    item.how,
                    ons[i],
                )
            )
        return tuple(items)

    def _join_error(self, message: str, join: exp.Join) -> UnsupportedError:
        """The error at a JOIN; when the rewrite replaced its nodes (a pushed-down filter makes
        the joined table a new subquery), at its JOIN keyword if the query's JOINs are this
        SELECT's alone, so the nth keyword is this join."""
        error = sql_error(UnsupportedError, message, self.sql, join)
        joins = list(self.select.args.get("joins") or [])
        if error.line is None and keyword_count(self.sql, "JOIN") == len(joins):
            where = keyword_position(self.sql, "JOIN", nth=joins.index(join))
            error = UnsupportedError(message, self.sql, *where)
        return error

    def _join_kind(self, join: exp.Join) -> str:
        kind = (join.args.get("kind") or "").upper()
        side = (join.args.get("side") or "").upper()
        if join.args.get("using"):
            raise sql_error(
                UnsupportedError, "JOIN … USING is not supported; use ON", self.sql, join
            )
        if kind in ("SEMI", "ANTI", "NATURAL", "ASOF", "POSITIONAL") or join.args.get("method"):
            raise sql_error(
                UnsupportedError, f"{kind or 'this'} JOIN is not supported", self.sql, join
            )
        if kind == "CROSS":
            return "cross"
        return _SIDES.get(side, "inner")

    def _add_item(self, node: exp.Expression, how: str) -> int:
        alias = node.alias_or_name.lower()
        k = next(self.owner.counter)
        names: dict[str, str] = {}
        if isinstance(node, exp.Table) and node.name.lower() in self.ctes and not node.db:
            body = self.ctes[node.name.lower()]
            block = self.owner.cte_blocks.get(id(body))
            if block is None:
                block = self.owner.compile(body, self.ctes)
                self.owner.cte_blocks[id(body)] = block
            item = self._derived(alias, k, block, how, names)
        elif isinstance(node, exp.Table):
            table = self.owner.catalog.table(node.name)
            columns = []
            for c in table.columns:
                internal = f"t{k}.{c.name}"
                names[c.name.lower()] = internal
                self.types[internal] = c.type
                columns.append((internal, build.col(c.name)))
            item = FromItem(alias, table, None, (), tuple(columns), None, how)
        elif isinstance(node, exp.Subquery):
            block = self.owner.compile(node.this, self.ctes)
            item = self._derived(alias, k, block, how, names)
        else:
            raise sql_error(
                UnsupportedError, f"{node.key.upper()} in FROM is not supported", self.sql, node
            )
        self.by_alias[alias] = len(self.items)
        self.items.append(item)
        self.names.append(names)
        return len(self.items) - 1

    def _derived(self, alias: str, k: int, block: Derived, how: str, names: dict) -> FromItem:
        columns = []
        for out in outputs_of(block):
            internal = f"t{k}.{out.name}"
            names[out.name.lower()] = internal
            self.types[internal] = out.type
            columns.append((internal, build.col(out.internal)))
        return FromItem(alias, None, block, (), tuple(columns), None, how)

    def _resolve(self, node: exp.Column) -> Typed:
        index = self.by_alias.get(node.table.lower()) if node.table else None
        if index is None:
            raise sql_error(CatalogError, f"unknown column {node.sql()!r}", self.sql, node)
        internal = self.names[index].get(node.name.lower())
        if internal is None:
            raise sql_error(CatalogError, f"unknown column {node.sql()!r}", self.sql, node)
        self.used.add(internal)
        return column_ref(internal, self.types[internal])

    def _uses(self, node: exp.Expression) -> frozenset[int]:
        return frozenset(
            self.by_alias[c.table.lower()]
            for c in node.find_all(exp.Column)
            if c.table.lower() in self.by_alias
        )

    def _nullable(self) -> frozenset[int]:
        """Items whose columns an outer join may fill with NULLs."""
        out = set()
        for i, item in enumerate(self.items):
            if item.how in ("left", "full"):
                out.add(i)
            if item.how in ("right", "full"):
                out.update(range(i))
        return frozenset(out)

    def _check_subqueries(self, cond: exp.Expression) -> None:
        for sub in cond.find_all(exp.Subquery, exp.Select, exp.Exists):
            construct = "NOT IN (subquery)" if cond.find(exp.In) else "this subquery"
            raise sql_error(UnsupportedError, f"{construct} is not supported yet", self.sql, sub)

    def _condition(self, cond, typed: Typed, uses: frozenset[int], pre: Translator) -> Condition:
        """A conjunct over several items; an equality of one item's value with another's is a
        join key pair, typed to their common type."""
        if isinstance(cond, exp.EQ):
            a, b = self._uses(cond.this), self._uses(cond.expression)
            if len(a) == 1 and len(b) == 1 and a != b:
                ta, tb = pre(cond.this), pre(cond.expression)
                common = widest([ta.type, tb.type])
                if common not in (None, "null"):
                    pair = (min(a), cast(ta, common).ir, min(b), cast(tb, common).ir)
                    return Condition(typed.ir, uses, pair)
        return Condition(typed.ir, uses, None)

    def _outer_conditions(self, i: int, how: str, on: list, pre: Translator, filters) -> list:
        """The ON conjuncts of an outer join: join keys, and filters of the side whose rows are
        not preserved (applied before the join); anything else cannot be planned yet."""
        out = []
        for cond in on:
            if _is_true(cond):
                continue
            self._check_subqueries(cond)
            typed = pre.boolean(cond)
            uses = self._uses(cond)
            condition = self._condition(cond, typed, uses, pre)
            if condition.equi is not None and i in uses and len(uses) == 2:
                out.append(condition)
            elif uses == {i} and how == "left":
                filters[i].append(typed.ir)
            elif how == "right" and i not in uses:
                out.append(Condition(typed.ir, uses, None))  # filters the left input first
            else:
                raise sql_error(
                    UnsupportedError,
                    f"this condition in the ON of a {how.upper()} JOIN is not supported",
                    self.sql,
                    cond,
                )
        return out


def _factor_or(cond: exp.Expression) -> list[exp.Expression]:
    """(a AND b) OR (a AND c) as a AND (b OR c): a join key repeated in every branch of an OR
    (TPC-H Q19) becomes a join key instead of a condition after a cross join."""
    inner = cond.unnest()
    if not isinstance(inner, exp.Or):
        return [cond]
    branches = [conjuncts(b.unnest()) for b in inner.flatten()]
    keyed = [{c.sql(): c for c in branch} for branch in branches]
    common = [c for key, c in keyed[0].items() if all(key in k for k in keyed[1:])]
    if not common:
        return [cond]
    shared = {c.sql() for c in common}
    rest = [[c for c in branch if c.sql() not in shared] for branch in branches]
    if any(not r for r in rest):
        return common  # one branch is nothing but the common part: the OR adds nothing
    ors = exp.or_(*(exp.and_(*r) for r in rest), copy=True)
    return [*common, ors]


def _is_true(node: exp.Expression) -> bool:
    return isinstance(node, exp.Boolean) and bool(node.this)


def _and(parts: list[dict]) -> dict | None:
    result = None
    for part in parts:
        result = part if result is None else build.fn("and", result, part)
    return result


def _not_in(select: exp.Select, cond: exp.Expression, n: int) -> exp.Expression | None:
    """`x NOT IN (SELECT v …)` in a WHERE conjunct, with SQL's NULL rule, as joins
    (sqlglot's unnest_subqueries leaves NOT IN alone):

    LEFT JOIN (SELECT v FROM … GROUP BY v) m ON m.v = x,
    CROSS JOIN (SELECT COUNT(*) n, COUNT(v) nn FROM …) c
    WHERE m.v IS NULL AND (c.n = 0 OR (x IS NOT NULL AND c.n = c.nn))

    true when the subquery is empty; otherwise x must be non-NULL, unmatched, and the
    subquery must hold no NULL (else NOT IN is NULL, which WHERE drops)."""
    inner = cond.this if isinstance(cond, exp.Not) else None
    query = inner.args.get("query") if isinstance(inner, exp.In) else None
    if query is None:
        return None
    sub = (query.this if isinstance(query, exp.Subquery) else query).copy()
    if len(sub.selects) != 1:
        return None
    sub.selects[0].replace(exp.alias_(sub.selects[0].copy(), "_v"))
    m, c, x = f"_notin_m{n}", f"_notin_c{n}", inner.this.sql(dialect="duckdb")
    body = sub.sql(dialect="duckdb")
    select.join(
        f"(SELECT _q._v FROM ({body}) AS _q GROUP BY _q._v) AS {m}",
        on=f"{m}._v = {x}",
        join_type="left",
        dialect="duckdb",
        copy=False,
    )
    select.join(
        f"(SELECT COUNT(*) AS _n, COUNT(_q._v) AS _nn FROM ({body}) AS _q) AS {c}",
        join_type="cross",
        dialect="duckdb",
        copy=False,
    )
    return sqlglot.parse_one(
        f"{m}._v IS NULL AND ({c}._n = 0 OR ({x} IS NOT NULL AND {c}._n = {c}._nn))",
        read="duckdb",
    )


def compile_blocks(sql: str, statement: exp.Expression, catalog: Catalog) -> Block:
    """The Block of a statement (SELECT, possibly WITH, subqueries and many joins)."""
    named = None
    if isinstance(statement, exp.SetOperation):  # a union's columns are named by its first branch
        named = statement
        while isinstance(named, exp.SetOperation):
            named = named.this
    statement = unions_as_selects(sql, statement)
    statement, catalog = bind_paths(sql, statement, catalog)  # FROM 'x.parquet' → a table
    _refuse_unsure_scalars(sql, statement)
    _refuse_in_as_value(sql, statement)
    catalog = _named_resolved(statement, catalog)
    normalised = normalise(sql, rewrite_conjuncts(statement, _not_in), catalog)
    try:
        block = BlockCompiler(sql, catalog).compile(normalised, {})
    except SqlError:
        raise
    except (KeyError, ValueError) as e:  # pragma: no cover - a shape this module does not know
        raise UnsupportedError(f"this query's shape is not supported: {e}") from e
    return _with_user_names(
        sql, named if isinstance(named, exp.Select) else statement, catalog, block
    )


def _refuse_unsure_scalars(sql: str, statement: exp.Expression) -> None:
    """Refuse a scalar subquery that may give no row or several: it becomes a join (sqlglot's
    unnest_subqueries), which drops the outer rows for none where SQL makes it NULL, and
    repeats them for several where SQL raises an error. One aggregate row without GROUP BY,
    HAVING or LIMIT is always exactly one row (or one per outer row, when correlated)."""
    for sub in statement.find_all(exp.Subquery):
        parent = sub.parent
        if isinstance(parent, (exp.From, exp.Join, exp.Any, exp.All, exp.Exists)):
            continue
        if isinstance(parent, (exp.In, exp.SetOperation)):
            continue  # IN (SELECT …), and a union's branches
        body = sub.this
        one_row = (
            isinstance(body, exp.Select)
            and not any(body.args.get(k) for k in ("group", "having", "limit", "offset"))
            and all(e.find(exp.AggFunc) is not None for e in body.expressions)
        )
        if not one_row:
            raise sql_error(
                UnsupportedError,
                "a scalar subquery that may return no row or several rows is not supported "
                "(one aggregate without GROUP BY, HAVING or LIMIT is: (SELECT MAX(x) FROM t))",
                sql,
                sub,
            )


def _refuse_in_as_value(sql: str, statement: exp.Expression) -> None:
    """Refuse `x IN (SELECT …)` where its value matters beyond being true: it becomes a join
    whose no-match is FALSE, where SQL's is NULL when x is NULL or the subquery holds a NULL.
    As a condition (WHERE, HAVING, ON, CASE WHEN, under AND and OR) FALSE and NULL act alike.
    NOT IN is left to its own rewrite (_not_in), which keeps SQL's NULL rule."""
    for node in statement.find_all(exp.In):
        if node.args.get("query") is None or isinstance(node.parent, exp.Not):
            continue
        child, up = node, node.parent
        while isinstance(up, (exp.And, exp.Or, exp.Paren)):
            child, up = up, up.parent
        if isinstance(up, (exp.Where, exp.Having)):
            continue
        if isinstance(up, (exp.Join, exp.If)) and up.args.get("on", up.this) is child:
            continue
        raise sql_error(
            UnsupportedError,
            "IN (SELECT …) as a value (TRUE, FALSE or NULL) is not supported; it is as a "
            "condition in WHERE, HAVING, ON or CASE WHEN",
            sql,
            node,
        )


def _named_resolved(statement: exp.Expression, catalog: Catalog) -> Catalog:
    """The catalog with the tables the statement names resolved: a folder's Parquet table, or
    one whose text has a header, declares no columns until its objects are read, and sqlglot's
    schema and the result's column names need them."""
    ctes = {c.alias_or_name.lower() for c in statement.find_all(exp.CTE)}
    named = {t.name.lower() for t in statement.find_all(exp.Table)} - ctes
    tables = tuple(
        t.resolved() if t.name.lower() in named and not t.columns else t for t in catalog.tables
    )
    return dataclasses.replace(catalog, tables=tables)


def _with_user_names(sql: str, statement: exp.Expression, catalog: Catalog, block: Block) -> Block:
    """Result columns named as the user wrote them (qualify lowercases identifiers): the select
    list's aliases and columns, or the catalog's spelling of the columns a * stands for."""
    outputs = block.top.outputs
    names = [o.name for o in outputs]
    if isinstance(statement, exp.Select) and not any(
        isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
        for e in statement.expressions
    ):
        items = _select_items(sql, statement, [])
        if len(items) == len(names):
            names = [name for name, _ in items]
    else:
        spelled = {c.name.lower(): c.name for t in catalog.tables for c in t.columns}
        names = [spelled.get(n, n) if n == n.lower() else n for n in names]
    renamed = tuple(dataclasses.replace(o, name=n) for o, n in zip(outputs, names, strict=True))
    return dataclasses.replace(block, top=dataclasses.replace(block.top, outputs=renamed))


def _needs_blocks(statement: exp.Expression) -> bool:
    """Whether a statement is beyond the one- and two-table analysis of query.py."""
    if statement.find(exp.With, exp.Exists, exp.SetOperation):
        return True
    if len(list(statement.find_all(exp.Table))) > 2:
        return True
    for join in statement.find_all(exp.Join):
        if join.args.get("side"):
            return True
    for sub in statement.find_all(exp.Subquery, exp.In):
        if isinstance(sub, exp.In) and sub.args.get("query"):
            return True
        if isinstance(sub, exp.Subquery) and not isinstance(sub.parent, (exp.From, exp.Join)):
            return True
    return False


def analyze_query(sql: str, catalog: Catalog):
    """A LogicalQuery (one table, or an inner join of two) or a Block (anything else); on a
    deep stack, so that deeply nested SQL compiles (see depth.py)."""
    return on_deep_stack(_analyze_query, sql, catalog)


def _analyze_query(sql: str, catalog: Catalog):
    from sqlmr.compiler.query import analyze

    statement = parse(sql)
    if isinstance(statement, (exp.Select, exp.SetOperation)) and _needs_blocks(statement):
        return compile_blocks(sql, statement, catalog)
    try:
        return analyze(sql, catalog)
    except UnsupportedError as first:
        if not isinstance(statement, exp.Select):
            raise
        try:
            return compile_blocks(sql, statement, catalog)
        except UnsupportedError:
            raise first from None
