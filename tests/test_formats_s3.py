"""Every format through the emulated Lambda (the shipped zip and layer) with SeaweedFS as S3:
Parquet column chunks by ranged GETs, gzip streamed, JSON Lines by byte ranges, partition
folders pruned by S3 listings; results equal DuckDB on the same files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import assert_same
from test_formats import _duck, format_dirs, partitioned  # noqa: F401 - shared fixtures

import sqlmr
from sqlmr.api import QueryOptions, compile_query, resolve_catalog
from sqlmr.execution.aws_lambda import LambdaExecutor

if TYPE_CHECKING:
    from lambda_server import LambdaServer
    from s3_server import SeaweedS3

pytest_plugins = ["s3_server", "lambda_server"]

FORMATS = ["parquet", "text-gzip", "json"]
QUERIES = [
    "SELECT SUBSTR(sourceIP, 1, 7), SUM(adRevenue) FROM uservisits GROUP BY SUBSTR(sourceIP, 1, 7)",
    "SELECT uv.sourceIP, SUM(uv.adRevenue), AVG(r.pageRank) FROM rankings AS r "
    "JOIN uservisits AS uv ON r.pageURL = uv.destURL "
    "WHERE uv.visitDate BETWEEN DATE '1980-01-01' AND DATE '1990-01-01' GROUP BY uv.sourceIP",
]


@pytest.fixture(scope="module")
def s3_formats(seaweed_s3: SeaweedS3, format_dirs, partitioned) -> dict[str, str]:  # noqa: F811
    client = seaweed_s3.client()
    roots = {fmt: Path(format_dirs[fmt]) for fmt in FORMATS} | {"partitioned": partitioned}
    for name, root in roots.items():
        for path in sorted(root.rglob("*")):
            if path.is_file():
                key = f"formats/{name}/" + path.relative_to(root).as_posix()
                client.upload_file(str(path), seaweed_s3.bucket, key)
    return {name: seaweed_s3.url(f"formats/{name}") for name in roots}


@pytest.fixture
def executor(lambda_endpoint: LambdaServer, seaweed_s3: SeaweedS3):
    ex = LambdaExecutor("sqlmr", concurrency=4, payload_store=seaweed_s3.url("events"))
    yield ex
    ex.close()


def _run(sql: str, tables: str | None, job_store: str, executor):
    options = QueryOptions(job_store=job_store, workers=4, split_size="64KB", reducers=2)
    catalog = resolve_catalog(tables) if tables else resolve_catalog(tables="/nonexistent-ok")
    plan = compile_query(sql, catalog, options)
    with sqlmr.run(plan, options, executor=executor) as result:
        return plan, result.read_all(), list(result.stages)


@pytest.mark.parametrize("fmt", FORMATS)
def test_formats_on_lambda_and_s3_equal_duckdb(
    fmt,
    s3_formats,
    format_dirs,  # noqa: F811
    seaweed_s3,
    executor,
) -> None:
    con = _duck(fmt, format_dirs[fmt])
    for i, sql in enumerate(QUERIES):
        job_store = seaweed_s3.url("jobs", f"formats-{fmt}-{i}")
        plan, table, stages = _run(sql, s3_formats[fmt], job_store, executor)
        assert_same(table, con.execute(sql).fetchall(), ordered=False)
        if fmt == "parquet" and i == 0:
            # Two of uservisits' nine columns: the footer and their chunks, never whole objects.
            size = sum(o.size for o in seaweed_storage_list(s3_formats[fmt] + "/uservisits"))
            read = sum(s.bytes_in for s in stages if s.id == "map")
            assert 0 < read < size * 0.6, (read, size)


def seaweed_storage_list(url: str):
    from sqlmr_runtime.storage import storage_for

    return storage_for(url).list(url)


def test_partitions_and_paths_on_s3(s3_formats, partitioned, seaweed_s3, executor) -> None:  # noqa: F811
    import duckdb

    root = s3_formats["partitioned"]
    sql = (
        f"SELECT bucket, COUNT(*), SUM(pageRank) FROM read_parquet('{root}/pq/') "
        "WHERE bucket IN (1, 3) GROUP BY bucket"
    )
    expected = duckdb.sql(
        f"SELECT bucket, COUNT(*), SUM(pageRank) FROM read_parquet('{partitioned}/pq/*/*.parquet',"
        " hive_partitioning=true) WHERE bucket IN (1, 3) GROUP BY bucket"
    ).fetchall()
    plan, table, _ = _run(sql, s3_formats["parquet"], seaweed_s3.url("jobs", "parts"), executor)
    assert_same(table, expected, ordered=False)
    assert any("2 of 4 folder(s) pruned" in n for _, notes in plan.inputs for n in notes)
