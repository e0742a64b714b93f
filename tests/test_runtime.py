"""Unit tests of the runtime (sqlmr_runtime): split alignment, shuffle objects, hash partitioning,
plan validation, and the driver's retries, idempotence and cleanup through a fault-injecting
executor."""

from __future__ import annotations

import copy
import datetime
import json
import math
import os
import threading
from concurrent.futures import Future, InvalidStateError, wait
from pathlib import Path
from unittest import mock

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmr_runtime import handler, scan, scan_text, shuffle
from sqlmr_runtime.errors import PlanValidationError, StorageError, is_retryable
from sqlmr_runtime.partition import partition_ids
from sqlmr_runtime.storage import LocalStorage
from sqlmr_runtime.validate import validate_event, validate_plan

import sqlmr
from sqlmr.execution import LocalExecutor
from sqlmr.execution.executor import failure

WORKERS = 2

# -- a small Amplab-shaped dataset, written by the tests ------------------------------------------

UV_COLUMNS = {
    "sourceIP": "VARCHAR",
    "destURL": "VARCHAR",
    "visitDate": "DATE",
    "adRevenue": "DOUBLE",
    "userAgent": "VARCHAR",
    "countryCode": "VARCHAR",
    "languageCode": "VARCHAR",
    "searchWord": "VARCHAR",
    "duration": "INTEGER",
}


COUNTRIES = ["USA", "FRA", "DEU", "JPN", "BRA"]


def _uservisit(i: int) -> str:
    day = datetime.date(1995, 1, 1) + datetime.timedelta(days=(i * 17) % 4000)
    return (
        f"10.{i % 5}.{(i * 7) % 11}.{i % 13},url{(i * 11) % 50:03d},{day.isoformat()},"
        f"{((i * 7919) % 100000) / 997:.6f},Mozilla/5.{i % 3},{COUNTRIES[i % 5]},"
        f"{['en', 'fr', 'de'][i % 3]},word{i % 9},{(i * 31) % 100 + 1}"
    )


def write_uservisits(root: Path, rows: int = 400, parts: int = 2) -> Path:
    folder = root / "uservisits"
    folder.mkdir(parents=True, exist_ok=True)
    per = math.ceil(rows / parts)
    for p in range(parts):
        lines = [_uservisit(i) for i in range(p * per, min(rows, (p + 1) * per))]
        (folder / f"part-{p:05d}").write_text("".join(line + "\n" for line in lines))
    return root


def duck_rows(root: Path, query: str) -> list[tuple]:
    con = duckdb.connect()
    cols = ", ".join(f"'{c}': '{t}'" for c, t in UV_COLUMNS.items())
    con.execute(
        f"CREATE VIEW uservisits AS SELECT * FROM read_csv('{root}/uservisits/*', header=false, "
        f"delim=',', quote='', escape='', nullstr='', auto_detect=false, columns={{{cols}}})"
    )
    return con.execute(query).fetchall()


@pytest.fixture(scope="module")
def uv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_uservisits(tmp_path_factory.mktemp("uv"))


# -- split alignment ------------------------------------------------------------------------------


class BytesStorage:
    """An in-memory object store holding one object: enough for the scan functions."""

    def __init__(self, data: bytes):
        self.data = data

    def read_range(self, url: str, start: int, end: int) -> bytes:
        return self.data[start:end]


def read_split(storage: BytesStorage, source: dict, ranges: list[dict]) -> tuple[pa.Table, int]:
    """scan.read_split over an in-memory object (the scanner picks storage by URL)."""
    with mock.patch.object(scan_text, "storage_for", lambda url: storage):
        return scan.read_split(source, ranges)


STRING_SOURCE = {
    "type": "scan",
    "table": "t",
    "format": "csv",
    "delimiter": ",",
    "header": False,
    "columns": [{"name": "a", "type": "string"}, {"name": "b", "type": "int64"}],
    "read": ["a", "b"],
}


def expected_rows(data: bytes, header: bool) -> list[tuple]:
    lines = [line.rstrip(b"\r") for line in data.split(b"\n")]
    lines = [line for line in lines if line]
    if header:
        lines = lines[1:]
    rows = []
    for line in lines:
        a, b = line.decode().split(",")
        rows.append((a, int(b)))
    return rows


def ranges_for(cuts: list[int], size: int) -> list[dict]:
    bounds = [0, *sorted(cuts), size]
    return [
        {"url": "mem", "start": lo, "end": hi} for lo, hi in zip(bounds, bounds[1:], strict=False)
    ]


def check_cuts(data: bytes, cuts: list[int], header: bool = False) -> None:
    storage = BytesStorage(data)
    ranges = ranges_for(cuts, len(data))
    # Bytes: consecutive aligned ranges tile the object exactly, each at its true offset.
    pieces = []
    for r in ranges:
        piece, offset = scan_text.read_range_aligned(storage, "mem", r["start"], r["end"])
        if piece:
            assert data[offset : offset + len(piece)] == piece
            assert offset >= r["start"]
            assert offset == 0 or data[offset - 1 : offset] == b"\n"
        pieces.append(piece)
    assert b"".join(pieces) == data
    # Rows: every row exactly once, in file order, whatever the cuts.
    source = {**STRING_SOURCE, "header": header}
    got = []
    for r in ranges:
        table, _ = read_split(storage, source, [r])
        got += list(zip(table.column("a").to_pylist(), table.column("b").to_pylist(), strict=True))
    assert got == expected_rows(data, header)
    # One task reading every range at once sees the same rows.
    table, nbytes = read_split(storage, source, ranges)
    assert (
        list(zip(table.column("a").to_pylist(), table.column("b").to_pylist(), strict=True)) == got
    )
    assert nbytes == len(data)


SMALL_FILES = {
    "trailing newline": b"ab,1\ncde,22\nf,3\nghij,4444\n",
    "no trailing newline": b"ab,1\ncde,22\nf,3\nghij,4444",
    "empty lines at end": b"ab,1\ncde,22\nf,3\n\n\n",
    "crlf": b"ab,1\r\ncde,22\r\nf,3\r\n",
    "one row": b"x,7\n",
    "one row, no newline": b"x,7",
    "unicode": "é,1\n日本,2\n👍🏽x,3\n".encode(),
}


@pytest.mark.parametrize("name", SMALL_FILES)
def test_every_single_cut_point(name: str) -> None:
    data = SMALL_FILES[name]
    for cut in range(len(data) + 1):
        check_cuts(data, [cut])


@pytest.mark.parametrize("name", ["trailing newline", "no trailing newline", "empty lines at end"])
def test_every_pair_of_cut_points(name: str) -> None:
    data = SMALL_FILES[name]
    for i in range(len(data) + 1):
        for j in range(i, len(data) + 1):
            check_cuts(data, [i, j])


def test_header_row_every_cut_point() -> None:
    data = b"a,b\nab,1\ncde,22\nf,3\n"
    for i in range(len(data) + 1):
        for j in range(i, len(data) + 1):
            check_cuts(data, [i, j], header=True)


def test_rows_longer_than_the_overread(monkeypatch: pytest.MonkeyPatch) -> None:
    # A tiny over-read makes the range reader loop several times to finish a straddling row.
    monkeypatch.setattr(scan_text, "_OVERREAD", 3)
    data = b"a" * 40 + b",1\n" + b"b" * 25 + b",2\nc,3"
    for cut in range(len(data) + 1):
        check_cuts(data, [cut])


row_text = st.text(
    alphabet=st.characters(blacklist_characters=',\n\r"', blacklist_categories=("Cs",)),
    min_size=1,
    max_size=12,
)


@st.composite
def files_and_cuts(draw):
    rows = draw(st.lists(st.tuples(row_text, st.integers(-(10**12), 10**12)), max_size=25))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    body = newline.join(f"{a},{b}" for a, b in rows)
    if rows and draw(st.booleans()):
        body += newline
    body += "\n" * draw(st.integers(0, 2)) if rows else ""
    header = draw(st.booleans())
    data = (("h,b" + newline) if header else "").encode() + body.encode()
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=6))
    return data, cuts, header


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files_and_cuts())
def test_random_cuts_cover_every_row_once(case) -> None:
    data, cuts, header = case
    check_cuts(data, cuts, header)


def test_read_range_aligned_on_local_files(tmp_path: Path) -> None:
    path = tmp_path / "part-00000"
    data = b"".join(f"row{i},{i}\n".encode() for i in range(50))
    path.write_bytes(data)
    storage = LocalStorage()
    for step in (1, 7, 64, 1000):
        pieces = []
        for start in range(0, len(data), step):
            piece, offset = scan_text.read_range_aligned(storage, str(path), start, start + step)
            assert data[offset : offset + len(piece)] == piece
            pieces.append(piece)
        assert b"".join(pieces) == data


def test_double_quote_is_plain_data() -> None:
    # DuckDB with quote='' (the oracle) reads four rows: '"x', 'y', 'z"', 'w'.
    data = b'"x,1\ny,2\nz",3\nw,4\n'
    storage = BytesStorage(data)
    for cut in range(len(data) + 1):
        rows = []
        for r in ranges_for([cut], len(data)):
            table, _ = read_split(storage, STRING_SOURCE, [r])
            rows += table.column("a").to_pylist()
        assert rows == ['"x', "y", 'z"', "w"], cut


# -- shuffle objects ------------------------------------------------------------------------------


def _keyed_table(n: int = 500) -> pa.Table:
    return pa.table(
        {
            "k": pa.array([None if i % 37 == 0 else f"key{i % 61}" for i in range(n)], pa.string()),
            "v": pa.array(range(n), pa.int64()),
        }
    )


@pytest.mark.parametrize("partitions", [1, 2, 5, 8])
def test_shuffle_round_trip_with_ranged_reads(tmp_path: Path, partitions: int) -> None:
    table = _keyed_table()
    blob, index = shuffle.encode_partitions(table, ["k"], partitions)
    url = str(tmp_path / "shuffle.bin")
    storage = LocalStorage()
    storage.write(url, blob)
    assert len(index) == partitions
    # The footer: index, then its length as 8 bytes, then the magic.
    footer_len = int.from_bytes(blob[-16:-8], "little")
    assert shuffle.read_index(blob) == index
    assert shuffle.read_index(blob[-(16 + footer_len) :]) == index
    seen: list[int] = []
    at = 0
    for p, (offset, length, rows) in enumerate(index):
        assert offset == at  # consecutive, no gaps
        at += length
        part = shuffle.decode_table(storage.read_range(url, offset, offset + length))
        assert part.schema == table.schema
        assert part.num_rows == rows
        if rows:
            assert set(partition_ids(part, ["k"], partitions).to_pylist()) == {p}
        seen += part.column("v").to_pylist()
    assert at + footer_len + 16 == len(blob)
    assert sorted(seen) == list(range(table.num_rows))  # every row in exactly one partition


def test_shuffle_of_an_empty_table_keeps_the_schema() -> None:
    table = _keyed_table().slice(0, 0)
    blob, index = shuffle.encode_partitions(table, ["k"], 4)
    for offset, length, rows in index:
        part = shuffle.decode_table(blob[offset : offset + length])
        assert rows == 0 and part.num_rows == 0 and part.schema == table.schema


def test_read_index_refuses_other_objects() -> None:
    with pytest.raises(StorageError, match="magic"):
        shuffle.read_index(b"definitely not a shuffle object")
    blob, _ = shuffle.encode_partitions(_keyed_table(), ["k"], 3)
    with pytest.raises(StorageError):
        shuffle.read_index(blob[:-1])


# -- hash partitioning ----------------------------------------------------------------------------


def _ids(values: list, typ: pa.DataType, partitions: int = 8) -> list[int]:
    return partition_ids(pa.table({"k": pa.array(values, typ)}), ["k"], partitions).to_pylist()


KEY_STRATEGIES = {
    "string": (st.one_of(st.none(), st.text(max_size=20)), pa.string()),
    "int64": (st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), pa.int64()),
    "int32": (st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)), pa.int32()),
    "float64": (
        st.one_of(st.none(), st.floats(allow_nan=False), st.sampled_from([0.0, -0.0])),
        pa.float64(),
    ),
    "date32": (st.one_of(st.none(), st.dates()), pa.date32()),
}


@pytest.mark.parametrize("kind", KEY_STRATEGIES)
def test_partition_depends_only_on_the_key(kind: str) -> None:
    strategy, typ = KEY_STRATEGIES[kind]

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(strategy, min_size=1, max_size=40),
        st.lists(strategy, max_size=20),
        st.data(),
    )
    def check(values, others, data) -> None:
        alone = [_ids([v], typ)[0] for v in values]
        together = _ids(values, typ)
        assert together == alone  # position in the table does not matter
        assert _ids(values, typ) == together  # deterministic
        # Another table: the same keys mixed with other keys, in another order.
        mixed = others + values[::-1]
        assert _ids(mixed, typ)[len(others) :] == together[::-1]
        # Chunked and sliced columns give the same answer.
        cut = data.draw(st.integers(0, len(values)))
        chunked = pa.chunked_array([pa.array(values[:cut], typ), pa.array(values[cut:], typ)], typ)
        assert partition_ids(pa.table({"k": chunked}), ["k"], 8).to_pylist() == together
        padded = pa.table({"k": pa.array(others + values, typ)}).slice(len(others))
        assert partition_ids(padded, ["k"], 8).to_pylist() == together

    check()


def test_partition_of_special_values() -> None:
    assert _ids([0.0], pa.float64()) == _ids([-0.0], pa.float64())
    assert len(set(_ids([None, None, None], pa.string()))) == 1
    assert len(set(_ids([None, 1.5, None], pa.float64())[::2])) == 1
    strings = ["", "a", "é", "e\u0301", "日本語", "👍🏽", "a" * 1000]
    assert [_ids([s], pa.string())[0] for s in strings] == _ids(strings, pa.string())
    day = datetime.date(2024, 2, 29)
    assert _ids([day], pa.date32()) == _ids([datetime.date(1970, 1, 1), day], pa.date32())[1:]
    assert all(0 <= p < 8 for p in _ids(strings, pa.string()))


def test_partition_of_several_keys_is_positional() -> None:
    keys = pa.table({"a": ["x", "y", "x", None], "b": pa.array([1, 1, 2, None], pa.int32())})
    full = partition_ids(keys, ["a", "b"], 16).to_pylist()
    for i in range(keys.num_rows):
        assert partition_ids(keys.slice(i, 1), ["a", "b"], 16).to_pylist() == [full[i]]


@pytest.mark.parametrize(
    "values, typ",
    [
        ([f"visitor-{i}.example.com/page?{i * 7}" for i in range(10_000)], pa.string()),
        (list(range(10_000)), pa.int64()),
        (
            [datetime.date(2000, 1, 1) + datetime.timedelta(days=i) for i in range(10_000)],
            pa.date32(),
        ),
        ([i / 8 for i in range(10_000)], pa.float64()),
    ],
    ids=["strings", "ints", "dates", "floats"],
)
def test_partitions_are_balanced(values: list, typ: pa.DataType) -> None:
    counts = [0] * 8
    for p in _ids(values, typ):
        counts[p] += 1
    mean = len(values) / 8
    assert all(abs(c - mean) <= 0.3 * mean for c in counts), counts


# -- plan and event validation --------------------------------------------------------------------

VALIDATION_SQL = (
    "SELECT countryCode, COUNT(*) AS n, SUM(CAST(duration AS BIGINT)) AS d, MAX(visitDate) "
    "FROM uservisits WHERE searchWord LIKE 'word%' AND languageCode IN ('en', 'fr') "
    "AND CASE WHEN duration > 5 THEN TRUE ELSE FALSE END "
    "GROUP BY countryCode HAVING COUNT(*) > 1 ORDER BY n DESC LIMIT 3"
)


@pytest.fixture(scope="module")
def plan_json(uv_dir: Path) -> dict:
    options = sqlmr.QueryOptions(workers=WORKERS, split_size=4096, reducers=2)
    plan = sqlmr.compile_query(VALIDATION_SQL, sqlmr.resolve_catalog(str(uv_dir)), options)
    doc = plan.to_json()
    assert [s["id"] for s in doc["stages"]] == ["map", "reduce", "merge"]
    return doc


def _walk_exprs(node):
    if isinstance(node, dict):
        if "fn" in node or "col" in node or "lit" in node:
            yield node
        for value in node.values():
            yield from _walk_exprs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_exprs(value)


def _first(doc: dict, pred):
    return next(e for e in _walk_exprs(doc) if pred(e))


def _mutate_version(d):
    d["version"] = 99


def _mutate_op(d):
    d["stages"][0]["ops"][0]["op"] = "explode"


def _mutate_function(d):
    _first(d, lambda e: e.get("fn") == "like")["fn"] = "frobnicate"


def _mutate_field_in_stage(d):
    d["stages"][1]["speculative"] = True


def _mutate_field_in_op(d):
    d["stages"][0]["ops"][0]["parallel"] = 4


def _mutate_field_in_expr(d):
    _first(d, lambda e: e.get("fn") == "in")["collation"] = "nocase"


def _mutate_column_type(d):
    d["stages"][0]["source"]["columns"][2]["type"] = "decimal128"


def _mutate_literal_type(d):
    _first(d, lambda e: "lit" in e)["type"] = "uint256"


def _mutate_cast_type(d):
    _first(d, lambda e: e.get("fn") == "cast")["to"] = "interval"


def _mutate_aggregate(d):
    d["stages"][1]["ops"][0]["aggregates"][0]["fn"] = "median"


def _mutate_source(d):
    d["stages"][1]["source"]["type"] = "broadcast"


def _mutate_sink(d):
    d["stages"][0]["sink"]["type"] = "kafka"


def _mutate_format(d):
    d["stages"][0]["source"]["format"] = "orc"


MUTATIONS = {
    "version": (_mutate_version, "99"),
    "operation": (_mutate_op, "explode"),
    "function": (_mutate_function, "frobnicate"),
    "stage field": (_mutate_field_in_stage, "speculative"),
    "op field": (_mutate_field_in_op, "parallel"),
    "expr field": (_mutate_field_in_expr, "collation"),
    "column type": (_mutate_column_type, "decimal128"),
    "literal type": (_mutate_literal_type, "uint256"),
    "cast type": (_mutate_cast_type, "interval"),
    "aggregate": (_mutate_aggregate, "median"),
    "source": (_mutate_source, "broadcast"),
    "sink": (_mutate_sink, "kafka"),
    "format": (_mutate_format, "orc"),
}


def test_compiled_plan_is_valid(plan_json: dict) -> None:
    validate_plan(plan_json)


@pytest.mark.parametrize("name", MUTATIONS)
def test_validate_plan_refuses_unknown_things(plan_json: dict, name: str) -> None:
    mutate, named = MUTATIONS[name]
    doc = copy.deepcopy(plan_json)
    mutate(doc)
    with pytest.raises(PlanValidationError, match=named):
        validate_plan(doc)


def _event(plan_json: dict, stage_index: int, job_store: str) -> dict:
    stage = plan_json["stages"][stage_index]
    definition = {k: v for k, v in stage.items() if k not in ("tasks", "depends_on")}
    inp = {"ranges": stage["tasks"][0]["ranges"]} if stage["kind"] == "map" else {"parts": []}
    return {
        "version": plan_json["version"],
        "job": "job-under-test",
        "job_store": job_store,
        "stage": definition,
        "task": 0,
        "attempt": 0,
        "input": inp,
    }


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="Linux's clear_refs")
def test_a_task_reports_its_own_peak_not_an_earlier_one(plan_json: dict, tmp_path: Path) -> None:
    # A warm worker's high-water mark carried an earlier task's peak into every later task's
    # summary (TPC-H's per-query worker figure only grew). 400 MB touched and freed here stand
    # for that earlier task.
    def peak_mb() -> float:
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) / 1024 for x in f if x.startswith("VmHWM:"))

    ballast = bytearray(400 << 20)
    ballast[:: 1 << 12] = b"x" * len(range(0, 400 << 20, 1 << 12))  # every page resident
    del ballast
    before = peak_mb()
    summary = handler.lambda_handler(_event(plan_json, 0, str(tmp_path)), None)
    assert summary["rows_in"] > 0
    assert summary["max_rss_mb"] < before - 300, (summary["max_rss_mb"], before)


def test_a_valid_event_runs(plan_json: dict, tmp_path: Path) -> None:
    event = _event(plan_json, 0, str(tmp_path))
    validate_event(event)
    summary = handler.lambda_handler(event, None)
    assert summary["rows_in"] > 0 and os.path.isfile(summary["output"]["url"])
    assert summary["output"]["url"].startswith(str(tmp_path))


def _stage_index_for(name: str) -> int:
    return {"aggregate": 1, "source": 1, "stage field": 1}.get(name, 0)


@pytest.mark.parametrize("name", MUTATIONS)
def test_handler_refuses_unknown_things(plan_json: dict, tmp_path: Path, name: str) -> None:
    mutate, named = MUTATIONS[name]
    doc = copy.deepcopy(plan_json)
    mutate(doc)
    event = _event(doc, _stage_index_for(name), str(tmp_path))
    if name == "version":
        event["version"] = 99
    with pytest.raises(PlanValidationError, match=named):
        validate_event(event)
    with pytest.raises(PlanValidationError, match=named):
        handler.lambda_handler(event, None)
    assert not any(tmp_path.iterdir())  # refused before any output was written


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda e: e.update(priority=1), "priority"),
        (lambda e: e.pop("attempt"), "attempt"),
        (lambda e: e["input"]["ranges"][0].update(etag="x"), "etag"),
        (lambda e: e.update(input={"parts": []}), "ranges"),
    ],
    ids=["unknown event field", "missing field", "unknown range field", "wrong input kind"],
)
def test_event_shape_is_checked(plan_json: dict, tmp_path: Path, change, named: str) -> None:
    event = _event(plan_json, 0, str(tmp_path))
    change(event)
    with pytest.raises(PlanValidationError, match=named):
        handler.lambda_handler(event, None)


# -- retries, duplicates and idempotence ----------------------------------------------------------

RETRY_SQL = (
    "SELECT countryCode, SUM(duration), COUNT(*), SUM(adRevenue), COUNT(searchWord) "
    "FROM uservisits GROUP BY countryCode"
)


def _error(error_type: str, message: str) -> dict:
    # As an executor reports a failure: retryable as the runtime declares the error type.
    return failure(error_type, message, is_retryable(error_type))


class InjectingExecutor:
    """Wraps LocalExecutor and misbehaves for one (stage, task):

    - "fault": attempts in `attempts` really run (their output object is written), then the
      outcome reported is an error of type `error_type`, as when Lambda loses a reply;
    - "duplicate": the same event runs twice (at-least-once delivery) and both succeed;
    - "fail": attempts in `attempts` report an error without running.
    """

    def __init__(self, mode: str, stage: str, task: int, attempts=(0,), error_type="InjectedFault"):
        self.inner = LocalExecutor(WORKERS)
        self.workers = self.inner.workers
        self.mode, self.stage, self.task = mode, stage, task
        self.attempts, self.error_type = attempts, error_type
        self.calls: list[tuple[str, int, int]] = []
        self.runs: list[tuple[str, int, int]] = []
        self.inner_futures: list[Future] = []
        self._lock = threading.Lock()

    def _targets(self, event: dict) -> bool:
        return (
            event["stage"]["id"] == self.stage
            and event["task"] == self.task
            and (self.attempts == "all" or event["attempt"] in self.attempts)
        )

    def _start(self, event: dict) -> Future:
        """Run the event in the pool; the future is ours alone (the driver never cancels it)."""
        key = (event["stage"]["id"], event["task"], event["attempt"])
        future = self.inner.submit(copy.deepcopy(event))
        self.inner_futures.append(future)

        def ran(f: Future) -> None:
            if "result" in f.result():
                with self._lock:
                    self.runs.append(key)

        future.add_done_callback(ran)
        return future

    @staticmethod
    def _resolve(outer: Future, outcome: dict) -> None:
        if not outer.done():  # the driver may have cancelled it
            try:
                outer.set_result(outcome)
            except InvalidStateError:
                pass

    def submit(self, event: dict) -> Future:
        self.calls.append((event["stage"]["id"], event["task"], event["attempt"]))
        outer: Future = Future()
        if not self._targets(event):
            # Pass-through: the driver's cancel reaches the pool task, as with LocalExecutor.
            key = (event["stage"]["id"], event["task"], event["attempt"])
            future = self.inner.submit(copy.deepcopy(event))
            self.inner_futures.append(future)

            def ran(f: Future) -> None:
                if not f.cancelled() and "result" in f.result():
                    with self._lock:
                        self.runs.append(key)

            future.add_done_callback(ran)
            return future
        elif self.mode == "fail":
            outer.set_result(_error(self.error_type, "injected failure"))
        elif self.mode == "fault":
            self._start(event).add_done_callback(
                lambda f: self._resolve(
                    outer,
                    _error(self.error_type, f"injected after the task ran: {list(f.result())}"),
                )
            )
        else:  # duplicate: the same event delivered twice, both deliveries succeed
            first, second = self._start(event), self._start(event)

            def both(_f: Future) -> None:
                if first.done() and second.done():
                    if "result" in first.result() and "result" in second.result():
                        self._resolve(outer, second.result())
                    else:
                        self._resolve(outer, _error("TestBug", "a duplicate failed"))

            first.add_done_callback(both)
            second.add_done_callback(both)
        return outer

    def drain(self) -> None:
        wait(self.inner_futures)

    def close(self) -> None:
        self.inner.close()


def _files(root: Path) -> list[str]:
    """The job's objects, without its heartbeat (see sqlmr.execution.jobs)."""
    found = (str(Path(d, f).relative_to(root)) for d, _, fs in os.walk(root) for f in fs)
    return sorted(f for f in found if f != "_heartbeat.json")


def _compile(
    uv_dir: Path, options: sqlmr.QueryOptions, query: str = RETRY_SQL
) -> sqlmr.planning.plan.Plan:
    return sqlmr.compile_query(query, sqlmr.resolve_catalog(str(uv_dir)), options)


def _check_exact(uv_dir: Path, result: pa.Table) -> None:
    expected = {
        r[0]: r[1:]
        for r in duck_rows(
            uv_dir,
            "SELECT countryCode, SUM(duration), COUNT(*), SUM(adRevenue), COUNT(searchWord) "
            "FROM uservisits GROUP BY countryCode",
        )
    }
    got = {r[0]: r[1:] for r in zip(*(c.to_pylist() for c in result.columns), strict=True)}
    assert got.keys() == expected.keys()
    for key, (dur, n, rev, words) in got.items():
        e_dur, e_n, e_rev, e_words = expected[key]
        assert (dur, n, words) == (e_dur, e_n, e_words), key  # nothing counted twice
        assert math.isclose(rev, e_rev, rel_tol=1e-12), key


def test_output_keys_spread_on_s3_and_stay_flat_in_a_folder() -> None:
    """A task attempt's key: on S3 below one of 256 spread prefixes, in a local job store in the
    stage's one folder (each folder level costs a task a directory to create); the task, the
    attempt and a Lambda invocation's id name the object in both."""
    event = {"job": "j", "stage": {"id": "map"}, "task": 7, "attempt": 1}
    local = handler.output_url({**event, "job_store": "/tmp/jobs"}, "shuffle.bin")
    assert local == "/tmp/jobs/j/map/00007.a1.shuffle.bin"
    remote = handler.output_url({**event, "job_store": "s3://b/jobs"}, "shuffle.bin", "req-1")
    *head, spread, stage, name = remote.split("/")
    assert (head, stage, name) == (
        ["s3:", "", "b", "jobs", "j"],
        "map",
        "00007.a1-req-1.shuffle.bin",
    )
    assert len(spread) == 2 and int(spread, 16) < 256
    spreads = {
        handler.output_url({**event, "task": t, "job_store": "s3://b/jobs"}, "x").split("/")[5]
        for t in range(200)
    }
    assert len(spreads) > 100  # 200 tasks over many prefixes, not one


@pytest.mark.parametrize(
    "mode, stage, task",
    [
        ("fault", "map", 1),
        ("fault", "reduce", 0),
        ("duplicate", "map", 2),
        ("duplicate", "reduce", 1),
    ],
)
def test_retried_and_duplicated_tasks_count_once(
    uv_dir: Path, tmp_path: Path, mode: str, stage: str, task: int
) -> None:
    options = sqlmr.QueryOptions(
        workers=WORKERS,
        split_size=4096,
        reducers=2,
        job_store=str(tmp_path),
        keep_intermediates=True,
    )
    plan = _compile(uv_dir, options)
    map_tasks = len(plan.stages[0].tasks)
    assert map_tasks >= 4
    executor = InjectingExecutor(mode, stage, task)
    with sqlmr.run(plan, options, executor=executor) as result:
        _check_exact(uv_dir, result.read_all())
        stats = {s.id: s for s in result.stages}
        extra = 1 if mode == "fault" else 0
        tasks = {"map": map_tasks, "reduce": 2}
        for sid in ("map", "reduce"):
            assert stats[sid].tasks == tasks[sid]
            assert stats[sid].attempts == tasks[sid] + (extra if sid == stage else 0)
        assert stats["map"].rows_in == 400  # every input row read once, by the winners
        job = result.job
    executor.drain()
    runs_of_target = [r for r in executor.runs if r[:2] == (stage, task)]
    # A local job store's keys: <stage>/<task>.a<attempt>.<name> (no folder to spread them).
    files = _files(tmp_path / job)
    out = "shuffle.bin" if stage == "map" else "result.arrow"
    if mode == "fault":
        # The faulty attempt really ran and wrote its object; the retry wrote another one.
        assert runs_of_target == [(stage, task, 0), (stage, task, 1)]
        assert f"{stage}/{task:05d}.a0.{out}" in files and f"{stage}/{task:05d}.a1.{out}" in files
    else:
        assert runs_of_target == [(stage, task, 0), (stage, task, 0)]
        assert f"{stage}/{task:05d}.a0.{out}" in files
        assert f"{stage}/{task:05d}.a1.{out}" not in files


@pytest.mark.parametrize("retries", [0, 2])
def test_a_task_failing_every_attempt_raises_task_error(
    uv_dir: Path, tmp_path: Path, retries: int
) -> None:
    options = sqlmr.QueryOptions(
        workers=WORKERS, split_size=4096, reducers=2, retries=retries, job_store=str(tmp_path)
    )
    executor = InjectingExecutor("fault", "map", 1, attempts="all")
    with pytest.raises(sqlmr.TaskError) as info:
        sqlmr.run(_compile(uv_dir, options), options, executor=executor)
    e = info.value
    assert (e.stage, e.task, e.attempt, e.error_type) == ("map", 1, retries, "InjectedFault")
    assert str(e).startswith(f"stage map, task 1, attempt {retries}: InjectedFault")
    assert [c for c in executor.calls if c[:2] == ("map", 1)] == [
        ("map", 1, a) for a in range(retries + 1)
    ]
    assert not any(c[0] == "reduce" for c in executor.calls)


@pytest.mark.parametrize("error_type", ["BadInputError", "EvaluationError"])
def test_deterministic_errors_are_not_retried(
    uv_dir: Path, tmp_path: Path, error_type: str
) -> None:
    options = sqlmr.QueryOptions(
        workers=WORKERS, split_size=4096, reducers=2, retries=3, job_store=str(tmp_path)
    )
    executor = InjectingExecutor("fail", "map", 2, attempts="all", error_type=error_type)
    with pytest.raises(sqlmr.TaskError) as info:
        sqlmr.run(_compile(uv_dir, options), options, executor=executor)
    assert (info.value.stage, info.value.task, info.value.attempt) == ("map", 2, 0)
    assert info.value.error_type == error_type
    assert [c for c in executor.calls if c[:2] == ("map", 2)] == [("map", 2, 0)]


def test_a_malformed_row_fails_once_without_retries(tmp_path: Path) -> None:
    root = write_uservisits(tmp_path / "tables", rows=60, parts=1)
    part = root / "uservisits" / "part-00000"
    lines = part.read_text().splitlines(keepends=True)
    lines[40] = lines[40].replace(",", ";", 1)  # one field short
    part.write_text("".join(lines))
    offset = sum(len(line.encode()) for line in lines[:40])
    options = sqlmr.QueryOptions(workers=WORKERS, split_size=1024, job_store=str(tmp_path / "js"))
    plan = _compile(root, options)
    task = next(
        i
        for i, t in enumerate(plan.stages[0].tasks)
        if t["ranges"][0]["start"] <= offset < t["ranges"][0]["end"]
    )
    executor = InjectingExecutor("none", "-", -1)
    with pytest.raises(sqlmr.TaskError) as info:
        sqlmr.run(plan, options, executor=executor)
    assert info.value.error_type == "BadInputError" and info.value.task == task
    assert f"{part}: malformed row at byte offset {offset}:" in str(info.value)
    assert [c for c in executor.calls if c[:2] == ("map", task)] == [("map", task, 0)]


# -- intermediates --------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [False, True])
def test_intermediates_are_removed_unless_kept(uv_dir: Path, tmp_path: Path, keep: bool) -> None:
    store = tmp_path / "store"
    options = sqlmr.QueryOptions(
        workers=WORKERS, split_size=4096, reducers=2, job_store=str(store), keep_intermediates=keep
    )
    plan = _compile(uv_dir, options, RETRY_SQL + " ORDER BY 2 DESC LIMIT 3")
    assert [s.id for s in plan.stages] == ["map", "reduce", "merge"]
    with sqlmr.run(plan, options) as result:
        assert result.read_all().num_rows == 3
        during = _files(store)
        job = result.job
    after = _files(store)
    map_tasks = len(plan.stages[0].tasks)
    assert len([f for f in during if f.endswith("shuffle.bin")]) == map_tasks
    assert len([f for f in during if f.endswith("result.arrow")]) == 3  # 2 reduce + 1 merge
    assert all(f.startswith(job + "/") for f in during)
    assert not any(f.startswith(".tmp") or "/.tmp" in f for f in during)
    assert after == (during if keep else [])


def test_a_failed_job_removes_what_it_wrote(uv_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    # One reducer: when its last attempt fails, no other task of the job is still running.
    options = sqlmr.QueryOptions(workers=WORKERS, split_size=4096, reducers=1, job_store=str(store))
    executor = InjectingExecutor("fault", "reduce", 0, attempts="all")
    with pytest.raises(sqlmr.TaskError):
        sqlmr.run(_compile(uv_dir, options), options, executor=executor)
    executor.drain()  # the failing reduce task finished before the driver saw the error
    assert _files(store) == []


def test_a_failed_job_leaves_no_intermediates_behind(uv_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    options = sqlmr.QueryOptions(
        workers=WORKERS, split_size=256, reducers=2, retries=0, job_store=str(store)
    )
    plan = _compile(uv_dir, options)
    assert len(plan.stages[0].tasks) > 40
    executor = InjectingExecutor("fail", "map", 0, attempts="all", error_type="BadInputError")
    with pytest.raises(sqlmr.TaskError):
        sqlmr.run(plan, options, executor=executor)
    executor.drain()  # let whatever was still queued finish
    assert _files(store) == []


def test_plan_json_round_trips(plan_json: dict) -> None:
    assert json.loads(json.dumps(plan_json)) == plan_json


def test_a_partial_aggregate_over_nearly_unique_keys_merges_to_duckdbs_groups() -> None:
    """Over 262,144 rows of nearly unique keys the map side skips its hash table and emits each
    row as its own partial (operators._rows_as_partials); the final aggregate over those
    partials, split across packed partitions (batched.apply_by_partition), equals DuckDB."""
    import pyarrow.compute as pc
    from sqlmr_runtime import batched, operators

    n = 300_000
    keys = [None if i % 997 == 0 else f"k{(i * 7919) % 290_000}" for i in range(n)]
    values = [None if i % 13 == 0 else i % 1000 - 300 for i in range(n)]
    table = pa.table({"k": keys, "v": pa.array(values, pa.int64())})
    assert operators._barely_reduces(table, ["k"])  # the path under test
    fns = [("sum", "s"), ("count", "c"), ("count_all", "n"), ("min", "lo"), ("max", "hi")]
    partial = {
        "op": "aggregate",
        "phase": "partial",
        "keys": ["k"],
        "aggregates": [
            {"fn": f, "name": name, **({} if f == "count_all" else {"column": "v"})}
            for f, name in fns
        ],
    }
    merge = {"sum": "sum", "count": "sum0", "count_all": "sum0", "min": "min", "max": "max"}
    final = {
        "op": "aggregate",
        "phase": "final",
        "keys": ["k"],
        "aggregates": [{"fn": merge[f], "name": name, "column": name} for f, name in fns],
    }
    partials = operators.apply([partial], table)
    assert partials.num_rows == n
    pids = partition_ids(partials, ["k"], 4)
    parts = [partials.filter(pc.equal(pids, p)) for p in range(4)]
    got = batched.apply_by_partition([final], parts).sort_by("k").to_pylist()
    con = duckdb.connect()
    con.register("t", table)
    expected = (
        con.sql(
            "SELECT k, SUM(v) AS s, COUNT(v) AS c, COUNT(*) AS n, MIN(v) AS lo, MAX(v) AS hi "
            "FROM t GROUP BY k"
        )
        .to_arrow_table()
        .sort_by("k")
        .to_pylist()
    )
    # DuckDB's SUM(BIGINT) is a HUGEINT (a decimal in Arrow): compared as Python ints.
    assert [{**r, "s": None if r["s"] is None else int(r["s"])} for r in expected] == got
