"""The executor interface: run one task event somewhere and report its outcome.

An outcome is a dict, either {"result": summary} or {"error": {"errorType", "errorMessage",
"stackTrace"}}: the shape of an AWS Lambda function error, so local and Lambda executors look
the same to the driver.
"""

from __future__ import annotations

import traceback
from concurrent.futures import Future
from typing import Any, Protocol

Outcome = dict[str, Any]


class Executor(Protocol):
    """Runs task events; `workers` is how many run at once."""

    workers: int

    def submit(self, event: dict[str, Any]) -> Future[Outcome]:
        """Start one task; the future resolves to its outcome."""

    def close(self) -> None:
        """Release the executor's resources."""


def error_outcome(error: BaseException, error_type: str | None = None) -> Outcome:
    """An outcome describing an exception, as Lambda reports an unhandled one."""
    return {
        "error": {
            "errorType": error_type or type(error).__name__,
            "errorMessage": str(error),
            "stackTrace": "".join(traceback.format_exception(error)),
        }
    }
