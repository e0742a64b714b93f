"""Deploying the runtime as an AWS Lambda function, and removing it again.

`deploy` creates or updates, in this order: an IAM role that Lambda assumes, with one inline
least-privilege policy (read the inputs, read/write/delete the job store, write the function's
own logs, send X-Ray traces); then the function itself (python3.12, the zipped `sqlmr_runtime`
sources, the AWS SDK for pandas layer for pyarrow, active tracing). Code is uploaded only when
the package's hash differs from the function's CodeSha256. `destroy` removes the function, the
role and its policy, the log group and every object under the job store prefix.

boto3 is imported lazily. Every AWS failure becomes a one-line DeployError (or a subclass) that
says what to do; credentials never appear in a message. Nothing here prints.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import re
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import SqlmrError

RUNTIME = "python3.12"
HANDLER = "sqlmr_runtime.handler.lambda_handler"
ARCHITECTURES = ("x86_64", "arm64")

# The public AWS SDK for pandas layer supplies pyarrow (and numpy) to the function.
# KEEP THIS CURRENT: it is the us-east-1 Python 3.12 layer version (x86_64 and arm64 carry the same
# number) of the table at https://aws-sdk-pandas.readthedocs.io/en/stable/layers.html, as of
# 2026-07. Versions differ between regions and grow with every SDK for pandas release; where this
# one does not exist, deploy fails with a message asking for --layer ARN from that table.
SDK_PANDAS_LAYER_VERSION = 29
SDK_PANDAS_LAYER_ACCOUNT = "336392948345"

# IAM role propagation: a role created seconds ago may not yet be assumable by Lambda.
_ROLE_PROPAGATION_ATTEMPTS = 20
_ROLE_PROPAGATION_DELAY = 3.0
_ROLE_NOT_ASSUMABLE = "cannot be assumed"
_DELETE_BATCH = 1000  # the DeleteObjects limit

_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_LAYER_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$")

_sleep: Callable[[float], None] = time.sleep  # replaced in tests


class DeployError(SqlmrError):
    """Deploying or destroying the Lambda function failed; the message says what to do.

    Raised by deploy after it changed something, it carries the DeployReport of those changes
    as `report` (None otherwise)."""

    report: DeployReport | None = None


class AwsCredentialsError(DeployError):
    """No usable AWS credentials (missing, expired or rejected)."""


class AwsAccessDeniedError(DeployError):
    """The caller's AWS identity lacks a permission; the message names it."""


# -- S3 URLs and the IAM policy -------------------------------------------------------------------


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
    bucket, _, key = url[len("s3://") :].partition("/")
    if not bucket:
        raise DeployError(f"{what} {url!r} has no bucket; expected s3://bucket/prefix")
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


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


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


def log_group_name(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


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
    store: Get/Put/DeleteObject below the prefix, ListBucket limited to it. Logs: the function's
    own log group only. X-Ray: PutTraceSegments and PutTelemetryRecords, which accept no
    resource but "*".
    """
    _check_function_name(function_name)
    partition = partition or _partition(region)
    store = parse_s3_url(job_store, "job store")
    parsed = [parse_s3_url(u, "input") for u in inputs]
    _check_overlap(store, parsed)

    statements: list[dict[str, Any]] = []
    if parsed:
        reads = sorted({arn for p in parsed for arn in _s3_object_arns(p, partition)})
        statements.append(
            {"Sid": "ReadInputs", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": reads}
        )
        by_bucket: dict[str, list[str]] = {}
        for p in parsed:
            by_bucket.setdefault(p.bucket, []).append(p.prefix)
        for i, (bucket, prefixes) in enumerate(sorted(by_bucket.items()), start=1):
            statements.append(_list_statement(f"ListInputs{i}", bucket, prefixes, partition))
    job_objects = (
        f"arn:{partition}:s3:::{store.bucket}/{store.prefix}/*"
        if store.prefix
        else f"arn:{partition}:s3:::{store.bucket}/*"
    )
    statements.append(
        {
            "Sid": "JobStoreObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": [job_objects],
        }
    )
    statements.append(_list_statement("JobStoreList", store.bucket, [store.prefix], partition))
    group = f"arn:{partition}:logs:{region}:{account_id}:log-group:{log_group_name(function_name)}"
    statements.append(
        {
            "Sid": "LogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup"],
            "Resource": [group, f"{group}:*"],
        }
    )
    statements.append(
        {
            "Sid": "LogEvents",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"{group}:*"],
        }
    )
    statements.append(
        {
            "Sid": "XRay",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*",  # X-Ray's write actions support no resource-level permissions
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}


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


def role_name(function_name: str) -> str:
    return f"{function_name[:59]}-role"


def policy_name(function_name: str) -> str:
    return f"{function_name[:57]}-access"


def default_layer_arn(region: str, arch: str) -> str:
    """The public AWS SDK for pandas layer (Python 3.12) of a region and architecture."""
    _check_arch(arch)
    suffix = "-Arm64" if arch == "arm64" else ""
    return (
        f"arn:{_partition(region)}:lambda:{region}:{SDK_PANDAS_LAYER_ACCOUNT}:layer:"
        f"AWSSDKPandas-Python312{suffix}:{SDK_PANDAS_LAYER_VERSION}"
    )


def _check_function_name(name: str) -> None:
    if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
        raise DeployError(
            f"bad function name {name!r}: use 1-64 letters, digits, hyphens and underscores"
        )


def _check_arch(arch: str) -> None:
    if arch not in ARCHITECTURES:
        raise DeployError(f"bad architecture {arch!r}: use x86_64 or arm64")


# -- the code package -----------------------------------------------------------------------------

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_FORBIDDEN_IMPORTS = ("sqlmr", "sqlglot")


def runtime_sources() -> list[tuple[str, str]]:
    """(path inside the zip, file on disk) of every .py file of the installed sqlmr_runtime."""
    spec = importlib.util.find_spec("sqlmr_runtime")
    if spec is None or not spec.submodule_search_locations:
        raise DeployError("the sqlmr_runtime package is not installed; reinstall sqlmr")
    found: dict[str, str] = {}
    for location in spec.submodule_search_locations:
        for folder, dirs, files in os.walk(location):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, location).replace(os.sep, "/")
                found.setdefault(f"sqlmr_runtime/{rel}", path)
    if "sqlmr_runtime/handler.py" not in found:
        raise DeployError(f"no handler.py in the sqlmr_runtime package at {location}")
    return sorted(found.items())


def _check_imports(arcname: str, source: bytes) -> None:
    """The runtime must not import sqlmr or sqlglot: neither is in the Lambda package."""
    for node in ast.walk(ast.parse(source, arcname)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for n in names:
            if n.split(".")[0] in _FORBIDDEN_IMPORTS:
                raise DeployError(f"{arcname} imports {n}, which the Lambda package does not hold")


def build_package(dest_dir: str | os.PathLike | None = None) -> tuple[bytes, str]:
    """Zip the sqlmr_runtime sources; return (zip bytes, sha256 hex of the zip).

    The zip is deterministic (sorted entries, fixed timestamps and permissions, stored without
    compression so that no zlib version changes it), so equal sources give an equal hash and
    deploy can skip the upload. With dest_dir, the zip is also written there as
    sqlmr_runtime.zip.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for arcname, path in runtime_sources():
            with open(path, "rb") as f:
                data = f.read()
            _check_imports(arcname, data)
            info = zipfile.ZipInfo(arcname, date_time=_ZIP_EPOCH)
            info.create_system = 3  # Unix, so that external_attr means file permissions
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_STORED
            zf.writestr(info, data)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    if dest_dir is not None:
        os.makedirs(dest_dir, exist_ok=True)
        with open(os.path.join(dest_dir, "sqlmr_runtime.zip"), "wb") as f:
            f.write(data)
    return data, digest


def code_sha256(zip_bytes: bytes) -> str:
    """Lambda's CodeSha256 of a zip: the base64 of its SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode("ascii")


# -- AWS errors -----------------------------------------------------------------------------------

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


def _code(error: BaseException) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


def _message(error: BaseException) -> str:
    text = str(getattr(error, "response", {}).get("Error", {}).get("Message", "")) or str(error)
    return " ".join(text.split())


def _translate(error: BaseException, action: str, service: str = "") -> SqlmrError | None:
    """A one-line SqlmrError for a botocore failure, or None if it is not one."""
    try:
        from botocore import exceptions as bx
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return None
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
    if not isinstance(error, bx.ClientError):
        if isinstance(error, bx.BotoCoreError):
            return DeployError(f"cannot {action}: {error}")
        return None
    code, message = _code(error), _message(error)
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
            f"cannot {action}: {message}; pass --layer with the AWS SDK for pandas layer ARN "
            "of your region and architecture (https://aws-sdk-pandas.readthedocs.io/en/stable/"
            "layers.html)"
        )
    return DeployError(f"cannot {action}: {code or type(error).__name__}: {message}")


@contextlib.contextmanager
def _aws(action: str, service: str = "") -> Iterator[None]:
    """Translate botocore failures inside the block into one-line DeployErrors."""
    try:
        yield
    except SqlmrError:
        raise
    except Exception as e:
        translated = _translate(e, action, service)
        if translated is None:
            raise
        raise translated from None


def _is_missing(error: BaseException) -> bool:
    return _code(error) in _NOT_FOUND


def _retry_role_propagation(call: Callable[[], Any], attempts: int | None = None) -> Any:
    """Run call, retrying while Lambda says the (new) role cannot be assumed yet."""
    attempts = attempts or _ROLE_PROPAGATION_ATTEMPTS
    for attempt in range(attempts):
        try:
            return call()
        except Exception as e:
            not_yet = (
                _code(e) == "InvalidParameterValueException"
                and _ROLE_NOT_ASSUMABLE in _message(e)
                and attempt + 1 < attempts
            )
            if not not_yet:
                raise
            _sleep(_ROLE_PROPAGATION_DELAY)
    raise AssertionError("unreachable")  # pragma: no cover


# -- sessions and clients -------------------------------------------------------------------------


def _session(region: str | None, profile: str | None):
    with _aws("open an AWS session"):
        import boto3

        return boto3.session.Session(profile_name=profile, region_name=region)


def _client(session, service: str):
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 6, "mode": "standard"}, connect_timeout=10, read_timeout=120
    )
    with _aws(f"create the {service} client", service):
        return session.client(service, config=config)


def _region(session) -> str:
    region = session.region_name
    if not region:
        raise DeployError(
            "no AWS region; set AWS_REGION (or AWS_DEFAULT_REGION), give --region, "
            "or set a region in the profile"
        )
    return region


def _has_credentials(session) -> bool:
    try:
        return session.get_credentials() is not None
    except Exception:
        return False


def _identity(session) -> tuple[str, str]:
    """(account id, partition) of the caller."""
    sts = _client(session, "sts")
    with _aws("identify the AWS account (sts:GetCallerIdentity)", "sts"):
        ident = sts.get_caller_identity()
    partition = ident["Arn"].split(":")[1] if ident.get("Arn", "").count(":") >= 2 else "aws"
    return ident["Account"], partition


# -- deploy ---------------------------------------------------------------------------------------


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


def _function_config(report: DeployReport) -> dict[str, Any]:
    return {
        "Runtime": RUNTIME,
        "Handler": HANDLER,
        "MemorySize": report.memory,
        "Timeout": report.timeout,
        "Layers": [report.layer],
        "TracingConfig": {"Mode": "Active"},
    }


def _config_differences(current: dict[str, Any], report: DeployReport) -> list[str]:
    wanted = _function_config(report)
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
    _check_function_name(function_name)
    _check_arch(arch)
    if not 128 <= int(memory) <= 10240:
        raise DeployError(f"memory {memory} MB is outside Lambda's 128-10,240 MB")
    if not 1 <= int(timeout) <= 900:
        raise DeployError(f"timeout {timeout} s is outside Lambda's 1-900 s")
    if not job_store:
        raise DeployError("a job store is required: --job-store s3://bucket/prefix")
    store = parse_s3_url(job_store, "job store")
    for url in inputs:
        parse_s3_url(url, "input")
    if layer is not None and not _LAYER_ARN.match(layer):
        raise DeployError(
            f"bad layer ARN {layer!r}; expected arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION"
        )

    zip_bytes, _hex = package or build_package()
    session = session or _session(region, profile)
    region_name = _region(session)
    live = not dry_run or _has_credentials(session)
    notes = []
    if live:
        try:
            account, partition = _identity(session)
        except DeployError as e:
            if not dry_run:
                raise
            live = False
            notes.append(f"AWS state not read: {e}")
    if not live:
        account, partition = "<account-id>", _partition(region_name)
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
        report.role_arn = _role_arn(report)
        report.changes += [
            f"create or update IAM role {report.role_name} (trusted by lambda.amazonaws.com)",
            f"put inline policy {report.policy_name} on role {report.role_name}",
            f"create or update function {function_name}",
            f"upload code ({report.code_size:,} bytes, CodeSha256 {report.code_sha256}) "
            "unless the function already has it",
        ]
        return report

    iam = _client(session, "iam")
    lam = _client(session, "lambda")
    for step in (
        lambda: _ensure_role(iam, report),
        lambda: _ensure_function(lam, report, zip_bytes),
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
                report.role_arn = _role_arn(report)
    return report


def _role_arn(report: DeployReport) -> str:
    return f"arn:{report.partition}:iam::{report.account_id}:role/{report.role_name}"


def _change(report: DeployReport, text: str, action: Callable[[], Any]) -> Any:
    """Make one change (not in a dry run), then record it, so that a change that failed is
    never reported as made."""
    result = None if report.dry_run else action()
    report.changes.append(text)
    return result


def _ensure_role(iam, report: DeployReport) -> None:
    name = report.role_name
    role = None
    with _aws(f"read IAM role {name}", "iam"):
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except Exception as e:
            if not _is_missing(e):
                raise
    if role is None:

        def create() -> dict[str, Any]:
            with _aws(f"create IAM role {name}", "iam"):
                created = iam.create_role(
                    RoleName=name,
                    AssumeRolePolicyDocument=json.dumps(trust_policy()),
                    Description=f"sqlmr: role of the Lambda function {report.function_name}",
                )["Role"]
                iam.get_waiter("role_exists").wait(
                    RoleName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
                )
            return created

        role = _change(report, f"create IAM role {name} (trusted by lambda.amazonaws.com)", create)
        current = None
    else:
        if _as_dict(role.get("AssumeRolePolicyDocument")) == trust_policy():
            report.unchanged.append(f"IAM role {name}")
        else:

            def trust() -> None:
                with _aws(f"update the trust policy of IAM role {name}", "iam"):
                    iam.update_assume_role_policy(
                        RoleName=name, PolicyDocument=json.dumps(trust_policy())
                    )

            _change(report, f"update the trust policy of IAM role {name}", trust)
        current = None
        with _aws(f"read inline policy {report.policy_name} of role {name}", "iam"):
            try:
                current = _as_dict(
                    iam.get_role_policy(RoleName=name, PolicyName=report.policy_name)[
                        "PolicyDocument"
                    ]
                )
            except Exception as e:
                if not _is_missing(e):
                    raise
    report.role_arn = role["Arn"] if role else _role_arn(report)
    if current == report.policy:
        report.unchanged.append(f"inline policy {report.policy_name}")
        return

    def put() -> None:
        with _aws(f"put inline policy {report.policy_name} on role {name}", "iam"):
            iam.put_role_policy(
                RoleName=name,
                PolicyName=report.policy_name,
                PolicyDocument=json.dumps(report.policy),
            )

    verb = "put" if current is None else "update"
    _change(report, f"{verb} inline policy {report.policy_name} on role {name}", put)


def _as_dict(document: Any) -> Any:
    """IAM returns policy documents as dicts through boto3, or as URL-encoded JSON text."""
    if isinstance(document, str):
        from urllib.parse import unquote

        try:
            return json.loads(unquote(document))
        except ValueError:
            return document
    return document


def _wait(lam, waiter: str, name: str, what: str) -> None:
    with _aws(f"wait for function {name} to be {what}", "lambda"):
        lam.get_waiter(waiter).wait(
            FunctionName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 150}
        )


def _ensure_function(lam, report: DeployReport, zip_bytes: bytes) -> None:
    name, dry = report.function_name, report.dry_run
    current = None
    with _aws(f"read function {name}", "lambda"):
        try:
            current = lam.get_function(FunctionName=name)["Configuration"]
        except Exception as e:
            if not _is_missing(e):
                raise
    upload = f"upload code ({report.code_size:,} bytes, CodeSha256 {report.code_sha256}"
    if current is None:

        def create() -> dict[str, Any]:
            with _aws(f"create function {name}", "lambda"):
                return _retry_role_propagation(
                    lambda: lam.create_function(
                        FunctionName=name,
                        Role=report.role_arn,
                        Code={"ZipFile": zip_bytes},
                        Architectures=[report.arch],
                        Description="sqlmr task runtime (sqlmr_runtime)",
                        **_function_config(report),
                    )
                )

        created = _change(
            report,
            f"create function {name} ({RUNTIME}, {report.arch}, {report.memory} MB, "
            f"{report.timeout} s, tracing Active, layer {report.layer})",
            create,
        )
        report.changes.append(upload + ")")
        if not dry:
            report.code_uploaded = True
            report.function_arn = created["FunctionArn"]
            _wait(lam, "function_active_v2", name, "Active")
        return

    report.function_arn = current["FunctionArn"]
    if current.get("PackageType", "Zip") != "Zip":
        raise DeployError(
            f"function {name} exists as a {current.get('PackageType')} function; "
            "delete it (sqlmr destroy) or choose another --function-name"
        )
    if not dry and current.get("LastUpdateStatus") == "InProgress":
        _wait(lam, "function_updated_v2", name, "done with its previous update")
    have_arch = (current.get("Architectures") or ["x86_64"])[0]
    if current.get("CodeSha256") == report.code_sha256 and have_arch == report.arch:
        report.unchanged.append(f"code of {name} (CodeSha256 {report.code_sha256})")
    else:

        def update_code() -> None:
            # The architecture travels with the code: UpdateFunctionCode sets both.
            with _aws(f"upload the code of function {name}", "lambda"):
                lam.update_function_code(
                    FunctionName=name, ZipFile=zip_bytes, Architectures=[report.arch]
                )
            report.code_uploaded = True
            _wait(lam, "function_updated_v2", name, "updated")

        why = "architecture" if have_arch != report.arch else "code"
        _change(report, f"{upload}; {why} changed)", update_code)
    diffs = _config_differences(current, report)
    if not diffs:
        report.unchanged.append(f"configuration of {name}")
    else:

        def update_config() -> None:
            with _aws(f"update the configuration of function {name}", "lambda"):
                _retry_role_propagation(
                    lambda: lam.update_function_configuration(
                        FunctionName=name, Role=report.role_arn, **_function_config(report)
                    )
                )
            _wait(lam, "function_updated_v2", name, "updated")

        _change(report, f"update configuration of {name}: " + "; ".join(diffs), update_config)
    if not dry:
        _wait(lam, "function_active_v2", name, "Active")


# -- destroy --------------------------------------------------------------------------------------


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
    _check_function_name(function_name)
    store = parse_s3_url(job_store, "job store") if job_store else None
    if store is not None and not store.prefix:
        raise DeployError(
            f"refusing to delete every object of bucket {store.bucket}; give the job store "
            "with its prefix (s3://bucket/prefix)"
        )
    session = session or _session(region, profile)
    _region(session)
    iam = _client(session, "iam")
    lam = _client(session, "lambda")
    logs = _client(session, "logs")
    done: list[str] = []
    role, policy = role_name(function_name), policy_name(function_name)

    if store is not None:
        _check_not_an_input(iam, role, policy, store)

    def step(what: str, service: str, call: Callable[[], Any]) -> None:
        with _aws(f"delete {what}", service):
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
    if store is None:
        done.append("job store: not given, objects kept")
    else:
        s3 = _client(session, "s3")
        with _aws(f"delete the objects under {store.root}", "s3"):
            count = delete_objects(s3, store.bucket, store.prefix + "/")
        done.append(
            f"deleted {count:,} object(s) under {store.root}"
            if count
            else f"objects under {store.root}: absent"
        )
    return done


def _delete(call: Callable[[], Any]) -> bool:
    """True if the call deleted something, False if it was already gone."""
    try:
        call()
        return True
    except Exception as e:
        if _is_missing(e):
            return False
        raise


def _check_not_an_input(iam, role: str, policy: str, store: S3Prefix) -> None:
    """Refuse to empty a job store that the deployed policy lists as an input location."""
    try:
        document = _as_dict(iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"])
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
    """Delete every object under a prefix, 1,000 per DeleteObjects call; return the count."""
    count = 0
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": _DELETE_BATCH}
        )
        for page in pages:
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = keys[start : start + _DELETE_BATCH]
                response = s3.delete_objects(
                    Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
                )
                errors = response.get("Errors") or []
                if errors:
                    first = errors[0]
                    raise DeployError(
                        f"cannot delete s3://{bucket}/{first.get('Key')}: "
                        f"{first.get('Code')}: {first.get('Message')} "
                        f"({len(errors)} object(s) not deleted)"
                    )
                count += len(batch)
    except Exception as e:
        if _code(e) == "NoSuchBucket":
            return 0
        raise
    return count
