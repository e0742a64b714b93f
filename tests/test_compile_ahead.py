"""`sqlmr query` compiles in a forked helper (sqlmr.compiler.ahead): the logical queries it
sends back as JSON plan exactly as the driver's own, and a script the helper cannot compile runs
and fails exactly as without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import AMPLAB_COLUMNS, assert_same, duck_connect, duck_parquet
from test_golden_plans import PLANS, QUERIES, write_tables

from sqlmr.api import QueryOptions, compile_query, plan_query, resolve_catalog
from sqlmr.compiler import analyze_query
from sqlmr.compiler.logical_json import decode, encode
from sqlmr.errors import PlanError


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ahead") / "tables"
    write_tables(root)
    return root


def test_every_golden_query_plans_the_same_through_the_json(tables: Path) -> None:
    catalog = resolve_catalog(str(tables))
    options = QueryOptions(workers=2, split_size="8KB", reducers=3)
    for name in QUERIES:
        sql = (PLANS / f"{name}.sql").read_text().strip()
        logical = analyze_query(sql, catalog)
        carried = decode(json.loads(json.dumps(encode(logical))))
        assert carried == logical and repr(carried) == repr(logical), name
        direct = compile_query(sql, catalog, options).to_json()
        assert plan_query(carried, sql, options).to_json() == direct, name


def test_the_json_builds_only_the_compiler_s_classes() -> None:
    with pytest.raises(PlanError, match="not a class"):
        decode({"d": "Popen", "v": {"args": "true"}})
    with pytest.raises(PlanError):
        encode(object())


def _sqlmr(args: list[str], ahead: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    code = "from sqlmr.cli import console; console()"
    env = {**os.environ, "SQLMR_COMPILE_AHEAD": ahead}
    return subprocess.run(
        [sys.executable, "-c", code, "query", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        input=stdin,
    )


def _duckdb_rows(amplab_dir: str, sql: str) -> list[str]:
    con = duckdb.connect()
    for table in ("rankings", "uservisits"):
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_csv('{amplab_dir}/{table}/*', "
            f"header = false, columns = {dict(AMPLAB_COLUMNS[table])})"
        )
    return sorted(",".join(str(v) for v in row) for row in con.execute(sql).fetchall())


def test_a_script_from_stdin_equals_duckdb_with_and_without_the_helper(
    amplab_dir, tmp_path: Path
) -> None:
    first = "SELECT pageURL, pageRank FROM rankings WHERE pageRank > 300"
    second = "SELECT countryCode, COUNT(*) FROM uservisits GROUP BY countryCode"
    script = f"{first};\nDESCRIBE rankings;\n{second};\n"
    outputs = {}
    for ahead in ("1", "0"):
        out = tmp_path / ahead / "out.csv"
        out.parent.mkdir()
        flags = ["-", "--tables", str(amplab_dir), "-o", str(out), "--workers", "2"]
        done = _sqlmr(flags, ahead, stdin=script)
        assert done.returncode == 0, done.stderr
        outputs[ahead] = [(out.parent / f"out-{n}.csv").read_text() for n in (1, 2, 3)]
    assert outputs["1"] == outputs["0"]
    rows, described, grouped = (text.splitlines() for text in outputs["1"])
    assert sorted(rows[1:]) == _duckdb_rows(amplab_dir, first)
    assert [line.split(",")[0] for line in described[1:]] == ["pageURL", "pageRank", "avgDuration"]
    assert sorted(grouped[1:]) == _duckdb_rows(amplab_dir, second)


def test_a_bad_statement_fails_as_without_the_helper(amplab_dir) -> None:
    """The first query's rows are written, then the second's error with its caret: the driver
    compiles what the helper could not, and reports it the same way."""
    script = "SELECT COUNT(*) FROM rankings;\nSELECT nope FROM rankings;\nSELECT 1 FROM rankings"
    flags = [script, "--tables", str(amplab_dir), "--format", "csv", "--workers", "1"]
    runs = [_sqlmr(flags, ahead) for ahead in ("1", "0")]
    assert runs[0].returncode == runs[1].returncode == 1
    assert runs[0].stdout == runs[1].stdout
    assert runs[0].stderr == runs[1].stderr and "nope" in runs[0].stderr
    expected = _duckdb_rows(amplab_dir, "SELECT COUNT(*) FROM rankings")
    assert runs[0].stdout.splitlines()[1:] == expected


def test_the_helper_is_killed_and_reaped_when_the_driver_stops_waiting(amplab_dir) -> None:
    """close() before the result (the driver failed or was interrupted) leaves no process;
    a helper that answered is reaped by result(), or, if it was still exiting, by the next
    helper or at exit (reap_exiting)."""
    code = (
        "import json, os\n"
        "from sqlmr.catalog.resolve import resolve_catalog\n"
        "from sqlmr.compiler.ahead import CompileAhead\n"
        f"catalog = resolve_catalog({str(amplab_dir)!r})\n"
        "stopped = CompileAhead('SELECT COUNT(*) FROM rankings', catalog)\n"
        "pid = stopped.pid\n"
        "stopped.close()\n"
        "gone = []\n"
        "try:\n"
        "    os.kill(pid, 0)\n"
        "except ProcessLookupError:\n"
        "    gone.append(True)\n"
        "done = CompileAhead('SELECT COUNT(*) FROM rankings; SHOW TABLES', catalog)\n"
        "answered = done.pid\n"
        "found = done.result()\n"
        "from sqlmr.compiler.ahead import reap_exiting\n"
        "reap_exiting()\n"
        "try:\n"
        "    os.kill(answered, 0)\n"
        "except ProcessLookupError:\n"
        "    gone.append(True)\n"
        "print(json.dumps([gone, done.pid, [(p.kind, p.logical is not None) for p in found]]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    gone, pid, found = json.loads(done.stdout.splitlines()[-1])
    assert gone == [True, True] and pid == 0
    assert found == [["query", True], ["show_tables", False]]


def test_no_helper_for_tables_on_s3(amplab_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    """A query naming S3 objects is compiled by the driver alone: the helper's requests would be
    missing from the driver's cost table, so it would give up after listing them."""
    from sqlmr.cli.app import build_parser
    from sqlmr.cli.query import _compile_ahead
    from sqlmr.compiler import ahead

    monkeypatch.setattr(ahead, "enabled", lambda: True)
    sql = "SELECT COUNT(*) FROM 's3://bucket/rankings/*'"
    args = build_parser(["query"]).parse_args(["query", sql, "--tables", str(amplab_dir)])
    assert _compile_ahead(args) is None


_LIBRARY = """
import json, sys
import pyarrow.parquet as pq
from sqlmr.api import QueryOptions, compile_query, execute, resolve_catalog, run
from sqlmr.errors import SqlmrError
root, sql, out, how = sys.argv[1:]
options = QueryOptions(workers=2, split_size="4KB")
try:
    if how == "execute":  # one call: the local workers start while the helper compiles
        with execute(sql, resolve_catalog(root), options) as result:
            plan = result.plan
            pq.write_table(result.read_all(), out)
    else:
        plan = compile_query(sql, resolve_catalog(root), options)
        with run(plan, options) as result:
            pq.write_table(result.read_all(), out)
except SqlmrError as e:
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
    sys.exit(0)
# A cold process's first query: with the helper, only a query it could not analyse (bad SQL)
# loads sqlglot in the driver.
print(json.dumps({"plan": plan.to_json()["stages"], "sqlglot": "sqlglot" in sys.modules}))
"""


def test_the_library_compiles_in_a_helper_as_it_does_alone(amplab_dir, tmp_path: Path) -> None:
    """compile_query's helper (sqlmr.compiler.ahead; a process's first query) plans exactly
    what the driver plans alone, over Parquet tables (whose footers the driver reads for it) and
    text, through compile_query and run or through execute (whose workers start while the helper
    compiles); bad SQL and a missing table raise the same errors; the results equal DuckDB's."""
    con = duck_connect(amplab_dir)
    for table in ("rankings", "uservisits"):
        (tmp_path / "pq" / table).mkdir(parents=True)
        con.execute(
            f"COPY {table} TO '{tmp_path}/pq/{table}/part-0.parquet' "
            "(FORMAT parquet, ROW_GROUP_SIZE 200)"
        )
    good = [
        ("pq", "SELECT pageURL, pageRank FROM rankings WHERE pageRank > 30"),
        ("pq", "SELECT SUBSTR(sourceIP, 1, 3), SUM(adRevenue) FROM uservisits GROUP BY 1"),
        (
            "pq",
            "SELECT r.pageRank, COUNT(*) FROM rankings r JOIN uservisits v "
            "ON r.pageURL = v.destURL GROUP BY r.pageRank",
        ),
        ("text", "SELECT countryCode, COUNT(*) FROM uservisits GROUP BY countryCode"),
    ]
    bad = [("pq", "SELECT pageURL FROM rankings WHERE"), ("pq", "SELECT x FROM nowhere")]
    roots = {"pq": str(tmp_path / "pq"), "text": amplab_dir}
    for i, (data, sql) in enumerate(good + bad):
        runs = []
        for ahead in ("1", "0"):
            out = tmp_path / f"{i}-{ahead}.parquet"
            how = "execute" if i % 2 else "compile_query"  # the same work, one call or two
            done = subprocess.run(
                [sys.executable, "-c", _LIBRARY, roots[data], sql, str(out), how],
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, "SQLMR_COMPILE_AHEAD": ahead},
            )
            assert done.returncode == 0, done.stderr
            runs.append(json.loads(done.stdout.splitlines()[-1]))
        helped, alone = runs
        if i >= len(good):
            assert "error" in helped and helped == alone, sql
            continue
        assert helped["plan"] == alone["plan"], sql
        assert not helped["sqlglot"] and alone["sqlglot"], sql
        oracle = duck_parquet(roots[data], "rankings", "uservisits") if data == "pq" else con
        expected = oracle.execute(sql).fetchall()
        for ahead in ("1", "0"):
            assert_same(pq.read_table(tmp_path / f"{i}-{ahead}.parquet"), expected, False)


_SHARED = """
import json, os, sys
import sqlmr.catalog.listing as listing
from sqlmr.catalog.resolve import resolve_catalog
from sqlmr.compiler.ahead import CompileAhead
root, sql, log = sys.argv[1:]
real = listing.list_table
def counted(location, *args, **kwargs):
    with open(log, "a") as f:
        f.write(json.dumps([os.getpid(), location]) + "\\n")
    return real(location, *args, **kwargs)
listing.list_table = counted
helper = CompileAhead(sql, resolve_catalog(root))
helper_pid = helper.pid
helper.send_tables()
found = helper.result()
analysed = bool(found) and found[0].logical is not None
print(json.dumps({"helper": helper_pid, "driver": os.getpid(), "analysed": analysed}))
"""


def test_the_driver_resolves_the_named_tables_and_the_helper_uses_them(
    amplab_dir, tmp_path: Path
) -> None:
    """The helper is forked before the driver loads pyarrow: the driver lists (and reads the
    footers of) the tables the script names, once, and sends them; the helper lists nothing."""
    con = duck_connect(amplab_dir)
    for table in ("rankings", "uservisits"):
        (tmp_path / "pq" / table).mkdir(parents=True)
        con.execute(f"COPY {table} TO '{tmp_path}/pq/{table}/part-0.parquet' (FORMAT parquet)")
    log = tmp_path / "lists.jsonl"
    sql = 'SELECT COUNT(*) FROM "Rankings" r JOIN uservisits v ON r.pageURL = v.destURL'
    done = subprocess.run(
        [sys.executable, "-c", _SHARED, str(tmp_path / "pq"), sql, str(log)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SQLMR_COMPILE_AHEAD": "1"},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["analysed"]
    listed = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted((pid, os.path.basename(loc)) for pid, loc in listed) == [
        (report["driver"], "rankings"),
        (report["driver"], "uservisits"),
    ]


def test_the_compiler_analyses_a_resolved_table_without_pyarrow(amplab_dir) -> None:
    """The helper, given the tables the driver resolved, analyses without loading pyarrow, so
    that it imports sqlglot while the driver imports pyarrow (a query without a regular
    expression: REGEXP_MATCHES checks its pattern with Arrow's and loads it then)."""
    catalog = resolve_catalog(amplab_dir)
    resolved = json.dumps(encode(tuple(t.resolved() for t in catalog.tables)))
    code = (
        "import json, sys\n"
        "from sqlmr.catalog.resolve import resolve_catalog\n"
        "from sqlmr.compiler.ahead import decode, encode\n"
        f"catalog = resolve_catalog({str(amplab_dir)!r})\n"
        "catalog = catalog.with_tables(decode(json.loads(sys.stdin.read())))\n"
        "before = 'pyarrow' in sys.modules\n"
        "from sqlmr.compiler import analyze_query\n"
        "sql = 'SELECT pageURL FROM rankings r JOIN uservisits v ON r.pageURL = v.destURL'\n"
        "encode(analyze_query(sql, catalog))\n"
        "print(json.dumps([before, 'pyarrow' in sys.modules, 'numpy' in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=resolved, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [False, False, False]


def test_a_core_is_free_by_the_threads_runnable_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper runs while a core is idle at this moment (Linux: /proc/loadavg's runnable
    count, this thread included), whatever the last minute's load average says."""
    import builtins
    import io

    from sqlmr.compiler import ahead

    real_open = builtins.open
    cores = os.cpu_count() or 1

    def loadavg(running: int):
        def fake(path, *args, **kwargs):
            if path == "/proc/loadavg":
                return io.StringIO(f"{cores * 9}.00 {cores * 9}.00 1.00 {running}/400 123\n")
            return real_open(path, *args, **kwargs)

        return fake

    monkeypatch.setattr(builtins, "open", loadavg(1))  # this thread alone, after a busy minute
    assert ahead._core_free()
    monkeypatch.setattr(builtins, "open", loadavg(cores + 1))  # every core taken by others
    assert not ahead._core_free()
    monkeypatch.setattr(builtins, "open", loadavg(cores))  # one core left
    assert ahead._core_free()
