"""Builders of plan nodes from the declarations in spec.py: the compiler and the planner make every
node with these, so a node with an undeclared name, a missing or unknown field, or a mistyped
scalar fails where it is built, with the builder's caller in the traceback.

Optional fields passed as None are left out (unless the field is nullable), so callers can pass
`limit=q.limit` without testing it. The checks here are shallow (the node's own fields);
validate.validate_plan checks the whole plan, with its column and stage references.
"""

from __future__ import annotations

from typing import Any

from . import spec
from .errors import PlanValidationError
from .spec import Node
from .validate import Context, check_fields, validate_expr

Json = dict[str, Any]


def _make(node: Node, key: str | None, fields: dict[str, Any], what: str) -> Json:
    doc = {} if key is None else {key: node.name}
    doc |= {k: v for k, v in fields.items() if v is not None or _nullable(node, k)}
    check_fields(node, doc, Context(what), {key} if key else set(), skip=_DEEP)
    return doc


def _nullable(node: Node, name: str) -> bool:
    return any(a.name == name and a.nullable for a in node.args)


# Fields whose values are nodes themselves: they were made by a builder already.
_DEEP = ("source", "ops", "left", "right", "branches", "task", "input")


def _member(family: dict[str, Node], name: str, what: str) -> Node:
    if name not in family:
        raise PlanValidationError(f"{what} {name!r} is not declared in sqlmr_runtime.spec")
    return family[name]


def col(name: str) -> Json:
    """A column reference."""
    return {"col": name}


def lit(value: Any, type_name: str) -> Json:
    """A typed literal."""
    doc = {"lit": value, "type": type_name}
    validate_expr(doc, Context("literal"))
    return doc


def fn(name: str, *args: Json, **fields: Any) -> Json:
    """A function call: its argument expressions, then its declared fields."""
    node = _member(spec.FUNCTIONS, name, "function")
    doc = {"fn": name, "args": list(args)}
    doc |= {k: v for k, v in fields.items() if v is not None}
    check_fields(node, doc, Context(f"function {name}"), {"fn", "args"})
    low, high, step = node.arity
    if len(args) < low or (high is not None and len(args) > high) or (len(args) - low) % step:
        raise PlanValidationError(f"function {name}: {len(args)} arguments, not {node.arity}")
    return doc


def op(name: str, **fields: Any) -> Json:
    """An operator of spec.OPERATORS."""
    return _make(_member(spec.OPERATORS, name, "operator"), "op", fields, f"operator {name}")


def source(kind: str, **fields: Any) -> Json:
    """A stage source of spec.SOURCES."""
    return _make(_member(spec.SOURCES, kind, "source"), "type", fields, f"source {kind}")


def sink(kind: str, **fields: Any) -> Json:
    """A stage sink of spec.SINKS."""
    return _make(_member(spec.SINKS, kind, "sink"), "type", fields, f"sink {kind}")


def aggregate(name: str, fn_name: str, column: str | None = None) -> Json:
    """An aggregate call of spec.AGGREGATES, output as column `name` ({name, fn, column})."""
    node = _member(spec.AGGREGATES, fn_name, "aggregate")
    doc = {"name": name, "fn": fn_name} | ({} if column is None else {"column": column})
    check_fields(node, doc, Context(f"aggregate {fn_name}"), {"fn"})
    return doc


def record(shape: str, **fields: Any) -> Json:
    """A record of spec.RECORDS (named_expr, sort_key, join_side, …)."""
    return _make(_member(spec.RECORDS, shape, "record"), None, fields, shape)
