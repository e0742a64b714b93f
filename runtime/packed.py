"""Short string keys as fixed-width values: packing, unpacking, and packed shuffle columns.

A string key of at most 8 bytes (an IP prefix, a country code, a flag) is its bytes padded with
zero bytes to one 64-bit word. Arrow's grouper compares string keys as variable-width binary
(about half of 2a's grouping CPU is that comparison) and hashes raw ASCII words poorly, so the
word is first put through an invertible mix: grouping 1.55 M 8-byte keys into 444 k groups took
73-93 ms as strings, 39-45 ms as mixed words, 109-124 ms as raw words (measured, CPU). A key of
9-16 bytes (2b's and 2c's SUBSTR(sourceIP, 1, 10 or 12)) is padded to 16 bytes and kept as
fixed-size binary. After grouping, the strings are rebuilt from the groups' values only.

A value ending in a zero byte would pad like a shorter one: a column holding one stays strings.
NULL keys keep their validity, so they still form one group of their own.

A map task writes its shuffle's string keys packed when they pack (mark_keys): ordering rows by
partition moves fixed-width values instead of strings, the partition hash reads the padded
words it needs anyway, and the reducer groups the packed column as it arrives. A packed column
carries its string type in its field's metadata (MARK); every reader but such a reducer's
grouping restores the strings (unpack_table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import compute as pc
from .partition import MIX1, MIX2, mix, padded_string_hash, unmix

MAX_BYTES = 16  # two words, as fixed-size binary; longer keys stay strings
MARK = b"sqlmr.packed"
"""Field metadata of a packed shuffle column: the string type it stands for (string, binary)."""
_WORD = 8
_U64 = np.uint64
_C1, _C2 = _U64(MIX1), _U64(MIX2)
_TYPES = {b"string": pa.string(), b"binary": pa.binary()}


@dataclass(frozen=True)
class Packed:
    """A string column packed: `array` groups as the strings do (uint64 mixed words up to 8
    bytes, else 16-byte fixed-size binary); `words` the zero-padded bytes as n rows of 8-byte
    words (NULLs zero) and `lengths` the byte lengths (NULLs 0), which the partition hash reads."""

    array: pa.Array
    words: np.ndarray
    lengths: np.ndarray


def pack(column: pa.ChunkedArray | pa.Array) -> Packed | None:
    """A string or binary column of at most 16 bytes a value, packed; None when it is not such a
    column, or a value ends in a zero byte."""
    if not (pa.types.is_string(column.type) or pa.types.is_binary(column.type)):
        return None
    n = len(column)
    longest = (pc.max(pc.binary_length(column)).as_py() or 0) if n else MAX_BYTES + 1
    if longest > MAX_BYTES:
        return None
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    if pa.types.is_binary(column.type):
        chunks = [c.view(pa.string()) for c in chunks]
    text = pa.chunked_array(chunks, pa.string())
    if pc.any(pc.ends_with(text, "\x00")).as_py():
        return None  # its zero-padded word would equal a shorter value's
    width = _WORD if longest <= _WORD else MAX_BYTES
    words = np.empty((n, width // _WORD), _U64)
    lengths = np.empty(n, np.int32)
    at = 0
    # Chunk by chunk (a scan's row groups): no copy of the whole column, and each chunk's
    # padded copy is small and in cache while its words are taken.
    for chunk in chunks:
        if not _pad_into(chunk, width, words[at : at + len(chunk)], lengths[at : at + len(chunk)]):
            return None
        at += len(chunk)
    validity = None
    if column.null_count:
        valid = pc.is_valid(column)  # a fresh bitmap at offset 0, as the words are
        valid = valid.combine_chunks() if isinstance(valid, pa.ChunkedArray) else valid
        validity = valid.buffers()[1]
    if width == _WORD:
        array = pa.Array.from_buffers(pa.uint64(), n, [validity, pa.py_buffer(mix(words[:, 0]))])
    else:
        array = pa.Array.from_buffers(pa.binary(MAX_BYTES), n, [validity, pa.py_buffer(words)])
    return Packed(array, words, lengths)


def _pad_into(chunk: pa.Array, width: int, words: np.ndarray, lengths: np.ndarray) -> bool:
    """Put a string chunk's values, padded with zero bytes to `width`, into `words` (NULLs as
    zero words) and their byte lengths into `lengths` (NULLs 0); False if the padded copy is
    not at the fixed stride the words are read at (not seen: a fresh array)."""
    m = len(chunk)
    if not m:
        return True
    nulls = chunk.null_count
    # (fill_null copies the strings even when there is no NULL to fill)
    padded = pc.ascii_rpad(pc.fill_null(chunk, "") if nulls else chunk, width, "\x00")
    offsets, data = padded.buffers()[1:]
    if padded.offset or data is None or _end(offsets, m) != m * width:
        return False
    words[:] = np.frombuffer(data, dtype=_U64, count=m * width // _WORD).reshape(m, -1)
    counted = pc.binary_length(chunk)
    lengths[:] = (pc.fill_null(counted, 0) if nulls else counted).to_numpy()
    return True


def bucket_words(packed: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A well-mixed 64-bit word per row of a packed column, whose top bits cut buckets."""
    if isinstance(packed, pa.ChunkedArray):
        packed = packed.combine_chunks()
    if pa.types.is_uint64(packed.type):
        return pc.fill_null(packed, 0).to_numpy()
    data = packed.buffers()[1]
    pairs = np.frombuffer(data, _U64, count=2 * (packed.offset + len(packed)))
    pairs = pairs.reshape(-1, 2)[packed.offset :]
    # A product's top bits depend on all of its factor's bits.
    return (pairs[:, 0] ^ (pairs[:, 1] * _C2)) * _C1


def unpack(packed: pa.ChunkedArray | pa.Array, typ: pa.DataType) -> pa.Array:
    """The string column of type `typ` that a packed key column stands for: the padded bytes
    with their trailing zero bytes trimmed (no value ends in one). Trimming with Arrow took 7 ms
    for 600 k 16-byte values, cutting each row's bytes out with numpy 21 ms (measured, CPU)."""
    if isinstance(packed, pa.ChunkedArray):
        packed = packed.combine_chunks()
    if pa.types.is_fixed_size_binary(packed.type):
        padded = packed
    else:
        words = unmix(pc.fill_null(packed, 0).to_numpy())
        validity = pc.is_valid(packed).buffers()[1] if packed.null_count else None
        padded = pa.Array.from_buffers(
            pa.binary(_WORD), len(packed), [validity, pa.py_buffer(words)]
        )
    text = pc.cast(padded, pa.binary()).view(pa.string())
    return pc.ascii_rtrim(text, characters="\x00").view(typ)


def mark_keys(table: pa.Table, keys: list[str]) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """The table with every string key column that packs replaced by its packed column (marked
    with MARK), and those keys' partition column hashes (partition.padded_string_hash)."""
    hashes: dict[str, np.ndarray] = {}
    for key in dict.fromkeys(keys):
        i = table.schema.get_field_index(key)
        field = table.schema.field(i)
        packed = pack(table.column(i)) if field.type in _TYPES.values() else None
        if packed is None:
            continue
        hashes[key] = padded_string_hash(packed.words, packed.lengths)
        mark = {MARK: str(field.type).encode()}
        table = table.set_column(i, pa.field(key, packed.array.type, metadata=mark), packed.array)
    return table, hashes


def packed_type(field: pa.Field) -> pa.DataType | None:
    """The string type a marked (packed) column stands for, or None for any other column."""
    return _TYPES.get((field.metadata or {}).get(MARK, b""))


def unpack_table(table: pa.Table, keep: frozenset[str] | set[str] = frozenset()) -> pa.Table:
    """The table with its packed columns (those not in `keep`) as the strings they stand for."""
    for i, field in enumerate(table.schema):
        typ = packed_type(field)
        if typ is not None and field.name not in keep:
            table = table.set_column(i, pa.field(field.name, typ), unpack(table.column(i), typ))
    return table


def alike(tables: list[pa.Table]) -> list[pa.Table]:
    """One partition's tables from several map tasks, of one schema to concatenate: empty ones
    dropped (a task without rows wrote strings), and if the others still differ (one task's
    keys packed, another's not or to the other width), all unpacked."""
    tables = [t for t in tables if t.num_rows] or tables[:1]
    if len({t.schema for t in tables}) > 1:
        return [unpack_table(t) for t in tables]
    return tables


def _end(offsets: pa.Buffer, n: int) -> int:
    """The last of a string array's n + 1 offsets (where its values' bytes end)."""
    return int(np.frombuffer(offsets, np.int32, count=n + 1)[n])
