"""DATE_TRUNC and DATE_DIFF over DATE values, vectorized with pyarrow.compute, as DuckDB does them,
and DATE and TIMESTAMP values as DuckDB's text (`temporal_text`).

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


# The year as Arrow writes it ('0000', '-0221', '-3937'), and the '-' after it.
_ARROW_YEAR = r"^-?\d+-"


def temporal_text(value: Datum) -> Datum:
    """DATE or TIMESTAMP values as DuckDB's text, which CAST(… AS VARCHAR), '||', CONCAT and the
    CLI's output all give: '2024-02-29', '2024-02-29 00:00:00', '2024-01-31 23:59:59.5', and
    '0001-12-31 (BC) 23:59:59.999999' before year 1 (Arrow: '0000-12-31 …', a year 0)."""
    if isinstance(value, pa.Scalar):
        return temporal_text(pa.array([value], value.type))[0]
    text = pc.cast(value, pa.string())
    if pa.types.is_timestamp(value.type) and value.type.unit != "s":
        # Arrow writes every digit of the unit's fraction ('…:59.500000'); DuckDB trims the
        # trailing zeros, and the point when all are zero ('…:59.5', '…:00'). Each text of a
        # unit finer than seconds ends in its fraction, so trimming '0's stops at the point or
        # at a non-zero digit, never in the seconds. (A regex did the same at 5x the cost:
        # 0.55 s for 1 M values, the two trims 0.02 s, the cast itself 0.1 s.)
        text = pc.utf8_rtrim(pc.utf8_rtrim(text, "0"), ".")
    earliest = pc.min(value)  # one pass over the values; their years only when some are BC
    if earliest.is_valid and pc.year(earliest).as_py() <= 0:
        text = _before_christ(value, text)
    return text


def _before_christ(value: Datum, text: Datum) -> Datum:
    """Arrow's text of years ≤ 0 (astronomical: year 0 is 1 BC) as DuckDB's: the year counted
    back from 1 (1 - year), padded to four digits, with ' (BC)' after the date."""
    year = pc.year(value)
    era_year = pc.utf8_lpad(pc.cast(pc.subtract(1, year), pa.string()), width=4, padding="0")
    rest = pc.replace_substring_regex(text, _ARROW_YEAR, "")  # 'MM-DD' then ' HH:MM:SS…' if any
    month_day = pc.utf8_slice_codeunits(rest, 0, 5)
    clock = pc.utf8_slice_codeunits(rest, 5)
    bc = pc.binary_join_element_wise(era_year, "-", month_day, " (BC)", clock, "")
    return pc.if_else(pc.less_equal(year, 0), bc, text)


FUNCTIONS = {"date_trunc": _date_trunc, "date_diff": _date_diff}
"""The date functions of the IR (merged into expressions.FUNCTIONS)."""
