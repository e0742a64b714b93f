"""Exact DECIMAL arithmetic, casts and sums on Arrow's decimal128, with DuckDB's rules.

The compiler declares every result type (see sqlmr's compiler/decimals.py) and wraps the
arithmetic in a cast to it; the cast is where a value that does not fit is an overflow error,
as in DuckDB, never a wrapped or rounded value. Arrow widens a decimal result by its own rule
(a + b gains a digit, a * b gets p1 + p2 + 1 digits) and refuses past 38 digits: such operations
run in decimal256 and are narrowed by that cast. Rounding (CAST to fewer digits or to an
integer) is half away from zero, as DuckDB rounds decimals.
"""

from __future__ import annotations

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
        raise EvaluationError("DECIMAL overflow: the operands are too wide to combine")
    return (
        pc.cast(x, pa.decimal256(x.type.precision, x.type.scale)),
        pc.cast(y, pa.decimal256(y.type.precision, y.type.scale)),
    )


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
            value = pc.round(value, target.scale, round_mode=_ROUND)
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


def round_to_integer(value: Datum, target: pa.DataType) -> Datum:
    """CAST of a DECIMAL to an integer type: rounded half away from zero, as DuckDB."""
    rounded = pc.round(value, 0, round_mode=_ROUND)
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
        low, high = pc.min_max(table.column(column)).values()
        if low.as_py() is None:
            continue
        largest = max(abs(low.as_py()), abs(high.as_py())).scaleb(typ.scale)
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
