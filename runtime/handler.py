"""The task entry point: AWS Lambda calls lambda_handler; the local executor calls it too.

A task reads its input (a split of a table, or its partition of every committed map output),
applies the stage's operators and writes one output object under a key that is fixed by job,
stage, task and attempt. A retried attempt writes its own key; the driver passes reducers only
the outputs of attempts it recorded as committed, so nothing is ever counted twice.
"""

from __future__ import annotations

import functools
import json
import resource
import sys
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from . import batched, environment, operators, packed, scan, shuffle, tracing
from .errors import JobCancelledError
from .spec import SUMMARY_VERSION
from .storage import is_remote, join, request_counts, requests_since, storage_for
from .validate import validate_event

if TYPE_CHECKING:
    from .broadcast import BroadcastIndex

# Joins (broadcast, broadcast_share) and range sorts (ranges) load their modules where a task
# first needs them: a scan's or an aggregate's workers never do (3-5 ms of a driver's load).


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """AWS Lambda entry point: run one task event and return its JSON summary.

    An event over Lambda's 6 MB payload limit travels through storage: the invocation then
    carries only {"event_url": URL} and the task reads its event from there. A probe event
    ({"sqlmr_probe": 1}, sent by `sqlmr deploy`) returns what the function runs with instead.
    A task that fails is diagnosed: when this process's pyarrow lacks a feature the runtime
    needs, the error names it (final).
    """
    if environment.is_probe(event):
        return environment.probe(event, context)
    if isinstance(event, dict) and set(event) == {"event_url"}:
        url = event["event_url"]
        event = json.loads(storage_for(url).read(url))
    try:
        return run_task(event, getattr(context, "aws_request_id", None))
    except Exception as e:  # a missing feature may surface as any error (EvaluationError too)
        environment.diagnose(e, acero=_uses_acero(event))
        raise


_WITHOUT_ACERO = {"filter", "project", "expand", "sort", "limit"}


def _uses_acero(event: dict[str, Any]) -> bool:
    """Whether a task may group or hash-join (Acero); a malformed event is validated later."""
    try:
        stage = event["stage"]
        return stage["source"]["type"] == "join" or any(
            op["op"] not in _WITHOUT_ACERO for op in stage["ops"]
        )
    except (KeyError, TypeError):
        return True


def output_url(event: dict[str, Any], name: str, invocation: str | None = None) -> str:
    """The deterministic key of a task attempt's output object:
    <job store>/<job>/[<spread>/]<stage>/<task>.a<attempt>[-<invocation>].<name>.

    <spread>, on S3 only, is two hex digits of a hash of the stage and task: S3 scales request
    rates per key prefix, so a 1,000 x 100 shuffle's objects spread over 256 prefixes instead of
    one. In a local job store every level of a key is a directory that the task creates and
    cleanup removes, the costliest part of a small task's write: with a spread folder and a
    folder per task and per attempt (four new directories a task), a 61-task join on Amplab's
    tiny tables took 924 ms in one process on ext4, and 437 ms with one directory per stage
    (medians of 12 interleaved pairs). So the task and its attempt are part of the object's
    name, and a local job has one directory per stage. The job's objects all stay below
    <job store>/<job>/, where cleanup and the IAM policy expect them.

    On Lambda the invocation's request id is part of the key: Lambda runs an event at least
    once, and an SDK retry after a lost response runs the same attempt twice, concurrently. Each
    invocation then writes its own object and the driver reads only the one named in the
    summary it received, so a late duplicate can never replace an object whose index the driver
    already holds. (A conditional PUT, If-None-Match: *, would make the loser adopt the
    winner's object, whose index it does not know; the request id needs nothing from S3.)"""
    attempt = f"a{event['attempt']}" + (f"-{invocation}" if invocation else "")
    store, stage, task = event["job_store"], event["stage"]["id"], event["task"]
    leaf = f"{task:05d}.{attempt}.{name}"
    if not is_remote(store):
        return join(store, event["job"], stage, leaf)
    # CRC-32, not hashlib: spreading needs no cryptography, and hashlib loads OpenSSL (3-5 ms of
    # every driver's start-up).
    spread = f"{zlib.crc32(f'{stage}/{task}'.encode()) & 0xFF:02x}"
    return join(store, event["job"], spread, stage, leaf)


# The broadcast sides this process indexed for the stage it last ran (scope: job and stage): the map
# tasks of a broadcast join all read the same small tables, and a worker (or a warm Lambda
# container) runs many of them in a row. A chain of broadcast joins in one stage (TPC-H Q7: five)
# keeps all of its sides, which each of its tasks holds at once anyway; another scope clears them.
_broadcast: dict[str, BroadcastIndex] = {}
_broadcast_scope: list[str] = [""]


def _join_side(side: dict[str, Any], inp: dict[str, Any], scope: str) -> tuple[pa.Table, int]:
    """One side of a join, filtered and projected."""
    table, _, nbytes, rest = _shaped(side["source"], inp, side["ops"], scope)
    return operators.apply(rest, table), nbytes


def _shaped(
    source: dict[str, Any], inp: dict[str, Any], ops: list, scope: str, needed=None
) -> tuple[pa.Table, int, int, list]:
    """A source read and shaped by its operators: (table, rows read, bytes read, the operators
    still to run). A compressed object is one range that may outsize the task's memory, so it
    is read in batches and the leading operators run on each as it is decompressed: neither
    its text nor its parsed columns are ever held whole (a join's broadcast side included).
    A Parquet scan applies its leading filter as it reads (filter columns first) and returns
    only the rows that pass; its other leading filters and projections run on each row group
    as it is read."""
    if source["type"] == "scan" and scan.streams(source):
        pieces = scan.stream_split(source, inp["ranges"])
        return batched.apply_in_pieces(ops, pieces, scan.empty_table(source))
    first = scan.pushed_filter(source, ops)
    if first is not None:
        table, rows, nbytes = scan.read_where(source, inp["ranges"], first["predicate"])
        return table, rows, nbytes, ops[1:]
    leading, rest = batched.pointwise(ops)
    if leading and scan.in_groups(source):
        # Filtered and projected a row group at a time: only the results are held together.
        pieces = scan.group_split(source, inp["ranges"])
        table, rows, nbytes, _ = batched.apply_in_pieces(leading, pieces, scan.empty_table(source))
        return table, rows, nbytes, rest
    table, nbytes = read_source(source, inp, scope, needed)
    return table, table.num_rows, nbytes, ops


def _broadcast_join(
    source: dict[str, Any], inp: dict[str, Any], scope: str, needed: set[str] | None
) -> tuple[pa.Table, int]:
    """An inner join probing the broadcast side's index with this task's split. The index is
    kept per process and scope (never across jobs: the table's objects may have changed in
    between), and built once per job where the job store is local (broadcast_share): a task
    whose index another worker is building reads its own split meanwhile. The side's bytes
    are counted by the tasks that build it."""
    side = source["broadcast"]
    probe_side = "right" if side == "left" else "left"
    key = json.dumps([source[side], inp[side]], sort_keys=True)
    if scope != _broadcast_scope[0]:
        _broadcast.clear()
        _broadcast_scope[0] = scope
    probe, nbytes = None, 0
    index = _broadcast.get(key)
    if index is None:
        index, probe, nbytes = _build_index(source, inp, scope, key)
        _broadcast[key] = index
    if probe is None:
        probe, probed = _join_side(source[probe_side], inp[probe_side], scope)
        nbytes += probed
    return index.join(probe, source[f"{probe_side}_keys"], side == "left", needed), nbytes


def _build_index(
    source: dict[str, Any], inp: dict[str, Any], scope: str, key: str
) -> tuple[BroadcastIndex, tuple[pa.Table, int] | None, int]:
    """The broadcast side's index, the probe split if it was read while others built parts of
    the side, and the bytes read. On a local job store each range of a scanned side is a part
    that any worker may build (broadcast_share); elsewhere this task reads the whole side."""
    side = source["broadcast"]
    probe_side = "right" if side == "left" else "left"
    keys = source[f"{side}_keys"]
    from . import broadcast_share
    from .broadcast import BroadcastIndex

    if not broadcast_share.shared(scope):
        table, nbytes = _join_side(source[side], inp[side], scope)
        return BroadcastIndex(table, keys), None, nbytes
    parts = [
        functools.partial(_join_side, source[side], part, scope)
        for part in _side_parts(source[side], inp[side])
    ]
    index, probe, nbytes = broadcast_share.build_index(
        scope, key, keys, parts, lambda: _join_side(source[probe_side], inp[probe_side], scope)
    )
    if probe is None:
        return index, None, nbytes
    table, probed = probe
    return index, table, nbytes + probed


_ROW_WISE = {"filter", "project", "expand"}


def _side_parts(side: dict[str, Any], inp: dict[str, Any]) -> list[dict[str, Any]]:
    """A broadcast side's input as parts that may be read apart: one per range of a scan whose
    operators all work row by row (else the whole input: one part)."""
    source, ranges = side["source"], inp.get("ranges", [])
    if source["type"] != "scan" or scan.streams(source) or len(ranges) < 2:
        return [inp]
    if any(op["op"] not in _ROW_WISE for op in side["ops"]):
        return [inp]
    return [{**inp, "ranges": [r]} for r in ranges]


def _join(
    source: dict[str, Any], inp: dict[str, Any], job: str, needed: set[str] | None
) -> tuple[pa.Table, int]:
    """An equi-join. An inner join's broadcast side is indexed once and probed by each task's
    split; an outer join (never broadcasting its preserved side) hashes both sides per task.
    Only the `needed` columns (None: all) are emitted: join keys are often read by nothing after
    the join, and long keys (URLs) are the costliest columns to gather."""
    if source.get("broadcast") in ("left", "right") and source.get("how", "inner") == "inner":
        return _broadcast_join(source, inp, job, needed)
    rows = inp.get("rows", "")
    if rows.endswith("_unmatched"):
        joined, nbytes = _unmatched(source, inp, rows.split("_")[0], job)
        if needed is not None:
            joined = joined.select([c for c in joined.column_names if c in needed] or [0])
        return joined, nbytes
    (left, left_bytes), (right, right_bytes) = (
        _join_side(source["left"], inp["left"], job),
        _join_side(source["right"], inp["right"], job),
    )
    how = "inner" if rows == "matched" else source.get("how", "inner")
    joined = operators.hash_join(left, right, source["left_keys"], source["right_keys"], how)
    if needed is not None:
        # COUNT(*) reads no column but counts rows: keep one.
        joined = joined.select([c for c in joined.column_names if c in needed] or [0])
    return joined, left_bytes + right_bytes


def _unmatched(
    source: dict[str, Any], inp: dict[str, Any], side: str, job: str
) -> tuple[pa.Table, int]:
    """The rows of one side of an outer join that match no row of the other side, with NULLs
    for the other side's columns. The other side is read one part (map output) at a time and
    only its distinct keys are kept, so a hot key there costs one part, not its partition."""
    other = "right" if side == "left" else "left"
    table, nbytes = _join_side(source[side], inp[side], job)
    matcher = operators.Unmatched(table, source[f"{side}_keys"], source[f"{other}_keys"])
    for part in inp[other]["parts"]:
        chunk, n = _join_side(source[other], {"parts": [part]}, job)
        matcher.add(chunk)
        nbytes += n
    return matcher.rows(side == "left"), nbytes


def _union(
    source: dict[str, Any], inp: dict[str, Any], job: str, needed: set[str] | None
) -> tuple[pa.Table, int]:
    """UNION ALL: this task's branch, read and shaped by that branch's operators."""
    branch = source["branches"][inp["branch"]]
    table, _, nbytes, rest = _shaped(branch["source"], inp["input"], branch["ops"], job)
    return operators.apply(rest, table), nbytes


Reader = Callable[[dict[str, Any], dict[str, Any], str, "set[str] | None"], tuple[pa.Table, int]]


def _read_scan(
    source: dict[str, Any], inp: dict[str, Any], job: str, needed: set[str] | None
) -> tuple[pa.Table, int]:
    return scan.read_split(source, inp["ranges"])


def _read_parts(
    source: dict[str, Any], inp: dict[str, Any], job: str, needed: set[str] | None
) -> tuple[pa.Table, int]:
    if source.get("range"):
        tables, nbytes = _read_range(source["range"], inp)
    else:
        tables, nbytes = shuffle.fetch_parts(inp["parts"], storage_for)
    if not tables:
        return pa.table({}), 0
    return batched.concat(tables), nbytes


def _read_range(keys: list[dict[str, Any]], inp: dict[str, Any]) -> tuple[list[pa.Table], int]:
    """This task's key range of every sorted output: outputs are read one at a time and only
    the range's rows kept, so the task holds one output and its own share, never them all."""
    from . import ranges

    kept, nbytes = [], 0
    for part in inp["parts"]:
        tables, n = shuffle.fetch_parts([part], storage_for)
        nbytes += n
        kept += [ranges.rows_in_range(t, keys, inp.get("lower"), inp.get("upper")) for t in tables]
    return kept, nbytes


SOURCES: dict[str, Reader] = {
    "scan": _read_scan,
    "join": _join,
    "shuffle": _read_parts,
    "gather": _read_parts,
    "combine": _read_parts,
    "union": _union,
}
"""How each source kind of spec.SOURCES is read: (table, bytes read)."""


def read_source(
    source: dict[str, Any], inp: dict[str, Any], scope: str = "", needed: set[str] | None = None
) -> tuple[pa.Table, int]:
    """A stage's input table and the bytes read: a split, shuffle partitions, or a join of two
    (of which only the `needed` columns, when given). Broadcast sides are kept for `scope`."""
    return SOURCES[source["type"]](source, inp, scope, needed)


Index = list[dict[str, int]] | None


def _write_shuffle(sink: dict[str, Any], table: pa.Table, codec: str | None, out) -> Index:
    index = shuffle.write_partitions(out, table, sink["keys"], sink["partitions"], codec)
    return [{"offset": o, "length": n, "rows": r} for o, n, r in index]


def _write_result(sink: dict[str, Any], table: pa.Table, codec: str | None, out) -> Index:
    if not sink.get("sample"):
        shuffle.write_table(out, table, codec)
        return None
    # A sorted output for a range merge: in pieces starting at its sample rows, so that a merge
    # task reads only the pieces its key range can hold.
    from . import ranges

    sample = sink["sample"]
    pieces = ranges.sorted_pieces(
        table, sample["rows"], sample.get("piece_bytes", ranges.PIECE_BYTES)
    )
    index = shuffle.write_consecutive(out, pieces, codec)
    return [{"offset": o, "length": n, "rows": r} for o, n, r in index]


SINKS: dict[str, tuple[str, Callable[[dict[str, Any], pa.Table, str | None, Any], Index]]] = {
    "shuffle": ("shuffle.bin", _write_shuffle),
    "result": ("result.arrow", _write_result),
}
"""For each sink kind of spec.SINKS: the output object's name, and how it is written into the
object's stream (Storage.open_write: straight into the file locally), returning the places of
its partitions within it."""


def run_task(event: dict[str, Any], invocation: str | None = None) -> dict[str, Any]:
    """Validate and execute one task event; return its summary (spec's task_summary).
    `invocation` (Lambda's request id) makes the output key unique per invocation."""
    t0 = time.perf_counter()
    _reset_peak()
    requests_before = request_counts()
    validate_event(event)
    stage = event["stage"]
    where = {"job": event["job"], "stage": stage["id"], "task": event["task"]}
    with tracing.subsegment("read", **where):
        inputs, rows_in, bytes_in, ops = _read_input(event, stage)
    t1 = time.perf_counter()
    with tracing.subsegment("compute", **where):
        local = not is_remote(event["job_store"])
        table = batched.apply_by_partition(ops, inputs, local)
    t2 = time.perf_counter()
    sink = stage["sink"]
    with tracing.subsegment("write", **where):
        name, write = SINKS[sink["type"]]
        url = output_url(event, name, invocation)
        codec = shuffle.choose_codec(event.get("compression", "auto"), url)
        _check_live(event)
        with storage_for(url).open_write(url) as out:
            index = write(sink, table, codec, out)
            length = out.tell()
    t3 = time.perf_counter()
    summary = {
        "version": SUMMARY_VERSION,
        "task_id": f"{stage['id']}-{event['task']:05d}",
        "stage": stage["id"],
        "task": event["task"],
        "attempt": event["attempt"],
        "rows_in": rows_in,
        "bytes_in": bytes_in,
        "rows_out": table.num_rows,
        "bytes_out": length,
        "output": {
            "url": url,
            "length": length,
            "partitions": index,
            "codec": codec or "none",
        },
        "max_rss_mb": _max_rss_mb(),
        "s3_requests": requests_since(requests_before),
        "timings": {
            "read": round(t1 - t0, 6),
            "compute": round(t2 - t1, 6),
            "write": round(t3 - t2, 6),
            "total": round(t3 - t0, 6),
        },
    }
    if sink.get("hot_keys"):  # for a skew-aware join to name the keys of a split partition
        summary["hot_keys"] = shuffle.hot_keys(table, sink["keys"], sink["partitions"])
    if sink.get("sample"):  # sort keys for the driver to choose range boundaries from
        from . import ranges

        summary["sample"] = ranges.sample_keys(
            table, sink["sample"]["keys"], sink["sample"]["rows"]
        )
    return summary


def _check_live(event: dict[str, Any]) -> None:
    """Refuse to write the output of a cancelled job: a task that ends after its driver failed
    (a Lambda invocation cannot be stopped) would otherwise re-create, below a job prefix the
    driver has cleaned, objects nobody removes. The driver deletes the heartbeat first, then
    waits for running tasks, then removes the job's objects."""
    beat = event.get("heartbeat")
    if beat and not storage_for(beat).exists(beat):
        raise JobCancelledError(
            f"job {event['job']} was cancelled (its heartbeat is gone); the task wrote nothing"
        )


def _read_input(event: dict[str, Any], stage: dict[str, Any]):
    """The task's input: (its tables, rows read, bytes read, the ops still to run on them).

    Several tables are a reducer's partitions, whose keys are disjoint (batched's
    apply_by_partition); otherwise there is one."""
    needed = operators.columns_read(stage["ops"])
    # What the broadcast sides may be kept for, and where a job's shared index files live.
    scope = join(event["job_store"], event["job"], "broadcast", stage["id"])
    source, inp = stage["source"], event["input"]
    parts = inp.get("parts")
    keep = _grouped_keys(stage["ops"])
    if source["type"] == "shuffle" and not source.get("range") and _partitioned(parts, keep):
        groups, nbytes = shuffle.fetch_by_partition(parts, storage_for, bool(keep))
        tables = [packed.unpack_table(batched.concat(g), keep) for g in groups]
        return tables, sum(t.num_rows for t in tables), nbytes, stage["ops"]
    # A compressed object's leading operators run per batch (their time counts as reading).
    table, rows, nbytes, rest = _shaped(source, inp, stage["ops"], scope, needed)
    return [table], rows, nbytes, rest


def _grouped_keys(ops: list[dict[str, Any]]) -> set[str]:
    """The columns a reducer may take packed from its shuffle (packed.py): the keys of a
    final aggregate that comes first and that no aggregate reads."""
    if not ops or ops[0]["op"] != "aggregate" or ops[0].get("phase") != "final":
        return set()
    read = {a.get("column") for a in ops[0]["aggregates"]}
    return set(ops[0]["keys"]) - read


def _partitioned(parts: list[dict[str, Any]] | None, keep: set[str]) -> bool:
    """Whether a reducer's parts say which partition each holds, and there are several or its
    aggregate may group packed keys (`keep`) as they arrive."""
    if not parts or any("partition" not in p for p in parts):
        return False
    return bool(keep) or len({p["partition"] for p in parts}) > 1


def _reset_peak() -> None:
    """Start the task's peak memory from what the process holds now. A warm worker (a local pool
    reused across queries, or a reused Lambda environment) would otherwise report an earlier
    task's peak as this one's: TPC-H's per-query worker figure only ever grew. Linux resets the
    high-water mark on writing 5 to clear_refs (since 4.0, without walking the page tables);
    where that is refused, the figure stays the process's peak so far."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _max_rss_mb() -> float:
    """Peak resident memory of this process while the task ran, what it held before included
    (Lambda reports the same as Max Memory Used).

    On Linux, the high-water mark of this address space (VmHWM): ru_maxrss survives exec, so
    a process started from a big one (a function emulated under pytest) would report its
    parent's peak, not its own."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)
