"""Catalogs compose: built-in tables, a tables folder's catalog.toml and --catalog FILE add up, a
name defined twice names both places, and a header CSV table without columns takes its names from
the header and its types by sampling (checked against DuckDB's own detection)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pytest

from sqlmr.cli import main

EVENTS = [
    ("id", "BIGINT"),
    ("name", "VARCHAR"),
    ("score", "DOUBLE"),
    ("day", "DATE"),
    ("ok", "BOOLEAN"),
]


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def events(tmp_path: Path) -> Path:
    """A header CSV table in two parts, and a catalog file that gives no columns."""
    folder = tmp_path / "data" / "events"
    folder.mkdir(parents=True)
    header = ",".join(n for n, _ in EVENTS)
    for part in range(2):
        lines = [header]
        for i in range(part * 300, part * 300 + 300):
            name = "" if i % 17 == 0 else f"n{i % 23}"
            lines.append(f"{i},{name},{i / 8},2024-01-{1 + i % 28:02d},{str(i % 3 == 0).lower()}")
        (folder / f"part-{part}.csv").write_text("\n".join(lines) + "\n")
    catalog = tmp_path / "events.toml"
    catalog.write_text(f'[tables.events]\nlocation = "{folder}"\nheader = true\n')
    return catalog


def test_header_table_columns_match_duckdb_detection(amplab_dir, events, capsys):
    folder = events.parent / "data" / "events"
    con = duckdb.connect()
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_csv('{folder}/*.csv', header=true)")
    rc, out, err = _cli(
        capsys, "query", "DESCRIBE events", "--tables", amplab_dir, "--catalog", str(events)
    )
    assert rc == 0, err
    expected = [(r[0], r[1]) for r in con.execute("DESCRIBE events").fetchall()]
    assert [tuple(r) for r in _rows(out)[1:]] == expected == EVENTS
    sql = (
        "SELECT name, COUNT(*) AS n, SUM(score) AS s, MAX(day) AS d, COUNT(ok) AS k FROM events "
        "WHERE ok GROUP BY name ORDER BY name NULLS FIRST"
    )
    rc, out, err = _cli(
        capsys, "query", sql, "--tables", amplab_dir, "--catalog", str(events), "--workers", "2"
    )
    assert rc == 0, err
    got = _rows(out)[1:]
    want = con.execute(sql).fetchall()
    assert len(got) == len(want) and want
    for g, w in zip(got, want, strict=True):
        assert g[0] == (w[0] or "") and int(g[1]) == w[1] and float(g[2]) == w[2]
        assert g[3] == w[3].isoformat() and int(g[4]) == w[4]


def test_catalog_file_adds_to_the_built_in_tables(
    amplab_dir, events, capsys, tmp_path, monkeypatch
):
    rc, out, err = _cli(
        capsys, "query", "SHOW TABLES", "--tables", amplab_dir, "--catalog", str(events)
    )
    assert rc == 0, err
    assert _rows(out) == [["name"], ["events"], ["rankings"], ["uservisits"]]
    # Without --tables the built-in tables are the embedded dataset's, still there.
    monkeypatch.setenv("SQLMR_CACHE", str(tmp_path / "cache"))
    rc, out, err = _cli(capsys, "tables", "--catalog", str(events), "--format", "csv")
    assert rc == 0, err
    assert _rows(out) == [["name"], ["events"], ["rankings"], ["uservisits"]]


def test_a_name_defined_twice_names_both_places(amplab_dir, tmp_path, capsys):
    tables = tmp_path / "tables"
    (tables / "rankings").mkdir(parents=True)
    (tables / "rankings" / "part-0").write_text("u,1,2\n")
    (tables / "catalog.toml").write_text(
        '[tables.RANKINGS]\nlocation = "rankings"\ncolumns = "a VARCHAR, b INT, c INT"\n'
    )
    rc, _, err = _cli(capsys, "tables", "--tables", str(tables))
    assert rc == 1 and len(err.strip().splitlines()) == 1
    assert "defined twice" in err and f"tables folder {tables}" in err
    assert f"catalog file {tables / 'catalog.toml'}" in err
    other = tmp_path / "other.toml"
    other.write_text('[tables.extra]\nlocation = "x"\ncolumns = "a INT"\n')
    again = tmp_path / "again.toml"
    again.write_text('[tables.extra]\nlocation = "y"\ncolumns = "a INT"\n')
    (tables / "catalog.toml").write_text(other.read_text())
    rc, _, err = _cli(capsys, "tables", "--tables", str(tables), "--catalog", str(again))
    assert rc == 1 and str(tables / "catalog.toml") in err and str(again) in err


def test_header_table_without_files_says_what_to_do(amplab_dir, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    catalog = tmp_path / "c.toml"
    catalog.write_text(f'[tables.t]\nlocation = "{tmp_path / "empty"}"\nheader = true\n')
    rc, _, err = _cli(
        capsys, "query", "DESCRIBE t", "--tables", amplab_dir, "--catalog", str(catalog)
    )
    assert rc == 1 and "no data files" in err


def test_tables_folder_subfolders_of_parquet_and_json_need_no_catalog(tmp_path, capsys):
    """A subfolder whose files carry their schema is a table of the folder (as DuckDB reads the
    same files); a subfolder of text names what to add; a catalog entry wins over the files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = tmp_path / "tables"
    for name in ("sales", "clicks", "notes"):
        (tables / name).mkdir(parents=True)
    for part in range(2):
        pq.write_table(
            pa.table(
                {"k": [f"k{i % 5}" for i in range(part, 90, 2)], "v": list(range(part, 90, 2))}
            ),
            tables / "sales" / f"part-{part}.parquet",
        )
    lines = [f'{{"k": "c{i % 3}", "n": {i}}}' for i in range(40)]
    (tables / "clicks" / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    (tables / "notes" / "a.csv").write_text("x,y\n1,2\n")
    con = duckdb.connect()
    for sql, view in (
        ("SELECT k, SUM(v) AS s FROM sales GROUP BY k ORDER BY k", "read_parquet"),
        ("SELECT k, COUNT(*) AS c, SUM(n) AS s FROM clicks GROUP BY k ORDER BY k", "read_json"),
    ):
        name = sql.split(" FROM ")[1].split()[0]
        ext = "parquet" if view == "read_parquet" else "jsonl"
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM {view}('{tables / name}/*.{ext}')")
        rc, out, err = _cli(capsys, "query", sql, "--tables", str(tables), "--format", "csv")
        assert rc == 0, err
        want = [[str(v) for v in row] for row in con.execute(sql).fetchall()]
        assert _rows(out)[1:] == want and want
    rc, out, err = _cli(capsys, "tables", "--tables", str(tables), "--format", "csv")
    assert rc == 0 and _rows(out) == [["name"], ["clicks"], ["sales"]], err
    rc, _, err = _cli(capsys, "query", "SELECT * FROM notes", "--tables", str(tables))
    assert rc == 1 and len(err.strip().splitlines()) == 1
    assert "no schema" in err and str(tables / "catalog.toml") in err and "[tables.notes]" in err
    (tables / "catalog.toml").write_text(
        '[tables.notes]\nlocation = "notes"\nheader = true\n'
        '[tables.sales]\nlocation = "sales"\nformat = "parquet"\ncolumns = "k VARCHAR, v BIGINT"\n'
    )
    rc, out, err = _cli(capsys, "query", "SELECT SUM(y) AS s FROM notes", "--tables", str(tables))
    assert rc == 0 and _rows(out) == [["s"], ["2"]], err
    rc, out, err = _cli(capsys, "query", "SELECT COUNT(*) AS n FROM sales", "--tables", str(tables))
    assert rc == 0 and _rows(out) == [["n"], ["90"]], err
