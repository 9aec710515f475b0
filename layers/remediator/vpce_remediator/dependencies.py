"""What a use case needs from outside, and what a reconcile adds up: plain data, no AWS SDK."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vpce_remediator.config import Settings
from vpce_remediator.models import ServiceCatalog
from vpce_remediator.policy import PolicySet
from vpce_remediator.telemetry import Telemetry


@dataclass
class Dependencies:
    """Built once per container (runtime.lambda_dependencies) or per command (runtime.cli_dependencies)."""

    ec2: Any
    settings: Settings
    policies: Callable[[], PolicySet]  # may raise PolicyError; caches as the policy source allows
    catalog: Callable[[], ServiceCatalog]  # read once per container
    logger: Any  # Powertools Logger, or cli.JsonLines
    telemetry: Telemetry
    sqs: Callable[[], Any]  # the settle queue's client (intake and reconciler only)
    # Subnet, route table and endpoint ids -> their VPC, from snapshots, creates and lookups. A resource
    # never moves to another VPC, so a call naming a known one needs no lookup.
    vpc_of: dict[str, str] = field(default_factory=dict)


@dataclass
class Summary:
    """What a reconcile found and did, over every VPC and re-plan."""

    vpcs: list[str] = field(default_factory=list)
    findings: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # every change record, for metrics and events

    def as_dict(self) -> dict[str, Any]:
        return {"vpcs": self.vpcs, "findings": dict(self.findings), "changes": dict(self.changes), "failures": self.failures}
