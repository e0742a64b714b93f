"""Code shape: no function in sqlmr/, runtime/ or benchmarks/ is over about 60 lines.

A long function mixes several steps; split it into functions named for the steps. The few
exceptions are named here, each with its length as a ceiling and the reason it stays whole.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("sqlmr", "runtime", "benchmarks")
LIMIT = 60

# "path:function" -> (ceiling, why it is one function)
EXCEPTIONS: dict[str, tuple[int, str]] = {
    "sqlmr/aws/deploy.py:deploy": (
        72,
        "the library entry point: 18 documented parameters and their docstring are 29 lines; "
        "the body (42 lines) is the sequence of named steps",
    ),
}


def long_functions() -> dict[str, int]:
    """Every function over LIMIT lines, as "path:qualified name" -> its length in lines."""
    found: dict[str, int] = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            rel = path.relative_to(ROOT).as_posix()
            for node, name in _functions(tree, ""):
                lines = node.end_lineno - node.lineno + 1
                if lines > LIMIT:
                    found[f"{rel}:{name}"] = lines
    return found


def _functions(tree: ast.AST, prefix: str):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                yield node, name
            yield from _functions(node, name + ".")
        else:
            yield from _functions(node, prefix)


def test_no_function_is_over_60_lines() -> None:
    too_long = {
        name: lines
        for name, lines in long_functions().items()
        if name not in EXCEPTIONS or lines > EXCEPTIONS[name][0]
    }
    listing = "\n".join(f"  {name}: {lines} lines" for name, lines in sorted(too_long.items()))
    assert not too_long, f"functions over {LIMIT} lines (split them into named steps):\n{listing}"


def test_the_exceptions_are_still_needed() -> None:
    found = long_functions()
    stale = [name for name in EXCEPTIONS if name not in found]
    assert not stale, f"no longer over {LIMIT} lines, drop from EXCEPTIONS: {stale}"
