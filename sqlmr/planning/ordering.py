"""ORDER BY and LIMIT over the stage that produces a query's rows.

- one producing task (or no ORDER BY/LIMIT): the sort and limit run in that stage;
- ORDER BY … LIMIT over several tasks: each task keeps its top-k, and one merge task sorts and
  limits their outputs;
- ORDER BY without LIMIT over several tasks: a range sort (see `_range_sort`).
Hidden ORDER BY columns are dropped after the last sort.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlmr.compiler.logical import LogicalQuery
from sqlmr.planning import nodes
from sqlmr.planning.plan import Stage

Json = dict[str, Any]
SORT_SAMPLE = 256  # sort-key rows each producing task returns: range bounds and its pieces


def tail_ops(q: LogicalQuery) -> list[Json]:
    """ORDER BY and LIMIT: run per task (a top-k) and again in the merge."""
    ops: list[Json] = []
    if q.order:
        ops.append(nodes.sort(nodes.sort_keys(q.order), q.limit))
    if q.limit is not None:
        ops.append(nodes.limit(q.limit))
    return ops


def final_ops(q: LogicalQuery) -> list[Json]:
    """Drop hidden ORDER BY columns once the last sort is done."""
    last = q.post_projections or q.projections
    if len(last) == len(q.outputs):
        return []
    return [nodes.keep(o.internal for o in q.outputs)]


def ordered_stages(
    q: LogicalQuery, last: Stage, producing: list[Json], merge_bytes: int
) -> list[Stage]:
    """The producing stage `last` with its ops (`producing`, then ORDER BY/LIMIT), and the merge
    stage after it if its tasks' outputs must be merged; a range merge task reads at most
    about `merge_bytes`."""
    tail, final = tail_ops(q), final_ops(q)
    if (len(last.tasks) == 1 and not last.coalesce_bytes) or not tail:
        return [dataclasses.replace(last, ops=(*producing, *tail, *final))]
    if q.limit is None:
        return _range_sort(last, [*producing, *tail], tail, final, merge_bytes)
    merge = Stage(
        "merge",
        "merge",
        nodes.gather_source(last.id),
        (*tail, *final),
        nodes.result_sink(),
        (nodes.gather_task(),),
        (last.id,),
    )
    return [dataclasses.replace(last, ops=(*producing, *tail)), merge]


def _range_sort(
    last: Stage, ops: list[Json], tail: list[Json], final: list[Json], merge_bytes: int
) -> list[Stage]:
    """ORDER BY without LIMIT over several tasks: each task sorts its rows and returns a sample
    of its keys; the driver picks range boundaries from the samples, and merge task p sorts
    the rows of range p from every output (at most about `merge_bytes` each). No task and not
    the driver ever holds the whole result."""
    keys = tail[0]["keys"]
    producing = dataclasses.replace(last, ops=tuple(ops), sink=nodes.result_sink(keys, SORT_SAMPLE))
    merge = Stage(
        "merge",
        "merge",
        nodes.gather_source(last.id, keys),
        (*tail, *final),
        nodes.result_sink(),
        (nodes.gather_task(),),
        (last.id,),
        merge_bytes,
    )
    return [producing, merge]
