"""Planning a Block: its FROM items joined into one flow of rows, then grouped and shaped.

A Flow is a pipeline not yet written anywhere: a source (a scan, shuffle partitions, gathered
outputs, or a join of two sides), operators, and one input per task. Joining two flows either

- broadcasts the smaller one (at most --broadcast-threshold, and never the side an outer join
  preserves): every task of the other flow reads all of it, so the join rides inside that
  flow's stage and costs no stage of its own; or
- shuffles both by the join key into the same number of partitions, and task p joins
  partition p of each side.

Join order: inner joins start from the largest item (by estimated bytes) and add, each time,
the first item in FROM order that an equality connects to those joined so far (a cross join, on
a constant key, only when none is: then the smallest). Outer joins follow in FROM order, after
the inner items before them. Conditions are applied as soon as every item they read is joined.
A derived item (CTE or FROM subquery) is planned as its own Block, and its last stage is
reopened as a flow; a UNION ALL is one flow over its branches' flows (planning/unions.py).
Broadcast, a derived item that only scans one table is read from the table by each task, and
an aggregate without GROUP BY (one row: joined last) is finished from its partials by each
task; other derived items are written once by a stage of their own, which the tasks read.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmr_runtime import build

from sqlmr.catalog import Table
from sqlmr.compiler.logical import Block, Condition, FromItem, UnionAll
from sqlmr.compiler.names import internal
from sqlmr.errors import UnsupportedError
from sqlmr.planning import nodes
from sqlmr.planning.estimates import estimate_edges
from sqlmr.planning.plan import Plan, Stage
from sqlmr.planning.planner import PlanOptions, SideInput, build_plan, default_reducers, scan_source
from sqlmr.planning.semijoins import semi_joins

Op = dict[str, Any]
# Bytes of one row, the size of an aggregate without GROUP BY (a scalar subquery): it is
# joined last, broadcast, not taken for the biggest item to start the joins from.
ONE_ROW = 64
Inputs = Callable[[Table], SideInput]


@dataclass(frozen=True)
class Flow:
    """Rows on their way: closed stages behind them, and the open part (source, ops, tasks)."""

    stages: list[Stage]
    source: dict[str, Any]
    ops: list[Op]
    tasks: list[dict[str, Any]]
    columns: list[str]
    bytes: int
    coalesce: int | None = None
    whole: dict[str, Any] | None = None  # a scan's input that covers all of its splits
    deps: tuple[str, ...] = field(default_factory=tuple)


class BlockPlanner:
    """Plans the Blocks of one query; stage ids are unique across all of them."""

    def __init__(self, inputs: Inputs, options: PlanOptions):
        self.inputs, self.options = inputs, options
        self.ids = itertools.count(1)
        self.keys = itertools.count()
        self.planned: dict[int, Plan] = {}  # a Block used twice (a CTE) is planned once

    def plan(self, block: Block, sql: str) -> Plan:
        """The stages that compute a Block, its result in the last one."""
        flow = self._joined(block)
        prefix = f"b{next(self.ids)}_"
        q = dataclasses.replace(block.top, sql=sql)
        plan = build_plan(q, [], self.options, flow=flow)
        return _renamed(plan, {s.id for s in flow.stages}, prefix)

    # -- items ---------------------------------------------------------------------------------

    def _item_flow(self, item: FromItem) -> Flow:
        if item.table is not None:
            side = self.inputs(item.table, None, item.read_columns)
            ranges = [r for split in side.splits for r in split]
            share = len(item.read_columns) / max(1, len(item.table.columns))
            estimate = int(side.bytes * share * (0.5 if item.filter is not None else 1))
            ops = [nodes.project(item.columns)]
            if item.filter is not None:
                ops.append(nodes.filter_rows(item.filter))
            return Flow(
                [],
                scan_source(item.table, item.read_columns),
                ops,
                [nodes.scan_task(split) for split in side.splits],
                [name for name, _ in item.columns],
                estimate,
                whole=nodes.scan_task(ranges),
            )
        assert item.block is not None
        flow = self.derived_flow(item.block, item.name)
        ops = [*flow.ops, nodes.project(item.columns)]
        if item.filter is not None:
            ops.append(nodes.filter_rows(item.filter))
        return dataclasses.replace(flow, ops=ops, columns=[name for name, _ in item.columns])

    def derived_flow(self, block: Block | UnionAll, name: str) -> Flow:
        """The rows of a derived item (a CTE, FROM subquery or UNION ALL), its outputs' internal
        names as columns: a Block's last stage reopened, or the union of its branches' flows."""
        if isinstance(block, UnionAll):
            return union_flow(self, block, name)
        if id(block) not in self.planned:
            self.planned[id(block)] = self.plan(block, name)
        plan = self.planned[id(block)]
        last = plan.stages[-1]
        return Flow(
            list(plan.stages[:-1]),
            last.source,
            list(last.ops),
            list(last.tasks),
            [o.internal for o in block.top.outputs],
            self._estimate(block),
            coalesce=last.coalesce_bytes,
            whole=_whole_scan(plan),
            deps=last.depends_on,
        )

    def _estimate(self, block: Block | UnionAll) -> int:
        """A derived item's size: its largest input (an upper bound; aggregates shrink it), the
        sum of a union's branches, or one row for an aggregate without GROUP BY."""
        if isinstance(block, UnionAll):
            return sum(self._estimate(b) for b in block.branches)
        if block.top.grouped and not block.top.keys:
            return ONE_ROW
        sizes = [
            self.inputs(i.table, None, i.read_columns).bytes
            if i.table is not None
            else self._estimate(i.block)
            for i in block.items
        ]
        return max(sizes, default=0)

    # -- joins ---------------------------------------------------------------------------------

    def _joined(self, block: Block) -> Flow:
        flows = [self._item_flow(item) for item in block.items]
        pending = list(block.conditions)
        done = self._semi_filtered(block, flows, pending)
        live = [i for i in range(len(block.items)) if i not in done]
        first_outer = next(
            (i for i in live if block.items[i].how in ("left", "right", "full")),
            len(block.items),
        )
        greedy = [i for i in live if i < first_outer]
        start = max(greedy, key=lambda i: flows[i].bytes)
        joined = {start}
        current = self._apply_ready(flows[start], joined, pending)
        greedy.remove(start)
        while greedy:
            linked = [i for i in greedy if _keys(pending, joined, i)]
            # The first connected item in FROM order (the user's order): without key statistics
            # "smallest first" joined TPC-H Q5's customer on nationkey alone, a blow-up.
            nxt = linked[0] if linked else min(greedy, key=lambda i: flows[i].bytes)
            greedy.remove(nxt)
            current = self._join(current, flows[nxt], _keys(pending, joined, nxt), "inner")
            _drop(pending, joined, nxt)
            joined.add(nxt)
            current = self._apply_ready(current, joined, pending)
        for i in (i for i in live if i >= first_outer):
            item = block.items[i]
            if item.how in ("inner", "cross"):
                keys = _keys(pending, joined, i)
                _drop(pending, joined, i)
                how = "inner"
            else:
                keys = [c.equi for c in item.on if c.equi is not None]
                keys = [_oriented(k, i) for k in keys]
                for c in item.on:
                    if c.equi is None:  # a RIGHT join's condition on its left input
                        current = _with_op(current, nodes.filter_rows(c.ir))
                how = item.how
                if not keys:
                    raise UnsupportedError(f"a {how.upper()} JOIN without an equality")
            current = self._join(current, flows[i], keys, how)
            joined.add(i)
            current = self._apply_ready(current, joined, pending)
        if pending:
            raise UnsupportedError("a condition that no join order can apply")
        return current

    def _semi_filtered(self, block: Block, flows: list[Flow], pending: list[Condition]) -> set:
        """Broadcast each small semi-join set (planning/semijoins.py) into the tables it filters;
        the items it consumed."""
        done = set()
        for semi in semi_joins(block):
            small = self._small_set(block.items[semi.item], flows[semi.item])
            if small is None:
                continue
            keys, kept = small
            for n, (t, key) in enumerate(semi.targets):
                probe, pkeys = self._with_keys(flows[t], [key])
                joined = self._broadcast(probe, keys, pkeys, [semi.column], "inner")
                if n:  # the set's column once is enough
                    joined = _with_op(joined, nodes.keep(probe.columns))
                    joined = dataclasses.replace(joined, columns=probe.columns)
                flows[t] = dataclasses.replace(joined, bytes=int(flows[t].bytes * kept))
            for c in semi.conditions:
                pending.remove(c)
            done.add(semi.item)
        return done

    def _small_set(self, item: FromItem, flow: Flow) -> tuple[Flow, float] | None:
        """A semi-join's set written once as results for every task to read, and the share of
        the keys it keeps, when a filter after its grouping (HAVING) keeps a share of its groups
        and its plan's estimate (planning/estimates.py) fits the broadcast threshold. Without
        such a filter the set holds every key its input has, as many as the table it filters
        may have: TPC-H Q4's EXISTS keeps 1.37 M of 1.5 M order keys, and indexing them in
        every orders task cost 1.07x the CPU of shuffling both sides."""
        plan = self.planned[id(item.block)]
        est = estimate_edges(plan)[0][plan.stages[-1].id]
        if est.kept >= 1.0 or est.bytes > self.options.broadcast_threshold:
            return None
        stage = self._close(flow, nodes.result_sink())
        gathered = Flow(
            _unique([*flow.stages, stage]),
            nodes.gather_source(stage.id),
            [],
            [nodes.gather_task()],
            flow.columns,
            int(est.bytes),
        )
        return gathered, est.kept

    def _apply_ready(self, flow: Flow, joined: set[int], pending: list[Condition]) -> Flow:
        for cond in [c for c in pending if c.uses <= joined]:
            pending.remove(cond)
            flow = _with_op(flow, nodes.filter_rows(cond.ir))
        return flow

    def _join(self, left: Flow, right: Flow, keys: list, how: str) -> Flow:
        """Join two flows on key pairs (left key IR, right key IR); none: a cross join."""
        if not keys:
            one = build.lit(1, "int32")
            keys = [(one, one)]
        left, lnames = self._with_keys(left, [k[0] for k in keys])
        right, rnames = self._with_keys(right, [k[1] for k in keys])
        threshold = self.options.broadcast_threshold
        if how in ("inner", "left") and right.bytes <= threshold:
            return self._broadcast(left, right, lnames, rnames, how)
        if how in ("inner", "right") and left.bytes <= threshold and left.bytes < right.bytes:
            flipped = {"inner": "inner", "right": "left"}[how]
            return self._broadcast(right, left, rnames, lnames, flipped)
        return self._shuffle_join(left, right, lnames, rnames, how)

    def _with_keys(self, flow: Flow, keys: list[dict]) -> tuple[Flow, list[str]]:
        """Key columns for a join: plain columns as they are, expressions computed first."""
        names, extra = [], []
        for key in keys:
            if "col" in key:
                names.append(key["col"])
            else:
                name = internal("jk", next(self.keys))
                names.append(name)
                extra.append((name, key))
        if extra:
            kept = [(c, build.col(c)) for c in flow.columns]
            flow = _with_op(flow, nodes.project(kept + extra))
            flow = dataclasses.replace(flow, columns=flow.columns + [n for n, _ in extra])
        return flow, names

    def _broadcast(self, probe: Flow, small: Flow, pkeys, bkeys, how: str) -> Flow:
        stages = probe.stages + small.stages
        if small.whole is not None and small.source["type"] == "scan":
            build_side = (small.source, small.ops)
            build_input = small.whole
        elif _gathered_whole(small):  # results written once (a semi-join's set)
            build_side = (small.source, [])
            build_input = small.tasks[0]
        elif _one_partition(small):  # an aggregate without GROUP BY: its partials, finished
            build_side = (small.source, small.ops)
            build_input = small.tasks[0]
        else:
            stage = self._close(small, nodes.result_sink())
            stages = stages + small.stages + [stage]
            stages = _unique(stages)
            build_side = (nodes.gather_source(stage.id), [])
            build_input = nodes.gather_task()
        source = nodes.join_source(
            how, (probe.source, probe.ops), build_side, pkeys, bkeys, broadcast="right"
        )
        tasks = [nodes.join_task(t, build_input) for t in probe.tasks]
        return Flow(
            _unique(stages),
            source,
            [],
            tasks,
            probe.columns + small.columns,
            max(probe.bytes, small.bytes),
        )

    def _shuffle_join(self, left: Flow, right: Flow, lkeys, rkeys, how: str) -> Flow:
        partitions = self.options.reducers or default_reducers(
            max(len(left.tasks), len(right.tasks)),
            self.options.workers,
            left.bytes + right.bytes,
            self.options.task_memory,
        )
        a = self._close(left, nodes.shuffle_sink(partitions, lkeys))
        b = self._close(right, nodes.shuffle_sink(partitions, rkeys))
        source = nodes.join_source(
            how,
            (nodes.shuffle_source(a.id), []),
            (nodes.shuffle_source(b.id), []),
            lkeys,
            rkeys,
        )
        part = nodes.partition_task
        tasks = [nodes.join_task(part(p), part(p)) for p in range(partitions)]
        return Flow(
            _unique(left.stages + right.stages + [a, b]),
            source,
            [],
            tasks,
            left.columns + right.columns,
            left.bytes + right.bytes,
        )

    def _close(self, flow: Flow, sink: dict[str, Any]) -> Stage:
        """Write a flow out: the stage that runs it."""
        coalesce = flow.coalesce if flow.source["type"] == "shuffle" else None
        depends = tuple(s.id for s in flow.stages) or flow.deps
        stage_id = f"s{next(self.ids)}_{nodes.stage_kind(flow.source)}"
        return Stage(
            stage_id,
            nodes.stage_kind(flow.source),
            flow.source,
            tuple(flow.ops),
            sink,
            tuple(flow.tasks),
            depends,
            coalesce,
        )


def _with_op(flow: Flow, op: Op) -> Flow:
    return dataclasses.replace(flow, ops=[*flow.ops, op])


def _whole_scan(plan: Plan) -> dict[str, Any] | None:
    """The input that covers every split of a derived item's one scan stage, when that stage
    only filters and projects, or is one task (which sees every row, so its aggregates are
    final): a broadcast then reads the table itself in every task, as it does a table item's,
    instead of a stage of its own writing its rows for the tasks to read (TPC-H Q11's CTEs over
    supplier and nation were four such stages, Q16's NOT IN over supplier two)."""
    if len(plan.stages) != 1 or plan.stages[0].source["type"] != "scan":
        return None
    stage = plan.stages[0]
    row_wise = all(op["op"] in ("filter", "project") for op in stage.ops)
    if not row_wise and len(stage.tasks) != 1:
        return None
    return nodes.scan_task([r for task in stage.tasks for r in task["ranges"]])


def _one_partition(flow: Flow) -> bool:
    """Whether a flow is the one partition of a shuffle: an aggregate without GROUP BY's final
    phase over its map tasks' partials, a few rows that every task of a broadcast join may
    read and finish itself instead of a stage of one task writing them first."""
    return flow.source["type"] == "shuffle" and len(flow.tasks) == 1 and flow.coalesce is None


def _gathered_whole(flow: Flow) -> bool:
    """Whether a flow is one task reading all the results of a stage as they are."""
    source = flow.source
    whole = source["type"] == "gather" and source.get("range") is None
    return whole and len(flow.tasks) == 1 and not flow.ops


def _unique(stages: list[Stage]) -> list[Stage]:
    seen, out = set(), []
    for s in stages:
        if s.id not in seen:
            seen.add(s.id)
            out.append(s)
    return out


def _oriented(equi: tuple, item: int) -> tuple[dict, dict]:
    """(key over the joined items, key over `item`)."""
    a, ka, b, kb = equi
    return (kb, ka) if a == item else (ka, kb)


def _keys(pending: list[Condition], joined: set[int], item: int) -> list[tuple[dict, dict]]:
    """The equi-join key pairs between the joined items and one more."""
    out = []
    for c in pending:
        if c.equi is None:
            continue
        a, _, b, _ = c.equi
        if (a == item and b in joined) or (b == item and a in joined):
            out.append(_oriented(c.equi, item))
    return out


def _drop(pending: list[Condition], joined: set[int], item: int) -> None:
    """Remove the equalities that the join of `item` applies as its keys."""
    for c in list(pending):
        if c.equi is not None:
            a, _, b, _ = c.equi
            if (a == item and b in joined) or (b == item and a in joined):
                pending.remove(c)


def _renamed(plan: Plan, keep: set[str], prefix: str) -> Plan:
    """The plan with its own stages (not those in `keep`) renamed with a prefix."""
    mapping = {s.id: f"{prefix}{s.id}" for s in plan.stages if s.id not in keep}
    stages = tuple(
        dataclasses.replace(
            s,
            id=mapping.get(s.id, s.id),
            source=nodes.renamed_source(s.source, mapping),
            depends_on=tuple(mapping.get(d, d) for d in s.depends_on),
        )
        for s in plan.stages
    )
    return dataclasses.replace(plan, stages=stages)


# The union planner builds Flows (imported last: it imports this module).
from sqlmr.planning.unions import union_flow  # noqa: E402
