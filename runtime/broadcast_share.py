"""One build of a broadcast side per job, shared by the local workers through the job store.

Every worker of a broadcast join stage needs the same index at the same moment, when the stage
starts, and built it for itself: on two workers the same 900k rows were parsed, hashed and
sorted twice, each worker's first task waiting for its own copy. Now the first task to need
it claims it (an exclusive create of `<index>.claim` holding its process id), builds it and
writes it as an uncompressed Arrow IPC file under the job's prefix. A task that finds the side
claimed reads its own split of the probe side meanwhile, then maps the file: its pages are the
page cache's, shared between the workers, neither copied nor parsed.

A wait never hangs and a failed build never blocks: the claimant removes its claim when its
build fails, a waiter that finds the claim gone or its process dead (killed) builds the index
itself, and so does one whose wait passes its bound. The file lives below the job's prefix, so
it is deleted with the job's other objects and never outlives its job; a retried task reads
the same file. Only a local job store is shared (its workers are processes of one machine); a
Lambda container keeps building its own copy, once per container and stage.
"""

from __future__ import annotations

import hashlib
import os
import time

from .broadcast import BroadcastIndex
from .errors import StorageError
from .storage import LocalStorage, join, local_path, read_view, storage_for

_WAIT_SECONDS = 600.0  # a bound only: a live claimant's build normally ends in seconds
_POLL_SECONDS = 0.005


class SharedIndex:
    """The job store's copy of one broadcast side's index."""

    def __init__(self, storage: LocalStorage, prefix: str, side: str, keys: list[str]):
        self.storage = storage
        digest = hashlib.blake2b(side.encode(), digest_size=12).hexdigest()
        self.url = join(prefix, f"{digest}.arrow")
        self.claim_url = f"{self.url}.claim"
        self.keys = keys
        self.owner = False

    @staticmethod
    def at(prefix: str, side: str, keys: list[str]) -> SharedIndex | None:
        """The shared index of a side under a job's prefix, or None where the job store is not
        a local folder (S3: a build is cheaper than a wait plus a GET of the whole index)."""
        storage = storage_for(prefix)
        if not isinstance(storage, LocalStorage):
            return None
        return SharedIndex(storage, prefix, side, keys)

    def load(self) -> BroadcastIndex | None:
        """The index, when it has been written."""
        if not os.path.exists(local_path(self.url)):
            return None
        return BroadcastIndex.from_ipc(read_view(self.url), self.keys)

    def claim(self) -> bool:
        """Whether this process now holds the claim to build the index (no other does)."""
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

    def publish(self, index: BroadcastIndex) -> None:
        """Write the built index for the other workers, straight into its object (no copy of
        it in memory), which appears whole or not at all. A failed write only gives up the
        claim: this task has its index, and the waiters build their own."""
        try:
            with self.storage.open_write(self.url) as out:
                index.write_ipc(out)
        except StorageError:
            self.release()

    def release(self) -> None:
        """Give up the claim (the build failed): waiters then build for themselves."""
        if self.owner:
            self.storage.delete(self.claim_url)
            self.owner = False

    def wait(self) -> BroadcastIndex | None:
        """The index once its claimant has written it; None if the claimant failed, died or
        did not finish within the bound (the caller then builds it itself)."""
        deadline = time.monotonic() + _WAIT_SECONDS
        while time.monotonic() < deadline:
            index = self.load()
            if index is not None:
                return index
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
