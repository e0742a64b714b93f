"""Partitions are sized for the executor that runs the plan: Lambda plans from the function's
concurrency, local plans from the worker count."""

from __future__ import annotations

import pytest
from sqlmr_runtime.storage import ObjectInfo

from sqlmr.api import compile_query, resolve_catalog
from sqlmr.cli.app import build_parser
from sqlmr.cli.query import options_from
from sqlmr.defaults import TASK_MEMORY
from sqlmr.planning.splits import choose_split_size, input_cap, plan_splits

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


PART = 131_100_000  # an Amplab uservisits part file at scale 0.05


@pytest.mark.parametrize(
    "sizes, workers, tasks",
    [
        ([53_200_000], 2, 2),  # rankings at 0.05: one task per worker
        ([PART + i * 20_000 for i in range(10)], 2, 20),  # equal parts: two ranges each
        ([PART + i * 20_000 for i in range(10)], 100, 100),  # Lambda: one wave
        ([164_000_000], 2, 4),  # over one wave of 64 MB tasks: whole waves
        ([10_000_000] * 8, 2, 2),  # small objects packed, one task per worker
        ([1_000, 2_000], 4, 1),  # tiny: one task
    ],
)
def test_text_splits_fill_whole_waves_within_the_input_cap(sizes, workers, tasks) -> None:
    objects = [ObjectInfo(f"part-{i}", size) for i, size in enumerate(sizes)]
    split = choose_split_size(sum(sizes), workers, TASK_MEMORY)
    splits = plan_splits(objects, split)
    assert len(splits) == tasks
    assert max(sum(r["end"] - r["start"] for r in t) for t in splits) <= input_cap(TASK_MEMORY)
