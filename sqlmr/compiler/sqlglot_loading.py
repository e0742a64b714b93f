"""Loading sqlglot without importlib.metadata, which is most of a query's compile start-up after
sqlglot itself.

sqlglot's dialect module runs `from importlib.metadata import entry_points` when it loads, to
look dialect plugins up by entry point when a dialect name is not built in. sqlmr parses only
with the built-in DuckDB dialect, so the lookup never runs; but importing importlib.metadata
loads email, zipfile, csv and more: ≈ 10 ms of the ≈ 75 ms before a first query can be parsed
(measured at real-time priority), on the path of the compile helper (sqlmr.compiler.ahead)
and of every first compile.

sqlglot is therefore loaded while a stand-in is registered as importlib.metadata: its
`entry_points` and any other attribute load the real module on first use, so a plugin lookup,
or a later sqlglot importing another name, works as before. The stand-in is removed as soon
as sqlglot has loaded; nothing else in the process ever sees it unless it imports
importlib.metadata at that same moment on another thread, and then the stand-in loads the real
module for it too.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_NAME = "importlib.metadata"


def _real() -> types.ModuleType:
    """The real importlib.metadata, loaded now if the stand-in is still registered."""
    if isinstance(sys.modules.get(_NAME), _StandIn):
        del sys.modules[_NAME]
    return importlib.import_module(_NAME)


class _StandIn(types.ModuleType):
    """importlib.metadata until first used."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # the import system asking (__path__, __spec__…): not a use
            raise AttributeError(name)
        return getattr(_real(), name)


def _entry_points(*args: Any, **kwargs: Any) -> Any:
    return _real().entry_points(*args, **kwargs)


def load_sqlglot() -> None:
    """Import sqlglot and its dialect machinery (a no-op once loaded)."""
    if "sqlglot.dialects.dialect" in sys.modules or _NAME in sys.modules:
        import sqlglot.dialects.dialect  # noqa: F401 - loaded already, or metadata is

        return
    stand_in = _StandIn(_NAME)
    stand_in.entry_points = _entry_points  # type: ignore[attr-defined]
    sys.modules[_NAME] = stand_in
    try:
        import sqlglot.dialects.dialect  # noqa: F401
    finally:
        if sys.modules.get(_NAME) is stand_in:
            del sys.modules[_NAME]
