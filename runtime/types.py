"""Names of the column types that travel in plans, and their Arrow types."""

from __future__ import annotations

import pyarrow as pa

from .errors import PlanValidationError

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "date32": pa.date32(),
    "bool": pa.bool_(),
    "null": pa.null(),
    # SUM of BIGINT, DuckDB's HUGEINT: 38 decimal digits hold any sum of int64 values.
    "int128": pa.decimal128(38, 0),
}


def arrow_type(name: str) -> pa.DataType:
    """The Arrow type for a plan type name."""
    try:
        return ARROW_TYPES[name]
    except KeyError:
        raise PlanValidationError(f"unknown column type {name!r}") from None
