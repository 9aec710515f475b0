"""The use cases: a CloudTrail event, or a sweep of the region, in; every target VPC reconciled; a summary out.

Every run reads current state, so duplicate, late and out-of-order events are harmless.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from vpce_remediator import settle_queue
from vpce_remediator.apply import CONFLICT, FAILED, apply_actions
from vpce_remediator.config import Mode, Settings
from vpce_remediator.errors import InvalidEvent, RemediationFailed, RemediatorError
from vpce_remediator.events import parse_api_call
from vpce_remediator.models import ServiceCatalog, VpcSnapshot
from vpce_remediator.plan import Plan, plan_vpc
from vpce_remediator.policy import PolicySet
from vpce_remediator.report import SUMMARY, log_records
from vpce_remediator.settle import Call, Fold, Wait, Window, decide, iso, parse_window, retry_after
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
    # SQS client factory for the settle queue (intake and reconciler only).
    sqs: Callable[[], Any] = lambda: None
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
    """Intake: resolves a CloudTrail call to the VPCs it touches and queues it in each VPC's settle
    window; the reconcile follows once the window closes (handle_settled). Bad input is logged and
    dropped, not retried; a lookup or a send that fails raises, so Lambda retries the event."""
    log = deps.logger
    log.append_keys(trigger="event")
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
    deps.vpc_of.update(target.learned)
    with _failing(deps, "intake failed"):
        vpc_ids = target.vpc_ids or _lookup(deps, target.lookup, target.lookup_ids)
        if not vpc_ids:
            # The call named resources that are gone: nothing to read, nothing to do.
            log.info(SUMMARY, extra={"record": SUMMARY, "vpcs": [], "reason": "resources_gone"})
            return {"status": "ok", "vpcs": [], "reason": "resources_gone"}
        pending = Call(call.event_id, call.event_name, call.event_time, call.principal_arn)
        for vpc_id in vpc_ids:
            settle_queue.send(deps.sqs(), deps.settings.settle_queue_url, Window(vpc_id, (pending,)))
    due = iso(pending.event_time + deps.settings.settle_seconds)
    log.info("queued", extra={"record": SUMMARY, "vpcs": list(vpc_ids), "settle_due": due})
    return {"status": "queued", "vpcs": list(vpc_ids), "settle_due": due}


def _lookup(deps: Dependencies, kind: str | None, ids: tuple[str, ...]) -> tuple[str, ...]:
    if not all(i in deps.vpc_of for i in ids):
        assert kind is not None
        deps.vpc_of.update(vpcs_of(deps.ec2, kind, ids))
    return tuple(sorted({deps.vpc_of[i] for i in ids if i in deps.vpc_of}))


def _remember(deps: Dependencies, snapshots: dict[str, VpcSnapshot]) -> dict[str, VpcSnapshot]:
    for vpc_id, snapshot in snapshots.items():
        for resource in (*snapshot.subnets, *snapshot.route_tables, *snapshot.endpoints):
            deps.vpc_of[resource.id] = vpc_id
    return snapshots


class _Settling(Exception):
    """Not an error: the window is still open, so its message goes back to the queue until it is due."""


def handle_settled(event: Any, deps: Dependencies) -> dict[str, Any]:
    """The settle queue's batch: each VPC's messages together, in order. A VPC whose window is due is
    reconciled once for every call it carries; one still open waits (its message hidden until due).
    Returns SQS's partial batch response, so one VPC's failure neither redoes nor loses another's."""
    from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response

    log = deps.logger
    log.append_keys(trigger="settled")
    try:
        records = _sqs_records(event)
    except InvalidEvent as exc:
        # Nothing to report failed (no message ids to name): a direct invoke, not the queue mapping.
        log.error("invalid event", extra={"record": SUMMARY, "error": type(exc).__name__, "reason": str(exc)})
        _count_error(deps, exc)
        return {"status": "invalid", "reason": str(exc), "batchItemFailures": []}
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        groups[record["attributes"]["MessageGroupId"]].append(record)
    done: set[str] = set()

    def each(record: Any) -> None:
        group = str(record.attributes.message_group_id)
        if group not in done:
            done.add(group)
            _settle(group, groups[group], deps)

    # Skip the rest of a VPC's group once one of its messages fails or waits (FIFO order), and
    # report a batch in which every VPC waits as such, not as a failed invocation.
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    processor.raise_on_entire_batch_failure = False
    return process_partial_response(event, each, processor)


def _sqs_records(event: Any) -> list[Mapping[str, Any]]:
    """The records of an SQS batch event, each with the fields a partial batch response needs."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not records:
        raise InvalidEvent("not an SQS batch: no list of Records")
    for record in records:
        if not isinstance(record, Mapping) or record.get("eventSource") != "aws:sqs":
            raise InvalidEvent("a record is not an SQS message")
        attributes = record.get("attributes")
        if not all(isinstance(record.get(k), str) and record.get(k) for k in ("messageId", "receiptHandle")):
            raise InvalidEvent("an SQS record lacks its messageId or receiptHandle")
        if not isinstance(record.get("body"), str):
            raise InvalidEvent("an SQS record's body is not text")
        if not isinstance(attributes, Mapping) or not isinstance(attributes.get("MessageGroupId"), str):
            raise InvalidEvent("an SQS record has no MessageGroupId: not from the settle queue")
    return records


def _settle(group: str, records: list[Mapping[str, Any]], deps: Dependencies) -> None:
    log, settings = deps.logger, deps.settings
    windows = []
    for record in records:
        try:
            windows.append(parse_window(record.get("body"), group))
        except InvalidEvent as exc:
            # Consumed, not retried: it would only block the VPC's group until it reached the dead-letter queue.
            log.error("invalid event", extra={"record": SUMMARY, "error": type(exc).__name__, "reason": str(exc)})
            _count_error(deps, exc)
    if not windows:
        return
    handles = [str(r.get("receiptHandle")) for r in records]
    decision = decide(windows, time.time(), settings.settle_seconds)
    if isinstance(decision, Wait):
        settle_queue.hide(deps.sqs(), settings.settle_queue_url, handles, decision.seconds)
        log.debug("settling", extra={"record": SUMMARY, "vpcs": [group], "settle_due": iso(time.time() + decision.seconds)})
        raise _Settling(group)
    if isinstance(decision, Fold):
        settle_queue.send(deps.sqs(), settings.settle_queue_url, decision.window)
        log.debug(
            "settling",
            extra={"record": SUMMARY, "vpcs": [group], "settle_due": iso(decision.window.due(settings.settle_seconds))},
        )
        return
    window = decision.window
    # Every record names the window's first call; the summary and each change name every call it covers.
    covered = {
        "event_ids": window.event_ids,
        "event_names": window.event_names,
        "principal_arns": window.principal_arns,
        **({"calls_not_named": window.more} if window.more else {}),
        "settled_after_seconds": round(time.time() - window.opened, 1),
    }
    first = window.calls[0]
    log.set_correlation_id(first.event_id)
    log.append_keys(event_name=first.event_name, principal_arn=first.principal_arn)
    try:
        _run(deps, "settled", lambda: [group], covered)
    except Exception:
        counts = [str(r["attributes"].get("ApproximateReceiveCount", "1")) for r in records]
        received = max(int(c) if c.isdigit() else 1 for c in counts)
        with contextlib.suppress(Exception):
            # A retry after a backoff, not at once: the message keeps its calls, then goes to the dead-letter queue.
            settle_queue.hide(deps.sqs(), settings.settle_queue_url, handles, retry_after(settings.settle_seconds, received))
        raise
    finally:
        log.remove_keys(["event_name", "principal_arn"])
        log.set_correlation_id(None)


@contextlib.contextmanager
def _failing(deps: Dependencies, message: str) -> Iterator[None]:
    """Logs and counts an exception before it propagates, so Lambda retries and the event is kept."""
    try:
        yield
    except Exception as exc:
        deps.logger.exception(message, extra={"record": SUMMARY})
        _count_error(deps, exc)
        raise


def handle_sweep(deps: Dependencies) -> dict[str, Any]:
    """Reconciles every VPC in the region that has opted-in subnets: the net under lost events."""
    return _run(deps, "sweep", lambda: None)


def _ignored(log: Any, reason: str, **extra: Any) -> dict[str, Any]:
    log.info("ignored", extra={"record": SUMMARY, "reason": reason, **extra})
    return {"status": "ignored", "reason": reason}


def _run(
    deps: Dependencies, trigger: str, vpc_ids: Callable[[], Sequence[str] | None], context: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    deps.logger.append_keys(trigger=trigger)
    started = time.monotonic()
    try:
        summary = reconcile(vpc_ids(), deps, context)
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


def reconcile(vpc_ids: Sequence[str] | None, deps: Dependencies, context: Mapping[str, Any] | None = None) -> Summary:
    """Reads, plans, applies and logs each VPC. Raises RemediationFailed after all were tried.
    ``context`` goes with each change event: the calls a settled reconcile covers."""
    mode = deps.settings.mode
    if vpc_ids is not None and not vpc_ids:
        # The event named resources that are gone: nothing to read, nothing to do.
        deps.logger.info(SUMMARY, extra={"record": SUMMARY, "mode": mode.value, "vpcs": [], "reason": "resources_gone"})
        return Summary()
    policies = deps.policies()  # first: no remediation on a policy document that does not parse
    plans = plan_vpcs(vpc_ids, deps, policies)
    summary = Summary(vpcs=[p.vpc_id for p in plans])
    for plan in plans:
        _converge(plan, deps, policies, summary, context or {})
    published = _tell(deps, summary, {})
    extra = {"record": SUMMARY, "mode": mode.value, "events_published": published, **(context or {}), **summary.as_dict()}
    deps.logger.info(SUMMARY, extra=extra)
    if summary.failures:
        raise RemediationFailed(summary.failures)
    return summary


def _tell(deps: Dependencies, summary: Summary, context: Mapping[str, Any]) -> int:
    """Metrics and change events. A change is made whether or not its event goes out: a failure to
    publish is logged and counted, and does not fail the run (a retry would find nothing to change)."""
    if deps.metrics:
        emit_run_metrics(summary.records, summary.findings["noncompliant"])
    if deps.events is None:
        return 0
    try:
        return publish_changes(deps.events, summary.records, {"mode": deps.settings.mode.value, **context})
    except (EventsNotPublished, ClientError) as exc:
        deps.logger.error("events not published", extra={"record": SUMMARY, "error": type(exc).__name__, "reason": str(exc)})
        if deps.metrics:
            emit_metric("Errors", 1, "EventsNotPublished")
        return 0


def _converge(plan: Plan, deps: Dependencies, policies: PolicySet, summary: Summary, context: Mapping[str, Any]) -> None:
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
            context,
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
