"""One place that builds boto3 clients: standard retry mode with explicit attempts, and a user agent
that lets CloudTrail readers tell the remediator's calls apart."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

USER_AGENT = "vpce-remediator"
CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra=USER_AGENT)


def ec2_client(region: str | None = None) -> Any:
    return boto3.client("ec2", region_name=region, config=CONFIG)
