"""The pure core: (snapshot, policies, services) -> findings and the minimal actions. No boto3 here.

A finding says, for one subnet (and one service), whether it is compliant, skipped and why, or not
compliant and which action fixes it. Actions are grouped so that there is one create per missing
endpoint carrying all its route tables or subnets, and one modify per endpoint that lacks some.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from vpce_remediator.actions import (
    Action,
    AddSubnets,
    AttachRouteTables,
    AuthorizeHttps,
    CreateGatewayEndpoint,
    CreateInterfaceEndpoint,
    CreateSecurityGroup,
)
from vpce_remediator.models import Endpoint, RouteTable, ServiceCatalog, Subnet, VpcSnapshot
from vpce_remediator.policy import Policy, PolicySet, ServiceOptions
from vpce_remediator.release import Need, awaiting_ec2, leaving_subnets, plan_releases
from vpce_remediator.vocabulary import EndpointType, Note, Reason, Status


@dataclass(frozen=True)
class Finding:
    vpc_id: str
    subnet_id: str
    status: Status
    reason: Reason
    az: str | None = None
    route_table_id: str | None = None
    policy: str | None = None
    service: str | None = None
    endpoint_type: str | None = None
    endpoint_id: str | None = None
    action: str | None = None  # kind of the action that fixes it
    replaces: str | None = None  # a deleted endpoint the fix restores
    note: Note | None = None
    warning: bool = False


@dataclass(frozen=True)
class Plan:
    vpc_id: str
    findings: tuple[Finding, ...] = ()
    actions: tuple[Action, ...] = ()
    # True when an interface endpoint must be created but the snapshot lacks VpcDetails:
    # the caller reads them and plans again (they cost four calls, so only when needed).
    needs_details: bool = False
    # A release waits for EC2 to finish another (an endpoint of the remediator's still being deleted):
    # the VPC is checked again shortly (settle.recheck).
    awaiting_ec2: bool = False

    @property
    def releases(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.releases)

    @property
    def noncompliant(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status == Status.NONCOMPLIANT)


@dataclass(frozen=True)
class _Eligible:
    subnet: Subnet
    route_table: RouteTable
    policy: Policy


def plan_vpc(
    snapshot: VpcSnapshot,
    policies: PolicySet,
    catalog: ServiceCatalog,
    opt_in_tag_key: str,
    *,
    prune: bool = False,
    now: float = 0.0,
    newly_leaving: Mapping[str, float] | None = None,
    releases_only: bool = False,
    findings_only: bool = False,
) -> Plan:
    """``prune``: also plan the releases (Prune=own). ``newly_leaving``: subnet id -> until, the subnets
    whose delete EC2 refused in the calls this reconcile covers; with the unexpired marks on the
    remediator's own endpoints (at ``now``), they are leaving: nothing is added to them, and its ENIs
    move out of them. ``releases_only``: a prompt reconcile, which takes away and adds nothing (what
    is missing waits for the settle window), and tells only the decisions about what it releases.
    ``findings_only``: what is missing and why, not how it would be made (the Config rule): no actions,
    so never ``needs_details``."""
    findings: list[Finding] = []
    new = dict(newly_leaving or {}) if prune else {}
    leaving = leaving_subnets(snapshot, new, now) if prune else {}
    eligible = _eligible_subnets(snapshot, policies, opt_in_tag_key, findings, leaving)
    gateway_actions: list[Action] = []
    for service in _required(eligible, lambda p: p.gateway_services):
        users = [e for e in eligible if service in e.policy.gateway_services]
        gateway_actions += _plan_gateway(snapshot, catalog, service, users, findings)
    interface_actions: list[Action] = []
    for service in _required(eligible, lambda p: p.interface_services):
        users = [e for e in eligible if service in e.policy.interface_services]
        interface_actions += _plan_interface(snapshot, catalog, service, users, findings)
    if findings_only:
        return Plan(snapshot.vpc_id, tuple(findings))
    adds = gateway_actions + interface_actions
    # An endpoint still to be created needs the remediator's group: it is not released meanwhile.
    creates_interface = any(isinstance(a, CreateInterfaceEndpoint) for a in interface_actions)
    actions: list[Action] = []
    if not releases_only:
        if creates_interface:
            if snapshot.details is None:
                return Plan(snapshot.vpc_id, needs_details=True)
            interface_actions = _settle_interface_creates(snapshot, eligible, catalog, interface_actions, findings)
        actions = gateway_actions + interface_actions
    if prune:
        unknown = [i for i, f in enumerate(findings) if f.reason == Reason.UNKNOWN_POLICY]
        if unknown:
            # What a subnet on an unknown policy needs is unknown: release nothing in its VPC.
            for i in unknown:
                findings[i] = replace(findings[i], note=Note.RELEASES_HELD)
        else:
            needs = [Need(e.subnet, e.route_table.id, e.policy.gateway_services, e.policy.interface_services) for e in eligible]
            actions += plan_releases(snapshot, catalog, needs, leaving, new, now, adds, keep_group=creates_interface)
    if releases_only:
        findings = [f for f in findings if f.reason == Reason.SUBNET_LEAVING or f.note == Note.RELEASES_HELD]
    return Plan(snapshot.vpc_id, tuple(findings), tuple(actions), awaiting_ec2=prune and awaiting_ec2(snapshot))


def _eligible_subnets(
    snapshot: VpcSnapshot, policies: PolicySet, key: str, findings: list[Finding], leaving: Mapping[str, float]
) -> list[_Eligible]:
    eligible = []
    for subnet in sorted(snapshot.subnets, key=lambda s: s.id):

        def skipped(reason: Reason, subnet: Subnet = subnet, **extra: Any) -> Finding:
            return Finding(snapshot.vpc_id, subnet.id, Status.SKIPPED, reason, az=subnet.az, **extra)

        if key not in subnet.tags:
            findings.append(skipped(Reason.NOT_OPTED_IN))
            continue
        if subnet.id in leaving:
            findings.append(skipped(Reason.SUBNET_LEAVING, policy=subnet.tags[key]))
            continue
        policy = policies.resolve(subnet.tags[key])
        if policy is None:
            findings.append(skipped(Reason.UNKNOWN_POLICY, policy=subnet.tags[key], warning=True))
            continue
        table = snapshot.effective_route_table(subnet.id)
        if table is None:
            findings.append(skipped(Reason.NO_ROUTE_TABLE, policy=policy.name, warning=True))
            continue
        if table.routes_to_internet_gateway:
            findings.append(skipped(Reason.PUBLIC_SUBNET, route_table_id=table.id, policy=policy.name, warning=True))
            continue
        eligible.append(_Eligible(subnet, table, policy))
    return eligible


def _required(eligible: Iterable[_Eligible], services_of: Callable[[Policy], tuple[str, ...]]) -> list[str]:
    return sorted({service for e in eligible for service in services_of(e.policy)})


def _finding(e: _Eligible, service: str, endpoint_type: str, status: Status, reason: Reason, **extra: Any) -> Finding:
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


def _endpoints(snapshot: VpcSnapshot, service_name: str, endpoint_type: str) -> tuple[list[Endpoint], tuple[str, ...]]:
    """The live endpoints for a service, and the deleted ones (a create after them restores one)."""
    matching = sorted(
        (e for e in snapshot.endpoints if e.service_name == service_name and e.type == endpoint_type), key=lambda e: e.id
    )
    return [e for e in matching if e.live], tuple(e.id for e in matching if not e.live)


def _options(users: list[_Eligible], service: str, endpoint_type: str) -> tuple[ServiceOptions, bool]:
    """An endpoint serves the whole VPC, so one set of options applies: the first policy's by name."""
    by_policy = {e.policy.name: e.policy.options_for(service, endpoint_type) for e in users}
    chosen = by_policy[min(by_policy)]
    return chosen, any(o != chosen for o in by_policy.values())


def _plan_gateway(
    snapshot: VpcSnapshot, catalog: ServiceCatalog, service: str, users: list[_Eligible], findings: list[Finding]
) -> list[Action]:
    info = catalog.get(service, EndpointType.GATEWAY)
    if info is None:
        findings += [
            _finding(e, service, EndpointType.GATEWAY, Status.SKIPPED, Reason.SERVICE_UNAVAILABLE, warning=True) for e in users
        ]
        return []
    endpoints, gone = _endpoints(snapshot, info.service_name, EndpointType.GATEWAY)
    deleted = gone[-1] if gone and not endpoints else None
    serving = {table: e.id for e in reversed(endpoints) for table in e.route_table_ids}
    missing = sorted({e.route_table.id for e in users if e.route_table.id not in serving})
    if not missing:
        findings += [
            _finding(
                e,
                service,
                EndpointType.GATEWAY,
                Status.COMPLIANT,
                Reason.ROUTE_TABLE_ASSOCIATED,
                endpoint_id=serving[e.route_table.id],
            )
            for e in users
        ]
        return []
    options, conflict = _options(users, service, EndpointType.GATEWAY)
    note = Note.OPTIONS_CONFLICT if conflict else None
    action: Action
    if endpoints:
        # Reuse the VPC's endpoint whoever made it: a route table can sit on only one per service.
        action = AttachRouteTables(snapshot.vpc_id, endpoints[0].id, service, tuple(missing))
    else:
        document = options.policy_document if info.policy_supported else None
        if options.policy_document and not info.policy_supported:
            note = Note.POLICY_NOT_SUPPORTED
        action = CreateGatewayEndpoint(snapshot.vpc_id, service, info.service_name, tuple(missing), document, gone)
    for e in users:
        endpoint_id = serving.get(e.route_table.id)
        if endpoint_id:
            findings.append(
                _finding(
                    e, service, EndpointType.GATEWAY, Status.COMPLIANT, Reason.ROUTE_TABLE_ASSOCIATED, endpoint_id=endpoint_id
                )
            )
        else:
            reason = Reason.ROUTE_TABLE_MISSING if endpoints else (Reason.ENDPOINT_DELETED if deleted else Reason.NO_ENDPOINT)
            target = endpoints[0].id if endpoints else None
            findings.append(
                _finding(
                    e,
                    service,
                    EndpointType.GATEWAY,
                    Status.NONCOMPLIANT,
                    reason,
                    endpoint_id=target,
                    action=action.kind,
                    replaces=deleted,
                    note=note,
                    warning=note is not None,
                )
            )
    return [action]


def _plan_interface(
    snapshot: VpcSnapshot, catalog: ServiceCatalog, service: str, users: list[_Eligible], findings: list[Finding]
) -> list[Action]:
    info = catalog.get(service, EndpointType.INTERFACE)
    if info is None:
        findings += [
            _finding(e, service, EndpointType.INTERFACE, Status.SKIPPED, Reason.SERVICE_UNAVAILABLE, warning=True) for e in users
        ]
        return []
    az_of = {s.id: s.az for s in snapshot.subnets}
    endpoints, gone = _endpoints(snapshot, info.service_name, EndpointType.INTERFACE)
    deleted = gone[-1] if gone and not endpoints else None
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
        # Private DNS, the policy and the group are settled once VpcDetails are read.
        action = CreateInterfaceEndpoint(snapshot.vpc_id, service, info.service_name, subnet_ids, False, None, generation=gone)
    for e in users:
        az = e.subnet.az
        if az in serving:
            findings.append(
                _finding(e, service, EndpointType.INTERFACE, Status.COMPLIANT, Reason.AZ_SERVED, endpoint_id=serving[az])
            )
        elif az not in info.azs:
            findings.append(_finding(e, service, EndpointType.INTERFACE, Status.SKIPPED, Reason.SERVICE_NOT_IN_AZ, warning=True))
        else:
            assert action is not None
            reason = Reason.AZ_MISSING if target else (Reason.ENDPOINT_DELETED if deleted else Reason.NO_ENDPOINT)
            findings.append(
                _finding(
                    e,
                    service,
                    EndpointType.INTERFACE,
                    Status.NONCOMPLIANT,
                    reason,
                    endpoint_id=target.id if target else None,
                    action=action.kind,
                    replaces=deleted,
                )
            )
    return [action] if action else []


def _preferred_interface_endpoint(endpoints: list[Endpoint]) -> Endpoint | None:
    # The private-DNS one is the one clients resolve to; extend that one.
    return min(endpoints, key=lambda e: (not e.private_dns, e.id), default=None)


def _settle_interface_creates(
    snapshot: VpcSnapshot, eligible: list[_Eligible], catalog: ServiceCatalog, actions: list[Action], findings: list[Finding]
) -> list[Action]:
    """Private DNS, endpoint policy and the security group for interface creates, now that details are known."""
    details = snapshot.details
    assert details is not None
    group = details.security_group
    creates = [a for a in actions if isinstance(a, CreateInterfaceEndpoint)]
    if group is not None and not group.owned:
        # Someone else's group carries our name: we may not write to it and cannot create ours.
        for create in creates:
            _rewrite(findings, create, status=Status.SKIPPED, reason=Reason.GROUP_NAME_TAKEN, action=None, warning=True)
        return [a for a in actions if not isinstance(a, CreateInterfaceEndpoint)]
    dns_ok = details.dns_support and details.dns_hostnames
    allowed: list[str] = list(details.cidrs)
    settled: list[Action] = []
    for action in actions:
        if isinstance(action, CreateInterfaceEndpoint):
            users = [e for e in eligible if action.service in e.policy.interface_services]
            options, conflict = _options(users, action.service, EndpointType.INTERFACE)
            info = catalog.get(action.service, EndpointType.INTERFACE)
            assert info is not None
            wants_dns = options.private_dns if options.private_dns is not None else info.private_dns_name is not None
            supported = info.policy_supported or not options.policy_document
            note = (
                Note.PRIVATE_DNS_OFF
                if wants_dns and not dns_ok
                else Note.POLICY_NOT_SUPPORTED
                if not supported
                else Note.OPTIONS_CONFLICT
                if conflict
                else None
            )
            if note:
                _rewrite(findings, action, note=note, warning=True)
            allowed += [c for e in users for c in e.policy.options_for(action.service, EndpointType.INTERFACE).allowed_cidrs]
            action = replace(
                action,
                private_dns=wants_dns and dns_ok,
                security_group_id=group.id if group else None,
                policy_document=options.policy_document if info.policy_supported else None,
            )
        settled.append(action)
    cidrs = tuple(dict.fromkeys(allowed))
    if group is None:
        return [CreateSecurityGroup(snapshot.vpc_id, cidrs), *settled]
    if missing := tuple(c for c in cidrs if c not in group.https_ingress_cidrs):
        return [AuthorizeHttps(snapshot.vpc_id, group.id, missing), *settled]
    return settled


def _rewrite(findings: list[Finding], create: CreateInterfaceEndpoint, **changes: Any) -> None:
    """Amends the findings that a late decision about this create (made once VpcDetails are known) changes."""
    for i, f in enumerate(findings):
        if f.service == create.service and f.endpoint_type == EndpointType.INTERFACE and f.action == create.kind:
            findings[i] = replace(f, **changes)
