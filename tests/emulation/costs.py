"""Counting what the functions' AWS calls cost, and the layouts the call budgets are measured on: shared by
tests/test_budgets.py (which pins the counts), tests/test_settle.py and scripts/bench.py (which prints them).

moto never pages DescribeSubnets, DescribeRouteTables or DescribeVpcEndpoints (it ignores MaxResults and
returns no NextToken), and the code's paginators send no page size, so in the emulation every snapshot call
is one page. ``Pages`` gives moto EC2's server-side paging with a chosen page size, so the sweep tests can
show that the number of calls follows the number of result pages, not the number of VPCs.
``indexed_tag_lookup`` only makes moto faster on large layouts (same answers).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import botocore.session
from moto.core.responses import ActionResult
from moto.ec2.models.tags import TagBackend
from moto.ec2.responses.route_tables import RouteTables
from moto.ec2.responses.subnets import Subnets
from moto.ec2.responses.vpcs import VPCs
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

from tests.emulation.account import Vpc, load_event
from tests.emulation.lambda_runtime import Stack

READS = ("Describe", "Get", "List")


class CallLog:
    """Every AWS API call made through boto3's default session, by operation name."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.params: list[tuple[str, dict[str, Any]]] = []

    def record(self, model: Any, params: dict[str, Any], **_: object) -> None:
        self.calls.append(model.name)
        self.params.append((model.name, params))

    def clear(self) -> None:
        self.calls.clear()
        self.params.clear()

    def requests(self, operation: str) -> list[dict[str, Any]]:
        """The serialized request bodies (wire names) sent for one operation."""
        return [p.get("body", {}) for name, p in self.params if name == operation]

    @property
    def writes(self) -> list[str]:
        return [c for c in self.calls if not c.startswith(READS)]

    @property
    def reads(self) -> list[str]:
        return [c for c in self.calls if c.startswith(READS)]

    def count(self) -> Counter[str]:
        return Counter(self.calls)


EC2_OPERATIONS = frozenset(botocore.session.get_session().get_service_model("ec2").operation_names)
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
            reads=Counter(op for op in ec2 if op.startswith(READS)),
            writes=Counter(op for op in ec2 if not op.startswith(READS)),
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
