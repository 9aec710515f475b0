"""Reconciles every VPC in the Region that has opted-in subnets, on a schedule (see template.yaml)."""

from functools import cache

from vpce_remediator.observability import lambda_handler, logger
from vpce_remediator.reconcile import Dependencies, handle_sweep
from vpce_remediator.runtime import build_dependencies


@cache
def dependencies() -> Dependencies:
    # Built at the first invocation, not at import, so a bad environment is a logged error.
    return build_dependencies()


@lambda_handler
def handler(event, context):
    # The scheduled event carries nothing to act on; its id ties the run's records together.
    logger.set_correlation_id(event.get("id") if isinstance(event, dict) else None)
    return handle_sweep(dependencies())
