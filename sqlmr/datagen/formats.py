"""Writing a text table in another storage format: compressed text (gzip, Hadoop's zlib
.deflate, zstd, bzip2), Parquet (several row groups per file) or JSON Lines.

Each part file becomes one object of the new format, converted in streamed blocks, so memory
stays bounded by a block (text) or a row group (Parquet, JSON).
"""

from __future__ import annotations

import bz2
import datetime
import json
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlmr_runtime.types import arrow_type

from sqlmr.catalog import Column

FORMATS = ("text", "text-gzip", "text-deflate", "text-zstd", "text-bzip2", "parquet", "json")
_EXTENSIONS = {
    "text-gzip": ".gz",
    "text-deflate": ".deflate",
    "text-zstd": ".zst",
    "text-bzip2": ".bz2",
    "parquet": ".parquet",
    "json": ".json",
}
_BLOCK = 4 << 20


def _compressor(fmt: str):
    if fmt == "text-gzip":
        return zlib.compressobj(6, zlib.DEFLATED, 31)
    if fmt == "text-deflate":
        return zlib.compressobj(6)
    if fmt == "text-bzip2":
        return bz2.BZ2Compressor(9)
    raise ValueError(fmt)


def convert_file(
    src: str | Path,
    dest_stem: str | Path,
    fmt: str,
    columns: Sequence[Column],
    row_group_rows: int = 1 << 20,
    delimiter: str = ",",
) -> str:
    """Write the text file `src` as `dest_stem` + the format's extension; return its path."""
    dest = f"{dest_stem}{_EXTENSIONS.get(fmt, '')}"
    tmp = f"{os.path.dirname(dest) or '.'}/.{os.path.basename(dest)}.tmp"
    try:
        if fmt == "text":
            _copy(src, tmp, lambda b: b, lambda: b"")
        elif fmt == "text-zstd":
            with pa.CompressedOutputStream(tmp, "zstd") as out, open(src, "rb") as f:
                while block := f.read(_BLOCK):
                    out.write(block)
        elif fmt.startswith("text-"):
            c = _compressor(fmt)
            _copy(src, tmp, c.compress, c.flush)
        else:
            _write_rows(src, tmp, fmt, columns, row_group_rows, delimiter)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return dest


def _copy(src, dest, compress, flush) -> None:
    with open(src, "rb") as f, open(dest, "wb") as out:
        while block := f.read(_BLOCK):
            out.write(compress(block))
        out.write(flush())


def _batches(src, columns: Sequence[Column], rows: int, delimiter: str):
    names = [c.name for c in columns]
    reader = pacsv.open_csv(
        src,
        read_options=pacsv.ReadOptions(column_names=names, block_size=_BLOCK),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False),
        convert_options=pacsv.ConvertOptions(
            column_types={c.name: arrow_type(c.type) for c in columns},
            null_values=[""],
            strings_can_be_null=True,
        ),
    )
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending, schema=reader.schema)


def _write_rows(src, dest, fmt, columns, rows, delimiter) -> None:
    schema = pa.schema([(c.name, arrow_type(c.type)) for c in columns])
    if fmt == "parquet":
        with pq.ParquetWriter(dest, schema) as writer:
            for table in _batches(src, columns, rows, delimiter):
                writer.write_table(table, row_group_size=rows)
        return
    with open(dest, "w", encoding="utf-8") as out:
        for table in _batches(src, columns, rows, delimiter):
            for row in table.to_pylist():
                out.write(json.dumps(row, ensure_ascii=False, default=_iso, allow_nan=False))
                out.write("\n")


def _iso(value):
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(type(value))


def convert_table(
    src_dir: str | Path,
    dest_dir: str | Path,
    fmt: str,
    columns: Sequence[Column],
    row_group_rows: int = 1 << 20,
) -> list[str]:
    """Every part file of a text table folder, converted into `dest_dir`."""
    Path(dest_dir).mkdir(parents=True, exist_ok=True)
    out = []
    for entry in sorted(os.scandir(src_dir), key=lambda e: e.name):
        if entry.is_file() and not entry.name.startswith((".", "_")):
            stem = Path(dest_dir) / entry.name
            out.append(convert_file(entry.path, stem, fmt, columns, row_group_rows))
    return out


def generate_in_format(
    out_dir: str | Path, fmt: str, scale, seed: int = 0, workers: int | None = None
):
    """The Amplab tables generated as text into a scratch folder inside out_dir, then written
    in `fmt` (one object per text part; Parquet row groups of 128 Ki rows) into out_dir."""
    import dataclasses
    import shutil
    import tempfile
    import time

    from sqlmr.catalog import AMPLAB_SCHEMAS
    from sqlmr.datagen.amplab import generate

    t0 = time.perf_counter()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".text-", dir=out_dir)
    try:
        stats = generate(scratch, scale=scale, seed=seed, workers=workers)
        files = []
        for table, columns in AMPLAB_SCHEMAS.items():
            dest = Path(out_dir) / table
            if dest.exists():
                shutil.rmtree(dest)
            files += convert_table(Path(scratch) / table, dest, fmt, columns, 128 << 10)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    written = sum(os.path.getsize(f) for f in files)
    return dataclasses.replace(
        stats, bytes_written=written, seconds=time.perf_counter() - t0, files=sorted(files)
    )
