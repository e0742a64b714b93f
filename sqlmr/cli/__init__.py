"""The command line: the only code that prints, reads flags or exits."""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from typing import NoReturn

__all__ = ["console", "main"]

_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sqlmr` command (sqlmr.cli.app.main, imported when called)."""
    from sqlmr.cli.app import main as run

    return run(argv)


def _exit_now(signum: int, _frame: object) -> None:
    """Before any job exists there is nothing to clean up: say what happened and go."""
    os.write(2, f"error: terminated by {signal.Signals(signum).name}\n".encode())
    os._exit(128 + signum)


def console() -> NoReturn:
    """The `sqlmr` script: main, then an exit that skips tearing down the interpreter.

    A SIGTERM or SIGHUP is answered with one line at every moment: before main installs its own
    handlers (while the command's modules load) by exiting at once, and after main returned
    (while workers are stopped) by finishing that and then exiting with 128 + the signal.
    Once the output is flushed, non-daemon threads have ended and every atexit handler has run
    (workers stopped, job objects removed), unloading pyarrow and sqlglot module by module would
    only cost time: 70-90 ms of CPU measured, which is a quarter of a small query's start-up."""
    if threading.current_thread() is threading.main_thread():
        for s in _SIGNALS:
            signal.signal(s, _exit_now)
    code = main()
    pending: list[int] = []
    for s in _SIGNALS:
        signal.signal(s, lambda signum, _frame: pending.append(signum))
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    if pending and code == 0:
        name = signal.Signals(pending[0]).name
        print(f"error: terminated by {name} after the command finished", file=sys.stderr)
        code = 128 + pending[0]
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said
            pass
    os._exit(code)
