"""DATE_TRUNC and DATE_DIFF over DATE values, vectorized with pyarrow.compute, as DuckDB does them.

DATE_DIFF counts the boundaries of its unit between the two dates (the end minus the start):
from 2020-12-31 to 2021-01-01 is one year; weeks are whole 7-day spans, truncated toward zero.
DATE_TRUNC of a DATE is the first day of its unit (weeks start on Monday).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from . import compute as pc

Datum = pa.Array | pa.ChunkedArray | pa.Scalar
Expr = dict[str, Any]


def _date_trunc(e: Expr, a: list[Datum]) -> Datum:
    unit = e["unit"]
    if unit == "day":
        return a[0]
    return pc.floor_temporal(a[0], unit=unit, week_starts_monday=True)


def _months(day: Datum) -> Datum:
    return pc.add(pc.multiply(pc.year(day), 12), pc.month(day))


def _date_diff(e: Expr, a: list[Datum]) -> Datum:
    start, end = a
    unit = e["unit"]
    if unit in ("day", "week"):
        days = pc.subtract(pc.cast(end, pa.int32()), pc.cast(start, pa.int32()))
        days = pc.cast(days, pa.int64())
        if unit == "day":
            return days
        # Truncated toward zero, as DuckDB's (days / 7).
        return pc.cast(pc.trunc(pc.divide(pc.cast(days, pa.float64()), 7.0)), pa.int64())
    if unit == "year":
        return pc.cast(pc.subtract(pc.year(end), pc.year(start)), pa.int64())
    months = pc.subtract(_months(end), _months(start))
    if unit == "month":
        return pc.cast(months, pa.int64())
    quarters = pc.subtract(
        pc.add(pc.multiply(pc.year(end), 4), pc.quarter(end)),
        pc.add(pc.multiply(pc.year(start), 4), pc.quarter(start)),
    )
    return pc.cast(quarters, pa.int64())


FUNCTIONS = {"date_trunc": _date_trunc, "date_diff": _date_diff}
"""The date functions of the IR (merged into expressions.FUNCTIONS)."""
