"""Arrow's compute functions by name, as `pyarrow.compute` offers them, wrapped on first use.

`import pyarrow.compute` wraps every one of Arrow's ≈ 290 kernels when it loads, and writes each
wrapper's docstring and signature from the kernel's documentation: 30-50 ms of CPU in every
fresh process (measured with `-X importtime`; `pyarrow._compute`, the kernels themselves, is
7-9 ms). That is on the critical path of a small query's driver and of every Lambda cold start,
for documentation nobody reads there. The runtime imports this module as `pc` instead: a
kernel's wrapper is made when the runtime first names it, with the calling convention of
pyarrow.compute's (arguments, then the options' fields positionally or as keywords, or
`options=`; an Expression first argument builds an Expression), and without the documentation.

Arrow's own methods that compute (`Table.filter`, `Array.cast`, `ChunkedArray.take`, ...)
import pyarrow.compute on first use, so the runtime calls these functions instead; the startup
tests check that a query's driver and tasks load no pyarrow.compute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
from pyarrow import _compute
from pyarrow._compute import (  # noqa: F401  (re-exported, as pyarrow.compute does)
    CastOptions,
    CountOptions,
    Expression,
    IndexOptions,
    ScalarAggregateOptions,
    TakeOptions,
    call_function,
    get_function,
)

# Kernels whose names are Python keywords (pyarrow.compute's rewrites).
_KEYWORDS = {"and_": "and", "or_": "or"}


def __getattr__(name: str) -> Any:
    """A kernel's wrapper (made once, then found in the module), or an options class."""
    if name.startswith("__"):
        raise AttributeError(name)
    if name[:1].isupper():
        try:
            return getattr(_compute, name)
        except AttributeError:
            raise AttributeError(f"pyarrow._compute has no {name!r}") from None
    wrapper = _wrap(name, _KEYWORDS.get(name, name))
    globals()[name] = wrapper
    return wrapper


def _wrap(name: str, kernel: str) -> Callable[..., Any]:
    """A function calling Arrow's kernel `kernel` as pyarrow.compute's wrapper `name` does."""
    try:
        func = _compute.get_function(kernel)
    except pa.ArrowKeyError:
        raise AttributeError(f"Arrow has no compute function {kernel!r}") from None
    options_name = func._doc.options_class
    options_class = getattr(_compute, options_name) if options_name else None
    arity = func.arity

    def wrapper(*args: Any, memory_pool: Any = None, options: Any = None, **kwargs: Any) -> Any:
        extra: tuple = ()
        if arity is not Ellipsis:
            if len(args) < arity:
                raise TypeError(f"{name} takes {arity} positional argument(s), got {len(args)}")
            args, extra = args[:arity], args[arity:]
        if extra or kwargs:
            if options_class is None:
                raise TypeError(f"{name} takes no options")
            if options is not None:
                raise TypeError(f"{name} called with both 'options' and option arguments")
            options = options_class(*extra, **kwargs)
        elif isinstance(options, dict):
            options = options_class(**options)
        if args and isinstance(args[0], Expression):
            return Expression._call(kernel, list(args), options)
        return func.call(args, options, memory_pool)

    wrapper.__name__ = wrapper.__qualname__ = name
    return wrapper


# pyarrow.compute defines these in Python (or as methods), with conveniences its generated
# wrappers lack.


def cast(arr: Any, target_type: Any = None, safe: bool | None = None, options: Any = None) -> Any:
    """`arr` cast to `target_type`, checked for overflow and truncation unless safe=False."""
    if options is None:
        target_type = pa.lib.ensure_type(target_type)
        options = (
            CastOptions.unsafe(target_type) if safe is False else CastOptions.safe(target_type)
        )
    return call_function("cast", [arr], options)


def cast_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with its columns cast to `schema`'s types (checked) and named as there, in order."""
    columns = [
        cast(column, field.type) for column, field in zip(table.columns, schema, strict=True)
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _of_type(value: Any, typ: pa.DataType) -> Any:
    """`value` as a scalar of type `typ`, as pyarrow.compute converts a fill or search value: an
    Arrow value of that type stays as it is."""
    if not isinstance(value, (pa.Array, pa.ChunkedArray, pa.Scalar)):
        return pa.scalar(value, type=typ)
    return value if value.type == typ else pa.scalar(value.as_py(), type=typ)


def fill_null(values: Any, fill_value: Any) -> Any:
    """`values` with each NULL replaced by `fill_value` (a Python value is made a scalar of
    the values' type)."""
    return call_function("coalesce", [values, _of_type(fill_value, values.type)])


def take(data: Any, indices: Any, *, boundscheck: bool = True) -> Any:
    """The rows (or values) of `data` at `indices`."""
    return call_function("take", [data, indices], TakeOptions(boundscheck=boundscheck))


def index(data: Any, value: Any) -> Any:
    """Where `data` first holds `value` (-1 if nowhere), as an Int64Scalar."""
    return call_function("index", [data], IndexOptions(value=_of_type(value, data.type)))
