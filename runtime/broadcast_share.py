"""One build of a broadcast side per job, shared by the local workers through the job store, in
parts that the workers build at once.

Every worker of a broadcast join stage needs the same index at the same moment, when the stage
starts, and built it for itself: on two workers the same 900k rows were parsed, hashed and
sorted twice, each worker's first task waiting for its own copy. Then the first task to need it
built it alone while the other workers' first tasks waited for it, idle. Now a side of several
ranges is built in parts, one per range: a task claims each part no other task has claimed (an
exclusive create of `<part>.claim` holding its process id), reads and hashes it and writes it
as an uncompressed Arrow IPC file under the job's prefix. A task that finds a part claimed reads
its own split of the probe side meanwhile, then maps the part's file: its pages are the page
cache's, shared between the workers, neither copied nor parsed. Each task indexes the parts'
rows where they lie (a sort of their hashes, BroadcastIndex.from_parts).

A wait never hangs and a failed build never blocks: the claimant removes its claim when its
build fails, a waiter that finds the claim gone or its process dead (killed) builds the part
itself, and so does one whose wait passes its bound. The files live below the job's prefix, so
they are deleted with the job's other objects and never outlive their job; a retried task reads
the same files. Only a local job store is shared (its workers are processes of one machine); a
Lambda container keeps building its own copy, once per container and stage.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

import pyarrow as pa

from .broadcast import BroadcastIndex, IndexPart, keyed_part, read_part, write_part
from .errors import StorageError
from .storage import LocalStorage, join, local_path, read_view, storage_for

_WAIT_SECONDS = 600.0  # a bound only: a live claimant's build normally ends in seconds
_POLL_SECONDS = 0.005

T = TypeVar("T")
ReadPart = Callable[[], tuple[pa.Table, int]]
"""Reads one part of a broadcast side, filtered and projected: (its rows, bytes read)."""


def shared(prefix: str) -> bool:
    """Whether the broadcast sides of a job store's jobs are built in shared parts (a local
    folder; on S3 a build is cheaper than a wait plus a GET of the whole index)."""
    return isinstance(storage_for(prefix), LocalStorage)


def build_index(
    prefix: str, side: str, keys: list[str], parts: list[ReadPart], meanwhile: Callable[[], T]
) -> tuple[BroadcastIndex, T | None, int]:
    """A broadcast side's index from its parts, with what `meanwhile` returned if it ran (while
    other workers built parts this task needs) and the bytes this task read for the index.

    Every part not yet claimed is claimed, built and published by this task, in order, so the
    workers that start together take different parts; then the task waits for the others'."""
    shares = [SharedIndex(prefix, f"{side}#{k}") for k in range(len(parts))]
    built: dict[int, IndexPart] = {}
    nbytes, later = 0, None
    for k, share in enumerate(shares):
        part = share.load()
        if part is None and share.claim():
            part, n = _build(parts[k], keys, share)
            nbytes += n
        if part is not None:
            built[k] = part
    if len(built) < len(shares):
        later = meanwhile()
        for k, share in enumerate(shares):
            if k not in built:
                part = share.wait()
                if part is None:  # its claimant failed or died: this task builds it
                    part, n = _build(parts[k], keys, None)
                    nbytes += n
                built[k] = part
    return BroadcastIndex.from_parts([built[k] for k in range(len(shares))], keys), later, nbytes


def _build(read: ReadPart, keys: list[str], share: SharedIndex | None) -> tuple[IndexPart, int]:
    """Read and hash one part; publish it when this process holds its claim."""
    try:
        table, nbytes = read()
        part = keyed_part(table, keys)
        del table
        if share is not None:
            share.publish(part)
    except BaseException:
        if share is not None:
            share.release()
        raise
    return part, nbytes


class SharedIndex:
    """The job store's copy of one part of a broadcast side (see IndexPart)."""

    def __init__(self, prefix: str, part: str):
        import hashlib  # here: only broadcast joins name parts, and it loads OpenSSL

        self.storage = storage_for(prefix)
        digest = hashlib.blake2b(part.encode(), digest_size=12).hexdigest()
        self.url = join(prefix, f"{digest}.arrow")
        self.claim_url = f"{self.url}.claim"
        self.owner = False

    def load(self) -> IndexPart | None:
        """The part, when it has been written."""
        if not os.path.exists(local_path(self.url)):
            return None
        return read_part(read_view(self.url))

    def claim(self) -> bool:
        """Whether this process now holds the claim to build the part (no other does)."""
        path = local_path(self.claim_url)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        self.owner = True
        return True

    def publish(self, part: IndexPart) -> None:
        """Write the built part for the other workers, straight into its object (no copy of
        it in memory), which appears whole or not at all. A failed write only gives up the
        claim: this task has its part, and the waiters build their own."""
        try:
            with self.storage.open_write(self.url) as out:
                write_part(out, part)
        except StorageError:
            self.release()

    def release(self) -> None:
        """Give up the claim (the build failed): waiters then build for themselves."""
        if self.owner:
            self.storage.delete(self.claim_url)
            self.owner = False

    def wait(self) -> IndexPart | None:
        """The part once its claimant has written it; None if the claimant failed, died or
        did not finish within the bound (the caller then builds it itself)."""
        deadline = time.monotonic() + _WAIT_SECONDS
        while time.monotonic() < deadline:
            part = self.load()
            if part is not None:
                return part
            if not self._claimant_alive():
                return self.load()  # it may have written the file just before it left
            time.sleep(_POLL_SECONDS)
        return None

    def _claimant_alive(self) -> bool:
        try:
            with open(local_path(self.claim_url)) as f:
                text = f.read().strip()
        except FileNotFoundError:
            return False  # released: the build failed
        if not text:
            return True  # just created, its process id not yet written
        try:
            os.kill(int(text), 0)
        except ProcessLookupError:
            return False
        except (PermissionError, ValueError):
            return True
        return True
