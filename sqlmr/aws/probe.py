"""The probe: one invocation that asks the deployed function what it runs with.

`sqlmr deploy` sends it after every deployment and `sqlmr deploy --check` at any time. The answer
(Python, pyarrow, codecs, architecture, memory, Arrow features, optional modules) is checked
here, so that a function that cannot run a task fails deploy with a message saying why, never a
user's first query.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmr.aws.errors import DeployError, aws_action

_MACHINES = {"x86_64": ("x86_64", "amd64"), "arm64": ("aarch64", "arm64")}
# Modules the function must have: numpy for the runtime's arrays, boto3 for S3, aws_xray_sdk for
# its subsegments.
REQUIRED_MODULES = ("numpy", "boto3", "aws_xray_sdk")


def invoke_probe(lam, function_name: str) -> dict[str, Any]:
    """Invoke the function with the probe event; its answer, or DeployError if it failed."""
    from sqlmr_runtime.environment import (
        PROBE_KEY,
        PROBE_VERSION,
    )  # imports pyarrow: not at start-up

    with aws_action(f"invoke function {function_name} with the probe event", "lambda"):
        response = lam.invoke(
            FunctionName=function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps({PROBE_KEY: PROBE_VERSION}).encode(),
        )
        payload = response["Payload"].read()
    try:
        answer = json.loads(payload)
    except ValueError:
        answer = None
    if response.get("FunctionError"):
        body = answer if isinstance(answer, dict) else {}
        kind = body.get("errorType", response["FunctionError"])
        message = " ".join(str(body.get("errorMessage", payload[:300])).split())
        raise DeployError(f"function {function_name} cannot run a task: {kind}: {message}")
    if not isinstance(answer, dict) or answer.get(PROBE_KEY) != PROBE_VERSION:
        raise DeployError(
            f"function {function_name} did not answer the probe as sqlmr's runtime does "
            f"(got {payload[:200]!r}); redeploy it with `sqlmr deploy`"
        )
    return answer


def problems(answer: dict[str, Any], arch: str | None = None) -> list[str]:
    """What in a probe answer stops the function from running tasks as deployed."""
    found = [
        f"its pyarrow {answer.get('pyarrow')} lacks {name} ({why})"
        for name, why in (answer.get("features") or {}).items()
        if why != "ok"
    ]
    modules = answer.get("modules") or {}
    found += [
        f"it cannot import {name}"
        + (" (its X-Ray subsegments would be missing)" if name == "aws_xray_sdk" else "")
        for name in REQUIRED_MODULES
        if not modules.get(name)
    ]
    machine = answer.get("architecture")
    if arch is not None and machine not in _MACHINES.get(arch, (arch,)):
        found.append(f"it runs on {machine}, not {arch}")
    return found


def check_probe(answer: dict[str, Any], function_name: str, arch: str | None = None) -> None:
    """DeployError naming everything that stops the function from running tasks."""
    found = problems(answer, arch)
    if found:
        raise DeployError(
            f"function {function_name} cannot run sqlmr tasks: {'; '.join(found)}; deploy it "
            "with sqlmr's own layer (sqlmr deploy without --layer)"
        )


def describe(answer: dict[str, Any]) -> str:
    """One line: what the function runs with."""
    codecs = ", ".join(c for c, ok in (answer.get("codecs") or {}).items() if ok) or "none"
    modules = ", ".join(f"{k} {v}" for k, v in (answer.get("modules") or {}).items() if v)
    return (
        f"Python {answer.get('python')}, pyarrow {answer.get('pyarrow')} (codecs: {codecs}), "
        f"{answer.get('architecture')}, {answer.get('memory_mb')} MB; {modules}"
    )
