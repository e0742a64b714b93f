"""Late materialization in the Parquet scan: a scan's leading filter is evaluated on its own
columns first, and the other columns are read only in row groups where a row passes. Results
equal DuckDB's on the same files; row groups where no row passes cost only their filter columns;
rows read are still counted in full."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_same, duck_parquet
from sqlmr_runtime.scan_parquet import chunk_bytes

import sqlmr
from sqlmr.api import QueryOptions, compile_query, resolve_catalog
from sqlmr.planning.explain import render_plan

ROWS = 3000
GROUP_ROWS = 250  # 12 row groups, over 3 files


@pytest.fixture(scope="module")
def clustered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A table `t` sorted by k (as time-ordered logs are), with NULLs in v and long names, in 3
    files of 4 row groups; and a small table `d` to join with."""
    root = tmp_path_factory.mktemp("late")
    k = list(range(ROWS))
    table = pa.table(
        {
            "k": pa.array(k, pa.int64()),
            "v": pa.array([None if i % 7 == 0 else (i * 37) % 101 for i in k], pa.int32()),
            "name": pa.array([f"name-{i:05d}-" + "x" * (i % 50) for i in k]),
            "w": pa.array([i / 8 for i in k], pa.float64()),
        }
    )
    (root / "t").mkdir()
    per_file = ROWS // 3
    for f in range(3):
        part = table.slice(f * per_file, per_file)
        pq.write_table(part, root / "t" / f"part-{f}.parquet", row_group_size=GROUP_ROWS)
    (root / "d").mkdir()
    small = pa.table({"dk": pa.array(range(0, ROWS, 3), pa.int64())})
    pq.write_table(small, root / "d" / "part-0.parquet")
    return root


def _duck(root: Path) -> duckdb.DuckDBPyConnection:
    return duck_parquet(root, "t", "d")


QUERIES = [
    # Statistics cannot prune ABS(...): only the row groups around k = 1500 keep rows.
    "SELECT k, name, v FROM t WHERE ABS(k - 1500) < 40",
    # NULL in the predicate drops the row; most row groups keep some rows.
    "SELECT COUNT(*), SUM(v), MAX(name) FROM t WHERE v > 90",
    # No row passes anywhere: no column but k is read, and the result has its columns.
    "SELECT name, w FROM t WHERE k * 2 < -1",
    # The filter reads every column the query reads.
    "SELECT k FROM t WHERE k % 100 = 7",
    # Row groups kept whole (k < 700), in part and not at all, read one after another.
    "SELECT name, v FROM t WHERE k < 700 OR (k > 2500 AND k % 10 = 3)",
    # The predicate's columns are not the first ones read; the output keeps the query's order.
    "SELECT name, w, k FROM t WHERE w BETWEEN 10 AND 11 OR k % 997 = 1",
    # A join side's filter.
    "SELECT COUNT(*), SUM(t.v) FROM t JOIN d ON t.k = d.dk WHERE ABS(t.k - 2000) <= 100",
]


@pytest.mark.parametrize("query", QUERIES)
def test_filtered_scans_equal_duckdb(clustered: Path, query: str) -> None:
    expected = _duck(clustered).execute(query).fetchall()
    for split in ("4KB", None):
        result = sqlmr.sql(query, str(clustered), split_size=split, workers=2, reducers=2)
        assert_same(result, expected, ordered=False)


def _expected_bytes(plan, passing: set[tuple[str, int]]) -> tuple[int, int]:
    """(bytes a late-materializing scan reads, bytes a whole read takes): every range's footer
    and k's chunks, and name's and v's chunks in the `passing` (file, row group) pairs only."""
    late = whole = 0
    for task in plan.stages[0].tasks:
        for r in task["ranges"]:
            meta = pq.read_metadata(r["url"])
            name = Path(r["url"]).name
            groups = r["row_groups"]
            kept = [g for g in groups if (name, g) in passing]
            base = r["footer"] + chunk_bytes(meta, groups, ["k"])
            late += base + chunk_bytes(meta, kept, ["name", "v"])
            whole += base + chunk_bytes(meta, groups, ["name", "v"])
    return late, whole


def test_row_groups_without_a_passing_row_read_only_the_filter_columns(clustered: Path) -> None:
    query = QUERIES[0]
    options = QueryOptions(workers=2)
    plan = compile_query(query, resolve_catalog(str(clustered)), options)
    assert ", 0 pruned" in render_plan(plan)  # the statistics decided nothing
    with sqlmr.run(plan, options) as result:
        table = result.read_all()
        stages = list(result.stages)
    expected = _duck(clustered).execute(query).fetchall()
    assert_same(table, expected, ordered=False)
    scan = next(s for s in stages if s.id == "map")
    assert scan.rows_in == ROWS  # rows read are counted, not rows kept
    # k = 1461..1539: file 1 (k 1000..1999), row groups 1 (1250..1499) and 2 (1500..1749).
    late, whole = _expected_bytes(plan, {("part-1.parquet", 1), ("part-1.parquet", 2)})
    assert scan.bytes_in == late < 0.6 * whole, (scan.bytes_in, late, whole)


@pytest.fixture(scope="module")
def wide_groups(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A table `w` in row groups of 30,000 rows of long names (about 3 MB decoded each, so a
    sparse group is decoded in several batches), with NULLs and a dictionary-encoded column."""
    root = tmp_path_factory.mktemp("wide")
    rows = 90_000
    k = list(range(rows))
    table = pa.table(
        {
            "k": pa.array(k, pa.int64()),
            "name": pa.array([None if i % 11 == 0 else f"{i:06d}" + "y" * 90 for i in k]),
            "tag": pa.array([f"tag{i % 5}" for i in k]),
        }
    )
    (root / "w").mkdir()
    pq.write_table(table, root / "w" / "part-0.parquet", row_group_size=30_000)
    return root


@pytest.mark.parametrize(
    "query",
    [
        # Sparse in every group; rows on both sides of the first batch boundaries.
        "SELECT k, name, tag FROM w WHERE k % 4999 = 0 OR k BETWEEN 4000 AND 9000",
        # The first group is kept whole, the second densely (> 1 in 4), the third sparsely.
        "SELECT name, k FROM w WHERE k < 30000 OR (k < 60000 AND k % 3 = 0) OR k % 1000 = 999",
        # A sparse group's last rows, and aggregates over the kept names (NULLs among them).
        "SELECT COUNT(name), MIN(name), MAX(tag) FROM w WHERE k >= 89990 OR k % 7001 = 5",
    ],
)
def test_sparse_groups_read_in_batches_equal_duckdb(wide_groups: Path, query: str) -> None:
    expected = duck_parquet(wide_groups, "w").execute(query).fetchall()
    result = sqlmr.sql(query, str(wide_groups), workers=2)
    assert_same(result, expected, ordered=False)


@pytest.mark.parametrize(
    "query",
    [
        # A projection first: each row group is projected as it is read.
        "SELECT SUBSTR(name, 1, 3), COUNT(*), SUM(k) FROM w GROUP BY 1",
        "SELECT k * 2 AS k2, tag FROM w ORDER BY k2 DESC LIMIT 5",
        "SELECT tag, MIN(LENGTH(name)), COUNT(name) FROM w GROUP BY tag",
    ],
)
def test_projections_run_a_row_group_at_a_time_equal_duckdb(wide_groups: Path, query: str) -> None:
    expected = duck_parquet(wide_groups, "w").execute(query).fetchall()
    options = QueryOptions(workers=2)
    plan = compile_query(query, resolve_catalog(str(wide_groups)), options)
    with sqlmr.run(plan, options) as result:
        table = result.read_all()
        scan = next(s for s in result.stages if s.id == "map")
    assert_same(table, expected, ordered="ORDER BY" in query)
    # Every row group's rows and column chunks are counted once, with each task's footer.
    meta = pq.read_metadata(wide_groups / "w" / "part-0.parquet")
    read = plan.stages[0].source["read"]
    ranges = [r for task in plan.stages[0].tasks for r in task["ranges"]]
    assert scan.rows_in == meta.num_rows
    assert sorted(g for r in ranges for g in r["row_groups"]) == list(range(meta.num_row_groups))
    assert scan.bytes_in == sum(
        r["footer"] + chunk_bytes(meta, r["row_groups"], read) for r in ranges
    )


def test_the_runtime_reads_a_file_as_pyarrow_parquet_does(tmp_path: Path) -> None:
    """scan_parquet.ParquetFile (Arrow's reader, without pyarrow.parquet) gives what
    pyarrow.parquet.ParquetFile gives: columns in the order asked, a struct column's leaves
    together, row groups and batches alike, on a memory-mapped file and a ranged one."""
    from sqlmr_runtime.scan_parquet import ParquetFile, open_parquet

    n = 10_000
    table = pa.table(
        {
            "a": pa.array(range(n), pa.int64()),
            "s": pa.array([{"x": i, "y": str(i)} for i in range(n)]),
            "b": pa.array([f"v{i % 97}" if i % 11 else None for i in range(n)]),
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=3_000)
    reference = pq.ParquetFile(path)
    mapped = ParquetFile(pa.memory_map(str(path)))
    ranged, f = open_parquet(str(path))
    for ours in (mapped, ranged):
        assert ours.metadata.equals(reference.metadata)
        assert ours.schema_arrow.equals(reference.schema_arrow)
        for groups, columns in (([0, 2], ["b", "a"]), ([1, 3], ["s"]), ([3], ["a", "s", "b"])):
            got = ours.read_row_groups(groups, columns=columns, use_threads=False)
            assert got.equals(reference.read_row_groups(groups, columns=columns))
            batches = list(ours.iter_batches(700, row_groups=groups, columns=columns))
            expected = list(reference.iter_batches(700, row_groups=groups, columns=columns))
            assert [b.num_rows for b in batches] == [b.num_rows for b in expected]
            assert pa.Table.from_batches(batches).equals(pa.Table.from_batches(expected))
    f.close()
