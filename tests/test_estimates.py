"""Explain's estimates: rows and bytes on every edge of the plan (each stage's output and each
side of each join), a scan's rows near DuckDB's count, and each join's kind and strategy."""

from __future__ import annotations

import re

import pytest
from sqlmr_benchmarks.tpch import query_text

import sqlmr
from sqlmr.planning.estimates import estimate_edges, selectivity
from sqlmr.planning.explain import render_plan

TABLES = ["lineitem", "orders", "customer", "part", "partsupp", "supplier", "nation", "region"]


def _plan(sql: str, tpch_dir: str, **options):
    opts = sqlmr.QueryOptions(workers=2, **options)
    return sqlmr.compile_query(sql, sqlmr.resolve_catalog(tpch_dir), opts)


@pytest.mark.parametrize("table", TABLES)
def test_a_scans_rows_are_within_three_times_duckdbs_count(
    table: str, tpch_dir: str, tpch_oracle
) -> None:
    plan = _plan(f"SELECT * FROM {table}", tpch_dir)
    outputs, _ = estimate_edges(plan)
    real = tpch_oracle.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    assert real / 3 <= outputs[plan.stages[0].id].rows <= real * 3


def test_filters_keep_less_and_or_keeps_more_than_and() -> None:
    a = {"fn": "eq", "args": [{"col": "x"}, {"lit": 1, "type": "int32"}]}
    b = {"fn": "lt", "args": [{"col": "y"}, {"lit": 2, "type": "int32"}]}
    both = selectivity({"fn": "and", "args": [a, b]})
    either = selectivity({"fn": "or", "args": [a, b]})
    assert 0 < both < selectivity(a) < either < 1
    assert selectivity({"fn": "not", "args": [a]}) == pytest.approx(1 - selectivity(a))


@pytest.mark.parametrize("n, threshold", [(7, 1 << 40), (3, 0), (13, None), (21, None)])
def test_explain_shows_an_estimate_on_every_edge(n: int, threshold, tpch_dir: str) -> None:
    """Every stage says what it writes, every join side what enters it, and each join its kind
    (Q13's is a LEFT join) and strategy."""
    extra = {} if threshold is None else {"broadcast_threshold": threshold}
    plan = _plan(query_text(n), tpch_dir, **extra)
    text = render_plan(plan)
    estimate = r"estimate   ~[\d.]+[KMG]? rows, [\d.]+ (B|KB|MB|GB)"
    assert len(re.findall(estimate + " written", text)) == len(plan.stages)
    joins = re.findall(r"^\s*join       (inner|left|right|full) on ", text, flags=re.M)
    assert len(re.findall(estimate + " into the join", text)) == 2 * len(joins) > 0
    assert len(re.findall(r"strategy   (broadcast|shuffle) hash join", text)) == len(joins)
    if n == 13:
        assert joins == ["left"]


def test_a_filter_and_a_group_by_shrink_the_estimate(tpch_dir: str) -> None:
    whole = _plan("SELECT * FROM lineitem", tpch_dir)
    some = _plan("SELECT * FROM lineitem WHERE l_quantity < 10", tpch_dir)
    grouped = _plan("SELECT l_orderkey, COUNT(*) FROM lineitem GROUP BY l_orderkey", tpch_dir)
    rows = [estimate_edges(p)[0][p.stages[0].id].rows for p in (whole, some, grouped)]
    assert rows[0] > rows[1] and rows[0] > rows[2]
