"""The broadcast join index (built once, probed per task) against DuckDB's inner join of the same
Arrow tables: duplicate keys on both sides, NULLs, -0.0 and NaN, several keys, any side left, and
hash collisions (forced) that must never join unequal keys."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pyarrow as pa
import pytest
from conftest import assert_same
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmr_runtime import broadcast, broadcast_share
from sqlmr_runtime.broadcast import BroadcastIndex
from sqlmr_runtime.broadcast_share import SharedIndex

KEYS = {
    "text": (
        st.one_of(st.none(), st.sampled_from(["", "a", "b", "é", "a" * 70, "b" * 200])),
        pa.string(),
    ),
    "int": (st.one_of(st.none(), st.integers(-3, 3)), pa.int64()),
    "float": (st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1.5, math.nan])), pa.float64()),
}


def _duck_join(build: pa.Table, probe: pa.Table, keys: list[tuple[str, str]], build_left: bool):
    con = duckdb.connect()
    con.register("b", build)
    con.register("p", probe)
    on = " AND ".join(f"b.{bk} = p.{pk}" for bk, pk in keys)
    order = "b.*, p.*" if build_left else "p.*, b.*"
    return con.execute(f"SELECT {order} FROM b JOIN p ON {on}").fetchall()


def _check(build: pa.Table, probe: pa.Table, keys: list[tuple[str, str]], build_left: bool):
    index = BroadcastIndex(build, [b for b, _ in keys])
    for _ in range(2):  # probed again by the next task: the index is not consumed
        got = index.join(probe, [p for _, p in keys], build_left)
        assert_same(
            got,
            _duck_join(build, probe, keys, build_left),
            ordered=False,
            columns=build.num_columns + probe.num_columns,
        )


@pytest.fixture(params=["by value", "by hash"])
def lookup(request, monkeypatch) -> str:
    """Probe every index by value (Arrow's set lookup), or by key hash and key check."""
    by_value = request.param == "by value"
    monkeypatch.setattr(broadcast, "_probe_by_value", lambda distinct, rows: by_value)
    return request.param


@pytest.mark.parametrize("kind", KEYS)
def test_index_join_matches_duckdb(kind: str, lookup: str) -> None:
    values, typ = KEYS[kind]

    @settings(max_examples=30, deadline=None)
    @given(st.lists(values, max_size=25), st.lists(values, max_size=25), st.booleans())
    def check(build_keys: list, probe_keys: list, build_left: bool) -> None:
        build = pa.table({"bk": pa.array(build_keys, typ), "bv": range(len(build_keys))})
        probe = pa.table({"pk": pa.array(probe_keys, typ), "pv": range(len(probe_keys))})
        _check(build, probe, [("bk", "pk")], build_left)

    check()


def test_a_small_index_is_probed_by_value_a_large_one_by_hash() -> None:
    build = pa.table({"k": ["u1", "u2", "u2", None, "u3"], "v": range(5)})
    probe = pa.table({"p": ["u2", "x", "u3", None, "u2", "u9"], "w": range(6)})
    index = BroadcastIndex(build, ["k"])
    got = index.join(probe, ["p"], True)
    assert index._values is not None  # 3 distinct keys, 6 probe rows: by value
    assert_same(got, _duck_join(build, probe, [("k", "p")], True), ordered=False, columns=4)
    fewer = BroadcastIndex(build, ["k"])
    fewer.join(probe.slice(0, 2), ["p"], True)
    assert fewer._values is None  # more distinct keys than probe rows: by hash
    ints = pa.table({"p": pa.array([1, 2], pa.int32())})  # a key type unlike the index's
    wide = BroadcastIndex(pa.table({"k": pa.array([1, 1, 2]), "v": range(3)}), ["k"])
    assert sorted(wide.join(ints, ["p"], True).column("v").to_pylist()) == [0, 1, 2]
    assert wide._values is None


def test_two_keys_of_different_integer_widths() -> None:
    build = pa.table(
        {
            "a": pa.array([1, 1, 2, None, 2], pa.int32()),
            "s": ["x", "y", "x", "x", "x"],
            "v": range(5),
        }
    )
    probe = pa.table({"a2": pa.array([1, 2, 2, 3]), "s2": ["x", "x", None, "x"], "w": range(4)})
    _check(build, probe, [("a", "a2"), ("s", "s2")], True)
    _check(build, probe, [("a", "a2"), ("s", "s2")], False)


def test_hash_collisions_never_join_unequal_keys(monkeypatch) -> None:
    # Every key hashes alike: only the key comparison tells them apart.
    monkeypatch.setattr(broadcast, "_probe_by_value", lambda distinct, rows: False)
    monkeypatch.setattr(
        broadcast, "row_hash", lambda t, k: pa.repeat(pa.scalar(7, pa.uint64()), t.num_rows)
    )
    build = pa.table({"k": ["a", "b", "b", "c", None], "v": range(5)})
    probe = pa.table({"p": ["b", "z", "a", None, "b"], "w": range(5)})
    _check(build, probe, [("k", "p")], True)


def test_empty_sides() -> None:
    build = pa.table({"k": pa.array([], pa.int64()), "v": pa.array([], pa.int64())})
    probe = pa.table({"p": [1, 2], "w": [3, 4]})
    _check(build, probe, [("k", "p")], True)
    _check(probe.rename_columns(["k", "v"]), build.rename_columns(["p", "w"]), [("k", "p")], False)


def test_only_the_columns_read_after_the_join_are_emitted() -> None:
    build = pa.table({"k": ["a", "b", "b"], "v": [1, 2, 3], "unused": ["x", "y", "z"]})
    probe = pa.table({"p": ["b", "a", "c"], "w": [10, 20, 30]})
    index = BroadcastIndex(build, ["k"])
    got = index.join(probe, ["p"], True, {"v", "w"})
    assert got.column_names == ["v", "w"]
    assert sorted(zip(*got.to_pydict().values(), strict=True)) == [(1, 20), (2, 10), (3, 10)]
    # Reading no column (COUNT(*)) still counts the joined rows.
    assert index.join(probe, ["p"], True, set()).num_rows == 3


@pytest.mark.parametrize(
    "ops, read",
    [
        ([{"op": "project", "columns": [{"name": "x", "expr": {"col": "a"}}]}], {"a"}),
        (
            [
                {"op": "filter", "predicate": {"fn": "gt", "args": [{"col": "b"}, {"lit": 1}]}},
                {
                    "op": "aggregate",
                    "keys": ["k"],
                    "aggregates": [{"fn": "count_all", "name": "n"}],
                },
            ],
            {"b", "k"},
        ),
        ([{"op": "sort", "keys": [{"column": "a"}]}], None),
        ([], None),
    ],
)
def test_columns_read_by_operators(ops: list, read: set | None) -> None:
    from sqlmr_runtime.operators import columns_read

    assert columns_read(ops) == read


def test_a_chain_of_broadcast_joins_builds_each_side_once_per_worker_and_stage(
    tpch_dir: str, tmp_path
) -> None:
    """TPC-H Q7 broadcasts supplier, orders, customer and nation twice into lineitem's map
    stage. A worker running a second task of that stage reads only its lineitem split: every
    broadcast side is kept (it kept one, so each task re-read and re-indexed orders)."""
    from pathlib import Path

    from sqlmr_benchmarks.tpch import query_text
    from sqlmr_runtime import handler

    import sqlmr

    options = sqlmr.QueryOptions(workers=2, split_size="256KB", broadcast_threshold=1 << 40)
    plan = sqlmr.compile_query(query_text(7), sqlmr.resolve_catalog(tpch_dir), options).to_json()
    stage = plan["stages"][0]
    assert stage["source"]["type"] == "join" and len(stage["tasks"]) >= 3
    definition = {k: v for k, v in stage.items() if k not in ("tasks", "depends_on")}

    def bytes_in(job: str, task: int) -> int:
        event = {
            "version": plan["version"],
            "job": job,
            "job_store": str(tmp_path),
            "stage": definition,
            "task": task,
            "attempt": 0,
            "input": stage["tasks"][task],
        }
        return handler.lambda_handler(event, None)["bytes_in"]

    cold = [bytes_in(f"cold-{t}", t) for t in (1, 2)]  # a new job each: nothing kept
    bytes_in("warm", 0)
    warm = [bytes_in("warm", t) for t in (1, 2)]
    root = Path(tpch_dir)
    sides = sum(
        f.stat().st_size
        for name in ("supplier", "orders", "customer", "nation", "nation")
        for f in (root / name).iterdir()
    )
    assert [c - w for c, w in zip(cold, warm, strict=True)] == [sides, sides]


def test_an_index_of_parts_written_and_mapped_joins_as_the_one_built(lookup: str) -> None:
    build = pa.table({"k": ["a", "b", "b", None, "c", "a", None], "v": range(7)})
    probe = pa.table({"p": ["b", "z", "a", None, "b", "c"], "w": range(6)})
    built = BroadcastIndex(build, ["k"])
    parts = []
    for rows in (build.slice(0, 3), build.slice(3, 0), build.slice(3)):
        sink = pa.BufferOutputStream()
        broadcast.write_part(sink, broadcast.keyed_part(rows, ["k"]))
        parts.append(broadcast.read_part(sink.getvalue()))
    assert [p.table.num_rows for p in parts] == [3, 0, 2]  # NULL keys are dropped
    assert parts[0].table.column_names == ["k", "v"]
    mapped = BroadcastIndex.from_parts(parts, ["k"])
    for index in (built, mapped):
        got = index.join(probe, ["p"], True)
        assert_same(got, _duck_join(build, probe, [("k", "p")], True), ordered=False, columns=4)


def test_only_a_part_too_large_to_be_probed_by_value_is_hashed_when_built(monkeypatch) -> None:
    monkeypatch.setattr(broadcast, "_BY_VALUE_MAX", 3)
    build = pa.table({"k": ["a", "b", "b", None, "c", "a"], "v": range(6)})
    probe = pa.table({"p": ["b", "z", "a", None, "b", "c"], "w": range(6)})
    small = broadcast.keyed_part(build.slice(0, 3), ["k"])
    large = broadcast.keyed_part(build, ["k"])
    assert small.hashes is None and large.hashes is not None and len(large.hashes) == 5
    for part in (small, large):
        sink = pa.BufferOutputStream()
        broadcast.write_part(sink, part)
        mapped = broadcast.read_part(sink.getvalue())
        assert mapped.table.column_names == ["k", "v"]
        assert (mapped.hashes is None) == (part.hashes is None)
    # Three rows, no more than the probe's: probed by value, never ordered by hash.
    index = BroadcastIndex.from_parts([small], ["k"])
    got = index.join(probe, ["p"], True)
    assert index._values is not None and not index._ordered
    want = _duck_join(build.slice(0, 3), probe, [("k", "p")], True)
    assert_same(got, want, ordered=False, columns=4)
    # Parts with and without hashes, five rows past the bound: its distinct keys are counted
    # by hash (the rows without hashes are hashed then).
    both = BroadcastIndex.from_parts([small, broadcast.keyed_part(build.slice(3), ["k"])], ["k"])
    got = both.join(probe, ["p"], True)
    assert both._ordered and len(both.hashes) == 3
    assert_same(got, _duck_join(build, probe, [("k", "p")], True), ordered=False, columns=4)


def _shared(tmp_path, scheme: str = "") -> SharedIndex:
    return SharedIndex(f"{scheme}{tmp_path}/job/broadcast/map", "side#0")


@pytest.mark.parametrize("scheme", ["", "file://"])
def test_the_first_claim_builds_and_the_others_map_its_file(tmp_path, scheme: str) -> None:
    build = pa.table({"k": [1, 2, 2], "v": [10, 20, 30]})
    first, second = _shared(tmp_path, scheme), _shared(tmp_path, scheme)
    assert first.claim() and not second.claim()
    first.publish(broadcast.keyed_part(build, ["k"]))
    part = second.wait()
    assert part is not None
    got = BroadcastIndex.from_parts([part], ["k"]).join(pa.table({"p": [2, 3]}), ["p"], False)
    assert sorted(got.column("v").to_pylist()) == [20, 30]


def test_a_waiter_builds_itself_when_the_claim_is_released_or_its_process_is_gone(
    tmp_path,
) -> None:
    first, second = _shared(tmp_path), _shared(tmp_path)
    assert first.claim()
    first.release()  # the claimant's build failed
    assert second.wait() is None
    assert second.claim()  # and the claim is free again
    with open(second.claim_url, "w") as f:
        f.write("999999999")  # a claimant killed before it wrote the index (no such process)
    assert _shared(tmp_path).wait() is None


def test_no_index_is_shared_through_s3(tmp_path) -> None:
    assert not broadcast_share.shared("s3://bucket/jobs/j1/broadcast/map")
    assert broadcast_share.shared(f"{tmp_path}/jobs/j1/broadcast/map")


def test_two_workers_build_one_part_each_and_both_index_every_part(tmp_path) -> None:
    """Two tasks that start together take a part each (neither builds the other's), read their
    probe split while the other part is built, and index all of the side's rows."""
    build = pa.table({"k": [f"u{i % 40}" for i in range(120)], "v": range(120)})
    probe = pa.table({"p": [f"u{i}" for i in range(0, 50, 3)], "w": range(17)})
    thirds = [build.slice(0, 40), build.slice(40, 40), build.slice(80)]
    prefix = f"{tmp_path}/job/broadcast/map"
    gate = threading.Barrier(2, timeout=10)
    read: list[list[int]] = [[], []]

    def task(worker: int) -> pa.Table:
        def part(k: int):
            def read_part() -> tuple[pa.Table, int]:
                read[worker].append(k)
                if len(read[worker]) == 1:  # hold the first part until the other has one
                    gate.wait()
                return thirds[k], thirds[k].nbytes

            return read_part

        index, _, nbytes = broadcast_share.build_index(
            prefix, "side", ["k"], [part(k) for k in range(3)], lambda: "probe split"
        )
        assert nbytes == sum(thirds[k].nbytes for k in read[worker])  # its own parts only
        return index.join(probe, ["p"], True)

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(task, [0, 1])
    assert sorted(read[0] + read[1]) == [0, 1, 2]  # every part built once, by one task
    assert read[0] and read[1]
    expected = _duck_join(build, probe, [("k", "p")], True)
    for got in (first, second):
        assert_same(got, expected, ordered=False, columns=4)


@pytest.mark.parametrize("columns", [None, {"v", "w"}, {"w"}])
def test_a_probe_whose_every_row_matches_is_emitted_in_its_own_order(columns) -> None:
    build = pa.table({"k": [f"url{i}" for i in range(300)], "v": range(300)})
    probe = pa.table({"p": [f"url{(7 * i) % 300}" for i in range(500)], "w": range(500)})
    got = BroadcastIndex(build, ["k"]).join(probe, ["p"], False, columns)
    expected = _duck_join(build, probe, [("k", "p")], False)
    names = ["p", "w", "k", "v"]
    keep = [i for i, n in enumerate(names) if columns is None or n in columns]
    assert got.column_names == [names[i] for i in keep]
    assert_same(
        got, [tuple(r[i] for i in keep) for r in expected], ordered=False, columns=len(keep)
    )
    assert got.column("w").to_pylist() == list(range(500))  # no probe row gathered or reordered
