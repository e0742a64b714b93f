"""LIMIT stops early: a scan with LIMIT n and nothing that needs every row launches its tasks in
waves and stops once n rows are in hand. Whatever the split size, worker count and n, the result
is n rows (or all, when fewer match) that DuckDB's full answer contains."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import assert_same
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


TOP = (
    "SELECT SUBSTR(sourceIP, 1, 3) AS k, SUM(adRevenue) AS r FROM uservisits "
    "GROUP BY 1 ORDER BY r DESC, k LIMIT 3"
)


def test_a_merge_after_a_one_task_reduce_runs_no_task(amplab_dir: str, duck, executors) -> None:
    # The reduce ran as one task and already sorted and limited its rows: the merge stage, the
    # same sort and limit over that one output, is skipped (on Lambda, an invocation fewer).
    options = QueryOptions(workers=2, split_size="64KB")  # map tasks, then a reduce
    plan = compile_query(TOP, resolve_catalog(amplab_dir), options)
    assert [s.kind for s in plan.stages][-2:] == ["reduce", "merge"]
    with run(plan, options, executors[2]) as result:
        table = result.read_all()
        stats = {s.id: s for s in result.stages}
    assert_same(table, duck.execute(TOP).fetchall(), ordered=True)
    reduce, merge = plan.stages[-2:]
    assert stats[reduce.id].tasks == 1
    assert stats[merge.id].done_by == reduce.id and stats[merge.id].tasks == 0


def test_a_merge_runs_when_its_input_is_several_outputs_or_other_work(amplab_dir: str) -> None:
    import dataclasses

    from sqlmr.execution.task_inputs import done_by

    options = QueryOptions(workers=2, split_size="64KB")
    plan = compile_query(TOP, resolve_catalog(amplab_dir), options)
    reduce, merge = plan.stages[-2:]
    stages = {s.id: s for s in plan.stages}
    one, two = {reduce.id: [{}]}, {reduce.id: [{}, {}]}
    assert done_by(merge, stages, one) == reduce.id
    assert done_by(merge, stages, two) is None  # outputs of several reducers: merge them
    limit_only = dataclasses.replace(merge, ops=merge.ops[-1:])  # a suffix of the reduce's
    assert done_by(limit_only, stages, one) == reduce.id
    other = dataclasses.replace(reduce, ops=reduce.ops[:-1])  # the reduce stopped before LIMIT
    assert done_by(merge, {**stages, reduce.id: other}, one) is None
