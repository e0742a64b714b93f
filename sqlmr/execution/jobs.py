"""Jobs in a job store: their ids, the heartbeat a running job writes, and garbage collection.

A job keeps its objects under <job-store>/<job>/. While it runs, the driver writes
<job>/_heartbeat.json at the start and every HEARTBEAT_SECONDS, so `sqlmr gc` can tell a
running job (recent heartbeat) from the leftovers of one whose driver was killed (stale
heartbeat, or none). A job run with --keep-intermediates marks its heartbeat `keep`: gc leaves
it until it is removed by hand. Only prefixes named like job ids are ever touched.

The heartbeat also names the driver's process (its pid, its start time and the machine). A
driver killed by a signal runs no cleanup: SIGKILL, or SIGTERM in a program that calls the
library (`sqlmr query` handles SIGTERM itself). So the next job in a local job store removes
the jobs of drivers of this machine that are gone (`remove_orphans`), with no wait for gc.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass

from sqlmr_runtime.errors import RuntimeTaskError
from sqlmr_runtime.storage import Storage, is_remote, join, storage_for

from sqlmr.errors import SqlmrError, UsageError

HEARTBEAT = "_heartbeat.json"  # underscore files are never read as data
HEARTBEAT_SECONDS = 60.0
_JOB_ID = re.compile(r"^(\d{8}T\d{6})-[0-9a-f]{8}$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def new_job_id() -> str:
    """A job id that sorts by start time (UTC, to the second)."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def parse_age(text: str) -> float:
    """Seconds in '90s', '30m', '1h', '2d'."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text.lower())
    if match is None:
        raise UsageError(f"bad age {text!r}; use a number with s, m, h or d, e.g. 1h")
    return float(match.group(1)) * _UNITS[match.group(2)]


class Heartbeat:
    """Writes a job's heartbeat now and every HEARTBEAT_SECONDS until the block ends."""

    def __init__(self, job_store: str, job: str, interval: float = HEARTBEAT_SECONDS):
        self.job_store, self.url = job_store, join(job_store, job, HEARTBEAT)
        self.job, self.interval = job, interval
        self.started = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="sqlmr-heartbeat")

    def write(self, keep: bool = False) -> None:
        """Record that the job is alive now (and, with keep, that gc must leave it)."""
        doc = {
            "job": self.job,
            "started": self.started,
            "updated": time.time(),
            "keep": keep,
            **_driver(),
        }
        storage_for(self.url).write(self.url, json.dumps(doc).encode())

    def cancel(self) -> None:
        """Delete the heartbeat: the job's tasks that are still running then write nothing."""
        self._stop.set()
        storage_for(self.url).delete(self.url)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.write()
            except RuntimeTaskError:
                pass  # a missed beat only makes the job look older; the next one may succeed

    def __enter__(self) -> Heartbeat:
        """Start the job in its store: first remove what gone drivers left there (a local
        store's only: remove_orphans), then beat."""
        remove_orphans(self.job_store)
        try:
            self.write()
        except RuntimeTaskError as e:
            raise SqlmrError(f"cannot write to the job store: {e}") from e
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@dataclass(frozen=True)
class JobState:
    """What gc found for one job prefix."""

    job: str
    age: float  # seconds since its last heartbeat (or its start, without one)
    keep: bool
    removed: bool


def collect_garbage(job_store: str, older_than: float, dry_run: bool = False) -> list[JobState]:
    """Remove the prefixes of jobs whose heartbeat is older than `older_than` seconds (or that
    have none and started that long ago), except those kept by --keep-intermediates."""
    storage = storage_for(job_store)
    try:
        found = _jobs_in(storage, job_store)
    except RuntimeTaskError as e:
        raise SqlmrError(f"cannot list the job store {job_store}: {e}") from e
    now = time.time()
    states = []
    for job, stamp in found:
        beat = _read_heartbeat(job_store, job)
        started = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%S"))
        last = beat.get("updated") or started
        keep = bool(beat.get("keep"))
        age = now - float(last)
        remove = not keep and age > older_than
        if remove and not dry_run:
            storage.delete_prefix(join(job_store, job))
        states.append(JobState(job, age, keep, remove))
    return states


def _jobs_in(storage: Storage, job_store: str) -> list[tuple[str, str]]:
    """The jobs of a job store: (job id, its start stamp) for each folder named like a job id
    (nothing else in the store is ever touched)."""
    folders, _ = storage.children(job_store)
    found = []
    for folder in folders:
        job = folder.rstrip("/").rsplit("/", 1)[-1]
        match = _JOB_ID.match(job)
        if match is not None:
            found.append((job, match.group(1)))
    return found


def _process_start(pid: int) -> int | None:
    """When a process started, in clock ticks since boot (Linux), to tell it from a later
    process given the same pid; None where /proc does not say."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[19])  # field 22 of proc(5); the name before ")" may hold spaces
    except (OSError, IndexError, ValueError):
        return None


def _host() -> str:
    return os.uname().nodename if hasattr(os, "uname") else ""


_DRIVER: dict = {}


def _driver() -> dict:
    """Who this process is, as its jobs' heartbeats record it (found again after a fork)."""
    pid = os.getpid()
    if _DRIVER.get("pid") != pid:
        _DRIVER.update(pid=pid, pid_start=_process_start(pid), host=_host())
    return _DRIVER


def _gone(beat: dict) -> bool:
    """Whether the heartbeat's driver was a process of this machine that no longer runs (a
    later process with its pid is not it: the start times differ)."""
    me, pid = _driver(), beat.get("pid")
    if beat.get("host") != me["host"] or not isinstance(pid, int) or pid <= 0:
        return False  # another machine's, or a heartbeat that names no process: gc's to judge
    if pid == me["pid"]:
        return beat.get("pid_start") != me["pid_start"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's process: it runs
        return False
    started = beat.get("pid_start")
    return started is not None and _process_start(pid) not in (None, started)


def remove_orphans(job_store: str) -> list[str]:
    """Remove the jobs of a local job store whose driver, a process of this machine, is gone
    (killed by a signal, it ran no cleanup); the jobs removed. Running jobs, jobs kept with
    --keep-intermediates, other machines' jobs (a shared folder) and S3 job stores are left to
    `sqlmr gc`. A job store that cannot be listed is left as it is: this is housekeeping."""
    if is_remote(job_store):
        return []
    storage = storage_for(job_store)
    try:
        found = _jobs_in(storage, job_store)
    except RuntimeTaskError:
        return []
    removed = []
    for job, _ in found:
        beat = _read_heartbeat(job_store, job)
        if beat.get("keep") or not _gone(beat):
            continue
        try:
            storage.delete_prefix(join(job_store, job))
        except RuntimeTaskError:
            continue
        removed.append(job)
    return removed


def _read_heartbeat(job_store: str, job: str) -> dict:
    url = join(job_store, job, HEARTBEAT)
    try:
        doc = json.loads(storage_for(url).read(url))
    except (RuntimeTaskError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}
