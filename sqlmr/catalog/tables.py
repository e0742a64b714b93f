"""Table schemas: the built-in Amplab tables, a tables folder, and user catalog files.

A tables folder holds one subfolder per table (DIR/rankings/part-00000, …): the Amplab tables
get their built-in schemas, and a `catalog.toml` or `catalog.json` inside the folder may describe
others. A catalog file names, per table: location, format, compression, delimiter, header,
columns and partition columns. What it leaves out (format, columns, partitions) is discovered
from the objects when a query names the table (sqlmr.catalog.discover).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlmr_runtime.spec import TYPES
from sqlmr_runtime.types import MAX_PRECISION, SqlNames, decimal_type

from sqlmr.catalog.listing import Listing, detect
from sqlmr.errors import CatalogError

# SQL type names accepted in catalogs and CASTs, and the plan type each maps to.
SQL_TYPES: dict[str, str] = {
    "VARCHAR": "string",
    "TEXT": "string",
    "STRING": "string",
    "INT": "int32",
    "INTEGER": "int32",
    "BIGINT": "int64",
    "DOUBLE": "float64",
    "FLOAT": "float64",
    "REAL": "float64",
    "DATE": "date32",
    "TIMESTAMP": "timestamp",
    "BOOLEAN": "bool",
    "BOOL": "bool",
    # DECIMAL(p,s) is exact, as in DuckDB (plan_type reads the precision and scale); DuckDB's
    # DECIMAL without them is DECIMAL(18,3).
    "DECIMAL": decimal_type(18, 3),
    "NUMERIC": decimal_type(18, 3),
}
# The SQL name shown for each plan type (in explain and in DuckDB comparisons): the runtime's.
TYPE_NAMES = SqlNames(TYPES)

_DECIMAL_SQL = re.compile(r"(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)", re.I)


def plan_type(text: str) -> str | None:
    """The plan type of a SQL type as written in a catalog or CAST (DECIMAL(15,2) →
    decimal(15,2), INT → int32), or None if sqlmr has no such type."""
    match = _DECIMAL_SQL.fullmatch(text.strip())
    if match is None:
        return SQL_TYPES.get(sql_type_name(text))
    precision, scale = int(match.group(1)), int(match.group(2) or 0)
    valid = 1 <= precision <= MAX_PRECISION and scale <= precision
    return decimal_type(precision, scale) if valid else None


@dataclass(frozen=True)
class Column:
    """A column: its name as declared and its plan type."""

    name: str
    type: str


FORMATS = ("csv", "parquet", "json")
COMPRESSIONS = ("gzip", "zstd", "bzip2", "deflate")


@dataclass(frozen=True)
class Table:
    """A table of objects below one location (a folder, file, S3 prefix, or a glob of them).

    `format` is csv, parquet, json, or auto (detected from the objects' extensions);
    `compression` None means none or detected. `columns` ends with the partition columns, named
    in `partitions`; `partitions` None means: discover them from `key=value/` folders.
    """

    name: str
    location: str
    columns: tuple[Column, ...]
    format: str = "csv"
    delimiter: str = ","
    header: bool = False
    quote: str = ""  # "" means no quoting: the Amplab files have none, and '"' is plain data
    # Every line ends with a delimiter after its last field (TPC-H's dbgen .tbl files).
    trailing_delimiter: bool = False
    # Quoted values may hold newlines: each object is read whole (one range), never split.
    newlines_in_values: bool = False
    compression: str | None = None
    partitions: tuple[str, ...] | None = ()
    # Text options left to detection from the first object (sqlmr.catalog.sniff): a path in
    # FROM that does not give its "delimiter" or "header", as DuckDB's sniffer detects them.
    detect: tuple[str, ...] = ()
    # The header line its columns were named from (inferred, not declared): columns are read
    # by position, so every object's header must be this one (checked by the tasks).
    header_names: tuple[str, ...] = ()
    # Where the table was defined (a catalog file, a tables folder), for error messages.
    defined_in: str = field(default="", compare=False)
    # Found in a tables folder with no catalog entry (its files carry the schema): a catalog's
    # entry of the same name replaces it rather than clashing with it.
    implicit: bool = field(default=False, compare=False)
    # The objects found when the table was resolved, so that planning does not list them again.
    listing: Listing | None = field(default=None, compare=False, repr=False)

    def resolved(self) -> Table:
        """This table with its format, columns and partitions discovered where not declared."""
        if self.listing is not None:
            return self  # resolved already, its objects listed for this query (no second LIST)
        known = self.format == "parquet" or self.compression is not None
        if known and self.format != "auto" and self.columns and self.partitions is not None:
            return self
        # Loaded only to discover: it needs pyarrow, which the compile helper may not have.
        from sqlmr.catalog.discover import discover

        return discover(self)

    def column(self, name: str) -> Column | None:
        """The column with this name, compared case-insensitively as DuckDB does."""
        lowered = name.lower()
        return next((c for c in self.columns if c.name.lower() == lowered), None)


def _columns(spec: str) -> tuple[Column, ...]:
    out = []
    for item in spec.split(","):
        name, typ = item.split()
        out.append(Column(name, SQL_TYPES[typ]))
    return tuple(out)


AMPLAB_SCHEMAS: dict[str, tuple[Column, ...]] = {
    "rankings": _columns("pageURL VARCHAR, pageRank INT, avgDuration INT"),
    "uservisits": _columns(
        "sourceIP VARCHAR, destURL VARCHAR, visitDate DATE, adRevenue DOUBLE, "
        "userAgent VARCHAR, countryCode VARCHAR, languageCode VARCHAR, searchWord VARCHAR, "
        "duration INT"
    ),
}


def distinct_names(names: list[str]) -> list[str]:
    """Column names made distinct as DuckDB makes them, in a result (COPY, its result sets) and
    in a CSV header alike: a name equal to an earlier one, ignoring case, gets "_1", "_2", ...
    (k, k → k, k_1; k, K → k, K_1), skipping suffixes some column already has (k, k, k_1 → k,
    k_1, k_1_1). A JSON key or a Parquet field named twice loses a column for any reader, and
    SQL names match without regard to case."""
    taken: dict[str, int] = {}
    unique = []
    for name in names:
        low = name.lower()
        if low in taken:
            # QueryResult::DeduplicateColumns: the count of the base name goes up only while
            # its next suffix is taken, so "k_1" given after "k, k" becomes "k_1_1".
            new = f"{name}_{taken[low]}"
            while new.lower() in taken:
                taken[low] += 1
                new = f"{name}_{taken[low]}"
            name, low = new, new.lower()
        taken[low] = taken.get(low, 0) + 1
        unique.append(name)
    return unique


@dataclass(frozen=True)
class Catalog:
    """The tables a query may name."""

    tables: tuple[Table, ...]
    # Subfolders of a tables folder that no schema describes (text without a catalog entry),
    # so that naming one says how to describe it rather than only "unknown table".
    undescribed: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def table(self, name: str) -> Table:
        """The table of this name (case-insensitive), or a CatalogError naming those that exist.

        A CSV table with a header and no declared columns gets them from its first object."""
        lowered = name.lower()
        for t in self.tables:
            if t.name.lower() == lowered:
                return t.resolved()
        for folder_name, path in self.undescribed:
            if folder_name.lower() == lowered:
                raise CatalogError(
                    f"table {name!r}: folder {path} holds text files with no schema; describe it "
                    f"in {os.path.join(os.path.dirname(path), 'catalog.toml')} "
                    f"([tables.{folder_name}] with columns, or header = true), "
                    f"or query the files as FROM '{path}/*'"
                )
        known = ", ".join(sorted(t.name for t in self.tables)) or "none"
        raise CatalogError(f"unknown table {name!r}; tables: {known}")

    def with_tables(self, tables: Iterable[Table]) -> Catalog:
        """This catalog with each of `tables` in place of its table of the same name (a table
        resolved elsewhere: sqlmr.compiler.ahead)."""
        given = {t.name.lower(): t for t in tables}
        if not given:
            return self
        mine = tuple(given.get(t.name.lower(), t) for t in self.tables)
        return dataclasses.replace(self, tables=mine)

    def merged(self, other: Catalog) -> Catalog:
        """This catalog with the tables of another added; a name in both is a CatalogError that
        says where each was defined."""
        # A table a folder's files describe yields to one a catalog declares.
        declared = {t.name.lower() for t in other.tables if not t.implicit}
        mine_tables = tuple(
            t for t in self.tables if not (t.implicit and t.name.lower() in declared)
        )
        mine = {t.name.lower(): t for t in mine_tables}
        for t in other.tables:
            if t.name.lower() in mine:
                first = mine[t.name.lower()]
                raise CatalogError(
                    f"table {t.name} is defined twice: in {first.defined_in or 'the catalog'} "
                    f"and in {t.defined_in or 'another catalog'}; rename or remove one"
                )
        return Catalog(
            mine_tables + other.tables,
            tuple(u for u in self.undescribed + other.undescribed if u[0].lower() not in mine),
        )


def from_tables_dir(root: str) -> Catalog:
    """The catalog of a tables folder: Amplab subfolders, plus its own catalog file if any."""
    builtin = f"tables folder {root} (built-in Amplab schema)"
    if root.startswith("s3://"):
        return Catalog(
            tuple(
                Table(n, f"{root.rstrip('/')}/{n}", c, format="auto", defined_in=builtin)
                for n, c in AMPLAB_SCHEMAS.items()
            )
        )
    if not os.path.isdir(root):
        what = "is a file, not a folder" if os.path.exists(root) else "does not exist"
        raise CatalogError(
            f"tables folder {root!r} {what}; pass a folder with one subfolder per table "
            f"(or name the file in the query: FROM '{root}')"
        )
    tables = [
        Table(name, os.path.join(root, name), cols, format="auto", defined_in=builtin)
        for name, cols in AMPLAB_SCHEMAS.items()
        if os.path.isdir(os.path.join(root, name))
    ]
    catalog = Catalog(tuple(tables))
    for candidate in ("catalog.toml", "catalog.json"):
        path = os.path.join(root, candidate)
        if os.path.isfile(path):
            catalog = catalog.merged(load_catalog_file(path))
    return catalog.merged(_self_described(root, {t.name.lower() for t in catalog.tables}))


def _self_described(root: str, defined: set[str]) -> Catalog:
    """The other subfolders of a tables folder: tables when their files carry a schema (Parquet,
    JSON Lines), else noted as undescribed so that naming one explains what is missing."""
    tables, undescribed = [], []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.is_dir() or entry.name.startswith((".", "_")) or entry.name.lower() in defined:
            continue
        names = (f for _, _, files in os.walk(entry.path) for f in files)
        # A look at the first thousand names is enough to tell; a huge folder is not walked whole.
        formats = {detect(f)[0] for f in itertools.islice(names, 1000) if f[0] not in "._"}
        if formats in ({"parquet"}, {"json"}):
            where = f"tables folder {root} (schema from the files)"
            tables.append(
                Table(entry.name, entry.path, (), format="auto", defined_in=where, implicit=True)
            )
        elif formats:
            undescribed.append((entry.name, entry.path))
    return Catalog(tuple(tables), tuple(undescribed))


def load_catalog_file(path: str) -> Catalog:
    """Read a catalog file (TOML or JSON):

    [tables.events]
    location = "data/events"      # relative to the catalog file, or s3://…; may hold * and **
    format = "csv"                # csv, parquet or json; default: from the extensions
    compression = "gzip"          # gzip, zstd, bzip2 or deflate; default: from the extensions
    delimiter = ","
    header = true
    columns = "id BIGINT, name VARCHAR, day DATE"   # or a list of {name, type}; optional for
                                                    # Parquet and JSON (from the files)
    partitions = "year INT"       # key=value/ folder columns; default: discovered, inferred

    A top-level `glue = "DATABASE"` adds the tables of that AWS Glue database.
    """
    import tomllib  # ≈ 2.5 ms, for catalog files only: not on a query's start-up path

    try:
        with open(path, "rb") as f:
            doc = json.load(f) if path.endswith(".json") else tomllib.load(f)
    except OSError as e:
        raise CatalogError(f"cannot read catalog file {path}: {e.strerror}") from e
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise CatalogError(f"catalog file {path} is not valid: {e}") from e
    base = os.path.dirname(os.path.abspath(path))
    specs = doc.get("tables")
    glue = doc.get("glue")  # glue = "DATABASE": that Glue database's tables too
    if glue is not None and not isinstance(glue, str):
        raise CatalogError(f"catalog file {path}: glue must name a database, not {glue!r}")
    if (not isinstance(specs, dict) or not specs) and not glue:
        raise CatalogError(f"catalog file {path} has no [tables.<name>] entries")
    own = Catalog(
        tuple(_table_from_spec(name, spec, base, path) for name, spec in (specs or {}).items())
    )
    if glue:
        from sqlmr.catalog.glue import load_glue_catalog

        own = load_glue_catalog(glue).merged(own)
    return own


def _value(spec: dict, key: str, kind: type, default: object, where: str) -> object:
    """A catalog value of the expected TOML/JSON type: a string "false" is not a boolean."""
    value = spec.get(key, default)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        expected = {bool: "true or false", str: "a string"}[kind]
        raise CatalogError(f"{where}: {key} must be {expected}, not {value!r}")
    return value


def _column_items(raw: object, where: str) -> list[tuple]:
    if isinstance(raw, str):
        # Commas inside parentheses belong to a type: "price DECIMAL(15,2), qty INT".
        return [tuple(part.split(None, 1)) for part in re.split(r",(?![^()]*\))", raw)]
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
        raise CatalogError(
            f'{where}: columns must be a string like "id BIGINT, name VARCHAR" '
            "or a list of {name, type}"
        )
    return [(c.get("name"), c.get("type")) for c in raw]


def parse_columns(raw: object, where: str) -> tuple[Column, ...]:
    """Columns from "a INT, b VARCHAR" or a list of {name, type}."""
    columns: list[Column] = []
    seen: set[str] = set()
    for item in _column_items(raw, where):
        if len(item) != 2 or not isinstance(item[0], str) or not item[0] or not item[1]:
            raise CatalogError(f"{where}: a column needs a name and a type, got {item!r}")
        name, typ = item[0].strip(), plan_type(str(item[1]))
        if typ is None:
            raise CatalogError(
                f"{where}: column {name} has unknown type {item[1]!r}; "
                f"use one of {', '.join(sorted(SQL_TYPES))}"
            )
        # Names compare case-insensitively (as in DuckDB): two spellings are one column.
        if name.lower() in seen:
            raise CatalogError(f"{where}: column {name} is declared twice")
        seen.add(name.lower())
        columns.append(Column(name, typ))
    return tuple(columns)


_KEYS = {
    "location",
    "format",
    "compression",
    "delimiter",
    "header",
    "quote",
    "columns",
    "partitions",
    "trailing_delimiter",
    "newlines_in_values",
}
_FORMAT_NAMES = {"text": "csv", "jsonl": "json", "ndjson": "json"}


def _table_from_spec(name: str, spec: dict, base: str, path: str) -> Table:
    where = f"catalog file {path}, table {name}"
    if not isinstance(spec, dict):
        raise CatalogError(f"{where}: expected a table of keys, not {spec!r}")
    unknown = set(spec) - _KEYS
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    if "location" not in spec:
        raise CatalogError(f"{where}: 'location' is required")
    fmt = str(_value(spec, "format", str, "auto", where)).lower()
    fmt = _FORMAT_NAMES.get(fmt, fmt)
    if fmt not in (*FORMATS, "auto"):
        raise CatalogError(f"{where}: format {fmt!r} is not supported; use csv, parquet or json")
    compression = spec.get("compression")
    if compression is not None and compression not in COMPRESSIONS:
        raise CatalogError(
            f"{where}: compression {compression!r} is not supported; "
            f"use one of {', '.join(COMPRESSIONS)}"
        )
    delimiter = _value(spec, "delimiter", str, ",", where)
    if len(delimiter) != 1 or delimiter in "\r\n":
        raise CatalogError(f"{where}: the delimiter must be one character, not {delimiter!r}")
    columns = parse_columns(spec["columns"], where) if "columns" in spec else ()
    partitions: tuple[str, ...] | None = None
    if "partitions" in spec:
        declared = parse_columns(spec["partitions"], where)
        columns += declared
        partitions = tuple(c.name for c in declared)
    location = _value(spec, "location", str, "", where)
    if not location:
        raise CatalogError(f"{where}: location must not be empty")
    if "://" not in location and not os.path.isabs(location):
        location = os.path.join(base, location)
    quote = _value(spec, "quote", str, '"', where)
    if len(quote) > 1 or (quote and quote in delimiter + "\r\n"):
        raise CatalogError(f"{where}: quote must be one character or empty, not {quote!r}")
    header = _value(spec, "header", bool, False, where)
    trailing = _value(spec, "trailing_delimiter", bool, False, where)
    newlines = _value(spec, "newlines_in_values", bool, False, where)
    if newlines and not quote:
        raise CatalogError(f"{where}: newlines_in_values needs a quote character")
    return Table(
        name,
        location,
        tuple(columns),
        fmt,
        delimiter,
        header,
        quote,
        trailing,
        newlines,
        compression=compression,
        partitions=partitions,
        defined_in=f"catalog file {path}",
    )


def sql_type_name(text: str) -> str:
    """A type as written in a catalog or CAST, normalised: DECIMAL(15,2) → DECIMAL."""
    return re.sub(r"\s*\(\s*\d+\s*(,\s*\d+\s*)?\)$", "", text.strip().upper())
