"""Compiling in a forked helper while the driver loads the rest: `sqlmr query` and
`sqlmr.api.compile_query` both use it.

A small query's driver spent most of its start-up importing, one thing after the other: pyarrow,
then the planner, driver and runtime, then sqlglot and the compiler (≈ 70 ms of CPU for sqlglot
alone, ≈ 35 ms more the first time a query is parsed: sqlglot builds its DuckDB dialect then).
The two halves need little of each other until the plan is cut, so the driver forks a helper
as soon as it has the script and the catalog, before it loads pyarrow: the helper imports
sqlglot while the driver imports pyarrow, the planner and the runtime (and `sqlmr query` starts
its workers). Analysis needs the named tables resolved (a Parquet footer, a text sample), which
takes pyarrow, so the driver resolves the tables the script names and sends them to the helper
(`send_tables`; the compiler itself runs without pyarrow). The helper sends each statement's
logical query back as JSON (sqlmr.compiler.logical_json) and exits; the driver plans and runs
them as before, and never loads sqlglot itself (nor do the workers it forks).

The helper only saves time: whatever it cannot do, the driver does as before. A statement the
helper fails to analyse (bad SQL, a missing table, a value the JSON does not carry, a request to
S3, whose count belongs in the driver's cost table), and everything after it, is compiled by the
driver, which raises the same error with the same traceback; a script that does not split or
classify is handled by the driver from the start. No helper is forked for a query naming URLs
(`worthwhile`). The helper is bounded in time, ignores Ctrl-C (the driver handles it and kills
the helper), and dies with the driver (Linux parent-death signal). It runs only while a core is
free (below); `SQLMR_COMPILE_AHEAD=0` turns it off.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import re
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmr.catalog import Catalog, Table
from sqlmr.compiler.logical_json import decode, encode  # both sides use it: loaded before the fork
from sqlmr.errors import SqlmrError

HELPER_SECONDS = 30.0  # past this the driver stops waiting, kills the helper and compiles itself


@dataclass(frozen=True)
class Prepared:
    """One statement: its kind and text (sqlmr.compiler.statements.Statement's fields), and its
    logical query when the helper analysed it (None: the driver compiles it)."""

    kind: str
    sql: str
    table: str = ""
    logical: Any = None


def enabled() -> bool:
    """Whether to fork a helper: on a platform that forks, in a process with one thread (a fork
    copies no other thread, and one of them may hold a lock the helper needs), when a core is
    free (SQLMR_COMPILE_AHEAD=1 forces it, 0 turns it off)."""
    setting = os.environ.get("SQLMR_COMPILE_AHEAD", "auto")
    if setting == "0" or not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    return setting == "1" or _core_free()


def _core_free() -> bool:
    """Whether a core is idle now. The helper saves wall time only then: on a busy machine it
    takes CPU (≈ 40 ms for a small query: the fork, its copied pages and its exit) from the
    other processes and so from this query's own. Linux counts the threads runnable at this
    moment (/proc/loadavg's fourth field, this one included); the load average of the last
    minute, which other systems give, still counts a query that has just ended (after Amplab
    2a, 1a's helper was off for a minute: 1a 0.30 -> 0.37 s in the bench)."""
    try:
        with open("/proc/loadavg") as f:
            running = int(f.read().split()[3].split("/")[0])
        return running - 1 < (os.cpu_count() or 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.getloadavg()[0] < (os.cpu_count() or 1)
    except OSError:  # no load average on this platform
        return True


def worthwhile(script: str, catalog: Catalog) -> bool:
    """Whether a helper could compile `script`: not when it names URLs (tables on S3, in the
    catalog or the SQL), whose requests would be missing from the driver's cost table, so the
    helper would give up after listing them (and the driver list them again)."""
    return "://" not in script and not any("://" in t.location for t in catalog.tables)


def analyze_ahead(
    query: str,
    catalog: Catalog,
    meanwhile: Callable[[Catalog], object],
    if_idle: Callable[[], object] | None = None,
    keep_frozen: bool = False,
) -> Any:
    """The logical query of one statement, analysed by a helper while this process runs
    `meanwhile` (what it will need next, given the catalog with the named tables resolved
    here: send_tables), then `if_idle` if the helper has not finished by
    then (what it may need: done now, it costs no time). None when no helper ran (then neither
    ran either) or it could not analyse the statement: the caller analyses it and reports the
    error. `keep_frozen`: the objects frozen for the helper stay frozen (the caller forks a
    local pool, which freezes them for good)."""
    if not enabled() or not worthwhile(query, catalog):
        return None
    helper = CompileAhead(query, catalog)
    try:
        helper.send_tables()
        meanwhile(helper.catalog)
        if if_idle is not None and not helper.finished():
            if_idle()
        found = helper.result()
    finally:
        helper.close()
        # The helper is gone: objects frozen for it may be collected again (a library's
        # process lives on; `sqlmr query`'s ends with its statements). Not when a local pool
        # is forked now (sqlmr.api.execute; maybe in if_idle): its workers share those pages
        # for good, and a collection in the driver would copy them (1a's process exit after
        # an unfreeze, measured: 60 -> 110-160 ms).
        if not keep_frozen:
            gc.unfreeze()
    if found is None or len(found) != 1 or found[0].kind != "query":
        return None
    return found[0].logical


class CompileAhead:
    """A forked helper analysing the statements of `script` against `catalog`."""

    def __init__(self, script: str, catalog: Catalog):
        from sqlmr.lifetime import die_with_parent

        reap_exiting(wait=False)
        self.script, self.catalog = script, catalog
        parent = os.getpid()
        read, write = os.pipe()
        # Objects that exist now are the driver's for good: the collector of either process
        # need not scan them, and a scan would write to every page the two still share
        # (copying each, in both). The local pool freezes the same way when it forks workers.
        tables_read, tables_write = os.pipe()
        gc.freeze()
        self.started = time.monotonic()
        self.pid = os.fork()
        if self.pid == 0:  # the helper: never returns
            os.close(read)
            os.close(tables_write)
            _helper(script, catalog, write, tables_read, parent, die_with_parent)
        os.close(write)
        os.close(tables_read)
        self.fd: int | None = read
        self.tables_fd: int | None = tables_write
        self.answered = False

    def send_tables(self) -> None:
        """Resolve here the tables the script seems to name, and send them to the helper.

        The helper is forked before the driver loads pyarrow, and imports sqlglot while the
        driver does; discovering a table (a Parquet footer, a text sample) needs pyarrow, so the
        driver discovers the tables and the helper analyses with them. A table the driver could
        not resolve, or did not think named, the helper resolves itself (and an error is raised
        again by the driver when it compiles)."""
        words = set(re.findall(r"\w+", self.script.lower()))
        resolved = []
        for table in self.catalog.tables:
            if table.name.lower() in words:
                try:
                    resolved.append(table.resolved())
                except SqlmrError:
                    continue
        if resolved:
            self.catalog = self.catalog.with_tables(resolved)
        self._send(json.dumps(encode(tuple(resolved))).encode())

    def _send(self, data: bytes) -> None:
        """Write `data` to the helper and close the pipe (the helper reads to its end)."""
        fd, self.tables_fd = self.tables_fd, None
        if fd is None:
            return
        try:
            _write_all(fd, data)
        except OSError:  # the helper has gone: result() finds that out
            pass
        finally:
            os.close(fd)

    def finished(self) -> bool:
        """Whether the helper has sent its statements (or ended): result() would not wait."""
        return self.fd is None or bool(select.select([self.fd], [], [], 0)[0])

    def result(self) -> list[Prepared] | None:
        """The helper's statements (None: the driver compiles them all); waits for it, at most
        until HELPER_SECONDS after it started."""
        data = self._read()
        self.close()
        if not data:
            return None
        try:
            doc = json.loads(data)
            logical = [decode(d) for d in doc["logical"]]
            logical += [None] * (len(doc["statements"]) - len(logical))
            found = [
                Prepared(kind, sql, table, one)
                for (kind, sql, table), one in zip(doc["statements"], logical, strict=True)
            ]
        except Exception:  # a helper's bug must not fail the query: the driver compiles
            return None
        return found or None

    def _read(self) -> bytes:
        self._send(b"")  # no tables sent (yet): the helper resolves what it needs itself
        chunks = []
        deadline = self.started + HELPER_SECONDS
        while self.fd is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return b""  # too slow: close() kills it
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                self.answered = True  # it closed its end: it has ended or is ending
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """Kill the helper if it still runs, and reap it (once gone, or later: reap_exiting)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.tables_fd is not None:
            os.close(self.tables_fd)
            self.tables_fd = None
        pid, self.pid = self.pid, 0
        if not pid:
            return
        try:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return
            if self.answered:
                # It closed its pipe on its way out: reaped later rather than waited for
                # here, while the kernel frees its memory (5-8 ms of a small query).
                _EXITING.append(pid)
                return
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


# Helpers that answered and were still exiting when closed: reaped by the next helper, or at
# exit (a zombie holds no memory; one whose driver has ended is reaped by init).
_EXITING: list[int] = []


def reap_exiting(wait: bool = True) -> None:
    """Reap the helpers still exiting when closed (`wait`: those not gone yet too, killed
    first, so that the wait is bounded whatever they do)."""
    for pid in list(_EXITING):
        try:
            if wait:
                os.kill(pid, signal.SIGKILL)  # a zombie ignores it
            if os.waitpid(pid, 0 if wait else os.WNOHANG) == (0, 0):
                continue
        except (ChildProcessError, ProcessLookupError):
            pass
        _EXITING.remove(pid)


atexit.register(reap_exiting)


def _helper(
    script: str, catalog: Catalog, fd: int, tables_fd: int, parent: int, die_with_parent: Any
) -> None:
    """The helper's life: analyse, write the JSON to `fd`, exit without running the driver's
    exit functions (they belong to the driver)."""
    code = 1
    try:
        gc.disable()  # a short life: freeing its cycles would cost more than keeping them
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        die_with_parent(parent)
        _write_all(fd, json.dumps(_analyse(script, catalog, tables_fd)).encode())
        os.close(fd)  # the driver reads its end now, not once this process's memory is gone
        code = 0
    except BaseException:  # noqa: BLE001 - the driver compiles whatever the helper did not send
        pass
    finally:
        os._exit(code)


def _analyse(script: str, catalog: Catalog, tables_fd: int) -> dict[str, Any]:
    from sqlmr_runtime.storage import request_counts

    from sqlmr.compiler import analyze_query
    from sqlmr.compiler.parse import parse
    from sqlmr.compiler.statements import classify, split_statements

    statements = [classify(s) for s in split_statements(script)]
    parse("SELECT 1")  # sqlglot builds its parser's tables: done while the driver resolves
    catalog = catalog.with_tables(_received(tables_fd))
    logical: list[Any] = []
    for statement in statements:
        if statement.kind != "query":
            logical.append(None)
            continue
        before = request_counts()
        try:
            doc = encode(analyze_query(statement.sql, catalog))
        except Exception:  # the driver compiles it again and reports the error itself
            break
        if request_counts() != before:
            break  # it read S3: the driver's own requests are counted in its cost table
        logical.append(doc)
    return {"statements": [[s.kind, s.sql, s.table] for s in statements], "logical": logical}


def _write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to a pipe (os.write may write part of it)."""
    while data:
        data = data[os.write(fd, data) :]


def _received(fd: int) -> tuple[Table, ...]:
    """The tables the driver resolved (CompileAhead.send_tables), once it has sent them."""
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    data = b"".join(chunks)
    return decode(json.loads(data)) if data else ()
