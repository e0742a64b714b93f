"""The planner makes plan nodes only through the declarations (sqlmr_runtime.build, wrapped by
sqlmr.planning.nodes), so a misspelt name or field fails where the node is made, here, and not in
a task; and no planner module writes a plan node as a raw dict."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlmr_runtime import build
from sqlmr_runtime.errors import PlanValidationError

from sqlmr.errors import PlanError
from sqlmr.planning import nodes
from sqlmr.planning.plan import InputStage, Stage

ROOT = Path(__file__).resolve().parent.parent
PLANNING = ROOT / "sqlmr" / "planning"
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


def test_no_planner_module_writes_a_plan_node_as_a_raw_dict() -> None:
    found = []
    for path in sorted(PLANNING.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                if keys & NODE_KEYS:
                    found.append(f"{path.name}:{node.lineno} {sorted(map(str, keys))}")
    assert not found, "plan nodes written as dicts (use sqlmr.planning.nodes):\n" + "\n".join(found)
