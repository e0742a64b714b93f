"""Cost arithmetic against hand-computed numbers, the cost table, and explain's estimate."""

from __future__ import annotations

import math

import pytest

from sqlmr.errors import UsageError
from sqlmr.planning import cost

INVOCATIONS = [
    {"billed_ms": 1500, "memory_mb": 1536, "max_memory_used_mb": 400, "duration_ms": 1499.2},
    {"billed_ms": 2500, "memory_mb": 1536, "max_memory_used_mb": 512, "duration_ms": 2499.9},
    {"billed_ms": 1000, "memory_mb": 1024, "max_memory_used_mb": 100, "duration_ms": 999.1},
]


def test_documented_prices():
    assert cost.LAMBDA_GB_SECOND == {"x86_64": 0.0000166667, "arm64": 0.0000133334}
    assert cost.LAMBDA_REQUEST == pytest.approx(0.0000002)
    assert (cost.S3_GET_PER_1000, cost.S3_PUT_PER_1000, cost.S3_LIST_PER_1000) == (
        0.0004,
        0.005,
        0.005,
    )
    assert cost.ATHENA_PER_TB == 5.0
    assert cost.PRICES_REGION == "us-east-1" and cost.PRICES_DATE


def test_lambda_cost_by_hand():
    report = cost.lambda_cost(INVOCATIONS, "x86_64", s3_get=2000, s3_put=10, s3_list=3)
    # 1.5 s × 1.5 GB + 2.5 s × 1.5 GB + 1 s × 1 GB = 2.25 + 3.75 + 1 = 7 GB-s
    assert report.gb_seconds == pytest.approx(7.0)
    assert report.invocations == 3 and report.billed_ms == 5000
    costs = {i.item: i.cost for i in report.items}
    assert costs["Lambda compute (x86_64)"] == pytest.approx(0.0001166669)  # 7 × 0.0000166667
    assert costs["Lambda requests"] == pytest.approx(0.0000006)  # 3 × $0.20 / 1M
    assert costs["S3 GET"] == pytest.approx(0.0008)  # 2,000 × $0.0004 / 1,000
    assert costs["S3 PUT"] == pytest.approx(0.00005)  # 10 × $0.005 / 1,000
    assert costs["S3 LIST"] == pytest.approx(0.000015)  # 3 × $0.005 / 1,000
    assert report.total == pytest.approx(0.0009822669)


def test_lambda_cost_arm_and_empty():
    arm = cost.lambda_cost(INVOCATIONS, "arm64")
    assert arm.items[0].cost == pytest.approx(7 * 0.0000133334)
    assert arm.total == pytest.approx(7 * 0.0000133334 + 3 * 0.0000002)
    empty = cost.lambda_cost([], "x86_64")
    assert empty.total == 0 and empty.gb_seconds == 0 and empty.invocations == 0
    with pytest.raises(UsageError, match="architecture"):
        cost.lambda_cost(INVOCATIONS, "riscv")


def test_lambda_cost_without_report_lines():
    records = [
        {"billed_ms": 2000, "memory_mb": None},  # no REPORT line for its memory
        {"billed_ms": None, "memory_mb": None},  # nothing known: a request only
    ]
    assert cost.lambda_cost(records).gb_seconds == 0
    report = cost.lambda_cost(records, memory_mb=2048)
    assert report.gb_seconds == pytest.approx(4.0) and report.invocations == 2


def test_cost_table():
    report = cost.lambda_cost(INVOCATIONS, "x86_64", s3_get=2000, s3_put=10, s3_list=3)
    table = cost.format_cost_table(report)
    lines = table.splitlines()
    body = [line for line in lines if line.startswith("|")]
    assert len({len(line) for line in body}) == 1  # aligned columns
    assert body[0].startswith("|---") and body[1].split("|")[1].strip() == "Item"
    assert [c.strip() for c in body[1].split("|")[1:-1]] == [
        "Item",
        "Quantity",
        "Unit price",
        "Cost",
    ]
    compute = next(line for line in body if "Lambda compute" in line)
    assert "7.000 GB-s" in compute and "$0.0000166667/GB-s" in compute
    assert "$0.000117" in compute
    assert "$0.20/1M" in next(line for line in body if "Lambda requests" in line)
    assert "2,000" in next(line for line in body if "S3 GET" in line)
    total = next(line for line in body if "Total" in line)
    assert "$0.000982" in total
    assert "us-east-1" in lines[-1] and "3 invocation(s)" in lines[-1]


def _plan():
    mb100 = 100 * 1_000_000

    def r(part: int, i: int) -> dict:
        return {"url": f"s3://b/t/p{part}", "start": i * mb100, "end": (i + 1) * mb100}

    # 4 map tasks of two 100 MB ranges each over 3 objects
    ranges = [[r(0, 0), r(1, 0)], [r(1, 1), r(2, 0)], [r(2, 1), r(2, 2)], [r(0, 1), r(0, 2)]]
    return {
        "version": 1,
        "stages": [
            {
                "id": "map",
                "kind": "map",
                "source": {"type": "scan"},
                "sink": {"type": "shuffle", "partitions": 3, "keys": ["k"]},
                "tasks": [{"ranges": r} for r in ranges],
            },
            {
                "id": "reduce",
                "kind": "reduce",
                "source": {"type": "shuffle", "stage": "map"},
                "sink": {"type": "result"},
                "tasks": [{"partition": p} for p in range(3)],
            },
            {
                "id": "merge",
                "kind": "merge",
                "source": {"type": "gather", "stage": "reduce"},
                "sink": {"type": "result"},
                "tasks": [{}],
            },
        ],
    }


def test_estimate_by_hand():
    est = cost.estimate(_plan(), memory_mb=1769, arch="x86_64")
    assert est["requests"] == 8  # 4 map + 3 reduce + 1 merge
    # GET: 8 ranges + 3 reducers × 4 map outputs + 3 reduce outputs + 1 result = 24
    # PUT: one per task = 8; LIST: 3 objects → 1, cleanup of 8 outputs → 1
    assert est["s3"] == {"get": 24, "put": 8, "list": 2}
    assert est["input_bytes"] == 800_000_000
    # one full vCPU at 1,769 MB: 800 MB at 100 MB/s = 8 s, plus 8 tasks × 0.25 s
    assert est["task_seconds"] == pytest.approx(10.0)
    assert est["gb_seconds"] == pytest.approx(10.0 * 1769 / 1024)
    compute = 10.0 * 1769 / 1024 * 0.0000166667
    s3 = 24 * 0.0004 / 1000 + 8 * 0.005 / 1000 + 2 * 0.005 / 1000
    assert est["cost"]["lambda_compute"] == pytest.approx(compute)
    assert est["cost"]["lambda_requests"] == pytest.approx(8 * 0.0000002)
    assert est["cost"]["s3_requests"] == pytest.approx(s3)
    assert est["cost"]["total"] == pytest.approx(compute + 8 * 0.0000002 + s3)
    assert est["athena"]["bytes_scanned"] == 800_000_000
    assert est["athena"]["cost"] == pytest.approx(800_000_000 / 2**40 * 5)
    assert est["stages"]["reduce"]["s3_get"] == 12


def test_estimate_scales_throughput_below_one_vcpu():
    est = cost.estimate(_plan(), memory_mb=1024, arch="arm64")
    seconds = 8 * 0.25 + 8 * 1769 / 1024  # 8 s of scanning at 1,024/1,769 of a vCPU
    assert est["task_seconds"] == pytest.approx(seconds)
    assert est["gb_seconds"] == pytest.approx(seconds)
    assert est["cost"]["lambda_compute"] == pytest.approx(seconds * 0.0000133334)
    text = cost.format_estimate(est)
    assert "arm64, 1024 MB" in text and "24 GET, 8 PUT, 2 LIST" in text
    assert "Athena would scan 800,000,000 bytes" in text


def test_estimate_small_input_uses_athena_minimum():
    plan = _plan()
    plan["stages"] = plan["stages"][:1]
    plan["stages"][0]["tasks"] = [{"ranges": [{"url": "s3://b/t", "start": 0, "end": 1000}]}]
    plan["stages"][0]["sink"] = {"type": "result"}
    est = cost.estimate(plan)
    assert est["s3"] == {"get": 2, "put": 1, "list": 2}  # range + result; table + cleanup
    assert est["athena"]["bytes_scanned"] == 10_000_000
    assert math.isclose(est["athena"]["cost"], 10_000_000 / 2**40 * 5)


def test_estimate_of_a_compiled_plan(amplab_dir):
    import sqlmr

    catalog = sqlmr.resolve_catalog(amplab_dir)
    plan = sqlmr.compile_query(
        "SELECT countryCode, SUM(adRevenue) FROM uservisits GROUP BY countryCode",
        catalog,
        sqlmr.QueryOptions(workers=2, split_size="256KB", reducers=2),
    )
    doc = plan.to_json()
    est = cost.estimate(doc, 1536, "x86_64")
    tasks = sum(len(s["tasks"]) for s in doc["stages"])
    assert est["requests"] == tasks and est["requests"] > 2
    assert est["input_bytes"] > 1_000_000
    assert est["cost"]["total"] > 0
