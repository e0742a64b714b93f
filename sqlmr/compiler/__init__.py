"""The SQL compiler: the only part of sqlmr that imports sqlglot."""

from sqlmr.compiler.query import analyze

__all__ = ["analyze"]
