"""Every storage format gives DuckDB's answer on the same files: text, gzip, deflate, zstd,
bzip2, Parquet (several files of several row groups) and JSON Lines; partition folders are
columns and prune; bad objects are refused by name with nothing partial returned."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import duckdb
import pytest
from conftest import AMPLAB_COLUMNS, assert_same, duck_table

import sqlmr
from sqlmr.catalog import AMPLAB_SCHEMAS, Column
from sqlmr.datagen.formats import convert_file

FORMATS = ["text", "text-gzip", "text-deflate", "text-zstd", "text-bzip2", "parquet", "json"]
FILES = 3  # per table, so that tasks pack and split several objects
ROW_GROUP_ROWS = 900


def _split_text(src: Path, dest: Path, parts: int) -> list[Path]:
    lines = b"".join(p.read_bytes() for p in sorted(src.iterdir())).splitlines(keepends=True)
    dest.mkdir(parents=True)
    out = []
    for i in range(parts):
        path = dest / f"part-{i:05d}"
        path.write_bytes(b"".join(lines[i * len(lines) // parts : (i + 1) * len(lines) // parts]))
        out.append(path)
    return out


@pytest.fixture(scope="session")
def format_dirs(amplab_dir: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The Amplab tiny tables in every format, each table in FILES objects."""
    root = tmp_path_factory.mktemp("formats")
    dirs = {}
    for table in AMPLAB_SCHEMAS:
        parts = _split_text(Path(amplab_dir) / table, root / "split" / table, FILES)
        for fmt in FORMATS:
            folder = root / fmt / table
            folder.mkdir(parents=True, exist_ok=True)
            for part in parts:
                convert_file(part, folder / part.name, fmt, AMPLAB_SCHEMAS[table], ROW_GROUP_ROWS)
    for fmt in FORMATS:
        dirs[fmt] = str(root / fmt)
    return dirs


def _duck(fmt: str, folder: str) -> duckdb.DuckDBPyConnection:
    """DuckDB over the same objects where it reads the format; over the text they hold (the
    same bytes before compression) for deflate and bzip2, which DuckDB does not read."""
    con = duckdb.connect()
    for table, columns in AMPLAB_COLUMNS.items():
        glob = os.path.join(folder, table, "*")
        if fmt == "parquet":
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{glob}')")
        elif fmt == "json":
            cols = ", ".join(f"'{c}': '{t}'" for c, t in columns)
            con.execute(
                f"CREATE TABLE {table} AS SELECT * FROM read_json('{glob}', "
                f"format='newline_delimited', columns={{{cols}}})"
            )
        elif fmt in ("text", "text-gzip", "text-zstd"):
            duck_table(con, table, Path(folder) / table, columns)
        else:
            duck_table(con, table, Path(folder).parent / "text" / table, columns)
    return con


QUERIES = [
    "SELECT pageURL, pageRank FROM rankings WHERE pageRank > 50",
    "SELECT SUBSTR(sourceIP, 1, 7), SUM(adRevenue) FROM uservisits GROUP BY SUBSTR(sourceIP, 1, 7)",
    "SELECT COUNT(*), MIN(visitDate), MAX(duration), SUM(adRevenue) FROM uservisits "
    "WHERE visitDate BETWEEN DATE '1980-01-01' AND DATE '1995-06-30'",
    "SELECT uv.sourceIP, SUM(uv.adRevenue), AVG(r.pageRank) FROM rankings AS r "
    "JOIN uservisits AS uv ON r.pageURL = uv.destURL "
    "WHERE uv.visitDate BETWEEN DATE '1980-01-01' AND DATE '1990-01-01' GROUP BY uv.sourceIP",
    "SELECT countryCode, COUNT(*) FROM uservisits WHERE countryCode IN ('USA', 'FRA') "
    "GROUP BY countryCode",
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_equals_duckdb(fmt: str, format_dirs: dict[str, str]) -> None:
    folder = format_dirs[fmt]
    con = _duck(fmt, folder)
    for query in QUERIES:
        expected = con.execute(query).fetchall()
        result = sqlmr.sql(query, folder, split_size="24KB", reducers=3, workers=2)
        assert_same(result, expected, ordered=False)


# -- bad objects: refused by name, no result ------------------------------------------------------


def _catalog(root: Path, body: str) -> str:
    (root / "catalog.toml").write_text(body)
    return str(root)


def _events(root: Path) -> Path:
    folder = root / "events"
    folder.mkdir(parents=True)
    return folder


def _bad_gzip(root: Path) -> tuple[str, str]:
    data = gzip.compress(b"".join(b"%d,name%d\n" % (i, i) for i in range(5000)))
    (_events(root) / "part-0.csv.gz").write_bytes(data[: len(data) // 2])
    return "part-0.csv.gz", "ends early"


def _bad_footer(root: Path) -> tuple[str, str]:
    folder = _events(root)
    src = root / "src.csv"
    src.write_text("1,a\n2,b\n")
    path = convert_file(
        src, folder / "part-0", "parquet", [Column("id", "int64"), Column("name", "string")]
    )
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:-12] + b"\0" * 12)
    src.unlink()
    return "part-0.parquet", "footer"


def _bad_json(root: Path) -> tuple[str, str]:
    lines = [json.dumps({"id": i, "name": f"n{i}"}) for i in range(50)]
    lines[37] = '{"id": 37, "name": "unterminated'
    (_events(root) / "part-0.json").write_text("\n".join(lines) + "\n")
    return "part-0.json", "not valid JSON"


def _bad_json_gzip(root: Path) -> tuple[str, str]:
    # Several of the reader's 8 MB blocks of decompressed lines: the bad line is in the third.
    lines = [json.dumps({"id": i, "name": f"n{i:0200d}"}) for i in range(120_000)]
    lines[100_000] = '{"id": 100000, "name": "unterminated'
    data = ("\n".join(lines) + "\n").encode()
    (_events(root) / "part-0.json.gz").write_bytes(gzip.compress(data, compresslevel=1))
    at = len(("\n".join(lines[:100_000]) + "\n").encode())
    return "part-0.json.gz", f"the line at decompressed byte offset {at} is not valid JSON"


def _truncated_json_gzip(root: Path) -> tuple[str, str]:
    data = "".join(json.dumps({"id": i, "name": f"n{i}"}) + "\n" for i in range(20_000))
    data = gzip.compress(data.encode())
    (_events(root) / "part-0.json.gz").write_bytes(data[: len(data) // 2])
    return "part-0.json.gz", "ends early"


def _bad_partition(root: Path) -> tuple[str, str]:
    for year in ("2020", "twenty"):
        folder = root / "events" / f"year={year}"
        folder.mkdir(parents=True)
        (folder / "part-0.csv").write_text("1,a\n")
    return "year=twenty", "does not parse"


def _mixed(root: Path) -> tuple[str, str]:
    folder = _events(root)
    (folder / "part-0.csv").write_text("1,a\n")
    (folder / "part-1.csv.gz").write_bytes(gzip.compress(b"2,b\n"))
    return "part-1.csv.gz", "mixes formats"


def _gzip_as_text(root: Path) -> tuple[str, str]:
    (_events(root) / "part-0").write_bytes(gzip.compress(b"1,a\n2,b\n"))
    return "part-0", "gzip data"


BAD = {
    "truncated-gzip": (_bad_gzip, ""),
    "bad-parquet-footer": (_bad_footer, ""),
    "bad-json-line": (_bad_json, ""),
    "bad-json-line-in-gzip": (_bad_json_gzip, 'format = "json"\n'),
    "truncated-json-gzip": (_truncated_json_gzip, 'format = "json"\n'),
    "bad-partition-value": (_bad_partition, 'partitions = "year INT"\n'),
    "mixed-formats": (_mixed, ""),
    "gzip-named-as-text": (_gzip_as_text, 'format = "csv"\n'),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_objects_are_refused_by_name(name: str, tmp_path: Path) -> None:
    make, extra = BAD[name]
    obj, words = make(tmp_path)
    folder = _catalog(
        tmp_path,
        f'[tables.events]\nlocation = "events"\ncolumns = "id BIGINT, name VARCHAR"\n{extra}',
    )
    with pytest.raises(sqlmr.SqlmrError) as info:
        sqlmr.sql("SELECT name, COUNT(*) FROM events GROUP BY name", folder, workers=1)
    message = str(info.value)
    assert obj in message and words in message, message


@pytest.mark.parametrize(
    "where", ["", " WHERE year IS NULL", " WHERE year = 2020", " WHERE year > 2000"]
)
def test_hives_null_partition_folder_is_null_as_in_duckdb(tmp_path: Path, where: str) -> None:
    """A `year=__HIVE_DEFAULT_PARTITION__` folder holds rows whose year is NULL: the planner
    prunes folders and the task fills the column from the same parse (scan.partition_value)."""
    for year, rows in (("2020", "1,a\n2,b\n"), ("__HIVE_DEFAULT_PARTITION__", "3,c\n")):
        folder = tmp_path / "events" / f"year={year}"
        folder.mkdir(parents=True)
        (folder / "part-0.csv").write_text(rows)
    folder = _catalog(
        tmp_path,
        '[tables.events]\nlocation = "events"\ncolumns = "id BIGINT, name VARCHAR"\n'
        'partitions = "year INT"\n',
    )
    query = "SELECT year, COUNT(*), SUM(id) FROM {}" + where + " GROUP BY year"
    source = (
        f"read_csv('{tmp_path}/events/*/*.csv', hive_partitioning=true, header=false, "
        "columns={'id': 'BIGINT', 'name': 'VARCHAR'}, hive_types={'year': INTEGER})"
    )
    expected = duckdb.sql(query.format(source)).fetchall()
    assert_same(sqlmr.sql(query.format("events"), folder, workers=1), expected, ordered=False)


# -- split size, workers and reducers never change the answer ------------------------------------

PROPERTY_QUERIES = [
    "SELECT languageCode, COUNT(*), SUM(duration), MIN(visitDate), MAX(adRevenue) "
    "FROM uservisits GROUP BY languageCode",
    "SELECT sourceIP, destURL, adRevenue FROM uservisits WHERE duration < 3 AND adRevenue > 0.9",
]


@pytest.mark.parametrize("fmt", ["parquet", "json"])
def test_answer_does_not_depend_on_the_cut(fmt: str, format_dirs: dict[str, str]) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    folder = format_dirs[fmt]
    con = _duck(fmt, folder)
    expected = [con.execute(q).fetchall() for q in PROPERTY_QUERIES]

    @settings(
        max_examples=3,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        split=st.sampled_from(["40KB", "300KB", "8MB"]) | st.integers(32 << 10, 1 << 20),
        workers=st.integers(1, 3),
        reducers=st.integers(1, 6),
    )
    def run(split, workers: int, reducers: int) -> None:
        for query, rows in zip(PROPERTY_QUERIES, expected, strict=True):
            result = sqlmr.sql(query, folder, split_size=split, workers=workers, reducers=reducers)
            assert_same(result, rows, ordered=False)

    run()


# -- partition folders, paths in FROM ------------------------------------------------------------


@pytest.fixture(scope="session")
def partitioned(format_dirs: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """rankings as Parquet in bucket=N/ folders (N = pageRank % 4) and as gzip text in
    day=YYYY-MM-DD/ folders (by avgDuration % 3)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("partitioned")
    table = pq.read_table(os.path.join(format_dirs["parquet"], "rankings"))
    for n in range(4):
        part = table.filter(pc_mod(table["pageRank"], 4, n))
        folder = root / "pq" / f"bucket={n}"
        folder.mkdir(parents=True)
        pq.write_table(part, folder / "part-0.parquet", row_group_size=100)
    for n in range(3):
        part = table.filter(pc_mod(table["avgDuration"], 3, n))
        folder = root / "gz" / f"day=2020-01-0{n + 1}"
        folder.mkdir(parents=True)
        out = pacsv.WriteOptions(include_header=False, quoting_style="none")
        data = pa_csv_bytes(part, out)
        (folder / "part-0.csv.gz").write_bytes(gzip.compress(data))
    return root


def pc_mod(column, m: int, n: int):
    import pyarrow.compute as pc

    return pc.equal(pc.subtract(column, pc.multiply(pc.divide(column, m), m)), n)


def pa_csv_bytes(table, options) -> bytes:
    import io

    import pyarrow.csv as pacsv

    sink = io.BytesIO()
    pacsv.write_csv(table, sink, options)
    return sink.getvalue()


PATH_QUERIES = [
    # (sqlmr FROM, DuckDB FROM, query over t)
    (
        "read_parquet('{root}/pq/')",
        "read_parquet('{root}/pq/*/*.parquet', hive_partitioning=true)",
        "SELECT bucket, COUNT(*), SUM(pageRank), MAX(pageURL) FROM {src} t "
        "WHERE bucket >= 2 GROUP BY bucket",
    ),
    (
        "'{root}/pq/**/*.parquet'",
        "read_parquet('{root}/pq/*/*.parquet', hive_partitioning=true)",
        "SELECT pageURL, bucket FROM {src} t WHERE bucket = 1 AND pageRank > 40",
    ),
    (  # a character class, negated too
        "read_parquet('{root}/pq/bucket=[13]/part-[!x]*.parquet')",
        "read_parquet('{root}/pq/bucket=[13]/*.parquet', hive_partitioning=true)",
        "SELECT bucket, COUNT(*), SUM(pageRank) FROM {src} t GROUP BY bucket",
    ),
    (
        "read_csv('{root}/gz/*/*.gz')",
        "read_csv('{root}/gz/*/*.gz', hive_partitioning=true, header=false, "
        "columns={{'column0': 'VARCHAR', 'column1': 'BIGINT', 'column2': 'BIGINT'}})",
        "SELECT day, COUNT(*), SUM(column1) FROM {src} t WHERE day > DATE '2020-01-01' "
        "GROUP BY day",
    ),
]


@pytest.mark.parametrize("case", range(len(PATH_QUERIES)))
def test_paths_and_partitions_equal_duckdb(case: int, partitioned: Path) -> None:
    ours, theirs, query = PATH_QUERIES[case]
    root = str(partitioned)
    expected = duckdb.sql(query.format(src=theirs.format(root=root))).fetchall()
    result = sqlmr.sql(query.format(src=ours.format(root=root)), split_size="4KB", workers=2)
    assert_same(result, expected, ordered=False)


def test_explain_shows_pruning(partitioned: Path, format_dirs: dict[str, str]) -> None:
    from sqlmr.api import QueryOptions, compile_query, resolve_catalog
    from sqlmr.planning.explain import render_plan

    catalog = resolve_catalog(format_dirs["text"])
    plan = compile_query(
        f"SELECT COUNT(*) FROM read_parquet('{partitioned}/pq/') WHERE bucket = 3 "
        "AND pageRank > 1000000",
        catalog,
        QueryOptions(split_size="4KB"),
    )
    text = render_plan(plan)
    assert "3 of 4 folder(s) pruned" in text, text
    assert "unsplittable" not in text
    # The one folder left has row groups, all pruned by pageRank's max.
    groups = [line for line in text.splitlines() if "row group(s)" in line]
    assert groups and ", 0 pruned" not in groups[0] and "statistics" in groups[0], text
    plan = compile_query(
        f"SELECT COUNT(*) FROM '{partitioned}/gz/**/*.gz'", catalog, QueryOptions()
    )
    assert "unsplittable" in render_plan(plan)


def test_pruning_keeps_whatever_may_match() -> None:
    import datetime

    from sqlmr.planning.prune import Range, may_match

    def cmp(fn, col, lit, typ="int64"):
        return {"fn": fn, "args": [{"col": col}, {"lit": lit, "type": typ}]}

    r = {
        "n": Range(10, 20, False, True),
        "d": Range(datetime.date(2000, 1, 1), datetime.date(2000, 12, 31)),
    }
    assert not may_match(cmp("gt", "n", 20), r)
    assert may_match(cmp("ge", "n", 20), r)
    assert not may_match(cmp("eq", "n", 9), r)
    assert not may_match({"fn": "is_null", "args": [{"col": "n"}]}, r)
    assert not may_match(cmp("lt", "d", "2000-01-01", "date32"), r)
    assert may_match({"fn": "or", "args": [cmp("gt", "n", 20), cmp("lt", "n", 11)]}, r)
    assert not may_match({"fn": "and", "args": [cmp("gt", "n", 5), cmp("lt", "n", 10)]}, r)
    # A CAST that changes the value (2.7 → 3) is never used to prune.
    cast = {"fn": "cast", "to": "int32", "args": [{"lit": 2.7, "type": "float64"}]}
    assert may_match({"fn": "eq", "args": [{"col": "n"}, cast]}, {"n": Range(3, 3)})
    assert not may_match({"fn": "in", "args": [{"col": "n"}], "values": [1, 2, 30]}, r)
    assert may_match({"fn": "like", "args": [{"col": "n"}], "pattern": "x"}, r)


@pytest.mark.parametrize("fmt", ["parquet", "text-deflate"])
def test_gen_amplab_in_a_format(fmt: str, tmp_path: Path, amplab_dir: str) -> None:
    from sqlmr.cli.app import main

    out = tmp_path / fmt
    assert main(["gen", "amplab", "--scale", "tiny", "--out", str(out), "--format", fmt]) == 0
    names = {p.name for p in (out / "uservisits").iterdir()}
    assert names and all(n.endswith("." + fmt.removeprefix("text-")) for n in names), names
    query = "SELECT countryCode, COUNT(*), SUM(adRevenue) FROM uservisits GROUP BY countryCode"
    con = duckdb.connect()
    duck_table(con, "uservisits", Path(amplab_dir) / "uservisits", AMPLAB_COLUMNS["uservisits"])
    assert_same(sqlmr.sql(query, str(out), workers=1), con.execute(query).fetchall(), False)


def test_paths_in_ctes_and_many_joins(format_dirs: dict[str, str]) -> None:
    pq, js = format_dirs["parquet"], format_dirs["json"]
    query = (
        "WITH r AS (SELECT pageURL, pageRank FROM '{pq}/rankings/*.parquet') "
        "SELECT COUNT(*), SUM(uv.adRevenue), MAX(r2.pageRank) FROM r "
        "JOIN read_json('{js}/uservisits/{star}') uv ON r.pageURL = uv.destURL "
        "LEFT JOIN '{pq}/rankings/*.parquet' r2 ON r2.pageURL = uv.destURL AND r2.pageRank > 50"
    )
    expected = duckdb.sql(query.format(pq=pq, js=js, star="*")).fetchall()
    result = sqlmr.sql(query.format(pq=pq, js=js, star=""), workers=2)
    assert_same(result, expected, ordered=False)


def test_a_type_the_plan_cannot_hold_is_refused_by_name(tmp_path: Path) -> None:
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "ts.parquet"
    moment = datetime.datetime(2020, 1, 1, 10, 30)
    pq.write_table(pa.table({"at": pa.array([moment], pa.timestamp("us", "UTC"))}), path)
    with pytest.raises(sqlmr.UnsupportedError, match=r"column 'at'.*timestamp"):
        sqlmr.sql(f"SELECT * FROM '{path}'")
    # A TIMESTAMP without a time zone is read (as DuckDB reads it).
    pq.write_table(pa.table({"at": pa.array([moment])}), path)
    assert sqlmr.sql(f"SELECT at FROM '{path}'").column(0).to_pylist() == [moment]
    (tmp_path / "n.json").write_text('{"a": 1, "tags": {"x": 1}}\n')
    with pytest.raises(sqlmr.UnsupportedError, match=r"column 'tags' is nested"):
        sqlmr.sql(f"SELECT a FROM read_json('{tmp_path}/n.json')")


def test_every_declared_format_has_a_reader() -> None:
    from sqlmr_runtime import scan, spec

    assert set(scan.READERS) == set(spec.FORMATS)
