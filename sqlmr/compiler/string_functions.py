"""TRIM/LTRIM/RTRIM, REPLACE, STRPOS/POSITION, STARTS_WITH, REGEXP_MATCHES and LPAD/RPAD.

The string they work on may be any VARCHAR expression; the other arguments (characters,
patterns, widths, fills) must be constants, and anything else is refused by name. A NULL
constant makes the result NULL, as in DuckDB. A regular expression is checked here with the
runtime's own RE2 (pyarrow), so a bad one is an error with a caret before any task runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp

from sqlmr.compiler.expressions import Translator, Typed, call, cast, lit
from sqlmr.compiler.math_functions import constant, typed_arg

_SIDES = {None: "both", "BOTH": "both", "LEADING": "left", "TRAILING": "right"}


def _text(t: Translator, fn: str, node: exp.Expression) -> Typed:
    return cast(typed_arg(t, fn, node, ("string",)), "string")


def _trim(t: Translator, node: exp.Trim) -> Typed:
    side = _SIDES.get((node.args.get("position") or "").upper() or None)
    fn = {"both": "TRIM", "left": "LTRIM", "right": "RTRIM"}.get(side or "", "TRIM")
    if side is None or isinstance(node.this, exp.Collate) or node.args.get("collation"):
        raise t.unsupported(f"this form of {fn}()", node)
    value = _text(t, fn, node.this)
    chars_node = node.args.get("expression")
    chars = " " if chars_node is None else constant(t, fn, chars_node, "string", "characters")
    if chars is None:
        return lit(None, "string")
    return call("trim", "string", value, characters=chars, side=side)


def _replace(t: Translator, node: exp.Replace) -> Typed:
    if node.args.get("replacement") is None:
        raise t.error("REPLACE() takes three arguments", node)
    value = _text(t, "REPLACE", node.this)
    pattern = constant(t, "REPLACE", node.expression, "string", "search string")
    replacement = constant(t, "REPLACE", node.args["replacement"], "string", "replacement")
    if pattern is None or replacement is None:
        return lit(None, "string")
    return call("replace", "string", value, pattern=pattern, replacement=replacement)


def _strpos(t: Translator, node: exp.StrPosition) -> Typed:
    for extra in ("position", "occurrence"):
        if node.args.get(extra) is not None:
            raise t.unsupported(f"STRPOS() with a {extra} argument", node.args[extra])
    value = _text(t, "STRPOS", node.this)
    substring = constant(t, "STRPOS", node.args["substr"], "string", "substring")
    if substring is None:
        return lit(None, "int64")
    return call("strpos", "int64", value, substring=substring)


def _starts_with(t: Translator, node: exp.StartsWith) -> Typed:
    value = _text(t, "STARTS_WITH", node.this)
    prefix = constant(t, "STARTS_WITH", node.expression, "string", "prefix")
    if prefix is None:
        return lit(None, "bool")
    return call("starts_with", "bool", value, prefix=prefix)


def _regexp_matches(t: Translator, node: exp.RegexpLike) -> Typed:
    if node.args.get("full_match"):
        raise t.unsupported("a full-match regular expression function", node)
    value = _text(t, "REGEXP_MATCHES", node.this)
    pattern = constant(t, "REGEXP_MATCHES", node.expression, "string", "pattern")
    flag_node = node.args.get("flag")
    flags = (
        "" if flag_node is None else constant(t, "REGEXP_MATCHES", flag_node, "string", "option")
    )
    if pattern is None or flags is None:
        return lit(None, "bool")
    if flags not in ("", "i", "c"):
        raise t.unsupported(f"REGEXP_MATCHES() option {flags!r} (only 'i' and 'c')", flag_node)
    # Loaded here, not with the module: a query without a regular expression compiles without
    # Arrow (the compile helper starts before the driver has loaded it, sqlmr.compiler.ahead).
    import pyarrow as pa
    from sqlmr_runtime import compute as pc

    try:
        pc.match_substring_regex(pa.array([""]), pattern=pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise t.error(
            f"REGEXP_MATCHES(): invalid regular expression: {e}", node.expression
        ) from None
    return call("regexp_matches", "bool", value, pattern=pattern, ignore_case=flags == "i")


def _pad(t: Translator, node: exp.Pad) -> Typed:
    fn = "LPAD" if node.args.get("is_left") else "RPAD"
    if node.args.get("fill_pattern") is None:
        raise t.error(f"{fn}() takes three arguments (string, width, fill)", node)
    value = _text(t, fn, node.this)
    width = constant(t, fn, node.expression, "int32", "width")
    fill = constant(t, fn, node.args["fill_pattern"], "string", "fill")
    if width is None or fill is None:
        return lit(None, "string")
    return call(fn.lower(), "string", value, width=width, fill=fill)


HANDLERS: dict[type, Callable[[Translator, Any], Typed]] = {
    exp.Trim: _trim,
    exp.Replace: _replace,
    exp.StrPosition: _strpos,
    exp.StartsWith: _starts_with,
    exp.RegexpLike: _regexp_matches,
    exp.Pad: _pad,
}
