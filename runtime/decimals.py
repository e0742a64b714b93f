"""Exact DECIMAL arithmetic, casts and sums on Arrow's decimal128, with DuckDB's rules.

The compiler declares every result type (see sqlmr's compiler/decimals.py) and wraps the
arithmetic in a cast to it; the cast is where a value that does not fit is an overflow error,
as in DuckDB, never a wrapped or rounded value. Arrow widens a decimal result by its own rule
(a + b gains a digit, a * b gets p1 + p2 + 1 digits) and refuses past 38 digits: such operations
run in decimal256 and are narrowed by that cast. Rounding (CAST to fewer digits or to an
integer, ROUND) is half away from zero, as DuckDB rounds decimals, and always gets one more
digit of room than its input: Arrow's round/floor/ceil keep the input's precision and, when the
result carries into a new digit (99.99 → 100), write 0 without an error (or, in decimal256, a
wrong value), so rounding in place returned 0 for the rows that carried.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from . import compute as pc
from .errors import EvaluationError

Datum = pa.Array | pa.ChunkedArray | pa.Scalar
MAX_PRECISION = 38
_WIDE_PRECISION = 76  # decimal256
_ROUND = "half_towards_infinity"  # half away from zero


def _needed(kernel: str, x: pa.DataType, y: pa.DataType) -> int:
    """The precision Arrow gives the result of `kernel` over two decimals."""
    if kernel.startswith("multiply"):
        return x.precision + y.precision + 1
    whole = max(x.precision - x.scale, y.precision - y.scale)
    grow = 1 if kernel.startswith(("add", "subtract")) else 0
    return whole + max(x.scale, y.scale) + grow


def wide_pair(x: Datum, y: Datum, kernel: str) -> tuple[Datum, Datum]:
    """Two operands as Arrow can combine them with `kernel` ("compare" for comparisons):
    decimals whose result would pass 38 digits are widened to decimal256 (other types are
    returned as they are)."""
    if not (pa.types.is_decimal(x.type) and pa.types.is_decimal(y.type)):
        return x, y
    if _needed(kernel, x.type, y.type) <= MAX_PRECISION:
        return x, y
    if _needed(kernel, x.type, y.type) > _WIDE_PRECISION:
        # Only a product of two 38-digit types gets here (HUGEINT * HUGEINT, a DECIMAL(38,0)
        # each): Arrow would want 77 digits. Typed by the digits the values use, the product
        # fits decimal256 unless both use all 38, and then it has 75 digits or more, which
        # no DECIMAL result holds: an overflow, as DuckDB's, decided by the values.
        x, y = _used_digits(x), _used_digits(y)
        if _needed(kernel, x.type, y.type) > _WIDE_PRECISION:
            raise EvaluationError("DECIMAL overflow: the product does not fit in 38 digits")
    return (
        pc.cast(x, pa.decimal256(x.type.precision, x.type.scale)),
        pc.cast(y, pa.decimal256(y.type.precision, y.type.scale)),
    )


def _largest(value: Datum) -> decimal.Decimal | None:
    """The largest magnitude of a decimal's values in units of its last digit (12.50 → 1250),
    exactly; None when every value is NULL."""
    low, high = pc.min_max(value).values() if not isinstance(value, pa.Scalar) else (value, value)
    if low.as_py() is None:
        return None
    with decimal.localcontext() as ctx:
        ctx.prec = 80  # Python's default 28 digits would round a 38-digit value
        return max(abs(low.as_py()), abs(high.as_py())).scaleb(value.type.scale)


def _used_digits(value: Datum) -> Datum:
    """A decimal cast to the smallest precision its values need (at least its scale, and 1)."""
    typ = value.type
    largest = _largest(value)
    if largest is None:
        return pc.cast(value, pa.decimal128(max(typ.scale, 1), typ.scale))
    digits = len(str(int(largest)))
    precision = max(digits, typ.scale, 1)
    make = pa.decimal128 if precision <= MAX_PRECISION else pa.decimal256
    return pc.cast(value, make(precision, typ.scale))


def arithmetic(kernel: str) -> Callable[[dict, list[Datum]], Datum]:
    """A checked + - * that also takes decimals of any width (the compiler's cast narrows)."""
    return lambda _e, a: pc.call_function(kernel, list(wide_pair(a[0], a[1], kernel)))


def _narrow(
    value: Datum, target: pa.DataType, overflow: str = "DECIMAL overflow: a value"
) -> Datum:
    """A decimal or integer value cast to `target`, with an overflow error if it does not fit."""
    try:
        return pc.cast(value, target)
    except pa.ArrowInvalid:
        raise EvaluationError(f"{overflow} does not fit in {_sql_name(target)}") from None


def _sql_name(typ: pa.DataType) -> str:
    if pa.types.is_decimal(typ):
        return f"DECIMAL({typ.precision},{typ.scale})"
    return str(typ).upper()


def cast_to_decimal(value: Datum, target: pa.DataType) -> Datum:
    """CAST to DECIMAL(p,s): fewer digits round half away from zero; too large is an error."""
    typ = value.type
    if pa.types.is_decimal(typ):
        if typ.scale > target.scale:
            value = round_decimal(value, target.scale)
        return _narrow(value, target)
    if pa.types.is_floating(typ):
        return _float_to_decimal(value, target)
    if pa.types.is_string(typ):
        trimmed = pc.utf8_trim_whitespace(value)
        try:
            exact = pc.cast(trimmed, pa.decimal256(_WIDE_PRECISION, MAX_PRECISION))
        except pa.ArrowInvalid as e:
            raise EvaluationError(f"cannot cast to {_sql_name(target)}: {e}") from None
        return cast_to_decimal(exact, target)
    if pa.types.is_integer(typ):
        # Arrow sizes an integer's decimal by its type (int32 needs 10 digits), not its values.
        return _narrow(pc.cast(value, pa.decimal128(MAX_PRECISION, 0)), target)
    return _narrow(value, target)


def _float_to_decimal(value: Datum, target: pa.DataType) -> Datum:
    """DuckDB's DOUBLE → DECIMAL: x · 10^s rounded half away from zero (Arrow truncates)."""
    scalar = isinstance(value, pa.Scalar)
    array = pa.array([value.as_py()], value.type) if scalar else value
    scaled = pc.round(pc.multiply(array, float(10**target.scale)), 0, round_mode=_ROUND)
    bad = pc.or_(pc.is_nan(scaled), pc.greater_equal(pc.abs(scaled), 1e38))
    if pc.any(bad).as_py():
        raise EvaluationError(f"DECIMAL overflow: a value does not fit in {_sql_name(target)}")
    units = pc.cast(scaled, pa.decimal128(MAX_PRECISION, 0))
    if isinstance(units, pa.ChunkedArray):
        units = pa.chunked_array(
            [c.view(pa.decimal128(MAX_PRECISION, target.scale)) for c in units.chunks],
            pa.decimal128(MAX_PRECISION, target.scale),
        )
    else:
        units = units.view(pa.decimal128(MAX_PRECISION, target.scale))
    result = _narrow(units, target)
    return result[0] if scalar else result


def _with_room(value: Datum) -> Datum:
    """A decimal in a type one digit wider, so that rounding it can carry into a new digit
    (Arrow's round/floor/ceil keep their input's precision, see the module's docstring)."""
    typ = value.type
    if typ.precision < MAX_PRECISION:
        return pc.cast(value, pa.decimal128(typ.precision + 1, typ.scale))
    if typ.precision < _WIDE_PRECISION:
        return pc.cast(value, pa.decimal256(typ.precision + 1, typ.scale))
    # No wider type: values that use all 76 digits have 38 or more whole digits (a scale is
    # at most 38) and keep them rounded, more than any DECIMAL holds with the fraction kept.
    try:
        pc.cast(value, pa.decimal256(typ.precision - 1, typ.scale))
    except pa.ArrowInvalid:
        raise EvaluationError("DECIMAL overflow: a value is too long to round") from None
    return value


def round_decimal(value: Datum, digits: int) -> Datum:
    """A DECIMAL rounded half away from zero to `digits` places (negative: to tens, hundreds,
    ...), exactly. The result keeps the input's scale in a type one digit wider (99.99 rounds
    to 100.00); the caller's cast to the result type is the overflow check."""
    typ = value.type
    if digits >= typ.scale:
        return value
    if -digits > typ.precision - typ.scale:
        # Rounding to a place above every whole digit the type has is 0 (99.99 to thousands,
        # as DuckDB); Arrow refuses such a round.
        zero, null = pa.scalar(decimal.Decimal(0), typ), pa.scalar(None, typ)
        return pc.if_else(pc.is_valid(value), zero, null)
    if typ.precision == _WIDE_PRECISION:
        # Text parsed as DECIMAL(76,38) has no room for a carry. Half away from zero looks
        # only at the first dropped digit, so cutting the digits after it first is exact, and
        # it frees the room (this keeps '<38 nines>.5' → 10^38 an overflow, not a wrong value).
        keep = max(digits + 1, 0)
        cut = pc.round(value, keep, round_mode="towards_zero")  # never carries
        value = pc.cast(cut, pa.decimal256(typ.precision - (typ.scale - keep), keep))
    return pc.round(_with_room(value), digits, round_mode=_ROUND)


def floor_decimal(value: Datum) -> Datum:
    """FLOOR of a DECIMAL, exactly, with room for the new digit (-99.5 → -100)."""
    return pc.floor(_with_room(value))


def ceil_decimal(value: Datum) -> Datum:
    """CEIL of a DECIMAL, exactly, with room for the new digit (99.5 → 100)."""
    return pc.ceil(_with_room(value))


def round_to_integer(value: Datum, target: pa.DataType) -> Datum:
    """CAST of a DECIMAL to an integer type: rounded half away from zero, as DuckDB."""
    rounded = round_decimal(value, 0)
    try:
        return pc.cast(rounded, target)
    except pa.ArrowInvalid:
        raise EvaluationError(f"{_sql_name(target)} overflow: a value does not fit") from None


def widen_sums(table: pa.Table, aggregates: list[dict[str, Any]]) -> tuple[pa.Table, set[str]]:
    """Decimal columns whose SUM could pass 38 digits, cast to decimal256 (exact, checked when
    narrowed back by `narrow_sums`); Arrow's decimal128 sum would wrap around silently. A bound
    (largest magnitude × rows < 10^38) clears the common case with one min_max per column."""
    widened: set[str] = set()
    for agg in aggregates:
        column = agg.get("column")
        if agg["fn"] not in ("sum", "sum0") or column is None or column in widened:
            continue
        typ = table.schema.field(column).type
        if not pa.types.is_decimal128(typ) or table.num_rows == 0:
            continue
        largest = _largest(table.column(column))
        if largest is None:
            continue
        if largest * table.num_rows < 10 ** (MAX_PRECISION - 1):  # Decimal's 28 digits: margin
            continue
        index = table.schema.get_field_index(column)
        wide = pc.cast(table.column(column), pa.decimal256(_WIDE_PRECISION, typ.scale))
        table = table.set_column(index, column, wide)
        widened.add(column)
    return table, widened


def narrow_sum(column: Datum) -> Datum:
    """A decimal256 SUM back to decimal128(38, s); past 38 digits an overflow error."""
    target = pa.decimal128(MAX_PRECISION, column.type.scale)
    return _narrow(column, target, "SUM overflow: the result")


def decimal_text(value: Datum) -> Datum:
    """DECIMALs as DuckDB writes them, digits and scale kept: 0.00000010, never 1.0E-7 (Arrow's
    own cast to string switches to scientific notation beyond six places)."""
    scale = value.type.scale
    if scale == 0:
        return pc.cast(value, pa.string())
    if isinstance(value, pa.Scalar):
        return pa.scalar(None if not value.is_valid else format(value.as_py(), "f"), pa.string())
    chunks = value.chunks if isinstance(value, pa.ChunkedArray) else [value]
    wide = pa.types.is_decimal256(value.type)
    units_type = (pa.decimal256 if wide else pa.decimal128)(value.type.precision, 0)
    texts = []
    for chunk in chunks:
        units = pc.cast(chunk.view(units_type), pa.string())
        negative = pc.starts_with(units, "-")
        digits = pc.utf8_lpad(pc.utf8_ltrim(units, "-"), width=scale + 1, padding="0")
        whole = pc.utf8_slice_codeunits(digits, 0, -scale)
        fraction = pc.utf8_slice_codeunits(digits, -scale)
        sign = pc.if_else(negative, "-", "")
        texts.append(pc.binary_join_element_wise(sign, whole, ".", fraction, ""))
    if isinstance(value, pa.ChunkedArray):
        return pa.chunked_array(texts, pa.string())
    return texts[0]
