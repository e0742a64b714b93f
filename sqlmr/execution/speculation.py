"""Speculative attempts: when a task runs far longer than its stage's others, a second attempt
of it starts, and whichever attempt finishes first wins (attempts write to their own keys)."""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass


@dataclass(frozen=True)
class Speculation:
    """When a running task gets a speculative second attempt: once it has run `factor` times
    its stage's median task time and at least `min_seconds`, and half the stage is done."""

    factor: float = 3.0
    min_seconds: float = 5.0


class Stragglers:
    """Finds a stage's stragglers: tasks running much longer than the stage's median."""

    def __init__(self, rule: Speculation, tasks: int):
        self.rule, self.tasks = rule, tasks
        self.running_since: dict[Future, float] = {}
        self.speculated: set[int] = set()
        self.highest: dict[int, int] = {}

    def next_attempt(self, task: int, attempt: int) -> int:
        """A new attempt number for a task (attempts write to their own keys)."""
        self.highest[task] = max(self.highest.get(task, 0), attempt) + 1
        return self.highest[task]

    def stragglers(self, pending: dict, winners: dict, seconds: list[float]):
        """(task, attempt) of each task to start a speculative attempt of now."""
        now = time.monotonic()
        for future in pending:
            if future.running():
                self.running_since.setdefault(future, now)
        if not seconds or len(winners) * 2 < self.tasks:
            return []
        median = sorted(seconds)[len(seconds) // 2]
        limit = max(self.rule.factor * median, self.rule.min_seconds)
        found = []
        attempts = [task for task, _ in pending.values()]
        for future, (task, attempt) in list(pending.items()):
            since = self.running_since.get(future)
            if task in self.speculated or task in winners or attempts.count(task) > 1:
                continue
            if since is not None and now - since > limit:
                self.speculated.add(task)
                found.append((task, self.next_attempt(task, attempt)))
        return found
