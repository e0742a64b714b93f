"""One storage interface for inputs, shuffle data and results, chosen by URL scheme.

Local paths (or file:// URLs) are served by LocalStorage. Writes are atomic (temp file + rename),
so a reader never sees a half-written object and a retried task simply replaces its own output.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .errors import StorageError

if TYPE_CHECKING:  # imported where used: the compiler lists tables without pyarrow
    import pyarrow as pa


@dataclass(frozen=True)
class ObjectInfo:
    """A listed object: its URL and size in bytes."""

    url: str
    size: int


class Storage(Protocol):
    """What tasks and the driver need from an object store."""

    def read_range(self, url: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of an object; shorter at the end of the object."""

    def read(self, url: str) -> bytes:
        """A whole object."""

    def size(self, url: str) -> int:
        """Size of an object in bytes."""

    def write(self, url: str, data: bytes) -> None:
        """Create or replace an object atomically (`data`: bytes or any bytes-like buffer)."""

    def open_write(self, url: str) -> contextlib.AbstractContextManager[pa.NativeFile]:
        """An Arrow output stream whose bytes become the object, created or replaced atomically
        when the block ends without error; after an error nothing is left behind."""

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object below a folder-like prefix, sorted by URL."""

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object below a prefix; a missing prefix is not an error."""

    def children(self, prefix: str, hidden: bool = False) -> tuple[list[str], list[ObjectInfo]]:
        """One level below a folder-like prefix: its subfolders' URLs and its objects, sorted
        (lets a planner skip whole folders without listing what is inside them). Names that
        start with '.' or '_' (_SUCCESS, .crc files, _temporary/) are left out unless
        `hidden`."""

    def delete(self, url: str) -> None:
        """Remove one object; a missing object is not an error."""

    def exists(self, url: str) -> bool:
        """Whether an object exists."""


def local_path(url: str) -> str:
    """The file system path of a local URL (a path, or file://path)."""
    return url[len("file://") :] if url.startswith("file://") else url


class LocalStorage:
    """Storage on the local file system."""

    def read_range(self, url: str, start: int, end: int) -> bytes:
        path = local_path(url)
        try:
            with open(path, "rb") as f:
                f.seek(start)
                return f.read(max(0, end - start))
        except OSError as e:
            raise StorageError(f"cannot read {path}: {e.strerror}") from e

    def map(self, url: str) -> mmap.mmap:
        """The whole file mapped read-only: its pages are parsed in place, never copied."""
        path = local_path(url)
        try:
            with open(path, "rb") as f:
                return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:  # ValueError: an empty file cannot be mapped
            raise StorageError(f"cannot map {path}: {e}") from e

    def read(self, url: str) -> bytes:
        path = local_path(url)
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise StorageError(f"cannot read {path}: {e.strerror}") from e

    def size(self, url: str) -> int:
        path = local_path(url)
        try:
            return os.path.getsize(path)
        except OSError as e:
            raise StorageError(f"cannot stat {path}: {e.strerror}") from e

    def write(self, url: str, data: bytes) -> None:
        with self.open_write(url) as out:
            out.write(data)

    @contextlib.contextmanager
    def open_write(self, url: str) -> Iterator[pa.NativeFile]:
        # Written straight into a temporary file renamed into place: an encoder writes its
        # Arrow buffers into the page cache with no buffer of its own in between (a 7 MB
        # result: a third of the CPU of encoding into memory and writing that, measured).
        path = local_path(url)
        folder = os.path.dirname(path) or "."
        tmp = None
        try:
            os.makedirs(folder, exist_ok=True)
            import tempfile  # here: ≈ 1 ms (with random) that listing a table does not need

            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
            os.close(fd)
            import pyarrow as pa

            # Buffered: an IPC stream is many small writes (messages, padding) between the
            # large column buffers, which go straight through.
            with pa.OSFile(tmp, "wb") as raw, pa.BufferedOutputStream(raw, 1 << 18) as out:
                yield out
            os.replace(tmp, path)
        except BaseException as e:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if isinstance(e, OSError):  # Arrow's I/O errors are OSErrors too
                raise StorageError(f"cannot write {path}: {e.strerror or e}") from e
            raise

    def list(self, prefix: str) -> list[ObjectInfo]:
        root = local_path(prefix)
        if os.path.isfile(root):
            return [ObjectInfo(root, os.path.getsize(root))]
        found = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
            for name in files:
                # Hidden and underscore files are Hadoop/Spark markers (_SUCCESS, .crc), not data.
                if name.startswith((".", "_")):
                    continue
                path = os.path.join(folder, name)
                found.append(ObjectInfo(path, os.path.getsize(path)))
        return sorted(found, key=lambda o: o.url)

    def delete_prefix(self, prefix: str) -> None:
        import shutil  # here: ≈ 1.5 ms (with bz2 and lzma) that listing a table does not need

        shutil.rmtree(local_path(prefix), ignore_errors=True)

    def children(self, prefix: str, hidden: bool = False) -> tuple[list[str], list[ObjectInfo]]:
        root = local_path(prefix)
        if os.path.isfile(root):
            return [], [ObjectInfo(root, os.path.getsize(root))]
        dirs, files = [], []
        try:
            entries = list(os.scandir(root))
        except OSError:
            return [], []
        for entry in entries:
            if not hidden and entry.name.startswith((".", "_")):
                continue
            try:
                # A linked folder is not walked (as DuckDB's ** does not): a link to a parent
                # would be walked until the path is too long.
                if entry.is_dir(follow_symlinks=False):
                    dirs.append(entry.path)
                elif entry.is_file():
                    files.append(ObjectInfo(entry.path, entry.stat().st_size))
            except OSError as e:
                message = f"cannot list {entry.path}: {e.strerror}"
                raise StorageError(message, retryable=False) from e
        return sorted(dirs), sorted(files, key=lambda o: o.url)

    def delete(self, url: str) -> None:
        path = local_path(url)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise StorageError(f"cannot delete {path}: {e.strerror}") from e

    def exists(self, url: str) -> bool:
        return os.path.isfile(local_path(url))


_LOCAL = LocalStorage()


def is_remote(url: str) -> bool:
    """Whether S3 serves `url` (s3://…); anything else is the local file system. Where bytes
    cost requests and money: compression, concurrent fetches and the partial aggregate ask."""
    return url.startswith("s3://")


def storage_for(url: str) -> Storage:
    """The storage that serves a URL: s3://… for S3, anything else for the local file system."""
    if is_remote(url):
        from .s3 import S3Storage  # boto3 is imported only when S3 is used

        return S3Storage.shared()
    return _LOCAL


def read_view(url: str) -> bytes | pa.Buffer:
    """A whole object as a read-only buffer: a local file mapped, so that Arrow data in it is
    used in place (an uncompressed IPC stream decodes with no copy; the mapping stays valid after
    the file is deleted), a remote object read. The file is closed once mapped: a result of
    thousands of objects holds thousands of mappings, not thousands of open files (a Python
    mmap keeps a descriptor of its own)."""
    storage = storage_for(url)
    if not isinstance(storage, LocalStorage):
        return storage.read(url)
    path = local_path(url)
    import pyarrow as pa

    try:
        with pa.memory_map(path) as f:
            return f.read_buffer()
    except OSError as e:  # Arrow's I/O errors are OSErrors too
        raise StorageError(f"cannot map {path}: {e}") from e


# Requests this process made to remote storage, per API operation ("GetObject", "PutObject",
# "ListObjectsV2", "UploadPart", …), retries included: what S3 bills. A task reports its share.
_requests: Counter[str] = Counter()
_requests_lock = threading.Lock()


def count_request(operation: str) -> None:
    """Count one request (every HTTP attempt) to remote storage."""
    with _requests_lock:
        _requests[operation] += 1


def request_counts() -> dict[str, int]:
    """The requests this process has made so far, per operation."""
    with _requests_lock:
        return dict(_requests)


def requests_since(before: dict[str, int]) -> dict[str, int]:
    """The requests made since `before` (an earlier request_counts()), without zeros."""
    now = request_counts()
    return {op: n - before.get(op, 0) for op, n in sorted(now.items()) if n > before.get(op, 0)}


def join(prefix: str, *parts: str) -> str:
    """Join URL or path segments with '/'."""
    return "/".join([prefix.rstrip("/"), *(p.strip("/") for p in parts)])
