"""Removing a deployment: the function, its role and policy, its log group and the job store.

A piece already gone is reported as absent, not as an error. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmr_runtime.errors import StorageError
from sqlmr_runtime.s3 import delete_under

from sqlmr.aws.errors import DeployError, aws_action, is_missing
from sqlmr.aws.lifecycle import remove_job_lifecycle, rule_id
from sqlmr.aws.policy import (
    S3Prefix,
    check_function_name,
    decode_policy,
    log_group_name,
    parse_s3_url,
    policy_name,
    role_name,
)
from sqlmr.aws.session import client, open_session, session_region


def destroy(
    function_name: str = "sqlmr",
    job_store: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    *,
    session: Any = None,
) -> list[str]:
    """Delete the function, its role (inline policy first), its log group and every object
    under the job store prefix. A piece already gone is reported as absent, not as an error.
    Returns one line per piece."""
    check_function_name(function_name)
    store = _checked_store(job_store)
    session = session or open_session(region, profile)
    session_region(session)
    iam = client(session, "iam")
    lam = client(session, "lambda")
    logs = client(session, "logs")
    done: list[str] = []
    role, policy = role_name(function_name), policy_name(function_name)

    if store is not None:
        _check_not_an_input(iam, role, policy, store)

    def step(what: str, service: str, call: Callable[[], Any]) -> None:
        with aws_action(f"delete {what}", service):
            done.append(f"deleted {what}" if _delete(call) else f"{what}: absent")

    step(
        f"function {function_name}",
        "lambda",
        lambda: lam.delete_function(FunctionName=function_name),
    )
    step(
        f"inline policy {policy} of role {role}",
        "iam",
        lambda: iam.delete_role_policy(RoleName=role, PolicyName=policy),
    )
    try:
        step(f"IAM role {role}", "iam", lambda: iam.delete_role(RoleName=role))
    except DeployError as e:
        if "DeleteConflict" not in str(e):
            raise
        raise DeployError(
            f"cannot delete IAM role {role}: other policies are attached to it; detach them "
            "(aws iam list-attached-role-policies) and run destroy again"
        ) from None
    group = log_group_name(function_name)
    step(f"log group {group}", "logs", lambda: logs.delete_log_group(logGroupName=group))
    done.append(_empty_store(session, store))
    return done


def _checked_store(job_store: str | None) -> S3Prefix | None:
    """The job store to empty, if given; never a whole bucket."""
    store = parse_s3_url(job_store, "job store") if job_store else None
    if store is not None and not store.prefix:
        raise DeployError(
            f"refusing to delete every object of bucket {store.bucket}; give the job store "
            "with its prefix (s3://bucket/prefix)"
        )
    return store


def _empty_store(session: Any, store: S3Prefix | None) -> str:
    """Delete every object under the job store prefix; what was done, as one line."""
    if store is None:
        return "job store: not given, objects kept"
    s3 = client(session, "s3")
    with aws_action(f"delete the objects under {store.root}", "s3"):
        count = delete_objects(s3, store.bucket, store.prefix + "/")
    done = (
        f"deleted {count:,} object(s) under {store.root}"
        if count
        else f"objects under {store.root}: absent"
    )
    try:
        removed = remove_job_lifecycle(s3, store)
    except DeployError as e:  # the objects are gone; a rule deploy may have put is reported
        return f"{done}; lifecycle rule {rule_id(store)} not checked: {e}"
    return f"{done}; deleted lifecycle rule {rule_id(store)}" if removed else done


def _delete(call: Callable[[], Any]) -> bool:
    """True if the call deleted something, False if it was already gone."""
    try:
        call()
        return True
    except Exception as e:
        if is_missing(e):
            return False
        raise


def _check_not_an_input(iam, role: str, policy: str, store: S3Prefix) -> None:
    """Refuse to empty a job store that the deployed policy lists as an input location."""
    try:
        document = decode_policy(
            iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        )
    except Exception:
        return  # no policy to compare with (or no right to read it): nothing to check
    mine = f":::{store.bucket}/{store.prefix}"
    for statement in document.get("Statement", []):
        if statement.get("Sid") != "ReadInputs":
            continue
        resources = statement.get("Resource", [])
        for arn in [resources] if isinstance(resources, str) else resources:
            tail = arn.split(":::", 1)[-1] if ":::" in arn else ""
            target = ":::" + tail.removesuffix("/*")
            if target == mine or target.startswith(mine + "/"):
                raise DeployError(
                    f"refusing to empty {store.root}: the deployed function reads it as an input"
                )


def delete_objects(s3, bucket: str, prefix: str) -> int:
    """Delete every object under a prefix (the runtime's one prefix delete); return the count."""
    try:
        return delete_under(s3, bucket, prefix)
    except StorageError as e:  # keys DeleteObjects could not delete
        raise DeployError(f"cannot empty s3://{bucket}/{prefix}: {e}") from None
