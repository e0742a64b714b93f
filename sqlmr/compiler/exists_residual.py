"""EXISTS / NOT EXISTS whose correlation has a non-equality (TPC-H Q21), as an aggregate and a join.

sqlglot's unnest_subqueries decorrelates `EXISTS (SELECT … WHERE b.k = a.k AND b.v <> a.v)`
into ARRAY_AGG(b.v) and ARRAY_ANY(…, _x -> _x <> a.v): a list per key, which the runtime has no
type for. This rewrite runs first (after qualify) and needs no list. For one comparison
`inner op outer` between a value of the subquery's rows and one of the outer row, "some row of the
key's group satisfies it" depends only on the group's MIN and MAX of the inner value:

    v <  x for some v  ⇔  MIN(v) <  x        v >  x for some v  ⇔  MAX(v) >  x
    v <= x for some v  ⇔  MIN(v) <= x        v >= x for some v  ⇔  MAX(v) >= x
    v <> x for some v  ⇔  MIN(v) <> x OR MAX(v) <> x

SQL's NULL rule holds: a NULL v makes its comparison unknown, never true, and MIN/MAX skip NULLs;
a NULL x, a group of NULLs only and a key with no group all give NULL, so EXISTS is false and
NOT EXISTS true. The subquery becomes a derived table grouped by its correlation keys,

    EXISTS      → JOIN      (SELECT k, MIN(v) lo, MAX(v) hi FROM b WHERE <b's own filters>
                             GROUP BY k) e ON e.k = a.k      WHERE <comparison>
    NOT EXISTS  → LEFT JOIN (the same) e ON e.k = a.k
                  WHERE NOT CASE WHEN <comparison> THEN TRUE ELSE FALSE END

(one row per key, so the join never multiplies the outer rows; without a correlation key it is a
one-row aggregate, CROSS JOINed). It is a semi/anti join on the equality keys with the residual
applied per key group instead of per matching pair: each side is read once, the build side is one
row per key, and the planner plans it with the joins and aggregates it has. Two or more
non-equality correlations cannot be reduced to MIN/MAX and are refused by name.
"""

from __future__ import annotations

from sqlglot import exp

from sqlmr.compiler.scope import conjuncts, rewrite_conjuncts
from sqlmr.errors import UnsupportedError

_FLIPPED = {exp.LT: exp.GT, exp.GT: exp.LT, exp.LTE: exp.GTE, exp.GTE: exp.LTE, exp.NEQ: exp.NEQ}
# The aggregates each comparison needs: (lo = MIN, hi = MAX).
_BOUNDS = {exp.LT: ("lo",), exp.LTE: ("lo",), exp.GT: ("hi",), exp.GTE: ("hi",)}


def exists_with_residual(statement: exp.Expression) -> exp.Expression:
    """The qualified statement with each WHERE conjunct `[NOT] EXISTS (…)` whose correlation is
    equalities plus one non-equality comparison rewritten as a join to a grouped derived table;
    every other EXISTS is left to sqlglot's unnest_subqueries."""
    return rewrite_conjuncts(statement, _rewrite)


def _rewrite(select: exp.Select, cond: exp.Expression, n: int) -> exp.Expression | None:
    negated = isinstance(cond, exp.Not)
    exists = cond.this if negated else cond
    if isinstance(exists, exp.Paren):
        exists = exists.this
    if not isinstance(exists, exp.Exists) or not isinstance(exists.this, exp.Select):
        return None
    sub = exists.this
    shape = _correlation(sub, _aliases(select))
    if shape is None:
        return None
    keys, residual, local = shape
    alias = f"_exr{n}"
    inner, op, outer = residual
    bounds = _BOUNDS.get(op, ("lo", "hi"))
    derived = sub.copy()
    selects = [exp.alias_(k.copy(), f"_k{i}") for i, (k, _) in enumerate(keys)]
    for bound in bounds:
        fn = exp.Min if bound == "lo" else exp.Max
        selects.append(exp.alias_(fn(this=inner.copy()), f"_{bound}"))
    derived.set("expressions", selects)
    derived.set("where", exp.Where(this=exp.and_(*local)) if local else None)
    derived.set("group", exp.Group(expressions=[k.copy() for k, _ in keys]) if keys else None)
    for arg in ("order", "limit", "distinct"):
        derived.set(arg, None)
    table = exp.Subquery(this=derived, alias=exp.TableAlias(this=exp.to_identifier(alias)))
    on = (
        exp.and_(
            *(
                exp.EQ(this=exp.column(f"_k{i}", alias), expression=o.copy())
                for i, (_, o) in enumerate(keys)
            )
        )
        if keys
        else None
    )
    join_type = "cross" if not keys else ("left" if negated else "inner")
    select.join(table, on=on, join_type=join_type, copy=False)
    parts = [op(this=exp.column(f"_{b}", alias), expression=outer.copy()) for b in bounds]
    comparison = exp.Paren(this=exp.or_(*parts)) if len(parts) > 1 else parts[0]
    if not negated:
        return comparison
    certain = exp.Case(ifs=[exp.If(this=comparison, true=exp.true())], default=exp.false())
    return exp.Not(this=certain)


def _aliases(select: exp.Select) -> set[str]:
    """The names of a SELECT's FROM and JOIN items."""
    from_ = select.args.get("from_") or select.args.get("from")
    sources = [from_, *(select.args.get("joins") or [])]
    return {s.this.alias_or_name for s in sources if s is not None}


def _correlation(sub: exp.Select, outer: set[str]):
    """(key pairs (inner, outer), the residual (inner, op, outer), the subquery's own
    conjuncts) when the subquery is a plain SELECT correlated by equalities and exactly one
    comparison; None for any other shape (sqlglot's decorrelation or refusal applies)."""
    if any(sub.args.get(a) for a in ("group", "having", "limit", "distinct", "qualify")):
        return None
    if any(j.args.get("side") or j.args.get("kind") for j in sub.args.get("joins") or []):
        return None
    inner = _aliases(sub)
    for join in sub.args.get("joins") or []:
        on = join.args.get("on")
        if on is not None and not {c.table for c in on.find_all(exp.Column)} <= inner:
            return None
    where = sub.args.get("where")
    keys, residuals, local = [], [], []
    for part in conjuncts(where.this if where is not None else None):
        if part.find(exp.Select, exp.Exists):
            return None
        tables = {c.table for c in part.find_all(exp.Column)}
        if tables <= inner:
            local.append(part)
            continue
        sides = _sides(part, inner)
        if sides is None:
            return None
        a, b, flipped = sides
        if not {c.table for c in b.find_all(exp.Column)} <= outer:
            return None  # correlated with a scope further out
        if isinstance(part, exp.EQ):
            keys.append((a, b))
        elif type(part) in _FLIPPED:
            op = _FLIPPED[type(part)] if flipped else type(part)
            residuals.append((a, op, b))
        else:
            return None
    if len(residuals) > 1:
        raise UnsupportedError(
            "EXISTS whose correlation has more than one non-equality comparison is not "
            "supported (one, with any number of equalities, is)"
        )
    if not residuals:
        return None  # equalities only: sqlglot's unnest_subqueries plans it
    return keys, residuals[0], local


def _sides(part: exp.Expression, inner: set[str]):
    """(inner operand, outer operand, whether they were written outer first) of a comparison
    whose one operand reads only the subquery's tables and the other only the outer ones."""
    if not isinstance(part, (exp.EQ, *_FLIPPED)):
        return None
    left, right = part.this, part.expression

    def reads(node: exp.Expression) -> set[str] | None:
        tables = {c.table for c in node.find_all(exp.Column)}
        return tables or None

    lt, rt = reads(left), reads(right)
    if lt is None or rt is None:
        return None
    if lt <= inner and not (rt & inner):
        return left, right, False
    if rt <= inner and not (lt & inner):
        return right, left, True
    return None
