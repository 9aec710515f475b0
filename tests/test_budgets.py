"""Call budgets (issue 6): what one event and one sweep cost in AWS calls. Counted, never timed.

Every count is of the calls the functions' own clients make (the ``calls`` fixture hooks boto3's
default session; the test's ``ec2`` client is not counted). EC2 calls are counted apart from the rest:
``Cost.reads``/``Cost.writes`` are EC2 operations only, and ``Cost.other`` holds everything else, which
is the SSM ``GetParameter`` of the policy document (once per container, then cached 300 s) plus
whatever other services a run talks to (EventBridge ``PutEvents`` for change events, when there are
changes).

The layout the issue names: a VPC with 40 opted-in private subnets on 10 route tables across 3 AZs,
served by the default policy (gateway: s3, dynamodb; interface: ssm, ssmmessages, ec2messages).

The helpers (``Cost``, the layouts, EC2-style paging) are in tests/emulation/costs.py, which
``scripts/bench.py`` uses too, so the numbers it prints are the ones these tests hold. ``fast_tags`` only
makes moto faster on large layouts (same answers).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import pytest
from moto.ec2.models.tags import TagBackend

from tests.emulation.account import Vpc, sample_event
from tests.emulation.costs import (
    AZS,
    CATALOG,
    DETAILS,
    GATEWAY_SERVICES,
    INTERFACE_SERVICES,
    QUEUED,
    SNAPSHOT,
    Pages,
    big_vpc,
    indexed_tag_lookup,
    publish,
    region_counts,
    remediated_big_vpc,
    small_vpcs,
    sweep,
)
from tests.emulation.lambda_runtime import Stack


@pytest.fixture(autouse=True)
def fast_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's tag lookup made linear for these tests (restored afterwards); results are unchanged."""
    monkeypatch.setattr(TagBackend, "describe_tags", indexed_tag_lookup)


def _modified(calls: Any) -> list[dict]:
    return calls.requests("ModifyVpcEndpoint")


# --- events ---------------------------------------------------------------------------------------


def test_the_first_event_in_a_new_container_reads_the_catalog_the_policy_and_the_details_once(ec2, stack, calls):
    # Given the 40-subnet, 10-table, 3-AZ VPC without any endpoint, and a cold event container
    vpc = big_vpc(ec2)
    # When its first event arrives
    cost = publish(stack, calls, vpc.subnet_event("app-00"))
    # Then one run fixed the whole VPC: the snapshot, the catalog (first run in the container) and, because
    # interface endpoints had to be created, the four detail reads; one write per endpoint plus the group
    assert cost.reads == SNAPSHOT + CATALOG + DETAILS
    assert cost.writes == Counter({"CreateVpcEndpoint": 5, "CreateSecurityGroup": 1, "AuthorizeSecurityGroupIngress": 1})
    assert cost.other["GetParameter"] == 1  # SSM, the policy document; cached for 300 s afterwards
    assert {e["ServiceName"].rsplit(".", 1)[1] for e in vpc.endpoints()} == {*GATEWAY_SERVICES, *INTERFACE_SERVICES}


def test_an_event_that_needs_no_change_costs_three_ec2_reads_and_no_write(ec2, stack, calls):
    # Given the remediated 40/10/3 VPC and a warm container
    vpc = remediated_big_vpc(ec2, stack, calls)
    vpc.subnet("late-a", "eu-west-1a", route_table="rt-3")  # a new subnet in a served AZ, on a served table
    # A CloudTrail event delivered twice within five minutes is queued once (the settle queue deduplicates)
    redelivered = publish(stack, calls, vpc.subnet_event("app-00"))
    assert (redelivered.reads, redelivered.writes, redelivered.other) == (Counter(), Counter(), QUEUED)
    events = {
        "another subnet's CreateSubnet": vpc.subnet_event("app-37"),
        "CreateRouteTable of a served table": vpc.route_table_event("rt-9"),
        "CreateSubnet: new subnet in a served AZ": vpc.subnet_event("late-a"),
    }
    for name, event in events.items():
        # When the event arrives
        cost = publish(stack, calls, event)
        # Then the run read the three snapshot calls, wrote nothing, and only queued the call
        assert (cost.reads, cost.writes, cost.other) == (SNAPSHOT, Counter(), QUEUED), name


def test_a_new_subnet_in_a_new_az_costs_three_reads_and_one_write_per_interface_endpoint(ec2, stack, calls):
    # Given 39 subnets on 10 tables in two AZs, remediated: every interface endpoint has ENIs in a and b
    vpc = remediated_big_vpc(ec2, stack, calls, azs=AZS[:2], subnets=39)
    endpoints = {e["VpcEndpointId"]: e["ServiceName"].rsplit(".", 1)[1] for e in vpc.endpoints()}
    # When the 40th subnet is created in the third AZ, on a table that is already served
    vpc.subnet("app-new", AZS[2], route_table="rt-0")
    assert len(vpc.subnets) == 40 and len(vpc.route_tables) == 10 and len(set(vpc.azs.values())) == 3
    cost = publish(stack, calls, vpc.subnet_event("app-new"))
    # Then three reads (no detail reads: nothing is created) and one ModifyVpcEndpoint per interface endpoint
    assert cost.reads == SNAPSHOT
    assert cost.writes == Counter({"ModifyVpcEndpoint": len(INTERFACE_SERVICES)})
    requests = _modified(calls)
    assert sorted(endpoints[r["VpcEndpointId"]] for r in requests) == sorted(INTERFACE_SERVICES)
    assert all(r["AddSubnetId.1"] == vpc.subnets["app-new"] and "AddSubnetId.2" not in r for r in requests)


def test_a_new_subnet_in_a_new_az_on_a_new_route_table_writes_once_per_endpoint_that_changes(ec2, stack, calls):
    # Given the same two-AZ VPC, and a new route table whose CreateRouteTable event never arrived
    vpc = remediated_big_vpc(ec2, stack, calls, azs=AZS[:2], subnets=39)
    vpc.route_table("rt-new")
    vpc.subnet("app-new", AZS[2], route_table="rt-new")
    # When the new subnet's event arrives
    cost = publish(stack, calls, vpc.subnet_event("app-new"))
    # Then all five endpoints change (gateways gain the table, interfaces the AZ), each with one write
    assert cost.reads == SNAPSHOT
    assert cost.writes == Counter({"ModifyVpcEndpoint": 5})
    assert len({r["VpcEndpointId"] for r in _modified(calls)}) == 5


def test_the_four_detail_reads_come_only_with_an_interface_endpoint_create(ec2, stack, calls):
    # Given the remediated VPC whose SSM endpoint someone deleted
    vpc = remediated_big_vpc(ec2, stack, calls)
    ssm = next(e["VpcEndpointId"] for e in vpc.endpoints("ssm"))
    ec2.delete_vpc_endpoints(VpcEndpointIds=[ssm])
    # When an event that names the VPC arrives (a new subnet in a served AZ)
    vpc.subnet("late-b", "eu-west-1b", route_table="rt-1")
    cost = publish(stack, calls, vpc.subnet_event("late-b"))
    # Then the run read the details (DNS attributes, CIDRs, our group) to create the one endpoint again
    assert cost.reads == SNAPSHOT + DETAILS
    assert cost.writes == Counter({"CreateVpcEndpoint": 1})


LOOKUP_EVENTS = {
    # event file: (how it names its resource, the Describe that resolves it to the VPC)
    "create_tags_subnet_opt_in.json": ("subnet", "DescribeSubnets"),
    "associate_route_table.json": ("route_table", "DescribeRouteTables"),
    "replace_route_table_association.json": ("route_table", "DescribeRouteTables"),
    "modify_vpc_endpoint.json": ("endpoint", "DescribeVpcEndpoints"),
    "delete_vpc_endpoints.json": ("endpoint", "DescribeVpcEndpoints"),
}


def _lookup_event(vpc: Vpc, name: str) -> dict[str, Any]:
    kind, _ = LOOKUP_EVENTS[name]
    ids = {
        "subnet": vpc.subnets["app-05"],
        "route_table": vpc.route_tables["rt-5"],
        "endpoint": next(e["VpcEndpointId"] for e in vpc.endpoints("s3")),
    }
    return sample_event(name, **{"subnet": ids["subnet"], kind: ids[kind]})


def test_a_call_that_names_no_vpc_costs_one_lookup_more_only_in_a_container_that_never_resolved_it(ec2, stack, calls):
    # Given the remediated VPC, and new containers
    vpc = remediated_big_vpc(ec2, stack, calls)
    for event_file, (_, lookup) in LOOKUP_EVENTS.items():
        # When a call that names a subnet, a route table or an endpoint (not the VPC) reaches a new intake
        cold = Stack().provision()
        cost = publish(cold, calls, _lookup_event(vpc, event_file))
        # Then one Describe resolved the resource to its VPC before the three snapshot reads; nothing written
        assert cost.reads[lookup] == SNAPSHOT[lookup] + 1, event_file
        assert cost.writes == Counter(), event_file
        # And the same intake resolves it from memory for the next call (a resource never changes VPC)
        later = _lookup_event(vpc, event_file)
        later["detail"]["eventID"] = f"later-{later['detail']['eventID']}"
        again = publish(cold, calls, later)
        assert (again.reads, again.writes) == (SNAPSHOT, Counter()), event_file


def test_issue_budget_every_no_change_event_costs_at_most_three_ec2_reads_and_one_lookup(ec2, stack, calls):
    # The intake resolves a resource it has not seen with one Describe; the reconcile reads three
    vpc = remediated_big_vpc(ec2, stack, calls)
    for name in LOOKUP_EVENTS:
        cost = publish(stack, calls, _lookup_event(vpc, name))
        assert cost.ec2_reads <= 4 and cost.reads >= SNAPSHOT, name
        assert (cost.writes, cost.other) == (Counter(), QUEUED), name
    # A subnet or route table whose create the intake saw needs no lookup at all
    vpc.route_table("seen")
    vpc.subnet("seen-a", "eu-west-1a", route_table="seen")
    publish(stack, calls, vpc.route_table_event("seen"))
    publish(stack, calls, vpc.subnet_event("seen-a"))
    for name, ids in (
        ("associate_route_table.json", {"route_table": vpc.route_tables["seen"]}),
        ("create_tags_subnet_opt_in.json", {"subnet": vpc.subnets["seen-a"]}),
    ):
        cost = publish(stack, calls, sample_event(name, **ids))
        assert (cost.reads, cost.ec2_reads, cost.writes, cost.other) == (SNAPSHOT, 3, Counter(), QUEUED), name


def test_the_remediators_own_adds_cost_no_call_at_all(stack, calls):
    # The remediator's own ModifyVpcEndpoint that adds comes back through CloudTrail; it is dropped before any read
    from tests.emulation.template import role_arn

    event = sample_event("modify_vpc_endpoint.json")
    event["detail"]["userAgent"] = "Boto3/1.43.108 md/Botocore#1.43.127 ua/2.1 cfg/retry-mode#standard vpce-remediator"
    event["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = role_arn("ReconcilerRole")
    request = event["detail"]["requestParameters"]["ModifyVpcEndpointRequest"]
    request["AddRouteTableId"] = request.pop("RemoveRouteTableId")
    cost = publish(stack, calls, event)
    assert (cost.reads, cost.writes, cost.other) == (Counter(), Counter(), Counter())


def test_the_service_catalog_and_the_policy_are_read_once_per_container(ec2, stack, calls):
    # Given a VPC and one container that handles six events in a row
    vpc = big_vpc(ec2)
    events = [vpc.subnet_event(f"app-{i:02d}") for i in range(5)] + [vpc.route_table_event("rt-0")]
    costs = [publish(stack, calls, event) for event in events]
    # Then only the first run read the endpoint-service catalog (EC2) and the policy parameter (SSM)
    assert [c.reads["DescribeVpcEndpointServices"] for c in costs] == [1, 0, 0, 0, 0, 0]
    assert [c.other["GetParameter"] for c in costs] == [1, 0, 0, 0, 0, 0]
    assert [c.reads for c in costs[1:]] == [SNAPSHOT] * 5
    # And a new container (a cold start) reads each once again, for itself
    cold = publish(Stack().provision(), calls, vpc.subnet_event("app-05"))
    assert cold.reads == SNAPSHOT + CATALOG and cold.other == Counter({"GetParameter": 1}) + QUEUED


# --- the sweep ------------------------------------------------------------------------------------


def test_a_sweep_reads_the_region_in_three_calls_at_10_and_at_100_vpcs(ec2, stack, calls):
    # Given 10 opted-in VPCs (two subnets each) and a cold sweep container
    vpcs = small_vpcs(ec2, 10)
    first = sweep(stack, calls)
    # Then the remediating sweep read subnets, route tables and endpoints once each for the whole region;
    # its other reads are the catalog (once) and the details of each VPC that needed an interface endpoint
    assert first.reads == SNAPSHOT + CATALOG + Counter({op: n * len(vpcs) for op, n in DETAILS.items()})
    steady_10 = sweep(stack, calls)
    # When 90 more VPCs appear, and are remediated by the next sweep
    vpcs += small_vpcs(ec2, 90, start=10)
    grown = sweep(stack, calls)
    assert grown.reads == SNAPSHOT + Counter({op: n * 90 for op, n in DETAILS.items()})
    steady_100 = sweep(stack, calls)
    # Then a steady sweep costs the same three calls at 100 VPCs as at 10 (all fit one moto page)
    assert steady_10.reads == steady_100.reads == SNAPSHOT
    assert steady_10.writes == steady_100.writes == Counter() and steady_100.other == Counter()
    per_vpc = Counter(e["VpcId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"])
    assert len(vpcs) == 100 and all(per_vpc[v.id] == 5 for v in vpcs)


def test_a_sweep_makes_one_call_per_result_page_not_one_per_vpc(ec2, stack, calls):
    # Given EC2-style pages of 25 items in the steady sweeps (moto itself never pages these calls)
    steady = {}
    with Pages() as pages:
        for count, start in ((10, 0), (90, 10)):
            small_vpcs(ec2, count, start)
            pages.size = None
            sweep(stack, calls)  # remediates the new VPCs
            pages.size = 25
            steady[start + count] = (sweep(stack, calls), region_counts(ec2))
    # Then each call was made once per page of its result: ceil(items / 25), nowhere near once per VPC
    (steady_10, items_10), (steady_100, items_100) = steady[10], steady[100]
    assert steady_10.reads == Counter({op: math.ceil(n / 25) for op, n in items_10.items()})
    assert steady_100.reads == Counter({op: math.ceil(n / 25) for op, n in items_100.items()})
    # (moto's default VPC adds 3 subnets and 1 route table to the 100 VPCs' 200 and 200, and 500 endpoints)
    assert items_100 == {"DescribeSubnets": 203, "DescribeRouteTables": 201, "DescribeVpcEndpoints": 500}
    assert steady_100.reads == Counter({"DescribeSubnets": 9, "DescribeRouteTables": 9, "DescribeVpcEndpoints": 20})
    assert steady_100.writes == Counter()


# --- log volume -----------------------------------------------------------------------------------


def logged_bytes(records: list[dict]) -> int:
    """What CloudWatch Logs ingests for these records: one compact JSON line each, as Powertools writes them."""
    return sum(len(json.dumps(r, separators=(",", ":"))) + 1 for r in records)


def test_a_no_change_reconcile_of_a_40_subnet_vpc_logs_at_most_2_kb(ec2, stack, calls, logs):
    # Given the remediated 40/10/3 VPC
    vpc = remediated_big_vpc(ec2, stack, calls)
    logs.records.clear()
    # When a call that changes nothing is reconciled
    publish(stack, calls, vpc.subnet_event("app-37"))
    reconciler = [r for r in logs.records if r["function_name"] == "ReconcilerFunction"]
    # Then the reconcile logged its summary alone (compliant decisions are DEBUG; their count is in it)
    assert [r["message"] for r in reconciler] == ["summary"]
    assert reconciler[0]["findings"] == {"compliant": 40 * 5}
    assert logged_bytes(reconciler) <= 2048, logged_bytes(reconciler)
    # and the intake's record of the call it queued is small too
    intake = [r for r in logs.records if r["function_name"] == "IntakeFunction"]
    assert [r["message"] for r in intake] == ["queued"] and logged_bytes(intake) <= 1024


def test_a_no_change_sweep_logs_at_most_1_kb_per_vpc(ec2, stack, calls, logs):
    # Given ten remediated 40-subnet VPCs
    for i in range(10):
        vpc = Vpc.create(ec2, f"10.{i}.0.0/16")
        for t in range(10):
            vpc.route_table(f"rt-{t}")
        for s in range(40):
            vpc.subnet(f"app-{s:02d}", AZS[s % 3], route_table=f"rt-{s % 10}")
    sweep(stack, calls)
    logs.records.clear()
    # When the next sweep finds nothing to change
    sweep(stack, calls)
    # Then it logged its summary alone
    assert [r["message"] for r in logs.records] == ["summary"]
    assert logged_bytes(logs.records) <= 1024 * 10, logged_bytes(logs.records)


# --- releases (Prune=own) -------------------------------------------------------------------------


def test_opting_a_whole_tier_out_is_one_reconcile_of_three_reads_and_the_minimal_deletes(ec2, calls):
    # Given the 15-call private tier, remediated, and EC2 deleting network interfaces at once
    from tests.emulation.costs import Cost
    from tests.emulation.scenarios import private_tier

    stack = Stack({"SettleSeconds": "1"}).provision()
    vpc = Vpc.create(ec2)
    for step in private_tier(vpc):
        stack.publish(step.make())
    stack.settle()
    # When all six subnets opt out within one window
    for name in sorted(vpc.subnets):
        stack.publish(vpc.opt_out(name))
    calls.clear()
    stack.settle()
    # Then the reconcile reads the snapshot only (the group is named by its endpoints) and deletes each of
    # its endpoints and its group once: nothing detached or removed first
    cost = Cost.of(calls.calls)
    assert cost.reads == Counter({op: 1 for op in SNAPSHOT})
    assert cost.writes == Counter({"DeleteVpcEndpoints": 5, "DeleteSecurityGroup": 1})


# --- the Config rule (ConfigRule=on) --------------------------------------------------------------


def test_the_config_rule_reads_one_vpc_and_puts_one_evaluation_per_change_and_puts_only_what_changed_hourly(ec2, calls):
    from tests.emulation.config_service import emulate
    from tests.emulation.costs import Cost

    stack = Stack({"ConfigRule": "on"}).provision()
    with emulate(stack.template) as config:
        rule = config.rule()
        # Given the remediated 40-subnet VPC (and the default VPC's three subnets)
        vpc = remediated_big_vpc(ec2, stack, calls)
        # When one of its subnets changes, in a new container: the snapshot of its VPC, the catalog and
        # the policy once, one evaluation
        calls.clear()
        stack.invoke("ConfigRuleFunction", rule.change(ec2, vpc.subnets["app-07"]))
        cold = Cost.of(calls.calls)
        assert (cold.reads, cold.writes) == (SNAPSHOT + CATALOG, Counter())
        assert cold.other == Counter({"GetParameter": 1, "PutEvaluations": 1}) and rule.puts == [1]
        # and in a warm one, the snapshot alone
        calls.clear()
        stack.invoke("ConfigRuleFunction", rule.change(ec2, vpc.subnets["app-08"]))
        assert Cost.of(calls.calls) == Cost(SNAPSHOT, Counter(), Counter({"PutEvaluations": 1}))
        # When the hourly run comes: the Region's snapshot, the rule's results (one page of 100), and the
        # 41 verdicts it does not hold yet in one call
        calls.clear()
        stack.invoke("ConfigRuleFunction", rule.periodic())
        periodic = Cost.of(calls.calls)
        assert periodic.reads == SNAPSHOT and periodic.other == Counter(
            {"GetComplianceDetailsByConfigRule": 1, "PutEvaluations": 1}
        )
        assert rule.puts[-1] == 43 - 2
        # and the next one, nothing having changed, puts nothing
        calls.clear()
        stack.invoke("ConfigRuleFunction", rule.periodic())
        assert Cost.of(calls.calls) == Cost(SNAPSHOT, Counter(), Counter({"GetComplianceDetailsByConfigRule": 1}))
