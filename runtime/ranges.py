"""Range partitioning for ORDER BY without LIMIT: a sorted result is cut into key ranges.

The tasks that produce the rows sort them, write them as consecutive pieces (`sorted_pieces`,
one IPC stream each, indexed like shuffle partitions) and return the first key of every piece as
an evenly spaced sample of their sort keys (`sample_keys`). The driver picks boundaries from the
samples and, from each output's sample, the pieces that can hold rows of a range
(`bound_positions`): merge task p reads only those with one ranged read per output, keeps the
rows in [boundary p-1, boundary p) (`rows_in_range`) and sorts them. Each merge task holds about
1/R of the result and reads about 1/R of it plus a piece at each edge (was: every output whole,
R x the sorted bytes); the driver streams the parts in order.

Bounds travel as base64 Arrow IPC (typed, exact). A row equal to a bound belongs to the range
that the bound opens, in every output alike, so no row is lost or counted twice.
"""

from __future__ import annotations

import base64
import itertools
from typing import Any

import pyarrow as pa

from . import compute as pc
from .operators import sort_indices
from .shuffle import decode_table, encode_table


def _picks(n: int, rows: int) -> list[int]:
    """The first row of each of up to `rows` evenly sized pieces of n rows."""
    return sorted({(i * n) // rows for i in range(rows)}) if n else []


def sample_keys(table: pa.Table, keys: list[dict[str, Any]], rows: int) -> str:
    """Up to `rows` evenly spaced rows of a sorted table's key columns, as base64 IPC: the
    first row of each of its `sorted_pieces`."""
    names = list(dict.fromkeys(k["column"] for k in keys))
    sample = pc.take(table.select(names), pa.array(_picks(table.num_rows, rows), pa.int64()))
    return base64.b64encode(encode_table(sample)).decode()


PIECE_BYTES = 32 << 10
"""About how large a piece of a sorted output is: an IPC stream costs about 700 bytes of framing,
so 2% of a piece, and a merge task reads at most two pieces per output beyond its range."""


def sorted_pieces(table: pa.Table, rows: int, piece_bytes: int = PIECE_BYTES) -> list[pa.Table]:
    """A sorted table cut into pieces of about `piece_bytes`, each starting at one of the rows
    `sample_keys` samples (an empty table is one empty piece, so a reader learns the schema)."""
    picks = _picks(table.num_rows, rows) or [0]
    wanted = max(1, min(len(picks), table.nbytes // max(1, piece_bytes)))
    starts = picks[:: -(-len(picks) // wanted)]
    ends = [*starts[1:], table.num_rows]
    return [table.slice(a, b - a) for a, b in zip(starts, ends, strict=True)]


def piece_firsts(sample: pa.Table, rows_out: int, piece_rows: list[int]) -> pa.Table | None:
    """The sample rows that start each piece of a sorted output of `rows_out` rows (None when
    some piece does not start at a sample row, as an output written whole or empty)."""
    picks = {row: i for i, row in enumerate(_picks(rows_out, sample.num_rows))}
    starts = list(itertools.accumulate(piece_rows, initial=0))[:-1]
    if not starts or any(start not in picks for start in starts):
        return None
    return pc.take(sample, pa.array([picks[start] for start in starts], pa.int64()))


def bound_positions(sample: pa.Table, bounds: list[pa.Table], keys: list[dict[str, Any]]):
    """For each one-row bound, how many rows of a sorted sample sort strictly before it (one
    sort for all bounds: stable, with the bounds first, so a bound precedes the rows equal to
    it, as in `rows_in_range`)."""
    if not bounds:
        return []
    names = sample.column_names
    both = pa.concat_tables(
        [*(b.select(names) for b in bounds), sample], promote_options="permissive"
    )
    order = sort_indices(both, keys)
    is_bound = pc.less(order, len(bounds))
    is_row = pc.cast(pc.invert(is_bound), pa.int64())
    before = pc.subtract(pc.cumulative_sum(is_row), is_row)  # sample rows before each place
    positions = [0] * len(bounds)
    places = pc.filter(order, is_bound).to_pylist()
    for bound, count in zip(places, pc.filter(before, is_bound).to_pylist(), strict=True):
        positions[bound] = count
    return positions


def decode_keys(text: str) -> pa.Table:
    """The inverse of sample_keys (also the form of a bound)."""
    return decode_table(base64.b64decode(text))


def _position(table: pa.Table, bound: pa.Table, keys: list[dict[str, Any]]) -> int:
    """How many rows of a sorted table sort strictly before the one-row `bound`."""
    names = bound.column_names
    both = pa.concat_tables([bound, table.select(names)], promote_options="permissive")
    order = sort_indices(both, keys)  # stable: the bound precedes the rows equal to it
    found = pc.index(order, pa.scalar(0, order.type)).as_py()
    return int(found)


def rows_in_range(
    table: pa.Table, keys: list[dict[str, Any]], lower: str | None, upper: str | None
) -> pa.Table:
    """The rows of a table sorted by `keys` that fall in [lower, upper) (None: unbounded)."""
    start = _position(table, decode_keys(lower), keys) if lower else 0
    stop = _position(table, decode_keys(upper), keys) if upper else table.num_rows
    return table.slice(start, max(0, stop - start))
