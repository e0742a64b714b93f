"""The classic engine: the reference architecture's mapper and reducer, per line, in pure Python.

This is the baseline sqlmr replaces: split each line on ',', test or key on a column, sum
float(column 3); one process per split, then a reducer that merges the mappers' dictionaries.
Splits are byte ranges aligned to lines, as in sqlmr, so both read exactly the same rows.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import defaultdict

from .queries import BenchQuery

SPLIT = 64 << 20


def _lines(path: str, start: int, end: int):
    with open(path, "rb") as f:
        if start > 0:
            f.seek(start - 1)
            f.readline()  # the row that straddles `start` belongs to the previous split
        while f.tell() < end:
            line = f.readline()
            if not line:
                break
            yield line.decode()


def _scan_mapper(args: tuple[str, int, int, int]) -> list[tuple[str, int]]:
    path, start, end, threshold = args
    out = []
    for line in _lines(path, start, end):
        fields = line.rstrip("\n").split(",")
        rank = int(fields[1])
        if rank > threshold:
            out.append((fields[0], rank))
    return out


def _agg_mapper(args: tuple[str, int, int, int]) -> dict[str, float]:
    path, start, end, prefix = args
    sums: dict[str, float] = defaultdict(float)
    for line in _lines(path, start, end):
        fields = line.split(",")
        sums[fields[0][:prefix]] += float(fields[3])
    return sums


def _splits(folder: str) -> list[tuple[str, int, int]]:
    out = []
    for name in sorted(os.listdir(folder)):
        if name.startswith((".", "_")):
            continue
        path = os.path.join(folder, name)
        size = os.path.getsize(path)
        out += [(path, s, min(s + SPLIT, size)) for s in range(0, size, SPLIT)]
    return out


def run(query: BenchQuery, data_dir: str, workers: int) -> tuple[list[str], list[list]]:
    """Run a benchmark query; returns column names and columns. The classic engine has no join."""
    if query.kind == "join":
        raise ValueError("the classic engine cannot run joins")
    folder = os.path.join(data_dir, query.tables[0])
    tasks = [(p, s, e, query.param) for p, s, e in _splits(folder)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        if query.kind == "scan":
            rows = [r for part in pool.map(_scan_mapper, tasks) for r in part]
            return ["pageURL", "pageRank"], [[r[0] for r in rows], [r[1] for r in rows]]
        total: dict[str, float] = defaultdict(float)
        for part in pool.imap_unordered(_agg_mapper, tasks):
            for key, value in part.items():  # the reducer: merge the mappers' sums
                total[key] += value
    return ["prefix", "adRevenue"], [list(total.keys()), list(total.values())]
