"""The error classes at the API level (sqlmr.compile_query and sqlmr.sql): SqlError with a line,
a column and a caret, UnsupportedError naming the construct, CatalogError listing what exists,
and the semantic errors of the analyser."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import sqlmr
from sqlmr import (
    CatalogError,
    PlanError,
    SqlError,
    SqlmrError,
    TaskError,
    UnsupportedError,
    UsageError,
)

OPTIONS = sqlmr.QueryOptions(workers=2, split_size=1024, reducers=2)


@pytest.fixture(scope="module")
def catalog(tables: Path) -> sqlmr.catalog.Catalog:
    return sqlmr.resolve_catalog(str(tables))


def compile_error(catalog, sql: str, cls: type[Exception] = SqlmrError) -> Exception:
    with pytest.raises(cls) as info:
        sqlmr.compile_query(sql, catalog, OPTIONS)
    return info.value


def caret_of(error: SqlError) -> tuple[str, str]:
    """The echoed SQL line and the caret line of a rendered SqlError."""
    lines = str(error).splitlines()
    assert len(lines) == 3, str(error)
    return lines[1], lines[2]


def test_hierarchy() -> None:
    assert issubclass(UnsupportedError, SqlError)
    for cls in (SqlError, CatalogError, PlanError, TaskError, UsageError):
        assert issubclass(cls, SqlmrError)
    assert not issubclass(CatalogError, SqlError)


# -- syntax ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql, line, col",
    [
        ("SELECT pageURL\nFROM rankings\nWHERE pageRank > 3)", 3, 19),
        ("SELECT pageURL,\n       pageRank\nFROM rankings\nWHERE (pageRank > 3", 4, 19),
        ("SELECT pageURL\nFROM rankings\nWHERE pageRank = = 1", 3, 18),
        # the quote a string opens and never closes (was: no position at all)
        ("SELECT 'abc FROM rankings", 1, 8),
        ("SELECT 1, -- a 'comment\n 'it''s', \"x FROM rankings", 2, 11),
        # a first word that is no keyword is named itself (was: the token after it)
        ("SELEC 1", 1, 1),
    ],
)
def test_syntax_error_has_line_and_column(catalog, sql: str, line: int, col: int) -> None:
    e = compile_error(catalog, sql, SqlError)
    assert type(e) is SqlError
    assert (e.line, e.col) == (line, col)
    assert e.sql == sql
    assert e.message.startswith("syntax error")
    assert str(e).startswith(f"line {line}, column {col}: syntax error")
    echoed, caret = caret_of(e)
    assert echoed == "  " + sql.splitlines()[line - 1]
    assert caret.index("^") == col + 1  # two spaces of indent, then col - 1 spaces


@pytest.mark.parametrize(
    "sql, words",
    [
        ("", "empty"),
        ("   \n  ", "empty"),
    ],
)
def test_syntax_errors_without_a_position(catalog, sql: str, words: str) -> None:
    e = compile_error(catalog, sql, SqlError)
    assert words in str(e)


def test_empty_select_item_is_a_syntax_error(catalog) -> None:
    compile_error(catalog, "SELECT pageURL,, pageRank FROM rankings", SqlError)


@pytest.mark.parametrize(
    "sql, col",
    [
        ("SELECT FROM rankings", 8),
        ("SELECT COUNT(*) FROM (SELECT FROM rankings)", 30),
        ("SELECT", 7),
    ],
)
def test_select_without_a_select_list_is_a_syntax_error(catalog, sql: str, col: int) -> None:
    # DuckDB refuses these ("SELECT clause without selection list"); sqlglot parses them as a
    # query of zero columns, which once answered with an empty result and exit code 0.
    e = compile_error(catalog, sql, SqlError)
    assert (e.line, e.col) == (1, col)
    assert "without a select list" in str(e)
    with pytest.raises(duckdb.ParserException):
        duckdb.sql(sql.replace("rankings", "range(3)"))


# -- unsupported constructs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql, construct",
    [
        ("SELECT pageURL FROM rankings WHERE pageRank IN (SELECT 1)", "without FROM"),
        ("SELECT pageURL, (SELECT 1) FROM rankings", "subquery"),
        ("SELECT pageURL FROM rankings WHERE EXISTS (SELECT 1)", "subquery"),
        ("SELECT ROW_NUMBER() OVER (ORDER BY pageRank) FROM rankings", "window function"),
        ("SELECT pageURL FROM rankings EXCEPT SELECT destURL FROM uservisits", "EXCEPT"),
        ("SELECT pageURL FROM rankings INTERSECT SELECT destURL FROM uservisits", "INTERSECT"),
        ("SELECT FOO(pageRank) FROM rankings", "FOO()"),
        ("SELECT pageURL FROM rankings WHERE SQRT(pageRank) > 1", "SQRT()"),
        ("SELECT COUNT(DISTINCT pageURL, pageRank) FROM rankings", "COUNT(DISTINCT"),
        ("SELECT pageURL FROM rankings LIMIT 5 OFFSET 2", "OFFSET"),
        ("SELECT pageURL FROM rankings QUALIFY pageRank > 1", "QUALIFY"),
        ("SELECT DISTINCT ON (pageURL) pageURL FROM rankings", "DISTINCT ON"),
        ("SELECT pageURL FROM rankings GROUP BY ROLLUP (pageURL)", "ROLLUP"),
        ("SELECT CAST(pageRank AS REAL) FROM rankings", "CAST to REAL"),
        ("SELECT pageURL FROM rankings WHERE pageURL LIKE 'a!%' ESCAPE '!'", "ESCAPE"),
        ("SELECT pageURL FROM rankings LIMIT pageRank", "LIMIT"),
        ("SELECT pageURL FROM rankings; SELECT 1", "more than one statement"),
        ("DELETE FROM rankings", "DELETE"),
        ("SELECT 1", "without FROM"),
        (
            "SELECT DISTINCT pageURL, COUNT(*) FROM rankings GROUP BY pageURL",
            "SELECT DISTINCT together with GROUP BY",
        ),
    ],
)
def test_unsupported_names_the_construct(catalog, sql: str, construct: str) -> None:
    e = compile_error(catalog, sql, UnsupportedError)
    assert construct in str(e).splitlines()[0]
    if e.line is not None:
        assert 1 <= e.col <= len(sql.splitlines()[e.line - 1])


def test_star_exclude_is_refused_or_honoured(tables: Path) -> None:
    try:
        result = sqlmr.sql("SELECT * EXCLUDE (pageURL) FROM rankings", str(tables), workers=2)
    except UnsupportedError as e:
        assert "EXCLUDE" in str(e)
    else:
        assert result.column_names == ["pageRank", "avgDuration"]


def test_star_replace_is_honoured(tables: Path) -> None:
    result = sqlmr.sql("SELECT * REPLACE (1 AS pageRank) FROM rankings", str(tables), workers=2)
    assert result.column_names == ["pageURL", "pageRank", "avgDuration"]
    assert set(result.column("pageRank").to_pylist()) == {1}


def test_cast_to_float_caret(catalog) -> None:
    e = compile_error(catalog, "SELECT CAST(pageURL AS FLOAT) FROM rankings", UnsupportedError)
    assert (e.line, e.col) == (1, 8)


# -- catalog errors -------------------------------------------------------------------------------


def test_unknown_table_lists_tables(catalog) -> None:
    e = compile_error(catalog, "SELECT * FROM rankingz", CatalogError)
    assert "unknown table 'rankingz'" in str(e)
    assert "rankings, uservisits" in str(e)


def test_unknown_column_lists_columns(catalog) -> None:
    e = compile_error(catalog, "SELECT pageURL\nFROM rankings\nWHERE rank > 3", CatalogError)
    assert "unknown column 'rank'" in str(e) and "line 3, column 7" in str(e)
    assert "pageURL, pageRank, avgDuration" in str(e)


def test_unknown_qualifier(catalog) -> None:
    e = compile_error(catalog, "SELECT r.pageURL FROM rankings", CatalogError)
    assert "'r'" in str(e) and "rankings" in str(e)


def test_columns_are_case_insensitive(catalog) -> None:
    plan = sqlmr.compile_query("SELECT PAGEURL, pagerank FROM RANKINGS", catalog, OPTIONS)
    assert [name for name, _ in plan.columns] == ["PAGEURL", "pagerank"]


def test_missing_tables_folder(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        sqlmr.resolve_catalog(str(tmp_path / "missing"))


@pytest.mark.parametrize(
    "name, text, words",
    [
        ("bad.toml", "[tables.t\n", ["not valid"]),
        ("bad.json", "{not json", ["not valid"]),
        ("empty.toml", "", ["no [tables.<name>] entries"]),
        ("type.toml", '[tables.t]\nlocation = "t"\ncolumns = "a MONEY"\n', ["MONEY", "table t"]),
        ("key.toml", '[tables.t]\nlocation = "t"\ncolumns = "a INT"\ncolour = 1\n', ["colour"]),
        ("need.toml", '[tables.t]\ncolumns = "a INT"\n', ["'location' is required"]),
        ("fmt.toml", '[tables.t]\nlocation = "t"\ncolumns = "a INT"\nformat = "orc"\n', ["orc"]),
        (
            "delim.toml",
            '[tables.t]\nlocation = "t"\ncolumns = "a INT"\ndelimiter = "::"\n',
            ["delimiter"],
        ),
    ],
)
def test_bad_catalog_files(tables: Path, tmp_path: Path, name: str, text: str, words) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(CatalogError) as info:
        sqlmr.resolve_catalog(str(tables), str(path))
    assert str(path) in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_missing_catalog_file(tables: Path, tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        sqlmr.resolve_catalog(str(tables), str(tmp_path / "nope.toml"))


def test_table_without_data_files(tmp_path: Path) -> None:
    (tmp_path / "rankings").mkdir()
    with pytest.raises(CatalogError, match="rankings"):
        sqlmr.sql("SELECT pageURL FROM rankings", str(tmp_path), workers=2)


# -- semantic errors ------------------------------------------------------------------------------

SEMANTIC = [
    # (sql, class, message, line, col)
    (
        "SELECT pageURL, SUM(pageRank) FROM rankings",
        SqlError,
        "column 'pageURL' must appear in the GROUP BY clause",
        1,
        8,
    ),
    (
        "SELECT pageURL, pageRank\nFROM rankings\nGROUP BY pageURL",
        SqlError,
        "column 'pageRank' must appear in the GROUP BY clause",
        1,
        17,
    ),
    (
        "SELECT pageURL FROM rankings GROUP BY pageURL ORDER BY avgDuration",
        SqlError,
        "column 'avgDuration' must appear in the GROUP BY clause",
        1,
        56,
    ),
    ("SELECT pageURL FROM rankings HAVING pageRank > 1", SqlError, "HAVING needs GROUP BY", 1, 37),
    (
        "SELECT pageURL FROM rankings GROUP BY pageURL\nHAVING pageRank > 1",
        SqlError,
        "column 'pageRank' must appear in the GROUP BY clause",
        2,
        8,
    ),
    ("SELECT SUM(pageURL) FROM rankings", SqlError, "SUM() needs a numeric argument", 1, 8),
    ("SELECT AVG(destURL) FROM uservisits", SqlError, "AVG() needs a numeric argument", 1, 8),
    (
        "SELECT SUM(DISTINCT sourceIP) FROM uservisits",
        SqlError,
        "SUM() needs a numeric argument",
        1,
        8,
    ),
    (
        "SELECT pageURL FROM rankings WHERE pageURL LIKE pageURL",
        UnsupportedError,
        "LIKE with a non-constant pattern",
        1,
        49,
    ),
    (
        "SELECT pageURL FROM rankings WHERE pageRank LIKE 'a%'",
        SqlError,
        "expected a VARCHAR, got INTEGER",
        1,
        36,
    ),
    (
        "SELECT pageURL FROM rankings WHERE SUM(pageRank) > 1",
        SqlError,
        "aggregate function SUM() is not allowed here",
        1,
        36,
    ),
    (
        "SELECT COUNT(*) FROM rankings GROUP BY SUM(pageRank)",
        SqlError,
        "aggregate functions are not allowed in GROUP BY",
        1,
        40,
    ),
    ("SELECT pageURL FROM rankings WHERE pageRank", SqlError, "expected a boolean", 1, 36),
    ("SELECT pageRank + pageURL FROM rankings", SqlError, "expected a number, got VARCHAR", 1, 19),
    ("SELECT pageURL FROM rankings WHERE pageRank = 'x'", SqlError, "cannot convert 'x'", 1, 36),
    (
        "SELECT pageURL FROM rankings WHERE visitDate > 1",
        CatalogError,
        "unknown column 'visitDate'",
        None,
        None,
    ),
    (
        "SELECT CASE WHEN pageRank > 1 THEN pageURL ELSE 1 END FROM rankings",
        SqlError,
        "incompatible types",
        1,
        8,
    ),
    ("SELECT pageURL FROM rankings ORDER BY 2", SqlError, "ORDER BY position 2", 1, 39),
    ("SELECT pageURL FROM rankings GROUP BY 0", SqlError, "GROUP BY position 0", 1, 39),
    ("SELECT SUM(pageRank, avgDuration) FROM rankings", SqlError, "", 1, None),
]


@pytest.mark.parametrize("sql, cls, message, line, col", SEMANTIC)
def test_semantic_errors(catalog, sql: str, cls, message: str, line, col) -> None:
    e = compile_error(catalog, sql, cls)
    assert message in str(e)
    if cls is CatalogError:
        return
    assert e.line == line
    if col is not None:
        assert e.col == col, str(e)
    echoed, caret = caret_of(e)
    assert echoed == "  " + sql.splitlines()[e.line - 1]


# -- the same errors through sqlmr.sql ------------------------------------------------------------


@pytest.mark.parametrize(
    "sql, cls",
    [
        ("SELECT pageURL FROM rankings WHERE", SqlError),
        ("SELECT pageURL FROM rankings INTERSECT SELECT pageURL FROM rankings", UnsupportedError),
        ("SELECT nope FROM rankings", CatalogError),
        ("SELECT pageURL, COUNT(*) FROM rankings", SqlError),
    ],
)
def test_sql_raises_the_same_errors(tables: Path, sql: str, cls) -> None:
    with pytest.raises(cls):
        sqlmr.sql(sql, str(tables), workers=2)


def test_bad_split_size_is_a_usage_error(catalog) -> None:
    bad = sqlmr.QueryOptions(workers=2, split_size="12XB")
    with pytest.raises(UsageError, match="12XB"):
        sqlmr.compile_query("SELECT pageURL FROM rankings", catalog, bad)


def test_bad_input_is_a_task_error(tmp_path: Path) -> None:
    (tmp_path / "rankings").mkdir()
    (tmp_path / "rankings" / "part-00000").write_text("a,1,2\nb,2\n")
    with pytest.raises(TaskError) as info:
        sqlmr.sql("SELECT COUNT(*) FROM rankings", str(tmp_path), workers=2)
    e = info.value
    assert (e.stage, e.task, e.attempt, e.error_type) == ("map", 0, 0, "BadInputError")
    assert "malformed row at byte offset 6: expected 3 fields, found 2" in str(e)
    assert "BadInputError" in e.remote_traceback


def test_evaluation_error_is_a_task_error(tables: Path) -> None:
    with pytest.raises(TaskError) as info:
        sqlmr.sql("SELECT pageRank % (pageRank - pageRank) FROM rankings", str(tables), workers=2)
    assert info.value.error_type == "EvaluationError"
    assert "division by zero" in str(info.value)
