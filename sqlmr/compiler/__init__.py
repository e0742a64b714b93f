"""The SQL compiler: the only part of sqlmr that imports sqlglot.

Its entry points load on first use, so that the planner and the driver can use the compiler's
plain data (sqlmr.compiler.logical) without loading sqlglot: a query's driver then starts its
workers before the compiler loads (sqlmr.cli.query)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlmr.compiler.blocks import analyze_query
    from sqlmr.compiler.query import analyze

__all__ = ["analyze", "analyze_query"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sqlmr.compiler.sqlglot_loading import load_sqlglot

        load_sqlglot()
    if name == "analyze_query":
        from sqlmr.compiler.blocks import analyze_query

        return analyze_query
    if name == "analyze":
        from sqlmr.compiler.query import analyze

        return analyze
    raise AttributeError(f"module 'sqlmr.compiler' has no attribute {name!r}")
