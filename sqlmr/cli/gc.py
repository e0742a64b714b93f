"""The `sqlmr gc` command: remove what killed or failed jobs left in a job store."""

from __future__ import annotations

import argparse
import os
import sys


def add_commands(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]):
    """Register `gc`."""
    g = sub.add_parser(
        "gc",
        help="remove the leftovers of jobs that are no longer running",
        description="Remove the prefixes of jobs in a job store whose heartbeat is older than "
        "--older-than (a driver killed before its cleanup). Running jobs, which renew their "
        "heartbeat every minute, and jobs run with --keep-intermediates are left alone.",
        parents=[parents["common"], parents["aws"]],
    )
    g.add_argument(
        "--job-store",
        metavar="DIR",
        help="folder or s3://bucket/prefix to clean (default: the local temp job store)",
    )
    g.add_argument(
        "--older-than",
        default="1h",
        metavar="AGE",
        help="remove jobs whose last heartbeat is older than AGE: 90s, 30m, 1h, 2d (default 1h)",
    )
    g.add_argument("--dry-run", action="store_true", help="list what would be removed, only")
    g.set_defaults(handler=run_gc)


def run_gc(args: argparse.Namespace) -> int:
    """`sqlmr gc`: one line per job removed (or kept by --keep-intermediates), then a total."""
    from sqlmr.api import default_job_store
    from sqlmr.execution.jobs import collect_garbage, parse_age

    if args.profile:
        os.environ["AWS_PROFILE"] = args.profile
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    store = args.job_store or default_job_store()
    states = collect_garbage(store, parse_age(args.older_than), args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for s in states:
        if s.removed:
            print(f"{verb} {s.job} (last heartbeat {s.age / 60:.0f} min ago)")
        elif s.keep:
            print(f"kept {s.job} (--keep-intermediates; remove it by hand)")
    removed = sum(s.removed for s in states)
    running = sum(not s.removed and not s.keep for s in states)
    print(
        f"{removed} job(s) {verb}, {running} running or recent, "
        f"{sum(s.keep for s in states)} kept, in {store}",
        file=sys.stderr,
    )
    return 0
