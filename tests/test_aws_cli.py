"""`sqlmr deploy` and `sqlmr destroy` through their argparse handlers, against moto's AWS.

As in test_deploy: credentials are fake, the instance metadata service is off, and botocore's
HTTP sender fails the test if it is ever called. The commands are run through a parser built the
way cli.py builds it, and through `sqlmr.cli.main` once cli.py registers them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from moto import mock_aws
from test_deploy import probe_in_process

from sqlmr.aws import probe as aws_probe
from sqlmr.cli import app as cli
from sqlmr.cli.aws import add_commands
from sqlmr.errors import SqlmrError

# The Lambda emulator and SeaweedFS, one each for the session, whichever modules use them.
pytest_plugins = ["s3_server", "lambda_server"]

REGION = "us-east-1"
JOB_STORE = "s3://jobs-bucket/sqlmr/jobs"
INPUT = "s3://data-bucket/amplab/rankings/"


def _cli_registers_aws() -> bool:
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {"deploy", "destroy"} <= set(sub.choices)


wired = pytest.mark.skipif(
    not _cli_registers_aws(), reason="sqlmr.cli does not register deploy and destroy yet"
)


def run(argv: list[str]) -> int:
    """Parse argv with a parser built as cli.py builds it, and run the command's handler."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    add_commands(sub)
    args = parser.parse_args(argv)
    return args.handler(args)


@pytest.fixture
def layer(no_aws, monkeypatch):
    """moto's AWS with fake credentials and a region; yields a layer ARN that moto knows."""
    monkeypatch.setattr(aws_probe, "invoke_probe", probe_in_process)  # moto runs no code
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        import boto3

        session = boto3.session.Session(region_name=REGION)
        s3 = session.client("s3")
        for bucket in ("jobs-bucket", "data-bucket"):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket="jobs-bucket", Key="sqlmr/jobs/job1/out", Body=b"x")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            zf.writestr("python/x.py", b"")
        published = session.client("lambda").publish_layer_version(
            LayerName="pyarrow-test",
            Content={"ZipFile": buffer.getvalue()},
            CompatibleRuntimes=["python3.12"],
        )
        yield published["LayerVersionArn"]
    assert not no_aws, "a request left for a real endpoint"


def _deploy_argv(layer: str, *extra: str) -> list[str]:
    return ["deploy", "--job-store", JOB_STORE, "--input", INPUT, "--layer", layer, *extra]


def test_deploy_then_destroy(layer, capsys):
    assert run(_deploy_argv(layer, "--memory", "2048")) == 0
    out = capsys.readouterr().out
    assert "function sqlmr in us-east-1" in out and "2048 MB" in out
    assert "did: create IAM role sqlmr-role" in out
    assert "did: put inline policy sqlmr-access on role sqlmr-role" in out
    assert "did: create function sqlmr" in out
    assert "did: set the retention of log group /aws/lambda/sqlmr to 14 days" in out
    assert "note: probe: Python 3." in out
    assert "role arn:aws:iam::123456789012:role/sqlmr-role" in out
    assert "function arn:aws:lambda:us-east-1:123456789012:function:sqlmr" in out

    assert run(_deploy_argv(layer, "--memory", "2048")) == 0  # a second deploy changes nothing
    again = capsys.readouterr().out
    assert "did: nothing to change" in again and "unchanged: IAM role sqlmr-role" in again

    assert run(["destroy", "--job-store", JOB_STORE]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "deleted function sqlmr",
        "deleted inline policy sqlmr-access of role sqlmr-role",
        "deleted IAM role sqlmr-role",
        "deleted log group /aws/lambda/sqlmr",  # deploy created it, with its retention
        "deleted 1 object(s) under s3://jobs-bucket/sqlmr/jobs/",
    ]


def _policy_json(out: str, after: str = "") -> dict:
    """The first policy document that a dry run prints after its summary (or after `after`)."""
    start = out.index("\n{", out.index(after)) + 1
    return json.JSONDecoder().raw_decode(out[start:])[0]


def test_dry_run_without_credentials_prints_the_policy(no_aws, capsys):
    argv = ["deploy", "--job-store", JOB_STORE, "--input", INPUT, "--region", "eu-west-1"]
    assert run([*argv, "--dry-run", "--arch", "arm64"]) == 0
    assert no_aws == []  # nothing was sent anywhere
    out = capsys.readouterr().out
    assert "would: create or update IAM role sqlmr-role" in out
    assert "would: put inline policy sqlmr-access on role sqlmr-role" in out
    assert "would: create or update function sqlmr" in out
    assert "inline policy sqlmr-access of role sqlmr-role:" in out
    statements = {s["Sid"]: s for s in _policy_json(out)["Statement"]}
    queries = {s["Sid"]: s for s in _policy_json(out, "users who run queries")["Statement"]}
    assert queries["JobStoreUploads"]["Action"] == ["s3:ListBucketMultipartUploads"]
    assert statements["JobStoreObjects"]["Resource"] == ["arn:aws:s3:::jobs-bucket/sqlmr/jobs/*"]
    assert statements["ReadInputs"]["Resource"] == ["arn:aws:s3:::data-bucket/amplab/rankings/*"]


def test_bad_job_store_is_a_one_line_error(no_aws):
    with pytest.raises(SqlmrError, match="must be an s3:// URL") as info:
        run(["deploy", "--job-store", "/tmp/jobs", "--region", REGION, "--dry-run"])
    assert "\n" not in str(info.value)
    with pytest.raises(SqlmrError, match="must be an s3:// URL"):
        run(["destroy", "--job-store", "jobs-bucket/sqlmr", "--region", REGION])
    assert no_aws == []


def test_a_failed_deploy_reports_what_it_changed(layer, capsys):
    missing = layer.rsplit(":", 1)[0] + ":99"
    with pytest.raises(SqlmrError, match="--layer"):
        run(["deploy", "--job-store", JOB_STORE, "--layer", missing])  # no such layer version
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "did: create IAM role sqlmr-role" in captured.err
    assert "did: create function" not in captured.err


def test_every_argument_has_help():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    add_commands(sub)
    for name in ("deploy", "destroy"):
        for action in sub.choices[name]._actions:
            assert action.help, f"{name} {action.option_strings} has no help"


@wired
def test_main_deploys_and_destroys(layer, capsys):
    assert cli.main(_deploy_argv(layer)) == 0
    assert "did: create function sqlmr" in capsys.readouterr().out
    assert cli.main(["destroy"]) == 0
    assert "deleted function sqlmr" in capsys.readouterr().out


@wired
def test_main_dry_run_without_credentials(no_aws, capsys):
    argv = ["deploy", "--job-store", JOB_STORE, "--region", "eu-west-1", "--dry-run"]
    assert cli.main(argv) == 0
    assert no_aws == []
    resources = [s["Resource"] for s in _policy_json(capsys.readouterr().out)["Statement"]]
    assert ["arn:aws:s3:::jobs-bucket/sqlmr/jobs/*"] in resources


@wired
def test_main_bad_job_store_exits_1(no_aws, capsys):
    assert cli.main(["deploy", "--job-store", "/tmp/jobs", "--region", REGION]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: job store '/tmp/jobs' must be an s3:// URL")
    assert err.count("\n") == 1


# -- deploy --check, against the Lambda emulator running the shipped zip and layer ---------------


def test_deploy_check_reports_what_the_function_runs_with(lambda_endpoint, capsys):
    assert run(["deploy", "--check"]) == 0
    out = capsys.readouterr().out
    assert "function sqlmr: Python 3." in out and "pyarrow " in out
    assert "codecs: snappy, gzip" in out and "lz4" not in out  # the layer without LZ4/ZSTD
    assert "aws_xray_sdk " in out and out.rstrip().endswith("can run sqlmr tasks")


def _layer_without(layer: Path, folder: Path, *names: str) -> Path:
    """A copy of a layer (as symbolic links) whose python/ lacks the named top-level entries."""
    python = folder / "python"
    python.mkdir(parents=True)
    for entry in (layer / "python").iterdir():
        if not entry.name.startswith(names):
            os.symlink(entry, python / entry.name)
    return folder


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("aws_xray_sdk", "cannot import aws_xray_sdk .its X-Ray subsegments would be missing"),
        ("pyarrow", "Runtime.ImportModuleError: .*'pyarrow'"),
    ],
)
def test_a_function_missing_a_module_fails_the_probe_not_a_query(
    missing, message, seaweed_s3, lambda_artifacts, tmp_path, monkeypatch
):
    from lambda_server import Artifacts, LambdaServer

    layer = _layer_without(lambda_artifacts["layer"], tmp_path / "layer", missing)
    artifacts = Artifacts(lambda_artifacts["code_zip"], (layer,), lambda_artifacts["runtime_dir"])
    with LambdaServer(artifacts, tmp_path, workers=1) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", server.endpoint)
        with pytest.raises(SqlmrError, match=message) as info:
            run(["deploy", "--check"])
    assert "\n" not in str(info.value)
