"""What a use case needs from outside, and what a reconcile adds up: plain data, no AWS SDK."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
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
    route53: Callable[[], Any]  # the private hosted zones associated with a VPC (a hub's)
    config: Callable[[], Any]  # AWS Config's client (the Config rule only)
    # Subnet, route table and endpoint ids -> their VPC, from snapshots, creates and lookups. A resource
    # never moves to another VPC, so a call naming a known one needs no lookup.
    vpc_of: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scope:
    """What the calls a reconcile covers ask of it, besides reading the VPC afresh."""

    leaving: Mapping[str, float] = field(default_factory=dict)  # subnet -> until: deletes EC2 refused
    releases_only: bool = False  # a prompt window: release, add nothing (that waits for the settle window)
    # Read the VPC details to find the remediator's group even when no endpoint names it any more: EC2
    # refused to delete the VPC, or a recheck (its endpoints deleted, the group perhaps left).
    find_group: bool = False
    # The Config rule: only the findings (what is missing), so the details a create needs are never read.
    findings_only: bool = False


@dataclass
class Summary:
    """What a reconcile found and did, over every VPC and re-plan."""

    vpcs: list[str] = field(default_factory=list)
    findings: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # every change record, for metrics and events
    # VPCs with a release that waits for EC2 to finish another (settle.recheck).
    awaiting: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        awaiting = {"awaiting_ec2": self.awaiting} if self.awaiting else {}
        return {
            "vpcs": self.vpcs,
            "findings": dict(self.findings),
            "changes": dict(self.changes),
            "failures": self.failures,
            **awaiting,
        }
