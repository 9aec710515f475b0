"""Reconciles each VPC once its settle window closes: a batch of the settle queue (SQS FIFO, one
message group per VPC), answered with a partial batch response (see template.yaml)."""

from functools import cache

from vpce_remediator.observability import lambda_handler
from vpce_remediator.reconcile import Dependencies, handle_settled
from vpce_remediator.runtime import build_dependencies


@cache
def dependencies() -> Dependencies:
    # Built at the first invocation, not at import, so a bad environment is a logged error.
    return build_dependencies()


@lambda_handler
def handler(event, context):
    return handle_settled(event, dependencies())
