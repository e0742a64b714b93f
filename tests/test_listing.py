"""A table is listed once per query: the listing made when the table is resolved is reused by
planning, with partition folders pruned in memory exactly as a pruning walk would."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import sqlmr
import sqlmr.catalog.discover as discover
import sqlmr.planning.inputs as inputs
from sqlmr.catalog import Catalog
from sqlmr.catalog.listing import list_table
from sqlmr.planning.explain import render_plan


def _layout(root: Path) -> Path:
    table = root / "events"
    for year in (2020, 2021, 2022):
        for month in (1, 2):
            folder = table / f"year={year}" / f"month={month}"
            folder.mkdir(parents=True)
            rows = pa.table({"v": pa.array(range(year * 10 + month, year * 10 + month + 5))})
            pq.write_table(rows, folder / "part-0.parquet")
    (table / "year=2023" / "month=1").mkdir(parents=True)  # an empty folder is never seen
    return table


def test_pruning_a_listing_in_memory_equals_a_pruning_walk(tmp_path: Path) -> None:
    table = _layout(tmp_path)
    (table / "year=2023" / "month=1").rmdir()
    (table / "year=2023").rmdir()
    keeps = [
        lambda v: v.get("year") != "2021",
        lambda v: v.get("month", "1") == "1",
        lambda v: False,
        lambda v: True,
    ]
    whole = list_table(str(table))
    for keep in keeps:
        assert whole.kept(keep) == list_table(str(table), keep)


def test_a_query_lists_each_table_once(tmp_path: Path, monkeypatch) -> None:
    table = _layout(tmp_path)
    calls: list[str] = []

    def counted(location, keep=None, table=""):
        calls.append(location)
        return list_table(location, keep, table)

    monkeypatch.setattr(discover, "list_table", counted)
    monkeypatch.setattr(inputs, "list_table", counted)
    sql = f"SELECT year, SUM(v) FROM '{table}' WHERE month = 2 GROUP BY year ORDER BY year"
    plan = sqlmr.compile_query(sql, Catalog(()), sqlmr.QueryOptions(workers=1))
    assert calls == [str(table)]
    # 3 year folders and 6 month folders seen, the 3 month=1 folders pruned (2023 is empty).
    assert "3 of 9 folder(s) pruned" in render_plan(plan)
