"""sqlmr: ad hoc SQL over big files as serverless MapReduce (AWS Lambda + S3, or locally)."""

from sqlmr.api import QueryOptions, compile_query, resolve_catalog, run, sql
from sqlmr.errors import (
    CatalogError,
    PlanError,
    SqlError,
    SqlmrError,
    TaskError,
    UnsupportedError,
    UsageError,
)

__version__ = "0.1.0"

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
    "resolve_catalog",
    "run",
    "sql",
]
