"""The shuffle at S3 latency: Amplab 2a with many map tasks, S3 behind a latency-injecting proxy.

  python -m sqlmr_benchmarks.shuffle_latency --maps 200 --delay 0.020 [--partitions 8]
      [--scale 0.002] [--workers 2] [--runs 3] [--exchange auto|direct|two-level] [--json FILE]

Runs from a checkout (it uses the test suite's servers in tests/): starts SeaweedFS (`weed
mini`, from the test extra) and tests/s3_proxy.py in front of it, which adds `--delay` seconds to
every S3 request; uploads Amplab uservisits at `--scale`; runs 2a with the split size that gives
`--maps` map tasks, tables and job store on S3 through the proxy. Tasks run in the local
executor's worker processes: the same handler code as on Lambda, reading and writing S3 the same
way, without the Invoke emulator in between (the reduce stage's reads are what is measured).

It reports the reduce stage's wall time against the ideal the issue sets: the bytes the reducers
read divided by the store's bandwidth, plus one round-trip per map output. The bandwidth is
measured in the same run: the best of three reads of a 64 MB object through the proxy at zero
added delay. It also reports the GET requests of the reduce stage, counted by the proxy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
QUERY = (
    "SELECT SUBSTR(sourceIP, 1, 8), SUM(adRevenue) FROM uservisits GROUP BY SUBSTR(sourceIP, 1, 8)"
)
PROBE_BYTES = 64 << 20


def _servers(root: Path):
    """SeaweedFS and the proxy; the runtime's S3 clients pointed at the proxy."""
    if not TESTS.is_dir():
        raise SystemExit(f"{TESTS} not found: run this from a sqlmr checkout")
    sys.path.insert(0, str(TESTS))
    from s3_proxy import S3Proxy
    from s3_server import reset_s3_clients, start_seaweed

    seaweed = start_seaweed(root)
    proxy = S3Proxy(seaweed.endpoint).start()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_CONFIG_FILE=str(root / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(root / "no-aws-credentials"),
        AWS_ENDPOINT_URL_S3=proxy.endpoint,
        AWS_ACCESS_KEY_ID=seaweed.access_key,
        AWS_SECRET_ACCESS_KEY=seaweed.secret_key,
        AWS_REGION=seaweed.region,
        AWS_DEFAULT_REGION=seaweed.region,
        AWS_EC2_METADATA_DISABLED="true",
    )
    reset_s3_clients()
    return seaweed, proxy


def _upload(seaweed, scale: str, root: Path) -> int:
    """Generate uservisits at `scale` and upload it (directly, not through the proxy)."""
    from sqlmr.datagen.amplab import generate

    data = root / "amplab"
    generate(data, scale=scale, workers=2)
    client, total = seaweed.client(), 0
    for path in sorted((data / "uservisits").iterdir()):
        client.upload_file(str(path), seaweed.bucket, f"amplab/uservisits/{path.name}")
        total += path.stat().st_size
    return total


def _bandwidth(seaweed, proxy) -> float:
    """Bytes per second of one 64 MB object read through the proxy at zero added delay, the way
    the runtime reads a large range (concurrent 8 MB ranged GETs)."""
    from sqlmr_runtime.storage import storage_for

    url = seaweed.url("probe", "64mb.bin")
    store = storage_for(url)
    data = os.urandom(PROBE_BYTES)
    store.write(url, data)
    delay, proxy.delay = proxy.delay, 0.0
    try:
        best = 0.0
        for _ in range(3):
            started = time.perf_counter()
            assert len(store.read_range(url, 0, PROBE_BYTES)) == PROBE_BYTES
            best = max(best, PROBE_BYTES / (time.perf_counter() - started))
        return best
    finally:
        proxy.delay = delay


def run_once(seaweed, proxy, args, input_bytes: int, bandwidth: float) -> dict:
    """One run of 2a; the reduce stage's numbers and its ideal."""
    from sqlmr.api import QueryOptions, compile_query, resolve_catalog, run

    options = QueryOptions(
        workers=args.workers,
        split_size=max(1, -(-input_bytes // args.maps)),
        reducers=args.partitions,
        exchange=args.exchange,
        job_store=seaweed.url("jobs"),
        keep_intermediates=True,
    )
    plan = compile_query(QUERY, resolve_catalog(seaweed.url("amplab")), options)
    maps = len(plan.stages[0].tasks)
    proxy.delay = args.delay
    mark = len(proxy.log)
    with run(plan, options) as result:
        rows = result.rows
        stages = {s.id: s for s in result.stages}
        reduce = result.stages[-1]
        combine = stages.get("map_combine")
        reads = [s["timings"]["read"] for s in result.results]
        # The proxy logs path-style targets, /bucket/key: GETs of shuffle objects are the
        # reduce stage's (the map stage reads only the table).
        shuffle_gets = [t for op, t, *_ in proxy.log[mark:] if op == "GET" and "shuffle" in t]
        reduce_gets = [t for t in shuffle_gets if "/map/" not in t or combine is None]
        result.keep_intermediates = False  # the job's objects go when the block ends
    ideal = reduce.bytes_in / bandwidth + maps * args.delay
    return {
        "maps": maps,
        "reduce_tasks": reduce.tasks,
        "rows": rows,
        "reduce_seconds": reduce.seconds,
        "reduce_bytes": reduce.bytes_in,
        "reduce_gets": len(reduce_gets),
        "shuffle_gets": len(shuffle_gets),
        "combine_tasks": combine.tasks if combine else 0,
        "combine_seconds": combine.seconds if combine else 0.0,
        "reduce_plus_combine_seconds": reduce.seconds + (combine.seconds if combine else 0.0),
        "reduce_read_seconds_max": max(reads),
        "reduce_read_seconds_sum": sum(reads),
        "bandwidth_mb_s": bandwidth / 1e6,
        "ideal_seconds": ideal,
        "ratio_to_ideal": reduce.seconds / ideal,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=200, help="map tasks (default 200)")
    parser.add_argument("--delay", type=float, default=0.020, help="seconds per S3 request")
    parser.add_argument("--partitions", type=int, default=None, help="shuffle partitions")
    parser.add_argument("--scale", default="0.002", help="Amplab scale (default 0.002)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--exchange",
        default="auto",
        choices=["auto", "direct", "two-level"],
        help="shuffle exchange",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="write the runs as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sqlmr-shuffle-bench-") as tmp:
        root = Path(tmp)
        seaweed, proxy = None, None
        try:
            seaweed, proxy = _servers(root)
            input_bytes = _upload(seaweed, args.scale, root)
            bandwidth = _bandwidth(seaweed, proxy)
            runs = [
                run_once(seaweed, proxy, args, input_bytes, bandwidth) for _ in range(args.runs)
            ]
        finally:
            if proxy is not None:
                proxy.stop()
            if seaweed is not None:
                from s3_server import stop_seaweed

                stop_seaweed(seaweed)
    _report(args, input_bytes, runs)
    if args.json:
        doc = {"args": vars(args), "input_bytes": input_bytes, "runs": runs}
        Path(args.json).write_text(json.dumps(doc, indent=2))
    return 0


def _report(args, input_bytes: int, runs: list[dict]) -> None:
    first = runs[0]
    print(
        f"2a, {first['maps']} map tasks, {first['reduce_tasks']} reduce tasks, "
        f"{input_bytes / 1e6:.1f} MB input, {args.delay * 1000:.0f} ms per S3 request, "
        f"exchange {args.exchange}"
    )
    for key in (
        "reduce_seconds",
        "combine_seconds",
        "reduce_plus_combine_seconds",
        "combine_tasks",
        "shuffle_gets",
        "ideal_seconds",
        "ratio_to_ideal",
        "reduce_gets",
        "reduce_bytes",
        "bandwidth_mb_s",
        "reduce_read_seconds_max",
    ):
        values = [r[key] for r in runs]
        print(f"  {key:24} median {statistics.median(values):10.3f}  all {values}")


if __name__ == "__main__":
    sys.exit(main())
