"""What `sqlmr query` writes, against what DuckDB's COPY (query) TO 'f' (FORMAT ...) writes for
the same query over the same Parquet file: values kept exactly in JSON Lines, every column kept
(by position) and duplicate names spelled as DuckDB spells them."""

from __future__ import annotations

import csv
import decimal
import json
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sqlmr.cli.app import main


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def duck_copy(sql: str, fmt: str, path: Path) -> Path:
    """`sql` written by DuckDB's own COPY in format `fmt`."""
    duckdb.connect().execute(f"COPY ({sql}) TO '{path}' (FORMAT {fmt})")
    return path


WIDE = [
    "99999999999999999999999999999999999.99",
    "12345678901234567.89",
    "12.50",
    "-0.05",
    "0.00",
    None,
]
MID = ["1234567890123456.78", "12.50", "-0.05", None, "0.00", "-99.99"]  # DECIMAL(18, 2)


@pytest.fixture
def values(tmp_path: Path) -> Path:
    """A Parquet file of the values JSON is most easily wrong about: wide decimals (beyond a
    double's 15-17 digits), NaN and ±Infinity beside NULL, strings with characters to escape."""
    path = tmp_path / "values.parquet"
    texts = ['q"uote', "back\\slash", "line\nbreak\ttab\x01\x1f", "é/€\u2028\x7f", "", None]
    table = pa.table(
        {
            "k": range(len(WIDE)),
            "w": pa.array(
                [None if v is None else decimal.Decimal(v) for v in WIDE], pa.decimal128(38, 2)
            ),
            "m": pa.array(
                [None if v is None else decimal.Decimal(v) for v in MID],
                pa.decimal128(18, 2),
            ),
            "f": [float("nan"), float("inf"), float("-inf"), None, 0.5, -0.0],
            "s": texts,
            "b": [True, False, None, True, False, True],
        }
    )
    pq.write_table(table, path)
    return path


def test_json_lines_are_what_duckdb_writes(values: Path, tmp_path: Path, capsys) -> None:
    sql = f"SELECT k, w, m, f, s, b FROM '{values}' ORDER BY k"
    rc, out, err = run_cli(capsys, "query", sql, "--workers", "2", "--format", "json")
    assert rc == 0, err
    assert out == duck_copy(sql, "json", tmp_path / "duck.json").read_text()


def test_narrow_decimals_in_json_keep_their_value(values: Path, tmp_path: Path, capsys) -> None:
    # DuckDB writes a DECIMAL of at most 15 digits through a double (12.5 for 12.50); sqlmr
    # writes every decimal with its scale: the same numbers, read as decimals.
    sql = (
        f"SELECT k, CAST(m / 1000 AS DECIMAL(15, 5)) AS n FROM '{values}' WHERE m < 1000 ORDER BY k"
    )
    rc, out, err = run_cli(capsys, "query", sql, "--workers", "2", "--format", "json")
    assert rc == 0, err
    duck = duck_copy(sql, "json", tmp_path / "duck.json").read_text()

    def numbers(text: str) -> list[dict]:
        return [json.loads(line, parse_float=decimal.Decimal) for line in text.splitlines()]

    assert numbers(out) == numbers(duck)
    assert '"n":0.01250' in out  # the scale kept


# -- duplicate column names ----------------------------------------------------------------------

DUPLICATES = [
    "SELECT k, i AS k, s FROM '{t}' ORDER BY s",
    "SELECT k, i AS K, s AS k_1, k AS k FROM '{t}' ORDER BY s",  # case, and a suffix taken
]


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"k": [0, 1], "i": [10, 11], "s": ["a", "b"]}), path)
    return path


@pytest.mark.parametrize("sql", DUPLICATES)
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_duplicate_names_in_text_as_duckdb_writes_them(
    small: Path, tmp_path: Path, capsys, sql: str, fmt: str
) -> None:
    sql = sql.format(t=small)
    rc, out, err = run_cli(capsys, "query", sql, "--workers", "2", "--format", fmt)
    assert rc == 0, err
    assert out == duck_copy(sql, fmt, tmp_path / f"duck.{fmt}").read_text()


@pytest.mark.parametrize("sql", DUPLICATES)
@pytest.mark.parametrize("output", ["out.parquet", "out/"])
def test_duplicate_names_in_parquet_as_duckdb_writes_them(
    small: Path, tmp_path: Path, capsys, sql: str, output: str
) -> None:
    sql = sql.format(t=small)
    rc, _, err = run_cli(capsys, "query", sql, "--workers", "2", "-o", f"{tmp_path}/{output}")
    assert rc == 0, err
    ours = pq.read_table(tmp_path / output.rstrip("/"))  # a folder is read as one dataset
    duck = pq.read_table(duck_copy(sql, "parquet", tmp_path / "duck.parquet"))
    assert ours.column_names == duck.column_names
    assert [c.to_pylist() for c in ours.columns] == [c.to_pylist() for c in duck.columns]


@pytest.mark.parametrize("sql", DUPLICATES)
def test_duplicate_names_in_a_table_keep_every_column(
    small: Path, tmp_path: Path, capsys, sql: str
) -> None:
    sql = sql.format(t=small)
    rc, _, err = run_cli(capsys, "query", sql, "--workers", "2", "-o", str(tmp_path / "x.txt"))
    assert rc == 0, err
    lines = (tmp_path / "x.txt").read_text().splitlines()
    cells = [[c.strip() for c in re.split("[┃│]", line)[1:-1]] for line in lines]
    cells = [row for row in cells if row]  # the header and the value rows, no rules
    duck = list(csv.reader(duck_copy(sql, "csv", tmp_path / "duck.csv").open(newline="")))
    assert cells == duck
