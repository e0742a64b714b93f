"""JSON Lines field names match columns without regard to case on every line (not only as the
range's first line spells them), and a document that is not one object per line is refused the
same way whatever the split size. Every answer is DuckDB's, over a copy of the data whose keys
the test spells as the columns."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import duckdb
import pytest
from conftest import assert_same

import sqlmr

COLUMNS = "id BIGINT, name VARCHAR, score DOUBLE, day DATE"
DUCK_COLUMNS = "{'id': 'BIGINT', 'name': 'VARCHAR', 'score': 'DOUBLE', 'day': 'DATE'}"
QUERY = "SELECT id, name, score, day FROM {}"


def _spell(key: str, rng: random.Random) -> str:
    """The key as this line writes it: as the column, upper case, or capitalised."""
    return rng.choice([key, key, key.upper(), key.capitalize()])


def _rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        row = {"id": i, "name": rng.choice([None, f"n{i}", "é"]), "score": rng.random() * 100}
        row["day"] = f"2024-01-{1 + i % 28:02d}"
        rows.append({k: v for k, v in row.items() if rng.random() > 0.15 or k == "id"})
    return rows


def _write(tmp_path: Path, rows: list[dict], seed: int, compress: bool) -> Path:
    """The rows with keys spelled at random per line under events/, and as the columns in
    canonical.json for DuckDB (which matches keys case-sensitively)."""
    rng = random.Random(seed)
    folder = tmp_path / "events"
    folder.mkdir()
    text = "".join(json.dumps({_spell(k, rng): v for k, v in r.items()}) + "\n" for r in rows)
    if compress:
        (folder / "part-0.json.gz").write_bytes(gzip.compress(text.encode()))
    else:
        (folder / "part-0.json").write_text(text)
    canonical = tmp_path / "canonical.json"
    canonical.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "catalog.toml").write_text(
        f'[tables.events]\nlocation = "events"\nformat = "json"\ncolumns = "{COLUMNS}"\n'
    )
    return canonical


def _duck(canonical: Path) -> list[tuple]:
    source = f"read_json('{canonical}', format='newline_delimited', columns={DUCK_COLUMNS})"
    return duckdb.sql(QUERY.format(source)).fetchall()


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("split", ["1KB", "7KB", "64MB"])
def test_every_lines_keys_match_without_regard_to_case(
    tmp_path: Path, split: str, compress: bool
) -> None:
    """Each line spells the keys its own way; the first line of a range used to decide."""
    rows = _rows(400, seed=7)
    canonical = _write(tmp_path, rows, seed=8, compress=compress)
    result = sqlmr.sql(QUERY.format("events"), str(tmp_path), split_size=split, workers=2)
    assert_same(result, _duck(canonical), ordered=False)


def test_a_key_missing_from_the_first_line_is_still_read(tmp_path: Path) -> None:
    rows = [{"id": 1}, {"id": 2, "Name": "b"}, {"id": 3, "NAME": "c"}, {"id": 4, "name": "d"}]
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "a.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    canonical = tmp_path / "canonical.json"
    canonical.write_text(
        "".join(json.dumps({k.lower(): v for k, v in r.items()}) + "\n" for r in rows)
    )
    (tmp_path / "catalog.toml").write_text(
        '[tables.events]\nlocation = "events"\nformat = "json"\n'
        'columns = "id BIGINT, name VARCHAR"\n'
    )
    expected = duckdb.sql(
        f"SELECT id, name FROM read_json('{canonical}', "
        "columns={'id': 'BIGINT', 'name': 'VARCHAR'})"
    ).fetchall()
    assert_same(sqlmr.sql("SELECT id, name FROM events", str(tmp_path)), expected, ordered=False)


def test_the_columns_own_spelling_wins_and_two_others_are_refused(tmp_path: Path) -> None:
    """On one line, the key spelled as the column wins when it holds a value, else the one
    other spelling holding one; two other spellings holding values are refused by line."""
    lines = [
        {"id": 1, "name": "own", "NAME": "other"},
        {"id": 2, "name": None, "NAME": "other"},
        {"id": 3, "Name": None, "NAME": "upper"},
        {"id": 4},
    ]
    (tmp_path / "events").mkdir()
    obj = tmp_path / "events" / "a.json"
    obj.write_text("".join(json.dumps(r) + "\n" for r in lines))
    (tmp_path / "catalog.toml").write_text(
        '[tables.events]\nlocation = "events"\nformat = "json"\n'
        'columns = "id BIGINT, name VARCHAR"\n'
    )
    # The rule above, in DuckDB over each line's JSON text (its keys are case-sensitive).
    expected = duckdb.sql(
        "SELECT CAST(json ->> 'id' AS BIGINT), coalesce(json ->> 'name', json ->> 'NAME', "
        f"json ->> 'Name') FROM read_ndjson_objects('{obj}')"
    ).fetchall()
    assert_same(sqlmr.sql("SELECT id, name FROM events", str(tmp_path)), expected, ordered=False)
    obj.write_text(obj.read_text() + json.dumps({"id": 5, "Name": "x", "NAME": "y"}) + "\n")
    at = len(obj.read_text().encode()) - len(json.dumps({"id": 5, "Name": "x", "NAME": "y"})) - 1
    with pytest.raises(sqlmr.SqlmrError) as info:
        sqlmr.sql("SELECT id, name FROM events", str(tmp_path))
    message = str(info.value)
    assert "a.json" in message and f"byte offset {at}" in message, message
    assert "'NAME'" in message and "'Name'" in message, message


def test_inferred_keys_that_differ_only_in_case_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "case.jsonl"
    path.write_text('{"Name": "a", "n": 1}\n{"name": "b", "n": 2}\n')
    # DuckDB makes them two columns, which SQL (matching names without regard to case) cannot
    # tell apart in sqlmr: a clear refusal rather than one column's values under the other.
    names = [d[0] for d in duckdb.sql(f"SELECT * FROM read_json('{path}')").description]
    assert names == ["Name", "n", "name_1"]  # DuckDB renames the second spelling
    with pytest.raises(sqlmr.UnsupportedError, match=r"'Name' and 'name' have the same name"):
        sqlmr.sql(f"SELECT * FROM read_json('{path}')")


def _pretty(path: Path, n: int) -> None:
    path.write_text(
        "".join(json.dumps({"a": i, "b": "x" * (i % 50)}, indent=2) + "\n" for i in range(n))
    )


@pytest.mark.parametrize("n", [2000, 25_000])  # one range under 1 MB; a sample cut at 1 MB
@pytest.mark.parametrize("split", [None, "1KB", "100KB"])
def test_a_multi_line_document_is_refused_at_any_split(tmp_path: Path, n: int, split) -> None:
    path = tmp_path / "p.json"
    _pretty(path, n)
    # DuckDB refuses it as newline-delimited JSON too.
    with pytest.raises(duckdb.InvalidInputException, match="Malformed JSON"):
        duckdb.sql(
            f"SELECT count(*) FROM read_json('{path}', format='newline_delimited')"
        ).fetchall()
    with pytest.raises(sqlmr.CatalogError) as info:
        sqlmr.sql(f"SELECT count(*), sum(a) FROM '{path}'", split_size=split, workers=2)
    assert str(info.value) == (
        f"table p: {path} is not JSON Lines (one JSON object per line): the JSON value at byte "
        "offset 0 spans 4 lines"
    )


@pytest.mark.parametrize("split", [None, "1KB", "100KB"])
def test_a_multi_line_object_under_declared_columns_is_refused(tmp_path: Path, split) -> None:
    """No sample is taken: every task checks its range, and each says why it refuses."""
    (tmp_path / "events").mkdir()
    _pretty(tmp_path / "events" / "p.json", 2000)
    (tmp_path / "catalog.toml").write_text(
        '[tables.events]\nlocation = "events"\nformat = "json"\ncolumns = "a BIGINT, b VARCHAR"\n'
    )
    with pytest.raises(sqlmr.SqlmrError) as info:
        sqlmr.sql("SELECT count(*), sum(a) FROM events", str(tmp_path), split_size=split, workers=2)
    assert "p.json is not JSON Lines (one JSON object per line): the JSON value at" in str(
        info.value
    )


def test_blank_lines_are_still_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"a": 1, "b": "x"}\n\n   \n{"a": 2, "b": null}\n\n{"a": 3}')
    query = "SELECT a, b FROM {}"
    expected = duckdb.sql(
        query.format(f"read_json('{path}', format='newline_delimited')")
    ).fetchall()
    assert_same(sqlmr.sql(query.format(f"'{path}'"), split_size="16B"), expected, ordered=False)
