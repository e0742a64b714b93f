"""Errors raised inside a task. The client maps them to its own SqlmrError hierarchy."""

from __future__ import annotations


class RuntimeTaskError(Exception):
    """Root of the errors a task raises on purpose (as opposed to bugs)."""


class PlanValidationError(RuntimeTaskError):
    """The plan or task event is not one this runtime version accepts."""


class BadInputError(RuntimeTaskError):
    """An input row could not be parsed; names the object and the byte offset of the row."""


class EvaluationError(RuntimeTaskError):
    """An expression failed on the data, e.g. division by zero or integer overflow."""


class StorageError(RuntimeTaskError):
    """An object could not be read or written."""


class UnsupportedCodecError(RuntimeTaskError):
    """Data was compressed with a codec this process's pyarrow lacks (a retry cannot help)."""
