"""A text scan's leading filter applied as the range is read (scan_text.read_text_where): the
string columns the filter does not read are checked as UTF-8 after it, in the kept rows only,
when a sample of the range's first rows says the filter keeps few. Results equal DuckDB's."""

from __future__ import annotations

import pytest
from conftest import assert_same
from sqlmr_runtime import scan, scan_text
from sqlmr_runtime.errors import BadInputError

from sqlmr.api import QueryOptions, compile_query, resolve_catalog


def _scan_stage(query: str, tables: str):
    plan = compile_query(query, resolve_catalog(tables), QueryOptions(workers=1))
    stage = plan.stages[0]
    predicate = scan.pushed_filter(stage.source, stage.ops)["predicate"]
    return stage.source, [r for task in stage.tasks for r in task["ranges"]], predicate


@pytest.mark.parametrize(
    "threshold, late", [(1000, {"pageurl"}), (90, {"pageurl"}), (10, set()), (0, set())]
)
def test_filtered_text_scan_equals_duckdb(amplab_dir, duck, monkeypatch, threshold, late):
    # Samples of about 600 bytes, so that the sampled and the rest-of-range paths both run on
    # the tiny rankings table (1,200 rows).
    monkeypatch.setattr(scan_text, "SAMPLE_BYTES", 600)
    checked = []
    real = scan_text._checked_utf8
    monkeypatch.setattr(
        scan_text, "_checked_utf8", lambda t, names, *a: checked.append(names) or real(t, names, *a)
    )
    query = f"SELECT pageURL, pageRank FROM rankings WHERE pageRank > {threshold}"
    source, ranges, predicate = _scan_stage(query, amplab_dir)
    table, rows, _ = scan.read_where(source, ranges, predicate)
    assert rows == 1200
    assert {n.lower() for names in checked for n in names} == late
    expected = duck.execute(query).fetchall()
    assert_same(table.select(["pageURL", "pageRank"]), expected, ordered=False)


def _bad_utf8_table(tmp_path, bad_value: int) -> str:
    folder = tmp_path / "rankings"
    folder.mkdir()
    rows = [f"url{i},{i},1\n".encode() for i in range(2000)]
    rows[1500] = b"bad\xff\xfeurl," + str(bad_value).encode() + b",1\n"
    (folder / "part-00000").write_bytes(b"".join(rows))
    return str(tmp_path)


def test_invalid_utf8_in_a_kept_row_names_the_object_and_column(tmp_path, monkeypatch):
    monkeypatch.setattr(scan_text, "SAMPLE_BYTES", 600)
    source, ranges, predicate = _scan_stage(
        "SELECT pageURL FROM rankings WHERE pageRank > 1900", _bad_utf8_table(tmp_path, 1950)
    )
    with pytest.raises(BadInputError, match=r"part-00000: a value of column pageURL .* UTF-8"):
        scan.read_where(source, ranges, predicate)


def test_invalid_utf8_in_a_row_the_filter_drops_is_not_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(scan_text, "SAMPLE_BYTES", 600)
    source, ranges, predicate = _scan_stage(
        "SELECT pageURL FROM rankings WHERE pageRank > 1900", _bad_utf8_table(tmp_path, 7)
    )
    table, rows, _ = scan.read_where(source, ranges, predicate)
    assert rows == 2000
    assert table.column("pageURL").to_pylist() == [f"url{i}" for i in range(1901, 2000)]
