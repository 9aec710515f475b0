"""The scheduled sweep: every VPC with opted-in subnets, read region-wide in a constant number of calls."""

from __future__ import annotations

from tests.emulation.account import DEFAULT_SERVICES, Vpc, load_event

SWEEP = "SweepFunction"


def build(ec2, count: int) -> list[Vpc]:
    vpcs = []
    for i in range(count):
        vpc = Vpc.create(ec2, f"10.{30 + i}.0.0/16")
        vpc.route_table("private")
        vpc.subnet("app-a", "eu-west-1a", route_table="private")
        vpc.subnet("app-b", "eu-west-1b")
        vpcs.append(vpc)
    return vpcs


def test_sweep_reconciles_every_opted_in_vpc_and_leaves_the_rest(ec2, stack, calls):
    # Given four VPCs with opted-in subnets and one without
    opted_in = build(ec2, 4)
    bystander = Vpc.create(ec2, "10.99.0.0/16")
    bystander.subnet("plain", "eu-west-1a", policy=None)
    # When the schedule fires
    result = stack.invoke(SWEEP, load_event("scheduled_sweep.json"))
    # Then the four are compliant, the bystander untouched, and the region was read in three calls
    assert result["status"] == "ok" and sorted(result["vpcs"]) == sorted(v.id for v in opted_in)
    for vpc in opted_in:
        assert vpc.live_services() == sorted(DEFAULT_SERVICES)
    assert bystander.endpoints() == []
    counts = calls.count()
    assert (counts["DescribeSubnets"], counts["DescribeRouteTables"], counts["DescribeVpcEndpoints"]) == (1, 1, 1)


def test_a_steady_state_sweep_costs_three_reads_whatever_the_number_of_vpcs(ec2, stack, calls):
    # Given twelve remediated VPCs
    build(ec2, 12)
    stack.invoke(SWEEP, load_event("scheduled_sweep.json"))
    calls.clear()
    # When the next sweep runs in the same (warm) container
    result = stack.invoke(SWEEP, load_event("scheduled_sweep.json"))
    # Then it read three pages' worth and wrote nothing (the policy parameter is one SSM read, cached)
    assert len(result["vpcs"]) == 12
    assert calls.count() == {"DescribeSubnets": 1, "DescribeRouteTables": 1, "DescribeVpcEndpoints": 1}


def test_sweep_restores_what_was_deleted_while_no_event_arrived(ec2, stack, logs):
    (vpc,) = build(ec2, 1)
    stack.invoke(SWEEP, load_event("scheduled_sweep.json"))
    gone = next(e["VpcEndpointId"] for e in vpc.endpoints("dynamodb"))
    ec2.delete_vpc_endpoints(VpcEndpointIds=[gone])
    stack.invoke(SWEEP, load_event("scheduled_sweep.json"))
    live = [e for e in vpc.endpoints("dynamodb") if e["State"] != "deleted"]
    assert len(live) == 1
    restored = [r for r in logs.of("decision") if r.get("replaces_endpoint_id") == gone]
    assert restored and {r["reason"] for r in restored} == {"endpoint_deleted"}
    assert {r["correlation_id"] for r in restored} == {load_event("scheduled_sweep.json")["id"]}
