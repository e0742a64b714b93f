"""Which layer the function uses: sqlmr's own (published once per content hash), a public layer
looked up where its publisher says (the AWS SDK for pandas publishes its ARNs as SSM public
parameters), or an ARN the user gives.
"""

from __future__ import annotations

from sqlmr.aws.errors import DeployError, aws_action, is_missing
from sqlmr.aws.layer import DIRECT_UPLOAD_LIMIT, LayerBuild
from sqlmr.aws.policy import S3Prefix, check_layer_arn
from sqlmr.aws.report import RUNTIME, DeployReport, make_change

SDK_PANDAS = "aws-sdk-pandas"
_SDK_PANDAS_PARAMETER = "/aws/service/aws-sdk-pandas/{version}/{region}/py{python}/{arch}/layer-arn"


def is_public_layer_name(layer: str) -> bool:
    """True for `aws-sdk-pandas:VERSION`, a public layer deploy looks up."""
    return layer.startswith(SDK_PANDAS + ":")


def check_layer(layer: str) -> None:
    """A layer ARN, or aws-sdk-pandas:VERSION."""
    if is_public_layer_name(layer):
        if not layer.split(":", 1)[1].strip():
            raise DeployError("give the AWS SDK for pandas version: --layer aws-sdk-pandas:3.16.1")
        return
    check_layer_arn(layer)


def resolve_public_layer(ssm, layer: str, region: str, arch: str, python: str) -> str:
    """The ARN of aws-sdk-pandas:VERSION in this region, from its SSM public parameter."""
    version = layer.split(":", 1)[1].strip()
    name = _SDK_PANDAS_PARAMETER.format(version=version, region=region, python=python, arch=arch)
    with aws_action(f"look up the AWS SDK for pandas layer ({name})", "ssm"):
        try:
            return ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except Exception as e:
            if not is_missing(e) and "ParameterNotFound" not in str(e):
                raise
    raise DeployError(
        f"AWS SDK for pandas {version} publishes no layer for Python {python} on {arch} in "
        f"{region} (no SSM parameter {name}); see "
        "https://aws-sdk-pandas.readthedocs.io/en/stable/layers.html"
    )


def find_published(lam, build: LayerBuild) -> str | None:
    """The ARN of a published version of the layer with the same contents, if any."""
    marker = build.description
    with aws_action(f"list the versions of layer {build.name}", "lambda"):
        pages = lam.get_paginator("list_layer_versions").paginate(
            LayerName=build.name, CompatibleRuntime=RUNTIME
        )
        try:
            for page in pages:
                for version in page.get("LayerVersions", []):
                    if version.get("Description") == marker:
                        return version["LayerVersionArn"]
        except Exception as e:
            if not is_missing(e):
                raise
    return None


def ensure_layer(lam, s3, report: DeployReport, build: LayerBuild, store: S3Prefix) -> None:
    """Point report.layer at a published layer with the build's contents, publishing it if no
    version has them. A zip over Lambda's 50 MB direct-upload limit travels through the job
    store's bucket (and is deleted there once published)."""
    found = find_published(lam, build)
    if found:
        report.layer = found
        report.unchanged.append(f"layer {found} (content {build.content_hash[:16]})")
        return
    size = len(build.zip_bytes)
    via_s3 = size > DIRECT_UPLOAD_LIMIT
    key = f"{store.prefix}/_sqlmr-layers/{build.content_hash}.zip".lstrip("/")

    def publish() -> str:
        content = {"ZipFile": build.zip_bytes}
        if via_s3:
            with aws_action(f"upload the layer to s3://{store.bucket}/{key}", "s3"):
                s3.put_object(Bucket=store.bucket, Key=key, Body=build.zip_bytes)
            content = {"S3Bucket": store.bucket, "S3Key": key}
        try:
            with aws_action(f"publish layer {build.name}", "lambda"):
                out = lam.publish_layer_version(
                    LayerName=build.name,
                    Description=build.description,
                    Content=content,
                    CompatibleRuntimes=[RUNTIME],
                    CompatibleArchitectures=[build.arch],
                )
        finally:
            if via_s3:
                with aws_action(f"delete s3://{store.bucket}/{key}", "s3"):
                    s3.delete_object(Bucket=store.bucket, Key=key)
        return out["LayerVersionArn"]

    how = f"through s3://{store.bucket}/{key}" if via_s3 else "directly"
    arn = make_change(
        report,
        f"publish layer {build.name} ({size:,} bytes zipped, {build.unzipped_bytes:,} unzipped, "
        f"content {build.content_hash[:16]}; uploaded {how})",
        publish,
    )
    report.layer = arn or f"{build.name}:<new version>"
