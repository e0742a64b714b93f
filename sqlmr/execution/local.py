"""The local executor: a pool of worker processes, each running the Lambda handler.

Workers are forked, all at once, when the pool is created: that costs milliseconds where a
spawned or forkserver worker re-imports pyarrow, and, unlike those, it never re-runs the
caller's main module (so `python - <<EOF` scripts and unguarded scripts work). The pool is
created before the driver starts any thread of its own (progress bars), and Arrow and jemalloc
reinitialise their thread pools after a fork. Pools are kept per size for the life of the
process, so repeated queries (the Python API, tests) do not pay for start-up again.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
from concurrent.futures import Future, InvalidStateError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sqlmr.execution.executor import Outcome, error_outcome

_POOLS: dict[tuple, ProcessPoolExecutor] = {}
_LOCK = threading.Lock()


def invoke(event: dict[str, Any]) -> Outcome:
    """Run one task in this process, catching its failure as Lambda would."""
    from sqlmr_runtime.handler import lambda_handler

    try:
        return {"result": lambda_handler(event, None)}
    except Exception as e:  # a task failure is data for the driver, not a crash of the worker
        return error_outcome(e)


def _pool_key(workers: int) -> tuple:
    # Workers inherit the environment when they fork: a pool made before an endpoint or
    # credential variable changed must not serve tasks after the change.
    aws = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
    return (workers, aws)


def _pool(workers: int) -> ProcessPoolExecutor:
    key = _pool_key(workers)
    with _LOCK:
        pool = _POOLS.get(key)
        if pool is None or getattr(pool, "_broken", False):
            import sqlmr_runtime.handler  # noqa: F401 - imported once here, inherited by every worker

            for stale in [k for k in _POOLS if k[0] == workers]:
                _POOLS.pop(stale).shutdown(wait=False)  # made under an older environment

            pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("fork")
            )
            pool.submit(int).result()  # a fork pool starts all its workers on the first task
            _POOLS[key] = pool
        return pool


@atexit.register
def _shutdown() -> None:
    for pool in _POOLS.values():
        pool.shutdown(wait=False, cancel_futures=True)
    _POOLS.clear()


class _Linked(Future):
    """The outcome of a pool task: cancelling it cancels the task if it has not started, and
    fails (returns False) while it runs, so that a caller knows to wait for it."""

    inner: Future | None = None

    def cancel(self) -> bool:
        if self.inner is not None and not self.inner.cancel():
            return False
        return super().cancel()


class LocalExecutor:
    """Runs tasks in local worker processes."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        _pool(self.workers)  # start workers now, before the caller starts threads

    def submit(self, event: dict[str, Any]) -> Future[Outcome]:
        outer: Future[Outcome] = _Linked()
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

        outer.inner = inner
        inner.add_done_callback(done)
        return outer

    def close(self) -> None:
        """Pools are shared for the life of the process; nothing to release per query."""
