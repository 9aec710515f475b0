"""Fidelity layer: make moto's EC2 refuse what real EC2 refuses for VPC endpoints.

moto keeps VPC endpoints in memory but skips several rules that real EC2
enforces.  A suite that runs against plain moto can therefore be green while
the same code fails in AWS.  ``enforce()`` patches moto's EC2 *backend model*
(``moto.ec2.models.vpcs.VPCBackend``), not botocore, so the rules hold both
in-process under ``moto.mock_aws()`` and behind ``moto.server.ThreadedMotoServer``
running in the same process.  Refusals are raised as moto EC2 errors
(subclasses of ``moto.ec2.exceptions.EC2ClientError``), so boto3 sees an
ordinary ``botocore.exceptions.ClientError`` carrying the real error code.

Usage::

    with mock_aws(), enforce() as fidelity:
        fidelity.restrict_service_azs("com.amazonaws.eu-west-1.ssm",
                                      ["eu-west-1a", "eu-west-1b"])
        ...  # boto3 calls

Rules (error code, then why moto needs help):

1. Interface endpoint: at most one subnet per Availability Zone, on
   CreateVpcEndpoint ``SubnetIds`` and on ModifyVpcEndpoint ``AddSubnetIds``
   (checked against the subnets the endpoint keeps after ``RemoveSubnetIds``).
   -> ``DuplicateSubnetsInSameZone`` "Found another VPC endpoint subnet in the
   availability zone of subnet-... . VPC endpoint subnets should be in
   different availability zones supported by the VPC endpoint service."
   moto accepts any number of subnets per AZ.

2. The service must be offered in the subnet's AZ.  moto offers every service
   in every AZ; ``Fidelity.restrict_service_azs(service, azs)`` narrows one.
   DescribeVpcEndpointServices then reports only those ``AvailabilityZones``
   for it (with or without ``ServiceNames=``; pagination untouched), and
   Create/Modify with a subnet elsewhere is refused.
   -> ``InvalidParameter`` "The VPC endpoint service <name> does not support
   the availability zone of the subnet: subnet-... ."

3. Private DNS on an interface endpoint needs the VPC attributes
   enableDnsSupport and enableDnsHostnames both true.  ``PrivateDnsEnabled``
   omitted means true for interface endpoints (real EC2 default for AWS
   services), so code that forgets to set it is caught too.
   -> ``InvalidParameter`` "Enabling private DNS requires both enableDnsSupport
   and enableDnsHostnames VPC attributes set to true for vpc-..."
   moto never looks at the VPC attributes.

4. Only one interface endpoint with private DNS per service per VPC
   (endpoints in state deleted/failed/rejected do not count).
   -> ``InvalidParameter`` "private-dns-enabled cannot be set because there is
   already a conflicting DNS domain for <dns name> in the VPC vpc-..."

5. A route table can be associated with only one gateway endpoint per service
   (CreateVpcEndpoint ``RouteTableIds``, ModifyVpcEndpoint
   ``AddRouteTableIds``).  Re-adding a route table that is already on the same
   endpoint is a no-op.
   -> ``RouteAlreadyExists`` "route table rtb-... already has a route with
   destination-prefix-list-id pl-..."
   moto silently overwrites the first endpoint's route.

6. ``ClientToken`` idempotency on CreateVpcEndpoint (per account and region):
   same token + same parameters returns the endpoint created first, whatever
   its state, and creates nothing; same token + different parameters
   -> ``IdempotentParameterMismatch`` "Arguments on this idempotent request
   are inconsistent with arguments used in previous request(s)."
   Compared: VpcId, ServiceName, VpcEndpointType, SubnetIds, RouteTableIds,
   SecurityGroupIds (each as a sorted set), PrivateDnsEnabled, PolicyDocument
   (as the exact string sent).  moto ignores ClientToken.

7. ModifyVpcEndpoint on a gateway endpoint keeps routes in step with its
   route tables: ``AddRouteTableIds`` adds the route "prefix list of the
   service -> vpce-..." to each added table (as moto's create already does,
   using the managed prefix list named after the service), and
   ``RemoveRouteTableIds`` removes that route again.  moto only edits the
   endpoint's RouteTableIds list.

8. An interface endpoint created without ``SecurityGroupIds`` gets the VPC's
   default security group, as in real EC2 (moto attaches none).
   ``Fidelity.endpoints_on_default_group(vpc_id)`` lists the endpoints that
   use that group.

9. Teardown order, as EC2 enforces it (moto checks only that a VPC has no
   subnets and no route table but the main one):
   - DeleteSubnet is refused while a network interface is in the subnet: an
     interface endpoint's (one per subnet in its ``SubnetIds``, as EC2 keeps
     them in step on Create/Modify), or any other ENI moto holds there;
   - DeleteSecurityGroup is refused while an endpoint that is not deleted uses
     the group;
   - DeleteVpc is refused while an endpoint that is not deleted, or a security
     group other than the default one, is left in it.
   -> ``DependencyViolation`` "The subnet 'subnet-...' has dependencies and
   cannot be deleted." / "resource sg-... has a dependent object" / "The vpc
   'vpc-...' has dependencies and cannot be deleted."

10. Network interfaces take time to go.  With ``Fidelity.eni_release_seconds``
   above 0 (default 0: at once, as moto does), an interface endpoint deleted
   by DeleteVpcEndpoints is ``deleting`` for that long (then ``deleted``), and
   keeps its subnets and security groups in use meanwhile; a subnet removed
   by ModifyVpcEndpoint ``RemoveSubnetIds`` stays in use as long.  Real EC2
   takes from seconds to minutes.

11. DeleteRouteTable takes the table off every gateway endpoint that lists
   it, as EC2 does (moto keeps it there, and then fails the endpoint's
   DeleteVpcEndpoints with InvalidRouteTableID.NotFound).

12. Private DNS and Route 53 (the hub pattern): a private-DNS interface
   endpoint is refused, on CreateVpcEndpoint and on ModifyVpcEndpoint
   ``PrivateDnsEnabled`` (which moto ignores; here it is applied, after rules 3
   and 4), while a private hosted zone of the service's DNS name is associated
   with the VPC -> ``InvalidParameter`` "... conflicting DNS domain ...".
   ListHostedZonesByVPC lists the zones of *every* account associated with
   the VPC, each with its ``Owner.OwningAccount``, as Route 53 does for a hub
   account's zones (moto lists the caller's own only).
   ``Fidelity.associate_hub_zone(account_id, name, vpc_id)`` makes such a zone.

Small normalisations that come with the rules: an omitted
``VpcEndpointType`` is stored as ``Gateway`` (the real default; moto stores
None, leaves it out of Describe and then crashes in DeleteVpcEndpoints), and a
gateway endpoint reports ``PrivateDnsEnabled`` false (moto reports true).
Missing route tables are refused before anything is stored (moto stores the
endpoint first and then fails on the route).

Thread safety: every check-then-create/modify sequence (and
DeleteVpcEndpoints) runs under one re-entrant lock per ``enforce()``, so rule
checks are atomic with the change they guard.

Not covered: subnets/route tables from another VPC, ListHostedZonesByVPC
pagination (moto returns every zone in one page), the states of a
create or modify (moto endpoints are ``available`` at once), and the other
resources that keep a VPC from being deleted (instances, gateways, ...).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ec2.models.route_tables import RouteBackend
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.models.subnets import SubnetBackend
from moto.ec2.models.vpcs import VPCBackend
from moto.ec2.responses.vpcs import VPCs
from moto.route53.models import Route53Backend, route53_backends

# Route 53 is global: moto keeps its backend under this region name.
GLOBAL_REGION = "global"

__all__ = [
    "ConflictingPrivateDnsDomain",
    "DuplicateSubnetsInSameZone",
    "Fidelity",
    "HasDependencies",
    "IdempotentParameterMismatch",
    "PrivateDnsNeedsVpcDnsAttributes",
    "RouteAlreadyExists",
    "ServiceNotInSubnetZone",
    "enforce",
]


# --------------------------------------------------------------------------
# Errors, shaped like the real EC2 ones.
# --------------------------------------------------------------------------


class DuplicateSubnetsInSameZone(EC2ClientError):
    def __init__(self, subnet_id: str) -> None:
        super().__init__(
            "DuplicateSubnetsInSameZone",
            f"Found another VPC endpoint subnet in the availability zone of "
            f"{subnet_id}. VPC endpoint subnets should be in different "
            f"availability zones supported by the VPC endpoint service.",
        )


class ServiceNotInSubnetZone(EC2ClientError):
    def __init__(self, service_name: str, subnet_id: str) -> None:
        super().__init__(
            "InvalidParameter",
            f"The VPC endpoint service {service_name} does not support the availability zone of the subnet: {subnet_id}.",
        )


class PrivateDnsNeedsVpcDnsAttributes(EC2ClientError):
    def __init__(self, vpc_id: str) -> None:
        super().__init__(
            "InvalidParameter",
            f"Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true for {vpc_id}",
        )


class ConflictingPrivateDnsDomain(EC2ClientError):
    def __init__(self, dns_name: str, vpc_id: str) -> None:
        super().__init__(
            "InvalidParameter",
            f"private-dns-enabled cannot be set because there is already a "
            f"conflicting DNS domain for {dns_name} in the VPC {vpc_id}",
        )


class RouteAlreadyExists(EC2ClientError):
    def __init__(self, route_table_id: str, prefix_list_id: str) -> None:
        super().__init__(
            "RouteAlreadyExists",
            f"route table {route_table_id} already has a route with destination-prefix-list-id {prefix_list_id}",
        )


class HasDependencies(EC2ClientError):
    def __init__(self, kind: str, resource_id: str) -> None:
        message = (
            f"resource {resource_id} has a dependent object"
            if kind == "security group"
            else f"The {kind} '{resource_id}' has dependencies and cannot be deleted."
        )
        super().__init__("DependencyViolation", message)


class IdempotentParameterMismatch(EC2ClientError):
    def __init__(self) -> None:
        super().__init__(
            "IdempotentParameterMismatch",
            "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).",
        )


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

# Endpoints in these states hold no DNS domain and no route.
_GONE_STATES = frozenset({"deleted", "failed", "rejected"})


def _kind(endpoint_type: str | None) -> str:
    """'interface', 'gateway' (also when omitted, as in EC2) or the raw type."""
    if endpoint_type is None:
        return "gateway"
    return endpoint_type.lower()


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _live(endpoint: Any) -> bool:
    return str(endpoint.state).lower() not in _GONE_STATES


def _prefix_list_id(backend: Any, service_name: str) -> str | None:
    # Same lookup moto's create_vpc_endpoint uses for gateway endpoints.
    for prefix_list in list(backend.managed_prefix_lists.values()):
        if prefix_list.prefix_list_name == service_name:
            return prefix_list.id
    return None


def _private_dns_name(backend: Any, service_name: str) -> str:
    """The DNS domain private DNS claims for the service, as EC2 names it."""
    try:
        catalogue = VPCBackend._collect_default_endpoint_services(backend.account_id, backend.region_name)
    except Exception:  # pragma: no cover - defensive; fall back to the pattern
        catalogue = []
    for service in catalogue:
        if service.get("ServiceName") == service_name and service.get("PrivateDnsName"):
            return str(service["PrivateDnsName"])
    parts = service_name.split(".")
    if len(parts) >= 4 and parts[0] == "com" and parts[1] == "amazonaws":
        return f"{'.'.join(parts[3:])}.{parts[2]}.amazonaws.com"
    return service_name


def _bind(original: Any, backend: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    bound = inspect.signature(original).bind(backend, *args, **kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    arguments.pop("self", None)
    return arguments


def _subnet_or_none(backend: Any, subnet_id: str) -> Any:
    try:
        return backend.get_subnet(subnet_id)
    except EC2ClientError:
        return None  # subnet deleted since; it no longer occupies its AZ


def _unique(items: Iterable[str] | None) -> list[str]:
    return list(dict.fromkeys(items or []))


# --------------------------------------------------------------------------
# The layer
# --------------------------------------------------------------------------


class Fidelity:
    """State and rule checks for one ``enforce()`` block.

    Public API: ``restrict_service_azs``, ``endpoints_on_default_group``,
    ``associate_hub_zone`` and ``eni_release_seconds``.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._service_azs: dict[str, tuple[str, ...]] = {}
        # (account, region, token) -> (fingerprint, endpoint object)
        self._tokens: dict[tuple[str, str, str], tuple[tuple, Any]] = {}
        # Rule 10: how long network interfaces take to go, and those still going:
        # (gone at, subnet ids, security group ids, the deleting endpoint or None).
        self.eni_release_seconds = 0.0
        self._releasing: list[tuple[float, frozenset[str], frozenset[str], Any]] = []

    # ---- public -----------------------------------------------------------

    def restrict_service_azs(self, service_name: str, azs: Iterable[str]) -> None:
        """Offer ``service_name`` only in ``azs`` (AZ names, e.g. eu-west-1a).

        Affects DescribeVpcEndpointServices and Create/ModifyVpcEndpoint
        (rule 2).  Calling again replaces the previous restriction.
        """
        if isinstance(azs, str):
            raise TypeError("azs must be a collection of AZ names, not a string")
        with self._lock:
            self._service_azs[service_name] = tuple(dict.fromkeys(azs))

    def endpoints_on_default_group(self, vpc_id: str) -> list[str]:
        """IDs (sorted) of live endpoints in ``vpc_id`` that use its default SG.

        Raises LookupError if no moto backend knows the VPC.
        """
        with self._lock:
            for backend in _existing_backends():
                if vpc_id not in backend.vpcs:
                    continue
                default = backend.get_default_security_group(vpc_id)
                if default is None:
                    return []
                return sorted(
                    endpoint.id
                    for endpoint in list(backend.vpc_end_points.values())
                    if endpoint.vpc_id == vpc_id and _live(endpoint) and default.id in (endpoint.security_group_ids or [])
                )
        raise LookupError(f"no moto EC2 backend has VPC {vpc_id}")

    def associate_hub_zone(self, account_id: str, name: str, vpc_id: str, region: str = "eu-west-1") -> str:
        """A private hosted zone made by ``account_id`` (a hub) and associated with ``vpc_id``; its id."""
        backend = route53_backends[account_id][GLOBAL_REGION]
        zone = backend.create_hosted_zone(name, private_zone=True, vpcid=vpc_id, vpcregion=region, comment="hub")
        return str(getattr(zone, "resource_id", zone.id))

    # ---- internals --------------------------------------------------------

    def _clear(self) -> None:
        with self._lock:
            self._service_azs.clear()
            self._tokens.clear()
            self._releasing.clear()

    # ---- rules 9 and 10 -----------------------------------------------------

    def _tick(self) -> None:
        """Network interfaces whose time is up are gone; an endpoint that had them is deleted."""
        now = time.monotonic()
        for entry in [e for e in self._releasing if e[0] <= now]:
            self._releasing.remove(entry)
            if entry[3] is not None:
                entry[3].state = "deleted"

    def _release_later(self, subnets: Iterable[str], groups: Iterable[str], endpoint: Any = None) -> None:
        if self.eni_release_seconds > 0:
            entry = (time.monotonic() + self.eni_release_seconds, frozenset(subnets), frozenset(groups), endpoint)
            self._releasing.append(entry)
            if endpoint is not None:
                endpoint.state = "deleting"

    def _in_use(self, backend: Any) -> tuple[set[str], set[str]]:
        """(subnets with a network interface in them, security groups an endpoint uses)."""
        self._tick()
        subnets: set[str] = set()
        groups: set[str] = set()
        endpoint_enis: set[str] = set()
        for endpoint in list(backend.vpc_end_points.values()):
            endpoint_enis.update(endpoint.network_interface_ids or [])
            if _live(endpoint) and _kind(endpoint.vpc_endpoint_type) == "interface":
                subnets.update(endpoint.subnet_ids or [])
                groups.update(endpoint.security_group_ids or [])
        for eni_id, eni in list(backend.enis.items()):
            if eni_id not in endpoint_enis and getattr(eni, "subnet", None) is not None:
                subnets.add(eni.subnet.id)
        for _, going_subnets, going_groups, _ in self._releasing:
            subnets |= going_subnets
            groups |= going_groups
        return subnets, groups

    def _delete_subnet(self, original: Any, backend: Any, args: tuple, kwargs: dict) -> Any:
        with self._lock:
            subnet_id = _bind(original, backend, args, kwargs)["subnet_id"]
            if subnet_id in self._in_use(backend)[0]:
                raise HasDependencies("subnet", subnet_id)
            return original(backend, *args, **kwargs)

    def _delete_security_group(self, original: Any, backend: Any, args: tuple, kwargs: dict) -> Any:
        with self._lock:
            group_id = _bind(original, backend, args, kwargs).get("group_id")
            if group_id and group_id in self._in_use(backend)[1]:
                raise HasDependencies("security group", group_id)
            return original(backend, *args, **kwargs)

    def _delete_vpc(self, original: Any, backend: Any, args: tuple, kwargs: dict) -> Any:
        with self._lock:
            vpc_id = _bind(original, backend, args, kwargs)["vpc_id"]
            self._tick()
            endpoints = [
                e for e in list(backend.vpc_end_points.values()) if e.vpc_id == vpc_id and str(e.state).lower() != "deleted"
            ]
            groups = [g for g in backend.groups.get(vpc_id, {}).values() if g.name != "default"]
            if endpoints or groups:
                raise HasDependencies("vpc", vpc_id)
            return original(backend, *args, **kwargs)

    def _delete_route_table(self, original: Any, backend: Any, args: tuple, kwargs: dict) -> Any:
        with self._lock:
            route_table_id = _bind(original, backend, args, kwargs)["route_table_id"]
            result = original(backend, *args, **kwargs)
            for endpoint in list(backend.vpc_end_points.values()):
                if route_table_id in (endpoint.route_table_ids or []):
                    endpoint.route_table_ids = [t for t in endpoint.route_table_ids if t != route_table_id]
            return result

    def _describe_endpoints(self, original: Any, backend: Any, args: tuple, kwargs: dict) -> Any:
        with self._lock:
            self._tick()
            return original(backend, *args, **kwargs)

    def _check_subnet_zones(self, service_name: str, subnets: list[Any]) -> None:
        allowed = self._service_azs.get(service_name)
        if allowed is None:
            return
        for subnet in subnets:
            if subnet.availability_zone not in allowed:
                raise ServiceNotInSubnetZone(service_name, subnet.id)

    # Rule 1-6 and 8 on create.
    def _create(self, original: Any, backend: Any, args: tuple, kwargs: dict) -> Any:
        with self._lock:
            a = _bind(original, backend, args, kwargs)
            kind = _kind(a.get("endpoint_type"))
            vpc_id = a["vpc_id"]
            service_name = a["service_name"]
            subnet_ids = list(a.get("subnet_ids") or [])
            route_table_ids = list(a.get("route_table_ids") or [])
            security_group_ids = list(a.get("security_group_ids") or [])
            private_dns = a.get("private_dns_enabled")
            if kind == "interface" and private_dns is None:
                private_dns = True  # EC2 default for interface endpoints
            elif kind == "gateway":
                private_dns = False  # gateway endpoints have no private DNS

            # Rule 6: ClientToken idempotency.
            token = a.get("client_token")
            token_key = None
            fingerprint: tuple = ()
            if token:
                token_key = (backend.account_id, backend.region_name, token)
                fingerprint = (
                    vpc_id,
                    service_name,
                    kind,
                    tuple(sorted(set(subnet_ids))),
                    tuple(sorted(set(route_table_ids))),
                    tuple(sorted(set(security_group_ids))),
                    _truthy(private_dns),
                    a.get("policy_document"),
                )
                seen = self._tokens.get(token_key)
                if seen is not None:
                    seen_fingerprint, seen_endpoint = seen
                    if backend.vpc_end_points.get(seen_endpoint.id) is seen_endpoint:
                        if seen_fingerprint != fingerprint:
                            raise IdempotentParameterMismatch()
                        return seen_endpoint
                    del self._tokens[token_key]  # moto was reset under us

            vpc = backend.get_vpc(vpc_id)  # InvalidVpcID.NotFound as in moto

            if kind == "interface":
                subnets = [backend.get_subnet(s) for s in subnet_ids]
                # Rule 1.
                zones: set[str] = set()
                for subnet in subnets:
                    if subnet.availability_zone in zones:
                        raise DuplicateSubnetsInSameZone(subnet.id)
                    zones.add(subnet.availability_zone)
                # Rule 2.
                self._check_subnet_zones(service_name, subnets)
                if _truthy(private_dns):
                    # Rule 3.
                    if not (_truthy(vpc.enable_dns_support) and _truthy(vpc.enable_dns_hostnames)):
                        raise PrivateDnsNeedsVpcDnsAttributes(vpc_id)
                    _check_no_hub_zone(backend, service_name, vpc_id)  # Rule 12
                    # Rule 4.
                    for other in list(backend.vpc_end_points.values()):
                        if (
                            other.vpc_id == vpc_id
                            and other.service_name == service_name
                            and _kind(other.vpc_endpoint_type) == "interface"
                            and _truthy(other.private_dns_enabled)
                            and _live(other)
                        ):
                            raise ConflictingPrivateDnsDomain(_private_dns_name(backend, service_name), vpc_id)
                # Rule 8.
                if not security_group_ids:
                    default = backend.get_default_security_group(vpc_id)
                    if default is not None:
                        security_group_ids = [default.id]
            elif kind == "gateway":
                for route_table_id in route_table_ids:
                    backend.get_route_table(route_table_id)  # NotFound before storing
                self._check_route_tables_free(backend, service_name, route_table_ids, except_endpoint=None)

            a["subnet_ids"] = subnet_ids
            a["route_table_ids"] = route_table_ids
            a["security_group_ids"] = security_group_ids
            a["private_dns_enabled"] = private_dns
            if a.get("endpoint_type") is None:
                a["endpoint_type"] = "Gateway"
            endpoint = original(backend, **a)

            if token_key is not None:
                self._tokens[token_key] = (fingerprint, endpoint)
            return endpoint

    # Rule 5 helper.
    def _check_route_tables_free(
        self,
        backend: Any,
        service_name: str,
        route_table_ids: list[str],
        except_endpoint: Any,
    ) -> None:
        if not route_table_ids:
            return
        for other in list(backend.vpc_end_points.values()):
            if (
                other is except_endpoint
                or other.service_name != service_name
                or _kind(other.vpc_endpoint_type) != "gateway"
                or not _live(other)
            ):
                continue
            for route_table_id in route_table_ids:
                if route_table_id in (other.route_table_ids or []):
                    prefix_list = other.destination_prefix_list_id or _prefix_list_id(backend, service_name) or service_name
                    raise RouteAlreadyExists(route_table_id, prefix_list)

    # Rules 1, 2, 5 and 7 on modify.
    def _modify(self, original: Any, backend: Any, args: tuple, kwargs: dict) -> Any:
        with self._lock:
            a = _bind(original, backend, args, kwargs)
            endpoint = backend.get_vpc_end_point(a["vpc_id"])  # NotFound as moto
            kind = _kind(endpoint.vpc_endpoint_type)
            add_subnets = _unique(a.get("add_subnets"))
            remove_subnets = set(a.get("remove_subnets") or [])
            add_route_tables = _unique(a.get("add_route_tables"))
            remove_route_tables = _unique(a.get("remove_route_tables"))

            if kind == "interface" and add_subnets:
                added = [backend.get_subnet(s) for s in add_subnets]
                # Rule 2.
                self._check_subnet_zones(endpoint.service_name, added)
                # Rule 1, against what the endpoint keeps after removals.
                zones = {
                    subnet.availability_zone
                    for s in (endpoint.subnet_ids or [])
                    if s not in remove_subnets and s not in add_subnets
                    for subnet in [_subnet_or_none(backend, s)]
                    if subnet is not None
                }
                for subnet in added:
                    if subnet.availability_zone in zones:
                        raise DuplicateSubnetsInSameZone(subnet.id)
                    zones.add(subnet.availability_zone)

            new_route_tables: list[str] = []
            dropped_route_tables: list[str] = []
            if kind == "gateway":
                for route_table_id in add_route_tables:
                    backend.get_route_table(route_table_id)
                current = list(endpoint.route_table_ids or [])
                new_route_tables = [r for r in add_route_tables if r not in current]
                # Rule 5 (re-adding a table already on this endpoint is a no-op).
                self._check_route_tables_free(
                    backend,
                    endpoint.service_name,
                    new_route_tables,
                    except_endpoint=endpoint,
                )
                dropped_route_tables = [r for r in remove_route_tables if r in current and r not in add_route_tables]

            kept = set(endpoint.subnet_ids or [])
            result = original(backend, **a)
            # Rule 10: the interfaces of removed subnets take their time to go.
            self._release_later(kept - set(endpoint.subnet_ids or []), endpoint.security_group_ids or [])

            # Rule 7: keep the prefix-list routes in step.
            prefix_list_id = getattr(endpoint, "destination_prefix_list_id", None)
            if kind == "gateway" and prefix_list_id:
                for route_table_id in new_route_tables:
                    backend.create_route(
                        route_table_id,
                        None,
                        gateway_id=endpoint.id,
                        destination_prefix_list_id=prefix_list_id,
                    )
                for route_table_id in dropped_route_tables:
                    route_table = backend.route_tables.get(route_table_id)
                    if route_table is None:
                        continue
                    for route in route_table.routes:
                        if route.destination_prefix_list_id == prefix_list_id and route.gateway_id == endpoint.id:
                            backend.delete_route(
                                route_table_id,
                                None,
                                destination_prefix_list_id=prefix_list_id,
                            )
            return result

    def _delete(self, original: Any, backend: Any, args: tuple, kwargs: dict) -> Any:
        with self._lock:
            ids = _bind(original, backend, args, kwargs).get("vpce_ids") or []
            going = [backend.vpc_end_points[i] for i in ids if i in backend.vpc_end_points and _live(backend.vpc_end_points[i])]
            result = original(backend, *args, **kwargs)
            for endpoint in going:  # Rule 10
                if _kind(endpoint.vpc_endpoint_type) == "interface":
                    self._release_later(endpoint.subnet_ids or [], endpoint.security_group_ids or [], endpoint)
            return result

    # Rule 2 on DescribeVpcEndpointServices.
    def _describe_services(self, original: Any, backend: Any, args: tuple, kwargs: dict) -> Any:
        with self._lock:
            restrictions = dict(self._service_azs)
        result = original(backend, *args, **kwargs)
        if not restrictions:
            return result
        details = []
        for service in result.get("servicesDetails") or []:
            allowed = restrictions.get(service.get("ServiceName"))
            if allowed is not None:
                # moto's catalogue dicts (and their AZ list) are shared module
                # state: copy, never mutate.
                service = dict(service)
                service["AvailabilityZones"] = [zone for zone in service.get("AvailabilityZones") or [] if zone in allowed]
            details.append(service)
        result = dict(result)
        result["servicesDetails"] = details
        return result


def _zones_of(vpc_id: str) -> list[tuple[str, Any]]:
    """(owning account, zone) for every private hosted zone associated with the VPC, in any account."""
    found = []
    for account_id, regions in list(dict.items(route53_backends)):
        for backend in list(dict.values(regions)):
            for zone in list(backend.zones.values()):
                if zone.private_zone and any(v.get("vpc_id") == vpc_id for v in zone.vpcs):
                    found.append((account_id, zone))
    return found


def _check_no_hub_zone(backend: Any, service_name: str, vpc_id: str) -> None:
    name = _private_dns_name(backend, service_name).lower().rstrip(".")
    for _, zone in _zones_of(vpc_id):
        if zone.name.lower().rstrip(".") == name.removeprefix("*."):
            raise ConflictingPrivateDnsDomain(name, vpc_id)


def _list_zones_by_vpc(original: Any, backend: Any, args: tuple, kwargs: dict) -> Any:
    """Rule 12: every account's zones associated with the VPC (a hub's too), each with its owner."""
    vpc_id = _bind(original, backend, args, kwargs)["vpc_id"]
    return [
        {"HostedZoneId": getattr(zone, "resource_id", zone.id), "Name": zone.name, "Owner": {"OwningAccount": account_id}}
        for account_id, zone in _zones_of(vpc_id)
    ]


def _modify_response(fidelity: Fidelity, original: Any, responses: Any, args: tuple, kwargs: dict) -> Any:
    """Rule 12 on ModifyVpcEndpoint PrivateDnsEnabled, which moto's response handler drops: checked as a
    create is (rules 3, 4 and 12), then applied."""
    wanted = responses._get_param("PrivateDnsEnabled")
    if wanted is None:
        return original(responses, *args, **kwargs)
    with fidelity._lock:
        backend = responses.ec2_backend
        endpoint = backend.get_vpc_end_point(responses._get_param("VpcEndpointId"))
        if _truthy(wanted) and not _truthy(endpoint.private_dns_enabled):
            vpc = backend.get_vpc(endpoint.vpc_id)
            if not (_truthy(vpc.enable_dns_support) and _truthy(vpc.enable_dns_hostnames)):
                raise PrivateDnsNeedsVpcDnsAttributes(endpoint.vpc_id)
            for other in list(backend.vpc_end_points.values()):
                if (
                    other is not endpoint
                    and other.vpc_id == endpoint.vpc_id
                    and other.service_name == endpoint.service_name
                    and _truthy(other.private_dns_enabled)
                    and _live(other)
                ):
                    raise ConflictingPrivateDnsDomain(_private_dns_name(backend, endpoint.service_name), endpoint.vpc_id)
            _check_no_hub_zone(backend, endpoint.service_name, endpoint.vpc_id)
        result = original(responses, *args, **kwargs)
        endpoint.private_dns_enabled = _truthy(wanted)
        return result


def _existing_backends() -> Iterator[Any]:
    """moto EC2 backends that already exist (never creates one)."""
    for account_backends in list(dict.values(ec2_backends)):
        yield from list(dict.values(account_backends))


# --------------------------------------------------------------------------
# Installation
# --------------------------------------------------------------------------

_install_lock = threading.Lock()
_active: Fidelity | None = None

_HANDLERS = {
    (VPCBackend, "create_vpc_endpoint"): Fidelity._create,
    (VPCBackend, "modify_vpc_endpoint"): Fidelity._modify,
    (VPCBackend, "delete_vpc_endpoints"): Fidelity._delete,
    (VPCBackend, "describe_vpc_endpoints"): Fidelity._describe_endpoints,
    (VPCBackend, "describe_vpc_endpoint_services"): Fidelity._describe_services,
    (VPCBackend, "delete_vpc"): Fidelity._delete_vpc,
    (RouteBackend, "delete_route_table"): Fidelity._delete_route_table,
    (SubnetBackend, "delete_subnet"): Fidelity._delete_subnet,
    (SecurityGroupBackend, "delete_security_group"): Fidelity._delete_security_group,
    (Route53Backend, "list_hosted_zones_by_vpc"): lambda fidelity, *rest: _list_zones_by_vpc(*rest),
    (VPCs, "modify_vpc_endpoint"): _modify_response,
}


def _wrap(fidelity: Fidelity, handler: Any, original: Any) -> Any:

    @functools.wraps(original)
    def patched(backend: Any, *args: Any, **kwargs: Any) -> Any:
        return handler(fidelity, original, backend, args, kwargs)

    patched.__fidelity_original__ = original  # type: ignore[attr-defined]
    return patched


@contextlib.contextmanager
def enforce() -> Iterator[Fidelity]:
    """Install the rules on moto's EC2 backend; restore moto on exit.

    Yields the ``Fidelity`` holding this block's configuration.  Not
    re-entrant: nesting ``enforce()`` raises RuntimeError.  On exit the
    original ``VPCBackend`` methods are put back and the layer's state
    (AZ restrictions, client tokens) is cleared.  Endpoints already created
    stay in moto as they are.
    """
    global _active
    with _install_lock:
        if _active is not None:
            raise RuntimeError("fidelity.enforce() is already active")
        fidelity = Fidelity()
        originals = {(cls, name): cls.__dict__[name] for cls, name in _HANDLERS}
        for (cls, name), original in originals.items():
            setattr(cls, name, _wrap(fidelity, _HANDLERS[cls, name], original))
        _active = fidelity
    try:
        yield fidelity
    finally:
        with _install_lock:
            for (cls, name), original in originals.items():
                setattr(cls, name, original)
            _active = None
            fidelity._clear()
