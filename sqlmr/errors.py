"""The domain errors of sqlmr. The library raises them; only the CLI prints them and exits."""

from __future__ import annotations


class SqlmrError(Exception):
    """Root of every error sqlmr reports to a user."""


class SqlError(SqlmrError):
    """The SQL text is not valid: carries the line, the column and a caret under the spot."""

    def __init__(
        self, message: str, sql: str = "", line: int | None = None, col: int | None = None
    ):
        self.message, self.sql, self.line, self.col = message, sql, line, col
        super().__init__(self._render())

    def _render(self) -> str:
        if self.line is None:
            return self.message
        where = f"line {self.line}, column {self.col}: {self.message}"
        lines = self.sql.splitlines() or [""]
        if not 1 <= self.line <= len(lines):
            return where
        text = lines[self.line - 1]
        return f"{where}\n  {text}\n  {' ' * max(self.col - 1, 0)}^"


class UnsupportedError(SqlError):
    """The SQL is valid but uses a construct sqlmr does not run (named in the message)."""


class CatalogError(SqlmrError):
    """An unknown table or column, or a bad catalog file or tables folder."""


class PlanError(SqlmrError):
    """A plan that cannot be built or that the runtime refuses."""


class TaskError(SqlmrError):
    """A task failed on every attempt; carries where it failed and the remote traceback."""

    def __init__(
        self,
        message: str,
        stage: str,
        task: int,
        attempt: int,
        error_type: str = "",
        remote_traceback: str = "",
    ):
        self.stage, self.task, self.attempt = stage, task, attempt
        self.error_type, self.remote_traceback = error_type, remote_traceback
        super().__init__(f"stage {stage}, task {task}, attempt {attempt}: {message}")


class UsageError(SqlmrError):
    """A bad option value, such as a malformed size."""
