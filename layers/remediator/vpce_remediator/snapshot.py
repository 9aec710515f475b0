"""Reads: EC2 state into the frozen models planning needs. The only module besides ``apply`` that calls EC2.

A snapshot of any number of VPCs costs three paginated calls (subnets, route tables, endpoints), so
the cost of an event does not grow with the size of the VPC. Details that only a create needs are
read separately, and endpoint-service details once per container.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from vpce_remediator import MANAGED_BY_KEY, MANAGED_BY_VALUE
from vpce_remediator.actions import HTTPS, SECURITY_GROUP_NAME
from vpce_remediator.models import (
    Endpoint,
    Route,
    RouteTable,
    SecurityGroup,
    ServiceCatalog,
    ServiceInfo,
    Subnet,
    VpcDetails,
    VpcSnapshot,
)

# The IAM actions the reads below need; the template test holds the role to exactly these plus the writes.
PERMISSIONS = (
    "ec2:DescribeSubnets",
    "ec2:DescribeRouteTables",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeVpcEndpointServices",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeSecurityGroups",
)

# What the intake's one lookup needs (vpcs_of): a subset of the above.
LOOKUP_PERMISSIONS = ("ec2:DescribeSubnets", "ec2:DescribeRouteTables", "ec2:DescribeVpcEndpoints")

_ROUTE_TARGETS = (
    "GatewayId",
    "NatGatewayId",
    "TransitGatewayId",
    "VpcPeeringConnectionId",
    "NetworkInterfaceId",
    "InstanceId",
    "EgressOnlyInternetGatewayId",
    "LocalGatewayId",
    "CarrierGatewayId",
    "CoreNetworkArn",
)


def _pages(ec2: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict]:
    for page in ec2.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def _vpc_filter(vpc_ids: Sequence[str]) -> list[dict]:
    return [{"Name": "vpc-id", "Values": list(vpc_ids)}]


def _tags(resource: dict) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in resource.get("Tags", [])}


def read_snapshots(ec2: Any, vpc_ids: Sequence[str] | None) -> dict[str, VpcSnapshot]:
    """Snapshots of the given VPCs (a VPC that no longer exists comes back empty), or of every VPC
    in the region when ``vpc_ids`` is None: three paginated calls either way."""
    kwargs = {"Filters": _vpc_filter(vpc_ids)} if vpc_ids is not None else {}
    subnets: dict[str, list[Subnet]] = defaultdict(list)
    tables: dict[str, list[RouteTable]] = defaultdict(list)
    endpoints: dict[str, list[Endpoint]] = defaultdict(list)
    for raw in _pages(ec2, "describe_subnets", "Subnets", **kwargs):
        subnets[raw["VpcId"]].append(to_subnet(raw))
    for raw in _pages(ec2, "describe_route_tables", "RouteTables", **kwargs):
        tables[raw["VpcId"]].append(to_route_table(raw))
    for raw in _pages(ec2, "describe_vpc_endpoints", "VpcEndpoints", **kwargs):
        endpoints[raw["VpcId"]].append(to_endpoint(raw))
    wanted = vpc_ids if vpc_ids is not None else sorted(subnets)
    return {
        vpc_id: VpcSnapshot(vpc_id, tuple(subnets[vpc_id]), tuple(tables[vpc_id]), tuple(endpoints[vpc_id])) for vpc_id in wanted
    }


# One Describe call turns ids of a kind into their VPCs. Filters make ids that no longer exist drop
# out; endpoints are asked for by id (EC2 keeps deleted ones visible for a while), and a NotFound
# means they are gone: the sweep covers what such an event could not name.
_LOOKUPS = {
    "subnet": ("describe_subnets", "Subnets", "SubnetId", {"filter": "subnet-id"}),
    "route-table": ("describe_route_tables", "RouteTables", "RouteTableId", {"filter": "route-table-id"}),
    "vpc-endpoint": ("describe_vpc_endpoints", "VpcEndpoints", "VpcEndpointId", {"ids": "VpcEndpointIds"}),
}


def vpcs_of(ec2: Any, kind: str, ids: Sequence[str]) -> dict[str, str]:
    """The VPC of each id that still exists, in one call (ids that are gone are left out)."""
    operation, key, id_key, how = _LOOKUPS[kind]
    if "filter" in how:
        kwargs: dict[str, Any] = {"Filters": [{"Name": how["filter"], "Values": list(ids)}]}
    else:
        kwargs = {how["ids"]: list(ids)}
    try:
        return {raw[id_key]: raw["VpcId"] for raw in _pages(ec2, operation, key, **kwargs)}
    except ClientError as exc:
        if not exc.response.get("Error", {}).get("Code", "").endswith(".NotFound"):
            raise
        # One id that is gone fails the whole call: ask for the others one by one (a rare, small batch).
        return {k: v for one in ids if len(ids) > 1 for k, v in vpcs_of(ec2, kind, [one]).items()}


def endpoints_serving_nothing(ec2: Any) -> tuple[str, ...]:
    """The VPCs where one of the remediator's own endpoints serves no route table or subnet any more
    (what a deleted route table leaves behind), in one call."""
    found = set()
    mine = [{"Name": f"tag:{MANAGED_BY_KEY}", "Values": [MANAGED_BY_VALUE]}]
    for endpoint in map(to_endpoint, _pages(ec2, "describe_vpc_endpoints", "VpcEndpoints", Filters=mine)):
        if endpoint.live and not (endpoint.route_table_ids or endpoint.subnet_ids):
            found.add(endpoint.vpc_id)
    return tuple(sorted(found))


def to_subnet(raw: dict) -> Subnet:
    return Subnet(
        id=raw["SubnetId"],
        vpc_id=raw["VpcId"],
        az=raw["AvailabilityZone"],
        available_ips=raw.get("AvailableIpAddressCount", 0),
        tags=_tags(raw),
    )


def to_route_table(raw: dict) -> RouteTable:
    associations = [
        a for a in raw.get("Associations", []) if a.get("AssociationState", {}).get("State", "associated") == "associated"
    ]
    return RouteTable(
        id=raw["RouteTableId"],
        vpc_id=raw["VpcId"],
        is_main=any(a.get("Main") for a in associations),
        subnet_ids=frozenset(a["SubnetId"] for a in associations if a.get("SubnetId")),
        routes=tuple(_route(r) for r in raw.get("Routes", [])),
    )


def _route(raw: dict) -> Route:
    destination = raw.get("DestinationCidrBlock") or raw.get("DestinationIpv6CidrBlock") or raw.get("DestinationPrefixListId", "")
    target = next((raw[k] for k in _ROUTE_TARGETS if raw.get(k)), "")
    return Route(destination, target, raw.get("State", "active"))


def to_endpoint(raw: dict) -> Endpoint:
    return Endpoint(
        id=raw["VpcEndpointId"],
        vpc_id=raw["VpcId"],
        service_name=raw["ServiceName"],
        type=raw.get("VpcEndpointType", ""),
        state=raw.get("State", ""),
        route_table_ids=frozenset(raw.get("RouteTableIds", [])),
        subnet_ids=frozenset(raw.get("SubnetIds", [])),
        private_dns=bool(raw.get("PrivateDnsEnabled")),
        tags=_tags(raw),
        groups={g["GroupId"]: g.get("GroupName", "") for g in raw.get("Groups", []) if g.get("GroupId")},
    )


def read_details(ec2: Any, vpc_id: str) -> VpcDetails:
    """What creating an interface endpoint needs: DNS attributes, IPv4 CIDRs and our security group."""
    vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    cidrs = tuple(
        a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet", []) if a.get("CidrBlockState", {}).get("State") == "associated"
    ) or (vpc["CidrBlock"],)
    support = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")["EnableDnsSupport"]["Value"]
    hostnames = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"]
    groups = list(
        _pages(
            ec2,
            "describe_security_groups",
            "SecurityGroups",
            Filters=[*_vpc_filter([vpc_id]), {"Name": "group-name", "Values": [SECURITY_GROUP_NAME]}],
        )
    )
    group = to_security_group(groups[0]) if groups else None
    return VpcDetails(cidrs=cidrs, dns_support=bool(support), dns_hostnames=bool(hostnames), security_group=group)


def to_security_group(raw: dict) -> SecurityGroup:
    cidrs: set[str] = set()
    other = False
    for permission in raw.get("IpPermissions", []):
        https = (
            permission.get("IpProtocol") == "tcp" and permission.get("FromPort") == HTTPS and permission.get("ToPort") == HTTPS
        )
        cidrs |= {r["CidrIp"] for r in permission.get("IpRanges", [])} if https else set()
        # Anything the remediator never writes: another port or protocol, IPv6, prefix lists, other groups.
        other = other or not https or any(permission.get(k) for k in ("Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs"))
    owned = _tags(raw).get(MANAGED_BY_KEY) == MANAGED_BY_VALUE
    return SecurityGroup(raw["GroupId"], frozenset(cidrs), owned=owned, other_ingress=other)


# Route 53 has no paginator for this call: NextToken by hand. A VPC has at most a few hundred zones.
ZONE_PERMISSIONS = ("route53:ListHostedZonesByVPC",)


def read_zones(route53: Any, vpc_id: str, region: str) -> dict[str, str]:
    """The private hosted zones associated with the VPC, whoever owns them (a hub account's included):
    name (lowercase, without the trailing dot) -> zone id."""
    zones: dict[str, str] = {}
    kwargs: dict[str, Any] = {"VPCId": vpc_id, "VPCRegion": region}
    while True:
        page = route53.list_hosted_zones_by_vpc(**kwargs)
        for summary in page.get("HostedZoneSummaries", []):
            zones[summary["Name"].lower().rstrip(".")] = summary["HostedZoneId"]
        if not page.get("NextToken"):
            return zones
        kwargs["NextToken"] = page["NextToken"]


def read_catalog(ec2: Any, region: str) -> ServiceCatalog:
    """Every endpoint service of the region; one or two pages, read once per container."""
    return to_catalog(list(_pages(ec2, "describe_vpc_endpoint_services", "ServiceDetails")), region)


def to_catalog(details: list[dict[str, Any]], region: str) -> ServiceCatalog:
    services: dict[tuple[str, str], ServiceInfo] = {}
    marker = f".{region}."
    for detail in details:
        name = detail.get("ServiceName", "")
        # Only AWS's own services: partner and private services can reuse the naming scheme.
        if detail.get("Owner") != "amazon" or marker not in name:
            continue
        short = name.split(marker, 1)[1]
        for kind in detail.get("ServiceType", []):
            info = ServiceInfo(
                short_name=short,
                service_name=name,
                type=kind.get("ServiceType", ""),
                azs=frozenset(detail.get("AvailabilityZones", [])),
                private_dns_name=detail.get("PrivateDnsName"),
                policy_supported=bool(detail.get("VpcEndpointPolicySupported")),
                private_dns_names=tuple(
                    n["PrivateDnsName"]
                    for n in detail.get("PrivateDnsNames", [])
                    if isinstance(n, dict) and n.get("PrivateDnsName")
                ),
            )
            services[(short, info.type)] = info
    return ServiceCatalog(services)
