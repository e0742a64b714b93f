"""Partition hash cost and balance on the Amplab keys: `python -m sqlmr_benchmarks.hashing DIR`.

For the group keys of 2a, 2b and 2c (sourceIP prefixes of 8, 10 and 12 characters, as the map
tasks hash them after partial aggregation: distinct per task) and 3c's sourceIP, over the first
uservisits part: nanoseconds per row of `partition_ids` (best of 7) and the largest partition's
rows over the mean, for several partition counts.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlmr_runtime.partition import partition_ids

KEYS = {"2a": 8, "2b": 10, "2c": 12, "3c": None}


def _source_ips(data: str, rows: int) -> pa.Array:
    folder = os.path.join(data, "uservisits")
    path = os.path.join(folder, sorted(os.listdir(folder))[0])
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=[f"c{i}" for i in range(9)]),
        convert_options=pacsv.ConvertOptions(include_columns=["c0"]),
    )
    return table.column("c0").combine_chunks().slice(0, rows)


def measure(data: str, rows: int, partitions: list[int]) -> list[dict]:
    """One record per query key: ns/row and max/mean balance per partition count."""
    ips = _source_ips(data, rows)
    out = []
    for query, width in KEYS.items():
        keys = ips if width is None else pc.utf8_slice_codeunits(ips, 0, width)
        table = pa.table({"k": pc.unique(keys)})
        best = float("inf")
        for _ in range(7):
            started = time.process_time()
            partition_ids(table, ["k"], partitions[0])
            best = min(best, time.process_time() - started)
        balance = {}
        for p in partitions:
            counts = pc.value_counts(partition_ids(table, ["k"], p)).field("counts")
            balance[p] = pc.max(counts).as_py() * p / table.num_rows
        out.append(
            {"query": query, "keys": table.num_rows, "ns_per_row": best / table.num_rows * 1e9}
            | {"max_over_mean": balance}
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", help="Amplab data folder (with uservisits/)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--partitions", default="8,32,128")
    args = parser.parse_args(argv)
    counts = [int(p) for p in args.partitions.split(",")]
    for r in measure(args.data, args.rows, counts):
        balance = ", ".join(f"{p}: {b:.3f}" for p, b in r["max_over_mean"].items())
        print(f"{r['query']}: {r['keys']:,} keys, {r['ns_per_row']:.0f} ns/row, max/mean {balance}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
