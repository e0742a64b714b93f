"""Settings of Arrow's memory allocator, applied before pyarrow loads.

Arrow's default pool is mimalloc, which reads its options from the environment once, when the
library is loaded. By default it asks the kernel for transparent huge pages and hands freed
memory back after 10 ms; a task that allocates and frees hundreds of megabytes then spends a
quarter of its time in the kernel zeroing fresh (huge) pages (`clear_page_erms` in perf).
Disabling THP and keeping freed pages for reuse cut that system time by more than half on
Amplab 2c with the same peak memory (see benchmarks/README.md). Either setting alone did not help.

Values already in the environment win, so a user can measure or undo the choice. Local workers
are forked from the driver and inherit its loaded allocator; the Lambda function gets the same
values as environment variables at deploy, and from this module when the handler is imported.
"""

from __future__ import annotations

import os

ALLOCATOR_ENV = {"MIMALLOC_ALLOW_THP": "0", "MIMALLOC_PURGE_DELAY": "-1"}
"""mimalloc options: no transparent huge pages; freed pages are kept for reuse, never purged."""

THREADS_ENV = {"OPENBLAS_NUM_THREADS": "1"}
"""numpy (which pyarrow imports and the runtime computes with; sqlmr's Lambda layer ships it)
starts an OpenBLAS thread per core at import, for linear algebra the runtime never does: one
thread saves ~20 ms of CPU per process start (measured, 0.136 -> 0.115 s for `import pyarrow,
numpy`) and no idle BLAS thread competes with a task's core."""


def configure_allocator() -> None:
    """Put ALLOCATOR_ENV and THREADS_ENV into this process's environment where not set (before
    pyarrow and numpy load: later they have no effect)."""
    for name, value in {**ALLOCATOR_ENV, **THREADS_ENV}.items():
        os.environ.setdefault(name, value)
