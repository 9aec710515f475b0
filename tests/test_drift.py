"""Later opt-in, re-association and endpoint drift: each trigger, end to end through the template's
rules into the event function, against moto with the fidelity layer."""

from __future__ import annotations

import pytest

from tests.emulation.account import OPT_IN_KEY, Vpc, sample_event


@pytest.fixture
def remediated(vpc: Vpc, stack) -> Vpc:
    """A VPC already reconciled: app-a on private-a, app-b on the main table."""
    vpc.route_table("private-a")
    vpc.subnet("app-a", "eu-west-1a", route_table="private-a")
    vpc.subnet("app-b", "eu-west-1b")
    stack.publish(vpc.subnet_event("app-a"))
    return vpc


def live(vpc: Vpc, service: str) -> list[dict]:
    return [e for e in vpc.endpoints(service) if e["State"] != "deleted"]


def test_tagging_an_existing_subnet_opts_it_in(vpc, stack, ec2, calls):
    # Given an untagged private subnet and no endpoints
    subnet = vpc.subnet("legacy", "eu-west-1a", policy=None)
    assert vpc.endpoints() == []
    # When someone tags it and CloudTrail reports the CreateTags call
    ec2.create_tags(Resources=[subnet], Tags=[{"Key": OPT_IN_KEY, "Value": "default"}])
    deliveries = stack.publish(sample_event("create_tags_subnet_opt_in.json", subnet=subnet))
    # Then the opt-in rule invoked the function, which found the VPC with one lookup and remediated it
    assert [d.rule for d in deliveries] == ["CloudTrailOptIn"]
    assert len(live(vpc, "s3")) == 1 and len(live(vpc, "ssm")) == 1
    assert calls.count()["DescribeSubnets"] == 2  # the lookup, then the snapshot


def test_tagging_with_another_key_invokes_nothing(vpc, stack, calls):
    subnet = vpc.subnet("legacy", "eu-west-1a", policy=None)
    event = sample_event("create_tags_subnet_opt_in.json", subnet=subnet)
    for item in event["detail"]["requestParameters"]["tagSet"]["items"]:
        item["key"] = "team"
    assert stack.publish(event) == [] and calls.calls == []


@pytest.mark.parametrize("event_file", ["associate_route_table.json", "replace_route_table_association.json"])
def test_moving_a_subnet_to_a_bare_route_table_reattaches_gateways(remediated, stack, ec2, event_file, calls):
    # Given a new route table that no gateway endpoint knows
    table = remediated.route_table("moved")
    association = ec2.describe_route_tables(RouteTableIds=[remediated.route_tables["private-a"]])["RouteTables"][0]
    association_id = next(a["RouteTableAssociationId"] for a in association["Associations"] if a.get("SubnetId"))
    # When app-a moves onto it (either call) and the event arrives
    if event_file == "associate_route_table.json":
        ec2.disassociate_route_table(AssociationId=association_id)
        ec2.associate_route_table(RouteTableId=table, SubnetId=remediated.subnets["app-a"])
    else:
        ec2.replace_route_table_association(AssociationId=association_id, RouteTableId=table)
    calls.clear()
    stack.publish(sample_event(event_file, subnet=remediated.subnets["app-a"], route_table=table))
    # Then both gateway endpoints gained the table, by modify, with one lookup; and (Prune=own) gave up
    # the table app-a left, which no opted-in subnet uses any more
    for service in ("s3", "dynamodb"):
        assert table in live(remediated, service)[0]["RouteTableIds"]
        assert remediated.route_tables["private-a"] not in live(remediated, service)[0]["RouteTableIds"]
    assert calls.count()["ModifyVpcEndpoint"] == 4 and calls.count()["DescribeRouteTables"] == 2
    assert "CreateVpcEndpoint" not in calls.calls


def test_a_deleted_endpoint_is_restored_and_the_log_says_why(remediated, stack, ec2, logs):
    # Given someone deletes the SSM endpoint
    gone = live(remediated, "ssm")[0]["VpcEndpointId"]
    ec2.delete_vpc_endpoints(VpcEndpointIds=[gone])
    # When CloudTrail reports it
    stack.publish(sample_event("delete_vpc_endpoints.json", endpoint=gone))
    # Then a new one serves both AZs, and the decisions say it restores the deleted one
    restored = live(remediated, "ssm")
    assert len(restored) == 1 and restored[0]["VpcEndpointId"] != gone and len(restored[0]["SubnetIds"]) == 2
    why = [r for r in logs.of("decision") if r.get("endpoint_service") == "ssm" and r["outcome"] == "noncompliant"]
    assert {(r["reason"], r["replaces_endpoint_id"]) for r in why} == {("endpoint_deleted", gone)}
    created = [r for r in logs.of("change") if r.get("endpoint_service") == "ssm"]
    assert [(r["outcome"], r["endpoint_id"]) for r in created] == [("created", restored[0]["VpcEndpointId"])]


def test_an_endpoint_deleted_again_and_again_is_restored_each_time(remediated, stack, ec2):
    # The same inputs give the same ClientToken, which EC2 answers with the deleted endpoint: it must not stick.
    for _ in range(3):
        gone = live(remediated, "s3")[0]["VpcEndpointId"]
        ec2.delete_vpc_endpoints(VpcEndpointIds=[gone])
        stack.publish(sample_event("delete_vpc_endpoints.json", endpoint=gone))
        assert [e["VpcEndpointId"] for e in live(remediated, "s3")] not in ([], [gone])


def test_a_route_table_removed_from_an_endpoint_is_put_back(remediated, stack, ec2):
    # Given someone removes private-a from the S3 endpoint
    s3 = live(remediated, "s3")[0]
    table = remediated.route_tables["private-a"]
    ec2.modify_vpc_endpoint(VpcEndpointId=s3["VpcEndpointId"], RemoveRouteTableIds=[table])
    # When the ModifyVpcEndpoint event arrives
    stack.publish(sample_event("modify_vpc_endpoint.json", endpoint=s3["VpcEndpointId"], route_table=table))
    # Then the same endpoint has it again
    assert table in live(remediated, "s3")[0]["RouteTableIds"]


def test_an_event_about_a_resource_that_is_gone_is_a_logged_no_op(vpc, stack, calls, logs):
    stack.publish(sample_event("associate_route_table.json", route_table="rtb-0123456789abcdef0"))
    assert calls.writes == [] and calls.count() == {"DescribeRouteTables": 1}
    assert logs.of("summary")[-1]["vpcs"] == []


def test_deleting_several_endpoints_when_one_is_gone_still_finds_the_others(remediated, stack, ec2):
    # Given one call deleting the S3 endpoint and another that EC2 no longer knows
    s3 = live(remediated, "s3")[0]["VpcEndpointId"]
    ec2.delete_vpc_endpoints(VpcEndpointIds=[s3])
    event = sample_event("delete_vpc_endpoints.json", endpoint=s3)
    request = event["detail"]["requestParameters"]["DeleteVpcEndpointsRequest"]
    request["VpcEndpointId"] = [request["VpcEndpointId"], {"tag": 2, "content": "vpce-0fedcba9876543210"}]
    # When the event arrives, the VPC of the one it can still find is reconciled
    stack.publish(event)
    assert len(live(remediated, "s3")) == 1
