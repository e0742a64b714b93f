"""ORDER BY without LIMIT as a range-partitioned sort (issue 13, "Found" 8): each producing task
sorts its rows and samples its keys, the driver cuts the key space into ranges from the samples,
and each merge task sorts one range; the parts stream in order. Checked against DuckDB, in
order, with the merge forced into many small ranges."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import assert_same, duck_connect

import sqlmr

QUERIES = [
    "SELECT sourceIP, adRevenue, visitDate FROM uservisits ORDER BY adRevenue DESC, sourceIP",
    "SELECT countryCode, COUNT(*) AS n, SUM(duration) FROM uservisits GROUP BY countryCode "
    "ORDER BY n, countryCode",
    "SELECT pageURL, pageRank FROM rankings ORDER BY pageRank, pageURL DESC",
    "SELECT visitDate, languageCode, duration FROM uservisits "
    "ORDER BY visitDate DESC, languageCode NULLS FIRST, duration",
    # Many ties: rows equal to a boundary must land in exactly one range.
    "SELECT countryCode, duration FROM uservisits ORDER BY countryCode, duration",
]


def _small_ranges(plan, share: int):
    """The plan with its merge cut into ranges of about `share` bytes of sorted output."""
    stages = tuple(
        dataclasses.replace(s, coalesce_bytes=share) if s.source.get("range") else s
        for s in plan.stages
    )
    return dataclasses.replace(plan, stages=stages)


@pytest.fixture(scope="module")
def oracle(amplab_dir: str):
    return duck_connect(amplab_dir)


@pytest.mark.parametrize("sql", QUERIES)
def test_range_sort_equals_duckdb_in_order(amplab_dir: str, oracle, sql: str) -> None:
    options = sqlmr.QueryOptions(workers=2, split_size="128KB", reducers=3)
    plan = _small_ranges(
        sqlmr.compile_query(sql, sqlmr.resolve_catalog(amplab_dir), options), 16 << 10
    )
    with sqlmr.run(plan, options) as result:
        assert_same(result.read_all(), oracle.execute(sql).fetchall(), ordered=True)


def test_no_task_gathers_the_whole_sorted_result(amplab_dir: str, oracle) -> None:
    # Found 8: ORDER BY without LIMIT ran one merge task over everything (1.2 GB at 250 MB of
    # input). Now the merge stage has one task per key range, each keeping its share only.
    sql = QUERIES[0]
    options = sqlmr.QueryOptions(workers=2, split_size="128KB")
    plan = sqlmr.compile_query(sql, sqlmr.resolve_catalog(amplab_dir), options)
    producing, merge = plan.stages[-2], plan.stages[-1]
    assert merge.source["range"] and producing.sink["sample"]["rows"] > 0
    with sqlmr.run(_small_ranges(plan, 32 << 10), options) as result:
        stats = result.stages[-1]
        rows = [s["rows_in"] for s in result.results]
        assert_same(result.read_all(), oracle.execute(sql).fetchall(), ordered=True)
    assert stats.tasks >= 4 and sum(rows) == 10_000
    assert max(rows) < 10_000 / 2  # every range holds a share, none the whole result
