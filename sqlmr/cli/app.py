"""The sqlmr command line. The only module that prints, reads flags or exits."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from sqlmr import __version__
from sqlmr.errors import SqlmrError, TaskError, UsageError

if TYPE_CHECKING:
    from sqlmr.api import QueryOptions

# Heavy modules (pyarrow, sqlglot, boto3, rich) are imported inside the commands that need
# them, so that --help, --version and usage errors start in milliseconds.

_EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _size(text: str) -> int:
    from sqlmr.planning.splits import parse_size

    try:
        return parse_size(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_source_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tables",
        metavar="DIR",
        help="folder with one subfolder per table (default: the embedded Amplab dataset)",
    )
    p.add_argument(
        "--catalog", metavar="FILE", help="catalog file (TOML or JSON) describing more tables"
    )
    p.add_argument(
        "--workers", type=_positive, metavar="N", help="worker processes (default: CPU count)"
    )
    p.add_argument(
        "--split-size",
        type=_size,
        metavar="SIZE",
        help="bytes per map task, e.g. 64KB, 16MB, 1GB (default: from the task memory budget)",
    )
    p.add_argument(
        "--reducers",
        type=_positive,
        metavar="N",
        help="reduce tasks (default: from the estimated shuffle size, at least one per worker)",
    )
    p.add_argument(
        "--task-memory",
        type=_size,
        metavar="SIZE",
        default=None,
        help="memory budget of one task, which sizes splits and reducers (default: 1536MB)",
    )
    p.add_argument(
        "--broadcast-threshold",
        type=_size,
        metavar="SIZE",
        default=None,
        help="join by broadcasting the smaller table when it is at most SIZE (default: 64MB)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def _add_executor_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--executor",
        choices=["local", "lambda"],
        default="local",
        help="run tasks in local processes (default) or on AWS Lambda",
    )
    p.add_argument("--function-name", default="sqlmr", help="the Lambda function (default: sqlmr)")
    p.add_argument(
        "--concurrency",
        type=_positive,
        default=100,
        metavar="N",
        help="concurrent Lambda invocations (default: 100)",
    )
    p.add_argument("--profile", help="AWS profile (default: the standard credential chain)")
    p.add_argument("--region", help="AWS region (default: from the profile or environment)")
    p.add_argument(
        "--endpoint-url", metavar="URL", help="Lambda endpoint (default: AWS_ENDPOINT_URL_LAMBDA)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sqlmr command."""
    parser = argparse.ArgumentParser(
        prog="sqlmr", description="Ad hoc SQL over big files as serverless MapReduce."
    )
    parser.add_argument("--version", action="version", version=f"sqlmr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    q = sub.add_parser(
        "query",
        help="run a SQL query",
        description="Run a SQL query and print or write its result.",
    )
    q.add_argument("sql", help="the query")
    _add_source_flags(q)
    q.add_argument(
        "--format",
        choices=["table", "csv", "json", "parquet"],
        help="output format (default: table, or from the -o extension)",
    )
    q.add_argument(
        "-o", "--output", metavar="FILE", help="write the result to FILE instead of standard output"
    )
    q.add_argument(
        "--retries", type=int, default=2, metavar="N", help="retries of a failed task (default: 2)"
    )
    q.add_argument(
        "--keep-intermediates",
        action="store_true",
        help="keep the job's shuffle and result objects",
    )
    q.add_argument(
        "--job-store",
        metavar="DIR",
        help="folder or s3://bucket/prefix for intermediate objects (default: a temp folder)",
    )
    q.add_argument(
        "--shuffle-compression",
        choices=["auto", "none", "lz4", "zstd"],
        default="auto",
        help="compression of shuffle and result objects (default auto: none on a local job "
        "store, LZ4 or else ZSTD on S3, as the worker's pyarrow has them)",
    )
    q.add_argument(
        "--stats", action="store_true", help="print per-stage statistics to standard error"
    )
    q.add_argument(
        "--trace", metavar="FILE", help="write the job's trace (stages, tasks, phases) as JSON"
    )
    _add_executor_flags(q)
    q.set_defaults(handler=_query)

    e = sub.add_parser(
        "explain",
        help="show the plan of a query",
        description="Show the stages a query compiles to.",
    )
    e.add_argument("sql", help="the query")
    _add_source_flags(e)
    e.add_argument(
        "--json", action="store_true", help="print the exact plan JSON that the runtime executes"
    )
    e.add_argument(
        "--memory",
        type=_positive,
        default=1536,
        metavar="MB",
        help="Lambda memory size for the cost estimate (default: 1536)",
    )
    e.add_argument(
        "--arch",
        choices=["x86_64", "arm64"],
        default="x86_64",
        help="Lambda architecture for the cost estimate (default: x86_64)",
    )
    e.set_defaults(handler=_explain)

    from sqlmr.cli.aws import add_commands as add_aws
    from sqlmr.cli.bench import add_commands as add_bench

    add_bench(sub)
    add_aws(sub)
    return parser


def _options(args: argparse.Namespace) -> QueryOptions:
    from sqlmr.api import QueryOptions

    extra = {}
    if args.task_memory is not None:
        extra["task_memory"] = args.task_memory
    if args.broadcast_threshold is not None:
        extra["broadcast_threshold"] = args.broadcast_threshold
    return QueryOptions(
        **extra,
        workers=args.workers,
        split_size=args.split_size,
        reducers=args.reducers,
        retries=getattr(args, "retries", 2),
        keep_intermediates=getattr(args, "keep_intermediates", False),
        job_store=getattr(args, "job_store", None),
        shuffle_compression=getattr(args, "shuffle_compression", "auto"),
    )


def _explain(args: argparse.Namespace) -> int:
    from sqlmr.api import compile_query, resolve_catalog
    from sqlmr.planning.explain import render_plan

    options = _options(args)
    plan = compile_query(args.sql, resolve_catalog(args.tables, args.catalog), options)
    if args.json:
        print(json.dumps(plan.to_json(), indent=2))
        return 0
    from sqlmr.planning.cost import estimate, format_estimate

    print(render_plan(plan))
    print()
    print(format_estimate(estimate(plan.to_json(), args.memory, args.arch)))
    return 0


class _Progress:
    """Rich progress bars on standard error, one per stage."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.ids: dict[str, Any] = {}

    def stage_started(self, stage) -> None:
        self.ids[stage.id] = self.bars.add_task(
            f"{stage.id} ({stage.kind})", total=len(stage.tasks)
        )

    def task_finished(self, stage, summary) -> None:
        self.bars.advance(self.ids[stage.id])

    def stage_finished(self, stage, stats) -> None:
        self.bars.update(self.ids[stage.id], completed=len(stage.tasks))


@contextlib.contextmanager
def _sink(path: str | None) -> Iterator[IO[bytes]]:
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    try:
        with open(path, "wb") as f:
            yield f
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from e


def _query(args: argparse.Namespace) -> int:
    from sqlmr.api import compile_query, resolve_catalog, run
    from sqlmr.cli.output import check_format, is_folder_target
    from sqlmr.execution import cost_table, make_executor
    from sqlmr.execution.tracing import Tracer

    fmt = args.format
    if fmt is None:
        ext = os.path.splitext(args.output or "")[1].lower()
        folder = args.output is not None and is_folder_target(args.output)
        fmt = "parquet" if folder else _EXTENSIONS.get(ext, "table")
    check_format(fmt)
    if fmt == "parquet" and args.output is None and sys.stdout.isatty():
        raise UsageError("--format parquet writes binary data; give -o FILE or redirect the output")
    # S3 reads and writes (driver and workers alike) use boto3's standard chain: the flags
    # select its profile and region for this process and the workers it forks.
    if args.profile:
        os.environ["AWS_PROFILE"] = args.profile
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    options = _options(args)
    plan = compile_query(args.sql, resolve_catalog(args.tables, args.catalog), options)
    executor = make_executor(
        args.executor,
        workers=args.workers,
        function_name=args.function_name,
        concurrency=args.concurrency,
        region=args.region,
        profile=args.profile,
        endpoint_url=args.endpoint_url,
        job_store=args.job_store,
    )
    tracer = Tracer() if args.trace or os.environ.get("AWS_XRAY_DAEMON_ADDRESS") else None
    progress = _Progress() if sys.stderr.isatty() else None
    try:
        with progress.bars if progress is not None else contextlib.nullcontext():
            result = run(plan, options, executor, listener=progress, tracer=tracer)
        with result:
            rows = _write(result, fmt, args.output)
    finally:
        executor.close()
        if tracer is not None and args.trace:
            tracer.write(args.trace)
    if args.stats or sys.stderr.isatty():
        _print_stats(result, rows)
    if args.executor == "lambda":
        print(cost_table(executor, result), file=sys.stderr)
    return 0


def _write(result, fmt: str, path: str | None) -> int:
    from sqlmr_runtime.errors import RuntimeTaskError

    from sqlmr.cli.output import (
        is_folder_target,
        write_csv,
        write_json_lines,
        write_object,
        write_parquet,
        write_parts,
    )

    try:
        if path is not None and is_folder_target(path):
            return write_parts(result.tables(), fmt, path)[1]
        if path is not None and path.startswith("s3://"):
            return write_object(result.tables(), fmt, path)
    except RuntimeTaskError as e:
        raise UsageError(f"cannot write the result: {e}") from e
    if fmt == "table":
        return _print_table(result, path)
    with _sink(path) as out:
        if fmt == "csv":
            return write_csv(result.tables(), out)
        if fmt == "json":
            return write_json_lines(result.tables(), out)
        return write_parquet(result.tables(), out)


def _print_table(result, path: str | None) -> int:
    from rich.console import Console
    from rich.table import Table

    from sqlmr.cli.output import TABLE_ROWS, format_cell

    names = [n for n, _ in result.plan.columns]
    table = Table(*names, show_edge=True, header_style="bold")
    shown = total = 0
    for batch in result.batches():
        total += batch.num_rows
        for row in batch.to_pylist()[: max(0, TABLE_ROWS - shown)]:
            table.add_row(*(format_cell(v) for v in row.values()))
            shown += 1
    try:
        out = open(path, "w") if path else None  # noqa: SIM115 - closed below
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from e
    try:
        Console(file=out or sys.stdout, width=None if out is None else 200).print(table)
    finally:
        if out:
            out.close()
    if shown < total:
        print(
            f"({shown} of {total} rows shown; use --format csv or -o FILE for all)", file=sys.stderr
        )
    return total


def _print_stats(result, rows: int) -> None:
    parts = [
        f"{s.id}: {s.tasks} task(s), {s.rows_in:,} rows in, {s.rows_out:,} out, {s.seconds:.2f}s"
        for s in result.stages
    ]
    print(f"{rows:,} row(s) in {result.seconds:.2f}s  [" + "; ".join(parts) + "]", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sqlmr` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except SqlmrError as e:
        if args.debug:
            traceback.print_exc()
            if isinstance(e, TaskError) and e.remote_traceback:
                print("\nremote traceback:\n" + e.remote_traceback, file=sys.stderr)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`sqlmr query … | head`): not an error of ours. Point stdout at
        # /dev/null so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, RuntimeError, ValueError, TypeError, KeyError) as e:
        # A bug or an unexpected environment failure: still one line, the traceback on --debug.
        if args.debug:
            traceback.print_exc()
        print(
            f"error: internal error: {type(e).__name__}: {e} (rerun with --debug for details)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
