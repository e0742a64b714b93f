"""Reading JSON Lines: byte ranges aligned to newlines as for text (a compressed object in blocks
of decompressed lines), one JSON object per line, parsed with explicit types; fields the plan
does not read are ignored.

JSON has no date type: DATE columns travel as ISO text and are cast after parsing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson

from . import compute as pc
from .compression import DecompressedStream, line_blocks
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


_READ = pajson.ReadOptions(use_threads=False, block_size=1 << 20)

BLOCK_BYTES = 8 << 20
"""Decompressed text parsed at once from a compressed object: one block, cut at a line end."""


def read_json(
    source: dict[str, Any], schema: list, r: dict[str, Any]
) -> tuple[pa.Table | None, int]:
    """One range of a plain JSON Lines object as a table of the source's `read` columns, and
    the bytes read (a compressed object is read by compressed_json_batches)."""
    url = r["url"]
    data, offset = read_range_aligned(storage_for(url), url, r["start"], r["end"])
    if r["start"] == 0:
        refuse_binary(url, bytes(data[:8]))
    parse, target = _options(schema, source["read"], _keys(bytes(data[: 1 << 16])))
    if not bytes(data[: 1 << 16]).strip() and not bytes(data).strip():
        return None, len(data)
    return _parse(data, parse, target, url, offset, "byte offset"), len(data)


def compressed_json_batches(
    source: dict[str, Any], schema: list, r: dict[str, Any], block_bytes: int = BLOCK_BYTES
) -> Iterator[tuple[pa.Table | None, int]]:
    """A compressed JSON Lines object's rows as tables of the source's `read` columns, one per
    block of about `block_bytes` of decompressed text cut at a line end, each with the
    compressed bytes fetched for it: memory holds one block and its rows, never the object."""
    url = r["url"]
    stream = DecompressedStream(storage_for(url), url, source["compression"], r["end"])
    parse, target, fetched = None, None, 0
    for offset, block in line_blocks(stream, block_bytes):
        if parse is None:
            parse, target = _options(schema, source["read"], _keys(block[: 1 << 16]))
        if not block.isspace():  # (strip() would copy the block)
            table = _parse(block, parse, target, url, offset, "decompressed byte offset")
            yield table, stream.compressed_bytes - fetched
            fetched = stream.compressed_bytes
    if stream.compressed_bytes > fetched:  # bytes fetched for blank lines only
        yield None, stream.compressed_bytes - fetched


def _parse(data, parse, target: pa.Schema, url: str, offset: int, where: str) -> pa.Table:
    try:
        table = pajson.read_json(
            pa.BufferReader(pa.py_buffer(data)), read_options=_READ, parse_options=parse
        )
    except pa.ArrowInvalid as e:
        raise _locate_bad_line(bytes(data), url, offset, e, where) from None
    return _cast(table, target, url)


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
        return pc.cast_table(table, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise BadInputError(f"{url}: a field does not hold its declared type: {e}") from None


def _locate_bad_line(
    data: bytes, url: str, offset: int, error: Exception, where: str
) -> BadInputError:
    """The first line that is not a JSON object, by its `where` offset (error path only)."""
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
                f"{url}: the line at {where} {at} is not valid JSON ({e.msg}): "
                f"{line[:80].decode('utf-8', 'replace')!r}"
            )
        if not isinstance(value, dict):
            return BadInputError(f"{url}: the line at {where} {at} is not a JSON object")
    return BadInputError(f"{url}: lines from {where} {offset} do not match the types: {error}")
