"""Arrow's hash group-by, with short string keys grouped as fixed-width values (packed.py):
a string key of at most 8 bytes as a mixed 64-bit word, one of 9-16 bytes as 16-byte fixed-size
binary (a reducer of 2c's, 645 k rows into 599 k groups: 54-61 ms as strings, 46-52 ms as
fixed-size binary, 35 ms in buckets; measured, CPU). A key column that arrives packed from the
shuffle (its field marked) is grouped as it is. After grouping, the strings are rebuilt from the
groups' values only.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import compute as pc
from .packed import bucket_words, pack, packed_type, unpack

_U64 = np.uint64
BUCKET_ROWS = 1 << 17
"""Tables of fewer rows are grouped in one hash table (they fit in cache)."""
BUCKET_GROUPS = 400_000
"""Tables are grouped in buckets when a sample says they hold at least about this many groups:
below it one hash table stays in cache and the cut only costs (uint64 keys spread at random,
CPU: 640 k rows into 100 k groups 10.6 ms in one table, 14.2 ms in buckets; 1.94 M rows into
25 k groups 14.5 ms against 42.5; 600 k groups 31.2 against 24.1 and 77.0 against 56.9)."""
_BUCKET_BITS = 4
_SAMPLE_RUNS, _SAMPLE_RUN = 16, 1024  # runs of adjacent rows spread over the table
# The distinct keys a sample of _SAMPLE_RUNS * _SAMPLE_RUN rows is expected to hold when the
# table's keys are BUCKET_GROUPS values drawn at random (sampling with replacement).
_SAMPLE_DISTINCT = BUCKET_GROUPS * -np.expm1(-_SAMPLE_RUNS * _SAMPLE_RUN / BUCKET_GROUPS)


def aggregate(table: pa.Table, keys: list[str], specs: list) -> pa.Table:
    """What `table.group_by(keys, use_threads=False).aggregate(specs)` returns (the same
    aggregate names, "<column>_<function>"), run by an Acero plan built here from pyarrow._acero.
    Table.group_by imports pyarrow.acero, which imports pyarrow.dataset, its file systems and
    pandas' shim (≈ 12 ms, measured) for nothing a group-by uses: every fresh worker paid that in
    its first grouping task, on the job's critical path (Amplab 3a's two join tasks, 2a's first
    map tasks). Acero stays optional: it is imported here, on the first group-by."""
    from pyarrow._acero import AggregateNodeOptions, Declaration, TableSourceNodeOptions

    aggregates = []
    for spec in specs:
        target, func, options = spec if len(spec) == 3 else (*spec, None)
        target = list(target) if isinstance(target, (list, tuple)) else [target]
        if keys and not func.startswith("hash_"):
            func = "hash_" + func
        if not keys and func.startswith("hash_"):
            func = func[len("hash_") :]
        bare = func[len("hash_") :] if func.startswith("hash_") else func
        aggregates.append((target, func, options, "_".join([*target, bare])))
    plan = Declaration.from_sequence(
        [
            Declaration("table_source", TableSourceNodeOptions(table)),
            Declaration("aggregate", AggregateNodeOptions(aggregates, keys=keys)),
        ]
    )
    return plan.to_table(use_threads=False)


def group_by(table: pa.Table, keys: list[str], specs: list) -> pa.Table:
    """`table.group_by(keys).aggregate(specs)` on one thread: the key columns named `keys`,
    then the aggregates as Arrow names them ("<column>_<function>")."""
    packed = {k: _packed(table, k) for k in keys}
    if all(p is None for p in packed.values()):
        return aggregate(table, keys, specs)
    # Packed keys under names no plan column has; the aggregates read the table's columns.
    by = [k if packed[k] is None else f"\x00key{i}" for i, k in enumerate(keys)]
    columns = {
        b: table.column(k) if packed[k] is None else packed[k][0]
        for b, k in zip(by, keys, strict=True)
    }
    for spec in specs:
        for name in [spec[0]] if isinstance(spec[0], str) else spec[0]:
            columns.setdefault(name, table.column(name))
    first = packed[keys[0]]
    one = len(keys) == 1 and first is not None and table.num_rows >= BUCKET_GROUPS
    words = bucket_words(first[0]) if one else None
    grouped = _grouped(pa.table(columns), by, specs, words)
    out = [
        grouped.column(k) if packed[k] is None else unpack(grouped.column(b), packed[k][1])
        for b, k in zip(by, keys, strict=True)
    ]
    aggs = [n for n in grouped.column_names if n not in by]
    return pa.Table.from_arrays([*out, *(grouped.column(n) for n in aggs)], names=[*keys, *aggs])


def _packed(table: pa.Table, key: str) -> tuple[pa.ChunkedArray | pa.Array, pa.DataType] | None:
    """The key column packed and the string type it stands for; None when it does not pack.
    A column marked as packed (from the shuffle) is taken as it is."""
    field = table.schema.field(key)
    typ = packed_type(field)
    if typ is not None:
        return table.column(key), typ
    done = pack(table.column(key))
    return None if done is None else (done.array, field.type)


def _grouped(table: pa.Table, by: list[str], specs: list, words: np.ndarray | None) -> pa.Table:
    """Arrow's group-by; a big table of many groups keyed by one packed column is first cut
    into buckets by the top bits of its mixed words, and each bucket grouped on its own: a key's
    rows all fall in one bucket, and a bucket's hash table stays in cache. 1.94 M rows into
    505 k groups: 104-119 ms in one table, 61-65 ms in 16 buckets, the cut included (measured)."""
    if words is None or not _many_groups(words):
        return aggregate(table, by, specs)
    top = (words >> _U64(64 - _BUCKET_BITS)).astype(np.uint8)
    counts = np.bincount(top, minlength=1 << _BUCKET_BITS)
    ordered = pc.take(table, np.argsort(top, kind="stable"))  # a counting sort for 8-bit keys
    parts, at = [], 0
    for count in counts.tolist():
        part = ordered.slice(at, count)
        parts.append(aggregate(part, by, specs))
        at += count
    return pa.concat_tables(parts)


def _many_groups(words: np.ndarray) -> bool:
    """Whether a table of these (mixed) key words likely holds BUCKET_GROUPS groups or more:
    a sample of runs of adjacent rows holds as many distinct words as that many random keys
    would give it (rows of one key lying together make it say no: one table, never wrong)."""
    n = len(words)
    if n < max(BUCKET_ROWS, BUCKET_GROUPS):
        return False
    stride = n // _SAMPLE_RUNS
    sample = np.concatenate(
        [words[i * stride : i * stride + _SAMPLE_RUN] for i in range(_SAMPLE_RUNS)]
    )
    return len(np.unique(sample)) >= _SAMPLE_DISTINCT
