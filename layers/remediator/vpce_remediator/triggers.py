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
ASSOCIATION = "association"
_ID = {
    "vpc": re.compile(r"^vpc-[0-9a-f]{8,17}$"),
    SUBNET: re.compile(r"^subnet-[0-9a-f]{8,17}$"),
    ROUTE_TABLE: re.compile(r"^rtb-[0-9a-f]{8,17}$"),
    VPC_ENDPOINT: re.compile(r"^vpce-[0-9a-f]{8,17}$"),
    ASSOCIATION: re.compile(r"^rtbassoc-[0-9a-f]{8,17}$"),
}
# What CloudTrail records when EC2 refuses a delete because something still uses the resource.
REFUSED_CODES = frozenset({"Client.DependencyViolation", "DependencyViolation"})


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
    # Other ids the call names, in the same VPC as the one it resolves to: remembered with it, so a
    # later call about them (a disassociation, a delete) resolves without a lookup.
    remembers: tuple[str, ...] = ()
    # The call deletes what it names: a Describe finds nothing, so only a remembered id resolves it;
    # otherwise the VPCs where an endpoint of the remediator's serves nothing any more (prompt).
    deletes: bool = False
    # A call EC2 refused because something still uses the resource (REFUSED_CODES) is a request too: the
    # pipeline retries it until nothing does. The path of the refused id; None: failed calls are ignored.
    refusal: str | None = None
    # Only its refusals are a trigger (a VPC that was deleted leaves nothing to reconcile).
    only_refused: bool = False


@dataclass(frozen=True)
class Targets:
    vpc_ids: tuple[str, ...] = ()
    lookup: str | None = None
    lookup_ids: tuple[str, ...] = ()
    ignored: str | None = None  # why the call needs no reconcile
    learned: dict[str, str] = field(default_factory=dict)  # resource id -> VPC id, from a create
    remembered: tuple[str, ...] = ()  # ids in the VPC the call resolves to (Trigger.remembers)
    deletes: bool = False  # Trigger.deletes: resolve from memory, else the VPCs with endpoints serving nothing
    refused: str | None = None  # the subnet or VPC whose delete EC2 refused: a prompt window as well
    # The user agent says vpce-remediator but the caller is not one of its roles: reconciled, and counted.
    claims_own: bool = False


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
    "DeleteTags": Trigger(
        why="removing the opt-in tag opts a subnet out: what only it needed is released (Prune=own)",
        lookup=SUBNET,
        lookup_paths=("requestParameters.resourcesSet.items.resourceId",),
        opt_in_tag_only=True,
    ),
    "AssociateRouteTable": Trigger(
        why="a subnet moved to a route table that may lack the gateway associations",
        lookup=ROUTE_TABLE,
        lookup_paths=("requestParameters.routeTableId",),
        remembers=("requestParameters.subnetId", "responseElements.associationId"),
    ),
    "ReplaceRouteTableAssociation": Trigger(
        why="a subnet (or the main association) moved to a route table that may lack the gateway associations",
        lookup=ROUTE_TABLE,
        lookup_paths=("requestParameters.routeTableId",),
        remembers=("requestParameters.associationId", "responseElements.newAssociationId"),
    ),
    "DisassociateRouteTable": Trigger(
        why="a subnet left its route table: the table's gateway associations may no longer be needed",
        lookup=ASSOCIATION,
        lookup_paths=("requestParameters.associationId",),
        deletes=True,
    ),
    "DeleteSubnet": Trigger(
        why="a deleted subnet needs nothing; one EC2 refused to delete is leaving (the ENIs in it move or go)",
        lookup=SUBNET,
        lookup_paths=("requestParameters.subnetId",),
        deletes=True,
        refusal="requestParameters.subnetId",
    ),
    "DeleteRouteTable": Trigger(
        why="a deleted route table leaves the gateway endpoints it was on with less to serve",
        lookup=ROUTE_TABLE,
        lookup_paths=("requestParameters.routeTableId",),
        deletes=True,
    ),
    "ModifyVpcAttribute": Trigger(
        why="both DNS attributes on: private DNS becomes possible on the interface endpoints it made without it",
        vpc_paths=("requestParameters.vpcId",),
    ),
    "DeleteVpc": Trigger(
        why="EC2 refused to delete a VPC: what the remediator made in it must go first",
        vpc_paths=("requestParameters.vpcId",),
        refusal="requestParameters.vpcId",
        only_refused=True,
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


def targets(call: ApiCall, opt_in_tag_key: str, own_roles: frozenset[str] = frozenset()) -> Targets:
    """What a call asks to reconcile. Raises InvalidEvent for calls this table does not know. ``own_roles``:
    the ARNs of the remediator's writing roles; a call is its own only when one of them made it."""
    trigger = TRIGGERS.get(call.event_name) if call.event_source == EVENT_SOURCE else None
    refused = None
    if call.error_code:
        if trigger is None or trigger.refusal is None or call.error_code not in REFUSED_CODES:
            return Targets(ignored="failed_call")  # nothing changed
        refused = _ids(call, (trigger.refusal,), "vpc" if call.event_name == "DeleteVpc" else SUBNET)[:1]
        if not refused:
            raise InvalidEvent(f"{call.event_name} names no id at {trigger.refusal}")
    elif call.event_source != EVENT_SOURCE:
        raise InvalidEvent(f"eventSource {call.event_source!r} is not {EVENT_SOURCE}")
    elif trigger is None:
        raise InvalidEvent(f"eventName {call.event_name!r} is not a trigger")
    elif trigger.only_refused:
        return Targets(ignored="deleted")  # the rules take only its refusals: nothing is left to reconcile
    own = call.issuer_arn is not None and call.issuer_arn in own_roles
    if own and not _releases(call):
        # Our own adds: the run that made them already reconciled the VPC. Our own releases are
        # reconciled again, so a subnet that opted in while one ran gets what was released back. Known
        # by the role that made the call: anyone can set a user agent.
        return Targets(ignored="own_call")
    claims_own = not own and _claims_our_agent(call.user_agent)
    refused_id = refused[0] if refused else None
    for path in trigger.vpc_paths:
        found = _ids(call, (path,), "vpc")
        if found:
            return Targets(vpc_ids=found[:1], learned=_learned(call, trigger), refused=refused_id, claims_own=claims_own)
    if trigger.lookup is None:
        raise InvalidEvent(f"{call.event_name} names no VPC id at {' or '.join(trigger.vpc_paths)}")
    if trigger.opt_in_tag_only and not _names_key(call, opt_in_tag_key):
        return Targets(ignored="not_the_opt_in_tag")
    ids = _ids(call, trigger.lookup_paths, trigger.lookup)
    if not ids:
        if trigger.opt_in_tag_only:
            return Targets(ignored="no_subnet_tagged")
        raise InvalidEvent(f"{call.event_name} names no {trigger.lookup} id at {' or '.join(trigger.lookup_paths)}")
    remembered = tuple(v for path in trigger.remembers for v in call.strings(path) if _known_id(v))
    deletes = trigger.deletes and refused_id is None
    return Targets(
        lookup=trigger.lookup, lookup_ids=ids, remembered=remembered, deletes=deletes, refused=refused_id, claims_own=claims_own
    )


def _claims_our_agent(user_agent: str | None) -> bool:
    """The functions' user agent as a token of its own (botocore's extra, or app/ from AWS_SDK_UA_APP_ID);
    the command line's (vpce-remediator-cli) is someone running it, not a claim to be the functions."""
    return any(token == USER_AGENT or token.endswith("/" + USER_AGENT) for token in (user_agent or "").split())


def _names_key(call: ApiCall, key: str) -> bool:
    keys = call.strings("requestParameters.tagSet.items.key")
    # DeleteTags without tags deletes every tag of the resource, the opt-in key with them.
    return key in keys or (call.event_name == "DeleteTags" and not keys)


def _releases(call: ApiCall) -> bool:
    """One of the remediator's own calls that took something away (a delete, or a modify that removed)."""
    if call.event_name == "DeleteVpcEndpoints":
        return True
    request = call.request.get("ModifyVpcEndpointRequest")
    return isinstance(request, dict) and any(k.startswith("Remove") for k in request)


def _known_id(value: str) -> bool:
    return any(p.fullmatch(value) for p in _ID.values())


def well_formed(kind: str, value: object) -> bool:
    """Whether ``value`` is an id of this kind ("vpc", SUBNET, ...), whole: the patterns the table reads ids with."""
    return isinstance(value, str) and _ID[kind].fullmatch(value) is not None


def _learned(call: ApiCall, trigger: Trigger) -> dict[str, str]:
    if trigger.learns is None:
        return {}
    id_path, vpc_path = trigger.learns
    new = [v for v in call.strings(id_path) if _known_id(v)]
    vpc = _ids(call, (vpc_path,), "vpc")
    return {new[0]: vpc[0]} if len(new) == 1 and vpc else {}


def _ids(call: ApiCall, paths: tuple[str, ...], kind: str) -> tuple[str, ...]:
    found = (value for path in paths for value in call.strings(path))
    # fullmatch: "$" would also accept an id followed by a newline, which EC2 refuses as malformed.
    return tuple(dict.fromkeys(v for v in found if _ID[kind].fullmatch(v)))
