"""The Lambda function: created, or its code and configuration updated where they differ.

Code is uploaded only when the package's hash (or the architecture) differs from the function's.
A role created seconds ago may not yet be assumable by Lambda, and its new policy may not yet
grant X-Ray's permissions, which CreateFunction checks with tracing Active: creating or
reconfiguring the function retries for a bounded time (about a minute) when Lambda says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlmr.aws.errors import DeployError, aws_action, error_code, error_message, is_missing
from sqlmr.aws.report import RUNTIME, DeployReport, function_config, make_change

_ROLE_PROPAGATION_ATTEMPTS = 20
_ROLE_PROPAGATION_DELAY = 3.0
# What Lambda answers (InvalidParameterValueException) while a new role or policy has not yet
# propagated: the role cannot be assumed, or (tracing Active) it lacks the X-Ray permissions its
# policy already grants.
_NOT_YET_PROPAGATED = ("cannot be assumed", "does not have permissions to call PutTraceSegments")

_sleep: Callable[[float], None] = time.sleep  # replaced in tests


def ensure_function(lam, report: DeployReport, zip_bytes: bytes) -> None:
    """Create the function, or update its code and configuration where they differ.

    Sets report.function_arn and report.code_uploaded and records every change (planned only,
    in a dry run); waits until the function is Active again."""
    name = report.function_name
    current = None
    with aws_action(f"read function {name}", "lambda"):
        try:
            current = lam.get_function(FunctionName=name)["Configuration"]
        except Exception as e:
            if not is_missing(e):
                raise
    if current is None:
        _create(lam, report, zip_bytes)
        return
    report.function_arn = current["FunctionArn"]
    if current.get("PackageType", "Zip") != "Zip":
        raise DeployError(
            f"function {name} exists as a {current.get('PackageType')} function; "
            "delete it (sqlmr destroy) or choose another --function-name"
        )
    if not report.dry_run and current.get("LastUpdateStatus") == "InProgress":
        _wait(lam, "function_updated_v2", name, "done with its previous update")
    _update_code(lam, report, zip_bytes, current)
    _update_config(lam, report, current)
    if not report.dry_run:
        _wait(lam, "function_active_v2", name, "Active")


def _upload_text(report: DeployReport) -> str:
    return f"upload code ({report.code_size:,} bytes, CodeSha256 {report.code_sha256}"


def _create(lam, report: DeployReport, zip_bytes: bytes) -> None:
    """Create the function (retrying while its new role propagates) and wait until Active."""
    name = report.function_name

    def create() -> dict[str, Any]:
        with aws_action(f"create function {name}", "lambda"):
            return _retry_role_propagation(
                lambda: lam.create_function(
                    FunctionName=name,
                    Role=report.role_arn,
                    Code={"ZipFile": zip_bytes},
                    Architectures=[report.arch],
                    Description="sqlmr task runtime (sqlmr_runtime)",
                    **function_config(report),
                )
            )

    created = make_change(
        report,
        f"create function {name} ({RUNTIME}, {report.arch}, {report.memory} MB, "
        f"{report.timeout} s, tracing Active, layer {report.layer})",
        create,
    )
    report.changes.append(_upload_text(report) + ")")
    if not report.dry_run:
        report.code_uploaded = True
        report.function_arn = created["FunctionArn"]
        _wait(lam, "function_active_v2", name, "Active")


def _update_code(lam, report: DeployReport, zip_bytes: bytes, current: dict[str, Any]) -> None:
    """Upload the code when its hash or the architecture differs from the function's."""
    name = report.function_name
    have_arch = (current.get("Architectures") or ["x86_64"])[0]
    if current.get("CodeSha256") == report.code_sha256 and have_arch == report.arch:
        report.unchanged.append(f"code of {name} (CodeSha256 {report.code_sha256})")
        return

    def update_code() -> None:
        # The architecture travels with the code: UpdateFunctionCode sets both.
        with aws_action(f"upload the code of function {name}", "lambda"):
            lam.update_function_code(
                FunctionName=name, ZipFile=zip_bytes, Architectures=[report.arch]
            )
        report.code_uploaded = True
        _wait(lam, "function_updated_v2", name, "updated")

    why = "architecture" if have_arch != report.arch else "code"
    make_change(report, f"{_upload_text(report)}; {why} changed)", update_code)


def _update_config(lam, report: DeployReport, current: dict[str, Any]) -> None:
    """Update the configuration where it differs from what the report asks for."""
    name = report.function_name
    diffs = _config_differences(current, report)
    if not diffs:
        report.unchanged.append(f"configuration of {name}")
        return

    def update_config() -> None:
        with aws_action(f"update the configuration of function {name}", "lambda"):
            _retry_role_propagation(
                lambda: lam.update_function_configuration(
                    FunctionName=name, Role=report.role_arn, **function_config(report)
                )
            )
        _wait(lam, "function_updated_v2", name, "updated")

    make_change(report, f"update configuration of {name}: " + "; ".join(diffs), update_config)


def _config_differences(current: dict[str, Any], report: DeployReport) -> list[str]:
    wanted = function_config(report)
    diffs = []
    for key, value in wanted.items():
        if key == "Layers":
            have = [layer["Arn"] for layer in current.get("Layers") or []]
        elif key == "TracingConfig":
            have = {"Mode": (current.get("TracingConfig") or {}).get("Mode")}
        else:
            have = current.get(key)
        if have != value:
            diffs.append(f"{key} {have!r} -> {value!r}")
    if report.role_arn and current.get("Role") != report.role_arn:
        diffs.append(f"Role {current.get('Role')!r} -> {report.role_arn!r}")
    return diffs


def _wait(lam, waiter: str, name: str, what: str) -> None:
    with aws_action(f"wait for function {name} to be {what}", "lambda"):
        lam.get_waiter(waiter).wait(
            FunctionName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 150}
        )


def _retry_role_propagation(call: Callable[[], Any], attempts: int | None = None) -> Any:
    """Run call, retrying while Lambda says the (new) role cannot be assumed yet."""
    attempts = attempts or _ROLE_PROPAGATION_ATTEMPTS
    for attempt in range(attempts):
        try:
            return call()
        except Exception as e:
            not_yet = (
                error_code(e) == "InvalidParameterValueException"
                and any(m in error_message(e) for m in _NOT_YET_PROPAGATED)
                and attempt + 1 < attempts
            )
            if not not_yet:
                raise
            _sleep(_ROLE_PROPAGATION_DELAY)
    raise AssertionError("unreachable")  # pragma: no cover
