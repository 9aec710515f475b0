"""The Logger, created once per container, and the handler decorator that adds Lambda context to
every record and, only when tracing is on, the X-Ray Tracer.

The Tracer is imported at the first invocation and only if POWERTOOLS_TRACE_DISABLED is "false":
the X-Ray SDK costs about as much to import as boto3, so a cold start without tracing never pays it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.logging import Logger

logger = Logger(service="vpce-remediator")

Handler = Callable[[Any, Any], Any]


def tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() == "false"


def lambda_handler(function: Handler) -> Handler:
    logged = logger.inject_lambda_context(clear_state=True)(function)
    chosen: list[Handler] = []

    @functools.wraps(function)
    def handler(event: Any, context: Any) -> Any:
        if not chosen:
            chosen.append(_traced(logged) if tracing_enabled() else logged)
        return chosen[0](event, context)

    return handler


def lambda_entry(use_case: Callable[[Any, Any], Any]) -> Handler:
    """A function's handler: ``use_case(event, dependencies)`` with the container's dependencies, built at
    the first invocation, not at import, so a bad environment is a logged error. Each app.py calls it once,
    so each container (a fresh import) builds its own."""
    from vpce_remediator.runtime import lambda_dependencies

    dependencies = functools.cache(lambda_dependencies)

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        return use_case(event, dependencies())

    return handler


def _traced(handler: Handler) -> Handler:
    from aws_lambda_powertools.tracing import Tracer

    # Patches botocore, so every EC2 call is a subsegment of the invocation's trace.
    tracer = Tracer(service="vpce-remediator")
    return tracer.capture_lambda_handler(handler, capture_response=False)
