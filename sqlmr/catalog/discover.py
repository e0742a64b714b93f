"""What the catalog leaves out, found from the objects: the format (by extension, checked by
magic bytes when read), the columns (a Parquet footer, or a sample of JSON or text), and the
partition columns (from `key=value/` folders, typed by inference).

Anything the plan cannot represent (nested fields, unsigned 64-bit, timestamps with time …) is
refused with its name.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

import pyarrow as pa
from sqlmr_runtime.spec import HIVE_NULL
from sqlmr_runtime.types import MAX_PRECISION, decimal_type

from sqlmr.catalog.listing import Listed, detect, list_table
from sqlmr.catalog.sampling import read_sample, sample_header, sample_schema
from sqlmr.catalog.tables import AMPLAB_SCHEMAS, Column, Table
from sqlmr.errors import CatalogError, UnsupportedError

_GUESS_DEPTH = 4  # partition folders guessed_formats goes down before it gives up guessing


def guessed_formats(table: Table) -> frozenset[str] | None:
    """The formats a table's objects may be in, guessed without listing it (None: any): the
    declared one; or, for format auto, what the location's name says, or a local folder's first
    objects (going down its first partition folders). Objects without a known extension are
    text (csv), as detect_table reads them."""
    if table.format != "auto":
        return frozenset({table.format})
    fmt, _ = detect(table.location)
    if fmt is not None:
        return frozenset({fmt})
    if "://" in table.location:
        return None
    from sqlmr_runtime.storage import storage_for

    path = table.location
    for _ in range(_GUESS_DEPTH):
        folders, files = storage_for(path).children(path)  # as listing sees them: no hidden
        if files:
            return frozenset(detect(f.url)[0] or "csv" for f in files)
        if not folders:  # nothing (or a glob): listing decides
            return None
        path = folders[0]
    return None


def readers_needed(tables: Iterable[Table]) -> frozenset[str]:
    """The runtime's readers these tables may need, from their guessed_formats (each guessed
    once): "parquet", and "text" (delimited text and JSON Lines, both read by scan_text)."""
    needed: set[str] = set()
    for table in tables:
        formats = guessed_formats(table)
        if formats is None:
            return frozenset({"parquet", "text"})
        if "parquet" in formats:
            needed.add("parquet")
        if formats - {"parquet"}:
            needed.add("text")
    return frozenset(needed)


def detect_table(table: Table, objects: tuple[Listed, ...]) -> tuple[str, str | None]:
    """A table's format and compression: declared, or one shared by every object's name."""
    seen: dict[tuple[str, str | None], str] = {}
    for obj in objects:
        fmt, codec = detect(obj.url)
        if table.format != "auto":
            fmt = table.format
        elif fmt is None:
            fmt = "csv"  # names without a known extension (part-00000) are text, as ever
        if table.compression is not None:
            codec = table.compression
        seen.setdefault((fmt, codec), obj.url)
    if len(seen) > 1:
        (a, url_a), (b, url_b) = list(seen.items())[:2]
        raise CatalogError(
            f"table {table.name} mixes formats: {url_a} is {_kind(a)} but {url_b} is {_kind(b)}; "
            "keep one format per table"
        )
    if not seen:
        return (table.format if table.format != "auto" else "csv"), table.compression
    return next(iter(seen))


def _kind(pair: tuple[str, str | None]) -> str:
    return pair[0] + (f" ({pair[1]})" if pair[1] else "")


def discover(table: Table) -> Table:
    """The table with its format, compression, columns and partition columns all known, from
    its objects (Table.resolved: for a table not resolved yet)."""
    listing = list_table(table.location, table=table.name)
    if not listing.objects:
        raise CatalogError(f"table {table.name} has no data files under {table.location}")
    fmt, codec = detect_table(table, listing.objects)
    if fmt == "parquet" and codec:
        raise CatalogError(f"table {table.name}: Parquet objects are not compressed whole")
    columns = tuple(c for c in table.columns if c.name not in (table.partitions or ()))
    sample = None
    if fmt == "csv" and table.detect:
        from sqlmr.catalog.sniff import sniff

        sample = read_sample(table, codec, listing.objects[0])
        table = sniff(table, sample)
    header_names = table.header_names
    if not columns:
        if fmt == "csv" and table.header and sample is None:
            sample = read_sample(table, codec, listing.objects[0])
        columns = infer_columns(table, fmt, codec, listing.objects[0], listing.footers, sample)
        if fmt == "csv" and table.header and sample:
            header_names = sample_header(table, sample, listing.objects[0])
    partitions = table.partitions
    part_columns = tuple(c for c in table.columns if c.name in (partitions or ()))
    if partitions is None:
        part_columns = infer_partitions(table, listing.objects)
        partitions = tuple(c.name for c in part_columns)
    held = {c.name.lower() for c in columns}
    for c in part_columns:
        if c.name.lower() in held:
            raise CatalogError(
                f"table {table.name}: its files hold a column {c.name}, and its folders "
                f"{c.name}=… name a partition column too; rename one of them"
            )
    return dataclasses.replace(
        table,
        format=fmt,
        compression=codec,
        columns=columns + part_columns,
        partitions=partitions,
        listing=listing,
        header_names=header_names,
    )


def infer_columns(
    table: Table,
    fmt: str,
    codec: str | None,
    first: Listed,
    footers: dict | None = None,
    sample: bytes | None = None,
) -> tuple[Column, ...]:
    """Columns from the first object: its Parquet footer (kept in `footers` for planning), or a
    sample of its rows (`sample`: already read)."""
    if fmt == "parquet":
        pf = read_footer(table, first)
        if footers is not None:
            footers[first.url] = pf
        return columns_of(pf.schema_arrow, f"table {table.name} ({first.url})")
    if table.name.lower() in AMPLAB_SCHEMAS and fmt == "csv":
        return AMPLAB_SCHEMAS[table.name.lower()]
    if sample is None:
        sample = read_sample(table, codec, first)
    return columns_of(sample_schema(table, fmt, sample, first), f"table {table.name} ({first.url})")


def read_footer(table: Table, obj: Listed, footers: dict | None = None):
    """An object's Parquet metadata (one ranged read of its end, unless `footers` holds it from
    earlier in the query); unreadable is a CatalogError."""
    from sqlmr_runtime.errors import RuntimeTaskError
    from sqlmr_runtime.scan_parquet import open_parquet

    if footers and obj.url in footers:
        return footers.pop(obj.url)

    try:
        pf, f = open_parquet(obj.url, obj.size)
    except RuntimeTaskError as e:
        raise CatalogError(f"table {table.name}: {e}") from None
    f.close()
    return pf


# Arrow type → plan type, for types the plan holds or that widen to one without loss.
def _plan_type(t: pa.DataType) -> str | None:
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_int32(t):
        return "int32"
    if pa.types.is_uint8(t) or pa.types.is_uint16(t):
        return "int32"
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return "int64"
    if pa.types.is_floating(t):
        return "float64"
    if pa.types.is_decimal(t):  # exact, as DuckDB reads Parquet's DECIMAL
        return decimal_type(t.precision, t.scale) if t.precision <= MAX_PRECISION else None
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_dictionary(t):
        return _plan_type(t.value_type)
    if pa.types.is_date(t):
        return "date32"
    if pa.types.is_timestamp(t) and t.tz is None:
        return "timestamp"
    return None


def columns_of(schema: pa.Schema, where: str) -> tuple[Column, ...]:
    """Plan columns for an Arrow schema; a field the plan cannot represent is refused by name,
    as are two fields whose names differ only in case (SQL names match without regard to case,
    so no query could tell them apart)."""
    out = []
    seen: dict[str, str] = {}
    for field in schema:
        if field.name.lower() in seen:
            raise UnsupportedError(
                f"{where}: columns {seen[field.name.lower()]!r} and {field.name!r} have the "
                "same name in SQL, which matches names without regard to case; rename one"
            )
        seen[field.name.lower()] = field.name
        typ = _plan_type(field.type)
        if typ is None:
            what = "nested" if pa.types.is_nested(field.type) else "of an unsupported type"
            raise UnsupportedError(
                f"{where}: column {field.name!r} is {what} ({field.type}); sqlmr reads "
                "BOOLEAN, integers, DOUBLE/FLOAT, DECIMAL (up to 38 digits), VARCHAR, DATE "
                "and TIMESTAMP"
            )
        out.append(Column(field.name, typ))
    return tuple(out)


def infer_partitions(table: Table, objects: tuple[Listed, ...]) -> tuple[Column, ...]:
    """Partition columns from the folder names, typed as DuckDB types them (_infer_type) and
    in the order DuckDB gives them: sorted by name, whatever the folders' nesting."""
    keys = [k for k, _ in objects[0].partition]
    for obj in objects:
        if [k for k, _ in obj.partition] != keys:
            raise CatalogError(
                f"table {table.name}: {obj.url} has partition folders "
                f"{[k for k, _ in obj.partition]}, others {keys}; use one layout"
            )
    columns = []
    for i, key in enumerate(keys):
        values = {obj.partition[i][1] for obj in objects} - {HIVE_NULL}
        columns.append(Column(key, _infer_type(values)))
    return tuple(sorted(columns, key=lambda c: c.name))


_BIGINT = re.compile(r"-?(0|[1-9][0-9]*)")  # no sign, leading zero or separator: VARCHAR
_DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")
_TIMESTAMP = re.compile(_DATE.pattern + r"[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?")


def _infer_type(values: set[str]) -> str:
    """BIGINT, DATE or TIMESTAMP when every folder value is written as one, as DuckDB infers
    them: '5' and '-5' are BIGINT, '05', '+5', '1_000' or past 64 bits VARCHAR (so the folder's
    text is kept); '2024-1-5' is a DATE, '2024-01-05 10:00' a TIMESTAMP; anything else, or a
    mix, VARCHAR."""
    from sqlmr_runtime.scan import partition_value  # as each task reads the folder's value

    def every(pattern: re.Pattern[str], parse) -> bool:
        try:
            return bool(values) and all(pattern.fullmatch(v) and parse(v) for v in values)
        except (ValueError, pa.ArrowException):
            return False

    if every(_BIGINT, lambda v: -(1 << 63) <= int(v) < (1 << 63)):
        return "int64"
    if every(_DATE, lambda v: partition_value(v, pa.date32()).is_valid):
        return "date32"
    if every(_TIMESTAMP, lambda v: partition_value(v, pa.timestamp("us")).is_valid):
        return "timestamp"
    return "string"
