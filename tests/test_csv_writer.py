"""The CLI's vectorized CSV/TSV writer against a per-value reference of the same rules: quotes
only where a value needs them (a delimiter, a quote, a line break, or the empty string), NULL as
an empty field, LF line ends; whatever the chunks a result arrives in."""

from __future__ import annotations

import csv
import datetime
import io
import itertools
import threading

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlmr.cli import output
from sqlmr.cli.output import write_csv

TEXT = st.one_of(st.none(), st.text(alphabet='ab,\t"\n\r x', max_size=6))


def _reference(rows: list[tuple], delimiter: str) -> str:
    def field(v: object) -> str:
        if v is None:
            return ""
        text = v if isinstance(v, str) else repr(v)
        if text == "" or any(c in text for c in (delimiter, '"', "\n", "\r")):
            return '"' + text.replace('"', '""') + '"'
        return text

    return "".join(delimiter.join(field(v) for v in row) + "\n" for row in rows)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(TEXT, st.integers(-5, 5), TEXT), max_size=12),
    st.integers(1, 4),
    st.sampled_from([",", "\t"]),
)
def test_csv_equals_the_per_value_rules_in_any_chunks(rows, pieces, delimiter) -> None:
    names = ["s", "n", "t"]
    table = pa.table(
        {
            n: pa.array([r[i] for r in rows], pa.string() if i != 1 else pa.int64())
            for i, n in enumerate(names)
        }
    )
    size = max(1, -(-len(rows) // pieces))
    parts = [table.slice(i, size) for i in range(0, max(len(rows), 1), size)]
    out = io.BytesIO()
    assert write_csv(parts, out, True, delimiter) == len(rows)
    text = out.getvalue().decode()
    assert text == delimiter.join(names) + "\n" + _reference(rows, delimiter)
    if delimiter == ",":  # and Python's csv module reads back every value (NULL as "")
        back = list(csv.reader(io.StringIO(text, newline="")))[1:]
        expected = [["" if v is None else str(v) for v in row] for row in rows]
        assert back == expected


VALUES = {
    "s": st.one_of(st.none(), st.text(alphabet='ab,"\n x', max_size=4)),
    "f": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    "b": st.one_of(st.none(), st.booleans()),
    "d": st.one_of(st.none(), st.dates()),
    "t": st.one_of(st.none(), st.datetimes(datetime.datetime(1900, 1, 1))),
    "m": st.one_of(st.none(), st.decimals(-(10**6), 10**6, places=2)),
}
TYPES = {
    "s": pa.string(),
    "f": pa.float64(),
    "b": pa.bool_(),
    "d": pa.date32(),
    "t": pa.timestamp("us"),
    "m": pa.decimal128(12, 2),
}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.fixed_dictionaries(VALUES), max_size=40),
    st.lists(st.integers(0, 40), max_size=3),
    st.integers(1, 7),
    st.integers(2, 4),
)
def test_threads_and_pieces_write_the_same_bytes_in_order(rows, cuts, piece, threads) -> None:
    """The threaded writer's bytes equal the one-thread writer's for every type, whatever the
    tables the result arrives in, the piece size and the thread count: pieces finish in any
    order, and are written in row order."""
    table = pa.table({n: pa.array([r[n] for r in rows], TYPES[n]) for n in TYPES})
    bounds = sorted({0, len(rows), *(min(c, len(rows)) for c in cuts)})
    parts = [table.slice(a, b - a) for a, b in itertools.pairwise(bounds)] or [table]
    one = io.BytesIO()
    assert write_csv(parts, one, True, ",", threads=1) == len(rows)
    before, output.PIECE_ROWS = output.PIECE_ROWS, piece
    try:
        many = io.BytesIO()
        assert write_csv(iter(parts), many, True, ",", threads=threads) == len(rows)
    finally:
        output.PIECE_ROWS = before
    assert many.getvalue() == one.getvalue()
    assert many.getvalue().count(b"\n") >= len(rows) + 1  # the header and every row


def test_a_failing_source_stops_the_writer_and_its_threads() -> None:
    """An error while the result is read (a later task's output) ends the write with that
    error, and leaves no formatting thread running."""
    table = pa.table({"s": ["x"] * 10})

    def tables():
        yield table
        raise OSError("the second result object is gone")

    before = threading.active_count()
    out = io.BytesIO()
    with pytest.raises(OSError, match="second result object"):
        write_csv(tables(), out, True, ",", threads=3)
    assert out.getvalue().startswith(b"s\n")
    assert threading.active_count() == before
