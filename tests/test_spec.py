"""The plan language is declared once (sqlmr_runtime.spec): the runtime implements exactly the
declared set, the validator refuses one malformed plan per rule, and the format's document is
generated from the declarations."""

from __future__ import annotations

import copy
import dataclasses
import os
import re
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import pytest
from sqlmr_runtime import expressions, handler, operators, scan, spec, spec_doc, types
from sqlmr_runtime.errors import (
    EvaluationError,
    PlanValidationError,
    StorageError,
    is_retryable,
)
from sqlmr_runtime.validate import validate_event, validate_plan, validate_summary

import sqlmr
from sqlmr.compiler.names import internal
from sqlmr.errors import PlanError
from sqlmr.execution import driver as driver_module
from sqlmr.execution.driver import Driver
from sqlmr.execution.local import invoke
from sqlmr.planning.plan import Plan, Stage

DOC = Path(__file__).resolve().parents[1] / "docs" / "plan-format.md"

GROUPED_SQL = (
    "SELECT SUBSTR(sourceIP, 1, 7) AS p, SUM(adRevenue) AS r, COUNT(*) AS n FROM uservisits "
    "WHERE duration > 3 GROUP BY 1 ORDER BY r DESC LIMIT 5"
)
JOIN_SQL = (
    "SELECT r.pageRank, COUNT(*) FROM rankings r JOIN uservisits u ON r.pageURL = u.destURL "
    "GROUP BY 1"
)


def test_the_runtime_implements_exactly_the_declared_set() -> None:
    assert set(expressions.FUNCTIONS) == set(spec.FUNCTIONS)
    assert set(operators.OPERATORS) == set(spec.OPERATORS)
    assert set(operators.AGGREGATE_KERNELS) == set(spec.AGGREGATES)
    assert set(handler.SOURCES) == set(spec.SOURCES)
    assert set(handler.SINKS) == set(spec.SINKS)
    assert types.FIXED_TYPES == set(spec.TYPES)
    assert set(operators.JOIN_TYPES) == set(spec.JOIN_TYPES)
    assert set(scan.READERS) == set(spec.FORMATS) and set(scan.CODECS) == set(spec.TEXT_CODECS)


def test_every_declared_record_and_type_is_resolvable() -> None:
    """Every field's value type is a value type, a family, a record, or a list of those."""
    known = set(spec.VALUE_TYPES) | set(spec.RECORDS)
    nodes = [
        n
        for family in (spec.FUNCTIONS, spec.OPERATORS, spec.AGGREGATES, spec.SOURCES, spec.SINKS)
        for n in family.values()
    ] + list(spec.RECORDS.values())
    for node in nodes:
        for arg in node.args:
            inner = arg.type
            while inner.startswith("list<"):
                inner = inner[5:-1]
            assert inner in known, (node.name, arg.name, arg.type)
    for source in spec.SOURCES.values():
        assert source.input in spec.RECORDS and source.task in spec.RECORDS


@pytest.fixture(scope="module")
def plans(amplab_dir: str) -> dict[str, dict]:
    catalog = sqlmr.resolve_catalog(amplab_dir)
    grouped = sqlmr.QueryOptions(workers=2, split_size=100_000, reducers=2)
    joined = sqlmr.QueryOptions(workers=2, split_size=100_000, reducers=2, broadcast_threshold=0)
    return {
        "grouped": sqlmr.compile_query(GROUPED_SQL, catalog, grouped).to_json(),
        "join": sqlmr.compile_query(JOIN_SQL, catalog, joined).to_json(),
    }


def test_compiled_plans_are_valid(plans: dict[str, dict]) -> None:
    assert [s["id"] for s in plans["grouped"]["stages"]] == ["map", "reduce", "merge"]
    assert [s["id"] for s in plans["join"]["stages"]][:3] == ["map_left", "map_right", "join"]
    for plan in plans.values():
        validate_plan(plan)


def _stage(doc: dict, stage_id: str) -> dict:
    return next(s for s in doc["stages"] if s["id"] == stage_id)


def _first_fn(node: object, name: str) -> dict:
    """The first call of function `name` anywhere in a document."""
    if isinstance(node, dict):
        if node.get("fn") == name and "args" in node:
            return node
        children = list(node.values())
    elif isinstance(node, list):
        children = node
    else:
        children = []
    for child in children:
        found = _first_fn(child, name)
        if found:
            return found
    return {}


def _aggregate_op(doc: dict, stage_id: str) -> dict:
    return next(op for op in _stage(doc, stage_id)["ops"] if op["op"] == "aggregate")


def _sum_call(doc: dict) -> dict:
    return next(a for a in _aggregate_op(doc, "map")["aggregates"] if a["fn"] == "sum")


def _filter(doc: dict) -> dict:
    return next(op for op in _stage(doc, "map")["ops"] if op["op"] == "filter")


Mutation = Callable[[dict], None]

# One malformed plan per rule: (plan, mutation, what the error must say).
MALFORMED: dict[str, tuple[str, Mutation, str]] = {
    # the four of the issue
    "substr without start": (
        "grouped",
        lambda d: _first_fn(d, "substr").pop("start"),
        r"\(substr\).*missing field\(s\) start",
    ),
    "eq with one argument": (
        "grouped",
        lambda d: _filter(d).update(predicate={"fn": "eq", "args": [{"col": "duration"}]}),
        r"\(eq\): takes 2 arguments, got 1",
    ),
    "sum without column": (
        "grouped",
        lambda d: _sum_call(d).pop("column"),
        r"\(sum\): missing field\(s\) column",
    ),
    "shuffle reading a stage that does not exist": (
        "grouped",
        lambda d: _stage(d, "reduce")["source"].update(stage="mapp"),
        r"no earlier stage 'mapp'",
    ),
    # missing, extra and mistyped fields
    "missing operator field": ("grouped", lambda d: _filter(d).pop("predicate"), "predicate"),
    "extra function field": (
        "grouped",
        lambda d: _first_fn(d, "substr").update(collation="C"),
        r"unknown field\(s\) collation",
    ),
    "extra stage field": (
        "grouped",
        lambda d: _stage(d, "map").update(speculative=True),
        r"unknown field\(s\) speculative",
    ),
    "mistyped function field": (
        "grouped",
        lambda d: _first_fn(d, "substr").update(start="1"),
        r"\(start\): expected a JSON integer, got '1'",
    ),
    "mistyped operator field": (
        "grouped",
        lambda d: next(o for o in _stage(d, "merge")["ops"] if o["op"] == "limit").update(
            count=5.5
        ),
        r"\(count\): expected a JSON integer",
    ),
    "boolean where a number goes": (
        "grouped",
        lambda d: _stage(d, "map")["sink"].update(partitions=True),
        r"\(partitions\): expected a JSON integer, got True",
    ),
    "mistyped literal": (
        "grouped",
        lambda d: _filter(d)["predicate"]["args"][1].update(lit="three"),
        r"literal 'three' is not a int32",
    ),
    "arguments not a list": (
        "grouped",
        lambda d: _first_fn(d, "substr").update(args={"col": "sourceIP"}),
        "args must be a list",
    ),
    # arity
    "case with an even number of arguments": (
        "grouped",
        lambda d: _filter(d).update(
            predicate={
                "fn": "case",
                "args": [{"lit": True, "type": "bool"}, {"lit": True, "type": "bool"}],
            }
        ),
        r"\(case\): takes an odd number of arguments, at least 3, got 2",
    ),
    # unknown names
    "unknown function": (
        "grouped",
        lambda d: _first_fn(d, "substr").update(fn="frobnicate"),
        "unknown function 'frobnicate'",
    ),
    "unknown operator": (
        "grouped",
        lambda d: _filter(d).update(op="explode"),
        "unknown operation 'explode'",
    ),
    "unknown aggregate": (
        "grouped",
        lambda d: _sum_call(d).update(fn="median"),
        "unknown aggregate 'median'",
    ),
    "unknown source": (
        "grouped",
        lambda d: _stage(d, "reduce")["source"].update(type="broadcast"),
        "unknown source 'broadcast'",
    ),
    "unknown sink": (
        "grouped",
        lambda d: _stage(d, "map")["sink"].update(type="kafka"),
        "unknown sink 'kafka'",
    ),
    "unknown stage kind": (
        "grouped",
        lambda d: _stage(d, "map").update(kind="sort_merge"),
        r"\(kind\): unknown value 'sort_merge'",
    ),
    "unknown format": (
        "grouped",
        lambda d: _stage(d, "map")["source"].update(format="orc"),
        r"\(format\): unknown value 'orc'",
    ),
    "unknown column type": (
        "grouped",
        lambda d: _stage(d, "map")["source"]["columns"][0].update(type="decimal128"),
        "unknown type 'decimal128'",
    ),
    "unknown cast type": (
        "grouped",
        lambda d: _filter(d).update(
            predicate={"fn": "cast", "args": [{"col": "duration"}], "to": "interval"}
        ),
        "unknown type 'interval'",
    ),
    "unknown version": ("grouped", lambda d: d.update(version=99), "plan version 99"),
    # references to stages and columns that do not exist
    "gather reading a shuffle": (
        "grouped",
        lambda d: _stage(d, "merge")["source"].update(stage="map"),
        r"a gather source reads the result output of a stage, and stage 'map' writes a shuffle",
    ),
    "stage depending on a later stage": (
        "grouped",
        lambda d: _stage(d, "map").update(depends_on=["reduce"]),
        r"no earlier stage 'reduce'",
    ),
    "two stages with one id": (
        "grouped",
        lambda d: _stage(d, "merge").update(id="reduce"),
        "two stages are called 'reduce'",
    ),
    "filter on a column the input lacks": (
        "grouped",
        lambda d: _filter(d)["predicate"]["args"][0].update(col="durationn"),
        r"unknown column 'durationn' \(the input has",
    ),
    "scan reading an undeclared column": (
        "grouped",
        lambda d: _stage(d, "map")["source"]["read"].append("cookie"),
        "unknown column 'cookie'",
    ),
    "shuffle keyed by a column the stage does not output": (
        "grouped",
        lambda d: _stage(d, "map")["sink"].update(keys=["sourceIP"]),
        "unknown column 'sourceIP'",
    ),
    "sort by a column the reduce lost": (
        "grouped",
        lambda d: _stage(d, "merge")["ops"][0]["keys"][0].update(column="__p0"),
        "unknown column '__p0'",
    ),
    "result column the last stage lacks": (
        "grouped",
        lambda d: d["columns"][0].update(internal="__zz"),
        "result columns.*unknown column '__zz'",
    ),
    "join key the side lacks": (
        "join",
        lambda d: _stage(d, "join")["source"].update(left_keys=["__jr0"]),
        r"\(left_keys\): unknown column '__jr0'",
    ),
    "join with fewer right keys": (
        "join",
        lambda d: _stage(d, "join")["source"].update(right_keys=[]),
        "left_keys and right_keys must be as many",
    ),
    "join side reading a stage that does not exist": (
        "join",
        lambda d: _stage(d, "join")["source"]["right"]["source"].update(stage="map_middle"),
        "right side.*no earlier stage 'map_middle'",
    ),
    # tasks of the plan
    "scan task without ranges": (
        "grouped",
        lambda d: _stage(d, "map")["tasks"][0].pop("ranges"),
        r"stage map task 0: missing field\(s\) ranges",
    ),
    "Parquet scan given byte ranges": (
        "grouped",
        lambda d: _stage(d, "map")["source"].update(format="parquet"),
        r"stage map task 0.*missing field\(s\) row_groups, size, footer",
    ),
    "text range with row groups": (
        "grouped",
        lambda d: _stage(d, "map")["tasks"][0]["ranges"][0].update(row_groups=[0]),
        r"stage map task 0.*unknown field\(s\) row_groups",
    ),
    "Parquet row groups out of order": (
        "grouped",
        lambda d: _as_parquet(_stage(d, "map"), [1, 0]),
        "row_groups must ascend without repeats",
    ),
    "join task with a mistyped partition": (
        "join",
        lambda d: _stage(d, "join")["tasks"][0]["left"].update(partition="0"),
        r"\(partition\): expected a JSON integer",
    ),
}


def _as_parquet(stage: dict, row_groups: list[int]) -> None:
    stage["source"]["format"] = "parquet"
    for task in stage["tasks"]:
        for r in task["ranges"]:
            r.update(row_groups=row_groups, size=r["end"], footer=100)


@pytest.mark.parametrize("rule", MALFORMED)
def test_the_validator_refuses_one_malformed_plan_per_rule(
    plans: dict[str, dict], rule: str
) -> None:
    which, mutate, message = MALFORMED[rule]
    doc = copy.deepcopy(plans[which])
    mutate(doc)
    with pytest.raises(PlanValidationError, match=message):
        validate_plan(doc)


def _event(plan: dict, stage_id: str) -> dict:
    stage = _stage(plan, stage_id)
    definition = {k: stage[k] for k in ("id", "kind", "source", "ops", "sink")}
    return {
        "version": plan["version"],
        "job": "j",
        "job_store": "/nowhere",
        "stage": copy.deepcopy(definition),
        "task": 0,
        "attempt": 0,
        "input": {"parts": [{"url": "/nowhere/x", "offset": 0, "length": 10}]},
    }


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda e: e["input"].update(ranges=[]), r"unknown field\(s\) ranges"),
        (lambda e: e["input"]["parts"][0].pop("length"), r"missing field\(s\) length"),
        (lambda e: e.update(attempt="0"), r"\(attempt\): expected a JSON integer"),
        (lambda e: e["stage"].update(tasks=[]), r"unknown field\(s\) tasks"),
        (lambda e: _first_fn(e, "substr").pop("start"), r"missing field\(s\) start"),
    ],
)
def test_task_events_are_checked_against_their_declaration(
    plans: dict[str, dict], change: Mutation, message: str
) -> None:
    event = _event(plans["grouped"], "reduce")
    validate_event(copy.deepcopy(event))
    if "substr" in message or "start" in message:
        event = _event(plans["grouped"], "map")
        event["input"] = {"ranges": [{"url": "/nowhere/x", "start": 0, "end": 10}]}
    change(event)
    with pytest.raises(PlanValidationError, match=message):
        validate_event(event)


def test_a_process_checks_each_stage_once_and_every_event_in_full(
    plans: dict[str, dict], monkeypatch
) -> None:
    """A worker runs many tasks of one stage: the stage's full check runs once per distinct
    stage text (a few kept), while each event's own fields and input are checked every time."""
    from sqlmr_runtime import validate

    monkeypatch.setattr(validate, "_VALID_STAGES", {})
    checked = []
    full = validate.validate_stage
    monkeypatch.setattr(
        validate,
        "validate_stage",
        lambda stage, ctx: checked.append(stage["id"]) or full(stage, ctx),
    )
    event = _event(plans["grouped"], "reduce")
    for _ in range(3):
        validate_event(copy.deepcopy(event))
    assert checked == ["reduce"]
    bad = copy.deepcopy(event)
    bad["input"]["parts"][0].pop("length")
    with pytest.raises(PlanValidationError, match=r"missing field\(s\) length"):
        validate_event(bad)
    for i in range(validate._VALID_STAGES_KEPT + 4):
        other = copy.deepcopy(event)
        other["stage"]["id"] = f"reduce{i}"
        validate_event(other)
    assert len(validate._VALID_STAGES) == validate._VALID_STAGES_KEPT


def test_task_summaries_are_versioned_and_named(amplab_dir: str, tmp_path: Path) -> None:
    plan = sqlmr.compile_query(
        GROUPED_SQL, sqlmr.resolve_catalog(amplab_dir), sqlmr.QueryOptions(workers=1, reducers=3)
    ).to_json()
    stage = _stage(plan, "map")
    event = {
        "version": plan["version"],
        "job": "j",
        "job_store": str(tmp_path),
        "stage": {k: stage[k] for k in ("id", "kind", "source", "ops", "sink")},
        "task": 0,
        "attempt": 0,
        "input": stage["tasks"][0],
    }
    summary = handler.lambda_handler(event)
    validate_summary(summary)
    assert summary["version"] == spec.SUMMARY_VERSION
    parts = summary["output"]["partitions"]
    assert len(parts) == 3 and sum(p["rows"] for p in parts) == summary["rows_out"]
    positional = copy.deepcopy(summary)
    positional["output"]["partitions"] = [[p["offset"], p["length"], p["rows"]] for p in parts]
    with pytest.raises(PlanValidationError, match="expected an object"):
        validate_summary(positional)
    with pytest.raises(PlanValidationError, match="task summary version"):
        validate_summary({**summary, "version": 0})


def test_the_plan_format_document_is_current() -> None:
    text = spec_doc.markdown()
    if os.environ.get("SQLMR_REGENERATE_GOLDEN"):
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(text)
    assert DOC.read_text() == text, "regenerate with SQLMR_REGENERATE_GOLDEN=1"
    for name in [*spec.FUNCTIONS, *spec.OPERATORS, *spec.SOURCES, *spec.SINKS]:
        assert f"### `{name}`" in text


class _InProcess:
    """An executor that runs each task in this process and remembers every event it got."""

    workers = 1

    def __init__(self) -> None:
        self.events: list[dict] = []

    def submit(self, event: dict) -> Future:
        self.events.append(event)
        future: Future = Future()
        future.set_result(invoke(event))
        return future

    def close(self) -> None:
        pass


def _without_substr_start(plan: Plan) -> Plan:
    stage = plan.stages[0]
    ops = copy.deepcopy(list(stage.ops))
    _first_fn(ops, "substr").pop("start")
    return dataclasses.replace(plan, stages=(dataclasses.replace(stage, ops=tuple(ops)),))


def test_a_bad_plan_fails_before_any_task_runs(amplab_dir: str, tmp_path: Path) -> None:
    plan = sqlmr.compile_query(
        "SELECT SUBSTR(sourceIP, 1, 3) FROM uservisits", sqlmr.resolve_catalog(amplab_dir)
    )
    executor = _InProcess()
    with pytest.raises(PlanError, match=r"missing field\(s\) start"):
        Driver(executor, str(tmp_path), retries=3).run(_without_substr_start(plan))
    assert executor.events == []


def test_a_task_refusing_its_event_is_never_retried(
    amplab_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even past the driver's own check (as with a runtime of another version), the runtime's
    refusal is final: one attempt, no retry, and the error names the plan."""
    plan = sqlmr.compile_query(
        "SELECT SUBSTR(sourceIP, 1, 3) FROM uservisits",
        sqlmr.resolve_catalog(amplab_dir),
        sqlmr.QueryOptions(split_size=1 << 30),
    )
    monkeypatch.setattr(driver_module, "validate_plan", lambda doc: None)
    executor = _InProcess()
    with pytest.raises(PlanError, match=r"refuses this plan.*missing field\(s\) start"):
        Driver(executor, str(tmp_path), retries=3).run(_without_substr_start(plan))
    assert len(executor.events) == 1
    outcome = invoke(executor.events[0])
    assert outcome["error"]["errorType"] == "PlanValidationError"
    assert outcome["error"]["retryable"] is False


@pytest.mark.parametrize(
    "error, retryable",
    [
        (PlanValidationError("x"), False),
        (EvaluationError("x"), False),
        (StorageError("x"), True),
        (StorageError("x", retryable=False), False),
        (KeyError("a bug"), True),
        ("PlanValidationError", False),
        ("MissingFeatureError", False),
        ("BadInputError", False),
        ("Sandbox.Timedout", True),
    ],
)
def test_retryable_is_declared_by_each_error(error: object, retryable: bool) -> None:
    assert is_retryable(error) is retryable


def test_stage_kinds_are_the_declared_ones() -> None:
    with pytest.raises(PlanError, match="unknown kind 'shuffle_sort'"):
        Stage("s", "shuffle_sort", {"type": "gather", "stage": "m"}, (), {"type": "result"}, ())
    assert Stage("s", "merge", {}, (), {}, ()).kind in spec.STAGE_KINDS


def test_internal_column_names_come_from_one_generator() -> None:
    """No module but sqlmr.compiler.names spells an internal column name itself."""
    root = Path(sqlmr.__file__).parent
    spelled = re.compile(r"""f?["']__(?!init__|main__|name__|file__|pycache__|HIVE)[a-z]+\{?""")
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.name != "names.py" and spelled.search(path.read_text())
    ]
    assert offenders == []
    assert internal("k", 0) == "__k0" and internal("tag") == "__tag"
    with pytest.raises(KeyError):
        internal("zz", 1)
