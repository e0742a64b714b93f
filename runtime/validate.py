"""Validation of plans and task events: the runtime owns this JSON schema, the compiler produces it.

Anything unknown (a version, a field, an operator, a function, a type) is refused with a message
that names it, so a newer client can never make an older runtime guess.
"""

from __future__ import annotations

from typing import Any

from . import PLAN_VERSION
from .errors import PlanValidationError
from .expressions import FUNCTIONS
from .operators import JOIN_TYPES, OPERATORS
from .scan import CODECS, FORMATS
from .shuffle import COMPRESSIONS
from .types import ARROW_TYPES

_OP_FIELDS = {
    "filter": ({"op", "predicate"}, set()),
    "project": ({"op", "columns"}, set()),
    "aggregate": ({"op", "keys", "aggregates"}, {"phase"}),
    "sort": ({"op", "keys"}, {"limit"}),
    "limit": ({"op", "count"}, set()),
    "expand": ({"op", "projections"}, set()),
}
_FN_EXTRA = {
    "in": {"values"},
    "like": {"pattern", "ignore_case"},
    "substr": {"start", "length"},
    "concat": {"strict"},
    "cast": {"to"},
    "date_add": {"unit", "count"},
}
_AGG_FNS = {"sum", "sum0", "count", "count_all", "min", "max"}
_STAGE_FIELDS = ({"id", "kind", "source", "ops", "sink"}, {"tasks", "depends_on", "coalesce_bytes"})
_SOURCE_FIELDS = {
    "scan": (
        {"type", "table", "format", "columns", "read"},
        {"delimiter", "header", "quote", "trailing_delimiter", "compression", "partitions"},
    ),
    "shuffle": ({"type", "stage"}, set()),
    "gather": ({"type", "stage"}, set()),
    "combine": ({"type", "stage"}, set()),
    "join": ({"type", "left", "right", "left_keys", "right_keys"}, {"how", "broadcast"}),
}
_SINK_FIELDS = {
    "shuffle": ({"type", "partitions", "keys"}, set()),
    "result": ({"type"}, set()),
}
_EVENT_FIELDS = (
    {"version", "job", "job_store", "stage", "task", "attempt", "input"},
    {"compression"},
)


def _fields(obj: Any, allowed: tuple[set, set], where: str) -> None:
    if not isinstance(obj, dict):
        raise PlanValidationError(f"{where}: expected an object")
    required, optional = allowed
    missing = required - obj.keys()
    if missing:
        raise PlanValidationError(f"{where}: missing field(s) {', '.join(sorted(missing))}")
    unknown = obj.keys() - required - optional
    if unknown:
        raise PlanValidationError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")


def validate_expr(expr: Any, where: str) -> None:
    """Check one IR expression, recursively."""
    if not isinstance(expr, dict):
        raise PlanValidationError(f"{where}: expression must be an object")
    if "col" in expr:
        _fields(expr, ({"col"}, set()), where)
    elif "lit" in expr:
        _fields(expr, ({"lit", "type"}, set()), where)
        if expr["type"] not in ARROW_TYPES:
            raise PlanValidationError(f"{where}: unknown literal type {expr['type']!r}")
    elif "fn" in expr:
        fn = expr["fn"]
        if fn not in FUNCTIONS:
            raise PlanValidationError(f"{where}: unknown function {fn!r}")
        _fields(expr, ({"fn", "args"}, _FN_EXTRA.get(fn, set())), f"{where} ({fn})")
        if fn == "cast" and expr.get("to") not in ARROW_TYPES:
            raise PlanValidationError(f"{where}: cannot cast to {expr.get('to')!r}")
        for i, arg in enumerate(expr["args"]):
            validate_expr(arg, f"{where} ({fn} argument {i + 1})")
    else:
        raise PlanValidationError(f"{where}: an expression needs 'col', 'lit' or 'fn'")


def validate_op(op: Any, where: str) -> None:
    """Check one operator and the expressions it holds."""
    name = op.get("op") if isinstance(op, dict) else None
    if name not in OPERATORS:
        raise PlanValidationError(f"{where}: unknown operation {name!r}")
    _fields(op, _OP_FIELDS[name], f"{where} ({name})")
    if name == "filter":
        validate_expr(op["predicate"], f"{where} (filter)")
    elif name == "project":
        for c in op["columns"]:
            _fields(c, ({"name", "expr"}, set()), f"{where} (project)")
            validate_expr(c["expr"], f"{where} (project {c['name']})")
    elif name == "aggregate":
        for a in op["aggregates"]:
            _fields(a, ({"name", "fn"}, {"column"}), f"{where} (aggregate)")
            if a["fn"] not in _AGG_FNS:
                raise PlanValidationError(f"{where}: unknown aggregate {a['fn']!r}")
    elif name == "expand":
        for columns in op["projections"]:
            validate_op({"op": "project", "columns": columns}, f"{where} (expand)")
    elif name == "sort":
        for k in op["keys"]:
            _fields(k, ({"column"}, {"descending", "nulls_first"}), f"{where} (sort key)")


def validate_source(source: Any, where: str) -> None:
    """Check a stage source, and both sides of a join."""
    if not isinstance(source, dict) or source.get("type") not in _SOURCE_FIELDS:
        raise PlanValidationError(f"{where}: unknown source {source!r:.80}")
    _fields(source, _SOURCE_FIELDS[source["type"]], f"{where} source")
    if source["type"] == "scan":
        if source["format"] not in FORMATS:
            raise PlanValidationError(f"{where}: unknown input format {source['format']!r}")
        if source.get("compression") not in (None, *CODECS):
            raise PlanValidationError(f"{where}: unknown compression {source['compression']!r}")
        for c in source["columns"] + source.get("partitions", []):
            _fields(c, ({"name", "type"}, set()), f"{where} column")
            if c["type"] not in ARROW_TYPES:
                raise PlanValidationError(f"{where}: unknown column type {c['type']!r}")
    elif source["type"] == "join":
        if source.get("how", "inner") not in JOIN_TYPES:
            raise PlanValidationError(f"{where}: unknown join type {source['how']!r}")
        if source.get("broadcast", "left") not in ("left", "right"):
            raise PlanValidationError(f"{where}: broadcast must name 'left' or 'right'")
        if len(source["left_keys"]) != len(source["right_keys"]) or not source["left_keys"]:
            raise PlanValidationError(f"{where}: a join needs as many left keys as right keys")
        for side in ("left", "right"):
            _fields(source[side], ({"source", "ops"}, set()), f"{where} {side} side")
            validate_source(source[side]["source"], f"{where} {side} side")
            for i, op in enumerate(source[side]["ops"]):
                validate_op(op, f"{where} {side} side op {i + 1}")


def validate_input(source: dict[str, Any], inp: Any, where: str) -> None:
    """Check a task's input against its stage's source."""
    kind = source["type"]
    if kind == "scan":
        _fields(inp, ({"ranges"}, set()), where)
        for r in inp["ranges"]:
            _fields(
                r,
                ({"url", "start", "end"}, {"row_groups", "size", "footer", "partition"}),
                f"{where} range",
            )
    elif kind == "join":
        _fields(inp, ({"left", "right"}, set()), where)
        validate_input(source["left"]["source"], inp["left"], f"{where} (left)")
        validate_input(source["right"]["source"], inp["right"], f"{where} (right)")
    else:
        _fields(inp, ({"parts"}, set()), where)
        for p in inp["parts"]:
            _fields(p, ({"url", "offset", "length"}, set()), f"{where} part")


def validate_stage(stage: Any) -> None:
    """Check a stage: its source, operators and sink."""
    _fields(stage, _STAGE_FIELDS, "stage")
    where = f"stage {stage['id']}"
    sink = stage["sink"]
    validate_source(stage["source"], where)
    if not isinstance(sink, dict) or sink.get("type") not in _SINK_FIELDS:
        raise PlanValidationError(f"{where}: unknown sink {sink!r:.80}")
    _fields(sink, _SINK_FIELDS[sink["type"]], f"{where} sink")
    for i, op in enumerate(stage["ops"]):
        validate_op(op, f"{where} op {i + 1}")


def validate_plan(plan: Any) -> None:
    """Check a whole plan document."""
    _fields(plan, ({"version", "stages", "columns"}, {"query", "tables", "inputs"}), "plan")
    if plan["version"] != PLAN_VERSION:
        raise PlanValidationError(
            f"plan version {plan['version']!r} is not supported (this runtime reads {PLAN_VERSION})"
        )
    for stage in plan["stages"]:
        validate_stage(stage)


def validate_event(event: Any) -> None:
    """Check a task event before running it."""
    _fields(event, _EVENT_FIELDS, "task event")
    if event.get("compression", "auto") not in COMPRESSIONS:
        raise PlanValidationError(
            f"task event: unknown compression {event['compression']!r}; "
            f"expected one of {', '.join(COMPRESSIONS)}"
        )
    if event["version"] != PLAN_VERSION:
        raise PlanValidationError(
            f"task event version {event['version']!r} is not supported "
            f"(this runtime reads {PLAN_VERSION})"
        )
    validate_stage(event["stage"])
    validate_input(event["stage"]["source"], event["input"], "task input")
