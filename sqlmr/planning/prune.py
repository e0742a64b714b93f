"""Can any row satisfy a filter, knowing only each column's range? Used to skip Parquet row
groups by their statistics and partition folders by their values.

The answer is conservative: False only when no row can match; anything not understood (a
function, a column without statistics) may match.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import Any

from sqlmr_runtime import build

_FLIP = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq", "ne": "ne"}


@dataclass(frozen=True)
class Range:
    """What is known of a column in a row group or folder: min, max, whether it has NULLs and
    whether it has anything but NULLs; `may_be_nan`: it may also hold NaN, which the min and
    max leave out (Parquet statistics of a float column)."""

    low: Any
    high: Any
    has_nulls: bool = True
    has_values: bool = True
    may_be_nan: bool = False


def may_match(ir: dict[str, Any] | None, ranges: dict[str, Range]) -> bool:
    """False when no row whose columns lie in `ranges` (keys lowercased) can satisfy `ir`."""
    if ir is None:
        return True
    fn = ir.get("fn")
    if fn == "and":
        return all(may_match(a, ranges) for a in ir["args"])
    if fn == "or":
        return any(may_match(a, ranges) for a in ir["args"])
    args = ir.get("args", [])
    if fn in ("is_null", "is_not_null") and "col" in args[0]:
        r = ranges.get(args[0]["col"].lower())
        if r is None:
            return True
        return r.has_nulls if fn == "is_null" else r.has_values
    if fn == "in" and "col" in args[0]:
        r = ranges.get(args[0]["col"].lower())
        if r is None or r.low is None:
            return r is None or r.has_values
        return any(_compare("eq", r, _coerce(v, r.low)) for v in ir["values"] if v is not None)
    if fn in _FLIP and len(args) == 2:
        left, right = (_literal(a) for a in args)
        if "col" in right and "lit" in left:
            left, right, fn = right, left, _FLIP[fn]
        if "col" in left and "lit" in right:
            r = ranges.get(left["col"].lower())
            if r is None:
                return True
            if right["lit"] is None or not r.has_values:
                return False  # a comparison with NULL, or of only NULLs, is never true
            if r.low is None or r.high is None:
                return True
            return _compare(fn, r, _coerce(right["lit"], r.low))
    return True


def _literal(node: dict[str, Any]) -> dict[str, Any]:
    """A CAST of a literal that keeps its value (an integer to a number, text to a date or
    text) as that literal; anything else unchanged, so it is never used to prune."""
    if node.get("fn") != "cast" or len(node.get("args", [])) != 1:
        return node
    inner = _literal(node["args"][0])
    if "lit" not in inner:
        return node
    value, to = inner["lit"], node.get("to")
    exact = (
        (
            isinstance(value, int)
            and not isinstance(value, bool)
            and to in ("int32", "int64", "float64")
        )
        or (isinstance(value, float) and to == "float64")
        or (isinstance(value, str) and to in ("date32", "string"))
    )
    return build.lit(value, to) if exact else node


def _coerce(value: Any, like: Any) -> Any:
    """A literal as the statistics' Python type (dates travel as ISO text in the IR)."""
    if isinstance(like, datetime.date) and isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(like, bool) != isinstance(value, bool):
        return None
    if isinstance(like, (int, float)) and isinstance(value, (int, float)):
        return value
    if isinstance(like, str) and isinstance(value, str):
        return value
    if isinstance(like, bytes) and isinstance(value, str):
        return value.encode()
    return value if type(value) is type(like) else None


def _compare(fn: str, r: Range, v: Any) -> bool:
    if any(isinstance(x, float) and math.isnan(x) for x in (v, r.low, r.high)):
        return True  # NaN equals NaN and exceeds any number: no order of bounds tells
    if v is None:
        return True  # not comparable here: keep
    if r.may_be_nan and fn in ("gt", "ge", "ne"):
        return True  # a NaN row is greater than any number, and differs from it
    try:
        if fn == "eq":
            return r.low <= v <= r.high
        if fn == "ne":
            return not (r.low == v == r.high)
        if fn == "lt":
            return r.low < v
        if fn == "le":
            return r.low <= v
        if fn == "gt":
            return r.high > v
        if fn == "ge":
            return r.high >= v
    except TypeError:
        return True
    return True
