"""What exists: SHOW TABLES, DESCRIBE table and DESCRIBE SELECT, answered from the catalog and a
listing of the table's objects, with no job."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from sqlmr.catalog import TYPE_NAMES, Catalog, Table
from sqlmr.catalog.listing import list_table
from sqlmr.compiler import analyze
from sqlmr.compiler.statements import Statement
from sqlmr.errors import CatalogError


@dataclass(frozen=True)
class TableInfo:
    """A table's schema and what its location holds right now."""

    table: Table
    objects: int
    bytes: int
    partition_columns: tuple[str, ...]

    @property
    def columns(self) -> list[tuple[str, str]]:
        """(name, SQL type) of every column, partition columns included."""
        return [(c.name, TYPE_NAMES.get(c.type, c.type)) for c in self.table.columns]


def table_info(catalog: Catalog, name: str) -> TableInfo:
    """Schema, object count, total size and partition columns of a table or a path."""
    table = _table_or_path(catalog, name)
    listing = table.listing or list_table(table.location, table=table.name)
    objects = listing.objects
    if not objects:
        raise CatalogError(f"table {table.name} has no data files under {table.location}")
    partitions = tuple(table.partitions or ())
    return TableInfo(table, len(objects), sum(o.size for o in objects), partitions)


def _table_or_path(catalog: Catalog, name: str) -> Table:
    """A catalog table, or a table over a path (a folder, file, glob or s3:// prefix)."""
    from sqlmr.compiler.paths import looks_like_path

    try:
        return catalog.table(name)
    except CatalogError:
        if not looks_like_path(name):
            raise
    return Table(name, name, (), format="auto", partitions=None).resolved()


def show_tables(catalog: Catalog) -> pa.Table:
    """SHOW TABLES: one row per table, sorted by name."""
    names = sorted(t.name for t in catalog.tables)
    return pa.table({"name": pa.array(names, pa.string())})


def _columns_table(columns: list[tuple[str, str]]) -> pa.Table:
    return pa.table(
        {
            "column_name": pa.array([n for n, _ in columns], pa.string()),
            "column_type": pa.array([t for _, t in columns], pa.string()),
        }
    )


def describe_table(catalog: Catalog, name: str) -> pa.Table:
    """DESCRIBE table: its columns and their SQL types, as DuckDB names them."""
    table = _table_or_path(catalog, name)
    return _columns_table([(c.name, TYPE_NAMES.get(c.type, c.type)) for c in table.columns])


def describe_query(sql: str, catalog: Catalog) -> pa.Table:
    """DESCRIBE SELECT …: the result columns the query would have, compiled but not run."""
    logical = analyze(sql, catalog)
    return _columns_table([(o.name, TYPE_NAMES.get(o.type, o.type)) for o in logical.outputs])


def answer(statement: Statement, catalog: Catalog) -> pa.Table:
    """The result of a statement the driver answers itself (everything but a query)."""
    if statement.kind == "show_tables":
        return show_tables(catalog)
    if statement.kind == "describe_table":
        return describe_table(catalog, statement.table)
    if statement.kind == "describe_query":
        return describe_query(statement.sql, catalog)
    raise ValueError(f"{statement.kind} statements run as jobs")
