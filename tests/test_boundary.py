"""The runtime boundary: sqlmr_runtime (what ships to Lambda) never imports the client (sqlmr),
the SQL parser (sqlglot) or, for the core modules, boto3; and it never deserialises code
(pickle, marshal) or evaluates strings (eval, exec)."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import sqlmr_runtime

RUNTIME_DIR = Path(sqlmr_runtime.__file__).parent
ALL_MODULES = sorted(f"sqlmr_runtime.{m.name}" for m in pkgutil.iter_modules([str(RUNTIME_DIR)]))
# What runs in every task; the S3 storage and the X-Ray tracing modules may import AWS
# libraries lazily, and are only loaded when used.
CORE_MODULES = [
    "sqlmr_runtime",
    "sqlmr_runtime.handler",
    "sqlmr_runtime.validate",
    "sqlmr_runtime.scan",
    "sqlmr_runtime.shuffle",
    "sqlmr_runtime.partition",
    "sqlmr_runtime.operators",
    "sqlmr_runtime.expressions",
    "sqlmr_runtime.storage",
    "sqlmr_runtime.types",
    "sqlmr_runtime.errors",
]
FORBIDDEN_EVERYWHERE = ("sqlmr", "sqlglot")
FORBIDDEN_IN_CORE = (*FORBIDDEN_EVERYWHERE, "boto3", "botocore", "aws_xray_sdk")


def _loaded_after_importing(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def _top_levels(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def test_every_runtime_module_is_covered() -> None:
    assert set(CORE_MODULES[1:]) <= set(ALL_MODULES)
    assert len(ALL_MODULES) >= 10


def test_core_runtime_imports_no_client_parser_or_aws() -> None:
    loaded = _top_levels(_loaded_after_importing(CORE_MODULES))
    assert "sqlmr_runtime" in loaded and "pyarrow" in loaded
    assert not loaded & set(FORBIDDEN_IN_CORE), sorted(loaded & set(FORBIDDEN_IN_CORE))


def test_whole_runtime_imports_neither_sqlmr_nor_sqlglot() -> None:
    loaded = _top_levels(_loaded_after_importing(ALL_MODULES))
    assert not loaded & set(FORBIDDEN_EVERYWHERE), sorted(loaded & set(FORBIDDEN_EVERYWHERE))


def test_a_task_runs_without_the_client(tmp_path: Path) -> None:
    """Run one real task event in a fresh interpreter and check what it loaded."""
    table = tmp_path / "rankings" / "part-00000"
    table.parent.mkdir()
    table.write_text("a,1,2\nb,3,4\n")
    event = {
        "version": sqlmr_runtime.PLAN_VERSION,
        "job": "boundary",
        "job_store": str(tmp_path / "store"),
        "stage": {
            "id": "map",
            "kind": "map",
            "source": {
                "type": "scan",
                "table": "rankings",
                "format": "csv",
                "columns": [
                    {"name": "pageURL", "type": "string"},
                    {"name": "pageRank", "type": "int32"},
                    {"name": "avgDuration", "type": "int32"},
                ],
                "read": ["pageRank"],
            },
            "ops": [
                {"op": "project", "columns": [{"name": "k", "expr": {"col": "pageRank"}}]},
                {
                    "op": "aggregate",
                    "phase": "partial",
                    "keys": ["k"],
                    "aggregates": [{"name": "n", "fn": "count_all"}],
                },
            ],
            "sink": {"type": "shuffle", "partitions": 2, "keys": ["k"]},
        },
        "task": 0,
        "attempt": 0,
        "input": {"ranges": [{"url": str(table), "start": 0, "end": table.stat().st_size}]},
    }
    code = (
        "import json, sys\n"
        "from sqlmr_runtime.handler import lambda_handler\n"
        f"summary = lambda_handler(json.loads({json.dumps(json.dumps(event))}), None)\n"
        "print(json.dumps({'summary': summary, 'modules': sorted(sys.modules)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["summary"]["rows_in"] == 2 and out["summary"]["rows_out"] == 2
    loaded = _top_levels(set(out["modules"]))
    assert not loaded & set(FORBIDDEN_IN_CORE), sorted(loaded & set(FORBIDDEN_IN_CORE))


# -- static checks ---------------------------------------------------------------------------------

RUNTIME_FILES = sorted(RUNTIME_DIR.rglob("*.py"))
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve"}
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_runtime_sources_exist() -> None:
    assert len(RUNTIME_FILES) >= 10
    assert RUNTIME_DIR / "handler.py" in RUNTIME_FILES


def test_no_runtime_file_imports_sqlmr_or_sqlglot() -> None:
    bad = []
    for path in RUNTIME_FILES:
        for line, module in _imports(ast.parse(path.read_text(), str(path))):
            if module.split(".")[0] in FORBIDDEN_EVERYWHERE:
                bad.append(f"{path.name}:{line}: imports {module}")
    assert bad == []


def test_no_runtime_file_uses_pickle_eval_or_exec() -> None:
    bad = []
    for path in RUNTIME_FILES:
        tree = ast.parse(path.read_text(), str(path))
        for line, module in _imports(tree):
            if module.split(".")[0] in UNSAFE_MODULES:
                bad.append(f"{path.name}:{line}: imports {module}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.id if isinstance(fn, ast.Name) else None
                if name in UNSAFE_CALLS:
                    bad.append(f"{path.name}:{node.lineno}: calls {name}()")
                if isinstance(fn, ast.Attribute) and fn.attr in ("loads", "load"):
                    base = fn.value
                    if isinstance(base, ast.Name) and base.id in UNSAFE_MODULES:
                        bad.append(f"{path.name}:{node.lineno}: calls {base.id}.{fn.attr}()")
            if (
                isinstance(node, ast.Name)
                and node.id in ("eval", "exec")
                and not isinstance(node.ctx, ast.Store)
            ):
                bad.append(f"{path.name}:{node.lineno}: refers to {node.id}")
    assert bad == [], bad


def test_static_check_catches_offenders() -> None:
    """The checks above would see an offending import or call (guards against a vacuous test)."""
    tree = ast.parse("import pickle\nfrom sqlglot import exp\nx = eval('1')\n")
    assert [m for _, m in _imports(tree)] == ["pickle", "sqlglot"]
    assert any(isinstance(n, ast.Name) and n.id == "eval" for n in ast.walk(tree))
