"""The trigger table: which CloudTrail calls start a reconcile, and how to find the VPCs they touch.

Each entry is declarative: where the VPC id sits in the call, or which resource ids to resolve to
VPCs with one Describe call. Keep it in step with the EventBridge rules in template.yaml; a test
compares the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vpce_remediator import USER_AGENT
from vpce_remediator.errors import InvalidEvent
from vpce_remediator.events import ApiCall

EVENT_SOURCE = "ec2.amazonaws.com"
SUBNET = "subnet"
ROUTE_TABLE = "route-table"
VPC_ENDPOINT = "vpc-endpoint"
_ID = {
    "vpc": re.compile(r"^vpc-[0-9a-f]{8,17}$"),
    SUBNET: re.compile(r"^subnet-[0-9a-f]{8,17}$"),
    ROUTE_TABLE: re.compile(r"^rtb-[0-9a-f]{8,17}$"),
    VPC_ENDPOINT: re.compile(r"^vpce-[0-9a-f]{8,17}$"),
}


@dataclass(frozen=True)
class Trigger:
    why: str
    # Paths tried in order; the response first, because it is what EC2 actually did.
    vpc_paths: tuple[str, ...] = ()
    # Otherwise: ids of this kind at these paths, resolved to their VPCs with one Describe call.
    lookup: str | None = None
    lookup_paths: tuple[str, ...] = ()
    # CreateTags: only when the opt-in key is among the tags written.
    opt_in_tag_only: bool = False
    # A create names the new resource and its VPC: (id path, VPC path), so later calls about it
    # (an association, a tag) need no lookup in a warm container.
    learns: tuple[str, str] | None = None


@dataclass(frozen=True)
class Targets:
    vpc_ids: tuple[str, ...] = ()
    lookup: str | None = None
    lookup_ids: tuple[str, ...] = ()
    ignored: str | None = None  # why the call needs no reconcile
    learned: dict[str, str] = field(default_factory=dict)  # resource id -> VPC id, from a create


TRIGGERS: dict[str, Trigger] = {
    "CreateSubnet": Trigger(
        why="a new subnet may opt in at creation or sit on a route table without the gateway endpoints",
        vpc_paths=("responseElements.subnet.vpcId", "requestParameters.vpcId"),
        learns=("responseElements.subnet.subnetId", "responseElements.subnet.vpcId"),
    ),
    "CreateRouteTable": Trigger(
        why="a new route table lacks the gateway-endpoint associations its subnets will need",
        vpc_paths=("responseElements.routeTable.vpcId", "requestParameters.vpcId"),
        learns=("responseElements.routeTable.routeTableId", "responseElements.routeTable.vpcId"),
    ),
    "CreateTags": Trigger(
        why="tagging an existing subnet is how most subnets opt in, or change policy",
        lookup=SUBNET,
        lookup_paths=("requestParameters.resourcesSet.items.resourceId",),
        opt_in_tag_only=True,
    ),
    "AssociateRouteTable": Trigger(
        why="a subnet moved to a route table that may lack the gateway associations",
        lookup=ROUTE_TABLE,
        lookup_paths=("requestParameters.routeTableId",),
    ),
    "ReplaceRouteTableAssociation": Trigger(
        why="a subnet (or the main association) moved to a route table that may lack the gateway associations",
        lookup=ROUTE_TABLE,
        lookup_paths=("requestParameters.routeTableId",),
    ),
    "DeleteVpcEndpoints": Trigger(
        why="someone deleted an endpoint that opted-in subnets may still need",
        lookup=VPC_ENDPOINT,
        lookup_paths=("requestParameters.DeleteVpcEndpointsRequest.VpcEndpointId",),
    ),
    "ModifyVpcEndpoint": Trigger(
        why="someone removed a route table or subnet from an endpoint that opted-in subnets need",
        lookup=VPC_ENDPOINT,
        lookup_paths=("requestParameters.ModifyVpcEndpointRequest.VpcEndpointId",),
    ),
}


def targets(call: ApiCall, opt_in_tag_key: str) -> Targets:
    """What a call asks to reconcile. Raises InvalidEvent for calls this table does not know."""
    if call.event_source != EVENT_SOURCE:
        raise InvalidEvent(f"eventSource {call.event_source!r} is not {EVENT_SOURCE}")
    trigger = TRIGGERS.get(call.event_name)
    if trigger is None:
        raise InvalidEvent(f"eventName {call.event_name!r} is not a trigger")
    if call.user_agent and USER_AGENT in call.user_agent:
        # Our own ModifyVpcEndpoint: the run that made it already reconciled the VPC.
        return Targets(ignored="own_call")
    for path in trigger.vpc_paths:
        found = _ids(call, (path,), "vpc")
        if found:
            return Targets(vpc_ids=found[:1], learned=_learned(call, trigger))
    if trigger.lookup is None:
        raise InvalidEvent(f"{call.event_name} names no VPC id at {' or '.join(trigger.vpc_paths)}")
    if trigger.opt_in_tag_only and opt_in_tag_key not in call.strings("requestParameters.tagSet.items.key"):
        return Targets(ignored="not_the_opt_in_tag")
    ids = _ids(call, trigger.lookup_paths, trigger.lookup)
    if not ids:
        if trigger.opt_in_tag_only:
            return Targets(ignored="no_subnet_tagged")
        raise InvalidEvent(f"{call.event_name} names no {trigger.lookup} id at {' or '.join(trigger.lookup_paths)}")
    return Targets(lookup=trigger.lookup, lookup_ids=ids)


def _learned(call: ApiCall, trigger: Trigger) -> dict[str, str]:
    if trigger.learns is None:
        return {}
    id_path, vpc_path = trigger.learns
    new = [v for v in call.strings(id_path) if any(p.fullmatch(v) for p in _ID.values())]
    vpc = _ids(call, (vpc_path,), "vpc")
    return {new[0]: vpc[0]} if len(new) == 1 and vpc else {}


def _ids(call: ApiCall, paths: tuple[str, ...], kind: str) -> tuple[str, ...]:
    found = (value for path in paths for value in call.strings(path))
    # fullmatch: "$" would also accept an id followed by a newline, which EC2 refuses as malformed.
    return tuple(dict.fromkeys(v for v in found if _ID[kind].fullmatch(v)))
