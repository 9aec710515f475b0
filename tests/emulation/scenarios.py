"""Scenarios the settle-window tests, the benchmark and the demo share: what an IaC apply does to a VPC,
call by call, with the CloudTrail event each call leaves behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.emulation.account import Vpc, happening_now

AZS = ("eu-west-1a", "eu-west-1b", "eu-west-1c")


@dataclass(frozen=True)
class Step:
    """One API call of an apply: ``make`` carries it out and returns the CloudTrail event it leaves."""

    name: str
    make: Callable[[], dict[str, Any]]


def private_tier(vpc: Vpc, tables: int = 3, subnets: int = 6) -> Iterator[Step]:
    """A VPC module's private tier, in the order Terraform creates it: route tables, subnets tagged to opt
    in at creation, then one association per subnet (3 + 6 + 6 = 15 calls by default)."""
    for t in range(tables):
        yield Step(f"CreateRouteTable private-{t}", lambda t=t: _table(vpc, f"private-{t}"))
    for i in range(subnets):
        yield Step(f"CreateSubnet app-{i}", lambda i=i: _subnet(vpc, f"app-{i}", AZS[i % len(AZS)]))
    for i in range(subnets):
        yield Step(f"AssociateRouteTable app-{i}", lambda i=i: _associate(vpc, f"app-{i}", f"private-{i % tables}"))


def _table(vpc: Vpc, name: str) -> dict[str, Any]:
    vpc.route_table(name)
    return happening_now(vpc.route_table_event(name))


def _subnet(vpc: Vpc, name: str, az: str) -> dict[str, Any]:
    vpc.subnet(name, az)
    return happening_now(vpc.subnet_event(name))


def _associate(vpc: Vpc, subnet: str, table: str) -> dict[str, Any]:
    vpc.ec2.associate_route_table(RouteTableId=vpc.route_tables[table], SubnetId=vpc.subnets[subnet])
    return happening_now(vpc.association_event(subnet, table))


def own_endpoints(vpc: Vpc, region: str = "eu-west-1") -> list[str]:
    """What the same apply then creates itself: an S3 gateway endpoint on its route tables and an SSM
    interface endpoint with private DNS in one subnet per AZ (the calls fail if EC2 refuses them)."""
    s3 = vpc.ec2.create_vpc_endpoint(
        VpcId=vpc.id,
        ServiceName=f"com.amazonaws.{region}.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=sorted(vpc.route_tables.values()),
    )["VpcEndpoint"]["VpcEndpointId"]
    per_az = {vpc.azs[name]: subnet for name, subnet in sorted(vpc.subnets.items())}
    ssm = vpc.ec2.create_vpc_endpoint(
        VpcId=vpc.id,
        ServiceName=f"com.amazonaws.{region}.ssm",
        VpcEndpointType="Interface",
        SubnetIds=sorted(per_az.values()),
        PrivateDnsEnabled=True,
    )["VpcEndpoint"]["VpcEndpointId"]
    return [s3, ssm]
