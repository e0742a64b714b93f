"""boto3 sessions and clients for deploy and destroy, and who and where the caller is.

boto3 is imported lazily, so that the rest of sqlmr works without touching it.
"""

from __future__ import annotations

from sqlmr.aws.errors import DeployError, aws_action


def open_session(region: str | None, profile: str | None):
    """A boto3 Session for a region and profile (None: the standard chain decides)."""
    with aws_action("open an AWS session"):
        import boto3

        return boto3.session.Session(profile_name=profile, region_name=region)


def client(session, service: str):
    """A client with standard retries and finite timeouts."""
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 6, "mode": "standard"}, connect_timeout=10, read_timeout=120
    )
    with aws_action(f"create the {service} client", service):
        return session.client(service, config=config)


def session_region(session) -> str:
    """The session's region; DeployError says how to set one if there is none."""
    region = session.region_name
    if not region:
        raise DeployError(
            "no AWS region; set AWS_REGION (or AWS_DEFAULT_REGION), give --region, "
            "or set a region in the profile"
        )
    return region


def has_credentials(session) -> bool:
    """True if the credential chain finds credentials (without checking them with AWS)."""
    try:
        return session.get_credentials() is not None
    except Exception:
        return False


def caller_identity(session) -> tuple[str, str]:
    """(account id, partition) of the caller."""
    sts = client(session, "sts")
    with aws_action("identify the AWS account (sts:GetCallerIdentity)", "sts"):
        ident = sts.get_caller_identity()
    partition = ident["Arn"].split(":")[1] if ident.get("Arn", "").count(":") >= 2 else "aws"
    return ident["Account"], partition
