"""Metrics (CloudWatch embedded metric format) and change events (EventBridge) for each run.

Few dimensions on purpose: every distinct dimension value is a custom metric billed per month, so
actions (six values) and services (as many as the policies name) are separate metrics rather than
one metric with both dimensions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

NAMESPACE = "VpceRemediator"
EVENT_SOURCE = "vpce-remediator"
EVENT_DETAIL_TYPE = "VPC Endpoint Remediation"
# Metric name -> unit, and the dimension each is split by (None: none beyond the service).
METRICS: dict[str, tuple[str, str | None]] = {
    "Remediations": ("Count", "action"),
    "EndpointChanges": ("Count", "endpoint_service"),
    "ProposedRemediations": ("Count", "action"),
    "NoncompliantFindings": ("Count", None),
    "Conflicts": ("Count", None),
    "Errors": ("Count", "error"),
    "SweepDuration": ("Milliseconds", None),
}
APPLIED = frozenset({"created", "attached", "authorized"})
_BATCH = 10  # PutEvents takes at most ten entries


def emit_metric(name: str, value: float, dimension: str | None = None) -> None:
    """One EMF record on stdout; CloudWatch turns it into a metric without an API call."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    unit, key = METRICS[name]
    with single_metric(name=name, unit=MetricUnit(unit), value=value, namespace=NAMESPACE) as metric:
        if key is not None and dimension is not None:
            metric.add_dimension(name=key, value=dimension)


def emit_run_metrics(changes: Iterable[dict[str, Any]], noncompliant: int) -> None:
    by_action: dict[tuple[str, str], int] = {}
    by_service: dict[str, int] = {}
    conflicts = 0
    for record in changes:
        outcome, action = record["outcome"], record["action"]
        if outcome in APPLIED:
            by_action[("Remediations", action)] = by_action.get(("Remediations", action), 0) + 1
            if record.get("endpoint_service"):
                by_service[record["endpoint_service"]] = by_service.get(record["endpoint_service"], 0) + 1
        elif outcome == "would_change":
            by_action[("ProposedRemediations", action)] = by_action.get(("ProposedRemediations", action), 0) + 1
        elif outcome == "conflict":
            conflicts += 1
    for (name, action), count in sorted(by_action.items()):
        emit_metric(name, count, action)
    for service, count in sorted(by_service.items()):
        emit_metric("EndpointChanges", count, service)
    if noncompliant:
        emit_metric("NoncompliantFindings", noncompliant)
    if conflicts:
        emit_metric("Conflicts", conflicts)


def publish_changes(events: Callable[[], Any], changes: Iterable[dict[str, Any]], context: dict[str, Any]) -> int:
    """Each applied (or failed) change as an event on the default bus; returns how many were sent."""
    entries = [
        {"Source": EVENT_SOURCE, "DetailType": EVENT_DETAIL_TYPE, "Detail": json.dumps({**context, **change}, default=str)}
        for change in changes
        if change["outcome"] in APPLIED or change["outcome"] == "failed"
    ]
    if not entries:
        return 0
    client = events()
    failed = 0
    for start in range(0, len(entries), _BATCH):
        failed += client.put_events(Entries=entries[start : start + _BATCH]).get("FailedEntryCount", 0)
    if failed:
        raise EventsNotPublished(failed, len(entries))
    return len(entries)


class EventsNotPublished(Exception):
    def __init__(self, failed: int, total: int):
        super().__init__(f"{failed} of {total} change events were not accepted by EventBridge")
