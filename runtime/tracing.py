"""X-Ray subsegments inside a task, when the function runs on Lambda with active tracing.

Lambda sets _X_AMZN_TRACE_ID and AWS_XRAY_DAEMON_ADDRESS when tracing is Active; only then is
aws_xray_sdk imported (lazily, and only if the deployment provides it). Anywhere else this is a
no-op, so local workers never pay for it and never wait on a daemon.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

_recorder: Any = None
_disabled = False


def _xray() -> Any:
    global _recorder, _disabled
    if _disabled or not (
        os.environ.get("_X_AMZN_TRACE_ID") and os.environ.get("AWS_XRAY_DAEMON_ADDRESS")
    ):
        return None
    if _recorder is None:
        try:
            from aws_xray_sdk.core import xray_recorder

            xray_recorder.configure(context_missing="IGNORE_ERROR")
            _recorder = xray_recorder
        except Exception:  # no SDK in this deployment: tracing is best effort
            _disabled = True
            return None
    return _recorder


@contextlib.contextmanager
def subsegment(name: str, **annotations: Any) -> Iterator[None]:
    """Record the block as an X-Ray subsegment (on Lambda with tracing), else do nothing."""
    recorder = _xray()
    if recorder is None:
        yield
        return
    with recorder.in_subsegment(name) as sub:
        if sub is not None:
            for key, value in annotations.items():
                sub.put_annotation(key, value)
        yield
