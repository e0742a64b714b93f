"""The catalog: table schemas, locations and formats (built-in Amplab tables, catalog files, the
embedded dataset)."""

from sqlmr.catalog.tables import (
    AMPLAB_SCHEMAS,
    SQL_TYPES,
    TYPE_NAMES,
    Catalog,
    Column,
    Table,
    from_tables_dir,
    load_catalog_file,
    plan_type,
)

__all__ = [
    "AMPLAB_SCHEMAS",
    "SQL_TYPES",
    "TYPE_NAMES",
    "Catalog",
    "Column",
    "Table",
    "from_tables_dir",
    "load_catalog_file",
    "plan_type",
]
