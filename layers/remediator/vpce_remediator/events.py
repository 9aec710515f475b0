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
