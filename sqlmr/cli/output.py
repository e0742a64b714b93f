"""Writing a result stream as a table, CSV, TSV, JSON Lines or Parquet, and choosing the format."""

from __future__ import annotations

import collections
import datetime
import decimal
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

import numpy as np
import pyarrow as pa
from sqlmr_runtime import compute as pc
from sqlmr_runtime.date_functions import temporal_text
from sqlmr_runtime.decimals import decimal_text

from sqlmr.errors import UsageError

FORMATS = ("table", "csv", "tsv", "json", "parquet")
# The format an output file's extension asks for.
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".parquet": "parquet",
    ".txt": "table",
}
TABLE_ROWS = 1000  # beyond this a terminal table is unreadable; --format csv shows everything


# DuckDB's JSON spells the doubles JSON has no numbers for as JavaScript does, unquoted.
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
# The escapes DuckDB's JSON writer uses: a backslash, a quote, five short forms, and \u00XX
# (upper-case hex) for the other control characters; everything else (/, DEL, U+2028, any
# non-ASCII character) is written as it is.
_SHORT_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_ESCAPES = {chr(c): _SHORT_ESCAPES.get(chr(c), f"\\u{c:04X}") for c in range(0x20)}
_ESCAPES.update(_SHORT_ESCAPES)
_ESCAPED = re.compile('[\\x00-\\x1f"\\\\]')


def _json_string(text: str) -> str:
    """A string as a JSON string, escaped as DuckDB escapes it."""
    return '"' + _ESCAPED.sub(lambda m: _ESCAPES[m.group()], text) + '"'


def _json_float(value: float) -> str:
    """A double as JSON text: the shortest round-trip digits, NaN and ±Infinity bare."""
    text = repr(value)
    return _NON_FINITE.get(text, text)


def _json_value(value: object) -> str:
    """One value as JSON text, for the types the vectorized writer leaves to Python (timestamps,
    times, nested values): NULL as null, decimals with their digits and scale (never through a
    float), timestamps and dates in ISO form as strings."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, datetime.datetime):
        return _json_string(value.isoformat(sep=" "))
    if isinstance(value, dict):
        items = (f"{_json_string(str(k))}:{_json_value(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json_value(v) for v in value) + "]"
    if isinstance(value, datetime.date | datetime.time):
        return _json_string(value.isoformat())
    return _json_string(str(value))


def with_names(tables: Iterable[pa.Table], names: list[str]) -> Iterator[pa.Table]:
    """The tables with their columns renamed, by position."""
    for table in tables:
        yield table.rename_columns(names)


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


def _quoted(text: str, delimiter: str) -> str:
    if text == "" or any(ch in text for ch in (delimiter, '"', "\n", "\r")):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv_text(column: pa.ChunkedArray, delimiter: str) -> pa.ChunkedArray:
    """A column as CSV fields: strings quoted only where needed (a delimiter, a quote, a line
    break, or the empty string, which NULL's empty field must not be mistaken for); dates,
    timestamps and decimals as DuckDB writes them (the runtime's CAST AS VARCHAR); other types
    as pyarrow spells them (booleans true/false, shortest round-trip doubles)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        needs = pc.equal(column, "")
        if _has_special(column, delimiter):  # else no value can need quotes but the empty ones
            pattern = "[" + re.escape(delimiter) + '"\r\n]'
            needs = pc.or_(pc.match_substring_regex(column, pattern), needs)
        if pc.any(needs).as_py():  # most columns need no quotes at all: skip the copy
            quoted = pc.replace_substring(column, '"', '""')
            quoted = pc.binary_join_element_wise('"', quoted, '"', "")
            column = pc.if_else(needs, quoted, column)
    elif pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        column = temporal_text(column)  # DuckDB's text: 12:00:00 and 12:00:00.5, not .000000
    elif pa.types.is_decimal(column.type):
        column = decimal_text(column)  # the scale kept, never 1.0E-7: 12.50, 0.00000010
    else:
        column = pc.cast(column, pa.string())
    return pc.fill_null(column, "")


def _has_special(column: pa.ChunkedArray, delimiter: str) -> bool:
    """Whether the column's text holds a delimiter, a quote or a line break anywhere: one byte
    search of each chunk's data (5 ms for 3 M values), where the per-value regex cost 0.11 s.
    Bytes hidden under a NULL may answer yes, which only costs the regex."""
    special = (delimiter.encode(), b'"', b"\n", b"\r")
    for chunk in column.chunks:
        text = bytes(_concatenated(chunk))
        if any(s in text for s in special):
            return True
    return False


def _offsets(lines: pa.Array) -> np.ndarray:
    width = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    return np.frombuffer(lines.buffers()[1], dtype=width)[lines.offset :][: len(lines) + 1]


def _concatenated(lines: pa.Array) -> memoryview:
    """The bytes of a string array with no NULLs, back to back, without a copy."""
    offsets = _offsets(lines)
    data = lines.buffers()[2]
    if data is None or len(lines) == 0:
        return memoryview(b"")
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


def _line_ends(joined: pa.Array) -> memoryview:
    """The bytes of rows joined with a trailing delimiter (fields + [""]), each row's last
    byte turned into its line end in place: one join instead of a second one that appended
    "\n" to every row (a copy of the whole text; 50 of 95 ms for 3 M rows of two columns)."""
    data = joined.buffers()[2]
    if data is None or len(joined) == 0:
        return memoryview(b"")
    offsets = _offsets(joined)
    if data.is_mutable:  # the join's own new buffer: nobody else holds it
        text = np.frombuffer(data, dtype=np.uint8)
    else:
        text = np.frombuffer(data, dtype=np.uint8).copy()
    text[offsets[1:] - 1] = ord("\n")
    return memoryview(text)[int(offsets[0]) : int(offsets[-1])]


# Rows formatted as one piece: small enough that a 3 M-row result keeps two threads busy and
# a piece's text (~25 MB for Amplab's widest rows) stays small; big enough that the kernels'
# per-call cost is nothing.
PIECE_ROWS = 1 << 18


def _pieces(table: pa.Table) -> Iterator[pa.Table]:
    """A table cut into slices of at most PIECE_ROWS rows (no copy), in order."""
    for start in range(0, table.num_rows, PIECE_ROWS):
        yield table.slice(start, PIECE_ROWS)


def _csv_rows(table: pa.Table, delimiter: str) -> list[memoryview]:
    """A table's rows as CSV text, one buffer per chunk. Safe to call on several threads at
    once: pyarrow's kernels release the GIL, which is what makes formatting scale."""
    fields = [_csv_text(c, delimiter) for c in table.columns]
    # Every row ends with the delimiter before the empty last field: _line_ends ends it.
    lines = pc.binary_join_element_wise(*fields, "", delimiter)
    return [_line_ends(chunk) for chunk in lines.chunks]


def format_threads() -> int:
    """How many threads format CSV: the CPUs this process may run on, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def write_csv(
    tables: Iterable[pa.Table],
    out: IO[bytes],
    header: bool = True,
    delimiter: str = ",",
    threads: int | None = None,
) -> int:
    """CSV as DuckDB and Python's csv module write it: LF line ends, quotes only where a value
    needs them, NULL as an empty field, booleans as true/false; TSV with delimiter "\\t"."""

    def head(table: pa.Table) -> None:
        if header:
            names = [_quoted(n, delimiter) for n in table.column_names]
            out.write((delimiter.join(names) + "\n").encode())

    return _write_pieces(tables, out, lambda piece: _csv_rows(piece, delimiter), head, threads)


def _write_pieces(
    tables: Iterable[pa.Table],
    out: IO[bytes],
    format_piece: Callable[[pa.Table], list[memoryview]],
    head: Callable[[pa.Table], None] | None = None,
    threads: int | None = None,
) -> int:
    """Write tables as text, returning the rows: `head` writes what comes before the first row
    (given the first table), `format_piece` turns a piece of rows into bytes. Vectorized: the
    rows are cut into pieces that `threads` threads format with pyarrow kernels while this one
    writes the finished pieces in order, so the bytes are the same whatever the thread count.
    At most two pieces per thread wait, which bounds the memory; a table is written out before
    the next one is asked for, so a result streamed while its job runs shows each part's rows
    at once."""
    threads = format_threads() if threads is None else threads
    rows, started = 0, False
    pool = ThreadPoolExecutor(threads, "format") if threads > 1 else None
    waiting: collections.deque[Future[list[memoryview]]] = collections.deque()
    try:
        for table in tables:
            if not started and head is not None:
                head(table)
            started = True
            rows += table.num_rows
            for piece in _pieces(table):
                if pool is None:
                    _write_all(out, format_piece(piece))
                    continue
                waiting.append(pool.submit(format_piece, piece))
                while len(waiting) > 2 * threads or (waiting and waiting[0].done()):
                    _write_all(out, waiting.popleft().result())
            while waiting:
                _write_all(out, waiting.popleft().result())
    finally:
        for future in waiting:
            future.cancel()
        if pool is not None:
            pool.shutdown(wait=True)
    return rows


def _write_all(out: IO[bytes], texts: list[memoryview]) -> None:
    for text in texts:
        out.write(text)


def write_json_lines(tables: Iterable[pa.Table], out: IO[bytes], threads: int | None = None) -> int:
    """JSON Lines as DuckDB's COPY ... (FORMAT json) writes them: one object per row, its keys
    the columns in order, no spaces; decimals with their digits and scale (12.50), NaN and
    ±Infinity bare, NULL as null. Vectorized and threaded as CSV is (_write_pieces)."""
    return _write_pieces(tables, out, _json_rows, threads=threads)


def _json_rows(table: pa.Table) -> list[memoryview]:
    """A table's rows as JSON Lines, one buffer per chunk; the columns are taken by position,
    so no column is lost whatever their names."""
    if table.num_columns == 0:
        return [memoryview(b"{}\n" * table.num_rows)]
    fields: list[object] = []
    for i, (name, column) in enumerate(zip(table.column_names, table.columns, strict=True)):
        fields += [("{" if i == 0 else ",") + _json_string(name) + ":", _json_text(column)]
    lines = pc.binary_join_element_wise(*fields, "}\n", "")
    return [_concatenated(chunk) for chunk in lines.chunks]


def _json_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as JSON values, NULL as null: strings, dates, integers, booleans and decimals
    with pyarrow kernels; doubles, timestamps, times and nested values value by value."""
    kind = column.type
    if pa.types.is_decimal(kind):
        text = decimal_text(column)  # exact, never through a double: 99...99.99, 12.50
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        text = pc.cast(column, pa.string())
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pa.chunked_array([_json_strings(c) for c in column.chunks], pa.string())
    elif pa.types.is_date(kind):
        text = pc.binary_join_element_wise('"', pc.cast(column, pa.string()), '"', "")
    elif pa.types.is_floating(kind):
        texts = [None if v is None else _json_float(v) for v in column.to_pylist()]
        text = pa.chunked_array([pa.array(texts, pa.string())])
    else:
        texts = [_json_value(v) for v in column.to_pylist()]
        text = pa.chunked_array([pa.array(texts, pa.string())])
    return pc.fill_null(text, "null")


def _json_strings(chunk: pa.Array) -> pa.Array:
    """Strings as JSON strings: quoted, and escaped only for the characters some value holds
    (one byte search of the chunk finds them; most text has none)."""
    chunk = chunk.cast(pa.string()) if pa.types.is_large_string(chunk.type) else chunk
    data = np.frombuffer(_concatenated(chunk), dtype=np.uint8)
    special = np.unique(data[(data < 0x20) | (data == ord('"')) | (data == ord("\\"))])
    # The backslash first: the escapes added for the others must not be escaped again.
    for byte in sorted(special.tolist(), key=lambda b: b != ord("\\")):
        chunk = pc.replace_substring(chunk, chr(byte), _ESCAPES[chr(byte)])
    return pc.binary_join_element_wise('"', chunk, '"', "")


def write_parquet(tables: Iterable[pa.Table], out: IO[bytes] | str) -> int:
    """A Parquet file, written part by part."""
    import pyarrow.parquet as pq

    return _write_tables(tables, lambda schema: pq.ParquetWriter(out, schema))


def check_format(name: str) -> str:
    """The name, if it is a known output format."""
    if name not in FORMATS:
        raise UsageError(f"unknown format {name!r}; use one of {', '.join(FORMATS)}")
    return name


def choose_format(requested: str | None, output: str | None, terminal: bool) -> str:
    """The output format: as requested, else from -o's extension, else a table on a terminal
    and CSV in a pipe. An -o extension that names no format is refused, never guessed."""
    if requested is not None:
        return check_format(requested)
    if output is None:
        return "table" if terminal else "csv"
    if is_folder_target(output):
        return "parquet"
    ext = os.path.splitext(output.rstrip("/"))[1].lower()
    if ext not in EXTENSIONS:
        known = ", ".join(EXTENSIONS)
        raise UsageError(
            f"cannot tell the format of {output} from its extension {ext or '(none)'}; "
            f"use one of {known}, or give --format"
        )
    return EXTENSIONS[ext]


def format_cell(value: object) -> str:
    """One value as a table cell: NULL, true/false as in CSV and JSON, dates in ISO form."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")  # DuckDB's TIMESTAMP text: 1998-09-02 00:00:00
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")  # DuckDB keeps the scale: 12.50, 0.0000001 (never 1E-7)
    return str(value)


PART_EXTENSIONS = {"csv": "csv", "tsv": "tsv", "json": "jsonl", "parquet": "parquet"}


def write_stream(tables: Iterable[pa.Table], fmt: str, out: IO[bytes], header: bool = True) -> int:
    """Write the result in a byte format (csv, tsv, json, parquet); returns the rows."""
    if fmt in ("csv", "tsv"):
        return write_csv(tables, out, header, "," if fmt == "csv" else "\t")
    if fmt == "json":
        return write_json_lines(tables, out)
    return write_parquet(tables, out)


def encode(tables: Iterable[pa.Table], fmt: str, header: bool = True) -> tuple[bytes, int]:
    """The whole result in a byte format, and its rows (an object written in one piece)."""
    buf = io.BytesIO()
    rows = write_stream(tables, fmt, buf, header)
    return buf.getvalue(), rows


def is_folder_target(target: str) -> bool:
    """-o DIR/ (or an existing folder) asks for one part per result object."""
    return target.endswith("/") or (not target.startswith("s3://") and os.path.isdir(target))
