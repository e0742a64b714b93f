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

The DuckDB dialect is loaded with it, its SQL generator on first use. sqlglot's DuckDB dialect
module imports its generator (sqlglot.generators.duckdb) only to name it as the dialect's
generator class, and that module parses 21 SQL templates when it loads (≈ 12 ms, most of the
dialect's cost); the compiler generates SQL only to name an unaliased select item, a CAST's
type or an unsupported construct, so parsing and analysing most queries never needs it. Until
then the dialect's generator class is a stand-in whose every use (an instance, or any
attribute: `generator_class.TYPE_MAPPING`) loads the real module and puts the real class where
the dialect names it, as the dialect's own import would have, then carries on with it.
"""

from __future__ import annotations

import importlib
import importlib.util
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
    """Import sqlglot, its dialect machinery and the DuckDB dialect (a no-op once loaded)."""
    if "sqlglot.dialects.dialect" not in sys.modules and _NAME not in sys.modules:
        stand_in = _StandIn(_NAME)
        stand_in.entry_points = _entry_points  # type: ignore[attr-defined]
        sys.modules[_NAME] = stand_in
        try:
            import sqlglot.dialects.dialect  # noqa: F401
        finally:
            if sys.modules.get(_NAME) is stand_in:
                del sys.modules[_NAME]
    import sqlglot.dialects.dialect  # noqa: F401 - loaded now, or already (or metadata was)

    _load_duckdb_dialect()


_GENERATOR = "sqlglot.generators.duckdb"
_DIALECT = "sqlglot.dialects.duckdb"


def _load_duckdb_dialect() -> None:
    """Import the DuckDB dialect with a stand-in for its generator module (see above), where
    this sqlglot keeps the generator in a module of its own."""
    if _DIALECT in sys.modules or _GENERATOR in sys.modules:
        return
    try:
        found = importlib.util.find_spec(_GENERATOR)
    except ImportError:  # no sqlglot.generators package: an older sqlglot
        found = None
    if found is None:
        return
    module = types.ModuleType(_GENERATOR)
    module.DuckDBGenerator = _Deferred("DuckDBGenerator", (), {})  # type: ignore[attr-defined]
    module.WS_CONTROL_CHARS_TO_DUCK = None  # type: ignore[attr-defined] - set from the real one
    sys.modules[_GENERATOR] = module
    try:
        import sqlglot.dialects.duckdb  # noqa: F401
    finally:
        if sys.modules.get(_GENERATOR) is module:
            del sys.modules[_GENERATOR]
    _Deferred.armed = True


class _Deferred(type):
    """The metaclass of the stand-in generator class: calling it, or reading any attribute it
    lacks (it has none of a generator's), loads the real generator and answers with it. While
    the dialect's class is being made it lacks them all: the dialect then leaves the generator
    as it is, and `_real_generator` does what the dialect would have done to it."""

    armed = False

    def __getattr__(cls, name: str) -> Any:
        if not _Deferred.armed or name.startswith("__"):
            raise AttributeError(name)
        return getattr(_real_generator(), name)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return _real_generator()(*args, **kwargs)


def _real_generator() -> type:
    """Load sqlglot's DuckDB generator and put it where its dialect's import would have."""
    generators = importlib.import_module(_GENERATOR)
    real = generators.DuckDBGenerator
    dialects = sys.modules[_DIALECT]
    duckdb = dialects.DuckDB
    if isinstance(duckdb.__dict__.get("generator_class"), _Deferred):
        from sqlglot.jsonpath import ALL_JSON_PATH_PARTS

        # As sqlglot.dialects.dialect._Dialect.__new__ does with a dialect's generator class.
        supported = getattr(real, "SUPPORTED_JSON_PATH_PARTS", None)
        if isinstance(supported, set):
            for part in ALL_JSON_PATH_PARTS - supported:
                real.TRANSFORMS.pop(part, None)
        duckdb.generator_class = duckdb.Generator = real
        dialects.DuckDBGenerator = real
        dialects.WS_CONTROL_CHARS_TO_DUCK = generators.WS_CONTROL_CHARS_TO_DUCK
    return real
