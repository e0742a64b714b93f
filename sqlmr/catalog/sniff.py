"""Detecting a delimited text table's delimiter and header from a sample of its first object, as
DuckDB's sniffer does for a path in FROM (`FROM 'data.csv'`, `read_csv('…')`) that does not say.

- The delimiter: of `,` `|` `;` and tab, the one that cuts every sampled line into the same
  number of fields, the most fields (`,` when none does).
- The header: the first line is a header when the lines after it are all text, or when some
  column is typed (a number, a date) in the lines after it and the first line's value does not
  fit that type (`name,age` above `bob,3`). A file of one line has no header.
Column types are then inferred from the sample as for any other text table.
"""

from __future__ import annotations

import csv
import dataclasses
import io

import pyarrow as pa

from sqlmr.catalog.sampling import parse_options
from sqlmr.catalog.tables import Table

DELIMITERS = (",", "|", ";", "\t")
SNIFF_LINES = 64
DETECTED = ("delimiter", "header")
"""The options a table may leave to detection (Table.detect)."""


def sniff(table: Table, sample: bytes) -> Table:
    """The table with the options it leaves to detection found from `sample` (whole lines of
    its first object)."""
    changes: dict[str, object] = {"detect": ()}
    if "delimiter" in table.detect:
        changes["delimiter"] = _delimiter(sample, table.quote)
    if "header" in table.detect:
        changes["header"] = _header(sample, dataclasses.replace(table, **changes))
    return dataclasses.replace(table, **changes)


def _delimiter(sample: bytes, quote: str) -> str:
    lines = [line for line in sample.decode("utf-8", "replace").splitlines() if line.strip()]
    lines = lines[:SNIFF_LINES]
    best, widest = ",", 1
    for delimiter in DELIMITERS:
        if quote:
            rows = csv.reader(lines, delimiter=delimiter, quotechar=quote)
        else:
            rows = csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_NONE)
        try:
            counts = {len(row) for row in rows}
        except csv.Error:
            continue
        if len(counts) == 1 and (fields := counts.pop()) > widest:
            best, widest = delimiter, fields
    return best


def _header(sample: bytes, table: Table) -> bool:
    import pyarrow.csv as pacsv

    parse = parse_options(table)
    try:
        every = _read(pacsv, sample, parse, skip=0)
        rest = _read(pacsv, sample, parse, skip=1)
    except pa.ArrowInvalid:
        return False  # the column inference reports what does not parse
    if rest.num_rows == 0 or rest.num_columns != every.num_columns:
        return False
    typed = [not _text(t) for t in rest.schema.types]
    if not any(typed):
        return True
    return any(
        t and before != after
        for t, before, after in zip(typed, every.schema.types, rest.schema.types, strict=True)
    )


def _read(pacsv, sample: bytes, parse, skip: int) -> pa.Table:
    from sqlmr_runtime.scan_text import convert_options  # as the tasks will read it

    read = pacsv.ReadOptions(autogenerate_column_names=True, skip_rows=skip)
    return pacsv.read_csv(io.BytesIO(sample), read, parse, convert_options(inferring=True))


def _text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)
