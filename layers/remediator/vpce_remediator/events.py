"""Parsing EventBridge-wrapped CloudTrail API calls into a typed record, or a named InvalidEvent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vpce_remediator.errors import InvalidEvent

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"


@dataclass(frozen=True)
class ApiCall:
    event_id: str
    event_name: str
    event_source: str
    region: str
    principal_arn: str | None = None
    error_code: str | None = None
    request: Mapping[str, Any] = field(default_factory=dict)
    response: Mapping[str, Any] = field(default_factory=dict)

    def get(self, path: str) -> Any:
        """A dotted path into the call, e.g. ``responseElements.subnet.vpcId``; None when absent."""
        section, _, rest = path.partition(".")
        node: Any = {"requestParameters": self.request, "responseElements": self.response}.get(section)
        for key in rest.split(".") if rest else ():
            if not isinstance(node, Mapping):
                return None
            node = node.get(key)
        return node


def parse_api_call(event: Any) -> ApiCall:
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"event is a {type(event).__name__}, not an object")
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
        principal_arn=_optional_text(detail.get("userIdentity"), "arn"),
        error_code=_optional_text(detail, "errorCode"),
        request=_section(detail, "requestParameters"),
        response=_section(detail, "responseElements"),
    )


def _text(detail: Mapping[str, Any], key: str) -> str:
    value = detail.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidEvent(f"detail.{key} is missing or not a string")
    return value


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
