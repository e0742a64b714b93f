"""Property tests of joins and DISTINCT: an answer does not depend on the split size, the number of
workers or reducers, nor on the join strategy that the broadcast threshold picks (0, the smaller
table's size minus one, exactly it, plus one, huge); and joins of generated tables (int keys with
duplicates and NULLs, short strings) give DuckDB's answers.

Every run is compared with DuckDB, and with the first run of the same query (invariance).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import duckdb
import pytest
from conftest import assert_same, duck_connect, duck_table, table_rows, write_catalog
from conftest import write_csv_table as write_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_joins import amplab3, duck_join_tables, join_strategy, write_join_tables

import sqlmr
from sqlmr.api import QueryOptions

KB = 1024
HUGE = 1 << 40

# -- invariance under the cut of the job and the join strategy ------------------------------------

# name: (dataset, query, the two tables it joins or None, ordered)
QUERIES = {
    "jt-join": (
        "jt",
        "SELECT l.id, r.rid, l.v + r.w FROM l JOIN r ON l.k = r.k AND l.g = r.g "
        "WHERE l.v > -50 AND r.w <> 0",
        ("l", "r"),
        False,
    ),
    "jt-join-group-distinct": (
        "jt",
        "SELECT l.k2, COUNT(*), SUM(r.w), COUNT(DISTINCT r.g), COUNT(DISTINCT l.d), MIN(l.s) "
        "FROM l, r WHERE l.k = r.k GROUP BY l.k2",
        ("l", "r"),
        False,
    ),
    "jt-join-top": (
        "jt",
        "SELECT l.id, r.rid, r.s FROM r JOIN l ON r.k2 = l.k2 WHERE l.x = r.x "
        "ORDER BY l.id DESC, r.rid LIMIT 9",
        ("l", "r"),
        True,
    ),
    "jt-join-subquery": (
        "jt",
        "SELECT g, n, t FROM (SELECT r.g, COUNT(*) AS n, SUM(l.v) AS t FROM l JOIN r "
        "ON l.d = r.d GROUP BY r.g) WHERE n > 10 ORDER BY n DESC, g NULLS FIRST",
        ("l", "r"),
        True,
    ),
    "jt-distinct-aggregates": (
        "jt",
        "SELECT g, COUNT(DISTINCT k), SUM(DISTINCT k), AVG(DISTINCT v), COUNT(DISTINCT k2), "
        "COUNT(*), SUM(v) FROM l GROUP BY g",
        None,
        False,
    ),
    "jt-distinct-global": (
        "jt",
        "SELECT COUNT(DISTINCT k), COUNT(DISTINCT s), SUM(DISTINCT w), MAX(d) FROM r",
        None,
        False,
    ),
    "jt-select-distinct": ("jt", "SELECT DISTINCT k, g, x FROM l", None, False),
    "amplab-3b": ("amplab", amplab3("1983-01-01"), ("rankings", "uservisits"), True),
}

SPLITS = {
    "amplab": st.sampled_from(["16KB", "64KB", "2MB"]) | st.integers(16 * KB, 1024 * KB),
    "jt": st.sampled_from(["600", "1KB", "4KB", "1MB"]) | st.integers(400, 24 * KB),
}
THRESHOLDS = st.sampled_from(["zero", "small-1", "small", "small+1", "huge"])


def table_bytes(folder: str | Path, table: str) -> int:
    return sum(p.stat().st_size for p in (Path(folder) / table).iterdir() if p.is_file())


def threshold_for(choice: str, small: int) -> int:
    return {
        "zero": 0,
        "small-1": small - 1,
        "small": small,
        "small+1": small + 1,
        "huge": HUGE,
    }[choice]


def run(query: str, folder: str, split, workers: int, reducers: int, threshold: int):
    options = QueryOptions(
        workers=workers, split_size=split, reducers=reducers, broadcast_threshold=threshold
    )
    plan = sqlmr.compile_query(query, sqlmr.resolve_catalog(folder), options)
    with sqlmr.run(plan, options) as job:
        return plan, job.read_all()


@pytest.fixture(scope="module")
def folders(amplab_dir: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("join-properties")
    write_join_tables(root)
    return {"amplab": amplab_dir, "jt": str(root)}


@pytest.fixture(scope="module")
def oracle(folders: dict[str, str]):
    """Each query's DuckDB answer (rows, column count), computed once."""
    connections = {
        "amplab": duck_connect(folders["amplab"]),
        "jt": duck_join_tables(Path(folders["jt"])),
    }
    cache: dict[str, tuple[list[tuple], int]] = {}

    def expected(name: str) -> tuple[list[tuple], int]:
        if name not in cache:
            data, query, _, _ = QUERIES[name]
            cursor = connections[data].execute(query)
            cache[name] = (cursor.fetchall(), len(cursor.description))
        return cache[name]

    yield expected
    for con in connections.values():
        con.close()


@pytest.mark.parametrize("name", list(QUERIES))
def test_answer_does_not_depend_on_cut_or_strategy(name: str, folders, oracle) -> None:
    data, query, tables, ordered = QUERIES[name]
    folder = folders[data]
    expected, columns = oracle(name)
    assert expected, "the query should have rows"
    small = min(table_bytes(folder, t) for t in tables) if tables else 0
    first: list = []

    @settings(
        max_examples=4 if data == "amplab" else 8,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        split=SPLITS[data],
        workers=st.integers(1, 3),
        reducers=st.integers(1, 8),
        threshold=THRESHOLDS,
    )
    def check(split, workers: int, reducers: int, threshold: str) -> None:
        limit = threshold_for(threshold, small)
        plan, result = run(query, folder, split, workers, reducers, limit)
        if tables:
            want = "broadcast" if small <= limit else "shuffle"
            assert join_strategy(plan) == want, [s.id for s in plan.stages]
        assert_same(result, expected, ordered=ordered, columns=columns)
        if not first:
            first.append(table_rows(result))
        else:
            assert_same(result, first[0], ordered=ordered, columns=columns)

    check()


# -- generated tables -----------------------------------------------------------------------------

A_COLUMNS = [("k", "INTEGER"), ("s", "VARCHAR"), ("v", "BIGINT")]
B_COLUMNS = [("k", "BIGINT"), ("s", "VARCHAR"), ("w", "INTEGER")]

# Few distinct keys, so that keys repeat on both sides; now and then one no INTEGER can equal.
few = st.integers(-3, 3)
a_keys = st.one_of(few, few, st.none(), st.integers(-(2**31), 2**31 - 1))
b_keys = st.one_of(few, few, st.none(), st.sampled_from([2**31, -(2**31) - 1, 2**40]))
strings = st.one_of(
    st.sampled_from(["a", "A", "b", "é", "e\u0301", " a", "a "]),
    st.none(),
    st.text(alphabet="abAé _%\\", min_size=1, max_size=3),
)
small_ints = st.none() | st.integers(-1000, 1000)


def table(keys: st.SearchStrategy) -> st.SearchStrategy:
    """Rows, and now and then each row repeated: many-to-many matches of whole rows."""
    rows = st.lists(st.tuples(keys, strings, small_ints), max_size=50)
    return st.tuples(rows, st.integers(1, 3)).map(lambda t: t[0] * t[1])


a_rows, b_rows = table(a_keys), table(b_keys)

# (query, ordered, joins)
GEN_QUERIES = [
    ("SELECT a.k, a.s, a.v, b.s, b.w FROM a JOIN b ON a.k = b.k", False, True),
    ("SELECT a.v, b.w FROM a, b WHERE a.k = b.k AND a.s = b.s AND a.v > b.w", False, True),
    (
        "SELECT a.s, COUNT(*), SUM(b.w), COUNT(DISTINCT b.k), MIN(a.v), AVG(DISTINCT a.v) "
        "FROM a JOIN b ON a.s = b.s GROUP BY a.s",
        False,
        True,
    ),
    (
        "SELECT a.k, b.w FROM b JOIN a ON b.k = a.k WHERE b.s IS NULL OR a.s < b.s "
        "ORDER BY 1 DESC, 2 NULLS FIRST LIMIT 5",
        True,
        True,
    ),
    (
        "SELECT s, COUNT(*), COUNT(DISTINCT k), SUM(DISTINCT v), AVG(DISTINCT k), MAX(v) "
        "FROM a GROUP BY s",
        False,
        False,
    ),
    ("SELECT COUNT(DISTINCT k), SUM(DISTINCT w), COUNT(DISTINCT s) FROM b", False, False),
    ("SELECT DISTINCT k, s FROM b", False, False),
]


def _field(value: object) -> str:
    return "" if value is None else str(value)


@settings(
    max_examples=int(os.environ.get("SQLMR_JOIN_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    a=a_rows,
    b=b_rows,
    header=st.booleans(),
    cuts=st.lists(st.floats(0, 1), max_size=2).map(sorted),
    split=st.integers(24, 2048),
    reducers=st.integers(1, 8),
    threshold=THRESHOLDS,
)
def test_generated_joins_match_duckdb(a, b, header, cuts, split, reducers, threshold) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        con = duckdb.connect()
        for name, rows, columns in (("a", a, A_COLUMNS), ("b", b, B_COLUMNS)):
            fields = [[_field(v) for v in row] for row in rows]
            write_table(root / name, [c for c, _ in columns] if header else None, fields, cuts)
            write_catalog(root, name, columns, header=header)
            duck_table(con, name, root / name, columns, header=header)
        small = min(table_bytes(root, "a"), table_bytes(root, "b"))
        limit = threshold_for(threshold, small)
        for query, ordered, joins in GEN_QUERIES:
            cursor = con.execute(query)
            expected = cursor.fetchall()
            plan, result = run(query, str(root), split, 2, reducers, limit)
            if joins:
                want = "broadcast" if small <= limit else "shuffle"
                assert join_strategy(plan) == want
            assert_same(result, expected, ordered=ordered, columns=len(cursor.description))
        con.close()
