"""Throttling, 5xx and lost responses, injected at the HTTP layer: botocore's standard retries and
the ClientTokens must end with exactly the endpoints the policy needs, no more and no fewer."""

from __future__ import annotations

import boto3
import pytest

from tests.emulation.account import DEFAULT_SERVICES, Vpc
from tests.emulation.faults import LOST, THROTTLE, UNAVAILABLE, Faults


@pytest.fixture
def faults(calls) -> Faults:
    injector = Faults()
    injector.register(boto3.DEFAULT_SESSION)
    return injector


@pytest.fixture
def app_vpc(vpc: Vpc) -> Vpc:
    vpc.route_table("private")
    vpc.subnet("app-a", "eu-west-1a", route_table="private")
    vpc.subnet("app-b", "eu-west-1b")
    return vpc


def test_throttling_and_5xx_are_retried_by_botocore(app_vpc, stack, faults):
    # Given EC2 throttling the first reads and failing creates with 503s
    faults.inject("DescribeSubnets", THROTTLE, UNAVAILABLE)
    faults.inject("CreateVpcEndpoint", THROTTLE, UNAVAILABLE, THROTTLE)
    faults.inject("ModifyVpcEndpoint", UNAVAILABLE)
    # When the event is handled
    stack.publish(app_vpc.subnet_event("app-a"))
    # Then the run succeeded after botocore's retries, with one endpoint per service
    assert stack.reconciler.invocations and stack.reconciler.failures == []
    assert app_vpc.live_services() == sorted(DEFAULT_SERVICES)
    assert len(faults.injected) == 5  # ModifyVpcEndpoint was never needed, so its fault stayed unused
    assert faults.attempts["CreateVpcEndpoint"] == 5 + 3


def test_a_create_whose_response_is_lost_is_not_duplicated(app_vpc, stack, faults):
    # Given EC2 carries out the first two creates but their answers never arrive
    faults.inject("CreateVpcEndpoint", LOST, LOST)
    # When the event is handled
    stack.publish(app_vpc.subnet_event("app-a"))
    # Then botocore retried with the same ClientToken and got the same endpoints back: no duplicate
    assert [f for _, f in faults.injected] == [LOST, LOST]
    assert app_vpc.live_services() == sorted(DEFAULT_SERVICES)


def test_a_lost_security_group_response_converges_on_the_existing_group(app_vpc, stack, faults, ec2):
    # Given the group is created but the answer is lost (CreateSecurityGroup has no ClientToken)
    faults.inject("CreateSecurityGroup", LOST)
    # When the event is handled: the retry meets InvalidGroup.Duplicate, a conflict, so the run re-reads
    stack.publish(app_vpc.subnet_event("app-a"))
    # Then one group exists, holds the HTTPS rule, and the interface endpoints use it
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["vpce-remediator-endpoints"]}])[
        "SecurityGroups"
    ]
    assert len(groups) == 1 and groups[0]["IpPermissions"]
    assert stack.reconciler.failures == [] and app_vpc.live_services() == sorted(DEFAULT_SERVICES)
    interface = [e for e in app_vpc.endpoints() if e["VpcEndpointType"] == "Interface"]
    assert {g["GroupId"] for e in interface for g in e["Groups"]} == {groups[0]["GroupId"]}


def test_retries_run_out_the_run_fails_and_the_queue_retries_it(app_vpc, faults):
    from tests.emulation.lambda_runtime import Stack

    # Given a one-second window (the retry backoff starts at one window) and EC2 refusing one create more
    # often than botocore retries (5 attempts)
    stack = Stack({"SettleSeconds": "1"}).provision()
    faults.inject("CreateVpcEndpoint", *[UNAVAILABLE] * 5)
    # When the window closes, the other services are still done and the reconcile is reported failed
    stack.publish(app_vpc.subnet_event("app-a"))
    stack.reconciler.deliver()
    assert len(stack.reconciler.failures) == 1
    assert len(app_vpc.live_services()) == len(DEFAULT_SERVICES) - 1
    # Then the settle queue hands the same window back after the backoff, and the retry completes the VPC
    stack.settle()
    assert app_vpc.live_services() == sorted(DEFAULT_SERVICES)
    assert len(stack.reconciler.failures) == 1
