"""The `sqlmr gen` and `sqlmr bench` commands: Amplab data and the benchmark."""

from __future__ import annotations

import argparse
import sys

from .errors import UsageError


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `gen` on the main parser (and `bench` once the benchmark is present)."""
    g = sub.add_parser("gen", help="generate benchmark data", description="Generate Amplab Big Data Benchmark tables.")
    g.add_argument("dataset", choices=["amplab"], help="which benchmark's data")
    g.add_argument("--scale", default="tiny", help="tiny, 1node, 5nodes, or a fraction of 1node such as 0.05")
    g.add_argument("--out", required=True, metavar="DIR", help="output folder (gets rankings/ and uservisits/)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--workers", type=int, default=None, metavar="N", help="processes (default: CPU count)")
    g.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    g.set_defaults(handler=_gen)


def _gen(args: argparse.Namespace) -> int:
    from .datagen.amplab import generate, scale_rows

    try:
        rankings, visits = scale_rows(args.scale)
    except ValueError as e:
        raise UsageError(str(e)) from None
    stats = generate(args.out, scale=args.scale, seed=args.seed, workers=args.workers)
    mb = stats.bytes_written / 1e6
    print(
        f"wrote {stats.rankings_rows:,} rankings and {stats.uservisits_rows:,} uservisits rows "
        f"({mb:,.1f} MB in {len(stats.files)} files) to {args.out} in {stats.seconds:.2f}s "
        f"({mb / max(stats.seconds, 1e-9):,.0f} MB/s)",
        file=sys.stderr,
    )
    return 0
