"""The use cases: a CloudTrail call is queued in its VPCs' settle windows (intake); a VPC whose window
closed is reconciled once for every call it holds (settled); the region is swept on a schedule (sweep).
Each reconcile reads current state, so duplicate, late and out-of-order events are harmless.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from vpce_remediator import settle_queue
from vpce_remediator.converge import converge
from vpce_remediator.dependencies import Dependencies, Summary
from vpce_remediator.errors import InvalidEvent, RemediationFailed
from vpce_remediator.events import QueueMessage, parse_api_call, parse_queue_batch
from vpce_remediator.models import ServiceCatalog, VpcSnapshot
from vpce_remediator.plan import Plan, plan_vpc
from vpce_remediator.policy import PolicySet
from vpce_remediator.settle import Call, Fold, Wait, Window, decide, iso, parse_window, retry_after
from vpce_remediator.snapshot import read_details, read_snapshots, vpcs_of
from vpce_remediator.telemetry import EventsNotPublished
from vpce_remediator.triggers import targets
from vpce_remediator.vocabulary import Record, Status, Trigger

SUMMARY = Record.SUMMARY


# --- intake ---------------------------------------------------------------------------------------


def handle_event(event: Any, deps: Dependencies) -> dict[str, Any]:
    """Resolves a CloudTrail call to the VPCs it touches and queues it in each VPC's settle window.
    Bad input is logged and dropped, not retried; a lookup or a send that fails raises, so Lambda
    retries the event and then keeps it."""
    log = deps.logger
    _correlate(log, Trigger.EVENT)
    try:
        call = parse_api_call(event)
        _correlate(log, Trigger.EVENT, call.event_id, call.event_name, call.principal_arn)
        if call.error_code:
            # The rules exclude failed calls; one that slips through changed nothing.
            return _ignored(log, "failed_call", error_code=call.error_code)
        target = targets(call, deps.settings.opt_in_tag_key)
    except InvalidEvent as exc:
        return _invalid(deps, exc)
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
        "settled_after_seconds": round(time.time() - window.opened, 1),
    }
    first = window.calls[0]
    _correlate(deps.logger, Trigger.SETTLED, first.event_id, first.event_name, first.principal_arn)
    try:
        _reconciled(deps, Trigger.SETTLED, [group], covered)
    except Exception:
        # A retry after a backoff, not at once: the message keeps its calls, then goes to the dead-letter queue.
        with contextlib.suppress(Exception):
            backoff = retry_after(settings.settle_seconds, max(m.receive_count for m in messages))
            settle_queue.hide(deps.sqs(), settings.settle_queue_url, handles, backoff)
        raise
    finally:
        _correlate(deps.logger, Trigger.SETTLED)


# --- the sweep ------------------------------------------------------------------------------------


def handle_sweep(event: Any, deps: Dependencies) -> dict[str, Any]:
    """Reconciles every VPC in the region that has opted-in subnets: the net under lost events. The
    scheduled event carries nothing to act on; its id ties the run's records together."""
    _correlate(deps.logger, Trigger.SWEEP, event.get("id") if isinstance(event, Mapping) else None)
    started = time.monotonic()
    try:
        return _reconciled(deps, Trigger.SWEEP, None)
    finally:
        deps.telemetry.sweep_duration((time.monotonic() - started) * 1000)


# --- reconcile ------------------------------------------------------------------------------------


def reconcile(vpc_ids: Sequence[str] | None, deps: Dependencies, context: Mapping[str, Any] | None = None) -> Summary:
    """Reads, plans, applies and logs each VPC (all with opted-in subnets when ``vpc_ids`` is None).
    Raises RemediationFailed after all were tried. ``context`` (the calls a settled reconcile covers)
    goes on its summary and on each change."""
    mode = deps.settings.mode
    policies = deps.policies()  # first: no remediation on a policy document that does not parse
    plans = plan_vpcs(vpc_ids, deps, policies)
    summary = Summary(vpcs=[p.vpc_id for p in plans])
    for plan in plans:
        converge(plan, deps, lambda vpc_id: _replan(vpc_id, deps, policies), summary, context or {})
    published = _tell(deps, summary)
    extra = {"record": SUMMARY, "mode": mode.value, "events_published": published, **(context or {}), **summary.as_dict()}
    deps.logger.info(SUMMARY, extra=extra)
    if summary.failures:
        raise RemediationFailed(summary.failures)
    return summary


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


def _replan(vpc_id: str, deps: Dependencies, policies: PolicySet) -> Plan:
    snapshot = _remember(deps, read_snapshots(deps.ec2, [vpc_id]))[vpc_id]
    return _plan(snapshot, deps, policies, deps.catalog())


def _plan(snapshot: VpcSnapshot, deps: Dependencies, policies: PolicySet, catalog: ServiceCatalog) -> Plan:
    key = deps.settings.opt_in_tag_key
    plan = plan_vpc(snapshot, policies, catalog, key)
    if plan.needs_details:
        plan = plan_vpc(snapshot.with_details(read_details(deps.ec2, snapshot.vpc_id)), policies, catalog, key)
    return plan


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


def _reconciled(
    deps: Dependencies, trigger: Trigger, vpc_ids: Sequence[str] | None, context: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    with _failing(deps, "reconcile failed"):
        return {"status": "ok", **reconcile(vpc_ids, deps, context).as_dict()}


def _correlate(
    log: Any, trigger: Trigger, correlation_id: str | None = None, event_name: str | None = None, principal_arn: str | None = None
) -> None:
    """The one place that says which invocation and call every following record belongs to."""
    log.set_correlation_id(correlation_id)
    log.append_keys(trigger=trigger, event_name=event_name, principal_arn=principal_arn)


@contextlib.contextmanager
def _failing(deps: Dependencies, message: str) -> Iterator[None]:
    """Logs and counts an exception before it propagates, so it is retried and, in the end, kept."""
    try:
        yield
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
