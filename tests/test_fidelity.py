"""The fidelity layer makes moto refuse what real EC2 refuses for VPC endpoints.

One test per rule of tests/emulation/fidelity.py, each showing the refusal (with
the real error code) and the allowed case, plus: the patches go away on exit,
the layer works behind ThreadedMotoServer, and concurrent creates stay atomic.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.ec2.models.vpcs import VPCBackend
from moto.server import ThreadedMotoServer

from tests.emulation.fidelity import Fidelity, enforce

REGION = "eu-west-1"
SSM = f"com.amazonaws.{REGION}.ssm"
S3 = f"com.amazonaws.{REGION}.s3"
DYNAMODB = f"com.amazonaws.{REGION}.dynamodb"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def fidelity() -> Iterator[Fidelity]:
    with mock_aws(), enforce() as layer:
        yield layer


@pytest.fixture
def ec2(fidelity: Fidelity):
    return boto3.client("ec2", region_name=REGION)


@dataclass
class Net:
    vpc: str
    a1: str  # eu-west-1a
    a2: str  # eu-west-1a again
    b: str  # eu-west-1b
    c: str  # eu-west-1c
    rtb1: str
    rtb2: str


def network(ec2, *, dns: bool = True) -> Net:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    if dns:
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})

    def subnet(cidr: str, az: str) -> str:
        return ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]

    def rtb() -> str:
        return ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]

    return Net(
        vpc=vpc,
        a1=subnet("10.0.1.0/24", f"{REGION}a"),
        a2=subnet("10.0.2.0/24", f"{REGION}a"),
        b=subnet("10.0.3.0/24", f"{REGION}b"),
        c=subnet("10.0.4.0/24", f"{REGION}c"),
        rtb1=rtb(),
        rtb2=rtb(),
    )


def interface(ec2, net: Net, subnets: list[str], service: str = SSM, **extra) -> dict:
    return ec2.create_vpc_endpoint(
        VpcId=net.vpc,
        ServiceName=service,
        VpcEndpointType="Interface",
        SubnetIds=subnets,
        **extra,
    )["VpcEndpoint"]


def gateway(ec2, net: Net, route_tables: list[str], service: str = S3, **extra) -> dict:
    return ec2.create_vpc_endpoint(
        VpcId=net.vpc,
        ServiceName=service,
        VpcEndpointType="Gateway",
        RouteTableIds=route_tables,
        **extra,
    )["VpcEndpoint"]


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def endpoints(ec2, vpc: str) -> list[dict]:
    return ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]


def routes(ec2, rtb: str) -> list[dict]:
    return ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]


# ---------------------------------------------------------------- rule 1


def test_rule1_interface_endpoint_takes_one_subnet_per_az(ec2) -> None:
    # Given a VPC with two subnets in eu-west-1a and one each in 1b and 1c
    net = network(ec2)

    # When an interface endpoint is created with both 1a subnets
    # Then EC2 refuses it and nothing is stored
    with pytest.raises(ClientError) as excinfo:
        interface(ec2, net, [net.a1, net.a2])
    code, message = error_of(excinfo)
    assert code == "DuplicateSubnetsInSameZone"
    assert f"availability zone of {net.a2}" in message
    assert endpoints(ec2, net.vpc) == []

    # When it is created with one subnet per AZ
    # Then it is accepted
    endpoint = interface(ec2, net, [net.a1, net.b])

    # When a second 1a subnet is added to it
    # Then EC2 refuses it and the endpoint keeps its subnets
    with pytest.raises(ClientError) as excinfo:
        ec2.modify_vpc_endpoint(VpcEndpointId=endpoint["VpcEndpointId"], AddSubnetIds=[net.a2])
    assert error_of(excinfo)[0] == "DuplicateSubnetsInSameZone"
    assert sorted(endpoints(ec2, net.vpc)[0]["SubnetIds"]) == sorted([net.a1, net.b])

    # When a subnet in a new AZ is added
    # Then it is accepted
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint["VpcEndpointId"], AddSubnetIds=[net.c])
    assert sorted(endpoints(ec2, net.vpc)[0]["SubnetIds"]) == sorted([net.a1, net.b, net.c])


# ---------------------------------------------------------------- rule 2


def test_rule2_service_is_offered_only_in_its_azs(ec2, fidelity: Fidelity) -> None:
    # Given SSM is offered only in eu-west-1a and eu-west-1b
    net = network(ec2)
    unrestricted = ec2.describe_vpc_endpoint_services()["ServiceNames"]
    fidelity.restrict_service_azs(SSM, [f"{REGION}a", f"{REGION}b"])

    # When the service is described by name
    # Then only those AZs are reported
    by_name = ec2.describe_vpc_endpoint_services(ServiceNames=[SSM])["ServiceDetails"]
    assert [s["AvailabilityZones"] for s in by_name] == [[f"{REGION}a", f"{REGION}b"]]

    # When all services are listed page by page
    # Then the pages still hold every service once, SSM restricted, others not
    details: list[dict] = []
    for page in ec2.get_paginator("describe_vpc_endpoint_services").paginate(PaginationConfig={"PageSize": 40}):
        details.extend(page["ServiceDetails"])
    assert [s["ServiceName"] for s in details] == unrestricted
    zones = {s["ServiceName"]: s["AvailabilityZones"] for s in details}
    assert zones[SSM] == [f"{REGION}a", f"{REGION}b"]
    assert zones[f"com.amazonaws.{REGION}.ec2"] == [
        f"{REGION}a",
        f"{REGION}b",
        f"{REGION}c",
    ]

    # When an SSM endpoint is created with a subnet in eu-west-1c
    # Then EC2 refuses it with the real message
    with pytest.raises(ClientError) as excinfo:
        interface(ec2, net, [net.a1, net.c])
    assert error_of(excinfo) == (
        "InvalidParameter",
        f"The VPC endpoint service {SSM} does not support the availability zone of the subnet: {net.c}.",
    )

    # When it is created in the offered AZs
    # Then it is accepted, but adding the 1c subnet later is refused
    endpoint = interface(ec2, net, [net.a1, net.b])
    with pytest.raises(ClientError) as excinfo:
        ec2.modify_vpc_endpoint(VpcEndpointId=endpoint["VpcEndpointId"], AddSubnetIds=[net.c])
    assert error_of(excinfo)[0] == "InvalidParameter"

    # And another service is still offered in eu-west-1c
    interface(ec2, net, [net.c], service=f"com.amazonaws.{REGION}.ec2")


# ---------------------------------------------------------------- rule 3


def test_rule3_private_dns_needs_vpc_dns_attributes(ec2) -> None:
    # Given a VPC with DNS hostnames off (the default for a new VPC)
    net = network(ec2, dns=False)

    # When an interface endpoint is created without PrivateDnsEnabled (EC2 default: true)
    # Then EC2 refuses it
    with pytest.raises(ClientError) as excinfo:
        interface(ec2, net, [net.a1])
    code, message = error_of(excinfo)
    assert code == "InvalidParameter"
    assert "enableDnsSupport and enableDnsHostnames" in message
    assert net.vpc in message

    # When it is created with PrivateDnsEnabled=False
    # Then it is accepted
    endpoint = interface(ec2, net, [net.a1], PrivateDnsEnabled=False)
    assert endpoint["PrivateDnsEnabled"] is False

    # When both VPC attributes are turned on
    # Then private DNS (omitted, so true) is accepted for another service
    ec2.modify_vpc_attribute(VpcId=net.vpc, EnableDnsHostnames={"Value": True})
    endpoint = interface(ec2, net, [net.a1], service=f"com.amazonaws.{REGION}.ssmmessages")
    assert endpoint["PrivateDnsEnabled"] is True


# ---------------------------------------------------------------- rule 4


def test_rule4_one_private_dns_endpoint_per_service_and_vpc(ec2) -> None:
    # Given an SSM interface endpoint with private DNS in the VPC
    net = network(ec2)
    first = interface(ec2, net, [net.a1], PrivateDnsEnabled=True)

    # When a second SSM endpoint with private DNS is created in the same VPC
    # Then EC2 refuses it, naming the DNS domain and the VPC
    with pytest.raises(ClientError) as excinfo:
        interface(ec2, net, [net.b])
    assert error_of(excinfo) == (
        "InvalidParameter",
        "private-dns-enabled cannot be set because there is already a conflicting "
        f"DNS domain for ssm.{REGION}.amazonaws.com in the VPC {net.vpc}",
    )

    # When the second one has private DNS off, or is for another service
    # Then both are accepted
    interface(ec2, net, [net.b], PrivateDnsEnabled=False)
    interface(ec2, net, [net.b], service=f"com.amazonaws.{REGION}.ec2messages")

    # When the first one is deleted
    # Then a new SSM endpoint with private DNS is accepted
    ec2.delete_vpc_endpoints(VpcEndpointIds=[first["VpcEndpointId"]])
    interface(ec2, net, [net.c])


# ---------------------------------------------------------------- rule 5


def test_rule5_route_table_has_one_gateway_endpoint_per_service(ec2) -> None:
    # Given an S3 gateway endpoint on route table 1
    net = network(ec2)
    first = gateway(ec2, net, [net.rtb1])

    # When a second S3 gateway endpoint is created on route table 1
    # Then EC2 refuses it with the prefix list in the message
    with pytest.raises(ClientError) as excinfo:
        gateway(ec2, net, [net.rtb1])
    code, message = error_of(excinfo)
    assert code == "RouteAlreadyExists"
    prefix_list = next(r["DestinationPrefixListId"] for r in routes(ec2, net.rtb1) if r.get("DestinationPrefixListId"))
    assert message == (f"route table {net.rtb1} already has a route with destination-prefix-list-id {prefix_list}")

    # When it is created on route table 2 instead
    # Then it is accepted, but moving it onto route table 1 as well is refused
    second = gateway(ec2, net, [net.rtb2])
    with pytest.raises(ClientError) as excinfo:
        ec2.modify_vpc_endpoint(VpcEndpointId=second["VpcEndpointId"], AddRouteTableIds=[net.rtb1])
    assert error_of(excinfo)[0] == "RouteAlreadyExists"

    # When route table 1 is added again to the endpoint that already has it
    # Then nothing happens (no error, no duplicate)
    ec2.modify_vpc_endpoint(VpcEndpointId=first["VpcEndpointId"], AddRouteTableIds=[net.rtb1])
    described = ec2.describe_vpc_endpoints(VpcEndpointIds=[first["VpcEndpointId"]])
    assert described["VpcEndpoints"][0]["RouteTableIds"] == [net.rtb1]

    # And a DynamoDB gateway endpoint may share route table 1
    gateway(ec2, net, [net.rtb1], service=DYNAMODB)


# ---------------------------------------------------------------- rule 6


def test_rule6_client_token_makes_create_idempotent(ec2) -> None:
    # Given an endpoint created with a client token
    net = network(ec2)
    first = interface(ec2, net, [net.a1, net.b], ClientToken="token-1")

    # When the same request is retried (subnets in another order)
    # Then the same endpoint comes back and no second one exists
    again = interface(ec2, net, [net.b, net.a1], ClientToken="token-1")
    assert again["VpcEndpointId"] == first["VpcEndpointId"]
    assert len(endpoints(ec2, net.vpc)) == 1

    # When the token is reused with different parameters
    # Then EC2 refuses it and creates nothing
    with pytest.raises(ClientError) as excinfo:
        interface(ec2, net, [net.a1], ClientToken="token-1")
    assert error_of(excinfo)[0] == "IdempotentParameterMismatch"
    assert len(endpoints(ec2, net.vpc)) == 1

    # When the endpoint is deleted and the original request retried
    # Then the deleted endpoint comes back, still deleted, nothing new created
    ec2.delete_vpc_endpoints(VpcEndpointIds=[first["VpcEndpointId"]])
    retried = interface(ec2, net, [net.a1, net.b], ClientToken="token-1")
    assert retried["VpcEndpointId"] == first["VpcEndpointId"]
    assert retried["State"] == "deleted"
    assert len(endpoints(ec2, net.vpc)) == 1

    # And a new token creates a new endpoint
    fresh = interface(ec2, net, [net.a1, net.b], ClientToken="token-2")
    assert fresh["VpcEndpointId"] != first["VpcEndpointId"]


# ---------------------------------------------------------------- rule 7


def test_rule7_adding_route_table_to_gateway_endpoint_adds_the_route(ec2) -> None:
    # Given an S3 gateway endpoint on route table 1 (moto adds the route on create)
    net = network(ec2)
    endpoint = gateway(ec2, net, [net.rtb1])
    vpce = endpoint["VpcEndpointId"]
    [route] = [r for r in routes(ec2, net.rtb1) if r.get("DestinationPrefixListId")]
    assert route["GatewayId"] == vpce

    # When route table 2 is added to it
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, AddRouteTableIds=[net.rtb2])

    # Then route table 2 routes the S3 prefix list to the endpoint, like table 1
    added = [r for r in routes(ec2, net.rtb2) if r.get("DestinationPrefixListId")]
    assert [(r["DestinationPrefixListId"], r["GatewayId"]) for r in added] == [(route["DestinationPrefixListId"], vpce)]

    # When route table 1 is removed from it
    # Then its prefix-list route goes away too
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, RemoveRouteTableIds=[net.rtb1])
    assert not [r for r in routes(ec2, net.rtb1) if r.get("DestinationPrefixListId")]


# ---------------------------------------------------------------- rule 8


def test_rule8_interface_endpoint_without_groups_gets_default_group(ec2, fidelity: Fidelity) -> None:
    # Given a VPC, its default security group and one of our own
    net = network(ec2)
    default = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [net.vpc]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"][0]["GroupId"]
    own = ec2.create_security_group(GroupName="endpoints", Description="endpoints", VpcId=net.vpc)["GroupId"]

    # When one interface endpoint is created without SecurityGroupIds, one with
    bare = interface(ec2, net, [net.a1])
    grouped = interface(ec2, net, [net.a1], service=f"com.amazonaws.{REGION}.ec2", SecurityGroupIds=[own])

    # Then the first carries the VPC's default group, the second only its own
    assert [g["GroupId"] for g in bare["Groups"]] == [default]
    assert [g["GroupId"] for g in grouped["Groups"]] == [own]
    # And the helper names only the first
    assert fidelity.endpoints_on_default_group(net.vpc) == [bare["VpcEndpointId"]]


# ---------------------------------------------------------------- lifecycle


def test_patches_are_removed_when_the_context_exits() -> None:
    # Given the original moto methods
    originals = {
        name: VPCBackend.__dict__[name]
        for name in (
            "create_vpc_endpoint",
            "modify_vpc_endpoint",
            "delete_vpc_endpoints",
            "describe_vpc_endpoint_services",
        )
    }

    # When enforce() is entered (with an AZ restriction) and left
    with mock_aws(), enforce() as layer:
        layer.restrict_service_azs(SSM, [f"{REGION}a"])
        assert VPCBackend.__dict__["create_vpc_endpoint"] is not originals["create_vpc_endpoint"]
    assert layer._service_azs == {} and layer._tokens == {}

    # Then moto's own methods are back
    assert {name: VPCBackend.__dict__[name] for name in originals} == originals

    # And moto behaves as plain moto again: two subnets in one AZ are accepted,
    # no default group is attached, and SSM is offered in every AZ
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        net = network(ec2, dns=False)
        endpoint = interface(ec2, net, [net.a1, net.a2])
        assert endpoint["Groups"] == []
        [ssm] = ec2.describe_vpc_endpoint_services(ServiceNames=[SSM])["ServiceDetails"]
        assert ssm["AvailabilityZones"] == [f"{REGION}a", f"{REGION}b", f"{REGION}c"]

    # And enforce() can be entered again afterwards (it is not re-entrant)
    with mock_aws(), enforce(), pytest.raises(RuntimeError), enforce():
        pass


# ---------------------------------------------------------------- server mode


def test_rule1_is_enforced_behind_threaded_moto_server() -> None:
    # Given the layer and a moto server in this process, on loopback only
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    with enforce():
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        try:
            ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=url)
            net = network(ec2)

            # When an interface endpoint is created with two subnets in one AZ
            # Then the server answers with the real error code
            with pytest.raises(ClientError) as excinfo:
                interface(ec2, net, [net.a1, net.a2])
            assert error_of(excinfo)[0] == "DuplicateSubnetsInSameZone"

            # When it is created with one subnet per AZ
            # Then it is accepted
            endpoint = interface(ec2, net, [net.a1, net.b])
            assert endpoint["State"] == "available"
        finally:
            request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
            urllib.request.urlopen(request, timeout=10).close()
            server.stop()


# ---------------------------------------------------------------- threads


def test_concurrent_creates_are_checked_atomically(ec2) -> None:
    # Given a VPC ready for private DNS
    net = network(ec2)
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def create() -> None:
        client = boto3.client("ec2", region_name=REGION)
        start.wait()
        try:
            interface(client, net, [net.a1])
            outcomes.append("created")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])

    # When eight threads create the same private-DNS SSM endpoint at once
    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly one wins and the others see the DNS conflict
    assert sorted(outcomes) == ["InvalidParameter"] * 7 + ["created"]
    assert len(endpoints(ec2, net.vpc)) == 1
