"""The 22 TPC-H queries (one file each, qNN.sql), written from the TPC-H specification with its
validation substitution parameters, in the SQL both sqlmr and DuckDB read."""

from __future__ import annotations

from pathlib import Path

QUERIES = tuple(range(1, 23))


def query_text(n: int) -> str:
    """The SQL of TPC-H query n (1 to 22)."""
    if n not in QUERIES:
        raise ValueError(f"TPC-H has queries 1 to 22, not {n}")
    return (Path(__file__).parent / f"q{n:02d}.sql").read_text("utf-8")
