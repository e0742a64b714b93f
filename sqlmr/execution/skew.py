"""The driver's part of a skew-aware shuffle join (see sqlmr/planning/skew.py).

Once both sides' map outputs are committed, the driver knows every partition's bytes exactly.
A partition over the stage's `split_bytes` becomes several tasks: the larger side that may be
split has its map outputs (one part each) cut into consecutive groups, and every group is joined
with the other side's whole partition. A part is one map task's share of the partition, bounded
by that task's split, so a group can always be made small; only the replicated side is read in
full by every task. When a key is hot on both sides of an inner join, neither side is small:
both are cut into groups and every pair of groups is a task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmr.planning.plan import Stage
from sqlmr.planning.skew import SPLITTABLE_SIDES


@dataclass(frozen=True)
class Split:
    """A join partition run as several tasks: each side's map outputs in groups (1: the side
    is replicated, read whole by every task), one task per pair of groups."""

    partition: int
    groups: dict[str, int]  # per side
    sizes: dict[str, int]  # bytes per side
    hot_keys: tuple[tuple[str, int], ...] = ()  # (key, estimated rows) from the map samples

    def describe(self) -> str:
        """One line for --stats and the trace."""
        keys = ", ".join(f"'{key}' (~{rows:,} rows)" for key, rows in self.hot_keys[:3])
        hot = f", hot key {keys}" if keys else ""
        sides = [s for s in ("left", "right") if self.groups[s] > 1]
        mb = {s: f"{self.sizes[s] / 1e6:,.1f} MB" for s in ("left", "right")}
        if len(sides) == 2:
            return (
                f"partition {self.partition}: left side ({mb['left']}{hot}) split into "
                f"{self.groups['left']} groups x right side ({mb['right']}) into "
                f"{self.groups['right']}: a task per pair"
            )
        side = sides[0]
        other = "right" if side == "left" else "left"
        return (
            f"partition {self.partition}: {side} side ({mb[side]}{hot}) split into "
            f"{self.groups[side]} tasks, {other} side ({mb[other]}) read by each"
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


def _grid(
    inp: dict[str, Any], sizes: dict[str, int], sides: tuple[str, ...], limit: int
) -> dict[str, list[list[dict[str, Any]]]]:
    """Each side's parts in groups for one partition over the limit.

    One side splittable, or the other small: the larger splittable side is cut, the other
    replicated (it takes its share of each task; the split side the rest, at least a quarter
    of the limit, so that a big replicated side does not make one task per part). An inner
    join with both sides over half the limit (a key hot on both sides) cuts both, a task per
    pair of groups: each pair of rows with equal keys still meets in exactly one task. Nothing
    is cut when only the side that must be replicated is big."""
    if len(sides) == 2 and min(sizes.values()) > limit // 2:
        return {side: _groups(inp[side]["parts"], limit // 2) for side in sides}
    side = max(sides, key=lambda s: sizes[s])
    other = "right" if side == "left" else "left"
    if sizes[side] <= limit // 2:
        # What is too big is the side that must be replicated (an outer join's non-preserved
        # side): cutting the small one would only read the big one once per task.
        return {side: [inp[side]["parts"]], other: [inp[other]["parts"]]}
    return {
        side: _groups(inp[side]["parts"], max(limit - sizes[other], limit // 4)),
        other: [inp[other]["parts"]],
    }


def split_skewed(
    stage: Stage, inputs: list[dict[str, Any]], committed: dict[str, list[dict[str, Any]]]
) -> tuple[list[dict], list[Split]]:
    """The join stage's task inputs with every partition over `split_bytes` split, and what was
    split (with the hot keys its map tasks sampled). Other stages' inputs are returned as they
    are."""
    limit = stage.split_bytes
    if not limit:
        return inputs, []
    sides = SPLITTABLE_SIDES[stage.source.get("how", "inner")]
    out: list[dict[str, Any]] = []
    splits: list[Split] = []
    for task, inp in zip(stage.tasks, inputs, strict=True):
        sizes = {side: _bytes(inp[side]) for side in ("left", "right")}
        if sizes["left"] + sizes["right"] <= limit or not sides:
            out.append(inp)
            continue
        grid = _grid(inp, sizes, sides, limit)
        if len(grid["left"]) * len(grid["right"]) < 2:
            out.append(inp)
            continue
        out += [
            {"left": {"parts": left}, "right": {"parts": right}}
            for left in grid["left"]
            for right in grid["right"]
        ]
        partition = task["left"]["partition"]
        # The split side's samples name the hot keys (either side's, when both are split).
        split = [s for s in ("left", "right") if len(grid[s]) > 1]
        upstream = [r for s in split for r in committed[stage.source[s]["source"]["stage"]]]
        hot = _hot_keys(upstream, partition)
        groups = {s: len(grid[s]) for s in ("left", "right")}
        splits.append(Split(partition, groups, sizes, hot))
    return out, splits
