"""The broadcast side of an inner equi-join, hashed once per worker and job, probed by every task.

Arrow's hash join (Acero) builds its hash table on every call, from the right input: a map task
of a broadcast join either rebuilt the table of the whole broadcast side or probed all of its
rows, once per split. Here the broadcast side is indexed once, from the partition hash (which
depends only on key values): its rows sorted by hash, each distinct hash's run of rows, and a
bucket directory on the hash's top bits. A probe then costs a few kernels over the probing
split's rows: hash, look up the bucket, compare hashes, and verify the keys themselves (so a
hash collision never joins unequal keys). Duplicate keys on the broadcast side expand to one
output row per match.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .operators import normalize_zeros
from .partition import row_hash

_U64 = pa.uint64()
_I64 = pa.int64()
_HASH = "__sqlmr_broadcast_hash"  # the sorted hashes' column in an index's IPC file


def _arange(n: int) -> pa.Array:
    """0, 1, …, n-1 as int64, by kernels (no Python list)."""
    if n == 0:
        return pa.array([], _I64)
    return pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, _I64), n)), 1)


def _run_starts(values: pa.Array) -> pa.Array:
    """Where each run of equal values begins, in a sorted array."""
    n = len(values)
    if not n:
        return pa.array([], _I64)
    new_run = pc.not_equal(values.slice(1), values.slice(0, n - 1))
    firsts = pc.add(pc.indices_nonzero(new_run), pa.scalar(1, _U64)).cast(_I64)
    return pa.concat_arrays([pa.array([0], _I64), firsts])


def _keys_equal(a: pa.Array, b: pa.Array) -> pa.Array:
    """SQL equality of join keys, with NaN equal to NaN as DuckDB joins them."""
    eq = pc.equal(a, b)
    if pa.types.is_floating(a.type) and pa.types.is_floating(b.type):
        eq = pc.or_(eq, pc.and_(pc.is_nan(a), pc.is_nan(b)))
    return eq.fill_null(False)


def _sorted_by_hash(table: pa.Table, keys: list[str]) -> tuple[pa.Table, pa.Array]:
    """The rows with no NULL key, ordered by the hash of their keys, and those hashes."""
    table = normalize_zeros(table, keys)
    for key in keys:
        if table.column(key).null_count:
            table = table.filter(pc.is_valid(table.column(key)))
    hashes = row_hash(table, keys)
    np = _numpy()
    if np is None:
        order = pc.sort_indices(hashes)
        return table.take(order), hashes.take(order)
    # numpy's (vectorized) quicksort is about 6x Arrow's sort_indices on 900k hashes; the
    # order of equal hashes does not matter, a run of them is read whole.
    values = hashes.to_numpy()
    order = np.argsort(values)
    return table.take(order), pa.array(values[order])


def _numpy():
    """numpy if this Python has it, else None. The Lambda layer ships pyarrow without numpy
    (pyarrow does not need it), so there Arrow's kernels do the same work, slower."""
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def _bucket_starts(hashes: pa.Array, shift: pa.Scalar, size: int) -> pa.Array:
    """BroadcastIndex's bucket directory by Arrow kernels alone (where numpy is missing)."""
    distinct = len(hashes)
    if not distinct:
        return pa.repeat(pa.scalar(0, _I64), size + 1)
    buckets = pc.shift_right(hashes, shift).cast(_I64)  # ascending
    firsts = _run_starts(buckets)
    used = pc.take(buckets, firsts)
    # Bucket b starts where the first used bucket >= b starts: positions used[j-1]+1 …
    # used[j] take firsts[j], and those after the last used bucket take `distinct`.
    bounds = pa.concat_arrays([pa.array([0], _I64), pc.add(used, 1), pa.array([size + 1], _I64)])
    owner = pc.list_parent_indices(pa.LargeListArray.from_arrays(bounds, pa.nulls(size + 1)))
    starts = pa.concat_arrays([firsts, pa.array([distinct], _I64)])
    return pc.take(starts, owner)


class BroadcastIndex:
    """A broadcast table indexed by its join keys (rows with a NULL key never match)."""

    def __init__(self, table: pa.Table, keys: list[str], hashes: pa.Array | None = None):
        """Index `table` on `keys`. `hashes` (those of from_ipc) says the table is already an
        index's: its key hashes, ascending, with its rows in their order."""
        self.keys = keys
        if hashes is None:
            table, hashes = _sorted_by_hash(table, keys)
        self.table = table
        n = len(hashes)
        self.sorted_hashes = hashes
        self.starts = _run_starts(hashes)
        ends = pa.concat_arrays([self.starts.slice(1), pa.array([n] if n else [], _I64)])
        self.counts = pc.subtract(ends, self.starts)
        self.hashes = hashes.take(self.starts)  # distinct, ascending
        self.multiple = len(self.starts) < n
        self._directory()

    def _directory(self) -> None:
        """bucket_start[b] … bucket_start[b+1]: the distinct hashes whose top bits are b."""
        distinct = len(self.hashes)
        self.bits = max(1, (2 * max(distinct, 1) - 1).bit_length())  # about 2 buckets per hash
        self.shift = pa.scalar(64 - self.bits, _U64)
        size = 1 << self.bits
        np = _numpy()
        if np is None:
            self.bucket_start = _bucket_starts(self.hashes, self.shift, size)
            return
        buckets = np.right_shift(self.hashes.to_numpy(), np.uint64(64 - self.bits))
        # Distinct hashes per bucket, summed: where each bucket's run of hashes starts.
        starts = np.zeros(size + 1, np.int64)
        np.cumsum(np.bincount(buckets.astype(np.int64), minlength=size), out=starts[1:])
        self.bucket_start = pa.array(starts)

    def write_ipc(self, sink: pa.NativeFile) -> None:
        """Write the index to `sink` as one uncompressed Arrow IPC file (its table and sorted
        hashes), for from_ipc to map in place: what another process of the job reads instead
        of building it."""
        table = self.table.append_column(_HASH, self.sorted_hashes)
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)

    @classmethod
    def from_ipc(cls, source: Any, keys: list[str]) -> BroadcastIndex:
        """The index that write_ipc wrote, read from a buffer or memory map without copying."""
        table = pa.ipc.open_file(source).read_all()
        hashes = table.column(_HASH).combine_chunks()
        return cls(table.drop_columns([_HASH]), keys, hashes)

    def nbytes(self) -> int:
        """Memory held by the index and its table."""
        arrays = (self.starts, self.counts, self.hashes, self.bucket_start)
        return self.table.nbytes + sum(a.nbytes for a in arrays)

    def _matches(self, probe: pa.Table, keys: list[str]) -> tuple[pa.Array, pa.Array]:
        """(probe row, distinct-hash index) for every probe row whose hash is in the index."""
        hashes = row_hash(probe, keys)
        bucket = pc.shift_right(hashes, self.shift).cast(_I64)
        lo = pc.take(self.bucket_start, bucket)
        span = pc.subtract(pc.take(self.bucket_start, pc.add(bucket, 1)), lo)
        rows, found_rows, found = _arange(probe.num_rows), [], []
        depth = 0
        while True:
            live = pc.greater(span, depth)
            rows, lo, span = rows.filter(live), lo.filter(live), span.filter(live)
            if not len(rows):
                break
            candidate = pc.add(lo, depth)
            hit = pc.equal(pc.take(self.hashes, candidate), pc.take(hashes, rows))
            found_rows.append(rows.filter(hit))
            found.append(candidate.filter(hit))
            depth += 1
        if not found:
            return pa.array([], _I64), pa.array([], _I64)
        return pa.concat_arrays(found_rows), pa.concat_arrays(found)

    def join(
        self,
        probe: pa.Table,
        keys: list[str],
        index_is_left: bool,
        columns: set[str] | None = None,
    ) -> pa.Table:
        """The inner equi-join of a probing table with the index: the left side's columns, then
        the right side's, as Arrow's join returns them (only those in `columns`, when given)."""
        probe = normalize_zeros(probe, keys)
        probe_rows, distinct = self._matches(probe, keys)
        starts = pc.take(self.starts, distinct)
        if self.multiple and len(distinct):
            # A key found k times on the broadcast side yields k rows.
            counts = pc.take(self.counts, distinct)
            offsets = pa.concat_arrays([pa.array([0], _I64), pc.cumulative_sum(counts)])
            total = offsets[-1].as_py()
            runs = pa.LargeListArray.from_arrays(offsets, pa.nulls(total))
            parent = pc.list_parent_indices(runs)
            within = pc.subtract(_arange(total), pc.take(offsets, parent))
            probe_rows = pc.take(probe_rows, parent)
            build_rows = pc.add(pc.take(starts, parent), within)
        else:
            build_rows = starts
        keep = None
        for pk, bk in zip(keys, self.keys, strict=True):
            eq = _keys_equal(
                pc.take(probe.column(pk), probe_rows), pc.take(self.table.column(bk), build_rows)
            )
            keep = eq if keep is None else pc.and_(keep, eq)
        if keep is not None and not pc.all(keep).as_py():
            probe_rows, build_rows = probe_rows.filter(keep), build_rows.filter(keep)
        probed, built = probe, self.table
        if columns is not None:
            probed = probed.select([c for c in probed.column_names if c in columns])
            built = built.select([c for c in built.column_names if c in columns])
            if not probed.num_columns and not built.num_columns:
                probed = probe.select(keys[:1])  # COUNT(*) reads no column but counts rows
        probed, built = probed.take(probe_rows), built.take(build_rows)
        left, right = (built, probed) if index_is_left else (probed, built)
        return pa.Table.from_arrays(
            [*left.columns, *right.columns], names=[*left.column_names, *right.column_names]
        )
