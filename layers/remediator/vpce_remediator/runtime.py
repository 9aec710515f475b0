"""Builds a container's dependencies from its environment, once, at the first invocation."""

from __future__ import annotations

from functools import cache

from vpce_remediator.clients import ec2_client
from vpce_remediator.config import Settings
from vpce_remediator.observability import logger
from vpce_remediator.policy import PolicySet
from vpce_remediator.reconcile import Dependencies
from vpce_remediator.snapshot import read_catalog


def build_dependencies() -> Dependencies:
    settings = Settings.from_env()
    ec2 = ec2_client()
    region = ec2.meta.region_name
    return Dependencies(
        ec2=ec2,
        settings=settings,
        policies=PolicySet.from_settings(settings),
        catalog=cache(lambda: read_catalog(ec2, region)),
        logger=logger,
    )
