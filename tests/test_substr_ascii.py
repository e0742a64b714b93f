"""SUBSTR slices all-ASCII strings as bytes (text_functions.slice_codeunits): the answer equals
DuckDB's SUBSTR whether the strings are ASCII or not, whatever the window (negative starts and
lengths, windows past either end), on chunked and sliced columns."""

from __future__ import annotations

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmr_runtime import expressions

_strings = st.lists(st.one_of(st.none(), st.text(alphabet="ab.1é", max_size=12)), max_size=30)
_window = st.integers(-14, 14)


def _runtime(column: pa.ChunkedArray, start: int, length: int | None) -> list:
    expr = {"fn": "substr", "args": [{"col": "s"}], "start": start}
    if length is not None:
        expr["length"] = length
    result = expressions.evaluate(expr, pa.table({"s": column}))
    return result.to_pylist()


def _duckdb(values: list, start: int, length: int | None) -> list:
    t = pa.table({"s": pa.array(values, pa.string())})  # noqa: F841 - DuckDB reads it
    window = f"{start}" if length is None else f"{start}, {length}"
    return [r[0] for r in duckdb.sql(f"SELECT SUBSTR(s, {window}) FROM t").fetchall()]


@settings(max_examples=80, deadline=None)
@given(_strings, _strings, _window, st.one_of(st.none(), _window), st.booleans())
def test_substr_equals_duckdb(first, second, start, length, ascii_only) -> None:
    if ascii_only:  # one chunk all ASCII (the byte path), the other as drawn
        first = [None if v is None else v.replace("é", "e") for v in first]
    column = pa.chunked_array([first, second], pa.string())
    assert _runtime(column, start, length) == _duckdb(first + second, start, length)
    sliced = pa.chunked_array([pa.array(first + second, pa.string()).slice(len(first))])
    assert _runtime(sliced, start, length) == _duckdb(second, start, length)
