"""The function's IAM role: created or updated with its trust policy and inline policy."""

from __future__ import annotations

import json
from typing import Any

from sqlmr.aws.errors import aws_action, is_missing
from sqlmr.aws.policy import decode_policy, trust_policy
from sqlmr.aws.report import DeployReport, make_change, planned_role_arn


def ensure_role(iam, report: DeployReport) -> None:
    """Create the role or fix its trust policy, then put the inline policy unless it is current.

    Sets report.role_arn and records every change (planned only, in a dry run)."""
    name = report.role_name
    role = None
    with aws_action(f"read IAM role {name}", "iam"):
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except Exception as e:
            if not is_missing(e):
                raise
    current = None
    if role is None:
        role = _create(iam, report)
    else:
        _ensure_trust(iam, report, role)
        current = _inline_policy(iam, report)
    report.role_arn = role["Arn"] if role else planned_role_arn(report)
    if current == report.policy:
        report.unchanged.append(f"inline policy {report.policy_name}")
        return

    def put() -> None:
        with aws_action(f"put inline policy {report.policy_name} on role {name}", "iam"):
            iam.put_role_policy(
                RoleName=name,
                PolicyName=report.policy_name,
                PolicyDocument=json.dumps(report.policy),
            )

    verb = "put" if current is None else "update"
    make_change(report, f"{verb} inline policy {report.policy_name} on role {name}", put)


def _create(iam, report: DeployReport) -> dict[str, Any] | None:
    """Create the role (None in a dry run) and wait until it exists."""
    name = report.role_name

    def create() -> dict[str, Any]:
        with aws_action(f"create IAM role {name}", "iam"):
            created = iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust_policy()),
                Description=f"sqlmr: role of the Lambda function {report.function_name}",
            )["Role"]
            iam.get_waiter("role_exists").wait(
                RoleName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
            )
        return created

    return make_change(report, f"create IAM role {name} (trusted by lambda.amazonaws.com)", create)


def _ensure_trust(iam, report: DeployReport, role: dict[str, Any]) -> None:
    """Update the role's trust policy unless it is already Lambda's."""
    name = report.role_name
    if decode_policy(role.get("AssumeRolePolicyDocument")) == trust_policy():
        report.unchanged.append(f"IAM role {name}")
        return

    def trust() -> None:
        with aws_action(f"update the trust policy of IAM role {name}", "iam"):
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust_policy()))

    make_change(report, f"update the trust policy of IAM role {name}", trust)


def _inline_policy(iam, report: DeployReport) -> dict[str, Any] | None:
    """The role's current inline policy, or None."""
    name = report.role_name
    with aws_action(f"read inline policy {report.policy_name} of role {name}", "iam"):
        try:
            document = iam.get_role_policy(RoleName=name, PolicyName=report.policy_name)
            return decode_policy(document["PolicyDocument"])
        except Exception as e:
            if not is_missing(e):
                raise
    return None
