"""The pure planning core: snapshots in, findings and minimal actions out. No AWS, no moto."""

from __future__ import annotations

import pytest
from vpce_remediator.actions import (
    AddSubnets,
    AttachRouteTables,
    AuthorizeHttps,
    CreateGatewayEndpoint,
    CreateInterfaceEndpoint,
    CreateSecurityGroup,
)
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
from vpce_remediator.plan import plan_vpc
from vpce_remediator.policy import PolicySet
from vpce_remediator.vocabulary import EndpointType, Note, Reason, Status

pytestmark = pytest.mark.unit

GATEWAY, INTERFACE = EndpointType.GATEWAY, EndpointType.INTERFACE

KEY = "vpce-remediator/policy"
VPC = "vpc-00000000000000001"
AZS = frozenset({"eu-west-1a", "eu-west-1b", "eu-west-1c"})
CATALOG = ServiceCatalog(
    {
        ("s3", GATEWAY): ServiceInfo("s3", "com.amazonaws.eu-west-1.s3", GATEWAY, AZS),
        ("ssm", INTERFACE): ServiceInfo("ssm", "com.amazonaws.eu-west-1.ssm", INTERFACE, AZS, "ssm.eu-west-1.amazonaws.com"),
        ("ec2messages", INTERFACE): ServiceInfo(
            "ec2messages", "com.amazonaws.eu-west-1.ec2messages", INTERFACE, frozenset({"eu-west-1a"}), "x"
        ),
    }
)
DETAILS = VpcDetails(cidrs=("10.0.0.0/16",), dns_support=True, dns_hostnames=True)


def policies(gateway=("s3",), interface=("ssm",)) -> PolicySet:
    return PolicySet.with_default(tuple(gateway), tuple(interface))


def subnet(n: int, az: str = "eu-west-1a", tag: str | None = "default", ips: int = 250) -> Subnet:
    return Subnet(f"subnet-{n:017d}", VPC, az, ips, {KEY: tag} if tag is not None else {})


def table(n: int, *subnets: Subnet, main: bool = False, internet: bool = False) -> RouteTable:
    routes = (Route("0.0.0.0/0", "igw-0123"),) if internet else (Route("0.0.0.0/0", "nat-0123"),)
    return RouteTable(f"rtb-{n:017d}", VPC, main, frozenset(s.id for s in subnets), routes)


def snap(subnets, tables, endpoints=(), details=DETAILS, zones=None) -> VpcSnapshot:
    """A VPC as read; no private hosted zone associated unless ``zones`` says (name -> zone id)."""
    return VpcSnapshot(VPC, tuple(subnets), tuple(tables), tuple(endpoints), details, zones if zones is not None else {})


def run(snapshot: VpcSnapshot, **kw):
    return plan_vpc(snapshot, policies(**kw), CATALOG, KEY)


def test_missing_gateway_endpoint_is_created_once_with_every_route_table():
    # Given two opted-in private subnets on their own tables and one on the main table
    a, b, c = subnet(1), subnet(2, "eu-west-1b"), subnet(3, "eu-west-1c")
    tables = [table(1, a), table(2, b), table(3, main=True)]
    # When planning with S3 required and no endpoint in the VPC
    plan = run(snap([a, b, c], tables), interface=())
    # Then one create carries all three route tables, the main one included
    assert plan.actions == (CreateGatewayEndpoint(VPC, "s3", "com.amazonaws.eu-west-1.s3", tuple(sorted(t.id for t in tables))),)
    assert {f.status for f in plan.findings} == {Status.NONCOMPLIANT}


def test_existing_gateway_endpoint_of_anyone_is_reused():
    # Given an S3 endpoint somebody else made, on one of two route tables
    a, b = subnet(1), subnet(2)
    t1, t2 = table(1, a), table(2, b)
    theirs = Endpoint("vpce-theirs", VPC, "com.amazonaws.eu-west-1.s3", GATEWAY, route_table_ids=frozenset({t1.id}))
    # When planning
    plan = run(snap([a, b], [t1, t2], [theirs]), interface=())
    # Then the missing table is added to that endpoint, and nothing is created
    assert plan.actions == (AttachRouteTables(VPC, "vpce-theirs", "s3", (t2.id,)),)
    by_subnet = {f.subnet_id: f for f in plan.findings}
    assert by_subnet[a.id].status == Status.COMPLIANT and by_subnet[a.id].endpoint_id == "vpce-theirs"


def test_deleted_endpoint_does_not_count():
    a = subnet(1)
    t1 = table(1, a)
    gone = Endpoint("vpce-gone", VPC, "com.amazonaws.eu-west-1.s3", GATEWAY, state="deleted", route_table_ids=frozenset({t1.id}))
    plan = run(snap([a], [t1], [gone]), interface=())
    assert plan.actions == (CreateGatewayEndpoint(VPC, "s3", "com.amazonaws.eu-west-1.s3", (t1.id,), generation=("vpce-gone",)),)


def test_untagged_public_and_unknown_policy_subnets_are_left_alone_with_a_reason():
    # Given an untagged subnet, a tagged public subnet and a subnet naming an unknown policy
    untagged, public, unknown = subnet(1, tag=None), subnet(2), subnet(3, tag="gold")
    tables = [table(1, untagged, unknown), table(2, public, internet=True)]
    # When planning
    plan = run(snap([untagged, public, unknown], tables))
    # Then nothing is done, and each has its reason; the tagged-but-public one is a warning
    assert plan.actions == ()
    reasons = {f.subnet_id: (f.status, f.reason, f.warning) for f in plan.findings}
    assert reasons == {
        untagged.id: (Status.SKIPPED, Reason.NOT_OPTED_IN, False),
        public.id: (Status.SKIPPED, Reason.PUBLIC_SUBNET, True),
        unknown.id: (Status.SKIPPED, Reason.UNKNOWN_POLICY, True),
    }


def test_a_nat_route_keeps_a_subnet_private_and_the_main_table_decides_without_association():
    a = subnet(1)
    main = table(9, main=True)  # NAT default route
    plan = run(snap([a], [main]), interface=())
    assert plan.actions == (CreateGatewayEndpoint(VPC, "s3", "com.amazonaws.eu-west-1.s3", (main.id,)),)


def test_interface_endpoint_gets_one_subnet_per_az_the_one_with_most_free_addresses():
    # Given two opted-in subnets in AZ a (one roomier) and one in AZ b
    a1, a2, b1 = subnet(1, ips=100), subnet(2, ips=4000), subnet(3, "eu-west-1b")
    t = table(1, a1, a2, b1)
    # When planning with SSM required
    plan = run(snap([a1, a2, b1], [t]), gateway=())
    # Then the group is made first and the endpoint has one subnet per AZ, private DNS on
    assert plan.actions == (
        CreateSecurityGroup(VPC, ("10.0.0.0/16",)),
        CreateInterfaceEndpoint(VPC, "ssm", "com.amazonaws.eu-west-1.ssm", (a2.id, b1.id), True, None),
    )


def test_interface_create_waits_for_vpc_details():
    a = subnet(1)
    plan = run(snap([a], [table(1, a)], details=None), gateway=())
    assert plan.needs_details and plan.actions == ()


def test_existing_interface_endpoint_is_extended_only_to_uncovered_azs():
    # Given an SSM endpoint in AZ a (in an untagged subnet) and opted-in subnets in AZs a and b
    other, a1, b1 = subnet(1, tag=None), subnet(2), subnet(3, "eu-west-1b")
    endpoint = Endpoint(
        "vpce-ssm", VPC, "com.amazonaws.eu-west-1.ssm", INTERFACE, subnet_ids=frozenset({other.id}), private_dns=True
    )
    # When planning
    plan = run(snap([other, a1, b1], [table(1, other, a1, b1)], [endpoint], details=None), gateway=())
    # Then only AZ b is added, without reading VPC details
    assert plan.actions == (AddSubnets(VPC, "vpce-ssm", "ssm", (b1.id,)),)
    assert not plan.needs_details


def test_service_not_offered_in_az_is_skipped_with_a_reason():
    a, b = subnet(1), subnet(2, "eu-west-1b")
    plan = run(snap([a, b], [table(1, a, b)]), gateway=(), interface=("ec2messages",))
    create = plan.actions[-1]
    assert isinstance(create, CreateInterfaceEndpoint) and create.subnet_ids == (a.id,)
    assert {f.subnet_id: f.reason for f in plan.findings if f.status == Status.SKIPPED} == {b.id: Reason.SERVICE_NOT_IN_AZ}


def test_private_dns_stays_off_when_vpc_dns_attributes_are_off_and_says_so():
    a = subnet(1)
    details = VpcDetails(
        ("10.0.0.0/16",), dns_support=True, dns_hostnames=False, security_group=SecurityGroup("sg-1", frozenset({"10.0.0.0/16"}))
    )
    plan = run(snap([a], [table(1, a)], details=details), gateway=())
    assert plan.actions == (CreateInterfaceEndpoint(VPC, "ssm", "com.amazonaws.eu-west-1.ssm", (a.id,), False, "sg-1"),)
    assert [(f.reason, f.note) for f in plan.findings] == [(Reason.NO_ENDPOINT, Note.PRIVATE_DNS_OFF)] and plan.findings[
        0
    ].warning


def test_existing_group_is_reused_and_only_gains_missing_cidrs():
    a = subnet(1)
    details = VpcDetails(("10.0.0.0/16", "100.64.0.0/16"), True, True, SecurityGroup("sg-1", frozenset({"10.0.0.0/16"})))
    plan = run(snap([a], [table(1, a)], details=details), gateway=())
    assert plan.actions[0] == AuthorizeHttps(VPC, "sg-1", ("100.64.0.0/16",))
    assert plan.actions[1].security_group_id == "sg-1"


def test_compliant_vpc_plans_nothing():
    a = subnet(1)
    t = table(1, a)
    endpoints = [
        Endpoint("vpce-s3", VPC, "com.amazonaws.eu-west-1.s3", GATEWAY, route_table_ids=frozenset({t.id})),
        Endpoint("vpce-ssm", VPC, "com.amazonaws.eu-west-1.ssm", INTERFACE, subnet_ids=frozenset({a.id}), private_dns=True),
    ]
    plan = run(snap([a], [t], endpoints, details=None))
    assert plan.actions == () and not plan.needs_details
    assert {f.status for f in plan.findings} == {Status.COMPLIANT}


def test_client_tokens_name_the_endpoint_identity_not_its_route_tables():
    # Two runs racing to create the S3 endpoint with different tables share a token, so EC2 lets one win.
    one = CreateGatewayEndpoint(VPC, "s3", "com.amazonaws.eu-west-1.s3", ("rtb-1",))
    assert one.client_token == CreateGatewayEndpoint(VPC, "s3", "com.amazonaws.eu-west-1.s3", ("rtb-2",)).client_token
    # A restore after a deletion is a new create; another service or VPC is another endpoint.
    assert (
        one.client_token
        != CreateGatewayEndpoint(VPC, "s3", "com.amazonaws.eu-west-1.s3", ("rtb-1",), generation=("vpce-1",)).client_token
    )
    assert one.client_token != CreateGatewayEndpoint(VPC, "s3", "com.amazonaws.eu-west-1.dynamodb", ("rtb-1",)).client_token
    assert one.inputs_token() != CreateGatewayEndpoint(VPC, "s3", "com.amazonaws.eu-west-1.s3", ("rtb-2",)).inputs_token()
    assert len(one.client_token) <= 64 and len(one.inputs_token(security_group_id="sg-0123456789abcdef0")) <= 64


def test_a_group_with_our_name_but_not_our_tag_is_never_used():
    # Given a security group named like ours that someone else owns
    a = subnet(1)
    details = VpcDetails(("10.0.0.0/16",), True, True, SecurityGroup("sg-theirs", frozenset(), owned=False))
    # When an interface endpoint would be created
    plan = run(snap([a], [table(1, a)], details=details))
    # Then gateway work goes ahead, but no interface endpoint or group write is planned, with a reason
    assert [type(x) for x in plan.actions] == [CreateGatewayEndpoint]
    interface = [f for f in plan.findings if f.endpoint_type == INTERFACE]
    assert {(f.status, f.reason, f.warning) for f in interface} == {(Status.SKIPPED, Reason.GROUP_NAME_TAKEN, True)}


def test_a_service_without_endpoint_policy_support_gets_none_with_a_warning():
    from vpce_remediator.policy import Policy, ServiceOptions

    # Given a policy asking for an endpoint policy on a service that does not support one
    catalog = ServiceCatalog(
        {("s3", GATEWAY): ServiceInfo("s3", "com.amazonaws.eu-west-1.s3", GATEWAY, AZS, policy_supported=False)}
    )
    gold = Policy("gold", ("s3",), (), {(GATEWAY, "s3"): ServiceOptions(policy_document='{"Statement": []}')})
    policies = PolicySet({"gold": gold})
    a = subnet(1, tag="gold")
    # When planning
    plan = plan_vpc(snap([a], [table(1, a)]), policies, catalog, KEY)
    # Then the endpoint is created without the policy, and the finding warns
    assert plan.actions == (CreateGatewayEndpoint(VPC, "s3", "com.amazonaws.eu-west-1.s3", (table(1, a).id,), None),)
    assert [(f.note, f.warning) for f in plan.findings] == [(Note.POLICY_NOT_SUPPORTED, True)]


def test_policies_that_disagree_on_a_shared_endpoint_use_the_first_by_name_and_say_so():
    from vpce_remediator.policy import Policy, ServiceOptions

    alpha = Policy("alpha", (), ("ssm",), {(INTERFACE, "ssm"): ServiceOptions(private_dns=False)})
    beta = Policy("beta", (), ("ssm",))
    a, b = subnet(1, tag="alpha"), subnet(2, "eu-west-1b", tag="beta")
    plan = plan_vpc(snap([a, b], [table(1, a, b)]), PolicySet({"alpha": alpha, "beta": beta}), CATALOG, KEY)
    create = plan.actions[-1]
    assert isinstance(create, CreateInterfaceEndpoint) and create.private_dns is False
    assert {f.note for f in plan.findings} == {Note.OPTIONS_CONFLICT}
