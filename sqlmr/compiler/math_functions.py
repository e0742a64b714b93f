"""ROUND, ABS, FLOOR, CEIL and COALESCE, NULLIF, GREATEST, LEAST, typed as DuckDB types them.

ROUND keeps its argument's type (an integer or HUGEINT stays one, rounded to tens with negative
digits; DECIMAL(p,s) becomes DECIMAL(p, n) for n < s, and DECIMAL(p+1, 0) with negative digits
when s = 0, room for the carry of 9999 → 10000), FLOOR and CEIL are DOUBLE (DECIMAL(p,0) of a
DECIMAL), ABS keeps the type (HUGEINT too). COALESCE,
GREATEST and LEAST take the common type of their arguments (INTEGER and DOUBLE: DOUBLE; a string
literal among numbers is converted, as DuckDB does); NULLIF has the type of its first argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp
from sqlmr_runtime.types import decimal_type

from sqlmr.catalog import TYPE_NAMES
from sqlmr.compiler import decimals
from sqlmr.compiler.expressions import (
    NUMERIC,
    Translator,
    Typed,
    _coerce_literals,
    _coerce_pair,
    call,
    cast,
    lit,
    widest,
)
from sqlmr.errors import SqlError

# The numeric types these functions take; HUGEINT is SUM(BIGINT)'s type.
_NUMBERS = (*NUMERIC, "int128")


def typed_arg(t: Translator, fn: str, node: exp.Expression, kinds: tuple[str, ...]) -> Typed:
    """An argument of one of the given types (or NULL; DECIMAL where numbers are), else an
    error naming the function."""
    value = t(node)
    number = decimals.is_decimal(value.type) and "float64" in kinds
    if value.type != "null" and value.type not in kinds and not number:
        wanted = " or ".join(dict.fromkeys(TYPE_NAMES[k] for k in kinds))
        raise t.error(f"{fn}() expects {wanted}, got {TYPE_NAMES[value.type]}", node)
    return value


def constant(t: Translator, fn: str, node: exp.Expression, kind: str, what: str) -> Any:
    """A constant argument's value (None for NULL); anything else is refused by name."""
    value = t(node)
    if "lit" not in value.ir or value.type not in (kind, "null"):
        if "lit" in value.ir and kind == "int32" and value.type == "int64":
            return value.ir["lit"]
        raise t.unsupported(f"{fn}() with a non-constant {what}", node)
    return value.ir["lit"]


def _round(t: Translator, node: exp.Round) -> Typed:
    if node.args.get("truncate") is not None:
        raise t.error("ROUND() takes one or two arguments", node.args["truncate"])
    value = typed_arg(t, "ROUND", node.this, _NUMBERS)
    result = "int32" if value.type == "null" else value.type
    digits_node = node.args.get("decimals")
    digits = 0 if digits_node is None else constant(t, "ROUND", digits_node, "int32", "digits")
    if digits is None:
        return lit(None, result)  # ROUND(x, NULL) is NULL
    if decimals.is_decimal(value.type):
        p, s = decimals.precision_scale(value.type)
        if digits < 0 and s == 0 and -digits <= p:
            # DuckDB's rule: an integral DECIMAL rounded to tens can gain a digit (a fraction
            # gives the room otherwise); at 38 digits it stays 38 and overflows at run time.
            p = min(p + 1, decimals.MAX_PRECISION)
        result = decimal_type(p, min(s, max(digits, 0)))
        return call("cast", result, call("round", value.type, value, digits=digits), to=result)
    if value.type == "int128":
        # A DECIMAL(38,0) at run time: rounded to tens it comes back one digit wider, and the
        # cast to HUGEINT is the overflow check.
        rounded = call("round", result, value, digits=digits)
        return call("cast", result, rounded, to=result) if digits < 0 else value
    return call("round", result, cast(value, result), digits=digits)


def _abs(t: Translator, node: exp.Abs) -> Typed:
    value = typed_arg(t, "ABS", node.this, _NUMBERS)
    result = "int32" if value.type == "null" else value.type
    return call("abs", result, cast(value, result))


def _rounding(fn: str) -> Callable[[Translator, exp.Expression], Typed]:
    def translate(t: Translator, node: exp.Expression) -> Typed:
        if node.args.get("decimals") is not None or node.args.get("to") is not None:
            raise t.unsupported(f"{fn.upper()}() with a second argument", node)
        value = typed_arg(t, fn.upper(), node.this, _NUMBERS)
        if decimals.is_decimal(value.type):
            result = decimal_type(decimals.precision_scale(value.type)[0], 0)
            return call("cast", result, call(fn, value.type, value), to=result)
        return call(fn, "float64", cast(value, "float64"))

    return translate


def common(t: Translator, fn: str, values: list[Typed], node: exp.Expression) -> list[Typed]:
    """Values cast to their common type (string literals converted to the other type)."""
    target = widest([v.type for v in values])
    if target is None:
        try:
            values, target = _coerce_literals(t, values, node)
        except SqlError:
            types = ", ".join(dict.fromkeys(TYPE_NAMES[v.type] for v in values))
            raise t.error(f"{fn}() arguments have no common type ({types})", node) from None
    target = "int32" if target == "null" else target
    return [cast(v, target) for v in values]


def _variadic(fn: str, kinds: tuple[str, ...]) -> Callable[[Translator, Any], Typed]:
    def translate(t: Translator, node: exp.Func) -> Typed:
        nodes = [node.this, *node.expressions]
        values = common(t, fn.upper(), [t(n) for n in nodes], node)
        number = decimals.is_decimal(values[0].type) and "float64" in kinds
        if values[0].type not in kinds and not number:
            raise t.error(f"{fn.upper()}() does not take {TYPE_NAMES[values[0].type]}", node)
        return call(fn, values[0].type, *values)

    return translate


def _nullif(t: Translator, node: exp.Nullif) -> Typed:
    """NULLIF(a, b) = CASE WHEN a = b THEN NULL ELSE a END, of a's type."""
    first = t(node.this)
    result = "int32" if first.type == "null" else first.type
    a, b = _coerce_pair(t, first, t(node.expression), node)
    return call("case", result, call("eq", "bool", a, b), lit(None, result), cast(first, result))


HANDLERS: dict[type, Callable[[Translator, Any], Typed]] = {
    exp.Round: _round,
    exp.Abs: _abs,
    exp.Floor: _rounding("floor"),
    exp.Ceil: _rounding("ceil"),
    exp.Coalesce: _variadic("coalesce", (*_NUMBERS, "string", "date32", "bool")),
    exp.Greatest: _variadic("greatest", (*_NUMBERS, "string", "date32")),
    exp.Least: _variadic("least", (*_NUMBERS, "string", "date32")),
    exp.Nullif: _nullif,
}
