"""Tests of the Amplab data generator: format, determinism, distributions, scale parsing."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import AMPLAB_COLUMNS
from pyarrow import csv

from sqlmr.datagen import amplab
from sqlmr.datagen.amplab import SCALES, generate, sample_page_ranks, scale_rows
from sqlmr.errors import UsageError

RANKINGS = {"pageURL": pa.string(), "pageRank": pa.int32(), "avgDuration": pa.int32()}
USERVISITS = {
    "sourceIP": pa.string(),
    "destURL": pa.string(),
    "visitDate": pa.date32(),
    "adRevenue": pa.float64(),
    "userAgent": pa.string(),
    "countryCode": pa.string(),
    "languageCode": pa.string(),
    "searchWord": pa.string(),
    "duration": pa.int32(),
}
# Published 5nodes result sizes over 90,000,000 rankings rows.
SELECTIVITY = {1000: 32_888 / 90e6, 100: 3_331_851 / 90e6, 10: 89_974_976 / 90e6}


def read_table(root: Path, table: str) -> pa.Table:
    types = RANKINGS if table == "rankings" else USERVISITS
    parts = sorted((root / table).glob("part-*"))
    assert parts and all(re.fullmatch(r"part-\d{5}", p.name) for p in parts)
    return pa.concat_tables(
        csv.read_csv(
            p,
            read_options=csv.ReadOptions(column_names=list(types)),
            parse_options=csv.ParseOptions(quote_char=False),
            convert_options=csv.ConvertOptions(column_types=types),
        )
        for p in parts
    )


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    stats = generate(root, "tiny", seed=0, workers=1)
    assert (stats.rankings_rows, stats.uservisits_rows) == (1_200, 10_000)
    assert stats.files == [str(root / "rankings/part-00000"), str(root / "uservisits/part-00000")]
    assert stats.bytes_written == sum(len(b) for b in tree_bytes(root).values())
    return root


def test_text_shape(tiny: Path) -> None:
    for table, commas in (("rankings", 2), ("uservisits", 8)):
        data = (tiny / table / "part-00000").read_bytes()
        assert data.endswith(b"\n") and b"\r" not in data and b'"' not in data
        lines = data[:-1].split(b"\n")
        assert len(lines) == SCALES["tiny"][table == "uservisits"]
        # a ',' inside any field (e.g. a user agent) would show up as an extra delimiter
        assert {line.count(b",") for line in lines} == {commas}


def test_rankings_values(tiny: Path) -> None:
    t = read_table(tiny, "rankings")
    assert t.num_rows == 1_200 and t.num_columns == 3
    urls = t["pageURL"]
    assert pc.count_distinct(urls).as_py() == t.num_rows
    assert pc.all(pc.match_substring_regex(urls, r"^[a-z]{10,100}$")).as_py()
    lengths = pc.utf8_length(urls).to_numpy()
    assert 45 < lengths.mean() < 65  # uniform over 10..100 as published
    assert pc.min(t["pageRank"]).as_py() > 0
    assert (pc.min(t["avgDuration"]).as_py(), pc.max(t["avgDuration"]).as_py()) == (1, 99)


def test_uservisits_values(tiny: Path) -> None:
    t = read_table(tiny, "uservisits")
    assert t.num_rows == 10_000 and t.num_columns == 9
    octets = np.array([ip.split(".") for ip in t["sourceIP"].to_pylist()], dtype=int)
    assert octets.shape == (10_000, 4)
    assert octets.min(axis=0).tolist() == [1, 0, 0, 1]
    assert octets.max(axis=0).tolist() == [254, 254, 254, 254]
    dates = t["visitDate"]
    assert pc.min(dates).as_py() >= dt.date(1970, 1, 1)
    assert pc.max(dates).as_py() <= dt.date(2012, 5, 1)
    revenue = t["adRevenue"].to_numpy()
    assert revenue.min() >= 0 and revenue.max() < 1 and 0.45 < revenue.mean() < 0.55
    assert (pc.min(t["duration"]).as_py(), pc.max(t["duration"]).as_py()) == (1, 10)
    agents = pc.count_distinct(t["userAgent"]).as_py()
    assert 300 < agents <= 519
    country, language = t["countryCode"].to_pylist(), t["languageCode"].to_pylist()
    assert all(
        lang.startswith(c + "-") and len(c) == 3 for c, lang in zip(country, language, strict=True)
    )
    assert 900 < pc.count_distinct(t["searchWord"]).as_py() <= 1000


def test_adrevenue_uses_java_float_format(tiny: Path) -> None:
    text = (tiny / "uservisits/part-00000").read_text()
    revenue = [line.split(",")[3] for line in text.splitlines()]
    # Java's Float.toString: plain decimals from 1e-3 up, 'd.dddE-n' below
    assert all(re.fullmatch(r"0\.\d{1,10}|[1-9]\.\d{1,8}E-\d", r) for r in revenue)
    assert all(float(r) < 1e-3 for r in revenue if "E" in r)
    assert max(len(r) for r in revenue) <= 13


def test_every_visit_joins(tiny: Path) -> None:
    urls = read_table(tiny, "rankings")["pageURL"]
    dest = read_table(tiny, "uservisits")["destURL"]
    assert pc.all(pc.is_in(dest, value_set=urls)).as_py()
    # uniform draws over 1,200 pages for 10,000 visits leave almost none unvisited
    assert pc.count_distinct(dest).as_py() > 1_150


def test_deterministic_across_workers_and_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(amplab, "_POOL_MIN_BYTES", 0)  # use the process pool even for tiny
    calls: list[tuple[int, int]] = []
    one = generate(tmp_path / "a", "tiny", seed=7, workers=1, part_bytes=200_000)
    two = generate(
        tmp_path / "b",
        "tiny",
        seed=7,
        workers=2,
        part_bytes=200_000,
        progress=lambda *a: calls.append(a),
    )
    a, b = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    assert len(one.files) == len(two.files) == 10 and a == b
    assert calls[0] == (0, 10) and calls[-1] == (10, 10) and len(calls) == 11
    other = generate(tmp_path / "c", "tiny", seed=8, workers=1, part_bytes=200_000)
    c = tree_bytes(tmp_path / "c")
    assert a.keys() == c.keys() and all(a[k] != c[k] for k in a)
    assert other.bytes_written != one.bytes_written
    # many parts are still one consistent dataset
    dest = read_table(tmp_path / "b", "uservisits")["destURL"]
    assert dest.length() == 10_000
    assert pc.all(pc.is_in(dest, value_set=read_table(tmp_path / "b", "rankings")["pageURL"]))


def test_regeneration_replaces_stale_parts(tmp_path: Path) -> None:
    generate(tmp_path, "tiny", workers=1, part_bytes=200_000)
    assert len(list((tmp_path / "uservisits").iterdir())) == 9
    generate(tmp_path, "tiny", workers=1)
    assert [p.name for p in (tmp_path / "uservisits").iterdir()] == ["part-00000"]


def test_interrupted_part_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = amplab._uservisits_chunk
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(amplab, "_CHUNK_ROWS", 1_000)
    monkeypatch.setattr(amplab, "_uservisits_chunk", failing)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path, "tiny", workers=1)
    assert list((tmp_path / "uservisits").iterdir()) == []


def test_page_rank_selectivity_large_sample() -> None:
    ranks = sample_page_ranks(np.random.default_rng(0), 4_000_000)
    for threshold, expected in SELECTIVITY.items():
        assert (ranks > threshold).mean() == pytest.approx(expected, rel=0.25)


def test_selectivity_and_join_in_files(tmp_path: Path) -> None:
    stats = generate(tmp_path, "0.002", seed=1, workers=1)
    assert (stats.rankings_rows, stats.uservisits_rows) == (36_000, 310_000)
    con = duckdb.connect()
    r = f"read_csv('{tmp_path}/rankings/part-*', header=false, delim=',', quote='', columns="
    r += str(dict(AMPLAB_COLUMNS["rankings"])) + ")"
    u = f"read_csv('{tmp_path}/uservisits/part-*', header=false, delim=',', quote='', columns="
    u += "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in USERVISITS) + "})"
    n, distinct, gt100, gt10 = con.execute(
        f"select count(*), count(distinct pageURL), count_if(pageRank > 100), "
        f"count_if(pageRank > 10) from {r}"
    ).fetchone()
    assert n == distinct == 36_000
    assert gt100 / n == pytest.approx(SELECTIVITY[100], rel=0.25)
    assert gt10 / n == pytest.approx(SELECTIVITY[10], rel=0.25)
    visits, joined = con.execute(
        f"select count(*), count(r.pageURL) from {u} v left join {r} r on v.destURL = r.pageURL"
    ).fetchone()
    assert visits == joined == 310_000


def test_urls_unique_at_5nodes_width() -> None:
    n = SCALES["5nodes"][0]
    space = amplab._url_space(0, n)
    idx = np.concatenate([np.arange(250_000), np.arange(n - 250_000, n)])
    codes, tails = amplab._url_fields(space, idx)
    assert pc.count_distinct(codes).as_py() == len(idx)
    lengths = pc.add(pc.utf8_length(codes), pc.utf8_length(tails)).to_numpy() - 1  # tail has ','
    assert lengths.min() == 10 and lengths.max() == 100


@pytest.mark.parametrize(
    ("scale", "rows"),
    [
        ("tiny", (1_200, 10_000)),
        ("1node", (18_000_000, 155_000_000)),
        ("5nodes", (90_000_000, 775_000_000)),
        ("0.05", (900_000, 7_750_000)),
        ("1e-2", (180_000, 1_550_000)),
        (0.5, (9_000_000, 77_500_000)),
        ("2", (36_000_000, 310_000_000)),
    ],
)
def test_scale_rows(scale: str | float, rows: tuple[int, int]) -> None:
    assert scale_rows(scale) == rows


@pytest.mark.parametrize("scale", ["huge", "", "0", "-0.1", "nan", "inf", "1e-9", None, True])
def test_scale_rows_rejects(scale: object) -> None:
    with pytest.raises(UsageError, match="scale"):
        scale_rows(scale)  # type: ignore[arg-type]


def test_generate_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="scale"):
        generate(tmp_path, "big")
    with pytest.raises(UsageError, match="seed"):
        generate(tmp_path, "tiny", seed=-1)
