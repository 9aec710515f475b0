"""Builds a use case's dependencies: once per Lambda container from its environment, or once per
command from the CLI's choices."""

from __future__ import annotations

from functools import cache
from typing import Any

from vpce_remediator.clients import client
from vpce_remediator.config import Settings
from vpce_remediator.dependencies import Dependencies
from vpce_remediator.policy_source import policy_loader
from vpce_remediator.snapshot import read_catalog
from vpce_remediator.telemetry import LambdaTelemetry, Silent, Telemetry


def lambda_dependencies() -> Dependencies:
    """In Lambda, at the first invocation: settings from the environment, boto3's default session, the
    container's Logger, metrics and change events."""
    from vpce_remediator.observability import logger

    return _dependencies(Settings.from_env(), logger, None, None, LambdaTelemetry)


def cli_dependencies(settings: Settings, logger: Any, session: Any, endpoint_url: str | None = None) -> Dependencies:
    """For the command line: its own settings, logger and session; no metrics, no change events."""
    return _dependencies(settings, logger, session, endpoint_url, lambda _events: Silent())


def _dependencies(settings: Settings, logger: Any, session: Any, endpoint_url: str | None, telemetry: Any) -> Dependencies:
    ec2 = client("ec2", session, endpoint_url=endpoint_url)
    region = ec2.meta.region_name
    events: Telemetry = telemetry(cache(lambda: client("events", session, region, endpoint_url)))
    return Dependencies(
        ec2=ec2,
        settings=settings,
        policies=policy_loader(settings, lambda: client("ssm", session, region, endpoint_url)),
        catalog=cache(lambda: read_catalog(ec2, region)),
        logger=logger,
        telemetry=events,
        sqs=cache(lambda: client("sqs", session, region, endpoint_url)),
        route53=cache(lambda: client("route53", session, region, endpoint_url)),
        config=cache(lambda: client("config", session, region, endpoint_url)),
    )
