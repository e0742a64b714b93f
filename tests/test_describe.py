"""Seeing what exists: SHOW TABLES, DESCRIBE table and DESCRIBE SELECT as SQL statements and as
the `tables` and `describe` commands, answered from the catalog with no job, checked against
DuckDB's DESCRIBE over the same files."""

from __future__ import annotations

import csv
import io
import os

import pytest

from sqlmr.cli import main
from sqlmr.execution import driver


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def no_jobs(monkeypatch):
    """Fail the test if the driver starts a job."""

    def refuse(*args, **kwargs):
        raise AssertionError("a job was started")

    monkeypatch.setattr(driver.Driver, "run", refuse)


def test_show_tables(amplab_dir, edge_dir, capsys, no_jobs):
    rc, out, err = _cli(capsys, "query", "SHOW TABLES", "--tables", amplab_dir)
    assert rc == 0, err
    assert _csv(out) == [["name"], ["rankings"], ["uservisits"]]
    rc, out, err = _cli(capsys, "tables", "--tables", edge_dir, "--format", "csv")
    assert rc == 0, err
    assert _csv(out) == [["name"], ["edge"]]


@pytest.mark.parametrize("table", ["uservisits", "rankings", "edge"])
def test_describe_table_matches_duckdb(amplab_dir, edge_dir, duck, capsys, no_jobs, table):
    folder = edge_dir if table == "edge" else amplab_dir
    rc, out, err = _cli(capsys, "query", f"DESCRIBE {table}", "--tables", folder)
    assert rc == 0, err
    expected = [(r[0], r[1]) for r in duck.execute(f"DESCRIBE {table}").fetchall()]
    assert [tuple(r) for r in _csv(out)[1:]] == expected
    assert _csv(out)[0] == ["column_name", "column_type"]


def test_describe_select_matches_duckdb(amplab_dir, duck, capsys, no_jobs):
    sql = (
        "SELECT countryCode AS c, COUNT(*) AS n, AVG(duration) AS a, SUM(adRevenue) AS s, "
        "MAX(visitDate) AS last FROM uservisits GROUP BY countryCode"
    )
    rc, out, err = _cli(capsys, "query", f"DESCRIBE {sql}", "--tables", amplab_dir)
    assert rc == 0, err
    expected = [(r[0], r[1]) for r in duck.execute(f"DESCRIBE {sql}").fetchall()]
    assert [tuple(r) for r in _csv(out)[1:]] == expected


def test_describe_errors_keep_their_position(amplab_dir, capsys):
    rc, _, err = _cli(
        capsys, "query", "DESCRIBE SELECT nosuch FROM rankings", "--tables", amplab_dir
    )
    assert rc == 1 and "line 1, column 17" in err and "nosuch" in err
    rc, _, err = _cli(capsys, "query", "DESCRIBE nosuch", "--tables", amplab_dir)
    assert rc == 1 and "unknown table 'nosuch'" in err and "rankings" in err


def test_describe_command_shows_objects_and_size(amplab_dir, capsys, no_jobs):
    rc, out, err = _cli(
        capsys, "describe", "uservisits", "--tables", amplab_dir, "--format", "table"
    )
    assert rc == 0, err
    folder = os.path.join(amplab_dir, "uservisits")
    files = [os.path.join(folder, f) for f in os.listdir(folder) if not f.startswith((".", "_"))]
    total = sum(os.path.getsize(f) for f in files)
    assert f"{len(files)} object(s)" in out and f"({total:,} bytes)" in out
    assert "partition columns: (none)" in out
    assert "adRevenue" in out and "DOUBLE" in out


def test_explain_says_describe_needs_no_job(amplab_dir, capsys):
    rc, out, err = _cli(capsys, "explain", "SHOW TABLES", "--tables", amplab_dir)
    assert rc == 0, err
    assert "answered by the driver, no job" in out
