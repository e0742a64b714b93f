"""A compressed object (one unsplittable range) is parsed in batches with the stage's leading
operators applied to each, so a task's memory is bounded by its budget, not by the object."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import processes
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmr_runtime import build, operators
from sqlmr_runtime.batched import apply_in_pieces, split_ops

ROWS = 1_200_000  # about 140 MB of text, 8 MB gzipped


def _uservisits_text(rows: int) -> bytes:
    """Amplab uservisits rows (no quoting), built by Arrow kernels."""
    i = pa.array(range(rows), pa.int64())
    text = pc.cast(i, pa.string())
    country = pc.binary_join_element_wise("C", pc.cast(pc.bit_wise_and(i, 15), pa.string()), "")
    fields = [
        pc.binary_join_element_wise("10.", text, ""),  # sourceIP
        pc.binary_join_element_wise("http://example.com/page/", text, "/index.html", ""),
        pa.repeat(pa.scalar("1990-06-01"), rows),  # visitDate
        pc.cast(pc.divide(pc.cast(pc.bit_wise_and(i, 1023), pa.float64()), 7.0), pa.string()),
        pa.repeat(pa.scalar("Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/99"), rows),
        country,
        pa.repeat(pa.scalar("en"), rows),
        pa.repeat(pa.scalar("search"), rows),
        pc.cast(pc.bit_wise_and(i, 31), pa.string()),  # duration
    ]
    lines = pc.binary_join_element_wise(*fields, ",")
    return ("\n".join(lines.to_pylist()) + "\n").encode()


def test_a_gzip_object_larger_than_the_task_budget_is_read_in_batches(tmp_path: Path) -> None:
    # Before, the object's parsed columns were held whole: ~140 MB of text, of which the query
    # reads ~100 MB of columns, failed "out of task memory" at a 160 MB budget (peak RSS 267 MB;
    # 155 MB in batches). Run as a user runs it, in a fresh process.
    folder = tmp_path / "uservisits"
    folder.mkdir()
    text = _uservisits_text(ROWS)
    assert len(text) > 128 << 20
    (folder / "part-00000.gz").write_bytes(gzip.compress(text, compresslevel=1))
    del text
    sql = (
        "SELECT countryCode, COUNT(*) AS n, SUM(adRevenue) AS revenue, MAX(destURL) AS top, "
        "MIN(sourceIP) AS low FROM uservisits WHERE duration > 3 GROUP BY countryCode "
        "ORDER BY countryCode"
    )
    argv = ["query", sql, "--tables", str(tmp_path), "--workers", "1", "--task-memory", "160MB"]
    argv += ["--format", "csv", "--job-store", str(tmp_path / "jobs")]
    code, out, err = processes.finish(processes.start(argv), timeout=300)
    assert code == 0, err
    con = duckdb.connect()
    expected = con.execute(
        "SELECT column5, COUNT(*), SUM(column3), MAX(column1), MIN(column0) FROM read_csv("
        f"'{folder}/part-00000.gz', header=false, quote='', columns={_COLUMNS}) "
        "WHERE column8 > 3 GROUP BY column5 ORDER BY column5"
    ).fetchall()
    rows = [line.split(",") for line in out.splitlines()[1:]]
    assert [r[:2] + r[3:] for r in rows] == [[c, str(n), t, lo] for c, n, _, t, lo in expected]
    for r, (_, _, revenue, _, _) in zip(rows, expected, strict=True):
        assert float(r[2]) == pytest.approx(revenue, rel=1e-9)


_COLUMNS = (
    "{'column0': 'VARCHAR', 'column1': 'VARCHAR', 'column2': 'DATE', 'column3': 'DOUBLE', "
    "'column4': 'VARCHAR', 'column5': 'VARCHAR', 'column6': 'VARCHAR', 'column7': 'VARCHAR', "
    "'column8': 'INTEGER'}"
)

_OPS = [
    build.op("filter", predicate=build.fn("gt", build.col("v"), build.lit(2, "int64"))),
    build.op(
        "project",
        columns=[
            build.record("named_expr", name="k", expr=build.col("k")),
            build.record("named_expr", name="v", expr=build.col("v")),
        ],
    ),
    build.op(
        "aggregate",
        keys=["k"],
        aggregates=[
            build.aggregate("s", "sum", "v"),
            build.aggregate("c", "count", "v"),
            build.aggregate("a", "count_all"),
            build.aggregate("lo", "min", "v"),
            build.aggregate("hi", "max", "v"),
        ],
        phase="partial",
    ),
]
_FINAL = build.op(
    "aggregate",
    keys=["k"],
    aggregates=[
        build.aggregate("s", "sum", "s"),
        build.aggregate("c", "sum0", "c"),
        build.aggregate("a", "sum0", "a"),
        build.aggregate("lo", "min", "lo"),
        build.aggregate("hi", "max", "hi"),
    ],
    phase="final",
)


def _sorted(table: pa.Table) -> list[dict]:
    return table.sort_by("k").to_pylist()


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 9), st.one_of(st.none(), st.integers(-5, 50))), max_size=300),
    st.integers(1, 60),
    st.sampled_from([1, 200, 1 << 20]),
)
def test_pieces_give_the_answer_of_the_whole_input(rows, piece, compact) -> None:
    # Whatever the piece size and however often the partials are merged again, the reducer's
    # final aggregate over them equals the one over the whole input's partials.
    table = pa.table({"k": [k for k, _ in rows], "v": pa.array([v for _, v in rows], pa.int64())})
    pieces = [(table.slice(i, piece), 1) for i in range(0, table.num_rows, piece)]
    out, n_rows, n_bytes, rest = apply_in_pieces(_OPS, pieces, table.slice(0, 0), compact)
    assert (n_rows, n_bytes, rest) == (len(rows), len(pieces), [])
    whole = operators.apply(_OPS, table)
    assert _sorted(operators.apply([_FINAL], out)) == _sorted(operators.apply([_FINAL], whole))


def test_only_row_wise_operators_and_a_partial_aggregate_run_per_piece() -> None:
    sort = build.op("sort", keys=[build.record("sort_key", column="k")])
    assert split_ops([*_OPS, sort]) == (_OPS, [sort])
    final_first = [_OPS[0], _FINAL, _OPS[1]]
    assert split_ops(final_first) == ([_OPS[0]], [_FINAL, _OPS[1]])
