"""The local executor: a pool of worker processes, each running the Lambda handler.

Workers come from a forkserver that has already imported pyarrow and the runtime, so starting
them is cheap and no worker inherits the driver's threads. Pools are kept per size for the life
of the process, so repeated queries (the Python API, tests) do not pay for start-up again.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
from concurrent.futures import Future, InvalidStateError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .base import Outcome, error_outcome

_POOLS: dict[int, ProcessPoolExecutor] = {}
_LOCK = threading.Lock()


def invoke(event: dict[str, Any]) -> Outcome:
    """Run one task in this process, catching its failure as Lambda would."""
    from sqlmr_runtime.handler import lambda_handler

    try:
        return {"result": lambda_handler(event, None)}
    except Exception as e:  # a task failure is data for the driver, not a crash of the worker
        return error_outcome(e)


def _pool(workers: int) -> ProcessPoolExecutor:
    with _LOCK:
        pool = _POOLS.get(workers)
        if pool is None or getattr(pool, "_broken", False):
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["pyarrow", "pyarrow.csv", "sqlmr_runtime.handler"])
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
            _POOLS[workers] = pool
        return pool


@atexit.register
def _shutdown() -> None:
    for pool in _POOLS.values():
        pool.shutdown(wait=False, cancel_futures=True)
    _POOLS.clear()


class LocalExecutor:
    """Runs tasks in local worker processes."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1

    def submit(self, event: dict[str, Any]) -> Future[Outcome]:
        outer: Future[Outcome] = Future()
        try:
            inner = _pool(self.workers).submit(invoke, event)
        except (BrokenProcessPool, RuntimeError) as e:
            outer.set_result(error_outcome(e, "WorkerDied"))
            return outer

        def done(f: Future[Outcome]) -> None:
            if outer.cancelled():  # the driver gave up on this task already
                return
            try:
                outcome = f.result()
            except BrokenProcessPool as e:
                # The OS killed a worker (out of memory, a signal): the task may be retried.
                outcome = error_outcome(e, "WorkerDied")
            except BaseException as e:  # noqa: BLE001 - every failure becomes an outcome
                outcome = error_outcome(e)
            try:
                outer.set_result(outcome)
            except InvalidStateError:
                pass  # cancelled between the check and here

        inner.add_done_callback(done)
        return outer

    def close(self) -> None:
        """Pools are shared for the life of the process; nothing to release per query."""
