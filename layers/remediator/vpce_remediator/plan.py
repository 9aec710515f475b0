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
    EnablePrivateDns,
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
    hosted_zone_id: str | None = None  # served_centrally: the hub's private hosted zone
    note: Note | None = None
    warning: bool = False


@dataclass(frozen=True)
class Plan:
    vpc_id: str
    findings: tuple[Finding, ...] = ()
    actions: tuple[Action, ...] = ()
    # True when an interface endpoint must be created (or get private DNS) but the snapshot lacks
    # VpcDetails: the caller reads them and plans again (they cost four calls, so only when needed).
    needs_details: bool = False
    # True when an interface need that no endpoint of the VPC reaches must be checked against the
    # private hosted zones associated with the VPC (a hub): the caller reads them (one call) and plans again.
    needs_zones: bool = False
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
    so never ``needs_details`` (but ``needs_zones``: a hub's zone decides what is served)."""
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
        planned = _plan_interface(snapshot, catalog, service, users, findings)
        if planned is None:
            return Plan(snapshot.vpc_id, needs_zones=True)
        interface_actions += planned
    if findings_only:
        return Plan(snapshot.vpc_id, tuple(findings))
    adds = gateway_actions + interface_actions
    # An endpoint still to be created needs the remediator's group: it is not released meanwhile.
    creates_interface = any(isinstance(a, CreateInterfaceEndpoint) for a in interface_actions)
    actions: list[Action] = []
    if not releases_only:
        if any(isinstance(a, CreateInterfaceEndpoint | EnablePrivateDns) for a in interface_actions):
            if snapshot.details is None:
                return Plan(snapshot.vpc_id, needs_details=True)
            interface_actions = _settle_interface_creates(
                snapshot, eligible, catalog, interface_actions, findings, policies.allowed_cidrs
            )
        actions = gateway_actions + interface_actions
    if prune:
        unknown = [i for i, f in enumerate(findings) if f.reason == Reason.UNKNOWN_POLICY]
        if unknown:
            # What a subnet on an unknown policy needs is unknown: release nothing in its VPC.
            for i in unknown:
                findings[i] = replace(findings[i], note=Note.RELEASES_HELD)
        else:
            needs = [Need(e.subnet, e.route_table.id, e.policy.gateway_services, e.policy.interface_services) for e in eligible]
            unreached = _unreached(snapshot, catalog, eligible)
            actions += plan_releases(snapshot, catalog, needs, leaving, new, now, adds, creates_interface, unreached)
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
) -> list[Action] | None:
    """None when the VPC's private hosted zones must be read first (a need no endpoint of its own reaches)."""
    info = catalog.get(service, EndpointType.INTERFACE)
    if info is None:
        findings += [
            _finding(e, service, EndpointType.INTERFACE, Status.SKIPPED, Reason.SERVICE_UNAVAILABLE, warning=True) for e in users
        ]
        return []
    options, _ = _options(users, service, EndpointType.INTERFACE)
    az_of = {s.id: s.az for s in snapshot.subnets}
    endpoints, gone = _endpoints(snapshot, info.service_name, EndpointType.INTERFACE)
    deleted = gone[-1] if gone and not endpoints else None
    # Served means reachable: with private DNS the service's own name resolves to the endpoint's ENI in
    # every AZ it has one; without it, only clients that use the endpoint's own names reach it. A policy
    # that turns private DNS off, or a service without a private DNS name, asks for the ENI alone.
    dns_needed = info.private_dns_name is not None and options.private_dns is not False
    reaching = [e for e in endpoints if e.private_dns or not dns_needed]
    serving = {az_of[s]: e.id for e in reversed(reaching) for s in e.subnet_ids if s in az_of}
    unserved = [e for e in users if e.subnet.az in info.azs and e.subnet.az not in serving]
    zone = None
    if unserved and info.private_dns_name is not None:
        # A hub's private hosted zone of the service's name resolves it for the whole VPC.
        if snapshot.zones is None:
            return None
        zone = snapshot.hub_zone(info)
    # Where nothing reaches: an endpoint of its own without private DNS is extended and gets it (once the
    # VPC details say both DNS attributes are on); someone else's is reported, never changed or doubled.
    dark = [e for e in endpoints if e not in reaching]
    mine_dark = [e for e in dark if e.managed]
    target = _preferred_interface_endpoint(reaching) or (mine_dark[0] if mine_dark else None)
    local = bool(unserved) and zone is None and not options.central and (target is not None or not dark)
    actions: list[Action] = []
    if local:
        covered = set(serving) | ({az_of[s] for s in target.subnet_ids if s in az_of} if target else set())
        by_az: dict[str, list[_Eligible]] = defaultdict(list)
        for e in unserved:
            if e.subnet.az not in covered:
                by_az[e.subnet.az].append(e)
        # One ENI serves a whole AZ; put it in the opted-in subnet with the most free addresses.
        subnet_ids = tuple(max(by_az[az], key=lambda e: (e.subnet.available_ips, e.subnet.id)).subnet.id for az in sorted(by_az))
        if target is not None and subnet_ids:
            actions.append(AddSubnets(snapshot.vpc_id, target.id, service, subnet_ids))
        elif target is None:
            # Private DNS, the policy and the group are settled once VpcDetails are read.
            create = CreateInterfaceEndpoint(
                snapshot.vpc_id, service, info.service_name, subnet_ids, False, None, generation=gone
            )
            actions.append(create)
        if target is not None and not target.private_dns and dns_needed:
            actions.append(EnablePrivateDns(snapshot.vpc_id, target.id, service))
    kinds = {type(a): a.kind for a in actions}
    for e in users:
        az = e.subnet.az

        def finding(status: Status, reason: Reason, e: _Eligible = e, **extra: Any) -> None:
            findings.append(_finding(e, service, EndpointType.INTERFACE, status, reason, **extra))

        in_target = target is not None and az in {az_of.get(s) for s in target.subnet_ids}
        if az in serving:
            finding(Status.COMPLIANT, Reason.AZ_SERVED, endpoint_id=serving[az])
        elif az not in info.azs:
            finding(Status.SKIPPED, Reason.SERVICE_NOT_IN_AZ, warning=True)
        elif zone is not None:
            finding(Status.COMPLIANT, Reason.SERVED_CENTRALLY, hosted_zone_id=zone)
        elif options.central:
            finding(Status.NONCOMPLIANT, Reason.CENTRAL_MISSING, warning=True)
        elif not local:
            # Only someone else's endpoints, all without private DNS: theirs to fix (see docs/operations.md).
            finding(Status.NONCOMPLIANT, Reason.ENDPOINT_PRIVATE_DNS_OFF, endpoint_id=dark[0].id, warning=True)
        elif target is not None and in_target:
            finding(Status.NONCOMPLIANT, Reason.ENDPOINT_PRIVATE_DNS_OFF, endpoint_id=target.id, action=kinds[EnablePrivateDns])
        elif target is not None:
            finding(Status.NONCOMPLIANT, Reason.AZ_MISSING, endpoint_id=target.id, action=kinds[AddSubnets])
        else:
            reason = Reason.ENDPOINT_DELETED if deleted else Reason.NO_ENDPOINT
            finding(Status.NONCOMPLIANT, reason, action=kinds[CreateInterfaceEndpoint], replaces=deleted)
    return actions


def _preferred_interface_endpoint(endpoints: list[Endpoint]) -> Endpoint | None:
    # The private-DNS one is the one clients resolve to; extend that one.
    return min(endpoints, key=lambda e: (not e.private_dns, e.id), default=None)


def _settle_interface_creates(
    snapshot: VpcSnapshot,
    eligible: list[_Eligible],
    catalog: ServiceCatalog,
    actions: list[Action],
    findings: list[Finding],
    trusted_cidrs: frozenset[str],
) -> list[Action]:
    """Private DNS, endpoint policy and the security group for interface creates, and whether private DNS
    can be turned on, now that details are known."""
    details = snapshot.details
    assert details is not None
    dns_ok = details.dns_support and details.dns_hostnames
    if not dns_ok:
        # Private DNS needs both VPC attributes, which are not the remediator's to change.
        for enable in [a for a in actions if isinstance(a, EnablePrivateDns)]:
            _rewrite(findings, enable, action=None, note=Note.PRIVATE_DNS_OFF, warning=True)
        actions = [a for a in actions if not isinstance(a, EnablePrivateDns)]
    group = details.security_group
    creates = [a for a in actions if isinstance(a, CreateInterfaceEndpoint)]
    if group is not None and not group.trusted(trusted_cidrs | set(details.cidrs)):
        # Someone else's group carries our name (no tag), or a group with our name and tag holds rules we
        # never write (anyone who may tag can plant one): no endpoint of ours gets it, and it is not written to.
        reason = Reason.GROUP_UNTRUSTED if group.owned else Reason.GROUP_NAME_TAKEN
        for create in creates:
            _rewrite(findings, create, status=Status.SKIPPED, reason=reason, action=None, warning=True)
        return [a for a in actions if not isinstance(a, CreateInterfaceEndpoint)]
    if not creates:
        return actions
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


def _unreached(snapshot: VpcSnapshot, catalog: ServiceCatalog, eligible: list[_Eligible]) -> frozenset[str]:
    """The remediator's interface endpoints that reach nobody and never will while things stay as they
    are: a hub zone serves the service, or it has private DNS off while another endpoint has it on."""
    found = set()
    for endpoint in snapshot.endpoints:
        if not (endpoint.managed and endpoint.live and endpoint.type == EndpointType.INTERFACE):
            continue
        info = next(
            (i for i in catalog.services.values() if i.service_name == endpoint.service_name and i.type == endpoint.type), None
        )
        if info is None or info.private_dns_name is None:
            continue
        if snapshot.hub_zone(info):
            found.add(endpoint.id)
            continue
        users = [e for e in eligible if info.short_name in e.policy.interface_services]
        if users and _options(users, info.short_name, EndpointType.INTERFACE)[0].private_dns is False:
            continue  # its policy asks for the ENI alone
        others = [
            e
            for e in snapshot.endpoints
            if e.id != endpoint.id and e.live and e.service_name == endpoint.service_name and e.type == endpoint.type
        ]
        if not endpoint.private_dns and any(e.private_dns for e in others):
            found.add(endpoint.id)
    return frozenset(found)


def _rewrite(findings: list[Finding], planned: CreateInterfaceEndpoint | EnablePrivateDns, **changes: Any) -> None:
    """Amends the findings that a late decision about this action (made once VpcDetails are known) changes."""
    for i, f in enumerate(findings):
        if f.service == planned.service and f.endpoint_type == EndpointType.INTERFACE and f.action == planned.kind:
            findings[i] = replace(f, **changes)
