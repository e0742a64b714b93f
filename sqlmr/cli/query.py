"""The `sqlmr query` and `sqlmr explain` commands: SQL from an argument, a file or stdin, one or
several `;`-separated statements, each result printed or written in turn."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

from sqlmr.cli import flags
from sqlmr.cli.progress import Progress, print_stats
from sqlmr.defaults import RETRIES, TASK_MEMORY_MB
from sqlmr.errors import SqlmrError, UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from sqlmr.api import QueryOptions
    from sqlmr.catalog import Catalog
    from sqlmr.compiler.ahead import CompileAhead

# pyarrow, sqlglot and the rest load inside the commands, so that --help starts at once.


def add_commands(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]):
    """Register `query` and `explain`."""
    source = [parents[k] for k in ("common", "tables", "planning")]
    q = sub.add_parser(
        "query",
        help="run SQL statements",
        description="Run SQL statements (queries, SHOW TABLES, DESCRIBE) and print or write "
        "each result. The SQL is an argument, a file (-f FILE) or standard input (-).",
        parents=[*source, parents["executor"], parents["aws"]],
    )
    _add_sql_arguments(q)
    _add_output_flags(q)
    _add_job_flags(q)
    q.set_defaults(handler=run_query)
    _add_explain(sub, source)


def _add_output_flags(q: argparse.ArgumentParser) -> None:
    """Where and how `query` writes its results."""
    q.add_argument(
        "--format",
        choices=["table", "csv", "tsv", "json", "parquet"],
        help="output format (default: from the -o extension, else table on a terminal and "
        "csv in a pipe)",
    )
    q.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the result to FILE (.csv, .tsv, .json, .jsonl, .parquet, .txt), DIR/ or "
        "s3://…; several statements write FILE-1.csv, FILE-2.csv, …",
    )
    q.add_argument("--no-header", action="store_true", help="CSV and TSV without a header row")
    q.add_argument(
        "--overwrite",
        action="store_true",
        help="let -o DIR/ replace a folder that holds files (swapped in when complete)",
    )


def _add_job_flags(q: argparse.ArgumentParser) -> None:
    """What `query` keeps and reports of its jobs: intermediates, statistics, traces."""
    q.add_argument(
        "--keep-intermediates",
        action="store_true",
        help="keep the job's shuffle and result objects",
    )
    q.add_argument(
        "--stats",
        action="store_true",
        help="print per-stage statistics to standard error: read, compute and write seconds, "
        "bytes in and out, the slowest task",
    )
    q.add_argument(
        "--trace",
        metavar="FILE",
        help="write the job's trace (stages, task attempts, phases) to FILE; draw it with "
        "sqlmr timeline; several statements write FILE-1.json, …",
    )
    q.add_argument(
        "--trace-format",
        choices=["chrome", "xray"],
        default="chrome",
        help="chrome: Chrome Trace Event JSON that Perfetto and chrome://tracing open "
        "(default); xray: the X-Ray segment documents",
    )


def _add_explain(sub: argparse._SubParsersAction, source: list[argparse.ArgumentParser]) -> None:
    e = sub.add_parser(
        "explain",
        help="show the plan of a query",
        description="Show the stages a query compiles to, and what it would cost on Lambda.",
        parents=source,
    )
    _add_sql_arguments(e)
    e.add_argument(
        "--json", action="store_true", help="print the exact plan JSON that the runtime executes"
    )
    e.add_argument(
        "--memory",
        type=flags.positive,
        default=TASK_MEMORY_MB,
        metavar="MB",
        help=f"Lambda memory size for the cost estimate (default: {TASK_MEMORY_MB})",
    )
    e.add_argument(
        "--arch",
        choices=["x86_64", "arm64"],
        default="x86_64",
        help="Lambda architecture for the cost estimate (default: x86_64)",
    )
    e.set_defaults(handler=run_explain)


def _add_sql_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sql", nargs="?", help="the SQL, or - to read it from standard input")
    p.add_argument("-f", "--file", metavar="FILE", help="read the SQL from FILE")
    p.set_defaults(sql_parser=p)


def read_sql(args: argparse.Namespace) -> str:
    """The SQL text the command line names: an argument, -f FILE, or - for standard input."""
    if args.file is not None and args.sql is not None:
        raise UsageError("give the SQL either as an argument or with -f FILE, not both")
    if args.file is not None:
        try:
            with open(args.file, encoding="utf-8") as f:
                return f.read()
        except OSError as e:
            raise UsageError(f"cannot read {args.file}: {e.strerror}") from e
        except UnicodeDecodeError as e:
            raise UsageError(f"{args.file} is not UTF-8 text: {e.reason}") from e
    if args.sql is None:
        raise UsageError("no SQL given: pass it as an argument, with -f FILE, or - for stdin")
    if args.sql == "-":
        return sys.stdin.read()
    if args.sql.strip().lower().endswith(".sql") and os.path.isfile(args.sql.strip()):
        raise UsageError(f"{args.sql} is a file; run the SQL in it with -f {args.sql}")
    return args.sql


def options_from(args: argparse.Namespace) -> QueryOptions:
    """The library's query options from parsed (and config-completed) flags."""
    from sqlmr.api import QueryOptions

    extra = {}
    if args.task_memory is not None:
        extra["task_memory"] = args.task_memory
    if args.broadcast_threshold is not None:
        extra["broadcast_threshold"] = args.broadcast_threshold
    # The plan is cut for the tasks that run at once: Lambda's concurrency, or local workers.
    workers = args.workers
    if getattr(args, "executor", None) == "lambda" and workers is None:
        workers = getattr(args, "concurrency", None)
    return QueryOptions(
        **extra,
        workers=workers,
        split_size=args.split_size,
        reducers=args.reducers,
        retries=RETRIES if getattr(args, "retries", None) is None else args.retries,
        keep_intermediates=getattr(args, "keep_intermediates", False),
        job_store=getattr(args, "job_store", None),
        shuffle_compression=getattr(args, "shuffle_compression", None) or "auto",
        task_timeout=getattr(args, "task_timeout", None),
        exchange=getattr(args, "exchange", None) or "auto",
    )


def _statements(script: str):
    from sqlmr.compiler.sqlglot_loading import load_sqlglot

    load_sqlglot()  # first, as the compiler's own entry points do (no importlib.metadata)
    from sqlmr.compiler.statements import classify, split_statements

    statements = split_statements(script)
    if not statements:
        raise UsageError("no SQL statement given")
    return [classify(s) for s in statements]


def run_explain(args: argparse.Namespace) -> int:
    """`sqlmr explain`: each statement's plan and cost estimate, or its JSON."""
    from sqlmr.api import compile_query, resolve_catalog
    from sqlmr.planning.cost import estimate, format_estimate
    from sqlmr.planning.explain import render_plan

    options = options_from(args)
    catalog = resolve_catalog(args.tables, args.catalog)
    for i, statement in enumerate(_statements(read_sql(args))):
        if i:
            print()
        if statement.kind != "query":
            print(f"{' '.join(statement.sql.split())}: answered by the driver, no job")
            continue
        plan = compile_query(statement.sql, catalog, options)
        if args.json:
            print(json.dumps(plan.to_json(), indent=2))
            continue
        print(render_plan(plan))
        print()
        print(format_estimate(estimate(plan.to_json(), args.memory, args.arch)))
    return 0


def numbered(output: str | None, count: int) -> list[str | None]:
    """Output targets for `count` results: the one given, or FILE-1.ext, … / DIR/1/, …"""
    from sqlmr.cli.output import is_folder_target

    if output is None or count == 1:
        return [output] * count
    if is_folder_target(output) or output.endswith("/"):
        return [f"{output.rstrip('/')}/{i}/" for i in range(1, count + 1)]
    stem, ext = os.path.splitext(output)
    return [f"{stem}-{i}{ext}" for i in range(1, count + 1)]


def run_query(args: argparse.Namespace) -> int:
    """`sqlmr query`: run every statement in order and print or write each result."""
    # S3 reads and writes (driver, compile helper and workers alike) use boto3's standard chain:
    # the flags select its profile and region for this process and those it forks.
    if args.profile:
        os.environ["AWS_PROFILE"] = args.profile
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    helper = _compile_ahead(args)
    try:
        if helper is not None:
            helper.send_tables()
        from sqlmr.cli.output import choose_format

        fmt = choose_format(args.format, args.output, sys.stdout.isatty())
        if fmt == "parquet" and args.output is None and sys.stdout.isatty():
            raise UsageError(
                "--format parquet writes binary data; give -o FILE or redirect the output"
            )
        if helper is not None:
            from sqlmr.api import load_readers

            load_readers(helper.catalog)  # while the helper compiles, before workers fork
        # Local workers fork before the compiler loads (in the driver it never does when the
        # helper compiles): they hold none of its memory (a worker's RssAnon, which its task
        # budget counts, 40 -> 27.5 MB). Once the helper has compiled, they fork after the
        # first plan, which says whether they need numpy.ma (a filter-and-project scan does
        # not: 17-20 ms of the driver's imports).
        early = helper is None or not helper.finished()
        executor = executor_from(args) if args.executor == "local" and early else None
        try:
            _run_statements(args, fmt, executor, helper)
        finally:
            if executor is not None:
                executor.close()
    finally:
        if helper is not None:
            helper.close()
    return 0


def _compile_ahead(args: argparse.Namespace) -> CompileAhead | None:
    """A helper compiling the statements while the driver loads the runtime (None: the driver
    compiles them itself, and reports whatever is wrong with the SQL or the catalog)."""
    from sqlmr.compiler import ahead

    if not ahead.enabled():
        return None
    try:
        script = read_sql(args)
        from sqlmr.catalog.resolve import resolve_catalog

        catalog = resolve_catalog(args.tables, args.catalog)
    except SqlmrError:
        return None  # raised again, in its usual order, when the driver gets there
    if not ahead.worthwhile(script, catalog):
        return None  # tables on S3 (load boto3 twice, list them twice)
    return ahead.CompileAhead(script, catalog)


def _prepared(args: argparse.Namespace, helper: CompileAhead | None) -> tuple[list, Catalog]:
    """The statements to run and the catalog: from the helper where it compiled them."""
    from sqlmr.compiler.ahead import Prepared

    found = helper.result() if helper is not None else None
    if helper is not None and found is not None:
        return found, helper.catalog
    # The script is read once: standard input cannot be read again.
    script = helper.script if helper is not None else read_sql(args)
    statements = [Prepared(s.kind, s.sql, s.table) for s in _statements(script)]
    from sqlmr.api import resolve_catalog

    return statements, resolve_catalog(args.tables, args.catalog)


def _run_statements(
    args: argparse.Namespace, fmt: str, executor: Any, helper: CompileAhead | None
) -> None:
    """Each statement in turn: a query runs as a job (on `executor`, made on first need)."""
    statements, catalog = _prepared(args, helper)
    targets = numbered(args.output, len(statements))
    traces = numbered(args.trace, len(statements))
    made = None
    try:
        for i, (statement, target, trace) in enumerate(
            zip(statements, targets, traces, strict=True)
        ):
            if i and target is None and fmt == "table":
                print()
            if statement.kind != "query":
                from sqlmr.compiler.statements import Statement
                from sqlmr.describe import answer

                asked = Statement(statement.kind, statement.sql, statement.table)
                table = answer(asked, catalog)
                emit(table.column_names, [table], fmt, target, not args.no_header)
                continue
            if executor is None and args.executor != "local":
                executor = made = executor_from(args)
            run_statement(
                args, statement.sql, catalog, executor, fmt, target, trace, statement.logical
            )
    finally:
        if made is not None:
            made.close()


def executor_from(args: argparse.Namespace, converting: bool = True):
    """The executor the flags (and settings) ask for (`converting`: see LocalExecutor)."""
    from sqlmr.execution import make_executor

    return make_executor(
        args.executor,
        workers=args.workers,
        function_name=args.function_name,
        concurrency=args.concurrency,
        region=args.region,
        profile=args.profile,
        endpoint_url=args.endpoint_url,
        job_store=args.job_store,
        task_memory=options_from(args).task_memory,
        task_timeout=getattr(args, "task_timeout", None),
        converting=converting,
    )


def run_statement(
    args: argparse.Namespace,
    sql: str,
    catalog: Catalog,
    executor: Any,
    fmt: str,
    target: str | None,
    trace: str | None = None,
    logical: Any = None,
) -> None:
    """Compile and run one query (`logical`: its analysis, done by the compile helper), and
    print or write its result."""
    from sqlmr_runtime.storage import request_counts, requests_since

    from sqlmr.api import compile_query, plan_query, run
    from sqlmr.execution import cost_table
    from sqlmr.execution.tracing import Tracer

    requests_before = request_counts()  # the driver's own S3 requests go into the cost table
    options = options_from(args)
    if logical is not None:
        plan = plan_query(logical, sql, options)
    else:
        plan = compile_query(sql, catalog, options)
    if executor is None:  # local workers not started yet: they start for this plan
        from sqlmr.api import plan_converts

        executor = executor_from(args, plan_converts(plan))
    tracer = Tracer() if trace or os.environ.get("AWS_XRAY_DAEMON_ADDRESS") else None
    progress = Progress() if sys.stderr.isatty() else None
    names = [n for n, _ in plan.columns]

    def write(tables: Iterable[pa.Table]) -> int:
        return emit(names, tables, fmt, target, not args.no_header, args.overwrite)

    try:
        with progress.bars if progress is not None else contextlib.nullcontext():
            if _streams(fmt, target):  # written while the last tasks run
                from sqlmr.cli.streamed import run_and_write

                def job(stream: Any) -> Any:
                    return run(plan, options, executor, progress, tracer, stream)

                result, rows = run_and_write(plan, job, write)
            else:
                result = run(plan, options, executor, listener=progress, tracer=tracer)
        if not _streams(fmt, target):
            with result:
                rows = write(result.tables())
    finally:
        if tracer is not None and trace:
            from sqlmr.execution.trace_export import write_trace

            write_trace(tracer.to_json(), trace, getattr(args, "trace_format", "chrome"))
    if getattr(args, "stats", False) or sys.stderr.isatty():
        print_stats(result, rows, detailed=getattr(args, "stats", False))
    if args.executor == "lambda":
        print(cost_table(executor, result, requests_since(requests_before)), file=sys.stderr)


def _streams(fmt: str, target: str | None) -> bool:
    """Whether a result is written while its job runs: not a table (drawn once complete) nor
    anything on a terminal, where progress bars share the screen."""
    return fmt != "table" and (target is not None or not sys.stdout.isatty())


@contextlib.contextmanager
def _sink(path: str | None) -> Iterator[IO[bytes]]:
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    from sqlmr.cli.targets import output_file

    with output_file(path) as f:
        yield f


def emit(
    names: list[str],
    tables: Iterable[pa.Table],
    fmt: str,
    path: str | None,
    header: bool = True,
    overwrite: bool = False,
) -> int:
    """Print or write a result in a format; returns the row count. Columns go by position, and
    duplicate names are told apart as DuckDB's COPY tells them (k, k → k, k_1) in every format."""
    from sqlmr_runtime.errors import RuntimeTaskError

    from sqlmr.catalog.tables import distinct_names
    from sqlmr.cli.output import is_folder_target, with_names, write_stream
    from sqlmr.cli.targets import write_object, write_parts

    names = distinct_names(names)
    tables = with_names(tables, names)
    try:
        if path is not None and is_folder_target(path):
            return write_parts(tables, fmt, path, header, overwrite)[1]
        if path is not None and path.startswith("s3://"):
            return write_object(tables, fmt, path, header)
    except RuntimeTaskError as e:
        raise UsageError(f"cannot write the result: {e}") from e
    if fmt == "table":
        return print_table(names, tables, path)
    with _sink(path) as out:
        return write_stream(tables, fmt, out, header)


def print_table(names: list[str], tables: Iterable[pa.Table], path: str | None = None) -> int:
    """A box-drawn table of at most TABLE_ROWS rows; returns the total row count."""
    from rich.console import Console
    from rich.table import Table

    from sqlmr.cli.output import TABLE_ROWS, format_cell
    from sqlmr.cli.targets import output_file

    table = Table(*names, show_edge=True, header_style="bold")
    shown = total = 0
    for part in tables:
        total += part.num_rows
        # Column by column, by position: rows as dicts would merge two columns of one name.
        columns = [c.to_pylist() for c in part.slice(0, max(0, TABLE_ROWS - shown)).columns]
        for row in zip(*columns, strict=True):
            table.add_row(*(format_cell(v) for v in row))
            shown += 1
    if path is None:
        # A terminal's width wraps the table; a pipe gets it unwrapped, whatever $COLUMNS says.
        Console(file=sys.stdout, width=None if sys.stdout.isatty() else 1000).print(table)
    else:
        with output_file(path) as raw, io.TextIOWrapper(raw, encoding="utf-8") as out:
            Console(file=out, width=200).print(table)
    if shown < total:
        print(
            f"({shown} of {total} rows shown; use --format csv or -o FILE for all)", file=sys.stderr
        )
    return total
