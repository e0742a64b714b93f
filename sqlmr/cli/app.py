"""The sqlmr command line: one parser, one module per command group. The CLI is the only code
that prints, reads flags or exits."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator

from sqlmr import __version__
from sqlmr.cli import flags
from sqlmr.errors import SqlmrError, TaskError


def parents() -> dict[str, argparse.ArgumentParser]:
    """The shared flag groups, each declared once (see sqlmr.cli.flags)."""
    return {
        "common": flags.common(),
        "aws": flags.aws(),
        "tables": flags.tables(),
        "planning": flags.planning(),
        "executor": flags.executor(),
    }


# Each command's module (sqlmr.cli.<module>.add_commands registers it). A command line that
# names one builds that module's parser only: importing and building all of them cost 15-20 ms
# of a small query's start-up; --help and a missing or unknown command build every one.
COMMAND_MODULES = {
    "query": "query",
    "explain": "query",
    "tables": "inspect",
    "describe": "inspect",
    "gen": "bench",
    "bench": "bench",
    "deploy": "aws",
    "destroy": "aws",
    "config": "settings",
    "gc": "gc",
    "timeline": "timeline",
    "shell": "shell",
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser for every sqlmr command, or for the one command `argv` names."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="sqlmr", description="Ad hoc SQL over big files as serverless MapReduce."
    )
    parser.add_argument("--version", action="version", version=f"sqlmr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    shared = parents()
    named = COMMAND_MODULES.get(argv[0]) if argv else None
    modules = [named] if named else list(dict.fromkeys(COMMAND_MODULES.values()))
    for name in modules:
        importlib.import_module(f"sqlmr.cli.{name}").add_commands(sub, shared)
    return parser


def apply_settings(args: argparse.Namespace) -> None:
    """Fill every flag left unset from SQLMR_* variables, the config file and the built-in
    defaults (sqlmr.config), for the flags this command has."""
    from sqlmr.config import SETTINGS, resolve

    present = [name for name in SETTINGS if hasattr(args, name)]
    if not present:
        return
    given = {name: getattr(args, name) for name in present}
    resolved = resolve(given, getattr(args, "config_profile", None))
    for name in present:
        setattr(args, name, resolved[name].value)


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


class _Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C, so the job's cleanup runs."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, _frame: object) -> None:
    raise _Terminated(signum)


@contextlib.contextmanager
def _terminate_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end a command as Ctrl-C does (the job prefix is removed, workers
    are killed), where the default action would leave both behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = (signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, _terminate) for s in wanted}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sqlmr` command."""
    try:
        # From the first step: a SIGTERM while the flags are parsed or the settings read ends
        # with the same one line as one during the job (the default action said nothing).
        with _terminate_on_signals():
            return _run(_parse(argv))
    except _Terminated as e:
        print(f"error: terminated by {signal.Signals(e.signum).name}", file=sys.stderr)
        return 128 + e.signum


def _parse(argv: list[str] | None) -> argparse.Namespace:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        if sys.stdin.isatty() and sys.stdout.isatty() and "shell" in _commands(parser):
            args = parser.parse_args(["shell"])
        else:
            parser.error("the following arguments are required: COMMAND (see sqlmr --help)")
    sql_parser = getattr(args, "sql_parser", None)
    if sql_parser is not None and args.sql is None and args.file is None:
        sql_parser.error("the following arguments are required: sql (or -f FILE, or - for stdin)")
    return args


def _run(args: argparse.Namespace) -> int:
    try:
        if not getattr(args, "raw_settings", False):
            apply_settings(args)
        return args.handler(args)
    except SqlmrError as e:
        if args.debug:
            traceback.print_exc()
            if isinstance(e, TaskError) and e.remote_traceback:
                print("\nremote traceback:\n" + e.remote_traceback, file=sys.stderr)
        print(f"error: {str(e) or type(e).__name__}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`sqlmr query … | head`): not an error of ours. Point stdout at
        # /dev/null so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, RuntimeError, ValueError, TypeError, KeyError) as e:
        # A bug or an unexpected environment failure: still one line, the traceback on --debug.
        if args.debug:
            traceback.print_exc()
        print(
            f"error: internal error: {type(e).__name__}: {e} (rerun with --debug for details)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        # A runtime error (a storage failure, bad input) that reached the CLI without being
        # translated where it crossed: its message is already one line for the user.
        from sqlmr_runtime.errors import RuntimeTaskError

        if not isinstance(e, RuntimeTaskError):
            raise
        if args.debug:
            traceback.print_exc()
        print(f"error: {str(e) or type(e).__name__}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
