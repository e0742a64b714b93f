"""A job interrupted while a worker is inside its write leaves no object behind.

The flaky leak of the chaos suite's "sigterm" case, made deterministic: the worker is held
inside Storage.open_write (a gate on two files) while the driver is interrupted between
submitting a task and recording it (where the CLI's SIGTERM handler can raise). Before the fix
the driver removed the job's folder without stopping that task, and the released worker wrote
its shuffle.bin into folders it re-created. No timing: the test waits on files and on the pool.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest
from conftest import assert_same, duck_connect
from processes import files_below
from sqlmr_runtime import storage

from sqlmr.api import QueryOptions, compile_query, resolve_catalog
from sqlmr.execution import local
from sqlmr.execution.driver import Driver
from sqlmr.execution.local import LocalExecutor

SQL = "SELECT pageRank % 7 AS k, COUNT(*) AS n FROM rankings GROUP BY 1"
GATE_SECONDS = 10.0  # a bound on every wait here, never a measured delay


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + GATE_SECONDS
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


class _InterruptedExecutor:
    """The local executor, interrupted (as by SIGTERM) at its second submit, once the first
    task's worker is inside its write."""

    def __init__(self, inner: LocalExecutor, entered: Path):
        self.inner, self.entered, self.workers = inner, entered, inner.workers
        self.submitted = 0

    def submit(self, event):
        if self.submitted == 1:
            _wait_for(self.entered)
            raise KeyboardInterrupt  # what the CLI's SIGTERM handler raises, mid-launch
        self.submitted += 1
        return self.inner.submit(event)

    def __getattr__(self, name: str):  # stop_job, close: the real executor's
        return getattr(self.inner, name)


def test_interrupt_during_a_write_leaves_no_object(amplab_dir, tmp_path: Path, monkeypatch):
    entered, release = tmp_path / "entered", tmp_path / "release"
    original = storage.LocalStorage.open_write

    @contextlib.contextmanager
    def gated(self, url, *args, **kwargs):
        # The first shuffle write of the run announces itself and waits to be released.
        if url.endswith("shuffle.bin"):
            with contextlib.suppress(FileExistsError):
                os.close(os.open(entered, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                _wait_for(release)
        with original(self, url, *args, **kwargs) as out:
            yield out

    monkeypatch.setattr(storage.LocalStorage, "open_write", gated)  # inherited by the fork
    monkeypatch.setattr(local, "_POOLS", {})  # a fresh pool, forked with the gate
    jobs = str(tmp_path / "jobs")
    catalog = resolve_catalog(amplab_dir)
    plan = compile_query(SQL, catalog, QueryOptions(workers=1, split_size="16KB"))
    assert len(plan.stages[0].tasks) > 1
    executor = LocalExecutor(workers=1)
    try:
        with pytest.raises(KeyboardInterrupt):
            Driver(_InterruptedExecutor(executor, entered), jobs).run(plan)
        release.touch()
        # One worker takes tasks in order: once a second job ran, the first job's task ended.
        with Driver(executor, jobs).run(plan) as result:
            rows = result.read_all()
        assert files_below(Path(jobs)) == []
    finally:
        release.touch()
        for pool in local._POOLS.values():
            pool.shutdown()
    assert_same(rows, duck_connect(amplab_dir).execute(SQL).fetchall(), False)


UNCLAIMED = """
import sys
import pyarrow.parquet as pq
from sqlmr.api import QueryOptions, compile_query, resolve_catalog, run
tables, jobs, out = sys.argv[1:]
options = QueryOptions(workers=2, split_size="16KB", job_store=jobs)
result = run(compile_query(SQL, resolve_catalog(tables), options), options)
pq.write_table(result.read_all(), out)
# No `with result:` and no cleanup(): as when a SIGTERM lands between Driver.run returning and
# the CLI's `with result:` (the chaos suite once left a finished job's every object so).
"""


def test_a_result_nobody_cleaned_up_is_removed_at_exit(amplab_dir, tmp_path: Path):
    import subprocess
    import sys

    import pyarrow.parquet as pq

    jobs, out = tmp_path / "jobs", tmp_path / "result.parquet"
    code = f"SQL = {SQL!r}\n" + UNCLAIMED
    argv = [sys.executable, "-c", code, amplab_dir, str(jobs), str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert files_below(jobs) == []
    expected = duck_connect(amplab_dir).execute(SQL).fetchall()
    assert_same(pq.read_table(out), expected, False)
