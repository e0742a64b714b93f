"""A script of `;`-separated statements, and the statements the driver answers without a job.

`split_statements` cuts a script into statements that keep their positions in the script (the
text before a statement is blanked, not removed), so an error in the third statement of a file
still points at the file's own line and column. `classify` tells a query from `SHOW TABLES`,
`DESCRIBE table` and `DESCRIBE SELECT …`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import TokenError
from sqlglot.tokens import Tokenizer, TokenType

from sqlmr.compiler.parse import parse, sql_error
from sqlmr.errors import SqlError, UnsupportedError


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


def split_statements(script: str) -> list[str]:
    """The non-empty statements of a script, each padded to its position in the script."""
    try:
        tokens = Tokenizer(dialect="duckdb").tokenize(script)
    except TokenError:
        return [script]  # parse() reports the unterminated string with its position
    statements, begin = [], 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append(_blank(script[:begin]) + script[begin : token.start])
            begin = token.end + 1
    statements.append(_blank(script[:begin]) + script[begin:])
    return [s for s in statements if s.strip()]


@dataclass(frozen=True)
class Statement:
    """One statement: kind is query, show_tables, describe_table or describe_query.

    `sql` is the query to compile (for describe_query the query after DESCRIBE, padded to its
    position); `table` the name a DESCRIBE names.
    """

    kind: str
    sql: str
    table: str = ""


def classify(sql: str) -> Statement:
    """What a statement asks for. Parse errors are SqlError with a caret, as for queries."""
    tree = parse(sql)
    if isinstance(tree, exp.Show):
        if str(tree.name).upper() == "TABLES" and not tree.args.get("terse"):
            return Statement("show_tables", sql)
        raise sql_error(UnsupportedError, "only SHOW TABLES is supported", sql, tree)
    if isinstance(tree, exp.Describe):
        target = tree.this
        if isinstance(target, exp.Table) and not target.args.get("db"):
            return Statement("describe_table", sql, target.name)
        if isinstance(target, exp.Query):
            return Statement("describe_query", _after_describe(sql))
        raise sql_error(UnsupportedError, "DESCRIBE needs a table name or a SELECT", sql, tree)
    return Statement("query", sql)


def _after_describe(sql: str) -> str:
    for token in Tokenizer(dialect="duckdb").tokenize(sql):
        if token.text.upper() in ("DESCRIBE", "DESC"):
            return _blank(sql[: token.end + 1]) + sql[token.end + 1 :]
    raise SqlError("DESCRIBE without a query", sql)


def is_complete(text: str) -> bool:
    """Whether a script typed so far ends with a `;` that closes a statement (not one inside a
    string or a comment): the shell runs it then, and otherwise asks for more lines."""
    try:
        tokens = Tokenizer(dialect="duckdb").tokenize(text)
    except TokenError:
        return False  # an unterminated string or quoted name goes on on the next line
    return bool(tokens) and tokens[-1].token_type == TokenType.SEMICOLON


def keywords() -> list[str]:
    """SQL keywords, for completion."""
    return sorted(k for k in Tokenizer.KEYWORDS if re.fullmatch(r"[A-Z][A-Z_]*", k))
