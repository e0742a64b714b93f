"""The chaos suite (issue 13 §8): seeded random faults over a set of queries and both executors.

Every run must either return DuckDB's exact answer or fail with a clear one-line error within a
bounded time, and leave no process of the run alive and no object of its job behind.

- local executor: `sqlmr query` as a real process, hurt from outside at a random moment:
  a worker killed (SIGKILL) or stopped (SIGSTOP, a stalled task: the deadline must fire), the
  driver terminated (SIGTERM), S3 errors and stalls (tables on SeaweedFS behind the fault proxy),
  or a full disk (RLIMIT_FSIZE on the run's processes: a write past the limit fails with EFBIG,
  as one past the free space would with ENOSPC; an unprivileged test cannot mount a tiny tmpfs);
- Lambda executor (the test Invoke API server, SeaweedFS as S3): function errors, timeouts and
  throttles injected on random tasks.

SQLMR_CHAOS_SEED and SQLMR_CHAOS_RUNS (local runs; half as many Lambda runs, at least one per
fault) choose the runs; the defaults fit CI. SQLMR_CHAOS_FAULTS (comma-separated, e.g. sigterm)
keeps only those local faults, to repeat one case in a loop.
The figures are printed at the end and must show 0 wrong answers, 0 hangs and 0 leaks.
"""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import assert_same, duck_connect
from processes import children, files_below, finish, wait_gone
from s3_proxy import Fault, S3Proxy
from sqlmr_runtime.storage import storage_for

pytest_plugins = ["s3_server", "lambda_server"]

SEED = int(os.environ.get("SQLMR_CHAOS_SEED", "13"))
RUNS = int(os.environ.get("SQLMR_CHAOS_RUNS", "6"))
BOUND = 60.0  # seconds: a run still going after this is a hang

QUERIES = {
    "scan": ("SELECT pageURL, pageRank FROM rankings WHERE pageRank > 10", False),
    "group": (
        "SELECT SUBSTR(sourceIP, 1, 8), SUM(adRevenue), COUNT(*) FROM uservisits "
        "GROUP BY SUBSTR(sourceIP, 1, 8)",
        False,
    ),
    "join": (
        "SELECT sourceIP, SUM(adRevenue) AS r, AVG(pageRank) AS p FROM rankings AS R, "
        "uservisits AS UV WHERE R.pageURL = UV.destURL GROUP BY sourceIP",
        False,
    ),
    "top": (
        "SELECT countryCode, COUNT(*) AS n FROM uservisits GROUP BY countryCode "
        "ORDER BY n DESC, countryCode LIMIT 7",
        True,
    ),
}
# The installed `sqlmr` script's entry (console: its signal handling and exit), not main alone.
CONSOLE = [sys.executable, "-c", "from sqlmr.cli import console; console()"]
LOCAL_FAULTS = ("kill-worker", "stop-worker", "sigterm", "s3-error", "s3-stall", "disk-full")
LOCAL_FAULTS = tuple(os.environ.get("SQLMR_CHAOS_FAULTS", ",".join(LOCAL_FAULTS)).split(","))
LAMBDA_FAULTS = ("function-error", "timeout", "throttle")


@dataclass
class Figures:
    runs: int = 0
    faults: int = 0
    exact: int = 0
    clean_failures: int = 0
    wrong: int = 0
    hangs: int = 0
    leaks: int = 0
    by_fault: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def line(self, title: str) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.by_fault.items()))
        return (
            f"chaos {title} (seed {SEED}): {self.runs} runs, {self.faults} faults injected "
            f"({kinds}); {self.exact} exact answers, {self.clean_failures} clean failures, "
            f"{self.wrong} wrong answers, {self.hangs} hangs, {self.leaks} leaks"
        )


@pytest.fixture(scope="module")
def oracle(amplab_dir: str) -> dict[str, list[tuple]]:
    con = duck_connect(amplab_dir)
    return {name: con.execute(sql).fetchall() for name, (sql, _) in QUERIES.items()}


@pytest.fixture(scope="module")
def s3_tables(seaweed_s3, amplab_dir: str) -> str:
    return seaweed_s3.upload_tree(amplab_dir, "chaos-amplab")


def _clear(stderr: str) -> bool:
    """A clean failure: one `error: …` line, no traceback, not an internal error."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return (
        len(lines) == 1
        and lines[0].startswith("error: ")
        and "internal error" not in lines[0]
        and "Traceback" not in stderr
    )


def _judge(figures: Figures, name: str, what: str, outcome, check_result) -> None:
    """Count one run: `outcome` is None for a hang, else (ok, stderr). An empty stderr is an
    unclear failure (the message must say what happened)."""
    figures.runs += 1
    if outcome is None:
        figures.hangs += 1
        figures.problems.append(f"{what}: no end within {BOUND:.0f} s")
        return
    ok, stderr = outcome
    if ok:
        try:
            check_result()
            figures.exact += 1
        except AssertionError as e:
            figures.wrong += 1
            figures.problems.append(f"{what}: wrong answer: {str(e)[:300]}")
    elif _clear(stderr):
        figures.clean_failures += 1
    else:
        figures.wrong += 1  # an unclear failure is as bad as a wrong answer
        figures.problems.append(f"{what}: unclear failure: {stderr[-600:]}")


def _watch(pid: int, seen: set[int], stop: threading.Event) -> None:
    """Record every worker the driver starts, to check afterwards that none survives."""
    while not stop.is_set():
        seen.update(children(pid))
        time.sleep(0.02)


def _hurt_local(rng: random.Random, fault: str, process: subprocess.Popen, seen: set[int]):
    """Apply a process fault at a random moment of the run."""
    time.sleep(rng.uniform(0.2, 1.5))
    workers = children(process.pid)
    if fault == "sigterm":
        process.send_signal(signal.SIGTERM)
    elif workers and fault == "kill-worker":
        os.kill(rng.choice(workers), signal.SIGKILL)
    elif workers and fault == "stop-worker":
        os.kill(rng.choice(workers), signal.SIGSTOP)


def _local_run(rng, fault, name, tmp: Path, amplab_dir, s3, seaweed, figures, oracle):
    sql, ordered = QUERIES[name]
    jobs, out = tmp / "jobs", tmp / "result.parquet"
    argv = ["query", sql, "--workers", "2", "--split-size", "96KB", "--format", "parquet"]
    argv += ["-o", str(out), "--job-store", str(jobs), "--task-timeout", "3"]
    env = dict(os.environ)
    proxy = None
    limit = None
    if fault.startswith("s3-"):
        proxy = S3Proxy(seaweed.endpoint).start()
        env["AWS_ENDPOINT_URL_S3"] = proxy.endpoint
        env["SQLMR_S3_READ_TIMEOUT"] = "1"
        env["AWS_MAX_ATTEMPTS"] = "3"
        argv += ["--tables", s3]
        times = rng.randint(1, 6)
        if fault == "s3-error":
            proxy.inject(Fault("error", operation="GET", times=times))
        else:
            proxy.inject(Fault("stall", operation="GET", times=times, seconds=2.0))
    else:
        argv += ["--tables", amplab_dir]
    if fault == "disk-full":
        limit = rng.choice([20_000, 60_000, 200_000, 2_000_000])

    def limits() -> None:
        os.setsid()
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    process = subprocess.Popen(
        [*CONSOLE, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=limits,
    )
    seen: set[int] = set()
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(process.pid, seen, stop), daemon=True)
    watcher.start()
    if fault in ("kill-worker", "stop-worker", "sigterm"):
        _hurt_local(rng, fault, process, seen)
    code, _, err = finish(process, BOUND)
    stop.set()
    watcher.join()
    if proxy is not None:
        proxy.stop()
    what = f"local {name} {fault}"
    outcome = None if code is None else (code == 0, err)
    if code == -signal.SIGTERM and not err.strip() and not seen:
        # SIGTERM before the interpreter reached sqlmr's first line (nothing of sqlmr ran, no
        # worker started; only an overloaded machine is that slow): the exit status is the
        # message, as a shell's "Terminated". Any later moment must print one line.
        outcome = (False, "error: terminated by SIGTERM before sqlmr started")
    elif code is not None and code != 0 and not err.strip():
        err = f"(exit status {code}, nothing on stderr)"
        outcome = (False, err)

    def check() -> None:
        assert_same(pq.read_table(out), oracle[name], ordered)

    _judge(figures, name, what, outcome, check)
    leaked = wait_gone(sorted(seen))
    left = files_below(jobs) if jobs.exists() else []
    stray = [p for p in files_below(tmp) if p.startswith(".") or "/." in p]
    if leaked or left or stray:
        figures.leaks += 1
        figures.problems.append(f"{what}: left processes {leaked}, objects {left[:5]} {stray[:5]}")


def test_chaos_local(amplab_dir, oracle, s3_tables, seaweed_s3, tmp_path: Path, capsys):
    rng = random.Random(SEED)
    figures = Figures()
    for run in range(RUNS):
        fault = LOCAL_FAULTS[run % len(LOCAL_FAULTS)] if run < len(LOCAL_FAULTS) else None
        fault = fault or rng.choice(LOCAL_FAULTS)
        name = rng.choice(list(QUERIES))
        figures.faults += 1
        figures.by_fault[fault] += 1
        folder = tmp_path / f"run{run}"
        folder.mkdir()
        _local_run(rng, fault, name, folder, amplab_dir, s3_tables, seaweed_s3, figures, oracle)
    with capsys.disabled():
        print("\n" + figures.line("local"))
    assert (figures.wrong, figures.hangs, figures.leaks) == (0, 0, 0), figures.problems


def test_chaos_lambda(s3_tables, seaweed_s3, lambda_endpoint, oracle, capsys):
    import sqlmr
    from sqlmr.api import QueryOptions, compile_query, resolve_catalog
    from sqlmr.execution.aws_lambda import LambdaExecutor
    from sqlmr.execution.driver import Driver

    rng = random.Random(SEED + 1)
    figures = Figures()
    executor = LambdaExecutor(
        "sqlmr",
        concurrency=4,
        payload_store=seaweed_s3.url("events"),
        backoff_base=0.01,
        backoff_cap=0.1,
    )
    lambda_endpoint.simulated_timeout = 0.3
    try:
        for run in range(max(len(LAMBDA_FAULTS), RUNS // 2)):
            fault = LAMBDA_FAULTS[run % len(LAMBDA_FAULTS)]
            name = rng.choice(list(QUERIES))
            sql, ordered = QUERIES[name]
            job_store = seaweed_s3.url("chaos-jobs", f"run{run}")
            options = QueryOptions(job_store=job_store, workers=4, split_size="64KB", reducers=2)
            plan = compile_query(sql, resolve_catalog(s3_tables), options)
            stage = rng.choice(plan.stages)
            task = rng.randrange(len(stage.tasks))
            lambda_endpoint.reset()
            if fault == "function-error":
                times = rng.randint(1, 3)  # three failures exhaust the two retries
                lambda_endpoint.fail_matching(stage=stage.id, task=task, times=times)
            elif fault == "timeout":
                lambda_endpoint.timeout_matching(stage=stage.id, task=task, times=1)
            else:
                lambda_endpoint.throttle_next(rng.randint(5, 40))
            figures.faults += 1
            figures.by_fault[fault] += 1
            started = time.monotonic()
            result_rows, outcome = None, None
            try:
                with Driver(executor, job_store, retries=2).run(plan) as result:
                    result_rows = result.read_all()
                outcome = (True, "")
            except sqlmr.SqlmrError as e:
                outcome = (False, f"error: {str(e).splitlines()[0]}\n")
            if time.monotonic() - started > BOUND:
                outcome = None

            def check(rows=result_rows, name=name, ordered=ordered) -> None:
                assert_same(rows, oracle[name], ordered)

            _judge(figures, name, f"lambda {name} {fault}", outcome, check)
            if storage_for(job_store).list(job_store):
                figures.leaks += 1
                figures.problems.append(f"lambda {name} {fault}: objects left in {job_store}")
    finally:
        executor.close()
        lambda_endpoint.reset()
    with capsys.disabled():
        print("\n" + figures.line("lambda"))
    assert (figures.wrong, figures.hangs, figures.leaks) == (0, 0, 0), figures.problems
