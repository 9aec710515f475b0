"""Turns findings and changes into structured log records (one per decision, one per change), each at
the level it deserves. The record schema is docs/log-schema.json."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from vpce_remediator.apply import Change
from vpce_remediator.plan import Finding
from vpce_remediator.vocabulary import Outcome, Record, Status

HOURS_PER_MONTH = 730


def decision_record(finding: Finding, mode: str) -> dict[str, Any]:
    # Field names avoid Powertools' own keys (service, level, message, ...), which extra keys would overwrite.
    return {
        "record": Record.DECISION,
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
        "hosted_zone_id": finding.hosted_zone_id,
        "mode": mode,
    }


def change_record(change: Change, mode: str, attempt: int = 1, price: float | None = None) -> dict[str, Any]:
    action = change.action
    fields = action.describe()
    cost = {}
    if action.billed_per_az and price is not None and fields["subnet_ids"]:
        # One ENI per AZ; what a release saves is the same figure, negative.
        az_hours = len(fields["subnet_ids"]) * (-1 if action.releases else 1)
        cost = {
            "endpoint_az_hours_added": az_hours,
            "price_per_endpoint_az_hour_usd": price,
            "estimated_monthly_usd_added": round(az_hours * price * HOURS_PER_MONTH, 2),
        }
    return {
        "record": Record.CHANGE,
        "vpc_id": action.vpc_id,
        "endpoint_service": fields.get("service"),
        "endpoint_id": fields.get("endpoint_id") or (change.resource_id if action.on_endpoint else None),
        "security_group_id": fields.get("group_id")
        or change.security_group_id
        or (change.resource_id if action.on_security_group else None),
        "route_table_ids": fields.get("route_table_ids"),
        "subnet_ids": fields.get("subnet_ids"),
        "removed_subnet_ids": fields.get("removed_subnet_ids"),
        "endpoint_ids": fields.get("endpoint_ids"),
        "leaving_until": fields.get("until"),
        "reason": fields.get("why"),
        "cidrs": fields.get("cidrs"),
        "private_dns": fields.get("private_dns"),
        "action": action.kind,
        "outcome": change.result,
        "error_code": change.error_code,
        "error": change.error,
        "mode": mode,
        "attempt": attempt,
        **cost,
    }


def log_records(
    logger: Any,
    findings: Iterable[Finding],
    changes: Iterable[Change],
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
        log = logger.warning if finding.warning else logger.info if finding.status == Status.NONCOMPLIANT else logger.debug
        log(Record.DECISION, extra=decision_record(finding, mode))
    records = []
    for change in changes:
        record = {**change_record(change, mode, attempt, price), **(context or {})}
        failed, conflict = change.result == Outcome.FAILED, change.result == Outcome.CONFLICT
        log = logger.error if failed else logger.warning if conflict else logger.info
        log(Record.CHANGE, extra=record)
        records.append({k: v for k, v in record.items() if v is not None})
    return records
