"""docs/plan-format.md, written from the declarations in spec.py (the wire format's one document).

Regenerate with `python -m sqlmr_runtime.spec_doc > docs/plan-format.md`, or run tests/test_spec.py
with SQLMR_REGENERATE_GOLDEN=1; a test fails while the file differs from what this writes.
"""

from __future__ import annotations

from . import spec
from .spec import Arg, Node

_INTRO = """\
# The plan format

<!-- Generated from runtime/spec.py by runtime/spec_doc.py: do not edit by hand. -->

A plan, the task events the driver sends and the task summaries tasks return are plain JSON.
The runtime (`sqlmr_runtime.spec`) declares every node once; `sqlmr_runtime.validate` refuses
anything else before a task runs (a final error, never retried). Plan version: {plan},
task summary version: {summary}.

An expression is `{{"col": NAME}}` (a column of the input), `{{"lit": VALUE, "type": TYPE}}` (dates
as `"YYYY-MM-DD"`), or `{{"fn": NAME, "args": [EXPR, …], FIELD: …}}` for a function below.
"""


def _field(arg: Arg) -> str:
    kind = arg.type + (" or null" if arg.nullable else "")
    if arg.choices:
        kind += " (" + " | ".join(f"`{c}`" for c in arg.choices) + ")"
    if arg.scope:
        kind += f", in the {arg.scope} scope"
    required = "yes" if arg.required else "no"
    return f"| `{arg.name}` | {kind} | {required} | {arg.doc} |"


def _node(title: str, node: Node, key: str | None) -> list[str]:
    lines = [f"### {title}", "", node.doc + "."]
    if node.sql:
        low, high, step = node.arity
        arity = f"{low}" if high == low else f"{low} or more" + (", odd" if step == 2 else "")
        lines[-1] += f" Arguments: {arity}. Shown as `{node.sql}`."
    fields = list(node.args)
    if key:
        fields.insert(0, Arg(key, "str", doc=f"`{node.name}`"))
    if fields:
        lines += ["", "| field | type | required | meaning |", "| --- | --- | --- | --- |"]
        lines += [_field(a) for a in fields]
    return [*lines, ""]


def markdown() -> str:
    """The whole document."""
    out = [_INTRO.format(plan=spec.PLAN_VERSION, summary=spec.SUMMARY_VERSION)]
    out += ["## Value types", "", "| type | meaning |", "| --- | --- |"]
    out += [f"| `{k}` | {v} |" for k, v in spec.VALUE_TYPES.items()]
    out += ["| `list<T>` | a JSON list of T |", "| record names | the records below |", ""]
    out += ["## Column types", "", "| type | SQL |", "| --- | --- |"]
    out += [f"| `{k}` | {v} |" for k, v in spec.TYPES.items()]
    out += ["", "## Stage kinds", "", "| kind | what it does |", "| --- | --- |"]
    out += [f"| `{k}` | {v} |" for k, v in spec.STAGE_KINDS.items()]
    out.append("")
    sections = (
        ("Records", spec.RECORDS, None),
        ("Sources", spec.SOURCES, "type"),
        ("Operators", spec.OPERATORS, "op"),
        ("Sinks", spec.SINKS, "type"),
        ("Aggregates", spec.AGGREGATES, "fn"),
        ("Functions", spec.FUNCTIONS, None),
    )
    for title, family, key in sections:
        out += [f"## {title}", ""]
        for name, node in family.items():
            out += _node(f"`{name}`", node, key)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
