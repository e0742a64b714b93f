"""How many Lambda invocations run at once: capped by what the account and the function allow,
halved when Lambda throttles, grown again as invocations succeed (AIMD, as TCP does).

A throttled invocation (429 TooManyRequestsException) did not run; it is retried for as long as
the job is making progress (some invocation finished within `stall_seconds`), so a job never
fails from throttling alone while it moves.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

DECREASE_EVERY = 1.0  # seconds: one burst of 429s halves the limit once, not once per request


def concurrency_cap(client: Any, function_name: str) -> int | None:
    """The most invocations of the function that can run at once: its reserved concurrency if it
    has one, else the account's unreserved concurrency (GetAccountSettings). None if neither
    can be read (e.g. the caller may not call them): then the requested concurrency stands."""
    try:
        reserved = client.get_function_concurrency(FunctionName=function_name).get(
            "ReservedConcurrentExecutions"
        )
        if reserved is not None:
            return int(reserved)
    except Exception as e:  # noqa: BLE001 - a cap is an optimisation; throttling still adapts
        log.debug("GetFunctionConcurrency: %s", e)
    try:
        limits = client.get_account_settings()["AccountLimit"]
        return int(limits["UnreservedConcurrentExecutions"])
    except Exception as e:  # noqa: BLE001
        log.debug("GetAccountSettings: %s", e)
    return None


class AdaptiveLimit:
    """A limit on invocations in flight that adapts to throttling."""

    def __init__(self, limit: int, stall_seconds: float = 300.0):
        self.ceiling = max(1, int(limit))
        self.limit = float(self.ceiling)
        self.stall_seconds = stall_seconds
        self.running = 0
        self.lowest = self.ceiling  # the lowest limit reached, for reports and tests
        # Since when invocations have been throttled with none finishing (None: not stalled).
        # Not since the executor was made: one idle longer than stall_seconds (made before a
        # slow plan, or kept between queries) would fail a task at its first 429.
        self._throttled_since: float | None = None
        self._last_decrease = 0.0
        self._cond = threading.Condition()

    def acquire(self) -> None:
        """Wait for a free slot under the current limit."""
        with self._cond:
            while self.running >= int(self.limit):
                self._cond.wait(1.0)
            self.running += 1

    def release(self, throttled: bool) -> None:
        """Free the slot; a throttled invocation shrinks the limit, a finished one grows it."""
        now = time.monotonic()
        with self._cond:
            self.running -= 1
            if throttled:
                if self._throttled_since is None:
                    self._throttled_since = now
                if now - self._last_decrease >= DECREASE_EVERY:
                    self.limit = max(1.0, self.limit / 2)
                    self.lowest = min(self.lowest, int(self.limit))
                    self._last_decrease = now
            else:
                self._throttled_since = None
                self.limit = min(float(self.ceiling), self.limit + 1.0 / self.limit)
            self._cond.notify_all()

    def stalled(self) -> bool:
        """True when invocations have been throttled for stall_seconds with none finishing:
        throttling is all there is."""
        with self._cond:
            since = self._throttled_since
            return since is not None and time.monotonic() - since > self.stall_seconds
