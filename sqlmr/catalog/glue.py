"""The AWS Glue Data Catalog, as Athena users have it: `--catalog glue:DATABASE`.

Each Glue table gives its location, its format (from the SerDe and InputFormat: delimited text
with its delimiter, Parquet, JSON), its columns and its partition keys (read as Hive-style
`key=value/` folders below the location). A column type sqlmr cannot hold is refused by name.
"""

from __future__ import annotations

import re

from sqlmr_runtime.s3 import error_code

from sqlmr.catalog.tables import SQL_TYPES, Catalog, Column, Table, plan_type
from sqlmr.errors import CatalogError

PREFIX = "glue:"

# Hive type (without parameters) → the catalog's SQL type name.
_HIVE_TYPES = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "tinyint": "INT",
    "smallint": "INT",
    "int": "INT",
    "integer": "INT",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "float": "DOUBLE",
    "decimal": "DECIMAL",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "boolean": "BOOLEAN",
}
_JSON_SERDES = ("jsonserde", "hcatalog.data.jsonserde")
_CODECS = {"gzip": "gzip", "gz": "gzip", "zstd": "zstd", "bzip2": "bzip2", "deflate": "deflate"}


def load_glue_catalog(spec: str, client=None) -> Catalog:
    """The tables of a Glue database, `glue:DATABASE`."""
    database = spec[len(PREFIX) :] if spec.startswith(PREFIX) else spec
    if not database:
        raise CatalogError("glue: needs a database name, as in --catalog glue:sales")
    if client is None:
        import boto3

        client = boto3.client("glue")
    tables = []
    try:
        for page in client.get_paginator("get_tables").paginate(DatabaseName=database):
            tables += [table_from_glue(t, database) for t in page.get("TableList", [])]
    except CatalogError:
        raise
    except Exception as e:  # botocore's errors: no database, no credentials, no endpoint
        code = error_code(e)
        if code == "EntityNotFoundException":
            raise CatalogError(f"Glue database {database!r} does not exist") from None
        raise CatalogError(f"cannot read Glue database {database!r}: {code or e}") from None
    if not tables:
        raise CatalogError(f"Glue database {database!r} has no tables")
    return Catalog(tuple(tables))


def table_from_glue(t: dict, database: str) -> Table:
    """A catalog table from a Glue GetTables entry."""
    where = f"Glue table {database}.{t.get('Name')}"
    sd = t.get("StorageDescriptor") or {}
    location = sd.get("Location")
    if not location:
        raise CatalogError(f"{where} has no location")
    serde = sd.get("SerdeInfo") or {}
    library = (serde.get("SerializationLibrary") or "").lower()
    params = serde.get("Parameters") or {}
    input_format = (sd.get("InputFormat") or "").lower()
    table_params = t.get("Parameters") or {}
    if "parquet" in library or "parquet" in input_format:
        fmt = "parquet"
    elif any(s in library for s in _JSON_SERDES):
        fmt = "json"
    elif (
        "lazysimpleserde" in library
        or "opencsvserde" in library
        or "textinputformat" in input_format
    ):
        fmt = "csv"
    else:
        raise CatalogError(
            f"{where}: SerDe {serde.get('SerializationLibrary')!r} with InputFormat "
            f"{sd.get('InputFormat')!r} is not supported; sqlmr reads text, Parquet and JSON"
        )
    delimiter = params.get("field.delim") or params.get("separatorChar") or ","
    if (
        "serialization.format" in params
        and "field.delim" not in params
        and len(params["serialization.format"]) == 1
        and not params["serialization.format"].isdigit()
    ):
        delimiter = params["serialization.format"]
    quote = params.get("quoteChar", '"' if "opencsvserde" in library else "")
    header = str(table_params.get("skip.header.line.count", "0")) == "1"
    codec = _CODECS.get(str(table_params.get("compressionType", "")).lower())
    columns = tuple(_column(c, where) for c in sd.get("Columns") or [])
    partitions = tuple(_column(c, where) for c in t.get("PartitionKeys") or [])
    return Table(
        t["Name"],
        location,
        columns + partitions,
        format=fmt,
        delimiter=delimiter,
        header=header,
        quote=quote,
        compression=codec,
        partitions=tuple(c.name for c in partitions),
        defined_in=f"Glue database {database}",
    )


def _column(c: dict, where: str) -> Column:
    raw = str(c.get("Type", "")).strip().lower()
    base = re.sub(r"\(.*\)$", "", raw).strip()
    sql = _HIVE_TYPES.get(base)
    if sql is None:
        raise CatalogError(
            f"{where}: column {c.get('Name')!r} has type {raw!r}, which sqlmr cannot read; "
            f"supported: {', '.join(sorted(set(_HIVE_TYPES)))}"
        )
    typ = plan_type(raw) if sql == "DECIMAL" else SQL_TYPES[sql]
    if typ is None:
        raise CatalogError(f"{where}: column {c.get('Name')!r} has type {raw!r}, out of range")
    return Column(c["Name"], typ)
