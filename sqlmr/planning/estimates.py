"""Estimated rows and bytes on every edge of a plan: what each stage writes, and what enters
each side of a join.

There are no statistics (no row counts, no distinct counts), so these are the textbook rules of
thumb, applied to the plan itself:
- a scan's rows are its bytes over a row's width in text (from the column types), its bytes in
  Arrow the read columns' widths;
- a filter keeps a fixed share per comparison (= 1/10, a range 1/3, LIKE 1/4; AND multiplies,
  OR adds, NOT takes the rest);
- an inner equi-join yields as many rows as its larger side (a foreign key meets one primary
  key), a left/right join its preserved side, a full join both;
- a GROUP BY keeps 1/10 of its rows (without keys: one per task; the final phase merges the
  partials' groups, keeping their count), a limit its count.
Explain shows them; they say how much moves where, not what a task will hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlmr.planning.cost import scan_inputs
from sqlmr.planning.plan import Plan

# Bytes of one value: as text in a delimited file (with its delimiter), and in Arrow.
_TEXT_WIDTH = {"int32": 7, "int64": 11, "float64": 9, "date32": 11, "bool": 6, "string": 15}
_ARROW_WIDTH = {"int32": 4, "int64": 8, "float64": 8, "date32": 4, "bool": 1, "string": 24}
_SELECTIVITY = {"eq": 0.1, "ne": 0.9, "lt": 1 / 3, "le": 1 / 3, "gt": 1 / 3, "ge": 1 / 3}
_SELECTIVITY |= {"like": 0.25, "is_null": 0.1, "is_not_null": 0.9, "regexp_matches": 0.25}
_GROUPS = 0.1  # share of rows a GROUP BY keeps


@dataclass(frozen=True)
class Estimate:
    """Estimated rows, bytes (in Arrow) and columns of a flow of rows; `base` is its rows before
    any filter (a filtered side of a join passes that share of the other side's rows)."""

    rows: float
    bytes: float
    columns: int = 1
    base: float = 0.0

    def scaled(self, share: float) -> Estimate:
        return Estimate(self.rows * share, self.bytes * share, self.columns, self.base)

    @property
    def kept(self) -> float:
        """The share of its unfiltered rows that remains."""
        return min(1.0, self.rows / self.base) if self.base > 0 else 1.0


def selectivity(ir: Mapping[str, Any]) -> float:
    """The share of rows a predicate keeps, by the rules of thumb above."""
    fn, args = ir.get("fn"), ir.get("args", [])
    if fn == "and":
        share = 1.0
        for a in args:
            share *= selectivity(a)
        return share
    if fn == "or":
        miss = 1.0
        for a in args:
            miss *= 1 - selectivity(a)
        return 1 - miss
    if fn == "not":
        return 1 - selectivity(args[0])
    if fn == "in":
        return min(0.5, 0.1 * len(ir.get("values", ())))
    return _SELECTIVITY.get(fn, 0.5)


def _scan(source: Mapping[str, Any], tasks: list[Mapping[str, Any]]) -> Estimate:
    size = sum(s.bytes for s in scan_inputs({"source": source, "tasks": tasks}))
    types = {c["name"]: c["type"] for c in source["columns"]}
    text = sum(_TEXT_WIDTH.get(t, 15) for t in types.values()) or 1
    if source.get("format") == "parquet":
        text /= 3  # compressed columns
    rows = size / text
    width = sum(_ARROW_WIDTH.get(types.get(c, "string"), 24) for c in source["read"]) or 1
    return Estimate(rows, rows * width, max(1, len(source["read"])), rows)


def _ops(est: Estimate, ops, tasks: int) -> Estimate:
    for op in ops:
        kind = op["op"]
        if kind == "filter":
            est = est.scaled(selectivity(op["predicate"]))
        elif kind == "project":
            per_column = est.bytes / max(est.rows, 1) / max(est.columns, 1)
            columns = len(op["columns"])
            est = Estimate(est.rows, est.rows * per_column * columns, columns, est.base)
        elif kind == "aggregate":
            if op.get("phase") == "final":  # the partials' groups, merged
                groups = est.rows if op["keys"] else 1
            else:
                groups = est.rows * _GROUPS if op["keys"] else min(est.rows, tasks)
            columns = len(op["keys"]) + len(op["aggregates"])
            est = Estimate(groups, groups * 8 * columns, columns, groups)
        elif kind in ("sort", "limit"):
            count = op.get("limit", op.get("count"))
            if count is not None:
                est = est.scaled(min(1.0, count * tasks / max(est.rows, 1)))
    return est


class _Estimator:
    def __init__(self, plan: Plan):
        self.outputs: dict[str, Estimate] = {}
        self.sides: dict[tuple[str, str], Estimate] = {}
        for stage in plan.stages:
            tasks = [dict(t) for t in stage.tasks]
            est = self.source(stage.id, stage.source, tasks, "")
            self.outputs[stage.id] = _ops(est, stage.ops, max(1, len(tasks)))

    def source(self, stage: str, src: Mapping[str, Any], tasks, path: str) -> Estimate:
        kind = src["type"]
        if kind == "scan":
            return _scan(src, tasks)
        if kind == "join":
            sides = {}
            for side in ("left", "right"):
                inner = [t.get(side, {}) for t in tasks]
                est = self.source(stage, src[side]["source"], inner, f"{path}{side[0]}")
                est = _ops(est, src[side]["ops"], max(1, len(tasks)))
                self.sides[(stage, f"{path}{side[0]}")] = est
                sides[side] = est
            return _joined(sides["left"], sides["right"], src.get("how", "inner"))
        if kind == "union":  # UNION ALL: the rows of every branch
            parts = []
            for i, branch in enumerate(src["branches"]):
                inner = [t.get("task", {}) for t in tasks if t.get("branch") == i]
                est = self.source(stage, branch["source"], inner, f"{path}u{i}")
                parts.append(_ops(est, branch["ops"], max(1, len(inner))))
            rows, nbytes = sum(p.rows for p in parts), sum(p.bytes for p in parts)
            return Estimate(rows, nbytes, parts[0].columns, sum(p.base for p in parts))
        return self.outputs.get(src.get("stage", ""), Estimate(0.0, 0.0))


def _joined(left: Estimate, right: Estimate, how: str) -> Estimate:
    """An equi-join read as a foreign key meeting a primary key: each row of the larger
    unfiltered side finds one partner, kept in the share the other side's filters keep."""
    inner = max(left.rows * right.kept, right.rows * left.kept)
    rows = {
        "inner": inner,
        "left": left.rows,
        "right": right.rows,
        "full": left.rows + right.rows,
    }[how]
    width = left.bytes / max(left.rows, 1) + right.bytes / max(right.rows, 1)
    columns = left.columns + right.columns
    base = max(left.base, right.base) if how == "inner" else rows
    return Estimate(rows, rows * width, columns, base)


def estimate_edges(plan: Plan) -> tuple[dict[str, Estimate], dict[tuple[str, str], Estimate]]:
    """Per stage id, the estimate of what it writes; per (stage id, side path), what enters a
    side of a join in that stage ("l"/"r" for the stage's join, "ll", "lr", … for nested ones)."""
    est = _Estimator(plan)
    return est.outputs, est.sides
