"""String keys written packed into the shuffle (runtime/packed.py): the partition hash read from
the padded words is the strings' hash bit for bit (map tasks that pack and map tasks that do not
agree on every key's partition), a reader gets the strings back exactly, and a query whose map
tasks pack differently (8-byte words, 16-byte values, strings) equals DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_same, duck_parquet
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmr_runtime import batched, handler, packed, shuffle
from sqlmr_runtime.partition import partition_numbers

import sqlmr

PARTITIONS = 12
# Few characters so that keys repeat; "\x00" (inside, and at the end: not packed) and "é"
# (2 bytes) test the words' edges.
_text = st.one_of(st.none(), st.text(alphabet="ab.\x00é", max_size=17))


def _keys(values: list, typ: pa.DataType) -> pa.Table:
    data = [None if v is None else (v.encode() if typ == pa.binary() else v) for v in values]
    return pa.table({"k": pa.array(data, typ), "j": pa.array(range(len(values)), pa.int64())})


@settings(max_examples=80, deadline=None)
@given(st.lists(_text, max_size=40), st.sampled_from([pa.string(), pa.binary()]))
def test_packed_keys_hash_and_read_back_as_their_strings(values: list, typ: pa.DataType) -> None:
    table = _keys(values, typ)
    marked, known = packed.mark_keys(table, ["k", "j"])
    for keys in (["k"], ["j", "k"]):
        expected = partition_numbers(table, keys, PARTITIONS)
        got = partition_numbers(marked, keys, PARTITIONS, known)
        assert got.tolist() == expected.tolist()
    assert packed.unpack_table(marked).equals(table)
    present = [v for v in values if v is not None]
    packs = all(not v.endswith("\x00") and len(v.encode()) <= 16 for v in present)
    assert ("k" in known) == bool(values and packs)


def test_a_shuffle_object_holds_each_partition_as_the_strings_would() -> None:
    values = [None, "", "a", "a.b", "éé", "12345678", "123456789", "a\x00b"] * 50
    table = _keys(values, pa.string())
    data, index = shuffle.encode_partitions(table, ["k"], PARTITIONS)
    expected = shuffle.split_partitions(table, ["k"], PARTITIONS)
    data = data.slice(0, index[-1][0] + index[-1][1])  # the streams, not the footer
    got = shuffle.decode_tables(data)
    assert [t.num_rows for t in got] == [t.num_rows for t in expected] == [r for *_, r in index]
    for g, e in zip(got, expected, strict=True):
        assert g.equals(e)
    kept = shuffle.decode_tables(data, keep_packed=True)
    assert {t.schema.field("k").type for t in kept} == {pa.binary(16)}  # sent packed


def test_partitions_packed_differently_are_read_alike() -> None:
    narrow = packed.mark_keys(_keys(["ab", "cd"], pa.string()), ["k"])[0]
    wide = packed.mark_keys(_keys(["ab", "0123456789"], pa.string()), ["k"])[0]
    empty = _keys([], pa.string())
    assert packed.alike([narrow, empty]) == [narrow]
    both = packed.alike([narrow, wide])
    assert [t.schema.field("k").type for t in both] == [pa.string(), pa.string()]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A table `t` in 4 files whose keys pack as words, as 16-byte values, not at all (a key of
    17 bytes; one ending in a zero byte), so that map tasks write different key columns."""
    root = tmp_path_factory.mktemp("packed")
    (root / "t").mkdir()
    files = [
        [f"{i % 300:x}.{i % 7}" for i in range(3000)],  # up to 8 bytes
        [f"{i % 300:x}.{i % 7}" + ("-long" if i % 2 else "") for i in range(3000)],  # 9-13
        [f"{i % 300:x}.{i % 7}" + ("-much-too-long" if i % 5 == 0 else "") for i in range(3000)],
        [f"{i % 300:x}.{i % 7}" + ("\x00" if i % 11 == 0 else "") for i in range(3000)],
    ]
    for f, keys in enumerate(files):
        part = pa.table(
            {
                "k": pa.array([None if i % 97 == 0 else k for i, k in enumerate(keys)]),
                "v": pa.array([(i * 37) % 101 for i in range(len(keys))], pa.int64()),
            }
        )
        pq.write_table(part, root / "t" / f"part-{f}.parquet", row_group_size=1000)
    return root


@pytest.mark.parametrize(
    "query",
    [
        "SELECT k, SUM(v), COUNT(*) FROM t GROUP BY k",
        "SELECT SUBSTR(k, 1, 4), MIN(k), COUNT(*) FROM t GROUP BY SUBSTR(k, 1, 4)",
        "SELECT k, COUNT(*) FROM t GROUP BY k HAVING COUNT(*) > 20",
        "SELECT COUNT(DISTINCT k), v FROM t GROUP BY v",
    ],
)
def test_map_tasks_that_pack_differently_equal_duckdb(mixed: Path, query: str) -> None:
    expected = duck_parquet(mixed, "t").execute(query).fetchall()
    for split in ("8KB", None):
        result = sqlmr.sql(query, str(mixed), split_size=split, workers=2, reducers=3)
        assert_same(result, expected, ordered=False)


def test_a_reducer_of_one_partition_groups_its_keys_as_they_arrive(tmp_path: Path) -> None:
    """A reduce task holding one partition (many partitions, one per task) takes the packed
    keys too, and its final aggregate equals DuckDB's on that partition's rows."""
    values = [None if i % 17 == 0 else f"{i % 50}.{i % 3}" for i in range(600)]
    table = _keys(values, pa.string()).append_column("v", pa.array(range(600), pa.int64()))
    data, index = shuffle.encode_partitions(table, ["k"], 4)
    path = tmp_path / "shuffle.bin"
    path.write_bytes(data)
    offset, length, _ = index[1]
    op = {
        "op": "aggregate",
        "phase": "final",
        "keys": ["k"],
        "aggregates": [{"fn": "sum", "column": "v", "name": "s"}],
    }
    stage = {"id": "reduce", "source": {"type": "shuffle", "stage": "map"}, "ops": [op]}
    part = {"url": str(path), "offset": offset, "length": length, "partition": 1}
    event = {"job": "j", "job_store": str(tmp_path), "stage": stage, "input": {"parts": [part]}}
    tables, rows, _, ops = handler._read_input(event, stage)
    assert tables[0].schema.field("k").type == pa.uint64()  # not unpacked on the way in
    got = batched.apply_by_partition(ops, tables, True)
    t = shuffle.split_partitions(table, ["k"], 4)[1]  # noqa: F841 - read by DuckDB
    expected = duckdb.sql("SELECT k, SUM(v) FROM t GROUP BY k").fetchall()
    assert rows == t.num_rows
    assert_same(got, expected, ordered=False)
