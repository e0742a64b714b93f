"""Two-level exchange: above 1,000 map tasks x 100 partitions a combine stage sits between the
map and its consumer, so a reducer reads about sqrt(M) objects; results equal DuckDB's whichever
exchange runs, and explain shows it."""

from __future__ import annotations

import pytest
from conftest import assert_same

import sqlmr
from sqlmr.api import QueryOptions, compile_query, resolve_catalog
from sqlmr.planning.exchange import TWO_LEVEL_THRESHOLD, combine_groups, two_level
from sqlmr.planning.explain import render_plan
from sqlmr.planning.plan import Plan, Stage

pytest_plugins = ["s3_server", "s3_proxy"]

QUERIES = [
    pytest.param(
        "SELECT SUBSTR(sourceIP, 1, 5), SUM(adRevenue), COUNT(*) FROM uservisits GROUP BY 1",
        False,
        id="aggregate",
    ),
    pytest.param(
        "SELECT countryCode, COUNT(DISTINCT languageCode), AVG(duration) FROM uservisits "
        "GROUP BY countryCode",
        False,
        id="distinct",
    ),
    pytest.param(
        "SELECT UV.sourceIP, SUM(R.pageRank), COUNT(*) FROM rankings AS R JOIN uservisits AS UV "
        "ON R.pageURL = UV.destURL GROUP BY UV.sourceIP",
        False,
        id="shuffle-join",
    ),
    pytest.param(
        "SELECT DISTINCT countryCode, languageCode FROM uservisits ORDER BY 1, 2 LIMIT 7",
        True,
        id="distinct-order-limit",
    ),
]


@pytest.mark.parametrize("reducers", [3, None], ids=["3-reducers", "packed"])
@pytest.mark.parametrize(("sql", "ordered"), QUERIES)
def test_two_level_equals_duckdb(amplab_dir, duck, sql, ordered, reducers):
    options = QueryOptions(
        workers=2,
        split_size="32KB",
        reducers=reducers,
        broadcast_threshold=0,
        exchange="two-level",
    )
    plan = compile_query(sql, resolve_catalog(amplab_dir), options)
    combines = [s for s in plan.stages if s.kind == "combine"]
    assert "two-level exchange: a reducer reads" in render_plan(plan)
    for combine in combines:
        (producer,) = [s for s in plan.stages if s.id == combine.source["stage"]]
        consumers = [s for s in plan.stages if combine.id in s.depends_on]
        assert consumers and all(producer.id not in s.depends_on for s in consumers)
    with sqlmr.run(plan, options) as result:
        table = result.read_all()
    assert_same(table, duck.execute(sql).fetchall(), ordered=ordered)


def _synthetic(maps: int, partitions: int) -> Plan:
    mapper = Stage(
        "map",
        "map",
        {"type": "scan"},
        (),
        {"type": "shuffle", "keys": ["k"], "partitions": partitions},
        tuple({"ranges": []} for _ in range(maps)),
    )
    reducer = Stage(
        "reduce",
        "reduce",
        {"type": "shuffle", "stage": "map"},
        (),
        {"type": "result"},
        tuple({"partition": p} for p in range(partitions)),
        ("map",),
    )
    return Plan("q", (), (mapper, reducer), ())


@pytest.mark.parametrize(
    ("maps", "partitions", "exchange", "combines"),
    [
        (1000, 100, "auto", 32),  # at the threshold: ceil(sqrt(1000)) combine tasks
        (999, 100, "auto", 0),
        (4000, 25, "auto", 64),
        (1000, 100, "direct", 0),
        (9, 2, "two-level", 3),
        (3, 2, "two-level", 0),  # too few map tasks to combine
    ],
)
def test_when_a_combine_stage_is_planned(maps, partitions, exchange, combines):
    assert TWO_LEVEL_THRESHOLD == 1000 * 100
    plan = two_level(_synthetic(maps, partitions), exchange, 64 << 20)
    found = [s for s in plan.stages if s.kind == "combine"]
    assert len(found) == (1 if combines else 0)
    if combines:
        assert [s.id for s in plan.stages] == ["map", "map_combine", "reduce"]
        assert len(found[0].tasks) == combines
        assert plan.stages[2].source["stage"] == "map_combine"
        assert plan.stages[2].depends_on == ("map_combine",)
        runs = [t["outputs"] for t in found[0].tasks]
        assert runs[0][0] == 0 and runs[-1][1] == maps
        assert all(a[1] == b[0] for a, b in zip(runs, runs[1:], strict=False))


def test_combine_groups_cover_every_output_once():
    for outputs in (1, 5, 31, 1000):
        for groups in (1, 3, 32, 2000):
            runs = combine_groups(outputs, groups)
            assert [i for lo, hi in runs for i in range(lo, hi)] == list(range(outputs))
            sizes = [hi - lo for lo, hi in runs]
            assert max(sizes) - min(sizes) <= 1


def test_reducers_read_sqrt_m_objects(s3_proxy, seaweed_s3, amplab_dir, duck):
    from pathlib import Path

    client = seaweed_s3.client()
    for path in sorted((Path(amplab_dir) / "uservisits").iterdir()):
        client.upload_file(str(path), seaweed_s3.bucket, f"exchange/uservisits/{path.name}")
    sql = "SELECT SUBSTR(sourceIP, 1, 6), SUM(adRevenue) FROM uservisits GROUP BY 1"
    options = QueryOptions(
        workers=2,
        split_size="64KB",
        reducers=4,
        exchange="two-level",
        job_store=seaweed_s3.url("jobs", "exchange"),
    )
    plan = compile_query(sql, resolve_catalog(seaweed_s3.url("exchange")), options)
    maps = len(plan.stages[0].tasks)
    mark = len(s3_proxy.log)
    with sqlmr.run(plan, options) as result:
        assert_same(result.read_all(), duck.execute(sql).fetchall(), ordered=False)
        stages = {s.id: s for s in result.stages}
    gets = [t for op, t, *_ in s3_proxy.log[mark:] if op == "GET" and "shuffle.bin" in t]
    combines = stages["map_combine"].tasks
    assert combines < maps
    # Each map output read once (by its combine task), each combine output once per reducer.
    assert len([t for t in gets if "/map/" in t]) == maps
    assert len([t for t in gets if "/map_combine/" in t]) == combines * stages["reduce"].tasks
