"""What the remediator may take back (Prune=own), pure: only what it created, only what no opted-in
private subnet needs any more, judged on the snapshot the reconcile read.

- a route table of one of its gateway endpoints that no opted-in subnet needing the service uses:
  detached; an endpoint with no route table left: deleted;
- an AZ of one of its interface endpoints that no opted-in subnet needing the service occupies: its
  subnet removed; an endpoint with no AZ left: deleted. An ENI in a *leaving* subnet (one whose delete EC2
  refused) is moved to another opted-in subnet of its AZ, or its AZ released when there is none;
- its security group, once no endpoint uses it;
- the leaving marks it keeps on its own endpoints, written and forgotten here too.

Nothing someone else made is ever in these plans: not their endpoints, even ones the remediator extended.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from vpce_remediator.actions import (
    SECURITY_GROUP_NAME,
    Action,
    AddSubnets,
    AttachRouteTables,
    DeleteEndpoint,
    DeleteSecurityGroup,
    DetachRouteTables,
    ForgetLeaving,
    MarkLeaving,
    MoveSubnets,
    RemoveSubnets,
)
from vpce_remediator.models import Endpoint, ServiceCatalog, ServiceInfo, Subnet, VpcSnapshot
from vpce_remediator.vocabulary import EndpointState, EndpointType, Reason


@dataclass(frozen=True)
class Need:
    """An eligible (opted-in, private, known policy, not leaving) subnet and what its policy requires."""

    subnet: Subnet
    route_table_id: str
    gateway_services: tuple[str, ...]
    interface_services: tuple[str, ...]


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(text: str) -> float:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0  # a mark nobody can read (or none) is expired


def leaving_subnets(snapshot: VpcSnapshot, new: Mapping[str, float], now: float) -> dict[str, float]:
    """Subnet id -> until: the ones this reconcile learned about, and the unexpired marks on its endpoints."""
    found = {s: t for s, t in new.items() if t > now}
    for endpoint in snapshot.endpoints:
        # Any state: an endpoint the remediator deleted keeps its marks for as long as EC2 lists it.
        if endpoint.managed:
            for subnet, until in endpoint.leaving_marks.items():
                if epoch(until) > now:
                    found[subnet] = max(found.get(subnet, 0.0), epoch(until))
    return found


def awaiting_ec2(snapshot: VpcSnapshot) -> bool:
    """An endpoint of the remediator's is being deleted: its security group is free only once EC2 has
    deleted the endpoint's network interfaces."""
    return any(e.managed and e.state.lower() == EndpointState.DELETING for e in snapshot.endpoints)


def plan_releases(
    snapshot: VpcSnapshot,
    catalog: ServiceCatalog,
    needs: Iterable[Need],
    leaving: Mapping[str, float],
    new: Mapping[str, float],
    now: float,
    adds: Iterable[Action] = (),
    keep_group: bool = False,
    unreached: frozenset[str] = frozenset(),
) -> list[Action]:
    """The releases, marks first (so a reconcile that fails half-way still remembers what is leaving).
    ``adds``: what the same plan adds to existing endpoints, judged as already there (an endpoint about to
    serve a new subnet is not deleted for serving only unneeded ones now). ``unreached``: its interface
    endpoints that reach nobody (a hub serves the service, or another endpoint has the private DNS name):
    deleted, whatever subnets they are in."""
    needs = list(needs)
    by_name = {info.service_name: info for info in catalog.services.values()}
    az_of = {s.id: s.az for s in snapshot.subnets}
    ours = [_with(e, adds) for e in snapshot.endpoints if e.managed and e.live]
    actions: list[Action] = []
    deleted: set[str] = set()
    for endpoint in sorted(ours, key=lambda e: e.id):
        info = by_name.get(endpoint.service_name)
        if info is None or info.type != endpoint.type:
            continue  # a service the catalog does not know: what it serves cannot be judged, so it stays
        if endpoint.type == EndpointType.GATEWAY:
            actions += _gateway(snapshot.vpc_id, endpoint, info, needs, deleted)
        elif endpoint.id in unreached:
            deleted.add(endpoint.id)
            actions.append(
                DeleteEndpoint(
                    snapshot.vpc_id,
                    endpoint.id,
                    info.short_name,
                    endpoint.type,
                    tuple(sorted(endpoint.subnet_ids)),
                    Reason.NOT_NEEDED,
                )
            )
        elif endpoint.type == EndpointType.INTERFACE:
            actions += _interface(snapshot.vpc_id, endpoint, info, needs, leaving, az_of, deleted)
    hosting = {s for e in snapshot.endpoints if e.managed and e.live for s in e.subnet_ids}

    def remembered(subnet: str) -> bool:
        return any(e.managed and epoch(e.leaving_marks.get(subnet, "")) > now for e in snapshot.endpoints)

    # A leaving subnet that held one of its ENIs is remembered on every endpoint of its in the VPC (before
    # any is deleted, so the mark outlives them): a later reconcile then keeps its ENIs out too. The first
    # refusal starts the time; a subnet it has no ENI in needs no memory (nothing of its to move).
    unmarked = [(subnet, iso(until)) for subnet, until in sorted(new.items()) if subnet in hosting and not remembered(subnet)]
    marks: list[Action] = []
    if unmarked:
        subnets, untils = zip(*unmarked, strict=True)
        marks.append(MarkLeaving(snapshot.vpc_id, tuple(e.id for e in ours), subnets, untils))
    marks += _forget(snapshot, ours, deleted, leaving)
    return marks + actions + ([] if keep_group else _group(snapshot, deleted))


def _with(endpoint: Endpoint, adds: Iterable[Action]) -> Endpoint:
    subnets, tables = set(endpoint.subnet_ids), set(endpoint.route_table_ids)
    for action in adds:
        if isinstance(action, AddSubnets) and action.endpoint_id == endpoint.id:
            subnets.update(action.subnet_ids)
        elif isinstance(action, AttachRouteTables) and action.endpoint_id == endpoint.id:
            tables.update(action.route_table_ids)
    return replace(endpoint, subnet_ids=frozenset(subnets), route_table_ids=frozenset(tables))


def _gateway(vpc_id: str, endpoint: Endpoint, info: ServiceInfo, needs: list[Need], deleted: set[str]) -> list[Action]:
    needed = {n.route_table_id for n in needs if info.short_name in n.gateway_services}
    extra = tuple(sorted(endpoint.route_table_ids - needed))
    if extra and len(extra) < len(endpoint.route_table_ids):
        return [DetachRouteTables(vpc_id, endpoint.id, info.short_name, extra, Reason.NOT_NEEDED)]
    if not (endpoint.route_table_ids & needed):  # serves nothing, or nothing anyone needs
        deleted.add(endpoint.id)
        return [DeleteEndpoint(vpc_id, endpoint.id, info.short_name, endpoint.type, (), Reason.NOT_NEEDED)]
    return []


def _interface(
    vpc_id: str,
    endpoint: Endpoint,
    info: ServiceInfo,
    needs: list[Need],
    leaving: Mapping[str, float],
    az_of: Mapping[str, str],
    deleted: set[str],
) -> list[Action]:
    users = [n.subnet for n in needs if info.short_name in n.interface_services and n.subnet.az in info.azs]
    needed = {s.az for s in users}
    released, moved, replacements = [], [], []
    for subnet_id in sorted(endpoint.subnet_ids):
        az = az_of.get(subnet_id)
        if az is None:
            continue  # not in the snapshot (gone, or not this VPC's): nothing to judge it by
        if az not in needed:
            released.append(subnet_id)
        elif subnet_id in leaving:
            # The AZ is still needed: hand it to the opted-in subnet with the most free addresses.
            best = max((s for s in users if s.az == az), key=lambda s: (s.available_ips, s.id))
            moved.append(subnet_id)
            replacements.append(best.id)
    why = Reason.SUBNET_LEAVING if any(s in leaving for s in released) else Reason.NOT_NEEDED
    if len(released) == len(endpoint.subnet_ids):  # every AZ it serves released, or none to serve
        deleted.add(endpoint.id)
        return [DeleteEndpoint(vpc_id, endpoint.id, info.short_name, endpoint.type, tuple(released), why)]
    actions: list[Action] = []
    if moved:
        actions.append(
            MoveSubnets(vpc_id, endpoint.id, info.short_name, tuple(moved), tuple(replacements), Reason.SUBNET_LEAVING)
        )
    if released:
        actions.append(RemoveSubnets(vpc_id, endpoint.id, info.short_name, tuple(released), why))
    return actions


def _group(snapshot: VpcSnapshot, deleted: set[str]) -> list[Action]:
    """Its group, when no endpoint that is not deleted (by EC2, or by this plan) uses it. EC2 frees a group
    only once a deleted endpoint's network interfaces are gone: a delete refused for that is kept, and the
    next reconcile of the VPC tries again."""
    # Named by its endpoints until they are deleted (then only the VPC details find it: read for a recheck
    # and for a VPC whose delete EC2 refused).
    candidates = {
        gid
        for e in snapshot.endpoints
        if e.managed and e.state.lower() != EndpointState.DELETED
        for gid, name in e.groups.items()
        if name == SECURITY_GROUP_NAME
    }
    group = snapshot.details.security_group if snapshot.details is not None else None
    if group is not None:
        # Without the remediator's tag a group of its name is someone else's, however it is used; with it,
        # rules the remediator never writes mean someone planted or changed it: left for a human. Looser
        # than the test for using it (SecurityGroup.trusted): a CIDR that no policy names any more stays in
        # its own group after a policy change, and that group must still go when the VPC does.
        ours = group.owned and not group.other_ingress
        candidates = candidates | {group.id} if ours else candidates - {group.id}
    in_use = {
        gid for e in snapshot.endpoints if e.id not in deleted and e.state.lower() != EndpointState.DELETED for gid in e.groups
    }
    return [DeleteSecurityGroup(snapshot.vpc_id, gid, Reason.NOT_NEEDED) for gid in sorted(candidates - in_use)]


def _forget(snapshot: VpcSnapshot, ours: list[Endpoint], deleted: set[str], leaving: Mapping[str, float]) -> list[Action]:
    present = {s.id for s in snapshot.subnets}
    stale: dict[str, list[str]] = {}
    for endpoint in ours:
        if endpoint.id in deleted:
            continue
        for subnet in endpoint.leaving_marks:
            if subnet not in present or subnet not in leaving:
                stale.setdefault(endpoint.id, []).append(subnet)
    # One DeleteTags for all the endpoints that drop the same marks (usually all of them).
    by_marks: dict[tuple[str, ...], list[str]] = {}
    for endpoint_id, subnets in sorted(stale.items()):
        by_marks.setdefault(tuple(sorted(subnets)), []).append(endpoint_id)
    return [ForgetLeaving(snapshot.vpc_id, tuple(ids), subnets) for subnets, ids in sorted(by_marks.items())]
