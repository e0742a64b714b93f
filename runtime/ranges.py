"""Range partitioning for ORDER BY without LIMIT: a sorted result is cut into key ranges.

The tasks that produce the rows sort them and return an evenly spaced sample of their sort keys
(`sample_keys`). The driver picks boundaries from the samples; merge task p reads, from every
sorted output, only the rows in [boundary p-1, boundary p) (`rows_in_range`) and sorts them, so
each merge task holds about 1/R of the result and the driver streams the parts in order.

Bounds travel as base64 Arrow IPC (typed, exact). A row equal to a bound belongs to the range
that the bound opens, in every output alike, so no row is lost or counted twice.
"""

from __future__ import annotations

import base64
from typing import Any

import pyarrow as pa

from .operators import sort_indices
from .shuffle import decode_table, encode_table


def sample_keys(table: pa.Table, keys: list[dict[str, Any]], rows: int) -> str:
    """Up to `rows` evenly spaced rows of a sorted table's key columns, as base64 IPC."""
    names = list(dict.fromkeys(k["column"] for k in keys))
    n = table.num_rows
    picks = sorted({(i * n) // rows for i in range(rows)}) if n else []
    sample = table.select(names).take(pa.array(picks, pa.int64()))
    return base64.b64encode(encode_table(sample)).decode()


def decode_keys(text: str) -> pa.Table:
    """The inverse of sample_keys (also the form of a bound)."""
    return decode_table(base64.b64decode(text))


def _position(table: pa.Table, bound: pa.Table, keys: list[dict[str, Any]]) -> int:
    """How many rows of a sorted table sort strictly before the one-row `bound`."""
    names = bound.column_names
    both = pa.concat_tables([bound, table.select(names)], promote_options="permissive")
    order = sort_indices(both, keys)  # stable: the bound precedes the rows equal to it
    found = pa.compute.index(order, pa.scalar(0, order.type)).as_py()
    return int(found)


def rows_in_range(
    table: pa.Table, keys: list[dict[str, Any]], lower: str | None, upper: str | None
) -> pa.Table:
    """The rows of a table sorted by `keys` that fall in [lower, upper) (None: unbounded)."""
    start = _position(table, decode_keys(lower), keys) if lower else 0
    stop = _position(table, decode_keys(upper), keys) if upper else table.num_rows
    return table.slice(start, max(0, stop - start))
