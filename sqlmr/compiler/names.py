"""Internal column names: every column sqlmr makes for its own use is named here, and only here.

They start with two underscores, then a kind and a number: `internal("k", 0)` is "__k0". The
result columns are renamed to the query's own names at the very end, so users never see them.
"""

from __future__ import annotations

KINDS: dict[str, str] = {
    "k": "a group key",
    "a": "an aggregate's input",
    "p": "a partial (map-side) aggregate",
    "f": "a final (reduce-side) aggregate",
    "c": "a result column of the query",
    "o": "a hidden ORDER BY column of the query",
    "d": "a result column of the outer query over a FROM subquery",
    "e": "a hidden ORDER BY column of the outer query over a FROM subquery",
    "jl": "the left side's join key of a two-table join",
    "jr": "the right side's join key of a two-table join",
    "jk": "a join key computed from an expression (multi-way joins)",
    "dv": "a DISTINCT aggregate's argument",
    "fdc": "COUNT(DISTINCT x) of a group",
    "fds": "SUM(DISTINCT x) of a group",
    "dc": "the dedup stage's count of a group's distinct values",
    "ds": "the dedup stage's sum of a group's distinct values",
    "dw": "a BIGINT DISTINCT argument widened to HUGEINT before it is summed",
    "q": "a partial aggregate merged across map tasks in the dedup stage",
    "tag": "which copy of a row the DISTINCT expansion made (-1: the ordinary aggregates)",
    "one": "1 on the ordinary copy of a row, NULL on the others (COUNT(*) beside DISTINCT)",
    "u": "a column of a UNION ALL (each branch's column cast to the union's type)",
}
"""Every kind of internal column, and what it holds."""


def internal(kind: str, index: int | None = None) -> str:
    """The internal column name of `kind` (one of KINDS), numbered by `index` if given."""
    if kind not in KINDS:
        raise KeyError(f"no internal column kind {kind!r}; declare it in sqlmr.compiler.names")
    return f"__{kind}" if index is None else f"__{kind}{index}"
