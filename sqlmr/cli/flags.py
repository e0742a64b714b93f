"""The command line's shared flags, each declared once, and the value types they parse.

Every command takes its flags from these parent parsers: `common` (--debug), `aws` (--profile,
--region), `tables` (where the tables are), `planning` (how a query is cut) and `executor` (where
tasks run). A flag that a config file may set has default None here; its built-in default lives
in sqlmr.config.DEFAULTS, so `config show` can tell which layer supplied each value.
"""

from __future__ import annotations

import argparse

from sqlmr.defaults import BROADCAST_THRESHOLD, LAMBDA_CONCURRENCY, RETRIES, TASK_MEMORY_MB
from sqlmr.errors import UsageError


def positive(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def whole(text: str) -> int:
    """A whole number of at least 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, got {text!r}")
    return value


def size(text: str) -> int:
    """A size such as 64KB, 16MB or 1GB, in bytes."""
    from sqlmr.planning.splits import parse_size

    try:
        return parse_size(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def budget(text: str) -> int:
    """A task's memory budget: a size of at least 1MB (a smaller one cannot run any task)."""
    value = size(text)
    if value < 1 << 20:
        raise argparse.ArgumentTypeError(f"a task needs at least 1MB of memory, not {text!r}")
    return value


def _parent() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False)


def common() -> argparse.ArgumentParser:
    """Flags of every command."""
    p = _parent()
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument(
        "--config-profile",
        metavar="NAME",
        help="use the settings of [profiles.NAME] in the config file (default: $SQLMR_PROFILE)",
    )
    return p


def aws() -> argparse.ArgumentParser:
    """The AWS credential profile and region."""
    p = _parent()
    p.add_argument("--profile", help="AWS profile (default: the standard credential chain)")
    p.add_argument("--region", help="AWS region (default: from the profile or environment)")
    return p


def tables() -> argparse.ArgumentParser:
    """Where the tables are."""
    p = _parent()
    p.add_argument(
        "--tables",
        metavar="DIR",
        help="folder or s3:// prefix with one subfolder per table (default: the embedded "
        "Amplab dataset)",
    )
    p.add_argument(
        "--catalog",
        metavar="FILE",
        help="catalog file (TOML or JSON) describing more tables, or glue:DATABASE for an AWS "
        "Glue database; added to the others",
    )
    return p


def planning() -> argparse.ArgumentParser:
    """How a query is cut into tasks."""
    p = _parent()
    p.add_argument(
        "--workers", type=positive, metavar="N", help="worker processes (default: CPU count)"
    )
    p.add_argument(
        "--split-size",
        type=size,
        metavar="SIZE",
        help="bytes per map task, e.g. 64KB, 16MB, 1GB (default: from the task memory budget)",
    )
    p.add_argument(
        "--reducers",
        type=positive,
        metavar="N",
        help="reduce tasks (default: from the estimated shuffle size, at least one per worker)",
    )
    p.add_argument(
        "--task-memory",
        type=budget,
        metavar="SIZE",
        help="memory budget of one task, which sizes splits and reducers "
        f"(default: {TASK_MEMORY_MB}MB)",
    )
    p.add_argument(
        "--broadcast-threshold",
        type=size,
        metavar="SIZE",
        help="join by broadcasting the smaller table when it is at most SIZE "
        f"(default: {BROADCAST_THRESHOLD >> 20}MB)",
    )
    p.add_argument(
        "--exchange",
        choices=["auto", "direct", "two-level"],
        help="shuffle exchange: two-level puts about sqrt(M) combine tasks between M map tasks "
        "and the reducers, so each reducer reads sqrt(M) objects (default auto: two-level above "
        "1,000 map tasks x 100 partitions)",
    )
    return p


def executor() -> argparse.ArgumentParser:
    """Where tasks run and where their intermediate objects go."""
    p = _parent()
    p.add_argument(
        "--executor",
        choices=["local", "lambda"],
        help="run tasks in local processes (default) or on AWS Lambda",
    )
    p.add_argument("--function-name", metavar="NAME", help="the Lambda function (default: sqlmr)")
    p.add_argument(
        "--concurrency",
        type=positive,
        metavar="N",
        help=f"concurrent Lambda invocations (default: {LAMBDA_CONCURRENCY})",
    )
    p.add_argument(
        "--endpoint-url", metavar="URL", help="Lambda endpoint (default: AWS_ENDPOINT_URL_LAMBDA)"
    )
    p.add_argument(
        "--job-store",
        metavar="DIR",
        help="folder or s3://bucket/prefix for intermediate objects (default: a temp folder)",
    )
    p.add_argument(
        "--retries", type=whole, metavar="N", help=f"retries of a failed task (default: {RETRIES})"
    )
    p.add_argument(
        "--task-timeout",
        type=positive,
        metavar="SECONDS",
        help="abandon and retry a local task running this long (default: 120 s + 1 s per MB)",
    )
    p.add_argument(
        "--shuffle-compression",
        choices=["auto", "none", "lz4", "zstd"],
        help="compression of shuffle and result objects (default auto: none on a local job "
        "store, LZ4 or else ZSTD on S3, as the worker's pyarrow has them)",
    )
    return p
