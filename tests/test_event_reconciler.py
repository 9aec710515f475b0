"""The event path end to end: events/ files through the template's rules into the intake, the settle
queue, and the reconciler, against moto with the fidelity layer. The stack fixture reconciles at once
(SettleSeconds=0); tests/test_settle.py covers the window. Given/When/Then in each test."""

from __future__ import annotations

import pytest

from tests.emulation.account import Vpc, load_event

FUNCTION = "IntakeFunction"
GATEWAY_DEFAULTS = {"s3", "dynamodb"}
INTERFACE_DEFAULTS = {"ssm", "ssmmessages", "ec2messages"}


def by_service(vpc: Vpc) -> dict[str, dict]:
    return {e["ServiceName"].rsplit(".", 1)[1]: e for e in vpc.endpoints() if e["State"] != "deleted"}


@pytest.fixture
def private_vpc(vpc: Vpc) -> Vpc:
    """Opted-in private subnets in two AZs on their own tables, one on the main table, a tagged
    public subnet and an untagged one."""
    vpc.route_table("private-a")
    vpc.route_table("private-b")
    vpc.route_table("public", internet=True)
    vpc.subnet("app-a", "eu-west-1a", route_table="private-a")
    vpc.subnet("app-b", "eu-west-1b", route_table="private-b")
    vpc.subnet("app-c", "eu-west-1c")
    vpc.subnet("web-a", "eu-west-1a", route_table="public")
    vpc.subnet("scratch-b", "eu-west-1b", policy=None, route_table="private-b")
    return vpc


def test_create_subnet_event_supplies_every_required_endpoint(private_vpc, stack, ec2, logs):
    # When EventBridge delivers the CreateSubnet event for app-a
    deliveries = stack.publish(private_vpc.subnet_event("app-a"))
    # Then exactly the intake ran, queued the VPC, and its reconcile gave it one endpoint per default service
    assert [(d.function_id, d.result["status"], d.result["vpcs"]) for d in deliveries] == [(FUNCTION, "queued", [private_vpc.id])]
    endpoints = by_service(private_vpc)
    assert set(endpoints) == GATEWAY_DEFAULTS | INTERFACE_DEFAULTS
    # Gateway endpoints carry the three private route tables (the main one included), not the public one
    private_tables = {private_vpc.route_tables["private-a"], private_vpc.route_tables["private-b"], private_vpc.main_route_table}
    for service in GATEWAY_DEFAULTS:
        assert set(endpoints[service]["RouteTableIds"]) == private_tables
    # Interface endpoints have one subnet in each of the three AZs, private DNS on, our group only
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["vpce-remediator-endpoints"]}])[
        "SecurityGroups"
    ]
    assert len(groups) == 1
    for service in INTERFACE_DEFAULTS:
        endpoint = endpoints[service]
        azs = {ec2.describe_subnets(SubnetIds=[s])["Subnets"][0]["AvailabilityZone"] for s in endpoint["SubnetIds"]}
        assert azs == {"eu-west-1a", "eu-west-1b", "eu-west-1c"} and len(endpoint["SubnetIds"]) == 3
        assert private_vpc.subnets["web-a"] not in endpoint["SubnetIds"]
        assert endpoint["PrivateDnsEnabled"] is True
        assert [g["GroupId"] for g in endpoint["Groups"]] == [groups[0]["GroupId"]]
    # Everything it made says who made it
    for endpoint in endpoints.values():
        tags = {t["Key"]: t["Value"] for t in endpoint["Tags"]}
        assert tags["managed-by"] == "vpce-remediator" and tags["Name"]
    assert {t["Key"]: t["Value"] for t in groups[0]["Tags"]}["managed-by"] == "vpce-remediator"


def test_security_group_opens_https_to_the_vpc_cidrs_only(private_vpc, stack, ec2):
    stack.publish(private_vpc.subnet_event("app-a"))
    group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["vpce-remediator-endpoints"]}])[
        "SecurityGroups"
    ][0]
    assert [
        (p["IpProtocol"], p["FromPort"], p["ToPort"], [r["CidrIp"] for r in p["IpRanges"]]) for p in group["IpPermissions"]
    ] == [("tcp", 443, 443, ["10.20.0.0/16"])]
    assert group["VpcId"] == private_vpc.id


def test_second_delivery_makes_no_write(private_vpc, stack, calls):
    # Given a VPC the remediator already reconciled
    stack.publish(private_vpc.subnet_event("app-a"))
    calls.clear()
    # When the same event is delivered again (EventBridge is at-least-once) and another arrives late
    stack.publish(private_vpc.subnet_event("app-a"))
    stack.publish(private_vpc.subnet_event("app-b"))
    # Then nothing is written to EC2; the duplicate is dropped by the settle queue's deduplication and
    # the late event's reconcile costs the three snapshot reads
    assert [c for c in calls.writes if c != "SendMessage"] == []
    assert calls.count() == {"SendMessage": 2, "DescribeSubnets": 1, "DescribeRouteTables": 1, "DescribeVpcEndpoints": 1}


def test_creates_carry_client_tokens_and_private_dns_explicitly(private_vpc, stack, calls):
    stack.publish(private_vpc.subnet_event("app-a"))
    requests = calls.requests("CreateVpcEndpoint")
    assert len(requests) == 5
    assert all(r["ClientToken"].startswith("vpcer-") for r in requests)
    assert all("PrivateDnsEnabled" in r for r in requests if r["VpcEndpointType"] == "Interface")


def test_report_mode_writes_nothing_and_logs_what_it_would_do(private_vpc, calls, logs):
    from tests.emulation.lambda_runtime import Stack

    # Given the stack deployed with Mode=report
    stack = Stack(parameters={"Mode": "report"}).provision()
    # When a subnet is created
    stack.publish(private_vpc.subnet_event("app-a"))
    # Then no EC2 write is made, no endpoint exists, and the log says what would have changed
    assert [c for c in calls.writes if c != "SendMessage"] == []
    assert private_vpc.endpoints() == []
    changes = logs.of("change")
    assert {c["action"] for c in changes} == {
        "create_gateway_endpoint",
        "create_security_group",
        "create_interface_endpoint",
    }
    assert {c["outcome"] for c in changes} == {"would_change"} and {c["mode"] for c in changes} == {"report"}


def test_existing_endpoint_made_by_someone_else_is_extended_not_duplicated(private_vpc, stack, ec2, calls):
    # Given an S3 gateway endpoint the network team made on private-a only
    theirs = ec2.create_vpc_endpoint(
        VpcId=private_vpc.id,
        ServiceName="com.amazonaws.eu-west-1.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[private_vpc.route_tables["private-a"]],
    )["VpcEndpoint"]["VpcEndpointId"]
    # When the reconciler runs
    stack.publish(private_vpc.subnet_event("app-b"))
    # Then their endpoint gained the other private tables and no second S3 endpoint exists
    s3 = private_vpc.endpoints("s3")
    assert [e["VpcEndpointId"] for e in s3] == [theirs]
    assert set(s3[0]["RouteTableIds"]) == {
        private_vpc.route_tables["private-a"],
        private_vpc.route_tables["private-b"],
        private_vpc.main_route_table,
    }
    assert calls.count()["ModifyVpcEndpoint"] == 1


def test_existing_interface_endpoint_gains_only_missing_azs(private_vpc, stack, ec2):
    # Given an SSM endpoint already serving AZ a (through the public subnet, someone else's choice)
    theirs = ec2.create_vpc_endpoint(
        VpcId=private_vpc.id,
        ServiceName="com.amazonaws.eu-west-1.ssm",
        VpcEndpointType="Interface",
        SubnetIds=[private_vpc.subnets["web-a"]],
        PrivateDnsEnabled=True,
    )["VpcEndpoint"]["VpcEndpointId"]
    # When the reconciler runs
    stack.publish(private_vpc.subnet_event("app-b"))
    # Then it serves b and c as well, still one subnet per AZ (the fidelity layer refuses more)
    ssm = private_vpc.endpoints("ssm")
    assert [e["VpcEndpointId"] for e in ssm] == [theirs]
    assert set(ssm[0]["SubnetIds"]) == {private_vpc.subnets[n] for n in ("web-a", "app-b", "app-c")}


def test_untagged_and_public_subnets_get_a_reason_and_nothing_else(private_vpc, stack, debug_logs):
    logs = debug_logs
    stack.publish(private_vpc.subnet_event("web-a"))
    decisions = {(r["subnet_id"], r["reason"]) for r in logs.of("decision") if r["outcome"] == "skipped"}
    assert (private_vpc.subnets["web-a"], "public_subnet") in decisions
    assert (private_vpc.subnets["scratch-b"], "not_opted_in") in decisions
    public = [r for r in logs.records if r.get("subnet_id") == private_vpc.subnets["web-a"]]
    assert {r["level"] for r in public} == {"WARNING"}
    # Never opted in needs no one's attention: DEBUG, counted in the summary
    untagged = [r for r in logs.records if r.get("subnet_id") == private_vpc.subnets["scratch-b"]]
    assert {r["level"] for r in untagged} == {"DEBUG"}


def test_private_dns_is_left_off_when_vpc_dns_is_off_and_attributes_are_not_changed(ec2, stack, logs):
    # Given a VPC with DNS hostnames off
    vpc = Vpc.create(ec2, dns=False)
    ec2.modify_vpc_attribute(VpcId=vpc.id, EnableDnsSupport={"Value": True})
    vpc.subnet("app-a", "eu-west-1a")
    # When its subnet is created
    stack.publish(vpc.subnet_event("app-a"))
    # Then interface endpoints exist without private DNS, a warning says why, and the VPC is unchanged
    for service in INTERFACE_DEFAULTS:
        assert by_service(vpc)[service]["PrivateDnsEnabled"] is False
    warnings = [r for r in logs.of("decision") if r.get("note") == "private_dns_off_vpc_dns_attributes_off"]
    assert warnings and {r["level"] for r in warnings} == {"WARNING"}
    attribute = ec2.describe_vpc_attribute(VpcId=vpc.id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"]
    assert attribute is False


def test_service_not_offered_in_an_az_is_skipped_there(private_vpc, stack, aws, logs):
    # Given ec2messages offered only in AZs a and b
    aws.restrict_service_azs("com.amazonaws.eu-west-1.ec2messages", ["eu-west-1a", "eu-west-1b"])
    # When the reconciler runs
    stack.publish(private_vpc.subnet_event("app-a"))
    # Then its endpoint covers a and b only, and app-c's finding says why
    assert len(by_service(private_vpc)["ec2messages"]["SubnetIds"]) == 2
    skipped = [r for r in logs.of("decision") if r.get("endpoint_service") == "ec2messages" and r["outcome"] == "skipped"]
    assert [(r["subnet_id"], r["reason"]) for r in skipped] == [(private_vpc.subnets["app-c"], "service_not_offered_in_az")]


def test_create_route_table_event_reconciles_its_vpc(vpc, stack):
    # Given a new route table and an opted-in subnet moved onto it
    vpc.route_table("new")
    vpc.subnet("app-a", "eu-west-1a", route_table="new")
    # When the CreateRouteTable event arrives
    deliveries = stack.publish(vpc.route_table_event("new"))
    # Then the VPC is queued and reconciled
    assert [d.result["status"] for d in deliveries] == ["queued"]
    assert by_service(vpc)["s3"]["RouteTableIds"] == [vpc.route_tables["new"]]


def test_every_record_names_the_cloudtrail_event(private_vpc, stack, logs):
    event = private_vpc.subnet_event("app-a")
    stack.publish(event)
    assert logs.records
    assert {r["correlation_id"] for r in logs.records} == {event["detail"]["eventID"]}
    changes = logs.of("change")
    assert {(r["vpc_id"], r["outcome"]) for r in changes} == {(private_vpc.id, "created")}
    assert all(r.get("endpoint_id", "").startswith("vpce-") or r.get("security_group_id", "").startswith("sg-") for r in changes)
    assert {r["service"] for r in logs.records} == {"vpce-remediator"}
    summary = logs.of("summary")[-1]
    assert summary["changes"] == {"created": 6} and summary["event_name"] == "CreateSubnet"


def test_failed_call_does_not_match_and_is_ignored_if_delivered(vpc, stack, calls):
    failed = load_event("create_subnet_failed.json")
    assert stack.publish(failed) == []
    assert stack.invoke(FUNCTION, failed)["status"] == "ignored"
    assert calls.calls == []


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "CreateSubnet",
        {},
        {"detail-type": "AWS API Call via CloudTrail"},
        {"detail-type": "AWS API Call via CloudTrail", "detail": []},
        {"detail-type": "AWS API Call via CloudTrail", "detail": {"eventName": 7, "eventID": "x"}},
        {
            "detail-type": "AWS API Call via CloudTrail",
            "detail": {
                "eventName": "CreateSubnet",
                "eventID": "x",
                "eventSource": "ec2.amazonaws.com",
                "awsRegion": "eu-west-1",
                "requestParameters": None,
                "responseElements": None,
            },
        },
        {
            "detail-type": "AWS API Call via CloudTrail",
            "detail": {"eventName": "RunInstances", "eventID": "x", "eventSource": "ec2.amazonaws.com", "awsRegion": "eu-west-1"},
        },
        {
            "detail-type": "AWS API Call via CloudTrail",
            "detail": {
                "eventName": "CreateSubnet",
                "eventID": "x",
                "eventSource": "ec2.amazonaws.com",
                "awsRegion": "eu-west-1",
                "requestParameters": "vpc-1",
            },
        },
    ],
)
def test_malformed_events_are_named_errors_not_crashes(event, stack, calls, logs):
    result = stack.invoke(FUNCTION, event)
    assert result["status"] == "invalid"
    errors = [r for r in logs.records if r["level"] == "ERROR"]
    assert [e["error"] for e in errors] == ["InvalidEvent"] and errors[0]["reason"]
    assert calls.calls == []


def test_a_vpc_that_is_gone_is_a_no_op(stack, calls):
    from tests.emulation.account import subnet_created_event

    result = stack.publish(subnet_created_event("vpc-0123456789abcdef0", "subnet-0123456789abcdef0", "eu-west-1a"))
    assert result[0].result["status"] == "queued" and [c for c in calls.writes if c != "SendMessage"] == []
    assert stack.reconciler.failures == []


def test_one_failing_service_does_not_stop_the_others_and_the_run_raises(private_vpc, stack, calls, logs):
    import boto3
    from botocore.exceptions import ClientError
    from vpce_remediator.errors import RemediationFailed

    # Given EC2 refusing every DynamoDB endpoint create (a service control policy, say)
    def refuse_dynamodb(params, **_):
        if params.get("ServiceName", "").endswith(".dynamodb"):
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "denied by SCP"}}, "CreateVpcEndpoint")

    boto3.DEFAULT_SESSION.events.register("provide-client-params.ec2.CreateVpcEndpoint", refuse_dynamodb)
    # When the event arrives, the reconcile fails: its message is reported as failed, so SQS keeps it...
    stack.publish(private_vpc.subnet_event("app-a"))
    assert len(stack.reconciler.failures) == 1
    # ...after every other endpoint was made, and the log names the failure and its code
    assert set(by_service(private_vpc)) == (GATEWAY_DEFAULTS | INTERFACE_DEFAULTS) - {"dynamodb"}
    failed = [r for r in logs.of("change") if r["outcome"] == "failed"]
    assert [(r["endpoint_service"], r["error_code"], r["level"]) for r in failed] == [
        ("dynamodb", "UnauthorizedOperation", "ERROR")
    ]
    (failed_run,) = [r for r in logs.records if r["message"] == "reconcile failed"]
    assert failed_run["exception_name"] == RemediationFailed.__name__ and "create_gateway_endpoint" in failed_run["exception"]


def test_someone_elses_group_with_our_name_is_left_alone(private_vpc, stack, ec2, calls):
    # Given a group named vpce-remediator-endpoints without our tag
    ec2.create_security_group(GroupName="vpce-remediator-endpoints", Description="not ours", VpcId=private_vpc.id)
    # When the reconciler runs
    stack.publish(private_vpc.subnet_event("app-a"))
    # Then it writes nothing to that group and creates no interface endpoint, but gateways still happen
    assert set(by_service(private_vpc)) == GATEWAY_DEFAULTS
    assert "AuthorizeSecurityGroupIngress" not in calls.calls and "CreateSecurityGroup" not in calls.calls
