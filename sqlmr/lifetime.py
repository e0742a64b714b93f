"""Forked processes that must not outlive the process that forked them: the local pool's workers
and `sqlmr query`'s compile helper. Light to import (the helper's driver forks before it loads
the executor)."""

from __future__ import annotations

import os
import signal
import sys


def die_with_parent(parent: int) -> None:
    """Have the OS kill this (forked) process when `parent` dies; exit now if it already has."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
