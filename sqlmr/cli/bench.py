"""The `sqlmr gen` and `sqlmr bench` commands: Amplab data and the benchmark."""

from __future__ import annotations

import argparse
import sys

from sqlmr.errors import UsageError

GEN_FORMATS = ["text", "text-gzip", "text-deflate", "text-zstd", "text-bzip2", "parquet"]
# Compressed text DuckDB cannot read: bench runs DuckDB on the plain text of the same data.
DUCKDB_READS_TEXT = ("text-deflate", "text-bzip2")


def add_commands(
    sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser] | None = None
) -> None:
    """Register `gen` and `bench` on the main parser."""
    if parents is None:
        from sqlmr.cli.app import parents as make_parents

        parents = make_parents()
    g = sub.add_parser(
        "gen",
        help="generate benchmark data",
        description="Generate Amplab Big Data Benchmark tables, or the TPC-H tables (with "
        "tpchgen-cli) and their catalog.toml.",
        parents=[parents["common"]],
    )
    g.add_argument("dataset", choices=["amplab", "tpch"], help="which benchmark's data")
    g.add_argument(
        "--scale",
        default=None,
        help="amplab: tiny (default), 1node, 5nodes, or a fraction of 1node such as 0.05; "
        "tpch: the scale factor (default 1; 0.01 is about 10 MB)",
    )
    g.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (one subfolder per table)"
    )
    g.add_argument(
        "--format",
        choices=GEN_FORMATS,
        default="text",
        help="text (default), compressed text (gzip, Hadoop .deflate, zstd, bzip2: amplab "
        "only) or Parquet",
    )
    g.add_argument(
        "--parts", type=int, default=1, metavar="N", help="tpch: files per table (default 1)"
    )
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument(
        "--workers", type=int, default=None, metavar="N", help="processes (default: CPU count)"
    )
    g.set_defaults(handler=_gen, raw_settings=True)
    add_bench(sub, parents["common"])


def _gen(args: argparse.Namespace) -> int:
    if args.dataset == "tpch":
        return _gen_tpch(args)
    from sqlmr.datagen.amplab import generate, scale_rows

    args.scale = args.scale or "tiny"
    rankings, visits = scale_rows(args.scale)
    fmt = getattr(args, "format", "text")
    if fmt == "text":
        stats = generate(args.out, scale=args.scale, seed=args.seed, workers=args.workers)
    else:
        from sqlmr.datagen.formats import generate_in_format

        stats = generate_in_format(args.out, fmt, args.scale, args.seed, args.workers)
    mb = stats.bytes_written / 1e6
    print(
        f"wrote {stats.rankings_rows:,} rankings and {stats.uservisits_rows:,} uservisits rows "
        f"({mb:,.1f} MB in {len(stats.files)} files) to {args.out} in {stats.seconds:.2f}s "
        f"({mb / max(stats.seconds, 1e-9):,.0f} MB/s)",
        file=sys.stderr,
    )
    return 0


def _gen_tpch(args: argparse.Namespace) -> int:
    from sqlmr.datagen.tpch import generate

    try:
        scale = float(args.scale or 1)
    except ValueError:
        raise UsageError(f"--scale must be a number for tpch, not {args.scale!r}") from None
    if args.parts < 1:
        raise UsageError("--parts must be at least 1")
    if args.format not in ("text", "parquet"):
        raise UsageError(f"tpch is generated as text or parquet, not {args.format}")
    stats = generate(args.out, scale, args.format, args.parts)
    mb = stats.bytes_written / 1e6
    print(
        f"wrote TPC-H scale {scale:g} ({mb:,.1f} MB in {stats.files} files) and catalog.toml "
        f"to {args.out} in {stats.seconds:.2f}s",
        file=sys.stderr,
    )
    return 0


def add_bench(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register `bench`."""
    b = sub.add_parser(
        "bench",
        help="run the Amplab benchmark against DuckDB and the classic mapper",
        description="Run Amplab queries with sqlmr, DuckDB and the classic per-line mapper, "
        "interleaved, verify that they agree, and report times, throughput and memory. "
        "Needs the bench extra (pip install 'sqlmr[bench]') for DuckDB.",
        parents=[common],
    )
    b.add_argument("dataset", choices=["amplab", "tpch"], help="which benchmark")
    b.add_argument(
        "--scale",
        default="0.01",
        help="data scale (default 0.01; see sqlmr gen); tpch: the scale factor, e.g. 1",
    )
    b.add_argument(
        "--data",
        metavar="DIR",
        help="existing data folder (default: generated and cached by scale and seed)",
    )
    b.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    b.add_argument(
        "--format",
        choices=GEN_FORMATS,
        default="text",
        help="storage format of the generated data (default text); DuckDB reads the same files "
        "(for .deflate and bzip2, which it cannot read: the plain text of the same data), the "
        "classic mapper only text",
    )
    b.add_argument(
        "--queries",
        default=None,
        help="comma-separated query names (default: all; amplab 1a,…,3c, tpch 1,…,22)",
    )
    b.add_argument(
        "--engines",
        default=None,
        help="comma-separated engines (default: sqlmr,duckdb,classic for text; sqlmr,duckdb "
        "for gzip and Parquet; sqlmr for deflate)",
    )
    b.add_argument(
        "--runs", type=int, default=3, metavar="N", help="timed runs after one warm-up (default 3)"
    )
    b.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="processes or threads per engine (default: CPU count)",
    )
    b.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    b.set_defaults(handler=_bench, raw_settings=True)


def _split_names(text: str, known: list[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise UsageError(
            f"unknown {what} {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}"
        )
    return names


def _amplab_engines(given: str | None, fmt: str, known: list[str]) -> list[str]:
    """The engines to compare: given, or the format's default; DuckDB must be installed."""
    default_engines = {"text": "sqlmr,duckdb,classic"}
    engines = _split_names(given or default_engines.get(fmt, "sqlmr,duckdb"), known, "engines")
    if fmt != "text" and "classic" in engines:
        raise UsageError("the classic mapper reads plain text only; leave it out of --engines")
    if {"duckdb", "duckdb-cli"} & set(engines):
        try:
            import duckdb  # noqa: F401 - only to tell whether the bench extra is installed
        except ImportError:
            raise UsageError(
                "the benchmark compares with DuckDB, which is not installed; install the bench "
                "extra (pip install 'sqlmr[bench]') or leave it out with --engines sqlmr,classic"
            ) from None
    return engines


def _amplab_data(args: argparse.Namespace, fmt: str, workers: int) -> str:
    """The Amplab data folder: given, or generated once into the cache."""
    import os

    data = args.data or _cached_amplab(args, fmt, workers)
    if not os.path.isdir(os.path.join(data, "rankings")) or not os.path.isdir(
        os.path.join(data, "uservisits")
    ):
        raise UsageError(
            f"{data} has no rankings/ and uservisits/ folders; generate them with sqlmr gen amplab"
        )
    return data


def _bench(args: argparse.Namespace) -> int:
    import json
    import os

    from sqlmr_benchmarks.harness import ENGINES, BenchError, run_bench, to_json
    from sqlmr_benchmarks.queries import QUERIES

    if args.dataset == "tpch":
        return _bench_tpch(args)
    queries = _split_names(args.queries or ",".join(QUERIES), list(QUERIES), "queries")
    fmt = args.format
    engines = _amplab_engines(args.engines, fmt, ENGINES)
    if args.runs < 1:
        raise UsageError("--runs must be at least 1")
    workers = args.workers or os.cpu_count() or 1
    data = _amplab_data(args, fmt, workers)
    duck_data = _duckdb_text(args, engines, workers)
    from sqlmr_benchmarks.harness import ENGINE_QUERIES

    from sqlmr.cli.progress import BenchProgress

    steps = sum(1 for q in queries for e in engines if q in ENGINE_QUERIES[e]) * (args.runs + 1)
    progress = BenchProgress(steps)
    try:
        measurements = run_bench(data, queries, engines, args.runs, workers, progress)
    except BenchError as e:
        raise UsageError(f"benchmark failed: {e}") from e
    doc = to_json(
        measurements,
        {
            "scale": args.scale,
            "format": fmt,
            "seed": args.seed,
            "data": data,
            "runs": args.runs,
            "workers": workers,
            **({"duckdb_data": duck_data} if duck_data else {}),
        },
    )
    _print_report(doc)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
    return 0


def _cached_amplab(args: argparse.Namespace, fmt: str, workers: int) -> str:
    """The cache folder of Amplab data at the scale and seed of `args` in format `fmt`,
    generated on first use."""
    import os

    from sqlmr.catalog.embedded import cache_dir

    suffix = "" if fmt == "text" else f"-{fmt}"
    data = str(cache_dir() / f"amplab-{args.scale}-seed{args.seed}{suffix}")
    if not os.path.isdir(os.path.join(data, "uservisits")):
        print(
            f"generating Amplab data ({fmt}) at scale {args.scale} into {data} …", file=sys.stderr
        )
        _gen(
            argparse.Namespace(
                dataset="amplab",
                scale=args.scale,
                out=data,
                seed=args.seed,
                workers=workers,
                format=fmt,
            )
        )
    return data


def _duckdb_text(args: argparse.Namespace, engines: list[str], workers: int) -> str | None:
    """For compressed text DuckDB cannot read: the plain text of the same data (generated and
    cached like the benchmark's own), which the DuckDB engine is pointed at; else None."""
    import os

    from sqlmr_benchmarks.engines import DUCKDB_DATA_ENV

    if args.format not in DUCKDB_READS_TEXT or not {"duckdb", "duckdb-cli"} & set(engines):
        return None
    text = _cached_amplab(args, "text", workers)
    print(
        f"DuckDB cannot read {args.format}: it reads the plain text of the same data ({text})",
        file=sys.stderr,
    )
    os.environ[DUCKDB_DATA_ENV] = text
    return text


def _bench_tpch(args: argparse.Namespace) -> int:
    import json
    import os

    from sqlmr_benchmarks.tpch import QUERIES
    from sqlmr_benchmarks.tpch.bench import TpchBenchError, geometric_mean, run_bench

    from sqlmr.catalog.embedded import cache_dir
    from sqlmr.datagen.tpch import columns_of

    names = [str(n) for n in QUERIES]
    queries = [int(q) for q in _split_names(args.queries or ",".join(names), names, "queries")]
    if args.format != "text":
        raise UsageError("bench tpch reads the .tbl text files; --format parquet is not done yet")
    if args.runs < 1:
        raise UsageError("--runs must be at least 1")
    workers = args.workers or os.cpu_count() or 1
    data = args.data or str(cache_dir() / f"tpch-sf{args.scale}")
    if args.data is None and not os.path.isfile(os.path.join(data, "catalog.toml")):
        print(f"generating TPC-H scale {args.scale} into {data} …", file=sys.stderr)
        _gen_tpch(argparse.Namespace(scale=args.scale, out=data, parts=workers, format="text"))
    try:
        results = run_bench(data, queries, args.runs, workers, columns_of)
    except TpchBenchError as e:
        raise UsageError(f"benchmark failed: {e}") from e
    print(
        f"{'query':>5} {'sqlmr s':>8} {'duckdb s':>8} {'ratio':>6} {'stages':>6} {'tasks':>5} "
        f"{'shuffle MB':>10} {'worker MB':>9}"
    )
    for r in results:
        if r.refused:
            print(f"{'Q' + str(r.query):>5} refused: {r.refused}")
            continue
        s = r.summary()
        print(
            f"{'Q' + str(r.query):>5} {s['sqlmr_median']:8.3f} {s['duckdb_median']:8.3f} "
            f"{r.ratio:6.2f} {r.stages:6d} {r.tasks:5d} {r.shuffle_bytes / 1e6:10.2f} "
            f"{r.worker_peak_mb:9.0f}"
        )
    gm = geometric_mean([r.ratio for r in results])
    timed = sum(1 for r in results if not r.refused)
    print(f"geometric mean of sqlmr/duckdb: {gm:.2f} ({timed} queries, {workers} workers)")
    if args.json:
        doc = {
            "scale": args.scale,
            "workers": workers,
            "runs": args.runs,
            "geomean_ratio": gm,
            "queries": [r.summary() for r in results],
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
    return 0


def _read_text(r: dict) -> str:
    if not r.get("bytes_read"):
        return "n/a"
    share = 100 * r["bytes_read"] / max(1, r["input_bytes"])
    return f"{r['bytes_read'] / 1e6:,.1f} ({share:.0f}%)"


def _print_report(doc: dict) -> None:
    from rich.console import Console

    console = Console()
    console.print(_summary_table(doc))
    console.print(_detail_table(doc["results"]))
    console.print(_ratio_table(doc["ratios"]))


def _summary_table(doc: dict):
    from rich.table import Table

    results = doc["results"]
    queries = list(dict.fromkeys(r["query"] for r in results))
    engines = list(dict.fromkeys(r["engine"] for r in results))
    by = {(r["query"], r["engine"]): r for r in results}
    summary = Table(
        title=f"Amplab benchmark, scale {doc['scale']}, {doc.get('format', 'text')}: "
        f"median seconds ({doc['runs']} runs)"
    )
    summary.add_column("engine")
    for q in queries:
        summary.add_column(q, justify="right")
    for e in engines:
        summary.add_row(
            e, *(f"{by[(q, e)]['median']:.2f}" if (q, e) in by else "n/a" for q in queries)
        )
    return summary


def _detail_table(results: list[dict]):
    from rich.table import Table

    detail = Table(title="per query and engine")
    for name in (
        "query",
        "engine",
        "median s",
        "min–max s",
        "rows",
        "MB/s",
        "peak RSS MB (driver / worker)",
        "MB read (% of table)",
        "first row s",
    ):
        detail.add_column(name, justify="right" if name not in ("query", "engine") else "left")
    for r in results:
        detail.add_row(
            r["query"],
            r["engine"],
            f"{r['median']:.3f}",
            f"{r['min']:.3f}–{r['max']:.3f}",
            f"{r['rows']:,}",
            f"{r['mb_per_s']:,.0f}",
            f"{r['rss_mb']:.0f} / {r['worker_rss_mb']:.0f}",
            _read_text(r),
            "n/a" if r.get("first_row_median") is None else f"{r['first_row_median']:.3f}",
        )
    return detail


def _ratio_table(ratios: dict):
    from rich.table import Table

    ratio = Table(title="ratios of median times (first row: median of run-by-run ratios)")
    ratio.add_column("query")
    kinds = {
        "sqlmr/duckdb": "sqlmr / DuckDB",
        "classic/sqlmr": "classic / sqlmr",
        "sqlmr-cli/duckdb-cli": "CLI: sqlmr / DuckDB",
        "first row sqlmr-cli/duckdb-cli": "CLI first row: sqlmr / DuckDB",
    }
    shown = [k for k in kinds if any(k in r for r in ratios.values())]
    for k in shown:
        ratio.add_column(kinds[k], justify="right")
    for q, r in ratios.items():
        ratio.add_row(q, *(f"{r[k]:.2f}×" if k in r else "n/a" for k in shown))
    return ratio
