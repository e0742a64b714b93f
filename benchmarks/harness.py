"""`sqlmr bench amplab`: interleaved runs of every engine, verification, and the report."""

from __future__ import annotations

import compileall
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata

import pyarrow as pa
import pyarrow.compute as pc

from .queries import QUERIES

# The classic mapper has no join: query 3 is n/a for it, as it was for the reference.
ENGINE_QUERIES = {
    "classic": {n for n, q in QUERIES.items() if q.kind != "join"},
    "duckdb": set(QUERIES),
    "sqlmr": set(QUERIES),
    "sqlmr-cli": set(QUERIES),
    "duckdb-cli": set(QUERIES),
}
ENGINES = list(ENGINE_QUERIES)


class BenchError(Exception):
    """The benchmark could not run, or engines disagreed (the message names the query)."""


@dataclass
class Measurement:
    """All runs of one engine on one query."""

    query: str
    engine: str
    seconds: list[float] = field(default_factory=list)
    rows: int = 0
    rss_mb: float = 0.0
    worker_rss_mb: float = 0.0
    input_bytes: int = 0
    bytes_read: int = 0  # from storage by the scans (sqlmr only; 0 where not measured)
    first_row: list[float] = field(default_factory=list)  # whole-process engines only

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def summary(self) -> dict:
        return {
            **asdict(self),
            "median": self.median,
            "min": min(self.seconds),
            "max": max(self.seconds),
            "mb_per_s": self.input_bytes / 1e6 / self.median,
            "first_row_median": statistics.median(self.first_row) if self.first_row else None,
        }


def _run_once(engine: str, query: str, data: str, workers: int, out: str) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "sqlmr_benchmarks.engines",
        "--engine",
        engine,
        "--query",
        query,
        "--data",
        data,
        "--workers",
        str(workers),
        "--out",
        out,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise BenchError(f"{engine} failed on query {query}: {tail[0]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _sorted_table(path: str) -> pa.Table:
    with pa.memory_map(path) as source:
        table = pa.ipc.open_file(source).read_all()
    # The first column is unique in every benchmark result (a pageURL, a sourceIP prefix).
    table = table.rename_columns([f"c{i}" for i in range(table.num_columns)])
    return table.sort_by([("c0", "ascending")])


def _columns_agree(a: pa.ChunkedArray, b: pa.ChunkedArray) -> bool:
    if pa.types.is_floating(a.type) or pa.types.is_floating(b.type):
        a, b = (pc.cast(x, pa.float64()) for x in (a, b))
        tolerance = pc.multiply(pc.max_element_wise(pc.abs(a), pc.abs(b)), 1e-9)
        close = pc.less_equal(pc.abs(pc.subtract(a, b)), pc.max_element_wise(tolerance, 1e-9))
        both_null = pc.and_(pc.is_null(a), pc.is_null(b))
        return pc.all(pc.or_(pc.fill_null(close, False), both_null)).as_py() is not False
    if a.type != b.type:
        a, b = pc.cast(a, pa.string()), pc.cast(b, pa.string())
    return a.equals(b)


def verify(query: str, results: dict[str, str]) -> None:
    """Every engine's rows equal, as multisets, floats to 1e-9 relative; else BenchError."""
    engines = list(results)
    reference = _sorted_table(results[engines[0]])
    for engine in engines[1:]:
        other = _sorted_table(results[engine])
        if other.shape != reference.shape:
            raise BenchError(
                f"query {query}: {engine} returned {other.num_rows} rows x {other.num_columns}, "
                f"{engines[0]} {reference.num_rows} x {reference.num_columns}"
            )
        for name in reference.column_names:
            if not _columns_agree(reference.column(name), other.column(name)):
                raise BenchError(
                    f"query {query}: {engine} disagrees with {engines[0]} in column {name}"
                )


def _table_bytes(data: str, table: str) -> int:
    folder = os.path.join(data, table)
    return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))


def compile_bytecode() -> None:
    """Write the bytecode of sqlmr and sqlmr_runtime, as `pip install` does for an installed
    package. An editable install run with PYTHONDONTWRITEBYTECODE=1 (as on the shared
    development machine) never has it, and then every sqlmr process compiles its source again:
    about 0.1 s of CPU per query that no installed sqlmr pays, while DuckDB's and pyarrow's
    bytecode was written at install. Bytecode older than its source is rewritten."""
    import sqlmr_runtime

    import sqlmr

    for package in (sqlmr, sqlmr_runtime):
        for folder in package.__path__:
            compileall.compile_dir(folder, quiet=2)


def run_bench(
    data: str,
    queries: list[str],
    engines: list[str],
    runs: int,
    workers: int,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[Measurement]:
    """Warm up once, then run every (query, engine) `runs` times, interleaved A B C A B C."""
    compile_bytecode()
    measurements: dict[tuple[str, str], Measurement] = {}
    with tempfile.TemporaryDirectory(prefix="sqlmr-bench-") as tmp:
        for query in queries:
            active = [e for e in engines if query in ENGINE_QUERIES[e]]
            nbytes = sum(_table_bytes(data, t) for t in QUERIES[query].tables)
            outs = {e: os.path.join(tmp, f"{query}-{e}.arrow") for e in active}
            for e in active:
                measurements[(query, e)] = Measurement(query, e, input_bytes=nbytes)
            for run in range(runs + 1):
                for engine in active:
                    progress(f"{query} {engine} {'warm-up' if run == 0 else f'run {run}/{runs}'}")
                    got = _run_once(engine, query, data, workers, outs[engine])
                    m = measurements[(query, engine)]
                    if run > 0:
                        m.seconds.append(got["seconds"])
                        if got.get("first_row") is not None:
                            m.first_row.append(got["first_row"])
                    m.rows = got["rows"]
                    m.rss_mb = max(m.rss_mb, got["rss_mb"])
                    m.worker_rss_mb = max(m.worker_rss_mb, got["worker_rss_mb"])
                    m.bytes_read = got.get("bytes_read", 0)
            verify(query, outs)
    return list(measurements.values())


def machine_info() -> dict:
    """What the numbers were measured on."""
    info = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages * size / 2**30, 1)
    except (ValueError, OSError):
        pass
    for package in ("sqlmr", "pyarrow", "duckdb", "sqlglot"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = None
    return info


def ratios(measurements: list[Measurement]) -> dict[str, dict[str, float]]:
    """Per query: sqlmr/duckdb and classic/sqlmr median-time ratios, where both ran."""
    by = {(m.query, m.engine): m for m in measurements}
    out: dict[str, dict[str, float]] = {}
    for query in dict.fromkeys(m.query for m in measurements):
        r = {}
        if (query, "sqlmr") in by and (query, "duckdb") in by:
            r["sqlmr/duckdb"] = by[(query, "sqlmr")].median / by[(query, "duckdb")].median
        if (query, "sqlmr-cli") in by and (query, "duckdb-cli") in by:
            cli, duck = by[(query, "sqlmr-cli")], by[(query, "duckdb-cli")]
            r["sqlmr-cli/duckdb-cli"] = cli.median / duck.median
            r["first row sqlmr-cli/duckdb-cli"] = statistics.median(
                a / b for a, b in zip(cli.first_row, duck.first_row, strict=True)
            )
        if (query, "classic") in by and (query, "sqlmr") in by:
            r["classic/sqlmr"] = by[(query, "classic")].median / by[(query, "sqlmr")].median
        out[query] = r
    return out


def to_json(measurements: list[Measurement], meta: dict) -> dict:
    """The benchmark document written by --json."""
    return {
        "machine": machine_info(),
        **meta,
        "results": [m.summary() for m in measurements],
        "ratios": ratios(measurements),
    }
