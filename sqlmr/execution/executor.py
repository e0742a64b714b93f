"""The executor interface: run one task event somewhere and report its outcome.

An outcome is a dict, either {"result": summary} or {"error": {"errorType", "errorMessage",
"stackTrace", "retryable"}}: the shape of an AWS Lambda function error, so local and Lambda
executors look the same to the driver, plus whether a retry could help, which each executor
decides where the error crosses into it and from which alone the driver decides retries.
"""

from __future__ import annotations

import traceback
from concurrent.futures import Future
from typing import Any, Protocol

from sqlmr_runtime.errors import is_retryable

Outcome = dict[str, Any]


class Executor(Protocol):
    """Runs task events; `workers` is how many run at once."""

    workers: int

    def submit(self, event: dict[str, Any]) -> Future[Outcome]:
        """Start one task; the future resolves to its outcome."""

    def close(self) -> None:
        """Release the executor's resources."""


def error_outcome(error: BaseException, error_type: str | None = None) -> Outcome:
    """An outcome describing an exception, as Lambda reports an unhandled one, with whether a
    retry could help (the exception's `retryable`, else that of the type it is reported as)."""
    retryable = is_retryable(error_type) if error_type else is_retryable(error)
    return {
        "error": {
            "errorType": error_type or type(error).__name__,
            "errorMessage": str(error),
            "stackTrace": "".join(traceback.format_exception(error)),
            "retryable": retryable,
        }
    }


def failure(kind: str, message: str, retryable: bool) -> Outcome:
    """The outcome of a task that failed outside the runtime (a lost worker, a timeout)."""
    error = {"errorType": kind, "errorMessage": message, "stackTrace": "", "retryable": retryable}
    return {"error": error}
