"""Start-up: each command imports only what it needs, and Arrow's allocator is configured before
pyarrow loads (in the driver, and so in the workers it forks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import AMPLAB_COLUMNS

HEAVY = ("pyarrow", "sqlglot", "boto3", "botocore", "aws_xray_sdk", "rich", "duckdb")
RANKINGS_1A = "SELECT pageURL, pageRank FROM rankings WHERE pageRank > 1000"


def _run(code: str, env: dict[str, str] | None = None) -> dict:
    """Run code in a fresh interpreter; return what it printed last as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _loaded_by_cli(argv: list[str], ahead: str = "auto") -> set[str]:
    """Every module a fresh interpreter has loaded after running `sqlmr ARGV`."""
    code = (
        "import contextlib, io, json, sys\n"
        "from sqlmr.cli.app import main\n"
        "out = io.TextIOWrapper(io.BytesIO())\n"
        "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        f"    main({argv!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    return set(_run(code, {**os.environ, "SQLMR_COMPILE_AHEAD": ahead}))


def _heavy_loaded_by_cli(argv: list[str], ahead: str = "auto") -> set[str]:
    return _loaded_by_cli(argv, ahead) & set(HEAVY)


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["query", "--help"]])
def test_help_and_version_import_nothing_heavy(argv: list[str]) -> None:
    assert _heavy_loaded_by_cli(argv) == set()


@pytest.mark.parametrize(
    "argv",
    [
        ["query", RANKINGS_1A, "--format", "csv", "--workers", "1"],
        ["query", RANKINGS_1A, "--workers", "1"],  # a table, to a pipe: no rich
        ["explain", RANKINGS_1A],
    ],
)
def test_a_query_on_embedded_data_imports_no_aws_library_and_no_rich(argv: list[str]) -> None:
    assert _heavy_loaded_by_cli(argv, ahead="0") == {"pyarrow", "sqlglot"}


def test_a_query_compiled_by_the_helper_leaves_sqlglot_out_of_the_driver() -> None:
    """With its compile helper (sqlmr.compiler.ahead), the driver of `sqlmr query` never
    loads sqlglot nor the compiler's modules that use it."""
    argv = ["query", RANKINGS_1A, "--format", "csv", "--workers", "1"]
    loaded = _loaded_by_cli(argv, ahead="1")
    assert loaded & set(HEAVY) == {"pyarrow"}
    assert not {"sqlmr.compiler.blocks", "sqlmr.compiler.statements"} & loaded
    # Nor, for a text table, Parquet's reader or explain's cost model (loaded on first use).
    assert not {"pyarrow.parquet", "sqlmr.planning.explain", "sqlmr.planning.cost"} & loaded


def test_analysing_a_query_without_a_regular_expression_loads_no_compute_kernels() -> None:
    """The compile helper's share of start-up: sqlglot and the compiler, not Arrow's compute
    kernels, which a regular expression loads to check its pattern; never pyarrow.compute."""
    code = (
        "import json, sys\n"
        "from sqlmr.catalog.resolve import resolve_catalog\n"
        "from sqlmr.compiler import analyze_query\n"
        f"analyze_query({RANKINGS_1A!r}, resolve_catalog())\n"
        "before = 'sqlmr_runtime.compute' in sys.modules\n"
        "analyze_query(\"SELECT COUNT(*) FROM rankings WHERE regexp_matches(pageURL, 'a.c')\", "
        "resolve_catalog())\n"
        "after = ['sqlmr_runtime.compute' in sys.modules, 'pyarrow.compute' in sys.modules]\n"
        "print(json.dumps([before, *after]))\n"
    )
    assert _run(code) == [False, True, False]


def test_the_runtime_computes_without_loading_pyarrow_compute() -> None:
    code = (
        "import json, sys\n"
        "import pyarrow as pa\n"
        "from sqlmr_runtime import compute as pc\n"
        "got = pc.filter(pa.table({'a': [1, 2]}), pc.greater(pa.array([1, 2]), 1)).num_rows\n"
        "print(json.dumps([got, 'pyarrow.compute' in sys.modules]))\n"
    )
    assert _run(code) == [1, False]


def test_compiling_loads_sqlglot_without_importlib_metadata() -> None:
    """sqlglot's dialect module imports importlib.metadata (≈ 10 ms) for plugin lookups only;
    the compiler loads sqlglot with a stand-in that loads it on first use
    (sqlmr.compiler.sqlglot_loading): a plugin lookup still works, and then it is real."""
    code = (
        "import json, sys, importlib\n"
        "from sqlmr.catalog.resolve import resolve_catalog\n"
        "from sqlmr.compiler import analyze_query\n"
        f"analyze_query({RANKINGS_1A!r}, resolve_catalog())\n"
        "before = 'importlib.metadata' in sys.modules\n"
        "import sqlglot\n"
        "plugin = sqlglot.Dialect.get('no_such_dialect')\n"
        "meta = sys.modules['importlib.metadata']\n"
        "real = meta is importlib.import_module('importlib.metadata')\n"
        "print(json.dumps([before, plugin, real, type(meta).__name__]))\n"
    )
    assert _run(code) == [False, None, True, "module"]
    argv = ["query", RANKINGS_1A, "--format", "csv", "--workers", "1"]
    assert "importlib.metadata" not in _loaded_by_cli(argv, ahead="0")  # sqlmr query's driver


def test_a_query_builds_and_imports_only_its_own_command() -> None:
    """The parser of `sqlmr query` is built without the other commands' modules (15-20 ms of
    a small query's start-up); --help still lists every command (test_cli)."""
    argv = ["query", RANKINGS_1A, "--format", "csv", "--workers", "1"]
    loaded = {m for m in _loaded_by_cli(argv) if m.startswith("sqlmr.cli.")}
    assert loaded <= {
        "sqlmr.cli.app",
        "sqlmr.cli.flags",
        "sqlmr.cli.query",
        "sqlmr.cli.output",
        "sqlmr.cli.targets",
        "sqlmr.cli.streamed",
        "sqlmr.cli.progress",
    }
    assert "sqlmr.cli.query" in loaded


def test_the_library_loads_sqlglot_only_to_compile() -> None:
    """sqlmr.api and the planner use the compiler's plain data (sqlmr.compiler.logical)
    without loading sqlglot; compiling a query loads it (without the compile helper)."""
    code = (
        "import json, sys\n"
        "from sqlmr.api import QueryOptions, compile_query, resolve_catalog\n"
        "import sqlmr.planning.planner, sqlmr.execution.driver\n"
        "before = 'sqlglot' in sys.modules\n"
        f"compile_query({RANKINGS_1A!r}, resolve_catalog(), QueryOptions(workers=1))\n"
        "print(json.dumps([before, 'sqlglot' in sys.modules]))\n"
    )
    assert _run(code, {**os.environ, "SQLMR_COMPILE_AHEAD": "0"}) == [False, True]


def test_the_library_compiles_in_its_helper_while_it_loads_the_runtime() -> None:
    """`from sqlmr.api import …` loads neither the planner nor the driver; compile_query with
    its helper (sqlmr.compiler.ahead) loads them and the task handler the local workers
    inherit, and never sqlglot; the text reader and not the Parquet reader for the embedded
    tables, whose objects are text (sqlmr.catalog.discover.guessed_formats)."""
    later = ["sqlmr.planning.planner", "sqlmr.execution.driver", "sqlmr_runtime.handler"]
    readers = ["sqlmr_runtime.scan_text", "pyarrow.parquet", "sqlglot"]
    code = (
        "import json, sys\n"
        "from sqlmr.api import QueryOptions, compile_query, resolve_catalog\n"
        f"before = [m in sys.modules for m in {later!r}]\n"
        f"compile_query({RANKINGS_1A!r}, resolve_catalog(), QueryOptions(workers=1))\n"
        f"after = [m in sys.modules for m in {later + readers!r}]\n"
        "print(json.dumps([before, after]))\n"
    )
    before, after = _run(code, {**os.environ, "SQLMR_COMPILE_AHEAD": "1"})
    assert before == [False, False, False]
    assert after == [True, True, True, True, False, False]


def test_a_parquet_scan_loads_only_what_it_runs(tmp_path) -> None:
    """A Parquet scan's driver loads the Parquet reader before its workers fork, and not the
    text reader (pyarrow.csv) nor pyarrow's Python layers listed below; its task loads none
    of them, nor the modules of joins and range sorts, nor runs the Arrow feature tests (run
    only when a task fails); its rows are DuckDB's.
    (A driver whose helper still compiles may load join modules meanwhile: no time lost.)"""
    import duckdb

    folder = tmp_path / "rankings"
    folder.mkdir()
    duckdb.sql(
        "COPY (SELECT 'u' || i AS pageURL, (i * 7) % 2000 AS pageRank, i % 60 AS avgDuration"
        f" FROM range(5000) t(i)) TO '{folder / 'part-0.parquet'}' (FORMAT parquet)"
    )
    expected = duckdb.sql(
        f"SELECT count(*) FROM '{folder}/*.parquet' WHERE pageRank > 1000"
    ).fetchall()[0][0]
    # Neither side loads pyarrow.compute, which writes the docs of all its wrappers as it loads
    # (sqlmr_runtime.compute wraps the kernels a task calls), nor pyarrow.parquet, whose
    # pyarrow.fs loads every file system and ssl (scan_parquet.ParquetFile reads without it).
    text = ["pyarrow.csv", "sqlmr_runtime.scan_text", "pyarrow.compute", "pyarrow.parquet"]
    text += ["pyarrow.fs", "ssl"]
    unloaded = [*text, "sqlmr_runtime.ranges", "sqlmr_runtime.broadcast", "pyarrow._acero"]
    code = (
        "import json, sys\n"
        "from sqlmr.api import QueryOptions, compile_query, resolve_catalog\n"
        "from sqlmr.execution.task_inputs import task_event, task_inputs\n"
        f"catalog = resolve_catalog({str(tmp_path)!r})\n"
        f"plan = compile_query({RANKINGS_1A!r}, catalog, QueryOptions(workers=1))\n"
        f"driver = [m in sys.modules for m in {['sqlmr_runtime.scan_parquet', *text]!r}]\n"
        "from sqlmr_runtime.handler import lambda_handler\n"
        "stage = plan.stages[0]\n"
        f"event = task_event('job', {str(tmp_path / 'store')!r}, stage, 0, 0,"
        " task_inputs(stage, {})[0])\n"
        "before = set(sys.modules)\n"
        "rows = lambda_handler(event)['rows_out']\n"
        f"task = [m for m in {unloaded!r} if m in set(sys.modules) - before]\n"
        "from sqlmr_runtime import environment\n"
        "print(json.dumps([driver, rows, task, environment._checked]))\n"
    )
    got = _run(code, {**os.environ, "SQLMR_COMPILE_AHEAD": "1"})
    assert got == [[True] + [False] * len(text), expected, [], None]


def test_the_importtime_benchmark_reads_python_s_lines() -> None:
    from sqlmr_benchmarks.importtime import imports_of, top_level_total

    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |     numpy.version\n"
        "import time:      3000 |      90000 |   numpy\n"
        "import time:      5000 |     150000 | pyarrow\n"
        "import time:        40 |         40 | json\n"
    )
    assert imports_of(stderr) == {
        "numpy.version": 120,
        "numpy": 90000,
        "pyarrow": 150000,
        "json": 40,
    }
    assert top_level_total(stderr) == 150040


def test_import_sqlmr_is_light() -> None:
    code = f"import json, sys, sqlmr\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    assert _run(code) == []


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_allocator_settings_apply_before_pyarrow_loads() -> None:
    code = (
        "import json, os, sqlmr, pyarrow as pa\n"
        "pa.allocate_buffer(1 << 20)\n"
        "thp = [l.split()[1] for l in open('/proc/self/status') if l.startswith('THP_enabled')]\n"
        "print(json.dumps([os.environ.get('MIMALLOC_PURGE_DELAY'), thp]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMALLOC_")}
    purge, thp = _run(code, env)
    assert purge == "-1"
    assert thp in ([], ["0"])  # kernels before 6.x do not show THP_enabled
    # A value the user set wins.
    purge, _ = _run(code, {**env, "MIMALLOC_PURGE_DELAY": "10"})
    assert purge == "10"


def test_the_cli_architectures_are_deploys() -> None:
    from sqlmr.aws import ARCHITECTURES
    from sqlmr.cli import aws

    assert aws.ARCHITECTURES == ARCHITECTURES


def _console(*argv: str) -> subprocess.CompletedProcess:
    code = "from sqlmr.cli import console; console()"
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120
    )


def test_the_script_exits_fast_with_all_rows_and_the_exit_code() -> None:
    import duckdb

    from sqlmr.catalog.embedded import default_tables_dir

    folder = default_tables_dir()
    done = _console("query", RANKINGS_1A, "--format", "csv", "--tables", folder)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    expected = duckdb.sql(
        f"SELECT pageURL, pageRank FROM read_csv('{folder}/rankings/*', header = false, "
        f"columns = {dict(AMPLAB_COLUMNS['rankings'])}) WHERE pageRank > 1000"
    ).fetchall()
    assert lines[0] == "pageURL,pageRank"
    assert sorted(lines[1:]) == sorted(f"{u},{r}" for u, r in expected)
    bad = _console("query", "SELECT nope FROM rankings")
    assert bad.returncode == 1 and bad.stderr.startswith("error: ") and not bad.stdout


def test_a_scan_task_runs_without_acero(amplab_dir) -> None:
    """A scan-only task (and its driver) never imports Acero; a group-by task runs it through
    pyarrow._acero (grouping.aggregate), never pyarrow.acero, which pulls in pyarrow.dataset and
    its file systems, and is answered the same."""
    code = (
        "import json, sys, tempfile\n"
        "from sqlmr.api import QueryOptions, compile_query, resolve_catalog\n"
        "from sqlmr.execution.task_inputs import task_event, task_inputs\n"
        "from sqlmr_runtime.handler import lambda_handler\n"
        "seen = []\n"
        f"for sql in [{RANKINGS_1A!r}, 'SELECT pageRank, COUNT(*) FROM rankings GROUP BY 1']:\n"
        f"    catalog = resolve_catalog({str(amplab_dir)!r})\n"
        "    plan = compile_query(sql, catalog, QueryOptions(workers=1))\n"
        "    stage = plan.stages[0]\n"
        "    store = tempfile.mkdtemp()\n"
        "    event = task_event('job', store, stage, 0, 0, task_inputs(stage, {})[0])\n"
        "    rows = lambda_handler(event)['rows_in']\n"
        "    loaded = ['pyarrow._acero', 'pyarrow.acero', 'pyarrow.dataset']\n"
        "    seen.append([rows, [m in sys.modules for m in loaded]])\n"
        "print(json.dumps(seen))\n"
    )
    (scan_rows, scan_acero), (group_rows, group_acero) = _run(code)
    assert scan_rows == group_rows > 0
    assert scan_acero == [False, False, False] and group_acero == [True, False, False]


_GENERATOR_CORPUS = [
    RANKINGS_1A,
    "SELECT SUBSTR(sourceIP, 1, 8), SUM(adRevenue) FROM uservisits GROUP BY SUBSTR(sourceIP, 1, 8)",
    "SELECT CAST(pageRank AS DOUBLE) / 3, UPPER(pageURL), pageRank + 1 FROM rankings",
    "SELECT CAST(visitDate AS VARCHAR), CAST(adRevenue AS DECIMAL(12, 2)) FROM uservisits",
    "SELECT COUNT(*), AVG(duration) FROM uservisits WHERE searchWord LIKE 'a%'",
    "SELECT pageURL FROM rankings AS r WHERE pageRank > (SELECT AVG(pageRank) FROM rankings)",
    "SELECT CAST(pageRank AS STRUCT(a INT)) FROM rankings",  # refused, the type named
    "SELECT pageURL FROM rankings, LATERAL (SELECT 1)",  # refused, the construct named
    "SELECT nosuch(pageRank) FROM rankings",
    "SELECT pageURL FROM rankings WHERE pageRank >",
]

# Queries whose analysis needs no generated SQL: their select items are columns or aliased,
# and their CAST targets (DATE '…' is one) are types without parameters.
_WITHOUT_GENERATOR = [
    RANKINGS_1A,
    "SELECT sourceIP, totalRevenue, avgPageRank FROM (SELECT sourceIP, AVG(pageRank) AS "
    "avgPageRank, SUM(adRevenue) AS totalRevenue FROM Rankings AS R, UserVisits AS UV WHERE "
    "R.pageURL = UV.destURL AND UV.visitDate BETWEEN DATE '1980-01-01' AND DATE '1980-04-01' "
    "GROUP BY UV.sourceIP) ORDER BY totalRevenue DESC LIMIT 1",
    "SELECT CAST(pageRank AS BIGINT) AS a, pageURL::TEXT AS b, CAST(avgDuration AS DOUBLE) AS c "
    "FROM rankings WHERE pageRank > CAST('10' AS INTEGER) AND CAST(pageRank AS BOOLEAN)",
]

_GENERATOR_CODE = """
import json, sys
if sys.argv[1] == "eager":
    import sqlglot.dialects.duckdb  # as a plain sqlglot import loads it: generator and all
from sqlmr.catalog.resolve import resolve_catalog
from sqlmr.compiler import analyze_query
from sqlmr.compiler.logical_json import encode
from sqlmr.errors import SqlmrError
catalog = resolve_catalog()
for first in json.loads(sys.argv[2]):
    analyze_query(first, catalog)
loaded = "sqlglot.generators.duckdb" in sys.modules
from sqlglot import exp
# The first use reads an attribute of the dialect's generator class (exp.cast reads its
# TYPE_MAPPING), then makes a generator.
cast = exp.cast(exp.cast("x", "TEXT", dialect="duckdb"), "VARCHAR", dialect="duckdb")
out = [cast.sql("duckdb")]
for sql in json.loads(sys.argv[3]):
    try:
        out.append(encode(analyze_query(sql, catalog)))
    except SqlmrError as e:
        out.append([type(e).__name__, str(e)])
import sqlglot
from sqlglot.dialects.duckdb import DuckDB
for sql in [
    "SELECT j -> '$.a[0]', j ->> 'b' FROM t",
    "SELECT TRY_CAST(x AS INT), DATE_TRUNC('month', d) FROM t",
]:
    for read in ("duckdb", "postgres", "snowflake"):
        out.append(sqlglot.transpile(sql, read=read, write="duckdb"))
gen = DuckDB.generator_class
out.append([gen.__module__, gen.__name__, sorted(map(repr, gen.TRANSFORMS))])
out.append(DuckDB().generator_class is gen is DuckDB.Generator)
print(json.dumps([loaded, out]))
"""


def test_the_duckdb_generator_loads_on_first_use_and_answers_as_if_loaded_first() -> None:
    """sqlglot's DuckDB generator (≈ 12 ms: it parses 21 SQL templates when it loads) loads
    when first used (sqlmr.compiler.sqlglot_loading): analysing 1a, 3a (DATE literals) or
    casts to types without parameters never needs it. Every
    answer is the same as with the generator loaded up front: the compiler's logical queries
    and its errors (whose texts it writes), sqlglot's own SQL, the dialect's generator class."""
    corpus = json.dumps(_GENERATOR_CORPUS)
    argv = [json.dumps(_WITHOUT_GENERATOR), corpus]
    eager = _run_argv(_GENERATOR_CODE, ["eager", *argv])
    deferred = _run_argv(_GENERATOR_CODE, ["deferred", *argv])
    if eager[0]:  # this sqlglot keeps the generator in sqlglot.generators: it is deferred
        assert deferred[0] is False
    else:  # an older sqlglot (before its generators package) loads the dialect as it is
        assert deferred[0] is False and "sqlglot.generators" not in str(deferred[1][-2])
    assert deferred[1] == eager[1]
    assert sum(isinstance(one, dict) for one in eager[1]) >= 6  # most of the corpus analyses


def _run_argv(code: str, argv: list[str]) -> list:
    return _run_argv_env(code, argv, None)


def _run_argv_env(code: str, argv: list[str], env: dict[str, str] | None) -> list:
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


_MASKED_CODE = """
import json, sys
from sqlmr.api import QueryOptions, compile_query, resolve_catalog, run
options = QueryOptions(workers=1)
with run(compile_query(sys.argv[1], resolve_catalog(), options), options) as result:
    rows = result.read_all().num_rows
print(json.dumps(["numpy.ma" in sys.modules, rows > 0]))
"""


@pytest.mark.parametrize(
    ("sql", "converts"),
    [
        ("SELECT pageURL, pageRank FROM rankings WHERE pageRank > 10", False),
        ("SELECT countryCode, COUNT(*) FROM uservisits GROUP BY countryCode", True),
    ],
)
def test_a_local_pool_loads_numpy_ma_only_for_tasks_that_convert(sql: str, converts: bool) -> None:
    """numpy.ma (5-10 ms, numpy loads it on the first pa.array of a numpy array) is loaded
    before a local pool forks workers for a plan that groups (and joins, hashes), not for one
    that only filters and projects a scan (Amplab 1a): its driver never loads it."""
    env = {**os.environ, "SQLMR_COMPILE_AHEAD": "0"}
    assert _run_argv_env(_MASKED_CODE, [sql], env) == [converts, True]


def test_a_compile_helper_still_running_when_the_driver_has_loaded_lets_it_load_more() -> None:
    """While the helper still compiles, the driver loads what some plans need (numpy.ma): the
    helper's analysis (importing sqlglot) outlasts an empty `meanwhile`."""
    code = (
        "import json, sys\n"
        "from sqlmr.catalog.resolve import resolve_catalog\n"
        "from sqlmr.compiler.ahead import analyze_ahead\n"
        "ran = []\n"
        f"logical = analyze_ahead({RANKINGS_1A!r}, resolve_catalog(), lambda _: None,"
        " lambda: ran.append(1))\n"
        "print(json.dumps([ran, logical is not None]))\n"
    )
    assert _run(code, {**os.environ, "SQLMR_COMPILE_AHEAD": "1"}) == [[1], True]


_READ_FROM_THE_TYPE = ["DATE", "INT", "INTEGER", "INT4", "BIGINT", "INT8", "DOUBLE", "FLOAT8"]
_READ_FROM_THE_TYPE += ["VARCHAR", "VARCHAR(10)", "TEXT", "STRING", "CHAR", "BOOLEAN", "BOOL"]
_READ_FROM_THE_TYPE += ["TIMESTAMP", "DATETIME"]
_LEFT_TO_THE_SQL = ["TIMESTAMPTZ", "DECIMAL(15,2)", "NUMERIC", "REAL", "FLOAT", "INT[]", "TIME"]


@pytest.mark.parametrize("spelled", _READ_FROM_THE_TYPE + _LEFT_TO_THE_SQL)
def test_a_cast_target_read_from_the_parsed_type_is_the_one_its_sql_names(spelled: str) -> None:
    """The compiler reads a CAST's plan type from sqlglot's parsed type where it has no
    parameters, without generating its SQL (which would load the DuckDB generator): the plan
    type is the one the generated SQL names; the others are left to the SQL."""
    import sqlglot
    from sqlglot import exp

    from sqlmr.catalog import plan_type
    from sqlmr.compiler.expressions import _plain_type

    to = sqlglot.parse_one(f"SELECT CAST(x AS {spelled})", read="duckdb").find(exp.Cast).to
    if spelled in _READ_FROM_THE_TYPE:
        assert _plain_type(to) == plan_type(to.sql(dialect="duckdb")) is not None
    else:
        assert _plain_type(to) is None
