"""The SQL compiler: the only part of sqlmr that imports sqlglot."""

from sqlmr.compiler.blocks import analyze_query
from sqlmr.compiler.query import analyze

__all__ = ["analyze", "analyze_query"]
