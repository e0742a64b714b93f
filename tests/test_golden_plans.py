"""Golden plans: `sqlmr explain --json` for the queries in tests/fixtures/plans/*.sql, over a fixed
tables folder that this test writes (fixed bytes, hence fixed splits), with explicit workers, split
size and reducers so that nothing depends on the machine. The tables folder is written as $TABLES.

A plan change shows as a diff. If the change is intended, regenerate and review the new files:

    SQLMR_REGENERATE_GOLDEN=1 pytest tests/test_golden_plans.py
"""

from __future__ import annotations

import datetime
import difflib
import json
import os
import re
from pathlib import Path

import duckdb
import pytest
from conftest import AMPLAB_COLUMNS
from sqlmr_runtime.validate import validate_plan

import sqlmr
from sqlmr.cli import main
from sqlmr.planning.cost import ATHENA_MIN_BYTES, estimate
from sqlmr.planning.explain import format_size

PLANS = Path(__file__).parent / "fixtures" / "plans"
REGENERATE = os.environ.get("SQLMR_REGENERATE_GOLDEN") == "1"
PLACEHOLDER = "$TABLES"
FLAGS = ["--workers", "2", "--split-size", "8KB", "--reducers", "3"]
QUERIES = sorted(p.stem for p in PLANS.glob("*.sql"))

# Fixed data: changing these functions changes the splits, so regenerate the plans after.
COUNTRIES = ["USA", "FRA", "DEU", "JPN", "BRA", "IND"]
LANGUAGES = ["en-US", "fr-FR", "de-DE", "ja-JP"]
WORDS = ["search", "seaside", "table", "query", "lambda"]


def _rankings_row(i: int) -> str:
    return f"http://site{i:04d}.example.com/page,{(i * 7919) % 2000},{1 + (i * 13) % 90}"


def _uservisits_row(i: int) -> str:
    day = datetime.date(1999, 6, 1) + datetime.timedelta(days=(i * 37) % 900)
    agent = "Googlebot/2.1" if i % 11 == 0 else f"Mozilla/5.0 (X11; rv:{i % 40})"
    return ",".join(
        [
            f"{(i * 41) % 250}.{(i * 7) % 256}.{i % 200}.{(i * 3) % 256}",
            f"http://site{(i * 17) % 300:04d}.example.com/page",
            day.isoformat(),
            f"{((i * 7919) % 50000) / 97:.4f}",
            agent,
            COUNTRIES[i % len(COUNTRIES)],
            LANGUAGES[(i // 3) % len(LANGUAGES)],
            WORDS[(i * 5) % len(WORDS)],
            str(1 + (i * 31) % 600),
        ]
    )


def write_tables(root: Path) -> None:
    """rankings: one 300-row object; uservisits: 1,000 rows in three objects of unequal size."""
    (root / "rankings").mkdir(parents=True)
    (root / "rankings" / "part-00000").write_text(
        "".join(_rankings_row(i) + "\n" for i in range(300))
    )
    (root / "uservisits").mkdir()
    for part, (lo, hi) in enumerate([(0, 500), (500, 560), (560, 1000)]):
        (root / "uservisits" / f"part-{part:05d}").write_text(
            "".join(_uservisits_row(i) + "\n" for i in range(lo, hi))
        )


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("golden") / "tables"
    write_tables(root)
    return root


def _normalize(value, root: str):
    if isinstance(value, str):
        return value.replace(root, PLACEHOLDER)
    if isinstance(value, list):
        return [_normalize(v, root) for v in value]
    if isinstance(value, dict):
        return {k: _normalize(v, root) for k, v in value.items()}
    return value


def explain_json(tables: Path, sql: str, capsys: pytest.CaptureFixture) -> dict:
    rc = main(["explain", "--json", sql, "--tables", str(tables), *FLAGS])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return _normalize(json.loads(out), str(tables))


def _text(plan: dict) -> str:
    return json.dumps(plan, indent=2) + "\n"


def test_there_are_golden_queries() -> None:
    assert len(QUERIES) >= 8


@pytest.mark.parametrize("name", QUERIES)
def test_golden_plan(tables: Path, capsys: pytest.CaptureFixture, name: str) -> None:
    sql = (PLANS / f"{name}.sql").read_text().strip()
    plan = explain_json(tables, sql, capsys)
    golden_path = PLANS / f"{name}.json"
    actual = _text(plan)
    if REGENERATE:
        golden_path.write_text(actual)
    assert golden_path.exists(), (
        f"no golden plan {golden_path.name}; create it with SQLMR_REGENERATE_GOLDEN=1"
    )
    expected = golden_path.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"{golden_path.name} (golden)",
                f"{golden_path.name} (now)",
            )
        )
        pytest.fail(
            f"the plan of {name}.sql changed; if intended, rerun with "
            f"SQLMR_REGENERATE_GOLDEN=1 and review the files\n{diff}",
            pytrace=False,
        )


@pytest.mark.parametrize("name", QUERIES)
def test_golden_plan_is_valid_and_self_consistent(name: str) -> None:
    path = PLANS / f"{name}.json"
    if not path.exists():
        pytest.skip("no golden plan yet")
    plan = json.loads(path.read_text())
    validate_plan(plan)
    assert plan["query"] == (PLANS / f"{name}.sql").read_text().strip()
    ids = [s["id"] for s in plan["stages"]]
    assert len(set(ids)) == len(ids)
    for i, stage in enumerate(plan["stages"]):
        assert set(stage["depends_on"]) <= set(ids[:i])  # stages in dependency order
        assert stage["tasks"]
        if stage["source"]["type"] == "scan":
            for task in stage["tasks"]:
                for r in task["ranges"]:
                    assert r["url"].startswith(PLACEHOLDER + "/")
                    assert 0 <= r["start"] < r["end"]
    assert plan["stages"][-1]["sink"] == {"type": "result"}


def test_splits_cover_every_byte_once(tables: Path, capsys: pytest.CaptureFixture) -> None:
    plan = explain_json(tables, "SELECT COUNT(*) FROM uservisits", capsys)
    ranges = [r for t in plan["stages"][0]["tasks"] for r in t["ranges"]]
    by_url: dict[str, list[tuple[int, int]]] = {}
    for r in ranges:
        by_url.setdefault(r["url"], []).append((r["start"], r["end"]))
    for url, spans in by_url.items():
        size = (tables / url.removeprefix(PLACEHOLDER + "/")).stat().st_size
        spans.sort()
        assert spans[0][0] == 0 and spans[-1][1] == size
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert len(by_url) == 3


UV_TYPES = str(dict(AMPLAB_COLUMNS["uservisits"]))
RK_TYPES = str(dict(AMPLAB_COLUMNS["rankings"]))


def _same(a: object, b: object) -> bool:
    if isinstance(b, float):
        return isinstance(a, float) and abs(a - b) <= 1e-9 * max(1.0, abs(b))
    return a == b


@pytest.mark.parametrize("name", QUERIES)
def test_golden_query_runs_and_matches_duckdb(tables: Path, name: str) -> None:
    """The golden queries are real: they run and return what DuckDB returns."""
    sql = (PLANS / f"{name}.sql").read_text().strip()
    result = sqlmr.sql(sql, str(tables), workers=2, split_size="8KB", reducers=3)
    got = [tuple(r.values()) for r in result.to_pylist()]
    con = duckdb.connect()
    for table, types in (("rankings", RK_TYPES), ("uservisits", UV_TYPES)):
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_csv('{tables}/{table}/*', header=false, "
            f"quote='', escape='', nullstr='', auto_detect=false, columns={types})"
        )
    expected = con.execute(sql).fetchall()
    assert len(got) == len(expected)
    if "ORDER BY" not in sql:
        got, expected = sorted(got, key=repr), sorted(expected, key=repr)
    for g, e in zip(got, expected, strict=True):
        assert all(_same(a, b) for a, b in zip(g, e, strict=True)), (g, e)


_INPUT_LINE = re.compile(r"input +table (\w+): (\d+) object\(s\), ([\d.]+ \w+), (\d+) range\(s\)")


@pytest.mark.parametrize("name", QUERIES)
def test_explain_figures_are_the_files_real_sizes(tables: Path, capsys, name: str) -> None:
    """Explain's inputs and the cost estimate's bytes are the tables' real file sizes, each
    object counted once whatever the strategy (a broadcast side is read by every task)."""
    sql = (PLANS / f"{name}.sql").read_text().strip()
    rc = main(["explain", sql, "--tables", str(tables), *FLAGS])
    out, err = capsys.readouterr()
    assert rc == 0, err
    real = {
        t: sorted(f.stat().st_size for f in (tables / t).iterdir())
        for t in ("rankings", "uservisits")
    }
    seen = _INPUT_LINE.findall(out)
    assert seen, out
    for table, objects, size, _ranges in seen:
        assert int(objects) == len(real[table])
        assert size == format_size(sum(real[table]))
    scanned = {table for table, *_ in seen}
    total = sum(sum(real[t]) for t in scanned)
    plan = explain_json(tables, sql, capsys)
    est = estimate(plan)
    assert est["input_bytes"] == total
    assert est["athena"]["bytes_scanned"] == max(total, ATHENA_MIN_BYTES)
    assert f"Athena would scan {max(total, ATHENA_MIN_BYTES):,} bytes" in out


def test_broadcast_side_is_counted_once(tables: Path, capsys) -> None:
    sql = (PLANS / "amplab_3a_broadcast.sql").read_text().strip()
    plan = explain_json(tables, sql, capsys)
    join = plan["stages"][0]["source"]
    assert join["type"] == "join" and join["broadcast"]
    assert len(plan["stages"][0]["tasks"]) > 1  # every one of them reads the broadcast side
