"""Small things a user sees: an evaluation error names the query's expression, and the progress
bars count the tasks the driver runs (reduce partitions packed into fewer tasks), as the summary
does."""

from __future__ import annotations

import duckdb
import pytest

from sqlmr.api import QueryOptions, compile_query, resolve_catalog, run
from sqlmr.cli import main
from sqlmr.cli.progress import Progress


def test_overflow_names_the_expression(amplab_dir, duck, capsys):
    sql = "SELECT pageURL, pageRank * 4000000000 * 4000000000 AS big FROM rankings"
    with pytest.raises(duckdb.OutOfRangeException):  # DuckDB refuses it as well
        duck.execute(sql).fetchall()
    rc = main(["query", sql, "--tables", amplab_dir, "--workers", "1"])
    err = capsys.readouterr().err
    assert rc == 1 and len(err.strip().splitlines()) == 1
    assert "mul: overflow, in ((CAST(pageRank AS BIGINT) * 4000000000) * 4000000000)" in err


def test_progress_bars_count_tasks_not_partitions(amplab_dir):
    options = QueryOptions(workers=2, split_size="64KB")
    sql = "SELECT sourceIP, COUNT(*) FROM uservisits GROUP BY 1"
    plan = compile_query(sql, resolve_catalog(amplab_dir), options)
    progress = Progress()
    with progress.bars, run(plan, options, listener=progress) as result:
        assert result.read_all().num_rows > 0
    for stage, stats in zip(plan.stages, result.stages, strict=True):
        bar = progress.bars.tasks[progress.ids[stage.id]]
        assert bar.total == bar.completed == stats.tasks
    reduce = plan.stages[1]
    assert reduce.coalesce_bytes and result.stages[1].tasks < len(reduce.tasks)
