"""The Logger, created once per container. JSON records, one per decision and per change."""

from __future__ import annotations

from aws_lambda_powertools.logging import Logger

logger = Logger(service="vpce-remediator")
