"""The expression IR, evaluated with pyarrow.compute.

An expression is JSON: {"col": name}, {"lit": value, "type": t} or {"fn": name, "args": [...], …}.
The compiler has already resolved types (it inserts casts so that CASE branches, IN lists and
comparisons agree), so evaluation is a direct mapping onto pyarrow kernels. Semantics follow
DuckDB, the project's oracle: '/' is floating-point division, '%' truncates toward zero, integer
overflow and integer division by zero are errors, CAST to an integer rounds half away from zero,
LIKE has no escape character, CONCAT skips NULLs while '||' propagates them.
"""

from __future__ import annotations

import datetime
import decimal
import re
import sys
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from . import compute as pc
from . import date_functions, numeric_functions, text_functions
from .decimals import arithmetic, cast_to_decimal, decimal_text, round_to_integer, wide_pair
from .errors import EvaluationError
from .types import FALSE_WORDS, TRUE_WORDS, arrow_type, decimal_of

Datum = pa.Array | pa.ChunkedArray | pa.Scalar
Expr = dict[str, Any]

# Expressions nest (a 300-term `+` chain is 300 levels, three JSON levels each) and are read,
# validated and evaluated recursively: allow what DuckDB allows (depth 1,000) and more.
IR_RECURSION = 10_000
if sys.getrecursionlimit() < IR_RECURSION:
    sys.setrecursionlimit(IR_RECURSION)


def literal(value: Any, type_name: str) -> pa.Scalar:
    """A typed scalar from a JSON literal (dates travel as 'YYYY-MM-DD', timestamps as ISO
    text, decimals as their digits)."""
    if type_name == "null":
        return pa.scalar(None, pa.null())
    if isinstance(value, str):
        value = python_value(value, type_name)
    return pa.scalar(value, arrow_type(type_name))


def python_value(text: str, type_name: str) -> Any:
    """The Python value of a JSON text literal of a date, timestamp or decimal type."""
    if type_name == "date32":
        return datetime.date.fromisoformat(text)
    if type_name == "timestamp":
        return datetime.datetime.fromisoformat(text)
    if decimal_of(type_name) is not None:
        return decimal.Decimal(text)
    return text


def evaluate(expr: Expr, table: pa.Table) -> Datum:
    """Evaluate one IR expression against a table."""
    if "col" in expr:
        return table.column(expr["col"])
    if "lit" in expr:
        return literal(expr["lit"], expr["type"])
    fn = FUNCTIONS[expr["fn"]]
    try:
        return fn(expr, [evaluate(a, table) for a in expr.get("args", [])])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError) as e:
        raise EvaluationError(f"{expr['fn']}: {e}") from e


def as_array(value: Datum, length: int) -> pa.Array | pa.ChunkedArray:
    """Broadcast a scalar result (a constant expression) to a column."""
    if isinstance(value, pa.Scalar):
        return pa.repeat(value, length)
    return value


def _comparison(kernel: str, swap: bool = False) -> Callable[[Expr, list[Datum]], Datum]:
    """A comparison with DuckDB's NaN rule: NaN equals NaN and is greater than any number."""

    def compare(_e: Expr, a: list[Datum]) -> Datum:
        x, y = (a[1], a[0]) if swap else (a[0], a[1])
        if not (pa.types.is_floating(x.type) or pa.types.is_floating(y.type)):
            return pc.call_function(kernel, list(wide_pair(x, y, "compare")))
        x, y = _to_float(x), _to_float(y)
        nx, ny = pc.is_nan(x), pc.is_nan(y)
        either = pc.or_kleene(nx, ny)
        if kernel in ("equal", "not_equal"):
            on_nan = pc.and_kleene(nx, ny)
            result = pc.if_else(either, on_nan, pc.equal(x, y))
            return pc.invert(result) if kernel == "not_equal" else result
        if kernel == "less":
            return pc.if_else(either, pc.and_kleene(pc.invert(nx), ny), pc.less(x, y))
        return pc.if_else(either, ny, pc.less_equal(x, y))  # less_equal

    return compare


def _binary(kernel: str) -> Callable[[Expr, list[Datum]], Datum]:
    return lambda _e, a: pc.call_function(kernel, a)


def _chain(kernel: str) -> Callable[[Expr, list[Datum]], Datum]:
    """AND and OR take any number of arguments (the compiler flattens long chains)."""

    def fold(_e: Expr, a: list[Datum]) -> Datum:
        result = a[0]
        for value in a[1:]:
            result = pc.call_function(kernel, [result, value])
        return result

    return fold


def _to_float(value: Datum) -> Datum:
    # Unchecked: a BIGINT beyond 2^53 becomes the nearest DOUBLE, as in DuckDB.
    return pc.cast(value, pa.float64(), safe=False)


def _divide(_e: Expr, a: list[Datum]) -> Datum:
    # DuckDB's '/' always divides as DOUBLE: 1/0 is inf, 0/0 is nan.
    x, y = (_to_float(v) for v in a)
    return pc.divide(x, y)


def _modulo(_e: Expr, a: list[Datum]) -> Datum:
    x, y = a
    exact = pa.types.is_decimal(x.type) and pa.types.is_decimal(y.type)
    if exact or (pa.types.is_integer(x.type) and pa.types.is_integer(y.type)):
        zero = pa.scalar(decimal.Decimal(0), y.type) if exact else 0
        if pc.any(pc.equal(y, zero)).as_py():
            raise EvaluationError("division by zero in '%'")
        return pc.remainder(x, y) if exact else pc.remainder_checked(x, y)
    return pc.remainder(_to_float(x), _to_float(y))


def _negate(_e: Expr, a: list[Datum]) -> Datum:
    return pc.negate_checked(a[0])


def _in(e: Expr, a: list[Datum]) -> Datum:
    values = [v for v in e["values"] if v is not None]
    has_null = len(values) < len(e["values"])
    if pa.types.is_date32(a[0].type):
        values = [datetime.date.fromisoformat(v) for v in values]
    elif pa.types.is_decimal(a[0].type) or pa.types.is_timestamp(a[0].type):
        values = [python_value(str(v), _type_name(a[0].type)) for v in values]
    value_set = pa.array(values, a[0].type)
    found = pc.is_in(a[0], value_set=value_set, skip_nulls=True)
    # SQL three-valued logic: NULL IN (…) is NULL, and x IN (…, NULL) is NULL when not found.
    null = pa.scalar(None, pa.bool_())
    found = pc.if_else(pc.is_null(a[0]), null, found)
    if has_null:
        found = pc.if_else(found, True, null)
    return found


def _type_name(typ: pa.DataType) -> str:
    if pa.types.is_timestamp(typ):
        return "timestamp"
    return f"decimal({typ.precision},{typ.scale})"


def _like(e: Expr, a: list[Datum]) -> Datum:
    value, pattern, ignore_case = a[0], e["pattern"], bool(e.get("ignore_case", False))
    if ignore_case and not (pattern.isascii() and text_functions.all_ascii(value)):
        # DuckDB's ILIKE lowercases both sides and compares them as LIKE does. Arrow's ignore_case
        # (RE2's Unicode case folding) also matches letters that lowercase apart: 'ſ' with 's',
        # 'ς' with 'σ' ('ΣΑΣ' ILIKE 'σας' is false in DuckDB). Over ASCII text and pattern both
        # agree, and ignore_case needs no lowered copy of the column: only non-ASCII pays for it.
        value, ignore_case = pc.utf8_lower(value), False
        pattern = pc.utf8_lower(pa.scalar(pattern, pa.string())).as_py()
    if "\\" not in pattern:
        return pc.match_like(value, pattern, ignore_case=ignore_case)
    # Arrow's LIKE treats '\' as an escape character and DuckDB's has none; Arrow's fast paths
    # for prefix and suffix patterns also mishandle escaped backslashes: use a regex instead.
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return pc.match_substring_regex(value, f"(?s)^{regex}$", ignore_case=ignore_case)


def _substr(e: Expr, a: list[Datum]) -> Datum:
    start, length = e["start"], e.get("length")
    # DuckDB takes the 1-based window [start, start + length) (or [start + length, start) for a
    # negative length) and clips it to the string; a negative start counts from the end.
    lo = start - 1 if start >= 0 else start
    hi = None if length is None else lo + length
    if length is not None and length < 0:
        lo, hi = hi, lo
    if start >= 0:
        if hi is not None and hi <= 0:
            return text_functions.slice_codeunits(a[0], 0, 0)
        lo = max(lo, 0)
    elif hi is not None and hi >= 0:
        hi = None  # an end-relative window that reaches past the end runs to the end
    return text_functions.slice_codeunits(a[0], lo, hi)


def _concat(e: Expr, a: list[Datum]) -> Datum:
    strings = [_text(v) for v in a]
    handling = "emit_null" if e.get("strict") else "replace"
    return pc.binary_join_element_wise(*strings, "", null_handling=handling, null_replacement="")


def _case(_e: Expr, a: list[Datum]) -> Datum:
    *pairs, default = a
    conds, values = pairs[0::2], pairs[1::2]
    constant = all(isinstance(v, pa.Scalar) for v in a)
    length = max((len(v) for v in a if not isinstance(v, pa.Scalar)), default=1)
    conds = [as_array(c, length) for c in conds]
    values = [as_array(v, length) for v in [*values, default]]
    names = [f"c{i}" for i in range(len(conds))]
    result = pc.case_when(pc.make_struct(*conds, field_names=names), *values)
    return result[0] if constant else result  # a constant CASE stays a scalar


def _cast(e: Expr, a: list[Datum]) -> Datum:
    target = arrow_type(e["to"])
    value = a[0]
    if pa.types.is_decimal(target):
        return cast_to_decimal(value, target)
    if pa.types.is_integer(target):
        if pa.types.is_decimal(value.type):
            return round_to_integer(value, target)
        if pa.types.is_floating(value.type):
            # DuckDB rounds a DOUBLE half to even (2.5 -> 2) where Arrow would truncate.
            value = pc.round(value, 0, round_mode="half_to_even")
            return pc.cast(value, target, safe=True)
        if pa.types.is_string(value.type):
            stripped = pc.utf8_trim_whitespace(value)
            try:
                return pc.cast(stripped, target)
            except pa.ArrowInvalid:
                # From text DuckDB rounds half away from zero ('2.5' -> 3).
                try:
                    as_float = pc.cast(stripped, pa.float64())
                except pa.ArrowInvalid as e:
                    raise _not_convertible(stripped, target, _NUMBER) from e
                return pc.cast(pc.round(as_float, 0, round_mode="half_towards_infinity"), target)
    if pa.types.is_string(target):
        return _text(value)
    if pa.types.is_floating(target) and pa.types.is_string(value.type):
        return pc.cast(pc.utf8_trim_whitespace(value), target)
    if pa.types.is_floating(target):
        return pc.cast(value, target, safe=False)
    if pa.types.is_boolean(target) and pa.types.is_string(value.type):
        return _string_to_bool(value)
    return pc.cast(value, target)


def _text(value: Datum) -> Datum:
    """A value as DuckDB's VARCHAR, for CAST and for '||' and CONCAT alike: Arrow's own cast
    writes DECIMALs past six places as 1.0E-7 and timestamps with all six fractional digits."""
    if pa.types.is_decimal(value.type):
        return decimal_text(value)
    if pa.types.is_timestamp(value.type) or pa.types.is_date(value.type):
        return date_functions.temporal_text(value)
    return pc.cast(value, pa.string())


_TRUE, _FALSE = pa.array(TRUE_WORDS), pa.array(FALSE_WORDS)  # compared lowercased


def _string_to_bool(value: Datum) -> Datum:
    """A string as BOOLEAN, as DuckDB: a value that is no spelling of true or false is an error
    naming it (a constant string arrives as a scalar, which pc.filter cannot take)."""
    word = pc.utf8_lower(value)
    is_true, is_false = pc.is_in(word, value_set=_TRUE), pc.is_in(word, value_set=_FALSE)
    bad = pc.and_(pc.invert(pc.or_(is_true, is_false)), pc.is_valid(word))
    if pc.any(as_array(bad, 1)).as_py():
        raise _not_convertible(value, pa.bool_(), bad=bad)
    return pc.if_else(pc.is_null(word), pa.scalar(None, pa.bool_()), is_true)


_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_SQL_NAMES = {pa.bool_(): "BOOLEAN", pa.int32(): "INTEGER", pa.int64(): "BIGINT"}


def _not_convertible(
    value: Datum, target: pa.DataType, pattern: str = "", bad: Datum | None = None
) -> EvaluationError:
    """The final error of a CAST from text (as DuckDB's 'Could not convert string'), naming the
    first value that is not convertible: where `bad` is true, or else that misses `pattern`."""
    if bad is None:
        bad = pc.invert(pc.match_substring_regex(value, pattern))
    values, bad = as_array(value, 1), as_array(bad, 1)
    found = pc.filter(values, pc.fill_null(bad, False))
    sample = f" {found[0].as_py()!r}" if len(found) else ""
    name = _SQL_NAMES.get(target, str(target).upper())
    # "cast:" first: the driver names the query's CAST from the function name.
    return EvaluationError(f"cast: could not convert string{sample} to {name}")


def _date_part(kernel: str) -> Callable[[Expr, list[Datum]], Datum]:
    return lambda _e, a: pc.cast(pc.call_function(kernel, [a[0]]), pa.int64())


def _date_add(e: Expr, a: list[Datum]) -> Datum:
    """DATE + n days, or + n months with the day clamped to the month's end (as DuckDB); a
    TIMESTAMP moves its date and keeps its time of day."""
    if pa.types.is_timestamp(a[0].type):
        moment = a[0]
        midnight = pc.cast(pc.cast(moment, pa.date32()), moment.type)
        time_of_day = pc.subtract(moment, midnight)
        moved = _date_add(e, [pc.cast(moment, pa.date32())])
        return pc.add(pc.cast(moved, moment.type), time_of_day)
    day, count = a[0], int(e["count"])
    if e["unit"] == "day":
        days = pc.add_checked(pc.cast(day, pa.int32()), pa.scalar(count, pa.int32()))
        return pc.cast(days, pa.date32())
    total = pc.add_checked(
        pc.add(pc.multiply(pc.year(day), 12), pc.subtract(pc.month(day), 1)), count
    )
    year = pc.floor(pc.divide(pc.cast(total, pa.float64()), 12.0))
    year = pc.cast(year, pa.int64())
    month = pc.add(pc.subtract(total, pc.multiply(year, 12)), 1)
    first = _make_date(year, month, pc.cast(pa.scalar(1), pa.int64()))
    # The last day of the target month: the first of the next month, minus one day.
    next_total = pc.add(total, 1)
    next_year = pc.cast(pc.floor(pc.divide(pc.cast(next_total, pa.float64()), 12.0)), pa.int64())
    next_month = pc.add(pc.subtract(next_total, pc.multiply(next_year, 12)), 1)
    next_first = _make_date(next_year, next_month, pc.cast(pa.scalar(1), pa.int64()))
    last = pc.subtract(pc.cast(next_first, pa.int32()), pc.cast(first, pa.int32()))
    dom = pc.min_element_wise(pc.day(day), pc.cast(last, pa.int64()))
    days = pc.add(pc.cast(first, pa.int32()), pc.cast(pc.subtract(dom, 1), pa.int32()))
    return pc.cast(days, pa.date32())


def _make_date(year: Datum, month: Datum, day: Datum) -> Datum:
    """A date32 from year, month and day columns (via its ISO text: Arrow has no make_date)."""

    def padded(v: Datum, width: int) -> Datum:
        return pc.utf8_lpad(pc.cast(v, pa.string()), width=width, padding="0")

    text = pc.binary_join_element_wise(padded(year, 4), padded(month, 2), padded(day, 2), "-")
    return pc.cast(pc.strptime(text, format="%Y-%m-%d", unit="s"), pa.date32())


FUNCTIONS: dict[str, Callable[[Expr, list[Datum]], Datum]] = {
    "and": _chain("and_kleene"),
    "or": _chain("or_kleene"),
    "not": _binary("invert"),
    "eq": _comparison("equal"),
    "ne": _comparison("not_equal"),
    "lt": _comparison("less"),
    "le": _comparison("less_equal"),
    "gt": _comparison("less", swap=True),
    "ge": _comparison("less_equal", swap=True),
    "add": arithmetic("add_checked"),
    "sub": arithmetic("subtract_checked"),
    "mul": arithmetic("multiply_checked"),
    "div": _divide,
    "mod": _modulo,
    "neg": _negate,
    "is_null": _binary("is_null"),
    "is_not_null": _binary("is_valid"),
    "in": _in,
    "like": _like,
    "substr": _substr,
    "length": lambda _e, a: pc.cast(pc.utf8_length(a[0]), pa.int64()),
    "upper": _binary("utf8_upper"),
    "lower": _binary("utf8_lower"),
    "concat": _concat,
    "case": _case,
    "cast": _cast,
    "year": _date_part("year"),
    "month": _date_part("month"),
    "day": _date_part("day"),
    "date_add": _date_add,
    **numeric_functions.FUNCTIONS,
    **text_functions.FUNCTIONS,
    **date_functions.FUNCTIONS,
}
"""Every function the IR may name. The plan validator refuses any other."""
