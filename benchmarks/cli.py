"""Whole-process engines for `sqlmr bench --engines sqlmr-cli,duckdb-cli`: start-up included.

`sqlmr-cli` runs `sqlmr query SQL --tables DIR --format csv` in a fresh interpreter, as a
user would; `duckdb-cli` runs DuckDB in a fresh interpreter (`python -c`, importing only
duckdb), its rows written by DuckDB's own CSV writer (`COPY … TO '/dev/stdout'`: Python's csv
module took most of DuckDB's time on the queries with millions of rows). Both print CSV to a
pipe; the wall time runs from the start of the process to its first result row (the second
line: the first is the header) and to its exit.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.csv as pacsv

SQLMR = "from sqlmr.cli import console; console()"
DUCKDB = """import sys, duckdb
sql, workers, views = sys.argv[1], sys.argv[2], sys.argv[3:]
con = duckdb.connect()
con.execute(f"SET threads = {workers}")
con.execute("SET enable_progress_bar = false")
for view in views:
    con.execute(view)
sql = sql.strip().rstrip(";")
con.execute(f"COPY ({sql}) TO '/dev/stdout' (FORMAT csv, HEADER)")
"""


def timed_csv(cmd: list[str]) -> tuple[pa.Table, float, float]:
    """Run a command that prints CSV; its rows, seconds to the first row and seconds to exit."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdout is not None
        head = proc.stdout.readline()
        first = proc.stdout.readline()
        first_row = time.perf_counter() - started
        rest = proc.stdout.read()  # the same buffered reader: nothing read ahead is lost
        proc.wait(timeout=3600)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip().splitlines()[-1:]
            raise SystemExit(f"{cmd[0]} failed: {(tail or ['(no output)'])[0]}")
    data = head + first + rest
    table = pacsv.read_csv(io.BytesIO(data)) if head else pa.table({})  # header only: no rows
    return table, first_row, seconds


def run_sqlmr_cli(sql: str, data_dir: str, workers: int) -> tuple[pa.Table, float, float]:
    """`sqlmr query` as a whole process."""
    cmd = [sys.executable, "-c", SQLMR, "query", sql, "--tables", data_dir]
    return timed_csv([*cmd, "--workers", str(workers), "--format", "csv"])


def run_duckdb_cli(sql: str, views: list[str], workers: int) -> tuple[pa.Table, float, float]:
    """DuckDB as a whole process, importing nothing but duckdb."""
    env_python = [sys.executable, "-c", DUCKDB, sql, str(workers), *views]
    return timed_csv(env_python)


def view_statements(data_dir: str, source: callable) -> list[str]:
    """CREATE VIEW statements for the Amplab tables over DuckDB's reader of the same files."""
    return [
        f"CREATE VIEW {t} AS SELECT * FROM {source(data_dir, t)}"
        for t in ("rankings", "uservisits")
        if os.path.isdir(os.path.join(data_dir, t))
    ]
