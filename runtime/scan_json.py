"""Reading JSON Lines: byte ranges aligned to newlines as for text (or a compressed object whole),
one JSON object per line, parsed with explicit types; fields the plan does not read are ignored.

JSON has no date type: DATE columns travel as ISO text and are cast after parsing.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson

from .compression import DecompressedStream
from .errors import BadInputError
from .scan_text import read_range_aligned, refuse_binary
from .storage import storage_for


def _options(
    schema: list, wanted: list[str], keys: dict[str, str]
) -> tuple[pajson.ParseOptions, pa.Schema]:
    """Parse options for the `wanted` fields (spelled as in the data: Hive's JSON SerDe matches
    names case-insensitively) and the schema they are cast to."""
    types = dict(schema)
    target = pa.schema([(n, types[n]) for n in wanted])
    as_parsed = pa.schema(
        [
            (keys.get(n.lower(), n), pa.string() if pa.types.is_date(t) else t)
            for n, t in zip(wanted, target.types, strict=True)
        ]
    )
    options = pajson.ParseOptions(explicit_schema=as_parsed, unexpected_field_behavior="ignore")
    return options, target


def read_json(
    source: dict[str, Any], schema: list, r: dict[str, Any]
) -> tuple[pa.Table | None, int]:
    """One range of a JSON Lines object as a table of the source's `read` columns, and the
    bytes read."""
    url = r["url"]
    read = pajson.ReadOptions(use_threads=False, block_size=1 << 20)
    if source.get("compression"):
        stream = DecompressedStream(storage_for(url), url, source["compression"], r["end"])
        parse, target = _options(schema, source["read"], _keys(stream.peek_line()))
        try:
            table = pajson.open_json(stream, read_options=read, parse_options=parse).read_all()
        except pa.ArrowInvalid as e:
            if "Empty JSON file" in str(e):
                return None, stream.compressed_bytes
            raise BadInputError(
                f"{url}: a line is not valid JSON of the table's types: {e}"
            ) from None
        return _cast(table, target, url), stream.compressed_bytes
    data, offset = read_range_aligned(storage_for(url), url, r["start"], r["end"])
    if r["start"] == 0:
        refuse_binary(url, bytes(data[:8]))
    parse, target = _options(schema, source["read"], _keys(bytes(data[: 1 << 16])))
    if not bytes(data[: 1 << 16]).strip() and not bytes(data).strip():
        return None, len(data)
    try:
        table = pajson.read_json(
            pa.BufferReader(pa.py_buffer(data)), read_options=read, parse_options=parse
        )
    except pa.ArrowInvalid as e:
        raise _locate_bad_line(bytes(data), url, offset, e) from None
    return _cast(table, target, url), len(data)


def _keys(head: bytes) -> dict[str, str]:
    """The first line's keys by their lowercase spelling ({} when it does not parse)."""
    line = head.split(b"\n", 1)[0]
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return {k.lower(): k for k in value} if isinstance(value, dict) else {}


def _cast(table: pa.Table, target: pa.Schema, url: str) -> pa.Table:
    table = table.rename_columns(target.names)
    if table.schema == target:
        return table
    try:
        return table.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise BadInputError(f"{url}: a field does not hold its declared type: {e}") from None


def _locate_bad_line(data: bytes, url: str, offset: int, error: Exception) -> BadInputError:
    """The first line that is not a JSON object, by byte offset (error path only)."""
    pos = 0
    for line in data.split(b"\n"):
        at = offset + pos
        pos += len(line) + 1
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as e:
            return BadInputError(
                f"{url}: the line at byte offset {at} is not valid JSON ({e.msg}): "
                f"{line[:80].decode('utf-8', 'replace')!r}"
            )
        if not isinstance(value, dict):
            return BadInputError(f"{url}: the line at byte offset {at} is not a JSON object")
    return BadInputError(f"{url}: lines from byte offset {offset} do not match the types: {error}")
