"""`sqlmr bench tpch`: the 22 queries with sqlmr and DuckDB on the same .tbl files, interleaved.

Per query and run, DuckDB (views over read_csv of the same files, so it parses text as sqlmr
does) and then sqlmr run; the results must agree (floats within 1e-9 relative; DuckDB's
DECIMALs compared as floats). Reported: median seconds of each engine and their ratio, stages
and tasks, shuffle bytes, and the peak resident memory of sqlmr's workers.
"""

from __future__ import annotations

import decimal
import math
import os
import statistics
import time
from dataclasses import asdict, dataclass, field

import duckdb
from sqlmr_benchmarks.tpch import QUERIES, query_text

TABLES = ("region", "nation", "part", "supplier", "partsupp", "customer", "orders", "lineitem")


class TpchBenchError(Exception):
    """The engines disagreed on a query, or the data is missing."""


@dataclass
class QueryResult:
    """All runs of one query."""

    query: int
    sqlmr: list[float] = field(default_factory=list)
    duckdb: list[float] = field(default_factory=list)
    rows: int = 0
    stages: int = 0
    tasks: int = 0
    shuffle_bytes: int = 0
    worker_peak_mb: float = 0.0
    refused: str = ""  # the construct sqlmr refuses (then nothing is timed)

    @property
    def ratio(self) -> float:
        if self.refused:
            return float("nan")
        return statistics.median(self.sqlmr) / statistics.median(self.duckdb)

    def summary(self) -> dict:
        nan = float("nan")
        return {
            **asdict(self),
            "sqlmr_median": statistics.median(self.sqlmr) if self.sqlmr else nan,
            "duckdb_median": statistics.median(self.duckdb) if self.duckdb else nan,
            "ratio": self.ratio,
        }


def duck_connection(root: str, columns_of, materialize: bool = False) -> duckdb.DuckDBPyConnection:
    """DuckDB over the TPC-H .tbl files under root: views (parsed at every query, as sqlmr
    does) or, with materialize, tables. dbgen's trailing '|' is read as one more field and
    dropped."""
    con = duckdb.connect()
    kind = "TABLE" if materialize else "VIEW"
    for table in TABLES:
        cols = ", ".join(f"'{n}': '{t}'" for n, t in columns_of(table))
        glob = os.path.join(root, table, "*.tbl").replace("'", "''")
        con.execute(
            f"CREATE {kind} {table} AS SELECT * EXCLUDE (__trailing) FROM read_csv('{glob}', "
            "header=false, delim='|', quote='', escape='', auto_detect=false, "
            f"columns={{{cols}, '__trailing': 'VARCHAR'}})"
        )
    return con


def _same(a: object, b: object) -> bool:
    """sqlmr's value `a` equals DuckDB's `b`: DECIMALs exactly, DOUBLEs within 1e-9 relative."""
    if isinstance(b, decimal.Decimal):
        return isinstance(a, decimal.Decimal) and a == b
    if isinstance(a, decimal.Decimal):
        a = float(a)
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _key(row: tuple) -> tuple:
    return tuple(
        (v is None, round(float(v), 6) if isinstance(v, (float, decimal.Decimal)) else v)
        for v in row
    )


def verify(n: int, got: list[tuple], expected: list[tuple], ordered: bool) -> None:
    """Raise TpchBenchError unless sqlmr's rows equal DuckDB's."""
    if len(got) != len(expected):
        raise TpchBenchError(f"Q{n}: sqlmr returned {len(got)} rows, DuckDB {len(expected)}")
    if not ordered:
        got, expected = sorted(got, key=_key), sorted(expected, key=_key)
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        if len(a) != len(b) or not all(map(_same, a, b)):
            raise TpchBenchError(f"Q{n} row {i}: sqlmr {a} != DuckDB {b}")


def run_bench(
    data: str, queries: list[int], runs: int, workers: int, columns_of
) -> list[QueryResult]:
    """Interleaved runs (DuckDB, then sqlmr) of each query; every run's results verified."""
    from sqlmr.api import QueryOptions, compile_query, resolve_catalog, run
    from sqlmr.errors import UnsupportedError

    catalog = resolve_catalog(data)
    con = duck_connection(data, columns_of)
    options = QueryOptions(workers=workers)
    results = []
    for n in queries:
        if n not in QUERIES:
            raise TpchBenchError(f"TPC-H has queries 1 to 22, not {n}")
        sql = query_text(n)
        r = QueryResult(n)
        try:
            compile_query(sql, catalog, options)
        except UnsupportedError as e:
            r.refused = str(e).splitlines()[0]
            results.append(r)
            continue
        for _ in range(runs):
            t0 = time.perf_counter()
            expected = con.execute(sql).fetchall()
            r.duckdb.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            plan = compile_query(sql, catalog, options)
            with run(plan, options) as job:
                table = job.read_all()
                stats = job.stages
            r.sqlmr.append(time.perf_counter() - t0)
            got = [tuple(row.values()) for row in table.to_pylist()]
            verify(n, got, expected, ordered="order by" in sql.lower())
            r.rows, r.stages = len(got), len(plan.stages)
            r.tasks = sum(s.tasks for s in stats)
            shuffled = {s.id for s in plan.stages if s.sink.get("type") == "shuffle"}
            r.shuffle_bytes = sum(s.bytes_out for s in stats if s.id in shuffled)
            r.worker_peak_mb = max([r.worker_peak_mb, *(s.max_rss_mb for s in stats)])
        results.append(r)
    return results


def geometric_mean(values: list[float]) -> float:
    """The geometric mean of the ratios that are numbers (refused queries are left out)."""
    values = [v for v in values if not math.isnan(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")
