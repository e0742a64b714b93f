"""DeployReport: what a deployment wants, what it changed (or would change) and what it left."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmr_runtime.allocator import ALLOCATOR_ENV

RUNTIME = "python3.12"
HANDLER = "sqlmr_runtime.handler.lambda_handler"


@dataclass
class DeployReport:
    """What deploy did (or, with dry_run, would do)."""

    function_name: str
    region: str
    account_id: str
    role_name: str
    policy_name: str
    layer: str
    memory: int
    timeout: int
    arch: str
    code_sha256: str  # base64 of the digest, as Lambda reports CodeSha256
    code_size: int
    policy: dict[str, Any]
    partition: str = "aws"
    dry_run: bool = False
    role_arn: str = ""
    function_arn: str = ""
    code_uploaded: bool = False
    changes: list[str] = field(default_factory=list)  # what was (or would be) changed
    unchanged: list[str] = field(default_factory=list)  # what was already as wanted
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The report as text, one line per item, for the CLI to print."""
        verb = "would" if self.dry_run else "did"
        lines = [
            f"function {self.function_name} in {self.region} (account {self.account_id}): "
            f"{RUNTIME}, {self.arch}, {self.memory} MB, {self.timeout} s",
            f"layer {self.layer}",
            f"code {self.code_size:,} bytes, CodeSha256 {self.code_sha256}",
        ]
        lines += [f"{verb}: {c}" for c in self.changes] or [f"{verb}: nothing to change"]
        lines += [f"unchanged: {u}" for u in self.unchanged]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def planned_role_arn(report: DeployReport) -> str:
    """The ARN the role has (or will have) in the report's account and partition."""
    return f"arn:{report.partition}:iam::{report.account_id}:role/{report.role_name}"


def make_change(report: DeployReport, text: str, action: Callable[[], Any]) -> Any:
    """Make one change (not in a dry run), then record it, so that a change that failed is
    never reported as made."""
    result = None if report.dry_run else action()
    report.changes.append(text)
    return result


def function_config(report: DeployReport) -> dict[str, Any]:
    """The Lambda function configuration (as CreateFunction takes it) that a report wants."""
    return {
        "Runtime": RUNTIME,
        "Handler": HANDLER,
        "MemorySize": report.memory,
        "Timeout": report.timeout,
        "Layers": [report.layer],
        "TracingConfig": {"Mode": "Active"},
        # Arrow's allocator reads these when pyarrow loads (see sqlmr_runtime.allocator).
        "Environment": {"Variables": dict(ALLOCATOR_ENV)},
    }
