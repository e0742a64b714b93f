"""Atomic, honest output (issue 13, "Found" 5 and 6): -o FILE is renamed into place only when
complete, -o DIR/ refuses a folder that holds files unless --overwrite, which swaps the new
parts in whole, and parts get the mode of single files. Results are checked against DuckDB."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
from pathlib import Path

import duckdb
import pytest
from conftest import AMPLAB_COLUMNS, duck_table
from processes import CLI, files_below

from sqlmr.cli.app import main

ROWS = 30_000
MANY = "SELECT pageURL, pageRank FROM rankings"  # one part per map task
ONE = "SELECT COUNT(*) AS n, SUM(pageRank) AS s FROM rankings"  # one part


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("output-tables")
    (root / "rankings").mkdir()
    lines = "".join(f"page{i},{i % 1000},{i % 9}\n" for i in range(ROWS))
    (root / "rankings" / "part-00000").write_text(lines)
    return root


def duck(tables: Path, sql: str) -> list[tuple]:
    con = duckdb.connect()
    duck_table(con, "rankings", tables / "rankings", AMPLAB_COLUMNS["rankings"])
    return sorted(con.execute(sql).fetchall())


def query(tables: Path, sql: str, *extra: str) -> int:
    argv = ["query", sql, "--tables", str(tables), "--workers", "2", "--split-size", "64KB"]
    return main([*argv, *extra])


def read_folder(folder: Path) -> list[tuple]:
    manifest = json.loads((folder / "_manifest.json").read_text())
    parts = sorted(p.name for p in folder.glob("part-*"))
    assert manifest["parts"] == parts
    got = duckdb.sql(f"SELECT * FROM read_csv('{folder}/part-*.csv', header=true)").fetchall()
    assert manifest["rows"] == len(got)
    return sorted(got)


def test_folder_output_refuses_a_folder_with_files(tables: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    assert query(tables, MANY, "-o", f"{out}/", "--format", "csv") == 0
    before = files_below(out)
    assert len(before) > 2
    capsys.readouterr()
    assert query(tables, ONE, "-o", f"{out}/", "--format", "csv") == 1
    err = capsys.readouterr().err
    assert "is not empty" in err and "--overwrite" in err
    assert files_below(out) == before


def test_overwrite_replaces_every_old_part(tables: Path, tmp_path: Path, capsys):
    # Found 5: `-o DIR/` kept stale parts of an earlier run: 71 rows instead of 1.
    out = tmp_path / "out"
    assert query(tables, MANY, "-o", f"{out}/", "--format", "csv") == 0
    assert read_folder(out) == duck(tables, MANY)
    assert query(tables, ONE, "-o", f"{out}/", "--format", "csv", "--overwrite") == 0
    assert read_folder(out) == duck(tables, ONE)
    assert files_below(tmp_path) == ["out/_manifest.json", "out/part-00000.csv"]


def test_parts_have_the_mode_of_single_files(tables: Path, tmp_path: Path):
    assert query(tables, ONE, "-o", str(tmp_path / "one.csv")) == 0
    assert query(tables, ONE, "-o", f"{tmp_path / 'dir'}/", "--format", "csv") == 0
    single = (tmp_path / "one.csv").stat().st_mode
    assert (tmp_path / "dir" / "part-00000.csv").stat().st_mode == single


def _small_files(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG

    return apply


def test_full_disk_keeps_the_old_file(tables: Path, tmp_path: Path):
    # Found 6: a full disk during -o FILE left a truncated file and the old content was gone.
    # A disk that fills is simulated with RLIMIT_FSIZE: a write past 100 KB fails (EFBIG) as
    # one past the free space would (ENOSPC); the job's own objects stay under the limit.
    target = tmp_path / "result.csv"
    target.write_text("old,content\n")
    argv = ["query", MANY, "--tables", str(tables), "--workers", "2", "--split-size", "32KB"]
    process = subprocess.run(
        [*CLI, *argv, "-o", str(target), "--job-store", str(tmp_path / "jobs")],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_small_files(100_000),
    )
    assert process.returncode == 1, process.stderr
    assert "cannot write" in process.stderr and "File too large" in process.stderr
    assert target.read_text() == "old,content\n"
    assert files_below(tmp_path) == ["result.csv"]
