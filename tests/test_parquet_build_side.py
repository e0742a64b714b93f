"""The broadcast side of a two-table Parquet join, chosen by a sampled filter: a side whose
filter keeps few rows (sampled from its filter columns in a few row groups) is scanned and
filtered in a stage of its own, and its results are broadcast into the scan of the other side.
Results equal DuckDB's on the same files, with duplicate and NULL keys, either FROM order, a
filter that keeps nothing, and whatever the split size and worker count."""

from __future__ import annotations

import datetime
import random
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_same, duck_parquet

import sqlmr
from sqlmr.api import QueryOptions, compile_query, resolve_catalog
from sqlmr.planning.explain import render_plan

VISITS = 12_000
PAGES = 1_000
DAY0 = datetime.date(2000, 1, 1)


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`visits` (3 files of 4 row groups, days in random order, so statistics prune nothing)
    and `pages` (one file), both with duplicate and NULL join keys."""
    root = tmp_path_factory.mktemp("build_side")
    rng = random.Random(7)
    urls = [None if i % 97 == 0 else f"url-{rng.randrange(PAGES + 50):05d}" for i in range(VISITS)]
    visits = pa.table(
        {
            "url": pa.array(urls, pa.string()),
            "ip": pa.array([f"10.0.{rng.randrange(40)}.{i % 7}" for i in range(VISITS)]),
            "day": pa.array([DAY0 + datetime.timedelta(rng.randrange(1000)) for _ in urls]),
            "rev": pa.array([rng.random() * 10 for _ in urls], pa.float64()),
        }
    )
    (root / "visits").mkdir()
    per_file = VISITS // 3
    for f in range(3):
        part = visits.slice(f * per_file, per_file)
        pq.write_table(part, root / "visits" / f"part-{f}.parquet", row_group_size=1000)
    # Every url once, a few twice (duplicate keys on the broadcast side's probe), some NULL.
    page_urls = [f"url-{j:05d}" for j in range(PAGES)] + [f"url-{j:05d}" for j in range(0, 90, 9)]
    page_urls += [None] * 5
    pages = pa.table(
        {
            "url": pa.array(page_urls, pa.string()),
            "rank": pa.array([(j * 31) % 97 for j in range(len(page_urls))], pa.int32()),
        }
    )
    (root / "pages").mkdir()
    pq.write_table(pages, root / "pages" / "part-0.parquet", row_group_size=300)
    return root


def _duck(root: Path) -> duckdb.DuckDBPyConnection:
    return duck_parquet(root, "visits", "pages")


RANGE = "v.day BETWEEN DATE '2000-01-05' AND DATE '2000-01-14'"  # about 1% of the rows
SELECTIVE = [
    # Amplab 3a's shape: the filtered side second in FROM, grouped by one of its columns.
    "SELECT v.ip, SUM(v.rev), AVG(p.rank), COUNT(*) FROM pages AS p, visits AS v "
    f"WHERE p.url = v.url AND {RANGE} GROUP BY v.ip",
    # The filtered side first in FROM; every column of both, in the query's order.
    f"SELECT * FROM visits AS v JOIN pages AS p ON v.url = p.url WHERE {RANGE}",
    # A filter on each side.
    "SELECT p.rank, v.ip, v.day FROM pages AS p JOIN visits AS v ON p.url = v.url "
    f"WHERE {RANGE} AND p.rank > 40",
    # No row passes (nor can statistics tell): nothing joins, COUNT(*) is 0.
    "SELECT COUNT(*), SUM(p.rank) FROM pages AS p JOIN visits AS v ON p.url = v.url "
    "WHERE v.rev * 2 > 100",
]


@pytest.mark.parametrize("query", SELECTIVE)
def test_a_selective_side_is_gathered_and_broadcast(tables: Path, query: str) -> None:
    expected = _duck(tables).execute(query).fetchall()
    for split, workers in (("8KB", 2), (None, 3)):
        plan = compile_query(
            query, resolve_catalog(str(tables)), QueryOptions(split_size=split, workers=workers)
        )
        first = plan.stages[0]
        assert first.id in ("map_left", "map_right"), [s.id for s in plan.stages]
        assert first.source["table"] == "visits" and first.sink["type"] == "result"
        join = plan.stages[1].source
        assert join["type"] == "join" and join["broadcast"] == first.id.split("_")[1]
        assert join[join["broadcast"]]["source"] == {"type": "gather", "stage": first.id}
        result = sqlmr.sql(query, str(tables), split_size=split, workers=workers, reducers=2)
        assert_same(result, expected, ordered=False)


def test_explain_says_what_the_filter_keeps(tables: Path) -> None:
    plan = compile_query(SELECTIVE[0], resolve_catalog(str(tables)), QueryOptions(workers=2))
    text = render_plan(plan)
    line = next(x for x in text.splitlines() if x.strip().startswith("sampled"))
    kept = float(line.split("keeps ")[1].split("%")[0]) / 100
    # Three of the twelve row groups (the first, middle and last): close to the true 1%.
    truth = _duck(tables).execute(f"SELECT AVG(({RANGE})::INT) FROM visits AS v").fetchone()[0]
    assert abs(kept - truth) < 0.01, (kept, truth)
    assert "3,000 rows (in 3 row group(s)" in line
    assert "after map_right" in text


@pytest.mark.parametrize(
    "where",
    [
        "v.day >= DATE '2000-01-01'",  # keeps every row: rankings-like `pages` stays broadcast
        "v.day < DATE '2001-06-01'",  # about half: still far larger than `pages`
    ],
)
def test_an_unselective_filter_keeps_the_smaller_table_broadcast(tables: Path, where: str) -> None:
    query = (
        "SELECT v.ip, SUM(v.rev), AVG(p.rank) FROM pages AS p, visits AS v "
        f"WHERE p.url = v.url AND {where} GROUP BY v.ip"
    )
    plan = compile_query(query, resolve_catalog(str(tables)), QueryOptions(workers=2))
    assert plan.stages[0].id == "map" and plan.stages[0].source["broadcast"] == "left"
    result = sqlmr.sql(query, str(tables), workers=2, reducers=2)
    assert_same(result, _duck(tables).execute(query).fetchall(), ordered=False)


def test_a_scan_without_a_join_is_not_sampled(tables: Path) -> None:
    query = f"SELECT v.ip, v.rev FROM visits AS v WHERE {RANGE}"
    plan = compile_query(query, resolve_catalog(str(tables)), QueryOptions(workers=2))
    assert "sampled" not in render_plan(plan) and "late" in render_plan(plan)
    result = sqlmr.sql(query, str(tables), workers=2)
    assert_same(result, _duck(tables).execute(query).fetchall(), ordered=False)


def test_the_answer_does_not_depend_on_the_cut(tables: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    queries = SELECTIVE[:2]
    expected = [_duck(tables).execute(q).fetchall() for q in queries]

    @settings(
        max_examples=4,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        split=st.sampled_from(["8KB", "40KB", None]) | st.integers(4 << 10, 256 << 10),
        workers=st.integers(1, 3),
        reducers=st.integers(1, 5),
    )
    def run(split, workers: int, reducers: int) -> None:
        for query, rows in zip(queries, expected, strict=True):
            result = sqlmr.sql(
                query, str(tables), split_size=split, workers=workers, reducers=reducers
            )
            assert_same(result, rows, ordered=False)

    run()


def _run(tables: Path, query: str, options: QueryOptions):
    plan = compile_query(query, resolve_catalog(str(tables)), options)
    with sqlmr.run(plan, options) as result:
        return plan, result.read_all()


def test_both_sides_filtered_the_smaller_is_gathered(tables: Path) -> None:
    # pages' filter keeps ~1% of it, visits' about half: pages (the left side) is gathered.
    query = (
        "SELECT p.rank, v.ip, v.rev FROM pages AS p JOIN visits AS v ON p.url = v.url "
        "WHERE p.rank = 3 AND v.day < DATE '2001-06-01'"
    )
    plan, result = _run(tables, query, QueryOptions(workers=2, reducers=2))
    assert plan.stages[0].id == "map_left" and plan.stages[0].source["table"] == "pages"
    assert plan.stages[1].source["broadcast"] == "left"
    assert_same(result, _duck(tables).execute(query).fetchall(), ordered=False)


def test_both_sides_over_the_threshold_are_shuffled(tables: Path) -> None:
    options = QueryOptions(workers=2, reducers=3, broadcast_threshold=64)
    plan, result = _run(tables, SELECTIVE[0], options)
    assert [s.id for s in plan.stages[:2]] == ["map_left", "map_right"]
    assert all(s.sink["type"] == "shuffle" for s in plan.stages[:2])
    assert_same(result, _duck(tables).execute(SELECTIVE[0]).fetchall(), ordered=False)


def test_a_filter_failing_in_the_sample_fails_in_its_task(tmp_path: Path) -> None:
    """Sampling only steers the plan: a cast that fails on a sampled row is reported by the
    task that meets it, as without sampling, not by the planner."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    values = [str(i) for i in range(3999)] + ["x"]
    a = pa.table({"k": [str(i) for i in range(4000)], "s": values})
    pq.write_table(a, tmp_path / "a" / "p.parquet", row_group_size=500)
    pq.write_table(pa.table({"k": [str(i) for i in range(100)]}), tmp_path / "b" / "p.parquet")
    query = "SELECT COUNT(*) FROM b JOIN a ON a.k = b.k WHERE CAST(a.s AS INTEGER) < 5"
    plan = compile_query(query, resolve_catalog(str(tmp_path)), QueryOptions(workers=2))
    assert "sampled" not in render_plan(plan)
    with pytest.raises(sqlmr.TaskError, match="could not convert string 'x'"):
        sqlmr.sql(query, str(tmp_path), workers=2)
