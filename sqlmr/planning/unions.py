"""Planning UNION ALL: one flow whose tasks are the tasks of every branch.

A union source lists its branches, each a source with its operators (the branch's last stage,
reopened, then a projection that casts its columns to the union's names and types), and each
task names its branch and a task of that branch's source. So a union adds no stage and no
shuffle of its own: a union of table scans is one map stage whose tasks read the tables' splits,
and whatever follows the union (a filter, a partial aggregate, a join, a top-k) rides inside
that stage, as it would over one table. A branch that ends in a reduce or merge stage brings its
stages along, and its tasks read their partitions or results. The alternative, each branch
writing its own output for a later stage to concatenate, would cost a stage and a round trip
through storage for every union.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmr.compiler.logical import UnionAll
from sqlmr.planning import nodes

if TYPE_CHECKING:
    from sqlmr.planning.joins import BlockPlanner, Flow


def union_flow(planner: BlockPlanner, union: UnionAll, name: str) -> Flow:
    """The rows of every branch, as the union's columns (its outputs' internal names)."""
    from sqlmr.planning.joins import Flow, _unique

    branches = [planner.derived_flow(b, f"{name}_{i}") for i, b in enumerate(union.branches)]
    sides, tasks, stages, deps = [], [], [], []
    for i, (flow, casts) in enumerate(zip(branches, union.casts, strict=True)):
        sides.append((flow.source, [*flow.ops, nodes.project(casts)]))
        tasks += [nodes.union_task(i, t) for t in flow.tasks]
        stages += flow.stages
        deps += [d for d in flow.deps if d not in deps]
    return Flow(
        _unique(stages),
        nodes.union_source(sides),
        [],
        tasks,
        [o.internal for o in union.outputs],
        sum(f.bytes for f in branches),
        deps=tuple(deps),
    )
