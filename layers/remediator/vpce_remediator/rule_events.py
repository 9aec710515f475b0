"""AWS Config's invocation of the rule, parsed into a frozen ``RuleInvocation`` or a named InvalidEvent.

Config invokes a custom Lambda rule with ``invokingEvent``, a JSON document in a string: for a change, the
subnet's configuration item (``configurationItem``), or only its summary when the item is too large to
send (``configurationItemSummary``: no ``configuration``, so no VPC id); for the periodic run, when Config
triggered it. Beside it: the rule's name, ``resultToken`` (what PutEvaluations must carry) and
``eventLeftScope`` (the resource is out of the rule's scope now).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vpce_remediator.errors import InvalidEvent
from vpce_remediator.triggers import SUBNET, well_formed

CHANGE = "ConfigurationItemChangeNotification"
OVERSIZED = "OversizedConfigurationItemChangeNotification"
SCHEDULED = "ScheduledNotification"
SUBNET_TYPE = "AWS::EC2::Subnet"
# The statuses of a configuration item whose resource exists to be evaluated (Config's own examples test
# these two); ResourceDeleted, ResourceDeletedNotRecorded and ResourceNotRecorded leave nothing to evaluate.
EVALUABLE = frozenset({"OK", "ResourceDiscovered"})


@dataclass(frozen=True)
class RuleInvocation:
    rule_name: str
    result_token: str
    message_type: str
    # Seconds since the epoch: when Config captured the configuration item, or triggered the periodic run;
    # each evaluation carries it as OrderingTimestamp, so an older one never overwrites a newer one.
    ordering_time: float
    subnet_id: str | None = None  # a change: the subnet it is about
    vpc_id: str | None = None  # from the configuration item; an oversized one's summary has none
    status: str | None = None  # configurationItemStatus
    left_scope: bool = False

    @property
    def periodic(self) -> bool:
        return self.message_type == SCHEDULED

    @property
    def evaluable(self) -> bool:
        """A change about a subnet that exists and is in the rule's scope (else NOT_APPLICABLE, unread)."""
        return self.status in EVALUABLE and not self.left_scope


def parse_rule_invocation(event: Any) -> RuleInvocation:
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"event is a {type(event).__name__}, not an object")
    rule_name, token = _text(event, "configRuleName"), _text(event, "resultToken")
    left_scope = event.get("eventLeftScope", False)
    if not isinstance(left_scope, bool):
        raise InvalidEvent("eventLeftScope is not a boolean")
    raw = _text(event, "invokingEvent")
    try:
        invoking = json.loads(raw)
    except ValueError as exc:
        raise InvalidEvent("invokingEvent is not JSON") from exc
    if not isinstance(invoking, Mapping):
        raise InvalidEvent("invokingEvent is not a JSON object")
    message_type = invoking.get("messageType")
    if message_type == SCHEDULED:
        when = _time(invoking.get("notificationCreationTime"), "notificationCreationTime")
        return RuleInvocation(rule_name, token, SCHEDULED, when)
    if message_type not in (CHANGE, OVERSIZED):
        raise InvalidEvent(f"messageType {str(message_type)[:60]!r} is not one the rule subscribes to")
    key = "configurationItem" if message_type == CHANGE else "configurationItemSummary"
    item = invoking.get(key)
    if not isinstance(item, Mapping):
        raise InvalidEvent(f"invokingEvent.{key} is missing or not an object")
    if item.get("resourceType") != SUBNET_TYPE:
        raise InvalidEvent(f"the configuration item is about a {str(item.get('resourceType'))[:60]!r}, not a subnet")
    subnet_id = item.get("resourceId")
    if not well_formed(SUBNET, subnet_id):
        raise InvalidEvent("the configuration item's resourceId is not a subnet id")
    status = item.get("configurationItemStatus")
    if not isinstance(status, str) or not status:
        raise InvalidEvent("configurationItemStatus is missing or not a string")
    configuration = item.get("configuration")
    vpc_id = configuration.get("vpcId") if isinstance(configuration, Mapping) else None
    return RuleInvocation(
        rule_name,
        token,
        message_type,
        _time(item.get("configurationItemCaptureTime"), "configurationItemCaptureTime"),
        subnet_id=str(subnet_id),
        vpc_id=vpc_id if well_formed("vpc", vpc_id) else None,
        status=status,
        left_scope=left_scope,
    )


def _text(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidEvent(f"{key} is missing or not a string")
    return value


def _time(value: Any, name: str) -> float:
    """Config's times ("2016-02-17T01:36:34.043Z") as seconds since the epoch."""
    if not isinstance(value, str):
        raise InvalidEvent(f"{name} is missing or not a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidEvent(f"{name} {value[:40]!r} is not an ISO 8601 time") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
