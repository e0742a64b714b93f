"""Errors raised inside a task, each saying whether a retry could help (`retryable`).

The executors translate a failed task into an outcome that carries `retryable` (from the
exception, or from its type's name when it crossed the Lambda boundary as text); the driver
decides retries from that flag alone, and maps the error to its own SqlmrError hierarchy.
"""

from __future__ import annotations


class RuntimeTaskError(Exception):
    """Root of the errors a task raises on purpose (as opposed to bugs).

    `retryable`: whether another attempt could succeed; an instance may override its class."""

    retryable = True

    def __init__(self, message: str = "", retryable: bool | None = None):
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class PlanValidationError(RuntimeTaskError):
    """The plan or task event is not one this runtime version accepts."""

    retryable = False


class BadInputError(RuntimeTaskError):
    """An input row could not be parsed; names the object and the byte offset of the row."""

    retryable = False


class EvaluationError(RuntimeTaskError):
    """An expression failed on the data, e.g. division by zero or integer overflow."""

    retryable = False


class StorageError(RuntimeTaskError):
    """An object could not be read or written (retryable unless it names a lasting cause)."""


class JobCancelledError(RuntimeTaskError):
    """The task's job was cancelled (its driver failed or was interrupted and removes its
    objects): the task writes nothing, so it cannot re-create what cleanup removed."""

    retryable = False


class UnsupportedCodecError(RuntimeTaskError):
    """Data was compressed with a codec this process's pyarrow lacks (a retry cannot help)."""

    retryable = False


class MissingFeatureError(RuntimeTaskError):
    """The function's pyarrow lacks a feature the runtime needs (final: retries fail alike)."""

    retryable = False


def _classes(root: type = RuntimeTaskError) -> dict[str, type]:
    found = {root.__name__: root}
    for sub in root.__subclasses__():
        found |= _classes(sub)
    return found


def is_retryable(error: BaseException | str) -> bool:
    """Whether another attempt could succeed after this error (or error type name, as Lambda
    reports it). Errors the runtime did not raise on purpose (bugs, a lost worker) are."""
    if isinstance(error, BaseException):
        return bool(getattr(error, "retryable", True))
    cls = _classes().get(error)
    return True if cls is None else bool(cls.retryable)
