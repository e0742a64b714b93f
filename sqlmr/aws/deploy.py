"""Deploying the runtime as an AWS Lambda function.

`deploy` creates or updates, in this order: an IAM role that Lambda assumes, with one inline
least-privilege policy (read the inputs, read/write/delete the job store, write the function's
own logs, send X-Ray traces); then the function itself (python3.12, the zipped `sqlmr_runtime`
sources, the AWS SDK for pandas layer for pyarrow, active tracing). Code is uploaded only when
the package's hash differs from the function's CodeSha256. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmr.aws.errors import DeployError
from sqlmr.aws.function import ensure_function
from sqlmr.aws.package import build_package, code_sha256
from sqlmr.aws.policy import (
    check_arch,
    check_function_name,
    check_layer_arn,
    default_layer_arn,
    parse_s3_url,
    partition_of,
    policy_document,
    policy_name,
    role_name,
)
from sqlmr.aws.report import DeployReport, planned_role_arn
from sqlmr.aws.role import ensure_role
from sqlmr.aws.session import caller_identity, client, has_credentials, open_session, session_region


def deploy(
    function_name: str = "sqlmr",
    memory: int = 1536,
    timeout: int = 900,
    arch: str = "x86_64",
    job_store: str | None = None,
    inputs: Sequence[str] = (),
    layer: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    dry_run: bool = False,
    *,
    session: Any = None,
    package: tuple[bytes, str] | None = None,
) -> DeployReport:
    """Create or update the IAM role and the Lambda function; return what changed.

    dry_run makes no call that changes anything: with credentials it reads the role and the
    function to tell what would change; without credentials it makes no AWS call at all and
    plans every change. `session` (a boto3 Session) and `package` ((zip, sha256 hex), from
    build_package) are for tests and callers that already hold them.
    """
    check_function_name(function_name)
    check_arch(arch)
    if not 128 <= int(memory) <= 10240:
        raise DeployError(f"memory {memory} MB is outside Lambda's 128-10,240 MB")
    if not 1 <= int(timeout) <= 900:
        raise DeployError(f"timeout {timeout} s is outside Lambda's 1-900 s")
    if not job_store:
        raise DeployError("a job store is required: --job-store s3://bucket/prefix")
    store = parse_s3_url(job_store, "job store")
    for url in inputs:
        parse_s3_url(url, "input")
    if layer is not None:
        check_layer_arn(layer)

    zip_bytes, _hex = package or build_package()
    session = session or open_session(region, profile)
    region_name = session_region(session)
    live = not dry_run or has_credentials(session)
    notes = []
    if live:
        try:
            account, partition = caller_identity(session)
        except DeployError as e:
            if not dry_run:
                raise
            live = False
            notes.append(f"AWS state not read: {e}")
    if not live:
        account, partition = "<account-id>", partition_of(region_name)
        if not notes:
            notes.append("no AWS credentials: nothing was read; every change is planned")

    report = DeployReport(
        function_name=function_name,
        region=region_name,
        account_id=account,
        role_name=role_name(function_name),
        policy_name=policy_name(function_name),
        layer=layer or default_layer_arn(region_name, arch),
        memory=int(memory),
        timeout=int(timeout),
        arch=arch,
        code_sha256=code_sha256(zip_bytes),
        code_size=len(zip_bytes),
        policy=policy_document(
            store.url, list(inputs), region_name, account, function_name, partition
        ),
        partition=partition,
        dry_run=dry_run,
        notes=notes,
    )
    if not inputs:
        report.notes.append("no inputs given: the function can read only the job store")
    if not live:
        report.role_arn = planned_role_arn(report)
        report.changes += [
            f"create or update IAM role {report.role_name} (trusted by lambda.amazonaws.com)",
            f"put inline policy {report.policy_name} on role {report.role_name}",
            f"create or update function {function_name}",
            f"upload code ({report.code_size:,} bytes, CodeSha256 {report.code_sha256}) "
            "unless the function already has it",
        ]
        return report

    iam = client(session, "iam")
    lam = client(session, "lambda")
    for step in (
        lambda: ensure_role(iam, report),
        lambda: ensure_function(lam, report, zip_bytes),
    ):
        try:
            step()
        except DeployError as e:
            if not dry_run:
                e.report = report  # what was changed before the failure
                raise
            # A dry run that may not read something still plans the rest.
            report.notes.append(str(e))
            if not report.role_arn:
                report.role_arn = planned_role_arn(report)
    return report
