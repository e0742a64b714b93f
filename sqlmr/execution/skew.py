"""The driver's part of a skew-aware shuffle join (see sqlmr/planning/skew.py).

Once both sides' map outputs are committed, the driver knows every partition's bytes exactly.
A partition over the stage's `split_bytes` becomes several tasks: the larger side that may be
split has its map outputs (one part each) cut into consecutive groups, and every group is joined
with the other side's whole partition. A part is one map task's share of the partition, bounded
by that task's split, so a group can always be made small; only the replicated side is read in
full by every task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmr.planning.plan import Stage
from sqlmr.planning.skew import SPLITTABLE_SIDES


@dataclass(frozen=True)
class Split:
    """A join partition run as several tasks."""

    partition: int
    side: str  # the side whose map outputs were spread over the tasks
    tasks: int
    side_bytes: int
    replicated_bytes: int  # the other side's partition, read by each of the tasks
    hot_keys: tuple[tuple[str, int], ...] = ()  # (key, estimated rows) from the map samples

    def describe(self) -> str:
        """One line for --stats and the trace."""
        other = "right" if self.side == "left" else "left"
        keys = ", ".join(f"'{key}' (~{rows:,} rows)" for key, rows in self.hot_keys[:3])
        return (
            f"partition {self.partition}: {self.side} side ({self.side_bytes / 1e6:,.1f} MB"
            f"{', hot key ' + keys if keys else ''}) split into {self.tasks} tasks, {other} "
            f"side ({self.replicated_bytes / 1e6:,.1f} MB) read by each"
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
        side = max(sides, key=lambda s: sizes[s])
        other = "right" if side == "left" else "left"
        # The replicated side takes its share of each task; the split side gets the rest, and at
        # least a quarter of the limit so that a big replicated side does not make one task per
        # part.
        groups = _groups(inp[side]["parts"], max(limit - sizes[other], limit // 4))
        if len(groups) < 2:
            out.append(inp)
            continue
        out += [{side: {"parts": group}, other: inp[other]} for group in groups]
        partition = task[side]["partition"]
        hot = _hot_keys(committed[stage.source[side]["source"]["stage"]], partition)
        splits.append(Split(partition, side, len(groups), sizes[side], sizes[other], hot))
    return out, splits
