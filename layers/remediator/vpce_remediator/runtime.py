"""Builds a use case's dependencies: once per Lambda container from its environment, or once per
command from the CLI's choices."""

from __future__ import annotations

from functools import cache
from typing import Any

from vpce_remediator import CLI_USER_AGENT, USER_AGENT
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

    return _dependencies(Settings.from_env(), logger, None, None, LambdaTelemetry, USER_AGENT)


def cli_dependencies(settings: Settings, logger: Any, session: Any, endpoint_url: str | None = None) -> Dependencies:
    """For the command line: its own settings, logger and session; no metrics, no change events; its own
    user agent (its calls come back through CloudTrail as anyone's, and are reconciled)."""
    return _dependencies(settings, logger, session, endpoint_url, lambda _events: Silent(), CLI_USER_AGENT)


def _dependencies(
    settings: Settings, logger: Any, session: Any, endpoint_url: str | None, telemetry: Any, user_agent: str
) -> Dependencies:
    def make(service: str, region: str | None = None) -> Any:
        return client(service, session, region, endpoint_url, user_agent)

    ec2 = make("ec2")
    region = ec2.meta.region_name
    events: Telemetry = telemetry(cache(lambda: make("events", region)))
    return Dependencies(
        ec2=ec2,
        settings=settings,
        policies=policy_loader(settings, lambda: make("ssm", region)),
        catalog=cache(lambda: read_catalog(ec2, region)),
        logger=logger,
        telemetry=events,
        sqs=cache(lambda: make("sqs", region)),
        route53=cache(lambda: make("route53", region)),
        config=cache(lambda: make("config", region)),
    )
