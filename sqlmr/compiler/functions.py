"""Date parts, DATE ± INTERVAL, DATE_TRUNC and DATE_DIFF, translated with DuckDB's semantics;
the registry of every function handler (numeric and string ones come from their modules).

EXTRACT(part FROM d), YEAR/MONTH/DAY(d) are BIGINT, as in DuckDB. DATE ± INTERVAL 'n' DAY|MONTH|
YEAR is folded here when the date is a constant (TPC-H's `DATE '1998-12-01' - INTERVAL '90'
DAY`); otherwise the runtime adds days, or months with the day clamped to the month's end.
As in DuckDB, DATE ± INTERVAL is a TIMESTAMP (midnight), TIMESTAMP ± INTERVAL keeps the time
of day, and DATE ± an integer constant is a DATE. One difference is stated rather than hidden:
DuckDB types DATE_TRUNC of a DATE as a TIMESTAMP, sqlmr as a DATE (equal in every comparison).
DATE_DIFF(unit, start, end) counts unit boundaries (weeks: whole 7-day spans), as BIGINT.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

from sqlglot import exp
from sqlmr_runtime.spec import DATE_UNITS

from sqlmr.catalog import TYPE_NAMES
from sqlmr.compiler.expressions import Translator, Typed, call, cast, lit
from sqlmr.compiler.expressions import _convert_literal as convert_literal

_PARTS = {"YEAR": "year", "MONTH": "month", "DAY": "day"}
_UNITS = {
    "DAY": ("day", 1),
    "DAYS": ("day", 1),
    "WEEK": ("day", 7),
    "WEEKS": ("day", 7),
    "MONTH": ("month", 1),
    "MONTHS": ("month", 1),
    "QUARTER": ("month", 3),
    "QUARTERS": ("month", 3),
    "YEAR": ("month", 12),
    "YEARS": ("month", 12),
}


def _date(t: Translator, node: exp.Expression) -> Typed:
    value = t(node)
    if value.type not in ("date32", "timestamp"):
        raise t.error(f"expected a DATE, got {TYPE_NAMES[value.type]}", node)
    return value


def _extract(t: Translator, node: exp.Extract) -> Typed:
    part = node.this.name.upper()
    if part not in _PARTS:
        raise t.unsupported(f"EXTRACT({part} FROM …)", node)
    return call(_PARTS[part], "int64", _date(t, node.expression))


def _part(fn: str) -> Callable[[Translator, exp.Expression], Typed]:
    return lambda t, node: call(fn, "int64", _date(t, node.this))


def interval(t: Translator, node: exp.Interval) -> tuple[str, int]:
    """An INTERVAL literal as (day | month, count)."""
    text = node.this.name if isinstance(node.this, exp.Literal) else None
    unit = node.unit.name.upper() if node.args.get("unit") is not None else ""
    if text is not None and not unit:
        match = re.fullmatch(r"\s*(-?\d+)\s+([A-Za-z]+)\s*", text)
        text, unit = (match.group(1), match.group(2).upper()) if match else (None, "")
    if text is None or unit not in _UNITS or not re.fullmatch(r"\s*-?\d+\s*", text):
        raise t.unsupported("this INTERVAL (only 'n' DAY, WEEK, MONTH, QUARTER or YEAR)", node)
    kind, scale = _UNITS[unit]
    return kind, int(text) * scale


_DAY = datetime.timedelta(days=1)


def add_months(day: datetime.date, months: int) -> datetime.date:
    """DuckDB's date + months: the same day of the month, clamped to the month's last day."""
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    # The month's last day is the day before the next month's first (not calendar.monthrange:
    # importing calendar loads locale, ≈ 5 ms on the compile helper's path for every query).
    last = 31 if month == 11 else (datetime.date(year, month + 2, 1) - _DAY).day
    return datetime.date(year, month + 1, min(day.day, last))


def date_arithmetic(t: Translator, node: exp.Binary) -> Typed | None:
    """DATE ± INTERVAL (or INTERVAL + DATE); None when neither operand is an INTERVAL."""
    a, b = node.this, node.expression
    if isinstance(a, exp.Interval) and isinstance(node, exp.Add):
        a, b = b, a
    if not isinstance(b, exp.Interval):
        if isinstance(a, exp.Interval):
            raise t.unsupported("INTERVAL - DATE", node)
        return None
    kind, count = interval(t, b)
    if isinstance(node, exp.Sub):
        count = -count
    value = _date(t, a)
    if "lit" in value.ir and value.ir["lit"] is not None:
        moment = datetime.datetime.fromisoformat(value.ir["lit"])
        try:
            moved = (
                moment + datetime.timedelta(days=count)
                if kind == "day"
                else datetime.datetime.combine(add_months(moment.date(), count), moment.time())
            )
        except (OverflowError, ValueError):
            raise t.error("the date is out of range", node) from None
        return lit(moved.isoformat(sep=" "), "timestamp")
    moved = call("date_add", value.type, value, unit=kind, count=count)
    return call("cast", "timestamp", moved, to="timestamp") if value.type == "date32" else moved


def date_plus_days(t: Translator, node: exp.Binary, a: Typed, b: Typed) -> Typed | None:
    """DATE ± an integer constant (days), given both operands translated: a DATE, as in
    DuckDB; None if no operand is a DATE."""
    if isinstance(node, exp.Add) and b.type == "date32":
        a, b = b, a
    if a.type != "date32":
        return None
    if b.type not in ("int32", "int64") or "lit" not in b.ir or b.ir["lit"] is None:
        raise t.unsupported("DATE ± a non-constant number of days", node)
    count = b.ir["lit"] if isinstance(node, exp.Add) else -b.ir["lit"]
    if "lit" in a.ir and a.ir["lit"] is not None:
        try:
            day = datetime.date.fromisoformat(a.ir["lit"]) + datetime.timedelta(days=count)
        except OverflowError:
            raise t.error("the date is out of range", node) from None
        return lit(day.isoformat(), "date32")
    return call("date_add", "date32", a, unit="day", count=count)


def _unit(t: Translator, fn: str, node: exp.Expression) -> str:
    unit = node.args.get("unit")
    name = unit.name.lower() if unit is not None else ""
    name = name[:-1] if name.endswith("s") else name
    if name not in DATE_UNITS:
        raise t.unsupported(f"{fn}() with unit {name or '(none)'!r}", node)
    return name


def _date_arg(t: Translator, fn: str, node: exp.Expression) -> Typed:
    value = t(node)
    if value.type == "string" and "lit" in value.ir:
        return convert_literal(t, value.ir["lit"], "date32", node)
    if value.type not in ("date32", "timestamp", "null"):
        raise t.error(f"{fn}() expects a DATE, got {TYPE_NAMES[value.type]}", node)
    return cast(value, "date32")


def _date_trunc(t: Translator, node: exp.TimestampTrunc) -> Typed:
    unit = _unit(t, "DATE_TRUNC", node)
    return call("date_trunc", "date32", _date_arg(t, "DATE_TRUNC", node.this), unit=unit)


def _date_diff(t: Translator, node: exp.DateDiff) -> Typed:
    unit = _unit(t, "DATE_DIFF", node)
    start = _date_arg(t, "DATE_DIFF", node.expression)
    end = _date_arg(t, "DATE_DIFF", node.this)
    return call("date_diff", "int64", start, end, unit=unit)


HANDLERS: dict[type, Callable[[Translator, Any], Typed]] = {
    exp.Extract: _extract,
    exp.Year: _part("year"),
    exp.Month: _part("month"),
    exp.Day: _part("day"),
    exp.TimestampTrunc: _date_trunc,
    exp.DateTrunc: _date_trunc,
    exp.DateDiff: _date_diff,
}

# The numeric and string functions live in their own modules (they import this package's
# expressions module, which imports this one last).
from sqlmr.compiler.math_functions import HANDLERS as _MATH  # noqa: E402
from sqlmr.compiler.string_functions import HANDLERS as _STRINGS  # noqa: E402

HANDLERS.update(_MATH)
HANDLERS.update(_STRINGS)
