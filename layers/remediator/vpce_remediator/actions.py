"""The writes a plan can ask for. Each is the minimal change for one endpoint or security group.

Every action names the IAM actions it needs (the template must grant exactly their union) and, where
EC2 supports it, a ClientToken derived only from its inputs so a retried create is idempotent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from vpce_remediator.vocabulary import Outcome

SECURITY_GROUP_NAME = "vpce-remediator-endpoints"
HTTPS = 443


def client_token(kind: str, inputs: dict) -> str:
    """A stable token (EC2 allows 64 ASCII chars) derived only from ``inputs``."""
    digest = hashlib.sha256(json.dumps([kind, inputs], sort_keys=True).encode()).hexdigest()
    return f"vpcer-{digest[:40]}"


class _EndpointCreate:
    """ClientTokens for endpoint creates.

    The token names the endpoint's identity (VPC, service, type, and the deleted endpoints it
    follows), not its route tables or subnets. So EC2 itself lets only one create per identity
    succeed: a retry after a lost response gets the same endpoint back, and a concurrent run that
    planned other route tables or subnets gets IdempotentParameterMismatch, re-reads and attaches.
    """

    vpc_id: str
    service_name: str
    generation: tuple[str, ...]
    kind: ClassVar[str]

    @property
    def client_token(self) -> str:
        return client_token(self.kind, {"vpc": self.vpc_id, "service": self.service_name, "after": sorted(self.generation)})

    def inputs_token(self, **extra: str) -> str:
        """For the rare token EC2 remembers with other parameters for an endpoint that is gone."""
        return client_token(self.kind, {**asdict(self), **extra})  # type: ignore[call-overload]


@dataclass(frozen=True)
class Action:
    """One write. The class says what callers would otherwise read from its name."""

    vpc_id: str
    kind: ClassVar[str]
    permissions: ClassVar[tuple[str, ...]]
    # What the change is when it is made, and how the audit shows it before.
    applied: ClassVar[Outcome]
    audit_state: ClassVar[str]
    # Interface endpoints are billed per endpoint and AZ-hour: an ENI per subnet (one per AZ) it adds.
    billed_per_az: ClassVar[bool] = False
    # The change's resource is an endpoint (its id is what the change made), or the security group.
    on_endpoint: ClassVar[bool] = False
    on_security_group: ClassVar[bool] = False
    creates_endpoint: ClassVar[bool] = False
    # Takes something the remediator made away (Prune=own); report mode proposes it as would_release.
    releases: ClassVar[bool] = False
    # Its own bookkeeping (leaving marks): logged, not a change to count or announce.
    bookkeeping: ClassVar[bool] = False

    def describe(self) -> dict[str, Any]:
        """Log fields: the action's inputs plus its kind."""
        return {"action": self.kind, **asdict(self)}


@dataclass(frozen=True)
class CreateSecurityGroup(Action):
    """The remediator's own group for its interface endpoints: HTTPS from the VPC's IPv4 CIDRs only."""

    cidrs: tuple[str, ...]
    kind: ClassVar[str] = "create_security_group"
    permissions: ClassVar[tuple[str, ...]] = (
        "ec2:CreateSecurityGroup",
        "ec2:CreateTags",
        "ec2:AuthorizeSecurityGroupIngress",
    )
    applied: ClassVar[Outcome] = Outcome.CREATED
    audit_state: ClassVar[str] = "would create"
    on_security_group: ClassVar[bool] = True


@dataclass(frozen=True)
class AuthorizeHttps(Action):
    """Adds CIDRs the VPC gained since the group was made; never removes a rule."""

    group_id: str
    cidrs: tuple[str, ...]
    kind: ClassVar[str] = "authorize_https"
    permissions: ClassVar[tuple[str, ...]] = ("ec2:AuthorizeSecurityGroupIngress",)
    applied: ClassVar[Outcome] = Outcome.AUTHORIZED
    audit_state: ClassVar[str] = "would authorize"
    on_security_group: ClassVar[bool] = True


@dataclass(frozen=True)
class CreateGatewayEndpoint(_EndpointCreate, Action):
    service: str
    service_name: str
    route_table_ids: tuple[str, ...]
    policy_document: str | None = None
    generation: tuple[str, ...] = ()  # deleted endpoints for the service: a restore is a new create
    kind: ClassVar[str] = "create_gateway_endpoint"
    permissions: ClassVar[tuple[str, ...]] = ("ec2:CreateVpcEndpoint", "ec2:CreateTags")
    applied: ClassVar[Outcome] = Outcome.CREATED
    audit_state: ClassVar[str] = "would create"
    on_endpoint: ClassVar[bool] = True
    creates_endpoint: ClassVar[bool] = True


@dataclass(frozen=True)
class AttachRouteTables(Action):
    endpoint_id: str
    service: str
    route_table_ids: tuple[str, ...]
    kind: ClassVar[str] = "attach_route_tables"
    permissions: ClassVar[tuple[str, ...]] = ("ec2:ModifyVpcEndpoint",)
    applied: ClassVar[Outcome] = Outcome.ATTACHED
    audit_state: ClassVar[str] = "would attach"
    on_endpoint: ClassVar[bool] = True


@dataclass(frozen=True)
class CreateInterfaceEndpoint(_EndpointCreate, Action):
    service: str
    service_name: str
    subnet_ids: tuple[str, ...]
    private_dns: bool
    # None: the group that a CreateSecurityGroup earlier in the same plan makes.
    security_group_id: str | None
    policy_document: str | None = None
    generation: tuple[str, ...] = ()
    kind: ClassVar[str] = "create_interface_endpoint"
    permissions: ClassVar[tuple[str, ...]] = ("ec2:CreateVpcEndpoint", "ec2:CreateTags")
    applied: ClassVar[Outcome] = Outcome.CREATED
    audit_state: ClassVar[str] = "would create"
    billed_per_az: ClassVar[bool] = True
    on_endpoint: ClassVar[bool] = True
    creates_endpoint: ClassVar[bool] = True


@dataclass(frozen=True)
class AddSubnets(Action):
    endpoint_id: str
    service: str
    subnet_ids: tuple[str, ...]
    kind: ClassVar[str] = "add_subnets"
    permissions: ClassVar[tuple[str, ...]] = ("ec2:ModifyVpcEndpoint",)
    applied: ClassVar[Outcome] = Outcome.ATTACHED
    audit_state: ClassVar[str] = "would attach"
    billed_per_az: ClassVar[bool] = True
    on_endpoint: ClassVar[bool] = True


@dataclass(frozen=True)
class EnablePrivateDns(Action):
    """Private DNS on one of the remediator's own endpoints, made without it while a VPC DNS attribute was
    off. Planned only when both attributes are on, no other endpoint holds the name and no hub zone does."""

    endpoint_id: str
    service: str
    kind: ClassVar[str] = "enable_private_dns"
    permissions: ClassVar[tuple[str, ...]] = ("ec2:ModifyVpcEndpoint",)
    applied: ClassVar[Outcome] = Outcome.ENABLED
    audit_state: ClassVar[str] = "would enable private DNS"
    on_endpoint: ClassVar[bool] = True


# --- releases (Prune=own): only what the remediator created, only what no opted-in subnet needs ---


@dataclass(frozen=True)
class DetachRouteTables(Action):
    """Route tables no opted-in subnet needing the service uses, off one of the remediator's gateway endpoints."""

    endpoint_id: str
    service: str
    route_table_ids: tuple[str, ...]
    why: str
    kind: ClassVar[str] = "detach_route_tables"
    permissions: ClassVar[tuple[str, ...]] = ("ec2:ModifyVpcEndpoint",)
    applied: ClassVar[Outcome] = Outcome.RELEASED
    audit_state: ClassVar[str] = "would release"
    on_endpoint: ClassVar[bool] = True
    releases: ClassVar[bool] = True


@dataclass(frozen=True)
class RemoveSubnets(Action):
    """AZs no opted-in subnet needing the service occupies, off one of the remediator's interface endpoints."""

    endpoint_id: str
    service: str
    subnet_ids: tuple[str, ...]
    why: str
    kind: ClassVar[str] = "remove_subnets"
    permissions: ClassVar[tuple[str, ...]] = ("ec2:ModifyVpcEndpoint",)
    applied: ClassVar[Outcome] = Outcome.RELEASED
    audit_state: ClassVar[str] = "would release"
    billed_per_az: ClassVar[bool] = True
    on_endpoint: ClassVar[bool] = True
    releases: ClassVar[bool] = True


@dataclass(frozen=True)
class MoveSubnets(Action):
    """The remediator's ENIs out of leaving subnets, into another opted-in subnet of the same AZ, in one call."""

    endpoint_id: str
    service: str
    removed_subnet_ids: tuple[str, ...]
    subnet_ids: tuple[str, ...]  # the subnets that take over, one per AZ
    why: str
    kind: ClassVar[str] = "move_subnets"
    permissions: ClassVar[tuple[str, ...]] = ("ec2:ModifyVpcEndpoint",)
    applied: ClassVar[Outcome] = Outcome.MOVED
    audit_state: ClassVar[str] = "would move"
    on_endpoint: ClassVar[bool] = True
    releases: ClassVar[bool] = True


@dataclass(frozen=True)
class DeleteEndpoint(Action):
    """One of the remediator's endpoints that nothing needs any more."""

    endpoint_id: str
    service: str
    endpoint_type: str
    subnet_ids: tuple[str, ...]  # interface: the AZs it served (what deleting it saves)
    why: str
    kind: ClassVar[str] = "delete_endpoint"
    permissions: ClassVar[tuple[str, ...]] = ("ec2:DeleteVpcEndpoints",)
    applied: ClassVar[Outcome] = Outcome.DELETED
    audit_state: ClassVar[str] = "would delete"
    billed_per_az: ClassVar[bool] = True
    on_endpoint: ClassVar[bool] = True
    releases: ClassVar[bool] = True


@dataclass(frozen=True)
class DeleteSecurityGroup(Action):
    """The remediator's security group once no endpoint uses it (deleted ones included: EC2 frees a
    group only when the endpoint's network interfaces are gone)."""

    group_id: str
    why: str
    kind: ClassVar[str] = "delete_security_group"
    permissions: ClassVar[tuple[str, ...]] = ("ec2:DeleteSecurityGroup",)
    applied: ClassVar[Outcome] = Outcome.DELETED
    audit_state: ClassVar[str] = "would delete"
    on_security_group: ClassVar[bool] = True
    releases: ClassVar[bool] = True


@dataclass(frozen=True)
class MarkLeaving(Action):
    """Remembers, on the remediator's own endpoints, that subnets are leaving, each until its time, in one call."""

    endpoint_ids: tuple[str, ...]
    subnet_ids: tuple[str, ...]
    until: tuple[str, ...]  # ISO 8601 UTC, one per subnet
    kind: ClassVar[str] = "mark_leaving"
    permissions: ClassVar[tuple[str, ...]] = ("ec2:CreateTags",)
    applied: ClassVar[Outcome] = Outcome.MARKED
    audit_state: ClassVar[str] = "would mark"
    releases: ClassVar[bool] = True
    bookkeeping: ClassVar[bool] = True


@dataclass(frozen=True)
class ForgetLeaving(Action):
    """Drops leaving marks that expired or whose subnet is gone (a resource holds at most 50 tags)."""

    endpoint_ids: tuple[str, ...]
    subnet_ids: tuple[str, ...]
    kind: ClassVar[str] = "forget_leaving"
    permissions: ClassVar[tuple[str, ...]] = ("ec2:DeleteTags",)
    applied: ClassVar[Outcome] = Outcome.UNMARKED
    audit_state: ClassVar[str] = "would unmark"
    releases: ClassVar[bool] = True
    bookkeeping: ClassVar[bool] = True


BY_KIND: dict[str, type[Action]] = {}

ALL_ACTIONS: tuple[type[Action], ...] = (
    CreateSecurityGroup,
    AuthorizeHttps,
    CreateGatewayEndpoint,
    AttachRouteTables,
    CreateInterfaceEndpoint,
    AddSubnets,
    EnablePrivateDns,
    DetachRouteTables,
    RemoveSubnets,
    MoveSubnets,
    DeleteEndpoint,
    DeleteSecurityGroup,
    MarkLeaving,
    ForgetLeaving,
)

BY_KIND.update({action.kind: action for action in ALL_ACTIONS})
