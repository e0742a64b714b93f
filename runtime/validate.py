"""Validation of plans, task events and task summaries, derived from the declarations in spec.py.

Anything the declarations do not allow is refused with a message that names it and where it is:
an unknown version, node, field or type; a missing or mistyped field; a wrong number of function
arguments; a column that the node's input does not have; a stage that does not exist (or does
not come earlier, or does not write what the source reads). A newer client can never make an
older runtime guess, and a bad plan fails before any task runs, as a final error.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from . import spec
from .errors import PlanValidationError
from .spec import Arg, Node
from .types import decimal_of, is_type

Columns = tuple[str, ...] | None  # None: not known here (a shuffle read in a lone task event)


@dataclass(frozen=True)
class Context:
    """What a field is checked against: where it is (for messages), the columns in scope by
    name ("" is the node's input), the stages so far (id → its sink type and output columns;
    None in a lone task event) and the sources that `task` and `input` fields follow."""

    where: str
    scopes: dict[str, Columns] = field(default_factory=dict)
    stages: dict[str, tuple[str, Columns]] | None = None
    sources: dict[str, Any] = field(default_factory=dict)

    def at(self, where: str, **changes: Any) -> Context:
        return replace(self, where=f"{self.where} {where}".strip(), **changes)

    def fail(self, message: str) -> PlanValidationError:
        return PlanValidationError(f"{self.where}: {message}" if self.where else message)


_SCALARS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "number": (int, float),
    "str": (str,),
    "bool": (bool,),
    "scalar": (str, int, float, bool, type(None)),
    "object": (dict,),
}


def _check_keys(node: Node, obj: Any, ctx: Context, fixed: set[str]) -> None:
    if not isinstance(obj, dict):
        raise ctx.fail(f"expected an object, got {_show(obj)}")
    names = {a.name for a in node.args}
    missing = [a.name for a in node.args if a.required and a.name not in obj]
    if missing:
        raise ctx.fail(f"missing field(s) {', '.join(missing)}")
    unknown = sorted(obj.keys() - names - fixed)
    if unknown:
        raise ctx.fail(f"unknown field(s) {', '.join(unknown)}")


def check_fields(node: Node, obj: Any, ctx: Context, fixed: set[str], skip=()) -> None:
    """Check an object's keys against a node's fields, then every field's value (but `skip`)."""
    _check_keys(node, obj, ctx, fixed)
    for arg in node.args:
        if arg.name in obj and arg.name not in skip:
            _value(obj[arg.name], arg.type, arg, ctx.at(f"({arg.name})"))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _value(value: Any, vtype: str, arg: Arg, ctx: Context) -> None:
    """Check one value against a value type of spec.VALUE_TYPES (or list<T>, or a record)."""
    if value is None and arg.nullable:
        return
    if vtype.startswith("list<"):
        if not isinstance(value, list):
            raise ctx.fail(f"expected a list, got {_show(value)}")
        for i, item in enumerate(value):
            _value(item, vtype[5:-1], arg, ctx.at(f"item {i + 1}") if len(value) > 1 else ctx)
        return
    if arg.choices and value not in arg.choices:
        allowed = ", ".join(map(repr, arg.choices))
        raise ctx.fail(f"unknown value {_show(value)} (expected one of {allowed})")
    if vtype in _SCALARS:
        is_bool = isinstance(value, bool) and vtype not in ("bool", "scalar")
        if not isinstance(value, _SCALARS[vtype]) or is_bool:
            raise ctx.fail(f"expected {spec.VALUE_TYPES[vtype]}, got {_show(value)}")
    elif vtype == "type":
        if not is_type(value):
            raise ctx.fail(f"unknown type {_show(value)}")
    elif vtype in ("column", "name"):
        _column(value, arg.scope, vtype == "column", ctx)
    elif vtype == "stage":
        _stage_ref(value, ctx)
    elif vtype == "expr":
        validate_expr(value, ctx)
    elif vtype in ("task", "input"):
        source = ctx.sources.get(arg.scope) if arg.scope else ctx.sources.get("")
        kind = spec.SOURCES[source["type"]]
        record = spec.RECORDS[kind.task if vtype == "task" else kind.input]
        inner = {"": source, **_side_sources(source, value)}
        check_fields(record, value, replace(ctx, sources=inner), set())
    elif vtype == "split_range":
        fmt = ctx.sources.get("", {}).get("format")
        if fmt is None:  # no scan in context (a builder's check): the range's own shape decides
            fmt = "parquet" if isinstance(value, dict) and "row_groups" in value else "csv"
        check_fields(spec.RECORDS[spec.RANGE_RECORDS[fmt]], value, ctx, set())
        if fmt == "parquet" and value["row_groups"] != sorted(set(value["row_groups"])):
            raise ctx.fail("row_groups must ascend without repeats")
    elif vtype in spec.FAMILIES:
        _member(vtype, value, ctx)
    else:
        check_fields(spec.RECORDS[vtype], value, ctx, set())


def _column(value: Any, scope: str, must_exist: bool, ctx: Context) -> None:
    if not isinstance(value, str) or not value:
        raise ctx.fail(f"expected a column name, got {_show(value)}")
    columns = ctx.scopes.get(scope)
    if must_exist and columns is not None and value not in columns:
        raise ctx.fail(f"unknown column {value!r} (the input has {', '.join(columns) or 'none'})")


def _stage_ref(value: Any, ctx: Context) -> None:
    if not isinstance(value, str):
        raise ctx.fail(f"expected a stage id, got {_show(value)}")
    if ctx.stages is not None and value not in ctx.stages:
        raise ctx.fail(f"no earlier stage {value!r} (stages so far: {', '.join(ctx.stages)})")


def _side_sources(source: dict[str, Any], value: Any = None) -> dict[str, Any]:
    """The sources that a task's or input's parts follow: a join's sides, a union's branch."""
    if source.get("type") == "union":
        index = value.get("branch") if isinstance(value, dict) else None
        branches = source["branches"]
        if not isinstance(index, int) or isinstance(index, bool):
            return {}  # the field check reports the missing or mistyped branch
        if not 0 <= index < len(branches):
            raise PlanValidationError(f"no branch {index} (the union has {len(branches)})")
        return {"branch": branches[index]["source"]}
    if source.get("type") != "join":
        return {}
    return {side: source[side]["source"] for side in ("left", "right")}


def _member(family: str, obj: Any, ctx: Context, skip: tuple[str, ...] = ()) -> Node:
    """Check a node of a family (an operator, source, sink or aggregate call) by its name key;
    `skip` names fields the caller checks itself."""
    key, members = spec.FAMILIES[family]
    name = obj.get(key) if isinstance(obj, dict) else None
    if name not in members:
        label = {"op": "operation"}.get(family, family)
        raise ctx.fail(f"unknown {label} {_show(name if name is not None else obj)}")
    node = members[name]
    check_fields(node, obj, ctx.at(f"({name})"), {key}, skip=skip)
    for a, b in zip(node.same_length, node.same_length[1:], strict=False):
        if len(obj[a]) != len(obj[b]) or not obj[a]:
            raise ctx.fail(f"{a} and {b} must be as many, and at least one")
    return node


def validate_expr(expr: Any, ctx: Context | str) -> None:
    """Check one IR expression, recursively, against the columns in scope."""
    if isinstance(ctx, str):
        ctx = Context(ctx)
    if not isinstance(expr, dict):
        raise ctx.fail(f"an expression must be an object, got {_show(expr)}")
    if "col" in expr:
        _check_keys(_COL, expr, ctx, set())
        _column(expr["col"], "", True, ctx)
    elif "lit" in expr:
        _check_keys(_LIT, expr, ctx, set())
        _value(expr["type"], "type", _LIT.arg("type"), ctx)
        _literal(expr["lit"], expr["type"], ctx)
    elif "fn" in expr:
        name = expr["fn"]
        if name not in spec.FUNCTIONS:
            raise ctx.fail(f"unknown function {_show(name)}")
        node = spec.FUNCTIONS[name]
        inner = ctx.at(f"({name})")
        check_fields(node, expr, inner, {"fn", "args"})
        args = expr.get("args")
        if not isinstance(args, list):
            raise inner.fail("missing field(s) args" if args is None else "args must be a list")
        low, high, step = node.arity
        if len(args) < low or (high is not None and len(args) > high) or (len(args) - low) % step:
            raise inner.fail(f"takes {_arity_text(node.arity)}, got {len(args)}")
        for i, arg in enumerate(args):
            validate_expr(arg, inner.at(f"argument {i + 1}"))
    else:
        raise ctx.fail("an expression needs 'col', 'lit' or 'fn'")


_COL = Node("col", (Arg("col", "column"),))
_LIT = Node("lit", (Arg("lit", "scalar", nullable=True), Arg("type", "type")))


def _arity_text(arity: tuple[int, int | None, int]) -> str:
    low, high, step = arity
    if high == low:
        return f"{low} argument{'s' if low != 1 else ''}"
    if high is None and step == 2:
        return f"an odd number of arguments, at least {low}"
    return f"at least {low} argument(s)" if high is None else f"{low} to {high} arguments"


def _literal(value: Any, type_name: str, ctx: Context) -> None:
    """A literal's value must be what its type says (dates travel as 'YYYY-MM-DD', timestamps
    as ISO text, decimals as their digits: '-12.50')."""
    if value is None:
        return
    if decimal_of(type_name) is not None:
        ok = isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value) is not None
        if not ok:
            raise ctx.fail(f"literal {_show(value)} is not a {type_name}")
        return
    ok = {
        "string": isinstance(value, str),
        "bool": isinstance(value, bool),
        "float64": isinstance(value, (int, float)) and not isinstance(value, bool),
        "date32": isinstance(value, str) and _is_date(value),
        "timestamp": isinstance(value, str) and _is_timestamp(value),
        "null": False,
    }.get(type_name, isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        raise ctx.fail(f"literal {_show(value)} is not a {type_name}")


_DECIMAL_TEXT = re.compile(r"-?\d{1,38}(\.\d{1,38})?")


def _is_timestamp(text: str) -> bool:
    try:
        datetime.datetime.fromisoformat(text)
        return True
    except ValueError:
        return False


def _is_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
        return True
    except ValueError:
        return False


def _defined(value: Any, vtype: str) -> list[str]:
    """The column names an operator's `output` field makes, in order."""
    if vtype in ("column", "name"):
        return [value]
    if vtype.startswith("list<"):
        return [n for item in value for n in _defined(item, vtype[5:-1])]
    node = spec.RECORDS.get(vtype)
    if vtype == "aggregate":
        node = spec.AGGREGATES[value["fn"]]
    if node is None:
        return []
    return [
        n
        for a in node.args
        if a.output and a.name in value
        for n in _defined(value[a.name], a.type)
    ]


def validate_ops(ops: Any, ctx: Context, columns: Columns) -> Columns:
    """Check a list of operators in order; return the columns after the last one."""
    if not isinstance(ops, list):
        raise ctx.fail(f"ops must be a list, got {_show(ops)}")
    for i, op in enumerate(ops):
        inner = ctx.at(f"op {i + 1}")
        node = _member("op", op, replace(inner, scopes={"": columns}))
        if node.output == "defined":
            names = [n for a in node.args if a.output for n in _defined(op[a.name], a.type)]
            columns = tuple(dict.fromkeys(names))
    return columns


def validate_source(source: Any, ctx: Context) -> Columns:
    """Check a stage source (both sides of a join, with their operators); return its columns."""
    if isinstance(source, dict) and source.get("type") == "join":
        scopes: dict[str, Columns] = {}
        for side in ("left", "right"):
            value = source.get(side)
            side_ctx = ctx.at(f"{side} side")
            check_fields(spec.RECORDS["join_side"], value, side_ctx, set(), skip=("source", "ops"))
            columns = validate_source(value["source"], side_ctx)
            scopes[side] = validate_ops(value["ops"], side_ctx, columns)
        _member("source", source, replace(ctx, scopes=scopes), skip=("left", "right"))
        if scopes["left"] is None or scopes["right"] is None:
            return None
        return scopes["left"] + scopes["right"]
    if isinstance(source, dict) and source.get("type") == "union":
        return _union_columns(source, ctx)
    if isinstance(source, dict) and source.get("type") == "scan":
        declared = [source.get("columns"), source.get("partitions")]
        names = tuple(
            c.get("name")
            for cs in declared
            if isinstance(cs, list)
            for c in cs
            if isinstance(c, dict)
        )
        _member("source", source, replace(ctx, scopes={"columns": names}))
        return tuple(source["read"])
    node = _member("source", source, ctx)
    if ctx.stages is None:
        return None
    wrote, columns = ctx.stages[source["stage"]]
    if node.reads and wrote != node.reads:
        raise ctx.fail(
            f"a {node.name} source reads the {node.reads} output of a stage, and stage "
            f"{source['stage']!r} writes a {wrote} output"
        )
    return columns


def _union_columns(source: dict[str, Any], ctx: Context) -> Columns:
    """Check a union's branches; they must all end with the same columns, which it outputs."""
    _member("source", source, ctx, skip=("branches",))
    branches = source["branches"]
    if not isinstance(branches, list) or not branches:
        raise ctx.fail("a union needs a list of branches")
    outputs: list[Columns] = []
    for i, branch in enumerate(branches):
        branch_ctx = ctx.at(f"branch {i}")
        check_fields(spec.RECORDS["join_side"], branch, branch_ctx, set(), skip=("source", "ops"))
        columns = validate_source(branch["source"], branch_ctx)
        outputs.append(validate_ops(branch["ops"], branch_ctx, columns))
    known = [c for c in outputs if c is not None]
    if any(c != known[0] for c in known):
        raise ctx.fail(f"the union's branches end with different columns: {known}")
    return known[0] if len(known) == len(outputs) else None


def validate_stage(stage: Any, ctx: Context, record: str = "stage_definition") -> Columns:
    """Check a stage (its source, operators, sink, and in a plan its tasks); return the columns
    it outputs."""
    node = spec.RECORDS[record]
    skip = ("source", "ops", "sink", "tasks")
    check_fields(node, stage, ctx.at("stage"), set(), skip=skip)
    inner = ctx.at(f"stage {stage['id']}")
    columns = validate_source(stage["source"], inner)
    columns = validate_ops(stage["ops"], inner, columns)
    _member("sink", stage["sink"], replace(inner, scopes={"": columns}))
    sources = {"": stage["source"], **_side_sources(stage["source"])}
    for i, task in enumerate(stage.get("tasks", [])):
        _value(task, "task", Arg("task", "task"), replace(inner.at(f"task {i}"), sources=sources))
    return columns


def _version(doc: Any, what: str, supported: int) -> None:
    if isinstance(doc, dict) and "version" in doc and doc["version"] != supported:
        raise PlanValidationError(
            f"{what} version {_show(doc['version'])} is not supported "
            f"(this runtime reads {supported})"
        )


def validate_plan(plan: Any) -> None:
    """Check a whole plan document: every stage, and every reference between them."""
    _version(plan, "plan", spec.PLAN_VERSION)
    ctx = Context("plan")
    check_fields(spec.RECORDS["plan"], plan, ctx, set(), skip=("stages", "columns"))
    stages: dict[str, tuple[str, Columns]] = {}
    if not isinstance(plan["stages"], list) or not plan["stages"]:
        raise ctx.fail("stages must be a list of at least one stage")
    columns: Columns = ()
    for stage in plan["stages"]:
        if isinstance(stage, dict) and stage.get("id") in stages:
            raise ctx.fail(f"two stages are called {stage['id']!r}")
        columns = validate_stage(stage, Context("", stages=stages), "stage")
        stages[stage["id"]] = (stage["sink"]["type"], columns)
    arg = spec.RECORDS["plan"].arg("columns")
    _value(plan["columns"], arg.type, arg, ctx.at("result columns").at("", scopes={"": columns}))


def validate_event(event: Any) -> None:
    """Check a task event before running it."""
    _version(event, "task event", spec.PLAN_VERSION)
    ctx = Context("task event")
    check_fields(spec.RECORDS["task_event"], event, ctx, set(), skip=("stage", "input"))
    _validate_stage_once(event["stage"])
    arg = spec.RECORDS["task_event"].arg("input")
    sources = {"": event["stage"]["source"], **_side_sources(event["stage"]["source"])}
    _value(event["input"], "input", arg, replace(Context("task input"), sources=sources))


# The stages this process found valid, by their JSON text. A worker, or a warm Lambda container,
# runs many tasks of one stage in a row, and checking every field and expression of the stage
# was a fifth of a small task's time (1-2 ms a task). The same text gets the same verdict.
_VALID_STAGES: dict[str, None] = {}
_VALID_STAGES_KEPT = 16


def _validate_stage_once(stage: Any) -> None:
    try:
        text = json.dumps(stage, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):  # not JSON: the full check names what is wrong
        text = None
    if text is not None and text in _VALID_STAGES:
        return
    validate_stage(stage, Context(""))
    if text is not None:
        if len(_VALID_STAGES) >= _VALID_STAGES_KEPT:
            del _VALID_STAGES[next(iter(_VALID_STAGES))]
        _VALID_STAGES[text] = None


def validate_summary(summary: Any) -> None:
    """Check a task summary, as the driver receives it."""
    _version(summary, "task summary", spec.SUMMARY_VERSION)
    check_fields(spec.RECORDS["task_summary"], summary, Context("task summary"), set())
