"""The logical query as JSON, to carry it from the process that compiled it to the driver.

`sqlmr query` compiles its statements in a forked helper while the driver loads the runtime
(sqlmr.compiler.ahead); the helper sends each statement's logical query back through a pipe
as this JSON. Decoding builds only the compiler's and the catalog's own dataclasses, named in
CLASSES: a value of any other kind cannot be encoded (the driver then compiles the statement
itself), and a document naming another class is refused. No pickle: nothing in the document
runs code.

Every container is tagged, so that a value decodes to exactly what was encoded: tuples stay
tuples and lists lists (an IR's `args` are lists, a query's column pairs tuples), dicts may have
keys of any encodable kind.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlmr.catalog.listing import Listed, Listing
from sqlmr.catalog.tables import Column, Table
from sqlmr.compiler import logical
from sqlmr.errors import PlanError

CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        logical.Aggregate,
        logical.DistinctArg,
        logical.SortKey,
        logical.OutputColumn,
        logical.ScanSide,
        logical.LogicalQuery,
        logical.Condition,
        logical.UnionAll,
        logical.FromItem,
        logical.Block,
        Table,
        Column,
        Listing,
        Listed,
    )
}
_PLAIN = (str, int, float, bool, type(None))


class NotTransferable(PlanError):
    """A logical query holds a value this JSON does not carry (the driver compiles it itself)."""


def encode(value: Any) -> Any:
    """A JSON-ready document for a logical query (or any value made of CLASSES and containers)."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, tuple):
        return {"t": [encode(v) for v in value]}
    if isinstance(value, list):
        return {"l": [encode(v) for v in value]}
    if isinstance(value, frozenset):
        return {"f": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"m": [[encode(k), encode(v)] for k, v in value.items()]}
    name = type(value).__name__
    if CLASSES.get(name) is not type(value):
        raise NotTransferable(f"cannot carry a {name} in a logical query's JSON")
    if isinstance(value, Listing) and value.footers:
        # Parquet footers read while resolving the table are Arrow objects, not data: they stay
        # behind, and planning reads them again (a cache, not part of the listing's value).
        value = dataclasses.replace(value, footers={})
    fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return {"d": name, "v": fields}


def decode(doc: Any) -> Any:
    """The value `encode` made `doc` from."""
    if isinstance(doc, _PLAIN):
        return doc
    if not isinstance(doc, dict) or len(doc) not in (1, 2):
        raise PlanError("not a logical query document")
    if "t" in doc:
        return tuple(decode(v) for v in doc["t"])
    if "l" in doc:
        return [decode(v) for v in doc["l"]]
    if "f" in doc:
        return frozenset(decode(v) for v in doc["f"])
    if "m" in doc:
        return {decode(k): decode(v) for k, v in doc["m"]}
    cls = CLASSES.get(doc.get("d"))
    if cls is None:
        raise PlanError(f"not a class of a logical query: {doc.get('d')!r}")
    # Set field by field, as the encoded object held them: __init__ and __post_init__ ran
    # when the helper built it, and a field with init=False has no argument to pass.
    obj = object.__new__(cls)
    values = doc["v"]
    for f in dataclasses.fields(cls):
        object.__setattr__(obj, f.name, decode(values[f.name]))
    return obj
