"""Atomic, honest output (issue 13, "Found" 5 and 6): -o FILE is renamed into place only when
complete, -o DIR/ refuses a folder that holds files unless --overwrite, which swaps the new
parts in whole, and parts get the mode of single files. Results are checked against DuckDB."""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
import subprocess
import threading
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
    assert (tmp_path / "dir" / "_manifest.json").stat().st_mode == single  # was 0600


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


# -- -o FILE through links, FIFOs, devices and descriptors -----------------------------------------


def duck_csv(tables: Path, sql: str, folder: Path) -> str:
    """`sql` as DuckDB's own COPY writes it in CSV."""
    con = duckdb.connect()
    duck_table(con, "rankings", tables / "rankings", AMPLAB_COLUMNS["rankings"])
    con.execute(f"COPY ({sql}) TO '{folder / 'duck.csv'}' (FORMAT csv)")
    return (folder / "duck.csv").read_text()


@pytest.mark.parametrize("existing", [True, False])
def test_a_symlink_is_written_through_to_its_target(tables: Path, tmp_path: Path, existing):
    # -o link.csv replaced the link with a regular file and left its target as it was.
    (tmp_path / "data").mkdir()
    target = tmp_path / "data" / "real.csv"
    if existing:
        target.write_text("old\n")
        target.chmod(0o640)
    (tmp_path / "link.csv").symlink_to("data/real.csv")  # relative, as `ln -s` makes them
    assert query(tables, ONE, "-o", str(tmp_path / "link.csv")) == 0
    assert (tmp_path / "link.csv").is_symlink()
    assert target.read_text() == duck_csv(tables, ONE, tmp_path)
    if existing:  # replaced, as `> FILE` does, with the mode it had
        assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["real.csv"]


def test_a_fifo_is_written_in_place(tables: Path, tmp_path: Path, monkeypatch):
    # -o FIFO replaced the FIFO with a regular file: its reader waited forever.
    monkeypatch.setattr("sqlmr.cli.targets.FIFO_WAIT_SECONDS", 30.0)
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    try:
        assert query(tables, ONE, "-o", str(fifo)) == 0
        reader.join(timeout=30)
    finally:
        if reader.is_alive():  # the CLI never opened it: let the reader see an end
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            reader.join(timeout=5)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert got == [duck_csv(tables, ONE, tmp_path).encode()]


def test_a_fifo_nobody_reads_is_an_error_not_a_hang(tables: Path, tmp_path: Path, capsys):
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sqlmr.cli.targets.FIFO_WAIT_SECONDS", 0.3)
        assert query(tables, ONE, "-o", str(fifo)) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith(f"error: cannot write {fifo}: nothing read the FIFO")
        and err.count("\n") == 1
    )
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_link_to_a_device_is_written_in_place(tables: Path, tmp_path: Path):
    (tmp_path / "null.csv").symlink_to(os.devnull)
    assert query(tables, ONE, "-o", str(tmp_path / "null.csv")) == 0
    assert (tmp_path / "null.csv").is_symlink()
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null.csv"]


def test_a_link_to_a_descriptor_writes_through_it(tables: Path, tmp_path: Path):
    # What /dev/stdout is: a link to /proc/self/fd/1. Replacing the link wrote nothing to the
    # descriptor; opening it anew would overwrite a file the caller appends to.
    log = tmp_path / "log.csv"
    log.write_text("before\n")
    (tmp_path / "dev").mkdir()
    with log.open("ab") as appending:
        (tmp_path / "dev" / "out").symlink_to(f"/proc/self/fd/{appending.fileno()}")
        assert query(tables, ONE, "-o", str(tmp_path / "dev" / "out"), "--format", "csv") == 0
    assert (tmp_path / "dev" / "out").is_symlink()
    assert log.read_text() == "before\n" + duck_csv(tables, ONE, tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
def test_a_read_only_file_is_refused(tables: Path, tmp_path: Path, capsys):
    target = tmp_path / "ro.csv"
    target.write_text("old\n")
    target.chmod(0o444)
    assert query(tables, ONE, "-o", str(target)) == 1
    assert "cannot write" in capsys.readouterr().err
    assert target.read_text() == "old\n" and target.stat().st_mode & 0o777 == 0o444
