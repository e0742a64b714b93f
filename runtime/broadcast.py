"""The broadcast side of an inner equi-join, hashed once per worker and job, probed by every task.

Arrow's hash join (Acero) builds its hash table on every call, from the right input: a map task
of a broadcast join either rebuilt the table of the whole broadcast side or probed all of its
rows, once per split. Here the broadcast side is indexed once, from the partition hash (which
depends only on key values): its rows' order by hash, each distinct hash's run in that order,
and a bucket directory on the hash's top bits. A side of several ranges is built in parts, one
per range, which the workers of a job build at once and share (broadcast_share). A probe then
costs a few kernels over the probing split's rows: hash, look up the bucket, compare hashes,
and verify the keys themselves (so a hash collision never joins unequal keys). Duplicate keys
on the broadcast side expand to one output row per match.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from . import compute as pc
from .operators import normalize_zeros
from .partition import row_hash

_HASH = "__sqlmr_broadcast_hash"  # the hashes' column in a part's IPC file

# An index of at most this many distinct keys, and no more than a probe has rows, is probed by
# value: Arrow's set lookup (index_in) hashes the distinct keys into a table small enough for the
# cache and finds every probe key's exact match in one kernel, where the partition hash of a
# string key costs ~60 ns a row and a key check follows. Amplab 3a's rankings probe (524k URLs
# against 44.7k distinct destURLs, mostly missing): 24 ms against 58 ms. Past ~64k keys the set
# outgrows the cache (200k keys: 78 ms against 61 ms), and it is rebuilt on every probe.
_BY_VALUE_MAX = 65_536


def _probe_by_value(distinct: int, probe_rows: int) -> bool:
    """Whether an index of `distinct` key hashes is probed by value by a table of `probe_rows`."""
    return 0 < distinct <= min(_BY_VALUE_MAX, probe_rows)


def _by_value_type(t: pa.DataType) -> bool:
    """Key types Arrow's set lookup compares as the join does (NaN equal to NaN)."""
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_date(t)
    )


def _keys_equal(a: pa.Array, b: pa.Array) -> pa.Array:
    """SQL equality of join keys, with NaN equal to NaN as DuckDB joins them."""
    eq = pc.equal(a, b)
    if pa.types.is_floating(a.type) and pa.types.is_floating(b.type):
        eq = pc.or_(eq, pc.and_(pc.is_nan(a), pc.is_nan(b)))
    return pc.fill_null(eq, False)


class _ValueSet(NamedTuple):
    """An index's distinct keys, and its rows grouped by key: key d's rows are
    order[starts[d] : starts[d] + counts[d]]."""

    keys: pa.Array
    order: np.ndarray
    starts: np.ndarray
    counts: np.ndarray


def _value_set(column: pa.ChunkedArray) -> _ValueSet:
    encoded = pc.dictionary_encode(column.combine_chunks())
    ids = encoded.indices.to_numpy()  # no NULL: keyed_part dropped the rows with one
    counts = np.bincount(ids, minlength=len(encoded.dictionary))
    order = np.argsort(ids, kind="stable")
    return _ValueSet(encoded.dictionary, order, np.cumsum(counts) - counts, counts)


def _expand(probe_rows: np.ndarray, first: np.ndarray, counts: np.ndarray):
    """A key found k times on the broadcast side yields k rows: the probe rows repeated and
    the positions of every match (from each key's `first` position)."""
    parent = np.repeat(np.arange(len(counts)), counts)
    start = np.cumsum(counts) - counts  # each match's first output row
    return probe_rows[parent], first[parent] + (np.arange(len(parent)) - start[parent])


class IndexPart(NamedTuple):
    """Rows of a broadcast side with no NULL key, and their key hashes (one per row, in row
    order) or None (not hashed yet): what a worker builds from some of the side's ranges and
    shares with the others."""

    table: pa.Table
    hashes: np.ndarray | None


def keyed_part(table: pa.Table, keys: list[str]) -> IndexPart:
    """The rows of `table` with no NULL key, in one chunk, and the hashes of their keys when
    it has more rows than an index probed by value may hold (see _BY_VALUE_MAX): a smaller
    part's hashes are computed only if its index is probed by hash after all. Amplab 3a's
    46k filtered uservisits rows are probed by value: hashing their URLs cost its stage
    ~8 ms before the first probe, and ordering the hashes ~10 ms in each task."""
    table = normalize_zeros(table, keys)
    for key in keys:
        if table.column(key).null_count:
            table = pc.filter(table, pc.is_valid(table.column(key)))
    # One chunk: the probe gathers build rows by position, and a gather over many chunks (a
    # parse gives one per MB of text) costs more than this one copy.
    table = table.combine_chunks()
    if table.num_rows <= _BY_VALUE_MAX:
        return IndexPart(table, None)
    return IndexPart(table, row_hash(table, keys).to_numpy())


def write_part(sink: pa.NativeFile, part: IndexPart) -> None:
    """Write a part to `sink` as one uncompressed Arrow IPC file (its table and hashes, if it
    has them), for read_part to map in place: what another process of the job reads instead
    of building it."""
    table = part.table
    if part.hashes is not None:
        table = table.append_column(_HASH, pa.array(part.hashes))
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_part(source: Any) -> IndexPart:
    """The part that write_part wrote, read from a buffer or memory map without copying."""
    table = pa.ipc.open_file(source).read_all()
    if _HASH not in table.column_names:
        return IndexPart(table, None)
    hashes = table.column(_HASH).combine_chunks().to_numpy()
    return IndexPart(table.drop_columns([_HASH]), hashes)


class BroadcastIndex:
    """A broadcast table indexed by its join keys (rows with a NULL key never match)."""

    def __init__(self, table: pa.Table, keys: list[str]):
        """Index `table` on `keys`."""
        self._index(keyed_part(table, keys), keys)

    @classmethod
    def from_parts(cls, parts: list[IndexPart], keys: list[str]) -> BroadcastIndex:
        """The index of the rows of all `parts` (the broadcast side's ranges, built apart)."""
        index = cls.__new__(cls)
        if len(parts) == 1:
            index._index(parts[0], keys)
            return index
        # One chunk, copied out of the parts' mapped files: a gather over two chunks costs
        # more per probe (4 ms of a 27k-row probe, measured) than this copy does once.
        table = pa.concat_tables([p.table for p in parts]).combine_chunks()
        hashed = all(p.hashes is not None for p in parts)
        hashes = np.concatenate([p.hashes for p in parts]) if hashed else None
        index._index(IndexPart(table, hashes), keys)
        return index

    def _index(self, part: IndexPart, keys: list[str]) -> None:
        """Hold a part's rows, to be indexed on the first probe: by value (_by_value) or by
        hash (_hash_order)."""
        self.keys = keys
        self.table = part.table
        self._values: _ValueSet | None = None  # built on the first probe by value
        self._row_hashes = part.hashes
        self._ordered = False  # _hash_order has run

    def _hash_order(self) -> None:
        """Index the rows by hash where they are: `order` lists them by hash (ascending), and the
        runs and directory are positions in that order. The rows are never gathered into hash
        order: that copy of the whole side (its URLs) cost more than this one array."""
        if self._ordered:
            return
        hashes = self._row_hashes
        if hashes is None:
            hashes = row_hash(self.table, self.keys).to_numpy()
        self._row_hashes = None  # sorted below: the index holds them in hash order
        # numpy's (vectorized) quicksort is about 6x Arrow's sort_indices on 900k hashes; the
        # order of equal hashes does not matter, a run of them is read whole.
        self.order = np.argsort(hashes)
        values = hashes[self.order]
        n = len(values)
        new_run = np.empty(n, np.bool_)
        new_run[:1] = True
        np.not_equal(values[1:], values[:-1], out=new_run[1:])
        self.starts = np.flatnonzero(new_run)
        self.counts = np.diff(np.append(self.starts, n))
        self.hashes = values[self.starts]  # distinct, ascending
        self.multiple = len(self.starts) < n
        self._directory()
        self._ordered = True

    def _directory(self) -> None:
        """bucket_start[b] … bucket_start[b+1]: the distinct hashes whose top bits are b."""
        distinct = len(self.hashes)
        self.bits = max(1, (2 * max(distinct, 1) - 1).bit_length())  # about 2 buckets per hash
        self.shift = np.uint64(64 - self.bits)
        size = 1 << self.bits
        buckets = np.right_shift(self.hashes, self.shift).astype(np.int64)
        # Distinct hashes per bucket, summed: where each bucket's run of hashes starts.
        self.bucket_start = np.zeros(size + 1, np.int64)
        np.cumsum(np.bincount(buckets, minlength=size), out=self.bucket_start[1:])

    def nbytes(self) -> int:
        """Memory held by the index and its table."""
        arrays = [self._row_hashes] if self._row_hashes is not None else []
        if self._ordered:
            arrays += [self.order, self.starts, self.counts, self.hashes, self.bucket_start]
        if self._values is not None:
            arrays += [self._values.order, self._values.starts, self._values.counts]
        return self.table.nbytes + sum(a.nbytes for a in arrays)

    def _matches(self, probe: pa.Table, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(probe row, distinct-hash index) for every probe row whose hash is in the index,
        in probe row order."""
        self._hash_order()
        if not len(self.hashes):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        hashes = row_hash(probe, keys).to_numpy()
        bucket = np.right_shift(hashes, self.shift).astype(np.int64)
        lo = self.bucket_start[bucket]
        # Most rows find their hash first in its bucket: that depth runs over every row at once.
        # It needs no bucket size: the hash at lo (clipped to the last) is a later bucket's for
        # an empty bucket, an earlier one's past the end, so it equals the row's only in its own.
        hit = self.hashes[np.minimum(lo, len(self.hashes) - 1)] == hashes
        found = np.where(hit, lo, -1)
        rows = np.flatnonzero(~hit)
        span = self.bucket_start[bucket[rows] + 1] - lo[rows]  # the misses' buckets' sizes
        rows, lo, span = rows[span > 1], lo[rows][span > 1], span[span > 1]
        depth = 1
        while len(rows):
            candidate = lo + depth
            hit = self.hashes[candidate] == hashes[rows]
            found[rows[hit]] = candidate[hit]
            depth += 1
            more = ~hit & (span > depth)
            rows, lo, span = rows[more], lo[more], span[more]
        # Scattered by probe row, the matches keep the probe's order: when every row matches,
        # the probe's columns are emitted as they are, never gathered.
        probe_rows = np.flatnonzero(found >= 0)
        return probe_rows, found[probe_rows]

    def _by_value(self, probe: pa.Table, keys: list[str]):
        """(probe rows, build rows, whether a key matched several rows) of the probe's matches,
        looked up by value (see _BY_VALUE_MAX); None where the index or key does not suit."""
        if len(keys) != 1:
            return None
        probed = probe.column(keys[0])
        if probed.type != self.table.schema.field(self.keys[0]).type:
            return None
        if not _by_value_type(probed.type):
            return None
        if not _probe_by_value(self._distinct_bound(probe.num_rows), probe.num_rows):
            return None
        if self._values is None:
            self._values = _value_set(self.table.column(self.keys[0]))
        found = pc.index_in(probed, value_set=self._values.keys, skip_nulls=True)
        ids = pc.fill_null(found, -1).to_numpy()
        probe_rows = np.flatnonzero(ids >= 0)
        ids = ids[probe_rows]
        first, counts = self._values.starts[ids], self._values.counts[ids]
        expanded = bool(len(counts)) and int(counts.max()) > 1
        if expanded:
            probe_rows, first = _expand(probe_rows, first, counts)
        return probe_rows, self._values.order[first], expanded

    def _distinct_bound(self, probe_rows: int) -> int:
        """The index's distinct keys, or its rows where they decide alike: an index of no more
        rows than _BY_VALUE_MAX and the probe's rows is probed by value without being hashed.
        Otherwise the count of its distinct hashes (which indexes it by hash)."""
        if self._values is not None:
            return len(self._values.keys)
        rows = self.table.num_rows
        if 0 < rows <= min(_BY_VALUE_MAX, probe_rows):
            return rows
        self._hash_order()
        return len(self.hashes)

    def _by_hash(self, probe: pa.Table, keys: list[str]):
        """(probe rows, build rows, whether every probe row matched once, in order) of the
        probe's matches, looked up by key hash and then checked key by key."""
        probe_rows, distinct = self._matches(probe, keys)
        build_rows = self.starts[distinct]
        if self.multiple and len(distinct):
            probe_rows, build_rows = _expand(probe_rows, build_rows, self.counts[distinct])
        build_rows = self.order[build_rows]  # from positions in hash order to rows
        every_row = len(probe_rows) == probe.num_rows and not (self.multiple and len(distinct))
        keep = None
        for pk, bk in zip(keys, self.keys, strict=True):
            probed_key = probe.column(pk) if every_row else pc.take(probe.column(pk), probe_rows)
            eq = _keys_equal(probed_key, pc.take(self.table.column(bk), build_rows))
            keep = eq if keep is None else pc.and_(keep, eq)
        if keep is not None and not pc.all(keep).as_py():
            mask = keep.to_numpy(zero_copy_only=False)
            probe_rows, build_rows, every_row = probe_rows[mask], build_rows[mask], False
        return probe_rows, build_rows, every_row

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
        by_value = self._by_value(probe, keys)
        if by_value is not None:  # exact: Arrow compared the keys themselves
            probe_rows, build_rows, expanded = by_value
            every_row = len(probe_rows) == probe.num_rows and not expanded
        else:
            probe_rows, build_rows, every_row = self._by_hash(probe, keys)
        probed, built = probe, self.table
        if columns is not None:
            probed = probed.select([c for c in probed.column_names if c in columns])
            built = built.select([c for c in built.column_names if c in columns])
            if not probed.num_columns and not built.num_columns:
                probed = probe.select(keys[:1])  # COUNT(*) reads no column but counts rows
        probed = probed if every_row else pc.take(probed, probe_rows)
        built = pc.take(built, build_rows)
        left, right = (built, probed) if index_is_left else (probed, built)
        return pa.Table.from_arrays(
            [*left.columns, *right.columns], names=[*left.column_names, *right.column_names]
        )
