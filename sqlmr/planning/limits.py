"""Which stages may stop early: a scan whose rows pass only filters, projections and a LIMIT.

Such a stage needs no more tasks once its finished tasks have produced LIMIT rows between them
(any n rows are a correct answer without ORDER BY), so the driver launches its tasks in waves
and stops launching there. A sort (top-k) or an aggregation needs every row, and so every task.
"""

from __future__ import annotations

from typing import Any

_ROW_WISE = {"filter", "project", "limit"}


def early_stop_rows(stage: Any) -> int | None:
    """The row count after which no more of this stage's tasks need to run, or None."""
    if stage.source.get("type") != "scan" or stage.sink.get("type") != "result":
        return None
    kinds = [op["op"] for op in stage.ops]
    if "limit" not in kinds or any(kind not in _ROW_WISE for kind in kinds):
        return None
    return min(op["count"] for op in stage.ops if op["op"] == "limit")
