"""Turns findings and outcomes into structured log records (one per decision, one per change)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vpce_remediator.actions import Action
from vpce_remediator.apply import CONFLICT, FAILED, Outcome
from vpce_remediator.plan import Finding

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


def change_record(outcome: Outcome, mode: str, attempt: int = 1) -> dict[str, Any]:
    action: Action = outcome.action
    fields = action.describe()
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
    }


def log_records(logger: Any, findings: Iterable[Finding], outcomes: Iterable[Outcome], mode: str, attempt: int = 1) -> None:
    # Constant messages: the fields carry the facts, so Logs Insights can filter on them.
    for finding in findings:
        log = logger.warning if finding.warning else logger.info
        log(DECISION, extra=decision_record(finding, mode))
    for outcome in outcomes:
        log = logger.error if outcome.result == FAILED else logger.warning if outcome.result == CONFLICT else logger.info
        log(CHANGE, extra=change_record(outcome, mode, attempt))
