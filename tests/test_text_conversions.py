"""Values as text, and ILIKE, against DuckDB on the same values.

TIMESTAMP, DATE and DECIMAL as VARCHAR (CAST, '||', CONCAT and the CLI's CSV) give DuckDB's
text: the fraction of a second without trailing zeros and without a point when it is zero,
'(BC)' before year 1, a DECIMAL's digits never in scientific notation. Arrow's own cast writes
'2024-02-29 00:00:00.000000', '0000-12-31' and '1.0E-7', so LENGTH, comparisons and GROUP BY
on the text differed.

ILIKE lowercases both sides as DuckDB's does, where Arrow's case-insensitive matching folds
letters that lowercase apart ('ſ' and 's', 'ς' and 'σ'); all-ASCII text keeps Arrow's matching,
which answers the same there.
"""

from __future__ import annotations

import decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_same
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlmr_runtime import expressions
from sqlmr_runtime.date_functions import temporal_text

import sqlmr

_US = 1_000_000
_YEAR_1 = -62_135_596_800 * _US  # 0001-01-01 00:00:00 in microseconds since 1970
# Fractions DuckDB trims differently: none, trailing zeros, all six digits, a leading zero.
_FRACTIONS = [0, 500_000, 100_000, 120_000, 123_456, 10, 1, 999_999, 100]
_INSTANTS = [
    base + f
    for base in (1_709_164_800 * _US, _YEAR_1, _YEAR_1 - 86_400 * _US, 253_402_300_799 * _US)
    for f in _FRACTIONS
] + [
    _YEAR_1 - 1,  # 0001-12-31 (BC) 23:59:59.999999
    -100_000_000_000 * _US,  # 1200-02-15 (BC) 14:13:20
    -30_610_224_000 * _US + 100,  # 1000-01-01 00:00:00.0001
    -5_000_000_000 * _US,  # 1811: a year < 1970, > 1000
    253_402_300_800 * _US * 3,  # 26059-12-31: more than four digits
    None,
]


def _evaluate(expr: dict, table: pa.Table) -> list:
    return expressions.evaluate(expr, table).to_pylist()


def _texts_of(column: pa.Array) -> tuple[list, list]:
    """(sqlmr's runtime, DuckDB's) CAST AS VARCHAR, '||' and CONCAT of the column `v`."""
    t = pa.table({"v": column})
    col = {"col": "v"}
    prefix, empty = {"lit": "at ", "type": "string"}, {"lit": "", "type": "string"}
    mine = [
        _evaluate({"fn": "cast", "args": [col], "to": "string"}, t),
        _evaluate({"fn": "concat", "args": [col, empty], "strict": True}, t),
        _evaluate({"fn": "concat", "args": [prefix, col]}, t),
    ]
    rows = duckdb.sql("SELECT CAST(v AS VARCHAR), v || '', CONCAT('at ', v) FROM t").fetchall()
    return mine, [[r[i] for r in rows] for i in range(3)]


def test_timestamp_text_equals_duckdb() -> None:
    """Whole seconds without '.000000', fractions trimmed, BC years, years < 1000 and > 9999."""
    mine, duck = _texts_of(pa.array(_INSTANTS, pa.timestamp("us")))
    assert mine == duck


# About 4000 BC to 26059 AD: Arrow's text of a year past 32767 is '<value out of range: …>'.
_GENERATED = st.integers(3 * _YEAR_1, 3 * 253_402_300_800 * _US)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), _GENERATED)))
def test_generated_timestamp_text_equals_duckdb(instants) -> None:
    """Any instant of the range, whole-second or not, as DuckDB writes it."""
    mine, duck = _texts_of(pa.array(instants, pa.timestamp("us")))
    assert mine == duck


def test_date_and_decimal_text_equals_duckdb() -> None:
    """DATEs before year 1 are '…(BC)' (Arrow: '0000-12-31'); DECIMALs keep their digits in
    CONCAT and '||' as in CAST (Arrow: 1.0E-7)."""
    days = [19_782, -719_162, -719_163, -800_000, 2_932_897, 0, None]
    mine, duck = _texts_of(pa.array(days, pa.date32()))
    assert mine == duck
    amounts = ["0.00000010", "-12.5", "0", "-0.00000001", "123456789012.34567891", None]
    values = [None if a is None else decimal.Decimal(a) for a in amounts]
    mine, duck = _texts_of(pa.array(values, pa.decimal128(20, 8)))
    assert mine == duck


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_temporal_text_of_every_unit_equals_duckdb(unit: str) -> None:
    """A Parquet timestamp may come in any unit: only a fraction's trailing zeros go, never the
    seconds' own zeros ('00:25:00' of a unit without fraction)."""
    ticks = {"s": 1, "ms": 1_000, "us": _US, "ns": 1_000 * _US}[unit]
    values = [1_500, 1_500 * ticks, 1_500 * ticks + ticks // 2, ticks * 90 + 7, None]
    t = pa.table({"v": pa.array(values, pa.timestamp(unit))})
    expected = [r[0] for r in duckdb.sql("SELECT CAST(v AS VARCHAR) FROM t").fetchall()]
    assert temporal_text(t.column("v")).to_pylist() == expected
    assert [temporal_text(v).as_py() for v in t.column("v")] == expected  # constants (scalars)


@pytest.fixture(scope="module")
def moments(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Parquet file of timestamps (whole and fractional seconds), dates and decimals."""
    root = tmp_path_factory.mktemp("moments")
    (root / "moments").mkdir()
    count = len(_INSTANTS)
    table = pa.table(
        {
            "id": list(range(count)),
            "ts": pa.array(_INSTANTS, pa.timestamp("us")),
            "day": pa.array(
                [None if i % 5 == 4 else 19_000 + i for i in range(count)], pa.date32()
            ),
            "d": pa.array([decimal.Decimal(i) / 10**8 for i in range(count)], pa.decimal128(12, 8)),
        }
    )
    pq.write_table(table, root / "moments" / "0.parquet", row_group_size=7)
    return str(root)


_MOMENT_QUERIES = [
    "SELECT id, CAST(ts AS VARCHAR), ts || '', CONCAT('at ', ts), LENGTH(CAST(ts AS VARCHAR)) "
    "FROM {m}",
    "SELECT COUNT(*) FROM {m} WHERE CAST(ts AS VARCHAR) = '2024-02-29 00:00:00'",
    "SELECT id FROM {m} WHERE ts || '' LIKE '%.5' OR CONCAT(ts) = '0001-01-01 00:00:00.0001'",
    "SELECT LENGTH(CAST(ts AS VARCHAR)) AS n, COUNT(*) FROM {m} GROUP BY n",
    "SELECT id, CAST(day AS VARCHAR), day || '/' || d, CONCAT(d, ' ', day) FROM {m}",
]


@pytest.mark.parametrize("query", _MOMENT_QUERIES)
def test_text_in_queries_equals_duckdb(query: str, moments: str) -> None:
    """End to end: the text in SELECT, WHERE and GROUP BY, over a Parquet file."""
    glob = f"'{Path(moments) / 'moments' / '*.parquet'}'"
    sql = query.format(m=glob)
    expected = duckdb.sql(sql).fetchall()
    result = sqlmr.sql(sql, moments, workers=2, split_size="1KB", reducers=3)
    assert_same(result, expected, ordered=False)


def test_cli_csv_prints_timestamps_as_duckdb(moments: str, capsys) -> None:
    """The CLI's CSV writes a TIMESTAMP or DATE column as DuckDB's text (the same helper)."""
    from sqlmr.cli.app import main

    glob = f"'{Path(moments) / 'moments' / '*.parquet'}'"
    query = f"SELECT id, ts, day FROM {glob} ORDER BY id"
    text = f"SELECT id, CAST(ts AS VARCHAR), CAST(day AS VARCHAR) FROM {glob} ORDER BY id"
    expected = [
        ",".join("" if v is None else str(v) for v in r) for r in duckdb.sql(text).fetchall()
    ]
    assert main(["query", query, "--tables", moments, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == expected


# Letters whose case folding and lowercasing disagree (ſ, ς, K the Kelvin sign, İ, ı), their
# ASCII partners, an accent, and LIKE's wildcards and a backslash (the regex path). Few letters,
# so that a drawn pattern often meets a drawn text.
_texts = st.lists(st.one_of(st.none(), st.text(alphabet="sSſσςΣkKKİıiIé\\", max_size=4)))
_patterns = st.text(alphabet="sSσΣkKiIİı%_\\", max_size=3)


def _ilike(column: pa.ChunkedArray, pattern: str, negate: bool) -> list:
    expr = {"fn": "like", "args": [{"col": "s"}], "pattern": pattern, "ignore_case": True}
    return _evaluate({"fn": "not", "args": [expr]} if negate else expr, pa.table({"s": column}))


@settings(max_examples=150, deadline=None)
@given(_texts, _texts, _patterns, st.booleans(), st.booleans())
@example(["s", "S"], ["ſ", "ΣΑΣ", "ς", None], "s", False, False)
@example(["s", "S"], ["ſ", "ΣΑΣ", "ς", None], "%Σ", False, True)
@example(["s", "S", "k"], [None, "K"], "ſ", True, False)  # ASCII text, a non-ASCII pattern
def test_ilike_equals_duckdb(first, second, pattern, ascii_only, negate) -> None:
    """ILIKE and NOT ILIKE as DuckDB's, over a column of two chunks: all ASCII (with an ASCII
    pattern, Arrow's own case-insensitive matching) or as drawn (both sides lowercased)."""
    if ascii_only:
        first, second = (
            [None if v is None else v.encode("ascii", "ignore").decode() for v in c]
            for c in (first, second)
        )
    t = pa.table({"s": pa.array(first + second, pa.string())})  # noqa: F841 - DuckDB reads it
    op = "NOT ILIKE" if negate else "ILIKE"
    expected = [r[0] for r in duckdb.execute(f"SELECT s {op} ? FROM t", [pattern]).fetchall()]
    column = pa.chunked_array([first, second], pa.string())
    assert _ilike(column, pattern, negate) == expected


@pytest.mark.parametrize(
    "pattern", ["σας", "ΣΑΣ", "s", "S", "ſ", "k", "K", "i", "İ", "ı", "%σ%", "_", "k%"]
)
def test_ilike_in_queries_equals_duckdb(pattern: str, tmp_path: Path) -> None:
    """End to end, the examples: 'ΣΑΣ' ILIKE 'σας' and 'ſ' ILIKE 's' are false in DuckDB."""
    (tmp_path / "w").mkdir()
    words = ["ΣΑΣ", "σας", "ſ", "s", "S", "K", "k", "K", "İ", "i", "ı", "I", "plain", None]
    pq.write_table(pa.table({"id": range(len(words)), "s": words}), tmp_path / "w" / "0.parquet")
    glob = f"'{tmp_path / 'w' / '*.parquet'}'"
    for sql in (
        f"SELECT id FROM {glob} WHERE s ILIKE '{pattern}'",
        f"SELECT id, s NOT ILIKE '{pattern}' FROM {glob}",
    ):
        expected = duckdb.sql(sql).fetchall()
        result = sqlmr.sql(sql, str(tmp_path), workers=2, split_size="1KB", reducers=2)
        assert_same(result, expected, ordered=False)
