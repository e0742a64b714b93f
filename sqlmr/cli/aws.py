"""The `sqlmr deploy` and `sqlmr destroy` commands: the runtime as an AWS Lambda function."""

from __future__ import annotations

import argparse
import json
import sys

from sqlmr.defaults import TASK_MEMORY_MB
from sqlmr.errors import UsageError

# sqlmr.aws is imported by the commands themselves: building the parser must stay light.
ARCHITECTURES = ("x86_64", "arm64")


def add_commands(
    sub: argparse._SubParsersAction, parents: dict[str, argparse.ArgumentParser] | None = None
) -> None:
    """Register `deploy` and `destroy` on the main parser."""
    if parents is None:
        from sqlmr.cli.app import parents as make_parents

        parents = make_parents()
    shared = [parents["common"], parents["aws"]]
    _add_deploy(sub, shared)
    _add_destroy(sub, shared)


def _add_deploy(sub: argparse._SubParsersAction, shared: list[argparse.ArgumentParser]) -> None:
    d = sub.add_parser(
        "deploy",
        help="deploy the runtime as an AWS Lambda function",
        description="Create or update the Lambda function that runs sqlmr tasks, and its IAM "
        "role with a least-privilege policy: read the inputs, read and write the job store, "
        "write the function's logs and traces. Code is uploaded only when it changed.",
        parents=shared,
    )
    _add_function_name(d)
    _add_function_settings(d)
    _add_job_store_settings(d)
    _add_deploy_modes(d)
    d.set_defaults(handler=_deploy)


def _add_function_settings(d: argparse.ArgumentParser) -> None:
    """What the deployed function is: memory, timeout, architecture, job store, inputs, layer,
    log retention."""
    d.add_argument(
        "--memory",
        type=int,
        default=TASK_MEMORY_MB,
        metavar="MB",
        help=f"memory of the function, 128-10240 MB (default: {TASK_MEMORY_MB})",
    )
    d.add_argument(
        "--timeout",
        type=int,
        default=900,
        metavar="S",
        help="timeout of one invocation, 1-900 seconds (default: 900)",
    )
    d.add_argument(
        "--arch",
        choices=ARCHITECTURES,  # sqlmr.aws.ARCHITECTURES; a test checks they agree
        default="x86_64",
        help="processor architecture of the function (default: x86_64)",
    )
    d.add_argument(
        "--job-store",
        metavar="S3_URL",
        help="s3://bucket/prefix for the jobs' intermediate objects; the function may read, "
        "write and delete below it (required, here or in the config, unless --check)",
    )
    d.add_argument(
        "--input",
        action="append",
        default=[],
        dest="inputs",
        metavar="S3_URL",
        help="s3:// location the function may read (repeat for more; a URL ending in / "
        "means only the objects below it)",
    )
    d.add_argument(
        "--layer",
        metavar="ARN",
        help="layer that supplies pyarrow and aws_xray_sdk: a layer ARN, or "
        "aws-sdk-pandas:VERSION (looked up in SSM; it lacks aws_xray_sdk, so the probe fails "
        "unless the code has it) (default: sqlmr's own layer, built from the official wheels "
        "and published when its contents change)",
    )
    d.add_argument(
        "--log-retention-days",
        type=int,
        default=14,
        metavar="DAYS",
        help="how long the function's log group keeps its events (default: 14)",
    )


def _add_job_store_settings(d: argparse.ArgumentParser) -> None:
    """What deploy may set on the job store's bucket."""
    d.add_argument(
        "--expire-jobs-days",
        type=int,
        metavar="DAYS",
        help="put a lifecycle rule on the job prefix: S3 expires job objects after DAYS days "
        "and aborts multipart uploads incomplete after 1 day, the backstop for a driver killed "
        "before it cleaned up (the bucket's other rules are kept) (default: no rule)",
    )


def _add_deploy_modes(d: argparse.ArgumentParser) -> None:
    """Check, dry run, and saving the deployment as a config profile."""
    d.add_argument(
        "--check",
        action="store_true",
        help="change nothing: invoke the deployed function with the probe event and report "
        "what it runs with (Python, pyarrow, codecs, architecture, memory); exit 1 if it "
        "cannot run a task",
    )
    d.add_argument(
        "--dry-run",
        action="store_true",
        help="change nothing: print the plan and the IAM policy (without credentials, no AWS "
        "call is made at all)",
    )
    d.add_argument(
        "--save-profile",
        metavar="NAME",
        help="write the function, job store and region into [profiles.NAME] of the config "
        "file without asking (default: ask on a terminal)",
    )


def _add_destroy(sub: argparse._SubParsersAction, shared: list[argparse.ArgumentParser]) -> None:
    r = sub.add_parser(
        "destroy",
        help="remove the Lambda function, its role, its logs and the job store's objects",
        description="Delete the Lambda function, its IAM role and inline policy, its log "
        "group and, with --job-store, every object under the job store prefix. Pieces already "
        "gone are reported as absent.",
        parents=shared,
    )
    _add_function_name(r)
    r.add_argument(
        "--job-store",
        metavar="S3_URL",
        help="s3://bucket/prefix whose objects to delete as well (default: keep them)",
    )
    r.set_defaults(handler=_destroy)


def _add_function_name(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--function-name",
        metavar="NAME",
        help="the Lambda function; its role and policy are named after it (default: sqlmr)",
    )


def _deploy(args: argparse.Namespace) -> int:
    from sqlmr.aws import DeployError, check, deploy
    from sqlmr.aws.probe import describe
    from sqlmr.cli.app import apply_settings

    apply_settings(args)
    if args.check:
        answer = check(args.function_name, args.region, args.profile)
        print(f"function {args.function_name}: {describe(answer)}")
        print("ok: the function can run sqlmr tasks")
        return 0
    if not args.job_store:
        raise UsageError(
            "deploy needs --job-store s3://bucket/prefix (or job_store in the config file)"
        )
    try:
        report = deploy(
            function_name=args.function_name,
            memory=args.memory,
            timeout=args.timeout,
            arch=args.arch,
            job_store=args.job_store,
            inputs=args.inputs,
            layer=args.layer,
            region=args.region,
            profile=args.profile,
            dry_run=args.dry_run,
            log_retention_days=args.log_retention_days,
            expire_jobs_days=args.expire_jobs_days,
        )
    except DeployError as e:
        if e.report is not None:  # what was changed before the failure
            print(e.report.summary(), file=sys.stderr)
        raise
    print(report.summary())
    if args.dry_run:
        print(f"\ninline policy {report.policy_name} of role {report.role_name}:")
        print(json.dumps(report.policy, indent=2))
        _print_query_policy(args, report)
    else:
        print(f"role {report.role_arn}")
        print(f"function {report.function_arn}")
        _offer_profile(args, getattr(report, "region", None) or args.region)
    return 0


def _offer_profile(args: argparse.Namespace, region: str | None) -> None:
    """Offer to record what deploy created as a config profile, so queries need no flags."""
    from sqlmr.config import config_path, write_profile

    name = args.save_profile
    path = config_path()
    if name is None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            return
        answer = input(f"save function, job store and region as a profile in {path}? [lambda/n] ")
        name = answer.strip() or "lambda"
        if name.lower() in ("n", "no"):
            return
    values = {"executor": "lambda", "function_name": args.function_name}
    values["job_store"] = args.job_store
    if region:
        values["region"] = region
    if args.profile:
        values["profile"] = args.profile
    write_profile(path, name, values)
    print(f"saved profile {name} in {path}; use it with --config-profile {name}")


def _destroy(args: argparse.Namespace) -> int:
    from sqlmr.aws import destroy
    from sqlmr.cli.app import apply_settings

    apply_settings(args)
    for line in destroy(
        function_name=args.function_name,
        job_store=args.job_store,
        region=args.region,
        profile=args.profile,
    ):
        print(line)
    return 0


def _print_query_policy(args: argparse.Namespace, report) -> None:
    """The policy a user who runs queries needs (`deploy --dry-run` prints it after the role's)."""
    from sqlmr.aws import query_policy_document

    policy = query_policy_document(
        args.job_store,
        args.inputs,
        report.region,
        report.account_id,
        report.function_name,
        report.partition,
    )
    print("\npolicy of the users who run queries (not created by deploy):")
    print(json.dumps(policy, indent=2))
