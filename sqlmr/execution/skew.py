"""The driver's part of a skew-aware shuffle join (see sqlmr/planning/skew.py).

Once both sides' map outputs are committed, the driver knows every partition's bytes exactly.
A partition over the stage's `split_bytes` becomes several tasks: the larger side that may be
split has its map outputs (one part each) cut into consecutive groups, and every group is joined
with the other side's whole partition. A part is one map task's share of the partition, bounded
by that task's split, so a group can always be made small; only the replicated side is read in
full by every task. When a key is hot on both sides, neither side is small: both are cut into
groups and every pair of groups is a task. An outer join never replicates a side it preserves
(its unmatched rows would be emitted once per task): then the pairs are joined as an inner join
and the preserved side's unmatched rows are found by tasks of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmr.planning.plan import Stage
from sqlmr.planning.skew import PRESERVED


@dataclass(frozen=True)
class Split:
    """A join partition run as several tasks: each side's map outputs in groups (1: the side
    is replicated, read whole by every task), one task per pair of groups."""

    partition: int
    groups: dict[str, int]  # per side
    sizes: dict[str, int]  # bytes per side
    hot_keys: tuple[tuple[str, int], ...] = ()  # (key, estimated rows) from the map samples
    unmatched: tuple[str, ...] = ()  # preserved sides whose unmatched rows have own tasks

    def describe(self) -> str:
        """One line for --stats and the trace."""
        keys = ", ".join(f"'{key}' (~{rows:,} rows)" for key, rows in self.hot_keys[:3])
        hot = f", hot key {keys}" if keys else ""
        sides = [s for s in ("left", "right") if self.groups[s] > 1]
        mb = {s: f"{self.sizes[s] / 1e6:,.1f} MB" for s in ("left", "right")}
        alone = "".join(
            f", and {self.groups[s]} task(s) for the {s} side's unmatched rows"
            for s in self.unmatched
        )
        if len(sides) == 2:
            return (
                f"partition {self.partition}: left side ({mb['left']}{hot}) split into "
                f"{self.groups['left']} groups x right side ({mb['right']}) into "
                f"{self.groups['right']}: a task per pair{alone}"
            )
        side = sides[0]
        other = "right" if side == "left" else "left"
        return (
            f"partition {self.partition}: {side} side ({mb[side]}{hot}) split into "
            f"{self.groups[side]} tasks, {other} side ({mb[other]}) read by each{alone}"
        )


def _bytes(side_input: dict[str, Any]) -> int:
    return sum(part["length"] for part in side_input["parts"])


def _groups(parts: list[dict[str, Any]], limit: int) -> list[list[dict[str, Any]]]:
    """Consecutive parts in groups of at most `limit` bytes (a bigger part is a group alone)."""
    groups: list[list[dict[str, Any]]] = []
    size = 0
    for part in parts:
        if not groups or size + part["length"] > limit:
            groups.append([])
            size = 0
        groups[-1].append(part)
        size += part["length"]
    return groups


def _hot_keys(summaries: list[dict[str, Any]], partition: int) -> tuple[tuple[str, int], ...]:
    """The keys the map tasks sampled as hot in a partition, most rows first."""
    rows: dict[str, int] = {}
    for summary in summaries:
        for hot in summary.get("hot_keys", ()):
            if hot["partition"] == partition:
                rows[hot["key"]] = rows.get(hot["key"], 0) + hot["rows"]
    return tuple(sorted(rows.items(), key=lambda item: -item[1]))


def _other(side: str) -> str:
    return "right" if side == "left" else "left"


def _grid(
    inp: dict[str, Any], sizes: dict[str, int], preserved: tuple[str, ...], limit: int
) -> tuple[dict[str, list[list[dict[str, Any]]]], bool]:
    """Each side's parts in groups for one partition over the limit, and whether the
    preserved sides' unmatched rows need tasks of their own.

    One big side whose other side is small and not preserved: the big side is cut and the
    other replicated (it takes its share of each task; the cut side the rest, at least a
    quarter of the limit, so that a big replicated side does not make one task per part);
    the join keeps its kind. Both sides big: both are cut at half the limit, a task per pair
    of groups, and each pair of rows with equal keys still meets in exactly one task. When a
    preserved side would be replicated (the big side is an outer join's other side, or both
    are big), the pairs are joined as an inner join and each group of a preserved side gets
    one more task: its rows that match no row of the other side, read one part at a time."""
    big = [s for s in ("left", "right") if sizes[s] > limit // 2]
    if len(big) == 2:
        groups = {s: _groups(inp[s]["parts"], limit // 2) for s in ("left", "right")}
        return groups, bool(preserved)
    side = max(("left", "right"), key=lambda s: sizes[s])
    other = _other(side)
    cut = _groups(inp[side]["parts"], max(limit - sizes[other], limit // 4))
    return {side: cut, other: [inp[other]["parts"]]}, other in preserved


def _tasks(
    inp: dict[str, Any], grid: dict[str, list], preserved: tuple[str, ...], unmatched: bool
) -> list[dict[str, Any]]:
    """The task inputs of a split partition: a task per pair of groups (matched pairs only
    when unmatched rows get their own tasks), then those."""
    mode = {"rows": "matched"} if unmatched else {}
    tasks = [
        {"left": {"parts": left}, "right": {"parts": right}, **mode}
        for left in grid["left"]
        for right in grid["right"]
    ]
    for side in preserved if unmatched else ():
        other = _other(side)
        tasks += [
            {side: {"parts": group}, other: inp[other], "rows": f"{side}_unmatched"}
            for group in grid[side]
        ]
    return tasks


def split_skewed(
    stage: Stage, inputs: list[dict[str, Any]], committed: dict[str, list[dict[str, Any]]]
) -> tuple[list[dict], list[Split]]:
    """The join stage's task inputs with every partition over `split_bytes` split, and what was
    split (with the hot keys its map tasks sampled). Other stages' inputs are returned as they
    are."""
    limit = stage.split_bytes
    if not limit:
        return inputs, []
    preserved = PRESERVED[stage.source.get("how", "inner")]
    out: list[dict[str, Any]] = []
    splits: list[Split] = []
    for task, inp in zip(stage.tasks, inputs, strict=True):
        sizes = {side: _bytes(inp[side]) for side in ("left", "right")}
        grid, unmatched = _grid(inp, sizes, preserved, limit)
        if sizes["left"] + sizes["right"] <= limit or len(grid["left"]) * len(grid["right"]) < 2:
            out.append(inp)
            continue
        out += _tasks(inp, grid, preserved, unmatched)
        partition = task["left"]["partition"]
        # The cut sides' samples name the hot keys.
        cut = [s for s in ("left", "right") if len(grid[s]) > 1]
        upstream = [r for s in cut for r in committed[stage.source[s]["source"]["stage"]]]
        groups = {s: len(grid[s]) for s in ("left", "right")}
        alone = preserved if unmatched else ()
        splits.append(Split(partition, groups, sizes, _hot_keys(upstream, partition), alone))
    return out, splits
