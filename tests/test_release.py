"""Releasing what the remediator made (Prune=own): opting out, and a teardown that EC2 refuses until the
remediator's ENIs and group are gone. Handlers called the way Lambda calls them, on the emulated account
with EC2's teardown rules (fidelity rules 9 and 10). Given/When/Then in each test."""

from __future__ import annotations

import time
from collections import Counter

import boto3
import pytest
from vpce_remediator.settle import Call, Window
from vpce_remediator.settle_queue import send

from tests.emulation.account import DEFAULT_SERVICES, Vpc, happening_now, sample_event
from tests.emulation.bus import ChangeEvents
from tests.emulation.costs import Cost
from tests.emulation.lambda_runtime import Stack
from tests.emulation.scenarios import destroy, own_endpoints, private_tier

RELEASES = {"released", "moved", "deleted"}


def built(ec2, stack: Stack, **tier) -> Vpc:
    """A private tier made call by call (its events delivered as they happen), then remediated."""
    vpc = Vpc.create(ec2)
    for step in private_tier(vpc, **tier):
        stack.publish(step.make())
    stack.settle()
    assert vpc.live_services() == sorted(DEFAULT_SERVICES)
    return vpc


def state(vpc: Vpc) -> dict[str, tuple]:
    """Every endpoint of the VPC as EC2 lists it: what must not change when it is someone else's."""
    return {
        e["VpcEndpointId"]: (e["State"], tuple(sorted(e.get("RouteTableIds", []))), tuple(sorted(e.get("SubnetIds", []))))
        for e in vpc.endpoints()
    }


def changes(logs, outcomes=RELEASES) -> list[dict]:
    return [r for r in logs.of("change") if r["outcome"] in outcomes]


def writes(calls) -> Counter:
    return Cost.of(calls.calls).writes


# --- opting out ------------------------------------------------------------------------------------


def test_opting_out_every_subnet_releases_all_it_made_and_nothing_else(ec2, calls, logs):
    # Given a remediated tier in which the apply also made an S3 gateway and an SSM interface endpoint of its own
    stack = Stack({"SettleSeconds": "1"}).provision()
    vpc = Vpc.create(ec2)
    for step in private_tier(vpc, tables=2, subnets=4):
        stack.publish(step.make())
    theirs = own_endpoints(vpc)  # S3 on both tables, SSM in one subnet per AZ, within the window
    stack.settle()
    assert {e["VpcEndpointId"] for e in vpc.managed_endpoints()} and vpc.managed_groups()
    before = {e: s for e, s in state(vpc).items() if e in theirs}
    bus = ChangeEvents()
    # When every subnet opts out
    for name in sorted(vpc.subnets):
        stack.publish(vpc.opt_out(name))
    stack.settle()
    # Then nothing of the remediator's is left: no endpoint, no group
    assert vpc.managed_endpoints() == [] and vpc.managed_groups() == []
    # and the apply's own endpoints are exactly as they were
    assert {e: s for e, s in state(vpc).items() if e in theirs} == before
    # and each release is one change record saying what it saves (negative figures), and one change event
    released = changes(logs)
    interface = [r for r in released if r["action"] == "delete_endpoint" and r.get("subnet_ids")]
    assert {r["endpoint_service"] for r in interface} == {"ssmmessages", "ec2messages"}  # ssm was theirs
    for record in interface:
        assert record["endpoint_az_hours_added"] == -3 and record["estimated_monthly_usd_added"] == -21.9
    assert sorted(r["action"] for r in released) == ["delete_endpoint"] * 3 + ["delete_security_group"]  # dynamodb too
    assert sorted(e["detail"]["action"] for e in bus.received()) == sorted(r["action"] for r in released)


def test_opting_out_one_of_two_subnets_in_an_az_moves_nothing(ec2, stack, calls):
    # Given two opted-in subnets in each AZ, remediated (the ENIs sit in one subnet per AZ)
    vpc = built(ec2, stack, tables=1, subnets=6)
    before = state(vpc)
    calls.clear()
    # When one subnet of each AZ opts out
    for name in ("app-0", "app-1", "app-2"):
        stack.publish(vpc.opt_out(name))
    stack.settle()
    # Then every AZ is still needed by the other subnet: nothing moves, nothing is written
    assert state(vpc) == before
    assert writes(calls) == Counter()


def test_opting_out_a_route_tables_only_subnets_detaches_just_that_table(ec2, stack):
    vpc = built(ec2, stack, tables=3, subnets=3)  # one subnet per table
    stack.publish(vpc.opt_out("app-0"))
    stack.settle()
    for service in ("s3", "dynamodb"):
        (gateway,) = [e for e in vpc.managed_endpoints() if e["ServiceName"].endswith(f".{service}")]
        assert sorted(gateway["RouteTableIds"]) == sorted([vpc.route_tables["private-1"], vpc.route_tables["private-2"]])
    # and its AZ (eu-west-1a), needed by no other subnet, is released from each interface endpoint
    for endpoint in vpc.managed_endpoints():
        if endpoint["VpcEndpointType"] == "Interface":
            assert vpc.subnets["app-0"] not in endpoint["SubnetIds"] and len(endpoint["SubnetIds"]) == 2


def test_with_prune_off_nothing_is_released(ec2, calls):
    stack = Stack({"Prune": "off"}).provision()
    vpc = built(ec2, stack, tables=1, subnets=2)
    before = state(vpc)
    calls.clear()
    for name in sorted(vpc.subnets):
        stack.publish(vpc.opt_out(name))
    stack.settle()
    assert state(vpc) == before and vpc.managed_groups()
    assert writes(calls) == Counter()


def test_with_prune_off_a_refused_delete_moves_nothing_and_is_not_hurried(ec2, calls):
    stack = Stack({"Prune": "off"}).provision()
    vpc = built(ec2, stack, tables=1, subnets=1)
    before = state(vpc)
    (delivery,) = stack.publish(happening_now(sample_event("delete_subnet_refused.json", subnet=vpc.subnets["app-0"])))
    stack.settle()
    assert delivery.result["status"] == "queued" and delivery.result["prompt"] is False
    assert state(vpc) == before


def test_report_mode_proposes_the_releases_and_writes_nothing(ec2, calls, logs):
    # Given a tier the remediating stack made compliant, then the stack switched to report mode
    vpc = built(ec2, Stack().provision(), tables=1, subnets=2)
    report = Stack({"Mode": "report", "SettleSeconds": "1"}).provision()  # both opt-outs in one window
    before = state(vpc)
    logs.records.clear()
    calls.clear()
    for name in sorted(vpc.subnets):
        report.publish(vpc.opt_out(name))
    report.settle()
    proposed = changes(logs, {"would_release"})
    assert sorted(r["action"] for r in proposed) == ["delete_endpoint"] * 5 + ["delete_security_group"]
    assert state(vpc) == before and writes(calls) == Counter()


def test_a_subnet_that_opts_in_again_while_a_release_runs_ends_up_served(ec2, calls, logs):
    # Given a one-subnet tier, remediated, whose subnet opts out
    stack = Stack({"SettleSeconds": "1"}).provision()
    vpc = built(ec2, stack, tables=1, subnets=1)
    stack.publish(vpc.opt_out("app-0"))
    retagged: list[dict] = []

    def opt_in_again_during_the_release(**_: object) -> None:
        if not retagged:  # while the release deletes endpoints, the subnet is tagged again...
            ec2.create_tags(Resources=[vpc.subnets["app-0"]], Tags=[{"Key": "vpce-remediator/policy", "Value": "default"}])
            retagged.append(happening_now(sample_event("create_tags_subnet_opt_in.json", subnet=vpc.subnets["app-0"])))
            # ...and an intake in another container queues its call while the release's window is in flight
            detail = retagged[0]["detail"]
            call = Call(detail["eventID"], detail["eventName"], time.time(), detail["userIdentity"]["arn"])
            send(boto3.session.Session().client("sqs"), stack.resources["SettleQueue"], Window(vpc.id, (call,)))

    boto3.DEFAULT_SESSION.events.register("before-call.ec2.DeleteVpcEndpoints", opt_in_again_during_the_release)
    stack.cold("ReconcilerFunction")  # a container whose client has the hook
    # When both windows close
    stack.settle()
    # Then the release ran on what it read, and the next reconcile put back what the subnet needs: every
    # service served again, none twice
    assert retagged and changes(logs, {"deleted"})
    assert vpc.live_services() == sorted(DEFAULT_SERVICES)


# --- teardown ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("intake", ["warm", "cold"])
def test_a_terraform_destroy_completes_with_nothing_of_the_remediators_left(ec2, aws, calls, logs, intake):
    # Given a private tier remediated with the default five-minute window scaled down to two seconds, and
    # EC2 taking a second to delete an endpoint's network interfaces
    stack = Stack({"SettleSeconds": "2", "ReleaseRecheckSeconds": "1"}).provision()
    aws.eni_release_seconds = 1.0
    vpc = built(ec2, stack)
    if intake == "cold":  # the intake that saw the build is gone: deletes resolve only to what serves nothing
        stack.cold("IntakeFunction")
    # When Terraform destroys it: associations, then subnets and tables, then the VPC, retrying every
    # refused delete every half second (its own schedule is every few seconds, for 20 minutes)
    result = destroy(vpc, stack.publish, stack.deliver, retry_seconds=0.5, timeout=20)
    # Then the destroy completes, well inside one settle window of the remediator acting on a refusal
    assert result.complete, result
    assert result.refused["subnet"] >= 1  # the remediator's ENIs were in the way at first
    # and nothing of the remediator's is left (the VPC, its group and endpoints are gone)
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc.id]}])["Vpcs"] == []
    mine = ec2.describe_vpc_endpoints(Filters=[{"Name": "tag:managed-by", "Values": ["vpce-remediator"]}])["VpcEndpoints"]
    assert {e["State"].lower() for e in mine} <= {"deleted"}
    # and the prompt reconciles only released: nothing was added during the destroy
    prompt = [r for r in logs.of("summary") if r.get("prompt") and r["message"] == "summary"]
    assert prompt and all(set(r["changes"]) <= RELEASES | {"marked", "kept"} for r in prompt)
    assert not [r for r in logs.of("change") if r["outcome"] == "failed"]
    # the group outlived its endpoints' network interfaces at first, and went at a recheck or the VPC's refusal
    groups = [r["outcome"] for r in logs.of("change") if r["action"] == "delete_security_group"]
    assert groups[-1] == "deleted" and "kept" in groups


def test_a_subnet_whose_delete_is_refused_hands_its_enis_to_another_subnet_of_the_az(ec2, logs):
    # Given two opted-in subnets per AZ, remediated: the ENIs sit in one of each pair
    stack = Stack({"SettleSeconds": "2"}).provision()
    vpc = built(ec2, stack, tables=1, subnets=6)
    (ssm,) = [e for e in vpc.managed_endpoints() if e["ServiceName"].endswith(".ssm")]
    hosting = sorted(ssm["SubnetIds"])
    name = next(n for n, s in vpc.subnets.items() if s == hosting[0])
    logs.records.clear()
    # When a pipeline deletes that subnet alone (say, replacing it): EC2 refuses, the pipeline retries
    subnet = vpc.subnets.pop(name)
    vpc.associations.pop(name, None)
    with pytest.raises(Exception, match="DependencyViolation"):
        ec2.delete_subnet(SubnetId=subnet)
    stack.publish(happening_now(sample_event("delete_subnet_refused.json", subnet=subnet)))
    stack.deliver()  # the prompt window: at once, not after the settle window
    # Then the ENIs moved to the other subnet of that AZ, in one call each, and the retry succeeds
    moves = [r for r in logs.of("change") if r["action"] == "move_subnets"]
    assert len(moves) == 3 and all(r["removed_subnet_ids"] == [subnet] for r in moves)
    ec2.delete_subnet(SubnetId=subnet)
    assert all(len(e["SubnetIds"]) == 3 for e in vpc.managed_endpoints() if e["VpcEndpointType"] == "Interface")
    # and once the window closes, the full reconcile finds the tier compliant: nothing more to do
    stack.settle()
    assert vpc.live_services() == sorted(DEFAULT_SERVICES)
    assert [r["action"] for r in logs.of("change") if r["outcome"] not in ("moved", "marked")] == ["forget_leaving"]


def test_the_sweep_releases_what_no_event_told(ec2, stack, calls, logs):
    # Given a remediated tier whose subnets lost the opt-in tag without an event reaching the remediator
    vpc = built(ec2, stack, tables=1, subnets=2)
    ec2.delete_tags(Resources=list(vpc.subnets.values()), Tags=[{"Key": "vpce-remediator/policy"}])
    # When the sweep runs
    from tests.emulation.costs import sweep

    sweep(stack, calls)
    # Then what only the opted-in subnets needed is gone
    assert vpc.managed_endpoints() == [] and vpc.managed_groups() == []


def test_a_deleted_route_table_that_leaves_an_endpoint_of_its_serving_nothing_is_released_at_once(ec2, calls, logs):
    # Given a tier whose two subnets share one route table, remediated, and an intake that never saw it built
    stack = Stack({"SettleSeconds": "300"}).provision()
    vpc = Vpc.create(ec2)
    vpc.route_table("private-0")
    for i, az in enumerate(("eu-west-1a", "eu-west-1b")):
        vpc.subnet(f"app-{i}", az, route_table="private-0")
    Stack().provision().publish(happening_now(vpc.subnet_event("app-0")))  # remediated by another stack
    assert vpc.live_services() == sorted(DEFAULT_SERVICES)
    # When the subnets and their table are deleted, the subnets untagged first so nothing blocks them
    for name in ("app-0", "app-1"):
        ec2.delete_tags(Resources=[vpc.subnets[name]], Tags=[{"Key": "vpce-remediator/policy"}])
    table = vpc.route_tables["private-0"]
    for association in vpc.associations.values():
        ec2.disassociate_route_table(AssociationId=association)
    ec2.delete_route_table(RouteTableId=table)
    stack.publish(happening_now(sample_event("delete_route_table.json", route_table=table)))
    stack.deliver()
    # Then the intake, which cannot look a deleted table up, finds the gateway endpoints it left serving
    # nothing, and a prompt reconcile deletes them without waiting five minutes
    gateways = [e for e in vpc.managed_endpoints() if e["VpcEndpointType"] == "Gateway"]
    assert gateways == []
