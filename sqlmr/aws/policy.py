"""S3 URLs, the names of the deployed pieces, and the IAM documents of the function's role.

The role's inline policy is least-privilege: read the inputs, read/write/delete the job store,
write the function's own logs, send X-Ray traces. The trust policy lets only Lambda assume it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmr_runtime.errors import StorageError
from sqlmr_runtime.s3 import split_url

from sqlmr.aws.errors import DeployError

ARCHITECTURES = ("x86_64", "arm64")

_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_LAYER_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$")


# -- S3 URLs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Prefix:
    """An s3:// URL split into bucket and key prefix (no leading or trailing slash).

    `folder` is True when the URL ended with '/', so that only objects below it are meant;
    otherwise the URL may also name a single object.
    """

    url: str
    bucket: str
    prefix: str
    folder: bool

    @property
    def root(self) -> str:
        """The normalised URL of the folder: s3://bucket/prefix/ (or s3://bucket/)."""
        return f"s3://{self.bucket}/{self.prefix}/" if self.prefix else f"s3://{self.bucket}/"


def parse_s3_url(url: str, what: str = "S3 URL") -> S3Prefix:
    """Validate an s3://bucket[/prefix] URL; DeployError says what is wrong with it."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise DeployError(f"{what} {url!r} must be an s3:// URL, like s3://my-bucket/prefix")
    try:
        bucket, key = split_url(url)
    except StorageError:
        raise DeployError(f"{what} {url!r} has no bucket; expected s3://bucket/prefix") from None
    if not _BUCKET_NAME.match(bucket) or ".." in bucket:
        raise DeployError(
            f"{what} {url!r}: {bucket!r} is not a valid S3 bucket name "
            "(3-63 lowercase letters, digits, dots and hyphens)"
        )
    if any(c in key for c in "*?") or "${" in key:
        raise DeployError(
            f"{what} {url!r} contains a wildcard or policy variable (*, ?, ${{}}); "
            "give a literal prefix"
        )
    if "//" in key or any(part in (".", "..") for part in key.split("/")):
        raise DeployError(f"{what} {url!r} has an empty, '.' or '..' path segment")
    folder = key.endswith("/") or not key
    return S3Prefix(url, bucket, key.strip("/"), folder)


# -- names and checks -----------------------------------------------------------------------------


def partition_of(region: str) -> str:
    """The AWS partition (aws, aws-cn, aws-us-gov) of a region."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def log_group_name(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def role_name(function_name: str) -> str:
    return f"{function_name[:59]}-role"


def policy_name(function_name: str) -> str:
    return f"{function_name[:57]}-access"


def check_function_name(name: str) -> None:
    if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
        raise DeployError(
            f"bad function name {name!r}: use 1-64 letters, digits, hyphens and underscores"
        )


def check_arch(arch: str) -> None:
    if arch not in ARCHITECTURES:
        raise DeployError(f"bad architecture {arch!r}: use x86_64 or arm64")


def check_layer_arn(layer: str) -> None:
    if not _LAYER_ARN.match(layer):
        raise DeployError(
            f"bad layer ARN {layer!r}; expected arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION"
        )


# -- the IAM documents ----------------------------------------------------------------------------


def _s3_object_arns(p: S3Prefix, partition: str) -> list[str]:
    base = f"arn:{partition}:s3:::{p.bucket}"
    if not p.prefix:
        return [f"{base}/*"]
    if p.folder:
        return [f"{base}/{p.prefix}/*"]
    return [f"{base}/{p.prefix}", f"{base}/{p.prefix}/*"]


def _list_statement(sid: str, bucket: str, prefixes: list[str], partition: str) -> dict:
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": f"arn:{partition}:s3:::{bucket}",
    }
    if all(prefixes):  # a bucket-root prefix lists the whole bucket: no condition
        patterns = sorted({pattern for p in prefixes for pattern in (p, f"{p}/*")})
        statement["Condition"] = {"StringLike": {"s3:prefix": patterns}}
    return statement


def policy_document(
    job_store: str,
    inputs: Sequence[str],
    region: str,
    account_id: str,
    function_name: str,
    partition: str | None = None,
) -> dict[str, Any]:
    """The function role's least-privilege IAM policy.

    Inputs: s3:GetObject on each input (the object itself and everything below it; only below
    it when the URL ends with '/'), s3:ListBucket on their buckets limited by s3:prefix. The job
    store: Get/Put/DeleteObject and AbortMultipartUpload below the prefix, ListBucket limited
    to it. Logs: the function's own log group only. X-Ray: PutTraceSegments and
    PutTelemetryRecords, which accept no resource but "*".
    """
    partition, _, statements = _s3_statements(job_store, inputs, region, function_name, partition)
    statements += _log_and_trace_statements(region, account_id, function_name, partition)
    return {"Version": "2012-10-17", "Statement": statements}


def query_policy_document(
    job_store: str,
    inputs: Sequence[str],
    region: str,
    account_id: str,
    function_name: str,
    partition: str | None = None,
) -> dict[str, Any]:
    """The least-privilege IAM policy of a user (or driver role) who runs queries on Lambda.

    What the function role has on the inputs and the job store, plus: invoke the function and
    read its configuration and concurrency (the cost table, the drain bound and the concurrency
    cap; lambda:GetAccountSettings accepts only "*"), and s3:ListBucketMultipartUploads on the
    job store's bucket, with which a job's cleanup finds the incomplete uploads below its
    prefix to abort them: that action takes no s3:prefix condition, so the bucket is its
    narrowest resource (it lists upload keys and ids, no data)."""
    partition, store, statements = _s3_statements(
        job_store, inputs, region, function_name, partition
    )
    function = f"arn:{partition}:lambda:{region}:{account_id}:function:{function_name}"
    statements += [
        {
            "Sid": "JobStoreUploads",
            "Effect": "Allow",
            "Action": ["s3:ListBucketMultipartUploads"],
            "Resource": f"arn:{partition}:s3:::{store.bucket}",
        },
        {
            "Sid": "InvokeFunction",
            "Effect": "Allow",
            "Action": [
                "lambda:InvokeFunction",
                "lambda:GetFunctionConfiguration",
                "lambda:GetFunctionConcurrency",
            ],
            "Resource": function,
        },
        {
            "Sid": "AccountSettings",
            "Effect": "Allow",
            "Action": ["lambda:GetAccountSettings"],
            "Resource": "*",  # an account-level read: no resource-level permissions
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def _input_statements(parsed: list[S3Prefix], partition: str) -> list[dict[str, Any]]:
    """Read the inputs' objects; list their buckets, limited to their prefixes."""
    if not parsed:
        return []
    reads = sorted({arn for p in parsed for arn in _s3_object_arns(p, partition)})
    statements: list[dict[str, Any]] = [
        {"Sid": "ReadInputs", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": reads}
    ]
    by_bucket: dict[str, list[str]] = {}
    for p in parsed:
        by_bucket.setdefault(p.bucket, []).append(p.prefix)
    for i, (bucket, prefixes) in enumerate(sorted(by_bucket.items()), start=1):
        statements.append(_list_statement(f"ListInputs{i}", bucket, prefixes, partition))
    return statements


def _job_store_statements(store: S3Prefix, partition: str) -> list[dict[str, Any]]:
    """Read, write and delete objects below the job store's prefix; list it."""
    job_objects = (
        f"arn:{partition}:s3:::{store.bucket}/{store.prefix}/*"
        if store.prefix
        else f"arn:{partition}:s3:::{store.bucket}/*"
    )
    objects = {
        "Sid": "JobStoreObjects",
        "Effect": "Allow",
        # AbortMultipartUpload: a task whose multipart upload fails aborts it, so no
        # invisible, billed parts stay behind.
        "Action": [
            "s3:GetObject",
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:AbortMultipartUpload",
        ],
        "Resource": [job_objects],
    }
    return [objects, _list_statement("JobStoreList", store.bucket, [store.prefix], partition)]


def _log_and_trace_statements(
    region: str, account_id: str, function_name: str, partition: str
) -> list[dict[str, Any]]:
    """Write the function's own log group; send X-Ray traces."""
    group = f"arn:{partition}:logs:{region}:{account_id}:log-group:{log_group_name(function_name)}"
    return [
        {
            "Sid": "LogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup"],
            "Resource": [group, f"{group}:*"],
        },
        {
            "Sid": "LogEvents",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"{group}:*"],
        },
        {
            "Sid": "XRay",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*",  # X-Ray's write actions support no resource-level permissions
        },
    ]


def _s3_statements(
    job_store: str,
    inputs: Sequence[str],
    region: str,
    function_name: str,
    partition: str | None,
) -> tuple[str, S3Prefix, list[dict[str, Any]]]:
    """What the function role and a query's user both hold on S3, after checking the names:
    the partition, the parsed job store, and the input and job store statements."""
    check_function_name(function_name)
    partition = partition or partition_of(region)
    store = parse_s3_url(job_store, "job store")
    parsed = [parse_s3_url(u, "input") for u in inputs]
    _check_overlap(store, parsed)
    statements = _input_statements(parsed, partition) + _job_store_statements(store, partition)
    return partition, store, statements


def _check_overlap(store: S3Prefix, inputs: list[S3Prefix]) -> None:
    """An input inside the job store could be deleted by a job or by destroy: refuse it."""
    for p in inputs:
        if p.bucket != store.bucket:
            continue
        if not store.prefix or p.prefix == store.prefix or p.prefix.startswith(store.prefix + "/"):
            raise DeployError(
                f"input {p.url} lies inside the job store {store.url}, whose objects jobs and "
                "`sqlmr destroy` delete; give the job store a prefix of its own"
            )


def trust_policy() -> dict[str, Any]:
    """The role's trust policy: only the Lambda service may assume it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def decode_policy(document: Any) -> Any:
    """IAM returns policy documents as dicts through boto3, or as URL-encoded JSON text."""
    if isinstance(document, str):
        from urllib.parse import unquote

        try:
            return json.loads(unquote(document))
        except ValueError:
            return document
    return document
