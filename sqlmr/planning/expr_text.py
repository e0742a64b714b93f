"""Expressions and sizes as explain writes them: an IR expression as SQL-like text, a byte count
in KB/MB/GB. Apart from explain (sqlmr.planning.explain), whose cost model and estimates a
query's planning does not need, so that a Parquet scan's notes (row groups pruned, by which
filter; bytes read) cost nothing to load during planning."""

from __future__ import annotations

from typing import Any

from sqlmr_runtime import build, spec

from sqlmr.catalog import TYPE_NAMES


def literal_text(value: Any, type_name: str) -> str:
    if value is None:
        return "NULL"
    if type_name == "date32":
        return f"DATE '{value}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value).upper() if isinstance(value, bool) else str(value)


def field_text(value: Any, vtype: str) -> str:
    """A declared field's value as SQL-like text, by its declared value type."""
    if vtype == "type":
        return TYPE_NAMES.get(value, value)
    if vtype == "expr":
        return render_expr(value)
    if vtype.startswith("list<list<"):
        return ", ".join(f"({field_text(v, vtype[5:-1])})" for v in value)
    if vtype.startswith("list<"):
        return ", ".join(field_text(v, vtype[5:-1]) for v in value)
    if vtype == "named_expr":
        return named_text(value)
    if vtype in ("str", "scalar"):
        return literal_text(value, "")
    return str(value)


def named_text(column: dict[str, Any]) -> str:
    if column["expr"] == build.col(column["name"]):
        return column["name"]
    return f"{render_expr(column['expr'])} AS {column['name']}"


def render_expr(ir: dict[str, Any]) -> str:
    """An IR expression as SQL-like text, from each function's declared `sql` template."""
    if "col" in ir:
        return ir["col"]
    if "lit" in ir:
        return literal_text(ir["lit"], ir["type"])
    name, args = ir["fn"], [render_expr(a) for a in ir["args"]]
    if name == "case":
        *pairs, default = args
        whens = " ".join(
            f"WHEN {c} THEN {v}" for c, v in zip(pairs[0::2], pairs[1::2], strict=True)
        )
        return f"CASE {whens} ELSE {default} END"
    if name == "concat" and ir.get("strict"):
        return "(" + " || ".join(args) + ")"
    node = spec.FUNCTIONS[name]
    fields = {"args": ", ".join(args), "and": " AND ".join(args), "or": " OR ".join(args)}
    template = node.sql
    for arg in node.args:
        if arg.name in ir:
            # A field with declared choices is a keyword (a unit, a side): written as it is.
            value = ir[arg.name]
            fields[arg.name] = str(value) if arg.choices else field_text(value, arg.type)
        else:  # an optional field left out: so is its place in the template
            template = template.replace(f", {{{arg.name}}}", "").replace(f"{{{arg.name}}} ", "")
    text = template.format(*args, **fields)
    return text.replace(" LIKE ", " ILIKE ", 1) if ir.get("ignore_case") else text


def format_size(n: float) -> str:
    """A byte count in B, KB, MB, GB or TB (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
