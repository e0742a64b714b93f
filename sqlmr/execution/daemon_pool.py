"""A thread pool whose threads never hold the process at exit (the Lambda executor's invokers).

concurrent.futures joins its worker threads at exit: a driver that gave up on a running Lambda
invocation (a second Ctrl-C ends its bounded wait) would stay until Lambda answers, up to the
function's 15 minutes. The invocations of a cancelled job need no answer (its heartbeat is
gone, so a late task writes nothing), so these threads are daemons.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from concurrent.futures import Future
from typing import Any


class DaemonPool:
    """Runs submitted calls on up to `workers` daemon threads, started as calls arrive."""

    def __init__(self, workers: int, name: str):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._workers, self._name = workers, name
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, fn: Any, *args: Any) -> Future:
        """Run fn(*args) on a pool thread; the future resolves to its result."""
        future: Future = Future()
        self._queue.put((future, fn, args))
        with self._lock:
            if len(self._threads) < self._workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001 - the future carries it to the driver
                future.set_exception(e)

    def shutdown(self) -> None:
        """Cancel what has not started; running invocations end on their own."""
        with contextlib.suppress(queue.Empty):
            while True:
                item = self._queue.get_nowait()
                if item is not None:
                    item[0].cancel()
        for _ in self._threads:
            self._queue.put(None)
