"""Property tests: a query's answer does not depend on how the job is cut (split size, workers,
reducers), and generated tables give DuckDB's answers.

Every run is compared with DuckDB, and with the first run of the same query (invariance).
"""

from __future__ import annotations

import datetime
import os
import tempfile
from pathlib import Path

import duckdb
import pytest
from conftest import (
    EDGE_COLUMNS,
    assert_same,
    duck_connect,
    duck_table,
    table_rows,
    write_catalog,
    write_csv_table,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sqlmr

# -- invariance under the cut of the job ----------------------------------------------------------

# (dataset, query, ordered)
QUERIES = {
    "2a": (
        "amplab",
        "SELECT SUBSTR(sourceIP, 1, 8), SUM(adRevenue) FROM uservisits "
        "GROUP BY SUBSTR(sourceIP, 1, 8)",
        False,
    ),
    "scan": (
        "amplab",
        "SELECT pageURL, pageRank, avgDuration FROM rankings "
        "WHERE pageRank > 40 OR avgDuration < 5",
        False,
    ),
    "global": (
        "amplab",
        "SELECT COUNT(*), SUM(adRevenue), AVG(duration), MIN(visitDate), MAX(searchWord), "
        "COUNT(searchWord) FROM uservisits",
        False,
    ),
    "top": (
        "amplab",
        "SELECT sourceIP, adRevenue FROM uservisits ORDER BY adRevenue DESC, sourceIP LIMIT 15",
        True,
    ),
    "distinct": (
        "amplab",
        "SELECT DISTINCT countryCode, languageCode FROM uservisits",
        False,
    ),
    "edge-group": (
        "edge",
        "SELECT grp, flag, COUNT(*), COUNT(n), SUM(n), MIN(name), MAX(day), AVG(score) "
        "FROM edge GROUP BY grp, flag",
        False,
    ),
    "edge-top": (
        "edge",
        "SELECT id, name, n FROM edge ORDER BY n DESC NULLS FIRST, id, name LIMIT 25",
        True,
    ),
    "edge-union": (
        "edge",
        "SELECT g, COUNT(*), MIN(v), MAX(v) FROM (SELECT grp AS g, n AS v FROM edge WHERE n > 0 "
        "UNION ALL SELECT name, score FROM edge UNION SELECT grp, n FROM edge) u GROUP BY g",
        False,
    ),
}

KB = 1024
# uservisits is ~1.7 MB: its smallest split stays at 8 KB (~200 tasks) to keep the file fast.
SPLITS = {
    "amplab": st.sampled_from(["8KB", "32KB", "100KB", "512KB", "2MB"])
    | st.integers(8 * KB, 2048 * KB),
    "edge": st.sampled_from(["1KB", "3KB", "16KB", "2MB"]) | st.integers(1 * KB, 64 * KB),
}


@pytest.fixture(scope="module")
def oracle(amplab_dir: str, edge_dir: str):
    """Each query's DuckDB answer (rows, column count), computed once."""
    con = duck_connect(amplab_dir, edge_dir)
    cache: dict[str, tuple[list[tuple], int]] = {}

    def expected(name: str) -> tuple[list[tuple], int]:
        if name not in cache:
            cursor = con.execute(QUERIES[name][1])
            cache[name] = (cursor.fetchall(), len(cursor.description))
        return cache[name]

    yield expected
    con.close()


@pytest.mark.parametrize("name", list(QUERIES))
def test_answer_does_not_depend_on_the_cut(
    name: str, amplab_dir: str, edge_dir: str, oracle
) -> None:
    data, query, ordered = QUERIES[name]
    folder = amplab_dir if data == "amplab" else edge_dir
    expected, columns = oracle(name)
    first: list = []

    @settings(
        max_examples=5,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        split=SPLITS[data],
        workers=st.integers(1, 3),
        reducers=st.integers(1, 8),
    )
    def run(split, workers: int, reducers: int) -> None:
        result = sqlmr.sql(query, folder, split_size=split, workers=workers, reducers=reducers)
        assert_same(result, expected, ordered=ordered, columns=columns)
        if not first:
            first.append(table_rows(result))
        else:
            assert_same(result, first[0], ordered=ordered, columns=columns)

    run()


# -- generated tables -----------------------------------------------------------------------------

GEN_COLUMNS = [
    ("k", "VARCHAR"),
    ("a", "INTEGER"),
    ("b", "BIGINT"),
    ("d", "DOUBLE"),
    ("day", "DATE"),
    ("f", "BOOLEAN"),
]

keys = (
    st.none()
    | st.sampled_from(["a", "b", "B", "é", "日本", "a_b", "%", " x", "ab\\", "0", "NULL"])
    | st.text(alphabet="abAé日_%\\ ", min_size=1, max_size=4)
)
ints = st.none() | st.integers(-(2**31), 2**31 - 1) | st.integers(-5, 5)
bigs = st.none() | st.integers(-(2**62), 2**62)
# Multiples of 1/8 add up exactly in any order, so SUM and AVG are order-independent.
doubles = st.none() | st.integers(-(10**6), 10**6).map(lambda i: i / 8)
days = st.none() | st.dates(datetime.date(1, 1, 1), datetime.date(9999, 12, 31))
flags = st.none() | st.booleans()

rows_strategy = st.lists(st.tuples(keys, ints, bigs, doubles, days, flags), max_size=80)


def _field(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, datetime.date) else str(value)


GEN_QUERIES = [
    (
        "SELECT k, COUNT(*), COUNT(a), SUM(a), MIN(a), MAX(b), AVG(d), SUM(d), MIN(day), "
        "MAX(f) FROM t GROUP BY k",
        False,
    ),
    ("SELECT k, a, d, day FROM t WHERE a > 0 OR k LIKE 'a%' OR d IS NULL OR NOT f", False),
    (
        "SELECT f, day > DATE '2000-01-01', COUNT(*), SUM(a), MAX(k), MIN(d) FROM t "
        "WHERE b > 0 OR day IS NULL GROUP BY ALL",
        False,
    ),
    ("SELECT a, k FROM t ORDER BY a DESC NULLS FIRST, k NULLS FIRST LIMIT 7", True),
    ("SELECT DISTINCT UPPER(k), f FROM t", False),
]


@settings(
    max_examples=int(os.environ.get("SQLMR_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    rows=rows_strategy,
    header=st.booleans(),
    cuts=st.lists(st.floats(0, 1), max_size=2).map(sorted),
    split=st.integers(24, 4096),
    reducers=st.integers(1, 4),
)
def test_generated_tables_match_duckdb(rows, header, cuts, split, reducers) -> None:
    fields = [[_field(v) for v in row] for row in rows]  # an all-NULL row is ",,,"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_csv_table(root / "t", [c for c, _ in GEN_COLUMNS] if header else None, fields, cuts)
        write_catalog(root, "t", GEN_COLUMNS, header=header)
        con = duckdb.connect()
        duck_table(con, "t", root / "t", GEN_COLUMNS, header=header)
        for query, ordered in GEN_QUERIES:
            cursor = con.execute(query)
            expected = cursor.fetchall()
            result = sqlmr.sql(query, str(root), split_size=split, workers=2, reducers=reducers)
            assert_same(result, expected, ordered=ordered, columns=len(cursor.description))
        con.close()


def test_edge_columns_are_what_the_catalog_says(edge_dir: str) -> None:
    """The edge fixture's catalog and DuckDB's table agree on the schema."""
    con = duck_connect(edge=edge_dir)
    described = [(r[0], r[1]) for r in con.execute("DESCRIBE edge").fetchall()]
    assert described == EDGE_COLUMNS
    con.close()
