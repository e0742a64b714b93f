"""Shared fixtures: the Amplab tiny dataset, a table of nasty edge values, a DuckDB oracle over the
same files, and a result comparison that tolerates float rounding but nothing else."""

from __future__ import annotations

import datetime
import decimal
import math
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from sqlmr.catalog.tables import AMPLAB_SCHEMAS, TYPE_NAMES

# The Amplab schema has one source, sqlmr's catalog; DuckDB gets the same columns by SQL name.
AMPLAB_COLUMNS: dict[str, list[tuple[str, str]]] = {
    table: [(c.name, TYPE_NAMES[c.type]) for c in columns]
    for table, columns in AMPLAB_SCHEMAS.items()
}

EDGE_COLUMNS: list[tuple[str, str]] = [
    ("id", "BIGINT"),
    ("grp", "VARCHAR"),
    ("name", "VARCHAR"),
    ("score", "DOUBLE"),
    ("n", "INTEGER"),
    ("big", "BIGINT"),
    ("day", "DATE"),
    ("flag", "BOOLEAN"),
]

EDGE_ROWS = 1500


# -- DuckDB, the oracle ---------------------------------------------------------------------------


def duck_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    folder: str | os.PathLike,
    columns: Sequence[tuple[str, str]],
    *,
    header: bool = False,
    delimiter: str = ",",
) -> None:
    """A DuckDB table loaded from every file of a table folder, read with exactly the catalog's
    schema: no quoting, no escaping, and an empty field is NULL.

    A table rather than a view: over a view DuckDB pushes casts down into the CSV reader, and
    then `CAST(n AS BOOLEAN)` parses the text '-11' as a BOOLEAN and fails.
    """
    cols = ", ".join(f"'{c}': '{t}'" for c, t in columns)
    glob = os.path.join(str(folder), "*").replace("'", "''")
    con.execute(
        f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM read_csv('{glob}', "
        f"header={'true' if header else 'false'}, delim='{delimiter}', quote='', escape='', "
        f"nullstr='', auto_detect=false, columns={{{cols}}})"
    )


def duck_parquet(root: str | os.PathLike, *tables: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view per table over every Parquet file of ROOT/TABLE/."""
    con = duckdb.connect()
    for name in tables:
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{root}/{name}/*')")
    return con


def duck_connect(
    amplab: str | os.PathLike | None = None, edge: str | os.PathLike | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with tables rankings, uservisits (Amplab) and edge, as available."""
    con = duckdb.connect()
    if amplab is not None:
        for table, columns in AMPLAB_COLUMNS.items():
            duck_table(con, table, Path(amplab) / table, columns)
    if edge is not None:
        duck_table(con, "edge", Path(edge) / "edge", EDGE_COLUMNS, header=True)
    return con


# -- settings: no user's config file or SQLMR_* variables reach a test -----------------------------


@pytest.fixture(autouse=True)
def _no_user_settings(monkeypatch, tmp_path_factory):
    from sqlmr.config import ENV_PREFIX, SETTINGS

    monkeypatch.delenv("SQLMR_CONFIG", raising=False)
    monkeypatch.delenv(ENV_PREFIX + "PROFILE", raising=False)
    for name in SETTINGS:
        monkeypatch.delenv(ENV_PREFIX + name.upper(), raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.getbasetemp() / "no-config-home"))


# -- start-up: sqlmr computes through sqlmr_runtime.compute ----------------------------------------


@pytest.fixture(autouse=True, scope="session")
def _no_arrow_method_loads_pyarrow_compute():
    """Arrow's methods that compute (Table.filter, Array.cast, ...) reach pyarrow.compute through
    pyarrow.lib._pc, which imports it (30-50 ms in a fresh worker or Lambda, sqlmr_runtime.compute
    says why). For the whole session, and in the workers forked from it, a call of one of them
    from sqlmr's own code fails, naming the line; tests and Arrow itself call them as they like."""
    import sys

    import pyarrow.lib

    ours = tuple(
        str(Path(__file__).resolve().parent.parent / d) + os.sep for d in ("sqlmr", "runtime")
    )
    original = pyarrow.lib._pc

    def guarded():
        caller = sys._getframe(1)
        if caller.f_code.co_filename.startswith(ours):
            raise AssertionError(
                f"{caller.f_code.co_filename}:{caller.f_lineno} calls an Arrow method that loads "
                "pyarrow.compute: call the function of sqlmr_runtime.compute instead"
            )
        return original()

    pyarrow.lib._pc = guarded
    yield
    pyarrow.lib._pc = original


# -- data -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def amplab_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The Amplab tables at the 'tiny' scale (1,200 rankings, 10,000 uservisits), seed 0."""
    from sqlmr.datagen.amplab import generate

    out = tmp_path_factory.mktemp("amplab")
    generate(out, "tiny", seed=0, workers=1)
    return str(out)


_NAMES = [
    "alpha",
    "Alpha",
    "ALPHA",
    "beta",
    "b",
    "é",
    "É",
    "café",
    "Café",
    "CAFÉ",
    "e\u0301",  # e + combining acute accent: two code points
    "日本",
    "日本語テキスト",
    "straße",
    "👍🏽",
    "100%",
    "50% off",
    "%lead",
    "trail%",
    "a%b",
    "a_b",
    "axb",
    "_lead",
    "under_score",
    "a\\b",
    "back\\slash\\",
    "\\",
    "\\\\",
    "ab",
    "x",
    "xyz",
    "zz top",
    " padded ",
    "NULL",
    "null",
    "0",
    "-1",
    "2024-01-01",
]

_DAYS = [
    datetime.date(1, 1, 1),
    datetime.date(1969, 12, 31),
    datetime.date(1970, 1, 1),
    datetime.date(1999, 12, 31),
    datetime.date(2000, 1, 1),
    datetime.date(2000, 2, 29),
    datetime.date(2024, 2, 29),
    datetime.date(2038, 1, 19),
    datetime.date(9999, 12, 31),
]

_BIGS = [
    0,
    1,
    -1,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    2**53 + 1,
    2**62,
    -(2**62),
    9_223_372_036_854_775_807,
    -9_223_372_036_854_775_808,
    1_000_000_000_000,
]

_INTS = [0, 1, -1, 2, -2, 7, -7, 10, 100, 2_147_483_647, -2_147_483_648, 2_147_483_646]

_SCORES = [
    0.0,
    -0.0,
    -0.5,
    0.5,
    1.5,
    2.5,
    -2.5,
    3.141592653589793,
    1e-300,
    -1.7976931348623157e308,
    123456789.123456789,
    0.1,
    0.30000000000000004,
    1e20,
    2.0000000000000004,
]


def _edge_row(rng: random.Random, i: int) -> list[str]:
    def maybe(value: str, p_null: float = 0.08) -> str:
        return "" if rng.random() < p_null else value

    id_ = str(i) if i % 97 != 13 else ""
    grp = maybe(rng.choice(["a", "b", "c", "d", "A", "é", "日本"]), 0.1)
    name = maybe(
        rng.choice(_NAMES)
        if rng.random() < 0.6
        else "".join(rng.choice("abcxyz_%\\é") for _ in range(rng.randint(1, 8)))
    )
    r = rng.random()
    if r < 0.4:
        score = repr(rng.choice(_SCORES))
    elif r < 0.7:
        score = repr(rng.uniform(-1000, 1000))  # 17 significant digits
    else:
        score = str(rng.randint(-50, 50) / 4)
    n = str(rng.choice(_INTS) if rng.random() < 0.3 else rng.randint(-20, 20))
    big = str(rng.choice(_BIGS) if rng.random() < 0.4 else rng.randint(-(10**15), 10**15))
    day = (
        rng.choice(_DAYS)
        if rng.random() < 0.3
        else datetime.date(2000, 1, 1) + datetime.timedelta(days=rng.randint(-4000, 9000))
    )
    flag = rng.choice(["true", "false"])
    return [
        id_,
        grp,
        name,
        maybe(score),
        maybe(n),
        maybe(big),
        maybe(day.isoformat()),
        maybe(flag),
    ]


def edge_rows(count: int = EDGE_ROWS, seed: int = 42) -> list[list[str]]:
    """The edge table's rows as CSV fields ('' is NULL), with some exact duplicates."""
    rng = random.Random(seed)
    rows = [_edge_row(rng, i) for i in range(count)]
    for _ in range(count // 25):  # duplicated rows, id included
        rows[rng.randrange(count)] = list(rows[rng.randrange(count)])
    rows[5] = [""] * len(EDGE_COLUMNS)  # a row of nothing but NULLs
    return rows


def write_csv_table(
    folder: Path,
    header: Sequence[str] | None,
    rows: Sequence[Sequence[str]],
    cuts: Iterable[float],
    delimiter: str = ",",
    unterminated: Iterable[int] = (),
) -> None:
    """Write rows as several parts cut at the given fractions (a header in every part); the
    parts numbered in `unterminated` lack the final newline."""
    folder.mkdir(parents=True, exist_ok=True)
    bounds = [0, *(int(len(rows) * c) for c in cuts), len(rows)]
    for part, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False)):
        lines = [delimiter.join(header)] if header is not None else []
        lines += [delimiter.join(r) for r in rows[lo:hi]]
        text = "\n".join(lines) + ("" if part in unterminated else "\n")
        (folder / f"part-{part:05d}").write_text(text, "utf-8")


def write_catalog(
    root: Path, table: str, columns: Sequence[tuple[str, str]], header: bool = True
) -> None:
    spec = ", ".join(f"{c} {t}" for c, t in columns)
    with open(root / "catalog.toml", "a", encoding="utf-8") as f:
        f.write(
            f'[tables.{table}]\nlocation = "{table}"\nformat = "csv"\ndelimiter = ","\n'
            f'header = {"true" if header else "false"}\ncolumns = "{spec}"\n\n'
        )


@pytest.fixture(scope="session")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small tables folder for error and strict-input tests: 40 rankings and 40 uservisits
    rows (Amplab layout) and a header CSV table `events`."""
    root = tmp_path_factory.mktemp("small-tables")
    (root / "rankings").mkdir()
    (root / "rankings" / "part-00000").write_text(
        "".join(f"url{i},{i % 17},{i % 5}\n" for i in range(40))
    )
    (root / "uservisits").mkdir()
    (root / "uservisits" / "part-00000").write_text(
        "".join(
            f"1.2.3.{i},url{i % 7},2000-01-{1 + i % 28:02d},{i / 4},UA,FRA,fr,w{i % 3},{i}\n"
            for i in range(40)
        )
    )
    (root / "events").mkdir()
    (root / "events" / "part-00000").write_text("id,name\n1,a\n2,b\n3,c\n")
    return root


@pytest.fixture(scope="session")
def edge_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tables folder with the table `edge` (header row, catalog.toml) of nasty values in
    three parts of different sizes, the first without a final newline."""
    root = tmp_path_factory.mktemp("edge")
    rows = edge_rows()
    header = [c for c, _ in EDGE_COLUMNS]
    write_csv_table(root / "edge", header, rows, cuts=(0.1, 0.4), unterminated=(0,))
    write_catalog(root, "edge", EDGE_COLUMNS)
    return str(root)


@pytest.fixture(scope="session")
def duck(amplab_dir: str, edge_dir: str) -> duckdb.DuckDBPyConnection:
    """DuckDB with tables rankings, uservisits and edge over the fixtures' files."""
    con = duck_connect(amplab_dir, edge_dir)
    yield con
    con.close()


# -- comparing results ----------------------------------------------------------------------------


def _norm(value: object) -> object:
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, datetime.date):
        return "date"
    return type(value).__name__


def values_equal(actual: object, expected: object) -> bool:
    """One value: DECIMALs exactly, with the same scale (12.50 is not 12.5); DOUBLEs within 1e-9
    relative (1e-12 absolute), NaN equals NaN; ints exact; and no mixing of kinds."""
    if isinstance(expected, decimal.Decimal):
        if not isinstance(actual, decimal.Decimal):
            return False
        return actual == expected and actual.as_tuple().exponent == expected.as_tuple().exponent
    if isinstance(actual, decimal.Decimal) and actual == actual.to_integral_value():
        actual = int(actual)  # sqlmr's HUGEINT (SUM of BIGINT) is a 38-digit decimal
    ka, ke = _kind(actual), _kind(expected)
    if ka != ke:
        return False
    if ke == "float":
        if math.isnan(expected) or math.isnan(actual):
            return math.isnan(expected) and math.isnan(actual)
        if math.isinf(expected) or math.isinf(actual):
            return expected == actual
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)
    return actual == expected


def rows_equal(actual: Sequence[object], expected: Sequence[object]) -> bool:
    return len(actual) == len(expected) and all(map(values_equal, actual, expected))


def _value_key(value: object) -> tuple:
    v = _norm(value)
    if v is None:
        return (0,)
    if isinstance(v, float):
        return (1, 1, 0.0) if math.isnan(v) else (1, 0, v)
    return (2, _kind(v), v)


def _sort_key(float_columns: set[int]):
    """Order rows for a multiset comparison: exact-valued columns first, float columns last, so
    that rounding in a float cannot reorder rows whose other columns differ."""

    def key(row: Sequence[object]) -> tuple:
        exact = [_value_key(v) for i, v in enumerate(row) if i not in float_columns]
        floats = [_value_key(v) for i, v in enumerate(row) if i in float_columns]
        return (*exact, *floats)

    return key


def table_rows(result: pa.Table) -> list[tuple]:
    """A pyarrow table's rows as tuples of Python values."""
    columns = [col.to_pylist() for col in result.columns]
    return list(zip(*columns, strict=True)) if columns else []


def assert_same(
    result: pa.Table, expected_rows: list[tuple], ordered: bool, columns: int | None = None
) -> None:
    """sqlmr's result equals DuckDB's rows: same column count (`columns`, else that of the
    expected rows), same rows (as a sequence when `ordered`, else as a multiset)."""
    actual = table_rows(result)
    if columns is not None:
        assert result.num_columns == columns, (
            f"column count: got {result.num_columns}, expected {columns}"
        )
    elif expected_rows:
        assert result.num_columns == len(expected_rows[0]), (
            f"column count: got {result.num_columns}, expected {len(expected_rows[0])}"
        )
    assert len(actual) == len(expected_rows), (
        f"row count: got {len(actual)}, expected {len(expected_rows)}\n"
        f"got (first 5): {actual[:5]}\nexpected (first 5): {expected_rows[:5]}"
    )
    if ordered:
        for i, (a, e) in enumerate(zip(actual, expected_rows, strict=True)):
            assert rows_equal(a, e), f"row {i}: got {a}, expected {e}"
        return
    float_columns = {
        i
        for row in (*actual, *expected_rows)
        for i, v in enumerate(row)
        if isinstance(v, (float, decimal.Decimal))
    }
    a_sorted = sorted(actual, key=_sort_key(float_columns))
    e_sorted = sorted(expected_rows, key=_sort_key(float_columns))
    if all(rows_equal(a, e) for a, e in zip(a_sorted, e_sorted, strict=True)):
        return
    # Float rounding may have reordered near-equal rows: match greedily before failing.
    remaining = list(a_sorted)
    for e in e_sorted:
        match = next((i for i, a in enumerate(remaining) if rows_equal(a, e)), None)
        assert match is not None, (
            f"expected row {e} is missing from the result; "
            f"unmatched result rows (first 5): {remaining[:5]}"
        )
        remaining.pop(match)


# -- AWS: no credentials, no network ---------------------------------------------------------

_AWS_VARS = [
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_LAMBDA",
    "AWS_ENDPOINT_URL_IAM",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
]


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """No AWS credentials or config at all, and no network to AWS; yields the URLs tried."""
    import botocore.httpsession

    from sqlmr.aws import function as aws_function

    for var in _AWS_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    sent = []

    def refuse(self, request):
        sent.append(request.url)
        raise AssertionError(f"a test tried to reach {request.url}")

    monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", refuse)
    monkeypatch.setattr(aws_function, "_sleep", lambda seconds: None)
    return sent


# -- TPC-H ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tpch_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """TPC-H at scale 0.01 (about 10 MB) from `sqlmr gen tpch`, three parts per table."""
    from sqlmr.datagen.tpch import generate

    out = tmp_path_factory.mktemp("tpch")
    generate(str(out), 0.01, "text", parts=3)
    return str(out)


@pytest.fixture(scope="session")
def tpch_oracle(tpch_dir: str):
    """DuckDB with the eight TPC-H tables loaded from the same .tbl files (exact DECIMALs)."""
    from sqlmr_benchmarks.tpch.bench import duck_connection

    from sqlmr.datagen.tpch import columns_of

    con = duck_connection(tpch_dir, columns_of, materialize=True)
    yield con
    con.close()


# -- the differential harness: one Case and one DuckDB oracle, shared by every differential suite --


@dataclass(frozen=True)
class Case:
    """One differential case: a query over a dataset (a `<data>_dir` fixture), and how its
    result is checked against DuckDB's ("rows", "ordered", "subset", "error", "unsupported")."""

    data: str
    query: str
    check: str = "rows"
    names: bool = False  # also compare the result's column names with DuckDB's
    match: str | None = None  # for check="error": a regex the sqlmr error must match


def case(data, query, check="rows", *, id, names=False, match=None, marks=()):
    """A parametrized Case, its query's whitespace folded."""
    return pytest.param(
        Case(data, " ".join(query.split()), check, names, match), id=id, marks=marks
    )


@pytest.fixture(scope="module")
def oracles(request: pytest.FixtureRequest):
    """get(data) -> (DuckDB connection, folder) for a dataset, opened on first use; a test module
    that loads a dataset its own way names its loader in DUCK_LOADERS {data: f(folder)}."""
    loaders = getattr(request.module, "DUCK_LOADERS", {})
    connections: dict[str, duckdb.DuckDBPyConnection] = {}

    def get(data: str) -> tuple[duckdb.DuckDBPyConnection, str]:
        folder = request.getfixturevalue(f"{data}_dir")
        if data not in connections:
            load = loaders.get(data)
            connections[data] = load(folder) if load else duck_connect(**{data: folder})
        return connections[data], folder

    yield get
    for con in connections.values():
        con.close()


@pytest.fixture(autouse=True)
def _no_leftover_processes():
    """Whatever a test started with processes.start is gone after it, pass or fail."""
    yield
    import processes

    processes.kill_leftovers()
