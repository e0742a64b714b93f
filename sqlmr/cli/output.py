"""Writing a result stream as a table, RFC 4180 CSV, JSON Lines or Parquet."""

from __future__ import annotations

import datetime
import decimal
import io
import json
import math
from collections.abc import Iterable
from typing import IO

import pyarrow as pa
import pyarrow.csv as pacsv

from sqlmr.errors import UsageError

FORMATS = ("table", "csv", "json", "parquet")
TABLE_ROWS = 1000  # beyond this a terminal table is unreadable; --format csv shows everything


def _json_value(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _write_tables(tables: Iterable[pa.Table], open_writer) -> int:
    """Stream tables into a writer opened with the first table's schema; returns the rows."""
    rows, writer = 0, None
    try:
        for table in tables:
            if writer is None:
                writer = open_writer(table.schema)
            writer.write_table(table)
            rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows


def write_csv(tables: Iterable[pa.Table], out: IO[bytes]) -> int:
    """RFC 4180 CSV with a header row: CRLF line ends, quotes only where a value needs them."""
    options = pacsv.WriteOptions(
        include_header=True, quoting_style="needed", quoting_header="needed", eol="\r\n"
    )
    return _write_tables(tables, lambda schema: pacsv.CSVWriter(out, schema, write_options=options))


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

    return _write_tables(tables, lambda schema: pq.ParquetWriter(out, schema))


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


_EXT = {"csv": "csv", "json": "jsonl", "parquet": "parquet"}


def _encode(tables: Iterable[pa.Table], fmt: str) -> tuple[bytes, int]:
    buf = io.BytesIO()
    if fmt == "csv":
        rows = write_csv(tables, buf)
    elif fmt == "json":
        rows = write_json_lines(tables, buf)
    else:
        rows = write_parquet(tables, buf)
    return buf.getvalue(), rows


def is_folder_target(target: str) -> bool:
    """-o DIR/ (or an existing folder) asks for one part per result object."""
    import os

    return target.endswith("/") or (not target.startswith("s3://") and os.path.isdir(target))


def write_parts(tables: Iterable[pa.Table], fmt: str, target: str) -> tuple[int, int]:
    """Write each result object as its own part (part-00000.csv, …) under a folder or S3 prefix.

    Returns (parts, rows). Only one part is held in memory at a time.
    """
    from sqlmr_runtime.storage import join, storage_for

    if fmt == "table":
        raise UsageError("a folder output needs --format csv, json or parquet")
    parts = rows = 0
    for i, table in enumerate(tables):
        data, n = _encode([table], fmt)
        url = join(target, f"part-{i:05d}.{_EXT[fmt]}")
        storage_for(url).write(url, data)
        parts, rows = parts + 1, rows + n
    return parts, rows


def write_object(tables: Iterable[pa.Table], fmt: str, url: str) -> int:
    """Write the whole result as one object (an s3:// URL); returns the row count."""
    from sqlmr_runtime.storage import storage_for

    data, rows = _encode(tables, fmt)
    storage_for(url).write(url, data)
    return rows
