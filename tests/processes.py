"""Helpers for tests that run `sqlmr` as a real process and hurt it: start it, find its workers,
signal them, and check that nothing of the run is left alive."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CLI = [sys.executable, "-c", "import sys; from sqlmr.cli.app import main; sys.exit(main())"]


_started: list[subprocess.Popen] = []


def start(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """`sqlmr ARGV` as a child process with piped output (a pipe shows who holds it open)."""
    process = subprocess.Popen(
        [*CLI, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        start_new_session=True,  # its own process group: a test can always kill all of it
    )
    _started.append(process)
    return process


def kill_leftovers() -> None:
    """Kill the process group of every child started by a test, in case the test failed before
    ending it (a failed assertion once left a driver and its SIGSTOPped workers running)."""
    while _started:
        process = _started.pop()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=10)


def children(pid: int) -> list[int]:
    """Live child processes of `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _ready(pid: int) -> bool:
    """A worker is ready once it has armed its parent-death signal and let go of the driver's
    standard output (its fd 1 is /dev/null): stopped before that, it could outlive the driver."""
    try:
        return os.readlink(f"/proc/{pid}/fd/1") == os.devnull
    except OSError:
        return False


def wait_for_children(pid: int, count: int, timeout: float = 60) -> list[int]:
    """Wait until `pid` has at least `count` ready worker children; returns them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [child for child in children(pid) if _ready(child)]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not start {count} workers in {timeout} s")


def alive(pids: list[int]) -> list[int]:
    """Those of `pids` that still run (not zombies)."""
    left = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            left.append(pid)
    return left


def wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    """Wait until none of `pids` runs; returns those still alive at the timeout."""
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


def finish(process: subprocess.Popen, timeout: float) -> tuple[int | None, str, str]:
    """Wait for the process and for its output pipes to close (every holder gone): (return
    code, stdout, stderr), or a None code when it did not end within `timeout` (then it and
    its process group, orphaned workers included, are killed)."""
    try:
        out, err = process.communicate(timeout=timeout)
        return process.returncode, out.decode(), err.decode()
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = process.communicate(timeout=30)
        return None, out.decode(), err.decode()


def files_below(root: Path) -> list[str]:
    """Every file below a folder (hidden ones too), relative to it."""
    return sorted(
        str(Path(folder, name).relative_to(root))
        for folder, _, names in os.walk(root)
        for name in names
    )
