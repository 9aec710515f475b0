"""Replays what the failed-events queue or the settle dead-letter queue holds: each original event is
invoked again, asynchronously, on the function it was meant for, and each parked settle window is sent
back to the settle queue; a message is deleted only once Lambda (or SQS) accepted it.

    .venv/bin/python scripts/redrive.py --queue-url URL [--function-name NAME] [--region R]
                                        [--profile P] [--dry-run] [--max N]

FailedEventsQueue (template.yaml) receives two kinds of message, SettleDeadLetterQueue a third:

* EventBridge dead-letter messages: the body is the original event; EventBridge adds the message
  attributes RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE (and retry details). The function is
  the TARGET_ARN, or --function-name when that does not name a Lambda function.
* Lambda on-failure destination records: the body is {"version", "timestamp", "requestContext":
  {"requestId", "functionArn", "condition", "approximateInvokeCount"}, "requestPayload",
  "responseContext", "responsePayload"}. The event is requestPayload, the function is
  requestContext.functionArn without its qualifier (so the replay runs the deployed code), or
  --function-name.
* Settle windows whose reconcile failed every retry (SettleDeadLetterQueue, FIFO): the body is the window
  ({"version": 1, "vpc_id", "calls": [{"event_id", "event_name", "event_time", "principal_arn"}]}), its
  MessageGroupId the VPC (a prompt window: `<vpc id>:prompt`). It is sent back to the queue it came from
  (SQS's ListDeadLetterSourceQueues: the settle queue) in its VPC's message group, where the reconciler
  picks it up like any other window: its calls are long settled, so the VPC is reconciled at once.

A message that cannot be replayed (unknown shape, no function to send it to) or whose invoke is
refused stays in the queue, visible again at the end of the run. --dry-run invokes and deletes
nothing; it only receives the messages to print them, then makes them visible again at once.

Exit status: 0 when every message read was replayed (or, with --dry-run, could be), 1 when any
stays in the queue, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

EVENTBRIDGE_DLQ = "eventbridge-dlq"
LAMBDA_DESTINATION = "lambda-destination"
SETTLE_WINDOW = "settle-window"
# arn:partition:lambda:region:account:function:name[:qualifier]
_FUNCTION_ARN = re.compile(r"^(arn:[^:]+:lambda:[^:]+:\d{12}:function:[^:]+)(?::[^:]+)?$")
# https://sqs.<region>.amazonaws.com[.cn]/<account>/<name>, or the legacy https://<region>.queue.amazonaws.com/...
_QUEUE_URL_REGION = re.compile(r"^https://(?:sqs\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws\.com")
# The attributes EventBridge sets on a dead-letter message.
_EVENTBRIDGE_ATTRIBUTES = ("RULE_ARN", "TARGET_ARN", "ERROR_CODE", "ERROR_MESSAGE")


class Unreplayable(Exception):
    """The message cannot be replayed as it is; it stays in the queue."""


@dataclass(frozen=True)
class Replay:
    """One message, understood: what to invoke with what."""

    kind: str
    function: str  # the function to invoke; for a settle window, the VPC (its message group)
    payload: bytes
    cause: str

    def describe(self) -> str:
        if self.kind == SETTLE_WINDOW:
            return f"settle queue <- window of {self.function} [{self.kind}: {self.cause}]"
        return f"{self.function} <- {event_label(self.payload)} [{self.kind}: {self.cause}]"


@dataclass
class Result:
    replayed: list[str] = field(default_factory=list)  # message ids invoked (or that would be) and deleted
    kept: list[str] = field(default_factory=list)  # message ids left in the queue

    @property
    def ok(self) -> bool:
        return not self.kept


def unqualified(function_arn: str) -> str | None:
    """The function ARN without a version or alias qualifier; None if it is no Lambda function ARN."""
    match = _FUNCTION_ARN.match(function_arn)
    return match.group(1) if match else None


def region_of(queue_url: str) -> str | None:
    """The region an SQS queue URL names, if it names one."""
    match = _QUEUE_URL_REGION.match(queue_url)
    return (match.group(1) or match.group(2)) if match else None


def event_label(payload: bytes) -> str:
    """A short, greppable name for an event: its id and, for CloudTrail, the call and its eventID."""
    try:
        event = json.loads(payload)
    except ValueError:
        return "<payload is not JSON>"
    if not isinstance(event, Mapping):
        return "<payload is not an object>"
    parts = [f"event {event.get('id', '?')}", str(event.get("detail-type", "?"))]
    detail = event.get("detail")
    if isinstance(detail, Mapping) and "eventID" in detail:
        parts.append(f"{detail.get('eventName', '?')} eventID={detail['eventID']}")
    return " ".join(parts)


def _attribute(message: Mapping[str, Any], name: str) -> str | None:
    value = message.get("MessageAttributes", {}).get(name, {})
    return value.get("StringValue")


def understand(message: Mapping[str, Any], function_name: str | None = None) -> Replay:
    """What replaying one received SQS message means; raises Unreplayable if it cannot be done."""
    body = message.get("Body", "")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise Unreplayable(f"body is not JSON ({exc})") from None
    if not isinstance(document, Mapping):
        raise Unreplayable("body is not a JSON object")

    group = message.get("Attributes", {}).get("MessageGroupId")
    if group is not None or ("vpc_id" in document and "calls" in document):
        return _settle_window(document, body, group)
    from_eventbridge = any(name in message.get("MessageAttributes", {}) for name in _EVENTBRIDGE_ATTRIBUTES)
    if not from_eventbridge and isinstance(document.get("requestContext"), Mapping):
        return _destination_record(document, function_name)
    if from_eventbridge or ("detail-type" in document and "source" in document):
        return _dead_letter(message, body, function_name)
    raise Unreplayable("neither an EventBridge dead-letter message nor a Lambda destination record")


def _destination_record(record: Mapping[str, Any], function_name: str | None) -> Replay:
    context = record["requestContext"]
    if "requestPayload" not in record:
        raise Unreplayable("destination record has no requestPayload")
    recorded = str(context.get("functionArn", ""))
    function = function_name or unqualified(recorded)
    if not function:
        raise Unreplayable(f"requestContext.functionArn {recorded!r} is no function ARN; pass --function-name")
    cause = f"{context.get('condition', '?')} after {context.get('approximateInvokeCount', '?')} attempts"
    response = record.get("responsePayload")
    if isinstance(response, Mapping) and ("errorType" in response or "errorMessage" in response):
        cause += f": {response.get('errorType', 'error')}: {response.get('errorMessage', '')}"
    payload = json.dumps(record["requestPayload"], separators=(",", ":")).encode()
    return Replay(LAMBDA_DESTINATION, function, payload, cause)


def _settle_window(document: Mapping[str, Any], body: str, group: str | None) -> Replay:
    calls = document.get("calls")
    if document.get("version") != 1 or not isinstance(calls, list) or not calls:
        raise Unreplayable("a settle queue message that is no version 1 window")
    # A prompt window (a refused delete, a recheck) lives in the VPC's second group, "<vpc id>:prompt".
    expected = f"{document.get('vpc_id')}{':prompt' if document.get('prompt') is True else ''}"
    if not isinstance(group, str) or group != expected:
        raise Unreplayable(f"message group {group!r} is not the window's VPC {expected!r}")
    ids = [c.get("event_id", "?") for c in calls if isinstance(c, Mapping)]
    cause = f"{len(ids)} call(s): {', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''}"
    return Replay(SETTLE_WINDOW, group, body.encode(), cause)


def _dead_letter(message: Mapping[str, Any], body: str, function_name: str | None) -> Replay:
    target = _attribute(message, "TARGET_ARN") or ""
    function = function_name or unqualified(target)
    if not function:
        named = f"TARGET_ARN {target!r} is no Lambda function" if target else "no TARGET_ARN attribute"
        raise Unreplayable(f"{named}; pass --function-name")
    cause = _attribute(message, "ERROR_CODE") or "?"
    if text := _attribute(message, "ERROR_MESSAGE"):
        cause += f": {text}"
    if retries := _attribute(message, "RETRY_ATTEMPTS"):
        cause += f" (after {retries} retries)"
    return Replay(EVENTBRIDGE_DLQ, function, body.encode(), cause)


def redrive(
    sqs: Any,
    lambda_client: Any,
    queue_url: str,
    *,
    function_name: str | None = None,
    dry_run: bool = False,
    max_messages: int | None = None,
    wait_seconds: int = 2,
    visibility_timeout: int = 300,
    out: Callable[[str], None] = print,
) -> Result:
    """Replays up to ``max_messages`` messages (all when None). Clients are passed in so that tests
    can use moto for SQS and a Stubber for Lambda."""
    result = Result()
    hidden: dict[str, str] = {}  # message id -> receipt handle, for messages to make visible again
    sources: list[str] = []  # the queue a parked settle window came from, looked up once
    would = "[dry-run] would " if dry_run else ""
    while max_messages is None or len(result.replayed) + len(result.kept) < max_messages:
        wanted = 10 if max_messages is None else min(10, max_messages - len(result.replayed) - len(result.kept))
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=wanted,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_timeout,
            MessageAttributeNames=["All"],
            AttributeNames=["MessageGroupId"],
        ).get("Messages", [])
        handled = {*result.replayed, *result.kept}
        new = [m for m in messages if m["MessageId"] not in handled]
        for again in (m for m in messages if m["MessageId"] in handled):
            # Kept earlier and visible again (a run longer than the visibility timeout): not retried in
            # this run, only released again at the end with its newest receipt handle.
            hidden[again["MessageId"]] = again["ReceiptHandle"]
        if not new:
            break
        for message in new:
            message_id = message["MessageId"]
            try:
                replay = understand(message, function_name)
            except Unreplayable as exc:
                out(f"keep   {message_id}: {exc}")
                result.kept.append(message_id)
                hidden[message_id] = message["ReceiptHandle"]
                continue
            verb = "re-queue" if replay.kind == SETTLE_WINDOW else "invoke"
            out(f"{would}{verb} {replay.describe()} (message {message_id})")
            if dry_run:
                result.replayed.append(message_id)
                hidden[message_id] = message["ReceiptHandle"]
                continue
            if replay.kind == SETTLE_WINDOW:
                accepted = _requeue(sqs, queue_url, sources, replay, message_id, out)
            else:
                accepted = _invoke(lambda_client, replay, out)
            if accepted:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                result.replayed.append(message_id)
            else:
                out(f"keep   {message_id}: not accepted")
                result.kept.append(message_id)
                hidden[message_id] = message["ReceiptHandle"]
    for message_id, receipt_handle in hidden.items():
        try:
            sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=0)
        except Exception as exc:  # best effort: it becomes visible by itself after the timeout anyway
            out(f"note   {message_id}: could not make it visible again now ({exc})")
    verb = "would replay" if dry_run else "replayed"
    out(f"{verb} {len(result.replayed)}, kept {len(result.kept)} in the queue")
    return result


def _requeue(sqs: Any, queue_url: str, sources: list[str], replay: Replay, message_id: str, out: Callable[[str], None]) -> bool:
    """Sends a parked window back to the settle queue, in its VPC's message group."""
    try:
        if not sources:
            sources += sqs.list_dead_letter_source_queues(QueueUrl=queue_url).get("queueUrls", [])
        if len(sources) != 1:
            out(f"error  {queue_url} is the dead-letter queue of {len(sources)} queues, not of one settle queue")
            return False
        sqs.send_message(
            QueueUrl=sources[0],
            MessageBody=replay.payload.decode(),
            MessageGroupId=replay.function,
            # A redrive run that is repeated within five minutes sends the window once.
            MessageDeduplicationId=f"redrive-{message_id}"[:128],
        )
    except Exception as exc:  # botocore ClientError and connection errors alike: the message stays
        out(f"error  sending the window back: {exc}")
        return False
    return True


def _invoke(lambda_client: Any, replay: Replay, out: Callable[[str], None]) -> bool:
    try:
        response = lambda_client.invoke(FunctionName=replay.function, InvocationType="Event", Payload=replay.payload)
    except Exception as exc:  # botocore ClientError and connection errors alike: the message stays
        out(f"error  invoking {replay.function}: {exc}")
        return False
    return response.get("StatusCode") == 202


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queue-url", required=True, help="the FailedEventsQueueUrl or SettleDeadLetterQueueUrl stack output")
    parser.add_argument("--function-name", help="invoke this function for every message (overrides the recorded one)")
    parser.add_argument("--region", help="default: the region in the queue URL")
    parser.add_argument("--profile", help="AWS named profile")
    parser.add_argument("--dry-run", action="store_true", help="print what would be replayed; invoke and delete nothing")
    parser.add_argument("--max", type=int, dest="max_messages", metavar="N", help="handle at most N messages")
    args = parser.parse_args(argv)
    if args.max_messages is not None and args.max_messages < 1:
        parser.error("--max must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import boto3  # here, not at import: the pure functions above need no AWS SDK
    from botocore.config import Config

    session = boto3.Session(profile_name=args.profile, region_name=args.region or region_of(args.queue_url))
    config = Config(retries={"mode": "standard", "max_attempts": 5})
    result = redrive(
        session.client("sqs", config=config),
        session.client("lambda", config=config),
        args.queue_url,
        function_name=args.function_name,
        dry_run=args.dry_run,
        max_messages=args.max_messages,
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
