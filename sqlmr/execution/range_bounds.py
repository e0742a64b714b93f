"""The driver's part of a range-partitioned sort (see sqlmr_runtime.ranges): boundaries from
the producing tasks' key samples, and one merge task input per range."""

from __future__ import annotations

import base64
from typing import Any

import pyarrow as pa
from sqlmr_runtime.operators import sort_indices
from sqlmr_runtime.ranges import decode_keys
from sqlmr_runtime.shuffle import encode_table

from sqlmr.defaults import MB


def range_inputs(
    source: dict[str, Any], upstream: list[dict[str, Any]], task_bytes: int, workers: int
) -> list[dict[str, Any]]:
    """Merge task inputs: every sorted output, and the key range [lower, upper) to keep.

    As many ranges as `task_bytes` per task needs (and one per worker while there is over
    1 MB a range); the samples' quantiles are the boundaries."""
    parts = [
        {"url": s["output"]["url"], "offset": 0, "length": s["output"]["length"]} for s in upstream
    ]
    total = sum(p["length"] for p in parts)
    count = max(-(-total // max(1, task_bytes)), min(workers, total // MB), 1)
    samples = [decode_keys(s["sample"]) for s in upstream if s.get("sample")]
    edges = [None, *choose_bounds(samples, source["range"], count), None]
    return [
        {"parts": parts, "lower": edges[i], "upper": edges[i + 1]} for i in range(len(edges) - 1)
    ]


def choose_bounds(samples: list[pa.Table], keys: list[dict[str, Any]], count: int) -> list[str]:
    """Up to count-1 distinct boundary rows, evenly spaced in the sorted samples."""
    samples = [s for s in samples if s.num_rows]
    if count <= 1 or not samples:
        return []
    table = pa.concat_tables(samples, promote_options="permissive")
    table = table.take(sort_indices(table, keys))
    bounds, previous = [], None
    for i in range(1, count):
        row = table.slice((i * table.num_rows) // count, 1)
        if row.to_pylist() != previous:
            bounds.append(base64.b64encode(encode_table(row)).decode())
            previous = row.to_pylist()
    return bounds
