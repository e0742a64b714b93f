"""The map-only result path: what a task writes and how the driver hands it to the caller.

A local result object is uncompressed Arrow IPC that the driver maps instead of reading: its
columns are used in place. These tests check that no copy of the rows is made, that the rows
outlive the job's cleanup (which deletes the mapped files), and that they are DuckDB's rows.
"""

from __future__ import annotations

import os
import tracemalloc

import pyarrow as pa
from conftest import assert_same

from sqlmr.api import QueryOptions, compile_query, resolve_catalog, run

QUERY = "SELECT pageURL, pageRank FROM rankings WHERE pageRank > 10"


def _run(amplab_dir: str, tmp_path, **options):
    opts = QueryOptions(workers=2, split_size="40KB", job_store=str(tmp_path / "jobs"), **options)
    plan = compile_query(QUERY, resolve_catalog(amplab_dir), opts)
    return run(plan, opts)


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


def test_a_local_result_is_used_in_place_and_outlives_cleanup(amplab_dir, duck, tmp_path):
    with _run(amplab_dir, tmp_path) as result:
        assert len(result.results) > 1  # several result objects, one per task
        largest = max(s["output"]["length"] for s in result.results)
        files_before = _open_files()
        before = pa.total_allocated_bytes()
        tracemalloc.start()
        try:
            table = result.read_all()
            _, python_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        allocated = pa.total_allocated_bytes() - before
        assert _open_files() == files_before  # mapped, and the files closed
    assert not os.listdir(tmp_path / "jobs")  # the job's files are gone
    # The rows (about 75 KB, in objects of over 30 KB) were copied neither into Python objects
    # (an object read whole) nor into Arrow's memory pool (a decoded copy).
    assert largest > 30_000
    assert python_peak < largest // 2
    assert allocated < table.nbytes // 10
    assert_same(table, duck.execute(QUERY).fetchall(), ordered=False)


def test_a_compressed_local_result_is_decoded(amplab_dir, duck, tmp_path):
    with _run(amplab_dir, tmp_path, shuffle_compression="zstd") as result:
        codecs = {s["output"]["codec"] for s in result.results}
        table = result.read_all()
    assert codecs == {"zstd" if pa.Codec.is_available("zstd") else "lz4"}
    assert_same(table, duck.execute(QUERY).fetchall(), ordered=False)
