"""Reading delimited text: byte ranges aligned to newlines, or a compressed object in batches.

A row belongs to the split in which it starts. A range [start, end) therefore skips the partial
row at its start (unless start is 0) and reads past `end` to finish the row that straddles it.
Only the columns the plan needs are converted, with explicit types.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from . import compute as pc
from . import operators
from .compression import DecompressedStream, sniff
from .errors import BadInputError
from .operators import expression_columns
from .storage import LocalStorage, Storage, storage_for
from .types import FALSE_WORDS, SNIFFED_FALSE_WORDS, SNIFFED_TRUE_WORDS, TRUE_WORDS

_OVERREAD = 64 * 1024


def _row_bounds(data, base: int, start: int, end: int) -> tuple[int, int | None] | None:
    """Where, in `data` (the object's bytes from offset `base` on), the rows that start in
    [start, end) begin and end; the end is None when no newline within `data` closes the last
    row, and the whole answer None when no row starts in the range."""
    begin = 0
    if start > 0:
        # Rows start right after a newline; byte start-1 tells whether one starts at `start`.
        cut = data.find(b"\n", start - 1 - base)
        if cut < 0 or base + cut + 1 >= end:
            return None
        begin = cut + 1
    # The last row is the one holding byte end-1: it ends at the first newline from there.
    stop = data.find(b"\n", max(end - 1 - base, begin))
    return begin, (None if stop < 0 else stop + 1)


def read_range_aligned(storage: Storage, url: str, start: int, end: int) -> tuple[memoryview, int]:
    """The bytes of the rows that start in [start, end), and the object offset of the first.

    A local file is mapped and its rows handed over in place; elsewhere one read covers the
    range and a little beyond, so the row that straddles `end` is usually complete without a
    second request. Either way the bytes are returned as a view, never copied again.
    """
    if end <= start:
        return memoryview(b""), start
    if isinstance(storage, LocalStorage):
        data, base = storage.map(url), 0
    else:
        base = max(start - 1, 0)
        data = storage.read_range(url, base, end + _OVERREAD)
    bounds = _row_bounds(data, base, start, end)
    if bounds is None:
        return memoryview(b""), end
    begin, stop = bounds
    if stop is not None:
        return memoryview(data)[begin:stop], base + begin
    if isinstance(storage, LocalStorage) or len(data) < end + _OVERREAD - base:
        return memoryview(data)[begin:], base + begin  # the object ends without a newline
    tail = []
    pos = base + len(data)
    while True:  # a row longer than the over-read: rare, so copying here is fine
        chunk = storage.read_range(url, pos, pos + _OVERREAD)
        if not chunk:
            break
        cut = chunk.find(b"\n")
        if cut >= 0:
            tail.append(chunk[: cut + 1])
            break
        tail.append(chunk)
        pos += len(chunk)
    return memoryview(data[begin:] + b"".join(tail)), base + begin


def read_text(
    source: dict[str, Any], schema: list, r: dict[str, Any]
) -> tuple[pa.Table | None, int]:
    """One range of a plain text object as a table of the source's `read` columns (None when no
    row starts in it), and the bytes read (a compressed object is read by compressed_batches)."""
    data, offset, nbytes = _range_rows(source, r)
    if not len(data):
        return None, nbytes
    return _parse(data, schema, source["read"], source, r["url"], offset), nbytes


def _range_rows(source: dict[str, Any], r: dict[str, Any]) -> tuple[memoryview, int, int]:
    """The text of the rows that start in a range (header skipped, checked not to be binary or
    to end inside quotes), its object offset, and the bytes read."""
    data, offset = read_range_aligned(storage_for(r["url"]), r["url"], r["start"], r["end"])
    nbytes = len(data)
    if r["start"] == 0:
        refuse_binary(r["url"], bytes(data[:8]))
    if source.get("header") and r["start"] == 0 and len(data):
        check_header(source, bytes(data[: 1 << 16]), r["url"])
        data, offset = skip_line(data, offset)
    if len(data) and source.get("quote") and not source.get("newlines_in_values"):
        check_quotes_closed(data, source["quote"], r["url"], offset)
    return data, offset, nbytes


SAMPLE_BYTES = 64 << 10
"""The first rows of a range on which read_text_where measures how many rows its filter keeps."""

LATE_CHECK_SHARE = 0.5
"""The share of rows kept under which the UTF-8 check of unfiltered text waits for the filter."""


def read_text_where(
    source: dict[str, Any], schema: list, r: dict[str, Any], predicate: dict[str, Any]
) -> tuple[pa.Table | None, int, int]:
    """The rows of one range that satisfy `predicate` (None when no row starts in it), with the
    rows and the bytes read.

    Checking that text is UTF-8 is about a sixth of parsing Amplab's URLs. When the filter
    keeps few rows (as on its first SAMPLE_BYTES of rows), the string columns it does not read
    are parsed as unchecked binary and checked (cast to string) in the kept rows only: 1a's
    task 16% less CPU. A check after the filter reads the values again from memory, where the
    parser's own check finds them in cache, so it costs more once about half the rows pass
    (1c, 97% kept: 9% more), and then the text is checked as it is parsed."""
    data, offset, nbytes = _range_rows(source, r)
    if not len(data):
        return None, 0, nbytes
    wanted, url = source["read"], r["url"]
    keep = [{"op": "filter", "predicate": predicate}]
    # A value may hold a newline: no cut is known to start a row, so no sample.
    cut = len(data) if source.get("newlines_in_values") else _row_end(data, SAMPLE_BYTES)
    head = _parse(data[:cut], schema, wanted, source, url, offset)
    kept = operators.apply(keep, head)
    used = expression_columns(predicate)
    late = {n for n, t in schema if n in wanted and n not in used and pa.types.is_string(t)}
    if cut == len(data) or not late or kept.num_rows > LATE_CHECK_SHARE * head.num_rows:
        # Checked as parsed: the sample is parsed again (a percent of the range) rather than
        # joined to the rest, so that the table is one chunk, as later operators prefer.
        whole = head if cut == len(data) else _parse(data, schema, wanted, source, url, offset)
        return operators.apply(keep, whole), whole.num_rows, nbytes
    binary = [(n, pa.binary() if n in late else t) for n, t in schema]
    tail = _parse(data[cut:], binary, wanted, source, url, offset + cut)
    rows = head.num_rows + tail.num_rows
    tail = _checked_utf8(operators.apply(keep, tail), late, url, offset + cut)
    return pa.concat_tables([kept, tail]).combine_chunks(), rows, nbytes


def _row_end(data: memoryview, at: int) -> int:
    """The end of the row that holds byte `at` of `data` (all of it when shorter)."""
    if at >= len(data):
        return len(data)
    cut = bytes(data[at : at + _OVERREAD]).find(b"\n")
    if cut < 0:  # a row longer than the over-read: no sample worth the search
        return len(data)
    return at + cut + 1


def _checked_utf8(table: pa.Table, names: set[str], url: str, offset: int) -> pa.Table:
    """`table` with its binary columns `names` as strings, refused where they are not UTF-8."""
    for name in names:
        i = table.schema.get_field_index(name)
        try:
            column = pc.cast(table.column(i), pa.string())
        except pa.ArrowInvalid:
            raise BadInputError(
                f"{url}: a value of column {name} in the rows from byte offset {offset} on is "
                "not valid UTF-8"
            ) from None
        table = table.set_column(i, name, column)
    return table


def check_quotes_closed(data: memoryview, quote: str, url: str, offset: int) -> None:
    """Refuse rows that end inside a quoted field.

    Complete rows hold quotes in pairs ("" escapes one), so an odd count means the last row was
    cut at a newline inside quotes: a range boundary fell in a quoted value with a newline, and
    the next range would read the rest of that value as a row of its own. The first range whose
    rows end that way starts clean (all before it ended clean), so it always fails here.
    """
    buffer = pa.py_buffer(data)  # zero-copy; counted by Arrow, not a Python loop
    offsets = pa.py_buffer(pa.array([0, len(data)], pa.int64()).buffers()[1])
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, buffer])
    if pc.count_substring(whole, quote)[0].as_py() % 2:
        raise BadInputError(
            f"{url}: a quoted field is still open at the end of the rows from byte offset "
            f"{offset} to {offset + len(data)}: a newline inside a quoted value (set "
            "newlines_in_values = true on the table to read each object whole) or an "
            "unbalanced quote"
        )


def skip_line(data: memoryview, offset: int) -> tuple[memoryview, int]:
    """`data` without its first line (a header)."""
    cut = bytes(data[: 1 << 16]).find(b"\n")
    if cut < 0:
        cut = data.tobytes().find(b"\n")
    return (data[cut + 1 :], offset + cut + 1) if cut >= 0 else (data[:0], offset)


def header_names(head: bytes, delimiter: str, quote: str | None, url: str) -> list[str]:
    """The names on the first line of an object's text (`head`: its first bytes)."""
    cut = head.find(b"\n")
    line = head[: cut + 1] if cut >= 0 else head
    parse = pacsv.ParseOptions(delimiter=delimiter, quote_char=quote or False)
    try:
        return pacsv.read_csv(io.BytesIO(line), parse_options=parse).column_names
    except pa.ArrowInvalid as e:
        raise BadInputError(f"{url}: cannot read its header line: {e}") from None


def check_header(source: dict[str, Any], head: bytes, url: str) -> None:
    """An object's header is the one the table's columns were named from, if they were: the
    columns are read by position, and a header in another order would swap their values."""
    expected = source.get("header_names")
    if not expected:
        return
    found = header_names(head, source.get("delimiter") or ",", source.get("quote"), url)
    if found != expected:
        raise BadInputError(
            f"{url}: its header ({', '.join(found)}) is not the table's "
            f"({', '.join(expected)}); the objects of one table must share one header"
        )


def refuse_binary(url: str, head: bytes) -> None:
    """A compressed or Parquet object read as plain text would give garbage rows: refuse it."""
    found = sniff(head)
    if found and found != "deflate":  # a zlib header is two plausible text bytes: no verdict
        raise BadInputError(
            f"{url}: the object holds {found} data but the table reads it as plain text; "
            f"give it its extension or set the table's format/compression"
        )


BATCH_BYTES = 8 << 20
"""Parsed column bytes per batch of a compressed object: Arrow parses blocks of 1 MB of text,
gathered into batches of this size so that the operators run over batches of some size."""


def compressed_batches(
    source: dict[str, Any], schema: list, r: dict[str, Any], batch_bytes: int = BATCH_BYTES
) -> Iterator[tuple[pa.Table, int]]:
    """A compressed object's rows as tables of the source's `read` columns, each parsed from
    about `batch_bytes` of columns, with the compressed bytes fetched for each: memory
    holds one batch and the stream's buffers, never the object."""
    url = r["url"]
    stream = DecompressedStream(storage_for(url), url, source["compression"], r["end"])
    wanted = source["read"]
    if source.get("header"):
        check_header(source, stream.peek_line(), url)
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(
                column_names=_names(schema, source),
                block_size=1 << 20,
                use_threads=False,
                skip_rows=1 if source.get("header") else 0,
            ),
            parse_options=_parse_options(source),
            convert_options=_convert_options(dict(schema), wanted),
        )
    except pa.ArrowInvalid as e:
        if "Empty CSV file" in str(e):
            return
        raise BadInputError(f"{url}: cannot parse the decompressed rows: {e}") from None
    fetched, batches, size = 0, [], 0
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as e:
            raise BadInputError(f"{url}: cannot parse the decompressed rows: {e}") from None
        batches.append(batch)
        size += batch.nbytes
        if size >= batch_bytes:
            # Counted before yielding: Arrow's reader reads ahead on its own thread while the
            # caller works on the batch, and bytes fetched meanwhile belong to the next one.
            now = stream.compressed_bytes
            yield pa.Table.from_batches(batches).select(wanted), now - fetched
            fetched, batches, size = now, [], 0
    if batches or stream.compressed_bytes > fetched:
        table = pa.Table.from_batches(batches, reader.schema).select(wanted)
        yield table, stream.compressed_bytes - fetched


def _parse_options(source) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(
        delimiter=source.get("delimiter", ","),
        quote_char=source.get("quote") or False,
        newlines_in_values=bool(source.get("newlines_in_values")),
    )


def _casings(words: tuple[str, ...]) -> list[str]:
    """Every spelling of `words` in any letter case (Arrow compares its true and false values
    exactly): 'yes' is 8 strings, 'false' 32."""
    spelled: list[str] = []
    for word in words:
        variants = [""]
        for ch in word:
            variants = [v + c for v in variants for c in dict.fromkeys((ch.lower(), ch.upper()))]
        spelled += variants
    return spelled


_TRUES, _FALSES = _casings(TRUE_WORDS), _casings(FALSE_WORDS)
_SNIFFED_TRUES, _SNIFFED_FALSES = _casings(SNIFFED_TRUE_WORDS), _casings(SNIFFED_FALSE_WORDS)


def convert_options(
    column_types: dict | None = None, include: list[str] | None = None, inferring: bool = False
) -> pacsv.ConvertOptions:
    """How delimited text becomes values, as DuckDB reads it: an empty field is NULL and no
    other spelling of NULL is special; BOOLEAN is true/t/yes/y/1 or false/f/no/n/0, in any
    case. `inferring`: for the planner's samples, which infer types as DuckDB's sniffer does:
    a BOOLEAN column is true/t/yes or false/f/no (y/n are text, 1/0 numbers), all of which the
    tasks then read as BOOLEAN."""
    return pacsv.ConvertOptions(
        column_types=column_types or {},
        include_columns=include or [],
        null_values=[""],
        strings_can_be_null=True,
        true_values=_SNIFFED_TRUES if inferring else _TRUES,
        false_values=_SNIFFED_FALSES if inferring else _FALSES,
    )


def _convert_options(types, wanted) -> pacsv.ConvertOptions:
    return convert_options({n: types[n] for n in wanted}, wanted)


def _names(schema, source) -> list[str]:
    names = [n for n, _ in schema]
    if source.get("trailing_delimiter"):
        names.append("__trailing")  # the empty field after the last delimiter, never read
    return names


def _parse(data: memoryview, schema, wanted, source, url: str, offset: int) -> pa.Table:
    names = _names(schema, source)
    types = dict(schema)
    delimiter = source.get("delimiter", ",")
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(data)),  # zero-copy
            # One thread and 1 MB blocks: the fewest CPU cycles per byte, measured; parallelism
            # comes from running several tasks at once.
            read_options=pacsv.ReadOptions(
                column_names=names, block_size=1 << 20, use_threads=False
            ),
            parse_options=_parse_options(source),
            convert_options=_convert_options(types, wanted),
        )
    except pa.ArrowInvalid as e:
        if source.get("trailing_delimiter"):
            schema = [*schema, ("__trailing", pa.string())]
        raise _locate_bad_row(bytes(data), schema, delimiter, url, offset, e) from None
    return table.select(wanted)


def _locate_bad_row(data: bytes, schema, delimiter: str, url: str, offset: int, error: Exception):
    """Find the first row that does not parse, to name its byte offset (error path only)."""
    width = len(schema)
    pos = 0
    for line in data.split(b"\n"):
        row_offset = offset + pos
        pos += len(line) + 1
        if not line:
            continue
        fields = line.rstrip(b"\r").split(delimiter.encode())
        if len(fields) != width:
            return BadInputError(
                f"{url}: malformed row at byte offset {row_offset}: expected {width} fields, "
                f"found {len(fields)}: {_preview(line)}"
            )
        for (name, typ), field in zip(schema, fields, strict=True):
            if not _parses(field, typ):
                return BadInputError(
                    f"{url}: malformed row at byte offset {row_offset}: column {name} "
                    f"({typ}) cannot hold {_preview(field)}"
                )
    return BadInputError(f"{url}: cannot parse rows from byte offset {offset}: {error}")


def _parses(field: bytes, typ: pa.DataType) -> bool:
    if pa.types.is_string(typ) or not field:
        return True
    try:
        pacsv.read_csv(
            io.BytesIO(field + b"\n"),
            read_options=pacsv.ReadOptions(column_names=["v"]),
            convert_options=pacsv.ConvertOptions(column_types={"v": typ}),
        )
        return True
    except pa.ArrowInvalid:
        return False


def _preview(raw: bytes, limit: int = 80) -> str:
    text = raw.decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "…")
