"""Reading Parquet: a split is a set of row groups of one object, and a task reads the footer and
only the column chunks of the columns its plan needs, by ranged reads whose bytes are counted.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
from pyarrow._parquet import FileMetaData, ParquetReader

from . import compute as pc
from .errors import BadInputError, StorageError
from .expressions import as_array, evaluate
from .operators import expression_columns
from .storage import LocalStorage, storage_for

PREFETCH_THREADS = 8
PREFETCH_HOLE = 8 << 10  # as Arrow's pre-buffering: a gap this small is read, not split on
# A row group that keeps fewer than 1 row in DENSE_SHARE is decoded in batches of about
# SPARSE_BATCH_BYTES (at least MIN_BATCH_ROWS rows) and filtered batch by batch (_sparse).
DENSE_SHARE = 4
SPARSE_BATCH_BYTES = 512 << 10
MIN_BATCH_ROWS = 4096


def coalesce(spans: list[tuple[int, int]], hole: int) -> list[tuple[int, int]]:
    """Byte ranges sorted and merged where they overlap or lie at most `hole` bytes apart."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if out and lo - out[-1][1] <= hole:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def chunk_span(chunk: Any) -> tuple[int, int]:
    """The byte range of a column chunk (its dictionary page, if any, comes first)."""
    start = chunk.data_page_offset
    if chunk.has_dictionary_page and 0 < chunk.dictionary_page_offset < start:
        start = chunk.dictionary_page_offset
    return start, start + chunk.total_compressed_size


class RangedFile(io.RawIOBase):
    """A seekable read-only file over an object, read by ranges; counts the bytes it reads.

    When the footer's length is known (`tail`: metadata plus its 8-byte trailer), a read that
    ends at the end of the object fetches only those bytes and pads the rest with zeros: Arrow
    opens a file by reading its last 64 KB, of which it uses only the footer, and a small
    row-group task would otherwise fetch more footer than data.
    """

    def __init__(self, url: str, size: int | None = None, tail: int | None = None):
        self.url = url
        self.tail = tail
        self.storage = storage_for(url)
        self._local = None
        if isinstance(self.storage, LocalStorage):
            path = url[len("file://") :] if url.startswith("file://") else url
            try:
                self._local = open(path, "rb")  # noqa: SIM115 - closed by close()
                size = os.fstat(self._local.fileno()).st_size
            except OSError as e:
                raise StorageError(f"cannot read {path}: {e.strerror}") from e
        self.size = self.storage.size(url) if size is None else size
        self.pos = 0
        self.nbytes = 0
        self._fetched: list[tuple[int, bytes]] = []  # (offset, bytes) of prefetched spans

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = base + offset
        return self.pos

    def read(self, n: int = -1) -> bytes:
        end = self.size if n is None or n < 0 else min(self.size, self.pos + n)
        if end <= self.pos:
            return b""
        start = self.pos
        if self.tail and end == self.size and start < self.size - self.tail:
            start = self.size - self.tail
        for offset, held in self._fetched:
            if offset <= start and end <= offset + len(held):
                self.pos = end
                return held[start - offset : end - offset]
        if self._local is not None:
            self._local.seek(start)
            data = self._local.read(end - start)
        else:
            data = self.storage.read_range(self.url, start, end)
        self.nbytes += len(data)
        if start > self.pos:
            data = bytes(start - self.pos) + data
        self.pos += len(data)
        return data

    def prefetch(self, spans: list[tuple[int, int]]) -> None:
        """Fetch these byte ranges now, concurrently, for the reads that follow (until
        `release`). Arrow reads a file's ranges one after another, and an object store answers
        each after tens of milliseconds: a task's column chunks would wait that long each."""
        spans = coalesce(spans, PREFETCH_HOLE)
        if self._local is not None or not spans:
            return
        if len(spans) == 1:
            data = [self.storage.read_range(self.url, *spans[0])]
        else:
            with ThreadPoolExecutor(min(PREFETCH_THREADS, len(spans))) as pool:
                data = list(pool.map(lambda s: self.storage.read_range(self.url, *s), spans))
        self._fetched = [(lo, d) for (lo, _), d in zip(spans, data, strict=True)]
        self.nbytes += sum(len(d) for d in data)

    def release(self) -> None:
        """Forget the prefetched ranges (Arrow has copied what it read of them)."""
        self._fetched = []

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
        super().close()


class ParquetFile:
    """An open Parquet file, read as pyarrow.parquet.ParquetFile reads one (the same reader,
    options and column indices), without importing pyarrow.parquet: its pyarrow.fs loads every
    file system Arrow has and Python's ssl (15-35 ms of CPU, measured with `-X importtime`), on
    the critical path of a small query's driver and of every Lambda cold start. The runtime
    reads only top-level columns (the catalog refuses nested ones)."""

    def __init__(self, source: Any, pre_buffer: bool = True):
        self.reader = ParquetReader()
        self.reader.open(source, pre_buffer=pre_buffer, arrow_extensions_enabled=True)
        self.metadata: FileMetaData = self.reader.metadata
        self.schema_arrow: pa.Schema = self.reader.schema_arrow
        self._by_name: dict[str, list[int]] = {}
        for i, path in enumerate(self.reader.column_paths):
            self._by_name.setdefault(path[0], []).append(i)

    def read_row_groups(
        self, groups: list[int], columns: list[str], use_threads: bool = True
    ) -> pa.Table:
        """These row groups' columns named `columns` (top-level names), in that order."""
        indices = self._indices(columns)
        return self.reader.read_row_groups(groups, column_indices=indices, use_threads=use_threads)

    def iter_batches(
        self, rows: int, row_groups: list[int], columns: list[str], use_threads: bool = True
    ) -> Iterator[pa.RecordBatch]:
        """These row groups' columns named `columns`, `rows` rows at a time."""
        indices = self._indices(columns)
        return self.reader.iter_batches(
            rows, row_groups=row_groups, column_indices=indices, use_threads=use_threads
        )

    def _indices(self, columns: list[str]) -> list[int]:
        return [i for name in columns for i in self._by_name.get(name, ())]


def open_parquet(
    url: str, size: int | None = None, tail: int | None = None
) -> tuple[ParquetFile, RangedFile]:
    """An object's Parquet reader (its footer read and checked) and the file it reads through."""
    f = RangedFile(url, size, tail)
    try:
        # No pre-buffering: a task prefetches the column chunks it reads (RangedFile.prefetch),
        # concurrently; Arrow's cache would hold a second copy of them.
        return ParquetFile(f, pre_buffer=False), f
    except (pa.ArrowInvalid, OSError) as e:
        f.close()
        if isinstance(e, StorageError):
            raise
        raise BadInputError(
            f"{url}: not a readable Parquet file (bad or missing footer): {e}"
        ) from None


def read_parquet(
    source: dict[str, Any], schema: list, r: dict[str, Any]
) -> tuple[pa.Table | None, int]:
    """The row groups of one range as a table of the source's `read` columns, cast to the plan's
    types, and the bytes read (footer and column chunks)."""
    with _Reader(source, schema, r) as reader:
        table = reader.read(reader.groups, source["read"])
        return table, reader.nbytes()


def parquet_groups(
    source: dict[str, Any], schema: list, r: dict[str, Any]
) -> Iterator[tuple[pa.Table, int]]:
    """The row groups of one range one at a time, each as (table, bytes read for it): a stage
    that projects or filters each group (sqlmr_runtime.batched) holds one group's decoded
    columns at a time, in the same pages of memory, where a whole range's took fresh pages
    from the kernel (a fresh worker's page faults: four groups of Amplab 2a's columns, read
    and projected, 56 -> 49 ms, 8,860 -> 5,770 faults)."""
    with _Reader(source, schema, r) as reader:
        before = 0
        for table in reader.each_group(source["read"]):
            after = reader.nbytes()
            yield table, after - before
            before = after


def read_parquet_where(
    source: dict[str, Any], schema: list, r: dict[str, Any], predicate: dict[str, Any]
) -> tuple[pa.Table, int, int]:
    """The rows of one range that satisfy `predicate` (a filter over some of the `read`
    columns), with the rows and the bytes read.

    Late materialization: the predicate's columns are read and evaluated first; the other
    columns are read only for the row groups where some row passes, one row group at a time,
    and only the rows that pass are kept. A row group whose rows all fail costs its filter
    columns alone. (A column chunk is the smallest unit Arrow decodes: within a row group that
    keeps a row, every row of a needed column is still decoded.)"""
    wanted = source["read"]
    used = expression_columns(predicate)
    first = [n for n in wanted if n in used]
    rest = [n for n in wanted if n not in used]
    with _Reader(source, schema, r) as reader:
        head = reader.read(reader.groups, first)
        mask = _mask(predicate, head)
        rows = head.num_rows
        kept: list[tuple[int, pa.Array]] = []
        at = 0
        for g in reader.groups:
            part = mask.slice(at, reader.rows(g))
            at += len(part)
            if pc.any(part).as_py():
                kept.append((g, part))
        head = pc.filter(head, mask)
        if rest and kept:
            tail = reader.read_filtered(kept, rest)
        else:
            tail = reader.target(rest).empty_table()
        for name in rest:
            head = head.append_column(name, tail.column(name))
        return head.select(wanted), rows, reader.nbytes()


def filter_share(schema: list, r: dict[str, Any], predicate: dict[str, Any]) -> tuple[int, int]:
    """How many rows of one range's row groups satisfy `predicate`, and how many there are:
    only the predicate's columns are read (the planner samples a filter's selectivity so)."""
    with _Reader({}, schema, r) as reader:
        head = reader.read(reader.groups, sorted(expression_columns(predicate)))
        return pc.sum(_mask(predicate, head)).as_py() or 0, head.num_rows


def _mask(predicate: dict[str, Any], table: pa.Table) -> pa.Array:
    """Where the predicate holds, as one array without NULLs (NULL drops a row, as in WHERE)."""
    mask = as_array(evaluate(predicate, table), table.num_rows)
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    return pc.fill_null(mask, False)


class _Reader:
    """One range's object, open: its row groups, its columns read and cast to the plan's
    types, and the bytes read so far (footer and column chunks)."""

    def __init__(self, source: dict[str, Any], schema: list, r: dict[str, Any]):
        self.url = r["url"]
        self.groups: list[int] = r["row_groups"]
        self.types = dict(schema)
        local = _local_path(self.url)
        if local is not None:
            self.pf, self.file = _open_mapped(local), None
        else:
            self.pf, self.file = open_parquet(self.url, r["size"], r["footer"])
        self.names: dict[str, str] = {}
        self.ambiguous: dict[str, str] = {}  # a second column of the same name in SQL
        for n in self.pf.schema_arrow.names:
            if n.lower() in self.names:
                self.ambiguous[n.lower()] = n
            else:
                self.names[n.lower()] = n
        self.chunks: list[tuple[list[int], list[str]]] = []

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()

    def rows(self, group: int) -> int:
        return self.pf.metadata.row_group(group).num_rows

    def target(self, names: list[str]) -> pa.Schema:
        return pa.schema([(n, self.types[n]) for n in names])

    def read(self, groups: list[int], names: list[str]) -> pa.Table:
        """These row groups' columns `names` (plan names), cast to the plan's types."""
        columns = self._columns(names)
        with self._prefetched(groups, columns):
            return self._cast(self._groups(groups, columns), names)

    def each_group(self, names: list[str]) -> Iterator[pa.Table]:
        """The range's row groups one at a time, columns `names` (cast to the plan's types).
        On S3 their column chunks are fetched in one round first, as for `read`."""
        columns = self._columns(names)
        with self._prefetched(self.groups, columns):
            for g in self.groups:
                yield self._cast(self._groups([g], columns), names)

    def read_filtered(self, kept: list[tuple[int, pa.Array]], names: list[str]) -> pa.Table:
        """The rows of these row groups that their masks keep, columns `names` (cast to the
        plan's types). Each row group is decoded and filtered before the next: a selective
        filter then holds one group's decoded columns at a time, not the whole range's (on
        Amplab uservisits, 65 MB of URLs and IPs per file for 0.6% of its rows; a fresh
        worker's first task paid for those pages in page faults)."""
        columns = self._columns(names)
        with self._prefetched([g for g, _ in kept], columns):
            parts = []
            for g, mask in kept:
                if mask.true_count * DENSE_SHARE >= len(mask):
                    table = self._groups([g], columns)
                    parts.append(table if mask.true_count == len(mask) else pc.filter(table, mask))
                else:
                    parts.extend(self._sparse(g, columns, mask))
            return self._cast(pa.concat_tables(parts), names)

    def _sparse(self, group: int, columns: list[str], mask: pa.Array) -> list[pa.Table]:
        """The rows of one row group that `mask` keeps, decoded a batch of about
        SPARSE_BATCH_BYTES at a time and filtered: the batches reuse the same few pages of
        memory, where the group decoded whole (8 MB of Amplab URLs) took fresh pages from the
        kernel, and a worker's first task paid for each in a page fault (42 -> 31 ms for four
        groups of `rankings.pageURL`, 9,600 -> 5,300 faults, measured)."""
        meta = self.pf.metadata.row_group(group)
        leaves = _leaves(self.pf.metadata, columns)
        decoded = sum(meta.column(i).total_uncompressed_size for i in leaves)
        rows = max(MIN_BATCH_ROWS, SPARSE_BATCH_BYTES * meta.num_rows // max(decoded, 1))
        parts, at = [], 0
        with self._decoding([group], columns):
            for batch in self.pf.iter_batches(
                rows, row_groups=[group], columns=columns, use_threads=False
            ):
                keep = mask.slice(at, batch.num_rows)
                at += batch.num_rows
                if keep.true_count:
                    parts.append(pa.Table.from_batches([pc.filter(batch, keep)]))
        return parts

    @contextlib.contextmanager
    def _prefetched(self, groups: list[int], columns: list[str]) -> Iterator[None]:
        """On S3, these row groups' column chunks fetched in one concurrent round for the
        reads inside, and released after them; nothing to do for a local file."""
        if self.file is None:
            yield
            return
        self.file.prefetch(_spans(self.pf.metadata, groups, columns))
        try:
            yield
        finally:
            self.file.release()

    def _columns(self, names: list[str]) -> list[str]:
        """The file's names of these plan columns (matched without regard to case)."""
        missing = [n for n in names if n.lower() not in self.names]
        if missing:
            raise BadInputError(f"{self.url}: the Parquet file has no column {missing[0]!r}")
        for n in names:
            if n.lower() in self.ambiguous:
                both = (self.names[n.lower()], self.ambiguous[n.lower()])
                raise BadInputError(
                    f"{self.url}: the Parquet file has columns {both[0]!r} and {both[1]!r}, "
                    f"which differ only in case: {n!r} could be either"
                )
        return [self.names[n.lower()] for n in names]

    def _groups(self, groups: list[int], columns: list[str]) -> pa.Table:
        """These row groups' columns as the file holds them (from prefetched bytes on S3)."""
        with self._decoding(groups, columns):
            return self.pf.read_row_groups(groups, columns=columns, use_threads=False)

    @contextlib.contextmanager
    def _decoding(self, groups: list[int], columns: list[str]) -> Iterator[None]:
        """Decoding these row groups' columns inside: a file that does not decode is bad input
        named by its object, and the column chunks are counted as read."""
        try:
            yield
        except (pa.ArrowInvalid, OSError) as e:
            if isinstance(e, StorageError):
                raise
            raise BadInputError(
                f"{self.url}: cannot read Parquet row groups {groups}: {e}"
            ) from None
        self.chunks.append((groups, columns))

    def _cast(self, table: pa.Table, names: list[str]) -> pa.Table:
        """A table read from the file under the plan's names, cast to the plan's types."""
        table = table.rename_columns(names)
        target = self.target(names)
        if table.schema.equals(target, check_metadata=False):
            return table
        try:
            return pc.cast_table(table, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise BadInputError(
                f"{self.url}: a column does not hold its declared type: {e}"
            ) from None

    def nbytes(self) -> int:
        """Bytes fetched: counted by the ranged reader, or for a memory-mapped file what a
        ranged reader would fetch (the footer and the column chunks read)."""
        if self.file is not None:
            return self.file.nbytes
        meta = self.pf.metadata
        return meta.serialized_size + 8 + sum(chunk_bytes(meta, g, c) for g, c in self.chunks)


def _local_path(url: str) -> str | None:
    """The file system path of a local object, or None for an object store's URL."""
    if url.startswith("file://"):
        return url[len("file://") :]
    return None if "://" in url else url


def _open_mapped(path: str) -> ParquetFile:
    """A local file read through a memory map: Arrow decodes the column chunks in place, without
    copying them through a Python file object (about a quarter of a scan's CPU, measured)."""
    try:
        return ParquetFile(pa.memory_map(path))
    except (pa.ArrowInvalid, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise StorageError(f"cannot read {path}: {e.strerror}", retryable=False) from e
        raise BadInputError(
            f"{path}: not a readable Parquet file (bad or missing footer): {e}"
        ) from None


def _leaves(meta: FileMetaData, columns: list[str]) -> list[int]:
    """The file's leaf column numbers of these (top-level, flat) columns."""
    wanted = set(columns)
    return [i for i in range(meta.num_columns) if meta.schema.column(i).path in wanted]


def _spans(meta: FileMetaData, groups: list[int], columns: list[str]) -> list[tuple[int, int]]:
    leaves = _leaves(meta, columns)
    return [chunk_span(meta.row_group(g).column(i)) for g in groups for i in leaves]


def chunk_bytes(meta: FileMetaData, groups: list[int], columns: list[str]) -> int:
    """The bytes a ranged reader fetches for these row groups' column chunks: what a task reads
    from an object store, reported the same for a local file."""
    leaves = _leaves(meta, columns)
    total = 0
    for g in groups:
        rg = meta.row_group(g)
        total += sum(rg.column(i).total_compressed_size for i in leaves)
    return total
