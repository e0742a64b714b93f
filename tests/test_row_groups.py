"""Parquet tasks: row groups packed into whole waves of about equal bytes, each group read once,
in order, and no task much over the input cap."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sqlmr.catalog.listing import Listed
from sqlmr.planning.row_groups import Group, pack_waves

MB = 1 << 20


def _groups(sizes: list[int], per_object: int = 3) -> tuple[Group, ...]:
    out = []
    for i, size in enumerate(sizes):
        obj = Listed(f"/data/part-{i // per_object}.parquet", 10 * MB)
        out.append(Group(obj, i % per_object, 4, 5, size, size, size, 100))
    return tuple(out)


def _read(tasks: list[list[dict]]) -> list[tuple[str, int]]:
    return [(r["url"], g) for task in tasks for r in task for g in r["row_groups"]]


def test_small_scan_is_one_task_per_worker():
    tasks = pack_waves(_groups([8 * MB] * 7), workers=2, cap=64 * MB)
    assert len(tasks) == 2
    assert sorted(len(_read([t])) for t in tasks) == [3, 4]


def test_large_scan_fills_whole_waves_under_the_cap():
    tasks = pack_waves(_groups([8 * MB] * 60), workers=2, cap=64 * MB)
    assert len(tasks) == 8  # 480 MB / 64 MB = 7.5 → 8, a multiple of 2 workers
    assert all(sum(1 for _ in _read([t])) * 8 * MB <= 64 * MB for t in tasks)


@given(
    st.lists(st.integers(1, 80 * MB), min_size=1, max_size=40),
    st.integers(1, 16),
    st.sampled_from([16 * MB, 64 * MB]),
)
def test_every_group_is_read_once_in_order(sizes, workers, cap):
    groups = _groups(sizes)
    tasks = pack_waves(groups, workers, cap)
    assert _read(tasks) == [(g.obj.url, g.index) for g in groups]
    assert len(tasks) <= max(workers, len(groups))
    size = {(g.obj.url, g.index): g.read_raw for g in groups}
    for task in tasks:
        # A task reads about its even share (at most the cap, or one group when groups are
        # larger), plus a group that straddles the share's end.
        assert sum(size[k] for k in _read([task])) <= max(cap, max(sizes)) + max(sizes)


def test_each_footer_is_read_once_per_query(tmp_path, monkeypatch):
    """A table without a catalog entry takes its schema from its first object's footer;
    planning uses that footer instead of reading it again (on S3, one GET less per table)."""
    import collections

    import pyarrow as pa
    import pyarrow.parquet as pq
    import sqlmr_runtime.scan_parquet as scan_parquet

    from sqlmr.api import QueryOptions, compile_query, resolve_catalog

    folder = tmp_path / "events"
    folder.mkdir()
    for i in range(3):
        pq.write_table(pa.table({"k": list(range(i * 10, i * 10 + 10))}), folder / f"{i}.parquet")
    opened = collections.Counter()
    real = scan_parquet.open_parquet

    def counting(url, *args, **kwargs):
        opened[url] += 1
        return real(url, *args, **kwargs)

    monkeypatch.setattr(scan_parquet, "open_parquet", counting)
    plan = compile_query(
        "SELECT COUNT(*) FROM events WHERE k > 3", resolve_catalog(str(tmp_path)), QueryOptions()
    )
    assert plan.stages and sorted(opened.values()) == [1, 1, 1], opened
