"""Arrow's hash group-by, with short string keys grouped as integers.

A string key of at most 8 bytes (an IP prefix, a country code, a flag) is its bytes padded with
zero bytes to one 64-bit word. Arrow's grouper compares string keys as variable-width binary
(about half of 2a's grouping CPU is that comparison) and hashes raw ASCII words poorly, so the
word is first put through an invertible mix: grouping 1.55 M 8-byte keys into 444 k groups took
73-93 ms as strings, 39-45 ms as mixed words, 109-124 ms as raw words (measured, CPU). After
grouping, the mix is undone and the strings rebuilt from the words of the groups only. Keys of
9-16 bytes as two words grouped 10-40% slower than as strings, so they stay strings.

A value ending in a zero byte would pad like a shorter one: a column holding one is grouped as
strings. NULL keys keep their validity, so they still form one group of their own.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_BYTES = 8  # one word: two (16-byte keys) grouped 10-40% slower than the strings (measured)
_U64 = np.uint64
_C1, _C2 = _U64(0xFF51AFD7ED558CCD), _U64(0xC4CEB9FE1A85EC53)  # murmur3's 64-bit finalizer
_C1_INV, _C2_INV = (_U64(pow(int(c), -1, 1 << 64)) for c in (_C1, _C2))
_S = _U64(33)
BUCKET_ROWS = 1 << 17
"""Tables of at least this many rows are grouped in buckets (smaller ones fit in cache)."""
_BUCKET_BITS = 4
# A word's byte length is the number of these it is at least (bytes are little-endian).
_BYTE_BOUNDS = np.array([1 << (8 * k) for k in range(8)], dtype=_U64)


def group_by(table: pa.Table, keys: list[str], specs: list) -> pa.Table:
    """`table.group_by(keys).aggregate(specs)` on one thread: the key columns named `keys`,
    then the aggregates as Arrow names them ("<column>_<function>")."""
    packed = {k: _pack(table.column(k)) for k in keys}
    if all(p is None for p in packed.values()):
        return table.group_by(keys, use_threads=False).aggregate(specs)
    # Packed keys under names no plan column has; the aggregates read the table's columns.
    by = [k if packed[k] is None else f"\x00key{i}" for i, k in enumerate(keys)]
    columns = {
        b: table.column(k) if packed[k] is None else packed[k]
        for b, k in zip(by, keys, strict=True)
    }
    for spec in specs:
        for name in [spec[0]] if isinstance(spec[0], str) else spec[0]:
            columns.setdefault(name, table.column(name))
    words = packed[keys[0]] if len(keys) == 1 else None
    grouped = _grouped(pa.table(columns), by, specs, words)
    out = [
        grouped.column(k) if packed[k] is None else _unpack(grouped.column(b), table.field(k).type)
        for b, k in zip(by, keys, strict=True)
    ]
    aggs = [n for n in grouped.column_names if n not in by]
    return pa.Table.from_arrays([*out, *(grouped.column(n) for n in aggs)], names=[*keys, *aggs])


def _grouped(table: pa.Table, by: list[str], specs: list, words: pa.Array | None) -> pa.Table:
    """Arrow's group-by; a big table keyed by one packed column is first cut into BUCKETS by
    the top bits of its (mixed) words, and each bucket grouped on its own: a key's rows all
    fall in one bucket, and a bucket's hash table stays in cache. 1.94 M rows into 505 k
    groups: 104-119 ms in one table, 61-65 ms in 16 buckets, the cut included (measured)."""
    if words is None or len(words) < BUCKET_ROWS:
        return table.group_by(by, use_threads=False).aggregate(specs)
    top = (words.fill_null(0).to_numpy() >> _U64(64 - _BUCKET_BITS)).astype(np.uint8)
    counts = np.bincount(top, minlength=1 << _BUCKET_BITS)
    ordered = table.take(np.argsort(top, kind="stable"))  # a counting sort for 8-bit keys
    parts, at = [], 0
    for count in counts.tolist():
        part = ordered.slice(at, count)
        parts.append(part.group_by(by, use_threads=False).aggregate(specs))
        at += count
    return pa.concat_tables(parts)


def _mix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _S)
    h = h * _C1
    h = h ^ (h >> _S)
    h = h * _C2
    return h ^ (h >> _S)


def _unmix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _S)  # x ^ (x >> 33) is its own inverse on 64 bits
    h = h * _C2_INV
    h = h ^ (h >> _S)
    h = h * _C1_INV
    return h ^ (h >> _S)


def _pack(column: pa.ChunkedArray | pa.Array) -> pa.Array | None:
    """A string column of at most 8 bytes a value as a uint64 column whose values group as the
    strings do (None when it is not such a column, or a value ends in a zero byte)."""
    if not (pa.types.is_string(column.type) or pa.types.is_binary(column.type)):
        return None
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(arr)
    if n == 0 or (pc.max(pc.binary_length(arr)).as_py() or 0) > MAX_BYTES:
        return None
    text = arr.view(pa.string()) if pa.types.is_binary(arr.type) else arr
    if pc.any(pc.ends_with(text, "\x00")).as_py():
        return None  # its zero-padded word would equal a shorter value's
    padded = pc.ascii_rpad(text.fill_null(""), width=MAX_BYTES, padding="\x00")
    data = padded.buffers()[2]
    if padded.offset or data is None or data.size < n * MAX_BYTES:
        return None  # not the fixed stride the words are read at (not seen: a fresh array)
    words = _mix(np.frombuffer(data, dtype=_U64, count=n))
    # A fresh bitmap at offset 0, as the words are (the column may be a slice).
    validity = pc.is_valid(arr).buffers()[1] if arr.null_count else None
    return pa.Array.from_buffers(pa.uint64(), n, [validity, pa.py_buffer(words)])


def _unpack(packed: pa.ChunkedArray, typ: pa.DataType) -> pa.Array:
    """The string column of type `typ` that a packed key column stands for."""
    packed = packed.combine_chunks()
    n = len(packed)
    words = _unmix(packed.fill_null(0).to_numpy())
    # No value ends in a zero byte: its length is the bytes up to its word's last non-zero one.
    lengths = np.searchsorted(_BYTE_BOUNDS, words, side="right")
    data = words.view(np.uint8).reshape(n, MAX_BYTES)[np.arange(MAX_BYTES) < lengths[:, None]]
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    nulls = packed.null_count
    validity = packed.is_valid().buffers()[1] if nulls else None
    return pa.Array.from_buffers(
        typ, n, [validity, pa.py_buffer(offsets), pa.py_buffer(data)], null_count=nulls
    )
