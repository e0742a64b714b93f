"""Everyday use of `sqlmr query`: CSV that `cut` and Python's csv read as DuckDB writes it, CSV by
default in a pipe, -o by extension (TSV too, unknown ones refused), booleans spelled alike, SQL
from -f FILE and stdin, several statements per file, numbered outputs. Every value is checked
against DuckDB; a few runs go through the installed script in a subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import rows_equal

from sqlmr.cli import main

SQL = (
    "SELECT countryCode, COUNT(*) AS n, SUM(duration) AS d, SUM(duration) > 500 AS big "
    "FROM uservisits GROUP BY countryCode ORDER BY countryCode LIMIT 7"
)


def _flags(amplab_dir: str) -> list[str]:
    return ["--tables", amplab_dir, "--workers", "2"]


def _typed(row: list[str]) -> tuple:
    country, n, d, big = row
    return (country, int(n), int(d), {"true": True, "false": False}[big])


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _script() -> list[str]:
    exe = shutil.which("sqlmr", path=os.path.dirname(sys.executable))
    assert exe, "the sqlmr script is installed next to the interpreter"
    return [exe]


def test_csv_has_lf_line_ends_minimal_quotes_and_lowercase_booleans(amplab_dir, duck, capsys):
    rc, out, err = _cli(capsys, "query", SQL, *_flags(amplab_dir), "--format", "csv")
    assert rc == 0, err
    assert "\r" not in out and '"' not in out  # nothing here needs quoting
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["countryCode", "n", "d", "big"]
    expected = duck.execute(SQL).fetchall()
    assert len(rows) - 1 == len(expected)
    for got, want in zip(rows[1:], expected, strict=True):
        assert rows_equal(_typed(got), want), (got, want)
    # The same result without a header row, and as DuckDB's own CSV writer spells it.
    rc, bare, _ = _cli(capsys, "query", SQL, *_flags(amplab_dir), "--format", "csv", "--no-header")
    assert bare.splitlines() == out.splitlines()[1:]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(
        [[c, n, d, "true" if b else "false"] for c, n, d, b in expected]
    )
    assert bare == buf.getvalue()


def test_booleans_are_spelled_alike_in_every_format(amplab_dir, duck, capsys):
    expected = [row[3] for row in duck.execute(SQL).fetchall()]
    spelled = ["true" if b else "false" for b in expected]
    _, table, _ = _cli(capsys, "query", SQL, *_flags(amplab_dir), "--format", "table")
    _, text, _ = _cli(capsys, "query", SQL, *_flags(amplab_dir), "--format", "json")
    assert [json.loads(line)["big"] for line in text.splitlines()] == expected
    assert "True" not in table and "False" not in table
    cells = [line.split("│")[4].strip() for line in table.splitlines() if line.count("│") == 5]
    assert cells == spelled and len(set(spelled)) == 2


@pytest.mark.parametrize(
    "name, reader",
    [
        ("out.tsv", lambda t: list(csv.reader(io.StringIO(t), delimiter="\t"))),
        ("out.csv", lambda t: list(csv.reader(io.StringIO(t)))),
    ],
)
def test_output_file_format_from_extension(amplab_dir, duck, tmp_path, capsys, name, reader):
    rc, out, err = _cli(capsys, "query", SQL, *_flags(amplab_dir), "-o", str(tmp_path / name))
    assert rc == 0 and out == "", err
    rows = reader((tmp_path / name).read_text())
    assert rows[0] == ["countryCode", "n", "d", "big"]
    expected = duck.execute(SQL).fetchall()
    assert [_typed(r) for r in rows[1:]] == [tuple(r) for r in expected]


@pytest.mark.parametrize("name", ["out.xlsx", "out"])
def test_unknown_output_extension_is_refused(amplab_dir, tmp_path, capsys, name):
    rc, out, err = _cli(capsys, "query", SQL, *_flags(amplab_dir), "-o", str(tmp_path / name))
    assert rc == 1
    assert err.startswith("error: cannot tell the format of") and "--format" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / name).exists()


def test_sql_file_with_several_statements_writes_numbered_outputs(
    amplab_dir, duck, tmp_path, capsys
):
    second = "SELECT pageRank FROM rankings WHERE pageRank > 900 ORDER BY pageRank"
    script = tmp_path / "q.sql"
    script.write_text(f"-- two queries\n{SQL};\n\n{second};\n")
    rc, out, err = _cli(
        capsys, "query", "-f", str(script), *_flags(amplab_dir), "-o", str(tmp_path / "r.csv")
    )
    assert rc == 0, err
    first = list(csv.reader(open(tmp_path / "r-1.csv")))
    assert [_typed(r) for r in first[1:]] == [tuple(r) for r in duck.execute(SQL).fetchall()]
    ranks = [int(r[0]) for r in list(csv.reader(open(tmp_path / "r-2.csv")))[1:]]
    assert ranks == [r[0] for r in duck.execute(second).fetchall()]
    assert ranks  # the query is meant to return rows
    assert not (tmp_path / "r.csv").exists()


def test_error_in_a_later_statement_points_at_the_file_line(amplab_dir, tmp_path, capsys):
    script = tmp_path / "bad.sql"
    script.write_text("SELECT COUNT(*) FROM rankings;\nSELECT nosuch\n  FROM rankings;\n")
    rc, _, err = _cli(capsys, "query", "-f", str(script), *_flags(amplab_dir))
    assert rc == 1
    assert "line 2, column 8" in err and "nosuch" in err


def test_a_sql_file_named_as_the_argument_gets_a_hint(amplab_dir, tmp_path, capsys):
    script = tmp_path / "q.sql"
    script.write_text(SQL)
    rc, _, err = _cli(capsys, "query", str(script), *_flags(amplab_dir))
    assert rc == 1 and f"-f {script}" in err


def test_argument_and_file_together_are_refused(amplab_dir, tmp_path, capsys):
    (tmp_path / "q.sql").write_text(SQL)
    rc, _, err = _cli(capsys, "query", SQL, "-f", str(tmp_path / "q.sql"), *_flags(amplab_dir))
    assert rc == 1 and "not both" in err


def test_pipe_gets_csv_by_default_and_stdin_gives_the_sql(amplab_dir, duck):
    """Through the installed script: stdout is a pipe, so the default format is CSV; the SQL
    comes from standard input with `-`, two statements in one script."""
    script = f"{SQL};\nSELECT COUNT(*) AS c FROM rankings;"
    proc = subprocess.run(
        [*_script(), "query", "-", *_flags(amplab_dir)],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    expected = duck.execute(SQL).fetchall()
    assert rows[0] == ["countryCode", "n", "d", "big"]
    assert [_typed(r) for r in rows[1 : 1 + len(expected)]] == [tuple(r) for r in expected]
    count = duck.execute("SELECT COUNT(*) FROM rankings").fetchone()[0]
    assert rows[1 + len(expected) :] == [["c"], [str(count)]]
    # `cut` gets plain fields: no CR, no quotes.
    cut = subprocess.run(
        ["cut", "-d,", "-f1"], input=proc.stdout, capture_output=True, text=True, timeout=30
    )
    assert cut.stdout.splitlines()[1 : 1 + len(expected)] == [r[0] for r in expected]


def test_stats_per_stage(amplab_dir, capsys):
    sql = "SELECT countryCode, COUNT(*) FROM uservisits GROUP BY 1"
    flags = ["--tables", amplab_dir, "--workers", "2", "--split-size", "256KB"]
    rc, out, err = _cli(capsys, "query", sql, *flags, "--format", "csv", "--stats")
    assert rc == 0, err
    lines = {line.split(":")[0].strip(): line for line in err.splitlines() if "stage " in line}
    size = sum(
        os.path.getsize(os.path.join(amplab_dir, "uservisits", f))
        for f in os.listdir(os.path.join(amplab_dir, "uservisits"))
    )
    tasks = -(-size // (256 << 10))  # the splits of the one uservisits object
    assert lines["stage map"].startswith(f"  stage map: {tasks} task(s)")
    for name in ("stage map", "stage reduce"):
        line = lines[name]
        assert "read " in line and "compute " in line and "write " in line
        assert "bytes in " in line and "out " in line and "slowest task " in line


def test_table_to_a_pipe_does_not_depend_on_the_terminal_width(
    amplab_dir, duck, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "20")
    sql = "SELECT pageURL, pageRank, avgDuration FROM rankings ORDER BY pageRank DESC LIMIT 5"
    rc, out, err = _cli(capsys, "query", sql, *_flags(amplab_dir), "--format", "table")
    assert rc == 0, err
    rows = [line for line in out.splitlines() if line.count("│") == 4]
    expected = duck.execute(sql).fetchall()
    assert len(rows) == len(expected)  # one line per row, none wrapped
    for line, (url, rank, duration) in zip(rows, expected, strict=True):
        assert [c.strip() for c in line.split("│")[1:4]] == [url, str(rank), str(duration)]
