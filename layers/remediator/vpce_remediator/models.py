"""The snapshot of one VPC that planning reads: plain frozen data, built by ``snapshot`` from EC2."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from vpce_remediator import MANAGED_BY_KEY, MANAGED_BY_VALUE
from vpce_remediator.vocabulary import EndpointState

# A subnet whose delete EC2 refused is remembered as leaving, until the time in the tag's value, by a tag
# on the remediator's own endpoints in its VPC: "vpce-remediator/leaving/<subnet id>" = ISO 8601 UTC.
LEAVING_TAG_PREFIX = "vpce-remediator/leaving/"


@dataclass(frozen=True)
class Subnet:
    id: str
    vpc_id: str
    az: str
    available_ips: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    destination: str  # IPv4/IPv6 CIDR or prefix-list id
    target: str  # igw-…, nat-…, vpce-…, local, …
    state: str = "active"


@dataclass(frozen=True)
class RouteTable:
    id: str
    vpc_id: str
    is_main: bool = False
    subnet_ids: frozenset[str] = frozenset()
    routes: tuple[Route, ...] = ()

    @property
    def routes_to_internet_gateway(self) -> bool:
        """A default route to an internet gateway is what makes a subnet public."""
        return any(
            r.destination in ("0.0.0.0/0", "::/0") and r.target.startswith("igw-") and r.state != "blackhole" for r in self.routes
        )


@dataclass(frozen=True)
class Endpoint:
    id: str
    vpc_id: str
    service_name: str
    type: str  # an EndpointType, or another type EC2 has (GatewayLoadBalancer, ...) that plans ignore
    state: str = EndpointState.AVAILABLE
    route_table_ids: frozenset[str] = frozenset()
    subnet_ids: frozenset[str] = frozenset()
    private_dns: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    # Security group id -> name (interface endpoints).
    groups: Mapping[str, str] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return EndpointState.is_live(self.state)

    @property
    def managed(self) -> bool:
        """Created by the remediator: the only endpoints it may ever take anything from."""
        return self.tags.get(MANAGED_BY_KEY) == MANAGED_BY_VALUE

    @property
    def leaving_marks(self) -> dict[str, str]:
        """Subnet id -> until (ISO 8601), from the leaving tags it carries."""
        return {k[len(LEAVING_TAG_PREFIX) :]: v for k, v in self.tags.items() if k.startswith(LEAVING_TAG_PREFIX)}


@dataclass(frozen=True)
class SecurityGroup:
    """The one security group per VPC that the remediator owns for its interface endpoints."""

    id: str
    https_ingress_cidrs: frozenset[str] = frozenset()
    # A group with our name but without our tag is someone else's: never write to it.
    owned: bool = True
    # Ingress beyond TCP 443 from IPv4 CIDRs (another port, IPv6, a prefix list, another group): never
    # written by the remediator, so a group holding it is not trusted, tag or no tag.
    other_ingress: bool = False

    def trusted(self, cidrs: frozenset[str]) -> bool:
        """Ours to use: tagged as ours, and only the HTTPS rules the remediator would have written."""
        return self.owned and not self.other_ingress and self.https_ingress_cidrs <= cidrs


@dataclass(frozen=True)
class VpcDetails:
    """Read only when an interface endpoint must be created: DNS attributes, CIDRs, our security group."""

    cidrs: tuple[str, ...]
    dns_support: bool
    dns_hostnames: bool
    security_group: SecurityGroup | None = None


@dataclass(frozen=True)
class VpcSnapshot:
    vpc_id: str
    subnets: tuple[Subnet, ...] = ()
    route_tables: tuple[RouteTable, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    details: VpcDetails | None = None
    # Private hosted zones associated with the VPC, any owner: name (lowercase, no trailing dot) -> zone
    # id. None: not read (only a VPC with an interface need no endpoint of its own reaches is read).
    zones: Mapping[str, str] | None = None

    def with_details(self, details: VpcDetails) -> VpcSnapshot:
        return replace(self, details=details)

    def with_zones(self, zones: Mapping[str, str]) -> VpcSnapshot:
        return replace(self, zones=zones)

    def hub_zone(self, service: ServiceInfo) -> str | None:
        """The id of an associated private hosted zone that serves ``service`` for the VPC, if any."""
        return next((self.zones[n] for n in service.hub_zone_names if self.zones and n in self.zones), None)

    def effective_route_table(self, subnet_id: str) -> RouteTable | None:
        """The explicit association wins; otherwise the VPC's main route table applies."""
        main = None
        for table in self.route_tables:
            if subnet_id in table.subnet_ids:
                return table
            if table.is_main:
                main = table
        return main


@dataclass(frozen=True)
class ServiceInfo:
    """One endpoint service as DescribeVpcEndpointServices reports it."""

    short_name: str  # "s3", "ecr.dkr"
    service_name: str  # "com.amazonaws.eu-west-1.s3", "cn.com.amazonaws.cn-north-1.ecr.dkr"
    type: str
    azs: frozenset[str]
    private_dns_name: str | None = None
    policy_supported: bool = True
    # Every private DNS name the service answers to (PrivateDnsNames; the primary one included).
    private_dns_names: tuple[str, ...] = ()

    @property
    def hub_zone_names(self) -> tuple[str, ...]:
        """The private hosted zone names a hub would associate to serve it: its DNS names, a leading
        "*." dropped ("*.dkr.ecr.eu-west-1.amazonaws.com" is served by the zone of "dkr.ecr...")."""
        names = [self.private_dns_name, *self.private_dns_names]
        return tuple(dict.fromkeys(n.lower().removeprefix("*.").rstrip(".") for n in names if n))


@dataclass(frozen=True)
class ServiceCatalog:
    """Endpoint services keyed by (short name, type); built once per container (snapshot.read_catalog)."""

    services: Mapping[tuple[str, str], ServiceInfo]

    def get(self, short_name: str, endpoint_type: str) -> ServiceInfo | None:
        return self.services.get((short_name, endpoint_type))
