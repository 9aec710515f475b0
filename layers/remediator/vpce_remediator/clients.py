"""One place that builds boto3 clients: standard retry mode with explicit attempts, and a user agent
that lets CloudTrail readers tell the remediator's calls apart."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from vpce_remediator import USER_AGENT


# Five attempts in all (the first plus four retries), with standard mode's backoff and retry quota.
def _config(user_agent: str) -> Config:
    return Config(retries={"mode": "standard", "total_max_attempts": 5}, user_agent_extra=user_agent)


CONFIG = _config(USER_AGENT)


def client(
    service: str, session: Any = None, region: str | None = None, endpoint_url: str | None = None, user_agent: str = USER_AGENT
) -> Any:
    """A client with the remediator's retry and user-agent settings, from ``session`` or boto3's default."""
    factory = session or boto3
    config = CONFIG if user_agent == USER_AGENT else _config(user_agent)
    return factory.client(service, region_name=region, endpoint_url=endpoint_url, config=config)
