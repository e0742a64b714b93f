"""The error model holds across the library: input a user controls (option values, catalog
values, SQL literals, paths, S3 URLs) fails as a SqlmrError subclass with its structured fields,
never as a bare ValueError/TypeError/KeyError; and no such bare raise is left in sqlmr/ or
runtime/ except the internal ones listed here with the reason they cannot come from input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlmr_runtime.errors import EvaluationError, StorageError
from sqlmr_runtime.s3 import error_code, error_message, split_url

import sqlmr
from sqlmr import CatalogError, SqlError, SqlmrError, UsageError
from sqlmr.aws.errors import DeployError
from sqlmr.aws.policy import parse_s3_url

ROOT = Path(__file__).resolve().parent.parent
_BARE = re.compile(r"raise (ValueError|TypeError|KeyError|RuntimeError|Exception)\b")
# Internal raises that user input cannot reach, with why.
ALLOWED = {
    # converters whose ValueError _convert turns into a ConfigError naming the setting
    "sqlmr/config.py": 4,
    # caught in the same function and turned into a SqlError with a caret
    "sqlmr/compiler/expressions.py": 3,
    # a programming error: an internal column kind nobody declared
    "sqlmr/compiler/names.py": 1,
    # a programming error: the CLI routes only answerable statements here
    "sqlmr/describe.py": 1,
    # the generator's own format list and json's `default` protocol (which wants TypeError)
    "sqlmr/datagen/formats.py": 2,
    # the Mapping protocol: SqlNames[name] for a name that is no plan type
    "runtime/types.py": 1,
    # programming errors: a kernel called against pyarrow.compute's convention (its TypeErrors)
    "runtime/compute.py": 3,
}


def test_no_bare_builtin_errors_outside_the_listed_internal_places() -> None:
    found: dict[str, int] = {}
    for folder in ("sqlmr", "runtime"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            count = len(_BARE.findall(path.read_text()))
            if count:
                found[str(path.relative_to(ROOT))] = count
    assert found == ALLOWED


@pytest.mark.parametrize(
    "options, words",
    [
        ({"exchange": "sideways"}, "unknown exchange"),
        ({"split_size": "12 parsecs"}, "size"),
        ({"shuffle_compression": "brotli"}, "shuffle compression"),
    ],
)
def test_bad_option_values_are_usage_errors(tables: Path, options: dict, words: str) -> None:
    opts = sqlmr.QueryOptions(**options)
    with pytest.raises(UsageError, match=words):
        catalog = sqlmr.resolve_catalog(str(tables))
        plan = sqlmr.compile_query("SELECT COUNT(*) FROM rankings", catalog, opts)
        with sqlmr.run(plan, opts) as result:
            result.table()


def test_bad_numbers_for_the_library_are_usage_errors() -> None:
    from sqlmr.datagen.amplab import scale_rows
    from sqlmr.planning import cost

    with pytest.raises(UsageError, match="scale"):
        scale_rows("huge")
    with pytest.raises(UsageError, match="architecture"):
        cost.lambda_cost([], "riscv")
    with pytest.raises(UsageError, match="memory"):
        cost.estimate({"stages": []}, memory_mb=0)


def test_bad_concurrency_is_a_usage_error(no_aws) -> None:
    from sqlmr.execution.aws_lambda import LambdaExecutor

    with pytest.raises(UsageError, match="--concurrency"):
        LambdaExecutor("f", concurrency=0, region="us-east-1")


@pytest.mark.parametrize(
    "sql, line, col",
    [
        ("SELECT pagerank FROM rankings\nWHERE pagerank > 99999999999999999999999", 2, 18),
        ("SELECT * FROM uservisits WHERE visitdate = DATE '2000-13-45'", 1, 49),
        ("SELECT COUNT(*) FROM uservisits\n  WHERE visitdate > '2000-02-30'", 2, 9),
    ],
)
def test_bad_sql_literals_carry_line_and_column(tables: Path, sql: str, line: int, col: int):
    catalog = sqlmr.resolve_catalog(str(tables))
    with pytest.raises(SqlError) as info:
        sqlmr.compile_query(sql, catalog)
    assert (info.value.line, info.value.col) == (line, col), str(info.value)
    assert info.value.sql == sql and "^" in str(info.value)


@pytest.mark.parametrize(
    "tables_arg, catalog_text, words",
    [
        ("{root}/nowhere", None, "nowhere"),
        ("{root}", '[tables.events]\nlocation = "{root}/events"\nheader = "no"\n', "header"),
        ("{root}", "[tables.events]\nlocation = 5\n", "location"),
    ],
)
def test_bad_paths_and_catalog_values_are_catalog_errors(
    tables: Path, tmp_path: Path, tables_arg: str, catalog_text: str | None, words: str
) -> None:
    catalog_file = None
    if catalog_text is not None:
        catalog_file = tmp_path / "catalog.toml"
        catalog_file.write_text(catalog_text.format(root=tables))
    with pytest.raises(CatalogError, match=words):
        sqlmr.resolve_catalog(tables_arg.format(root=tables), str(catalog_file or "") or None)


@pytest.mark.parametrize("url", ["s3://", "http://bucket/x", "s3:///key", "bucket/key"])
def test_s3_urls_are_split_in_one_place(url: str) -> None:
    with pytest.raises(StorageError) as info:
        split_url(url)
    assert not info.value.retryable  # a retry cannot mend a URL
    with pytest.raises(DeployError):
        parse_s3_url(url, "job store")


def test_s3_url_split_agrees_with_the_policy_parser() -> None:
    assert split_url("s3://b-1/in/put/") == ("b-1", "in/put/")
    parsed = parse_s3_url("s3://b-1/in/put/")
    assert (parsed.bucket, parsed.prefix, parsed.folder) == ("b-1", "in/put", True)


def test_botocore_errors_are_decoded_in_one_place() -> None:
    from botocore.exceptions import ClientError

    error = ClientError(
        {"Error": {"Code": "NoSuchBucket", "Message": "The bucket\n does not exist"}}, "GetObject"
    )
    assert error_code(error) == "NoSuchBucket"
    assert error_message(error) == "The bucket does not exist"
    assert error_code(ValueError("x")) == "" and error_message(ValueError("x")) == "x"
    for path in ("sqlmr", "runtime"):
        for source in (ROOT / path).rglob("*.py"):
            if source.name != "s3.py":
                assert '.get("Error"' not in source.read_text(), source


def test_an_unpartitionable_column_is_a_final_evaluation_error() -> None:
    import pyarrow as pa
    from sqlmr_runtime.partition import partition_ids

    table = pa.table({"k": pa.array([[1], [2]], pa.list_(pa.int64()))})
    with pytest.raises(EvaluationError) as info:
        partition_ids(table, ["k"], 4)
    assert not info.value.retryable and isinstance(info.value, Exception)
    assert not isinstance(info.value, SqlmrError)  # a runtime error: the driver translates it


@pytest.mark.parametrize(
    "sql, cls, line, col",
    [
        ("SELECT 1", sqlmr.UnsupportedError, 1, 8),
        ("SELECT *\nFROM rankings r JOIN uservisits r ON r.pageURL = r.destURL", SqlError, 2, 22),
        (" \n ", SqlError, 1, 1),
        ("\n  ;", SqlError, 2, 3),
        ("SELECT * FROM rankings;\n  SELECT 2", sqlmr.UnsupportedError, 2, 3),
        ("SELECT * FROM rankings;; DELETE FROM rankings", sqlmr.UnsupportedError, 1, 26),
        ("-- a note\n  DELETE FROM rankings", sqlmr.UnsupportedError, 2, 3),
        (
            "SELECT *\nFROM rankings r FULL JOIN uservisits u ON true",
            sqlmr.UnsupportedError,
            2,
            27,
        ),
        (  # the pushed-down filter makes `u` a new subquery: the caret is on its JOIN keyword
            "SELECT * FROM rankings r JOIN rankings s ON r.pageURL = s.pageURL\n"
            "  LEFT JOIN uservisits u ON u.adRevenue > 5",
            sqlmr.UnsupportedError,
            2,
            8,
        ),
    ],
)
def test_compiler_errors_carry_line_and_column(tables: Path, sql, cls, line, col) -> None:
    with pytest.raises(cls) as info:
        sqlmr.compile_query(sql, sqlmr.resolve_catalog(str(tables)))
    assert (info.value.line, info.value.col) == (line, col), str(info.value)


def test_an_untranslated_runtime_error_is_still_one_line(monkeypatch, capsys) -> None:
    # The safety net behind the translations: a runtime error (here a storage failure) that
    # reaches the CLI as it is prints one line and exits 1, not a traceback.
    from sqlmr.cli import app

    def fail(args) -> None:
        raise StorageError("s3://b/k does not exist", retryable=False)

    monkeypatch.setattr(app, "apply_settings", fail)
    assert app.main(["query", "SELECT COUNT(*) FROM rankings"]) == 1
    assert capsys.readouterr().err == "error: s3://b/k does not exist\n"

    def bug(args) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(app, "apply_settings", bug)
    with pytest.raises(ZeroDivisionError):  # a bug is not dressed up as a user error
        app.main(["query", "SELECT COUNT(*) FROM rankings"])


@pytest.mark.parametrize(
    "value, to, words",
    [
        ({"lit": "yes-ish", "type": "string"}, "bool", "string 'yes-ish' to BOOLEAN"),
        ({"col": "s"}, "bool", "string 'on' to BOOLEAN"),
        ({"col": "s"}, "int32", "string 'on' to INTEGER"),
        ({"lit": "abc", "type": "string"}, "int64", "string 'abc' to BIGINT"),
    ],
)
def test_a_bad_cast_from_text_is_a_final_error_naming_value_and_type(value, to, words) -> None:
    # DuckDB: "Could not convert string 'yes-ish' to BOOL"; a retry cannot help, so it is final.
    import pyarrow as pa
    from sqlmr_runtime.expressions import evaluate

    table = pa.table({"s": pa.array(["1", None, "on", "0"])})
    with pytest.raises(EvaluationError) as info:
        evaluate({"fn": "cast", "to": to, "args": [value]}, table)
    assert not info.value.retryable
    assert str(info.value) == f"cast: could not convert {words}"
