"""Grouping on short string keys packed into words or 16-byte values (runtime/grouping.py,
runtime/packed.py): the aggregate operator's answer equals DuckDB's GROUP BY whatever the strings
hold (NULLs, empty strings, zero bytes inside or at the end, multi-byte UTF-8, lengths around the
8- and 16-byte widths), alone or beside another key, in one table or in buckets, and the packed
path is the one taken where it applies."""

from __future__ import annotations

import math
from unittest import mock

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmr_runtime import grouping, operators, packed, partition

_AGGREGATES = [
    {"fn": "sum", "column": "v", "name": "s"},
    {"fn": "count", "column": "v", "name": "c"},
    {"fn": "count_all", "name": "n"},
    {"fn": "min", "column": "k", "name": "lo"},
    {"fn": "max", "column": "v", "name": "hi"},
]
_DUCKDB = "SELECT {keys}, SUM(v), COUNT(v), COUNT(*), MIN(k), MAX(v) FROM t GROUP BY {keys}"

# Few characters so that keys repeat; "\x00" and "é" (2 bytes) test the word's edges.
_keys = st.one_of(st.none(), st.text(alphabet="ab.\x00é", max_size=10))
_long_keys = st.one_of(st.none(), st.text(alphabet="ab.\x00é", min_size=6, max_size=18))
_values = st.one_of(st.none(), st.integers(-1000, 1000))


def _sorted_rows(table: pa.Table) -> list[tuple]:
    rows = [tuple(r.values()) for r in table.to_pylist()]
    return sorted(rows, key=lambda r: [(v is None, v) for v in r])


def _check(table: pa.Table, keys: list[str]) -> None:
    op = {"op": "aggregate", "phase": "final", "keys": keys, "aggregates": _AGGREGATES}
    got = operators.apply([op], table)
    t = table  # noqa: F841 - read by DuckDB's replacement scan
    expected = duckdb.sql(_DUCKDB.format(keys=", ".join(keys))).to_arrow_table()
    assert _sorted_rows(got) == _sorted_rows(expected.rename_columns(got.column_names))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(_keys, _long_keys), _values, st.integers(0, 2)), max_size=60))
def test_short_string_keys_group_as_duckdb_does(rows: list) -> None:
    table = pa.table(
        {
            "k": pa.array([r[0] for r in rows], pa.string()),
            "v": pa.array([r[1] for r in rows], pa.int64()),
            "j": pa.array([r[2] for r in rows], pa.int64()),
        }
    )
    _check(table, ["k"])
    _check(table, ["k", "j"])
    _check(table.slice(len(rows) // 3), ["j", "k"])  # a slice: its column has an offset
    with mock.patch.object(grouping, "_many_groups", lambda words: True):  # all in buckets
        _check(table, ["k"])
        _check(table.slice(len(rows) // 3), ["k"])


def _pack(column: pa.Array | pa.ChunkedArray) -> tuple | None:
    done = packed.pack(column)
    return None if done is None else (done.array, done.words)


def test_packed_only_where_the_word_determines_the_value() -> None:
    assert _pack(pa.array(["1.2.3.4", "10.20.30", None, ""])) is not None
    assert _pack(pa.chunked_array([[b"ab"], [b"\x00b"]], pa.binary())) is not None
    assert _pack(pa.array(["a", "a\x00"])) is None  # would pad like "a"
    assert _pack(pa.array(["123456789"]))[0].type == pa.binary(16)  # two words
    assert _pack(pa.array(["12345678"]))[0].type == pa.uint64()
    assert _pack(pa.array(["é" * 8, "a\x00b"])) is not None  # 16 bytes, zero inside
    assert _pack(pa.array(["0123456789abcdefg"])) is None  # longer than two words
    assert _pack(pa.array([], pa.string())) is None
    assert _pack(pa.array([1, 2])) is None


def test_ip_prefixes_and_float_sums_equal_duckdb() -> None:
    """2a's shape: 8-byte prefixes of dotted addresses, DOUBLE sums, one group per prefix."""
    n = 20_000
    ips = [f"{(i * 7919) % 223 + 1}.{(i * 31) % 256}.{i % 97}.{i % 13}" for i in range(n)]
    table = pa.table({"k": [ip[:8] for ip in ips], "v": [(i % 1000) / 7 for i in range(n)]})
    op = {
        "op": "aggregate",
        "phase": "partial",
        "keys": ["k"],
        "aggregates": [{"fn": "sum", "column": "v", "name": "s"}],
    }
    got = {r["k"]: r["s"] for r in operators.apply([op], table).to_pylist()}
    t = table  # noqa: F841 - read by DuckDB's replacement scan
    expected = dict(duckdb.sql("SELECT k, SUM(v) FROM t GROUP BY k").fetchall())
    assert got.keys() == expected.keys()
    for key, total in expected.items():
        assert math.isclose(got[key], total, rel_tol=1e-12), key


def test_a_big_table_is_grouped_in_buckets_as_duckdb_groups_it() -> None:
    """16 buckets of the mixed words, every key's rows (NULLs too) in one of them."""
    n = grouping.BUCKET_ROWS + 1000
    keys = pa.array([None if i % 101 == 0 else f"{(i * 7919) % 5003:x}" for i in range(n)])
    long = pa.array([None if k is None else f"{k}.{k}.{k}" for k in keys.to_pylist()])
    table = pa.table({"k": keys, "v": pa.array(range(n), pa.int64()), "j": [0] * n})
    with mock.patch.object(grouping, "_many_groups", lambda words: True):
        _check(table, ["k"])
        _check(table.set_column(0, "k", long), ["k"])


def test_only_tables_of_many_groups_are_cut_into_buckets() -> None:
    """The sample of the key words tells many groups (buckets pay) from few (one table)."""
    n = 1 << 20
    many = partition.mix(np.arange(n, dtype=np.uint64))
    few = partition.mix(np.random.default_rng(0).integers(0, 100_000, n).astype(np.uint64))
    assert grouping._many_groups(many)
    assert not grouping._many_groups(few)
    assert not grouping._many_groups(many[: grouping.BUCKET_GROUPS - 1])  # never that many


@pytest.mark.parametrize("typ", [pa.string(), pa.binary()])
def test_an_all_null_key_is_one_group(typ: pa.DataType) -> None:
    table = pa.table({"k": pa.array([None, None, None], typ), "v": [1, 2, 3]})
    grouped = grouping.group_by(table, ["k"], [("v", "sum")])
    assert grouped.to_pylist() == [{"k": None, "v_sum": 6}]
    assert grouped.schema.field("k").type == typ


@pytest.mark.parametrize("width", [8, 16])
def test_binary_keys_of_any_bytes_group_as_duckdb_does(width: int) -> None:
    """Bytes that are not UTF-8 (0xff, lone continuation bytes, zero bytes inside) at both
    packed widths: the padding is trimmed as bytes, never decoded."""
    pattern = bytes([0xFF, 0x80, 0, 0xC3, 0xFF, 0, 0x81, 0xFE]) * 2
    cut = [pattern[i % 5 : i % 5 + 1 + i % width].rstrip(b"\x00") for i in range(60)]
    keys = pa.array([None if i % 9 == 0 else cut[i % 13] for i in range(60)], pa.binary())
    table = pa.table({"k": keys, "v": pa.array(range(60), pa.int64())})
    packed = _pack(keys)
    assert packed is not None and packed[0].type == (pa.uint64() if width == 8 else pa.binary(16))
    _check(table, ["k"])
