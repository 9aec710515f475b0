"""Evaluates opted-in subnets for AWS Config (the custom Lambda rule in template.yaml, ConfigRule=on): one
evaluation per subnet, from the same plan a reconcile makes. Reads only; never writes to EC2."""

from functools import cache
from typing import TYPE_CHECKING, Any

from vpce_remediator.dependencies import Dependencies
from vpce_remediator.observability import lambda_handler
from vpce_remediator.reconcile import handle_config_rule
from vpce_remediator.runtime import lambda_dependencies

if TYPE_CHECKING:  # the type only: a cold start imports nothing it does not run
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def dependencies() -> Dependencies:
    # Built at the first invocation, not at import, so a bad environment is a logged error.
    return lambda_dependencies()


@lambda_handler
def handler(event: Any, context: "LambdaContext") -> dict[str, Any]:
    return handle_config_rule(event, dependencies())
