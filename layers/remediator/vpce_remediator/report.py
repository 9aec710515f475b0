"""Turns findings and outcomes into structured log records (one per decision, one per change)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from vpce_remediator.actions import Action
from vpce_remediator.apply import CONFLICT, FAILED, Outcome
from vpce_remediator.plan import NONCOMPLIANT, Finding

# Field names avoid Powertools' own keys (service, level, message, ...), which extra keys would overwrite.
DECISION = "decision"
CHANGE = "change"
SUMMARY = "summary"


def decision_record(finding: Finding, mode: str) -> dict[str, Any]:
    return {
        "record": DECISION,
        "vpc_id": finding.vpc_id,
        "subnet_id": finding.subnet_id,
        "availability_zone": finding.az,
        "route_table_id": finding.route_table_id,
        "policy": finding.policy,
        "endpoint_service": finding.service,
        "endpoint_type": finding.endpoint_type,
        "endpoint_id": finding.endpoint_id,
        "action": finding.action or "none",
        "outcome": finding.status,
        "reason": finding.reason,
        "note": finding.note,
        "replaces_endpoint_id": finding.replaces,
        "mode": mode,
    }


# Interface endpoints are billed per endpoint and AZ-hour: one ENI per AZ a change adds.
_BILLED_PER_AZ = frozenset({"create_interface_endpoint", "add_subnets"})
HOURS_PER_MONTH = 730


def change_record(outcome: Outcome, mode: str, attempt: int = 1, price: float | None = None) -> dict[str, Any]:
    action: Action = outcome.action
    fields = action.describe()
    az_hours = len(fields["subnet_ids"]) if action.kind in _BILLED_PER_AZ else None
    cost = {}
    if az_hours is not None and price is not None:
        cost = {
            "endpoint_az_hours_added": az_hours,
            "price_per_endpoint_az_hour_usd": price,
            "estimated_monthly_usd_added": round(az_hours * price * HOURS_PER_MONTH, 2),
        }
    return {
        "record": CHANGE,
        "vpc_id": action.vpc_id,
        "endpoint_service": fields.get("service"),
        "endpoint_id": fields.get("endpoint_id") or (outcome.resource_id if "endpoint" in action.kind else None),
        "security_group_id": fields.get("group_id")
        or outcome.security_group_id
        or (outcome.resource_id if "security_group" in action.kind else None),
        "route_table_ids": fields.get("route_table_ids"),
        "subnet_ids": fields.get("subnet_ids"),
        "cidrs": fields.get("cidrs"),
        "private_dns": fields.get("private_dns"),
        "action": action.kind,
        "outcome": outcome.result,
        "error_code": outcome.error_code,
        "error": outcome.error,
        "mode": mode,
        "attempt": attempt,
        **cost,
    }


def log_records(
    logger: Any,
    findings: Iterable[Finding],
    outcomes: Iterable[Outcome],
    mode: str,
    attempt: int = 1,
    price: float | None = None,
    context: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Logs one record per decision and per change; returns the change records (for metrics and events).
    ``context`` (the calls a settled reconcile covers) goes on each change, not on each decision."""
    # Constant messages: the fields carry the facts, so Logs Insights can filter on them. What needs
    # no one's attention (compliant, never opted in) is DEBUG: the summary counts it, and at INFO a
    # no-change run of a large VPC would log a record per subnet and service.
    for finding in findings:
        log = logger.warning if finding.warning else logger.info if finding.status == NONCOMPLIANT else logger.debug
        log(DECISION, extra=decision_record(finding, mode))
    changes = []
    for outcome in outcomes:
        record = {**change_record(outcome, mode, attempt, price), **(context or {})}
        log = logger.error if outcome.result == FAILED else logger.warning if outcome.result == CONFLICT else logger.info
        log(CHANGE, extra=record)
        changes.append({k: v for k, v in record.items() if v is not None})
    return changes
