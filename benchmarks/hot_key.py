"""A shuffled join with one hot key (issue 13, "Found" 8b): peak worker memory, sqlmr and DuckDB.

  python -m sqlmr_benchmarks.hot_key --tables DIR [--runs 3] [--workers 2]
      [--task-memory 1536MB] [--before PKGS] [--json FILE]

DIR is Amplab text (`sqlmr gen amplab --scale 0.01 --out DIR`). The query joins uservisits to
rankings on a key that is one URL for every visit of duration <= 5 (half of the rows) and the
visit's own destURL otherwise, so one partition of the join holds half of uservisits whatever
the partition count; the join is forced to be a shuffle join (--broadcast-threshold 1B).

Each run starts a fresh interpreter per engine, interleaved: sqlmr (this checkout), sqlmr as
it was before the skew-aware join (`--before PKGS`: a folder holding the older `sqlmr` and
`sqlmr_runtime` packages, put first on PYTHONPATH), and DuckDB over the same files. It reports
the wall time, sqlmr's largest worker (ru_maxrss of the task summaries, as Lambda's Max Memory
Used), the join stage's tasks and the partitions split, DuckDB's own peak RSS (VmHWM), and
checks that every engine's row equals DuckDB's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from .engines import _duckdb_source, _own_peak_mb

QUERY = (
    "SELECT COUNT(*) AS n, SUM(u.adRevenue) AS revenue, SUM(r.pageRank) AS rank_sum, "
    "MAX(u.userAgent) AS agent, MAX(u.searchWord) AS word "
    "FROM uservisits u JOIN rankings r ON (CASE WHEN u.duration <= 5 THEN '{hot}' "
    "ELSE u.destURL END) = r.pageURL"
)


def _hot_url(tables: str) -> str:
    """The first pageURL of rankings: the key half of the visits join on."""
    folder = os.path.join(tables, "rankings")
    first = sorted(n for n in os.listdir(folder) if not n.startswith((".", "_")))[0]
    with open(os.path.join(folder, first), encoding="utf-8") as f:
        return f.readline().split(",", 1)[0]


def _child_sqlmr(sql: str, tables: str, workers: int, task_memory: str) -> dict:
    from sqlmr.api import QueryOptions, compile_query, resolve_catalog, run
    from sqlmr.planning.splits import parse_size

    options = QueryOptions(
        workers=workers, task_memory=parse_size(task_memory), broadcast_threshold=1
    )
    started = time.perf_counter()
    plan = compile_query(sql, resolve_catalog(tables), options)
    joins = {s.id for s in plan.stages if s.source["type"] == "join"}
    with run(plan, options) as result:
        row = result.read_all().to_pylist()[0]
        join = next(s for s in result.stages if s.id in joins)
        return {
            "seconds": time.perf_counter() - started,
            "row": row,
            "worker_mb": max(s.max_rss_mb for s in result.stages),
            "join_worker_mb": join.max_rss_mb,
            "join_tasks": join.tasks,
            "splits": list(getattr(join, "splits", [])),
        }


def _child_duckdb(sql: str, tables: str, workers: int) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {workers}")
    for table in ("rankings", "uservisits"):
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM {_duckdb_source(tables, table)}")
    started = time.perf_counter()
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    row = dict(zip(names, cursor.fetchone(), strict=True))
    return {"seconds": time.perf_counter() - started, "row": row, "peak_mb": _own_peak_mb()}


def _run(engine: str, args: argparse.Namespace, workdir: str) -> dict:
    env = dict(os.environ)
    if engine == "sqlmr-before":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.before, env.get("PYTHONPATH")]))
    argv = [sys.executable, "-m", "sqlmr_benchmarks.hot_key", "--child", engine]
    argv += ["--tables", args.tables, "--workers", str(args.workers)]
    argv += ["--task-memory", args.task_memory]
    # cwd: not the checkout, whose packages would shadow --before's on sys.path.
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=workdir, timeout=900)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": last}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _same(a: dict, b: dict) -> bool:
    for key, value in b.items():
        other = a.get(key)
        if isinstance(value, float) and isinstance(other, float):
            if abs(value - other) > 1e-9 * max(1.0, abs(value)):
                return False
        elif other != value:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--task-memory", default="1536MB")
    parser.add_argument("--before", help="folder with the older sqlmr and sqlmr_runtime")
    parser.add_argument("--json", help="write the raw runs here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sql = QUERY.format(hot=_hot_url(args.tables))
    if args.child:
        if args.child == "duckdb":
            out = _child_duckdb(sql, args.tables, args.workers)
        else:
            out = _child_sqlmr(sql, args.tables, args.workers, args.task_memory)
        print(json.dumps(out, default=str))
        return 0
    engines = ["sqlmr", *(["sqlmr-before"] if args.before else []), "duckdb"]
    runs: dict[str, list[dict]] = {e: [] for e in engines}
    with tempfile.TemporaryDirectory() as workdir:
        for i in range(args.runs):
            for engine in engines:
                runs[engine].append(_run(engine, args, workdir))
                print(f"run {i + 1} {engine}: {json.dumps(runs[engine][-1])}", file=sys.stderr)
    expected = runs["duckdb"][0]["row"]
    print(f"query: {sql}\n{args.workers} workers, --task-memory {args.task_memory}")
    for engine in engines:
        ok = [r for r in runs[engine] if "error" not in r]
        if not ok:
            print(f"{engine:13s} failed: {runs[engine][0]['error']}")
            continue
        seconds = statistics.median(r["seconds"] for r in ok)
        same = all(_same(json.loads(json.dumps(r["row"], default=str)), expected) for r in ok)
        if engine == "duckdb":
            peak = max(r["peak_mb"] for r in ok)
            print(f"{engine:13s} {seconds:6.2f} s  peak {peak:7.1f} MB (process)")
            continue
        peak = max(r["worker_mb"] for r in ok)
        join = max(r["join_worker_mb"] for r in ok)
        print(
            f"{engine:13s} {seconds:6.2f} s  largest worker {peak:7.1f} MB, in the join "
            f"{join:7.1f} MB; join tasks {ok[0]['join_tasks']}; equal to DuckDB: {same}"
        )
        for line in ok[0]["splits"]:
            print(f"{'':15s}{line}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"query": sql, "runs": runs}, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
