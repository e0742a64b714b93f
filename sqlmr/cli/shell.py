"""The interactive shell (`sqlmr shell`, or `sqlmr` alone on a terminal), as DuckDB users know
one: statements over several lines ended by `;`, history kept across sessions, completion of
keywords, table and column names, and the dot commands .tables, .schema, .timer and .mode.

Results print as `sqlmr query` prints them; an error is one line and the shell goes on.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from sqlmr.errors import SqlmrError

PROMPT, MORE = "sqlmr> ", "  ...> "
MODES = ("table", "csv", "tsv", "json")
HELP = """\
.tables              list the tables
.schema [TABLE]      show the columns of one table, or of every table
.timer on|off        show how long each statement takes
.mode table|csv|tsv|json
                     how results print
.help                this text
.quit / .exit        leave (so does Ctrl-D)
Statements end with ';' and may span lines."""


def add_commands(sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser]):
    """Register `shell`."""
    s = sub.add_parser(
        "shell",
        help="an interactive SQL shell",
        description="An interactive shell: statements end with ';' and may span lines; "
        "history, completion of keywords, tables and columns; .tables, .schema, "
        ".timer on|off, .mode table|csv|tsv|json. `sqlmr` alone on a terminal starts it.",
        parents=[parents[k] for k in ("common", "tables", "planning", "executor", "aws")],
    )
    s.add_argument(
        "--format",
        choices=MODES,
        help="how results print at first (default: table); .mode changes it",
    )
    s.set_defaults(handler=run_shell)


def history_path() -> Path:
    """$SQLMR_HISTORY, else $XDG_STATE_HOME/sqlmr/history, else ~/.local/state/sqlmr/history."""
    if os.environ.get("SQLMR_HISTORY"):
        return Path(os.environ["SQLMR_HISTORY"])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sqlmr" / "history"


class Shell:
    """One session: the catalog, a lazily started executor, and the display settings."""

    def __init__(self, args: argparse.Namespace):
        from sqlmr.api import resolve_catalog

        self.args = args
        self.catalog = resolve_catalog(args.tables, args.catalog)
        self.mode = args.format or "table"
        self.timer = False
        self.executor = None
        self._names: list[str] | None = None

    # -- completion -------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Keywords, table names and column names, found once per session."""
        if self._names is None:
            from sqlmr.compiler.statements import keywords

            found = set(keywords())
            for table in self.catalog.tables:
                found.add(table.name)
                try:
                    found.update(c.name for c in self.catalog.table(table.name).columns)
                except SqlmrError:
                    pass  # a table that cannot be read yet still completes by name
            self._names = sorted(found, key=str.lower)
        return self._names

    def complete(self, text: str, state: int) -> str | None:
        """readline's completer: the state-th name starting with text (case-insensitive)."""
        lowered = text.lower()
        matches = [n for n in self.names() if n.lower().startswith(lowered)]
        if text.isupper() or text.islower():
            # Keywords follow the case typed; table and column names keep their own.
            matches = [m.upper() if m.isupper() and text.isupper() else m for m in matches]
            matches = [m.lower() if m.isupper() and text.islower() else m for m in matches]
        return matches[state] if state < len(matches) else None

    # -- running ----------------------------------------------------------------------------

    def dot(self, line: str) -> bool:
        """Run a dot command; False when it asks to leave."""
        word, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        if word in (".quit", ".exit"):
            return False
        if word == ".help":
            print(HELP)
        elif word == ".tables":
            print("  ".join(sorted(t.name for t in self.catalog.tables)))
        elif word == ".schema":
            from sqlmr.describe import describe_table

            names = [rest] if rest else sorted(t.name for t in self.catalog.tables)
            for name in names:
                table = describe_table(self.catalog, name)
                cols = ", ".join(
                    f"{n} {t}"
                    for n, t in zip(
                        table.column("column_name").to_pylist(),
                        table.column("column_type").to_pylist(),
                        strict=True,
                    )
                )
                print(f"{self.catalog.table(name).name}({cols})")
        elif word == ".timer" and rest in ("on", "off"):
            self.timer = rest == "on"
        elif word == ".mode" and rest in MODES:
            self.mode = rest
        else:
            print(f"error: unknown command {line.strip()!r}; .help lists them", file=sys.stderr)
        return True

    def execute(self, script: str) -> None:
        """Run every statement of a script, printing each result."""
        from sqlmr.cli.query import emit, executor_from, run_statement
        from sqlmr.compiler.statements import classify, split_statements
        from sqlmr.describe import answer

        for text in split_statements(script):
            started = time.perf_counter()
            statement = classify(text)
            if statement.kind != "query":
                table = answer(statement, self.catalog)
                emit(table.column_names, [table], self.mode, None)
            else:
                if self.executor is None:
                    self.executor = executor_from(self.args)
                run_statement(
                    self.args, statement.sql, self.catalog, self.executor, self.mode, None
                )
            sys.stdout.flush()
            if self.timer:
                print(f"Run Time: real {time.perf_counter() - started:.3f}s", file=sys.stderr)

    def close(self) -> None:
        if self.executor is not None:
            self.executor.close()


def _readline(shell: Shell):
    """GNU readline (or libedit) with history and completion, when the platform has it."""
    try:
        import readline
    except ImportError:
        return None
    path = history_path()
    try:
        readline.read_history_file(path)
    except OSError:
        pass  # no history yet
    readline.set_completer(shell.complete)
    readline.set_completer_delims(" \t\n(),;=<>*+-/'\".")
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")
    return readline


def _save_history(readline) -> None:
    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        readline.set_history_length(5000)
        readline.write_history_file(path)
    except OSError as e:
        print(f"warning: cannot save the history to {path}: {e.strerror}", file=sys.stderr)


def run_shell(args: argparse.Namespace) -> int:
    """`sqlmr shell`: read statements until .quit or end of input."""
    args.output, args.no_header, args.stats = None, False, False
    args.trace, args.keep_intermediates, args.overwrite = None, False, False
    shell = Shell(args)
    readline = _readline(shell)
    from sqlmr.compiler.statements import is_complete

    print('sqlmr shell: statements end with ";"; .help for commands, .quit to leave')
    buffer = ""
    try:
        while True:
            try:
                line = input(MORE if buffer else PROMPT)
            except EOFError:
                print()
                break
            except KeyboardInterrupt:
                print()
                buffer = ""  # Ctrl-C drops the statement being typed
                continue
            if not buffer and line.strip().startswith("."):
                if not _guard(shell.dot, line):
                    break
                continue
            buffer += line + "\n"
            if is_complete(buffer):
                script, buffer = buffer, ""
                _guard(shell.execute, script)
    finally:
        shell.close()
        if readline is not None:
            _save_history(readline)
    return 0


def _guard(action, text: str) -> bool:
    """Run a shell action; an error is printed as `query` prints it, and the shell goes on."""
    try:
        return action(text) is not False
    except SqlmrError as e:
        print(f"error: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
    except (OSError, RuntimeError, ValueError, TypeError, KeyError) as e:
        print(f"error: internal error: {type(e).__name__}: {e}", file=sys.stderr)
    return True
