"""Arrow's hash group-by, with short string keys grouped as fixed-width values.

A string key of at most 8 bytes (an IP prefix, a country code, a flag) is its bytes padded with
zero bytes to one 64-bit word. Arrow's grouper compares string keys as variable-width binary
(about half of 2a's grouping CPU is that comparison) and hashes raw ASCII words poorly, so the
word is first put through an invertible mix: grouping 1.55 M 8-byte keys into 444 k groups took
73-93 ms as strings, 39-45 ms as mixed words, 109-124 ms as raw words (measured, CPU). A key of
9-16 bytes (2b's and 2c's SUBSTR(sourceIP, 1, 10 or 12)) is padded to 16 bytes and grouped as
fixed-size binary: a reducer of 2c's, 645 k rows into 599 k groups, 54-61 ms as strings, 46-52 ms
as fixed-size binary, 35 ms in buckets (measured, CPU). After grouping, the strings are rebuilt
from the groups' words only.

A value ending in a zero byte would pad like a shorter one: a column holding one is grouped as
strings. NULL keys keep their validity, so they still form one group of their own.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .partition import MIX1, MIX2, mix, unmix

MAX_BYTES = 16  # two words, as fixed-size binary; longer keys stay strings
_WORD = 8
_U64 = np.uint64
_C1, _C2 = _U64(MIX1), _U64(MIX2)
BUCKET_ROWS = 1 << 17
"""Tables of fewer rows are grouped in one hash table (they fit in cache)."""
BUCKET_GROUPS = 400_000
"""Tables are grouped in buckets when a sample says they hold at least about this many groups:
below it one hash table stays in cache and the cut only costs (uint64 keys spread at random,
CPU: 640 k rows into 100 k groups 10.6 ms in one table, 14.2 ms in buckets; 1.94 M rows into
25 k groups 14.5 ms against 42.5; 600 k groups 31.2 against 24.1 and 77.0 against 56.9)."""
_BUCKET_BITS = 4
_SAMPLE_RUNS, _SAMPLE_RUN = 16, 1024  # runs of adjacent rows spread over the table
# The distinct keys a sample of _SAMPLE_RUNS * _SAMPLE_RUN rows is expected to hold when the
# table's keys are BUCKET_GROUPS values drawn at random (sampling with replacement).
_SAMPLE_DISTINCT = BUCKET_GROUPS * -np.expm1(-_SAMPLE_RUNS * _SAMPLE_RUN / BUCKET_GROUPS)


def group_by(table: pa.Table, keys: list[str], specs: list) -> pa.Table:
    """`table.group_by(keys).aggregate(specs)` on one thread: the key columns named `keys`,
    then the aggregates as Arrow names them ("<column>_<function>")."""
    packed = {k: _pack(table.column(k)) for k in keys}
    if all(p is None for p in packed.values()):
        return table.group_by(keys, use_threads=False).aggregate(specs)
    # Packed keys under names no plan column has; the aggregates read the table's columns.
    by = [k if packed[k] is None else f"\x00key{i}" for i, k in enumerate(keys)]
    columns = {
        b: table.column(k) if packed[k] is None else packed[k][0]
        for b, k in zip(by, keys, strict=True)
    }
    for spec in specs:
        for name in [spec[0]] if isinstance(spec[0], str) else spec[0]:
            columns.setdefault(name, table.column(name))
    first = packed[keys[0]]
    words = first[1] if len(keys) == 1 and first is not None else None
    grouped = _grouped(pa.table(columns), by, specs, words)
    out = [
        grouped.column(k) if packed[k] is None else _unpack(grouped.column(b), table.field(k).type)
        for b, k in zip(by, keys, strict=True)
    ]
    aggs = [n for n in grouped.column_names if n not in by]
    return pa.Table.from_arrays([*out, *(grouped.column(n) for n in aggs)], names=[*keys, *aggs])


def _grouped(table: pa.Table, by: list[str], specs: list, words: np.ndarray | None) -> pa.Table:
    """Arrow's group-by; a big table of many groups keyed by one packed column is first cut
    into buckets by the top bits of its mixed words, and each bucket grouped on its own: a key's
    rows all fall in one bucket, and a bucket's hash table stays in cache. 1.94 M rows into
    505 k groups: 104-119 ms in one table, 61-65 ms in 16 buckets, the cut included (measured)."""
    if words is None or not _many_groups(words):
        return table.group_by(by, use_threads=False).aggregate(specs)
    top = (words >> _U64(64 - _BUCKET_BITS)).astype(np.uint8)
    counts = np.bincount(top, minlength=1 << _BUCKET_BITS)
    ordered = table.take(np.argsort(top, kind="stable"))  # a counting sort for 8-bit keys
    parts, at = [], 0
    for count in counts.tolist():
        part = ordered.slice(at, count)
        parts.append(part.group_by(by, use_threads=False).aggregate(specs))
        at += count
    return pa.concat_tables(parts)


def _many_groups(words: np.ndarray) -> bool:
    """Whether a table of these (mixed) key words likely holds BUCKET_GROUPS groups or more:
    a sample of runs of adjacent rows holds as many distinct words as that many random keys
    would give it (rows of one key lying together make it say no: one table, never wrong)."""
    n = len(words)
    if n < max(BUCKET_ROWS, BUCKET_GROUPS):
        return False
    stride = n // _SAMPLE_RUNS
    sample = np.concatenate(
        [words[i * stride : i * stride + _SAMPLE_RUN] for i in range(_SAMPLE_RUNS)]
    )
    return len(np.unique(sample)) >= _SAMPLE_DISTINCT


def _pack(column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, np.ndarray] | None:
    """A string column of at most 16 bytes a value as a column whose values group as the strings
    do (uint64 up to 8 bytes, else 16-byte fixed-size binary), with a mixed 64-bit word per row
    to cut buckets by; None when it is not such a column, or a value ends in a zero byte."""
    if not (pa.types.is_string(column.type) or pa.types.is_binary(column.type)):
        return None
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(arr)
    longest = (pc.max(pc.binary_length(arr)).as_py() or 0) if n else MAX_BYTES + 1
    if longest > MAX_BYTES:
        return None
    text = arr.view(pa.string()) if pa.types.is_binary(arr.type) else arr
    if pc.any(pc.ends_with(text, "\x00")).as_py():
        return None  # its zero-padded word would equal a shorter value's
    width = _WORD if longest <= _WORD else MAX_BYTES
    padded = pc.ascii_rpad(text.fill_null(""), width=width, padding="\x00")
    offsets, data = padded.buffers()[1:]
    if padded.offset or data is None or _end(offsets, n) != n * width:
        return None  # not the fixed stride the words are read at (not seen: a fresh array)
    raw = np.frombuffer(data, dtype=_U64, count=n * width // _WORD)
    # A fresh bitmap at offset 0, as the words are (the column may be a slice).
    validity = pc.is_valid(arr).buffers()[1] if arr.null_count else None
    if width == _WORD:
        words = mix(raw)
        return pa.Array.from_buffers(pa.uint64(), n, [validity, pa.py_buffer(words)]), words
    pairs = raw.reshape(n, 2)
    # For the bucket cut only: a product's top bits depend on all of its factor's bits.
    words = (pairs[:, 0] ^ (pairs[:, 1] * _C2)) * _C1
    return pa.Array.from_buffers(pa.binary(MAX_BYTES), n, [validity, data]), words


def _unpack(packed: pa.ChunkedArray, typ: pa.DataType) -> pa.Array:
    """The string column of type `typ` that a packed key column stands for: the padded bytes
    with their trailing zero bytes trimmed (no value ends in one). Trimming with Arrow took 7 ms
    for 600 k 16-byte values, cutting each row's bytes out with numpy 21 ms (measured, CPU)."""
    packed = packed.combine_chunks()
    if pa.types.is_fixed_size_binary(packed.type):
        padded = packed
    else:
        words = unmix(packed.fill_null(0).to_numpy())
        validity = packed.is_valid().buffers()[1] if packed.null_count else None
        padded = pa.Array.from_buffers(
            pa.binary(_WORD), len(packed), [validity, pa.py_buffer(words)]
        )
    text = padded.cast(pa.binary()).view(pa.string())
    return pc.ascii_rtrim(text, characters="\x00").view(typ)


def _end(offsets: pa.Buffer, n: int) -> int:
    """The last of a string array's n + 1 offsets (where its values' bytes end)."""
    return int(np.frombuffer(offsets, np.int32, count=n + 1)[n])
