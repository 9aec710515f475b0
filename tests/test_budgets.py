"""Call budgets (issue 6): what one event and one sweep cost in AWS calls. Counted, never timed.

Every count is of the calls the functions' own clients make (the ``calls`` fixture hooks boto3's
default session; the test's ``ec2`` client is not counted). EC2 calls are counted apart from the rest:
``Cost.reads``/``Cost.writes`` are EC2 operations only, and ``Cost.other`` holds everything else, which
is the SSM ``GetParameter`` of the policy document (once per container, then cached 300 s) plus
whatever other services a run talks to (EventBridge ``PutEvents`` for change events, when there are
changes).

The layout the issue names: a VPC with 40 opted-in private subnets on 10 route tables across 3 AZs,
served by the default policy (gateway: s3, dynamodb; interface: ssm, ssmmessages, ec2messages).

moto never pages DescribeSubnets, DescribeRouteTables or DescribeVpcEndpoints (it ignores MaxResults
and returns no NextToken), and the code's paginators send no page size, so in the emulation every
snapshot call is one page. ``Pages`` gives moto EC2's server-side paging with a chosen page size, so
the sweep tests can show that the number of calls follows the number of result pages, not the number
of VPCs. ``fast_tags`` only makes moto faster on large layouts (same answers).

``scripts/bench.py`` builds its scenarios with the helpers here, so the numbers it prints are the
ones these tests hold.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import botocore.session
import pytest
from moto.core.responses import ActionResult
from moto.ec2.models.tags import TagBackend
from moto.ec2.responses.route_tables import RouteTables
from moto.ec2.responses.subnets import Subnets
from moto.ec2.responses.vpcs import VPCs
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

from tests.emulation.account import Vpc, load_event, sample_event
from tests.emulation.lambda_runtime import Stack

EC2_OPERATIONS = frozenset(botocore.session.get_session().get_service_model("ec2").operation_names)
READ_PREFIXES = ("Describe", "Get", "List")
AZS = ("eu-west-1a", "eu-west-1b", "eu-west-1c")
SWEEP = "SweepFunction"
GATEWAY_SERVICES = ("dynamodb", "s3")
INTERFACE_SERVICES = ("ec2messages", "ssm", "ssmmessages")
# The read of one run: subnets, route tables and endpoints of the VPCs, one paginated call each.
SNAPSHOT = Counter({"DescribeSubnets": 1, "DescribeRouteTables": 1, "DescribeVpcEndpoints": 1})
# What a run reads only when it must create an interface endpoint (snapshot.read_details).
DETAILS = Counter({"DescribeVpcs": 1, "DescribeVpcAttribute": 2, "DescribeSecurityGroups": 1})
# Read once per container (runtime.build_dependencies caches it).
CATALOG = Counter({"DescribeVpcEndpointServices": 1})
# The intake's one write: the call, queued in the VPC's settle window.
QUEUED = Counter({"SendMessage": 1})
_MOTO_DESCRIBE_TAGS = TagBackend.describe_tags


@dataclass(frozen=True)
class Cost:
    """The calls made since the log was last cleared: EC2 reads, EC2 writes, and other services."""

    reads: Counter
    writes: Counter
    other: Counter

    @classmethod
    def of(cls, operations: Iterable[str]) -> Cost:
        ops = list(operations)
        ec2 = [op for op in ops if op in EC2_OPERATIONS]
        return cls(
            reads=Counter(op for op in ec2 if op.startswith(READ_PREFIXES)),
            writes=Counter(op for op in ec2 if not op.startswith(READ_PREFIXES)),
            other=Counter(op for op in ops if op not in EC2_OPERATIONS),
        )

    @property
    def ec2_reads(self) -> int:
        return sum(self.reads.values())

    @property
    def ec2_writes(self) -> int:
        return sum(self.writes.values())


def publish(stack: Stack, calls: Any, event: dict[str, Any]) -> Cost:
    """Delivers one event through the template's rules (exactly one must match) and returns its cost."""
    calls.clear()
    deliveries = stack.publish(event)
    assert len(deliveries) == 1, deliveries
    assert deliveries[0].result["status"] in ("ok", "queued", "ignored"), deliveries[0].result
    return Cost.of(calls.calls)


def sweep(stack: Stack, calls: Any) -> Cost:
    calls.clear()
    result = stack.invoke(SWEEP, load_event("scheduled_sweep.json"))
    assert result["status"] == "ok", result
    return Cost.of(calls.calls)


def big_vpc(ec2: Any, azs: tuple[str, ...] = AZS, subnets: int = 40, tables: int = 10) -> Vpc:
    """``subnets`` opted-in private subnets, round robin over ``azs`` and ``tables`` route tables."""
    vpc = Vpc.create(ec2)
    for t in range(tables):
        vpc.route_table(f"rt-{t}")
    for i in range(subnets):
        vpc.subnet(f"app-{i:02d}", azs[i % len(azs)], route_table=f"rt-{i % tables}")
    return vpc


def remediated_big_vpc(ec2: Any, stack: Stack, calls: Any, azs: tuple[str, ...] = AZS, subnets: int = 40) -> Vpc:
    """The big VPC with every endpoint in place, in a warm event container."""
    vpc = big_vpc(ec2, azs, subnets)
    publish(stack, calls, vpc.subnet_event("app-00"))
    return vpc


def small_vpcs(ec2: Any, count: int, start: int = 0) -> list[Vpc]:
    """``count`` VPCs with two opted-in subnets (one on its own table, one on the main one), as test_sweep builds."""
    vpcs = []
    for i in range(start, start + count):
        vpc = Vpc.create(ec2, f"10.{i // 256}.{i % 256}.0/24")
        vpc.route_table("private")
        vpc.subnets["app-a"] = _subnet(vpc, "app-a", "eu-west-1a", f"10.{i // 256}.{i % 256}.0/25", "private")
        vpc.subnets["app-b"] = _subnet(vpc, "app-b", "eu-west-1b", f"10.{i // 256}.{i % 256}.128/25", None)
        vpcs.append(vpc)
    return vpcs


def _subnet(vpc: Vpc, name: str, az: str, cidr: str, route_table: str | None) -> str:
    tags = [{"Key": "Name", "Value": name}, {"Key": "vpce-remediator/policy", "Value": "default"}]
    subnet_id = vpc.ec2.create_subnet(
        VpcId=vpc.id, CidrBlock=cidr, AvailabilityZone=az, TagSpecifications=[{"ResourceType": "subnet", "Tags": tags}]
    )["Subnet"]["SubnetId"]
    if route_table is not None:
        vpc.ec2.associate_route_table(RouteTableId=vpc.route_tables[route_table], SubnetId=subnet_id)
    vpc.azs[name] = az
    return subnet_id


class Pages:
    """EC2's server-side paging, given to moto for the snapshot's three Describe calls, with ``size`` items
    a page; ``size=None`` (the default) leaves moto's single page.

    moto ignores MaxResults and NextToken on DescribeSubnets, DescribeRouteTables and DescribeVpcEndpoints
    and returns everything at once. Inside ``with Pages(n)``, its answers carry at most ``n`` items and a
    NextToken (the offset of the next page), as EC2's do when a result is larger than a page, and
    botocore's paginator in the code follows them with one more call each, as it would against EC2. The
    requests are the code's own (no MaxResults): ``n`` plays the page size EC2 chooses.
    """

    RESPONSES = (
        (Subnets, "describe_subnets", "Subnets"),
        (RouteTables, "describe_route_tables", "RouteTables"),
        (VPCs, "describe_vpc_endpoints", "VpcEndpoints"),
    )

    def __init__(self, size: int | None = None) -> None:
        self.size = size
        self._saved: list[tuple[type, str, Any]] = []

    def __enter__(self) -> Pages:
        for cls, name, key in self.RESPONSES:
            self._saved.append((cls, name, cls.__dict__[name]))
            setattr(cls, name, self._paged(cls.__dict__[name], key))
        return self

    def __exit__(self, *_: object) -> None:
        while self._saved:
            cls, name, original = self._saved.pop()
            setattr(cls, name, original)

    def _paged(self, original: Any, key: str) -> Any:
        pages = self

        def describe(response: Any) -> Any:
            answer = original(response)
            if pages.size is None:
                return answer
            result = dict(answer.result)
            items, start = list(result[key]), int(response._get_param("NextToken") or 0)
            result[key] = items[start : start + pages.size]
            if start + pages.size < len(items):
                result["NextToken"] = str(start + pages.size)
            return ActionResult(result)

        return describe


def indexed_tag_lookup(backend: Any, filters: dict[str, list[str]] | None = None) -> list[dict[str, str]]:
    """moto's ``TagBackend.describe_tags``, with the one lookup moto makes for every resource it serializes
    (``{"resource-id": [id]}``) answered from its tag dict instead of by matching a regex against every tag
    in the region. Same result; it turns moto's O(resources x tags) describes into O(resources)."""
    ids = (filters or {}).get("resource-id") or []
    if set(filters or {}) != {"resource-id"} or len(ids) != 1 or any(c in ids[0] for c in "*?\\"):
        return _MOTO_DESCRIBE_TAGS(backend, filters)
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(ids[0]), "")
    tags = dict(backend.tags.get(ids[0], {}))
    return [{"resource_id": ids[0], "key": k, "value": v, "resource_type": kind} for k, v in tags.items()]


@pytest.fixture(autouse=True)
def fast_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's tag lookup made linear for these tests (restored afterwards); results are unchanged."""
    monkeypatch.setattr(TagBackend, "describe_tags", indexed_tag_lookup)


def region_counts(ec2: Any) -> dict[str, int]:
    """How many items each of the snapshot's calls returns for the whole region (read by the test's client)."""
    return {
        operation: sum(len(page[key]) for page in ec2.get_paginator(_snake(operation)).paginate())
        for operation, key in (
            ("DescribeSubnets", "Subnets"),
            ("DescribeRouteTables", "RouteTables"),
            ("DescribeVpcEndpoints", "VpcEndpoints"),
        )
    }


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


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


def test_the_remediators_own_calls_cost_no_call_at_all(stack, calls):
    # The remediator's own ModifyVpcEndpoint comes back through CloudTrail; it is dropped before any read
    event = sample_event("modify_vpc_endpoint.json")
    event["detail"]["userAgent"] = "Boto3/1.43.108 md/Botocore#1.43.127 ua/2.1 cfg/retry-mode#standard vpce-remediator"
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
