"""Builds realistic VPC layouts in the emulated account, and turns what it built into the CloudTrail
events (from events/) that EC2 would have emitted for it."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.emulation.template import ROOT

OPT_IN_KEY = "vpce-remediator/policy"
# The services of the template's default policy.
DEFAULT_SERVICES = frozenset({"s3", "dynamodb", "ssm", "ssmmessages", "ec2messages"})
EVENTS = ROOT / "events"
# The ids the sample events in events/ carry; replaced by the emulated ones.
SAMPLE_VPC = "vpc-0a1b2c3d4e5f60718"
SAMPLE_SUBNET = "subnet-0f1e2d3c4b5a69788"
SAMPLE_ROUTE_TABLE = "rtb-07a8b9c0d1e2f3a4b"
SAMPLE_AZ = "eu-west-1a"
SAMPLE_ENDPOINT = "vpce-0123456789abcdef0"
SAMPLE_ASSOCIATION = "rtbassoc-0b1c2d3e4f5a6b7c8"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def _retarget(event: dict[str, Any], replacements: dict[str, str]) -> dict[str, Any]:
    """The sample event about other resources; its ids are new, as each CloudTrail record's are."""
    text = json.dumps(event)
    for old, new in replacements.items():
        text = text.replace(old, new)
    retargeted = json.loads(text)
    seed = uuid.uuid5(uuid.NAMESPACE_URL, text)
    retargeted["id"] = str(seed)
    retargeted["detail"]["eventID"] = str(uuid.uuid5(seed, "eventID"))
    retargeted["detail"]["requestID"] = str(uuid.uuid5(seed, "requestID"))
    return retargeted


def sample_event(
    name: str,
    vpc: str | None = None,
    subnet: str | None = None,
    route_table: str | None = None,
    endpoint: str | None = None,
    association: str | None = None,
) -> dict[str, Any]:
    """A file from events/ about the given resources (sample ids replaced), with fresh event ids."""
    samples = {
        SAMPLE_VPC: vpc,
        SAMPLE_SUBNET: subnet,
        SAMPLE_ROUTE_TABLE: route_table,
        SAMPLE_ENDPOINT: endpoint,
        SAMPLE_ASSOCIATION: association,
    }
    return _retarget(load_event(name), {old: new for old, new in samples.items() if new})


def happening_now(event: dict[str, Any], offset: float = 0.0) -> dict[str, Any]:
    """The event as CloudTrail records a call made now (``offset`` seconds from now): its eventTime and time."""
    stamp = datetime.fromtimestamp(time.time() + offset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event["time"] = event["detail"]["eventTime"] = stamp
    return event


def subnet_created_event(vpc_id: str, subnet_id: str, az: str, name: str = "create_subnet.json") -> dict[str, Any]:
    return _retarget(load_event(name), {SAMPLE_VPC: vpc_id, SAMPLE_SUBNET: subnet_id, f'"{SAMPLE_AZ}"': f'"{az}"'})


def route_table_created_event(vpc_id: str, route_table_id: str) -> dict[str, Any]:
    return _retarget(load_event("create_route_table.json"), {SAMPLE_VPC: vpc_id, SAMPLE_ROUTE_TABLE: route_table_id})


@dataclass
class Vpc:
    """A VPC under construction; names map to ids so tests read as the layout they describe."""

    ec2: Any
    id: str
    cidr: str
    subnets: dict[str, str] = field(default_factory=dict)
    azs: dict[str, str] = field(default_factory=dict)
    route_tables: dict[str, str] = field(default_factory=dict)
    associations: dict[str, str] = field(default_factory=dict)  # subnet name -> its explicit association
    _next_block: int = 0

    @classmethod
    def create(cls, ec2: Any, cidr: str = "10.20.0.0/16", dns: bool = True) -> Vpc:
        vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
            ec2.modify_vpc_attribute(VpcId=vpc_id, **{attribute: {"Value": dns}})
        return cls(ec2, vpc_id, cidr)

    @property
    def main_route_table(self) -> str:
        tables = self.ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [self.id]}, {"Name": "association.main", "Values": ["true"]}]
        )["RouteTables"]
        return tables[0]["RouteTableId"]

    def route_table(self, name: str, internet: bool = False) -> str:
        table_id = self.ec2.create_route_table(VpcId=self.id)["RouteTable"]["RouteTableId"]
        if internet:
            igw = self.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
            self.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=self.id)
            self.ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        self.route_tables[name] = table_id
        return table_id

    def subnet(self, name: str, az: str, policy: str | None = "default", route_table: str | None = None) -> str:
        """A /24 in the next free block; ``policy=None`` leaves it untagged; no route table: the main one."""
        prefix = self.cidr.split(".")
        block = f"{prefix[0]}.{prefix[1]}.{self._next_block}.0/24"
        self._next_block += 1
        tags = [{"Key": "Name", "Value": name}]
        if policy is not None:
            tags.append({"Key": OPT_IN_KEY, "Value": policy})
        subnet_id = self.ec2.create_subnet(
            VpcId=self.id,
            CidrBlock=block,
            AvailabilityZone=az,
            TagSpecifications=[{"ResourceType": "subnet", "Tags": tags}],
        )["Subnet"]["SubnetId"]
        self.subnets[name] = subnet_id
        if route_table is not None:
            self.associate(name, route_table)
        self.azs[name] = az
        return subnet_id

    def subnet_event(self, name: str) -> dict[str, Any]:
        return subnet_created_event(self.id, self.subnets[name], self.azs[name])

    def route_table_event(self, name: str) -> dict[str, Any]:
        return route_table_created_event(self.id, self.route_tables[name])

    def associate(self, subnet: str, route_table: str) -> str:
        association = self.ec2.associate_route_table(RouteTableId=self.route_tables[route_table], SubnetId=self.subnets[subnet])
        self.associations[subnet] = association["AssociationId"]
        return self.associations[subnet]

    def association_event(self, subnet: str, route_table: str) -> dict[str, Any]:
        """AssociateRouteTable, as CloudTrail records it: it names the route table, the subnet and the new
        association, not the VPC."""
        return sample_event(
            "associate_route_table.json",
            subnet=self.subnets[subnet],
            route_table=self.route_tables[route_table],
            association=self.associations.get(subnet),
        )

    def opt_out(self, name: str) -> dict[str, Any]:
        """Removes the opt-in tag from a subnet; returns the DeleteTags event."""
        self.ec2.delete_tags(Resources=[self.subnets[name]], Tags=[{"Key": OPT_IN_KEY}])
        return happening_now(sample_event("delete_tags_subnet_opt_out.json", subnet=self.subnets[name]))

    def managed_endpoints(self) -> list[dict[str, Any]]:
        """The remediator's endpoints in the VPC that are not deleted."""
        mine = [e for e in self.endpoints() if {"Key": "managed-by", "Value": "vpce-remediator"} in e.get("Tags", [])]
        return [e for e in mine if e["State"].lower() != "deleted"]

    def plant_group(self, tagged: bool = True) -> str:
        """What anyone who may tag can make: a group of the remediator's name (and, ``tagged``, its tag),
        open to all traffic from anywhere."""
        tags = [{"Key": "managed-by", "Value": "vpce-remediator"}]
        group = self.ec2.create_security_group(
            GroupName="vpce-remediator-endpoints",
            Description="not the remediator's",
            VpcId=self.id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}] if tagged else [],
        )["GroupId"]
        everything = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        self.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=everything)
        return group

    def managed_groups(self) -> list[str]:
        groups = self.ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [self.id]}, {"Name": "tag:managed-by", "Values": ["vpce-remediator"]}]
        )["SecurityGroups"]
        return [g["GroupId"] for g in groups]

    def endpoints(self, service: str | None = None) -> list[dict[str, Any]]:
        found = self.ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [self.id]}])["VpcEndpoints"]
        return [e for e in found if service is None or e["ServiceName"].endswith(f".{service}")]

    def live_services(self) -> list[str]:
        """Short names of the services with a live endpoint, one entry per endpoint (duplicates show)."""
        return sorted(e["ServiceName"].rsplit(".", 1)[1] for e in self.endpoints() if e["State"] != "deleted")

    def mixed_layout(self) -> Vpc:
        """Opted-in private subnets on their own table and on the main one, a tagged public subnet
        and an untagged one: every kind of subnet the remediator must tell apart."""
        self.route_table("private")
        self.route_table("public", internet=True)
        self.subnet("app-a", "eu-west-1a", route_table="private")
        self.subnet("app-b", "eu-west-1b")
        self.subnet("web-a", "eu-west-1a", route_table="public")
        self.subnet("scratch", "eu-west-1c", policy=None)
        return self
