"""The `sqlmr timeline` command: draw a job's trace as a picture."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]):
    """Register `timeline`."""
    t = sub.add_parser(
        "timeline",
        help="draw a job's trace as a timeline",
        description="Draw the trace that `sqlmr query --trace FILE` wrote: a bar per task "
        "attempt coloured by phase (read, compute, write) and grouped by stage, failed attempts "
        "hatched in red, retries outlined, and the running-task count beneath. Needs the plot "
        "extra (pip install 'sqlmr[plot]').",
        parents=[parents["common"]],
    )
    t.add_argument("trace", metavar="TRACE", help="a trace file from sqlmr query --trace")
    t.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="the picture to write: FILE.png, FILE.svg or FILE.html",
    )
    t.set_defaults(handler=_timeline, raw_settings=True)


def _timeline(args: argparse.Namespace) -> int:
    import sys

    from sqlmr.execution.timeline import render_timeline
    from sqlmr.execution.trace_export import read_trace

    stages, tasks = read_trace(args.trace)
    render_timeline(stages, tasks, args.output)
    failed = sum(1 for t in tasks if t.error)
    print(
        f"drew {len(tasks)} task attempt(s) ({failed} failed) of {len(stages)} stage(s) "
        f"to {args.output}",
        file=sys.stderr,
    )
    return 0
