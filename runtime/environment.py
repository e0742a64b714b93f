"""What the function's environment must have, diagnosed when a task fails, and the probe.

The runtime imports with any pyarrow build (DESIGN: no optional Arrow feature at import), but a
task needs some features that a custom or trimmed Arrow build may lack: compute kernels, RE2
regexes for LIKE, Acero for GROUP BY and joins, the CSV reader, IPC. When a task fails (with any
error: a missing kernel may surface as an EvaluationError), `diagnose` runs a tiny functional
test of each (once per process) and raises MissingFeatureError naming the first one missing: a
final error, because another attempt on the same build fails the same way. A build without a
feature fails where the task first uses it (an ImportError, a missing kernel), so a task that
succeeds needs no test: running them before every first task cost each fresh worker 4 ms, 7-14
ms with Acero, on the job's critical path (and loaded the CSV reader into Parquet jobs' workers).

`probe` answers the probe event ({"sqlmr_probe": 1}) that `sqlmr deploy` and `deploy --check`
send: Python and pyarrow versions, codecs, architecture, memory, the features and the optional
modules the function ships with (aws_xray_sdk), so a deployment that cannot run a task fails
deploy instead of a user's first query.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from .errors import MissingFeatureError

PROBE_KEY = "sqlmr_probe"
PROBE_VERSION = 1
CODECS = ("lz4", "zstd", "snappy", "gzip", "brotli", "bz2")
# Modules the probe reports, each one's version or its absence: numpy (the runtime computes with
# it; sqlmr's layer ships it), and boto3 and aws_xray_sdk, which the function imports lazily.
OPTIONAL_MODULES = ("numpy", "boto3", "aws_xray_sdk")

# Every compute kernel the expression IR and the operators call by name.
KERNELS = (
    "add", "add_checked", "subtract_checked", "multiply_checked", "divide", "negate_checked",
    "remainder", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "and_kleene", "or_kleene", "invert", "is_null", "is_valid", "is_nan", "is_in", "if_else",
    "case_when", "cast", "round", "filter", "take", "sort_indices", "select_k_unstable",
    "utf8_lower", "utf8_upper", "utf8_length", "utf8_slice_codeunits", "utf8_trim_whitespace",
    "binary_join_element_wise", "make_struct", "hash_sum", "hash_count", "hash_min", "hash_max",
    "hash_mean", "hash_count_distinct",
    # the partition hash and the broadcast join index
    "ascii_rpad", "binary_slice", "binary_length", "bit_wise_xor", "shift_right", "multiply",
    "subtract", "cumulative_sum",
)  # fmt: skip


def _kernels() -> None:
    from . import compute as pc

    for name in KERNELS:
        try:
            pc.get_function(name)
        except (KeyError, pa.ArrowKeyError, pa.ArrowNotImplementedError) as e:
            raise LookupError(f"kernel {name}") from e


def _regex() -> None:
    from . import compute as pc

    pc.match_like(pa.array(["abc"]), "a%")
    pc.match_substring_regex(pa.array(["abc"]), "^a.c$")


def _acero() -> None:
    # Through pyarrow._acero, as the runtime groups (grouping.aggregate): Table.group_by and
    # Table.join would import pyarrow.acero and pyarrow.dataset (≈ 12 ms) in every worker.
    from pyarrow._acero import Declaration, HashJoinNodeOptions, TableSourceNodeOptions

    from .grouping import aggregate

    t = pa.table({"k": [1, 1, 2], "v": [1.0, 2.0, 3.0]})
    aggregate(t, ["k"], [("v", "sum")])
    source = Declaration("table_source", TableSourceNodeOptions(t))
    options = HashJoinNodeOptions("inner", ["k"], ["k"], output_suffix_for_right="_r")
    Declaration("hashjoin", options, inputs=[source, source]).to_table(use_threads=False)


def _csv() -> None:
    import pyarrow.csv as pacsv

    pacsv.read_csv(pa.py_buffer(b"a,b\n1,x\n"))


def _ipc() -> None:
    import pyarrow.ipc as ipc

    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, pa.schema([("a", pa.int64())])) as w:
        w.write_table(pa.table({"a": [1]}))
    ipc.open_stream(sink.getvalue()).read_all()


ACERO = "Acero (GROUP BY, joins)"
# name -> check; a check raises when the feature is missing.
FEATURES: dict[str, Callable[[], None]] = {
    "compute kernels": _kernels,
    "RE2 regular expressions (LIKE, REGEXP)": _regex,
    ACERO: _acero,
    "CSV reader": _csv,
    "IPC streams": _ipc,
}

_checked: dict[str, str] | None = None  # feature -> verdict, once per process (None: none yet)


def _verdict(check: Callable[[], None]) -> str:
    try:
        check()
        return "ok"
    except Exception as e:  # noqa: BLE001 - any failure means the feature is unusable
        cause = e.__cause__ or e
        return f"{e}: {type(cause).__name__}: {cause}".strip()


def feature_report() -> dict[str, str]:
    """Every feature and "ok" or why it failed."""
    return {name: _verdict(check) for name, check in FEATURES.items()}


def diagnose(error: Exception, acero: bool = True) -> None:
    """Raise MissingFeatureError, caused by `error` (a task's failure), naming the first feature
    this process's pyarrow lacks; return when none is missing (the caller re-raises `error`).
    Each feature is tested once per process. With acero=False (a task that neither groups nor
    joins) Acero is not tested, so a scan-only job is never blamed on it."""
    global _checked
    if _checked is None:
        _checked = {}
    for name, check in FEATURES.items():
        if name == ACERO and not acero:
            continue
        if name not in _checked:
            _checked[name] = _verdict(check)
        if _checked[name] != "ok":
            raise MissingFeatureError(
                f"the function's pyarrow {pa.__version__} lacks {name} ({_checked[name]}); "
                "deploy with sqlmr's own layer (sqlmr deploy without --layer) or a pyarrow "
                "built with it"
            ) from error


def is_probe(event: Any) -> bool:
    return isinstance(event, dict) and PROBE_KEY in event


def probe(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The probe's answer: what this function runs with."""
    modules: dict[str, str | None] = {}
    for name in OPTIONAL_MODULES:
        try:
            module = importlib.import_module(name)
            modules[name] = str(getattr(module, "__version__", "present"))
        except Exception:  # noqa: BLE001 - absent or broken: reported as absent
            modules[name] = None
    if modules.get("aws_xray_sdk") is not None:
        from aws_xray_sdk import version as xray_version

        modules["aws_xray_sdk"] = xray_version.VERSION
    memory = getattr(context, "memory_limit_in_mb", None) or os.environ.get(
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
    )
    return {
        PROBE_KEY: PROBE_VERSION,
        "python": platform.python_version(),
        "pyarrow": pa.__version__,
        "architecture": platform.machine(),
        "memory_mb": int(memory) if memory else None,
        "codecs": {c: bool(pa.Codec.is_available(c)) for c in CODECS},
        "features": feature_report(),
        "modules": modules,
        "sys_path": list(sys.path),
    }
