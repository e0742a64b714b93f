"""What a query costs on AWS Lambda + S3: measured after a Lambda job, estimated for explain.

Prices are us-east-1 list prices of the first usage tier, without the free tier, from
https://aws.amazon.com/lambda/pricing/, https://aws.amazon.com/s3/pricing/ (S3 Standard requests)
and https://aws.amazon.com/athena/pricing/ (SQL queries, per TB scanned). They were recorded on
PRICES_DATE; other regions and later dates may differ, so re-check the pages before quoting them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmr.defaults import TASK_MEMORY_MB
from sqlmr.errors import UsageError

PRICES_REGION = "us-east-1"
PRICES_DATE = "2026-11-24"

LAMBDA_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}  # $ per GB-second
LAMBDA_REQUEST = 0.20 / 1_000_000  # $ per invocation ($0.20 per 1M requests)
S3_GET_PER_1000 = 0.0004  # GET, SELECT and all other requests
S3_PUT_PER_1000 = 0.005  # PUT, COPY, POST
S3_LIST_PER_1000 = 0.005  # LIST is priced with PUT, COPY and POST
ATHENA_PER_TB = 5.00  # $ per TB scanned, TB = 2**40 bytes
ATHENA_MIN_BYTES = 10 * 1_000_000  # Athena bills at least 10 MB per query

# Estimates (explain). A map task parses delimited text at about SCAN_BYTES_PER_SECOND with one
# full vCPU, which Lambda gives at FULL_VCPU_MB of memory; below that CPU, and so throughput,
# shrink in proportion. Every task also pays TASK_OVERHEAD_SECONDS (invocation, S3 latency,
# writing its output); a reduce or merge task, whose input size the plan does not know, is
# estimated at that overhead alone.
SCAN_BYTES_PER_SECOND = 100 * 1_000_000
FULL_VCPU_MB = 1769
TASK_OVERHEAD_SECONDS = 0.25
LIST_PAGE = 1000  # keys per LIST response


@dataclass(frozen=True)
class CostItem:
    """One row of a cost table."""

    item: str
    quantity: float
    unit: str
    unit_price: float
    price_unit: str
    cost: float


@dataclass
class CostReport:
    """The cost of one job: Lambda compute and requests, and S3 requests."""

    arch: str
    invocations: int
    billed_ms: int
    gb_seconds: float
    s3_get: int = 0
    s3_put: int = 0
    s3_list: int = 0
    items: list[CostItem] = field(default_factory=list)
    # What is not measured: each line says what was assumed, printed under the table.
    estimated: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(i.cost for i in self.items)


# S3 request classes by API operation, as S3 Standard bills them: PUT, COPY, POST and LIST at one
# price; DELETE and abort (CANCEL) free; GET, HEAD and every other request at the GET price.
_S3_PUT_CLASS = {
    "PutObject",
    "CopyObject",
    "PostObject",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
}
_S3_LIST_CLASS = {"ListObjects", "ListObjectsV2", "ListMultipartUploads", "ListParts"}
_S3_FREE = {"DeleteObject", "DeleteObjects", "AbortMultipartUpload"}


def s3_request_classes(counts: Mapping[str, int]) -> dict[str, int]:
    """Requests per API operation (as the runtime counts them) to the billed classes
    {"get", "put", "list"}; free requests (DELETE, abort) are left out."""
    classes = {"get": 0, "put": 0, "list": 0}
    for operation, n in counts.items():
        if operation in _S3_PUT_CLASS:
            classes["put"] += n
        elif operation in _S3_LIST_CLASS:
            classes["list"] += n
        elif operation not in _S3_FREE:
            classes["get"] += n
    return classes


def _check_arch(arch: str) -> None:
    if arch not in LAMBDA_GB_SECOND:
        raise UsageError(f"unknown architecture {arch!r}; expected x86_64 or arm64")


def _items(
    arch: str, requests: int, gb_seconds: float, get: int, put: int, lst: int
) -> list[CostItem]:
    return [
        CostItem(
            f"Lambda compute ({arch})",
            gb_seconds,
            "GB-s",
            LAMBDA_GB_SECOND[arch],
            "GB-s",
            gb_seconds * LAMBDA_GB_SECOND[arch],
        ),
        CostItem(
            "Lambda requests",
            requests,
            "requests",
            LAMBDA_REQUEST * 1_000_000,
            "1M",
            requests * LAMBDA_REQUEST,
        ),
        CostItem("S3 GET", get, "requests", S3_GET_PER_1000, "1K", get / 1000 * S3_GET_PER_1000),
        CostItem("S3 PUT", put, "requests", S3_PUT_PER_1000, "1K", put / 1000 * S3_PUT_PER_1000),
        CostItem("S3 LIST", lst, "requests", S3_LIST_PER_1000, "1K", lst / 1000 * S3_LIST_PER_1000),
    ]


def lambda_cost(
    invocations: Iterable[Mapping[str, Any]],
    arch: str = "x86_64",
    s3_get: int = 0,
    s3_put: int = 0,
    s3_list: int = 0,
    memory_mb: int | None = None,
) -> CostReport:
    """The cost of a Lambda job from its invocations (dicts with billed_ms and memory_mb, as the
    Lambda executor records them) and the S3 requests the job made.

    Billed GB-seconds = sum(billed_ms / 1000 × memory_mb / 1024); every invocation, retries
    included, is one request. An invocation without a memory figure (its log tail had no REPORT
    line) counts at `memory_mb`, the function's configured memory, when given; one without a
    billed duration counts as a request only.
    """
    _check_arch(arch)
    count, billed, gb_seconds, unbilled = 0, 0, 0.0, 0
    for inv in invocations:
        count += 1
        ms = int(inv.get("billed_ms") or 0)
        unbilled += not ms or not (inv.get("memory_mb") or memory_mb)
        billed += ms
        gb_seconds += ms / 1000 * float(inv.get("memory_mb") or memory_mb or 0) / 1024
    estimated = []
    if unbilled:
        estimated.append(
            f"{unbilled:,} invocation(s) without a billed duration or memory (no REPORT line) "
            "count as requests only, not compute"
        )
    return CostReport(
        arch=arch,
        invocations=count,
        billed_ms=billed,
        gb_seconds=gb_seconds,
        s3_get=s3_get,
        s3_put=s3_put,
        s3_list=s3_list,
        items=_items(arch, count, gb_seconds, s3_get, s3_put, s3_list),
        estimated=estimated,
    )


def _money(value: float) -> str:
    return f"${value:,.6f}"


def _quantity(value: float, unit: str) -> str:
    if unit == "GB-s":
        return f"{value:,.3f} GB-s"
    return f"{int(value):,}"


def _price(value: float, per: str) -> str:
    whole, _, fraction = f"{value:.10f}".partition(".")
    return f"${whole}.{fraction.rstrip('0').ljust(2, '0')}/{per}"


def format_cost_table(report: CostReport) -> str:
    """The cost as a plain text table (item, quantity, unit price, cost), in the style of the
    reference architecture's README, with a total row and the price source under it."""
    rows = [("Item", "Quantity", "Unit price", "Cost")]
    rows += [
        (i.item, _quantity(i.quantity, i.unit), _price(i.unit_price, i.price_unit), _money(i.cost))
        for i in report.items
    ]
    total = ("Total", "", "", _money(report.total))
    widths = [max(len(r[c]) for r in [*rows, total]) for c in range(4)]
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"

    def line(row: tuple[str, ...]) -> str:
        cells = [
            f" {cell.ljust(w) if c == 0 else cell.rjust(w)} "
            for c, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "|" + "|".join(cells) + "|"

    out = [rule, line(rows[0]), rule, *(line(r) for r in rows[1:]), rule, line(total), rule]
    out.append(
        f"{report.invocations:,} invocation(s), {report.billed_ms:,} ms billed; "
        f"{PRICES_REGION} list prices of {PRICES_DATE}, free tier not deducted"
    )
    out += [f"estimated: {line}" for line in report.estimated]
    return "\n".join(out)


# -- estimates for explain ------------------------------------------------------------------------


def task_ranges(source: Mapping[str, Any], task: Mapping[str, Any]) -> list[tuple[str, dict]]:
    """The (table, byte range) pairs one task reads, through a join's two sides."""
    kind = source.get("type")
    if kind == "scan":
        return [(source.get("table", ""), r) for r in task.get("ranges", [])]
    if kind == "join":
        return [
            pair
            for side in ("left", "right")
            for pair in task_ranges(source[side]["source"], task.get(side, {}))
        ]
    if kind == "union" and "branch" in task:
        branch = source["branches"][task["branch"]]["source"]
        return task_ranges(branch, task.get("task", {}))
    return []


@dataclass(frozen=True)
class ScanInput:
    """What a stage scans of one table, each range counted once however many tasks read it
    (every task of a broadcast join reads the whole broadcast side)."""

    table: str
    objects: int
    bytes: int
    ranges: int


def scan_inputs(stage: Mapping[str, Any]) -> list[ScanInput]:
    """The tables a stage scans, in the order they appear, with distinct objects and bytes."""
    seen: dict[str, set[tuple[str, int, int]]] = {}
    for task in stage.get("tasks", []):
        for table, r in task_ranges(stage.get("source", {}), task):
            seen.setdefault(table, set()).add((r["url"], int(r["start"]), int(r["end"])))
    return [
        ScanInput(
            table,
            len({url for url, _, _ in spans}),
            sum(max(0, end - start) for _, start, end in spans),
            len(spans),
        )
        for table, spans in seen.items()
    ]


def _stage_estimate(
    stage: Mapping[str, Any], tasks_of: Mapping[str, int], seconds_per_byte: float
) -> dict[str, Any]:
    source = stage.get("source", {})
    tasks = stage.get("tasks", [])
    n = len(tasks)
    get = put = 0
    seconds = n * TASK_OVERHEAD_SECONDS
    if source.get("type") in ("scan", "join", "union"):
        for task in tasks:
            ranges = task_ranges(source, task)
            get += len(ranges)  # at least one ranged GET per range (more when a row straddles)
            # Every task parses what it reads, the broadcast side included.
            seconds += sum(max(0, int(r["end"]) - int(r["start"])) for _, r in ranges) * (
                seconds_per_byte
            )
    elif source.get("type") == "shuffle":
        get = n * tasks_of.get(source.get("stage", ""), 0)  # one ranged GET per map output
    elif source.get("type") in ("gather", "combine"):
        get = tasks_of.get(source.get("stage", ""), 0)  # each upstream output read once
    put = n  # one output object per task
    inputs = scan_inputs(stage)
    return {
        "tasks": n,
        "s3_get": get,
        "s3_put": put,
        "objects": sum(i.objects for i in inputs),
        "input_bytes": sum(i.bytes for i in inputs),
        "seconds": seconds,
    }


def _per_stage(stages: list[dict[str, Any]], seconds_per_byte: float) -> dict[str, dict[str, Any]]:
    """Each stage's estimate, by stage id, in plan order."""
    tasks_of: dict[str, int] = {}
    per_stage: dict[str, dict[str, Any]] = {}
    for stage in stages:
        est = _stage_estimate(stage, tasks_of, seconds_per_byte)
        tasks_of[stage["id"]] = est["tasks"]
        per_stage[stage["id"]] = est
    return per_stage


def _s3_requests(
    stages: list[dict[str, Any]], per_stage: dict[str, dict[str, Any]]
) -> tuple[int, int, int]:
    """(GET, PUT, LIST) requests: the tasks', the driver's result GETs, the table listings and
    the cleanup listing."""
    outputs = sum(s["s3_put"] for s in per_stage.values())
    result_gets = per_stage[stages[-1]["id"]]["tasks"] if stages else 0
    get = sum(s["s3_get"] for s in per_stage.values()) + result_gets
    lst = sum(math.ceil(s["objects"] / LIST_PAGE) for s in per_stage.values() if s["objects"])
    lst += math.ceil(outputs / LIST_PAGE) if outputs else 0  # the cleanup listing
    return get, outputs, lst


def estimate(
    plan_json: Mapping[str, Any], memory_mb: int = TASK_MEMORY_MB, arch: str = "x86_64"
) -> dict:
    """Estimated Lambda and S3 cost of running a plan (its JSON, Plan.to_json()), without
    retries, and what Athena would charge to scan the same input bytes.

    S3 requests: a map task makes at least one GET per input range and one PUT; a reducer makes
    one ranged GET per map output and one PUT; a merge reads every upstream output; the driver
    GETs each result object, LISTs each table (one request per 1,000 objects) and LISTs the job
    prefix when it cleans up. GB-seconds assume the throughput documented at
    SCAN_BYTES_PER_SECOND.
    """
    _check_arch(arch)
    if memory_mb <= 0:
        raise UsageError(f"memory must be positive, got {memory_mb} MB")
    cpu_share = min(1.0, memory_mb / FULL_VCPU_MB)
    seconds_per_byte = 1 / (SCAN_BYTES_PER_SECOND * cpu_share)
    stages = plan_json.get("stages", [])
    per_stage = _per_stage(stages, seconds_per_byte)
    requests = sum(s["tasks"] for s in per_stage.values())
    get, put, lst = _s3_requests(stages, per_stage)
    seconds = sum(s["seconds"] for s in per_stage.values())
    gb_seconds = seconds * memory_mb / 1024
    input_bytes = sum(s["input_bytes"] for s in per_stage.values())
    items = _items(arch, requests, gb_seconds, get, put, lst)
    total = sum(i.cost for i in items)
    # Athena reads whole text objects whatever the columns, each object once per query.
    scanned = max(input_bytes, ATHENA_MIN_BYTES) if input_bytes else 0
    return {
        "arch": arch,
        "memory_mb": memory_mb,
        "stages": per_stage,
        "requests": requests,
        "s3": {"get": get, "put": put, "list": lst},
        "input_bytes": input_bytes,
        "task_seconds": seconds,
        "gb_seconds": gb_seconds,
        "cost": {
            "lambda_compute": items[0].cost,
            "lambda_requests": items[1].cost,
            "s3_requests": items[2].cost + items[3].cost + items[4].cost,
            "total": total,
        },
        "athena": {"bytes_scanned": scanned, "cost": scanned / 2**40 * ATHENA_PER_TB},
        "assumptions": {
            "scan_bytes_per_second": SCAN_BYTES_PER_SECOND * cpu_share,
            "task_overhead_seconds": TASK_OVERHEAD_SECONDS,
            "prices": f"{PRICES_REGION} list prices of {PRICES_DATE}, free tier not deducted",
        },
    }


def format_estimate(est: Mapping[str, Any]) -> str:
    """The estimate as a few lines of text for `sqlmr explain`."""
    s3, cost, athena = est["s3"], est["cost"], est["athena"]
    rate = est["assumptions"]["scan_bytes_per_second"] / 1_000_000
    return "\n".join(
        [
            f"estimated cost on Lambda ({est['arch']}, {est['memory_mb']} MB): "
            f"{_money(cost['total'])}",
            f"  {est['requests']:,} invocation(s), ~{est['gb_seconds']:,.1f} GB-s "
            f"(scan at {rate:,.0f} MB/s per task): "
            f"{_money(cost['lambda_compute'] + cost['lambda_requests'])}",
            f"  S3 requests: {s3['get']:,} GET, {s3['put']:,} PUT, {s3['list']:,} LIST: "
            f"{_money(cost['s3_requests'])}",
            f"  Athena would scan {athena['bytes_scanned']:,} bytes: {_money(athena['cost'])}",
            f"  ({est['assumptions']['prices']})",
        ]
    )
