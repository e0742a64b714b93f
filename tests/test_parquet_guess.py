"""The formats a table may be in, guessed before it is listed (sqlmr.catalog.discover
.guessed_formats): the driver then loads the runtime's Parquet reader, its text reader or both
before its local workers fork. A wrong "yes" costs an import; a "no" only moves the import into
the workers' first task, since planning detects the format from every object."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlmr.catalog.discover import guessed_formats, readers_needed
from sqlmr.catalog.tables import Table


def _table(location: Path | str, fmt: str = "auto") -> Table:
    return Table("t", str(location), (), format=fmt)


def _may_be(reader: str, table: Table) -> bool:
    """Whether the driver loads `reader` ("parquet" or "text") for this one table."""
    return reader in readers_needed([table])


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["part-0.parquet", "part-1.parquet"], True),
        (["part-00000", "part-00001"], False),  # Amplab's text parts
        (["a.csv.gz", "_SUCCESS", ".hidden.parquet"], False),  # hidden names are not objects
        (["year=2024/month=1/part-0.parquet", "year=2025/month=2/part-0.parquet"], True),
        (["year=2024/part-0.json", "year=2025/part-0.json"], False),
        ([], True),  # nothing to tell from: listing decides
    ],
)
def test_a_local_folder_is_guessed_from_its_first_objects(
    tmp_path: Path, files: list[str], expected: bool
) -> None:
    tmp_path.joinpath("t").mkdir()
    for name in files:
        _touch(tmp_path / "t" / name)
    assert _may_be("parquet", _table(tmp_path / "t")) is expected


def test_declared_formats_globs_files_and_urls(tmp_path: Path) -> None:
    assert _may_be("parquet", _table(tmp_path, "parquet"))
    assert not _may_be("parquet", _table(tmp_path, "csv"))
    assert _may_be("parquet", _table(tmp_path / "data" / "*.parquet"))
    assert not _may_be("parquet", _table(tmp_path / "data" / "*.jsonl"))
    assert _may_be("parquet", _table(_touch(tmp_path / "one.parquet")))
    assert not _may_be("parquet", _table(_touch(tmp_path / "one.csv")))
    assert _may_be("parquet", _table("s3://bucket/prefix/"))
    assert _may_be("parquet", _table(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("location", "fmt", "expected"),
    [
        ("t/part-00000", "auto", {"csv"}),  # Amplab's text parts: no known extension
        ("t/part-0.parquet", "auto", {"parquet"}),
        ("t/part-0.json.gz", "auto", {"json"}),
        ("t/part-0.parquet", "csv", {"csv"}),  # declared wins
        ("s3://bucket/prefix/", "auto", None),  # not listed: any
    ],
)
def test_the_guessed_formats_choose_the_readers_to_load(
    tmp_path: Path, location: str, fmt: str, expected: set[str] | None
) -> None:
    if "://" not in location:
        _touch(tmp_path / location)
        location = str(tmp_path / "t")
    table = _table(location, fmt)
    formats = guessed_formats(table)
    assert formats == (None if expected is None else frozenset(expected))
    assert _may_be("parquet", table) is (expected is None or "parquet" in expected)
    assert _may_be("text", table) is (expected is None or bool(expected - {"parquet"}))
