"""The use case: an event (or a list of VPCs) in, every target VPC reconciled, a summary out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vpce_remediator.apply import FAILED, apply_actions
from vpce_remediator.config import Mode, Settings
from vpce_remediator.errors import InvalidEvent, RemediationFailed
from vpce_remediator.events import parse_api_call
from vpce_remediator.models import ServiceCatalog
from vpce_remediator.plan import plan_vpc
from vpce_remediator.policy import PolicySet
from vpce_remediator.report import SUMMARY, log_records
from vpce_remediator.snapshot import read_details, read_snapshots
from vpce_remediator.triggers import target_vpcs


@dataclass
class Dependencies:
    """What a reconcile needs from outside; built once per container by the handler."""

    ec2: Any
    settings: Settings
    policies: PolicySet
    catalog: Callable[[], ServiceCatalog]  # cached by the caller: read once per container
    logger: Any


@dataclass
class Summary:
    vpcs: list[str] = field(default_factory=list)
    findings: Counter = field(default_factory=Counter)
    changes: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"vpcs": self.vpcs, "findings": dict(self.findings), "changes": dict(self.changes), "failures": self.failures}


def handle_event(event: Any, deps: Dependencies) -> dict[str, Any]:
    """Reconciles the VPCs a CloudTrail event names. Bad input is logged and dropped, not retried."""
    log = deps.logger
    try:
        call = parse_api_call(event)
        log.set_correlation_id(call.event_id)
        log.append_keys(event_name=call.event_name, principal_arn=call.principal_arn)
        if call.error_code:
            # The pattern excludes failed calls; one that slips through changed nothing.
            log.info("ignored", extra={"record": SUMMARY, "reason": "failed_call", "error_code": call.error_code})
            return {"status": "ignored", "reason": "failed_call"}
        vpc_ids = target_vpcs(call)
    except InvalidEvent as exc:
        log.error("invalid event", extra={"record": SUMMARY, "error": type(exc).__name__, "reason": str(exc)})
        return {"status": "invalid", "reason": str(exc)}
    try:
        summary = reconcile(vpc_ids, deps)
    except Exception:
        # Raised on purpose so Lambda retries and, after that, parks the event in the failure queue.
        log.exception("reconcile failed", extra={"record": SUMMARY, "vpcs": list(vpc_ids)})
        raise
    return {"status": "ok", **summary.as_dict()}


def reconcile(vpc_ids: Sequence[str], deps: Dependencies) -> Summary:
    """Reads, plans, applies and logs each VPC. Raises RemediationFailed after all were tried."""
    mode = deps.settings.mode
    summary = Summary(vpcs=sorted(vpc_ids))
    snapshots = read_snapshots(deps.ec2, summary.vpcs)
    catalog = deps.catalog()
    for vpc_id in summary.vpcs:
        snapshot = snapshots[vpc_id]
        plan = plan_vpc(snapshot, deps.policies, catalog, deps.settings.opt_in_tag_key)
        if plan.needs_details:
            snapshot = snapshot.with_details(read_details(deps.ec2, vpc_id))
            plan = plan_vpc(snapshot, deps.policies, catalog, deps.settings.opt_in_tag_key)
        outcomes = apply_actions(deps.ec2, plan.actions, dry_run=mode is Mode.REPORT)
        log_records(deps.logger, plan.findings, outcomes, mode.value)
        summary.findings.update(f.status for f in plan.findings)
        summary.changes.update(o.result for o in outcomes)
        summary.failures += [f"{o.action.kind} in {vpc_id}: {o.error_code}" for o in outcomes if o.result == FAILED]
    deps.logger.info(SUMMARY, extra={"record": SUMMARY, "mode": mode.value, **summary.as_dict()})
    if summary.failures:
        raise RemediationFailed(summary.failures)
    return summary
