"""The settle window: a VPC is reconciled once its calls have been quiet for SettleSeconds, once for a whole
burst, and never while the IaC apply that made the calls may still be running. Real time, short windows
(one or two seconds): the stack's queue mappings sleep until a window closes, as Lambda's pollers wait.
Given/When/Then in each test."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from vpce_remediator.settle import Call, Window, parse_window
from vpce_remediator.settle_queue import send

from scripts import redrive
from tests.emulation.account import DEFAULT_SERVICES, Vpc, happening_now
from tests.emulation.costs import Cost
from tests.emulation.lambda_runtime import Stack
from tests.emulation.scenarios import own_endpoints, private_tier

MINIMAL_WRITES = Counter({"CreateVpcEndpoint": 5, "CreateSecurityGroup": 1, "AuthorizeSecurityGroupIngress": 1})


def ec2_calls(calls) -> tuple[Counter, Counter]:
    """(reads, writes) among the EC2 calls the functions made."""
    cost = Cost.of(calls.calls)
    return cost.reads, cost.writes


def reconciles(logs) -> list[dict]:
    """The summary record of each settled reconcile (a window that closed)."""
    return [r for r in logs.of("summary") if r.get("trigger") == "settled" and r["message"] == "summary"]


def started_at(record: dict) -> float:
    return datetime.strptime(record["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z").timestamp()


def event_time(event: dict) -> float:
    return datetime.fromisoformat(event["detail"]["eventTime"]).timestamp()


@pytest.fixture
def window(calls) -> Stack:
    """The stack with a two-second settle window."""
    return Stack({"SettleSeconds": "2"}).provision()


def test_an_apply_that_makes_its_own_endpoints_within_the_window_succeeds_and_they_are_reused(ec2, window, calls, logs):
    # Given a VPC module's private tier, each call's event arriving as the call returns
    vpc = Vpc.create(ec2)
    for step in private_tier(vpc):
        window.publish(step.make())
        window.deliver()  # Lambda's pollers see each call at once: the first opens the window
    # When the same apply then creates its own S3 gateway endpoint on its route tables and an SSM
    # interface endpoint with private DNS, a few seconds after its subnets and within the window
    theirs = own_endpoints(vpc)  # EC2 refuses neither (the fidelity rules would raise RouteAlreadyExists)
    window.settle()
    # Then one reconcile ran after the window, reused both, and added only what was still missing
    (run,) = reconciles(logs)
    assert run["changes"] == {"created": 4}  # dynamodb, ssmmessages, ec2messages and the group
    live = {e["VpcEndpointId"]: e["ServiceName"].rsplit(".", 1)[1] for e in vpc.endpoints() if e["State"] != "deleted"}
    assert sorted(live.values()) == sorted(DEFAULT_SERVICES)  # one endpoint per service: no duplicate
    assert set(theirs) <= set(live)
    _, writes = ec2_calls(calls)
    assert writes == Counter({"CreateVpcEndpoint": 3, "CreateSecurityGroup": 1, "AuthorizeSecurityGroupIngress": 1})
    assert [r for r in logs.of("change") if r["outcome"] in ("conflict", "failed")] == []


def test_without_a_window_the_same_apply_is_refused_by_ec2(ec2, stack):
    # The failure the window exists for (SettleSeconds=0, the stack fixture): the remediator acts on the
    # first calls, so the apply's own S3 endpoint meets route tables already on the remediator's one
    vpc = Vpc.create(ec2)
    for step in private_tier(vpc):
        stack.publish(step.make())
    with pytest.raises(ClientError, match="RouteAlreadyExists"):
        own_endpoints(vpc)


def test_no_reconcile_starts_before_the_window_closes_after_the_latest_call(ec2, window, logs):
    # Given calls made over about a second, delivered as they happen
    vpc = Vpc.create(ec2)
    events = []
    for step in list(private_tier(vpc, tables=1, subnets=2)):
        events.append(step.make())
        window.publish(events[-1])
        window.deliver()
        time.sleep(0.3)
    # When nothing is delivered before the window: the queue keeps the VPC's window hidden
    assert reconciles(logs) == []
    window.settle()
    # Then the one reconcile started SettleSeconds or more after the latest call it covers, and names every call
    (run,) = reconciles(logs)
    assert started_at(run) >= max(event_time(e) for e in events) + window.settle_seconds
    assert run["event_ids"] == [e["detail"]["eventID"] for e in events]
    assert run["principal_arns"] == [events[0]["detail"]["userIdentity"]["arn"]]
    assert set(run["event_names"]) == {"CreateRouteTable", "CreateSubnet", "AssociateRouteTable"}
    # and its decisions and changes carry the first call's id, so one query follows the whole window
    assert {r["correlation_id"] for r in logs.of("change")} == {events[0]["detail"]["eventID"]}


@pytest.mark.parametrize("delivery", ["as the calls happen", "all at once"])
def test_a_burst_is_one_reconcile_within_the_read_budget_and_the_minimal_writes(ec2, window, calls, logs, delivery):
    # Given the 15-call build (3 route tables, 6 subnets tagged at creation, 6 associations)
    vpc = Vpc.create(ec2)
    steps = list(private_tier(vpc))
    assert len(steps) == 15
    calls.clear()
    if delivery == "as the calls happen":
        for step in steps:  # one warm intake, each event as its call returns
            window.publish(step.make())
            window.deliver()
    else:
        for event in [step.make() for step in steps]:  # each in a cold intake, all queued together
            window.cold("IntakeFunction").publish(event)
    # When the window closes
    window.settle()
    # Then one reconcile covered all 15 calls: at most 14 EC2 reads (lookups included), exactly the
    # minimal writes, and no conflict
    (run,) = reconciles(logs)
    assert len(run["event_ids"]) == 15
    reads, writes = ec2_calls(calls)
    assert sum(reads.values()) <= 14, reads
    assert writes == MINIMAL_WRITES
    assert [r for r in logs.of("change") if r["outcome"] == "conflict"] == []
    # a first remediation's floor: three snapshot reads, the catalog, four detail reads; the rest are lookups
    lookups = sum(reads.values()) - 8
    assert lookups == (0 if delivery == "as the calls happen" else 6)  # the associations name no VPC


def test_a_call_that_arrives_after_the_reconcile_started_gets_a_later_one_of_its_own(ec2, window, logs):
    # Given a VPC whose window is closing
    vpc = Vpc.create(ec2)
    vpc.subnet("app-a", "eu-west-1a")
    window.publish(happening_now(vpc.subnet_event("app-a")))
    late: list[dict] = []

    def subnet_created_during_the_reconcile(**_: object) -> None:
        if not late:  # once: while the reconcile is creating endpoints, another subnet appears...
            vpc.subnet("app-b", "eu-west-1b")
            late.append(happening_now(vpc.subnet_event("app-b")))
            # ...and an intake in another container queues its call (what handle_event sends), while
            # the first window's message is still in flight
            detail = late[0]["detail"]
            call = Call(detail["eventID"], detail["eventName"], event_time(late[0]), detail["userIdentity"]["arn"])
            send(boto3.session.Session().client("sqs"), window.resources["SettleQueue"], Window(vpc.id, (call,)))

    boto3.DEFAULT_SESSION.events.register("before-call.ec2.CreateVpcEndpoint", subnet_created_during_the_reconcile)
    # When the windows close
    window.settle()
    # Then the first reconcile covered only the first call, and the late call got its own, later one
    first, second = reconciles(logs)
    assert first["event_ids"] == [vpc.subnet_event("app-a")["detail"]["eventID"]]
    assert second["event_ids"] == [late[0]["detail"]["eventID"]]
    assert started_at(second) >= event_time(late[0]) + window.settle_seconds
    # and the late subnet's AZ is served
    (ssm,) = vpc.endpoints("ssm")
    assert vpc.subnets["app-b"] in ssm["SubnetIds"]


def test_each_vpc_of_a_burst_gets_one_reconcile_of_its_own(ec2, window, logs):
    vpcs = [Vpc.create(ec2, cidr) for cidr in ("10.20.0.0/16", "10.30.0.0/16")]
    for vpc in vpcs:
        vpc.subnet("app-a", "eu-west-1a")
        vpc.subnet("app-b", "eu-west-1b")
    for vpc in vpcs:
        for name in ("app-a", "app-b"):
            window.publish(happening_now(vpc.subnet_event(name)))
    window.settle()
    assert sorted(r["vpcs"][0] for r in reconciles(logs)) == sorted(v.id for v in vpcs)
    assert all(len(r["event_ids"]) == 2 for r in reconciles(logs))


def test_a_reconcile_that_fails_is_retried_after_a_backoff_and_then_succeeds(ec2, calls, logs):
    # Given a one-second window, and EC2 refusing the first S3 endpoint create outright
    stack = Stack({"SettleSeconds": "1"}).provision()
    vpc = Vpc.create(ec2)
    vpc.subnet("app-a", "eu-west-1a")
    refused: list[str] = []

    def refuse_once(params, **_):
        if not refused and params.get("ServiceName", "").endswith(".s3"):
            refused.append(params["ServiceName"])
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}}, "CreateVpcEndpoint")

    boto3.DEFAULT_SESSION.events.register("provide-client-params.ec2.CreateVpcEndpoint", refuse_once)
    event = happening_now(vpc.subnet_event("app-a"))
    stack.publish(event)
    # When the window closes: the reconcile fails, the queue keeps the window, and hands it back later
    stack.settle()
    failed, retried = reconciles(logs)
    assert failed["failures"] and retried["failures"] == []
    # Then the retry covers the same call, and the VPC ends with every endpoint, none twice
    assert failed["event_ids"] == retried["event_ids"] == [event["detail"]["eventID"]]
    assert started_at(retried) - started_at(failed) >= 1  # the backoff: one window, doubling per retry
    assert vpc.live_services() == sorted(DEFAULT_SERVICES)


def test_a_window_that_keeps_failing_is_parked_with_its_vpc_and_calls(ec2, calls, logs):
    from tests.emulation.template import load_template

    # Given a stack whose settle queue parks a window after two receives (the template says eight)
    template = load_template()
    template["Resources"]["SettleQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] = 2
    stack = Stack({"SettleSeconds": "2"}, template=template).provision()
    vpc = Vpc.create(ec2)
    vpc.subnet("app-a", "eu-west-1a")

    denied = [True]  # a client copies the session's handlers when it is made: switch this one off, not out

    def refuse(**_):
        if denied:
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}}, "CreateVpcEndpoint")

    boto3.DEFAULT_SESSION.events.register("provide-client-params.ec2.CreateVpcEndpoint", refuse)
    event = happening_now(vpc.subnet_event("app-a"))
    stack.publish(event)
    stack.deliver()  # the pollers receive it at once: the window's wait is its first receive
    # When every reconcile fails (one receive is left for one attempt)
    stack.settle()
    # Then the window is in the dead-letter queue, with the VPC and the call it covered: nothing dropped
    sqs = boto3.session.Session().client("sqs")
    (parked,) = sqs.receive_message(QueueUrl=stack.resources["SettleDeadLetterQueue"], AttributeNames=["All"])["Messages"]
    window = parse_window(parked["Body"], parked["Attributes"]["MessageGroupId"])
    assert window.vpc_id == vpc.id and window.event_ids == [event["detail"]["eventID"]]
    assert window.principal_arns == [event["detail"]["userIdentity"]["arn"]]
    assert len(reconciles(logs)) == 1 and reconciles(logs)[0]["failures"]
    sqs.change_message_visibility(
        QueueUrl=stack.resources["SettleDeadLetterQueue"], ReceiptHandle=parked["ReceiptHandle"], VisibilityTimeout=0
    )
    # And once the cause is fixed, make redrive sends it back to the settle queue and it is reconciled
    denied.clear()
    replayed = redrive.redrive(sqs, None, stack.resources["SettleDeadLetterQueue"], wait_seconds=0, out=lambda _: None)
    assert replayed.ok and len(replayed.replayed) == 1
    stack.settle()
    assert reconciles(logs)[-1]["failures"] == [] and reconciles(logs)[-1]["event_ids"] == window.event_ids
    assert vpc.live_services() == sorted(DEFAULT_SERVICES)


def test_with_no_window_a_call_is_reconciled_at_once(ec2, stack, logs):
    # SettleSeconds=0 keeps acting as soon as the call is seen: no wait, no sleep
    vpc = Vpc.create(ec2)
    vpc.subnet("app-a", "eu-west-1a")
    event = happening_now(vpc.subnet_event("app-a"))
    before = time.monotonic()
    stack.publish(event)  # the queue mapping delivers what is visible, without waiting
    assert time.monotonic() - before < 5
    (run,) = reconciles(logs)
    assert run["event_ids"] == [event["detail"]["eventID"]] and run["changes"] == {"created": 6}


def test_a_duplicate_delivery_within_five_minutes_is_queued_once(ec2, window, logs):
    vpc = Vpc.create(ec2)
    vpc.subnet("app-a", "eu-west-1a")
    event = happening_now(vpc.subnet_event("app-a"))
    window.publish(event)
    window.publish(event)  # EventBridge delivers at least once
    window.settle()
    (run,) = reconciles(logs)
    assert run["event_ids"] == [event["detail"]["eventID"]]
