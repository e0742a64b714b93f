"""Where a result goes: -o FILE (through a symlink, in place to a FIFO or device, else atomically),
-o DIR/ (one part per result object and a manifest, swapped in when complete), or an s3://
object; a failed job leaves none of them."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import IO

import pyarrow as pa

from sqlmr.cli.output import PART_EXTENSIONS, encode
from sqlmr.errors import UsageError


@contextlib.contextmanager
def output_file(path: str) -> Iterator[IO[bytes]]:
    """The file `-o FILE` writes, as the shell's `> FILE` would reach it: through a symlink to
    its target; a regular file (or a new one) written beside its target and renamed over it
    when complete (atomic_file); a FIFO, a device or a descriptor of this process (/dev/stdout,
    /proc/self/fd/1) written in place, since renaming over those names would not reach the
    reader or the descriptor behind them."""
    fd = _own_descriptor(path)
    if fd is not None:
        with _writing(path), os.fdopen(os.dup(fd), "wb") as f:
            yield f
        return
    try:
        mode = os.stat(path).st_mode  # follows every link; a dangling one is a new file
    except FileNotFoundError:
        mode = None
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from e
    if mode is None or stat.S_ISREG(mode):
        with atomic_file(os.path.realpath(path), path) as f:
            yield f
        return
    with _writing(path), os.fdopen(_open_in_place(path, stat.S_ISFIFO(mode)), "wb") as f:
        yield f


# How long -o FIFO waits for a process to open the FIFO for reading.
FIFO_WAIT_SECONDS = 60.0
_FD_LINK = re.compile(r"/(?:proc/(?:self|(\d+))|dev)/fd/(\d+)")


def _own_descriptor(path: str) -> int | None:
    """The descriptor of this process that `path` names through its links (/dev/stdout →
    /proc/self/fd/1 → 1), if it names one: written through a copy of it, which keeps its
    offset and append mode, where opening the link anew would truncate or overwrite a file the
    caller appends to."""
    here = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on links followed
        match = _FD_LINK.fullmatch(here)
        if match and (match.group(1) is None or int(match.group(1)) == os.getpid()):
            return int(match.group(2))
        if not os.path.islink(here):
            return None
        here = os.path.normpath(os.path.join(os.path.dirname(here), os.readlink(here)))
    return None


def _open_in_place(path: str, fifo: bool) -> int:
    """A descriptor for writing a FIFO or device where it is. A FIFO is opened without blocking
    (ENXIO while nobody reads it) and retried until FIFO_WAIT_SECONDS, so a FIFO nobody reads
    is an error, not a hang; then its writes block again as the shell's would."""
    if not fifo:
        return os.open(path, os.O_WRONLY)
    deadline = time.monotonic() + FIFO_WAIT_SECONDS
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
            if time.monotonic() > deadline:
                raise UsageError(
                    f"cannot write {path}: nothing read the FIFO for {FIFO_WAIT_SECONDS:.0f} s; "
                    "start its reader first"
                ) from e
            time.sleep(0.05)
            continue
        os.set_blocking(fd, True)
        return fd


@contextlib.contextmanager
def _writing(path: str) -> Iterator[None]:
    """OSErrors of a write in place as one-line UsageErrors. A reader that went away
    (BrokenPipeError) stays what it is: the CLI ends quietly, as for `| head`."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from e


@contextlib.contextmanager
def atomic_file(path: str, shown: str | None = None) -> Iterator[IO[bytes]]:
    """A file written under a temporary name beside `path` and renamed over it once complete:
    a failed write (a full disk, an error, Ctrl-C) leaves the old file as it was. A file that
    is replaced keeps its permission bits, as `> FILE` keeps them; one the user may not write
    is refused. `shown` is the name errors give (the -o argument, where `path` is its target)."""
    shown = path if shown is None else shown
    folder = os.path.dirname(os.path.abspath(path))
    try:
        old = os.stat(path)
    except FileNotFoundError:
        old = None
    except OSError as e:
        raise UsageError(f"cannot write {shown}: {e.strerror}") from e
    if old is not None and not os.access(path, os.W_OK):
        raise UsageError(f"cannot write {shown}: it is read-only; change its mode or name another")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.tmp-")
    except OSError as e:
        raise UsageError(f"cannot write {shown}: {e.strerror}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        # The mode open() would have given a new file, or the mode of the one replaced.
        os.chmod(tmp, stat.S_IMODE(old.st_mode) if old is not None else 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except OSError as e:
        raise UsageError(f"cannot write {shown}: {e.strerror}") from e
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


_UMASK = _umask()
MANIFEST = "_manifest.json"  # underscore files are not data to sqlmr, Spark or Hadoop


def write_parts(
    tables: Iterable[pa.Table],
    fmt: str,
    target: str,
    header: bool = True,
    overwrite: bool = False,
) -> tuple[int, int]:
    """Write each result object as its own part (part-00000.csv, …) under a folder or S3 prefix,
    then a manifest naming the parts. Returns (parts, rows); one part is in memory at a time.

    A folder that holds anything is refused unless `overwrite`: then a local folder is written
    beside the old one and swapped in when complete, and under an S3 prefix the old parts are
    removed once the new ones and their manifest are written.
    """
    from sqlmr_runtime.storage import join, storage_for

    if fmt == "table":
        raise UsageError("a folder output needs --format csv, tsv, json or parquet")
    old = _everything_below(target)
    if old and not overwrite:
        raise UsageError(
            f"{target} is not empty ({len(old)} file(s)); "
            "give --overwrite to replace it, or name an empty or new folder"
        )
    local = not target.startswith("s3://")
    into = _sibling(target) if local else target
    try:
        parts, rows, names = _write_part_files(tables, fmt, into, header)
    except BaseException:
        if local:
            shutil.rmtree(into, ignore_errors=True)
        raise
    if local:
        _swap_folder(into, target.rstrip("/"))
        return parts, rows
    storage = storage_for(target)
    for url in old:
        if url.rsplit("/", 1)[-1] not in names:
            storage.delete(url)
    storage.write(join(target, MANIFEST), _manifest(names, rows))
    return parts, rows


def _everything_below(target: str) -> list[str]:
    """Every object below a target folder (hidden and underscore files too, locally)."""
    from sqlmr_runtime.storage import storage_for

    if target.startswith("s3://"):
        return [o.url for o in storage_for(target).list(target)]
    root = target.rstrip("/") or "/"
    if not os.path.isdir(root):
        if os.path.exists(root):
            raise UsageError(f"{root} exists and is not a folder")
        return []
    return [os.path.join(root, name) for name in os.listdir(root)]


def _sibling(target: str) -> str:
    root = os.path.abspath(target.rstrip("/"))
    try:
        os.makedirs(os.path.dirname(root), exist_ok=True)
        return tempfile.mkdtemp(dir=os.path.dirname(root), prefix=f".{os.path.basename(root)}.tmp-")
    except OSError as e:
        raise UsageError(f"cannot write {target}: {e.strerror}") from e


def _write_part_files(tables: Iterable[pa.Table], fmt: str, into: str, header: bool):
    from sqlmr_runtime.storage import join, storage_for

    local = not into.startswith("s3://")
    parts = rows = 0
    names: list[str] = []
    for i, table in enumerate(tables):
        data, n = encode([table], fmt, header)
        names.append(f"part-{i:05d}.{PART_EXTENSIONS[fmt]}")
        url = join(into, names[-1])
        storage_for(url).write(url, data)
        if local:
            os.chmod(url, 0o666 & ~_UMASK)  # the same mode as a single -o FILE
        parts, rows = parts + 1, rows + n
    if local:
        manifest = join(into, MANIFEST)
        storage_for(manifest).write(manifest, _manifest(names, rows))
        os.chmod(manifest, 0o666 & ~_UMASK)  # storage writes 0600 temporaries: as the parts
    return parts, rows, set(names)


def _manifest(names: list[str] | set[str], rows: int) -> bytes:
    return json.dumps({"parts": sorted(names), "rows": rows}).encode()


def _swap_folder(new: str, target: str) -> None:
    """Put the completed folder `new` in the place of `target` (two renames: the old folder
    moves aside, the new one takes its name)."""
    os.chmod(new, 0o777 & ~_UMASK)
    old = None
    try:
        if os.path.isdir(target):
            old = tempfile.mkdtemp(dir=os.path.dirname(target), prefix=".old-")
            os.rename(target, os.path.join(old, "x"))
        os.rename(new, target)
    except OSError as e:
        shutil.rmtree(new, ignore_errors=True)
        raise UsageError(f"cannot write {target}: {e.strerror}") from e
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def write_object(tables: Iterable[pa.Table], fmt: str, url: str, header: bool = True) -> int:
    """Write the whole result as one object (an s3:// URL); returns the row count."""
    from sqlmr_runtime.storage import storage_for

    if fmt == "table":
        raise UsageError("an s3:// output needs --format csv, tsv, json or parquet")
    data, rows = encode(tables, fmt, header)
    storage_for(url).write(url, data)
    return rows
