"""deploy/destroy against moto's in-memory AWS (IAM, Lambda control plane, S3, CloudWatch Logs),
the least-privilege policy, the deterministic package and the translation of AWS errors.

No test reaches a real AWS endpoint: credentials are fake, the instance metadata service is off,
and botocore's HTTP sender is replaced by one that fails the test if it is ever called (moto
answers every request before it would be).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.s3.models import s3_backends
from sqlmr_runtime import environment

from sqlmr import aws as dp
from sqlmr.aws import errors as aws_errors
from sqlmr.aws import function as aws_function
from sqlmr.aws import layer as aws_layer
from sqlmr.aws import layer_publish
from sqlmr.aws import package as aws_package
from sqlmr.aws import policy as aws_policy
from sqlmr.aws import probe as aws_probe
from sqlmr.errors import SqlmrError

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
JOB_STORE = "s3://jobs-bucket/sqlmr/jobs"
INPUTS = ["s3://data-bucket/amplab/rankings/", "s3://data-bucket/amplab/uservisits"]


def probe_in_process(lam, function_name):
    """moto cannot run a function's code: the probe's answer comes from the runtime's own probe
    run in this process, with the deployed function's architecture and memory. (The real Invoke
    of the probe runs against the Lambda emulator in test_lambda_executor and test_aws_cli.)"""
    config = lam.get_function(FunctionName=function_name)["Configuration"]
    answer = environment.probe({environment.PROBE_KEY: environment.PROBE_VERSION})
    answer["architecture"] = {"x86_64": "x86_64", "arm64": "aarch64"}[config["Architectures"][0]]
    answer["memory_mb"] = config["MemorySize"]
    return answer


@pytest.fixture
def aws(no_aws, monkeypatch):
    """moto's AWS with fake credentials; yields a session whose API calls are recorded."""
    monkeypatch.setattr(aws_probe, "invoke_probe", probe_in_process)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        calls: list[str] = []
        session.events.register(
            "before-call", lambda model, **kw: calls.append(model.name), unique_id="record"
        )
        session.calls = calls
        s3 = session.client("s3")
        for bucket in ("jobs-bucket", "data-bucket"):
            s3.create_bucket(Bucket=bucket)
        yield session
    assert not no_aws, "a request left for a real endpoint"


@pytest.fixture
def layer(aws):
    """A layer that exists in moto (moto only accepts layers it knows)."""
    lam = aws.client("lambda")
    out = lam.publish_layer_version(
        LayerName="pyarrow-test",
        Content={"ZipFile": _zip({"python/x.py": b""})},
        CompatibleRuntimes=["python3.12"],
    )
    return out["LayerVersionArn"]


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _deploy(session, layer, **kw):
    args = dict(job_store=JOB_STORE, inputs=INPUTS, layer=layer, session=session)
    args.update(kw)
    return dp.deploy(**args)


# -- the policy -----------------------------------------------------------------------------------


def test_policy_is_least_privilege():
    doc = dp.policy_document(JOB_STORE, INPUTS, REGION, ACCOUNT, "sqlmr")
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert doc["Version"] == "2012-10-17"
    assert by_sid["ReadInputs"]["Action"] == ["s3:GetObject"]
    assert by_sid["ReadInputs"]["Resource"] == [
        "arn:aws:s3:::data-bucket/amplab/rankings/*",  # a folder URL: only below it
        "arn:aws:s3:::data-bucket/amplab/uservisits",  # may be one object ...
        "arn:aws:s3:::data-bucket/amplab/uservisits/*",  # ... or a folder
    ]
    assert by_sid["ListInputs1"] == {
        "Sid": "ListInputs1",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": "arn:aws:s3:::data-bucket",
        "Condition": {
            "StringLike": {
                "s3:prefix": [
                    "amplab/rankings",
                    "amplab/rankings/*",
                    "amplab/uservisits",
                    "amplab/uservisits/*",
                ]
            }
        },
    }
    assert by_sid["JobStoreObjects"]["Action"] == [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
    ]
    assert by_sid["JobStoreObjects"]["Resource"] == ["arn:aws:s3:::jobs-bucket/sqlmr/jobs/*"]
    assert by_sid["JobStoreList"]["Resource"] == "arn:aws:s3:::jobs-bucket"
    assert by_sid["JobStoreList"]["Condition"] == {
        "StringLike": {"s3:prefix": ["sqlmr/jobs", "sqlmr/jobs/*"]}
    }
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/sqlmr"
    assert by_sid["LogGroup"]["Action"] == ["logs:CreateLogGroup"]
    assert by_sid["LogGroup"]["Resource"] == [group, f"{group}:*"]
    assert by_sid["LogEvents"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert by_sid["LogEvents"]["Resource"] == [f"{group}:*"]
    assert by_sid["XRay"]["Action"] == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    assert set(by_sid) == {
        "ReadInputs",
        "ListInputs1",
        "JobStoreObjects",
        "JobStoreList",
        "LogGroup",
        "LogEvents",
        "XRay",
    }
    for statement in doc["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        assert all(not a.endswith("*") for a in actions), actions
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        if statement["Sid"] == "XRay":
            assert resources == ["*"]
        else:
            assert "*" not in resources
            assert all(r.startswith("arn:aws:") for r in resources)


def test_the_query_policy_is_least_privilege():
    doc = dp.query_policy_document(JOB_STORE, INPUTS, REGION, ACCOUNT, "sqlmr")
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    role = {
        s["Sid"]: s
        for s in dp.policy_document(JOB_STORE, INPUTS, REGION, ACCOUNT, "sqlmr")["Statement"]
    }
    # What the function may do on the inputs and the job store, the user may too.
    for sid in ("ReadInputs", "ListInputs1", "JobStoreObjects", "JobStoreList"):
        assert by_sid[sid] == role[sid]
    assert "s3:AbortMultipartUpload" in by_sid["JobStoreObjects"]["Action"]
    assert by_sid["JobStoreObjects"]["Resource"] == ["arn:aws:s3:::jobs-bucket/sqlmr/jobs/*"]
    # ListBucketMultipartUploads supports no s3:prefix condition: the bucket, nothing wider.
    assert by_sid["JobStoreUploads"] == {
        "Sid": "JobStoreUploads",
        "Effect": "Allow",
        "Action": ["s3:ListBucketMultipartUploads"],
        "Resource": "arn:aws:s3:::jobs-bucket",
    }
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:sqlmr"
    assert by_sid["InvokeFunction"]["Resource"] == function
    wildcard = [s["Sid"] for s in doc["Statement"] if s["Resource"] == "*"]
    assert wildcard == ["AccountSettings"]
    assert not [a for s in doc["Statement"] for a in s["Action"] if "*" in a]


def test_policy_buckets_roots_and_partitions():
    doc = dp.policy_document(
        "s3://jobs-bucket", ["s3://a-bucket", "s3://b-bucket/x/y/"], "cn-north-1", ACCOUNT, "f"
    )
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["ReadInputs"]["Resource"] == [
        "arn:aws-cn:s3:::a-bucket/*",
        "arn:aws-cn:s3:::b-bucket/x/y/*",
    ]
    assert "Condition" not in by_sid["ListInputs1"]  # a whole bucket was asked for
    assert by_sid["ListInputs2"]["Condition"]["StringLike"]["s3:prefix"] == ["x/y", "x/y/*"]
    assert "Condition" not in by_sid["JobStoreList"]
    assert by_sid["JobStoreObjects"]["Resource"] == ["arn:aws-cn:s3:::jobs-bucket/*"]
    assert by_sid["LogEvents"]["Resource"] == [
        f"arn:aws-cn:logs:cn-north-1:{ACCOUNT}:log-group:/aws/lambda/f:*"
    ]


@pytest.mark.parametrize(
    ("job_store", "inputs", "message"),
    [
        ("/tmp/jobs", [], "must be an s3:// URL"),
        ("s3://", [], "has no bucket"),
        ("s3://Bad_Bucket/x", [], "not a valid S3 bucket name"),
        (JOB_STORE, ["s3://data-bucket/logs/*"], "wildcard"),
        (JOB_STORE, ["s3://data-bucket/${aws:username}/"], "wildcard"),
        (JOB_STORE, ["s3://data-bucket/a//b"], "empty"),
        (JOB_STORE, ["https://data-bucket/a"], "must be an s3:// URL"),
        (JOB_STORE, [JOB_STORE + "/table/"], "inside the job store"),
        ("s3://data-bucket", ["s3://data-bucket/t/"], "inside the job store"),
    ],
)
def test_policy_rejects_bad_urls(job_store, inputs, message):
    with pytest.raises(dp.DeployError, match=message) as info:
        dp.policy_document(job_store, inputs, REGION, ACCOUNT, "sqlmr")
    assert isinstance(info.value, SqlmrError)
    assert "\n" not in str(info.value)


def test_trust_policy():
    assert dp.trust_policy() == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def test_public_layer_is_looked_up_in_its_ssm_parameter():
    class Ssm:  # moto refuses parameter names under /aws, which only AWS may publish
        asked: list[str] = []

        def get_parameter(self, Name):  # noqa: N803 - boto3's argument name
            self.asked.append(Name)
            if "/3.16.1/" not in Name:
                raise ClientError({"Error": {"Code": "ParameterNotFound"}}, "GetParameter")
            return {"Parameter": {"Value": "arn:aws:lambda:eu-west-1:1:layer:AWSSDKPandas:26"}}

    ssm = Ssm()
    arn = layer_publish.resolve_public_layer(
        ssm, "aws-sdk-pandas:3.16.1", "eu-west-1", "arm64", "3.12"
    )
    assert arn == "arn:aws:lambda:eu-west-1:1:layer:AWSSDKPandas:26"
    assert ssm.asked == ["/aws/service/aws-sdk-pandas/3.16.1/eu-west-1/py3.12/arm64/layer-arn"]
    with pytest.raises(dp.DeployError, match="publishes no layer for Python 3.12 on arm64"):
        layer_publish.resolve_public_layer(ssm, "aws-sdk-pandas:1.0", "eu-west-1", "arm64", "3.12")
    with pytest.raises(dp.DeployError, match="give the AWS SDK for pandas version"):
        layer_publish.check_layer("aws-sdk-pandas:")


# -- the package ----------------------------------------------------------------------------------


def test_package_is_deterministic_and_holds_only_the_runtime(tmp_path):
    first, digest = dp.build_package()
    second, again = dp.build_package(tmp_path)
    assert first == second and digest == again == hashlib.sha256(first).hexdigest()
    assert (tmp_path / "sqlmr_runtime.zip").read_bytes() == first
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert "sqlmr_runtime/handler.py" in names
        assert "sqlmr_runtime/__init__.py" in names
        assert names == sorted(names)
        assert all(n.startswith("sqlmr_runtime/") and n.endswith(".py") for n in names)
        assert not any("__pycache__" in n or "sqlglot" in n for n in names)
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
        assert all(i.external_attr == 0o100644 << 16 for i in infos)
        for name in names:
            text = zf.read(name).decode()
            assert "import sqlglot" not in text and "from sqlmr " not in text
            assert "from sqlmr." not in text and "import sqlmr\n" not in text
    assert (
        dp.code_sha256(first)
        == __import__("base64").b64encode(hashlib.sha256(first).digest()).decode()
    )


def _fake_runtime(monkeypatch, root, files: dict[str, str]):
    pkg = root / "pkg"
    for rel, text in files.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    class Spec:
        submodule_search_locations = [str(pkg)]

    real = aws_package.importlib.util.find_spec
    monkeypatch.setattr(
        aws_package.importlib.util,
        "find_spec",
        lambda name: Spec() if name == "sqlmr_runtime" else real(name),
    )
    return pkg


def test_package_skips_caches_and_walks_subfolders(monkeypatch, tmp_path):
    pkg = _fake_runtime(
        monkeypatch,
        tmp_path,
        {
            "handler.py": "import json\n",
            "__init__.py": "",
            "sub/mod.py": "from . import x\n",
            "__pycache__/handler.cpython-312.py": "",
            "notes.txt": "not code",
        },
    )
    (pkg / "__pycache__" / "handler.cpython-312.pyc").write_bytes(b"\0")
    data, _ = dp.build_package()
    os.utime(pkg / "handler.py", (1, 1))  # mtimes do not matter
    assert dp.build_package()[0] == data
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == [
            "sqlmr_runtime/__init__.py",
            "sqlmr_runtime/handler.py",
            "sqlmr_runtime/sub/mod.py",
        ]


@pytest.mark.parametrize(
    "line", ["import sqlglot", "from sqlmr.planning.plan import Plan", "import sqlmr"]
)
def test_package_refuses_driver_imports(monkeypatch, tmp_path, line):
    _fake_runtime(monkeypatch, tmp_path, {"handler.py": line + "\n", "__init__.py": ""})
    with pytest.raises(dp.DeployError, match="imports"):
        dp.build_package()


# -- deploy ---------------------------------------------------------------------------------------


def test_deploy_creates_role_policy_and_function(aws, layer):
    report = _deploy(aws, layer, arch="arm64", memory=2048, timeout=600)
    assert not report.dry_run and report.code_uploaded
    assert report.account_id == ACCOUNT
    assert any(c.startswith("create IAM role sqlmr-role") for c in report.changes)
    assert any(c.startswith("put inline policy sqlmr-access") for c in report.changes)
    assert any(c.startswith("create function sqlmr") for c in report.changes)

    iam = aws.client("iam")
    role = iam.get_role(RoleName="sqlmr-role")["Role"]
    assert aws_policy.decode_policy(role["AssumeRolePolicyDocument"]) == dp.trust_policy()
    policy = iam.get_role_policy(RoleName="sqlmr-role", PolicyName="sqlmr-access")
    assert aws_policy.decode_policy(policy["PolicyDocument"]) == dp.policy_document(
        JOB_STORE, INPUTS, REGION, ACCOUNT, "sqlmr"
    )
    assert report.policy == aws_policy.decode_policy(policy["PolicyDocument"])

    config = aws.client("lambda").get_function(FunctionName="sqlmr")["Configuration"]
    assert config["Runtime"] == "python3.12"
    assert config["Handler"] == "sqlmr_runtime.handler.lambda_handler"
    assert config["MemorySize"] == 2048 and config["Timeout"] == 600
    assert config["Architectures"] == ["arm64"]
    assert config["TracingConfig"] == {"Mode": "Active"}
    # Arrow's allocator settings reach the function, where pyarrow loads.
    assert config["Environment"]["Variables"] == {
        "MIMALLOC_ALLOW_THP": "0",
        "MIMALLOC_PURGE_DELAY": "-1",
    }
    assert [x["Arn"] for x in config["Layers"]] == [layer]
    assert config["Role"] == role["Arn"] == report.role_arn
    assert config["State"] == "Active"
    assert config["CodeSha256"] == report.code_sha256 == dp.code_sha256(dp.build_package()[0])
    assert report.function_arn == config["FunctionArn"]
    assert "CreateFunction" in aws.calls and "PutRolePolicy" in aws.calls


def test_redeploy_skips_unchanged_code_and_uploads_changed_code(aws, layer):
    _deploy(aws, layer)
    lam = aws.client("lambda")
    before = lam.get_function(FunctionName="sqlmr")["Configuration"]

    del aws.calls[:]
    again = _deploy(aws, layer)
    assert again.changes == [] and not again.code_uploaded
    assert any(u.startswith("code of sqlmr") for u in again.unchanged)
    assert "UpdateFunctionCode" not in aws.calls
    assert "UpdateFunctionConfiguration" not in aws.calls and "PutRolePolicy" not in aws.calls
    assert (
        lam.get_function(FunctionName="sqlmr")["Configuration"]["CodeSha256"]
        == (before["CodeSha256"])
    )

    changed = _zip({"sqlmr_runtime/handler.py": b"def lambda_handler(e, c): return 1\n"})
    third = _deploy(aws, layer, package=(changed, hashlib.sha256(changed).hexdigest()))
    assert third.code_uploaded and "UpdateFunctionCode" in aws.calls
    assert any(c.startswith("upload code") for c in third.changes)
    after = lam.get_function(FunctionName="sqlmr")["Configuration"]
    assert after["CodeSha256"] == dp.code_sha256(changed) != before["CodeSha256"]


def test_redeploy_updates_configuration_and_policy(aws, layer):
    _deploy(aws, layer)
    report = _deploy(aws, layer, memory=3008, inputs=INPUTS[:1])
    assert any(c.startswith("update inline policy sqlmr-access") for c in report.changes)
    assert any("MemorySize 1536 -> 3008" in c for c in report.changes)
    assert not report.code_uploaded
    config = aws.client("lambda").get_function(FunctionName="sqlmr")["Configuration"]
    assert config["MemorySize"] == 3008
    doc = aws.client("iam").get_role_policy(RoleName="sqlmr-role", PolicyName="sqlmr-access")
    reads = {s["Sid"]: s for s in aws_policy.decode_policy(doc["PolicyDocument"])["Statement"]}[
        "ReadInputs"
    ]
    assert reads["Resource"] == ["arn:aws:s3:::data-bucket/amplab/rankings/*"]

    drifted = dict(dp.trust_policy(), Statement=[dict(dp.trust_policy()["Statement"][0])])
    drifted["Statement"][0]["Principal"] = {"Service": "ec2.amazonaws.com"}
    iam = aws.client("iam")
    iam.update_assume_role_policy(RoleName="sqlmr-role", PolicyDocument=json.dumps(drifted))
    fixed = _deploy(aws, layer, memory=3008, inputs=INPUTS[:1])
    assert fixed.changes == ["update the trust policy of IAM role sqlmr-role"]
    role = iam.get_role(RoleName="sqlmr-role")["Role"]
    assert aws_policy.decode_policy(role["AssumeRolePolicyDocument"]) == dp.trust_policy()

    # moto keeps no architecture on code updates, so only the report is checked here (and the
    # probe, which would rightly find the function still on x86_64, is skipped)
    arm = _deploy(aws, layer, memory=3008, inputs=INPUTS[:1], arch="arm64", probe=False)
    assert arm.code_uploaded and any("architecture changed" in c for c in arm.changes)


def _small_layer(tmp_path, text: str = "x = 1\n") -> aws_layer.LayerBuild:
    """A layer built by deploy's own code (staging folder, trim, deterministic zip)."""
    folder = tmp_path / f"layer-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    (folder / "python" / "tiny").mkdir(parents=True, exist_ok=True)
    (folder / "python" / "tiny" / "__init__.py").write_text(text)
    (folder / "python" / "tiny" / "tests").mkdir(exist_ok=True)
    (folder / "python" / "tiny" / "tests" / "test_big.py").write_text("trimmed\n")
    aws_layer.trim(folder / "python")
    return aws_layer.zip_layer(folder, "3.12", "x86_64")


def test_deploy_publishes_its_own_layer_once_per_content(aws, tmp_path):
    build = _small_layer(tmp_path)
    assert build.files == 1  # tests/ trimmed
    report = _deploy(aws, None, layer_build=build)
    published = [c for c in report.changes if c.startswith("publish layer")]
    assert published and "sqlmr-pyarrow-py312-x86_64" in published[0]
    assert "uploaded directly" in published[0]
    lam = aws.client("lambda")
    config = lam.get_function(FunctionName="sqlmr")["Configuration"]
    assert [x["Arn"] for x in config["Layers"]] == [report.layer]
    assert ":layer:sqlmr-pyarrow-py312-x86_64:" in report.layer

    del aws.calls[:]
    again = _deploy(aws, None, layer_build=_small_layer(tmp_path))  # same contents, new zip
    assert "PublishLayerVersion" not in aws.calls and again.layer == report.layer
    assert any(u.startswith(f"layer {report.layer}") for u in again.unchanged)

    changed = _deploy(aws, None, layer_build=_small_layer(tmp_path, "x = 2\n"))
    assert "PublishLayerVersion" in aws.calls and changed.layer != report.layer
    assert any(c.startswith("update configuration of sqlmr: Layers") for c in changed.changes)


def test_a_layer_over_50_mb_goes_through_the_job_bucket(aws, tmp_path, monkeypatch):
    monkeypatch.setattr(layer_publish, "DIRECT_UPLOAD_LIMIT", 100)  # the build is ~300 bytes
    report = _deploy(aws, None, layer_build=_small_layer(tmp_path))
    published = next(c for c in report.changes if c.startswith("publish layer"))
    assert "through s3://jobs-bucket/sqlmr/jobs/_sqlmr-layers/" in published
    assert aws.calls.count("PutObject") == 1 and "DeleteObject" in aws.calls
    left = aws.client("s3").list_objects_v2(Bucket="jobs-bucket", Prefix="sqlmr/jobs/_sqlmr")
    assert left.get("KeyCount", 0) == 0  # the staging object is gone once published


def test_a_layer_over_250_mb_unzipped_is_refused_before_any_change(aws, tmp_path):
    build = _small_layer(tmp_path)
    huge = aws_layer.LayerBuild(
        build.zip_bytes, build.content_hash, aws_layer.UNZIPPED_LIMIT, 1, "3.12", "x86_64"
    )
    with pytest.raises(dp.DeployError, match="over Lambda's 262,144,000-byte limit"):
        _deploy(aws, None, layer_build=huge)
    assert "PublishLayerVersion" not in aws.calls and "CreateFunction" not in aws.calls


def test_trim_keeps_the_soname_copy_of_each_library(tmp_path):
    root = tmp_path / "python"
    for rel in (
        "pyarrow/libarrow.so.2600", "pyarrow/libarrow_python.so", "pyarrow/libarrow_python.so.2600",
        "pyarrow/libarrow_python.so.2600.1.0", "pyarrow/lib.cpython-312-x86_64-linux-gnu.so",
        "pyarrow/_flight.cpython-312-x86_64-linux-gnu.so", "pyarrow/libarrow_flight.so.2600",
        "pyarrow/include/arrow/api.h", "pyarrow/tests/test_x.py", "pyarrow/lib.pyx",
        "pyarrow/__pycache__/x.pyc", "aws_xray_sdk/core/recorder.py",
    ):  # fmt: skip
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    aws_layer.trim(root)
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "aws_xray_sdk/core/recorder.py",
        "pyarrow/lib.cpython-312-x86_64-linux-gnu.so",
        "pyarrow/libarrow.so.2600",
        "pyarrow/libarrow_python.so.2600",
    ]


def test_a_probe_that_finds_a_missing_module_fails_deploy(aws, layer, monkeypatch):
    def without_xray(lam, name):
        answer = probe_in_process(lam, name)
        answer["modules"]["aws_xray_sdk"] = None
        return answer

    monkeypatch.setattr(aws_probe, "invoke_probe", without_xray)
    with pytest.raises(dp.DeployError, match="cannot import aws_xray_sdk") as info:
        _deploy(aws, layer)
    assert "\n" not in str(info.value)
    assert any(c.startswith("create function") for c in info.value.report.changes)


def test_log_retention_is_set_and_lifecycle_rules_are_left_alone(aws, layer):
    s3 = aws.client("s3")
    rules = [
        {
            "ID": "theirs",
            "Filter": {"Prefix": "other/"},
            "Status": "Enabled",
            "Expiration": {"Days": 3},
        }
    ]
    s3.put_bucket_lifecycle_configuration(
        Bucket="jobs-bucket", LifecycleConfiguration={"Rules": rules}
    )
    del aws.calls[:]
    report = _deploy(aws, layer)
    assert "set the retention of log group /aws/lambda/sqlmr to 14 days" in report.changes
    logs = aws.client("logs")
    group = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/sqlmr")["logGroups"][0]
    assert group["retentionInDays"] == 14
    assert _deploy(aws, layer).changes == []
    _deploy(aws, layer, log_retention_days=30)
    group = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/sqlmr")["logGroups"][0]
    assert group["retentionInDays"] == 30
    assert not any("Lifecycle" in call for call in aws.calls)  # deploy never touched them
    assert s3.get_bucket_lifecycle_configuration(Bucket="jobs-bucket")["Rules"] == rules


def test_missing_layer_asks_for_layer_flag(aws):
    missing = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:nope:1"
    with pytest.raises(dp.DeployError, match="--layer") as info:
        _deploy(aws, missing)  # the layer does not exist in moto
    assert "\n" not in str(info.value)
    partial = info.value.report  # what was done before the failure
    assert [c.split(" (")[0] for c in partial.changes] == [
        "create IAM role sqlmr-role",
        "put inline policy sqlmr-access on role sqlmr-role",
    ]  # the function was not created, so it is not reported
    assert not partial.code_uploaded


def test_dry_run_with_credentials_only_reads(aws, layer):
    report = _deploy(aws, layer, dry_run=True)
    assert report.dry_run and not report.code_uploaded
    assert report.account_id == ACCOUNT
    assert any(c.startswith("create IAM role") for c in report.changes)
    assert any(c.startswith("create function") for c in report.changes)
    assert set(aws.calls) - {"CreateBucket", "PublishLayerVersion"} <= {
        "GetCallerIdentity",
        "GetRole",
        "GetRolePolicy",
        "GetFunction",
        "DescribeLogGroups",
    }
    with pytest.raises(ClientError):
        aws.client("lambda").get_function(FunctionName="sqlmr")
    with pytest.raises(ClientError):
        aws.client("iam").get_role(RoleName="sqlmr-role")

    _deploy(aws, layer)
    plan = _deploy(aws, layer, dry_run=True, memory=4096)
    assert plan.changes == ["update configuration of sqlmr: MemorySize 1536 -> 4096"], plan.changes
    config = aws.client("lambda").get_function(FunctionName="sqlmr")["Configuration"]
    assert config["MemorySize"] == 1536


def test_dry_run_without_credentials_makes_no_calls(no_aws):
    report = dp.deploy(
        job_store=JOB_STORE, inputs=INPUTS, region="eu-west-1", arch="arm64", dry_run=True
    )
    assert no_aws == []  # nothing was sent anywhere
    assert report.dry_run and report.account_id == "<account-id>"
    assert report.layer == "sqlmr-pyarrow-py312-arm64 (sqlmr's own)"
    assert any(c.startswith("build and publish layer sqlmr-pyarrow") for c in report.changes)
    assert report.changes and any("upload code" in c for c in report.changes)
    assert any("no AWS credentials" in n for n in report.notes)
    assert not any("no inputs" in n for n in report.notes)
    statements = {s["Sid"]: s for s in report.policy["Statement"]}
    assert statements["LogEvents"]["Resource"] == [
        "arn:aws:logs:eu-west-1:<account-id>:log-group:/aws/lambda/sqlmr:*"
    ]
    assert "would: create or update function sqlmr" in report.summary()


def test_deploy_without_credentials_says_how_to_configure_them(no_aws):
    with pytest.raises(dp.AwsCredentialsError, match="aws configure") as info:
        dp.deploy(job_store=JOB_STORE, region=REGION)
    assert "\n" not in str(info.value)
    assert no_aws == []


def test_deploy_without_region_or_profile(no_aws):
    with pytest.raises(dp.DeployError, match="region"):
        dp.deploy(job_store=JOB_STORE, dry_run=True)
    with pytest.raises(dp.AwsCredentialsError, match="profile"):
        dp.deploy(job_store=JOB_STORE, profile="nope", region=REGION, dry_run=True)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"job_store": None}, "job store is required"),
        ({"memory": 64}, "128-10,240"),
        ({"timeout": 901}, "1-900"),
        ({"arch": "i386"}, "x86_64 or arm64"),
        ({"function_name": "bad name"}, "bad function name"),
        ({"layer": "pyarrow"}, "bad layer ARN"),
        ({"inputs": ["s3://x"]}, "not a valid S3 bucket name"),
    ],
)
def test_deploy_validates_arguments(no_aws, kw, message):
    args = {"job_store": JOB_STORE, "region": REGION, "dry_run": True, **kw}
    with pytest.raises(dp.DeployError, match=message):
        dp.deploy(**args)


@pytest.mark.parametrize(
    "message",
    [
        "The role defined for the function cannot be assumed by Lambda.",
        "The provided execution role does not have permissions to call PutTraceSegments on XRAY",
    ],
)
def test_role_propagation_is_retried(message):
    error = ClientError(
        {"Error": {"Code": "InvalidParameterValueException", "Message": message}},
        "CreateFunction",
    )
    attempts = []

    def create():
        attempts.append(1)
        if len(attempts) < 3:
            raise error
        return {"FunctionArn": "arn"}

    sleeps = []
    original = aws_function._sleep
    aws_function._sleep = sleeps.append
    try:
        assert aws_function._retry_role_propagation(create) == {"FunctionArn": "arn"}
        assert len(attempts) == 3 and len(sleeps) == 2
        with pytest.raises(ClientError):
            aws_function._retry_role_propagation(lambda: (_ for _ in ()).throw(error), attempts=2)
        other = ClientError({"Error": {"Code": "ResourceConflictException"}}, "CreateFunction")
        calls = []

        def conflict():
            calls.append(1)
            raise other

        with pytest.raises(ClientError):
            aws_function._retry_role_propagation(conflict)
        assert len(calls) == 1
    finally:
        aws_function._sleep = original


# -- errors ---------------------------------------------------------------------------------------


def _client_error(code, message, operation):
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def test_access_denied_names_the_missing_permission():
    error = _client_error(
        "AccessDenied",
        "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: "
        "iam:CreateRole on resource: arn:aws:iam::123456789012:role/sqlmr-role because no "
        "identity-based policy allows the iam:CreateRole action",
        "CreateRole",
    )
    translated = aws_errors.translate(error, "create IAM role sqlmr-role", "iam")
    assert isinstance(translated, dp.AwsAccessDeniedError)
    assert "iam:CreateRole on arn:aws:iam::123456789012:role/sqlmr-role" in str(translated)
    bare = aws_errors.translate(
        _client_error("AccessDenied", "Access Denied", "ListObjectsV2"), "x", "s3"
    )
    assert "s3:ListBucket" in str(bare)
    bare = aws_errors.translate(
        _client_error("AccessDeniedException", "", "UpdateFunctionCode"), "x", "lambda"
    )
    assert "lambda:UpdateFunctionCode" in str(bare)


def test_credential_errors_are_one_line_and_secret_free(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SUPERSECRETVALUE")
    for code in ("ExpiredToken", "InvalidClientTokenId", "SignatureDoesNotMatch"):
        text = str(
            aws_errors.translate(_client_error(code, "bad", "GetCallerIdentity"), "x", "sts")
        )
        assert "SUPERSECRETVALUE" not in text and "\n" not in text
    expired = aws_errors.translate(_client_error("ExpiredToken", "", "GetRole"), "read role", "iam")
    assert isinstance(expired, dp.AwsCredentialsError) and "expired" in str(expired)
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    assert "aws configure" in str(aws_errors.translate(NoCredentialsError(), "x"))
    unreachable = aws_errors.translate(EndpointConnectionError(endpoint_url="https://x"), "x")
    assert "unreachable" in str(unreachable)
    assert aws_errors.translate(ValueError("not AWS"), "x") is None


# -- destroy --------------------------------------------------------------------------------------


def test_destroy_removes_everything_and_reports_absent_pieces(aws, layer):
    _deploy(aws, layer)  # creates the log group, with its retention
    logs = aws.client("logs")
    s3 = aws.client("s3")
    backend = s3_backends[ACCOUNT]["aws"]  # 1,234 objects, faster than through the API
    for i in range(1234):
        backend.put_object("jobs-bucket", f"sqlmr/jobs/job1/map/{i:05d}/a0/out", b"x")
    s3.put_object(Bucket="jobs-bucket", Key="sqlmr/jobs2/keep", Body=b"x")  # a sibling prefix
    s3.put_object(Bucket="data-bucket", Key="amplab/rankings/part-0", Body=b"x")

    del aws.calls[:]
    done = dp.destroy(job_store=JOB_STORE, session=aws)
    assert done == [
        "deleted function sqlmr",
        "deleted inline policy sqlmr-access of role sqlmr-role",
        "deleted IAM role sqlmr-role",
        "deleted log group /aws/lambda/sqlmr",
        "deleted 1,234 object(s) under s3://jobs-bucket/sqlmr/jobs/",
    ]
    assert aws.calls.count("DeleteObjects") == 2  # 1,000 + 234
    assert s3.list_objects_v2(Bucket="jobs-bucket", Prefix="sqlmr/jobs/").get("KeyCount") == 0
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="jobs-bucket")["Contents"]] == [
        "sqlmr/jobs2/keep"
    ]
    assert s3.list_objects_v2(Bucket="data-bucket")["KeyCount"] == 1
    with pytest.raises(ClientError):
        aws.client("lambda").get_function(FunctionName="sqlmr")
    with pytest.raises(ClientError):
        aws.client("iam").get_role(RoleName="sqlmr-role")
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/sqlmr")["logGroups"] == []

    assert dp.destroy(job_store=JOB_STORE, session=aws) == [
        "function sqlmr: absent",
        "inline policy sqlmr-access of role sqlmr-role: absent",
        "IAM role sqlmr-role: absent",
        "log group /aws/lambda/sqlmr: absent",
        "objects under s3://jobs-bucket/sqlmr/jobs/: absent",
    ]
    assert dp.destroy(session=aws)[-1] == "job store: not given, objects kept"


def test_the_job_lifecycle_rule_is_put_only_when_asked_and_keeps_other_rules(aws, layer):
    s3 = aws.client("s3")
    theirs = {
        "ID": "logs",
        "Status": "Enabled",
        "Filter": {"Prefix": "logs/"},
        "Expiration": {"Days": 30},
    }
    s3.put_bucket_lifecycle_configuration(
        Bucket="jobs-bucket", LifecycleConfiguration={"Rules": [theirs]}
    )
    _deploy(aws, layer)  # not asked: the bucket's rules are not read or changed
    assert "GetBucketLifecycleConfiguration" not in aws.calls
    report = _deploy(aws, layer, expire_jobs_days=2)
    assert any(c.startswith("put lifecycle rule sqlmr-jobs:sqlmr/jobs") for c in report.changes)
    rules = {
        r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket="jobs-bucket")["Rules"]
    }
    assert set(rules) == {"logs", "sqlmr-jobs:sqlmr/jobs"}
    mine = rules["sqlmr-jobs:sqlmr/jobs"]
    assert mine["Filter"] == {"Prefix": "sqlmr/jobs/"} and mine["Expiration"] == {"Days": 2}
    assert mine["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    again = _deploy(aws, layer, expire_jobs_days=2)
    assert not any("lifecycle" in c for c in again.changes)
    assert any("lifecycle rule sqlmr-jobs:sqlmr/jobs" in u for u in again.unchanged)
    dry = dp.deploy(job_store=JOB_STORE, layer=layer, expire_jobs_days=3, dry_run=True, session=aws)
    assert any("lifecycle rule" in c for c in dry.changes)
    assert s3.get_bucket_lifecycle_configuration(Bucket="jobs-bucket")["Rules"][-1] == mine
    with pytest.raises(dp.DeployError, match="1-3650"):
        _deploy(aws, layer, expire_jobs_days=0)

    done = dp.destroy(job_store=JOB_STORE, session=aws)
    assert done[-1].endswith("deleted lifecycle rule sqlmr-jobs:sqlmr/jobs")
    assert s3.get_bucket_lifecycle_configuration(Bucket="jobs-bucket")["Rules"] == [theirs]


def test_destroy_refuses_a_bucket_root_and_input_locations(aws, layer):
    with pytest.raises(dp.DeployError, match="refusing to delete every object"):
        dp.destroy(job_store="s3://jobs-bucket", session=aws)
    _deploy(aws, layer)
    with pytest.raises(dp.DeployError, match="reads it as an input"):
        dp.destroy(job_store="s3://data-bucket/amplab/rankings", session=aws)
    # nothing was deleted by the refused call
    assert aws.client("lambda").get_function(FunctionName="sqlmr")
