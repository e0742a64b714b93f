"""Reading JSON Lines: byte ranges aligned to newlines as for text (a compressed object in blocks
of decompressed lines), one JSON object per line, parsed with explicit types; fields the plan
does not read are ignored.

JSON has no date type: DATE columns travel as ISO text and are cast after parsing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from . import compute as pc
from .compression import DecompressedStream, line_blocks
from .errors import BadInputError
from .scan_text import read_range_aligned, refuse_binary
from .storage import storage_for


def _target(schema: list, wanted: list[str]) -> pa.Schema:
    """The `wanted` columns' types, as the plan reads them."""
    types = dict(schema)
    return pa.schema([(n, types[n]) for n in wanted])


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
    if not bytes(data[: 1 << 16]).strip() and not bytes(data).strip():
        return None, len(data)
    target = _target(schema, source["read"])
    return _parse(data, target, url, offset, "byte offset"), len(data)


def compressed_json_batches(
    source: dict[str, Any], schema: list, r: dict[str, Any], block_bytes: int = BLOCK_BYTES
) -> Iterator[tuple[pa.Table | None, int]]:
    """A compressed JSON Lines object's rows as tables of the source's `read` columns, one per
    block of about `block_bytes` of decompressed text cut at a line end, each with the
    compressed bytes fetched for it: memory holds one block and its rows, never the object."""
    url = r["url"]
    stream = DecompressedStream(storage_for(url), url, source["compression"], r["end"])
    target, fetched = _target(schema, source["read"]), 0
    for offset, block in line_blocks(stream, block_bytes):
        if not block.isspace():  # (strip() would copy the block)
            table = _parse(block, target, url, offset, "decompressed byte offset")
            yield table, stream.compressed_bytes - fetched
            fetched = stream.compressed_bytes
    if stream.compressed_bytes > fetched:  # bytes fetched for blank lines only
        yield None, stream.compressed_bytes - fetched


def _parse(data, target: pa.Schema, url: str, offset: int, where: str) -> pa.Table:
    """The rows of `data` as `target`'s columns, their keys matched case-insensitively.

    Each line's keys are matched to the columns as SQL names are, without regard to case (as
    Hive's JSON SerDe does), whatever spelling each line uses. A column takes the value of the
    key spelled exactly as the column when that value is not null, else that of the one other
    spelling holding a value; a line where two other spellings of one column both hold values
    (`"NAME"` and `"Name"` for `name`) is refused, naming the object and the line, as no value
    is the right one. A key written with \\u escapes matches only its exact spelling.

    The data must be JSON Lines, one object per line: check_json_lines refuses anything else,
    so that the rows never depend on where ranges are cut."""
    table = _read_keys(data, target.names, target.types, url, offset, where)
    check_json_lines(data, table.num_rows, url, offset, where)
    others = _other_spellings(data, table)
    if others:
        table = _merge_spellings(data, target, others, url, offset, where)
    return _cast(table, target, url)


def _read_keys(data, keys: list[str], types: list, url: str, offset: int, where: str) -> pa.Table:
    """One column per key (spelled as in the data), with the type it is parsed as (DATE as
    text: JSON has none); fields not in `keys` are skipped."""
    parsed = pa.schema(
        [(k, pa.string() if pa.types.is_date(t) else t) for k, t in zip(keys, types, strict=True)]
    )
    options = pajson.ParseOptions(explicit_schema=parsed, unexpected_field_behavior="ignore")
    try:
        return pajson.read_json(
            pa.BufferReader(pa.py_buffer(data)), read_options=_READ, parse_options=options
        )
    except pa.ArrowInvalid as e:
        text = bytes(data)
        found = locate_bad_line(text, url, offset, where, keys)
        error = f"{url}: lines from {where} {offset} do not match the types: {e}"
        raise (found or BadInputError(error)) from None


def _other_spellings(data, table: pa.Table) -> dict[str, list[str]]:
    """For each column, the keys in `data` that equal its name but for case (none: {}).

    Only a row where the exact spelling is NULL can take a value from another spelling, so a
    column without NULLs, the usual case, costs nothing, and for the others only the lines of
    their NULL rows are searched: one count of the lines lowercased, and one of the lines as
    they are, tell whether any key differs from the exact spelling before any regular
    expression runs."""
    found: dict[str, list[str]] = {}
    lines = None
    for name in table.column_names:
        if table.column(name).null_count == 0:
            continue
        lines = _lines(data, table.num_rows) if lines is None else lines
        if lines is False:
            held = bytes(data)
        else:
            held = _joined(pc.filter(lines, pc.is_null(table.column(name)).combine_chunks()))
        if name.isascii():
            quoted = b'"' + name.encode() + b'"'
            count = held.lower().count(quoted.lower())
            if count == 0 or count == held.count(quoted):
                continue  # every occurrence is the exact spelling
            pattern = re.compile(b'"(' + re.escape(name.encode()) + rb')"\s*:', re.IGNORECASE)
            keys = {m.decode("utf-8", "replace") for m in pattern.findall(held)}
        else:  # bytes' IGNORECASE folds ASCII only
            pattern = re.compile('"(' + re.escape(name) + r')"\s*:', re.IGNORECASE)
            keys = set(pattern.findall(held.decode("utf-8", "replace")))
        keys = sorted(k for k in keys if k != name and k.lower() == name.lower())
        if keys:
            found[name] = keys
    return found


def _lines(data, rows: int) -> pa.Array | bool:
    """The lines of `data` as a binary array, one per row (no copy), or False when blank lines
    make rows and lines differ (then the whole of `data` is searched)."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1
    bounds = np.concatenate(([0], ends, [len(data)] if data[-1] != 10 else [])).astype(np.int64)
    if len(bounds) - 1 != rows:
        return False
    buffers = [None, pa.py_buffer(bounds), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.large_binary(), rows, buffers)


def _joined(lines: pa.Array) -> bytes:
    """The bytes of a binary array's values, one after another."""
    bounds = np.frombuffer(lines.buffers()[1], np.int64)[
        lines.offset : lines.offset + len(lines) + 1
    ]
    return lines.buffers()[2].to_pybytes()[bounds[0] : bounds[-1]] if len(lines) else b""


def _merge_spellings(
    data, target: pa.Schema, others: dict[str, list[str]], url: str, offset: int, where: str
) -> pa.Table:
    """The rows read again with every spelling of the `others` columns, each column the value
    of its exact spelling when not null, else of the one other spelling holding a value."""
    keys = [(n, k) for n in target.names for k in (n, *others.get(n, ()))]
    types = dict(zip(target.names, target.types, strict=True))
    table = _read_keys(data, [k for _, k in keys], [types[n] for n, _ in keys], url, offset, where)
    columns = []
    for name in target.names:
        exact, rest = table.column(name), [table.column(k) for k in others.get(name, ())]
        if len(rest) > 1:  # how many other spellings hold a value, on each line
            held = pc.cast(pc.is_valid(rest[0]), pa.int32())
            for c in rest[1:]:
                held = pc.add(held, pc.cast(pc.is_valid(c), pa.int32()))
            clash = pc.and_(pc.is_null(exact), pc.greater(held, 1))
            if pc.any(clash).as_py():
                row = pc.index(clash, True).as_py()
                raise _clash(bytes(data), url, offset, where, row, name, others[name])
        columns.append(pc.coalesce(exact, *rest) if rest else exact)
    return pa.table(columns, names=target.names)


def _clash(
    data: bytes, url: str, offset: int, where: str, row: int, name: str, keys: list[str]
) -> BadInputError:
    """The error for `row`, whose line holds values under two spellings of column `name`."""
    at, line = _row_line(data, offset, row)
    held = [k for k in keys if k in _keys_of(line)]
    return BadInputError(
        f"{url}: the line at {where} {at} holds both {held[0]!r} and {held[1]!r}, which are one "
        f"column ({name!r}: field names match without regard to case); keep one"
    )


def _keys_of(line: bytes) -> list[str]:
    try:
        return [k for k, v in json.loads(line, object_pairs_hook=list) if v is not None]
    except ValueError:
        return []


def _row_line(data: bytes, offset: int, row: int) -> tuple[int, bytes]:
    """The offset and text of the line holding `row` (one object per non-blank line)."""
    pos = 0
    for line in data.split(b"\n"):
        if line.strip():
            if row == 0:
                return offset + pos, line
            row -= 1
        pos += len(line) + 1
    raise AssertionError("fewer lines than rows")


def check_json_lines(data, rows: int, url: str, offset: int, where: str) -> None:
    """Refuse `data` unless its `rows` (as parsed) are one per non-blank line: pyarrow also
    parses an object printed over several lines when no block boundary cuts it, but a range
    cut may, so such a document would give answers that depend on the split size.

    Counting newlines is vectorized; blank lines (which pyarrow skips) are counted only when
    the first count disagrees."""
    lines = int(np.count_nonzero(np.frombuffer(data, np.uint8) == 10))
    if len(data) and data[-1] != 10:  # the object's last line, without a newline
        lines += 1
    if rows == lines:
        return
    text = bytes(data)
    if rows == sum(1 for line in text.split(b"\n") if line.strip()):
        return
    raise locate_bad_line(text, url, offset, where) or BadInputError(
        f"{url}: lines from {where} {offset} hold {rows} objects on {lines} lines; JSON Lines "
        "holds one JSON object per line"
    )


def _cast(table: pa.Table, target: pa.Schema, url: str) -> pa.Table:
    table = table.rename_columns(target.names)
    if table.schema == target:
        return table
    try:
        return pc.cast_table(table, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise BadInputError(f"{url}: a field does not hold its declared type: {e}") from None


def locate_bad_line(
    data: bytes, url: str, offset: int, where: str, columns: Collection[str] | None = None
) -> BadInputError | None:
    """The error for the first line of `data` that is not one JSON object, or that holds two
    keys for one of `columns` (any column when None), by its `where` offset; None if every
    line is fine (error path only). A value printed over several lines anywhere in `data` is
    named first, as the document is then not JSON Lines at all: every range of it says so,
    whichever line the range starts at."""
    lowered = None if columns is None else {c.lower() for c in columns}
    pos, first = 0, None
    for line in data.split(b"\n"):
        at = offset + pos
        start = pos
        pos += len(line) + 1
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as e:
            lines = _lines_spanned(data, start)
            if lines > 1:
                return BadInputError(
                    f"{url} is not JSON Lines (one JSON object per line): the JSON value at "
                    f"{where} {at} spans {lines} lines"
                )
            first = first or BadInputError(
                f"{url}: the line at {where} {at} is not valid JSON ({e.msg}): "
                f"{line[:80].decode('utf-8', 'replace')!r}"
            )
            continue
        if not isinstance(value, dict):
            first = first or BadInputError(f"{url}: the line at {where} {at} is not a JSON object")
        elif first is None and (twice := _duplicate(line, lowered)):
            first = BadInputError(
                f"{url}: the line at {where} {at} holds {twice}, which are one column "
                "(field names match without regard to case); keep one"
            )
    return first


_SPAN_LIMIT = 1 << 20  # bytes of a value printed over lines that the error path decodes


def _lines_spanned(data: bytes, start: int) -> int:
    """How many lines the JSON value starting on the line at `start` covers (0: none parses)."""
    text = data[start : start + _SPAN_LIMIT].decode("utf-8", "replace")
    try:
        _, end = json.JSONDecoder().raw_decode(text, len(text) - len(text.lstrip()))
    except ValueError:
        return 0
    return text.count("\n", 0, end) + 1


def _duplicate(line: bytes, columns: set[str] | None) -> str | None:
    """Two keys of one object that are one of the (lowercase) `columns`, quoted, or None."""
    seen: dict[str, str] = {}
    for key, _ in json.loads(line, object_pairs_hook=list):
        if columns is not None and key.lower() not in columns:
            continue
        if key.lower() in seen:
            return f"{seen[key.lower()]!r} and {key!r}"
        seen[key.lower()] = key
    return None
