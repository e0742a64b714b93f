"""Deploying the runtime as an AWS Lambda function, and checking a deployed one.

`deploy` creates or updates, in this order: an IAM role that Lambda assumes, with one inline
least-privilege policy (read the inputs, read/write/delete the job store, write the function's
own logs, send X-Ray traces); sqlmr's own layer (pyarrow and aws_xray_sdk from the official
manylinux wheels, published only when its contents change), unless --layer names another; the
function itself (python3.12, the zipped `sqlmr_runtime` sources, active tracing); its log
group's retention. Code is uploaded only when the package's hash differs from the function's
CodeSha256. Then it invokes the function with the probe event and fails if the function cannot
run a task. The bucket's lifecycle rules are touched only with expire_jobs_days (one rule on
the job prefix, the others kept; sqlmr.aws.lifecycle). Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmr.aws import probe as probing
from sqlmr.aws.errors import DeployError, aws_action
from sqlmr.aws.function import ensure_function
from sqlmr.aws.layer import LayerBuild, build_layer, check_size
from sqlmr.aws.layer_publish import (
    check_layer,
    ensure_layer,
    is_public_layer_name,
    resolve_public_layer,
)
from sqlmr.aws.lifecycle import ensure_job_lifecycle, job_rule, rule_id
from sqlmr.aws.package import build_package, code_sha256
from sqlmr.aws.policy import (
    check_arch,
    check_function_name,
    log_group_name,
    parse_s3_url,
    partition_of,
    policy_document,
    policy_name,
    role_name,
)
from sqlmr.aws.report import RUNTIME, DeployReport, make_change, planned_role_arn
from sqlmr.aws.role import ensure_role
from sqlmr.aws.session import caller_identity, client, has_credentials, open_session, session_region
from sqlmr.defaults import TASK_MEMORY_MB


def deploy(
    function_name: str = "sqlmr",
    memory: int = TASK_MEMORY_MB,
    timeout: int = 900,
    arch: str = "x86_64",
    job_store: str | None = None,
    inputs: Sequence[str] = (),
    layer: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    dry_run: bool = False,
    log_retention_days: int = 14,
    expire_jobs_days: int | None = None,
    *,
    session: Any = None,
    package: tuple[bytes, str] | None = None,
    layer_build: LayerBuild | None = None,
    probe: bool = True,
) -> DeployReport:
    """Create or update the IAM role, the layer, the Lambda function and its log retention;
    probe the function; return what changed.

    layer: None for sqlmr's own layer, a layer ARN, or aws-sdk-pandas:VERSION (looked up in
    SSM). dry_run makes no call that changes anything (and builds no layer): with credentials
    it reads the role and the function to tell what would change; without credentials it makes
    no AWS call at all and plans every change. `session` (a boto3 Session), `package` ((zip,
    sha256 hex), from build_package) and `layer_build` (from build_layer) are for tests and
    callers that already hold them; probe=False skips the probe. expire_jobs_days: see lifecycle.
    """
    store = _checked_store(function_name, memory, timeout, arch, job_store, inputs, layer)
    _check_days(log_retention_days, expire_jobs_days, store)
    zip_bytes, _hex = package or build_package()
    session = session or open_session(region, profile)
    region_name = session_region(session)
    live, account, partition, notes = _identity(session, region_name, dry_run)
    if not inputs:
        notes.append("no inputs given: the function can read only the job store")
    report = DeployReport(
        function_name=function_name,
        region=region_name,
        account_id=account,
        role_name=role_name(function_name),
        policy_name=policy_name(function_name),
        layer=layer or f"sqlmr-pyarrow-py{RUNTIME[6:].replace('.', '')}-{arch} (sqlmr's own)",
        memory=int(memory),
        timeout=int(timeout),
        arch=arch,
        code_sha256=code_sha256(zip_bytes),
        code_size=len(zip_bytes),
        policy=policy_document(store.url, inputs, region_name, account, function_name, partition),
        partition=partition,
        dry_run=dry_run,
        notes=notes,
    )
    if not live:
        _plan_everything(report, layer is None, log_retention_days, store, expire_jobs_days)
        return report
    iam, lam = client(session, "iam"), client(session, "lambda")
    _run_steps(
        (
            lambda: ensure_role(iam, report),
            lambda: _ensure_layer(session, lam, report, layer, layer_build, store, len(zip_bytes)),
            lambda: ensure_function(lam, report, zip_bytes),
            lambda: _ensure_log_retention(client(session, "logs"), report, log_retention_days),
            lambda: _ensure_lifecycle(session, report, store, expire_jobs_days),
        ),
        report,
        dry_run,
    )
    if probe and not dry_run:
        _probe(lam, report, arch)
    return report


def _check_days(retention: int, expire_jobs: int | None, store) -> None:
    if not 1 <= int(retention) <= 3653:
        raise DeployError(f"log retention {retention} days is outside 1-3653 days")
    if expire_jobs is not None:
        job_rule(store, expire_jobs)  # refuses days outside its range


def _checked_store(
    function_name: str,
    memory: int,
    timeout: int,
    arch: str,
    job_store: str | None,
    inputs: Sequence[str],
    layer: str | None,
):
    """Check deploy's arguments before any AWS call; the job store's parsed URL."""
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
        check_layer(layer)
    return store


def _identity(session: Any, region_name: str, dry_run: bool) -> tuple[bool, str, str, list[str]]:
    """(whether AWS state can be read, account id, partition, notes). A dry run without
    credentials, or whose identity cannot be read, plans every change instead."""
    live = not dry_run or has_credentials(session)
    notes: list[str] = []
    if live:
        try:
            account, partition = caller_identity(session)
            return True, account, partition, notes
        except DeployError as e:
            if not dry_run:
                raise
            notes.append(f"AWS state not read: {e}")
    if not notes:
        notes.append("no AWS credentials: nothing was read; every change is planned")
    return False, "<account-id>", partition_of(region_name), notes


def _ensure_lifecycle(session: Any, report: DeployReport, store, days: int | None) -> None:
    """The job prefix's lifecycle rule, only when asked for (expire_jobs_days)."""
    if days is not None:
        ensure_job_lifecycle(client(session, "s3"), report, store, days)


def _plan_everything(
    report: DeployReport, own_layer: bool, log_retention_days: int, store, expire_days: int | None
) -> None:
    """A dry run that reads nothing: every change is planned."""
    report.role_arn = planned_role_arn(report)
    report.changes += [
        f"create or update IAM role {report.role_name} (trusted by lambda.amazonaws.com)",
        f"put inline policy {report.policy_name} on role {report.role_name}",
        f"build and publish layer {report.layer} unless published"
        if own_layer
        else f"use layer {report.layer}",
        f"create or update function {report.function_name}",
        f"upload code ({report.code_size:,} bytes, CodeSha256 {report.code_sha256}) "
        "unless the function already has it",
        f"set the retention of log group {log_group_name(report.function_name)} to "
        f"{log_retention_days} days",
    ]
    if expire_days is not None:
        report.changes.append(f"put lifecycle rule {rule_id(store)} on bucket {store.bucket}")


def _run_steps(steps, report: DeployReport, dry_run: bool) -> None:
    """Run the deploy steps in order; a failure carries the report of what changed before it.
    A dry run that may not read something still plans the rest."""
    for step in steps:
        try:
            step()
        except DeployError as e:
            if not dry_run:
                e.report = report  # what was changed before the failure
                raise
            report.notes.append(str(e))
            if not report.role_arn:
                report.role_arn = planned_role_arn(report)


def _probe(lam: Any, report: DeployReport, arch: str) -> None:
    """Invoke the function with the probe event; fail if it cannot run a task."""
    try:
        answer = probing.invoke_probe(lam, report.function_name)
        probing.check_probe(answer, report.function_name, arch)
    except DeployError as e:
        e.report = report
        raise
    report.notes.append("probe: " + probing.describe(answer))


def _ensure_layer(
    session, lam, report: DeployReport, layer: str | None, build: LayerBuild | None, store, code
) -> None:
    """Point report.layer at the layer the function uses (publishing sqlmr's own if needed)."""
    python = RUNTIME.removeprefix("python")
    if layer is not None:
        if is_public_layer_name(layer):
            ssm = client(session, "ssm")
            report.layer = resolve_public_layer(ssm, layer, report.region, report.arch, python)
        return
    if build is None:
        if report.dry_run:
            report.changes.append(f"build and publish layer {report.layer} unless published")
            return
        build = build_layer(python, report.arch)
    check_size(build, code)
    ensure_layer(lam, client(session, "s3"), report, build, store)


def _ensure_log_retention(logs, report: DeployReport, days: int) -> None:
    """The function's log group exists and keeps its events `days` days (Lambda would create
    it on the first invocation, without any retention)."""
    group = log_group_name(report.function_name)
    with aws_action(f"read log group {group}", "logs"):
        found = logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
    current = next((g for g in found if g["logGroupName"] == group), None)
    if current is not None and current.get("retentionInDays") == days:
        report.unchanged.append(f"retention of log group {group} ({days} days)")
        return

    def apply() -> None:
        if current is None:
            with aws_action(f"create log group {group}", "logs"):
                logs.create_log_group(logGroupName=group)
        with aws_action(f"set the retention of log group {group}", "logs"):
            logs.put_retention_policy(logGroupName=group, retentionInDays=days)

    make_change(report, f"set the retention of log group {group} to {days} days", apply)


def check(
    function_name: str = "sqlmr",
    region: str | None = None,
    profile: str | None = None,
    arch: str | None = None,
    *,
    session: Any = None,
) -> dict[str, Any]:
    """Probe a deployed function (`sqlmr deploy --check`): its answer, or DeployError saying
    why it cannot run a task."""
    check_function_name(function_name)
    session = session or open_session(region, profile)
    session_region(session)
    answer = probing.invoke_probe(client(session, "lambda"), function_name)
    probing.check_probe(answer, function_name, arch)
    return answer
