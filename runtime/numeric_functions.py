"""Numeric and NULL-handling scalar functions, vectorized with pyarrow.compute, as DuckDB does them.

ROUND rounds half away from zero the exact value of its (binary) DOUBLE argument, as DuckDB does:
ROUND(-30.15, 1) is -30.1, because the DOUBLE nearest -30.15 lies just above it. Arrow's round
multiplies by 10^n first and rounds the product, which is a tie here (-301.5) and goes to -30.2;
the product's rounding error (an error-free product, Dekker's TwoProduct) breaks such ties the
way the exact value would. GREATEST and LEAST skip NULLs, and NaN is the greatest DOUBLE.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from . import compute as pc
from .decimals import ceil_decimal, floor_decimal, round_decimal

Datum = pa.Array | pa.ChunkedArray | pa.Scalar
Expr = dict[str, Any]

_SPLITTER = 134217729.0  # 2^27 + 1: Veltkamp's split of a DOUBLE into two 26-bit halves
_EXACT_POWERS = 22  # 10^n is exactly a DOUBLE up to n = 22


def _split(value: Datum) -> tuple[Datum, Datum]:
    scaled = pc.multiply(value, _SPLITTER)
    high = pc.subtract(scaled, pc.subtract(scaled, value))
    return high, pc.subtract(value, high)


def _product_error(x: Datum, factor: float, product: Datum) -> Datum:
    """x * factor - product, exactly (product is the rounded x * factor)."""
    xh, xl = _split(x)
    fh = (factor * _SPLITTER) - ((factor * _SPLITTER) - factor)
    fl = factor - fh
    err = pc.add(pc.subtract(pc.multiply(xh, fh), product), pc.multiply(xh, fl))
    return pc.add(pc.add(err, pc.multiply(xl, fh)), pc.multiply(xl, fl))


def _round_exact(y: Datum, error: Datum) -> Datum:
    """y + error rounded half away from zero, where error is y's rounding error: only a tie
    in y can round the other way than the exact value, and the error's sign decides it."""
    rounded = pc.round(y, 0, round_mode="half_towards_infinity")
    truncated = pc.trunc(y)
    tie = pc.equal(pc.abs(pc.subtract(y, truncated)), 0.5)
    toward_zero = pc.and_(tie, pc.less(pc.multiply(error, y), 0.0))
    return pc.if_else(toward_zero, truncated, rounded)


def _round(e: Expr, a: list[Datum]) -> Datum:
    value, digits = a[0], int(e["digits"])
    if pa.types.is_decimal(value.type):
        # Exact, one digit wider for a carry; the compiler's cast around this sets DuckDB's
        # type and is the overflow check.
        return round_decimal(value, digits)
    if pa.types.is_integer(value.type):
        if digits >= 0:
            return value
        # Overflow (ROUND(2147483647, -1)) is an error, as in DuckDB.
        return pc.round(value, digits, round_mode="half_towards_infinity")
    value = pc.cast(value, pa.float64())
    if digits == 0:
        return pc.round(value, 0, round_mode="half_towards_infinity")
    if digits < 0:
        # DuckDB divides by 10^-n, rounds and multiplies back; an infinite or NaN result is 0.
        modifier = 10.0 ** (-digits)
        result = pc.multiply(
            pc.round(pc.divide(value, modifier), 0, round_mode="half_towards_infinity"), modifier
        )
        return pc.if_else(pc.is_finite(result), result, 0.0)
    modifier = 10.0**digits
    scaled = pc.multiply(value, modifier)
    if digits <= _EXACT_POWERS:
        whole = _round_exact(scaled, _product_error(value, modifier, scaled))
    else:
        whole = pc.round(scaled, 0, round_mode="half_towards_infinity")
    result = pc.divide(whole, modifier)
    # DuckDB returns the input where scaling overflows (ROUND(1e300, 10) is 1e300).
    return pc.if_else(pc.is_finite(result), result, value)


def _abs(_e: Expr, a: list[Datum]) -> Datum:
    # ABS(-2147483648::INTEGER) overflows, as in DuckDB.
    return pc.abs_checked(a[0])


def _floor(_e: Expr, a: list[Datum]) -> Datum:
    if pa.types.is_decimal(a[0].type):
        return floor_decimal(a[0])  # exact; the compiler casts it to DECIMAL(p,0)
    return pc.floor(pc.cast(a[0], pa.float64()))


def _ceil(_e: Expr, a: list[Datum]) -> Datum:
    if pa.types.is_decimal(a[0].type):
        return ceil_decimal(a[0])
    return pc.ceil(pc.cast(a[0], pa.float64()))


def _coalesce(_e: Expr, a: list[Datum]) -> Datum:
    return pc.coalesce(*a)


def _extreme(greatest: bool):
    """GREATEST/LEAST: NULLs are skipped (NULL only when every argument is); NaN is greater
    than any number, as in DuckDB (Arrow's element-wise max ignores NaN)."""
    kernel = pc.max_element_wise if greatest else pc.min_element_wise

    def extreme(_e: Expr, a: list[Datum]) -> Datum:
        if not pa.types.is_floating(a[0].type):
            return kernel(*a, skip_nulls=True)
        nans = [pc.is_nan(v) for v in a]
        numbers = [pc.if_else(n, pa.scalar(None, v.type), v) for n, v in zip(nans, a, strict=True)]
        result = kernel(*numbers, skip_nulls=True)
        any_nan = nans[0]
        for n in nans[1:]:
            any_nan = pc.or_(pc.fill_null(any_nan, False), pc.fill_null(n, False))
        any_nan = pc.fill_null(any_nan, False)
        nan = pa.scalar(float("nan"), a[0].type)
        if greatest:
            return pc.if_else(any_nan, nan, result)
        return pc.if_else(pc.and_(any_nan, pc.is_null(result)), nan, result)

    return extreme


FUNCTIONS = {
    "round": _round,
    "abs": _abs,
    "floor": _floor,
    "ceil": _ceil,
    "coalesce": _coalesce,
    "greatest": _extreme(True),
    "least": _extreme(False),
}
"""The numeric and NULL-handling functions of the IR (merged into expressions.FUNCTIONS)."""
