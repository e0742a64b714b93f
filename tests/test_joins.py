"""Differential tests of joins, FROM subqueries and DISTINCT aggregates: every query runs through
sqlmr and through DuckDB over the same files, and the results must agree.

A query over two tables runs twice, once per join strategy: `shuffle` (broadcast threshold 0: both
sides are partitioned by the join key into a join stage) and `broadcast` (a huge threshold: the
smaller table is read whole by every map task of the bigger one); the plan is checked to use the
strategy asked for. A query over one table runs once. Split sizes are small and there are three
reducers, so that every stage has several tasks.

Data: the Amplab tables, the `edge` table of nasty values (see conftest.py), and the small tables
written here: `l` and `r` share the column names k, k2, s, d, g, x (k is INTEGER in l and BIGINT in
r), have NULLs in every column but the ids, and many duplicate keys on both sides; `e` has r's
columns and no rows.

Checks (as in test_differential.py): rows (a multiset), ordered (a sequence; ORDER BY keys make
the order unique), subset (LIMIT without ORDER BY), error (DuckDB raises and sqlmr raises an
SqlmrError, whose message matches `match` when given).
"""

from __future__ import annotations

import datetime
import random
import re
from pathlib import Path

import duckdb
import pytest
from conftest import (
    Case,
    assert_same,
    case,
    duck_table,
    rows_equal,
    table_rows,
    write_catalog,
    write_csv_table,
)

import sqlmr
from sqlmr.api import QueryOptions

SPLIT_SIZE = {"amplab": "32KB", "edge": "4KB", "jt": "1KB"}
REDUCERS = 3
WORKERS = 2
THRESHOLD = {"shuffle": 0, "broadcast": 1 << 40}

# -- the small join tables ------------------------------------------------------------------------

L_COLUMNS = [
    ("id", "BIGINT"),
    ("k", "INTEGER"),
    ("k2", "VARCHAR"),
    ("s", "VARCHAR"),
    ("v", "DOUBLE"),
    ("d", "DATE"),
    ("g", "VARCHAR"),
    ("x", "DOUBLE"),
    ("b", "BIGINT"),
]
R_COLUMNS = [
    ("rid", "INTEGER"),
    ("k", "BIGINT"),
    ("k2", "VARCHAR"),
    ("s", "VARCHAR"),
    ("w", "INTEGER"),
    ("d", "DATE"),
    ("g", "VARCHAR"),
    ("x", "DOUBLE"),
]
JT_TABLES = {"l": L_COLUMNS, "r": R_COLUMNS, "e": R_COLUMNS}

# String keys that only match exactly: case, accents (composed or not), spaces, look-alikes of NULL.
STRING_KEYS = ["a", "A", "b", "é", "e\u0301", "日本", " a", "a ", "NULL", "0", "%", "ß"]
BIGS = [0, 1, -1, 12345, 2**62, 2**62 + 1, 2**63 - 1, -(2**63), -(2**62)]


def _join_rows(rng: random.Random, count: int, left: bool) -> list[list[str]]:
    rows = []
    for i in range(count):

        def maybe(value: object, p_null: float = 0.1) -> str:
            return "" if rng.random() < p_null else str(value)

        if left:
            k = maybe(rng.randint(0, 15))
        else:  # some keys that no INTEGER can equal
            k = maybe(rng.choice([rng.randint(0, 20), rng.randint(0, 20), 2**40, -(2**33)]))
        day = datetime.date(2000, 1, 1) + datetime.timedelta(days=rng.randint(0, 40))
        row = [
            str(i),
            k,
            maybe(rng.choice(STRING_KEYS)),
            maybe(rng.choice(["x", "y", "zz", "é", "日本", "Ab"])),
            # v: multiples of 1/8, so that sums are exact in any order; w: small integers
            maybe(rng.randint(-800, 800) / 8 if left else rng.randint(-50, 50)),
            maybe(day.isoformat()),
            maybe(rng.choice(["p", "q", "r"])),
            maybe(rng.choice(["0.0", "-0.0", "0.5", "-1.5", "2.0"])),
        ]
        if left:
            row.append(maybe(rng.choice(BIGS) if rng.random() < 0.5 else rng.randint(-99, 99)))
        rows.append(row)
    return rows


def write_join_tables(root: Path, seed: int = 7) -> None:
    """Tables l (300 rows, three parts), r (200 rows, two parts) and e (a header, no rows)."""
    rng = random.Random(seed)
    tables = {"l": _join_rows(rng, 300, True), "r": _join_rows(rng, 200, False), "e": []}
    cuts = {"l": (0.3, 0.5), "r": (0.6,), "e": ()}
    for name, columns in JT_TABLES.items():
        write_csv_table(root / name, [c for c, _ in columns], tables[name], cuts[name])
        write_catalog(root, name, columns)


def duck_join_tables(root: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, columns in JT_TABLES.items():
        duck_table(con, name, root / name, columns, header=True)
    return con


@pytest.fixture(scope="session")
def jt_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("joins")
    write_join_tables(root)
    return str(root)


# -- cases ----------------------------------------------------------------------------------------


A, E, J = "amplab", "edge", "jt"


def amplab3(date: str) -> str:
    return (
        "SELECT sourceIP, totalRevenue, avgPageRank FROM "
        "(SELECT sourceIP, AVG(pageRank) AS avgPageRank, SUM(adRevenue) AS totalRevenue "
        "FROM Rankings AS R, UserVisits AS UV "
        "WHERE R.pageURL = UV.destURL "
        f"AND UV.visitDate BETWEEN DATE '1980-01-01' AND DATE '{date}' "
        "GROUP BY UV.sourceIP) "
        "ORDER BY totalRevenue DESC LIMIT 1"
    )


JOIN_CASES = [
    # == the Amplab benchmark's query 3, and more over rankings ⋈ uservisits ======================
    case(A, amplab3("1980-04-01"), "ordered", id="amplab-3a", names=True),
    case(A, amplab3("1983-01-01"), "ordered", id="amplab-3b", names=True),
    case(A, amplab3("2010-01-01"), "ordered", id="amplab-3c", names=True),
    case(
        A,
        "SELECT sourceIP, AVG(pageRank) AS avgPageRank, SUM(adRevenue) AS totalRevenue "
        "FROM Rankings AS R, UserVisits AS UV WHERE R.pageURL = UV.destURL "
        "AND UV.visitDate BETWEEN DATE '1980-01-01' AND DATE '1983-01-01' GROUP BY UV.sourceIP",
        id="amplab-3b-inner",
    ),
    case(
        A,
        "SELECT R.pageURL, R.pageRank, UV.sourceIP, UV.adRevenue FROM rankings AS R "
        "JOIN uservisits AS UV ON R.pageURL = UV.destURL WHERE R.pageRank > 50",
        id="amplab-join-filter-small-side",
        names=True,
    ),
    case(
        A,
        "SELECT * FROM rankings JOIN uservisits ON pageURL = destURL WHERE duration < 5",
        id="amplab-join-star-unqualified",
        names=True,
    ),
    case(
        A,
        "SELECT uv.sourceIP, r.pageRank, uv.visitDate FROM uservisits uv JOIN rankings r "
        "ON uv.destURL = r.pageURL WHERE uv.adRevenue > 0.9",
        id="amplab-join-small-side-right",
    ),
    case(
        A,
        "SELECT countryCode, COUNT(*), SUM(pageRank), AVG(adRevenue), MIN(visitDate), "
        "MAX(avgDuration) FROM rankings, uservisits WHERE pageURL = destURL GROUP BY countryCode",
        id="amplab-join-group-other-key",
    ),
    case(
        A,
        "SELECT r.pageRank, uv.sourceIP, uv.visitDate, uv.adRevenue FROM rankings r "
        "JOIN uservisits uv ON r.pageURL = uv.destURL ORDER BY 1 DESC, 2, 3, 4 LIMIT 10",
        "ordered",
        id="amplab-join-order-limit",
    ),
    case(
        A,
        "SELECT R.pageURL, UV.sourceIP FROM rankings AS R JOIN uservisits AS UV "
        "ON R.pageURL = UV.destURL AND R.avgDuration = UV.duration",
        id="amplab-join-two-keys",
    ),
    case(
        A,
        "SELECT R.pageURL, UV.duration FROM rankings R, uservisits UV "
        "WHERE R.pageURL = UV.destURL AND R.pageRank > UV.duration",
        id="amplab-join-residual",
    ),
    case(
        A,
        "SELECT COUNT(*), COUNT(DISTINCT sourceIP), SUM(DISTINCT pageRank), "
        "AVG(DISTINCT pageRank), COUNT(DISTINCT visitDate) FROM rankings "
        "JOIN uservisits ON pageURL = destURL",
        id="amplab-join-distinct-aggregates",
    ),
    case(
        A,
        "SELECT sourceIP, n FROM (SELECT UV.sourceIP, COUNT(*) AS n FROM rankings R "
        "JOIN uservisits UV ON R.pageURL = UV.destURL GROUP BY UV.sourceIP) "
        "WHERE n > 1 ORDER BY n DESC, sourceIP LIMIT 5",
        "ordered",
        id="amplab-join-subquery-top",
    ),
    # == the edge table joined to itself: nasty keys ==============================================
    case(
        E,
        "SELECT a.id, b.id, a.name FROM edge a JOIN edge b ON a.name = b.name WHERE a.id < 300",
        id="edge-self-string-key",
    ),
    case(
        E,
        "SELECT a.id, b.id FROM edge a JOIN edge b ON a.big = b.big WHERE a.id < 300",
        id="edge-self-bigint-key-extremes",
    ),
    case(
        E,
        "SELECT a.id, b.id, a.score FROM edge a JOIN edge b ON a.score = b.score WHERE a.id < 300",
        id="edge-self-double-key",
    ),
    case(
        E,
        "SELECT a.id, b.id FROM edge a JOIN edge b ON a.day = b.day",
        id="edge-self-date-key",
    ),
    case(
        E,
        "SELECT a.id, b.id FROM edge a JOIN edge b ON a.flag = b.flag AND a.n = b.n "
        "WHERE a.id < 100",
        id="edge-self-bool-and-int-keys",
    ),
    case(
        E,
        "SELECT a.id, b.id FROM edge a JOIN edge b ON a.n = b.big",
        id="edge-int-vs-bigint-key",
    ),
    case(
        E,
        "SELECT a.id, b.id FROM edge a JOIN edge b ON a.n = b.score",
        id="edge-int-vs-double-key",
    ),
    case(
        E,
        "SELECT a.grp, COUNT(*), COUNT(DISTINCT b.name), SUM(DISTINCT b.n), MIN(b.day) "
        "FROM edge a JOIN edge b ON a.id = b.id GROUP BY a.grp",
        id="edge-self-join-distinct-grouped",
    ),
    case(
        E,
        "SELECT a.id, b.id FROM edge a JOIN edge b ON a.n + a.n = b.n WHERE a.id < 50",
        "error",
        id="edge-join-key-overflow",
        match="overflow",
    ),
    # == the small tables: keys ===================================================================
    case(J, "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k", id="jt-int32-int64-keys", names=True),
    case(J, "SELECT l.id, r.rid FROM r JOIN l ON r.k = l.k", id="jt-small-side-left"),
    case(J, "SELECT l.id, r.rid, l.k2 FROM l JOIN r ON l.k2 = r.k2", id="jt-string-keys"),
    case(J, "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k AND l.k2 = r.k2", id="jt-two-keys"),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON l.k2 = r.k2 AND l.d = r.d AND l.g = r.g",
        id="jt-three-keys-string-date",
    ),
    case(J, "SELECT l.id, r.rid, l.d FROM l JOIN r ON l.d = r.d", id="jt-date-key"),
    case(J, "SELECT l.id, r.rid, l.x FROM l JOIN r ON l.x = r.x", id="jt-double-key-neg-zero"),
    case(J, "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.x", id="jt-int-vs-double-key"),
    case(J, "SELECT l.id, r.rid FROM l JOIN r ON l.v = r.w", id="jt-double-vs-int-key"),
    case(J, "SELECT l.id, r.rid FROM l JOIN r ON l.k + 1 = r.k", id="jt-expression-key"),
    case(J, "SELECT l.id, r.rid FROM l JOIN r ON UPPER(l.k2) = r.k2", id="jt-function-key"),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON CASE WHEN l.k > 5 THEN l.k END = r.k",
        id="jt-key-null-by-case",
    ),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON l.k2 = r.k2 WHERE l.k2 IS NULL OR r.k2 IS NULL",
        id="jt-null-keys-never-match",
    ),
    case(
        J,
        "SELECT COUNT(*), COUNT(r.rid) FROM l JOIN r ON l.k = r.k AND l.k2 = r.k2 "
        "WHERE l.k IS NULL",
        id="jt-null-in-one-of-two-keys",
    ),
    case(J, "SELECT l.id, r.rid FROM l JOIN r ON (l.k = r.k)", id="jt-parenthesised-on"),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON r.k = l.k AND l.k = r.k",
        id="jt-same-key-twice-reversed",
    ),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k AND r.w = l.k",
        id="jt-one-column-two-keys",
    ),
    case(J, "SELECT l.id, r.rid FROM l INNER JOIN r ON l.k = r.k", id="jt-inner-join-keyword"),
    case(
        J,
        "SELECT l.id, r.rid FROM l, r WHERE l.k2 = r.k2 AND l.k = r.k",
        id="jt-comma-join-two-keys",
    ),
    case(J, "SELECT a.id, b.id FROM l AS a, l AS b WHERE a.k = b.k", id="jt-comma-self-join"),
    case(
        J,
        "SELECT a.id, b.id FROM l AS a JOIN l AS b ON a.k = b.k WHERE a.id < b.id",
        id="jt-self-join-residual",
    ),
    case(
        J,
        "SELECT l.id, b.id FROM l JOIN l AS b ON l.k = b.k AND l.id < b.id",
        id="jt-self-join-one-alias",
    ),
    case(
        J,
        "SELECT r.id, l.rid, l.w FROM l AS r JOIN r AS l ON l.k = r.k AND l.w > 30",
        id="jt-aliases-swap-table-names",
    ),
    case(J, "SELECT L.ID, R.RID FROM l JOIN r ON L.K = R.K", id="jt-names-case-insensitive"),
    # == filters and residual conditions ==========================================================
    case(
        J,
        "SELECT l.id, r.rid, l.v, r.w FROM l JOIN r ON l.k = r.k WHERE l.v > 0 AND r.w < 10",
        id="jt-filters-both-sides",
    ),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k AND l.id > 100 AND r.g = 'p'",
        id="jt-filters-in-on",
    ),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k WHERE l.k2 LIKE 'a%' "
        "AND r.k2 IN ('a', 'b', 'é')",
        id="jt-like-and-in-filters",
    ),
    case(
        J,
        "SELECT l.id, r.rid, l.v + r.w FROM l JOIN r ON l.k = r.k WHERE l.v + r.w > 10",
        id="jt-residual-arithmetic",
    ),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k WHERE l.v > 50 OR r.w < -40",
        id="jt-residual-or",
    ),
    case(
        J, "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k WHERE l.d > r.d", id="jt-residual-dates"
    ),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k WHERE l.s = r.s OR l.s IS NULL",
        id="jt-residual-nulls",
    ),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k AND l.v > r.w AND l.x <> r.x",
        id="jt-residual-in-on",
    ),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k "
        "WHERE CASE WHEN l.v > r.w THEN l.g ELSE r.g END = 'p'",
        id="jt-residual-case",
    ),
    case(
        J,
        "SELECT l.id, r.rid, l.k2 || r.k2 FROM l JOIN r ON l.k = r.k "
        "WHERE r.k2 IS NULL AND l.k2 IS NOT NULL",
        id="jt-concat-null-side",
    ),
    case(J, "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k WHERE 1 = 0", id="jt-where-false"),
    case(J, "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k WHERE 1 = 1", id="jt-where-true"),
    case(J, "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k AND NULL", id="jt-on-null-literal"),
    # == one side empty ===========================================================================
    case(J, "SELECT l.id, e.rid FROM l JOIN e ON l.k = e.k", id="jt-empty-right-table"),
    case(J, "SELECT * FROM e JOIN l ON e.k = l.k", id="jt-empty-left-table", names=True),
    case(
        J,
        "SELECT COUNT(*), SUM(l.v), MAX(e.s), AVG(e.w) FROM l JOIN e ON l.k = e.k",
        id="jt-empty-global-aggregate",
    ),
    case(
        J,
        "SELECT l.g, COUNT(*) FROM l JOIN e ON l.k = e.k GROUP BY l.g",
        id="jt-empty-grouped",
    ),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k WHERE r.w > 1000",
        id="jt-side-filtered-empty",
    ),
    # == the select list: *, qualified and unqualified names ======================================
    case(
        J,
        "SELECT * FROM l JOIN r ON l.k = r.k AND l.k2 = r.k2",
        id="jt-star",
        names=True,
    ),
    case(
        J,
        "SELECT r.*, l.id FROM l JOIN r ON l.k = r.k WHERE l.id < 40",
        id="jt-qualified-star",
        names=True,
    ),
    case(
        J,
        "SELECT l.*, r.rid FROM l JOIN r ON l.k = r.k AND l.k2 = r.k2",
        id="jt-qualified-star-left",
        names=True,
    ),
    case(
        J,
        "SELECT id, rid, v, w, b FROM l JOIN r ON l.k = r.k WHERE w > 40",
        id="jt-unqualified-unique-names",
        names=True,
    ),
    case(
        J,
        "SELECT id, k FROM l JOIN r ON l.k = r.k",
        "error",
        id="jt-ambiguous-select",
        match="ambiguous",
    ),
    case(
        J,
        "SELECT l.id FROM l JOIN r ON l.k = r.k WHERE g = 'p'",
        "error",
        id="jt-ambiguous-where",
        match="ambiguous",
    ),
    case(
        J,
        "SELECT l.id FROM l JOIN r ON k = r.k",
        "error",
        id="jt-ambiguous-on",
        match="ambiguous",
    ),
    case(
        J,
        "SELECT COUNT(*) FROM l JOIN r ON l.k = r.k GROUP BY s",
        "error",
        id="jt-ambiguous-group-by",
        match="ambiguous",
    ),
    case(
        J,
        "SELECT l.id FROM l JOIN r ON l.k = r.k ORDER BY d",
        "error",
        id="jt-ambiguous-order-by",
        match="ambiguous",
    ),
    case(
        J,
        "SELECT l.id FROM l AS a JOIN r ON a.k = r.k",
        "error",
        id="jt-table-name-of-aliased-table",
    ),
    case(
        A,
        "SELECT R.pageURL FROM rankings AS R JOIN uservisits AS UV "
        "ON rankings.pageURL = UV.destURL",
        "error",
        id="amplab-table-name-of-aliased-table",
    ),
    case(J, "SELECT l.id FROM l JOIN l ON l.k = l.k", "error", id="jt-same-alias-twice"),
    case(J, "SELECT r.nope FROM l JOIN r ON l.k = r.k", "error", id="jt-unknown-column"),
    case(J, "SELECT l.id FROM l JOIN r ON l.k2 = r.w", "error", id="jt-string-vs-int-key"),
    case(J, "SELECT l.id FROM l JOIN r ON l.d = r.k2", "error", id="jt-date-vs-string-key"),
    case(
        J,
        "SELECT l.id FROM l JOIN r ON l.k = r.k WHERE SUM(l.v) > 0",
        "error",
        id="jt-aggregate-in-where",
    ),
    # == grouping, ordering and limits over a join ================================================
    case(
        J,
        "SELECT l.g, COUNT(*), SUM(r.w), AVG(l.v), MIN(r.s), MAX(l.d), COUNT(r.k2) "
        "FROM l JOIN r ON l.k = r.k GROUP BY l.g",
        id="jt-group-by-non-key",
    ),
    case(
        J,
        "SELECT l.g, r.g, COUNT(*) AS c, SUM(l.v * r.w) FROM l JOIN r ON l.k = r.k "
        "GROUP BY l.g, r.g HAVING COUNT(*) > 60",
        id="jt-group-both-sides-having",
    ),
    case(
        J,
        "SELECT r.k, COUNT(*), SUM(l.k), SUM(l.b) FROM l JOIN r ON l.k = r.k GROUP BY r.k",
        id="jt-group-by-right-key",
    ),
    case(
        J,
        "SELECT r.g, l.k2, COUNT(*) FROM l JOIN r ON l.k2 = r.k2 GROUP BY ALL",
        id="jt-group-all",
    ),
    case(
        J,
        "SELECT COUNT(*), SUM(l.v), MIN(r.s), MAX(l.d), AVG(r.w), COUNT(l.k2) "
        "FROM l JOIN r ON l.k = r.k",
        id="jt-global-aggregate",
    ),
    case(
        J,
        "SELECT l.id, r.rid, l.v + r.w AS t FROM l JOIN r ON l.k = r.k "
        "ORDER BY t DESC, l.id, r.rid LIMIT 10",
        "ordered",
        id="jt-order-limit",
    ),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k ORDER BY l.v + r.w DESC, l.id, r.rid "
        "LIMIT 7",
        "ordered",
        id="jt-order-by-hidden-expression",
    ),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k WHERE r.w > 30 ORDER BY r.rid DESC, l.id",
        "ordered",
        id="jt-order-without-limit",
    ),
    case(
        J,
        "SELECT l.g, COUNT(*) AS n FROM l JOIN r ON l.k = r.k GROUP BY l.g "
        "ORDER BY n DESC, l.g NULLS FIRST LIMIT 2",
        "ordered",
        id="jt-group-order-limit",
    ),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k LIMIT 13",
        "subset",
        id="jt-limit-without-order",
    ),
    case(
        J,
        "SELECT l.id, r.rid FROM l JOIN r ON l.k = r.k ORDER BY l.id, r.rid LIMIT 0",
        "ordered",
        id="jt-limit-zero",
    ),
    # == DISTINCT over a join =====================================================================
    case(J, "SELECT DISTINCT l.k, r.g FROM l JOIN r ON l.k = r.k", id="jt-select-distinct"),
    case(
        J,
        "SELECT DISTINCT l.k2, r.k2 FROM l JOIN r ON l.k = r.k",
        id="jt-select-distinct-same-names",
    ),
    case(
        J,
        "SELECT l.g, COUNT(DISTINCT r.rid), COUNT(DISTINCT r.k2), SUM(DISTINCT r.w), COUNT(*) "
        "FROM l JOIN r ON l.k = r.k GROUP BY l.g",
        id="jt-distinct-aggregates-grouped",
    ),
    case(
        J,
        "SELECT COUNT(DISTINCT l.id), COUNT(DISTINCT r.rid), COUNT(*), AVG(DISTINCT r.w) "
        "FROM l JOIN r ON l.k = r.k",
        id="jt-distinct-aggregates-global",
    ),
    # == FROM subqueries over a join ==============================================================
    case(
        J,
        "SELECT rid, t FROM (SELECT r.rid, l.v + r.w AS t FROM l JOIN r ON l.k = r.k) WHERE t > 50",
        id="jt-subquery-filter",
    ),
    case(
        J,
        "SELECT g, n FROM (SELECT l.g, COUNT(*) AS n FROM l JOIN r ON l.k = r.k GROUP BY l.g) "
        "ORDER BY n DESC, g LIMIT 2",
        "ordered",
        id="jt-subquery-aggregate-top",
    ),
    case(
        J,
        "SELECT * FROM (SELECT l.k, r.k FROM l JOIN r ON l.k = r.k)",
        id="jt-subquery-duplicate-names",
    ),
]

SINGLE_CASES = [
    # == COUNT/SUM/AVG(DISTINCT) ==================================================================
    case(J, "SELECT COUNT(DISTINCT k) FROM l", id="count-distinct"),
    case(
        J,
        "SELECT COUNT(DISTINCT k), COUNT(DISTINCT k2), COUNT(DISTINCT d), COUNT(*), SUM(v), "
        "MIN(s), MAX(d), AVG(v) FROM l",
        id="distinct-int-string-date-with-plain",
    ),
    case(
        J,
        "SELECT g, COUNT(DISTINCT k), COUNT(DISTINCT k2), COUNT(DISTINCT d), COUNT(*), SUM(v), "
        "MIN(s), MAX(d), AVG(v) FROM l GROUP BY g",
        id="distinct-int-string-date-with-plain-grouped",
    ),
    case(
        J,
        "SELECT g, k2, COUNT(DISTINCT d), COUNT(DISTINCT s) FROM l GROUP BY g, k2",
        id="distinct-two-group-keys",
    ),
    case(
        J,
        "SELECT g, SUM(DISTINCT k), AVG(DISTINCT k), SUM(DISTINCT v), AVG(DISTINCT v), "
        "COUNT(DISTINCT v) FROM l GROUP BY g",
        id="sum-avg-distinct-grouped",
    ),
    case(
        J,
        "SELECT SUM(DISTINCT k), AVG(DISTINCT k), SUM(DISTINCT v), AVG(DISTINCT v) FROM l",
        id="sum-avg-distinct",
    ),
    case(
        J,
        "SELECT COUNT(DISTINCT k), SUM(DISTINCT k), AVG(DISTINCT k) FROM r",
        id="distinct-bigint-keys",
    ),
    case(
        J,
        "SELECT g, COUNT(DISTINCT k), SUM(k), COUNT(k), AVG(k), MIN(k), MAX(k), "
        "SUM(DISTINCT k), AVG(DISTINCT k) FROM l GROUP BY g",
        id="distinct-and-plain-of-one-column",
    ),
    case(
        J,
        "SELECT k, COUNT(DISTINCT k), SUM(DISTINCT k), COUNT(*) FROM l GROUP BY k",
        id="distinct-of-the-group-key",
    ),
    case(
        J,
        "SELECT k % 4 AS m, COUNT(DISTINCT k), COUNT(DISTINCT k2) FROM l GROUP BY k % 4",
        id="distinct-group-by-expression",
    ),
    case(
        J,
        "SELECT COUNT(DISTINCT k + 1), COUNT(DISTINCT UPPER(k2)), SUM(DISTINCT k % 3) FROM l",
        id="distinct-of-expressions",
    ),
    case(
        J,
        "SELECT COUNT(DISTINCT k) + COUNT(DISTINCT k2) AS t, COUNT(DISTINCT k) * 2 FROM l",
        id="arithmetic-on-distinct-aggregates",
    ),
    case(
        J,
        "SELECT g, SUM(DISTINCT v) / COUNT(DISTINCT v) AS a FROM l GROUP BY g",
        id="distinct-ratio",
    ),
    case(
        J,
        "SELECT MIN(DISTINCT s), MAX(DISTINCT k), COUNT(DISTINCT s) FROM l",
        id="min-max-distinct",
    ),
    case(
        J,
        "SELECT COUNT(DISTINCT CASE WHEN k > 5 THEN k2 END) FROM l",
        id="distinct-of-case",
    ),
    case(J, "SELECT COUNT(DISTINCT NULL) FROM l", id="count-distinct-null-literal"),
    case(J, "SELECT SUM(DISTINCT 1), COUNT(DISTINCT 1) FROM l", id="distinct-constant"),
    case(J, "SELECT COUNT(DISTINCT x), SUM(DISTINCT x) FROM l", id="distinct-neg-zero"),
    case(
        J,
        "SELECT g, COUNT(DISTINCT k) AS c FROM l GROUP BY g HAVING COUNT(DISTINCT k) > 15",
        id="having-count-distinct",
    ),
    case(
        J,
        "SELECT g FROM l GROUP BY g HAVING COUNT(DISTINCT k2) > 10 AND SUM(v) > 0",
        id="having-distinct-not-selected",
    ),
    case(
        J,
        "SELECT g, COUNT(*) FROM l GROUP BY g ORDER BY COUNT(DISTINCT k2) DESC, g LIMIT 2",
        "ordered",
        id="order-by-count-distinct",
    ),
    case(
        J,
        "SELECT g, COUNT(DISTINCT k) FROM l GROUP BY g ORDER BY 2 DESC, 1 NULLS FIRST LIMIT 2",
        "ordered",
        id="count-distinct-order-limit",
    ),
    case(
        J,
        "SELECT COUNT(DISTINCT k), SUM(DISTINCT k), AVG(DISTINCT k), COUNT(*) FROM l "
        "WHERE k IS NULL",
        id="distinct-over-nulls",
    ),
    case(
        J,
        "SELECT g, COUNT(DISTINCT k), SUM(DISTINCT k), AVG(DISTINCT x) FROM l WHERE k IS NULL "
        "GROUP BY g",
        id="distinct-over-nulls-grouped",
    ),
    case(
        J,
        "SELECT COUNT(DISTINCT k), SUM(DISTINCT k), AVG(DISTINCT k), SUM(v), MIN(s) FROM l "
        "WHERE id < 0",
        id="distinct-over-no-rows",
    ),
    case(
        J,
        "SELECT g, COUNT(DISTINCT k), SUM(DISTINCT k), COUNT(*) FROM l WHERE id < 0 GROUP BY g",
        id="distinct-over-no-rows-grouped",
    ),
    case(
        J,
        "SELECT COUNT(DISTINCT k), COUNT(*) FROM l WHERE id < 0",
        id="distinct-and-count-star-over-no-rows",
    ),
    case(
        J,
        "SELECT COUNT(*), COUNT(k), COUNT(DISTINCT k2) FROM e",
        id="distinct-and-count-over-empty-table",
    ),
    case(
        J,
        "SELECT COUNT(DISTINCT b), SUM(b), MIN(b), MAX(b) FROM l",
        id="distinct-bigint-extremes",
    ),
    case(
        J,
        "SELECT SUM(DISTINCT b) FROM l WHERE b > 0",
        id="sum-distinct-bigint-past-int64",
    ),
    case(
        J,
        "SELECT g, SUM(DISTINCT b) FROM l WHERE b > 1000 GROUP BY g",
        id="sum-distinct-bigint-past-int64-grouped",
    ),
    case(
        E,
        "SELECT COUNT(DISTINCT score), COUNT(DISTINCT name), COUNT(DISTINCT big), "
        "COUNT(DISTINCT day), COUNT(DISTINCT flag), COUNT(*) FROM edge",
        id="edge-count-distinct-every-type",
    ),
    case(
        E,
        "SELECT grp, COUNT(DISTINCT name), SUM(DISTINCT n), AVG(DISTINCT n), "
        "AVG(DISTINCT score), COUNT(DISTINCT day) FROM edge GROUP BY grp",
        id="edge-distinct-grouped",
    ),
    case(
        E,
        "SELECT flag, COUNT(DISTINCT day), MIN(day), MAX(name), COUNT(DISTINCT grp) FROM edge "
        "GROUP BY flag HAVING COUNT(DISTINCT grp) > 1",
        id="edge-having-count-distinct",
    ),
    case(
        E,
        "SELECT AVG(DISTINCT big) FROM edge WHERE big > 0",
        id="edge-avg-distinct-bigint-past-int64",
    ),
    case(
        A,
        "SELECT COUNT(DISTINCT sourceIP), COUNT(DISTINCT destURL), COUNT(DISTINCT visitDate), "
        "COUNT(*), SUM(adRevenue) FROM uservisits",
        id="amplab-count-distinct-global",
    ),
    case(
        A,
        "SELECT countryCode, COUNT(DISTINCT languageCode), SUM(DISTINCT duration), "
        "AVG(DISTINCT adRevenue), MIN(visitDate), COUNT(*) FROM uservisits GROUP BY countryCode",
        id="amplab-distinct-grouped",
    ),
    case(
        A,
        "SELECT languageCode, COUNT(DISTINCT searchWord) AS c FROM uservisits "
        "GROUP BY languageCode HAVING COUNT(DISTINCT searchWord) > 90",
        id="amplab-having-count-distinct",
    ),
    # == SELECT DISTINCT ==========================================================================
    case(J, "SELECT DISTINCT k FROM l", id="select-distinct-int-with-null"),
    case(J, "SELECT DISTINCT k, k2 FROM l", id="select-distinct-two-columns"),
    case(J, "SELECT DISTINCT g, x FROM l", id="select-distinct-neg-zero"),
    case(J, "SELECT DISTINCT * FROM l", id="select-distinct-star"),
    case(J, "SELECT DISTINCT g FROM l WHERE k IS NULL", id="select-distinct-filtered"),
    case(J, "SELECT DISTINCT k FROM l WHERE id < 0", id="select-distinct-no-rows"),
    case(J, "SELECT DISTINCT s FROM e", id="select-distinct-empty-table"),
    case(
        J,
        "SELECT DISTINCT k2, k FROM l ORDER BY k DESC NULLS FIRST, k2 NULLS FIRST LIMIT 12",
        "ordered",
        id="select-distinct-order-limit",
    ),
    case(
        J,
        "SELECT DISTINCT k + 1 AS kk FROM l ORDER BY kk LIMIT 3",
        "ordered",
        id="select-distinct-expression",
    ),
    case(E, "SELECT DISTINCT name FROM edge", id="edge-select-distinct-strings"),
    case(E, "SELECT DISTINCT grp, flag, day FROM edge", id="edge-select-distinct-mixed"),
    # == FROM subqueries over one table ===========================================================
    case(
        J,
        "SELECT x, c FROM (SELECT k AS x, COUNT(*) AS c FROM l GROUP BY k) WHERE c > 18",
        id="subquery-filter-aggregate",
    ),
    case(
        J,
        "SELECT c, x FROM (SELECT k AS x, COUNT(*) AS c FROM l GROUP BY k) AS t WHERE t.x > 3 "
        "ORDER BY c DESC, x LIMIT 4",
        "ordered",
        id="subquery-reorder-limit",
    ),
    case(
        J,
        "SELECT x FROM (SELECT k AS x, COUNT(*) AS c FROM l GROUP BY k) ORDER BY c DESC, x LIMIT 3",
        "ordered",
        id="subquery-order-by-hidden-column",
    ),
    case(
        J,
        "SELECT c * 2, x FROM (SELECT k AS x, COUNT(*) AS c FROM l GROUP BY k) "
        "WHERE x IS NULL OR c < 15",
        id="subquery-expressions",
    ),
    case(
        J,
        "SELECT * FROM (SELECT g, SUM(v) AS t, COUNT(DISTINCT k) AS n FROM l GROUP BY g) "
        "ORDER BY t DESC LIMIT 2",
        "ordered",
        id="subquery-limit-over-aggregate",
    ),
    case(
        J,
        "SELECT x, n FROM (SELECT k AS x, COUNT(DISTINCT k2) AS n FROM l GROUP BY k) WHERE n > 6",
        id="subquery-over-count-distinct",
    ),
    case(
        J,
        "SELECT s2 FROM (SELECT s AS s2 FROM l WHERE k > 3) WHERE s2 LIKE 'z%'",
        id="subquery-rename-filter",
    ),
    case(
        J,
        "SELECT * FROM (SELECT id, k FROM l) ORDER BY id DESC LIMIT 3",
        "ordered",
        id="subquery-star-order-limit",
    ),
    case(
        J,
        "SELECT k + 1 AS k1, UPPER(k2) FROM (SELECT k, k2 FROM l WHERE id % 2 = 0) "
        "WHERE k IS NOT NULL",
        id="subquery-plain-scan",
    ),
    case(
        J,
        "SELECT * FROM (SELECT DISTINCT k FROM l) WHERE k > 10",
        id="subquery-over-select-distinct",
    ),
    case(
        J,
        "SELECT k FROM (SELECT k, k2 FROM l) WHERE k2 = 'a' ORDER BY k NULLS FIRST LIMIT 5",
        "ordered",
        id="subquery-order-nulls-first",
    ),
    case(
        A,
        "SELECT p, s FROM (SELECT SUBSTR(sourceIP, 1, 3) AS p, SUM(adRevenue) AS s "
        "FROM uservisits GROUP BY 1) WHERE s > 20 ORDER BY s DESC, p LIMIT 5",
        "ordered",
        id="amplab-subquery-top",
    ),
    case(J, "SELECT nope FROM (SELECT k FROM l)", "error", id="subquery-unknown-column"),
    case(
        J,
        "SELECT t.k FROM (SELECT k FROM l) AS t WHERE l.k > 1",
        "error",
        id="subquery-inner-table-name",
    ),
    case(J, "SELECT SUM(DISTINCT k2) FROM l", "error", id="sum-distinct-string"),
]

# Refused constructs: (query over the jt tables, a regex the UnsupportedError message must match).
UNSUPPORTED = {
    "semi-join": ("SELECT l.id FROM l SEMI JOIN r ON l.k = r.k", "SEMI"),
    "anti-join": ("SELECT l.id FROM l ANTI JOIN r ON l.k = r.k", "ANTI"),
    "is-not-distinct-from-join": (
        "SELECT l.id FROM l JOIN r ON l.k IS NOT DISTINCT FROM r.k",
        "without an equality",
    ),
    "distinct-group-by": ("SELECT DISTINCT k FROM l GROUP BY k", "DISTINCT.*GROUP BY"),
    "distinct-aggregate": ("SELECT DISTINCT k, COUNT(*) FROM l GROUP BY k", "DISTINCT"),
    "distinct-count-star": ("SELECT DISTINCT COUNT(*) FROM l", "DISTINCT.*aggregates"),
    "count-distinct-filter": ("SELECT COUNT(DISTINCT k) FILTER (WHERE k > 3) FROM l", "FILTER"),
    "exists-two-residuals": (
        "SELECT l.id FROM l WHERE EXISTS (SELECT * FROM r WHERE r.k = l.k AND r.w < l.v "
        "AND r.d > l.d)",
        "more than one non-equality",
    ),
}
# Refused before multi-way, outer and cross joins and FROM subqueries were planned
# (planning/joins.py): now each must equal DuckDB.
FORMERLY_REFUSED = {
    "left-join": "SELECT l.id FROM l LEFT JOIN r ON l.k = r.k",
    "left-outer-join": "SELECT l.id FROM l LEFT OUTER JOIN r ON l.k = r.k",
    "right-join": "SELECT l.id FROM l RIGHT JOIN r ON l.k = r.k",
    "full-join": "SELECT l.id FROM l FULL OUTER JOIN r ON l.k = r.k",
    "using": "SELECT l.id FROM l JOIN r USING (k)",
    "three-tables": "SELECT l.id FROM l JOIN r ON l.k = r.k JOIN e ON e.k = r.k",
    "three-tables-comma": "SELECT l.id FROM l, r, e WHERE l.k = r.k AND r.k = e.k",
    "comma-cross-join": "SELECT l.id FROM l, r",
    "cross-join": "SELECT l.id FROM l CROSS JOIN r",
    "on-true": "SELECT l.id FROM l JOIN r ON TRUE",
    "inequality-join": "SELECT l.id FROM l JOIN r ON l.k < r.k",
    "or-join": "SELECT l.id FROM l JOIN r ON l.k = r.k OR l.k2 = r.k2",
    "comma-or-join": "SELECT l.id FROM l, r WHERE l.k = r.k OR l.id = r.rid",
    "join-subquery": "SELECT t.k FROM (SELECT k FROM l) AS t JOIN r ON t.k = r.k",
    "join-to-subquery": "SELECT r.k FROM r JOIN (SELECT k FROM l) AS t ON t.k = r.k",
    "count-over-subquery": "SELECT COUNT(*) FROM (SELECT k FROM l)",
    "group-over-subquery": (
        "SELECT k, MAX(c) FROM (SELECT k, COUNT(*) AS c FROM l GROUP BY k) GROUP BY k"
    ),
    "distinct-over-subquery": "SELECT DISTINCT c FROM (SELECT k, COUNT(*) AS c FROM l GROUP BY k)",
    "subquery-order-limit": "SELECT * FROM (SELECT k FROM l ORDER BY k LIMIT 3)",
    "nested-subqueries": "SELECT * FROM (SELECT * FROM (SELECT k FROM l))",
    "natural-join": "SELECT l.id FROM l NATURAL JOIN r",
}


# -- running --------------------------------------------------------------------------------------


# The join tables load into DuckDB with their own types (conftest's oracles fixture uses this).
DUCK_LOADERS = {"jt": lambda folder: duck_join_tables(Path(folder))}


def run_sqlmr(query: str, data: str, folder: str, strategy: str | None):
    """Compile and run a query; returns (plan, result table)."""
    options = QueryOptions(
        workers=WORKERS,
        split_size=SPLIT_SIZE[data],
        reducers=REDUCERS,
        broadcast_threshold=THRESHOLD[strategy or "shuffle"],
    )
    plan = sqlmr.compile_query(query, sqlmr.resolve_catalog(folder), options)
    with sqlmr.run(plan, options) as job:
        return plan, job.read_all()


def join_strategy(plan) -> str | None:
    """How the plan joins: 'broadcast', 'shuffle', or None when it reads one table."""
    ids = [s.id for s in plan.stages]
    if {"map_left", "map_right", "join"} <= set(ids):
        assert plan.stages[ids.index("join")].source["type"] == "join"
        return "shuffle"
    if any(s.source.get("type") == "join" for s in plan.stages):
        first = plan.stages[0]
        assert first.id == "map" and first.source["type"] == "join", ids
        return "broadcast"
    return None


def without_limit(query: str) -> str:
    stripped = re.sub(r"\s+LIMIT\s+\d+\s*$", "", query, flags=re.IGNORECASE)
    assert stripped != query
    return stripped


def check_case(c: Case, strategy: str | None, oracles) -> None:
    con, folder = oracles(c.data)
    try:
        cursor = con.execute(c.query)
        expected = cursor.fetchall()
        names = [d[0] for d in cursor.description]
    except duckdb.Error as e:
        with pytest.raises(sqlmr.SqlmrError) as raised:
            _, result = run_sqlmr(c.query, c.data, folder, strategy)
            print(f"DuckDB raised {e!r}, sqlmr returned {table_rows(result)[:5]}")
        assert not isinstance(raised.value, sqlmr.UnsupportedError), raised.value
        if c.match is not None:
            message = getattr(raised.value, "message", str(raised.value))
            assert re.search(c.match, message), message
        return
    assert c.check != "error", f"DuckDB did not raise; it returned {expected[:5]}"
    plan, result = run_sqlmr(c.query, c.data, folder, strategy)
    assert join_strategy(plan) == strategy, [s.id for s in plan.stages]
    if c.names:
        assert result.column_names == names
    if c.check == "subset":
        assert result.num_columns == len(names)
        assert result.num_rows == len(expected)
        everything = con.execute(without_limit(c.query)).fetchall()
        for row in table_rows(result):
            assert any(rows_equal(row, e) for e in everything), f"{row} is not a row of the query"
        return
    assert_same(result, expected, ordered=c.check == "ordered", columns=len(names))


@pytest.mark.parametrize("strategy", ["shuffle", "broadcast"])
@pytest.mark.parametrize("c", JOIN_CASES)
def test_join(c: Case, strategy: str, oracles) -> None:
    check_case(c, strategy, oracles)


@pytest.mark.parametrize("c", SINGLE_CASES)
def test_one_table(c: Case, oracles) -> None:
    check_case(c, None, oracles)


@pytest.mark.parametrize(
    "name",
    UNSUPPORTED,
)
def test_unsupported(name: str, jt_dir: str, oracles) -> None:
    """Refused with an UnsupportedError naming the construct (DuckDB runs each of these)."""
    query, pattern = UNSUPPORTED[name]
    con, _ = oracles("jt")
    con.execute(query).fetchall()
    with pytest.raises(sqlmr.UnsupportedError) as raised:
        sqlmr.compile_query(query, sqlmr.resolve_catalog(jt_dir), QueryOptions(workers=WORKERS))
    # The message without the echoed query, which would name any construct.
    assert re.search(pattern, raised.value.message), raised.value.message


# Subqueries: decorrelated by sqlglot's unnest_subqueries (IN, EXISTS, scalar), NOT IN with SQL's
# NULL rule (compiler/blocks.py), over keys with NULLs and an empty table.
SUBQUERIES = {
    "not-in-null-in-subquery": "SELECT l.id FROM l WHERE l.k NOT IN (SELECT r.w FROM r)",
    "not-in": "SELECT l.id FROM l WHERE l.k NOT IN (SELECT r.w FROM r WHERE r.w IS NOT NULL)",
    "not-in-empty": "SELECT l.id FROM l WHERE l.k NOT IN (SELECT e.rid FROM e)",
    "in": "SELECT l.id FROM l WHERE l.k IN (SELECT r.w FROM r)",
    "exists": "SELECT l.id FROM l WHERE EXISTS (SELECT 1 FROM r WHERE r.k = l.k)",
    "not-exists": "SELECT l.id FROM l WHERE NOT EXISTS (SELECT * FROM r WHERE r.k = l.k)",
    "scalar": "SELECT l.id FROM l WHERE l.v > (SELECT AVG(r.w) FROM r)",
    "scalar-correlated": (
        "SELECT l.id FROM l WHERE l.v > (SELECT AVG(r.w) FROM r WHERE r.k = l.k)"
    ),
    "having-scalar": (
        "SELECT l.g, SUM(l.v) FROM l GROUP BY l.g HAVING SUM(l.v) > (SELECT MIN(r.w) FROM r)"
    ),
    "cte-twice": (
        "WITH t AS (SELECT k, COUNT(*) AS c FROM l GROUP BY k) "
        "SELECT a.k, b.c FROM t AS a JOIN t AS b ON a.k = b.k"
    ),
    # A correlation with one non-equality besides the equalities (TPC-H Q21), planned as a join
    # to MIN/MAX per key (compiler/exists_residual.py); NULLs in keys and in both residual sides.
    "exists-neq": (
        "SELECT l.id FROM l WHERE EXISTS (SELECT * FROM r WHERE r.k = l.k AND r.s <> l.s)"
    ),
    "not-exists-lt": (
        "SELECT l.id FROM l WHERE NOT EXISTS (SELECT 1 FROM r WHERE r.k = l.k AND r.w < l.v "
        "AND r.g <> 'x')"
    ),
    "exists-outer-side-first": (
        "SELECT l.id FROM l WHERE EXISTS (SELECT * FROM r WHERE l.k = r.k AND l.d >= r.d)"
    ),
    "not-exists-neq-dates": (
        "SELECT l.id FROM l WHERE NOT EXISTS (SELECT * FROM r WHERE r.k = l.k AND r.d <> l.d)"
    ),
    "exists-two-keys-expressions": (
        "SELECT l.id FROM l WHERE EXISTS (SELECT * FROM r WHERE r.k = l.k AND r.k2 = l.k2 "
        "AND r.w * 2 <= l.v + 1)"
    ),
    "exists-residual-only": (
        "SELECT l.id FROM l WHERE EXISTS (SELECT * FROM r WHERE r.w > l.v) "
        "AND NOT EXISTS (SELECT * FROM e WHERE e.w < l.v)"
    ),
    "q21-shape": (
        "SELECT l1.g, COUNT(*) FROM l AS l1 WHERE l1.v > -50 AND EXISTS (SELECT * FROM l AS l2 "
        "WHERE l2.k = l1.k AND l2.id <> l1.id) AND NOT EXISTS (SELECT * FROM l AS l3 "
        "WHERE l3.k = l1.k AND l3.id <> l1.id AND l3.v > 90) GROUP BY l1.g"
    ),
    "left-join-count": (
        "SELECT l.id, COUNT(r.rid) FROM l LEFT JOIN r ON l.k = r.k AND r.w > 0 GROUP BY l.id"
    ),
}


@pytest.mark.parametrize("name", [*SUBQUERIES, *FORMERLY_REFUSED])
@pytest.mark.parametrize("strategy", ["shuffle", "broadcast"])
def test_subqueries_and_formerly_refused_joins_equal_duckdb(
    name: str, strategy: str, oracles
) -> None:
    query = {**SUBQUERIES, **FORMERLY_REFUSED}[name]
    con, folder = oracles("jt")
    expected = con.execute(query).fetchall()
    _, result = run_sqlmr(query, "jt", folder, strategy)
    assert_same(result, expected, ordered=False)


def test_join_tables_have_the_catalog_schema(jt_dir: str) -> None:
    """The DuckDB tables and the catalog agree, and the data has what the cases rely on."""
    con = duck_join_tables(Path(jt_dir))
    for name, columns in JT_TABLES.items():
        described = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {name}").fetchall()]
        assert described == columns
    nulls, dups_l, dups_r = con.execute(
        "SELECT (SELECT COUNT(*) FROM l, r WHERE l.k IS NULL AND r.k IS NULL), "
        "(SELECT COUNT(*) - COUNT(DISTINCT k) FROM l), (SELECT COUNT(*) - COUNT(DISTINCT k) FROM r)"
    ).fetchone()
    assert nulls > 0 and dups_l > 100 and dups_r > 50
    signs = con.execute("SELECT COUNT(DISTINCT CAST(x AS VARCHAR)) FROM l WHERE x = 0").fetchone()
    assert signs == (2,)  # both -0.0 and 0.0
    assert con.execute("SELECT COUNT(*) FROM e").fetchone() == (0,)
    con.close()
