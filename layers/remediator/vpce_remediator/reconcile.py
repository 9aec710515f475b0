"""The use cases: a CloudTrail event, or a sweep of the region, in; every target VPC reconciled; a summary out.

Every run reads current state, so duplicate, late and out-of-order events are harmless.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from vpce_remediator.apply import CONFLICT, FAILED, apply_actions
from vpce_remediator.config import Mode, Settings
from vpce_remediator.errors import InvalidEvent, RemediationFailed, RemediatorError
from vpce_remediator.events import parse_api_call
from vpce_remediator.models import ServiceCatalog, VpcSnapshot
from vpce_remediator.plan import Plan, plan_vpc
from vpce_remediator.policy import PolicySet
from vpce_remediator.report import SUMMARY, log_records
from vpce_remediator.snapshot import read_details, read_snapshots, vpcs_of
from vpce_remediator.telemetry import EventsNotPublished, emit_metric, emit_run_metrics, publish_changes
from vpce_remediator.triggers import targets

# Re-reads after a conflict. Each conflict means another writer added something the plan needed, so
# a run can lose at most once per resource it wants (five endpoints and a group by default): eight
# rounds cover the default policy under any interleaving; beyond that Lambda's retry starts over.
MAX_ATTEMPTS = 8


@dataclass
class Dependencies:
    """What a run needs from outside; built once per container by the handler."""

    ec2: Any
    settings: Settings
    policies: Callable[[], PolicySet]  # may raise PolicyError; caches as the policy source allows
    catalog: Callable[[], ServiceCatalog]  # cached by the caller: read once per container
    logger: Any
    # EventBridge client factory for change events, and whether to emit EMF metrics; the CLI does neither.
    events: Callable[[], Any] | None = None
    metrics: bool = False
    # Subnet, route table and endpoint ids seen in snapshots -> their VPC. A resource never moves to
    # another VPC, so in a warm container a trigger naming a known resource needs no lookup call.
    vpc_of: dict[str, str] = field(default_factory=dict)


@dataclass
class Summary:
    vpcs: list[str] = field(default_factory=list)
    findings: Counter = field(default_factory=Counter)
    changes: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # every change record, for metrics and events

    def as_dict(self) -> dict[str, Any]:
        return {"vpcs": self.vpcs, "findings": dict(self.findings), "changes": dict(self.changes), "failures": self.failures}


def handle_event(event: Any, deps: Dependencies) -> dict[str, Any]:
    """Reconciles the VPCs a CloudTrail event touches. Bad input is logged and dropped, not retried."""
    log = deps.logger
    try:
        call = parse_api_call(event)
        log.set_correlation_id(call.event_id)
        log.append_keys(event_name=call.event_name, principal_arn=call.principal_arn)
        if call.error_code:
            # The rules exclude failed calls; one that slips through changed nothing.
            return _ignored(log, "failed_call", error_code=call.error_code)
        target = targets(call, deps.settings.opt_in_tag_key)
    except InvalidEvent as exc:
        log.error("invalid event", extra={"record": SUMMARY, "error": type(exc).__name__, "reason": str(exc)})
        _count_error(deps, exc)
        return {"status": "invalid", "reason": str(exc)}
    if target.ignored:
        return _ignored(log, target.ignored)
    return _run(deps, "event", lambda: target.vpc_ids or _lookup(deps, target.lookup, target.lookup_ids))


def _lookup(deps: Dependencies, kind: str | None, ids: tuple[str, ...]) -> tuple[str, ...]:
    if all(i in deps.vpc_of for i in ids):
        return tuple(sorted({deps.vpc_of[i] for i in ids}))
    assert kind is not None
    return vpcs_of(deps.ec2, kind, ids)


def _remember(deps: Dependencies, snapshots: dict[str, VpcSnapshot]) -> dict[str, VpcSnapshot]:
    for vpc_id, snapshot in snapshots.items():
        for resource in (*snapshot.subnets, *snapshot.route_tables, *snapshot.endpoints):
            deps.vpc_of[resource.id] = vpc_id
    return snapshots


def handle_sweep(deps: Dependencies) -> dict[str, Any]:
    """Reconciles every VPC in the region that has opted-in subnets: the net under lost events."""
    return _run(deps, "sweep", lambda: None)


def _ignored(log: Any, reason: str, **extra: Any) -> dict[str, Any]:
    log.info("ignored", extra={"record": SUMMARY, "reason": reason, **extra})
    return {"status": "ignored", "reason": reason}


def _run(deps: Dependencies, trigger: str, vpc_ids: Callable[[], Sequence[str] | None]) -> dict[str, Any]:
    deps.logger.append_keys(trigger=trigger)
    started = time.monotonic()
    try:
        summary = reconcile(vpc_ids(), deps)
    except Exception as exc:
        # Raised on purpose so Lambda retries and, after that, parks the event in the failure queue.
        deps.logger.exception("reconcile failed", extra={"record": SUMMARY})
        _count_error(deps, exc)
        raise
    finally:
        if trigger == "sweep" and deps.metrics:
            emit_metric("SweepDuration", (time.monotonic() - started) * 1000)
    return {"status": "ok", **summary.as_dict()}


def _count_error(deps: Dependencies, exc: BaseException) -> None:
    if deps.metrics:
        emit_metric("Errors", 1, type(exc).__name__ if isinstance(exc, RemediatorError) else "Unexpected")


def plan_vpcs(vpc_ids: Sequence[str] | None, deps: Dependencies, policies: PolicySet) -> list[Plan]:
    """Plans for the given VPCs, or for every VPC with opted-in subnets when ``vpc_ids`` is None."""
    key = deps.settings.opt_in_tag_key
    snapshots = _remember(deps, read_snapshots(deps.ec2, vpc_ids))
    if vpc_ids is None:
        snapshots = {v: s for v, s in snapshots.items() if any(key in subnet.tags for subnet in s.subnets)}
    if not snapshots:
        return []
    catalog = deps.catalog()
    return [_plan(snapshots[vpc_id], deps, policies, catalog) for vpc_id in sorted(snapshots)]


def _plan(snapshot: VpcSnapshot, deps: Dependencies, policies: PolicySet, catalog: ServiceCatalog) -> Plan:
    key = deps.settings.opt_in_tag_key
    plan = plan_vpc(snapshot, policies, catalog, key)
    if plan.needs_details:
        plan = plan_vpc(snapshot.with_details(read_details(deps.ec2, snapshot.vpc_id)), policies, catalog, key)
    return plan


def reconcile(vpc_ids: Sequence[str] | None, deps: Dependencies) -> Summary:
    """Reads, plans, applies and logs each VPC. Raises RemediationFailed after all were tried."""
    mode = deps.settings.mode
    if vpc_ids is not None and not vpc_ids:
        # The event named resources that are gone: nothing to read, nothing to do.
        deps.logger.info(SUMMARY, extra={"record": SUMMARY, "mode": mode.value, "vpcs": [], "reason": "resources_gone"})
        return Summary()
    policies = deps.policies()  # first: no remediation on a policy document that does not parse
    plans = plan_vpcs(vpc_ids, deps, policies)
    summary = Summary(vpcs=[p.vpc_id for p in plans])
    for plan in plans:
        _converge(plan, deps, policies, summary)
    published = _tell(deps, summary)
    deps.logger.info(SUMMARY, extra={"record": SUMMARY, "mode": mode.value, "events_published": published, **summary.as_dict()})
    if summary.failures:
        raise RemediationFailed(summary.failures)
    return summary


def _tell(deps: Dependencies, summary: Summary) -> int:
    """Metrics and change events. A change is made whether or not its event goes out: a failure to
    publish is logged and counted, and does not fail the run (a retry would find nothing to change)."""
    if deps.metrics:
        emit_run_metrics(summary.records, summary.findings["noncompliant"])
    if deps.events is None:
        return 0
    try:
        return publish_changes(deps.events, summary.records, {"mode": deps.settings.mode.value})
    except (EventsNotPublished, ClientError) as exc:
        deps.logger.error("events not published", extra={"record": SUMMARY, "error": type(exc).__name__, "reason": str(exc)})
        if deps.metrics:
            emit_metric("Errors", 1, "EventsNotPublished")
        return 0


def _converge(plan: Plan, deps: Dependencies, policies: PolicySet, summary: Summary) -> None:
    """Applies a VPC's plan; when another writer got there first, reads the VPC again and re-plans.

    Concurrent runs are made safe by EC2's own uniqueness rules (one create per endpoint identity
    through its ClientToken, one security group name per VPC, one subnet per AZ, one gateway
    endpoint per route table and service): the loser of a race sees a conflict and converges.
    """
    stale: set[str] = set()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        outcomes = apply_actions(deps.ec2, plan.actions, deps.settings.mode is Mode.REPORT, frozenset(stale))
        summary.records += log_records(
            deps.logger,
            plan.findings if attempt == 1 else (),
            outcomes,
            deps.settings.mode.value,
            attempt,
            deps.settings.endpoint_az_hour_usd,
        )
        summary.changes.update(o.result for o in outcomes if o.result != CONFLICT)
        conflicts = [o for o in outcomes if o.result == CONFLICT]
        if attempt == 1:
            summary.findings.update(f.status for f in plan.findings)
        summary.failures += [f"{o.action.kind} in {plan.vpc_id}: {o.error_code}" for o in outcomes if o.result == FAILED]
        if not conflicts:
            return
        stale |= {o.action.client_token for o in conflicts if o.error_code == "IdempotentParameterMismatch"}  # type: ignore[attr-defined]
        snapshot = _remember(deps, read_snapshots(deps.ec2, [plan.vpc_id]))[plan.vpc_id]
        plan = _plan(snapshot, deps, policies, deps.catalog())
    summary.failures += [f"{o.action.kind} in {plan.vpc_id}: still conflicting after {MAX_ATTEMPTS} attempts" for o in conflicts]
