"""The shuffle object: all R partitions of one map task in one object, with an offset index.

Layout: the partitions as consecutive Arrow IPC streams, then a JSON index {"codec": "lz4" |
"zstd" | "none", "partitions": [[offset, length, rows], …]}, then the index length as 8
little-endian bytes and the magic b"SQLMRSH1". One PUT per map task instead of one per (task,
partition); a reducer fetches its adjacent partitions with one ranged read and decodes the
streams in it one after the other. Every partition, even an empty one, is a complete stream, so
a reducer always learns the schema.

Compression: `choose_codec` is the one place that decides. Local job stores are not compressed
(LZ4 cost more CPU than the bytes it saved); S3 gets the first codec this process's pyarrow has
(the public Lambda layers build Arrow without LZ4 and ZSTD, so none is required to import or
run). The codec is recorded in the index and in the task summary, and every IPC body carries
its own codec, so a reader decodes whatever was written.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from . import compute as pc
from .errors import PlanValidationError, StorageError, UnsupportedCodecError
from .grouping import aggregate
from .packed import alike, mark_keys, unpack_table
from .partition import partition_ids, partition_numbers
from .spec import COMPRESSIONS
from .storage import LocalStorage, is_remote, read_view

MAGIC = b"SQLMRSH1"
# Concurrent ranged GETs per reduce task: a reducer's reads are small and many (one per map
# output), so latency, not bandwidth, bounds them; 32 keeps 1,000 reads of 20 ms under a second.
FETCH_CONCURRENCY = 32
_PREFERRED = ("lz4", "zstd")  # LZ4 is several times cheaper to encode, ZSTD a little smaller
# One thread: a task runs on one core, and LZ4 with threads cost 25-30% more (measured).
_READ_OPTIONS = pa.ipc.IpcReadOptions(use_threads=False)
_write_options: dict[str | None, pa.ipc.IpcWriteOptions] = {}
codec_available = pa.Codec.is_available  # a name, so a test can take codecs away


def choose_codec(requested: str, store_url: str) -> str | None:
    """The IPC codec this process writes with, or None for no compression.

    "auto": none on a local store, else the first of LZ4, ZSTD that this pyarrow has. A named
    codec this pyarrow lacks falls back the same way instead of failing the task."""
    if requested not in COMPRESSIONS:
        raise PlanValidationError(
            f"unknown shuffle compression {requested!r}; expected one of {', '.join(COMPRESSIONS)}"
        )
    if requested == "none" or (requested == "auto" and not is_remote(store_url)):
        return None
    order = _PREFERRED if requested == "auto" else (requested, *_PREFERRED)
    return next((c for c in order if codec_available(c)), None)


def _options(codec: str | None) -> pa.ipc.IpcWriteOptions:
    if codec not in _write_options:
        _write_options[codec] = pa.ipc.IpcWriteOptions(compression=codec, use_threads=False)
    return _write_options[codec]


def encode_table(table: pa.Table, codec: str | None = None) -> pa.Buffer:
    """One table as an Arrow IPC stream, compressed with `codec` (None: not compressed): a
    buffer (bytes-like), not copied into a bytes object."""
    sink = pa.BufferOutputStream()
    write_table(sink, table, codec)
    return sink.getvalue()


def write_table(sink: pa.NativeFile, table: pa.Table, codec: str | None = None) -> None:
    """One table as an Arrow IPC stream into `sink` (an object being written, say)."""
    with pa.ipc.new_stream(sink, table.schema, options=_options(codec)) as writer:
        writer.write_table(table)


def decode_tables(data: bytes | pa.Buffer, keep_packed: bool = False) -> list[pa.Table]:
    """Every IPC stream in `data`, in order (one range may cover several adjacent partitions),
    with packed key columns as their strings unless `keep_packed`.

    A codec this pyarrow was built without is a final error that names it."""
    reader = pa.BufferReader(data)
    tables = []
    try:
        while reader.tell() < reader.size():
            table = pa.ipc.open_stream(reader, options=_READ_OPTIONS).read_all()
            tables.append(table if keep_packed else unpack_table(table))
    except pa.ArrowNotImplementedError as e:
        raise UnsupportedCodecError(
            f"this pyarrow {pa.__version__} cannot decode shuffle data: {e}; "
            "run the job with --shuffle-compression none, or use a pyarrow built with the codec"
        ) from e
    return tables


def decode_table(data: bytes | pa.Buffer) -> pa.Table:
    """The inverse of encode_table (several streams in a row are concatenated)."""
    tables = decode_tables(data)
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")


def split_partitions(
    table: pa.Table, keys: list[str], partitions: int, known: dict[str, np.ndarray] | None = None
) -> list[pa.Table]:
    """Cut a table into its hash partitions (filters for a few, else a sort then slices).
    `known`: key columns' hashes already computed (packed keys')."""
    if partitions == 1:
        return [table]
    pids = partition_numbers(table, keys, partitions, known)
    if partitions <= 8:
        # A few linear filter passes beat sorting the rows by partition.
        return [pc.filter(table, pa.array(pids == p)) for p in range(partitions)]
    ordered = pc.take(table, pc.sort_indices(pa.array(pids)))
    parts, at = [], 0
    for size in np.bincount(pids, minlength=partitions).tolist():
        parts.append(ordered.slice(at, size))
        at += size
    return parts


def write_consecutive(
    sink: pa.NativeFile, tables: list[pa.Table], codec: str | None = None
) -> list:
    """Write tables as consecutive IPC streams into `sink`; their index [[offset, length,
    rows]]. Each stream goes straight into the sink, the object being written (no table is
    copied into bytes and then again into the whole: two copies of every map task's output,
    0.6 s over 2c's 20 map tasks, measured)."""
    index = []
    for part in tables:
        at = sink.tell()
        write_table(sink, part, codec)
        index.append([at, sink.tell() - at, part.num_rows])
    return index


def encode_consecutive(tables: list[pa.Table], codec: str | None = None) -> tuple[pa.Buffer, list]:
    """Tables as consecutive IPC streams in one buffer, and their index [[offset, length, rows]]."""
    sink = pa.BufferOutputStream()
    index = write_consecutive(sink, tables, codec)
    return sink.getvalue(), index


def write_partitions(
    sink: pa.NativeFile, table: pa.Table, keys: list[str], partitions: int, codec: str | None = None
) -> list:
    """The shuffle object for a table, written into `sink`; its index [[offset, length, rows]].
    String keys that pack are written packed (packed.mark_keys): one 2a map task's 1.94 M rows
    were hashed, ordered by partition and written in 60-68 ms as strings, 48-53 ms packed (CPU),
    and its reducers group them without packing them again."""
    table, known = mark_keys(table, keys)
    parts = split_partitions(table, keys, partitions, known)
    del table, known  # the whole packed columns and their hashes, while the streams are written
    index = write_consecutive(sink, parts, codec)
    footer = json.dumps({"codec": codec or "none", "partitions": index}).encode()
    sink.write(footer + struct.pack("<Q", len(footer)) + MAGIC)
    return index


def encode_partitions(
    table: pa.Table, keys: list[str], partitions: int, codec: str | None = None
) -> tuple[pa.Buffer, list]:
    """The shuffle object for a table (a buffer) and its index [[offset, length, rows], …]."""
    sink = pa.BufferOutputStream()
    index = write_partitions(sink, table, keys, partitions, codec)
    return sink.getvalue(), index


def read_footer(blob_tail: bytes) -> dict:
    """The footer {"codec", "partitions"} from the tail of a shuffle object (at least its last
    16 + index bytes)."""
    tail = memoryview(blob_tail)  # bytes, or the buffer encode_partitions returned
    if len(tail) < 16 or tail[-8:] != MAGIC:
        raise StorageError("not a sqlmr shuffle object (bad magic)")
    (length,) = struct.unpack("<Q", tail[-16:-8])
    if length > len(tail) - 16:
        raise StorageError("not a sqlmr shuffle object (index longer than the object)")
    return json.loads(bytes(tail[-16 - length : -16]))


def read_index(blob_tail: bytes) -> list:
    """The partition index [[offset, length, rows], …] from the tail of a shuffle object."""
    return read_footer(blob_tail)["partitions"]


def coalesce_ranges(parts: list[dict]) -> list[tuple[str, int, int]]:
    """(url, start, end) for each run of adjacent parts of one object.

    A reducer's partitions are consecutive, so its parts of one map output are adjacent bytes:
    it reads each map output with one ranged GET instead of one per partition."""
    ranges: list[tuple[str, int, int]] = []
    for part in sorted(parts, key=lambda p: (p["url"], p["offset"])):
        start, end = part["offset"], part["offset"] + part["length"]
        if ranges and ranges[-1][0] == part["url"] and ranges[-1][2] == start:
            ranges[-1] = (part["url"], ranges[-1][1], end)
        else:
            ranges.append((part["url"], start, end))
    return ranges


def _fetch_ranges(
    ranges: list[tuple[str, int, int]], storage_for: Callable, keep_packed: bool = False
) -> list[tuple[list[pa.Table], int]]:
    """Each range's tables and bytes read: on a bounded pool of concurrent requests when they
    are remote, one after the other when local (they come from the page cache)."""

    def fetch(item: tuple[str, int, int]) -> tuple[list[pa.Table], int]:
        url, start, end = item
        storage = storage_for(url)
        if isinstance(storage, LocalStorage):
            # Mapped, not read: an uncompressed stream decodes in place from the page cache,
            # with no copy into fresh memory (the mapping outlives the job's cleanup). Arrow's
            # mapping closes its file at once: a reducer of thousands of map outputs holds
            # their mappings, not thousands of open files.
            data = read_view(url).slice(start, end - start)
        else:
            data = storage.read_range(url, start, end)
        return decode_tables(data, keep_packed), len(data)

    if len(ranges) > 1 and any(is_remote(url) for url, _, _ in ranges):
        with ThreadPoolExecutor(min(FETCH_CONCURRENCY, len(ranges))) as pool:
            return list(pool.map(fetch, ranges))
    return [fetch(r) for r in ranges]


def fetch_parts(parts: list[dict], storage_for: Callable) -> tuple[list[pa.Table], int]:
    """The tables of a reducer's parts and the bytes read: one ranged read per run of adjacent
    parts, on a bounded pool of concurrent requests when they are remote."""
    fetched = _fetch_ranges(coalesce_ranges(parts), storage_for)
    return [t for tables, _ in fetched for t in tables], sum(n for _, n in fetched)


def fetch_by_partition(
    parts: list[dict], storage_for: Callable, keep_packed: bool = False
) -> tuple[list[list], int]:
    """A reducer's tables grouped by the partition their part names (in the order the
    partitions first appear in `parts`), and the bytes read, with the reads of fetch_parts.
    `keep_packed`: packed key columns stay packed (a partition's tables of one schema).

    Each part is one partition of one map output, so one IPC stream: a coalesced range holds
    its parts' streams in offset order."""
    ranges = coalesce_ranges(parts)
    fetched = _fetch_ranges(ranges, storage_for, keep_packed)
    ordered = sorted(parts, key=lambda p: (p["url"], p["offset"]))
    table_of: dict[tuple[str, int], pa.Table] = {}
    at = 0
    for (url, _, end), (tables, _) in zip(ranges, fetched, strict=True):
        for table in tables:
            part = ordered[at]
            if part["url"] != url or part["offset"] >= end:
                raise StorageError(f"shuffle object {url} holds more streams than its parts")
            table_of[(url, part["offset"])] = table
            at += 1
    if at != len(ordered):
        raise StorageError("a shuffle range held fewer streams than its parts")
    groups: dict[int, list[pa.Table]] = {}
    for part in parts:
        groups.setdefault(part["partition"], []).append(table_of[(part["url"], part["offset"])])
    found = [alike(g) for g in groups.values()] if keep_packed else list(groups.values())
    return found, sum(n for _, n in fetched)


HOT_SHARE = 8  # a key in at least 1/HOT_SHARE of the sampled rows is reported as hot
_HOT_SAMPLE = 1024
_KEY_TEXT = 60  # characters of a hot key's text


def hot_keys(table: pa.Table, keys: list[str], partitions: int) -> list[dict]:
    """The keys in at least 1/HOT_SHARE of a strided sample of about 1,024 rows:
    [{"partition", "key" (its values as text), "rows" (estimated over the whole table)}]. At
    most HOT_SHARE keys, so the summary stays small; costs one grouping of the sample."""
    n = table.num_rows
    if not n or not keys:
        return []
    step = max(1, n // _HOT_SAMPLE)
    names = [f"k{i}" for i in range(len(keys))]  # no clash with the count's column
    sample = table.select(keys).rename_columns(names)
    # One row from each stride of `step` rows, at a scrambled place within it: a fixed place
    # would see a single phase of periodic data (every other row, say).
    strides = n // step
    offsets = [(j * 2654435761 >> 7) % step for j in range(strides)]
    sample = pc.take(sample, pa.array([j * step + o for j, o in enumerate(offsets)], pa.int64()))
    counts = aggregate(sample, names, [([], "count_all")])
    floor = max(2, -(-sample.num_rows // HOT_SHARE))
    hot = pc.filter(counts, pc.greater_equal(counts.column("count_all"), floor))
    if not hot.num_rows:
        return []
    pids = partition_ids(hot, names, partitions).to_pylist()  # the hash reads values only
    found = []
    for pid, row in zip(pids, hot.to_pylist(), strict=True):
        text = ", ".join("NULL" if row[k] is None else str(row[k]) for k in names)
        rows = row["count_all"] * n // sample.num_rows
        found.append({"partition": pid, "key": text[:_KEY_TEXT], "rows": rows})
    return found
