"""Partition folders and the catalog that names them: keys match without regard to case, a
declared partition no folder names is an error, and so is a partition that is also a column of
the files (never a NULL or a wrong value without a word)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from conftest import assert_same

import sqlmr


def _write(root: Path, files: dict[str, str], catalog: str) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "catalog.toml").write_text(catalog)


def test_folder_keys_match_partition_names_without_regard_to_case(tmp_path: Path) -> None:
    # Year=2024/ for a catalog's `year`: the value was NULL, and WHERE year = 2024 found nothing.
    files = {"t/Year=2024/p.csv": "1,a\n", "t/Year=2025/p.csv": "2,b\n"}
    _write(tmp_path, files, '[tables.t]\nlocation = "t"\ncolumns = "id INT, c VARCHAR"\n'
           'partitions = "year INT"\n')  # fmt: skip
    source = (
        f"read_csv('{tmp_path}/t/*/*.csv', hive_partitioning = true, "
        "columns = {'id': 'INT', 'c': 'VARCHAR'})"
    )
    for where in ["", " WHERE year = 2024", " WHERE year > 2024 OR c = 'a'"]:
        expected = duckdb.sql(f"SELECT id, c, year FROM {source}{where}").fetchall()
        result = sqlmr.sql(f"SELECT id, c, year FROM t{where}", str(tmp_path), workers=1)
        assert_same(result, expected, ordered=False)


def test_inferred_partition_columns_come_in_duckdbs_order(tmp_path: Path) -> None:
    # z=1/a=2/m=3/: DuckDB names them a, m, z after the file's columns; sqlmr named them z, a, m.
    (tmp_path / "z=1" / "a=2" / "m=3").mkdir(parents=True)
    (tmp_path / "z=1" / "a=2" / "m=3" / "f.csv").write_text("x\n5\n")
    duck = duckdb.sql(f"SELECT * FROM read_csv('{tmp_path}/*/*/*/*.csv', hive_partitioning = true)")
    result = sqlmr.sql(f"SELECT * FROM read_csv('{tmp_path}/**/*.csv', header=true)", workers=1)
    assert result.column_names == duck.columns
    assert_same(result, duck.fetchall(), ordered=True)


def test_a_partition_no_folder_names_is_an_error(tmp_path: Path) -> None:
    files = {"t/year=2024/p.csv": "1,a\n"}
    _write(tmp_path, files, '[tables.t]\nlocation = "t"\ncolumns = "id INT, c VARCHAR"\n'
           'partitions = "region VARCHAR"\n')  # fmt: skip
    with pytest.raises(sqlmr.CatalogError, match=r"p\.csv is in no region=… folder"):
        sqlmr.sql("SELECT * FROM t", str(tmp_path), workers=1)


def test_a_partition_that_is_also_a_file_column_is_an_error(tmp_path: Path) -> None:
    # Was: 'malformed row … expected 1 fields, found 2', blaming the file.
    (tmp_path / "id=100").mkdir()
    (tmp_path / "id=100" / "p.csv").write_text("id,v\n1,a\n")
    with pytest.raises(sqlmr.CatalogError, match=r"hold a column id, and its folders id=…"):
        sqlmr.sql(f"SELECT * FROM read_csv('{tmp_path}/*/*.csv', header=true)", workers=1)
