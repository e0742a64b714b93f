"""The plan language, declared once: every node a plan or a task event may hold, with its fields.

This module is the single declaration of sqlmr's wire format (the plan JSON, the task event the
driver sends, the task summary a task returns). Everything else derives from it:
- `validate.py` checks documents against these declarations (missing, extra or mistyped fields,
  arity, unknown names, references to stages and columns that do not exist);
- the builders in `build.py` (`fn`, `op`, `source`, `sink`, `aggregate`, `record`, …) are how the
  compiler and the planner make nodes, so they cannot make one the runtime would refuse by shape;
- `sqlmr explain` renders functions with their `sql` template;
- `spec_doc.py` writes docs/plan-format.md from them;
- a test checks that the runtime implements exactly the declared functions, operators,
  aggregates, sources and sinks.

How to add an operator, a function, an aggregate, a source, a sink or a stage kind:
1. Declare it here, in its family (FUNCTIONS, OPERATORS, AGGREGATES, SOURCES, SINKS,
   STAGE_KINDS), with every field as an `Arg` (name, value type, required or not, a doc line).
   Value types are listed in VALUE_TYPES; `list<T>` is a list of T; a record shape is declared
   in RECORDS and named by its key. Column references use the type "column": the validator
   checks them against the columns the node's input has.
2. Implement it in the runtime's registry for its family: expressions.FUNCTIONS,
   operators.OPERATORS, operators.AGGREGATE_KERNELS, handler.SOURCES, handler.SINKS (the
   test_spec test fails until both sides agree).
3. Build it in the compiler or planner with build.py (`build.op("name", field=…)`; the planner
   through sqlmr/planning/nodes.py, which wraps it), never as a raw dict.
4. Regenerate the documentation: SQLMR_REGENERATE_GOLDEN=1 pytest tests/test_spec.py.
Bump PLAN_VERSION when a change would make an older runtime misread a newer plan.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from . import PLAN_VERSION

SUMMARY_VERSION = 1
"""Version of the task summary a task returns."""


@dataclass(frozen=True)
class Arg:
    """One field of a node: its JSON key, value type (see VALUE_TYPES), and whether it must be
    present. `scope` names the input a "column" field is resolved in when a node has several
    (a join's sides, a scan's declared columns); `output` marks the fields whose column names
    make up an operator's output."""

    name: str
    type: str
    required: bool = True
    doc: str = ""
    choices: tuple[Any, ...] = ()
    nullable: bool = False
    scope: str = ""
    output: bool = False


@dataclass(frozen=True)
class Node:
    """A declared node: a function, operator, aggregate, source, sink or record shape.

    `arity` (functions) is (minimum, maximum or None, step) expression arguments; `sql` is how
    explain writes a function ({0}, {1}… are its arguments, {name} its fields, {args} all of
    them); `output` (operators) says whether the operator keeps its input's columns ("input")
    or makes the columns its `output` fields name ("defined"); `input` and `task` (sources)
    name the records of a task event's input and of a plan's task; `reads` (sources) is the
    kind of sink whose outputs the source reads."""

    name: str
    args: tuple[Arg, ...] = ()
    doc: str = ""
    arity: tuple[int, int | None, int] = (0, 0, 1)
    sql: str = ""
    output: str = "input"
    input: str = ""
    task: str = ""
    reads: str = ""
    same_length: tuple[str, ...] = ()

    def arg(self, name: str) -> Arg:
        """The declared field called `name`."""
        return next(a for a in self.args if a.name == name)


TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "date32": "DATE",
    "timestamp": "TIMESTAMP",  # microseconds, no time zone: DATE ± INTERVAL, as in DuckDB
    "bool": "BOOLEAN",
    "null": "NULL",
    "int128": "HUGEINT",  # SUM of BIGINT: 38 decimal digits hold any sum of int64 values
}
"""The column types that travel in plans, and their SQL names. Besides these, "decimal(p,s)"
(1 ≤ p ≤ 38, 0 ≤ s ≤ p) is DECIMAL(p,s), exact (Arrow decimal128); its literals travel as
strings ("12.50") so that no digit passes through a float."""

JOIN_TYPES = ("inner", "left", "right", "full")
JOIN_ROWS = ("matched", "left_unmatched", "right_unmatched")
"""What a task of a split outer-join partition emits (see sqlmr/execution/skew.py)."""
"""The joins a join source makes (left, right and full are outer joins)."""

FORMATS = ("csv", "parquet", "json")
"""The table formats a scan reads."""

TEXT_CODECS = ("gzip", "zstd", "bzip2", "deflate")
"""The codecs of compressed text and JSON objects a scan reads."""

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
"""Hive's name for a NULL partition value in a `key=value/` folder."""

DATE_UNITS = ("day", "week", "month", "quarter", "year")
"""The units of DATE_TRUNC and DATE_DIFF."""

VALUE_TYPES: dict[str, str] = {
    "expr": "an expression: {col}, {lit, type} or {fn, args, …}",
    "aggregate": "an aggregate call {name, fn, column}; `fn` names one of AGGREGATES",
    "op": "an operator {op, …}; `op` names one of OPERATORS",
    "source": "a stage source {type, …}; `type` names one of SOURCES",
    "sink": "a stage sink {type, …}; `type` names one of SINKS",
    "int": "a JSON integer",
    "number": "a JSON number",
    "str": "a JSON string",
    "bool": "true or false",
    "scalar": "a JSON string, number, boolean or null",
    "object": "any JSON object",
    "type": "a column type name, one of TYPES or decimal(p,s)",
    "column": "the name of a column of the node's input",
    "name": "the name of a column the node makes",
    "stage": "the id of an earlier stage",
    "task": "a plan task: the record its stage's source declares as `task`",
    "input": "a task's input: the record its stage's source declares as `input`",
    "split_range": "a part of a scan's objects: the record RANGE_RECORDS names for its format",
}
"""The value types a field may have, besides `list<T>` and the records of RECORDS."""


def _args(*args: Arg) -> tuple[Arg, ...]:
    return args


def _unary(sql: str, doc: str) -> Node:
    return Node("", doc=doc, arity=(1, 1, 1), sql=sql)


def _binary(sql: str, doc: str) -> Node:
    return Node("", doc=doc, arity=(2, 2, 1), sql=sql)


_FUNCTIONS: dict[str, Node] = {
    "and": Node("", doc="Kleene AND of booleans", arity=(2, None, 1), sql="({and})"),
    "or": Node("", doc="Kleene OR of booleans", arity=(2, None, 1), sql="({or})"),
    "not": _unary("NOT {0}", "boolean negation"),
    "eq": _binary("({0} = {1})", "equal (NaN equals NaN, as in DuckDB)"),
    "ne": _binary("({0} <> {1})", "not equal"),
    "lt": _binary("({0} < {1})", "less than (NaN is greater than any number)"),
    "le": _binary("({0} <= {1})", "less than or equal"),
    "gt": _binary("({0} > {1})", "greater than"),
    "ge": _binary("({0} >= {1})", "greater than or equal"),
    "add": _binary("({0} + {1})", "addition; integer overflow is an error"),
    "sub": _binary("({0} - {1})", "subtraction; integer overflow is an error"),
    "mul": _binary("({0} * {1})", "multiplication; integer overflow is an error"),
    "div": _binary("({0} / {1})", "division as DOUBLE"),
    "mod": _binary("({0} % {1})", "remainder, truncated toward zero"),
    "neg": _unary("-{0}", "arithmetic negation"),
    "is_null": _unary("{0} IS NULL", "whether the value is NULL"),
    "is_not_null": _unary("{0} IS NOT NULL", "whether the value is not NULL"),
    "in": Node(
        "",
        _args(Arg("values", "list<scalar>", doc="the list, of the argument's type; may hold null")),
        "membership in a constant list, with SQL's three-valued logic",
        (1, 1, 1),
        "{0} IN ({values})",
    ),
    "like": Node(
        "",
        _args(
            Arg("pattern", "str", doc="the pattern: % any run, _ one character, no escape"),
            Arg("ignore_case", "bool", required=False, doc="ILIKE when true"),
        ),
        "SQL LIKE with a constant pattern",
        (1, 1, 1),
        "{0} LIKE {pattern}",
    ),
    "substr": Node(
        "",
        _args(
            Arg("start", "int", doc="1-based start; negative counts from the end"),
            Arg("length", "int", required=False, doc="characters to take; to the end if absent"),
        ),
        "substring, with DuckDB's rules for out-of-range windows",
        (1, 1, 1),
        "SUBSTR({0}, {start}, {length})",
    ),
    "length": _unary("LENGTH({0})", "length in characters"),
    "upper": _unary("UPPER({0})", "upper case"),
    "lower": _unary("LOWER({0})", "lower case"),
    "concat": Node(
        "",
        _args(Arg("strict", "bool", required=False, doc="'||': NULL if any part is NULL")),
        "concatenation as text; CONCAT skips NULLs",
        (1, None, 1),
        "CONCAT({args})",
    ),
    "case": Node(
        "",
        doc="CASE: condition and value pairs, then the default (all values of one type)",
        arity=(3, None, 2),
        sql="CASE({args})",
    ),
    "cast": Node(
        "",
        _args(Arg("to", "type", doc="the target type")),
        "conversion with DuckDB's rounding and parsing rules",
        (1, 1, 1),
        "CAST({0} AS {to})",
    ),
    "year": _unary("YEAR({0})", "the year of a date, as BIGINT"),
    "month": _unary("MONTH({0})", "the month of a date (1-12), as BIGINT"),
    "day": _unary("DAY({0})", "the day of the month of a date, as BIGINT"),
    "date_add": Node(
        "",
        _args(
            Arg("unit", "str", choices=("day", "month"), doc="what `count` counts"),
            Arg("count", "int", doc="how many to add (negative: subtract)"),
        ),
        "a date or timestamp moved by days, or by months with the day clamped to the month's end",
        (1, 1, 1),
        "({0} + INTERVAL {count} {unit})",
    ),
    "date_trunc": Node(
        "",
        _args(Arg("unit", "str", choices=DATE_UNITS, doc="truncate to the first day of this")),
        "the first day of the date's week (from Monday), month, quarter or year",
        (1, 1, 1),
        "DATE_TRUNC('{unit}', {0})",
    ),
    "date_diff": Node(
        "",
        _args(Arg("unit", "str", choices=DATE_UNITS, doc="what to count")),
        "unit boundaries from the first date to the second, as BIGINT (weeks: 7-day spans)",
        (2, 2, 1),
        "DATE_DIFF('{unit}', {0}, {1})",
    ),
    "round": Node(
        "",
        _args(Arg("digits", "int", doc="decimal places (negative: tens, hundreds…)")),
        "the exact value rounded half away from zero; an integer stays an integer",
        (1, 1, 1),
        "ROUND({0}, {digits})",
    ),
    "abs": _unary("ABS({0})", "absolute value; integer overflow is an error"),
    "floor": _unary("FLOOR({0})", "largest whole number not above, as DOUBLE"),
    "ceil": _unary("CEIL({0})", "smallest whole number not below, as DOUBLE"),
    "coalesce": Node(
        "",
        doc="the first non-NULL argument (all of one type)",
        arity=(1, None, 1),
        sql="COALESCE({args})",
    ),
    "greatest": Node(
        "",
        doc="the greatest non-NULL argument (NaN is greatest)",
        arity=(1, None, 1),
        sql="GREATEST({args})",
    ),
    "least": Node("", doc="the least non-NULL argument", arity=(1, None, 1), sql="LEAST({args})"),
    "trim": Node(
        "",
        _args(
            Arg("characters", "str", required=False, doc="the characters to remove (default ' ')"),
            Arg("side", "str", required=False, choices=("both", "left", "right")),
        ),
        "the string without the given characters at its start, end or both",
        (1, 1, 1),
        "TRIM({side} {characters} FROM {0})",
    ),
    "replace": Node(
        "",
        _args(Arg("pattern", "str"), Arg("replacement", "str")),
        "every occurrence of a constant string replaced ('' replaces nothing)",
        (1, 1, 1),
        "REPLACE({0}, {pattern}, {replacement})",
    ),
    "strpos": Node(
        "",
        _args(Arg("substring", "str")),
        "1-based character position of the first occurrence, 0 if absent, as BIGINT",
        (1, 1, 1),
        "STRPOS({0}, {substring})",
    ),
    "starts_with": Node(
        "",
        _args(Arg("prefix", "str")),
        "whether the string starts with a constant prefix",
        (1, 1, 1),
        "STARTS_WITH({0}, {prefix})",
    ),
    "regexp_matches": Node(
        "",
        _args(
            Arg("pattern", "str", doc="an RE2 regular expression, matched anywhere"),
            Arg("ignore_case", "bool", required=False, doc="the 'i' option"),
        ),
        "whether the regular expression matches part of the string",
        (1, 1, 1),
        "REGEXP_MATCHES({0}, {pattern})",
    ),
    "lpad": Node(
        "",
        _args(Arg("width", "int"), Arg("fill", "str")),
        "the string cut or padded on the left with the fill to the width in characters",
        (1, 1, 1),
        "LPAD({0}, {width}, {fill})",
    ),
    "rpad": Node(
        "",
        _args(Arg("width", "int"), Arg("fill", "str")),
        "the string cut, or padded on the right with the fill, to the width in characters",
        (1, 1, 1),
        "RPAD({0}, {width}, {fill})",
    ),
}

_COLUMNS = Arg("columns", "list<named_expr>", doc="output columns, in order", output=True)
_OPERATORS: dict[str, Node] = {
    "filter": Node(
        "", _args(Arg("predicate", "expr", doc="rows where it is true are kept")), "keep rows"
    ),
    "project": Node("", _args(_COLUMNS), "compute the output columns", output="defined"),
    "aggregate": Node(
        "",
        _args(
            Arg("keys", "list<column>", doc="group keys (none: one group)", output=True),
            Arg("aggregates", "list<aggregate>", doc="aggregate calls", output=True),
            Arg("phase", "str", required=False, choices=("partial", "final")),
        ),
        "group by the keys; output the keys, then the aggregates",
        output="defined",
    ),
    "expand": Node(
        "",
        _args(
            Arg(
                "projections",
                "list<list<named_expr>>",
                doc="projections with the same column names, stacked",
                output=True,
            )
        ),
        "several projections of the same rows, one copy of the rows per projection",
        output="defined",
    ),
    "sort": Node(
        "",
        _args(
            Arg("keys", "list<sort_key>"),
            Arg("limit", "int", required=False, doc="keep only the first rows (a top-k)"),
        ),
        "order rows",
    ),
    "limit": Node("", _args(Arg("count", "int")), "keep the first rows"),
}

_AGG_NAME = Arg("name", "name", doc="the output column", output=True)
_AGG_ARGS = (_AGG_NAME, Arg("column", "column", doc="the input column"))
_AGGREGATES: dict[str, Node] = {
    "sum": Node("", _AGG_ARGS, "sum; NULL over no values"),
    "sum0": Node("", _AGG_ARGS, "sum; 0 over no values (to combine counts)"),
    "count": Node("", _AGG_ARGS, "count of non-NULL values"),
    "count_all": Node("", (_AGG_NAME,), "count of rows"),
    "min": Node("", _AGG_ARGS, "minimum"),
    "max": Node("", _AGG_ARGS, "maximum"),
}

_SOURCES: dict[str, Node] = {
    "scan": Node(
        "",
        _args(
            Arg("table", "str", doc="the table's name (for messages and explain)"),
            Arg("format", "str", choices=FORMATS, doc="the file format"),
            Arg("columns", "list<column_def>", doc="every column of a row, in file order"),
            Arg(
                "read",
                "list<column>",
                scope="columns",
                doc="the columns to parse (and partition columns to add)",
                output=True,
            ),
            Arg(
                "partitions",
                "list<column_def>",
                required=False,
                doc="columns whose values come from Hive-style folders (key=value/)",
            ),
            Arg(
                "compression",
                "str",
                required=False,
                choices=TEXT_CODECS,
                doc="the codec of compressed text or JSON objects",
            ),
            Arg("delimiter", "str", required=False, doc="field delimiter (default ',')"),
            Arg("header", "bool", required=False, doc="the first line of each object is a header"),
            Arg(
                "header_names",
                "list<str>",
                required=False,
                doc="the header the columns were named from: each object's must be the same",
            ),
            Arg("quote", "str", required=False, nullable=True, doc="quote character, if any"),
            Arg(
                "newlines_in_values",
                "bool",
                required=False,
                doc="quoted values may hold newlines (each range is then a whole object)",
            ),
            Arg(
                "trailing_delimiter",
                "bool",
                required=False,
                doc="every line ends with a delimiter (dbgen's .tbl files)",
            ),
        ),
        "a split of a table's objects: byte ranges aligned to rows",
        input="scan_input",
        task="scan_task",
    ),
    "shuffle": Node(
        "",
        _args(Arg("stage", "stage", doc="the stage whose shuffle outputs are read")),
        "this task's partitions of every committed output of a shuffle stage",
        input="parts_input",
        task="shuffle_task",
        reads="shuffle",
    ),
    "gather": Node(
        "",
        _args(
            Arg("stage", "stage", doc="the stage whose results are read"),
            Arg(
                "range",
                "list<sort_key>",
                required=False,
                doc="the results are sorted by these keys; each task keeps its key range "
                "[lower, upper) of every result (a range-partitioned ORDER BY)",
            ),
        ),
        "every committed result of a stage, whole",
        input="parts_input",
        task="gather_task",
        reads="result",
    ),
    "combine": Node(
        "",
        _args(Arg("stage", "stage", doc="the shuffle stage whose outputs are combined")),
        "whole shuffle outputs of a run of map tasks, partitions and all (two-level exchange)",
        input="parts_input",
        task="combine_task",
        reads="shuffle",
    ),
    "join": Node(
        "",
        _args(
            Arg("left", "join_side"),
            Arg("right", "join_side"),
            Arg("left_keys", "list<column>", scope="left", doc="left join key columns"),
            Arg("right_keys", "list<column>", scope="right", doc="right join key columns"),
            Arg("how", "str", required=False, choices=JOIN_TYPES, doc="join type (default inner)"),
            Arg(
                "broadcast",
                "str",
                required=False,
                choices=("left", "right"),
                doc="the side every task reads whole (built once per worker and job)",
            ),
        ),
        "an equi-join of two inputs; all columns of both sides",
        input="join_input",
        task="join_task",
        same_length=("left_keys", "right_keys"),
    ),
    "union": Node(
        "",
        _args(
            Arg(
                "branches",
                "list<join_side>",
                doc="the inputs, each a source and its operators; all end with the same columns",
            )
        ),
        "UNION ALL: each task reads one branch's input and applies that branch's operators",
        input="union_input",
        task="union_task",
    ),
}

_SINKS: dict[str, Node] = {
    "shuffle": Node(
        "",
        _args(
            Arg("partitions", "int", doc="how many hash partitions"),
            Arg("keys", "list<column>", doc="partition by the hash of these columns"),
            Arg(
                "hot_keys",
                "bool",
                required=False,
                doc="return the keys of at least 1/8 of a strided sample of the rows in the "
                "summary (a skew-aware join names the keys of the partitions it splits)",
            ),
        ),
        "one object holding every hash partition, with an index",
    ),
    "result": Node(
        "",
        _args(
            Arg(
                "sample",
                "sort_sample",
                required=False,
                doc="return evenly spaced rows of these sort keys in the summary",
            )
        ),
        "one result object (Arrow IPC)",
    ),
}

COMPRESSIONS = ("auto", "none", "lz4", "zstd")
"""The output compressions a task event may ask for."""

STAGE_KINDS: dict[str, str] = {
    "map": "reads table splits (or joins two inputs, one broadcast)",
    "join": "joins partition p of two shuffled inputs",
    "reduce": "reads its partitions of a shuffle",
    "merge": "one task that reads every result of a stage",
    "combine": "merges runs of map outputs into fewer shuffle objects (two-level exchange)",
}
"""The kinds of stage; the kind tells the driver and explain what a stage is for."""

_PARTITION = Arg(
    "partition",
    "object",
    required=False,
    doc="the object's partition folder values, as text, by column",
)

RANGE_RECORDS: dict[str, str] = {
    "csv": "byte_range",
    "json": "byte_range",
    "parquet": "row_group_range",
}
"""The record a scan task's ranges are, by the scan's format."""

_RECORDS: dict[str, Node] = {
    "named_expr": Node(
        "", _args(Arg("name", "name", output=True), Arg("expr", "expr")), "an output column"
    ),
    "sort_key": Node(
        "",
        _args(
            Arg("column", "column"),
            Arg("descending", "bool", required=False),
            Arg("nulls_first", "bool", required=False),
        ),
        "one ORDER BY key",
    ),
    "column_def": Node("", _args(Arg("name", "str"), Arg("type", "type")), "a table column"),
    "join_side": Node(
        "",
        _args(Arg("source", "source"), Arg("ops", "list<op>")),
        "one side of a join: a source and the operators applied to it before the join",
    ),
    "byte_range": Node(
        "",
        _args(
            Arg("url", "str"),
            Arg("start", "int"),
            Arg("end", "int"),
            _PARTITION,
        ),
        "text or JSON: bytes [start, end) of an object, the rows that start in it (a compressed "
        "object: the whole object, end its size)",
    ),
    "row_group_range": Node(
        "",
        _args(
            Arg("url", "str"),
            Arg("start", "int", doc="where the first column chunk read begins"),
            Arg("end", "int", doc="where the last column chunk read ends"),
            Arg("row_groups", "list<int>", doc="the row groups to read, ascending"),
            Arg("size", "int", doc="the object's size (the footer is at its end)"),
            Arg("footer", "int", doc="the bytes of the object's footer, its length and magic"),
            _PARTITION,
        ),
        "Parquet: row groups of one object",
    ),
    "part": Node(
        "",
        _args(
            Arg("url", "str"),
            Arg("offset", "int"),
            Arg("length", "int"),
            Arg(
                "partition",
                "int",
                required=False,
                doc="the shuffle partition these bytes hold: a reducer of several partitions "
                "aggregates each on its own (their keys are disjoint)",
            ),
        ),
        "a byte range of an upstream output",
    ),
    "scan_input": Node("", _args(Arg("ranges", "list<split_range>")), "a scan task's input"),
    "parts_input": Node(
        "",
        _args(
            Arg("parts", "list<part>"),
            Arg("lower", "str", required=False, nullable=True, doc="range start (base64 IPC row)"),
            Arg("upper", "str", required=False, nullable=True, doc="range end, excluded"),
        ),
        "a shuffle or gather input",
    ),
    "sort_sample": Node(
        "",
        _args(
            Arg("keys", "list<sort_key>"),
            Arg("rows", "int"),
            Arg(
                "piece_bytes",
                "int",
                required=False,
                doc="the output is written in pieces of about this size (default 32 KB), each "
                "starting at a sample row, so a merge task reads only the pieces of its range",
            ),
        ),
        "which sort keys to sample from a task's sorted output, and how many rows",
    ),
    "join_input": Node(
        "",
        _args(
            Arg("left", "input", scope="left"),
            Arg("right", "input", scope="right"),
            Arg(
                "rows",
                "str",
                required=False,
                choices=JOIN_ROWS,
                doc="a split partition of an outer join: only the matched pairs, or only one "
                "side's rows that match no row of the other side (read one part at a time)",
            ),
        ),
        "a join task's input: one per side",
    ),
    "union_input": Node(
        "",
        _args(Arg("branch", "int"), Arg("input", "input", scope="branch")),
        "a union task's input: its branch, and the input of that branch's source",
    ),
    "union_task": Node(
        "",
        _args(Arg("branch", "int", doc="0-based"), Arg("task", "task", scope="branch")),
        "a union task in a plan: its branch, and a task of that branch's source",
    ),
    "scan_task": Node("", _args(Arg("ranges", "list<split_range>")), "a scan task in a plan"),
    "shuffle_task": Node("", _args(Arg("partition", "int")), "a shuffle-reading task in a plan"),
    "gather_task": Node("", (), "a gather task in a plan (it reads everything)"),
    "combine_task": Node(
        "",
        _args(Arg("outputs", "list<int>", doc="[lo, hi): the run of upstream outputs it reads")),
        "a combine task in a plan",
    ),
    "join_task": Node(
        "",
        _args(Arg("left", "task", scope="left"), Arg("right", "task", scope="right")),
        "a join task in a plan: one task per side",
    ),
    "stage_definition": Node(
        "",
        _args(
            Arg("id", "str", doc="unique within the plan"),
            Arg("kind", "str", choices=tuple(STAGE_KINDS)),
            Arg("source", "source"),
            Arg("ops", "list<op>", doc="applied in order"),
            Arg("sink", "sink"),
        ),
        "a stage as a task event carries it",
    ),
    "plan_column": Node(
        "",
        _args(
            Arg("name", "str", doc="as shown to users"),
            Arg("type", "type"),
            Arg("internal", "column", doc="the last stage's column that holds it"),
        ),
        "a result column",
    ),
    "hot_key": Node(
        "",
        _args(
            Arg("partition", "int"),
            Arg("key", "str", doc="the key's values as text, comma-separated, shortened"),
            Arg("rows", "int", doc="the rows of the output it is estimated to have"),
        ),
        "a key frequent in a sample of a task's shuffle output",
    ),
    "partition_info": Node(
        "",
        _args(Arg("offset", "int"), Arg("length", "int"), Arg("rows", "int")),
        "where one partition lies in a shuffle output",
    ),
    "task_output": Node(
        "",
        _args(
            Arg("url", "str"),
            Arg("length", "int", doc="bytes"),
            Arg(
                "partitions",
                "list<partition_info>",
                nullable=True,
                doc="null for a result, except a sorted one with a sample: its pieces, each "
                "starting at a sample row (see sort_sample)",
            ),
            Arg("codec", "str", doc="the IPC compression it was written with, or none"),
        ),
        "the object a task attempt wrote",
    ),
    "timings": Node(
        "",
        _args(*(Arg(n, "number", doc="seconds") for n in ("read", "compute", "write", "total"))),
        "where a task spent its time",
    ),
}

_STAGE_FIELDS = _RECORDS["stage_definition"].args
_RECORDS["stage"] = Node(
    "",
    (
        *_STAGE_FIELDS,
        Arg("tasks", "list<task>", required=False, doc="one per task, as the source declares"),
        Arg("depends_on", "list<stage>", required=False, doc="stages that must finish first"),
        Arg("coalesce_bytes", "int", required=False, doc="pack partitions into tasks this big"),
        Arg(
            "split_bytes",
            "int",
            required=False,
            doc="a shuffle join's partition over this many bytes is split: one side's map "
            "outputs spread over several tasks, each reading the other side's whole partition",
        ),
    ),
    "a stage in a plan",
)
_RECORDS["plan"] = Node(
    "",
    _args(
        Arg("version", "int", choices=(PLAN_VERSION,)),
        Arg("query", "str", required=False, doc="the SQL text"),
        Arg("inputs", "object", required=False, doc="for explain: the objects read per table"),
        Arg("columns", "list<plan_column>", doc="the result columns"),
        Arg("stages", "list<stage>", doc="in dependency order; the last one makes the result"),
    ),
    "a plan: the stages of one query",
)
_RECORDS["task_event"] = Node(
    "",
    _args(
        Arg("version", "int", choices=(PLAN_VERSION,)),
        Arg("job", "str"),
        Arg("job_store", "str", doc="URL under which the job's objects live"),
        Arg("stage", "stage_definition"),
        Arg("task", "int"),
        Arg("attempt", "int"),
        Arg("input", "input"),
        Arg(
            "heartbeat",
            "str",
            required=False,
            doc="URL of the job's heartbeat object; once it is gone the job is cancelled and "
            "the task writes nothing (it fails as JobCancelledError)",
        ),
        Arg(
            "compression",
            "str",
            required=False,
            choices=COMPRESSIONS,
            doc="the codec of the task's output (auto: none on a local store, else LZ4 or ZSTD)",
        ),
    ),
    "what the driver sends a task (on Lambda: the invocation's payload)",
)
_RECORDS["task_summary"] = Node(
    "",
    _args(
        Arg("version", "int", choices=(SUMMARY_VERSION,)),
        Arg("task_id", "str"),
        Arg("stage", "str"),
        Arg("task", "int"),
        Arg("attempt", "int"),
        Arg("rows_in", "int"),
        Arg("bytes_in", "int"),
        Arg("rows_out", "int"),
        Arg("bytes_out", "int"),
        Arg("output", "task_output"),
        Arg("max_rss_mb", "number", doc="peak resident memory of the process while the task ran"),
        Arg("s3_requests", "object", doc="the S3 requests the task made, by operation"),
        Arg("timings", "timings"),
        Arg("lambda", "object", required=False, doc="the invocation's report (Lambda executor)"),
        Arg(
            "sample",
            "str",
            required=False,
            doc="evenly spaced sort-key rows of the output (base64 IPC), for range bounds",
        ),
        Arg(
            "hot_keys",
            "list<hot_key>",
            required=False,
            doc="keys frequent in a sample of a shuffle output, when its sink asks for them",
        ),
    ),
    "what a task returns",
)


def _named(family: dict[str, Node]) -> dict[str, Node]:
    return {name: dataclasses.replace(node, name=name) for name, node in family.items()}


FUNCTIONS = _named(_FUNCTIONS)
"""Every function an expression may call ({"fn": name, "args": [...], fields…})."""
OPERATORS = _named(_OPERATORS)
"""Every operator a stage may apply ({"op": name, fields…})."""
AGGREGATES = _named(_AGGREGATES)
"""Every aggregate an aggregate operator may compute ({"name", "fn": name, fields…})."""
SOURCES = _named(_SOURCES)
"""Every kind of stage input ({"type": name, fields…})."""
SINKS = _named(_SINKS)
"""Every kind of stage output ({"type": name, fields…})."""
RECORDS = _named(_RECORDS)
"""Record shapes: plain JSON objects with the declared fields."""

FAMILIES: dict[str, tuple[str, dict[str, Node]]] = {
    "op": ("op", OPERATORS),
    "source": ("type", SOURCES),
    "sink": ("type", SINKS),
    "aggregate": ("fn", AGGREGATES),
}
"""For each value type that is a family of nodes: the key naming the member, and the family."""
