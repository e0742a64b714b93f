"""A readable rendering of a plan: stages, inputs, splits, columns, filters, keys, aggregates."""

from __future__ import annotations

from typing import Any

from sqlmr_runtime import spec

from sqlmr.catalog import TYPE_NAMES
from sqlmr.planning import nodes
from sqlmr.planning.cost import ScanInput, scan_inputs
from sqlmr.planning.estimates import Estimate, estimate_edges
from sqlmr.planning.expr_text import field_text, format_size, named_text, render_expr
from sqlmr.planning.limits import early_stop_rows
from sqlmr.planning.plan import Plan


def _op_lines(op: dict[str, Any]) -> list[str]:
    kind = op["op"]
    if kind == "filter":
        return [f"filter     {render_expr(op['predicate'])}"]
    if kind == "project":
        return [f"project    {', '.join(named_text(c) for c in op['columns'])}"]
    if kind == "aggregate":
        aggs = ", ".join(
            f"{a['fn'].upper()}({a.get('column', '*')}) AS {a['name']}" for a in op["aggregates"]
        )
        keys = ", ".join(op["keys"]) or "(none: one group)"
        return [f"aggregate  {op.get('phase', '')} by {keys}: {aggs}"]
    if kind == "sort":
        keys = ", ".join(
            f"{k['column']} {'DESC' if k.get('descending') else 'ASC'}"
            f"{' NULLS FIRST' if k.get('nulls_first') else ''}"
            for k in op["keys"]
        )
        top = f" (top {op['limit']})" if "limit" in op else ""
        return [f"sort       {keys}{top}"]
    if kind == "limit":
        return [f"limit      {op['count']}"]
    # Any other operator: its declared fields, in order.
    node = spec.OPERATORS[kind]
    fields = [f"{a.name}={field_text(op[a.name], a.type)}" for a in node.args if a.name in op]
    return [f"{kind:<10} {'; '.join(fields)}".rstrip()]


def _union_lines(
    src: dict[str, Any], tasks: list[dict[str, Any]], sides: dict[str, Estimate] | None, path: str
) -> list[str]:
    """A UNION ALL: each branch's input and operators, and how many of the tasks read it."""
    branches = src["branches"]
    lines = [f"union all  {len(branches)} branches: each task reads one branch"]
    for i, branch in enumerate(branches):
        mine = [t["task"] for t in tasks if t.get("branch") == i]
        lines.append(f"branch {i} ({len(mine)} task(s)):")
        inner = _source_lines(branch["source"], mine, sides, f"{path}u{i}")
        for op in branch["ops"]:
            inner += _op_lines(op)
        lines += [f"  {line}" for line in inner]
    return lines


def _source_lines(
    src: dict[str, Any],
    tasks: list[dict[str, Any]],
    sides: dict[str, Estimate] | None = None,
    path: str = "",
) -> list[str]:
    """The lines of a stage's input; `sides` holds the estimates entering each join side, by
    side path (estimates.estimate_edges)."""
    if src["type"] == "scan":
        # Sizes count each range once, even when every task reads it (a broadcast side).
        found = scan_inputs({"source": src, "tasks": [nodes.scan_task(t["ranges"]) for t in tasks]})
        scan = found[0] if found else ScanInput(src["table"], 0, 0, 0)
        return [
            f"input      table {src['table']}: {scan.objects} object(s), "
            f"{format_size(scan.bytes)}, {scan.ranges} range(s)",
            f"read       {', '.join(src['read'])} (of {len(src['columns'])} columns)",
        ]
    if src["type"] == "join":
        if src.get("broadcast"):
            strategy = f"broadcast hash join: every task reads all of the {src['broadcast']} side"
            built = src[src["broadcast"]]["source"]
            if built["type"] == "gather":  # a side written first by a stage of its own
                strategy += f", as stage {built['stage']} wrote it"
        else:
            strategy = "shuffle hash join: task p joins partition p of both sides"
        keys = ", ".join(
            f"{a} = {b}" for a, b in zip(src["left_keys"], src["right_keys"], strict=True)
        )
        lines = [f"join       {src.get('how', 'inner')} on {keys}", f"strategy   {strategy}"]
        for side in ("left", "right"):
            lines.append(f"{side} side:")
            inner = f"{path}{side[0]}"
            inner_lines = _source_lines(src[side]["source"], [t[side] for t in tasks], sides, inner)
            for op in src[side]["ops"]:
                inner_lines += _op_lines(op)
            if sides is not None and inner in sides:
                inner_lines.append(f"estimate   {format_estimate(sides[inner])} into the join")
            lines += [f"  {line}" for line in inner_lines]
        return lines
    if src["type"] == "union":
        return _union_lines(src, tasks, sides, path)
    if src["type"] == "combine":
        runs = [t["outputs"] for t in tasks]
        sizes = sorted({hi - lo for lo, hi in runs})
        return [
            f"input      all partitions of {sizes[0]}-{sizes[-1]} consecutive {src['stage']} "
            f"outputs per task (two-level exchange: a reducer reads {len(runs)} objects, "
            f"not {runs[-1][1]})"
        ]
    if src.get("range"):
        return [f"input      its key range of every sorted {src['stage']} output"]
    how = "its partition of every" if src["type"] == "shuffle" else "all"
    return [f"input      {how} {src['stage']} output"]


def format_estimate(est: Estimate) -> str:
    """'~1.2M rows, 45.0 MB'."""
    rows = max(est.rows, 1.0) if est.rows > 0 else 0.0  # a share of one row is a row or none
    count = f"{rows:.0f}"
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if rows >= size:
            count = f"{rows / size:.2g}{unit}" if rows < 10 * size else f"{rows / size:.0f}{unit}"
            break
    return f"~{count} rows, {format_size(est.bytes)}"


def render_plan(plan: Plan) -> str:
    """The plan as indented text, one block per stage."""
    lines = [f"query: {' '.join(plan.query.split())}", ""]
    outputs, side_estimates = estimate_edges(plan)
    for table, notes in plan.inputs:
        lines.append(f"table {table}:")
        lines += [f"  {note}" for note in notes]
        lines.append("")
    for stage in plan.stages:
        after = f" after {', '.join(stage.depends_on)}" if stage.depends_on else ""
        if stage.kind == "combine":
            count = (
                f"{len(stage.tasks)} task(s), more at run time if the map outputs exceed "
                f"{format_size(stage.coalesce_bytes)} a task"
            )
        elif stage.source.get("range"):
            count = (
                "one task per key range, ranges chosen at run time from key samples, about "
                f"{format_size(stage.coalesce_bytes)} each"
            )
        elif stage.coalesce_bytes:
            count = (
                f"{len(stage.tasks)} partition(s), packed at run time into tasks of at most "
                f"{format_size(stage.coalesce_bytes)}"
            )
        else:
            count = f"{len(stage.tasks)} task(s)"
        lines.append(f"stage {stage.id} ({stage.kind}, {count}){after}")
        sides = {p: e for (s, p), e in side_estimates.items() if s == stage.id}
        body = _source_lines(stage.source, list(stage.tasks), sides)
        if stage.split_bytes:
            body.append(
                f"skew       a partition over {format_size(stage.split_bytes)} (a hot key) is "
                "split at run time: its map outputs spread over several tasks, the other side's "
                "partition read by each"
            )
        for op in stage.ops:
            body += _op_lines(op)
        stop = early_stop_rows(stage)
        if stop is not None and len(stage.tasks) > 1:
            body.append(
                f"early stop tasks start in waves of the worker count; no more start once "
                f"{stop} row(s) are in hand"
            )
        sink = stage.sink
        if sink["type"] == "shuffle":
            keys = ", ".join(sink["keys"]) or "(all rows)"
            body.append(
                f"output     shuffle by hash({keys}) into {sink['partitions']} partition(s)"
            )
        else:
            body.append("output     result")
        body.append(f"estimate   {format_estimate(outputs[stage.id])} written")
        lines += [f"  {line}" for line in body]
        lines.append("")
    cols = ", ".join(f"{n} {TYPE_NAMES.get(t, t)}" for n, t in plan.columns)
    lines.append(f"result columns: {cols}")
    return "\n".join(lines)


def _top_expressions(node: Any) -> list[dict[str, Any]]:
    """The outermost IR expressions anywhere in a stage's source and operators."""
    if isinstance(node, dict):
        if "fn" in node or "col" in node or "lit" in node:
            return [node]
        return [e for value in node.values() for e in _top_expressions(value)]
    if isinstance(node, list):
        return [e for value in node for e in _top_expressions(value)]
    return []


def _applies(ir: dict[str, Any], fn: str) -> bool:
    return ir.get("fn") == fn or any(_applies(a, fn) for a in ir.get("args", []))


def failing_expressions(stage: Any, fn: str) -> list[str]:
    """The stage's expressions (as SQL) that apply the function an evaluation error names, so
    that 'mul: overflow' can say which multiplication of the query overflowed."""
    found = []
    for ir in _top_expressions([stage.source, list(stage.ops)]):
        if _applies(ir, fn):
            text = render_expr(ir)
            if text not in found:
                found.append(text)
    return found


def builds_broadcast(node: Any) -> bool:
    """Whether a stage's source (or a source inside it) is a join whose every task holds one
    side whole: that side's size was the planner's estimate, so when such a task runs out of
    memory, shuffling the join (a lower broadcast threshold) is the remedy to name."""
    if isinstance(node, dict):
        if node.get("type") == "join" and node.get("broadcast"):
            return True
        return any(builds_broadcast(value) for value in node.values())
    if isinstance(node, list):
        return any(builds_broadcast(value) for value in node)
    return False
