"""The catalog a query runs against: a tables folder, its catalog.toml and a catalog file or Glue
database, added up. Light to import (no planner, no driver): `sqlmr query` resolves it before
it forks its compile helper (sqlmr.compiler.ahead)."""

from __future__ import annotations

from sqlmr.catalog.tables import Catalog, from_tables_dir, load_catalog_file


def resolve_catalog(tables: str | None = None, catalog: str | Catalog | None = None) -> Catalog:
    """The catalog for a query: the tables of a tables folder (default: the embedded dataset),
    its catalog.toml, and a catalog file, added up (a name defined twice is a CatalogError)."""
    if isinstance(catalog, Catalog):
        return catalog
    if tables is None:
        from sqlmr.catalog.embedded import default_tables_dir

        tables = default_tables_dir()
    result = from_tables_dir(tables)
    if catalog is not None:
        result = result.merged(load_catalog(catalog))
    return result


def load_catalog(spec: str) -> Catalog:
    """A catalog file, or a Glue database named `glue:DATABASE`."""
    if spec.startswith("glue:"):
        from sqlmr.catalog.glue import load_glue_catalog

        return load_glue_catalog(spec)
    return load_catalog_file(spec)
