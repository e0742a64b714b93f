"""Text named by a path in FROM, read as DuckDB reads it: quotes by default, the delimiter and
header detected when the call does not give them, header options spelled as DuckDB spells them,
duplicate header names made distinct, timestamps and dates told apart. Columns, their types and
the rows equal DuckDB's."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from conftest import assert_same

import sqlmr

SQL_TYPES = {
    pa.int64(): "BIGINT",
    pa.string(): "VARCHAR",
    pa.date32(): "DATE",
    pa.timestamp("us"): "TIMESTAMP",
    pa.bool_(): "BOOLEAN",
}

FILES = {
    "quoted.csv": 'id,name\n1,"Smith"\n2,"Smith, J"\n3,"say ""hi"""\n',
    "people.csv": "name,age\nbob,3\nal,4\n",
    "people.tsv": "name\tage\nbob\t3\nal\t4\n",
    "pipes.txt": "k|v\n1|x\n2|y\n",
    "semi.csv": "a;b\n1;2\n3;4\n",
    "numbers.csv": "1,2\n3,4\n",
    "words.csv": "bob,paris\nal,rome\n",  # all text: DuckDB takes the first line as a header
    "dates.csv": "2020-01-01,5\n2020-01-02,6\n",
    "one.csv": "1,x\n",
    "gap.csv": "name,age\nbob,\nal,4\n",
    "dup.csv": "a,a,A\n1,2,3\n",
    "ts.csv": "id,t\n1,2024-01-02 03:04:05\n2,2024-01-03 00:00:00\n",
    "ts.jsonl": '{"id": 1, "t": "2024-01-02 03:04:05"}\n{"id": 2, "t": "2024-01-03 00:00:00"}\n',
    "days.jsonl": '{"id": 1, "d": "2024-01-02"}\n{"id": 2, "d": null}\n',
    "zip.csv": "zip,n\n007,1\n010,2\n0,3\n",
    "flags.csv": "flag\nT\nF\ntrue\n",
    # BOOLEAN as DuckDB's sniffer takes it: true/t/yes, false/f/no in any case; y/n are text,
    # 1/0 numbers, and a 0 among true values makes the column text
    "bools.csv": "a,b,c,d,e,f,g\nyes,tRuE,y,T,1,Yes,true\nno,fAlSe,n,f,0,FALSE,0\n,NO,N,t,,yEs,\n",
    "na.csv": "a,b\n1,NA\n2,3\n",
    "empty.csv": "a,b\n1,\n2,\n",
    "blank.csv": ",b\nx,1\n",
}

CALLS = [
    "'{d}/quoted.csv'",
    "read_csv('{d}/quoted.csv', header=true)",
    "'{d}/people.csv'",
    "read_csv('{d}/people.csv')",
    "'{d}/people.tsv'",
    "read_csv('{d}/pipes.txt')",
    "read_csv('{d}/semi.csv')",
    "'{d}/numbers.csv'",
    "'{d}/words.csv'",
    "'{d}/dates.csv'",
    "'{d}/one.csv'",
    "'{d}/gap.csv'",
    "read_csv('{d}/dup.csv', header=true)",
    "read_csv('{d}/people.csv', header='false')",
    "read_csv('{d}/people.csv', header=0)",
    "read_csv('{d}/people.csv', header='true', delim=',')",
    "read_csv('{d}/numbers.csv', quote='')",
    # TIMESTAMP text is a TIMESTAMP (was: a DATE that no row fitted); a date alone is a DATE
    "'{d}/ts.csv'",
    "read_json('{d}/ts.jsonl')",
    "read_json('{d}/days.jsonl')",
    # types as DuckDB's sniffer gives them: a leading zero is text, T/F BOOLEAN, NA text,
    # a column of only empty fields VARCHAR
    "read_csv('{d}/zip.csv', header=true)",
    "'{d}/flags.csv'",
    "'{d}/bools.csv'",
    "'{d}/na.csv'",
    "read_csv('{d}/empty.csv', header=true)",
    "read_csv('{d}/blank.csv', header=true)",  # an empty header name is column0
    "read_csv('{d}/people.tsv', delim='\\t')",  # the escape \t is a tab
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("csv-paths")
    for name, text in FILES.items():
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize("call", CALLS)
def test_text_paths_read_as_duckdb_reads_them(folder: Path, call: str) -> None:
    query = f"SELECT * FROM {call.format(d=folder)}"
    expected = duckdb.sql(query)
    result = sqlmr.sql(query, workers=1)
    assert result.column_names == expected.columns
    assert [SQL_TYPES.get(t, str(t)) for t in result.schema.types] == [
        str(t) for t in expected.types
    ]
    assert_same(result, expected.fetchall(), ordered=False)


def test_options_that_cannot_be_read_are_errors(folder: Path) -> None:
    with pytest.raises(sqlmr.SqlError, match="expected true or false"):
        sqlmr.sql(f"SELECT * FROM read_csv('{folder}/people.csv', header='maybe')")
    with pytest.raises(sqlmr.SqlError, match="the delimiter must be one character"):
        sqlmr.sql(f"SELECT * FROM read_csv('{folder}/people.csv', delim='')")
    with pytest.raises(sqlmr.SqlError, match="quote must be one character"):
        sqlmr.sql(f"SELECT * FROM read_csv('{folder}/people.csv', quote='ab')")
    with pytest.raises(sqlmr.UnsupportedError, match="compression 'snappy' is not read"):
        sqlmr.sql(f"SELECT * FROM read_csv('{folder}/people.csv', compression='snappy')")


def test_globs_read_hidden_names_they_name_and_never_walk_a_link_loop(tmp_path: Path) -> None:
    files = {
        "a.csv": "a\n1\n",
        "_b.csv": "a\n2\n",
        "walk/x.csv": "a\n4\n",
        "walk/y/z.csv": "a\n8\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "walk" / "y" / "up").symlink_to("..")  # ** once walked it until ELOOP
    for glob in ["_*.csv", "walk/**/*.csv"]:
        query = f"SELECT SUM(a), COUNT(*) FROM read_csv('{tmp_path}/{glob}', header=true)"
        assert_same(sqlmr.sql(query, workers=1), duckdb.sql(query).fetchall(), ordered=False)
    # `*` skips a writer's _ and . names, where DuckDB's reads them (the README says so).
    query = "SELECT SUM(a), COUNT(*) FROM read_csv('{}', header=true)"
    expected = duckdb.sql(query.format(f"{tmp_path}/a.csv")).fetchall()
    assert_same(sqlmr.sql(query.format(f"{tmp_path}/*.csv"), workers=1), expected, ordered=False)


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_objects_must_share_the_header_their_columns_were_named_from(
    tmp_path: Path, suffix: str
) -> None:
    # Columns are read by position: a second object whose header is b,a swapped the values.
    import gzip

    def write(name: str, text: str) -> None:
        data = text.encode()
        (tmp_path / (name + suffix)).write_bytes(gzip.compress(data) if "gz" in suffix else data)

    write("f1", "a,b\n1,10\n")
    write("f2", "a,b\n2,20\n")
    query = f"SELECT a, SUM(b) FROM read_csv('{tmp_path}/*{suffix}', header=true) GROUP BY a"
    assert_same(sqlmr.sql(query, workers=1), duckdb.sql(query).fetchall(), ordered=False)
    write("f3", "b,a\n30,3\n")
    with pytest.raises(sqlmr.SqlmrError, match=r"f3\.csv.*its header \(b, a\) is not the table's"):
        sqlmr.sql(query, workers=1)


def test_a_declared_boolean_column_reads_every_spelling_duckdb_reads(tmp_path: Path) -> None:
    """A BOOLEAN column of a catalog table takes DuckDB's CAST spellings in any case, y/n and
    1/0 included; anything else ('on') is an error, as in DuckDB."""
    (tmp_path / "flags").mkdir()
    words = ["y", "N", "1", "0", "YES", "no", "tRuE", "F", "t", ""]
    (tmp_path / "flags" / "part-0.csv").write_text(
        "".join(f"{i},{w}\n" for i, w in enumerate(words))
    )
    (tmp_path / "catalog.toml").write_text(
        '[tables.flags]\nlocation = "flags"\ncolumns = "i INT, ok BOOLEAN"\n'
    )
    query = "SELECT i, ok FROM flags"
    expected = duckdb.sql(
        f"SELECT column0 AS i, column1 AS ok FROM read_csv('{tmp_path}/flags/part-0.csv', "
        "header=false, columns={'column0': 'INTEGER', 'column1': 'BOOLEAN'})"
    ).fetchall()
    assert_same(sqlmr.sql(query, tables=str(tmp_path), workers=1), expected, ordered=False)
    (tmp_path / "flags" / "part-1.csv").write_text("99,on\n")
    with pytest.raises(sqlmr.SqlmrError, match="on"):
        sqlmr.sql(query, tables=str(tmp_path), workers=1)
    with pytest.raises(duckdb.ConversionException):
        duckdb.sql(
            f"SELECT * FROM read_csv('{tmp_path}/flags/part-1.csv', "
            "header=false, columns={'i': 'INTEGER', 'ok': 'BOOLEAN'})"
        ).fetchall()
