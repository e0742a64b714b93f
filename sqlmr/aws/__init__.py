"""Deploying the runtime as an AWS Lambda function, and removing it again.

`deploy` creates or updates an IAM role with one least-privilege inline policy, sqlmr's own
layer (pyarrow and aws_xray_sdk, see layer), the function (python3.12, the zipped
`sqlmr_runtime` sources, active tracing) and its log group's retention, then probes the
function (see probe); `check` probes it at any time;
`destroy` removes the function, the role and its policy, the log group and the job store's
objects. boto3 is imported lazily. Every AWS failure becomes a one-line DeployError (or a
subclass) that says what to do; credentials never appear in a message. Nothing here prints.

Modules: errors (errors and their translation from botocore), session (boto3 sessions and
clients), policy (S3 URLs, names, IAM documents), package (the code zip), layer (building the
layer), layer_publish (publishing it, or looking up a public one), probe, report (DeployReport),
role and function (the pieces deploy ensures), deploy, destroy.
"""

from sqlmr.aws.deploy import check, deploy
from sqlmr.aws.destroy import delete_objects, destroy
from sqlmr.aws.errors import AwsAccessDeniedError, AwsCredentialsError, DeployError
from sqlmr.aws.package import build_package, code_sha256, runtime_sources
from sqlmr.aws.policy import (
    ARCHITECTURES,
    S3Prefix,
    log_group_name,
    parse_s3_url,
    policy_document,
    policy_name,
    query_policy_document,
    role_name,
    trust_policy,
)
from sqlmr.aws.report import HANDLER, RUNTIME, DeployReport

__all__ = [
    "ARCHITECTURES",
    "HANDLER",
    "RUNTIME",
    "AwsAccessDeniedError",
    "AwsCredentialsError",
    "DeployError",
    "DeployReport",
    "S3Prefix",
    "build_package",
    "check",
    "code_sha256",
    "delete_objects",
    "deploy",
    "destroy",
    "log_group_name",
    "parse_s3_url",
    "policy_document",
    "policy_name",
    "query_policy_document",
    "role_name",
    "runtime_sources",
    "trust_policy",
]
