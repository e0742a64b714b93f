"""Writing a result stream as a table, RFC 4180 CSV, JSON Lines or Parquet."""

from __future__ import annotations

import datetime
import io
import json
import math
from collections.abc import Iterable
from typing import IO

import pyarrow as pa
import pyarrow.csv as pacsv

from .errors import UsageError

FORMATS = ("table", "csv", "json", "parquet")
TABLE_ROWS = 1000  # beyond this a terminal table is unreadable; --format csv shows everything


def _json_value(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


def write_csv(tables: Iterable[pa.Table], out: IO[bytes]) -> int:
    """RFC 4180 CSV with a header row; quotes only where a value needs it."""
    rows, writer = 0, None
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    try:
        for table in tables:
            if writer is None:
                writer = pacsv.CSVWriter(out, table.schema, write_options=options)
            writer.write_table(table)
            rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows


def write_json_lines(tables: Iterable[pa.Table], out: IO[bytes]) -> int:
    """One JSON object per row."""
    rows = 0
    for table in tables:
        for batch in table.to_batches():
            buf = io.StringIO()
            for row in batch.to_pylist():
                buf.write(
                    json.dumps({k: _json_value(v) for k, v in row.items()}, ensure_ascii=False)
                )
                buf.write("\n")
            out.write(buf.getvalue().encode())
        rows += table.num_rows
    return rows


def write_parquet(tables: Iterable[pa.Table], out: IO[bytes] | str) -> int:
    """A Parquet file, written part by part."""
    import pyarrow.parquet as pq

    rows, writer = 0, None
    try:
        for table in tables:
            if writer is None:
                writer = pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
            rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows


def check_format(name: str) -> str:
    if name not in FORMATS:
        raise UsageError(f"unknown format {name!r}; use one of {', '.join(FORMATS)}")
    return name


def format_cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)
