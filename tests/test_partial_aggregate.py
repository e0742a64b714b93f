"""The map-side partial aggregate: its skip decision (operators._barely_reduces) and that the
answer never depends on it. A map task either aggregates its rows into partials or, when its
keys barely repeat, sends each row as its own partial (operators._rows_as_partials); the final
aggregate combines both kinds alike, so forcing either decision per task must give DuckDB's
answer."""

from __future__ import annotations

import decimal
import random
from unittest import mock

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmr_runtime import batched, operators
from sqlmr_runtime.partition import partition_ids

# (partial function, its column, its final function); count_all reads no column.
_AGGREGATES = [
    ("sum", "d", "sum"),
    ("count", "d", "sum0"),
    ("sum", "f", "sum"),
    ("count_all", None, "sum0"),
    ("min", "f", "min"),
    ("max", "d", "max"),
]
_DUCKDB = (
    "SELECT k, SUM(d) AS a0, COUNT(d) AS a1, SUM(f) AS a2, COUNT(*) AS a3, MIN(f) AS a4, "
    "MAX(d) AS a5 FROM t GROUP BY k"
)


def _ops() -> tuple[dict, dict]:
    """The partial and final aggregate ops of _AGGREGATES, as the planner writes them."""
    partial, final = [], []
    for i, (fn, column, merge) in enumerate(_AGGREGATES):
        partial.append({"fn": fn, "name": f"a{i}", **({"column": column} if column else {})})
        final.append({"fn": merge, "name": f"a{i}", "column": f"a{i}"})
    return (
        {"op": "aggregate", "phase": "partial", "keys": ["k"], "aggregates": partial},
        {"op": "aggregate", "phase": "final", "keys": ["k"], "aggregates": final},
    )


def _final_by_decisions(table: pa.Table, tasks: int, skips: list[bool], partitions: int) -> list:
    """The map tasks' partials (each task's decision forced) shuffled into partitions and
    combined by the reducers' final aggregate, sorted by key."""
    partial, final = _ops()
    bounds = [table.num_rows * i // tasks for i in range(tasks + 1)]
    outputs = []
    for task in range(tasks):
        rows = table.slice(bounds[task], bounds[task + 1] - bounds[task])
        with mock.patch.object(operators, "_barely_reduces", return_value=skips[task]):
            outputs.append(operators.apply([partial], rows))
    by_partition = []
    for p in range(partitions):
        parts = [t.filter(pc.equal(partition_ids(t, ["k"], partitions), p)) for t in outputs]
        by_partition.append(batched.concat(parts))  # a reducer's partition: every map's part
    got = batched.apply_by_partition([final], by_partition)
    return sorted(got.to_pylist(), key=lambda r: (r["k"] is None, r["k"]))


def _duckdb(table: pa.Table) -> list:
    con = duckdb.connect()
    con.register("t", table)
    rows = con.sql(_DUCKDB).to_arrow_table().to_pylist()
    return sorted(rows, key=lambda r: (r["k"] is None, r["k"]))


def _assert_same(got: list, expected: list) -> None:
    assert [r["k"] for r in got] == [r["k"] for r in expected]
    for g, e in zip(got, expected, strict=True):
        for name in ("a0", "a1", "a3", "a4", "a5"):
            assert g[name] == e[name], (g, e)
        # Float sums: the order of additions differs from DuckDB's.
        if e["a2"] is None:
            assert g["a2"] is None, (g, e)
        else:
            assert g["a2"] == pytest.approx(e["a2"], rel=1e-9, abs=1e-6), (g, e)


_row = st.tuples(
    st.one_of(st.none(), st.integers(0, 12)),
    st.one_of(st.none(), st.integers(-(10**9), 10**9).map(lambda c: decimal.Decimal(c) / 100)),
    st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(_row, min_size=1, max_size=120),
    tasks=st.integers(1, 4),
    skips=st.lists(st.booleans(), min_size=4, max_size=4),
    partitions=st.integers(1, 3),
)
def test_forcing_skip_or_aggregate_per_task_gives_duckdbs_answer(
    rows: list, tasks: int, skips: list[bool], partitions: int
) -> None:
    """NULL keys, DECIMAL and float sums, counts, MIN/MAX: whichever task skips, the answer is
    DuckDB's (partials of both kinds meet in one reducer)."""
    keys, decimals, floats = zip(*rows, strict=True)
    table = pa.table(
        {
            "k": pa.array(keys, pa.int64()),
            "d": pa.array(decimals, pa.decimal128(12, 2)),
            "f": pa.array(floats, pa.float64()),
        }
    )
    _assert_same(_final_by_decisions(table, tasks, skips, partitions), _duckdb(table))


def _keys_table(keys: list, text: bool = False) -> pa.Table:
    n = len(keys)
    return pa.table(
        {
            "k": pa.array([None if k is None else f"key{k}" for k in keys] if text else keys),
            "d": pa.array([decimal.Decimal(i % 977) / 10 for i in range(n)], pa.decimal128(9, 1)),
            "f": pa.array([(i % 101) * 0.25 for i in range(n)], pa.float64()),
        }
    )


def test_keys_in_short_runs_are_aggregated() -> None:
    """Rows of one key lying together (a table sorted by its key, runs of 1 to 5 rows, as TPC-H
    lineitem by l_orderkey): the whole table shrinks about 3 times, so the partial aggregate
    must run. A sample of single rows at a stride saw no key twice here and skipped it."""
    rng = random.Random(7)
    keys: list = []
    while len(keys) < 300_000:
        keys += [len(keys)] * rng.randint(1, 5)
    for table in (_keys_table(keys), _keys_table(keys, text=True)):
        assert not operators._barely_reduces(table, ["k"])
        assert not operators._barely_reduces(table, ["k"], local_shuffle=True)
    partial, _ = _ops()
    assert operators.apply([partial], table).num_rows < table.num_rows / 2


def test_nearly_unique_keys_in_any_order_are_skipped() -> None:
    """Keys that barely repeat are sent as rows, whether shuffled or sorted, to S3 or locally."""
    rng = random.Random(11)
    keys = [rng.randrange(50_000_000) for _ in range(300_000)]
    for table in (_keys_table(keys), _keys_table(sorted(keys)), _keys_table(keys, text=True)):
        assert operators._barely_reduces(table, ["k"])
        assert operators._barely_reduces(table, ["k"], local_shuffle=True)


def test_shuffled_repeating_string_keys_are_aggregated_for_s3_only() -> None:
    """String keys spread over the table that repeat about twice each (Amplab 2a's prefixes:
    388 k rows into 188 k groups): before an S3 shuffle they are aggregated (the extrapolation
    from the sample sees the repeats); before a local one, where the reducers' per-partition
    hash tables are cheaper than the map's one big table, they are sent as rows. Integer keys
    alike are aggregated either way."""
    rng = random.Random(13)
    keys = [rng.randrange(150_000) for _ in range(300_000)]
    assert not operators._barely_reduces(_keys_table(keys), ["k"], local_shuffle=True)
    table = _keys_table(keys, text=True)
    assert not operators._barely_reduces(table, ["k"])
    assert operators._barely_reduces(table, ["k"], local_shuffle=True)
    partial, _ = _ops()
    assert operators.apply([partial], table, local_shuffle=True).num_rows == table.num_rows
    assert operators.apply([partial], table).num_rows < 0.5 * table.num_rows


def test_the_skip_decision_does_not_change_the_answer_on_a_big_table() -> None:
    """Over 262,144 rows (where the check runs), one task skipped and one aggregated."""
    rng = random.Random(17)
    keys: list = [None if i % 991 == 0 else rng.randrange(200_000) for i in range(280_000)]
    table = _keys_table(keys)
    _assert_same(_final_by_decisions(table, 2, [True, False], 3), _duckdb(table))
