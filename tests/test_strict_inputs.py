"""Strict inputs (issue 13, "Found" 5 and 7): catalog values are type-checked, duplicate columns
are refused, and literals out of range are SQL errors with a caret. Results that do run are
checked against DuckDB on the same files."""

from __future__ import annotations

import bz2
import gzip
import io
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sqlmr
from sqlmr import CatalogError, SqlError

OPTIONS = sqlmr.QueryOptions(workers=2, split_size=1024, reducers=2)


def catalog_error(tables: Path, tmp_path: Path, body: str) -> str:
    path = tmp_path / "catalog.toml"
    path.write_text(f'[tables.events]\nlocation = "{tables / "events"}"\n{body}')
    with pytest.raises(CatalogError) as info:
        sqlmr.resolve_catalog(str(tables), str(path))
    return str(info.value)


@pytest.mark.parametrize(
    "body, words",
    [
        # Found 5: a string "false" was taken as true and the first row of every file dropped.
        ('columns = "id INT, name VARCHAR"\nheader = "false"\n', ["header", "true or false"]),
        ('columns = "id INT, name VARCHAR"\nheader = 0\n', ["header", "true or false"]),
        ('columns = "id INT, name VARCHAR"\ndelimiter = 5\n', ["delimiter", "a string"]),
        ('columns = "id INT, name VARCHAR"\nquote = true\n', ["quote", "a string"]),
        ('columns = "id INT, name VARCHAR"\nformat = 1\n', ["format", "a string"]),
        ("columns = 7\n", ["columns must be"]),
        # Found 5: duplicate names were accepted and one column's data was lost.
        ('columns = "id INT, ID VARCHAR"\n', ["ID", "declared twice"]),
        ('columns = [{name = "a", type = "INT"}, {name = "a", type = "INT"}]\n', ["twice"]),
    ],
)
def test_catalog_values_are_type_checked(tables: Path, tmp_path: Path, body: str, words) -> None:
    message = catalog_error(tables, tmp_path, body)
    assert "table events" in message
    for word in words:
        assert word in message


def test_catalog_location_must_be_a_string(tables: Path, tmp_path: Path) -> None:
    # Found 7: `location = 5` was an internal TypeError.
    path = tmp_path / "catalog.toml"
    path.write_text('[tables.events]\nlocation = 5\ncolumns = "id INT"\n')
    with pytest.raises(CatalogError, match="location must be a string, not 5"):
        sqlmr.resolve_catalog(str(tables), str(path))


def test_boolean_header_still_reads_every_row(tables: Path, tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(
        f'[tables.events]\nlocation = "{tables / "events"}"\n'
        'columns = "id INT, name VARCHAR"\nheader = true\n'
    )
    got = sqlmr.sql("SELECT SUM(id), COUNT(*) FROM events", str(tables), str(path), workers=2)
    con = duckdb.connect()
    expected = con.execute(
        f"SELECT SUM(id), COUNT(*) FROM read_csv('{tables / 'events' / '*'}', header=true)"
    ).fetchall()
    assert [tuple(r.values()) for r in got.to_pylist()] == expected


@pytest.mark.parametrize(
    "sql, col",
    [
        # Found 7: a 23-digit literal was a Python OverflowError after three attempts.
        ("SELECT pageRank + 12345678901234567890123 FROM rankings", 19),
        ("SELECT pageURL FROM rankings WHERE pageRank = 9223372036854775808", 47),
        ("SELECT CAST(1e30 AS BIGINT) FROM rankings", 8),
        ("SELECT pageURL FROM rankings WHERE pageRank = '99999999999'", 36),
    ],
)
def test_literal_overflow_is_a_sql_error_with_a_caret(tables: Path, sql: str, col: int) -> None:
    catalog = sqlmr.resolve_catalog(str(tables))
    with pytest.raises(SqlError) as info:
        sqlmr.compile_query(sql, catalog, OPTIONS)
    error = info.value
    assert error.line == 1 and error.col == col, str(error)
    assert "out of range" in str(error) or "cannot convert" in str(error)
    assert str(error).splitlines()[-1] == "  " + " " * (col - 1) + "^"


def test_smallest_bigint_literal_runs(tables: Path) -> None:
    sql = "SELECT -9223372036854775808 AS lo, 9223372036854775807 AS hi FROM rankings LIMIT 1"
    got = sqlmr.sql(sql, str(tables), workers=2).to_pylist()
    expected = duckdb.sql(sql.replace(" FROM rankings", "")).fetchall()
    assert [tuple(r.values()) for r in got] == expected


def _straddling_table(root: Path) -> tuple[Path, int]:
    """A quoted table of 300 rows in 4,200 bytes, read in three splits of 1,400: row 100 opens a
    quoted value before the first boundary and holds a newline after it; the value's second
    line looks like a row of its own. Returns the catalog file and the split size."""
    rows = [f"{i:04d},name{i:04d}\n" for i in range(300)]  # 14 bytes a row
    rows[99] = "0099,n099\n"  # 10 bytes: row 100 starts at 1,396
    rows[100] = '0100,"abcd\n100,y"\n'  # 18 bytes, its inner newline at 1,406
    (root / "quoted").mkdir()
    (root / "quoted" / "part-00000").write_text("".join(rows))
    catalog = root / "quoted.toml"
    catalog.write_text('[tables.quoted]\nlocation = "quoted"\ncolumns = "id INT, name VARCHAR"\n')
    return catalog, 1400


def test_quoted_newline_across_a_split_is_refused(tmp_path: Path) -> None:
    # Found 5: a quoted field with a newline that straddled a split boundary invented a row.
    catalog, split = _straddling_table(tmp_path)
    with pytest.raises(sqlmr.TaskError) as info:
        sqlmr.sql("SELECT COUNT(*) FROM quoted", catalog=str(catalog), workers=2, split_size=split)
    message = str(info.value)
    assert "part-00000" in message and "quoted field is still open" in message
    assert "from byte offset" in message


def test_quoted_newline_inside_one_split_is_read(tmp_path: Path) -> None:
    catalog, _ = _straddling_table(tmp_path)
    sql = "SELECT COUNT(*), SUM(id), MAX(LENGTH(name)) FROM quoted"
    got = sqlmr.sql(sql, catalog=str(catalog), workers=2, split_size=1 << 20)
    expected = duckdb.sql(
        sql.replace(
            "quoted",
            f"read_csv('{tmp_path / 'quoted' / '*'}', header=false, "
            "columns={'id': 'INT', 'name': 'VARCHAR'})",
        )
    ).fetchall()
    assert [tuple(r.values()) for r in got.to_pylist()] == expected


def test_newlines_in_values_reads_each_object_whole(tmp_path: Path) -> None:
    # Issue 13 §4: a table that allows quoted newlines is read one whole object per range, so
    # the split size that cut a value in two above no longer matters.
    catalog, split = _straddling_table(tmp_path)
    (tmp_path / "quoted" / "part-00001").write_text(
        "".join(f'{i},"line {i}\nand, more"\n' for i in range(300, 420))
    )
    catalog.write_text(catalog.read_text() + "newlines_in_values = true\n")
    sql = "SELECT id, name FROM quoted"
    plan = sqlmr.compile_query(
        sql, sqlmr.resolve_catalog(catalog=str(catalog)), sqlmr.QueryOptions(split_size=split)
    )
    ranges = [r for task in plan.stages[0].tasks for r in task["ranges"]]
    assert sorted((r["start"], r["url"].endswith("1")) for r in ranges) == [(0, False), (0, True)]
    from sqlmr.planning.explain import render_plan

    assert "newlines in quoted values" in render_plan(plan)
    got = sqlmr.sql(sql, catalog=str(catalog), workers=2, split_size=split)
    expected = duckdb.sql(
        f"SELECT id, name FROM read_csv('{tmp_path / 'quoted' / '*'}', header=false, quote='\"', "
        "columns={'id': 'INT', 'name': 'VARCHAR'})"
    ).fetchall()
    assert sorted(tuple(r.values()) for r in got.to_pylist()) == sorted(expected)
    assert len(expected) == 420


def test_newlines_in_values_needs_a_quote(tables: Path, tmp_path: Path) -> None:
    message = catalog_error(tables, tmp_path, 'quote = ""\nnewlines_in_values = true\n')
    assert "newlines_in_values needs a quote" in message


def _binary(kind: str, text: bytes) -> bytes:
    """`text` in a binary form whose magic bytes a reader of plain text must refuse."""
    if kind == "gzip":
        return gzip.compress(text)
    if kind == "bzip2":
        return bz2.compress(text)
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2], "name": ["a", "b"]}), sink)
    return sink.getvalue()


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "parquet"])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_binary_data_named_as_text_is_refused_alike(kind: str, fmt: str, tmp_path: Path) -> None:
    # Before, a table whose columns are inferred gave the sampler's CSV or JSON parse error
    # for gzip bytes in x.csv; a declared table refused them clearly. Now both refuse alike.
    text = b"id,name\n1,a\n2,b\n" if fmt == "csv" else b'{"id": 1, "name": "a"}\n'
    path = tmp_path / ("x.csv" if fmt == "csv" else "x.jsonl")
    path.write_bytes(_binary(kind, text))
    reader = f"'{path}'" if fmt == "csv" else f"read_json('{path}')"
    with pytest.raises(duckdb.Error):  # DuckDB has no rows for it either
        duckdb.sql(f"SELECT COUNT(*) FROM {reader}").fetchall()
    table = f'[tables.x]\nlocation = "{path}"\nformat = "{fmt}"\n'
    inferred = table + ("header = true\n" if fmt == "csv" else "")
    declared = table + 'columns = "id BIGINT, name VARCHAR"\n'
    messages = [_error(f"SELECT COUNT(*) FROM {reader}")]
    for body in (inferred, declared):
        (tmp_path / "tables.toml").write_text(body)
        messages.append(_error("SELECT COUNT(*) FROM x", catalog=str(tmp_path / "tables.toml")))
    refusals = {m[m.index(path.name) :] for m in messages}
    assert len(refusals) == 1, messages
    assert f"holds {kind} data but the table reads it as plain text" in refusals.pop(), messages
    assert all("\n" not in m for m in messages), messages


def _error(sql: str, **kwargs) -> str:
    with pytest.raises(sqlmr.SqlmrError) as info:
        sqlmr.sql(sql, workers=1, **kwargs)
    return str(info.value)
