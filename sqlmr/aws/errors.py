"""The errors of deploying and destroying, and the translation of AWS failures into them.

Every botocore failure inside `aws_action(...)` becomes a one-line DeployError (or a subclass)
that says what to do; credentials never appear in a message.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlmr_runtime.s3 import error_code, error_message

from sqlmr.errors import SqlmrError

if TYPE_CHECKING:
    from sqlmr.aws.report import DeployReport


class DeployError(SqlmrError):
    """Deploying or destroying the Lambda function failed; the message says what to do.

    Raised by deploy after it changed something, it carries the DeployReport of those changes
    as `report` (None otherwise)."""

    report: DeployReport | None = None


class AwsCredentialsError(DeployError):
    """No usable AWS credentials (missing, expired or rejected)."""


class AwsAccessDeniedError(DeployError):
    """The caller's AWS identity lacks a permission; the message names it."""


_CREDENTIALS_HINT = (
    "configure AWS credentials (aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY)"
)
_NOT_FOUND = {
    "NoSuchEntity",
    "ResourceNotFoundException",
    "NoSuchBucket",
    "NoSuchKey",
    "404",
    "NotFound",
}
_PERMISSION = {  # API operations whose IAM action has another name
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "HeadObject"): "s3:GetObject",
    ("lambda", "GetFunction"): "lambda:GetFunction",
}


def is_missing(error: BaseException) -> bool:
    """True if AWS answered that the thing asked about does not exist."""
    return error_code(error) in _NOT_FOUND


def translate(error: BaseException, action: str, service: str = "") -> SqlmrError | None:
    """A one-line SqlmrError for a botocore failure, or None if it is not one."""
    try:
        from botocore import exceptions as bx
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return None
    if isinstance(error, bx.ClientError):
        return _answered(error, action, service)
    return _unanswered(bx, error, action)


def _unanswered(bx: Any, error: BaseException, action: str) -> SqlmrError | None:
    """A botocore failure before AWS answered (credentials, region, network, a waiter), or
    None if the error is not botocore's."""
    if isinstance(error, bx.ProfileNotFound):
        return AwsCredentialsError(
            f"cannot {action}: {error}; check AWS_PROFILE / --profile against ~/.aws/config"
        )
    if isinstance(error, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return AwsCredentialsError(
            f"cannot {action}: no AWS credentials found; {_CREDENTIALS_HINT}"
        )
    token_errors = tuple(
        getattr(bx, n)
        for n in ("SSOTokenLoadError", "UnauthorizedSSOTokenError", "TokenRetrievalError")
        if hasattr(bx, n)
    )
    if token_errors and isinstance(error, token_errors):
        return AwsCredentialsError(
            f"cannot {action}: the AWS SSO session is missing or expired; run `aws sso login`"
        )
    if isinstance(error, bx.CredentialRetrievalError):
        return AwsCredentialsError(
            f"cannot {action}: AWS credentials could not be loaded; {_CREDENTIALS_HINT}"
        )
    if isinstance(error, bx.NoRegionError):
        return DeployError(
            f"cannot {action}: no AWS region; set AWS_REGION (or AWS_DEFAULT_REGION), "
            "give --region, or set a region in the profile"
        )
    if isinstance(error, (bx.EndpointConnectionError, bx.ConnectTimeoutError)):
        return DeployError(
            f"cannot {action}: AWS is unreachable ({type(error).__name__}); "
            "check the network and the region"
        )
    if isinstance(error, bx.WaiterError):
        reason = getattr(error, "last_response", {}) or {}
        state = reason.get("Configuration", {})
        why = state.get("StateReason") or state.get("LastUpdateStatusReason") or str(error)
        return DeployError(f"cannot {action}: {' '.join(str(why).split())}")
    if isinstance(error, bx.BotoCoreError):
        return DeployError(f"cannot {action}: {error}")
    return None


def _answered(error: BaseException, action: str, service: str) -> SqlmrError:
    """An error AWS answered with: credentials, access, throttling, a bad layer, or the rest."""
    code, message = error_code(error), error_message(error)
    operation = getattr(error, "operation_name", "") or ""
    if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"):
        return AwsCredentialsError(
            f"cannot {action}: the AWS credentials have expired; refresh them "
            "(aws sso login, or new temporary keys)"
        )
    if code in (
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "AuthFailure",
        "InvalidSignatureException",
    ):
        return AwsCredentialsError(
            f"cannot {action}: AWS rejected the credentials ({code}); check them with "
            "`aws sts get-caller-identity`"
        )
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"):
        wanted = re.search(r"perform:\s*(\S+)", message)
        resource = re.search(r"on resource:\s*(\S+)", message)
        permission = (
            wanted.group(1)
            if wanted
            else _PERMISSION.get((service, operation), f"{service}:{operation}")
        )
        where = f" on {resource.group(1)}" if resource else ""
        return AwsAccessDeniedError(
            f"cannot {action}: access denied; the AWS identity in use needs the permission "
            f"{permission}{where}"
        )
    if code in ("Throttling", "ThrottlingException", "TooManyRequestsException", "SlowDown"):
        return DeployError(f"cannot {action}: AWS is throttling requests ({code}); try again")
    if "layer" in message.lower() and service == "lambda":
        return DeployError(
            f"cannot {action}: {message}; check --layer (an ARN of this region and "
            "architecture), or leave it out to use sqlmr's own layer"
        )
    return DeployError(f"cannot {action}: {code or type(error).__name__}: {message}")


@contextlib.contextmanager
def aws_action(action: str, service: str = "") -> Iterator[None]:
    """Translate botocore failures inside the block into one-line DeployErrors.

    `action` completes "cannot …" in the message; `service` (iam, lambda, s3, …) names the
    permission that an access-denied answer lacks."""
    try:
        yield
    except SqlmrError:
        raise
    except Exception as e:
        translated = translate(e, action, service)
        if translated is None:
            raise
        raise translated from None
