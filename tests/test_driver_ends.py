"""The driver always ends (issue 13, "Found" 1-3): a killed worker, a stalled worker, a stalled
S3 endpoint, SIGTERM and SIGKILL of the driver each end the run promptly with the real error or
the exact answer, and leave no process and no object of the job behind.

Each test runs `sqlmr query` as a real process; worker processes are stopped (SIGSTOP) to hold
them mid-task at a known moment, then killed or left stalled."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import duckdb
import pytest
from conftest import AMPLAB_COLUMNS, duck_table
from processes import children, files_below, finish, start, wait_for_children, wait_gone

SQL = "SELECT pageRank % 10 AS k, COUNT(*) AS n, SUM(avgDuration) AS d FROM rankings GROUP BY 1"
ROWS = 120_000


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ends-tables")
    (root / "rankings").mkdir()
    for part in range(2):
        lines = (f"u{i},{i % 977},{i % 13}\n" for i in range(part, ROWS, 2))
        (root / "rankings" / f"part-{part:05d}").write_text("".join(lines))
    return root


@pytest.fixture(scope="module")
def expected(tables: Path) -> list[tuple]:
    con = duckdb.connect()
    duck_table(con, "rankings", tables / "rankings", AMPLAB_COLUMNS["rankings"])
    return sorted(con.execute(SQL).fetchall())


def query(tables: Path, job_store: Path, *extra: str):
    argv = ["query", SQL, "--tables", str(tables), "--workers", "2", "--split-size", "16KB"]
    return start([*argv, "--format", "csv", "--job-store", str(job_store), *extra])


def rows(out: str) -> list[tuple]:
    return sorted(tuple(int(v) for v in line.split(",")) for line in out.splitlines()[1:])


def stop(pids: list[int]) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)


def test_killed_worker_without_retries_ends_with_the_error(tables: Path, tmp_path: Path):
    # Found 1: with --retries 0, kill -9 of a worker printed the error, then hung forever.
    process = query(tables, tmp_path / "jobs", "--retries", "0")
    workers = wait_for_children(process.pid, 2)
    stop(workers[:1])
    _wait_for_a_held_task(tmp_path / "jobs")  # killed idle, it would just be replaced
    os.kill(workers[0], signal.SIGKILL)
    code, out, err = finish(process, timeout=60)
    assert code == 1, (code, err)
    assert "worker process died (signal 9)" in err and err.count("\n") == 1
    assert wait_gone(workers) == []
    assert files_below(tmp_path / "jobs") == []


def test_killed_worker_is_retried(tables: Path, tmp_path: Path, expected):
    process = query(tables, tmp_path / "jobs")
    workers = wait_for_children(process.pid, 2)
    stop(workers[:1])
    _wait_for_a_held_task(tmp_path / "jobs")
    os.kill(workers[0], signal.SIGKILL)
    code, out, err = finish(process, timeout=60)
    assert code == 0, err
    assert rows(out) == expected
    assert wait_gone(workers) == []


def test_stalled_worker_is_abandoned_and_its_task_retried(tables: Path, tmp_path: Path, expected):
    # A stalled task has a deadline: its worker is killed and the task runs elsewhere.
    process = query(tables, tmp_path / "jobs", "--task-timeout", "2")
    workers = wait_for_children(process.pid, 2)
    stop(workers[:1])
    code, out, err = finish(process, timeout=60)
    assert code == 0, err
    assert rows(out) == expected
    assert wait_gone(workers) == []
    assert files_below(tmp_path / "jobs") == []


def test_sigterm_ends_the_driver_and_cleans_the_job(tables: Path, tmp_path: Path):
    # Found 3: SIGTERM left the workers alive forever, holding stdout, and the job's files.
    process = query(tables, tmp_path / "jobs")
    workers = wait_for_children(process.pid, 2)
    _wait_for_a_job(tmp_path / "jobs")  # workers start before the compiler: wait for the job
    stop(workers)  # both hold a task: the job is mid-stage
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    code, out, err = finish(process, timeout=30)
    assert code == 128 + signal.SIGTERM, (code, err)
    assert "terminated by SIGTERM" in err
    assert wait_gone(workers) == []
    assert files_below(tmp_path / "jobs") == []


def _wait_for_a_job(job_store: Path, timeout: float = 60) -> None:
    """Wait until a job has started in the job store (its heartbeat is written)."""
    deadline = time.monotonic() + timeout
    while not any(name.endswith("_heartbeat.json") for name in files_below(job_store)):
        assert time.monotonic() < deadline, "no job started"
        time.sleep(0.02)


def _wait_for_a_held_task(job_store: Path, timeout: float = 60) -> int:
    """Wait until the stopped worker holds a map task; returns the task's number.

    The tasks are handed out in order and the other worker runs one at a time, so a task with
    no output while two later tasks have theirs is the stopped worker's (a sleep instead once
    killed the worker before the driver, still compiling on a loaded machine, gave it one)."""
    deadline = time.monotonic() + timeout
    while True:
        done = {  # <job>/map/<task>.a<attempt>.shuffle.bin
            int(parts[2].split(".")[0])
            for parts in (Path(f).parts for f in files_below(job_store))
            if len(parts) == 3 and parts[1] == "map" and not parts[2].startswith(".")
        }
        held = min(set(range(max(done, default=0) + 1)) - done, default=None)
        if held is not None and len([t for t in done if t > held]) >= 2:
            return held
        assert time.monotonic() < deadline, f"no task held by the stopped worker: {sorted(done)}"
        time.sleep(0.02)


def test_sigkill_of_the_driver_takes_its_workers(tables: Path, tmp_path: Path):
    # Found 3: after SIGKILL the workers lived on (PPID 1) and `$(sqlmr …)` hung on their stdout.
    process = query(tables, tmp_path / "jobs")
    workers = wait_for_children(process.pid, 2)
    stop(workers)
    time.sleep(0.5)
    process.kill()
    code, _, _ = finish(process, timeout=30)  # returns only once every holder of stdout is gone
    assert code == -signal.SIGKILL
    assert wait_gone(workers) == []


def test_stalled_s3_endpoint_fails_within_bounded_time(tmp_path: Path):
    # Found 2: a SIGSTOPped S3 endpoint gave no output and no error for over 300 s. A socket
    # that listens but never answers is what a stopped server looks like to a client.
    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(64)
    env = {
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{stalled.getsockname()[1]}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "SQLMR_S3_READ_TIMEOUT": "1",
        "AWS_MAX_ATTEMPTS": "2",
    }
    started = time.monotonic()
    process = start(["query", SQL, "--tables", "s3://bucket/t", "--workers", "2"], env)
    code, _, err = finish(process, timeout=60)
    stalled.close()
    assert code == 1, (code, err)
    assert "timeout" in err.lower() and "s3://bucket/t" in err
    assert time.monotonic() - started < 60
    assert children(process.pid) == []


def test_a_straggler_gets_a_speculative_attempt(tables: Path, tmp_path: Path, expected):
    # A task running much longer than its stage's median (here: its worker is stopped) gets a
    # second attempt on another worker; the first to finish wins and the other is stopped,
    # long before the task's deadline (two minutes) would have abandoned it.
    import threading

    import sqlmr
    from sqlmr.execution.driver import Driver
    from sqlmr.execution.local import LocalExecutor, _pool
    from sqlmr.execution.speculation import Speculation

    options = sqlmr.QueryOptions(workers=2, split_size="16KB", job_store=str(tmp_path / "jobs"))
    plan = sqlmr.compile_query(SQL, sqlmr.resolve_catalog(str(tables)), options)
    executor = LocalExecutor(2)
    victims: list[int] = []

    class StopOnFirstTask:  # stop one worker once the first task is done: many remain
        def stage_started(self, *args) -> None: ...
        def stage_finished(self, *args) -> None: ...

        def task_finished(self, *args) -> None:
            if not stopped.is_set():
                stopped.set()
                worker = next(s.worker for s in _pool(2).slots if s.worker.alive())
                victims.append(worker.process.pid)
                os.kill(victims[0], signal.SIGSTOP)

    stopped = threading.Event()
    driver = Driver(
        executor, options.job_store, listener=StopOnFirstTask(), speculation=Speculation(3.0, 1.0)
    )
    with driver.run(plan) as result:
        got = sorted(tuple(r.values()) for r in result.read_all().to_pylist())
        attempts = [s["attempt"] for s in result.results] + [
            stage.attempts - stage.tasks for stage in result.stages
        ]
    assert got == expected
    assert max(attempts) >= 1  # a second attempt ran and won
    assert wait_gone(victims) == [] and len(victims) == 1  # the stopped attempt: killed
    assert files_below(tmp_path / "jobs") == []


@pytest.mark.parametrize(
    "entry",
    [
        "from sqlmr.cli import console; console()",
        "import sys; from sqlmr.cli import main; sys.exit(main())",
    ],
)
def test_sigterm_before_the_job_says_so(tables: Path, tmp_path: Path, entry: str):
    # Chaos, under load: a SIGTERM before the signal handlers were installed (flags, settings)
    # killed the driver silently, "unclear failure: " with an empty message. The config file
    # here is a FIFO nobody writes, so the command is held reading its settings when signalled.
    import subprocess
    import sys

    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    argv = ["query", SQL, "--tables", str(tables), "--job-store", str(tmp_path / "jobs")]
    process = subprocess.Popen(
        [sys.executable, "-c", entry, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "SQLMR_CONFIG": str(fifo)},
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _reading(process.pid, fifo):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    code, out, err = finish(process, timeout=30)
    assert code == 128 + signal.SIGTERM, (code, err)
    assert err == "error: terminated by SIGTERM\n" and out == ""


def _reading(pid: int, path: Path) -> bool:
    """Whether the process has `path` open or is blocked opening it (a FIFO without writer)."""
    try:
        wchan = Path(f"/proc/{pid}/wchan").read_text()
        opened = any(
            os.readlink(f"/proc/{pid}/fd/{fd}") == str(path) for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:
        return False
    return opened or "fifo" in wchan or wchan == "wait_for_partner"


def _query_from_fifo(tables: Path, tmp_path: Path):
    """`sqlmr query -f FIFO`, compile helper off: held reading its SQL once its local workers
    have started (they fork before the SQL is read and the compiler loads), until the test
    writes the SQL."""
    fifo = tmp_path / "query.sql"
    os.mkfifo(fifo)
    argv = ["query", "-f", str(fifo), "--tables", str(tables), "--workers", "2"]
    # Without the compile helper: with it, the driver reads the SQL before its workers start
    # (the helper needs the text), so there is no moment with workers up and the SQL unread.
    # The helper's own error and kill paths are tests/test_compile_ahead.py's.
    process = start(
        [*argv, "--format", "csv", "--job-store", str(tmp_path / "jobs")],
        env={"SQLMR_COMPILE_AHEAD": "0"},
    )
    return process, fifo, wait_for_children(process.pid, 2)


def test_workers_started_before_the_compiler_end_with_a_bad_query(tables: Path, tmp_path: Path):
    process, fifo, workers = _query_from_fifo(tables, tmp_path)
    with open(fifo, "w") as f:
        f.write("SELECT nope FROM rankings")
    code, out, err = finish(process, timeout=60)
    assert code == 1 and out == "", (code, err)
    assert err.startswith("error: ") and "nope" in err and len(err.splitlines()) == 1
    assert wait_gone(workers) == []
    assert files_below(tmp_path / "jobs") == []


def test_workers_started_before_the_compiler_die_with_a_killed_driver(tables: Path, tmp_path: Path):
    process, _, workers = _query_from_fifo(tables, tmp_path)
    process.kill()
    code, _, _ = finish(process, timeout=30)  # returns only once every holder of stdout is gone
    assert code == -signal.SIGKILL
    assert wait_gone(workers) == []


def test_sigterm_before_the_job_with_stopped_idle_workers_ends_promptly(
    tables: Path, tmp_path: Path
):
    # Workers now fork before the SQL is read: a SIGTERM while they are stopped and hold no
    # task once hung at exit in multiprocessing's exit function (SIGTERM, then a join without
    # timeout); the pool's own exit function kills them first.
    process, _, workers = _query_from_fifo(tables, tmp_path)
    stop(workers)
    process.send_signal(signal.SIGTERM)
    code, out, err = finish(process, timeout=30)
    assert code == 128 + signal.SIGTERM, (code, err)
    assert err == "error: terminated by SIGTERM\n" and out == ""
    assert wait_gone(workers) == []


@pytest.mark.parametrize("moment", ["after the second fork", "before the pool is kept"])
def test_a_signal_while_the_pool_forks_leaves_no_worker(monkeypatch, moment: str):
    # The test above once failed by timing out: its SIGTERM came after both workers were ready
    # but before their pool was registered, so no exit function of ours killed them, and
    # multiprocessing's joined the stopped workers without a timeout. Here the interruption
    # (KeyboardInterrupt stands for the signal's exception) is made to fall in that window.
    from sqlmr.execution import local

    local._shutdown()
    forked: list[int] = []
    real_worker, real_pool = local._Worker.__init__, local._Pool.__init__

    def worker(self, inherited):
        real_worker(self, inherited)
        forked.append(self.process.pid)
        if moment == "after the second fork" and len(forked) == 2:
            raise KeyboardInterrupt  # forked, not yet in its slot

    def pool(self, workers):
        real_pool(self, workers)
        if moment == "before the pool is kept":
            raise KeyboardInterrupt  # made, not yet in _POOLS

    monkeypatch.setattr(local._Worker, "__init__", worker)
    monkeypatch.setattr(local._Pool, "__init__", pool)
    with pytest.raises(KeyboardInterrupt):
        local._pool(2)
    assert len(forked) == 2 and not local._POOLS
    assert wait_gone(forked) == []
    monkeypatch.undo()
    try:
        fresh = {s.worker.process.pid for s in local._pool(2).slots}
        assert len(fresh) == 2 and not fresh & set(forked)
    finally:
        local._shutdown()
