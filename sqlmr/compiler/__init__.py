"""The SQL compiler: the only part of sqlmr that imports sqlglot."""

from .query import analyze

__all__ = ["analyze"]
