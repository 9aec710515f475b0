"""Builds a container's dependencies from its environment, once, at the first invocation."""

from __future__ import annotations

from functools import cache
from typing import Any

from vpce_remediator.clients import client
from vpce_remediator.config import Settings
from vpce_remediator.policy_source import policy_loader
from vpce_remediator.reconcile import Dependencies
from vpce_remediator.snapshot import read_catalog


def build_dependencies(
    settings: Settings | None = None, logger: Any = None, session: Any = None, endpoint_url: str | None = None
) -> Dependencies:
    """Lambda calls it with nothing (environment, default session, metrics and change events on);
    the CLI passes its own choices and neither publishes metrics nor events."""
    in_lambda = logger is None
    if logger is None:
        from vpce_remediator.observability import logger
    settings = settings or Settings.from_env()
    ec2 = client("ec2", session, endpoint_url=endpoint_url)
    region = ec2.meta.region_name
    return Dependencies(
        ec2=ec2,
        settings=settings,
        policies=policy_loader(settings, lambda: client("ssm", session, region, endpoint_url)),
        catalog=cache(lambda: read_catalog(ec2, region)),
        logger=logger,
        events=cache(lambda: client("events", session, region, endpoint_url)) if in_lambda else None,
        metrics=in_lambda,
        sqs=cache(lambda: client("sqs", session, region, endpoint_url)),
    )
