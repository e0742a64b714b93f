"""The local executor: forked worker processes, each running the Lambda handler on one task.

Workers are forked (milliseconds, where a spawned worker re-imports pyarrow, and the caller's
main module is never re-run) when the pool is created, before the driver starts any thread of
its own; a worker that dies is replaced. Pools are kept per size for the life of the process,
so repeated queries do not pay for start-up again.

Each worker has its own pipe and a driver thread that watches it, so one task's failure is that
task's alone (a process pool breaks as a whole when one worker dies, and its shutdown can hang):
- a worker killed by the OS or a signal fails its task as "WorkerDied", which is retried;
- a task past its deadline (from its input size, or --task-timeout) is abandoned: its worker
  is killed and the task retried elsewhere;
- a worker whose anonymous memory passes the task budget is killed and the task fails with
  "out of task memory", as a Lambda function over its memory size would;
- workers die with the driver: the parent-death signal (Linux), and end-of-file on the pipe.
Tasks travel as JSON, as they do to Lambda: no pickled code.
"""

from __future__ import annotations

import atexit
import gc
import json
import multiprocessing
import multiprocessing.connection  # noqa: F401 - the pool's pipes, loaded with this module
import multiprocessing.popen_fork  # noqa: F401 - (before a compile helper is waited for: api)
import multiprocessing.util  # noqa: F401 - registers its exit function before _shutdown (below)
import os
import queue
import signal
import sys
import threading
import time
from concurrent.futures import Future, InvalidStateError, wait
from dataclasses import dataclass
from typing import Any

from sqlmr.execution.executor import Outcome, error_outcome, failure
from sqlmr.lifetime import die_with_parent

_POOLS: dict[tuple, _Pool] = {}
_LOCK = threading.Lock()
_POLL = 0.1  # seconds between checks of a running task's worker
_CHILD_RESET = {signal.SIGTERM, signal.SIGHUP}
_RECURSION = 20_000  # deep expressions arrive as deeply nested JSON
STOP_SECONDS = 10.0  # how long stop_job waits for the killed workers of a job to be reaped
WORKER_NAME = "sqlmr-worker"  # the multiprocessing name of every worker (_kill_unpooled)
# What a worker inherits from its driver is charged to its tasks up to this much: a CLI
# driver's runtime (28 MB measured), as a Lambda function's runtime counts. Beyond it, what a
# library caller's process holds (a notebook's data, pytest's) is not the task's memory.
INHERITED_CHARGED_MB = 64.0


def invoke(event: dict[str, Any]) -> Outcome:
    """Run one task in this process, catching its failure as Lambda would."""
    from sqlmr_runtime.handler import lambda_handler

    try:
        return {"result": lambda_handler(event, None)}
    except Exception as e:  # a task failure is data for the driver, not a crash of the worker
        return error_outcome(e)


def _worker_main(conn: Any, parent: int, inherited: list[int]) -> None:
    """A worker's life: run the tasks that arrive on its pipe until the pipe closes."""
    die_with_parent(parent)
    for fd in inherited:  # other workers' pipes: holding them would hide the driver's exit
        try:
            os.close(fd)
        except OSError:
            pass
    # The driver handles Ctrl-C and owns standard output: `$(sqlmr …)` must end with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _CHILD_RESET)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    sys.setrecursionlimit(_RECURSION)
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            os._exit(0)
        try:
            outcome = invoke(json.loads(message))
            data = json.dumps(outcome).encode()
        except RecursionError as e:
            data = json.dumps(error_outcome(e, "PlanValidationError")).encode()
        conn.send_bytes(data)


class _Worker:
    """One forked worker process and the driver's end of its pipe."""

    def __init__(self, inherited: list[int]):
        context = multiprocessing.get_context("fork")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main,
            args=(child, os.getpid(), inherited),
            daemon=True,
            name=WORKER_NAME,
        )
        # Until the child has reset its handlers, a SIGTERM would run the driver's inherited
        # handler in it and print a traceback: the child starts with the signal blocked.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _CHILD_RESET)
        try:
            self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        child.close()
        # The fork gave the worker the driver's anonymous pages (shared until written): a
        # driver holding 800 MB had every task's worker replaced as over half its budget.
        self.inherited_mb = max(0.0, self._rss_anon_mb() - INHERITED_CHARGED_MB)

    def alive(self) -> bool:
        return self.process.exitcode is None

    def anon_mb(self) -> float:
        """Memory the worker allocated (RssAnon), less what it inherited from the driver
        beyond INHERITED_CHARGED_MB: mapped input files are not counted, as they are page
        cache the kernel may drop; a Lambda task reads S3 instead."""
        return max(0.0, self._rss_anon_mb() - self.inherited_mb)

    def _rss_anon_mb(self) -> float:
        try:
            with open(f"/proc/{self.process.pid}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


@dataclass
class _Task:
    event: dict[str, Any]
    future: _TaskFuture
    timeout: float
    memory_mb: float | None


class _TaskFuture(Future):
    """A task's outcome. Cancelling it while it runs kills its worker (the task is abandoned,
    so nothing of it can write after the driver has cleaned up) and returns False: the
    future resolves as soon as the worker is gone."""

    slot: _Slot | None = None

    def cancel(self) -> bool:
        if super().cancel():
            return True
        slot = self.slot
        if slot is not None and not self.done():
            slot.abandon(self)
        return False


class _Slot:
    """One worker and the thread that feeds it tasks and watches it."""

    def __init__(self, pool: _Pool):
        self.pool, self.worker = pool, _Worker(pool.fds())
        self.current: _TaskFuture | None = None
        self.current_job: str | None = None
        self.abandoned = False
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True, name="sqlmr-worker").start()

    def abandon(self, future: _TaskFuture) -> None:
        with self.lock:
            if self.current is future:
                self.abandoned = True
                self.worker.process.kill()

    def abandon_job(self, job: str) -> _TaskFuture | None:
        """Kill the worker if it runs a task of `job`; that task's future, to wait for."""
        with self.lock:
            if self.current is not None and self.current_job == job:
                self.abandoned = True
                self.worker.process.kill()
                return self.current
        return None

    def _serve(self) -> None:
        while True:
            task = self.pool.tasks.get()
            if task is None:
                return
            if not task.future.set_running_or_notify_cancel():
                continue
            job = task.event.get("job")
            with self.lock:
                if job in self.pool.stopped:  # checked under the lock stop_job takes
                    task.future.set_result(_failure("Abandoned", "the driver stopped the job"))
                    continue
                # A killed worker whose exit is not yet reaped (kill's join timed out on a loaded
                # machine) still looks alive, but its pipe is closed: replace it too.
                if not self.worker.alive() or self.worker.conn.closed:
                    self.worker.kill()
                    self.worker = _Worker(self.pool.fds())
                self.current, self.current_job, self.abandoned = task.future, job, False
                task.future.slot = self
            outcome = self._run(task)
            with self.lock:
                self.current, self.current_job = None, None
            try:
                task.future.set_result(outcome)
            except InvalidStateError:
                pass

    def _run(self, task: _Task) -> Outcome:
        worker = self.worker
        try:
            worker.conn.send_bytes(json.dumps(task.event).encode())
        except (OSError, ValueError) as e:
            return self._lost(worker, e)
        deadline = time.monotonic() + task.timeout
        while True:
            try:
                if worker.conn.poll(_POLL):
                    outcome = json.loads(worker.conn.recv_bytes())
                    return self._over_budget(worker, task, ended=True) or outcome
            except (EOFError, OSError) as e:
                return self._lost(worker, e)
            if not worker.alive():
                return self._lost(worker, None)
            if time.monotonic() > deadline:
                worker.kill()
                return _failure(
                    "TaskTimeout",
                    f"the task did not finish within {task.timeout:.0f} s and was abandoned "
                    "(a stalled read or worker); raise --task-timeout if it is just slow",
                )
            failed = self._over_budget(worker, task)
            if failed:
                return failed

    @staticmethod
    def _over_budget(worker: _Worker, task: _Task, ended: bool = False) -> Outcome | None:
        """The task's failure if its worker's memory is over the budget (checked while it
        runs and when it ends, as Lambda ends a function over its memory size). A worker that
        keeps over half the budget after a task is replaced, so that memory retained by the
        allocator is never charged to the next task."""
        if not task.memory_mb:
            return None
        used = worker.anon_mb()
        if used > task.memory_mb or (ended and used > task.memory_mb / 2):
            worker.kill()  # over the budget, or a finished task left too much behind
        if used <= task.memory_mb:
            return None
        return _failure(
            "OutOfTaskMemory",
            f"out of task memory: the task's worker used {used:.0f} MB, over the budget of "
            f"{task.memory_mb:.0f} MB; raise --task-memory, or lower --split-size or raise "
            "--reducers",
            retryable=False,  # the same budget would be exceeded again
        )

    def _lost(self, worker: _Worker, error: BaseException | None) -> Outcome:
        """The outcome of a task whose worker is gone (`error`: how the pipe said so)."""
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        worker.kill()
        if self.abandoned:
            return _failure("Abandoned", "the driver abandoned the task")
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return _failure("WorkerDied", f"the worker process died ({how})")


def _failure(kind: str, message: str, retryable: bool = True) -> Outcome:
    return failure(kind, message, retryable)


class _Pool:
    """Worker slots sharing one queue of tasks."""

    def __init__(self, workers: int):
        self.tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self.slots: list[_Slot] = []
        self.stopped: set[str] = set()  # jobs whose tasks must not start any more
        try:
            for _ in range(workers):
                self.slots.append(_Slot(self))
        except BaseException:  # Ctrl-C or SIGTERM while forking: no half pool lives on
            self.shutdown()
            raise

    def fds(self) -> list[int]:
        """The driver's ends of every pipe so far, for a new worker to close."""
        return [s.worker.conn.fileno() for s in self.slots if not s.worker.conn.closed]

    def stop_job(self, job: str, timeout: float) -> None:
        """No task of `job` starts any more, and the workers running one are killed; returns
        when those are gone (or after `timeout`), so that nothing of the job writes after."""
        self.stopped.add(job)  # before taking each slot's lock: a slot then sees it or is seen
        running = [f for slot in self.slots if (f := slot.abandon_job(job)) is not None]
        if running:
            wait(running, timeout=timeout)

    def shutdown(self) -> None:
        for _ in self.slots:
            self.tasks.put(None)
        for slot in self.slots:
            slot.worker.kill()


def _pool_key(workers: int) -> tuple:
    # Workers inherit the environment when they fork: a pool made before an endpoint or
    # credential variable changed must not serve tasks after the change.
    aws = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
    return (workers, aws)


def _pool(workers: int, converting: bool = True) -> _Pool:
    """The pool of `workers` workers, forked now if there is none (`converting`: for tasks that
    may convert numpy arrays, see sqlmr_runtime.partition.load_numpy_masked)."""
    key = _pool_key(workers)
    with _LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            import sqlmr_runtime.handler  # noqa: F401 - imported once here, inherited by every worker

            if converting:
                from sqlmr_runtime.partition import load_numpy_masked

                load_numpy_masked()

            # Objects that exist now are never garbage: the collector need not scan them, in
            # the driver or in the workers, whose pages then stay shared with the driver
            # instead of being copied when a collection writes to their headers.
            gc.freeze()
            for stale in [k for k in _POOLS if k[0] == workers]:
                _POOLS.pop(stale).shutdown()  # made under an older environment
            try:
                pool = _POOLS[key] = _Pool(workers)
            except BaseException:
                # A signal between a worker's fork and its pool's registration: that worker
                # is in no pool, so no exit function of ours would kill it, and
                # multiprocessing's would wait for it without a timeout (a stopped worker
                # never ends).
                _kill_unpooled()
                raise
        return pool


def _kill_unpooled() -> None:
    """Kill the workers that belong to no pool (forked for one that was never made)."""
    pooled = {slot.worker.process for pool in _POOLS.values() for slot in pool.slots}
    for process in multiprocessing.active_children():
        if process.name == WORKER_NAME and process not in pooled:
            process.kill()
            process.join(timeout=5)


@atexit.register
def _shutdown() -> None:
    """Kill every worker (they are idle, or their driver is gone). Exit functions run last
    registered first: this one runs before multiprocessing's, which would SIGTERM the workers
    and wait for them without a timeout (a stopped worker never ends), and was registered
    after this one when the pool forked its first worker."""
    with _LOCK:
        for pool in _POOLS.values():
            pool.shutdown()
        _POOLS.clear()
        _kill_unpooled()


def task_seconds(event: dict[str, Any]) -> float:
    """A local task's deadline: two minutes, plus a second per MB of input (a worker parses
    tens of MB a second, so only a stalled read or worker ever reaches it)."""

    def size(node: Any) -> int:
        if isinstance(node, dict):
            if "start" in node and "end" in node:
                return node["end"] - node["start"]
            if "length" in node and "url" in node:
                return node["length"]
            return sum(size(v) for v in node.values())
        if isinstance(node, list):
            return sum(size(v) for v in node)
        return 0

    return 120.0 + size(event.get("input")) / (1 << 20)


class LocalExecutor:
    """Runs tasks in local worker processes."""

    def __init__(
        self,
        workers: int | None = None,
        task_memory: int | None = None,
        task_timeout: float | None = None,
        converting: bool = True,
    ):
        """`converting`: whether the tasks may hash, group or join (False: a plan that only
        filters and projects scans, whose workers then inherit no numpy.ma; a later plan's
        workers load it on first use)."""
        self.workers = workers or os.cpu_count() or 1
        self.task_memory, self.task_timeout = task_memory, task_timeout
        _pool(self.workers, converting)  # start workers now, before the caller starts threads

    def submit(self, event: dict[str, Any]) -> Future[Outcome]:
        future = _TaskFuture()
        timeout = self.task_timeout or task_seconds(event)
        memory = self.task_memory / (1 << 20) if self.task_memory else None
        _pool(self.workers).tasks.put(_Task(event, future, timeout, memory))
        return future

    def stop_job(self, job: str) -> None:
        """Stop every task of a failed or interrupted job before its objects are removed: queued
        ones never start, running ones lose their worker, which is reaped (with a timeout)."""
        pool = _POOLS.get(_pool_key(self.workers))
        if pool is not None:  # no pool: one made under another environment was shut down
            pool.stop_job(job, STOP_SECONDS)

    def close(self) -> None:
        """Pools are shared for the life of the process; nothing to release per query."""
