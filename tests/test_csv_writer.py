"""The CLI's vectorized CSV/TSV writer against a per-value reference of the same rules: quotes
only where a value needs them (a delimiter, a quote, a line break, or the empty string), NULL as
an empty field, LF line ends; whatever the chunks a result arrives in."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

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
