"""UNION ALL and UNION against DuckDB on the same files: plain, with ORDER BY/LIMIT on the whole
union, types unified as DuckDB does (INTEGER with BIGINT or DOUBLE, NULL with anything), inside a
FROM subquery and a CTE with aggregation and joins over it, nested, and UNION (distinct); one
query also through the emulated Lambda path (SeaweedFS + the Lambda Invoke emulator).
INTERSECT and EXCEPT are refused by name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import assert_same

import sqlmr
from sqlmr.api import QueryOptions, compile_query, resolve_catalog
from sqlmr.execution.aws_lambda import LambdaExecutor

if TYPE_CHECKING:
    from lambda_server import LambdaServer
    from s3_server import SeaweedS3

pytest_plugins = ["s3_server", "lambda_server"]

A, E = "amplab", "edge"

CASES = [
    pytest.param(
        A,
        "SELECT pageURL, pageRank FROM rankings WHERE pageRank > 300 "
        "UNION ALL SELECT destURL, duration FROM uservisits WHERE duration < 3",
        "rows",
        id="two-tables",
    ),
    pytest.param(
        A,
        "SELECT pageRank AS x FROM rankings UNION ALL SELECT adRevenue FROM uservisits "
        "UNION ALL SELECT NULL FROM rankings ORDER BY x DESC NULLS LAST LIMIT 7",
        "ordered",
        id="int-double-null-order-limit",
    ),
    pytest.param(
        A,
        "SELECT k, COUNT(*), SUM(v) FROM (SELECT countryCode AS k, duration AS v "
        "FROM uservisits UNION ALL SELECT SUBSTR(pageURL, 1, 2), pageRank FROM rankings) u "
        "GROUP BY k HAVING COUNT(*) > 1",
        "rows",
        id="aggregate-over-subquery",
    ),
    pytest.param(
        E,
        "WITH both_sides AS (SELECT id, n AS v FROM edge WHERE n > 0 "
        "UNION ALL SELECT id, big FROM edge WHERE big < 0) "
        "SELECT e.grp, COUNT(*), MIN(b.v), MAX(b.v) FROM both_sides b JOIN edge e ON e.id = b.id "
        "GROUP BY e.grp",
        "rows",
        id="cte-join-aggregate",
    ),
    pytest.param(
        E,
        "SELECT name FROM edge WHERE id < 100 UNION SELECT grp FROM edge "
        "UNION ALL SELECT 'x' FROM edge WHERE id = 7 ORDER BY 1 NULLS FIRST",
        "ordered",
        id="union-distinct-then-all",
    ),
    pytest.param(
        E,
        "SELECT * FROM (SELECT day, score FROM edge UNION ALL "
        "(SELECT day, n FROM edge WHERE n < 0 UNION ALL "
        "SELECT DATE '2000-01-01', 1.5 FROM edge)) t "
        "WHERE score IS NOT NULL ORDER BY day NULLS FIRST, score LIMIT 20",
        "ordered",
        id="nested-in-subquery",
    ),
    pytest.param(
        E,
        "SELECT grp, n FROM edge UNION SELECT grp, n FROM edge",
        "rows",
        id="union-distinct",
    ),
    pytest.param(
        E,
        "SELECT id FROM edge WHERE n IN (SELECT n FROM edge WHERE id < 10 "
        "UNION ALL SELECT big FROM edge WHERE id < 5)",
        "rows",
        id="in-subquery",
    ),
    pytest.param(
        E,
        "SELECT grp, COUNT(*) FROM edge GROUP BY grp "
        "UNION ALL SELECT name, SUM(n) FROM edge GROUP BY name",
        "rows",
        id="grouped-branches",
    ),
]


def run(query: str, folder: str, **options):
    options = {"split_size": "8KB", "reducers": 3, "workers": 2} | options
    return sqlmr.sql(query, folder, **options)


@pytest.mark.parametrize(("data", "query", "check"), CASES)
def test_union_equals_duckdb(data: str, query: str, check: str, oracles) -> None:
    con, folder = oracles(data)
    expected = con.execute(query).fetchall()
    assert expected, "the case must have rows to compare"
    result = run(query, folder)
    assert_same(result, expected, ordered=check == "ordered", columns=len(expected[0]))


def test_union_names_columns_after_its_first_branch(edge_dir: str) -> None:
    result = run("SELECT n AS Value, grp FROM edge UNION ALL SELECT big, name FROM edge", edge_dir)
    assert result.column_names == ["Value", "grp"]
    assert str(result.schema.field("Value").type) == "int64"  # INTEGER with BIGINT: BIGINT


@pytest.mark.parametrize(
    ("query", "error", "fragment"),
    [
        ("SELECT n FROM edge INTERSECT SELECT n FROM edge", sqlmr.UnsupportedError, "INTERSECT"),
        ("SELECT n FROM edge EXCEPT SELECT n FROM edge", sqlmr.UnsupportedError, "EXCEPT"),
        ("SELECT n FROM edge UNION ALL SELECT n, id FROM edge", sqlmr.SqlError, "as many columns"),
        ("SELECT n FROM edge UNION ALL SELECT name FROM edge", sqlmr.SqlError, "no common type"),
    ],
)
def test_union_errors(query: str, error: type, fragment: str, edge_dir: str) -> None:
    with pytest.raises(error, match=fragment):
        run(query, edge_dir)


def test_union_plan_is_one_map_stage_over_both_tables(edge_dir: str) -> None:
    """A union of scans adds no stage: its tasks read both tables' splits."""
    plan = compile_query(
        "SELECT n FROM edge WHERE n > 0 UNION ALL SELECT big FROM edge", resolve_catalog(edge_dir)
    )
    assert [s.kind for s in plan.stages] == ["map"]
    assert plan.stages[0].source["type"] == "union"
    assert {t["branch"] for t in plan.stages[0].tasks} == {0, 1}


@pytest.fixture
def edge_on_s3(seaweed_s3: SeaweedS3, edge_dir: str, tmp_path) -> str:
    """The edge table uploaded to s3://bucket/edge/, and a catalog file pointing there."""
    client = seaweed_s3.client()
    for path in sorted((Path(edge_dir) / "edge").iterdir()):
        client.upload_file(str(path), seaweed_s3.bucket, f"edge/{path.name}")
    text = (Path(edge_dir) / "catalog.toml").read_text()
    text = text.replace('location = "edge"', f'location = "{seaweed_s3.url("edge")}"')
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(text)
    return str(catalog)


def test_union_through_the_lambda_path(
    edge_on_s3: str, seaweed_s3: SeaweedS3, lambda_endpoint: LambdaServer, oracles
) -> None:
    """A union with aggregation over it, tasks invoked through the Lambda emulator (the
    deployed handler) with tables and job store on SeaweedFS, equals DuckDB."""
    con, _ = oracles("edge")
    query = (
        "SELECT grp, COUNT(*), SUM(v) FROM (SELECT grp, n AS v FROM edge UNION ALL "
        "SELECT grp, score FROM edge WHERE score > 0) u GROUP BY grp"
    )
    options = QueryOptions(
        job_store=seaweed_s3.url("jobs", "union"), workers=4, split_size="8KB", reducers=2
    )
    plan = compile_query(query, resolve_catalog(catalog=edge_on_s3), options)
    executor = LambdaExecutor(
        "sqlmr", concurrency=4, payload_store=seaweed_s3.url("events"), backoff_base=0.01
    )
    try:
        with sqlmr.run(plan, options, executor=executor) as result:
            table = result.read_all()
            summaries = result.results
    finally:
        executor.close()
    assert summaries and all("lambda" in s for s in summaries)
    assert plan.stages[0].source["type"] == "union"
    assert_same(table, con.execute(query).fetchall(), ordered=False, columns=3)
