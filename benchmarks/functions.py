"""Scalar functions and UNION ALL against DuckDB on the same Amplab rankings files.

    python -m sqlmr_benchmarks.functions DIR [--runs 3] [--workers 2]

DIR is an `sqlmr gen amplab` folder. Each query runs through sqlmr and DuckDB in turn, run after
run (interleaved, so load on the machine falls on both); the first run's answers are printed
side by side, then the median seconds and the ratio. `base` is the same scan and filter without
the functions, for the functions' own share.
"""

from __future__ import annotations

import argparse
import statistics
import time

import duckdb

import sqlmr

QUERIES = {
    "base": "SELECT COUNT(*), SUM(pageRank), SUM(LENGTH(pageURL)) FROM rankings "
    "WHERE avgDuration > 10",
    "numeric": "SELECT COUNT(*), SUM(ROUND(pageRank / 7, 2)), SUM(ABS(avgDuration - 50)), "
    "SUM(FLOOR(pageRank / 3)), SUM(GREATEST(pageRank, avgDuration)), "
    "SUM(COALESCE(NULLIF(pageRank, 1), 0)) FROM rankings WHERE avgDuration > 10",
    "string": "SELECT COUNT(*), SUM(STRPOS(pageURL, 'q')), SUM(LENGTH(LPAD(pageURL, 30, '*'))), "
    "SUM(LENGTH(REPLACE(TRIM(pageURL, 'a'), 'b', 'xy'))) FROM rankings "
    "WHERE STARTS_WITH(pageURL, 'u') OR REGEXP_MATCHES(pageURL, 'zz[a-f]')",
    "union": "SELECT COUNT(*), SUM(x) FROM (SELECT pageRank AS x FROM rankings "
    "WHERE avgDuration > 10 UNION ALL SELECT avgDuration FROM rankings WHERE pageRank > 10) u",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW rankings AS SELECT * FROM read_csv('{args.folder}/rankings/*', "
        "header=false, columns={'pageURL': 'VARCHAR', 'pageRank': 'INTEGER', "
        "'avgDuration': 'INTEGER'})"
    )
    times: dict[tuple[str, str], list[float]] = {}
    for run in range(args.runs):
        for name, query in QUERIES.items():
            t0 = time.perf_counter()
            ours = sqlmr.sql(query, args.folder, workers=args.workers).to_pylist()
            t1 = time.perf_counter()
            theirs = con.execute(query).fetchall()
            t2 = time.perf_counter()
            times.setdefault((name, "sqlmr"), []).append(t1 - t0)
            times.setdefault((name, "duckdb"), []).append(t2 - t1)
            if run == 0:
                print(f"{name}: sqlmr {list(ours[0].values())} duckdb {list(theirs[0])}")
    for name in QUERIES:
        ours = statistics.median(times[(name, "sqlmr")])
        theirs = statistics.median(times[(name, "duckdb")])
        print(f"{name:8s} sqlmr {ours:6.3f}s  duckdb {theirs:6.3f}s  ratio {ours / theirs:5.2f}")


if __name__ == "__main__":
    main()
