"""Scenarios the tests, the benchmark and the demo share: what an IaC apply or destroy does to a VPC, call
by call, with the CloudTrail event each call leaves behind."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from tests.emulation.account import Vpc, happening_now, sample_event

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
    vpc.associate(subnet, table)
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


@dataclass
class Destroyed:
    """What a destroy met: how often each call was tried and refused, and how long it took."""

    attempts: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    left: list[str] = field(default_factory=list)  # what could not be deleted before the timeout

    @property
    def complete(self) -> bool:
        return not self.left


def destroy(
    vpc: Vpc, publish: Callable[[dict[str, Any]], object], between: Callable[[], object], retry_seconds: float, timeout: float
) -> Destroyed:
    """``terraform destroy`` of a VPC module, as the AWS provider runs it: the route table associations,
    then the subnets and route tables, then the VPC. A delete EC2 refuses with DependencyViolation is
    retried every ``retry_seconds`` until ``timeout`` (the provider's default: 20 minutes for a subnet,
    5 for the VPC). Each call's CloudTrail event (refusals included) goes to ``publish``; ``between``
    runs between rounds of retries (what the remediator does meanwhile)."""
    ec2 = vpc.ec2
    result = Destroyed()
    started = time.monotonic()
    for association in sorted(vpc.associations.values()):
        ec2.disassociate_route_table(AssociationId=association)
        publish(happening_now(sample_event("disassociate_route_table.json", association=association)))
    main = vpc.main_route_table
    stages = [
        [("subnet", s) for s in sorted(vpc.subnets.values())]
        + [("route-table", t) for t in sorted(vpc.route_tables.values()) if t != main],
        [("vpc", vpc.id)],
    ]
    for pending in stages:
        while pending:
            pending = [r for r in pending if not _delete(vpc, *r, publish, result)]
            if pending:
                if time.monotonic() - started > timeout:
                    result.left = [r for _, r in pending]
                    result.seconds = time.monotonic() - started
                    return result
                between()
                time.sleep(retry_seconds)
    result.seconds = time.monotonic() - started
    return result


_DELETES = {
    "subnet": ("delete_subnet", "SubnetId", "delete_subnet.json", "delete_subnet_refused.json", "subnet"),
    "route-table": ("delete_route_table", "RouteTableId", "delete_route_table.json", None, "route_table"),
    "vpc": ("delete_vpc", "VpcId", None, "delete_vpc_refused.json", "vpc"),
}


def _delete(vpc: Vpc, kind: str, resource: str, publish: Callable[[dict[str, Any]], object], result: Destroyed) -> bool:
    operation, key, done, refused, name = _DELETES[kind]
    result.attempts[kind] += 1
    try:
        getattr(vpc.ec2, operation)(**{key: resource})
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "DependencyViolation":
            raise
        result.refused[kind] += 1
        if refused:
            publish(happening_now(sample_event(refused, **{name: resource})))
        return False
    if done:
        publish(happening_now(sample_event(done, **{name: resource})))
    return True
