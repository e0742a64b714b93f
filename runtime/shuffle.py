"""The shuffle object: all R partitions of one map task in one object, with an offset index.

Layout: the partitions as consecutive LZ4-compressed Arrow IPC streams, then a JSON index
{"partitions": [[offset, length, rows], …]}, then the index length as 8 little-endian bytes and
the magic b"SQLMRSH1". One PUT per map task instead of one per (task, partition); a reducer
fetches only its partition with one ranged read. Every partition, even an empty one, is a
complete stream, so a reducer always learns the schema.
"""

from __future__ import annotations

import json
import struct

import pyarrow as pa
import pyarrow.compute as pc

from .errors import StorageError
from .partition import partition_ids

MAGIC = b"SQLMRSH1"
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")


def encode_table(table: pa.Table) -> bytes:
    """One table as a compressed Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=_IPC_OPTIONS) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode_table(data: bytes | pa.Buffer) -> pa.Table:
    """The inverse of encode_table."""
    return pa.ipc.open_stream(data).read_all()


def split_partitions(table: pa.Table, keys: list[str], partitions: int) -> list[pa.Table]:
    """Cut a table into its hash partitions (filters for a few, else a sort then slices)."""
    if partitions == 1:
        return [table]
    pids = partition_ids(table, keys, partitions)
    if partitions <= 8:
        # A few linear filter passes beat sorting the rows by partition.
        return [table.filter(pc.equal(pids, p)) for p in range(partitions)]
    order = pc.sort_indices(pids)
    ordered = table.take(order)
    counts = pc.value_counts(pids)
    sizes = [0] * partitions
    for item in counts.to_pylist():  # at most `partitions` entries
        sizes[item["values"]] = item["counts"]
    parts, at = [], 0
    for size in sizes:
        parts.append(ordered.slice(at, size))
        at += size
    return parts


def encode_partitions(table: pa.Table, keys: list[str], partitions: int) -> tuple[bytes, list]:
    """The shuffle object for a table and its index [[offset, length, rows], …]."""
    chunks, index, at = [], [], 0
    for part in split_partitions(table, keys, partitions):
        data = encode_table(part)
        chunks.append(data)
        index.append([at, len(data), part.num_rows])
        at += len(data)
    footer = json.dumps({"partitions": index}).encode()
    chunks += [footer, struct.pack("<Q", len(footer)), MAGIC]
    return b"".join(chunks), index


def read_index(blob_tail: bytes) -> list:
    """Parse the index from the tail of a shuffle object (at least its last 16 + index bytes)."""
    if not blob_tail.endswith(MAGIC):
        raise StorageError("not a sqlmr shuffle object (bad magic)")
    (length,) = struct.unpack("<Q", blob_tail[-16:-8])
    return json.loads(blob_tail[-16 - length : -16])["partitions"]
