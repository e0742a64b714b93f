"""Translation of sqlglot expressions into the runtime's typed JSON IR.

Types follow DuckDB, the oracle: INTEGER literals that fit are int32, '/' yields DOUBLE, numeric
types widen int32 → int64 → float64, and CASE branches and IN lists are cast to one type here so
the runtime never has to guess.
"""

from __future__ import annotations

import datetime
import decimal
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlmr_runtime import build

from sqlmr.catalog import SQL_TYPES, TYPE_NAMES, plan_type
from sqlmr.compiler.parse import sql_error
from sqlmr.errors import SqlError, UnsupportedError

NUMERIC = ("int32", "int64", "float64")
_INTEGER_ORDER = ("int32", "int64", "int128")
BIGINT_MAX = 2**63 - 1
AGGREGATES = (exp.Sum, exp.Count, exp.Avg, exp.Min, exp.Max)


@dataclass(frozen=True)
class Typed:
    """An IR expression and its plan type."""

    ir: dict[str, Any]
    type: str


def lit(value: Any, type_name: str) -> Typed:
    """A literal of a plan type."""
    return Typed(build.lit(value, type_name), type_name)


def column_ref(name: str, type_name: str) -> Typed:
    """A column reference of a plan type."""
    return Typed(build.col(name), type_name)


def call(fn: str, type_name: str, *args: Typed, **extra: Any) -> Typed:
    """A call of a function declared in sqlmr_runtime.spec (its arity and fields are checked)."""
    return Typed(build.fn(fn, *(a.ir for a in args), **extra), type_name)


def cast(value: Typed, type_name: str) -> Typed:
    if value.type == type_name:
        return value
    if "lit" in value.ir and value.ir["lit"] is None:
        return lit(None, type_name)
    folded = decimals.fold_cast(value, type_name)
    if folded is not None:
        return folded
    return call("cast", type_name, value, to=type_name)


def is_numeric(type_name: str) -> bool:
    """Whether a plan type is a number (integers, HUGEINT, DOUBLE, DECIMAL)."""
    return type_name in NUMERIC or type_name == "int128" or decimals.is_decimal(type_name)


def widest(types: list[str]) -> str | None:
    """The common type of several values (NULL fits anything), or None if there is none:
    DOUBLE over DECIMAL over the integers, as in DuckDB."""
    real = [t for t in types if t != "null"]
    if not real:
        return "null"
    if all(is_numeric(t) for t in real):
        if "float64" in real:
            return "float64"
        if any(decimals.is_decimal(t) for t in real):
            return decimals.common_type(real)
        return max(real, key=_INTEGER_ORDER.index)
    return real[0] if all(t == real[0] for t in real) else None


# Hook: return a Typed to replace a node (group keys, aggregates after aggregation), else None.
Hook = Callable[[exp.Expression], Typed | None]
ColumnResolver = Callable[[exp.Column], Typed]


class Translator:
    """Translates one query's expressions, resolving columns through a callback."""

    def __init__(self, sql: str, resolve: ColumnResolver, hook: Hook | None = None):
        self.sql, self.resolve, self.hook = sql, resolve, hook

    def error(self, message: str, node: exp.Expression) -> SqlError:
        return sql_error(SqlError, message, self.sql, node)

    def unsupported(self, construct: str, node: exp.Expression) -> UnsupportedError:
        return sql_error(UnsupportedError, f"{construct} is not supported", self.sql, node)

    def __call__(self, node: exp.Expression) -> Typed:
        if self.hook is not None:
            replaced = self.hook(node)
            if replaced is not None:
                return replaced
        handler = _HANDLERS.get(type(node))
        if handler is None:
            raise self.unsupported(describe(node), node)
        return handler(self, node)

    def boolean(self, node: exp.Expression) -> Typed:
        value = self(node)
        if value.type not in ("bool", "null"):
            raise self.error(f"expected a boolean condition, got {TYPE_NAMES[value.type]}", node)
        return cast(value, "bool")

    def numeric(self, node: exp.Expression, value: Typed | None = None) -> Typed:
        """A number (NULL as INTEGER); `value` is the node's translation, if already made."""
        value = self(node) if value is None else value
        if not is_numeric(value.type) and value.type != "null":
            raise self.error(f"expected a number, got {TYPE_NAMES[value.type]}", node)
        return cast(value, "int32") if value.type == "null" else value

    def int_literal(self, node: exp.Expression, what: str) -> int:
        value = self(node)
        if "lit" not in value.ir or value.type not in ("int32", "int64"):
            raise self.unsupported(f"a non-constant {what}", node)
        return value.ir["lit"]


def describe(node: exp.Expression) -> str:
    """How an unsupported construct is named in errors."""
    if isinstance(node, exp.Window):
        return "a window function (OVER …)"
    if isinstance(node, (exp.Subquery, exp.Select, exp.Exists)):
        return "a subquery"
    if isinstance(node, exp.Anonymous):
        return f"function {node.name.upper()}()"
    if isinstance(node, exp.Func):
        return f"function {node.sql_name()}()"
    if isinstance(node, exp.Star):
        return "'*' here"
    # As written (what the user knows it by), and sqlglot's name for it.
    text = node.sql(dialect="duckdb")
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"the expression {text!r} ({type(node).__name__.upper()})"


def _column(t: Translator, node: exp.Column) -> Typed:
    return t.resolve(node)


def _literal(t: Translator, node: exp.Literal) -> Typed:
    if node.is_string:
        return lit(node.this, "string")
    text = node.this
    try:
        value = int(text)
    except ValueError:
        exact = decimals.literal(text)
        return exact if exact is not None else _number(float(text))
    # -9223372036854775808 arrives as the negation of a literal one past BIGINT's maximum.
    top = BIGINT_MAX + 1 if isinstance(node.parent, exp.Neg) else BIGINT_MAX
    if not -top <= value <= top:
        raise t.error(f"integer literal {text} is out of range for BIGINT", node)
    return _number(value)


def _coerce_pair(t: Translator, a: Typed, b: Typed, node: exp.Expression) -> tuple[Typed, Typed]:
    """Make two operands comparable: string literals become dates or numbers, as in DuckDB."""
    if a.type == b.type and a.type != "null":
        return a, b
    if "null" in (a.type, b.type):
        # An untyped NULL takes the other side's type (both untyped: any one type will do).
        target = b.type if a.type == "null" else a.type
        target = "int32" if target == "null" else target
        return cast(a, target), cast(b, target)
    if is_numeric(a.type) and is_numeric(b.type):
        common = widest([a.type, b.type])
        if decimals.is_decimal(common):
            # Decimals compare exactly whatever their scales; integers become DECIMAL(n,0).
            return decimals.comparable(a), decimals.comparable(b)
        # Explicit casts, so that BIGINT values beyond 2^53 still compare with a DOUBLE.
        return cast(a, common), cast(b, common)
    if {a.type, b.type} == {"date32", "timestamp"}:
        return _date_with_timestamp(a, b)
    for x, y in ((a, b), (b, a)):
        convertible = is_numeric(x.type) or x.type in ("date32", "timestamp", "bool")
        if "lit" in y.ir and y.type == "string" and convertible:
            converted = _convert_literal(t, y.ir["lit"], x.type, node)
            return (x, converted) if x is a else (converted, x)
    raise t.error(f"cannot compare {TYPE_NAMES[a.type]} with {TYPE_NAMES[b.type]}", node)


_TRUE = {"true", "t", "1", "y", "yes", "on"}
_FALSE = {"false", "f", "0", "n", "no", "off"}


def _convert_literal(t: Translator, text: str, type_name: str, node: exp.Expression) -> Typed:
    try:
        if type_name == "date32":
            match = re.fullmatch(r"\s*(\d{1,4})-(\d{1,2})-(\d{1,2})\s*", text)
            if match is None:
                raise ValueError(text)
            day = datetime.date(*(int(g) for g in match.groups()))
            return lit(day.isoformat(), "date32")
        if type_name == "float64":
            return lit(float(text), "float64")
        if type_name == "timestamp":
            moment = datetime.datetime.fromisoformat(text.strip())
            return lit(moment.isoformat(sep=" "), "timestamp")
        if decimals.is_decimal(type_name):
            return decimals.convert_text(text, type_name)
        if type_name == "bool":
            word = text.strip().lower()
            if word not in _TRUE | _FALSE:
                raise ValueError(text)
            return lit(word in _TRUE, "bool")
        try:
            number = int(text)
        except ValueError:
            # DuckDB reads '7.5' as an integer by rounding half away from zero.
            value = decimal.Decimal(text.strip())
            number = int(value.to_integral_value(rounding=decimal.ROUND_HALF_UP))
        bits = {"int32": 31, "int64": 63}.get(type_name, 127)
        if not -(2**bits) <= number < 2**bits:
            raise ValueError(text)
        return lit(number, type_name)
    except (ValueError, ArithmeticError):
        raise t.error(f"cannot convert {text!r} to {TYPE_NAMES[type_name]}", node) from None


_COMPARISONS = {
    exp.EQ: "eq",
    exp.NEQ: "ne",
    exp.LT: "lt",
    exp.LTE: "le",
    exp.GT: "gt",
    exp.GTE: "ge",
}


def _comparison(t: Translator, node: exp.Binary) -> Typed:
    a, b = _coerce_pair(t, t(node.this), t(node.expression), node)
    return call(_COMPARISONS[type(node)], "bool", a, b)


def _logical(t: Translator, node: exp.Connector) -> Typed:
    """A chain of ANDs (or of ORs) as one n-ary node: 5,000 ORs make one node with 5,000
    arguments, not a tree 5,000 levels deep that every later step would recurse through."""
    kind = type(node)
    operands, pending = [], [node]
    while pending:  # left to right, without recursion
        item = pending.pop()
        while isinstance(item, exp.Paren) and isinstance(item.this, kind):
            item = item.this
        if isinstance(item, kind):
            pending += [item.expression, item.this]
        else:
            operands.append(t.boolean(item))
    return call("and" if kind is exp.And else "or", "bool", *operands)


def _not(t: Translator, node: exp.Not) -> Typed:
    inner = node.this
    if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
        return call("is_not_null", "bool", t(inner.this))
    return call("not", "bool", t.boolean(inner))


def _arithmetic(t: Translator, node: exp.Binary) -> Typed:
    a = b = None
    if isinstance(node, (exp.Add, exp.Sub)):
        from sqlmr.compiler.functions import date_arithmetic, date_plus_days

        moved = date_arithmetic(t, node)
        if moved is not None:
            return moved
        # Each operand is translated once: nested sums would otherwise take exponential time.
        a, b = t(node.this), t(node.expression)
        moved = date_plus_days(t, node, a, b)
        if moved is not None:
            return moved
    a, b = t.numeric(node.this, a), t.numeric(node.expression, b)
    if isinstance(node, exp.Div):
        return call("div", "float64", a, b)
    result = widest([a.type, b.type])
    if decimals.is_decimal(result):
        if isinstance(node, exp.Mod):
            # DuckDB takes '%' in the operands' common DECIMAL type (the sign of the dividend).
            x, y = cast(a, result), cast(b, result)
            return call("cast", result, call("mod", result, x, y), to=result)
        fn = {exp.Add: "add", exp.Sub: "sub", exp.Mul: "mul"}[type(node)]
        try:
            return decimals.arithmetic(fn, a, b)
        except OverflowError as e:
            raise t.error(f"DECIMAL overflow: {e}", node) from None
    result = "int32" if result == "null" else result
    fn = {exp.Add: "add", exp.Sub: "sub", exp.Mul: "mul", exp.Mod: "mod"}[type(node)]
    if result == "int128" and fn != "mod":
        # HUGEINT (SUM of BIGINT) is a DECIMAL(38,0) at run time. Taken as one, an INTEGER
        # operand made a product Arrow cannot type (38 + 38 + 1 digits); as DECIMAL(10,0) or
        # (19,0) it is exact, and the cast back to HUGEINT is the overflow check, as in DuckDB.
        x, y = decimals.comparable(a), decimals.comparable(b)
        return call("cast", result, call(fn, result, x, y), to=result)
    if fn == "mod" and result == "float64":
        return call("mod", "float64", a, b)
    # Both sides share the result type, so Arrow's checked kernels overflow where DuckDB does.
    return call(fn, result, cast(a, result), cast(b, result))


def _neg(t: Translator, node: exp.Neg) -> Typed:
    value = t.numeric(node.this)
    if "lit" in value.ir and value.ir["lit"] is not None:
        if decimals.is_decimal(value.type):
            text = value.ir["lit"]
            negated = text[1:] if text.startswith("-") else f"-{text}"
            return lit(negated, value.type)
        return _number(-value.ir["lit"])
    return call("neg", value.type, value)


def _number(value: int | float) -> Typed:
    """A numeric literal typed as DuckDB types it: INTEGER if it fits, else BIGINT; or DOUBLE."""
    if isinstance(value, float):
        return lit(value, "float64")
    return lit(value, "int32" if -(2**31) <= value < 2**31 else "int64")


def _paren(t: Translator, node: exp.Paren) -> Typed:
    return t(node.this)


def _between(t: Translator, node: exp.Between) -> Typed:
    value = t(node.this)
    low = _coerce_pair(t, value, t(node.args["low"]), node)
    high = _coerce_pair(t, value, t(node.args["high"]), node)
    return call("and", "bool", call("ge", "bool", *low), call("le", "bool", *high))


_MIDNIGHT = datetime.time()


def _date_with_timestamp(a: Typed, b: Typed) -> tuple[Typed, Typed]:
    """A DATE compared with a TIMESTAMP, as DuckDB: the DATE as midnight. A constant timestamp
    at midnight is compared as a DATE instead (the same answer, without casting the column,
    and Parquet statistics still prune)."""
    for x, y in ((a, b), (b, a)):
        text = y.ir.get("lit") if y.type == "timestamp" else None
        if isinstance(text, str) and datetime.datetime.fromisoformat(text).time() == _MIDNIGHT:
            day = lit(datetime.datetime.fromisoformat(text).date().isoformat(), "date32")
            return (x, day) if x is a else (day, x)
    return cast(a, "timestamp"), cast(b, "timestamp")


def _in(t: Translator, node: exp.In) -> Typed:
    if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
        raise t.unsupported("IN with a subquery", node)
    value = t(node.this)
    items = []
    for item in node.expressions:
        typed = t(item)
        if "lit" not in typed.ir:
            raise t.unsupported("IN with a non-constant value", item)
        coerced = _coerce_pair(t, value, typed, item)[1]
        number = isinstance(typed.ir.get("lit"), (int, float))
        if number and "lit" not in coerced.ir and "lit" in coerced.ir.get("args", [{}])[0]:
            # An integer literal widened to BIGINT arrives as a CAST of itself.
            coerced = lit(typed.ir["lit"], coerced.type)
        items.append(coerced)
    common = widest([value.type, *(i.type for i in items)])
    if common is None:
        raise t.error("the values of IN do not match the type of its operand", node)
    values = [None if i.ir["lit"] is None else _as_python(i.ir["lit"], common) for i in items]
    return call("in", "bool", cast(value, common), values=values)


def _as_python(value: Any, type_name: str) -> Any:
    if decimals.is_decimal(type_name):
        return decimals.constant(decimal.Decimal(str(value)), type_name).ir["lit"]
    return float(value) if type_name == "float64" else value


def _like(t: Translator, node: exp.Like | exp.ILike) -> Typed:
    if node.args.get("escape"):
        raise t.unsupported("LIKE … ESCAPE", node)
    value, pattern = _string(t, node.this), t(node.expression)
    if "lit" not in pattern.ir or pattern.type != "string":
        raise t.unsupported("LIKE with a non-constant pattern", node.expression)
    ignore_case = isinstance(node, exp.ILike)
    result = call("like", "bool", value, pattern=pattern.ir["lit"], ignore_case=ignore_case)
    return call("not", "bool", result) if node.args.get("negate") else result


def _escape(t: Translator, node: exp.Escape) -> Typed:
    raise t.unsupported("LIKE … ESCAPE", node)


def _is(t: Translator, node: exp.Is) -> Typed:
    if not isinstance(node.expression, exp.Null):
        raise t.unsupported("IS other than IS [NOT] NULL", node)
    return call("is_null", "bool", t(node.this))


def _string(t: Translator, node: exp.Expression) -> Typed:
    value = t(node)
    if value.type not in ("string", "null"):
        raise t.error(f"expected a VARCHAR, got {TYPE_NAMES[value.type]}", node)
    return cast(value, "string")


def _substring(t: Translator, node: exp.Substring) -> Typed:
    value = _string(t, node.this)
    start = t.int_literal(node.args["start"], "SUBSTR start") if node.args.get("start") else 1
    length_node = node.args.get("length")
    length = t.int_literal(length_node, "SUBSTR length") if length_node is not None else None
    extra = {"start": start} if length is None else {"start": start, "length": length}
    return call("substr", "string", value, **extra)


def _length(t: Translator, node: exp.Length) -> Typed:
    return call("length", "int64", _string(t, node.this))


def _case_fn(fn: str) -> Callable[[Translator, exp.Expression], Typed]:
    return lambda t, node: call(fn, "string", _string(t, node.this))


def _concat(t: Translator, node: exp.Concat | exp.DPipe) -> Typed:
    parts = node.expressions if isinstance(node, exp.Concat) else [node.this, node.expression]
    strict = isinstance(node, exp.DPipe)
    values = [t(p) for p in parts]
    for part, value in zip(parts, values, strict=True):
        if value.type == "float64":
            raise t.unsupported(_DOUBLE_TEXT, part)
    return call("concat", "string", *values, strict=strict)


# DuckDB writes doubles like Python's repr; Arrow's shortest form differs (1e+15 vs
# 1000000000000000.0), so the text of a DOUBLE would not be DuckDB's: refuse rather than differ.
_DOUBLE_TEXT = "the text of a DOUBLE (CAST to VARCHAR or concatenation)"


def _case(t: Translator, node: exp.Case) -> Typed:
    subject = t(node.this) if node.this else None
    conds, values = [], []
    for branch in node.args.get("ifs") or []:
        if subject is not None:
            a, b = _coerce_pair(t, subject, t(branch.this), branch)
            conds.append(call("eq", "bool", a, b))
        else:
            conds.append(t.boolean(branch.this))
        values.append(t(branch.args["true"]))
    default = t(node.args["default"]) if node.args.get("default") else lit(None, "null")
    values.append(default)
    common = widest([v.type for v in values])
    if common is None:
        values, common = _coerce_literals(t, values, node)
        default = values[-1]
    if common == "null":
        common = "int32"  # DuckDB's type for an all-NULL CASE
    args: list[Typed] = []
    for cond, value in zip(conds, values, strict=False):
        args += [cond, cast(value, common)]
    args.append(cast(default, common))
    return call("case", common, *args)


def _coerce_literals(t: Translator, values: list[Typed], node: exp.Expression):
    """CASE branches of one type besides string literals: convert the literals (as DuckDB)."""
    others = {v.type for v in values if v.type not in ("string", "null")}
    literals_only = all("lit" in v.ir for v in values if v.type == "string")
    if len(others) != 1 or not literals_only:
        raise t.error("the branches of CASE have incompatible types", node)
    target = others.pop()
    converted = [
        _convert_literal(t, v.ir["lit"], target, node) if v.type == "string" else v for v in values
    ]
    return converted, target


# Types without parameters whose plan type is their name's, however DuckDB spells them; sqlglot
# 30 parses TIMESTAMP as TIMESTAMPNTZ.
_PLAIN_TYPES = frozenset(
    {"DATE", "INT", "BIGINT", "DOUBLE", "VARCHAR", "TEXT", "BOOLEAN", "TIMESTAMP"}
)
_PARSED_AS = {"TIMESTAMPNTZ": "TIMESTAMP"}


def _type_name(to: exp.DataType) -> str:
    """The name of a parsed type, as SQL_TYPES spells it where it has it."""
    name = to.this.name if hasattr(to.this, "name") else str(to.this)
    return _PARSED_AS.get(name, name)


def _plain_type(to: exp.DataType) -> str | None:
    """The plan type of a CAST target without parameters (DATE '1980-01-01', x::BIGINT), read
    from the parsed type: generating its SQL would load sqlglot's DuckDB generator, ≈ 12 ms at
    a query's first use (sqlmr.compiler.sqlglot_loading). None: the SQL decides."""
    name = _type_name(to)
    return SQL_TYPES[name] if name in _PLAIN_TYPES and not to.expressions else None


def _cast(t: Translator, node: exp.Cast) -> Typed:
    target_name = _type_name(node.to)
    # FLOAT and REAL are 4-byte in DuckDB; a DOUBLE result would differ in the low digits.
    if target_name not in SQL_TYPES or target_name in ("FLOAT", "REAL"):
        raise t.unsupported(f"CAST to {node.to.sql(dialect='duckdb')}", node)
    target = _plain_type(node.to) or plan_type(node.to.sql(dialect="duckdb"))
    if target is None:
        raise t.unsupported(f"CAST to {node.to.sql(dialect='duckdb')}", node)
    value = t(node.this)
    if _no_cast(value.type, target):
        raise t.error(
            f"cannot cast {TYPE_NAMES.get(value.type, value.type)} to "
            f"{TYPE_NAMES.get(target, target)} (DuckDB has no such cast)",
            node,
        )
    try:
        folded = decimals.fold_cast(value, target)
    except (OverflowError, ArithmeticError) as e:
        raise t.error(f"cannot cast to {TYPE_NAMES[target]}: {e}", node) from None
    if folded is not None:
        return folded
    if target == "string" and value.type == "float64":
        raise t.unsupported(_DOUBLE_TEXT, node)
    if target == "date32" and "lit" in value.ir and value.type == "string":
        return _convert_literal(t, value.ir["lit"], "date32", node)
    if target in ("int32", "int64") and value.type == "float64" and "lit" in value.ir:
        # 2.5 is a DECIMAL literal in DuckDB, which rounds it half away from zero (a DOUBLE
        # would round half to even): fold the cast here, exactly.
        exact = decimal.Decimal(repr(value.ir["lit"]))
        rounded = int(exact.to_integral_value(rounding=decimal.ROUND_HALF_UP))
        bits = 31 if target == "int32" else 63
        if not -(2**bits) <= rounded < 2**bits:
            raise t.error(f"{rounded} is out of range for {TYPE_NAMES[target]}", node)
        return lit(rounded, target)
    return cast(value, target)


_TEMPORAL = ("date32", "timestamp")


def _no_cast(source: str, target: str) -> bool:
    """A number or boolean to a DATE or TIMESTAMP, or back: DuckDB refuses these (Arrow would
    count days or microseconds since 1970)."""

    def number(name: str) -> bool:
        return name in ("int32", "int64", "int128", "float64", "bool") or decimals.is_decimal(name)

    return (target in _TEMPORAL and number(source)) or (source in _TEMPORAL and number(target))


def _null(t: Translator, node: exp.Null) -> Typed:
    return lit(None, "null")


def _boolean(t: Translator, node: exp.Boolean) -> Typed:
    return lit(bool(node.this), "bool")


def _aggregate_misplaced(t: Translator, node: exp.Expression) -> Typed:
    raise t.error(f"aggregate function {node.sql_name()}() is not allowed here", node)


_HANDLERS: dict[type, Callable[[Translator, Any], Typed]] = {
    exp.Column: _column,
    exp.Literal: _literal,
    exp.Null: _null,
    exp.Boolean: _boolean,
    exp.Paren: _paren,
    exp.And: _logical,
    exp.Or: _logical,
    exp.Not: _not,
    exp.Add: _arithmetic,
    exp.Sub: _arithmetic,
    exp.Mul: _arithmetic,
    exp.Div: _arithmetic,
    exp.Mod: _arithmetic,
    exp.Neg: _neg,
    exp.Between: _between,
    exp.In: _in,
    exp.Like: _like,
    exp.ILike: _like,
    exp.Escape: _escape,
    exp.Is: _is,
    exp.Substring: _substring,
    exp.Length: _length,
    exp.Upper: _case_fn("upper"),
    exp.Lower: _case_fn("lower"),
    exp.Concat: _concat,
    exp.DPipe: _concat,
    exp.Case: _case,
    exp.Cast: _cast,
    **{c: _comparison for c in _COMPARISONS},
    **{a: _aggregate_misplaced for a in AGGREGATES},
}

# Date parts and other functions live in their own module (imported last: it uses this one).
from sqlmr.compiler import decimals  # noqa: E402
from sqlmr.compiler.functions import HANDLERS as _FUNCTION_HANDLERS  # noqa: E402

_HANDLERS.update(_FUNCTION_HANDLERS)
