"""DECIMAL and TIMESTAMP as DuckDB computes them: exact values and DuckDB's result types.

The same rows as text, Parquet (decimal128 columns, several row groups and files) and JSON
Lines; each query's result must equal DuckDB's on the same files exactly (DECIMALs with their
scale) and have DuckDB's column types. A value that does not fit its type is an error in both.
"""

from __future__ import annotations

import decimal
import json
import random
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_same, table_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sqlmr
from sqlmr.describe import describe_query

COLUMNS = [
    ("id", "INTEGER"),
    ("k", "VARCHAR"),
    ("a", "DECIMAL(15,2)"),
    ("b", "DECIMAL(15,2)"),
    ("q", "DECIMAL(4,1)"),
    ("x", "DECIMAL(38,10)"),
    ("i", "INTEGER"),
    ("g", "BIGINT"),
    ("d", "DOUBLE"),
    ("s", "VARCHAR"),
    ("day", "DATE"),
    ("ts", "TIMESTAMP"),
    # values whose rounding carries into a new digit (99.99 → 100, 9995 → 10000 at tens)
    ("r", "DECIMAL(4,2)"),
    ("w", "DECIMAL(4,0)"),
]
ROWS = 600
# Cycled through the rows, so a carry shares its batch with rows that do not carry (a batch's
# carries were 0, a carry alone in its batch an error).
CARRIES = ["99.99", "1.25", "-99.95", "99.94", "9.99", "-0.50", None, "0.49", "-9.99"]
TENS = ["9999", "-9995", "9994", "5", "-4", None, "950", "0"]
FORMATS = ("text", "parquet", "json")


def _money(rng: random.Random, whole: int, scale: int) -> str:
    """A decimal's text with up to `whole` digits before the point, sometimes negative."""
    digits = rng.choice([1, 2, whole // 2, whole])
    value = rng.randrange(10 ** (digits + scale)) * rng.choice([1, 1, 1, -1])
    return f"{decimal.Decimal(value).scaleb(-scale):f}"


def _rows() -> list[dict[str, str | None]]:
    rng = random.Random(7)
    rows = []
    for n in range(ROWS):
        row: dict[str, str | None] = {
            "id": str(n),
            "k": rng.choice("ABCDE"),
            "a": _money(rng, 8, 2),
            "b": _money(rng, 5, 2),
            "q": _money(rng, 3, 1),
            # x: maximal precision, 38 digits, in a few rows (their SUM overflows DECIMAL(38,10)).
            "x": f"9{rng.randrange(10**37):037d}"[:28] + ".5"
            if n % 97 == 0
            else _money(rng, 8, 10),
            "i": str(rng.randrange(-1000, 1000)),
            "g": str(rng.randrange(-(10**15), 10**15)),
            "d": repr(rng.uniform(-1e4, 1e4)),
            "s": _money(rng, 4, rng.choice([0, 2, 3])),
            "day": f"199{rng.randrange(10)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            "ts": f"199{rng.randrange(10)}-0{rng.randrange(1, 10)}-1{rng.randrange(10)} "
            f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:00",
        }
        for name in row:
            if name not in ("id", "x") and rng.random() < 0.06:
                row[name] = None
        row["r"], row["w"] = CARRIES[n % len(CARRIES)], TENS[n % len(TENS)]
        rows.append(row)
    return rows


def _arrow(rows: list[dict]) -> pa.Table:
    types = {
        "INTEGER": pa.int32(),
        "BIGINT": pa.int64(),
        "DOUBLE": pa.float64(),
        "VARCHAR": pa.string(),
        "DATE": pa.date32(),
        "TIMESTAMP": pa.timestamp("us"),
    }
    arrays = []
    for name, sql in COLUMNS:
        text = pa.array([r[name] for r in rows], pa.string())
        match = re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", sql)
        typ = pa.decimal128(int(match[1]), int(match[2])) if match else types[sql]
        arrays.append(text.cast(typ))
    return pa.Table.from_arrays(arrays, names=[c for c, _ in COLUMNS])


def _json_line(row: dict) -> str:
    """A JSON object: numbers as JSON numbers (decimals with their exact digits), the rest text."""
    fields = []
    for name, sql in COLUMNS:
        value = row[name]
        numeric = sql not in ("VARCHAR", "DATE", "TIMESTAMP")
        text = "null" if value is None else value if numeric else json.dumps(value)
        fields.append(f'"{name}": {text}')
    return "{" + ", ".join(fields) + "}"


def _write(root: Path, fmt: str) -> None:
    rows = _rows()
    folder = root / "money"
    folder.mkdir(parents=True)
    cols = ", ".join(f'{{ name = "{c}", type = "{t}" }}' for c, t in COLUMNS)
    thirds = [rows[:100], rows[100:350], rows[350:]]
    if fmt == "parquet":
        for n, part in enumerate(thirds):
            pq.write_table(_arrow(part), folder / f"part-{n}.parquet", row_group_size=64)
        (root / "catalog.toml").write_text(
            f'[tables.money]\nlocation = "money"\nformat = "parquet"\ncolumns = [{cols}]\n'
        )
        return
    for n, part in enumerate(thirds):
        if fmt == "json":
            text = "".join(_json_line(r) + "\n" for r in part)
            (folder / f"part-{n}.json").write_text(text)
        else:
            text = "".join("|".join(r[c] or "" for c, _ in COLUMNS) + "\n" for r in part)
            (folder / f"part-{n}").write_text(text)
    kind = 'format = "json"' if fmt == "json" else 'format = "csv"\ndelimiter = "|"'
    (root / "catalog.toml").write_text(
        f'[tables.money]\nlocation = "money"\n{kind}\ncolumns = [{cols}]\n'
    )


@pytest.fixture(scope="module")
def money(tmp_path_factory: pytest.TempPathFactory):
    """fmt -> (tables folder, DuckDB over the same files)."""
    out, cons = {}, []
    for fmt in FORMATS:
        root = tmp_path_factory.mktemp(f"money-{fmt}")
        _write(root, fmt)
        con = duckdb.connect()
        cons.append(con)
        glob = str(root / "money" / "*")
        cols = "{" + ", ".join(f"'{c}': '{t}'" for c, t in COLUMNS) + "}"
        if fmt == "parquet":
            con.execute(f"CREATE VIEW money AS SELECT * FROM read_parquet('{glob}')")
        elif fmt == "json":
            con.execute(f"CREATE VIEW money AS SELECT * FROM read_json('{glob}', columns={cols})")
        else:
            con.execute(
                f"CREATE VIEW money AS SELECT * FROM read_csv('{glob}', delim='|', header=false, "
                f"quote='', escape='', nullstr='', auto_detect=false, columns={cols})"
            )
        out[fmt] = (str(root), con)
    yield out
    for con in cons:
        con.close()


def _sql_type(typ: pa.DataType) -> str:
    if pa.types.is_decimal(typ):
        return f"DECIMAL({typ.precision},{typ.scale})"
    names = {
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.float64(): "DOUBLE",
        pa.string(): "VARCHAR",
        pa.date32(): "DATE",
        pa.timestamp("us"): "TIMESTAMP",
        pa.bool_(): "BOOLEAN",
    }
    return names.get(typ, str(typ))


QUERIES = [
    # + - * / with DuckDB's result types
    "SELECT id, a + b, a - b, a * b, a / b, -a FROM money",
    "SELECT id, a % 2, a % q, i % 2.5, d % q FROM money WHERE q <> 0",
    "SELECT id, a + i, a * i, a + g, a * g, a + d, a * d, i * 1.5, q * q * q FROM money",
    "SELECT id, x + a, x - 0.0000000001, a * 100, 1 - a, a / 2 FROM money",
    "SELECT id, x * q, x * 2 FROM money WHERE x BETWEEN -1000000000 AND 1000000000",
    "SELECT id, 0.06 + 0.01, 100.00 * a, a * 0.0001, 1e3 * a, -0.5 FROM money",
    # literals of more than Python's default 28 digits (DECIMAL holds 38)
    "SELECT id, x > 1234567890123456789012345678.9, 12345678901234567890123456789012.345678 "
    "FROM money",
    # comparisons, IN, BETWEEN, CASE across scales and with integers, doubles and text
    "SELECT id FROM money WHERE a > 1.5 AND q <= 20 AND b <> 0",
    "SELECT id FROM money WHERE a = i OR q IN (1.5, 2, 30.25) OR x BETWEEN -1 AND 0.5",
    "SELECT id FROM money WHERE b > d OR q = '2.5' OR a < g",
    "SELECT id, CASE WHEN a > 0 THEN a ELSE q END, CASE WHEN b > 0 THEN b ELSE 1 END FROM money",
    "SELECT id, CASE WHEN a > 0 THEN a ELSE d END FROM money",
    # CAST to and from DECIMAL (rounding half away from zero)
    "SELECT id, CAST(a AS INTEGER), CAST(q AS BIGINT), CAST(a AS DOUBLE), CAST(a AS VARCHAR), "
    "CAST(a AS DECIMAL(14,1)), CAST(x AS DECIMAL(38,2)) FROM money",
    "SELECT id, CAST(d AS DECIMAL(15,2)), CAST(s AS DECIMAL(10,2)), CAST(i AS DECIMAL(6,1)), "
    "CAST(2.5 AS INTEGER), CAST(-2.5 AS INTEGER), CAST(1.25 AS DECIMAL(5,1)) FROM money",
    # rounding that carries into a new digit (99.99 → 100): DuckDB's values and types
    "SELECT id, r, ROUND(r), ROUND(r, 1), ROUND(r, -1), ROUND(r, -2), ROUND(r, -3), ROUND(r, 5), "
    "CEIL(r), FLOOR(r), CEIL(-r), FLOOR(-r) FROM money",
    "SELECT id, w, ROUND(w, -1), ROUND(w, -2), ROUND(w, -4), ROUND(w, -5), CEIL(w), ROUND(w) "
    "FROM money",
    "SELECT id, CAST(r AS DECIMAL(4,1)), CAST(r AS DECIMAL(3,0)), CAST(r AS INTEGER), "
    "CAST(r AS BIGINT), CAST(w AS DECIMAL(5,0)), CAST(r * r AS DECIMAL(6,0)) FROM money",
    "SELECT id, ROUND(a, -1), ROUND(q, -3), ROUND(CAST(w AS DECIMAL(38,0)), -2), "
    "ROUND(CAST(r AS DECIMAL(38,2))), CEIL(CAST(r AS DECIMAL(38,36))) FROM money",
    "SELECT id FROM money WHERE ROUND(r) = 100 OR CEIL(r) = -99 OR CAST(r AS INTEGER) = 10",
    # SUM of BIGINT is HUGEINT: arithmetic with integers and ABS keep it (checked to 38 digits)
    "SELECT k, SUM(g) * 2, SUM(g) + 1, SUM(g) - SUM(i), SUM(g) * SUM(i), SUM(g) * MAX(g), "
    "ABS(SUM(g)), -SUM(g), SUM(g) % 7, 3 * SUM(g) * 2 FROM money GROUP BY k",
    "SELECT k, SUM(g) * SUM(g), SUM(g) * 2.5, SUM(g) + MAX(a), ROUND(SUM(g), -3), CEIL(SUM(g)), "
    "GREATEST(SUM(g), 0), LEAST(SUM(g), MAX(g)), COALESCE(SUM(CASE WHEN g > 0 THEN g END), 0) "
    "FROM money GROUP BY k",
    "SELECT k FROM money GROUP BY k HAVING SUM(g) * 2 > 1000000 OR ABS(SUM(g)) * 3 < 10",
    # aggregates: SUM is DECIMAL(38,s), exact; AVG DOUBLE; MIN/MAX keep the type
    "SELECT k, SUM(a), SUM(a * b), AVG(a), MIN(q), MAX(x), COUNT(a), SUM(q) FROM money GROUP BY k",
    "SELECT SUM(a), SUM(b - a), AVG(q), MIN(a), MAX(a) FROM money",
    "SELECT k, SUM(DISTINCT q), COUNT(DISTINCT a), AVG(DISTINCT b) FROM money GROUP BY k",
    "SELECT SUM(x) FROM money WHERE x BETWEEN -1000000000 AND 1000000000",
    # equality on sums (the Q15 shape): exact whatever the task packing
    "SELECT k FROM money GROUP BY k HAVING SUM(a) = (SELECT MAX(t) FROM "
    "(SELECT SUM(a) AS t FROM money GROUP BY k))",
    "SELECT k, SUM(a) AS total FROM money GROUP BY k ORDER BY total DESC LIMIT 3",
    "SELECT a, COUNT(*) FROM money WHERE a IS NOT NULL GROUP BY a ORDER BY a LIMIT 5",
    # DATE ± INTERVAL is a TIMESTAMP; DATE ± n days a DATE; DATE and TIMESTAMP compare
    "SELECT id, day + INTERVAL 1 DAY, day - INTERVAL '3' MONTH, day + 7, ts + INTERVAL 1 MONTH "
    "FROM money",
    "SELECT id FROM money WHERE day + INTERVAL 1 YEAR > ts OR day = ts",
    "SELECT id FROM money WHERE day <= DATE '1995-06-01' - INTERVAL 90 DAY",
    "SELECT id, EXTRACT(YEAR FROM ts), MONTH(day + INTERVAL 1 MONTH) FROM money",
    "SELECT MIN(ts), MAX(day + INTERVAL 1 DAY) FROM money",
    # CAST to TIMESTAMP (sqlglot 30 parses it as TIMESTAMPNTZ) and TIMESTAMP literals
    "SELECT id, CAST(day AS TIMESTAMP), CAST('2024-01-02 03:04:05' AS TIMESTAMP), "
    "TIMESTAMP '2024-01-01 10:00:00', CAST(ts AS DATE), CAST(day AS DATETIME) FROM money",
    # a literal date + months, folded by the compiler: clamped to the month's last day
    "SELECT id, DATE '2024-01-31' + INTERVAL 1 MONTH, DATE '2023-03-31' - INTERVAL '1' MONTH, "
    "DATE '2023-12-31' + INTERVAL 2 MONTH, DATE '2024-08-31' + INTERVAL 1 QUARTER FROM money",
]


def _check(query: str, folder: str, con: duckdb.DuckDBPyConnection, **options) -> None:
    cursor = con.execute(query)
    expected = cursor.fetchall()
    types = [str(d[1]) for d in cursor.description]
    result = sqlmr.sql(query, folder, workers=2, split_size="8KB", reducers=3, **options)
    if {"HUGEINT", "DECIMAL(38,0)"} & set(types):
        # HUGEINT is a decimal128(38, 0) in Arrow: the declared type tells the two apart.
        declared = describe_query(query, sqlmr.api.resolve_catalog(folder)).column(1)
        assert declared.to_pylist() == types
    types = ["DECIMAL(38,0)" if t == "HUGEINT" else t for t in types]
    assert [_sql_type(t) for t in result.schema.types] == types
    assert_same(result, expected, ordered="order by" in query.lower(), columns=len(types))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("query", QUERIES)
def test_decimal_query_equals_duckdb(query: str, fmt: str, money) -> None:
    folder, con = money[fmt]
    _check(query, folder, con)


@pytest.mark.parametrize(
    "query, message",
    [
        ("SELECT x * x FROM money", "DECIMAL overflow"),
        ("SELECT SUM(x) FROM money", "SUM overflow"),
        ("SELECT CAST(a AS DECIMAL(5,2)) FROM money", "DECIMAL overflow"),
        ("SELECT a * 99999999999999999999999.99 * 99999999999999.0 FROM money", "overflow"),
        # rounding that carries past the target type: an error, not 0
        ("SELECT CAST(r AS DECIMAL(3,1)) FROM money", "DECIMAL overflow"),
        (
            "SELECT ROUND(CAST(CAST(w AS VARCHAR) || '0000000000000000000000000000000000' "
            "AS DECIMAL(38,0)), -38) FROM money",
            "DECIMAL overflow",
        ),
        # HUGEINT past 38 digits, with an integer and with another HUGEINT
        ("SELECT SUM(g) * 100000000000000000 * 100000000000000000 FROM money", "overflow"),
        ("SELECT SUM(g) * SUM(g) * SUM(g) FROM money", "overflow"),
    ],
)
def test_overflow_is_an_error_not_a_wrong_value(query: str, message: str, money) -> None:
    folder, con = money["parquet"]
    with pytest.raises(duckdb.Error):
        con.execute(query).fetchall()
    with pytest.raises(sqlmr.SqlmrError, match=message):
        sqlmr.sql(query, folder, workers=2)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    split=st.sampled_from(["2KB", "5KB", "13KB", "64MB"]),
    reducers=st.integers(1, 5),
    fmt=st.sampled_from(FORMATS),
)
def test_decimal_sums_do_not_depend_on_splits_or_reducers(split, reducers, fmt, money) -> None:
    """Exact: the same SUMs whatever the task packing, so equality on them is robust."""
    folder, con = money[fmt]
    query = "SELECT k, SUM(a), SUM(a * b), SUM(q) FROM money GROUP BY k ORDER BY k"
    expected = con.execute(query).fetchall()
    result = sqlmr.sql(query, folder, workers=2, split_size=split, reducers=reducers)
    assert table_rows(result) == expected


def test_cli_prints_decimals_and_timestamps_as_duckdb(money, capsys) -> None:
    from sqlmr.cli.app import main

    folder, con = money["text"]
    query = (
        "SELECT id, a, q * 2, CAST(0.0000001 AS DECIMAL(10,8)), day + INTERVAL 1 DAY "
        "FROM money WHERE id < 40 ORDER BY id"
    )
    rows = con.execute(query).fetchall()

    def text(v: object) -> str:
        return "" if v is None else format(v, "f") if isinstance(v, decimal.Decimal) else str(v)

    for fmt in ("csv", "table"):
        assert main(["query", query, "--tables", folder, "--format", fmt]) == 0
        out = capsys.readouterr().out
        for row in rows:
            cells = [text(v) for v in row]
            if fmt == "csv":
                assert ",".join(cells) in out.splitlines()
            else:
                assert all(c in out for c in cells)
