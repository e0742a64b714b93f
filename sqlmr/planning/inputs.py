"""A scan's input: list the table (pruning partition folders by the scan's filter), then cut its
objects into task splits as the format allows, with notes for explain on what was skipped.

- text and JSON: byte ranges aligned to rows (sqlmr.planning.splits);
- compressed objects: one whole object per range (a stream cannot start mid-way);
- Parquet: sets of row groups, with row groups pruned by their statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from sqlmr_runtime import build
from sqlmr_runtime.operators import expression_columns
from sqlmr_runtime.scan import partition_value
from sqlmr_runtime.storage import ObjectInfo
from sqlmr_runtime.types import arrow_type

from sqlmr.catalog import TYPE_NAMES, Table
from sqlmr.catalog.listing import Listed, list_table
from sqlmr.errors import CatalogError
from sqlmr.planning.expr_text import format_size, render_expr
from sqlmr.planning.prune import Range, may_match
from sqlmr.planning.row_groups import pack, pack_waves, row_groups, sample_filter
from sqlmr.planning.splits import choose_split_size, input_cap, plan_splits


@dataclass(frozen=True)
class TableInput:
    """A scan's splits, its size in bytes (as parsed columns would take), explain notes, and
    the share of rows its filter keeps where that was sampled (None: not known)."""

    splits: list[list[dict]]
    bytes: int
    notes: tuple[str, ...] = ()
    kept: float | None = None


def _partition_keep(table: Table, ir):
    """A folder test from the filter, typing each folder value (a bad one is refused)."""
    if not table.partitions:
        return None
    types = {c.name.lower(): c.type for c in table.columns if c.name in table.partitions}

    def keep(values: dict[str, str]) -> bool:
        ranges = {}
        for key, text in values.items():
            typ = types.get(key.lower())
            if typ is None:
                continue
            value = typed_value(table, key, text, typ)
            ranges[key.lower()] = Range(value, value, value is None, value is not None)
        return may_match(ir, ranges)

    return keep


def typed_value(table: Table, key: str, text: str, typ: str):
    """A partition folder's value as its column type; one that does not parse is refused."""
    try:
        return partition_value(text, arrow_type(typ)).as_py()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise CatalogError(
            f"table {table.name}: partition folder {key}={text} (under {table.location}) does "
            f"not parse as {TYPE_NAMES.get(typ, typ)}"
        ) from None


def _listing(table: Table, ir):
    """The table's objects, in the partitions `ir` keeps."""
    keep = _partition_keep(table, ir) if ir is not None else None
    if table.listing is not None:  # listed when the table was resolved: list once per query
        listing = table.listing.kept(keep)
    else:
        listing = list_table(table.location, keep, table.name)
    if table.partitions:
        _check_folders(table, listing.objects, typed=keep is None)
    return listing


def _check_folders(table: Table, objects: tuple[Listed, ...], typed: bool) -> None:
    """Every object lies in a folder of each partition column (else its value would be NULL
    without a word), and, when `typed` (nothing pruned them), every folder value parses as its
    column's type, so that a bad value is never silently read."""
    declared = {name.lower(): name for name in table.partitions or ()}
    for obj in objects:
        keys = {key.lower() for key, _ in obj.partition}
        missing = [name for low, name in declared.items() if low not in keys]
        if missing:
            raise CatalogError(
                f"table {table.name}: {obj.url} is in no {missing[0]}=… folder, but the table "
                f"has partition column {missing[0]}; every object must lie in one"
            )
        if typed:
            for key, text in obj.partition:
                if key.lower() in declared:
                    typed_value(table, key, text, _type_of(table, key))


def plan_input(
    table: Table,
    ir,
    read: list[str],
    split_size: int | None,
    workers: int,
    task_memory: int,
    sample: bool = False,
) -> TableInput:
    """The splits of one scan of `table` filtered by `ir` (pushed into its scan) reading `read`;
    with `sample`, a Parquet filter's selectivity too (for a join's choice of side: a few ms
    that a scan alone does not need)."""
    listing = _listing(table, ir)
    notes = []
    if listing.folders_seen:
        why = f" by {render_expr(ir)}" if ir is not None else ""
        notes.append(
            f"partitions {', '.join(table.partitions or ())}: {listing.folders_pruned} of "
            f"{listing.folders_seen} folder(s) pruned{why} before listing"
        )
    if not listing.objects and not listing.folders_pruned:
        raise CatalogError(f"table {table.name} has no data files under {table.location}")
    files = [c.name for c in table.columns if c.name not in (table.partitions or ())]
    file_read = [n for n in read if n in files] or files[:1]
    if table.format == "parquet":
        sizing = (split_size, workers, task_memory)
        return _parquet(table, listing.objects, file_read, ir, sizing, notes, sample)
    total = sum(o.size for o in listing.objects)
    size = split_size or choose_split_size(total, workers, task_memory)
    if table.compression:
        splits = _whole_objects(listing.objects, size)
        notes.append(
            f"format     {table.format}, {table.compression}: {len(listing.objects)} object(s), "
            "unsplittable (one range per object, decompressed as a stream)"
        )
        cap = input_cap(task_memory)
        for o in listing.objects:
            if o.size > cap:
                notes.append(
                    f"warning    {o.url} ({format_size(o.size)}) is larger than a task's input "
                    f"budget ({format_size(cap)}); one task reads all of it"
                )
    elif table.newlines_in_values:
        # A newline may sit inside a quoted value, so no byte offset is known to start a row.
        splits = _whole_objects(listing.objects, size)
        notes.append(
            f"format     {table.format}, newlines in quoted values: {len(listing.objects)} "
            "object(s), one range per object"
        )
    else:
        infos = [ObjectInfo(o.url, o.size) for o in listing.objects]
        splits = _with_partitions(plan_splits(infos, size), listing.objects)
    return TableInput(splits, total, tuple(notes))


def _type_of(table: Table, key: str) -> str:
    return next(c.type for c in table.columns if c.name.lower() == key.lower())


def _with_partitions(splits: list[list[dict]], objects: tuple[Listed, ...]) -> list[list[dict]]:
    values = {o.url: dict(o.partition) for o in objects if o.partition}
    if not values:
        return splits
    return [[_byte_range(r, values.get(r["url"])) for r in split] for split in splits]


def _byte_range(r: dict, partition: dict[str, str] | None) -> dict:
    fields = dict(r, partition=partition) if partition else r
    return build.record("byte_range", **fields)


def _whole_objects(objects: tuple[Listed, ...], size: int) -> list[list[dict]]:
    tasks: list[list[dict]] = []
    packed, packed_bytes = [], 0
    for o in objects:
        if o.size == 0:
            continue
        r = _byte_range({"url": o.url, "start": 0, "end": o.size}, dict(o.partition))
        if packed and packed_bytes + o.size > size:
            tasks.append(packed)
            packed, packed_bytes = [], 0
        packed.append(r)
        packed_bytes += o.size
    if packed:
        tasks.append(packed)
    return tasks or [[]]


def _parquet(table, objects, read, ir, sizing, notes, sample: bool) -> TableInput:
    split_size, workers, task_memory = sizing
    groups = row_groups(table, objects, read, ir)
    pruned = groups.total - len(groups.kept)
    why = f" by the min/max statistics of {render_expr(ir)}" if ir is not None else ""
    read_bytes = sum(g.read_bytes for g in groups.kept)
    notes.append(
        f"format     parquet: {groups.total} row group(s) in {len(objects)} object(s), "
        f"{pruned} pruned{why}; reads at most {format_size(read_bytes)} of "
        f"{format_size(groups.file_bytes)} (column chunks of {', '.join(read)})"
    )
    used = expression_columns(ir) if ir is not None else set()
    others = [n for n in read if n not in used]
    if used and used <= set(read) and others:
        notes.append(
            f"late       {', '.join(n for n in read if n in used)} read first; "
            f"{', '.join(others)} only in row groups where a row passes"
        )
    sampled = sample_filter(table, groups.kept, ir) if sample and ir is not None else None
    if sampled is not None:
        notes.append(
            f"sampled    the filter keeps {sampled.share:.2%} of {sampled.rows:,} rows "
            f"(in {sampled.groups} row group(s), read from its columns alone)"
        )
    total = sum(g.raw_bytes for g in groups.kept)
    if split_size:
        splits = pack(groups.kept, split_size)
    else:
        splits = pack_waves(groups.kept, workers, input_cap(task_memory))
    return TableInput(splits, total, tuple(notes), sampled.share if sampled else None)
