"""The driver's part of a range-partitioned sort (see sqlmr_runtime.ranges): boundaries from
the producing tasks' key samples, and one merge task input per range, reading from each sorted
output only the pieces that can hold the range's rows."""

from __future__ import annotations

import base64
from typing import Any

import pyarrow as pa
from sqlmr_runtime import compute as pc
from sqlmr_runtime.operators import sort_indices
from sqlmr_runtime.ranges import bound_positions, decode_keys, piece_firsts
from sqlmr_runtime.shuffle import encode_table

from sqlmr.defaults import MB


def range_inputs(
    source: dict[str, Any], upstream: list[dict[str, Any]], task_bytes: int, workers: int
) -> list[dict[str, Any]]:
    """Merge task inputs: the key range [lower, upper) to keep, and the pieces of each sorted
    output that can hold rows of it (one ranged read per output).

    As many ranges as `task_bytes` per task needs (and one per worker while there is over
    1 MB a range); the samples' quantiles are the boundaries."""
    keys = source["range"]
    total = sum(s["output"]["length"] for s in upstream)
    count = max(-(-total // max(1, task_bytes)), min(workers, total // MB), 1)
    samples = [decode_keys(s["sample"]) if s.get("sample") else None for s in upstream]
    bounds = choose_bounds([s for s in samples if s is not None], keys, count)
    rows = [decode_keys(b) for b in bounds]
    spans = [_spans(s, sample, rows, keys) for s, sample in zip(upstream, samples, strict=True)]
    edges = [None, *bounds, None]
    inputs = []
    for i in range(len(edges) - 1):
        parts = [span[i] for span in spans if span[i] is not None]
        # A range no output can hold (a bound at the smallest key) still reads one piece, so
        # the task learns the schema; it keeps none of its rows.
        parts = parts or [_whole(upstream[0], first_piece=True)]
        inputs.append({"parts": parts, "lower": edges[i], "upper": edges[i + 1]})
    return inputs


def _whole(summary: dict[str, Any], first_piece: bool = False) -> dict[str, Any]:
    output = summary["output"]
    index = output.get("partitions")
    length = index[0]["length"] if first_piece and index else output["length"]
    return {"url": output["url"], "offset": 0, "length": length}


def _spans(
    summary: dict[str, Any],
    sample: pa.Table | None,
    bounds: list[pa.Table],
    keys: list[dict[str, Any]],
) -> list[dict[str, Any] | None]:
    """For each of the len(bounds) + 1 ranges, the bytes of one sorted output to read (None:
    none of its rows can be in the range).

    Piece j holds keys from its first row up to the next piece's (inclusive, for ties), so range
    [lower, upper) needs pieces from the last one starting before `lower` up to the last one
    starting before `upper`."""
    index = summary["output"].get("partitions")
    firsts = None
    if sample is not None and index:
        firsts = piece_firsts(sample, summary["rows_out"], [p["rows"] for p in index])
    if firsts is None:
        return [_whole(summary)] * (len(bounds) + 1)  # written whole: read whole
    before = [0, *bound_positions(firsts, bounds, keys), len(index)]
    spans: list[dict[str, Any] | None] = []
    for i in range(len(bounds) + 1):
        first = max(0, before[i] - 1) if i else 0
        stop = before[i + 1]
        if first >= stop:
            spans.append(None)
            continue
        offset = index[first]["offset"]
        end = index[stop - 1]["offset"] + index[stop - 1]["length"]
        spans.append({"url": summary["output"]["url"], "offset": offset, "length": end - offset})
    return spans


def choose_bounds(samples: list[pa.Table], keys: list[dict[str, Any]], count: int) -> list[str]:
    """Up to count-1 distinct boundary rows, evenly spaced in the sorted samples."""
    samples = [s for s in samples if s.num_rows]
    if count <= 1 or not samples:
        return []
    table = pa.concat_tables(samples, promote_options="permissive")
    table = pc.take(table, sort_indices(table, keys))
    bounds, previous = [], None
    for i in range(1, count):
        row = table.slice((i * table.num_rows) // count, 1)
        if row.to_pylist() != previous:
            bounds.append(base64.b64encode(encode_table(row)).decode())
            previous = row.to_pylist()
    return bounds
