"""Writes: the only module that changes anything, each write idempotent.

Creates carry a ClientToken derived from their inputs, so a create retried after a lost response
returns the endpoint the first attempt made. Releases (Prune=own) touch only what the plan found
tagged as the remediator's; one whose target another writer already removed is a conflict (re-read
and re-plan), and a security group EC2 still sees in use is kept for a later reconcile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from vpce_remediator import MANAGED_BY_KEY, MANAGED_BY_VALUE
from vpce_remediator.actions import (
    HTTPS,
    SECURITY_GROUP_NAME,
    Action,
    AddSubnets,
    AttachRouteTables,
    AuthorizeHttps,
    CreateGatewayEndpoint,
    CreateInterfaceEndpoint,
    CreateSecurityGroup,
    DeleteEndpoint,
    DeleteSecurityGroup,
    DetachRouteTables,
    EnablePrivateDns,
    ForgetLeaving,
    MarkLeaving,
    MoveSubnets,
    RemoveSubnets,
)
from vpce_remediator.models import LEAVING_TAG_PREFIX
from vpce_remediator.vocabulary import EndpointState, EndpointType, Outcome

# Another writer got there first (Outcome.CONFLICT): the caller re-reads the VPC and plans again.
_CONFLICT_CODES = frozenset(
    {
        "DuplicateSubnetsInSameZone",
        "RouteAlreadyExists",
        "IdempotentParameterMismatch",
        "InvalidGroup.Duplicate",
        "InvalidPermission.Duplicate",
    }
)
_MAX_RESTORES = 10
# A release whose target is already gone: someone else got there first.
_GONE_CODES = frozenset({"InvalidVpcEndpointId.NotFound", "InvalidVpcEndpoint.NotFound", "InvalidGroup.NotFound"})


@dataclass(frozen=True)
class Change:
    """What became of one action."""

    action: Action
    result: Outcome
    resource_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    security_group_id: str | None = None  # the group an interface endpoint was created with


def is_conflict(code: str, message: str) -> bool:
    # A second private-DNS endpoint for a service is refused as InvalidParameter, named only in the text.
    return code in _CONFLICT_CODES or (code == "InvalidParameter" and "conflicting DNS domain" in message)


def apply_actions(
    ec2: Any, actions: tuple[Action, ...], dry_run: bool, stale_tokens: frozenset[str] = frozenset()
) -> list[Change]:
    """Runs each action in order. A failure does not stop the others (unless they depend on it); a
    conflict does, because the rest of the plan was made on state another writer has changed.

    ``stale_tokens``: identity tokens EC2 answered with IdempotentParameterMismatch although no
    endpoint is live; those creates use a token of their full inputs instead.
    """
    if dry_run:
        # Its own bookkeeping is no change to propose: report mode marks nothing.
        return [Change(a, Outcome.WOULD_RELEASE if a.releases else Outcome.WOULD_CHANGE) for a in actions if not a.bookkeeping]
    outcomes: list[Change] = []
    group_id: str | None = None  # the group a CreateSecurityGroup in this run made
    for action in actions:
        try:
            if isinstance(action, CreateInterfaceEndpoint) and action.security_group_id is None and group_id is None:
                outcomes.append(
                    Change(action, Outcome.FAILED, error_code="DependencyFailed", error="security group was not created")
                )
                continue
            outcome = _apply(ec2, action, group_id, stale_tokens)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "Unknown"), error.get("Message", str(exc))
            outcome = Change(action, _refused(action, code, message), error_code=code, error=message)
        if isinstance(action, CreateSecurityGroup) and outcome.result == Outcome.CREATED:
            group_id = outcome.resource_id
        outcomes.append(outcome)
        if outcome.result == Outcome.CONFLICT:
            break
    return outcomes


def _refused(action: Action, code: str, message: str) -> Outcome:
    if is_conflict(code, message) or (action.releases and code in _GONE_CODES):
        return Outcome.CONFLICT
    if isinstance(action, DeleteSecurityGroup) and code == "DependencyViolation":
        # Still in use: by an endpoint whose network interfaces EC2 is deleting, or by someone's ENI.
        return Outcome.KEPT
    return Outcome.FAILED


def _token(action: CreateGatewayEndpoint | CreateInterfaceEndpoint, stale: frozenset[str], **extra: str) -> str:
    return action.inputs_token(**extra) if action.client_token in stale else action.client_token


def _apply(ec2: Any, action: Action, group_id: str | None, stale: frozenset[str]) -> Change:
    if isinstance(action, CreateSecurityGroup):
        return Change(action, action.applied, _create_security_group(ec2, action))
    if isinstance(action, AuthorizeHttps):
        _authorize_https(ec2, action.group_id, action.cidrs)
        return Change(action, action.applied, action.group_id)
    if isinstance(action, CreateGatewayEndpoint):
        gateway: dict[str, Any] = {"VpcEndpointType": EndpointType.GATEWAY.value, "RouteTableIds": list(action.route_table_ids)}
        params = {**gateway, **_policy(action.policy_document)}
        return Change(action, action.applied, _create_endpoint(ec2, action, params, _token(action, stale)))
    if isinstance(action, CreateInterfaceEndpoint):
        sg = action.security_group_id or group_id
        assert sg is not None
        params = {
            "VpcEndpointType": EndpointType.INTERFACE.value,
            "SubnetIds": list(action.subnet_ids),
            "SecurityGroupIds": [sg],
            # Always explicit: EC2 turns private DNS on when it is omitted.
            "PrivateDnsEnabled": action.private_dns,
            **_policy(action.policy_document),
        }
        endpoint_id = _create_endpoint(ec2, action, params, _token(action, stale, security_group_id=sg))
        return Change(action, action.applied, endpoint_id, security_group_id=sg)
    if isinstance(action, AttachRouteTables):
        ec2.modify_vpc_endpoint(VpcEndpointId=action.endpoint_id, AddRouteTableIds=list(action.route_table_ids))
        return Change(action, action.applied, action.endpoint_id)
    if isinstance(action, AddSubnets):
        ec2.modify_vpc_endpoint(VpcEndpointId=action.endpoint_id, AddSubnetIds=list(action.subnet_ids))
        return Change(action, action.applied, action.endpoint_id)
    if isinstance(action, EnablePrivateDns):
        ec2.modify_vpc_endpoint(VpcEndpointId=action.endpoint_id, PrivateDnsEnabled=True)
        return Change(action, action.applied, action.endpoint_id)
    return _release(ec2, action)


def _release(ec2: Any, action: Action) -> Change:
    if isinstance(action, DetachRouteTables):
        ec2.modify_vpc_endpoint(VpcEndpointId=action.endpoint_id, RemoveRouteTableIds=list(action.route_table_ids))
    elif isinstance(action, RemoveSubnets):
        ec2.modify_vpc_endpoint(VpcEndpointId=action.endpoint_id, RemoveSubnetIds=list(action.subnet_ids))
    elif isinstance(action, MoveSubnets):
        # One call: the AZ is never without an ENI for longer than EC2 takes to make the new one.
        ec2.modify_vpc_endpoint(
            VpcEndpointId=action.endpoint_id,
            RemoveSubnetIds=list(action.removed_subnet_ids),
            AddSubnetIds=list(action.subnet_ids),
        )
    elif isinstance(action, DeleteEndpoint):
        unsuccessful = ec2.delete_vpc_endpoints(VpcEndpointIds=[action.endpoint_id]).get("Unsuccessful", [])
        if unsuccessful:
            error = unsuccessful[0].get("Error", {})
            raise ClientError(
                {"Error": {"Code": error.get("Code", "Unknown"), "Message": error.get("Message", "")}}, "DeleteVpcEndpoints"
            )
    elif isinstance(action, DeleteSecurityGroup):
        ec2.delete_security_group(GroupId=action.group_id)
        return Change(action, action.applied, action.group_id)
    elif isinstance(action, MarkLeaving):
        tags = [{"Key": LEAVING_TAG_PREFIX + s, "Value": t} for s, t in zip(action.subnet_ids, action.until, strict=True)]
        ec2.create_tags(Resources=list(action.endpoint_ids), Tags=tags)
        return Change(action, action.applied)
    elif isinstance(action, ForgetLeaving):
        tags = [{"Key": LEAVING_TAG_PREFIX + s} for s in action.subnet_ids]
        ec2.delete_tags(Resources=list(action.endpoint_ids), Tags=tags)
        return Change(action, action.applied)
    else:
        raise TypeError(f"unknown action {type(action).__name__}")
    return Change(action, action.applied, action.endpoint_id)


def _policy(document: str | None) -> dict[str, str]:
    # Without one EC2 attaches its full-access default; only a policy the operator chose is sent.
    return {"PolicyDocument": document} if document else {}


def _tags(name: str) -> list[dict[str, str]]:
    return [{"Key": MANAGED_BY_KEY, "Value": MANAGED_BY_VALUE}, {"Key": "Name", "Value": name}]


def _create_endpoint(
    ec2: Any, action: CreateGatewayEndpoint | CreateInterfaceEndpoint, params: dict[str, Any], token: str
) -> str:
    name = f"vpce-remediator/{action.service}"
    request = {
        "VpcId": action.vpc_id,
        "ServiceName": action.service_name,
        "TagSpecifications": [{"ResourceType": "vpc-endpoint", "Tags": _tags(name)}],
        **params,
    }
    for _ in range(_MAX_RESTORES):
        endpoint = ec2.create_vpc_endpoint(ClientToken=token, **request)["VpcEndpoint"]
        if EndpointState.is_live(endpoint.get("State", "")):
            return str(endpoint["VpcEndpointId"])
        # The token remembered an endpoint someone has since deleted; salting it with that id is a
        # new create that is still idempotent, and stays so after each later deletion.
        token = f"{token[:40]}-{endpoint['VpcEndpointId'][-16:]}"
    raise ClientError(
        {"Error": {"Code": "EndpointKeptDeleted", "Message": f"ClientToken {token} still returns a deleted endpoint"}},
        "CreateVpcEndpoint",
    )


def _create_security_group(ec2: Any, action: CreateSecurityGroup) -> str:
    group_id: str = ec2.create_security_group(
        GroupName=SECURITY_GROUP_NAME,
        Description="HTTPS from the VPC to interface endpoints (vpce-remediator)",
        VpcId=action.vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": _tags(SECURITY_GROUP_NAME)}],
    )["GroupId"]
    _authorize_https(ec2, group_id, action.cidrs)
    return group_id


def _authorize_https(ec2: Any, group_id: str, cidrs: tuple[str, ...]) -> None:
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": HTTPS,
                "ToPort": HTTPS,
                "IpRanges": [{"CidrIp": c, "Description": "VPC CIDR (vpce-remediator)"} for c in cidrs],
            }
        ],
    )
