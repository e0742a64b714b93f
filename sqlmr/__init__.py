"""sqlmr: ad hoc SQL over big files as serverless MapReduce (AWS Lambda + S3, or locally).

The library entry points load on first use, so that `import sqlmr` (and `sqlmr --version`)
costs no pyarrow or sqlglot import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlmr_runtime  # noqa: F401 - sets the allocator's options before pyarrow loads

from sqlmr.errors import (
    CatalogError,
    PlanError,
    SqlError,
    SqlmrError,
    TaskError,
    UnsupportedError,
    UsageError,
)

if TYPE_CHECKING:
    from sqlmr.api import QueryOptions, compile_query, execute, resolve_catalog, run, sql

__version__ = "0.1.0"

_API = ("QueryOptions", "compile_query", "execute", "resolve_catalog", "run", "sql")

__all__ = [
    "CatalogError",
    "PlanError",
    "QueryOptions",
    "SqlError",
    "SqlmrError",
    "TaskError",
    "UnsupportedError",
    "UsageError",
    "compile_query",
    "execute",
    "resolve_catalog",
    "run",
    "sql",
]


def __getattr__(name: str) -> Any:
    if name in _API:
        from sqlmr import api

        return getattr(api, name)
    raise AttributeError(f"module 'sqlmr' has no attribute {name!r}")
