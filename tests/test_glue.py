"""The AWS Glue catalog (moto's Glue): `--catalog glue:DATABASE` reads each table's location,
format (SerDe and InputFormat), columns and partition keys; results equal DuckDB on the files."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import duckdb
import pytest
from conftest import assert_same
from moto import mock_aws
from test_formats import format_dirs, partitioned  # noqa: F401 - fixtures shared with formats

import sqlmr
from sqlmr.errors import CatalogError

PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    },
}
TEXT = {
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
        "Parameters": {"field.delim": ",", "serialization.format": ","},
    },
}
JSON = {
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
}
RANKINGS = [("pageurl", "string"), ("pagerank", "int"), ("avgduration", "int")]
USERVISITS = [
    ("sourceip", "string"),
    ("desturl", "varchar(100)"),
    ("visitdate", "date"),
    ("adrevenue", "double"),
    ("useragent", "string"),
    ("countrycode", "char(3)"),
    ("languagecode", "string"),
    ("searchword", "string"),
    ("duration", "int"),
]


def _table(name, location, storage, columns, partitions=(), params=None) -> dict:
    return {
        "Name": name,
        "StorageDescriptor": {
            "Location": location,
            "Columns": [{"Name": n, "Type": t} for n, t in columns],
            **storage,
        },
        "PartitionKeys": [{"Name": n, "Type": t} for n, t in partitions],
        "Parameters": params or {},
    }


@pytest.fixture
def glue(monkeypatch, format_dirs, partitioned):  # noqa: F811
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = boto3.client("glue")
        client.create_database(DatabaseInput={"Name": "amplab"})
        tables = [
            _table("rankings", f"{format_dirs['parquet']}/rankings", PARQUET, RANKINGS),
            _table(
                "uservisits",
                f"{format_dirs['text-gzip']}/uservisits",
                TEXT,
                USERVISITS,
                params={"compressionType": "gzip"},
            ),
            _table("rankings_json", f"{format_dirs['json']}/rankings", JSON, RANKINGS),
            _table(
                "buckets",
                f"{partitioned}/pq",
                PARQUET,
                RANKINGS,
                partitions=[("bucket", "bigint")],
            ),
        ]
        for t in tables:
            client.create_table(DatabaseName="amplab", TableInput=t)
        client.create_database(DatabaseInput={"Name": "odd"})
        client.create_table(
            DatabaseName="odd",
            TableInput=_table("t", "/nowhere", PARQUET, [("tags", "array<string>")]),
        )
        yield client


QUERIES = [
    (
        "SELECT pageurl, pagerank FROM rankings WHERE pagerank > 40",
        "SELECT pageURL, pageRank FROM read_parquet('{parquet}/rankings/*') WHERE pageRank > 40",
    ),
    (
        "SELECT countrycode, COUNT(*), SUM(adrevenue), MAX(visitdate) FROM uservisits "
        "GROUP BY countrycode",
        "SELECT countryCode, COUNT(*), SUM(adRevenue), MAX(visitDate) FROM read_parquet("
        "'{parquet}/uservisits/*') GROUP BY countryCode",
    ),
    (
        "SELECT SUM(pagerank), COUNT(*) FROM rankings_json WHERE avgduration < 10",
        "SELECT SUM(pageRank), COUNT(*) FROM read_parquet('{parquet}/rankings/*') "
        "WHERE avgDuration < 10",
    ),
    (
        "SELECT bucket, COUNT(*) FROM buckets WHERE bucket <> 2 GROUP BY bucket",
        "SELECT bucket, COUNT(*) FROM read_parquet('{root}/pq/*/*.parquet', "
        "hive_partitioning=true) WHERE bucket <> 2 GROUP BY bucket",
    ),
]


@pytest.mark.parametrize("case", range(len(QUERIES)))
def test_glue_tables_equal_duckdb(case: int, glue, format_dirs, partitioned) -> None:  # noqa: F811
    ours, theirs = QUERIES[case]
    expected = duckdb.sql(
        theirs.format(parquet=format_dirs["parquet"], root=partitioned)
    ).fetchall()
    empty = Path(format_dirs["text"]).parent / "no-tables"
    empty.mkdir(exist_ok=True)
    result = sqlmr.sql(ours, str(empty), "glue:amplab", workers=2, split_size="32KB")
    assert_same(result, expected, ordered=False)


def test_glue_errors_name_what_is_wrong(glue, tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="'tags'.*array<string>"):
        sqlmr.resolve_catalog(str(tmp_path), "glue:odd")
    with pytest.raises(CatalogError, match="Glue database 'nope' does not exist"):
        sqlmr.resolve_catalog(str(tmp_path), "glue:nope")


def test_catalog_file_may_name_a_glue_database(glue, tmp_path: Path) -> None:
    (tmp_path / "catalog.toml").write_text('glue = "amplab"\n')
    catalog = sqlmr.resolve_catalog(str(tmp_path))
    assert {t.name for t in catalog.tables} >= {"rankings", "uservisits", "buckets"}
    assert os.path.isdir(catalog.table("buckets").location)
