"""Defaults defined once: the library, the planner, the driver, the CLI (and its help texts),
deploy and the cost estimate all read them here."""

from __future__ import annotations

MB = 1 << 20

TASK_MEMORY_MB = 1536
"""Memory of one task, in MB: the reference architecture's Lambda size."""
TASK_MEMORY = TASK_MEMORY_MB * MB

BROADCAST_THRESHOLD = 64 * MB
"""A join broadcasts its smaller side when that is at most this many bytes."""

RETRIES = 2
"""Attempts after the first that a failed (retryable) task gets."""

LAMBDA_CONCURRENCY = 100
"""Concurrent Lambda invocations a job starts with (before the account's limits cap it)."""
