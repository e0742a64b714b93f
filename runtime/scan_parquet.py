"""Reading Parquet: a split is a set of row groups of one object, and a task reads the footer and
only the column chunks of the columns its plan needs, by ranged reads whose bytes are counted.
"""

from __future__ import annotations

import io
import os
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import BadInputError, StorageError
from .storage import LocalStorage, storage_for


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

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
        super().close()


def open_parquet(
    url: str, size: int | None = None, tail: int | None = None
) -> tuple[pq.ParquetFile, RangedFile]:
    """An object's Parquet reader (its footer read and checked) and the file it reads through."""
    f = RangedFile(url, size, tail)
    try:
        # pre_buffer coalesces the needed column chunks into few ranged reads.
        return pq.ParquetFile(f, pre_buffer=True), f
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
    url = r["url"]
    wanted = source["read"]
    types = dict(schema)
    groups = r["row_groups"]
    local = _local_path(url)
    if local is not None:
        pf, f = _open_mapped(local), None
    else:
        pf, f = open_parquet(url, r["size"], r["footer"])
    try:
        names = {n.lower(): n for n in pf.schema_arrow.names}
        missing = [n for n in wanted if n.lower() not in names]
        if missing:
            raise BadInputError(f"{url}: the Parquet file has no column {missing[0]!r}")
        columns = [names[n.lower()] for n in wanted]
        table = pf.read_row_groups(groups, columns=columns, use_threads=False)
    except (pa.ArrowInvalid, OSError) as e:
        if isinstance(e, StorageError):
            raise
        raise BadInputError(f"{url}: cannot read Parquet row groups {groups}: {e}") from None
    finally:
        if f is not None:
            f.close()
    nbytes = f.nbytes if f is not None else chunk_bytes(pf.metadata, groups, columns)
    table = table.rename_columns(wanted)
    target = pa.schema([(n, types[n]) for n in wanted])
    if not table.schema.equals(target, check_metadata=False):
        try:
            table = table.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise BadInputError(f"{url}: a column does not hold its declared type: {e}") from None
    return table, nbytes


def _local_path(url: str) -> str | None:
    """The file system path of a local object, or None for an object store's URL."""
    if url.startswith("file://"):
        return url[len("file://") :]
    return None if "://" in url else url


def _open_mapped(path: str) -> pq.ParquetFile:
    """A local file read through a memory map: Arrow decodes the column chunks in place, without
    copying them through a Python file object (about a quarter of a scan's CPU, measured)."""
    try:
        return pq.ParquetFile(pa.memory_map(path))
    except (pa.ArrowInvalid, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise StorageError(f"cannot read {path}: {e.strerror}", retryable=False) from e
        raise BadInputError(
            f"{path}: not a readable Parquet file (bad or missing footer): {e}"
        ) from None


def chunk_bytes(meta: pq.FileMetaData, groups: list[int], columns: list[str]) -> int:
    """The bytes a ranged reader fetches for these row groups' column chunks, plus the footer:
    what a task reads from an object store, reported the same for a local file."""
    wanted = set(columns)
    leaves = [i for i in range(meta.num_columns) if meta.schema.column(i).path in wanted]
    total = meta.serialized_size + 8
    for g in groups:
        rg = meta.row_group(g)
        total += sum(rg.column(i).total_compressed_size for i in leaves)
    return total
