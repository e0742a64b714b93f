"""The library entry points: compile a query to a plan, run it, or both at once."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmr import defaults
from sqlmr.catalog import Catalog
from sqlmr.catalog.resolve import load_catalog, resolve_catalog

# The planner, the driver and the runtime load on first use (compile_query loads them while its
# helper compiles): `from sqlmr.api import …` is then the catalog and this module, ≈ 10 ms.
if TYPE_CHECKING:
    import pyarrow as pa

    from sqlmr.compiler.logical import Block, LogicalQuery
    from sqlmr.execution.driver import JobResult, Listener
    from sqlmr.execution.executor import Executor
    from sqlmr.execution.result_stream import ResultStream
    from sqlmr.execution.tracing import Tracer
    from sqlmr.planning.plan import Plan

__all__ = [
    "QueryOptions",
    "compile_query",
    "default_job_store",
    "execute",
    "load_catalog",
    "plan_query",
    "resolve_catalog",
    "run",
    "sql",
]

DEFAULT_TASK_MEMORY = defaults.TASK_MEMORY


@dataclass(frozen=True)
class QueryOptions:
    """How to cut and run a query."""

    workers: int | None = None
    split_size: int | str | None = None
    reducers: int | None = None
    task_memory: int = DEFAULT_TASK_MEMORY
    broadcast_threshold: int | str = defaults.BROADCAST_THRESHOLD
    retries: int = defaults.RETRIES
    keep_intermediates: bool = False
    job_store: str | None = None
    shuffle_compression: str = "auto"  # auto: none on a local job store, LZ4 or ZSTD on S3
    task_timeout: float | None = None  # seconds; default: from each task's input size
    # auto: a two-level exchange above 1,000 map tasks x 100 partitions; direct; two-level.
    exchange: str = "auto"


def compile_query(query: str, catalog: Catalog, options: QueryOptions = QueryOptions()) -> Plan:
    """SQL text to a physical plan over the table's current objects.

    A process's first query, while a core is free, is analysed in a forked helper that imports
    sqlglot, while this process loads the planner, the driver and the runtime its workers will
    inherit (sqlmr.compiler.ahead). Later queries, or one the helper could not analyse, are
    analysed here (and their errors raised from here): with both halves loaded there is
    nothing left to overlap."""
    return _compile(query, catalog, options)


def execute(
    query: str,
    catalog: Catalog,
    options: QueryOptions = QueryOptions(),
    executor: Executor | None = None,
    listener: Listener | None = None,
    tracer: Tracer | None = None,
) -> JobResult:
    """compile_query, then run; the caller reads the JobResult (its plan included) and then
    cleans it up (use `with`). With the local executor (`executor` None), its workers start
    while the helper compiles, if the driver has nothing else left to load by then."""
    plan = _compile(query, catalog, options, start_workers=executor is None)
    return run(plan, options, executor, listener, tracer)


def _compile(
    query: str, catalog: Catalog, options: QueryOptions, start_workers: bool = False
) -> Plan:
    from sqlmr.compiler.ahead import analyze_ahead

    def if_idle() -> None:
        _load_if_idle()
        if start_workers:
            _local_executor(options, converting=True)  # numpy.ma is loaded: any plan's pool

    logical = None
    if "sqlglot" not in sys.modules and "sqlmr.execution.driver" not in sys.modules:
        logical = analyze_ahead(query, catalog, _load_for_run, if_idle, keep_frozen=start_workers)
    if logical is None:
        from sqlmr.compiler import analyze_query

        logical = analyze_query(query, catalog)
    return plan_query(logical, query, options)


def _load_for_run(catalog: Catalog) -> None:
    """Load what planning and a local run of a query over `catalog` need (the local pool's
    workers inherit the runtime), and the readers its tables may need (load_readers)."""
    import sqlmr_runtime.handler  # noqa: F401

    import sqlmr.execution.driver  # noqa: F401
    import sqlmr.execution.local  # noqa: F401
    import sqlmr.planning.exchange  # noqa: F401
    import sqlmr.planning.inputs  # noqa: F401
    import sqlmr.planning.skew  # noqa: F401

    load_readers(catalog)


def load_readers(catalog: Catalog) -> None:
    """Load the runtime's readers that the tables of `catalog` may need: Parquet's, text's
    (delimited text and JSON Lines), or both (sqlmr.catalog.discover.readers_needed). Local
    workers forked after this inherit them, where each would otherwise load its reader in its
    first task; a Parquet job's workers never load the text reader (pyarrow.csv)."""
    from sqlmr.catalog.discover import readers_needed

    needed = readers_needed(catalog.tables)
    if "parquet" in needed:
        import sqlmr_runtime.scan_parquet  # noqa: F401
    if "text" in needed:
        import sqlmr_runtime.scan_text  # noqa: F401


def _load_if_idle() -> None:
    """What a local run of some plans needs, loaded while the helper still compiles: numpy.ma,
    which the local pool loads before forking workers for tasks that hash, group or join (1a's
    do not: loaded only here, or when such a plan runs), and the modules of joins and range
    sorts, which a task otherwise loads when it first needs them."""
    import sqlmr_runtime.broadcast_share  # noqa: F401
    import sqlmr_runtime.ranges  # noqa: F401
    from sqlmr_runtime.partition import load_numpy_masked

    load_numpy_masked()


def plan_query(
    logical: LogicalQuery | Block, query: str, options: QueryOptions = QueryOptions()
) -> Plan:
    """The planning half of compile_query: a logical query (the compiler's analysis of `query`)
    to a physical plan over the tables' current objects."""
    from sqlmr.compiler.logical import Block
    from sqlmr.planning.exchange import two_level
    from sqlmr.planning.inputs import plan_input
    from sqlmr.planning.planner import INPUT_SHARE, PlanOptions, SideInput, build_plan
    from sqlmr.planning.skew import skew_aware
    from sqlmr.planning.splits import parse_size

    workers = options.workers or os.cpu_count() or 1
    split = options.split_size
    if isinstance(split, str):
        split = parse_size(split)
    listed: dict[str, SideInput] = {}
    notes: list = []

    def side_input(table, filter=None, read_columns=(), sample=False) -> SideInput:
        # Each table read is listed once per query, however often the query names it.
        key = json.dumps([table.location, filter, list(read_columns), sample], sort_keys=True)
        if key not in listed:
            found = plan_input(
                table, filter, list(read_columns), split, workers, options.task_memory, sample
            )
            listed[key] = SideInput(found.splits, found.bytes, found.kept)
            if found.notes:
                notes.append((table.name, found.notes))
        return listed[key]

    threshold = options.broadcast_threshold
    if isinstance(threshold, str):
        threshold = parse_size(threshold)
    plan_options = PlanOptions(
        workers=workers,
        reducers=options.reducers,
        broadcast_threshold=threshold,
        task_memory=options.task_memory,
    )
    if isinstance(logical, Block):
        from sqlmr.planning.joins import BlockPlanner

        plan = BlockPlanner(side_input, plan_options).plan(logical, query)
    else:
        join = len(logical.sides) == 2  # its side is chosen by sampled filters (planner)
        inputs = [side_input(s.table, s.filter, s.read_columns, join) for s in logical.sides]
        plan = build_plan(logical, inputs, plan_options)
        # Block plans (multi-way joins, set operations) keep the direct exchange for now.
        plan = two_level(plan, options.exchange, options.task_memory // INPUT_SHARE)
    plan = skew_aware(plan, options.task_memory // INPUT_SHARE)
    return dataclasses.replace(plan, inputs=tuple(notes)) if notes else plan


def default_job_store() -> str:
    """Where local jobs keep their intermediate objects."""
    import tempfile

    return os.path.join(tempfile.gettempdir(), "sqlmr-jobs")


def run(
    plan: Plan,
    options: QueryOptions = QueryOptions(),
    executor: Executor | None = None,
    listener: Listener | None = None,
    tracer: Tracer | None = None,
    stream: ResultStream | None = None,
) -> JobResult:
    """Execute a plan; the caller reads the JobResult and then cleans it up (use `with`).
    A `stream` hands the result to a reader on another thread while the last stage runs."""
    from sqlmr.execution.driver import Driver

    if executor is None:
        executor = _local_executor(options, plan_converts(plan))
    job_store = options.job_store or default_job_store()
    driver = Driver(
        executor, job_store, options.retries, listener, tracer, options.shuffle_compression
    )
    return driver.run(plan, keep_intermediates=options.keep_intermediates, stream=stream)


def _local_executor(options: QueryOptions, converting: bool) -> Executor:
    """The local executor for `options`; its workers start now (a pool the process keeps)."""
    from sqlmr.execution.local import LocalExecutor

    workers, memory, timeout = options.workers, options.task_memory, options.task_timeout
    return LocalExecutor(workers, memory, timeout, converting)


_PLAIN_OPS = frozenset({"filter", "project", "limit"})


def plan_converts(plan: Plan) -> bool:
    """Whether a plan's tasks may convert numpy arrays to Arrow (a partition hash, a grouping,
    a join's take): all but scans that only filter and project into the result."""
    return any(
        s.source.get("type") != "scan"
        or s.sink.get("type") != "result"
        or any(op.get("op") not in _PLAIN_OPS for op in s.ops)
        for s in plan.stages
    )


def sql(
    query: str,
    tables: str | None = None,
    catalog: str | Catalog | None = None,
    *,
    workers: int | None = None,
    split_size: int | str | None = None,
    reducers: int | None = None,
    executor: Executor | None = None,
) -> pa.Table:
    """Run a query and return its result as a pyarrow Table.

    `tables` is a folder with one subfolder per table (default: the embedded Amplab dataset);
    `catalog` a catalog file describing other tables.
    """
    options = QueryOptions(workers=workers, split_size=split_size, reducers=reducers)
    with execute(query, resolve_catalog(tables, catalog), options, executor) as result:
        return result.read_all()
