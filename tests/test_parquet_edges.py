"""Parquet files at the edges of what their footers say: statistics that leave NaN out, that
Python cannot hold, column names that differ only in case, schemas that differ only in
nullability. Each is checked against DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_same

import sqlmr
from sqlmr.planning.explain import render_plan

NAN = float("nan")


def test_statistics_never_prune_nan_rows(tmp_path: Path) -> None:
    # Row groups [5, NaN] [1, 2] [NaN, 3]: writers leave NaN out of a float column's min and max,
    # and NaN is greater than any number, so x > 3 holds in the first and the last.
    rows = pa.table({"id": [1, 2, 3, 4, 5, 6], "x": [5.0, NAN, 1.0, 2.0, NAN, 3.0]})
    path = tmp_path / "p.parquet"
    pq.write_table(rows, path, row_group_size=2)
    assert pq.ParquetFile(path).metadata.row_group(0).column(1).statistics.max == 5.0
    # DuckDB prunes these row groups by the same statistics (2.0.1), so it answers over the
    # rows as pyarrow reads them from the file.
    read = pq.read_table(path)  # noqa: F841 - DuckDB's replacement scan finds it by name
    for where in ["x > 3", "x >= 5", "x <> 5", "x > 3 AND id > 1", "x < 1.5", "x = 3"]:
        query = "SELECT id, x FROM {} WHERE " + where
        expected = duckdb.sql(query.format("read")).fetchall()
        result = sqlmr.sql(query.format(f"'{path}'"), workers=2, split_size="1KB")
        assert_same(result, expected, ordered=False)
    # Bounds that NaN cannot pass still prune: x < 1.5 leaves only the group [1, 2].
    plan = sqlmr.compile_query(
        f"SELECT id FROM '{path}' WHERE x < 1.5", sqlmr.resolve_catalog(None), sqlmr.QueryOptions()
    )
    assert "2 pruned" in render_plan(plan)


def test_statistics_python_cannot_hold_do_not_stop_a_query(tmp_path: Path) -> None:
    # Nanoseconds past the microsecond: pyarrow cannot give such a min or max to Python.
    moments = pa.array([1_600_000_000_123_456_789, 1_600_000_000_000_000_001], pa.timestamp("ns"))
    pq.write_table(pa.table({"id": [1, 2], "t": moments}), tmp_path / "p.parquet")
    query = f"SELECT id FROM '{tmp_path}/p.parquet' WHERE id = 1"
    assert_same(sqlmr.sql(query, workers=2), duckdb.sql(query).fetchall(), ordered=False)


def test_columns_whose_names_differ_only_in_case_are_refused_by_name(tmp_path: Path) -> None:
    # SQL names match without regard to case: "A" and "a" are one name, and sqlmr once read
    # the values of "a" for both (DuckDB reads each as written).
    data = pa.table({"A": [1, 2], "a": [5, 6], "b": [7, 8]})
    (tmp_path / "t").mkdir()
    pq.write_table(data, tmp_path / "t" / "p.parquet")
    with pytest.raises(sqlmr.UnsupportedError, match=r"'A' and 'a' have the same name in SQL"):
        sqlmr.sql(f"SELECT * FROM '{tmp_path}/t/p.parquet'")
    # A table whose catalog declares its columns: its tasks refuse the column they cannot tell,
    # and read the others.
    (tmp_path / "catalog.toml").write_text(
        '[tables.t]\nlocation = "t"\nformat = "parquet"\ncolumns = "a BIGINT, b BIGINT"\n'
    )
    with pytest.raises(sqlmr.SqlmrError, match=r"'A' and 'a', which differ only in case"):
        sqlmr.sql("SELECT a FROM t", str(tmp_path), workers=1)
    expected = duckdb.sql(f"SELECT b FROM '{tmp_path}/t/p.parquet'").fetchall()
    assert_same(sqlmr.sql("SELECT b FROM t", str(tmp_path), workers=1), expected, False)


def test_files_that_differ_only_in_nullability_or_encoding_are_one_table(tmp_path: Path) -> None:
    # Writers differ: one marks a column REQUIRED, another OPTIONAL; one stores a string column
    # dictionary-encoded with its Arrow schema. Queries read them alike (DuckDB too).
    required = pa.schema([pa.field("a", pa.int64(), nullable=False), ("s", pa.string())])
    pq.write_table(
        pa.table({"a": [1, 2], "s": ["x", "y"]}, schema=required), tmp_path / "1.parquet"
    )
    encoded = pa.table({"a": [3, None], "s": pa.array(["y", "z"]).dictionary_encode()})
    pq.write_table(encoded, tmp_path / "2.parquet")
    query = f"SELECT s, COUNT(*), SUM(a) FROM '{tmp_path}/*.parquet' GROUP BY s"
    assert_same(sqlmr.sql(query, workers=2), duckdb.sql(query).fetchall(), ordered=False)
    # Files whose columns do differ are still refused, naming both.
    pq.write_table(pa.table({"a": ["3"], "s": ["w"]}), tmp_path / "3.parquet")
    with pytest.raises(sqlmr.CatalogError, match=r"3\.parquet has columns \(a string"):
        sqlmr.sql(query, workers=2)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT t.id, u.k FROM t LEFT JOIN u ON t.id = u.k",
        "SELECT id FROM t UNION ALL SELECT k FROM u",
        "WITH a AS (SELECT id FROM t) SELECT * FROM a",
        "SELECT id FROM t WHERE id IN (SELECT k FROM u)",
        "SELECT a.id FROM t a JOIN u b ON a.id = b.k JOIN t c ON c.id = b.k",
    ],
)
def test_a_folders_parquet_tables_need_no_catalog_in_any_query_shape(
    tmp_path: Path, query: str
) -> None:
    # Their columns come from their footers: the compiler of joins, unions, CTEs and
    # subqueries built its schema before reading them ('Table  must have at least one column').
    for name, rows in {"t": {"id": [1, 2, 3]}, "u": {"k": [1, 1, 5]}}.items():
        (tmp_path / name).mkdir()
        pq.write_table(pa.table(rows), tmp_path / name / "0.parquet")
    con = duckdb.connect()
    for name in ("t", "u"):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM '{tmp_path}/{name}/*.parquet'")
    result = sqlmr.sql(query, str(tmp_path), workers=2, split_size="1KB")
    assert_same(result, con.execute(query).fetchall(), ordered=False)
