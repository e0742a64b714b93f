"""TPC-H data: the eight tables from the `tpchgen-cli` generator, plus their catalog.

`tpchgen-cli` (a Rust port of dbgen, installed from PyPI as a wheel with its own binary) writes
one folder per table; this module writes `catalog.toml` next to them with the TPC-H schemas, so
that `--tables DIR` finds everything by itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
import time
from dataclasses import dataclass

from sqlmr.errors import SqlmrError

# The TPC-H schemas (specification 1.4): money is DECIMAL(15,2), CHAR/VARCHAR are text.
TPCH_SCHEMAS: dict[str, str] = {
    "region": "r_regionkey INTEGER, r_name VARCHAR, r_comment VARCHAR",
    "nation": "n_nationkey INTEGER, n_name VARCHAR, n_regionkey INTEGER, n_comment VARCHAR",
    "part": "p_partkey BIGINT, p_name VARCHAR, p_mfgr VARCHAR, p_brand VARCHAR, p_type VARCHAR, "
    "p_size INTEGER, p_container VARCHAR, p_retailprice DECIMAL(15,2), p_comment VARCHAR",
    "supplier": "s_suppkey BIGINT, s_name VARCHAR, s_address VARCHAR, s_nationkey INTEGER, "
    "s_phone VARCHAR, s_acctbal DECIMAL(15,2), s_comment VARCHAR",
    "partsupp": "ps_partkey BIGINT, ps_suppkey BIGINT, ps_availqty INTEGER, "
    "ps_supplycost DECIMAL(15,2), ps_comment VARCHAR",
    "customer": "c_custkey BIGINT, c_name VARCHAR, c_address VARCHAR, c_nationkey INTEGER, "
    "c_phone VARCHAR, c_acctbal DECIMAL(15,2), c_mktsegment VARCHAR, c_comment VARCHAR",
    "orders": "o_orderkey BIGINT, o_custkey BIGINT, o_orderstatus VARCHAR, "
    "o_totalprice DECIMAL(15,2), o_orderdate DATE, o_orderpriority VARCHAR, o_clerk VARCHAR, "
    "o_shippriority INTEGER, o_comment VARCHAR",
    "lineitem": "l_orderkey BIGINT, l_partkey BIGINT, l_suppkey BIGINT, l_linenumber INTEGER, "
    "l_quantity DECIMAL(15,2), l_extendedprice DECIMAL(15,2), l_discount DECIMAL(15,2), "
    "l_tax DECIMAL(15,2), l_returnflag VARCHAR, l_linestatus VARCHAR, l_shipdate DATE, "
    "l_commitdate DATE, l_receiptdate DATE, l_shipinstruct VARCHAR, l_shipmode VARCHAR, "
    "l_comment VARCHAR",
}
FORMATS = ("text", "parquet")


@dataclass(frozen=True)
class TpchStats:
    """What a generation wrote."""

    files: int
    bytes_written: int
    seconds: float


def columns_of(table: str) -> list[tuple[str, str]]:
    """(name, SQL type) of a TPC-H table's columns."""
    out = []
    for item in TPCH_SCHEMAS[table].split(", "):
        name, typ = item.split(" ", 1)
        out.append((name, typ))
    return out


def _generator() -> str:
    scripts = os.path.join(sysconfig.get_path("scripts"), "tpchgen-cli")
    found = scripts if os.path.isfile(scripts) else shutil.which("tpchgen-cli")
    if not found:
        raise SqlmrError(
            "the TPC-H generator tpchgen-cli is not installed; run: pip install tpchgen-cli"
        )
    return found


def catalog_toml(fmt: str = "text") -> str:
    """The catalog of a generated TPC-H folder."""
    lines = ["# TPC-H tables written by `sqlmr gen tpch` (tpchgen-cli)", ""]
    for table in TPCH_SCHEMAS:
        lines.append(f"[tables.{table}]")
        lines.append(f'location = "{table}"')
        if fmt == "parquet":
            lines.append('format = "parquet"')
        else:
            # dbgen's .tbl: '|'-delimited, no header, no quoting, and a '|' after the last field.
            lines += ['format = "csv"', 'delimiter = "|"', "header = false", 'quote = ""']
            lines.append("trailing_delimiter = true")
        cols = ", ".join(f'{{ name = "{n}", type = "{t}" }}' for n, t in columns_of(table))
        lines += [f"columns = [{cols}]", ""]
    return "\n".join(lines)


def generate(out: str, scale: float, fmt: str = "text", parts: int = 1) -> TpchStats:
    """Generate the eight TPC-H tables at a scale factor into OUT, one folder per table."""
    if fmt not in FORMATS:
        raise SqlmrError(f"unknown TPC-H format {fmt!r}; use one of {', '.join(FORMATS)}")
    if scale <= 0:
        raise SqlmrError(f"the scale factor must be positive, not {scale}")
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    command = [
        _generator(),
        "tbl" if fmt == "text" else "parquet",
        "--scale-factor",
        repr(float(scale)),
        "--output-dir",
        out,
        "--parts",
        str(max(1, parts)),
        "--overwrite",
        "--quiet",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=24 * 3600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SqlmrError(f"tpchgen-cli failed to run: {e}") from e
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise SqlmrError(f"tpchgen-cli failed: {detail[-1] if detail else done.returncode}")
    with open(os.path.join(out, "catalog.toml"), "w") as f:
        f.write(catalog_toml(fmt))
    files = nbytes = 0
    for table in TPCH_SCHEMAS:
        for entry in os.scandir(os.path.join(out, table)):
            files += 1
            nbytes += entry.stat().st_size
    return TpchStats(files, nbytes, time.perf_counter() - t0)
