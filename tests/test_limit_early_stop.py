"""LIMIT stops early: a scan with LIMIT n and nothing that needs every row launches its tasks in
waves and stops once n rows are in hand. Whatever the split size, worker count and n, the result
is n rows (or all, when fewer match) that DuckDB's full answer contains."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlmr.api import QueryOptions, compile_query, resolve_catalog, run
from sqlmr.execution.local import LocalExecutor
from sqlmr.planning.explain import render_plan

FILTERED = "SELECT sourceIP, duration FROM uservisits WHERE duration > {d}"


@pytest.fixture(scope="module")
def executors():
    pools = {n: LocalExecutor(n) for n in (1, 2)}
    yield pools
    for pool in pools.values():
        pool.close()


def _run(amplab_dir: str, sql: str, workers: int, split: str, executors):
    options = QueryOptions(workers=workers, split_size=split)
    plan = compile_query(sql, resolve_catalog(amplab_dir), options)
    with run(plan, options, executors[workers]) as result:
        rows = [tuple(r.values()) for r in result.read_all().to_pylist()]
        return plan, rows, result.stages[0]


def _check(rows: list[tuple], everything: list[tuple], n: int) -> None:
    assert len(rows) == min(n, len(everything))
    assert not Counter(rows) - Counter(everything)  # every row returned is a real answer row


def test_a_preview_skips_most_tasks(amplab_dir, duck, executors):
    sql = FILTERED.format(d=2) + " LIMIT 5"
    plan, rows, stats = _run(amplab_dir, sql, 2, "32KB", executors)
    assert len(plan.stages[0].tasks) > 20
    everything = duck.execute(FILTERED.format(d=2)).fetchall()
    assert len(everything) > 1000
    _check(rows, everything, 5)
    assert stats.skipped > len(plan.stages[0].tasks) // 2
    assert stats.tasks + stats.skipped == len(plan.stages[0].tasks)
    assert "early stop" in render_plan(plan)


def test_every_task_runs_when_too_few_rows_match(amplab_dir, duck, executors):
    sql = FILTERED.format(d=9) + " LIMIT 100000"
    plan, rows, stats = _run(amplab_dir, sql, 2, "32KB", executors)
    everything = duck.execute(FILTERED.format(d=9)).fetchall()
    assert everything
    _check(rows, everything, 100000)
    assert stats.skipped == 0


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT sourceIP FROM uservisits ORDER BY sourceIP LIMIT 5",
        "SELECT countryCode, COUNT(*) FROM uservisits GROUP BY 1 LIMIT 5",
    ],
)
def test_no_early_stop_where_every_row_counts(amplab_dir, executors, sql):
    plan, _, stats = _run(amplab_dir, sql, 2, "64KB", executors)
    assert stats.skipped == 0
    assert "early stop" not in render_plan(plan)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    workers=st.sampled_from([1, 2]),
    split=st.sampled_from(["16KB", "64KB", "256KB"]),
    n=st.integers(1, 3000),
    d=st.sampled_from([0, 5, 9, 10]),
)
def test_limit_result_does_not_depend_on_splits_or_workers(
    amplab_dir, duck, executors, workers, split, n, d
):
    sql = FILTERED.format(d=d) + f" LIMIT {n}"
    _, rows, _ = _run(amplab_dir, sql, workers, split, executors)
    _check(rows, duck.execute(FILTERED.format(d=d)).fetchall(), n)
