"""Reading one split of a table: one reader per format behind one function, plus the columns
that come from Hive-style partition folders (`key=value/`), which every range carries.

A range is the record spec.RANGE_RECORDS names for the scan's format, checked with the plan: a
byte_range {url, start, end} for text and JSON, a row_group_range (with `row_groups`, `size`
and `footer`) for Parquet; either may carry `partition`, its object's folder values as text.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from . import compute as pc
from . import spec
from .errors import BadInputError, PlanValidationError
from .operators import expression_columns
from .types import arrow_type


def _lazy(module: str, name: str) -> Callable[..., Any]:
    """A format's reader, loaded with its module on first use: a task needs one format, and the
    runtime's import none (pyarrow.csv, .parquet and .json load with their readers; the local
    driver loads the ones its tables may need before its workers fork, sqlmr.api.load_readers)."""

    def reader(*args: Any) -> Any:
        return getattr(importlib.import_module(f"{__package__}.{module}"), name)(*args)

    return reader


READERS = {
    "csv": _lazy("scan_text", "read_text"),
    "parquet": _lazy("scan_parquet", "read_parquet"),
    "json": _lazy("scan_json", "read_json"),
}
STREAMERS = {
    "csv": _lazy("scan_text", "compressed_batches"),
    "json": _lazy("scan_json", "compressed_json_batches"),
}
"""The readers of a compressed object of a format (one unsplittable range), piece by piece."""
GROUP_READERS = {"parquet": _lazy("scan_parquet", "parquet_groups")}
"""The readers of a range of a format by its row groups, one piece per group (group_split)."""
# Readers that apply a filter as they read (late materialization), by format.
FILTERING_READERS = {
    "parquet": _lazy("scan_parquet", "read_parquet_where"),
    "csv": _lazy("scan_text", "read_text_where"),
}
FORMATS = spec.FORMATS
CODECS = spec.TEXT_CODECS

__all__ = [
    "FORMATS",
    "READERS",
    "empty_table",
    "group_split",
    "in_groups",
    "pushed_filter",
    "read_split",
    "read_where",
    "stream_split",
    "streams",
]


def read_split(source: dict[str, Any], ranges: list[dict[str, Any]]) -> tuple[pa.Table, int]:
    """Read every range of a task into one table of the source's `read` columns.

    Returns the table and the number of bytes read.
    """
    tables, nbytes = [], 0
    for table, n in _pieces(source, ranges):
        nbytes += n
        if table.num_rows:
            tables.append(table)
    return _joined(source, tables), nbytes


def pushed_filter(source: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The stage's first operator when the scan's reader can apply it while reading (read_where):
    a filter over columns of the files (not of partition folders) of a format with such a
    reader (Parquet reads the filter's columns first, text checks UTF-8 after it)."""
    if source.get("type") != "scan" or source["format"] not in FILTERING_READERS:
        return None
    if not ops or ops[0]["op"] != "filter":
        return None
    used = expression_columns(ops[0]["predicate"])
    parts = {name for name, _ in _partition_schema(source)}
    if not used or used & parts or not used <= set(source["read"]):
        return None
    return ops[0]


def read_where(
    source: dict[str, Any], ranges: list[dict[str, Any]], predicate: dict[str, Any]
) -> tuple[pa.Table, int, int]:
    """The rows of a task's ranges that satisfy `predicate` (see pushed_filter), with the rows
    and the bytes read (see FILTERING_READERS)."""
    reader = FILTERING_READERS[source["format"]]
    own, schema, parts = _file_source(source)
    tables, rows, nbytes = [], 0, 0
    for r in ranges:
        table, n, b = reader(own, schema, r, predicate)
        rows += n
        nbytes += b
        if table is not None and table.num_rows:
            tables.append(_with_partitions(table, parts, r, source["read"]) if parts else table)
    return _joined(source, tables), rows, nbytes


def _joined(source: dict[str, Any], tables: list[pa.Table]) -> pa.Table:
    """A task's tables read from its ranges as one (the source's empty table when none)."""
    if not tables:
        return empty_table(source)
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _file_source(source: dict[str, Any]) -> tuple[dict[str, Any], list, list]:
    """What a reader reads from the objects themselves: the source without its partition
    columns (their values come from folder names), the file schema, and the partition schema."""
    parts = _partition_schema(source)
    part_names = {n for n, _ in parts}
    own = {**source, "read": [n for n in source["read"] if n not in part_names]}
    return own, _schema(source), parts


def streams(source: dict[str, Any]) -> bool:
    """Whether a scan's objects are read in batches (compressed text or JSON: a whole object
    per range, which may be far larger than a task's memory)."""
    return source["format"] in STREAMERS and bool(source.get("compression"))


def stream_split(source: dict[str, Any], ranges: list[dict[str, Any]]) -> Iterator[tuple]:
    """The ranges of a task as a sequence of (table, bytes read) pieces: one per range, or per
    batch of a compressed object (see streams)."""
    return _pieces(source, ranges)


def in_groups(source: dict[str, Any]) -> bool:
    """Whether a scan's ranges can be read a row group at a time (group_split)."""
    return source.get("type") == "scan" and source["format"] in GROUP_READERS


def group_split(source: dict[str, Any], ranges: list[dict[str, Any]]) -> Iterator[tuple]:
    """The ranges of a task as a sequence of (table, bytes read) pieces, one per row group."""
    return _pieces(source, ranges, GROUP_READERS[source["format"]])


def empty_table(source: dict[str, Any]) -> pa.Table:
    """No rows, with the source's `read` columns."""
    types = dict(_schema(source) + _partition_schema(source))
    return pa.schema([(n, types[n]) for n in source["read"]]).empty_table()


def _schema(source: dict[str, Any]) -> list:
    return [(c["name"], arrow_type(c["type"])) for c in source["columns"]]


def _partition_schema(source: dict[str, Any]) -> list:
    return [(p["name"], arrow_type(p["type"])) for p in source.get("partitions", [])]


def _pieces(source: dict[str, Any], ranges: list[dict[str, Any]], by_piece=None) -> Iterator:
    """(table, bytes read) pieces of the ranges: one per range, or as many per range as
    `by_piece` (a reader of a range's pieces) yields; by batch for a compressed object."""
    reader = READERS.get(source["format"])
    if reader is None:
        raise PlanValidationError(f"unknown input format {source['format']!r}")
    own, schema, parts = _file_source(source)
    wanted = source["read"]
    if by_piece is None and streams(source):
        by_piece = STREAMERS[source["format"]]
    for r in ranges:
        if by_piece is not None:
            pieces = by_piece(own, schema, r)
        else:
            pieces = [reader(own, schema, r)]
        for table, n in pieces:
            if table is None or not table.num_rows:
                yield empty_table(source), n
                continue
            yield (_with_partitions(table, parts, r, wanted) if parts else table), n


def partition_value(text: str | None, typ: pa.DataType) -> pa.Scalar:
    """A partition folder's value as a scalar of its column's type (Hive's NULL folder name is
    NULL): the planner prunes folders by it and a task fills the column with it, so both read a
    folder alike. Raises pa.ArrowInvalid or pa.ArrowNotImplementedError where it does not parse."""
    if text == spec.HIVE_NULL:
        text = None
    elif pa.types.is_date(typ) or pa.types.is_timestamp(typ):
        # DuckDB reads 2024-1-5 as a DATE; Arrow's cast wants two-digit months and days.
        text = _LOOSE_DATE.sub(lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}", text)
    return pc.cast(pa.array([text], pa.string()), typ)[0]


_LOOSE_DATE = re.compile(r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?=$|[ T])")


def _with_partitions(table: pa.Table, parts: list, r: dict[str, Any], wanted: list[str]):
    # Folder keys match partition names without regard to case (Year=2024/ is `year`), as
    # the planner prunes them.
    values = {key.lower(): text for key, text in r.get("partition", {}).items()}
    for name, typ in parts:
        if name not in wanted:
            continue
        text = values.get(name.lower())
        try:
            value = partition_value(text, typ)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise BadInputError(
                f"{r['url']}: partition folder {name}={text} does not hold a {typ}"
            ) from None
        table = table.append_column(name, pa.repeat(value, table.num_rows))
    return table.select(wanted)
