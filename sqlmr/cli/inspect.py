"""The `sqlmr tables` and `sqlmr describe` commands: what exists, answered with no job."""

from __future__ import annotations

import argparse
import sys


def add_commands(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]):
    """Register `tables` and `describe`."""
    shared = [parents["common"], parents["tables"]]
    t = sub.add_parser(
        "tables",
        help="list the tables",
        description="List the tables a query may name (as SHOW TABLES does).",
        parents=shared,
    )
    _add_format(t)
    t.set_defaults(handler=_tables)
    d = sub.add_parser(
        "describe",
        help="show a table's columns, files and size",
        description="Show a table's columns and types, its location and format, how many "
        "objects it has and their total size, and its partition columns.",
        parents=shared,
    )
    d.add_argument("name", help="the table")
    _add_format(d)
    d.set_defaults(handler=_describe)


def _add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=["table", "csv", "tsv", "json"],
        help="output format (default: table on a terminal, csv in a pipe)",
    )


def _tables(args: argparse.Namespace) -> int:
    from sqlmr.api import resolve_catalog
    from sqlmr.cli.output import choose_format
    from sqlmr.cli.query import emit
    from sqlmr.describe import show_tables

    table = show_tables(resolve_catalog(args.tables, args.catalog))
    emit(table.column_names, [table], choose_format(args.format, None, sys.stdout.isatty()), None)
    return 0


def _describe(args: argparse.Namespace) -> int:
    from sqlmr.api import resolve_catalog
    from sqlmr.cli.output import choose_format
    from sqlmr.cli.query import emit
    from sqlmr.describe import describe_table, table_info
    from sqlmr.planning.explain import format_size

    catalog = resolve_catalog(args.tables, args.catalog)
    info = table_info(catalog, args.name)
    fmt = choose_format(args.format, None, sys.stdout.isatty())
    if fmt == "table":
        t = info.table
        print(f"table {t.name}: {t.format} at {t.location}")
        print(f"{info.objects} object(s), {format_size(info.bytes)} ({info.bytes:,} bytes)")
        print(f"partition columns: {', '.join(info.partition_columns) or '(none)'}")
    table = describe_table(catalog, args.name)
    emit(table.column_names, [table], fmt, None)
    return 0
