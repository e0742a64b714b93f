"""One benchmark run of one engine, in its own process: `python -m sqlmr_benchmarks.engines`.

It writes the result rows to an Arrow file for verification and prints one JSON line with the
wall time and the peak RSS of the process and of its workers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import pyarrow as pa

from .queries import QUERIES, BenchQuery


def _duckdb_columns(table: str) -> str:
    """The read_csv columns of an Amplab table, from sqlmr's own catalog (one schema)."""
    from sqlmr.catalog import AMPLAB_SCHEMAS, TYPE_NAMES

    return (
        "{" + ", ".join(f"'{c.name}': '{TYPE_NAMES[c.type]}'" for c in AMPLAB_SCHEMAS[table]) + "}"
    )


def _rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _own_peak_mb() -> float:
    """This process's peak RSS. ru_maxrss survives exec on Linux (it would report the harness
    that forked us), so read the high-water mark of this address space instead."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return _rss_mb(resource.RUSAGE_SELF)


DUCKDB_DATA_ENV = "SQLMR_BENCH_DUCKDB_DATA"
"""A folder of the same tables as plain text, for DuckDB when it cannot read sqlmr's objects
(Hadoop .deflate, bzip2): `sqlmr bench` sets it and says so in its report."""

# DuckDB's CSV reader decompresses these itself (by extension).
_DUCKDB_CODECS = (".gz", ".zst")


def _duckdb_source(data_dir: str, table: str) -> str:
    """DuckDB's reader over the same objects sqlmr reads: Parquet, gzip, zstd or plain text
    (or the plain text copy of DUCKDB_DATA_ENV, for objects DuckDB cannot read)."""
    data_dir = os.environ.get(DUCKDB_DATA_ENV) or data_dir
    folder = os.path.join(data_dir, table)
    names = [n for n in os.listdir(folder) if not n.startswith((".", "_"))]
    if names and all(n.endswith(".parquet") for n in names):
        return f"read_parquet('{os.path.join(folder, '*.parquet')}')"
    if names and any(n.endswith((".deflate", ".bz2")) for n in names):
        raise SystemExit(
            "DuckDB does not read Hadoop .deflate or bzip2 objects; use --engines sqlmr"
        )
    codec = next((c for c in _DUCKDB_CODECS if names and names[0].endswith(c)), None)
    path = os.path.join(folder, f"*{codec}" if codec else "part-*")
    return (
        f"read_csv('{path}', header = false, delim = ',', quote = '', escape = '', "
        f"columns = {_duckdb_columns(table)})"
    )


def run_duckdb(query: BenchQuery, data_dir: str, workers: int) -> tuple[pa.Table, float, int]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {workers}")
    for table in ("rankings", "uservisits"):
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM {_duckdb_source(data_dir, table)}")
    # A relation's own Arrow export: fetching a DB-API result (con.execute) copies the rows once
    # more, and DuckDB 2 warns so. DuckDB 1 names it arrow().
    relation = con.sql(query.sql)
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch(), 0.0, 0


def run_sqlmr(query: BenchQuery, data_dir: str, workers: int) -> tuple[pa.Table, float, int]:
    """sqlmr's rows, its workers' peak RSS, and the bytes its scans read from storage."""
    from sqlmr.api import QueryOptions, execute, resolve_catalog

    options = QueryOptions(workers=workers)
    # One call, as DuckDB's con.sql: the workers start while the query compiles.
    with execute(query.sql, resolve_catalog(data_dir), options) as result:
        table = result.read_all()
        scans = {s.id for s in result.plan.stages if _reads_tables(s.source)}
        worker_rss = max(s.max_rss_mb for s in result.stages)
        read = sum(s.bytes_in for s in result.stages if s.id in scans)
    return table, worker_rss, read


def _reads_tables(source: dict) -> bool:
    if source["type"] == "scan":
        return True
    return source["type"] == "join" and any(
        source[side]["source"]["type"] == "scan" for side in ("left", "right")
    )


def run_classic(query: BenchQuery, data_dir: str, workers: int) -> tuple[pa.Table, float, int]:
    from . import classic

    names, columns = classic.run(query, data_dir, workers)
    return pa.table(dict(zip(names, columns, strict=True))), 0.0, 0


def run_sqlmr_cli(query: BenchQuery, data_dir: str, workers: int):
    from .cli import run_sqlmr_cli as run

    table, first_row, seconds = run(query.sql, data_dir, workers)
    return table, 0.0, 0, {"first_row": first_row, "seconds": seconds}


def run_duckdb_cli(query: BenchQuery, data_dir: str, workers: int):
    from .cli import run_duckdb_cli as run
    from .cli import view_statements

    table, first_row, seconds = run(query.sql, view_statements(data_dir, _duckdb_source), workers)
    return table, 0.0, 0, {"first_row": first_row, "seconds": seconds}


ENGINES = {
    "sqlmr": run_sqlmr,
    "duckdb": run_duckdb,
    "classic": run_classic,
    # Whole processes, start-up included, timed to the first row and to the end (cli.py).
    "sqlmr-cli": run_sqlmr_cli,
    "duckdb-cli": run_duckdb_cli,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=sorted(ENGINES), required=True)
    parser.add_argument("--query", choices=sorted(QUERIES), required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", required=True, help="Arrow IPC file for the result rows")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    table, worker_rss, bytes_read, *timed = ENGINES[args.engine](
        QUERIES[args.query], args.data, args.workers
    )
    seconds = time.perf_counter() - started
    first_row = None
    if timed:  # a whole-process engine timed its own process
        seconds, first_row = timed[0]["seconds"], timed[0]["first_row"]
    with pa.OSFile(args.out, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    children = _rss_mb(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": table.num_rows,
                "rss_mb": round(_own_peak_mb(), 1),
                "worker_rss_mb": round(max(worker_rss, children), 1),
                "bytes_read": bytes_read,
                "first_row": first_row,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
