"""Deeply nested SQL: 500 nested parentheses or a 300-term `+` chain recurse once per level in
sqlglot's parser and in the translation, past Python's default limit of 1,000 frames.

The compiler therefore runs on a thread with a large stack under a raised recursion limit, so
that such queries compile (DuckDB runs them) instead of failing with an internal RecursionError.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from sqlmr.errors import UnsupportedError

T = TypeVar("T")

# Frames allowed while compiling: about 25 per nesting level in sqlglot's recursive descent.
COMPILE_RECURSION = 60_000
STACK_BYTES = 512 << 20  # virtual: only the pages a deep query touches become resident
_lock = threading.Lock()
_THREAD = "sqlmr-compile"


def on_deep_stack(fn: Callable[..., T], *args: object) -> T:
    """fn(*args) on a thread with a large stack and a raised recursion limit; its result or
    its exception, as if called here."""
    if threading.current_thread().name == _THREAD:
        return fn(*args)  # already on the deep stack
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the caller as is
            outcome["error"] = e

    with _lock:  # the stack size and the limit are process-wide settings
        previous_stack = threading.stack_size(STACK_BYTES)
        previous_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(previous_limit, COMPILE_RECURSION))
        try:
            thread = threading.Thread(target=target, name=_THREAD)
            thread.start()
        finally:
            threading.stack_size(previous_stack)
        thread.join()
        sys.setrecursionlimit(previous_limit)
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, RecursionError):
            raise UnsupportedError("the query is nested too deeply to compile") from error
        raise error  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
