"""The trigger table: which CloudTrail calls start a reconcile, and where their VPC id is.

Keep it in step with the EventBridge rules in template.yaml; a test compares the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vpce_remediator.errors import InvalidEvent
from vpce_remediator.events import ApiCall

EVENT_SOURCE = "ec2.amazonaws.com"
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")


@dataclass(frozen=True)
class Trigger:
    why: str
    # Dotted paths tried in order; the response is preferred because it is what EC2 actually did.
    vpc_paths: tuple[str, ...]


TRIGGERS: dict[str, Trigger] = {
    "CreateSubnet": Trigger(
        why="a new subnet may be opted in at creation (tag specifications) or sit on a route table without endpoints",
        vpc_paths=("responseElements.subnet.vpcId", "requestParameters.vpcId"),
    ),
    "CreateRouteTable": Trigger(
        why="a new route table lacks gateway-endpoint associations its subnets will need",
        vpc_paths=("responseElements.routeTable.vpcId", "requestParameters.vpcId"),
    ),
}


def target_vpcs(call: ApiCall) -> tuple[str, ...]:
    """The VPC ids a call affects. Raises InvalidEvent for calls this table does not know."""
    if call.event_source != EVENT_SOURCE:
        raise InvalidEvent(f"eventSource {call.event_source!r} is not {EVENT_SOURCE}")
    trigger = TRIGGERS.get(call.event_name)
    if trigger is None:
        raise InvalidEvent(f"eventName {call.event_name!r} is not a trigger")
    for path in trigger.vpc_paths:
        value = call.get(path)
        if isinstance(value, str) and _VPC_ID.match(value):
            return (value,)
    raise InvalidEvent(f"{call.event_name} names no VPC id at {' or '.join(trigger.vpc_paths)}")
