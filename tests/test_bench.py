"""The benchmark harness: every engine runs, agrees, and a disagreeing engine is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from sqlmr_benchmarks.harness import BenchError, run_bench, to_json, verify

from sqlmr.cli import main


def _arrow(path: Path, table: pa.Table) -> str:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return str(path)


def test_all_engines_agree_on_small_data(amplab_dir: Path) -> None:
    measurements = run_bench(
        str(amplab_dir), ["1b", "2a", "3a"], ["sqlmr", "duckdb", "classic"], 1, 2
    )
    engines = {(m.query, m.engine) for m in measurements}
    # The classic engine has no join: query 3 runs on sqlmr and DuckDB only.
    assert ("3a", "classic") not in engines and ("3a", "sqlmr") in engines
    assert {("1b", "classic"), ("2a", "classic")} <= engines
    by = {(m.query, m.engine): m for m in measurements}
    assert by[("2a", "sqlmr")].rows == by[("2a", "duckdb")].rows == by[("2a", "classic")].rows > 0
    doc = to_json(measurements, {"scale": "test"})
    assert doc["machine"]["cpus"] >= 1 and "sqlmr/duckdb" in doc["ratios"]["2a"]
    assert all(len(m.seconds) == 1 and m.seconds[0] > 0 for m in measurements)


def test_verification_refuses_a_disagreeing_engine(tmp_path: Path) -> None:
    good = pa.table({"k": ["a", "b", "c"], "v": [1.0, 2.0, 3.0]})
    same = pa.table({"k": ["c", "a", "b"], "v": [3.0, 1.0 + 1e-12, 2.0]})  # order and rounding
    verify("2a", {"x": _arrow(tmp_path / "x", good), "y": _arrow(tmp_path / "y", same)})
    wrong_value = pa.table({"k": ["a", "b", "c"], "v": [1.0, 2.0, 3.5]})
    with pytest.raises(BenchError, match="query 2a: z disagrees"):
        verify("2a", {"x": _arrow(tmp_path / "x", good), "z": _arrow(tmp_path / "z", wrong_value)})
    missing_row = pa.table({"k": ["a", "b"], "v": [1.0, 2.0]})
    with pytest.raises(BenchError, match="query 1c: w returned 2 rows"):
        verify("1c", {"x": _arrow(tmp_path / "x", good), "w": _arrow(tmp_path / "w", missing_row)})


def test_bench_command_prints_the_table_and_writes_json(
    amplab_dir: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            "amplab",
            "--data",
            str(amplab_dir),
            "--queries",
            "1a",
            "--runs",
            "1",
            "--engines",
            "sqlmr,duckdb",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "sqlmr / DuckDB" in printed and "1a" in printed
    # Progress as it goes: 1 query x 2 engines x (warm-up + 1 run), with time and an ETA.
    steps = [line for line in captured.err.splitlines() if line.strip().startswith("[")]
    assert [s.split("]")[0].strip() for s in steps] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    assert "elapsed" in steps[0] and all("left)" in s for s in steps[1:])
    doc = json.loads(out.read_text())
    assert {r["engine"] for r in doc["results"]} == {"sqlmr", "duckdb"}


def test_bench_without_duckdb_says_how_to_install_it(monkeypatch, capsys) -> None:
    monkeypatch.setitem(__import__("sys").modules, "duckdb", None)  # as if not installed
    assert main(["bench", "amplab", "--queries", "1a", "--runs", "1"]) == 1
    err = capsys.readouterr().err
    assert "pip install 'sqlmr[bench]'" in err and len(err.strip().splitlines()) == 1


def test_bench_refuses_unknown_queries(capsys) -> None:
    assert main(["bench", "amplab", "--queries", "9z", "--runs", "1"]) == 1
    assert "unknown queries 9z" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["text-zstd", "text-bzip2"])
def test_compressed_text_is_benchmarked_against_duckdb(
    amplab_dir: str, tmp_path: Path, monkeypatch, fmt: str
) -> None:
    # DuckDB reads the zstd objects themselves; bzip2 it cannot read, so it reads the plain
    # text of the same data (the folder `sqlmr bench` points it at), and the answers agree.
    from sqlmr_benchmarks.engines import DUCKDB_DATA_ENV

    from sqlmr.catalog import AMPLAB_SCHEMAS
    from sqlmr.datagen.formats import convert_file

    text = Path(amplab_dir)
    for table in ("rankings", "uservisits"):
        (tmp_path / table).mkdir()
        for src in sorted((text / table).iterdir()):
            convert_file(src, tmp_path / table / src.name, fmt, AMPLAB_SCHEMAS[table])
    if fmt == "text-bzip2":
        monkeypatch.setenv(DUCKDB_DATA_ENV, str(amplab_dir))
    measurements = run_bench(str(tmp_path), ["2a"], ["sqlmr", "duckdb"], 1, 2)
    by = {m.engine: m for m in measurements}
    assert by["sqlmr"].rows == by["duckdb"].rows > 0
    assert 0 < by["sqlmr"].bytes_read < sum(p.stat().st_size for p in text.rglob("part-*"))
