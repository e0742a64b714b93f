"""sqlmr_runtime: executes the tasks of a sqlmr plan, on AWS Lambda or in a local worker.

This package is what gets zipped into the Lambda function. It depends on pyarrow and the
standard library only (boto3 and aws_xray_sdk are imported lazily where S3 or tracing is used)
and never imports sqlmr or sqlglot: the plan it executes is plain JSON data.
"""

from .allocator import configure_allocator

# First thing, before anything imports pyarrow: the allocator reads its options when it loads.
configure_allocator()

PLAN_VERSION = 1
"""Version of the plan and task-event JSON that this runtime accepts."""

__all__ = ["PLAN_VERSION"]
