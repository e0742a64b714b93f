"""Names of the column types that travel in plans, and their Arrow types.

Most types are one word ("int64"); DECIMAL is parametric: "decimal(p,s)" with precision
1 ≤ p ≤ 38 and scale 0 ≤ s ≤ p, held exactly as Arrow's decimal128(p, s), as DuckDB holds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING

from .errors import PlanValidationError

if TYPE_CHECKING:
    import pyarrow as pa

# The fixed type names and their Arrow types, as (factory, arguments): pyarrow is imported when
# a type is first made, so that the compiler, which only names types, runs without it.
_FIXED: dict[str, tuple[str, tuple]] = {
    "string": ("string", ()),
    "int32": ("int32", ()),
    "int64": ("int64", ()),
    "float64": ("float64", ()),
    "date32": ("date32", ()),
    "timestamp": ("timestamp", ("us",)),
    "bool": ("bool_", ()),
    "null": ("null", ()),
    # SUM of BIGINT, DuckDB's HUGEINT: 38 decimal digits hold any sum of int64 values.
    "int128": ("decimal128", (38, 0)),
}
FIXED_TYPES = frozenset(_FIXED)

MAX_PRECISION = 38

# BOOLEAN as text, as DuckDB reads it (a CAST, a BOOLEAN column of a file): these words in any
# letter case, nothing around them ('on', ' true' and '' are errors).
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
# What DuckDB's sniffer takes for a BOOLEAN column: y/n stay VARCHAR, and 1/0 are BIGINT.
SNIFFED_TRUE_WORDS = ("true", "t", "yes")
SNIFFED_FALSE_WORDS = ("false", "f", "no")
_DECIMAL = re.compile(r"decimal\((\d{1,2}),(\d{1,2})\)")


def decimal_type(precision: int, scale: int) -> str:
    """The plan type name of DECIMAL(precision, scale)."""
    return f"decimal({precision},{scale})"


def decimal_of(name: str) -> tuple[int, int] | None:
    """(precision, scale) of a plan decimal type name, or None for any other name."""
    match = _DECIMAL.fullmatch(name)
    if match is None:
        return None
    precision, scale = int(match.group(1)), int(match.group(2))
    if not (1 <= precision <= MAX_PRECISION and 0 <= scale <= precision):
        return None
    return precision, scale


def is_type(name: object) -> bool:
    """Whether `name` is a plan column type."""
    return isinstance(name, str) and (name in _FIXED or decimal_of(name) is not None)


@cache
def arrow_type(name: str) -> pa.DataType:
    """The Arrow type for a plan type name."""
    import pyarrow as pa

    made = _FIXED.get(name)
    if made is not None:
        return getattr(pa, made[0])(*made[1])
    dec = decimal_of(name)
    if dec is None:
        raise PlanValidationError(f"unknown column type {name!r}")
    return pa.decimal128(*dec)


class SqlNames(Mapping[str, str]):
    """Plan type name → SQL name (DuckDB's spelling): the fixed names, and DECIMAL(p,s)."""

    def __init__(self, fixed: Mapping[str, str]):
        self._fixed = fixed

    def __getitem__(self, name: str) -> str:
        if name in self._fixed:
            return self._fixed[name]
        dec = decimal_of(name)
        if dec is None:
            raise KeyError(name)
        return f"DECIMAL({dec[0]},{dec[1]})"

    def __iter__(self) -> Iterator[str]:
        return iter(self._fixed)

    def __len__(self) -> int:
        return len(self._fixed)
