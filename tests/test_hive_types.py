"""The type of a Hive partition column no catalog declares, inferred from its folder names as
DuckDB infers it (read_parquet(…, hive_partitioning = true)): the values, their order and the
column's SQL type agree."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_same

import sqlmr

SQL_TYPES = {
    pa.int64(): "BIGINT",
    pa.date32(): "DATE",
    pa.timestamp("us"): "TIMESTAMP",
    pa.string(): "VARCHAR",
}

FOLDERS = [
    ["1", "2", "10"],
    ["01", "5", "12"],  # a leading zero keeps the text
    ["+4", "7"],
    ["1_000"],
    ["9223372036854775807", "-3", "-0"],
    ["9223372036854775808"],  # past 64 bits
    ["2024-01-05", "2024-1-6"],
    ["2024-01-05 10:00:00", "2024-01-06T11:30", "2024-1-7 08:00:00.25"],
    ["2024-01-05", "5"],  # a mix is text
    ["abc", "7"],
]


@pytest.mark.parametrize("values", FOLDERS, ids=lambda v: "|".join(v))
def test_partition_types_are_inferred_as_duckdb_infers_them(tmp_path: Path, values) -> None:
    for i, value in enumerate(values):
        (tmp_path / f"k={value}").mkdir()
        pq.write_table(pa.table({"id": [i]}), tmp_path / f"k={value}" / "p.parquet")
    query = "SELECT id, k FROM {} ORDER BY k, id"
    duck = duckdb.sql(
        query.format(f"read_parquet('{tmp_path}/*/*.parquet', hive_partitioning = true)")
    )
    result = sqlmr.sql(query.format(f"'{tmp_path}/**/*.parquet'"), workers=1)
    assert SQL_TYPES[result.schema.field("k").type] == str(duck.types[1])
    assert_same(result, duck.fetchall(), ordered=True)
