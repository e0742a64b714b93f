"""Listing a table's objects and cutting them into splits: byte ranges, one task each.

One large object is cut into several ranges; many small objects are packed into one task. The
runtime aligns each range to row boundaries, so any cut point is correct.
"""

from __future__ import annotations

import math

from sqlmr_runtime import build
from sqlmr_runtime.storage import ObjectInfo

from sqlmr.defaults import MB
from sqlmr.errors import UsageError
from sqlmr.planning.planner import INPUT_SHARE

_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1 << 10,
    "K": 1 << 10,
    "MB": MB,
    "M": MB,
    "GB": 1 << 30,
    "G": 1 << 30,
}


def parse_size(text: str) -> int:
    """'64KB', '16MB', '1GB' or a plain byte count, as bytes."""
    raw = text.strip().upper().replace(" ", "")
    digits = raw.rstrip("KMGB")
    unit = raw[len(digits) :]
    try:
        value = float(digits)
    except ValueError:
        value = -1
    if unit in _UNITS and value == 0:
        raise UsageError(f"a size of {text!r} holds nothing; give more than 0, like 64KB or 16MB")
    if unit not in _UNITS or value < 0:
        raise UsageError(
            f"bad size {text!r}; use a number with an optional unit, like 64KB, 16MB or 1GB"
        )
    return int(value * _UNITS[unit])


def input_cap(task_memory: int) -> int:
    """The most input bytes a task reads: a twenty-fourth of its memory budget (see below)."""
    return max(MB, task_memory // INPUT_SHARE)


def choose_split_size(total_bytes: int, workers: int, task_memory: int) -> int:
    """A split size that keeps a task within its memory budget and every worker busy.

    A task holds its split (mapped), the parsed columns, a partial aggregate that may be nearly
    as large, and its partitions being encoded: measured peaks are about eight times the split,
    so a split is at most a twenty-fourth of the budget (64 MB of 1,536 MB). Below that, one
    task per worker, as for Parquet (row_groups.pack_waves): equal byte ranges of text parse at
    a steady rate and end together, while every extra task costs a dispatch, a reader's set-up
    and an output object. Above it, tasks of at most the cap in whole waves of the workers.
    """
    cap = input_cap(task_memory)
    workers = max(1, workers)
    waves = max(1, math.ceil(total_bytes / (cap * workers)))
    share = total_bytes / (waves * workers)
    # A sixteenth over the even share: objects of equal size (part files) then cut into whole
    # shares, instead of a sliver of a task each when one is a byte over.
    return max(4 * MB, min(cap, math.ceil(share * 17 / 16)))


def plan_splits(objects: list[ObjectInfo], split_size: int) -> list[list[dict]]:
    """Task inputs: lists of {url, start, end} ranges, each task about split_size bytes."""
    tasks: list[list[dict]] = []
    packed: list[dict] = []
    packed_bytes = 0
    for obj in objects:
        if obj.size == 0:
            continue
        if obj.size >= split_size:
            pieces = math.ceil(obj.size / split_size)
            step = math.ceil(obj.size / pieces)
            for start in range(0, obj.size, step):
                end = min(start + step, obj.size)
                tasks.append([build.record("byte_range", url=obj.url, start=start, end=end)])
            continue
        if packed and packed_bytes + obj.size > split_size:
            tasks.append(packed)
            packed, packed_bytes = [], 0
        packed.append(build.record("byte_range", url=obj.url, start=0, end=obj.size))
        packed_bytes += obj.size
    if packed:
        tasks.append(packed)
    # An empty table still gets one (empty) task, so that later stages learn the schema.
    return tasks or [[]]
