"""sqlmr_runtime: executes the tasks of a sqlmr plan, on AWS Lambda or in a local worker.

This package is what gets zipped into the Lambda function. It depends on pyarrow and the
standard library only (boto3 and aws_xray_sdk are imported lazily where S3 or tracing is used)
and never imports sqlmr or sqlglot: the plan it executes is plain JSON data.
"""

from .allocator import configure_allocator

# First thing, before anything imports pyarrow: the allocator reads its options when it loads.
configure_allocator()

PLAN_VERSION = 2
"""Version of the plan and task-event JSON that this runtime accepts. 2: a reduce task's
parts name their partition (part.partition), and the plan fields added on 2026-11-30; a
function deployed with version 1 refuses version 2 events by their version."""

__all__ = ["PLAN_VERSION"]
