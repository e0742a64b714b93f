"""The driver's failure paths (issue 13, "Found" 1, 4, 6, 7): a failed task is reported as itself
(also while tracing), cleanup never hides the error that caused it, and a failed job leaves no
object behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import assert_same
from sqlmr_runtime.errors import StorageError
from sqlmr_runtime.storage import LocalStorage

import sqlmr
from sqlmr import TaskError
from sqlmr.cli.app import main


@pytest.fixture()
def bad_tables(tmp_path: Path) -> Path:
    """A rankings table whose second file has a malformed row: a deterministic task failure."""
    root = tmp_path / "tables"
    (root / "rankings").mkdir(parents=True)
    (root / "rankings" / "part-00000").write_text("".join(f"u{i},{i},1\n" for i in range(50)))
    (root / "rankings" / "part-00001").write_text("a,1,2\nb,2\n")
    return root


def test_trace_of_a_failed_task_keeps_the_real_error(bad_tables: Path, tmp_path: Path, capsys):
    # Found 4: with --trace, any failed task became "internal error: TypeError".
    trace = tmp_path / "trace.json"
    argv = ["query", "SELECT COUNT(*) FROM rankings", "--tables", str(bad_tables)]
    rc = main([*argv, "--workers", "2", "--trace", str(trace), "--job-store", str(tmp_path / "j")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "malformed row at byte offset 6" in err and "internal error" not in err
    assert trace.exists() and '"error": true' in trace.read_text()
    assert not list((tmp_path / "j").glob("*"))  # the failed job left nothing


def test_cleanup_failure_does_not_hide_the_task_error(bad_tables: Path, tmp_path, monkeypatch):
    # Found 7: when the job-store cleanup failed, its error replaced the task's.
    def refuse(self, prefix: str) -> None:
        raise StorageError(f"cannot delete {prefix}: permission denied")

    monkeypatch.setattr(LocalStorage, "delete_prefix", refuse)
    options = sqlmr.QueryOptions(workers=2, job_store=str(tmp_path / "jobs"))
    plan = sqlmr.compile_query(
        "SELECT COUNT(*) FROM rankings", sqlmr.resolve_catalog(str(bad_tables)), options
    )
    with pytest.raises(TaskError) as info:
        sqlmr.run(plan, options)
    assert "malformed row" in str(info.value)
    assert any("cannot remove the objects of job" in n for n in info.value.__notes__)


def test_cleanup_failure_after_success_is_a_user_error(tmp_path: Path, monkeypatch, capsys):
    tables = tmp_path / "tables"
    (tables / "rankings").mkdir(parents=True)
    (tables / "rankings" / "part-00000").write_text("u,1,1\n")

    def refuse(self, prefix: str) -> None:
        raise StorageError("permission denied")

    monkeypatch.setattr(LocalStorage, "delete_prefix", refuse)
    rc = main(["query", "SELECT COUNT(*) FROM rankings", "--tables", str(tables), "--workers", "2"])
    err = capsys.readouterr().err
    assert rc == 1 and "cannot remove the objects of job" in err and "sqlmr gc" in err
    assert "Traceback" not in err and os.linesep not in err.strip()


def test_a_task_over_its_memory_budget_fails_naming_the_flag(tmp_path: Path, capsys):
    # Each local worker enforces --task-memory on its own memory (RssAnon), as Lambda does on
    # a function's: a worker holding pyarrow alone (about 30 MB) cannot fit in 20 MB.
    tables = tmp_path / "tables"
    (tables / "rankings").mkdir(parents=True)
    (tables / "rankings" / "part-00000").write_text("".join(f"u{i},{i},1\n" for i in range(999)))
    argv = ["query", "SELECT COUNT(*) FROM rankings", "--tables", str(tables), "--workers", "2"]
    rc = main([*argv, "--task-memory", "20MB", "--job-store", str(tmp_path / "jobs")])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1
    assert "out of task memory" in err and "over the budget of 20 MB" in err
    assert "--task-memory" in err and "--broadcast-threshold" not in err  # no join here
    assert not list((tmp_path / "jobs").glob("*"))


def test_a_broadcast_join_over_its_memory_budget_names_the_threshold(tmp_path: Path, capsys):
    # The side every task holds whole was sized from an estimate at plan time: the error says
    # that shuffling the join instead (a lower --broadcast-threshold) is the other remedy.
    tables = tmp_path / "tables"
    (tables / "rankings").mkdir(parents=True)
    (tables / "rankings" / "part-00000").write_text("".join(f"u{i},{i},1\n" for i in range(999)))
    sql = "SELECT COUNT(*) FROM rankings a JOIN rankings b ON a.pageURL = b.pageURL"
    argv = ["query", sql, "--tables", str(tables), "--workers", "2"]
    rc = main([*argv, "--task-memory", "20MB", "--job-store", str(tmp_path / "jobs")])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1
    assert "out of task memory" in err and "--broadcast-threshold" in err
    assert not list((tmp_path / "jobs").glob("*"))


def test_what_the_driver_holds_is_not_charged_to_its_tasks(amplab_dir: str, duck, tmp_path: Path):
    # A library caller's process (pytest's here, plus 300 MB more) forks the workers, which
    # inherit its pages: charged to the tasks, every task failed out of a 200 MB budget, and
    # under half the default budget every worker was replaced after each task.
    from sqlmr.execution import local

    sql = "SELECT SUBSTR(sourceIP, 1, 3) AS k, COUNT(*) AS n FROM uservisits GROUP BY 1"
    options = sqlmr.QueryOptions(workers=2, task_memory=200 << 20, job_store=str(tmp_path))
    plan = sqlmr.compile_query(sql, sqlmr.resolve_catalog(amplab_dir), options)
    local._shutdown()  # the workers are forked below, from the bigger process
    ballast = b"x" * (300 << 20)
    try:
        forked = {s.worker.process.pid for s in local._pool(2).slots}
        with sqlmr.run(plan, options) as result:
            table = result.read_all()
        kept = {s.worker.process.pid for s in local._pool(2).slots}
    finally:
        del ballast
        local._shutdown()  # later tests get workers without the ballast's pages
    assert_same(table, duck.execute(sql).fetchall(), ordered=False)
    assert kept == forked  # no worker was replaced as holding over half its budget


class _StubWorker:
    def __init__(self, used: float):
        self.used, self.killed = used, False

    def anon_mb(self) -> float:
        return self.used

    def kill(self) -> None:
        self.killed = True


@pytest.mark.parametrize(
    "used, ended, fails, killed",
    [
        (700, False, False, False),  # within the budget while running: left alone
        (700, True, False, True),  # ended holding over half: the worker is replaced
        (300, True, False, False),
        (1600, False, True, True),  # over the budget: the task fails, the worker is killed
    ],
)
def test_memory_budget_checks(used: float, ended: bool, fails: bool, killed: bool) -> None:
    from sqlmr.execution.local import _Slot, _Task

    worker = _StubWorker(used)
    task = _Task({}, None, 60.0, 1024.0)
    outcome = _Slot._over_budget(worker, task, ended=ended)
    assert (outcome is not None, worker.killed) == (fails, killed)
