"""Scalar functions against DuckDB on the same files: ROUND, ABS, FLOOR, CEIL, COALESCE, NULLIF,
GREATEST, LEAST, DATE_TRUNC, DATE_DIFF, TRIM/LTRIM/RTRIM, REPLACE, STRPOS/POSITION, STARTS_WITH,
REGEXP_MATCHES, LPAD/RPAD, in SELECT, WHERE, GROUP BY, HAVING, ORDER BY and join conditions.

The `edge` table holds NULLs, empty strings, non-ASCII text (combining accents, emoji), padded
strings, negative numbers, halves (0.5, 2.5, -2.5), NaN-free extremes, INTEGER and BIGINT
limits and dates from year 1 to 9999. A hypothesis property runs ROUND, STRPOS, LPAD and
DATE_DIFF over generated values. Where DuckDB's result type differs by design (DATE_TRUNC of a
DATE is a TIMESTAMP in DuckDB, a DATE in sqlmr) the DuckDB query casts it, which is the stated
difference, not a difference in values.
"""

from __future__ import annotations

import datetime

import duckdb
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from conftest import assert_same, table_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sqlmr

SPLIT_SIZE = "4KB"
NOT_MIN = "n > -2147483648 AND big > -9223372036854775808"


def run(query: str, folder: str, **options) -> pa.Table:
    options = {"split_size": SPLIT_SIZE, "reducers": 3, "workers": 2} | options
    return sqlmr.sql(query, folder, **options)


QUERIES = [
    pytest.param(
        "SELECT id, score, ROUND(score), ROUND(score, 1), ROUND(score, 2), ROUND(score, 5), "
        "ROUND(score, -1), ROUND(score, -2), ROUND(n), ROUND(n, 2), ROUND(n, -1), "
        "ROUND(big, -3), ROUND(2.5), ROUND(-2.5), ROUND(NULL, 1), ROUND(score, NULL) FROM edge "
        "WHERE n BETWEEN -2147483000 AND 2147483000 AND big BETWEEN -1e18 AND 1e18",
        None,
        id="round",
    ),
    pytest.param(
        f"SELECT id, ABS(n), ABS(big), ABS(score), FLOOR(score), CEIL(score), CEILING(score), "
        f"FLOOR(n), CEIL(big), ABS(-0.0), FLOOR(-0.5), CEIL(-0.5) FROM edge WHERE {NOT_MIN}",
        None,
        id="abs-floor-ceil",
    ),
    pytest.param(
        "SELECT id, COALESCE(n, big), COALESCE(score, n, 0), COALESCE(name, grp, 'none'), "
        "COALESCE(day, DATE '2000-01-01'), COALESCE(NULL, n), COALESCE(n, '7'), "
        "NULLIF(n, 0), NULLIF(name, ''), NULLIF(score, 0.5), NULLIF(n, score), NULLIF(grp, NULL), "
        "GREATEST(n, big), GREATEST(score, n, 0.5), GREATEST(name, grp), GREATEST(day, "
        "DATE '2000-01-01'), LEAST(n, big), LEAST(score, 1, NULL), LEAST(name, grp, 'm'), "
        "LEAST(day, DATE '1999-12-31'), GREATEST(NULL, n), LEAST(n) FROM edge",
        None,
        id="null-handling",
    ),
    pytest.param(
        "SELECT id, day, DATE_TRUNC('day', day), DATE_TRUNC('week', day), "
        "DATE_TRUNC('month', day), DATE_TRUNC('quarter', day), DATE_TRUNC('year', day), "
        "DATE_DIFF('day', DATE '2000-01-01', day), DATE_DIFF('week', day, DATE '2000-01-01'), "
        "DATE_DIFF('month', DATE '2000-01-31', day), DATE_DIFF('quarter', day, "
        "DATE '2000-03-31'), DATE_DIFF('year', day, DATE '2000-12-31'), "
        "DATEDIFF('days', day, day), DATE_DIFF('month', '2020-01-31', day) FROM edge "
        "WHERE day > DATE '0001-01-07'",
        "SELECT id, day, CAST(DATE_TRUNC('day', day) AS DATE), "
        "CAST(DATE_TRUNC('week', day) AS DATE), CAST(DATE_TRUNC('month', day) AS DATE), "
        "CAST(DATE_TRUNC('quarter', day) AS DATE), CAST(DATE_TRUNC('year', day) AS DATE), "
        "DATE_DIFF('day', DATE '2000-01-01', day), DATE_DIFF('week', day, DATE '2000-01-01'), "
        "DATE_DIFF('month', DATE '2000-01-31', day), DATE_DIFF('quarter', day, "
        "DATE '2000-03-31'), DATE_DIFF('year', day, DATE '2000-12-31'), "
        "DATEDIFF('days', day, day), DATE_DIFF('month', DATE '2020-01-31', day) FROM edge "
        "WHERE day > DATE '0001-01-07'",
        id="dates",
    ),
    pytest.param(
        "SELECT id, name, TRIM(name), LTRIM(name), RTRIM(name), TRIM(name, 'a%_'), "
        "LTRIM(name, 'éa'), RTRIM(name, '\\'), TRIM(BOTH 'x' FROM name), "
        "TRIM(LEADING 'a' FROM name), TRIM(TRAILING 'z' FROM name), TRIM(name, ''), "
        "REPLACE(name, 'a', 'XY'), REPLACE(name, '%', ''), REPLACE(name, '', 'q'), "
        "REPLACE(name, 'é', 'e'), REPLACE(name, NULL, 'x') FROM edge",
        None,
        id="trim-replace",
    ),
    pytest.param(
        "SELECT id, name, STRPOS(name, 'a'), STRPOS(name, 'é'), STRPOS(name, ''), "
        "STRPOS(name, '本'), POSITION('%' IN name), INSTR(name, 'b'), STARTS_WITH(name, 'a'), "
        "STARTS_WITH(name, ''), STARTS_WITH(name, '日'), REGEXP_MATCHES(name, 'a.b'), "
        "REGEXP_MATCHES(name, '^[a-c]+$'), REGEXP_MATCHES(name, 'é|本'), "
        "REGEXP_MATCHES(name, 'ALPHA', 'i'), REGEXP_MATCHES(name, '\\\\'), "
        "REGEXP_MATCHES(name, '') FROM edge",
        None,
        id="search",
    ),
    pytest.param(
        "SELECT id, name, LPAD(name, 5, '*'), RPAD(name, 5, 'xy'), LPAD(name, 2, 'é'), "
        "RPAD(name, 0, 'x'), LPAD(name, -1, 'x'), LPAD(name, 8, '日本'), RPAD(grp, 3, ' '), "
        "LPAD(NULL, 3, 'x'), LPAD(name, 3, NULL) FROM edge",
        None,
        id="pad",
    ),
    pytest.param(
        "SELECT ROUND(score, 1) AS r, COUNT(*) AS c, SUM(n) FROM edge "
        "WHERE STARTS_WITH(COALESCE(name, ''), 'a') OR ABS(score) < 3 "
        "GROUP BY ROUND(score, 1) HAVING GREATEST(COUNT(*), 2) > 2 ORDER BY r NULLS FIRST",
        None,
        id="where-group-having-order",
    ),
    pytest.param(
        "SELECT DATE_TRUNC('year', day) AS y, LOWER(TRIM(grp)) AS g, COUNT(*) FROM edge "
        "GROUP BY 1, 2 ORDER BY y, g LIMIT 15",
        "SELECT CAST(DATE_TRUNC('year', day) AS DATE) AS y, LOWER(TRIM(grp)) AS g, COUNT(*) "
        "FROM edge GROUP BY 1, 2 ORDER BY y, g LIMIT 15",
        id="group-by-trunc-order-limit",
    ),
    pytest.param(
        "SELECT a.id, b.id FROM edge a JOIN edge b ON ABS(a.score) = FLOOR(b.score) "
        "AND LPAD(COALESCE(a.grp, '-'), 2, '.') = LPAD(COALESCE(b.grp, '-'), 2, '.') "
        "WHERE a.id < 300 AND b.id < 300",
        None,
        id="join-on-functions",
    ),
]


@pytest.mark.parametrize(("query", "duck_query"), QUERIES)
def test_function_equals_duckdb(query: str, duck_query: str | None, oracles) -> None:
    con, folder = oracles("edge")
    expected = con.execute(duck_query or query).fetchall()
    ordered = "ORDER BY" in query
    assert expected, "the case must have rows to compare"
    assert_same(run(query, folder), expected, ordered=ordered, columns=len(expected[0]))


ERRORS = [
    # (query, the error's class, a fragment of its message, the column its caret points at)
    ("SELECT ROUND(name) FROM edge", sqlmr.SqlError, "ROUND() expects", 14),
    ("SELECT ABS(day) FROM edge", sqlmr.SqlError, "ABS() expects", 12),
    ("SELECT TRIM(n) FROM edge", sqlmr.SqlError, "TRIM() expects VARCHAR", 13),
    ("SELECT STRPOS(name, grp) FROM edge", sqlmr.UnsupportedError, "STRPOS() with a non", 21),
    ("SELECT LPAD(name, 3) FROM edge", sqlmr.SqlError, "LPAD() takes three", 8),
    ("SELECT REGEXP_MATCHES(name, '(') FROM edge", sqlmr.SqlError, "invalid regular", 29),
    ("SELECT GREATEST(n, name) FROM edge", sqlmr.SqlError, "no common type", 8),
    ("SELECT DATE_DIFF('hour', day, day) FROM edge", sqlmr.UnsupportedError, "unit 'hour'", 8),
    ("SELECT ROUND(score, n) FROM edge", sqlmr.UnsupportedError, "non-constant digits", 21),
    ("SELECT ABS(n, 1) FROM edge", sqlmr.SqlError, "ABS() takes at most 1 argument(s), got 2", 16),
    ("SELECT COALESCE() FROM edge", sqlmr.SqlError, "COALESCE() is missing an argument", 17),
    ("SELECT n FROM (SELECT n FROM edge WHERE)", sqlmr.SqlError, "WHERE is incomplete", 40),
]


@pytest.mark.parametrize(("query", "error", "fragment", "column"), ERRORS)
def test_function_errors_name_the_function(query, error, fragment, column, edge_dir) -> None:
    with pytest.raises(error) as caught:
        run(query, edge_dir)
    assert fragment in str(caught.value)
    if column is not None:
        assert (caught.value.line, caught.value.col) == (1, column)


def test_runtime_errors_as_duckdb(edge_dir, oracles) -> None:
    """Overflow in ROUND and ABS of integers, and LPAD with nothing to pad with, fail in both."""
    con, _ = oracles("edge")
    for query in (
        "SELECT ABS(n) FROM edge",
        "SELECT ROUND(n, -1) FROM edge",
        "SELECT LPAD(name, 30, '') FROM edge",
    ):
        with pytest.raises(duckdb.Error):
            con.execute(query).fetchall()
        with pytest.raises(sqlmr.SqlmrError):
            run(query, edge_dir)


# -- a property over generated values ------------------------------------------------------------

_TEXT = st.text(alphabet="ab é日%_ \\xy", max_size=8)
_ROW = st.tuples(
    st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0.5, -2.5, 0.15])),
    st.one_of(st.none(), _TEXT),
    st.one_of(st.none(), st.dates(datetime.date(1900, 1, 1), datetime.date(2100, 12, 31))),
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(_ROW, min_size=1, max_size=40), digits=st.integers(-3, 4))
def test_functions_over_generated_values(rows, digits, tmp_path_factory) -> None:
    folder = tmp_path_factory.mktemp("generated")
    (folder / "t").mkdir()
    table = pa.table(
        {
            "x": pa.array([r[0] for r in rows], pa.float64()),
            "s": pa.array([r[1] for r in rows], pa.string()),
            "d": pa.array([r[2] for r in rows], pa.date32()),
        }
    )
    pcsv.write_csv(table, folder / "t" / "part-0.csv")
    (folder / "catalog.toml").write_text(
        '[tables.t]\nlocation = "t"\nformat = "csv"\nheader = true\n'
        'columns = "x DOUBLE, s VARCHAR, d DATE"\n'
    )
    query = (
        f"SELECT ROUND(x, {digits}), FLOOR(x), STRPOS(s, 'é'), STRPOS(s, 'x'), "
        f"LPAD(s, 4, 'ab'), RPAD(s, 3, '日'), TRIM(s, ' a'), REPLACE(s, 'y', 'yy'), "
        "DATE_DIFF('month', d, DATE '2000-02-29'), DATE_DIFF('week', DATE '2000-02-29', d), "
        "DATE_TRUNC('quarter', d) FROM t"
    )
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW t AS SELECT * FROM read_csv('{folder / 't' / 'part-0.csv'}', header = true, "
        "columns = {'x': 'DOUBLE', 's': 'VARCHAR', 'd': 'DATE'})"
    )
    expected = con.execute(
        query.replace("DATE_TRUNC('quarter', d)", "CAST(DATE_TRUNC('quarter', d) AS DATE)")
    ).fetchall()
    result = run(query, str(folder), workers=1, split_size="64KB")
    assert_same(result, expected, ordered=False, columns=11)
    assert len(table_rows(result)) == len(rows)
