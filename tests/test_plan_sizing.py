"""Partitions are sized for the executor that runs the plan: Lambda plans from the function's
concurrency, local plans from the worker count."""

from __future__ import annotations

import pytest

from sqlmr.api import compile_query, resolve_catalog
from sqlmr.cli.app import build_parser
from sqlmr.cli.query import options_from

SQL = "SELECT SUBSTR(sourceIP, 1, 8), SUM(adRevenue) FROM uservisits GROUP BY 1"


def _map_partitions(argv: list[str]) -> int:
    # Small splits: a grouped query over one split aggregates in its one task, with no shuffle.
    args = build_parser().parse_args(["query", SQL, "--split-size", "16KB", *argv])
    plan = compile_query(SQL, resolve_catalog(), options_from(args))
    return plan.stages[0].sink["partitions"]


@pytest.mark.parametrize(
    "argv, slots",
    [
        (["--workers", "2"], 2),
        (["--workers", "3"], 3),
        (["--executor", "lambda", "--concurrency", "50"], 50),
        (["--executor", "lambda", "--concurrency", "120"], 120),
        # An explicit --workers still wins.
        (["--executor", "lambda", "--concurrency", "50", "--workers", "4"], 4),
    ],
)
def test_map_partitions_follow_the_parallel_task_slots(argv: list[str], slots: int) -> None:
    # Several partitions per slot, so the driver can pack reduce tasks of even size.
    assert _map_partitions(argv) == 4 * slots
