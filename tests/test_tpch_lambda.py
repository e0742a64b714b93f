"""TPC-H queries through the emulated Lambda path: tables and job store on SeaweedFS (real S3
protocol), tasks invoked through the test Lambda (tests/lambda_server.py), DuckDB as the oracle.

The queries cover a correlated subquery (Q17, Q4's EXISTS), an outer join (Q13), NOT EXISTS with
an uncorrelated scalar subquery (Q22), NOT IN (Q16) and a three-way join with IN (Q18)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import assert_same
from sqlmr_benchmarks.tpch import query_text

import sqlmr
from sqlmr.api import QueryOptions, compile_query, resolve_catalog
from sqlmr.datagen.tpch import TPCH_SCHEMAS, catalog_toml
from sqlmr.execution.aws_lambda import LambdaExecutor

if TYPE_CHECKING:
    from lambda_server import LambdaServer
    from s3_server import SeaweedS3

pytest_plugins = ["s3_server", "lambda_server"]


@pytest.fixture(scope="module")
def s3_catalog(seaweed_s3: SeaweedS3, tpch_dir: str, tmp_path_factory) -> str:
    """The TPC-H tables uploaded to s3://bucket/tpch/, and a catalog file pointing there."""
    client = seaweed_s3.client()
    for path in sorted(Path(tpch_dir).rglob("*.tbl")):
        key = "tpch/" + path.relative_to(tpch_dir).as_posix()
        client.upload_file(str(path), seaweed_s3.bucket, key)
    text = catalog_toml("text")
    for table in TPCH_SCHEMAS:
        text = text.replace(
            f'location = "{table}"', f'location = "{seaweed_s3.url("tpch", table)}"'
        )
    path = tmp_path_factory.mktemp("tpch-s3") / "catalog.toml"
    path.write_text(text)
    return str(path)


@pytest.fixture
def executor(lambda_endpoint: LambdaServer, seaweed_s3: SeaweedS3):
    ex = LambdaExecutor(
        "sqlmr", concurrency=4, payload_store=seaweed_s3.url("events"), backoff_base=0.01
    )
    yield ex
    ex.close()


@pytest.mark.parametrize("n", [4, 13, 16, 17, 18, 22])
def test_tpch_on_lambda_equals_duckdb(n: int, s3_catalog, seaweed_s3, executor, tpch_oracle):
    query = query_text(n)
    options = QueryOptions(
        job_store=seaweed_s3.url("jobs", f"tpch-q{n}"),
        workers=4,
        split_size="1MB",
        reducers=2,
    )
    plan = compile_query(query, resolve_catalog(catalog=s3_catalog), options)
    with sqlmr.run(plan, options, executor=executor) as result:
        table = result.read_all()
        summaries = result.results
    assert all("lambda" in s for s in summaries)
    assert_same(table, tpch_oracle.execute(query).fetchall(), ordered="order by" in query.lower())
