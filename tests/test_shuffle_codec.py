"""Shuffle compression: one function picks the codec from what this pyarrow has, the index and the
task summary record it, a reader decodes whatever was written, and a range that covers several
adjacent partitions decodes to exactly those partitions."""

from __future__ import annotations

import contextlib

import pyarrow as pa
import pytest
from conftest import assert_same
from sqlmr_runtime import shuffle
from sqlmr_runtime.errors import PlanValidationError
from sqlmr_runtime.handler import run_task

from sqlmr.api import QueryOptions, compile_query, resolve_catalog, run
from sqlmr.execution.task_inputs import task_event, task_inputs


def _table(n: int = 2000) -> pa.Table:
    return pa.table(
        {
            "k": pa.array([None if i % 41 == 0 else f"key{i % 97}" for i in range(n)]),
            "v": pa.array(range(n), pa.int64()),
        }
    )


@pytest.mark.parametrize(
    ("requested", "store", "expected"),
    [
        ("auto", "/tmp/jobs", None),
        ("auto", "file:///tmp/jobs", None),
        ("auto", "s3://bucket/jobs", "lz4"),
        ("none", "s3://bucket/jobs", None),
        ("lz4", "/tmp/jobs", "lz4"),
        ("zstd", "s3://bucket/jobs", "zstd"),
    ],
)
def test_codec_follows_the_store_and_the_request(requested, store, expected):
    assert shuffle.choose_codec(requested, store) == expected


def test_unknown_compression_is_refused():
    with pytest.raises(PlanValidationError, match="brotli"):
        shuffle.choose_codec("brotli", "s3://b/j")


@pytest.mark.parametrize(
    ("available", "requested", "expected"),
    [
        (set(), "auto", None),  # the public Lambda layers: neither LZ4 nor ZSTD
        (set(), "lz4", None),
        ({"zstd"}, "auto", "zstd"),
        ({"zstd"}, "lz4", "zstd"),
        ({"lz4"}, "zstd", "lz4"),
    ],
)
def test_codec_falls_back_to_what_this_pyarrow_has(monkeypatch, available, requested, expected):
    monkeypatch.setattr(shuffle, "codec_available", lambda name: name in available)
    assert shuffle.choose_codec(requested, "s3://b/j") == expected


@pytest.mark.parametrize("codec", [None, "lz4", "zstd"])
def test_adjacent_partitions_decode_from_one_range(codec):
    table = _table()
    blob, index = shuffle.encode_partitions(table, ["k"], 6, codec)
    assert shuffle.read_footer(blob)["codec"] == (codec or "none")
    singles = [shuffle.decode_table(blob[o : o + n]) for o, n, _ in index]
    for first, last in [(0, 5), (1, 3), (4, 4), (2, 5)]:
        start = index[first][0]
        end = index[last][0] + index[last][1]
        tables = shuffle.decode_tables(blob[start:end])
        assert [t.num_rows for t in tables] == [index[p][2] for p in range(first, last + 1)]
        for t, single in zip(tables, singles[first : last + 1], strict=True):
            assert t.equals(single)
    assert sum(t.num_rows for t in singles) == table.num_rows


def test_a_reducer_of_several_partitions_gets_each_partition_and_aggregates_it_alone(tmp_path):
    """fetch_by_partition: partitions 1-3 of three map outputs (one coalesced read per output)
    come back as one group per partition; apply_by_partition's result equals one aggregate over
    all of the rows (a key lies in one partition)."""
    from sqlmr_runtime import batched
    from sqlmr_runtime.storage import storage_for

    parts, rows = [], []
    for m in range(3):
        table = _table(1500 + 100 * m)
        blob, index = shuffle.encode_partitions(table, ["k"], 5)
        url = str(tmp_path / f"map{m}.bin")
        storage_for(url).write(url, blob)
        rows.append(shuffle.split_partitions(table, ["k"], 5))
        parts.append((url, index))
    wanted = [1, 2, 3]
    reducer = [
        {"url": url, "offset": index[p][0], "length": index[p][1], "partition": p}
        for p in wanted
        for url, index in parts
    ]
    groups, nbytes = shuffle.fetch_by_partition(reducer, storage_for)
    assert nbytes == sum(r["length"] for r in reducer)
    assert len(groups) == len(wanted)
    for p, group in zip(wanted, groups, strict=True):
        assert [t.num_rows for t in group] == [rows[m][p].num_rows for m in range(3)]
        assert all(t.equals(rows[m][p]) for m, t in enumerate(group))
    aggregate = {"fn": "sum", "column": "v", "name": "s"}
    ops = [{"op": "aggregate", "phase": "final", "keys": ["k"], "aggregates": [aggregate]}]
    whole = pa.concat_tables(t for group in groups for t in group)
    expected = whole.group_by("k").aggregate([("v", "sum")]).sort_by("k")
    per_partition = [pa.concat_tables(g) for g in groups]
    got = batched.apply_by_partition(ops, per_partition).sort_by("k")
    assert got.column("k").equals(expected.column("k"))
    assert got.column("s").equals(expected.column("v_sum"))


def test_a_reducer_holds_its_mapped_map_outputs_without_holding_their_files_open(tmp_path):
    """Local shuffle reads are mapped in place; the mappings, not open files, stay alive with
    the decoded tables (a reducer of thousands of map outputs would run out of descriptors)."""
    import os

    from sqlmr_runtime.storage import storage_for

    table = _table(400)
    reducer = []
    for m in range(64):
        blob, index = shuffle.encode_partitions(table, ["k"], 2)
        url = str(tmp_path / f"map{m}.bin")
        storage_for(url).write(url, blob)
        reducer.append({"url": url, "offset": index[1][0], "length": index[1][1]})
    before = len(os.listdir("/proc/self/fd"))
    tables, _ = shuffle.fetch_parts(reducer, storage_for)
    assert len(os.listdir("/proc/self/fd")) - before < 8
    expected = shuffle.split_partitions(table, ["k"], 2)[1]
    assert len(tables) == 64 and all(t.equals(expected) for t in tables)


def test_compression_shrinks_and_none_does_not_compress():
    table = _table(20000)
    plain, _ = shuffle.encode_partitions(table, ["k"], 4, None)
    packed, _ = shuffle.encode_partitions(table, ["k"], 4, "lz4")
    assert len(packed) < len(plain)
    assert shuffle.decode_table(packed[: shuffle.read_index(packed)[-1][0]]).num_rows > 0


def test_a_task_without_codecs_writes_uncompressed_and_says_so(amplab_dir, monkeypatch):
    monkeypatch.setattr(shuffle, "codec_available", lambda name: False)
    query = "SELECT countryCode, COUNT(*) FROM uservisits GROUP BY 1"
    plan = compile_query(query, resolve_catalog(amplab_dir), QueryOptions(reducers=3))
    stage = plan.stages[0]
    assert stage.sink["type"] == "shuffle"
    # Would be LZ4 on S3 if this pyarrow had it.
    event = task_event("j", "s3://bucket/jobs", stage, 0, 0, task_inputs(stage, {})[0], "lz4")
    written = {}

    class Memory:
        @contextlib.contextmanager
        def open_write(self, url):
            out = pa.BufferOutputStream()
            yield out
            written[url] = out.getvalue()

    monkeypatch.setattr("sqlmr_runtime.handler.storage_for", lambda url: Memory())
    summary = run_task(event)
    assert summary["output"]["codec"] == "none"
    (blob,) = written.values()
    assert shuffle.read_footer(blob)["codec"] == "none"
    index = summary["output"]["partitions"]
    tables = shuffle.decode_tables(blob[: index[-1]["offset"] + index[-1]["length"]])
    assert sum(t.num_rows for t in tables) == summary["rows_out"] > 0


@pytest.mark.parametrize("compression", ["none", "lz4", "zstd"])
def test_queries_agree_with_duckdb_under_every_compression(amplab_dir, duck, compression):
    query = (
        "SELECT SUBSTR(sourceIP, 1, 5) AS p, SUM(adRevenue) AS s, COUNT(*) AS c "
        "FROM uservisits GROUP BY 1"
    )
    options = QueryOptions(
        split_size="16KB", reducers=3, workers=2, shuffle_compression=compression
    )
    plan = compile_query(query, resolve_catalog(amplab_dir), options)
    with run(plan, options) as result:
        table = result.read_all()
        codecs = {s["output"]["codec"] for s in result.results}
    assert codecs == {"none" if compression == "none" else compression}
    assert_same(table, duck.execute(query).fetchall(), ordered=False)
