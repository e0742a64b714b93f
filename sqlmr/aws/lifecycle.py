"""The job store's lifecycle rule: the backstop for what no driver is left to clean up.

A driver cleans up its own job, failed or not (objects and incomplete multipart uploads), but a
driver killed with SIGKILL, or whose machine dies, cleans up nothing; `sqlmr gc` removes such
jobs when someone runs it. With `sqlmr deploy --expire-jobs-days N`, S3 itself does: one rule
on the job prefix expires objects N days after they were written and aborts multipart uploads
left incomplete for a day. Deploy touches the bucket's lifecycle only when asked (the
configuration is one document for the whole bucket): it reads the rules, replaces only its
own (by ID) and writes them back; the bucket's other rules are kept as they were read.
"""

from __future__ import annotations

from typing import Any

from sqlmr_runtime.s3 import error_code

from sqlmr.aws.errors import DeployError, aws_action
from sqlmr.aws.policy import S3Prefix
from sqlmr.aws.report import DeployReport, make_change

ABORT_UPLOADS_AFTER_DAYS = 1


def rule_id(store: S3Prefix) -> str:
    """The ID of sqlmr's rule for one job store (several job stores may share a bucket)."""
    return f"sqlmr-jobs:{store.prefix or '/'}"[:255]


def job_rule(store: S3Prefix, days: int) -> dict[str, Any]:
    """The lifecycle rule of a job store: expire its objects, abort its stale uploads."""
    if not 1 <= int(days) <= 3650:
        raise DeployError(f"--expire-jobs-days {days} is outside 1-3650 days")
    return {
        "ID": rule_id(store),
        "Status": "Enabled",
        "Filter": {"Prefix": f"{store.prefix}/" if store.prefix else ""},
        "Expiration": {"Days": int(days)},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_UPLOADS_AFTER_DAYS},
    }


def current_rules(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules ([] when it has none)."""
    with aws_action(f"read the lifecycle configuration of bucket {bucket}", "s3"):
        try:
            return list(s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", []))
        except Exception as e:
            if error_code(e) == "NoSuchLifecycleConfiguration":
                return []
            raise


def ensure_job_lifecycle(s3: Any, report: DeployReport, store: S3Prefix, days: int) -> None:
    """Put sqlmr's rule on the job prefix, keeping the bucket's other rules."""
    wanted = job_rule(store, days)
    rules = current_rules(s3, store.bucket)
    if any(r == wanted for r in rules):
        report.unchanged.append(f"lifecycle rule {wanted['ID']} of bucket {store.bucket}")
        return
    others = [r for r in rules if r.get("ID") != wanted["ID"]]

    def apply() -> None:
        with aws_action(f"put the lifecycle configuration of bucket {store.bucket}", "s3"):
            s3.put_bucket_lifecycle_configuration(
                Bucket=store.bucket, LifecycleConfiguration={"Rules": [*others, wanted]}
            )

    make_change(
        report,
        f"put lifecycle rule {wanted['ID']} on bucket {store.bucket} (expire job objects after "
        f"{days} days, abort incomplete uploads after {ABORT_UPLOADS_AFTER_DAYS} day; "
        f"{len(others)} other rule(s) kept)",
        apply,
    )


def remove_job_lifecycle(s3: Any, store: S3Prefix) -> bool:
    """Remove sqlmr's rule of a job store (`sqlmr destroy`); whether there was one."""
    rules = current_rules(s3, store.bucket)
    others = [r for r in rules if r.get("ID") != rule_id(store)]
    if len(others) == len(rules):
        return False
    with aws_action(f"put the lifecycle configuration of bucket {store.bucket}", "s3"):
        if others:
            s3.put_bucket_lifecycle_configuration(
                Bucket=store.bucket, LifecycleConfiguration={"Rules": others}
            )
        else:
            s3.delete_bucket_lifecycle(Bucket=store.bucket)
    return True
