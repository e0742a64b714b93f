"""Parsing SQL with sqlglot (DuckDB dialect), and turning its errors into SqlError with a caret."""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Tokenizer, TokenType

from sqlmr.errors import SqlError, UnsupportedError


def parse(sql: str) -> exp.Expression:
    """Parse one SQL statement."""
    if not sql.strip():
        raise SqlError("the query is empty", sql, 1, 1)
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except ParseError as e:
        _check_first_word(sql)
        first = e.errors[0] if e.errors else {}
        message = _describe(first.get("description") or str(e), first.get("start_context"))
        highlight = first.get("highlight") or ""
        line, col = first.get("line"), first.get("col")
        if line is not None and col is not None and highlight:
            col = col - len(highlight) + 1  # sqlglot points at the token's last character
            message = f"{message} near {highlight!r}"
        raise SqlError(f"syntax error: {message}", sql, line, col) from e
    except TokenError as e:
        raise SqlError(f"syntax error: {_token_message(e)}", sql, *_open_quote(sql)) from e
    if not statements:
        raise SqlError("the query is empty", sql, *statement_start(sql))
    if len(statements) > 1:
        message = "more than one statement; run one query at a time"
        raise UnsupportedError(message, sql, *statement_start(sql, 1))
    _check_tokens(sql)
    for between in statements[0].find_all(exp.Between):
        if between.args.get("symmetric"):  # the one-table path would read it as BETWEEN
            raise sql_error(UnsupportedError, "BETWEEN SYMMETRIC is not supported", sql, between)
    return statements[0]


_MISSING = re.compile(r"Required keyword: '(\w+)' missing for <class '[\w.]*\.(\w+)'>")
_TOO_MANY = re.compile(
    r"The number of provided arguments \((\d+)\) is greater than the maximum number of "
    r"supported arguments \((\d+)\)"
)


def _describe(message: str, before: str | None = None) -> str:
    """sqlglot's parser messages in a user's words; `before` is the text up to the error, where
    the call a wrong number of arguments was given to is found."""
    function = _open_call(before or "")
    missing = _MISSING.search(message)
    if missing:
        node = getattr(exp, missing.group(2), None)
        if function and isinstance(node, type) and issubclass(node, exp.Func):
            return f"{function}() is missing an argument"
        return f"{missing.group(2).upper()} is incomplete"
    too_many = _TOO_MANY.search(message)
    if too_many and function:
        given, most = too_many.groups()
        return f"{function}() takes at most {most} argument(s), got {given}"
    return message.replace("Invalid expression / Unexpected token", "unexpected token")


def _open_call(text: str) -> str:
    """The name of the innermost function call still open at the end of `text`, or ''."""
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            if depth == 0:
                name = re.search(r"(\w+)\s*$", text[:i])
                return name.group(1).upper() if name else ""
            depth -= 1
    return ""


_NO_SELECT_LIST = {TokenType.FROM, TokenType.SEMICOLON, TokenType.R_PAREN}


def _check_tokens(sql: str) -> None:
    """What sqlglot forgives but DuckDB refuses: an empty item between two commas, and a SELECT
    with no select list (sqlglot parses it as zero columns, which would answer with nothing)."""
    tokens = Tokenizer().tokenize(sql)
    for before, after in zip(tokens, tokens[1:], strict=False):
        if before.token_type == TokenType.COMMA and after.token_type == TokenType.COMMA:
            col = after.col - len(after.text) + 1
            raise SqlError("syntax error: unexpected ',' (an empty item)", sql, after.line, col)
        if before.token_type == TokenType.SELECT and after.token_type in _NO_SELECT_LIST:
            col = after.col - len(after.text) + 1
            raise SqlError("syntax error: SELECT without a select list", sql, after.line, col)
    if tokens and tokens[-1].token_type == TokenType.SELECT:
        last = tokens[-1]
        raise SqlError("syntax error: SELECT without a select list", sql, last.line, last.col + 1)


def keyword_position(sql: str, *keywords: str, nth: int = 0) -> tuple[int | None, int | None]:
    """Line and column of the first (or the nth, from 0) of these keywords in the query."""
    wanted = {k.upper() for k in keywords}
    found = [t for t in Tokenizer().tokenize(sql) if t.text.upper() in wanted]
    if len(found) <= nth:
        return None, None
    return found[nth].line, found[nth].col - len(found[nth].text) + 1


def keyword_count(sql: str, keyword: str) -> int:
    """How many times a keyword occurs as a token of the query (not in strings or comments)."""
    return sum(t.text.upper() == keyword.upper() for t in Tokenizer().tokenize(sql))


def statement_start(sql: str, index: int = 0) -> tuple[int, int]:
    """Line and column of the first token of the index-th statement (after `index` semicolons
    that end a statement), or of the first token at all; (1, 1) when there is none."""
    tokens = Tokenizer().tokenize(sql)
    ends = 0
    for before, token in zip([None, *tokens], tokens, strict=False):
        if before is not None and before.token_type == TokenType.SEMICOLON:
            ends += token.token_type != TokenType.SEMICOLON
        if ends >= index and (index == 0 or token.token_type != TokenType.SEMICOLON):
            return token.line, token.col - len(token.text) + 1
    return (tokens[0].line, tokens[0].col) if tokens else (1, 1)


def _check_first_word(sql: str) -> None:
    """A statement that starts with a word that is no keyword (SELEC 1) is named at that word:
    sqlglot reports the token after it."""
    try:
        tokens = Tokenizer().tokenize(sql)
    except TokenError:
        return
    if tokens and tokens[0].token_type == TokenType.VAR:
        word = tokens[0]
        raise SqlError(
            f"syntax error: unknown statement {word.text!r}; a query starts with SELECT or WITH",
            sql,
            word.line,
            word.col - len(word.text) + 1,
        )


def _open_quote(sql: str) -> tuple[int | None, int | None]:
    """Line and column of the quote that opens a string or quoted name never closed (none:
    (None, None)); comments are skipped, and a doubled quote inside is one character."""
    i, n = 0, len(sql)
    while i < n:
        if sql.startswith("--", i):
            i = n if (end := sql.find("\n", i)) < 0 else end
        elif sql.startswith("/*", i):
            i = n if (end := sql.find("*/", i + 2)) < 0 else end + 2
        elif sql[i] in "'\"":
            quote, j = sql[i], i + 1
            while True:
                j = sql.find(quote, j)
                if j < 0:
                    line = sql.count("\n", 0, i) + 1
                    return line, i - (sql.rfind("\n", 0, i) + 1) + 1
                if sql.startswith(quote * 2, j):
                    j += 2
                    continue
                break
            i = j + 1
        else:
            i += 1
    return None, None


def _token_message(error: TokenError) -> str:
    text = str(error)
    if "'" in text:
        return "unterminated string or quoted identifier"
    return text


def position(sql: str, node: exp.Expression) -> tuple[int | None, int | None]:
    """Line and column (1-based) where a node starts, when sqlglot recorded it."""
    starts = [
        n.meta["start"]
        for n in node.walk()
        if isinstance(n, exp.Expression)
        and n.meta
        and "start" in n.meta
        and not n.find_ancestor(exp.DataType)  # type parameters carry made-up positions
    ]
    if not starts:
        return None, None
    offset = min(starts)
    if isinstance(node, exp.Func):
        # sqlglot records where identifiers are, not keywords: step back to the function name.
        name = node.sql_name() if not isinstance(node, exp.Anonymous) else node.name
        found = sql.lower().rfind(name.lower(), 0, offset)
        if found >= 0 and offset - found <= len(name) + 40:
            offset = found
    line = sql.count("\n", 0, offset) + 1
    col = offset - (sql.rfind("\n", 0, offset) + 1) + 1
    return line, col


def sql_error(cls: type[SqlError], message: str, sql: str, node: exp.Expression | None) -> SqlError:
    """An error of the given class located at a node."""
    line, col = position(sql, node) if node is not None else (None, None)
    return cls(message, sql, line, col)
