"""The compiler and the planner make plan nodes only through the declarations (sqlmr_runtime.build;
the planner through sqlmr.planning.nodes, the compiler's expressions through
sqlmr.compiler.expressions' lit, column_ref and call), so a misspelt name or field fails where
the node is made, here, and not in a task; and no module of theirs writes a node as a raw dict."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlmr_runtime import build
from sqlmr_runtime.errors import PlanValidationError

from sqlmr.compiler.expressions import call, column_ref, lit
from sqlmr.errors import PlanError
from sqlmr.planning import nodes
from sqlmr.planning.explain import render_plan
from sqlmr.planning.plan import InputStage, Plan, Stage

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = (ROOT / "sqlmr" / "planning", ROOT / "sqlmr" / "compiler")
# Keys that only plan nodes have: an operator, an expression, a task's input.
NODE_KEYS = {"op", "fn", "col", "lit", "ranges", "partition", "outputs"}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: build.op("projekt", columns=[]), "operator 'projekt' is not declared"),
        (lambda: build.op("limit", cnt=3), "missing field(s) count"),
        (lambda: build.op("limit", count=3, offset=1), "unknown field(s) offset"),
        (lambda: nodes.limit("3"), "expected a JSON integer"),
        (lambda: nodes.sort([], limit=True), "expected a JSON integer"),
        (lambda: nodes.call("total", "summ", "x"), "aggregate 'summ' is not declared"),
        (lambda: nodes.call("total", "sum"), "missing field(s) column"),
        (lambda: nodes.shuffle_sink(3, "key"), "expected a list"),
        (lambda: nodes.result_sink([{"column": "a", "desc": True}], 4), "unknown field(s) desc"),
        (lambda: build.source("shufle", stage="s1"), "source 'shufle' is not declared"),
        (lambda: build.fn("eq", build.col("a")), "1 arguments"),
        (lambda: build.fn("substr", build.col("a")), "missing field(s) start"),
        (lambda: nodes.filter_rows({"fn": "eqq", "args": []}), "unknown function 'eqq'"),
        (lambda: nodes.scan_task([{"url": "x", "start": 0}]), "missing field(s) end"),
    ],
)
def test_a_malformed_node_fails_where_it_is_made(make, message: str) -> None:
    with pytest.raises(PlanValidationError) as error:
        make()
    assert message in str(error.value)


def test_nodes_are_the_declared_json() -> None:
    assert nodes.project([("a", build.col("b"))]) == {
        "op": "project",
        "columns": [{"name": "a", "expr": {"col": "b"}}],
    }
    assert nodes.call("n", "count_all") == {"name": "n", "fn": "count_all"}
    assert nodes.sort([], None) == {"op": "sort", "keys": []}
    assert nodes.result_sink() == {"type": "result"}


def test_a_stage_of_an_undeclared_kind_is_refused() -> None:
    first = InputStage((), "m", "mapper", nodes.shuffle_source("s0"), (), ())
    with pytest.raises(PlanError, match="unknown kind 'mapper'"):
        first.close((), nodes.result_sink())
    with pytest.raises(PlanError, match="unknown kind"):
        Stage("s", "reducer", nodes.shuffle_source("s0"), (), nodes.result_sink(), ())


def test_renamed_source_renames_the_stages_a_join_reads() -> None:
    source = nodes.join_source(
        "left", (nodes.shuffle_source("a"), []), (nodes.gather_source("b"), []), ["x"], ["y"]
    )
    renamed = nodes.renamed_source(source, {"a": "a2", "b": "b2"})
    assert renamed["left"]["source"] == {"type": "shuffle", "stage": "a2"}
    assert renamed["right"]["source"] == {"type": "gather", "stage": "b2"}
    assert source["left"]["source"]["stage"] == "a"  # the original is unchanged


def test_a_malformed_expression_fails_in_the_compiler() -> None:
    a = column_ref("a", "int64")
    with pytest.raises(PlanValidationError, match="1 arguments"):
        call("eq", "bool", a)
    with pytest.raises(PlanValidationError, match="unknown field"):
        call("substr", "string", a, start=1, lenght=2)
    with pytest.raises(PlanValidationError, match="is not a date32"):
        lit("1998-13-01", "date32")


def test_no_compiler_or_planner_module_writes_a_plan_node_as_a_raw_dict() -> None:
    found = []
    for path in sorted(p for folder in FOLDERS for p in folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                if keys & NODE_KEYS:
                    found.append(f"{path.name}:{node.lineno} {sorted(map(str, keys))}")
    assert not found, "plan nodes written as dicts (use the builders):\n" + "\n".join(found)


def test_explain_renders_any_declared_operator_and_the_join_type() -> None:
    """Explain writes an operator it has no special text for from its declared fields, and the
    join's type (an outer join was shown as inner)."""
    copies = [[nodes.named("k", build.col("a"))], [nodes.named("k", build.lit(None, "null"))]]
    join = nodes.join_source(
        "left", (nodes.shuffle_source("s1"), []), (nodes.shuffle_source("s2"), []), ["a"], ["b"]
    )
    part = nodes.partition_task(0)
    stage = Stage(
        "s3",
        "join",
        join,
        (nodes.expand(copies),),
        nodes.result_sink(),
        (nodes.join_task(part, part),),
    )
    text = render_plan(Plan("q", (("k", "int64"),), (stage,), ("k",)))
    assert "expand     projections=(a AS k), (NULL AS k)" in text
    assert "join       left on a = b" in text
