"""Parsing EventBridge-wrapped CloudTrail API calls into a typed record, or a named InvalidEvent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vpce_remediator.errors import InvalidEvent

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"


@dataclass(frozen=True)
class ApiCall:
    event_id: str
    event_name: str
    event_source: str
    region: str
    event_time: float  # seconds since the epoch: when the call was made, not when it was delivered
    principal_arn: str | None = None
    # userIdentity.sessionContext.sessionIssuer.arn: the role whose session made the call.
    issuer_arn: str | None = None
    user_agent: str | None = None
    error_code: str | None = None
    request: Mapping[str, Any] = field(default_factory=dict)
    response: Mapping[str, Any] = field(default_factory=dict)

    def strings(self, path: str) -> list[str]:
        """Every string at a dotted path, e.g. ``requestParameters.resourcesSet.items.resourceId``.

        Lists are walked at any level, and the ``{"tag": 1, "content": "vpce-…"}`` wrappers that
        CloudTrail writes for newer EC2 APIs are unwrapped, so one path reads both shapes.
        """
        section, _, rest = path.partition(".")
        nodes: list[Any] = [{"requestParameters": self.request, "responseElements": self.response}.get(section)]
        for key in rest.split(".") if rest else ():
            nodes = [child for node in _flatten(nodes) if isinstance(node, Mapping) for child in [node.get(key)]]
        values = [n.get("content") if isinstance(n, Mapping) else n for n in _flatten(nodes)]
        return [v for v in values if isinstance(v, str)]


def _flatten(nodes: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for node in nodes:
        flat.extend(_flatten(node) if isinstance(node, list) else [node])
    return flat


# An EventBridge event is at most 256 KB; CloudTrail's records nest a few levels. Anything deeper or larger
# is refused before it is walked, so no input can make the parser recurse or loop without bound.
MAX_DEPTH = 32
MAX_NODES = 20_000


def check_shape(value: Any, what: str = "event") -> None:
    """InvalidEvent when ``value`` nests deeper than MAX_DEPTH or holds more than MAX_NODES values (iterative)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise InvalidEvent(f"{what} holds more than {MAX_NODES:,} values")
        if isinstance(node, Mapping | list):
            if depth > MAX_DEPTH:
                raise InvalidEvent(f"{what} is nested deeper than {MAX_DEPTH} levels")
            children = node.values() if isinstance(node, Mapping) else node
            stack.extend((child, depth + 1) for child in children)


def parse_api_call(event: Any) -> ApiCall:
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"event is a {type(event).__name__}, not an object")
    check_shape(event)
    if event.get("detail-type") != CLOUDTRAIL_DETAIL_TYPE:
        raise InvalidEvent(f"detail-type is {event.get('detail-type')!r}, not {CLOUDTRAIL_DETAIL_TYPE!r}")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise InvalidEvent("detail is missing or not an object")
    return ApiCall(
        event_id=_text(detail, "eventID"),
        event_name=_text(detail, "eventName"),
        event_source=_text(detail, "eventSource"),
        region=_text(detail, "awsRegion"),
        event_time=_event_time(detail.get("eventTime")),
        principal_arn=_optional_text(detail.get("userIdentity"), "arn"),
        issuer_arn=_issuer(detail.get("userIdentity")),
        user_agent=_optional_text(detail, "userAgent"),
        error_code=_optional_text(detail, "errorCode"),
        request=_section(detail, "requestParameters"),
        response=_section(detail, "responseElements"),
    )


def _text(detail: Mapping[str, Any], key: str) -> str:
    value = detail.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidEvent(f"detail.{key} is missing or not a string")
    return value


def _event_time(value: Any) -> float:
    """CloudTrail's eventTime ("2026-11-20T09:14:10Z") as seconds since the epoch."""
    if not isinstance(value, str):
        raise InvalidEvent("detail.eventTime is missing or not a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidEvent(f"detail.eventTime {value[:40]!r} is not an ISO 8601 time") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _issuer(identity: Any) -> str | None:
    context = identity.get("sessionContext") if isinstance(identity, Mapping) else None
    issuer = context.get("sessionIssuer") if isinstance(context, Mapping) else None
    return _optional_text(issuer, "arn")


def _optional_text(node: Any, key: str) -> str | None:
    value = node.get(key) if isinstance(node, Mapping) else None
    return value if isinstance(value, str) else None


def _section(detail: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    # CloudTrail writes null for calls without parameters or a response.
    value = detail.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidEvent(f"detail.{key} is not an object")
    return value


@dataclass(frozen=True)
class QueueMessage:
    """One record of an SQS batch event, with what a partial batch response and the settle window need."""

    message_id: str
    receipt_handle: str
    body: str
    group: str  # MessageGroupId: the VPC, on the settle queue
    receive_count: int  # ApproximateReceiveCount


def parse_queue_batch(event: Any) -> list[QueueMessage]:
    """The records of an SQS batch event from a FIFO queue, or InvalidEvent (a direct invoke, not the mapping)."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not records:
        raise InvalidEvent("not an SQS batch: no list of Records")
    check_shape(event, "the SQS batch")
    return [_queue_message(record) for record in records]


def _queue_message(record: Any) -> QueueMessage:
    if not isinstance(record, Mapping) or record.get("eventSource") != "aws:sqs":
        raise InvalidEvent("a record is not an SQS message")
    message_id, receipt_handle, body = record.get("messageId"), record.get("receiptHandle"), record.get("body")
    if not (isinstance(message_id, str) and message_id and isinstance(receipt_handle, str) and receipt_handle):
        raise InvalidEvent("an SQS record lacks its messageId or receiptHandle")
    if not isinstance(body, str):
        raise InvalidEvent("an SQS record's body is not text")
    attributes = record.get("attributes")
    group = attributes.get("MessageGroupId") if isinstance(attributes, Mapping) else None
    if not isinstance(group, str):
        raise InvalidEvent("an SQS record has no MessageGroupId: not from the settle queue")
    count = str(attributes.get("ApproximateReceiveCount", "1")) if isinstance(attributes, Mapping) else "1"
    return QueueMessage(message_id, receipt_handle, body, group, int(count) if count.isdigit() else 1)
