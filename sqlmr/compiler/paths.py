"""Paths in FROM, as DuckDB reads them: `FROM 'data/*.parquet'`, `FROM read_parquet('s3://…/')`,
`FROM read_csv('…', header=true, delim='|')` and `FROM read_json('…')`. Each becomes a catalog
table whose format, columns and partition columns are discovered from its objects.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re

from sqlglot import exp

from sqlmr.catalog import Catalog, Table
from sqlmr.catalog.tables import COMPRESSIONS
from sqlmr.compiler.parse import sql_error
from sqlmr.errors import SqlError, UnsupportedError

# Reader function → format (None: detect from the extensions, as DuckDB's FROM 'path' does).
READ_FUNCTIONS = {
    "read_parquet": "parquet",
    "parquet_scan": "parquet",
    "read_csv": "csv",
    "read_csv_auto": "csv",
    "read_json": "json",
    "read_json_auto": "json",
    "read_ndjson": "json",
    "read_ndjson_auto": "json",
}
_CSV_OPTIONS = {"header", "delim", "sep", "delimiter", "quote", "compression"}
_OTHER_OPTIONS = {"compression", "hive_partitioning", "format"}
_PATHLIKE = re.compile(r"[/\\*?]|\.[A-Za-z0-9]+$|^s3://")


def looks_like_path(name: str) -> bool:
    """True for a quoted FROM name that can only be a path (DuckDB reads it as one)."""
    return bool(_PATHLIKE.search(name))


def _function(node: exp.Expression) -> tuple[str, list[exp.Expression]] | None:
    """(reader name, arguments) of a FROM read_…(…) call, or None for anything else."""
    name, args = None, []
    if isinstance(node, exp.Anonymous):
        name, args = str(node.this).lower(), list(node.expressions)
    elif isinstance(node, exp.Func):
        name = node.sql_name().lower()  # READ_CSV, READ_PARQUET
        args = [a for a in (node.args.get("this"), *node.args.get("expressions", [])) if a]
    if name not in READ_FUNCTIONS:
        return None
    return name, args


def path_table(sql: str, node: exp.Table) -> Table | None:
    """The table a FROM path or read_…() call names, or None when the node is neither."""
    this = node.this
    if isinstance(this, exp.Identifier):
        if not this.quoted or not looks_like_path(this.name):
            return None
        return Table(
            _name(this.name),
            this.name,
            (),
            format="auto",
            quote='"',
            partitions=None,
            detect=("delimiter", "header"),
        )
    found = _function(this)
    if found is None:
        return None
    fn, args = found
    if not args or not isinstance(args[0], exp.Literal) or not args[0].is_string:
        raise sql_error(SqlError, f"{fn}() needs a path as its first argument", sql, this)
    path = args[0].name
    options = _options(sql, fn, args[1:])
    fmt = READ_FUNCTIONS[fn]
    delimiter = next((options[k] for k in ("delim", "sep", "delimiter") if k in options), None)
    if delimiter == "\\t":  # DuckDB reads the escape '\t' as a tab
        delimiter = "\t"
    if delimiter is not None and len(str(delimiter)) != 1:
        raise sql_error(SqlError, f"{fn}(): the delimiter must be one character", sql, this)
    quote = str(options.get("quote", '"'))  # DuckDB's default
    if len(quote) > 1:
        raise sql_error(SqlError, f"{fn}(): quote must be one character or ''", sql, this)
    compression = options.get("compression")
    if compression in ("auto", "none"):
        compression = None
    if compression is not None and compression not in COMPRESSIONS:
        raise sql_error(
            UnsupportedError,
            f"{fn}(): compression {compression!r} is not read; use one of "
            f"{', '.join(COMPRESSIONS)}, auto or none",
            sql,
            this,
        )
    # What the call does not say is detected from the first object, as DuckDB's sniffer does.
    given = {"delimiter": delimiter, "header": options.get("header")}
    detect = tuple(k for k, v in given.items() if v is None)
    return Table(
        _name(path),
        path,
        (),
        format=fmt,
        delimiter=str(delimiter or ","),
        header=_flag(sql, fn, this, options.get("header", False)),
        quote=quote,
        compression=compression,
        partitions=None,
        detect=detect,
    )


def _flag(sql: str, fn: str, node: exp.Expression, value: object) -> bool:
    """A boolean option: true/false, or as text 'true'/'false'/'1'/'0' (as DuckDB reads them)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "t", "yes", "on"):
        return True
    if text in ("false", "0", "f", "no", "off"):
        return False
    raise sql_error(SqlError, f"{fn}(): expected true or false, not {value!r}", sql, node)


def _options(sql: str, fn: str, args: list[exp.Expression]) -> dict[str, object]:
    allowed = _CSV_OPTIONS if READ_FUNCTIONS[fn] == "csv" else _OTHER_OPTIONS
    options: dict[str, object] = {}
    for arg in args:
        if not isinstance(arg, (exp.EQ, exp.PropertyEQ)) or not isinstance(arg.this, exp.Column):
            raise sql_error(
                UnsupportedError, f"{fn}() takes a path and name=value options", sql, arg
            )
        key = arg.this.name.lower()
        if key not in allowed:
            raise sql_error(
                UnsupportedError,
                f"{fn}() option {key!r} is not supported; sqlmr reads {', '.join(sorted(allowed))}",
                sql,
                arg,
            )
        value = arg.expression
        if isinstance(value, exp.Boolean):
            options[key] = value.this
        elif isinstance(value, exp.Literal):
            options[key] = value.name
        else:
            raise sql_error(UnsupportedError, f"{fn}() option {key} needs a constant", sql, arg)
    return options


def _name(path: str) -> str:
    """A table name for a path: its last segment without extensions (DuckDB's alias)."""
    last = [p for p in re.split(r"[/\\]", path.rstrip("/")) if p and not any(c in p for c in "*?[")]
    stem = last[-1] if last else "data"
    stem = stem.split(".")[0] or "data"
    return re.sub(r"\W", "_", os.path.basename(stem))


def bind_paths(sql: str, statement: exp.Expression, catalog: Catalog):
    """The statement with every FROM path or read_…() call replaced by a table name, and the
    catalog with those tables added (their schemas discovered), for the compilers that resolve
    names against the catalog alone."""
    found = [
        (node, table)
        for node in statement.find_all(exp.Table)
        if (table := path_table(sql, node)) is not None
    ]
    if not found:
        return statement, catalog
    statement = statement.copy()
    taken = {t.name.lower() for t in catalog.tables}
    added = []
    nodes = [n for n in statement.find_all(exp.Table) if path_table(sql, n) is not None]
    for node, (_, table) in zip(nodes, found, strict=True):
        name = table.name
        for i in itertools.count(2):
            if name.lower() not in taken:
                break
            name = f"{table.name}_{i}"
        taken.add(name.lower())
        added.append(dataclasses.replace(table.resolved(), name=name))
        alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name))
        node.replace(exp.Table(this=exp.to_identifier(name), alias=alias))
    return statement, Catalog(catalog.tables + tuple(added), catalog.undescribed)
