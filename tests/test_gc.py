"""`sqlmr gc` (issue 13 §7): the prefixes of jobs that stopped beating are removed; running jobs
(recent heartbeat) and --keep-intermediates jobs are not; nothing else in the store is touched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from processes import files_below, finish, start, wait_for_children, wait_gone

from sqlmr.cli.app import main
from sqlmr.execution.jobs import HEARTBEAT, new_job_id, parse_age


def _job(store: Path, updated: float | None, keep: bool = False, name: str | None = None) -> str:
    job = name or new_job_id()
    (store / job / "map").mkdir(parents=True)
    (store / job / "map" / "00000.a0.shuffle.bin").write_bytes(b"x" * 10)  # a local job's key
    if updated is not None:
        doc = {"job": job, "started": updated, "updated": updated, "keep": keep}
        (store / job / HEARTBEAT).write_text(json.dumps(doc))
    return job


def test_gc_removes_only_stale_jobs(tmp_path: Path, capsys) -> None:
    store = tmp_path / "jobs"
    now = time.time()
    stale = _job(store, now - 7200)
    running = _job(store, now - 30)
    kept = _job(store, now - 7200, keep=True)
    old_without_beat = _job(store, None, name="20200101T000000-0123abcd")
    (store / "events").mkdir()
    (store / "events" / "e.json").write_text("{}")  # not a job: never touched
    assert main(["gc", "--job-store", str(store), "--dry-run"]) == 0
    assert f"would remove {stale}" in capsys.readouterr().out
    assert len(os.listdir(store)) == 5
    assert main(["gc", "--job-store", str(store), "--older-than", "1h"]) == 0
    out = capsys.readouterr().out
    assert f"removed {stale}" in out and f"removed {old_without_beat}" in out
    assert f"kept {kept}" in out
    assert sorted(os.listdir(store)) == sorted([running, kept, "events"])


def test_bad_age_is_a_user_error(tmp_path: Path, capsys) -> None:
    assert main(["gc", "--job-store", str(tmp_path), "--older-than", "soon"]) == 1
    assert "bad age 'soon'" in capsys.readouterr().err
    assert parse_age("90s") == 90 and parse_age("2d") == 172800


def test_a_running_job_beats_and_survives_gc(tmp_path: Path) -> None:
    # A job whose driver is alive has a fresh heartbeat: gc with any age leaves it; once its
    # driver is killed (no cleanup) the same gc removes its leftovers.
    tables = tmp_path / "tables"
    (tables / "rankings").mkdir(parents=True)
    # Enough 8 KB splits (about 700) that the job cannot end between its workers' start and their
    # SIGSTOP, even on an idle machine.
    rows = "".join(f"u{i},{i},1\n" for i in range(400_000))
    (tables / "rankings" / "part-00000").write_text(rows)
    store = tmp_path / "jobs"
    process = start(
        [
            "query",
            "SELECT COUNT(*) FROM rankings",
            "--tables",
            str(tables),
            "--workers",
            "2",
            "--split-size",
            "8KB",
            "--job-store",
            str(store),
        ]
    )
    workers = wait_for_children(process.pid, 2)
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)  # the job stays running
    deadline = time.monotonic() + 30
    while not list(store.glob(f"*/{HEARTBEAT}")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)
    assert main(["gc", "--job-store", str(store), "--older-than", "1h"]) == 0
    assert len(list(store.glob(f"*/{HEARTBEAT}"))) == 1  # running: untouched
    process.kill()  # SIGKILL: no cleanup; the workers die with it
    finish(process, timeout=30)
    assert main(["gc", "--job-store", str(store), "--older-than", "1s"]) == 0
    assert files_below(store) == []


def test_keep_intermediates_marks_the_job_kept(tmp_path: Path, capsys) -> None:
    tables = tmp_path / "tables"
    (tables / "rankings").mkdir(parents=True)
    (tables / "rankings" / "part-00000").write_text("u,1,1\n")
    store = tmp_path / "jobs"
    argv = ["query", "SELECT COUNT(*) FROM rankings", "--tables", str(tables), "--workers", "2"]
    assert main([*argv, "--job-store", str(store), "--keep-intermediates"]) == 0
    [beat] = store.glob(f"*/{HEARTBEAT}")
    assert json.loads(beat.read_text())["keep"] is True
    assert main(["gc", "--job-store", str(store), "--older-than", "0s"]) == 0
    assert beat.exists() and "kept" in capsys.readouterr().out


def _beat(store: Path, **fields) -> str:
    """A job folder with a shuffle object and a heartbeat holding `fields`."""
    job = _job(store, None)
    doc = {"job": job, "started": time.time(), "updated": time.time(), "keep": False, **fields}
    (store / job / HEARTBEAT).write_text(json.dumps(doc))
    return job


def test_a_local_job_removes_the_jobs_of_drivers_that_are_gone(tmp_path: Path) -> None:
    """A driver killed by a signal cleans nothing; the next job in the same local store removes
    what it left, and only that: a live driver's job (this process's, another process's), a
    process that reused a dead driver's pid, another machine's job, a kept job, a job without
    a heartbeat and a folder that is not a job all stay."""
    from sqlmr.execution import jobs

    store = tmp_path / "jobs"
    me = jobs._driver()
    gone_pid = _reaped_pid()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        gone = _beat(store, pid=gone_pid, pid_start=1, host=me["host"])
        reused = _beat(store, pid=me["pid"], pid_start=(me["pid_start"] or 0) + 1, host=me["host"])
        mine = _beat(store, **me)
        other_process = _beat(store, pid=sleeper.pid, pid_start=None, host=me["host"])
        other_host = _beat(store, pid=gone_pid, pid_start=1, host=me["host"] + "-elsewhere")
        kept = _beat(store, pid=gone_pid, pid_start=1, host=me["host"], keep=True)
        silent = _job(store, None)
        (store / "events").mkdir()
        removed = jobs.remove_orphans(str(store))
        assert sorted(removed) == sorted([gone, reused] if me["pid_start"] else [gone])
        left = set(os.listdir(store))
        assert {mine, other_process, other_host, kept, silent, "events"} <= left
        assert gone not in left
    finally:
        sleeper.kill()
        sleeper.wait(10)


def _reaped_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait(10)
    return child.pid


_KILLED_CALLER = """
import sys
from sqlmr.api import QueryOptions, compile_query, resolve_catalog, run
tables, jobs = sys.argv[1:]
options = QueryOptions(workers=1, split_size="8KB", job_store=jobs)
with run(compile_query("SELECT COUNT(*) FROM rankings", resolve_catalog(tables), options), options):
    pass
"""


def test_a_library_caller_killed_by_sigterm_leaves_nothing_after_the_next_job(
    tmp_path: Path,
) -> None:
    """A program calling the library dies of SIGTERM mid-job (Python's default: no cleanup,
    no atexit) and leaves its job's objects; the next job in that store removes them."""
    import sys

    import sqlmr

    tables = tmp_path / "tables"
    (tables / "rankings").mkdir(parents=True)
    (tables / "rankings" / "part-00000").write_text(
        "".join(f"u{i},{i},1\n" for i in range(400_000))
    )
    store = tmp_path / "jobs"
    caller = subprocess.Popen([sys.executable, "-c", _KILLED_CALLER, str(tables), str(store)])
    try:
        deadline = time.monotonic() + 60
        while not list(store.glob("*/map/*.shuffle.bin")) and caller.poll() is None:
            assert time.monotonic() < deadline, "the caller's job never wrote"
            time.sleep(0.02)
        workers = wait_for_children(caller.pid, 1)
        caller.send_signal(signal.SIGTERM)
        assert caller.wait(30) == -signal.SIGTERM
    finally:
        caller.kill()
        caller.wait(30)
    assert wait_gone(workers) == []  # its worker dies with it (parent-death signal)
    [left] = [p.name for p in store.iterdir()]
    assert list((store / left).glob("map/*.shuffle.bin"))
    options = sqlmr.QueryOptions(workers=1, job_store=str(store))
    plan = sqlmr.compile_query("SELECT COUNT(*) FROM rankings", sqlmr.resolve_catalog(str(tables)))
    with sqlmr.run(plan, options) as result:
        assert result.read_all().column(0).to_pylist() == [400_000]
    assert files_below(store) == []
