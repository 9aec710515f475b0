"""The pure core: (snapshot, policies, services) -> findings and the minimal actions. No boto3 here.

A finding says, for one subnet (and one service), whether it is compliant, skipped and why, or not
compliant and which action fixes it. Actions are grouped so that there is one create per missing
endpoint carrying all its route tables or subnets, and one modify per endpoint that lacks some.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from vpce_remediator.actions import (
    Action,
    AddSubnets,
    AttachRouteTables,
    AuthorizeHttps,
    CreateGatewayEndpoint,
    CreateInterfaceEndpoint,
    CreateSecurityGroup,
)
from vpce_remediator.models import GATEWAY, INTERFACE, Endpoint, RouteTable, ServiceCatalog, Subnet, VpcSnapshot
from vpce_remediator.policy import Policy, PolicySet

COMPLIANT = "compliant"
NONCOMPLIANT = "noncompliant"
SKIPPED = "skipped"

# Reasons, stable strings: operators filter logs on them.
NOT_OPTED_IN = "not_opted_in"
UNKNOWN_POLICY = "unknown_policy"
PUBLIC_SUBNET = "public_subnet"
NO_ROUTE_TABLE = "no_route_table"
SERVICE_UNAVAILABLE = "service_not_in_region"
SERVICE_NOT_IN_AZ = "service_not_offered_in_az"
ROUTE_TABLE_ASSOCIATED = "route_table_associated"
AZ_SERVED = "az_served"
NO_ENDPOINT = "no_endpoint"
ROUTE_TABLE_MISSING = "route_table_not_associated"
AZ_MISSING = "az_not_served"
PRIVATE_DNS_OFF = "created_without_private_dns_vpc_dns_attributes_off"
GROUP_NAME_TAKEN = "security_group_name_taken_by_another_owner"


@dataclass(frozen=True)
class Finding:
    vpc_id: str
    subnet_id: str
    status: str
    reason: str
    az: str | None = None
    route_table_id: str | None = None
    policy: str | None = None
    service: str | None = None
    endpoint_type: str | None = None
    endpoint_id: str | None = None
    action: str | None = None  # kind of the action that fixes it
    warning: bool = False


@dataclass(frozen=True)
class Plan:
    vpc_id: str
    findings: tuple[Finding, ...] = ()
    actions: tuple[Action, ...] = ()
    # True when an interface endpoint must be created but the snapshot lacks VpcDetails:
    # the caller reads them and plans again (they cost four calls, so only when needed).
    needs_details: bool = False

    @property
    def noncompliant(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status == NONCOMPLIANT)


@dataclass(frozen=True)
class _Eligible:
    subnet: Subnet
    route_table: RouteTable
    policy: Policy


def plan_vpc(snapshot: VpcSnapshot, policies: PolicySet, catalog: ServiceCatalog, opt_in_tag_key: str) -> Plan:
    findings: list[Finding] = []
    eligible = _eligible_subnets(snapshot, policies, opt_in_tag_key, findings)
    actions: list[Action] = []
    for service in _required(eligible, lambda p: p.gateway_services):
        actions += _plan_gateway(
            snapshot, catalog, service, [e for e in eligible if service in e.policy.gateway_services], findings
        )
    interface_actions: list[Action] = []
    for service in _required(eligible, lambda p: p.interface_services):
        users = [e for e in eligible if service in e.policy.interface_services]
        interface_actions += _plan_interface(snapshot, catalog, service, users, findings)
    if any(isinstance(a, CreateInterfaceEndpoint) for a in interface_actions):
        if snapshot.details is None:
            return Plan(snapshot.vpc_id, needs_details=True)
        interface_actions = _with_security_group(snapshot, interface_actions, findings)
    return Plan(snapshot.vpc_id, tuple(findings), tuple(actions + interface_actions))


def _eligible_subnets(snapshot: VpcSnapshot, policies: PolicySet, key: str, findings: list[Finding]) -> list[_Eligible]:
    eligible = []
    for subnet in sorted(snapshot.subnets, key=lambda s: s.id):
        base = {"vpc_id": snapshot.vpc_id, "subnet_id": subnet.id, "az": subnet.az}
        if key not in subnet.tags:
            findings.append(Finding(**base, status=SKIPPED, reason=NOT_OPTED_IN))
            continue
        policy = policies.resolve(subnet.tags[key])
        if policy is None:
            findings.append(Finding(**base, status=SKIPPED, reason=UNKNOWN_POLICY, policy=subnet.tags[key], warning=True))
            continue
        table = snapshot.effective_route_table(subnet.id)
        if table is None:
            findings.append(Finding(**base, status=SKIPPED, reason=NO_ROUTE_TABLE, policy=policy.name, warning=True))
            continue
        if table.routes_to_internet_gateway:
            findings.append(
                Finding(**base, status=SKIPPED, reason=PUBLIC_SUBNET, route_table_id=table.id, policy=policy.name, warning=True)
            )
            continue
        eligible.append(_Eligible(subnet, table, policy))
    return eligible


def _required(eligible: Iterable[_Eligible], services_of) -> list[str]:
    return sorted({service for e in eligible for service in services_of(e.policy)})


def _finding(e: _Eligible, service: str, endpoint_type: str, status: str, reason: str, **extra) -> Finding:
    return Finding(
        vpc_id=e.subnet.vpc_id,
        subnet_id=e.subnet.id,
        az=e.subnet.az,
        route_table_id=e.route_table.id,
        policy=e.policy.name,
        service=service,
        endpoint_type=endpoint_type,
        status=status,
        reason=reason,
        **extra,
    )


def _live_endpoints(snapshot: VpcSnapshot, service_name: str, endpoint_type: str) -> list[Endpoint]:
    return sorted(
        (e for e in snapshot.endpoints if e.service_name == service_name and e.type == endpoint_type and e.live),
        key=lambda e: e.id,
    )


def _plan_gateway(
    snapshot: VpcSnapshot, catalog: ServiceCatalog, service: str, users: list[_Eligible], findings: list[Finding]
) -> list[Action]:
    info = catalog.get(service, GATEWAY)
    if info is None:
        findings += [_finding(e, service, GATEWAY, SKIPPED, SERVICE_UNAVAILABLE, warning=True) for e in users]
        return []
    endpoints = _live_endpoints(snapshot, info.service_name, GATEWAY)
    serving = {table: e.id for e in reversed(endpoints) for table in e.route_table_ids}
    missing = sorted({e.route_table.id for e in users if e.route_table.id not in serving})
    action: Action | None = None
    if missing and endpoints:
        # Reuse the VPC's endpoint whoever made it: a route table can sit on only one per service.
        action = AttachRouteTables(snapshot.vpc_id, endpoints[0].id, service, tuple(missing))
    elif missing:
        action = CreateGatewayEndpoint(snapshot.vpc_id, service, info.service_name, tuple(missing))
    for e in users:
        endpoint_id = serving.get(e.route_table.id)
        if endpoint_id:
            findings.append(_finding(e, service, GATEWAY, COMPLIANT, ROUTE_TABLE_ASSOCIATED, endpoint_id=endpoint_id))
        else:
            reason = ROUTE_TABLE_MISSING if endpoints else NO_ENDPOINT
            target = endpoints[0].id if endpoints else None
            findings.append(_finding(e, service, GATEWAY, NONCOMPLIANT, reason, endpoint_id=target, action=action.kind))
    return [action] if action else []


def _plan_interface(
    snapshot: VpcSnapshot, catalog: ServiceCatalog, service: str, users: list[_Eligible], findings: list[Finding]
) -> list[Action]:
    info = catalog.get(service, INTERFACE)
    if info is None:
        findings += [_finding(e, service, INTERFACE, SKIPPED, SERVICE_UNAVAILABLE, warning=True) for e in users]
        return []
    az_of = {s.id: s.az for s in snapshot.subnets}
    endpoints = _live_endpoints(snapshot, info.service_name, INTERFACE)
    serving = {az_of[s]: e.id for e in reversed(endpoints) for s in e.subnet_ids if s in az_of}
    by_az: dict[str, list[_Eligible]] = defaultdict(list)
    for e in users:
        by_az[e.subnet.az].append(e)
    # One ENI serves a whole AZ; put it in the opted-in subnet with the most free addresses.
    chosen = {
        az: max(group, key=lambda e: (e.subnet.available_ips, e.subnet.id)).subnet.id
        for az, group in by_az.items()
        if az not in serving and az in info.azs
    }
    subnet_ids = tuple(chosen[az] for az in sorted(chosen))
    target = _preferred_interface_endpoint(endpoints)
    action: Action | None = None
    if subnet_ids and target:
        action = AddSubnets(snapshot.vpc_id, target.id, service, subnet_ids)
    elif subnet_ids:
        # private_dns and the group are settled by _with_security_group once VpcDetails are read.
        action = CreateInterfaceEndpoint(
            snapshot.vpc_id, service, info.service_name, subnet_ids, info.private_dns_name is not None, None
        )
    for e in users:
        az = e.subnet.az
        if az in serving:
            findings.append(_finding(e, service, INTERFACE, COMPLIANT, AZ_SERVED, endpoint_id=serving[az]))
        elif az not in info.azs:
            findings.append(_finding(e, service, INTERFACE, SKIPPED, SERVICE_NOT_IN_AZ, warning=True))
        else:
            reason = AZ_MISSING if target else NO_ENDPOINT
            findings.append(
                _finding(
                    e, service, INTERFACE, NONCOMPLIANT, reason, endpoint_id=target.id if target else None, action=action.kind
                )
            )
    return [action] if action else []


def _preferred_interface_endpoint(endpoints: list[Endpoint]) -> Endpoint | None:
    # The private-DNS one is the one clients resolve to; extend that one.
    return min(endpoints, key=lambda e: (not e.private_dns, e.id), default=None)


def _with_security_group(snapshot: VpcSnapshot, actions: list[Action], findings: list[Finding]) -> list[Action]:
    """Settles private DNS and the security group for interface creates, now that details are known."""
    details = snapshot.details
    assert details is not None
    dns_ok = details.dns_support and details.dns_hostnames
    group = details.security_group
    if group is not None and not group.owned:
        # Someone else's group carries our name: we may not write to it and cannot create ours.
        _mark(
            findings,
            lambda f: f.endpoint_type == INTERFACE and f.action == CreateInterfaceEndpoint.kind,
            SKIPPED,
            GROUP_NAME_TAKEN,
        )
        return [a for a in actions if not isinstance(a, CreateInterfaceEndpoint)]
    prelude: list[Action] = []
    if group is None:
        prelude.append(CreateSecurityGroup(snapshot.vpc_id, details.cidrs))
    elif missing := tuple(c for c in details.cidrs if c not in group.https_ingress_cidrs):
        prelude.append(AuthorizeHttps(snapshot.vpc_id, group.id, missing))
    settled: list[Action] = []
    for action in actions:
        if isinstance(action, CreateInterfaceEndpoint):
            private_dns = action.private_dns and dns_ok
            if action.private_dns and not dns_ok:
                _mark(findings, _fixed_by(action), NONCOMPLIANT, PRIVATE_DNS_OFF)
            action = CreateInterfaceEndpoint(
                action.vpc_id, action.service, action.service_name, action.subnet_ids, private_dns, group.id if group else None
            )
        settled.append(action)
    return prelude + settled


def _fixed_by(action: Action):
    return lambda f: f.service == getattr(action, "service", None) and f.action == action.kind


def _mark(findings: list[Finding], which, status: str, reason: str) -> None:
    """Rewrites the findings that a late decision (made once VpcDetails are known) changes; all are warnings."""
    for i, f in enumerate(findings):
        if which(f):
            action = f.action if status == NONCOMPLIANT else None
            findings[i] = replace(f, status=status, reason=reason, action=action, warning=True)
