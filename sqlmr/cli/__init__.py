"""The command line: the only code that prints, reads flags or exits."""

from sqlmr.cli.app import main

__all__ = ["main"]
