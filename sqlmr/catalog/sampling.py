"""Inferring a text or JSON Lines table's columns from a sample of its first object: its names
(a header, made distinct; DuckDB's column0, column1, … without one) and its types, as DuckDB's
sniffer would mostly give them."""

from __future__ import annotations

import io
import re

import pyarrow as pa

from sqlmr.catalog.listing import Listed
from sqlmr.catalog.tables import Table, distinct_names
from sqlmr.errors import CatalogError

SAMPLE_BYTES = 1 << 20


def read_sample(table: Table, codec: str | None, first: Listed) -> bytes:
    """Up to SAMPLE_BYTES of the first object's (decompressed) data, in whole lines."""
    from sqlmr_runtime.compression import DecompressedStream
    from sqlmr_runtime.errors import RuntimeTaskError
    from sqlmr_runtime.scan_text import refuse_binary
    from sqlmr_runtime.storage import storage_for

    storage = storage_for(first.url)
    try:
        if codec:
            data = DecompressedStream(storage, first.url, codec, first.size).read(SAMPLE_BYTES)
        else:
            data = storage.read_range(first.url, 0, SAMPLE_BYTES)
            # Refused as a task refuses it, before a parser reports the bytes as bad rows.
            refuse_binary(first.url, bytes(data[:8]))
    except RuntimeTaskError as e:
        raise CatalogError(f"table {table.name}: {e}") from None
    cut = data.rfind(b"\n")
    return data[: cut + 1] if cut > 0 and len(data) >= SAMPLE_BYTES else data


def sample_schema(table: Table, fmt: str, data: bytes, first: Listed) -> pa.Schema:
    """The columns of a sample's text or JSON Lines, named and typed as DuckDB would read them."""
    try:
        if fmt == "json":
            return _json_schema(table, first.url, data)
        types = _csv_types(table, data)
        names = [f"column{i}" for i in range(len(types))]  # DuckDB's, without a header
        if table.header:
            header = sample_header(table, data, first)
            # An empty name is column<i>, as DuckDB names it.
            names = distinct_names([n or f"column{i}" for i, n in enumerate(header)])
        if len(names) != len(types):
            raise pa.ArrowInvalid(f"{len(names)} names in the header, {len(types)} fields")
        return pa.schema(list(zip(names, types, strict=True)))
    except pa.ArrowInvalid as e:
        raise CatalogError(
            f"table {table.name}: cannot infer the columns from {first.url}: {e}"
        ) from None


_LEADING_ZERO = re.compile(r"[+-]?0[0-9]")


def parse_options(table: Table):
    """How a text table's lines are cut into fields (its delimiter, quote and newlines)."""
    import pyarrow.csv as pacsv

    return pacsv.ParseOptions(
        delimiter=table.delimiter,
        quote_char=table.quote or False,
        newlines_in_values=table.newlines_in_values,
    )


def _csv_types(table: Table, data: bytes) -> list[pa.DataType]:
    """The column types of a text sample, as DuckDB's sniffer would mostly have them: NULL only
    as an empty field (as the tasks read it: NA is text), BOOLEAN as true/t/yes, false/f/no, a
    number written with a leading zero (a code: 007) text, and a column of only NULLs text."""
    import pyarrow.csv as pacsv
    from sqlmr_runtime.scan_text import convert_options  # as the tasks will read it

    read = pacsv.ReadOptions(autogenerate_column_names=True, skip_rows=int(table.header))
    parse = parse_options(table)

    def sample(as_text: list[str]) -> pa.Table:
        convert = convert_options({n: pa.string() for n in as_text}, inferring=True)
        return pacsv.read_csv(io.BytesIO(data), read, parse, convert)

    typed = sample([])
    types = [pa.string() if pa.types.is_null(t) else t for t in typed.schema.types]
    numbers = [
        n
        for n, t in zip(typed.column_names, types, strict=True)
        if pa.types.is_integer(t) or pa.types.is_floating(t)
    ]
    if numbers:
        text = sample(numbers)
        for i, name in enumerate(typed.column_names):
            if name in numbers and any(
                v is not None and _LEADING_ZERO.match(v) for v in text.column(name).to_pylist()
            ):
                types[i] = pa.string()
    return types


def sample_header(table: Table, sample: bytes, first: Listed) -> tuple[str, ...]:
    """The names on the first line of a sample, as the text parser reads them."""
    from sqlmr_runtime.scan_text import header_names

    return tuple(header_names(sample, table.delimiter, table.quote, first.url))


def _json_schema(table: Table, url: str, data: bytes) -> pa.Schema:
    """The schema of a JSON Lines sample, refused as every task refuses its range when it is
    not one object per line (a pretty-printed document): the same error at any split size,
    and before any task runs."""
    import pyarrow.json as pajson
    from sqlmr_runtime.errors import BadInputError
    from sqlmr_runtime.scan_json import check_json_lines, locate_bad_line

    try:
        try:
            sample = pajson.read_json(io.BytesIO(data))
        except pa.ArrowInvalid:
            found = locate_bad_line(data, url, 0, "byte offset")
            if found is None:
                raise
            raise found from None
        check_json_lines(data, sample.num_rows, url, 0, "byte offset")
    except BadInputError as e:
        raise CatalogError(f"table {table.name}: {e}") from None
    return _dates(sample, data)


def _dates(sample: pa.Table, data: bytes) -> pa.Schema:
    """A JSON sample's schema with its dates told from its timestamps: Arrow infers
    "2024-01-02" and "2024-01-02 03:04:05" alike as timestamp[s]; a column whose every value is
    a date alone is a DATE (as DuckDB reads it), any other a TIMESTAMP."""
    import pyarrow.json as pajson

    schema = sample.schema
    seconds = [f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.unit == "s"]
    if not seconds:
        return schema
    as_text = pa.schema([(f.name, pa.string() if f.name in seconds else f.type) for f in schema])
    text = pajson.read_json(
        io.BytesIO(data), parse_options=pajson.ParseOptions(explicit_schema=as_text)
    )
    dates = {
        name
        for name in seconds
        if all(v is None or _DAY.fullmatch(v) for v in text.column(name).to_pylist())
    }
    return pa.schema([(f.name, pa.date32() if f.name in dates else f.type) for f in schema])


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
