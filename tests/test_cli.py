"""The `sqlmr` command line: output formats checked against DuckDB, exit codes, one-line errors
with a caret under the right column, --debug tracebacks, and help text for every command and
option. Mostly in-process through sqlmr.cli.main, plus a few runs of the installed script."""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import AMPLAB_COLUMNS
from sqlmr_runtime.validate import validate_plan

from sqlmr.cli.app import build_parser, main

RANKINGS = dict(AMPLAB_COLUMNS["rankings"])
USERVISITS = dict(AMPLAB_COLUMNS["uservisits"])


def _rankings_row(i: int) -> str:
    return f"url{i:03d},{(i * 37) % 101},{1 + (i * 13) % 60}"


def _uservisits_row(i: int) -> str:
    day = datetime.date(1999, 12, 1) + datetime.timedelta(days=(i * 17) % 90)
    return (
        f"10.{i % 5}.{(i * 7) % 11}.{i % 13},url{(i * 11) % 60:03d},{day.isoformat()},"
        f"{((i * 7919) % 100000) / 997:.6f},Mozilla/5.{i % 3},{['USA', 'FRA', 'DEU'][i % 3]},"
        f"en,word{i % 9},{(i * 31) % 100 + 1}"
    )


def write_table(folder: Path, lines: list[str], parts: int = 1) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    per = math.ceil(len(lines) / parts)
    for p in range(parts):
        chunk = lines[p * per : (p + 1) * per]
        (folder / f"part-{p:05d}").write_text("".join(line + "\n" for line in chunk))


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-tables")
    write_table(root / "rankings", [_rankings_row(i) for i in range(60)])
    write_table(root / "uservisits", [_uservisits_row(i) for i in range(200)], parts=2)
    return root


@pytest.fixture(scope="module")
def duck(tables: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, columns in (("rankings", RANKINGS), ("uservisits", USERVISITS)):
        cols = ", ".join(f"'{c}': '{t}'" for c, t in columns.items())
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_csv('{tables}/{name}/*', header=false, "
            f"delim=',', quote='', escape='', nullstr='', auto_detect=false, columns={{{cols}}})"
        )
    yield con
    con.close()


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def source_flags(tables: Path) -> list[str]:
    return ["--tables", str(tables), "--workers", "2", "--split-size", "2KB"]


# -- good queries in every format -----------------------------------------------------------------

QUERIES = {
    # Commas and quotes in values (RFC 4180 quoting), NULL, an empty string, a DOUBLE.
    "projection": (
        "SELECT pageURL || ',' || 'q\"x' AS s, pageRank, avgDuration / 3 AS d, "
        "CASE WHEN pageRank > 50 THEN NULL ELSE pageURL END AS n, '' AS e "
        "FROM rankings WHERE pageRank > 20 ORDER BY pageRank DESC, pageURL",
        ["s", "pageRank", "d", "n", "e"],
    ),
    # Several map and reduce tasks, dates, a SUM of DOUBLE, an unaliased column name.
    "grouped": (
        "SELECT visitDate, COUNT(*) AS n, SUM(adRevenue) FROM uservisits "
        "GROUP BY visitDate ORDER BY visitDate LIMIT 25",
        ["visitDate", "n", "SUM(adRevenue)"],
    ),
}


def same_value(text: object, expected: object) -> bool:
    """A value read back from CSV (a string) or JSON equals DuckDB's value."""
    if expected is None:
        return text in ("", None)
    if isinstance(expected, float):
        return math.isclose(float(text), expected, rel_tol=1e-12)
    if isinstance(expected, datetime.date):
        return text == expected.isoformat()
    if isinstance(expected, int) and isinstance(text, str):
        return text == str(expected)
    return text == expected


def assert_rows(got: list[list], expected: list[tuple]) -> None:
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert len(g) == len(e), i
        assert all(same_value(a, b) for a, b in zip(g, e, strict=True)), (i, g, e)


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize(
    "fmt, output",
    [
        ("csv", None),
        ("json", None),
        (None, "out.csv"),
        (None, "out.jsonl"),
        ("json", "out.txt"),
        (None, "out.parquet"),
        ("parquet", "out.bin"),
    ],
)
def test_query_formats_match_duckdb(
    tables: Path, duck, tmp_path: Path, capsys, query: str, fmt: str | None, output: str | None
) -> None:
    sql, names = QUERIES[query]
    argv = ["query", sql, *source_flags(tables)]
    if fmt:
        argv += ["--format", fmt]
    if output:
        argv += ["-o", str(tmp_path / output)]
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 0, err
    assert err == ""
    expected = duck.execute(sql).fetchall()
    assert expected  # the queries are meant to return rows
    kind = fmt or {".csv": "csv", ".jsonl": "json", ".parquet": "parquet"}[Path(output).suffix]
    if output:
        assert out == ""  # -o FILE writes the file, not standard output
        path = tmp_path / output
        assert path.is_file()
        text = path.read_text() if kind != "parquet" else None
    else:
        text = out
    if kind == "csv":
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert rows[0] == names  # a header row
        assert_rows(rows[1:], expected)
    elif kind == "json":
        lines = text.splitlines()
        objects = [json.loads(line) for line in lines]
        assert all(isinstance(o, dict) and list(o) == names for o in objects)
        assert_rows([list(o.values()) for o in objects], expected)
    else:
        table = pq.read_table(tmp_path / output)
        assert table.column_names == names
        assert_rows([[_plain(v) for v in r.values()] for r in table.to_pylist()], expected)


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime.date) else value


def test_csv_quotes_only_where_needed(tables: Path, capsys) -> None:
    sql = QUERIES["projection"][0] + " LIMIT 1"
    rc, out, _ = run_cli(capsys, "query", sql, *source_flags(tables), "--format", "csv")
    assert rc == 0
    header, row = out.splitlines()
    # The comma and the quote force quoting (quote doubled), NULL is empty, '' is "".
    assert re.fullmatch(r'"url\d{3},q""x",\d+,[0-9.]+,,""', row), row


def test_table_format(tables: Path, duck, capsys) -> None:
    sql = "SELECT pageURL, pageRank FROM rankings WHERE pageRank > 80 ORDER BY pageURL"
    rc, out, err = run_cli(capsys, "query", sql, *source_flags(tables), "--format", "table")
    assert rc == 0, err
    assert "pageURL" in out and "pageRank" in out
    lines = out.splitlines()
    for url, rank in duck.execute(sql).fetchall():
        assert any(url in line and f" {rank} " in line for line in lines), url


def test_stats_go_to_stderr(tables: Path, capsys) -> None:
    sql = "SELECT countryCode, COUNT(*) FROM uservisits GROUP BY 1"
    rc, out, err = run_cli(capsys, "query", sql, *source_flags(tables), "--format", "csv")
    assert rc == 0 and err == ""
    rc, out2, err = run_cli(
        capsys, "query", sql, *source_flags(tables), "--format", "csv", "--stats"
    )
    assert rc == 0
    assert "row(s) in" in err and "map:" in err
    assert sorted(out2.splitlines()) == sorted(out.splitlines())


def test_explain(tables: Path, capsys) -> None:
    sql = "SELECT countryCode, AVG(duration) FROM uservisits GROUP BY countryCode"
    rc, out, err = run_cli(capsys, "explain", sql, *source_flags(tables))
    assert rc == 0, err
    assert "stage map" in out and "stage reduce" in out and "result columns:" in out


def test_explain_json_is_the_plan_the_runtime_accepts(tables: Path, capsys) -> None:
    sql = (
        "SELECT sourceIP, SUM(adRevenue) FROM uservisits WHERE visitDate > DATE '1999-12-15' "
        "GROUP BY sourceIP ORDER BY 2 DESC LIMIT 5"
    )
    rc, out, err = run_cli(capsys, "explain", "--json", sql, *source_flags(tables))
    assert rc == 0, err
    plan = json.loads(out)
    validate_plan(plan)
    assert plan["query"] == sql
    assert [s["kind"] for s in plan["stages"]][:2] == ["map", "reduce"]
    assert [c["name"] for c in plan["columns"]] == ["sourceIP", "SUM(adRevenue)"]


# -- errors: one line, exit 1, no traceback ------------------------------------------------------


def assert_user_error(rc: int, out: str, err: str, caret: bool = False) -> str:
    """Exit 1 and `error: …` on stderr: one line, or three for SQL errors (line, SQL, caret)."""
    assert rc == 1
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines and lines[0].startswith("error: "), err
    assert len(lines) == (3 if caret else 1), err
    return lines[0]


def assert_caret(err: str, sql: str, line: int, col: int) -> None:
    first, echoed, caret = err.splitlines()
    assert first.startswith(f"error: line {line}, column {col}: "), first
    assert echoed == "  " + sql.splitlines()[line - 1]
    assert caret == "  " + " " * (col - 1) + "^"


SYNTAX_ERRORS = [
    # (sql, line, column, the text that starts at the caret)
    ("SELECT pageURL\nFROM rankings\nWHERE pageRank > 3)", 3, 19, ")"),
    ("SELECT pageURL,\n       pageRank\nFROM rankings\nWHERE (pageRank > 3", 4, 19, "3"),
    ("SELECT pageURL\nFROM rankings\nWHERE pageRank = = 1", 3, 18, "= 1"),
    ("SELECT pageURL\n  FROM rankings\n ORDER BY pageRank DESC DESC", 3, 25, "DESC"),
    ("SELECT pageURL FROM rankings LIMIT", 1, 30, "LIMIT"),
]


@pytest.mark.parametrize("sql, line, col, token", SYNTAX_ERRORS)
def test_syntax_error_points_at_the_spot(
    tables: Path, capsys, sql: str, line: int, col: int, token: str
) -> None:
    rc, out, err = run_cli(capsys, "query", sql, *source_flags(tables))
    first = assert_user_error(rc, out, err, caret=True)
    assert "syntax error" in first
    assert_caret(err, sql, line, col)
    assert sql.splitlines()[line - 1][col - 1 :].startswith(token)


@pytest.mark.parametrize(
    "sql", ["SELECT pageURL FROM rankings WHERE", "SELECT pageURL FROM rankings WHERE a = 1 AND"]
)
def test_syntax_error_messages_do_not_leak_parser_internals(tables: Path, capsys, sql: str) -> None:
    rc, out, err = run_cli(capsys, "query", sql, *source_flags(tables))
    first = assert_user_error(rc, out, err, caret=True)
    assert "<class" not in first and "sqlglot" not in first, first


UNSUPPORTED = [
    # (id, sql, words the message must contain, where the caret may sit: acceptable tokens)
    (
        "scalar subquery",
        "SELECT pageURL, (SELECT 1) FROM rankings",
        ["subquery"],
        ["(SELECT", "SELECT 1", "1)"],  # anywhere inside the subquery
    ),
    (
        "window function",
        "SELECT pageURL, ROW_NUMBER() OVER (ORDER BY pageRank) FROM rankings",
        ["window function"],
        ["ROW_NUMBER"],
    ),
    (
        "intersect",
        "SELECT pageURL FROM rankings INTERSECT SELECT destURL FROM uservisits",
        ["INTERSECT"],
        ["pageURL", "INTERSECT"],
    ),
    ("unknown function", "SELECT FOO(pageRank) FROM rankings", ["FOO"], ["FOO(pageRank)"]),
    (
        "offset",
        "SELECT pageURL FROM rankings LIMIT 5 OFFSET 2",
        ["OFFSET"],
        ["OFFSET", "2"],
    ),
    (
        "aggregate of distinct pairs",
        "SELECT COUNT(DISTINCT pageURL, pageRank) FROM rankings",
        ["COUNT(DISTINCT"],
        ["COUNT("],
    ),
    (
        "sum window",
        "SELECT pageURL, SUM(pageRank) OVER () FROM rankings",
        ["window function"],
        ["SUM(pageRank) OVER"],
    ),
]
CARET_BUGS: dict[str, str] = {}
MESSAGE_BUGS: dict[str, str] = {}


def _params(bugs: dict[str, str]):
    return [
        pytest.param(
            *case[1:],
            id=case[0],
            marks=[pytest.mark.xfail(strict=True, reason=bugs[case[0]])] if case[0] in bugs else [],
        )
        for case in UNSUPPORTED
    ]


@pytest.mark.parametrize("sql, words, tokens", _params(MESSAGE_BUGS))
def test_unsupported_construct_is_named(tables: Path, capsys, sql: str, words, tokens) -> None:
    rc, out, err = run_cli(capsys, "query", sql, *source_flags(tables))
    first = assert_user_error(rc, out, err, caret=True)
    assert "not supported" in first
    for word in words:
        assert word in first, first


@pytest.mark.parametrize("sql, words, tokens", _params({**MESSAGE_BUGS, **CARET_BUGS}))
def test_unsupported_construct_caret(tables: Path, capsys, sql: str, words, tokens) -> None:
    rc, out, err = run_cli(capsys, "explain", sql, *source_flags(tables))
    assert_user_error(rc, out, err, caret=True)
    m = re.match(r"error: line (\d+), column (\d+): ", err)
    assert m, err
    line, col = int(m[1]), int(m[2])
    assert_caret(err, sql, line, col)
    at = sql.splitlines()[line - 1][col - 1 :]
    assert any(at.startswith(t) for t in tokens), f"caret under {at[:20]!r}, expected {tokens}"


SEMANTIC = [
    # (sql, line, acceptable columns, message)
    ("SELECT pageURL,\n  SUM(pageRank)\nFROM rankings", 1, [8], "must appear in the GROUP BY"),
    ("SELECT pageURL\nFROM rankings\nWHERE pageRank > 'abc'", 3, [7, 18], "cannot convert 'abc'"),
    (
        "SELECT pageURL,\n  SUM(pageURL)\nFROM rankings\nGROUP BY pageURL",
        2,
        [3, 7],
        "SUM() needs a numeric",
    ),
    (
        "SELECT pageURL\nFROM rankings\nGROUP BY pageURL\nHAVING pageRank > 1",
        4,
        [8],
        "'pageRank' must appear in the GROUP BY",
    ),
    ("SELECT pageURL\nFROM rankings\nHAVING pageRank > 1", 3, [1, 8], "HAVING needs GROUP BY"),
]


@pytest.mark.parametrize("sql, line, cols, message", SEMANTIC)
def test_semantic_errors_point_at_the_spot(
    tables: Path, capsys, sql: str, line: int, cols: list[int], message: str
) -> None:
    rc, out, err = run_cli(capsys, "query", sql, *source_flags(tables))
    first = assert_user_error(rc, out, err, caret=True)
    assert message in first
    m = re.match(r"error: line (\d+), column (\d+): ", first)
    assert m and int(m[1]) == line and int(m[2]) in cols, first
    assert_caret(err, sql, line, int(m[2]))


def test_group_by_error_caret_under_the_column(tables: Path, capsys) -> None:
    sql = "SELECT countryCode,\n       duration,\n       COUNT(*)\nFROM uservisits\nGROUP BY 1"
    rc, out, err = run_cli(capsys, "query", sql, *source_flags(tables))
    assert_user_error(rc, out, err, caret=True)
    assert "'duration' must appear in the GROUP BY" in err
    assert_caret(err, sql, 2, 8)


def test_unknown_table_lists_tables(tables: Path, capsys) -> None:
    rc, out, err = run_cli(capsys, "query", "SELECT x FROM visits", *source_flags(tables))
    first = assert_user_error(rc, out, err)
    assert "unknown table 'visits'" in first
    assert "rankings" in first and "uservisits" in first


def test_unknown_column_lists_columns(tables: Path, capsys) -> None:
    sql = "SELECT pageURL, pagerank2 FROM rankings"
    rc, out, err = run_cli(capsys, "query", sql, *source_flags(tables))
    first = assert_user_error(rc, out, err)
    assert "unknown column 'pagerank2'" in first
    assert "line 1, column 17" in first
    for column in RANKINGS:
        assert column in first


@pytest.mark.parametrize("bad_row, what", [(150, "expected 3 fields"), (260, "cannot hold")])
def test_malformed_row_names_file_and_offset(
    tmp_path: Path, capsys, bad_row: int, what: str
) -> None:
    lines = [_rankings_row(i) for i in range(300)]
    lines[bad_row] = "short,row" if what.startswith("expected") else "url,notanumber,1"
    write_table(tmp_path / "rankings", lines)
    path = tmp_path / "rankings" / "part-00000"
    offset = sum(len(line) + 1 for line in lines[:bad_row])
    sql = "SELECT SUM(pageRank) FROM rankings"
    rc, out, err = run_cli(
        capsys, "query", sql, "--tables", str(tmp_path), "--workers", "2", "--split-size", "1KB"
    )
    first = assert_user_error(rc, out, err)
    assert f"{path}: malformed row at byte offset {offset}: " in first, first
    assert what in first
    assert offset > 1024  # the bad row is not in the first split


def test_bad_catalog_file(tables: Path, tmp_path: Path, capsys) -> None:
    catalog = tmp_path / "bad.toml"
    catalog.write_text("[tables.events\nlocation = 'x'\n")
    rc, out, err = run_cli(
        capsys, "query", "SELECT 1 FROM rankings", *source_flags(tables), "--catalog", str(catalog)
    )
    first = assert_user_error(rc, out, err)
    assert str(catalog) in first and "not valid" in first


def test_catalog_with_unknown_type(tables: Path, tmp_path: Path, capsys) -> None:
    catalog = tmp_path / "cat.toml"
    catalog.write_text(
        '[tables.events]\nlocation = "events"\ncolumns = "id BIGINT, amount MONEY"\n'
    )
    rc, out, err = run_cli(
        capsys, "query", "SELECT id FROM events", *source_flags(tables), "--catalog", str(catalog)
    )
    first = assert_user_error(rc, out, err)
    assert "MONEY" in first and "events" in first


def test_missing_catalog_file(tables: Path, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope.toml"
    rc, out, err = run_cli(
        capsys, "query", "SELECT 1 FROM rankings", *source_flags(tables), "--catalog", str(missing)
    )
    assert str(missing) in assert_user_error(rc, out, err)


@pytest.mark.parametrize(
    "fmt",
    [
        "csv",
        "json",
        "parquet",
        "table",
    ],
)
def test_unwritable_output_file(tables: Path, tmp_path: Path, capsys, fmt: str) -> None:
    target = tmp_path / "no-such-folder" / "out.txt"
    sql = "SELECT pageURL FROM rankings"
    rc, out, err = run_cli(
        capsys, "query", sql, *source_flags(tables), "--format", fmt, "-o", str(target)
    )
    first = assert_user_error(rc, out, err)
    assert first.startswith(f"error: cannot write {target}"), first


def test_missing_tables_folder(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "no-such-folder"
    rc, out, err = run_cli(
        capsys, "query", "SELECT pageURL FROM rankings", "--tables", str(missing)
    )
    first = assert_user_error(rc, out, err)
    assert str(missing) in first and "does not exist" in first


def test_a_file_given_as_the_tables_folder_is_named_so(tmp_path: Path, capsys) -> None:
    (tmp_path / "afile").write_text("x\n")
    rc, out, err = run_cli(
        capsys, "query", "SELECT 1 FROM rankings", "--tables", str(tmp_path / "afile")
    )
    first = assert_user_error(rc, out, err)
    assert "is a file, not a folder" in first and "FROM '" in first


def test_an_operator_sqlmr_lacks_is_named_as_written(capsys, amplab_dir) -> None:
    rc, out, err = run_cli(
        capsys, "query", "SELECT pageRank >> 1 FROM rankings", "--tables", amplab_dir
    )
    assert rc == 1 and "the expression 'pageRank >> 1'" in err and "not supported" in err


def test_table_without_files(tmp_path: Path, capsys) -> None:
    (tmp_path / "rankings").mkdir()
    rc, out, err = run_cli(
        capsys, "query", "SELECT pageURL FROM rankings", "--tables", str(tmp_path)
    )
    first = assert_user_error(rc, out, err)
    assert "rankings" in first


@pytest.mark.parametrize(
    "argv, message",
    [
        (["query", "SELECT 1 FROM rankings", "--split-size", "12XB"], "bad size '12XB'"),
        (["query", "SELECT 1 FROM rankings", "--workers", "0"], "positive whole number"),
        (["query", "SELECT 1 FROM rankings", "--split-size", "0"], "a size of '0' holds nothing"),
        (["query", "SELECT 1 FROM rankings", "--retries", "-1"], "of at least 0, got '-1'"),
        (["query", "SELECT 1 FROM rankings", "--task-memory", "1KB"], "at least 1MB of memory"),
        (["query", "SELECT 1 FROM rankings", "--frobnicate"], "unrecognized arguments"),
        (["query", "SELECT 1 FROM rankings", "--format", "xml"], "invalid choice"),
        (["query"], "required: sql"),
        (["explain"], "required: sql"),
        ([], "required"),
        (["select"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(capsys, argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err
    assert err.startswith("usage: ")


def test_debug_shows_a_traceback(tables: Path, capsys) -> None:
    sql = "SELECT nosuchcolumn FROM rankings"
    rc, out, err = run_cli(capsys, "query", sql, *source_flags(tables), "--debug")
    assert rc == 1
    assert "Traceback (most recent call last)" in err
    assert "CatalogError" in err
    assert err.splitlines()[-1].startswith("error: unknown column 'nosuchcolumn'")


def test_debug_shows_the_remote_traceback_of_a_task(tmp_path: Path, capsys) -> None:
    write_table(tmp_path / "rankings", ["a,1,1", "b,x,2"])
    rc, out, err = run_cli(
        capsys, "query", "SELECT SUM(pageRank) FROM rankings", "--tables", str(tmp_path), "--debug"
    )
    assert rc == 1
    assert "remote traceback" in err and "BadInputError" in err
    assert err.splitlines()[-1].startswith("error: stage map, task 0, attempt 0: ")


# -- help ------------------------------------------------------------------------------------------


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_top_level_help_and_version(capsys) -> None:
    for flag in ("--help", "-h"):
        with pytest.raises(SystemExit) as info:
            main([flag])
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: sqlmr")
        for name in _subcommands():
            assert name in out
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("sqlmr ")


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_subcommand_has_help(capsys, command: str) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"usage: sqlmr {command}") and err == ""
    description = _subcommands()[command].description
    assert description and description.split()[0] in out


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_a_command_line_builds_its_own_command_as_the_whole_parser_does(command: str) -> None:
    """build_parser([command, …]) registers only that command's module (start-up): the command
    is there with the same flags and help as in the parser of every command."""
    from sqlmr.cli.app import COMMAND_MODULES

    assert command in COMMAND_MODULES
    action = next(
        a for a in build_parser([command])._actions if isinstance(a, argparse._SubParsersAction)
    )
    assert action.choices[command].format_help() == _subcommands()[command].format_help()


def _all_actions(parser: argparse.ArgumentParser, path: str = "sqlmr"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", "(the subcommand itself)", helps.get(name)
                yield from _all_actions(sub, f"{path} {name}")
        else:
            yield path, "/".join(action.option_strings) or action.dest, action.help


def test_every_option_has_a_help_string() -> None:
    missing = [
        f"{where}: {name}"
        for where, name, text in _all_actions(build_parser())
        if not text or text == argparse.SUPPRESS
    ]
    assert missing == []


# -- the installed script, end to end -------------------------------------------------------------


def _script() -> str:
    found = shutil.which("sqlmr", path=os.path.dirname(sys.executable)) or shutil.which("sqlmr")
    assert found, "the sqlmr console script is not installed"
    return found


def test_script_help() -> None:
    done = subprocess.run([_script(), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("usage: sqlmr")


def test_script_runs_a_query_and_reports_errors(tables: Path, duck) -> None:
    sql = "SELECT countryCode, COUNT(*) AS n, SUM(duration) AS d FROM uservisits GROUP BY 1"
    done = subprocess.run(
        [_script(), "query", sql, *source_flags(tables), "--format", "csv"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == ["countryCode", "n", "d"]
    assert sorted(rows[1:]) == sorted(
        [[c, str(n), str(d)] for c, n, d in duck.execute(sql).fetchall()]
    )

    done = subprocess.run(
        [_script(), "query", "SELECT nope FROM rankings", *source_flags(tables)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: unknown column 'nope'") and done.stderr.count("\n") == 1

    done = subprocess.run(
        [_script(), "query", "SELECT 1 FROM rankings", "--split-size", "12XB"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "bad size" in done.stderr
