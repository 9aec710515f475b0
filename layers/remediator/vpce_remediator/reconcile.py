"""The use cases: a CloudTrail call is queued in its VPCs' settle windows (intake); a VPC whose window
closed is reconciled once for every call it holds (settled); the region is swept on a schedule (sweep);
AWS Config's rule evaluates subnets with the same plan, and changes nothing (config rule).
Each reconcile reads current state, so duplicate, late and out-of-order events are harmless.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from vpce_remediator import evaluations, settle_queue
from vpce_remediator.compliance import Evaluation, evaluate, gone, to_put, verdict
from vpce_remediator.config import Prune
from vpce_remediator.converge import converge
from vpce_remediator.dependencies import Dependencies, Scope, Summary
from vpce_remediator.errors import (
    ImpersonatedOwnCall,
    InvalidEvent,
    RemediationFailed,
    ServiceNotInRegion,
    UntrustedSecurityGroup,
)
from vpce_remediator.events import QueueMessage, parse_api_call, parse_queue_batch
from vpce_remediator.models import ServiceCatalog, VpcSnapshot
from vpce_remediator.plan import Plan, plan_vpc
from vpce_remediator.policy import PolicySet
from vpce_remediator.rule_events import RuleInvocation, parse_rule_invocation
from vpce_remediator.settle import Call, Fold, Wait, Window, decide, iso, parse_window, recheck, retry_after
from vpce_remediator.snapshot import endpoints_serving_nothing, read_details, read_snapshots, read_zones, vpcs_of
from vpce_remediator.telemetry import EventsNotPublished
from vpce_remediator.triggers import SUBNET, targets
from vpce_remediator.vocabulary import Compliance, Reason, Record, Status, Trigger

SUMMARY = Record.SUMMARY
# The Config rule judges what is missing, not how it would be made: it never reads what only a create needs.
VERDICTS_ONLY = Scope(findings_only=True)


# --- intake ---------------------------------------------------------------------------------------


def handle_event(event: Any, deps: Dependencies) -> dict[str, Any]:
    """Resolves a CloudTrail call to the VPCs it touches and queues it in each VPC's settle window (and,
    for a delete EC2 refused, in its prompt window too). Bad input is logged and dropped, not retried;
    a lookup or a send that fails raises, so Lambda retries the event and then keeps it."""
    log = deps.logger
    _correlate(log, Trigger.EVENT)
    try:
        call = parse_api_call(event)
        _correlate(log, Trigger.EVENT, call.event_id, call.event_name, call.principal_arn)
        target = targets(call, deps.settings.opt_in_tag_key, deps.settings.own_role_arns)
    except InvalidEvent as exc:
        return _invalid(deps, exc)
    if target.ignored:
        return _ignored(log, target.ignored, **({"error_code": call.error_code} if call.error_code else {}))
    if target.claims_own:
        # Anyone can set a user agent: the call is reconciled like any other, and someone should look.
        suspicious = ImpersonatedOwnCall(f"{call.principal_arn} sent {call.event_name} with the remediator's user agent")
        log.warning(
            "impersonated own call", extra={"record": SUMMARY, "error": type(suspicious).__name__, "reason": str(suspicious)}
        )
        deps.telemetry.error(suspicious)
    deps.vpc_of.update(target.learned)
    prune, prompt_only = deps.settings.prune is Prune.OWN, False
    with _failing(deps, "intake failed"):
        vpc_ids = target.vpc_ids or _lookup(deps, target.lookup, target.lookup_ids, describe=not target.deletes)
        if not vpc_ids and target.deletes and prune:
            # Deleted, and not remembered: only where one of the remediator's endpoints serves nothing
            # any more is there something to release (at once; the sweep covers the rest).
            vpc_ids, prompt_only = endpoints_serving_nothing(deps.ec2), True
        if not vpc_ids:
            # The call named resources that are gone: nothing to read, nothing to do.
            log.info(SUMMARY, extra={"record": SUMMARY, "vpcs": [], "reason": "resources_gone"})
            return {"status": "ok", "vpcs": [], "reason": "resources_gone"}
        deps.vpc_of.update(dict.fromkeys(target.remembered, vpc_ids[0]))
        pending = Call(call.event_id, call.event_name, call.event_time, call.principal_arn, target.refused)
        # A refused delete goes to the prompt window as well (with Prune=off there is nothing to release).
        lanes = (True,) if prompt_only else (False, True) if target.refused and prune else (False,)
        for vpc_id in vpc_ids:
            for prompt in lanes:
                settle_queue.send(deps.sqs(), deps.settings.settle_queue_url, Window(vpc_id, (pending,), prompt=prompt))
    due = iso(pending.event_time + (0 if prompt_only else deps.settings.settle_seconds))
    extra = {"refused": target.refused} if target.refused else {}
    log.info("queued", extra={"record": SUMMARY, "vpcs": list(vpc_ids), "settle_due": due, "prompt": True in lanes, **extra})
    return {"status": "queued", "vpcs": list(vpc_ids), "settle_due": due, "prompt": True in lanes}


def _lookup(deps: Dependencies, kind: str | None, ids: tuple[str, ...], describe: bool = True) -> tuple[str, ...]:
    if describe and not all(i in deps.vpc_of for i in ids):
        assert kind is not None
        deps.vpc_of.update(vpcs_of(deps.ec2, kind, ids))
    return tuple(sorted({deps.vpc_of[i] for i in ids if i in deps.vpc_of}))


# --- settled windows ------------------------------------------------------------------------------


class _Settling(Exception):
    """Not an error: the window is still open, so its message goes back to the queue until it is due."""


def handle_settled(event: Any, deps: Dependencies) -> dict[str, Any]:
    """The settle queue's batch: each VPC's messages together, in order. A VPC whose window is due is
    reconciled once for every call it carries; one still open waits (its message hidden until due).
    Returns SQS's partial batch response, so one VPC's failure neither redoes nor loses another's."""
    from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response

    _correlate(deps.logger, Trigger.SETTLED)
    try:
        messages = parse_queue_batch(event)
    except InvalidEvent as exc:
        # Nothing to report failed (no message ids to name): a direct invoke, not the queue mapping.
        return {**_invalid(deps, exc), "batchItemFailures": []}
    groups: dict[str, list[QueueMessage]] = defaultdict(list)
    for message in messages:
        groups[message.group].append(message)
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
    return dict(process_partial_response(event, each, processor))


def _settle(group: str, messages: list[QueueMessage], deps: Dependencies) -> None:
    settings = deps.settings
    windows = []
    for message in messages:
        try:
            windows.append(parse_window(message.body, group))
        except InvalidEvent as exc:
            # Consumed, not retried: it would only block the VPC's group until it reached the dead-letter queue.
            _invalid(deps, exc)
    if not windows:
        return
    handles = [m.receipt_handle for m in messages]
    decision = decide(windows, time.time(), settings.settle_seconds)
    if isinstance(decision, Wait):
        settle_queue.hide(deps.sqs(), settings.settle_queue_url, handles, decision.seconds)
        deps.logger.debug(
            "settling", extra={"record": SUMMARY, "vpcs": [group], "settle_due": iso(time.time() + decision.seconds)}
        )
        raise _Settling(group)
    if isinstance(decision, Fold):
        settle_queue.send(deps.sqs(), settings.settle_queue_url, decision.window)
        due = iso(decision.window.due(settings.settle_seconds))
        deps.logger.debug("settling", extra={"record": SUMMARY, "vpcs": [group], "settle_due": due})
        return
    window = decision.window
    # Every record names the window's first call; the summary and each change name every call it covers.
    covered = {
        "event_ids": window.event_ids,
        "event_names": window.event_names,
        "principal_arns": window.principal_arns,
        **({"calls_not_named": window.more} if window.more else {}),
        **({"prompt": True, "rechecks": window.rechecks} if window.prompt else {}),
        "settled_after_seconds": round(time.time() - window.opened, 1),
    }
    first = window.calls[0]
    _correlate(deps.logger, Trigger.SETTLED, first.event_id, first.event_name, first.principal_arn)
    find_group = window.vpc_refused or window.rechecks > 0
    scope = Scope(window.leaving(settings.teardown_grace_seconds), releases_only=window.prompt, find_group=find_group)
    try:
        with _failing(deps, "reconcile failed"):
            summary = reconcile([window.vpc_id], deps, covered, scope)
    except Exception:
        # A retry after a backoff, not at once: the message keeps its calls, then goes to the dead-letter queue.
        with contextlib.suppress(Exception):
            backoff = retry_after(settings.settle_seconds, max(m.receive_count for m in messages))
            settle_queue.hide(deps.sqs(), settings.settle_queue_url, handles, backoff)
        raise
    finally:
        _correlate(deps.logger, Trigger.SETTLED)
    if summary.awaiting:
        again = recheck(window, time.time(), settings.release_recheck_seconds)
        if again is not None:
            settle_queue.send(deps.sqs(), settings.settle_queue_url, again)


# --- the sweep ------------------------------------------------------------------------------------


def handle_sweep(event: Any, deps: Dependencies) -> dict[str, Any]:
    """Reconciles every VPC in the region that has opted-in subnets: the net under lost events. The
    scheduled event carries nothing to act on; its id ties the run's records together."""
    _correlate(deps.logger, Trigger.SWEEP, event.get("id") if isinstance(event, Mapping) else None)
    started = time.monotonic()
    try:
        return _reconciled(deps, None)
    finally:
        deps.telemetry.sweep_duration((time.monotonic() - started) * 1000)


# --- the Config rule ------------------------------------------------------------------------------


def handle_config_rule(event: Any, deps: Dependencies) -> dict[str, Any]:
    """AWS Config invoking the rule. A subnet's configuration changed: its VPC is read and planned, and the
    subnet evaluated. The periodic run: the region is read and planned like a sweep, and every subnet whose
    verdict differs from the one the rule last reported is put (one it reported that is gone now, as
    NOT_APPLICABLE). It plans and never applies: nothing is written to EC2. Bad input is logged and
    dropped; a read or a put that fails raises, so Lambda retries the invocation."""
    log = deps.logger
    _correlate(log, Trigger.CONFIG_RULE)
    try:
        invocation = parse_rule_invocation(event)
        with _failing(deps, "evaluation failed"):
            if invocation.periodic:
                plans = plan_vpcs(None, deps, deps.policies(), VERDICTS_ONLY, every_vpc=True)
                current = evaluate(plans)
                puts = to_put(current, evaluations.reported(deps.config(), invocation.rule_name))
            else:
                plans, puts = _evaluate_subnet(invocation, deps)
                current = {e.subnet_id: e for e in puts}
            evaluations.put(deps.config(), invocation.result_token, puts, invocation.ordering_time)
    except InvalidEvent as exc:
        # Not Config's (a rule or token it does not know), or not an invocation at all: a retry cannot help.
        return _invalid(deps, exc)
    for e in puts:
        _log_evaluation(log, e)
    counts = dict(Counter(e.compliance.value for e in puts))
    vpcs = sorted({p.vpc_id for p in plans})
    extra = {"message_type": invocation.message_type, "config_rule_name": invocation.rule_name, "evaluations": counts}
    log.info(SUMMARY, extra={"record": SUMMARY, "vpcs": vpcs, "subnets_evaluated": len(current), **extra})
    return {"status": "ok", "vpcs": vpcs, "subnets_evaluated": len(current), "evaluations": counts}


def _evaluate_subnet(invocation: RuleInvocation, deps: Dependencies) -> tuple[list[Plan], list[Evaluation]]:
    """The subnet of a change, planned with its VPC; gone or out of scope, NOT_APPLICABLE unread."""
    assert invocation.subnet_id is not None
    subnet_id = invocation.subnet_id
    if not invocation.evaluable:
        why = Reason.OUT_OF_SCOPE if invocation.left_scope else Reason.SUBNET_GONE
        return [], [dataclasses.replace(gone(subnet_id, why), vpc_id=invocation.vpc_id)]
    policies = deps.policies()  # first: nothing is evaluated on a policy document that does not parse
    # An oversized item's summary names no VPC: one lookup (a subnet never moves to another VPC).
    vpc_ids = (invocation.vpc_id,) if invocation.vpc_id else _lookup(deps, SUBNET, (subnet_id,))
    plans = plan_vpcs(vpc_ids, deps, policies, VERDICTS_ONLY) if vpc_ids else []
    found = verdict(subnet_id, [f for plan in plans for f in plan.findings if f.subnet_id == subnet_id])
    return plans, [dataclasses.replace(found, vpc_id=found.vpc_id or next(iter(vpc_ids), None))]


def _log_evaluation(log: Any, e: Evaluation) -> None:
    # Like decisions: what needs no one's attention is DEBUG.
    level = log.info if e.compliance is Compliance.NON_COMPLIANT else log.debug
    extra = {"subnet_id": e.subnet_id, "vpc_id": e.vpc_id, "compliance": e.compliance.value, "annotation": e.annotation or None}
    level(Record.EVALUATION, extra={"record": Record.EVALUATION, **extra})


# --- reconcile ------------------------------------------------------------------------------------


def reconcile(
    vpc_ids: Sequence[str] | None, deps: Dependencies, context: Mapping[str, Any] | None = None, scope: Scope | None = None
) -> Summary:
    """Reads, plans, applies and logs each VPC (all with opted-in subnets or the remediator's endpoints
    when ``vpc_ids`` is None). Raises RemediationFailed after all were tried. ``context`` (the calls a
    settled reconcile covers) goes on its summary and on each change; ``scope`` is what those calls ask."""
    mode = deps.settings.mode
    scope = scope or Scope()
    policies = deps.policies()  # first: no remediation on a policy document that does not parse
    plans = plan_vpcs(vpc_ids, deps, policies, scope)
    summary = Summary(vpcs=[p.vpc_id for p in plans])
    for plan in plans:
        _count_what_needs_a_human(deps, plan)
        converge(plan, deps, lambda vpc_id: _replan(vpc_id, deps, policies, scope), summary, context or {})
    published = _tell(deps, summary)
    extra = {"record": SUMMARY, "mode": mode.value, "events_published": published, **(context or {}), **summary.as_dict()}
    deps.logger.info(SUMMARY, extra=extra)
    if summary.failures:
        raise RemediationFailed(summary.failures)
    return summary


def plan_vpcs(
    vpc_ids: Sequence[str] | None,
    deps: Dependencies,
    policies: PolicySet,
    scope: Scope | None = None,
    every_vpc: bool = False,
) -> list[Plan]:
    """Plans for the given VPCs, or for every VPC with opted-in subnets (or, with Prune=own, with
    endpoints of the remediator's) when ``vpc_ids`` is None; ``every_vpc``: every VPC with subnets."""
    key = deps.settings.opt_in_tag_key
    snapshots = _remember(deps, read_snapshots(deps.ec2, vpc_ids))
    if vpc_ids is None and not every_vpc:
        prune = deps.settings.prune is Prune.OWN
        snapshots = {
            v: s
            for v, s in snapshots.items()
            if any(key in subnet.tags for subnet in s.subnets) or (prune and any(e.managed and e.live for e in s.endpoints))
        }
    if not snapshots:
        return []
    catalog = deps.catalog()
    return [_plan(snapshots[vpc_id], deps, policies, catalog, scope or Scope()) for vpc_id in sorted(snapshots)]


def _replan(vpc_id: str, deps: Dependencies, policies: PolicySet, scope: Scope) -> Plan:
    snapshot = _remember(deps, read_snapshots(deps.ec2, [vpc_id]))[vpc_id]
    return _plan(snapshot, deps, policies, deps.catalog(), scope)


def _plan(snapshot: VpcSnapshot, deps: Dependencies, policies: PolicySet, catalog: ServiceCatalog, scope: Scope) -> Plan:
    settings = deps.settings
    prune = settings.prune is Prune.OWN
    if prune and scope.find_group and snapshot.details is None and snapshot.route_tables:
        # (A VPC without even its main route table is gone: nothing to find.)
        snapshot = snapshot.with_details(read_details(deps.ec2, snapshot.vpc_id))

    def plan(snapshot: VpcSnapshot) -> Plan:
        return plan_vpc(
            snapshot,
            policies,
            catalog,
            settings.opt_in_tag_key,
            prune=prune,
            now=time.time(),
            newly_leaving=scope.leaving,
            releases_only=scope.releases_only,
            findings_only=scope.findings_only,
        )

    result = plan(snapshot)
    if result.needs_zones:
        snapshot = snapshot.with_zones(read_zones(deps.route53(), snapshot.vpc_id, deps.ec2.meta.region_name))
        result = plan(snapshot)
    if result.needs_details:
        result = plan(snapshot.with_details(read_details(deps.ec2, snapshot.vpc_id)))
    return result


def _count_what_needs_a_human(deps: Dependencies, plan: Plan) -> None:
    """Skips that only a person can fix, counted in the Errors metric so its alarm fires: a planted or
    foreign group of the remediator's name, a required service the Region does not offer."""
    reasons = {f.reason for f in plan.findings}
    if reasons & {Reason.GROUP_NAME_TAKEN, Reason.GROUP_UNTRUSTED}:
        deps.telemetry.error(UntrustedSecurityGroup(plan.vpc_id))
    for service in sorted({str(f.service) for f in plan.findings if f.reason == Reason.SERVICE_UNAVAILABLE}):
        deps.telemetry.error(ServiceNotInRegion(service))


def _remember(deps: Dependencies, snapshots: dict[str, VpcSnapshot]) -> dict[str, VpcSnapshot]:
    for vpc_id, snapshot in snapshots.items():
        for ids in (snapshot.subnets, snapshot.route_tables, snapshot.endpoints):
            deps.vpc_of.update(dict.fromkeys((r.id for r in ids), vpc_id))
    return snapshots


def _tell(deps: Dependencies, summary: Summary) -> int:
    """Metrics and change events. A change is made whether or not its event goes out: a failure to
    publish is logged and counted, and does not fail the run (a retry would find nothing to change)."""
    deps.telemetry.run(summary.records, summary.findings[Status.NONCOMPLIANT])
    try:
        return deps.telemetry.publish(summary.records, {"mode": deps.settings.mode.value})
    except (EventsNotPublished, ClientError) as exc:
        deps.logger.error("events not published", extra={"record": SUMMARY, "error": type(exc).__name__, "reason": str(exc)})
        deps.telemetry.error(exc if isinstance(exc, EventsNotPublished) else EventsNotPublished(1, 1))
        return 0


# --- shared by the use cases ----------------------------------------------------------------------


def _reconciled(deps: Dependencies, vpc_ids: Sequence[str] | None) -> dict[str, Any]:
    with _failing(deps, "reconcile failed"):
        return {"status": "ok", **reconcile(vpc_ids, deps).as_dict()}


def _correlate(
    log: Any, trigger: Trigger, correlation_id: str | None = None, event_name: str | None = None, principal_arn: str | None = None
) -> None:
    """The one place that says which invocation and call every following record belongs to."""
    log.set_correlation_id(correlation_id)
    log.append_keys(trigger=trigger, event_name=event_name, principal_arn=principal_arn)


@contextlib.contextmanager
def _failing(deps: Dependencies, message: str) -> Iterator[None]:
    """Logs and counts an exception before it propagates, so it is retried and, in the end, kept. An
    InvalidEvent passes unlogged: the caller logs it, once, as what a retry cannot fix."""
    try:
        yield
    except InvalidEvent:
        raise
    except Exception as exc:
        deps.logger.exception(message, extra={"record": SUMMARY})
        deps.telemetry.error(exc)
        raise


def _invalid(deps: Dependencies, exc: InvalidEvent) -> dict[str, Any]:
    deps.logger.error("invalid event", extra={"record": SUMMARY, "error": type(exc).__name__, "reason": str(exc)})
    deps.telemetry.error(exc)
    return {"status": "invalid", "reason": str(exc)}


def _ignored(log: Any, reason: str, **extra: Any) -> dict[str, Any]:
    log.info("ignored", extra={"record": SUMMARY, "reason": reason, **extra})
    return {"status": "ignored", "reason": reason}
