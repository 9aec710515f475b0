"""Served means reachable: an interface endpoint serves its AZ only with private DNS on, and a spoke VPC
whose interface endpoints live in a hub (a private hosted zone of the service's name associated with it,
often from another account) needs none of its own. Handlers called the way Lambda calls them, on the
emulated account with the fidelity rules for private DNS and Route 53 (rule 12). Given/When/Then."""

from __future__ import annotations

import io
import json
from collections import Counter

from tests.emulation.account import Vpc, happening_now, sample_event
from tests.emulation.costs import Cost
from tests.emulation.lambda_runtime import Stack
from tests.test_named_policies import put_policies

HUB_ACCOUNT = "222222222222"
INTERFACE = ("ssm", "ssmmessages", "ec2messages")


def interface_endpoints(vpc: Vpc) -> list[dict]:
    return [e for e in vpc.endpoints() if e["VpcEndpointType"] == "Interface" and e["State"] != "deleted"]


def decisions(logs, **where) -> list[dict]:
    return [r for r in logs.of("decision") if all(r.get(k) == v for k, v in where.items())]


def audit(vpc: Vpc) -> tuple[int, list[dict]]:
    from vpce_remediator.cli import main

    out = io.StringIO()
    code = main(["audit", "--region", "eu-west-1", "--vpc-id", vpc.id, "--format", "json"], out, io.StringIO())
    return code, json.loads(out.getvalue())


def hub(aws, vpc: Vpc, services=INTERFACE) -> dict[str, str]:
    """The hub account's zones for ``services``, associated with the spoke."""
    return {s: aws.associate_hub_zone(HUB_ACCOUNT, f"{s}.eu-west-1.amazonaws.com", vpc.id) for s in services}


def test_a_spoke_served_by_a_hub_gets_no_interface_endpoint_and_still_its_gateway_endpoints(vpc, aws, stack, calls, debug_logs):
    logs = debug_logs  # compliant decisions are DEBUG
    # Given a spoke whose three interface services a hub account serves through private hosted zones
    zones = hub(aws, vpc)
    vpc.subnet("app-a", "eu-west-1a")
    vpc.subnet("app-b", "eu-west-1b")
    calls.clear()
    # When its subnets' events arrive
    for name in ("app-a", "app-b"):
        stack.publish(vpc.subnet_event(name))
    # Then no interface endpoint is created (none paid for), the gateway ones are
    assert interface_endpoints(vpc) == []
    assert sorted(vpc.live_services()) == ["dynamodb", "s3"]
    # and each decision says it is served centrally, and by which zone
    central = decisions(logs, reason="served_centrally")
    assert {(r["endpoint_service"], r["hosted_zone_id"]) for r in central} == set(zones.items())
    # and the audit agrees (exit 0), naming the zones
    code, rows = audit(vpc)
    assert code == 0 and {r["detail"] for r in rows if r["service"].endswith("(interface)")} == {
        f"served_centrally, zone {z}" for z in zones.values()
    }
    # and Route 53 was asked once per reconcile
    assert calls.calls.count("ListHostedZonesByVPC") == 2


def test_a_central_service_without_its_hub_zone_is_noncompliant_and_nothing_is_created(vpc, aws, stack, debug_logs):
    logs = debug_logs
    # Given a policy that takes ssm from the hub, and a hub that serves only ssmmessages
    put_policies(
        "version: 1\npolicies:\n  spoke:\n    interface:\n      ssm: {central: true}\n      ssmmessages: {central: true}\n"
    )
    hub(aws, vpc, ["ssmmessages"])
    vpc.subnet("app-a", "eu-west-1a", policy="spoke")
    # When the subnet's event arrives
    stack.publish(vpc.subnet_event("app-a"))
    # Then nothing is created; ssm is noncompliant for a human to act on, ssmmessages served centrally
    assert interface_endpoints(vpc) == []
    (missing,) = decisions(logs, reason="central_endpoint_missing")
    assert missing["endpoint_service"] == "ssm" and missing["level"] == "WARNING" and missing["action"] == "none"
    assert decisions(logs, reason="served_centrally")[0]["endpoint_service"] == "ssmmessages"
    assert audit(vpc)[0] == 1


def test_someone_elses_endpoint_without_private_dns_is_reported_never_changed_nor_doubled(vpc, stack, ec2, calls, logs):
    # Given the network team's SSM endpoint in every AZ, with private DNS off
    subnets = [vpc.subnet(f"app-{az[-1]}", az) for az in ("eu-west-1a", "eu-west-1b")]
    theirs = ec2.create_vpc_endpoint(
        VpcId=vpc.id,
        ServiceName="com.amazonaws.eu-west-1.ssm",
        VpcEndpointType="Interface",
        SubnetIds=subnets,
        PrivateDnsEnabled=False,
    )["VpcEndpoint"]["VpcEndpointId"]
    # When the subnets' events arrive
    for name in ("app-a", "app-b"):
        stack.publish(vpc.subnet_event(name))
    # Then SSM is not compliant (the SDKs resolve its public name) and the audit fails the gate...
    dark = decisions(logs, reason="endpoint_private_dns_off")
    assert {(r["endpoint_service"], r["endpoint_id"], r["level"]) for r in dark} == {("ssm", theirs, "WARNING")}
    code, rows = audit(vpc)
    assert code == 1 and {r["state"] for r in rows if r["service"] == "ssm (interface)"} == {"noncompliant"}
    # ...but their endpoint is left as it is, and no second one is made beside it
    (ssm,) = vpc.endpoints("ssm")
    assert ssm["VpcEndpointId"] == theirs and ssm["PrivateDnsEnabled"] is False
    assert [r for r in calls.requests("ModifyVpcEndpoint") if r.get("VpcEndpointId") == theirs] == []


def test_its_own_endpoints_made_without_private_dns_get_it_once_the_vpc_dns_attributes_are_on(ec2, stack, logs):
    # Given a VPC with DNS hostnames off, remediated: its interface endpoints are made without private DNS
    vpc = Vpc.create(ec2, dns=False)
    vpc.subnet("app-a", "eu-west-1a")
    stack.publish(vpc.subnet_event("app-a"))
    assert {e["PrivateDnsEnabled"] for e in interface_endpoints(vpc)} == {False}
    assert audit(vpc)[0] == 1  # not served: endpoint_private_dns_off, private_dns_off_vpc_dns_attributes_off
    # When the network team turns both attributes on (ModifyVpcAttribute, a trigger)
    for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
        ec2.modify_vpc_attribute(VpcId=vpc.id, **{attribute: {"Value": True}})
    logs.records.clear()
    stack.publish(happening_now(sample_event("modify_vpc_attribute.json", vpc=vpc.id)))
    # Then each of its endpoints gets private DNS, with one call each, and the VPC is compliant
    enabled = [r for r in logs.of("change") if r["action"] == "enable_private_dns"]
    assert sorted(r["endpoint_service"] for r in enabled) == sorted(INTERFACE) and {r["outcome"] for r in enabled} == {"enabled"}
    assert {e["PrivateDnsEnabled"] for e in interface_endpoints(vpc)} == {True}
    assert audit(vpc)[0] == 0


def test_a_spoke_moved_to_a_hub_releases_the_interface_endpoints_it_made(ec2, aws, calls, logs):
    # Given a spoke remediated while its DNS attributes were off (its endpoints reach nobody)
    stack = Stack().provision()
    vpc = Vpc.create(ec2, dns=False)
    vpc.subnet("app-a", "eu-west-1a")
    stack.publish(vpc.subnet_event("app-a"))
    assert len(interface_endpoints(vpc)) == 3
    # When the hub associates its zones with the spoke and the sweep runs
    hub(aws, vpc)
    stack.invoke("SweepFunction", sample_event("scheduled_sweep.json"))
    # Then the endpoints it made are released (the hub serves them), and each release says what it saves
    assert interface_endpoints(vpc) == [] and vpc.managed_groups() == []
    deleted = [r for r in logs.of("change") if r["action"] == "delete_endpoint"]
    assert sorted(r["endpoint_service"] for r in deleted) == sorted(INTERFACE)
    assert all(r["estimated_monthly_usd_added"] == -7.3 for r in deleted)


def test_a_no_change_event_in_a_spoke_costs_four_reads(vpc, aws, stack, calls):
    # Given a spoke served by a hub, reconciled once (the catalog and policy are read)
    hub(aws, vpc)
    vpc.subnet("app-a", "eu-west-1a")
    stack.publish(vpc.subnet_event("app-a"))
    calls.clear()
    # When another call about it arrives
    stack.publish(happening_now(sample_event("create_tags_subnet_opt_in.json", subnet=vpc.subnets["app-a"])))
    # Then the reconcile reads the snapshot (3: the intake remembers the subnet's VPC) and the hub zones (1)
    cost = Cost.of(calls.calls)
    assert sum(cost.reads.values()) == 3 and cost.writes == Counter()
    assert cost.other["ListHostedZonesByVPC"] == 1


def test_the_hub_zone_route53_call_is_made_only_where_an_interface_need_is_unreached(vpc, stack, calls):
    # Given a VPC whose interface needs its own private-DNS endpoints meet
    vpc.subnet("app-a", "eu-west-1a")
    stack.publish(vpc.subnet_event("app-a"))
    calls.clear()
    stack.publish(happening_now(sample_event("create_tags_subnet_opt_in.json", subnet=vpc.subnets["app-a"])))
    # Then Route 53 is not asked
    assert "ListHostedZonesByVPC" not in calls.calls


def test_a_sweep_reads_the_region_in_three_calls_plus_one_per_spoke(ec2, aws, stack, calls):
    # Given three spokes served by the hub and two VPCs served by endpoints of their own, all reconciled
    spokes = [Vpc.create(ec2, f"10.{30 + i}.0.0/16") for i in range(3)]
    own = [Vpc.create(ec2, f"10.{40 + i}.0.0/16") for i in range(2)]
    for vpc in spokes + own:
        if vpc in spokes:
            hub(aws, vpc)
        vpc.subnet("app-a", "eu-west-1a")
        stack.publish(vpc.subnet_event("app-a"))
    # When the sweep runs
    from tests.emulation.costs import sweep

    cost = sweep(stack, calls)
    # Then it reads the region's subnets, route tables and endpoints once, Route 53 once per spoke, and writes nothing
    assert cost.reads - Counter({"DescribeVpcEndpointServices": 1}) == Counter(
        {"DescribeSubnets": 1, "DescribeRouteTables": 1, "DescribeVpcEndpoints": 1}
    )  # (and the catalog, once per container)
    assert cost.other["ListHostedZonesByVPC"] == 3 and cost.writes == Counter()
