"""Executors run task events: locally in a process pool, or on AWS Lambda."""

from .base import Executor, Outcome
from .local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "Outcome"]
