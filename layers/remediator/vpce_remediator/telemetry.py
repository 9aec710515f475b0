"""What a run tells besides its log: metrics (CloudWatch embedded metric format) and change events
(EventBridge), behind one small interface. Lambda tells both (``LambdaTelemetry``); the audit CLI
tells nothing (``Silent``).

Few dimensions on purpose: every distinct dimension value is a custom metric billed per month, so
actions (six values) and services (as many as the policies name) are separate metrics rather than
one metric with both dimensions.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from vpce_remediator.errors import RemediatorError
from vpce_remediator.vocabulary import APPLIED, PROPOSED, Outcome

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
_BATCH = 10  # PutEvents takes at most ten entries


class EventsNotPublished(Exception):
    def __init__(self, failed: int, total: int):
        super().__init__(f"{failed} of {total} change events were not accepted by EventBridge")


class Telemetry(Protocol):
    def error(self, exc: BaseException) -> None:
        """Counts an error the run hit (a failed run, an invalid event, events that did not go out)."""

    def run(self, changes: Iterable[Mapping[str, Any]], noncompliant: int) -> None:
        """Counts what a reconcile changed, proposed and found."""

    def sweep_duration(self, milliseconds: float) -> None: ...

    def publish(self, changes: Iterable[Mapping[str, Any]], context: Mapping[str, Any]) -> int:
        """Sends each applied or failed change as an event; returns how many went out. May raise."""


def error_kind(exc: BaseException) -> str:
    """The ``error`` dimension: the remediator's own exceptions by name, everything else 'Unexpected'."""
    return type(exc).__name__ if isinstance(exc, RemediatorError | EventsNotPublished) else "Unexpected"


class Silent:
    """The CLI's telemetry: nothing leaves the process but its own output."""

    def error(self, exc: BaseException) -> None:
        pass

    def run(self, changes: Iterable[Mapping[str, Any]], noncompliant: int) -> None:
        pass

    def sweep_duration(self, milliseconds: float) -> None:
        pass

    def publish(self, changes: Iterable[Mapping[str, Any]], context: Mapping[str, Any]) -> int:
        return 0


class LambdaTelemetry:
    """EMF records on stdout (CloudWatch turns them into metrics without an API call) and change events
    on the default bus, through an EventBridge client made when the first event goes out."""

    def __init__(self, events: Callable[[], Any]):
        self._events = events

    def error(self, exc: BaseException) -> None:
        _emit("Errors", 1, error_kind(exc))

    def run(self, changes: Iterable[Mapping[str, Any]], noncompliant: int) -> None:
        counts: Counter[tuple[str, str]] = Counter()
        conflicts = 0
        for record in changes:
            outcome, action = record["outcome"], record["action"]
            if outcome in APPLIED:
                counts["Remediations", action] += 1
                if record.get("endpoint_service"):
                    counts["EndpointChanges", record["endpoint_service"]] += 1
            elif outcome in PROPOSED:
                counts["ProposedRemediations", action] += 1
            elif outcome == Outcome.CONFLICT:
                conflicts += 1
        for (name, dimension), count in sorted(counts.items()):
            _emit(name, count, dimension)
        if noncompliant:
            _emit("NoncompliantFindings", noncompliant)
        if conflicts:
            _emit("Conflicts", conflicts)

    def sweep_duration(self, milliseconds: float) -> None:
        _emit("SweepDuration", milliseconds)

    def publish(self, changes: Iterable[Mapping[str, Any]], context: Mapping[str, Any]) -> int:
        entries = [
            {"Source": EVENT_SOURCE, "DetailType": EVENT_DETAIL_TYPE, "Detail": json.dumps({**context, **change}, default=str)}
            for change in changes
            if change["outcome"] in APPLIED or change["outcome"] == Outcome.FAILED
        ]
        if not entries:
            return 0
        client = self._events()
        failed = 0
        for start in range(0, len(entries), _BATCH):
            failed += client.put_events(Entries=entries[start : start + _BATCH]).get("FailedEntryCount", 0)
        if failed:
            raise EventsNotPublished(failed, len(entries))
        return len(entries)


def _emit(name: str, value: float, dimension: str | None = None) -> None:
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    unit, key = METRICS[name]
    with single_metric(name=name, unit=MetricUnit(unit), value=value, namespace=NAMESPACE) as metric:
        if key is not None and dimension is not None:
            metric.add_dimension(name=key, value=dimension)
