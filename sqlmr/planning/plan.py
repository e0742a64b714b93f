"""The physical plan: stages of tasks, serialised to the JSON that sqlmr_runtime validates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmr_runtime import PLAN_VERSION
from sqlmr_runtime.spec import STAGE_KINDS

from sqlmr.errors import PlanError


@dataclass(frozen=True)
class Stage:
    """A set of identical tasks over different inputs: map, reduce or merge."""

    id: str
    kind: str  # one of sqlmr_runtime.spec.STAGE_KINDS
    source: dict[str, Any]
    ops: tuple[dict[str, Any], ...]
    sink: dict[str, Any]
    tasks: tuple[dict[str, Any], ...]
    depends_on: tuple[str, ...] = ()
    # For a stage reading shuffle partitions: the driver packs consecutive partitions into one
    # task up to this many bytes, once the map outputs' sizes are known.
    coalesce_bytes: int | None = None
    # For a shuffle join: a partition over this many bytes is split over several tasks at run
    # time (a hot key), see sqlmr/planning/skew.py.
    split_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in STAGE_KINDS:
            raise PlanError(
                f"stage {self.id}: unknown kind {self.kind!r}; declare it in "
                f"sqlmr_runtime.spec.STAGE_KINDS (now {', '.join(STAGE_KINDS)})"
            )

    def definition(self) -> dict[str, Any]:
        """The stage as a task event carries it: everything but the task list."""
        return {
            "id": self.id,
            "kind": self.kind,
            "source": self.source,
            "ops": list(self.ops),
            "sink": self.sink,
        }

    def to_json(self) -> dict[str, Any]:
        doc = {**self.definition(), "depends_on": list(self.depends_on), "tasks": list(self.tasks)}
        if self.coalesce_bytes is not None:
            doc["coalesce_bytes"] = self.coalesce_bytes
        if self.split_bytes is not None:
            doc["split_bytes"] = self.split_bytes
        return doc


@dataclass(frozen=True)
class InputStage:
    """Where a query's rows come from: the stages that run first, and the stage that reads their
    outputs (or the table) before it has a sink: its id, kind, source, tasks and first ops."""

    earlier: tuple[Stage, ...]
    id: str
    kind: str
    source: dict[str, Any]
    tasks: tuple[dict[str, Any], ...]
    ops: tuple[dict[str, Any], ...]
    depends_on: tuple[str, ...] = ()

    def close(self, ops: Sequence[dict[str, Any]], sink: dict[str, Any]) -> Stage:
        """The stage with these ops (they replace `self.ops`: pass those first) and sink."""
        return Stage(
            self.id,
            self.kind,
            self.source,
            tuple(ops),
            sink,
            self.tasks,
            self.depends_on,
        )


@dataclass(frozen=True)
class Plan:
    """A query's stages in dependency order, and the result columns (name, type)."""

    query: str
    columns: tuple[tuple[str, str], ...]
    stages: tuple[Stage, ...]
    internal: tuple[str, ...]  # the final stage's column names, renamed to `columns` at the end
    version: int = PLAN_VERSION
    # Per table read: what listing and splitting skipped or warn about (for explain only).
    inputs: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "query": self.query,
            "columns": [
                {"name": n, "type": t, "internal": i}
                for (n, t), i in zip(self.columns, self.internal, strict=True)
            ],
            "stages": [s.to_json() for s in self.stages],
        } | ({"inputs": {t: list(n) for t, n in self.inputs}} if self.inputs else {})
