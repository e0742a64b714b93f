"""The command line: the only code that prints, reads flags or exits."""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

from sqlmr.cli.app import main

__all__ = ["console", "main"]


def console() -> NoReturn:
    """The `sqlmr` script: main, then an exit that skips tearing down the interpreter.

    Once the output is flushed, non-daemon threads have ended and every atexit handler has run
    (workers stopped, job objects removed), unloading pyarrow and sqlglot module by module would
    only cost time: 70-90 ms of CPU measured, which is a quarter of a small query's start-up."""
    code = main()
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said
            pass
    os._exit(code)
