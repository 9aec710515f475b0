"""Intake: queues each CloudTrail EC2 call that can change what a subnet needs (the triggers in
vpce_remediator/triggers.py; rules in template.yaml) in the settle window of every VPC it touches."""

from functools import cache

from vpce_remediator.observability import lambda_handler
from vpce_remediator.reconcile import Dependencies, handle_event
from vpce_remediator.runtime import build_dependencies


@cache
def dependencies() -> Dependencies:
    # Built at the first invocation, not at import, so a bad environment is a logged error.
    return build_dependencies()


@lambda_handler
def handler(event, context):
    return handle_event(event, dependencies())
