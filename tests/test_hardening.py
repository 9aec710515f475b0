"""Inputs other people in the account control cannot mislead the remediator: a user agent anyone can set,
a security group anyone who may tag can plant, events built to make a parser recurse. Handlers called the
way Lambda calls them, on the emulated account with the fidelity rules. Given/When/Then."""

from __future__ import annotations

import json

from tests.emulation.account import load_event, sample_event
from tests.test_central import decisions, interface_endpoints
from tests.test_observability import emf

SPOOFED_UA = "aws-cli/2.17.0 Python/3.12.6 Linux/6.1 exe/x86_64 app/vpce-remediator"


def errors(out: str) -> dict[str, float]:
    """The Errors metric by its error dimension, from the EMF lines written."""
    counts: dict[str, float] = {}
    for doc in emf(out):
        if "Errors" in doc:
            value = doc["Errors"]
            counts[doc["error"]] = counts.get(doc["error"], 0) + (sum(value) if isinstance(value, list) else value)
    return counts


def test_a_call_with_the_remediators_user_agent_from_another_role_is_reconciled_and_counted(vpc, stack, ec2, logs, capsys):
    # Given a remediated VPC, and someone who sets the remediator's user agent and removes a route table
    vpc.route_table("private-a")
    vpc.subnet("app-a", "eu-west-1a", route_table="private-a")
    stack.publish(vpc.subnet_event("app-a"))
    (s3,) = [e for e in vpc.endpoints("s3") if e["State"] != "deleted"]
    table = vpc.route_tables["private-a"]
    ec2.modify_vpc_endpoint(VpcEndpointId=s3["VpcEndpointId"], RemoveRouteTableIds=[table])
    event = sample_event("modify_vpc_endpoint.json", endpoint=s3["VpcEndpointId"], route_table=table)
    event["detail"]["userAgent"] = SPOOFED_UA
    capsys.readouterr()
    # When its event arrives
    stack.publish(event)
    # Then it is not taken for the remediator's own call: the table is back
    (s3,) = [e for e in vpc.endpoints("s3") if e["State"] != "deleted"]
    assert table in s3["RouteTableIds"]
    # and someone is told: a WARNING naming the caller, counted in Errors (the alarm's metric)
    (warning,) = [r for r in logs.of("summary") if r.get("error") == "ImpersonatedOwnCall"]
    assert warning["level"] == "WARNING" and "platform-deployer" in warning["reason"]
    assert errors(capsys.readouterr().out) == {"ImpersonatedOwnCall": 1}


def test_the_same_call_from_the_remediators_role_is_its_own(vpc, stack, ec2, calls):
    from tests.emulation.template import role_arn

    # Given an add made by the reconciler's role itself
    vpc.route_table("private-a")
    vpc.subnet("app-a", "eu-west-1a", route_table="private-a")
    stack.publish(vpc.subnet_event("app-a"))
    (s3,) = [e for e in vpc.endpoints("s3") if e["State"] != "deleted"]
    event = sample_event("modify_vpc_endpoint.json", endpoint=s3["VpcEndpointId"], route_table=vpc.route_tables["private-a"])
    request = event["detail"]["requestParameters"]["ModifyVpcEndpointRequest"]
    request["AddRouteTableId"] = request.pop("RemoveRouteTableId")  # its adds (its releases are re-reconciled)
    event["detail"]["userAgent"] = "Boto3/1.35 md/Botocore#1.35 ua/2.0 app/vpce-remediator"
    event["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = role_arn("ReconcilerRole")
    calls.clear()
    # When it arrives, nothing is read
    (delivery,) = stack.publish(event)
    assert delivery.result == {"status": "ignored", "reason": "own_call"} and calls.calls == []


def ingress(ec2, group: str) -> list[dict]:
    return ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]


def test_a_planted_group_with_the_remediators_name_and_tag_is_never_used(vpc, stack, ec2, logs, capsys):
    # Given a group anyone who may tag could make: the remediator's name and tag, all traffic from anywhere
    group = vpc.plant_group()
    before = ingress(ec2, group)
    vpc.subnet("app-a", "eu-west-1a")
    capsys.readouterr()
    # When an opted-in subnet's event arrives
    stack.publish(vpc.subnet_event("app-a"))
    # Then no interface endpoint is created with it, and it is not written to
    assert interface_endpoints(vpc) == [] and ingress(ec2, group) == before
    # and each interface decision is skipped at WARNING with security_group_untrusted, counted in Errors
    skipped = decisions(logs, reason="security_group_untrusted")
    assert {r["endpoint_service"] for r in skipped} == {"ssm", "ssmmessages", "ec2messages"}
    assert {(r["outcome"], r["level"]) for r in skipped} == {("skipped", "WARNING")}
    assert errors(capsys.readouterr().out) == {"UntrustedSecurityGroup": 1}
    # while the gateway needs, which use no group, are still met
    assert sorted(vpc.live_services()) == ["dynamodb", "s3"]


def test_a_planted_group_is_not_released_either(vpc, stack, ec2):
    # Given a planted group in a VPC whose subnets all opted out (nothing of the remediator's is needed)
    group = vpc.plant_group()
    vpc.subnet("app-a", "eu-west-1a")
    stack.publish(vpc.subnet_event("app-a"))
    stack.publish(vpc.opt_out("app-a"))
    # Then it is left for a human: the remediator cannot prove it made it
    assert ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]


def test_an_untagged_group_of_the_remediators_name_is_counted_too(vpc, stack, ec2, logs, capsys):
    # Given someone else's group (no tag) that took the remediator's name
    vpc.plant_group(tagged=False)
    vpc.subnet("app-a", "eu-west-1a")
    capsys.readouterr()
    stack.publish(vpc.subnet_event("app-a"))
    # Then the skip, permanent until a human acts, fires the alarm's metric as well
    assert {r["reason"] for r in decisions(logs, endpoint_service="ssm")} == {"security_group_name_taken_by_another_owner"}
    assert errors(capsys.readouterr().out) == {"UntrustedSecurityGroup": 1}


def nested(depth: int) -> dict:
    node: dict = {}
    for _ in range(depth):
        node = {"a": node}
    return node


def test_a_deeply_nested_event_is_an_invalid_event_not_a_recursion_error(vpc, stack, calls, capsys):
    # Given a CloudTrail event whose request nests 100,000 levels deep, and an SQS batch that does the same
    event = load_event("create_subnet.json")
    event["detail"]["requestParameters"] = nested(100_000)
    capsys.readouterr()
    # When intake gets it, and the reconciler gets a record like it
    result = stack.invoke("IntakeFunction", event)
    batch = {"Records": [{"messageId": "m-1", "body": "{}", "attributes": {}, "deep": nested(100_000)}]}
    answered = stack.invoke("ReconcilerFunction", batch)
    # Then each is a named InvalidEvent, logged and counted, and nothing was read
    assert result["status"] == "invalid" and "nested deeper than 32" in result["reason"]
    assert answered == {"batchItemFailures": []} or answered["status"] == "invalid"
    assert errors(capsys.readouterr().out) == {"InvalidEvent": 2} and calls.calls == []


def test_an_event_of_too_many_values_is_an_invalid_event(stack, calls):
    event = load_event("create_subnet.json")
    event["detail"]["requestParameters"] = {"items": list(range(50_000))}
    assert stack.invoke("IntakeFunction", event)["status"] == "invalid"
    assert json.dumps(event)  # an ordinary event in every other way
    assert calls.calls == []


def test_allowed_cidrs_that_add_up_to_the_internet_stop_the_run_before_any_write(vpc, stack, calls, logs):
    from tests.test_named_policies import put_policies

    # Given a policy whose allowed_cidrs are two halves of 0.0.0.0/0
    put_policies("version: 1\npolicies:\n  open:\n    interface:\n      ssm: {allowed_cidrs: [0.0.0.0/1, 128.0.0.0/1]}\n")
    vpc.subnet("app-a", "eu-west-1a", policy="open")
    # When its subnet's event arrives, the run fails naming the field, and nothing is written to EC2
    stack.publish(vpc.subnet_event("app-a"))
    (failed,) = [r for r in logs.records if r["level"] == "ERROR"]
    assert "policies.open.interface.ssm.allowed_cidrs[0]: '0.0.0.0/1' is too broad" in failed["exception"]
    assert vpc.endpoints() == [] and calls.writes == ["SendMessage", "ChangeMessageVisibilityBatch"]


def test_a_required_service_the_region_does_not_offer_is_skipped_and_counted(vpc, stack, logs, capsys):
    from tests.test_named_policies import put_policies

    # Given a policy with a typo in a service name
    put_policies("version: 1\npolicies:\n  typo:\n    interface:\n      sssm: {}\n")
    vpc.subnet("app-a", "eu-west-1a", policy="typo")
    capsys.readouterr()
    stack.publish(vpc.subnet_event("app-a"))
    # Then the subnet's decision is a skip, and the Errors metric names the service's absence
    (skip,) = decisions(logs, endpoint_service="sssm")
    assert (skip["outcome"], skip["reason"]) == ("skipped", "service_not_in_region")
    assert errors(capsys.readouterr().out) == {"ServiceNotInRegion": 1}


def test_every_modify_vpc_endpoint_it_sends_is_a_subnet_route_table_or_private_dns_change(vpc, stack, calls):
    from tests.conftest import ALLOWED_MODIFY_FORMS, modify_forms

    # Given a VPC whose endpoints are extended (a new AZ, a new route table) and then shrunk (an opt-out)
    vpc.route_table("private-a")
    vpc.subnet("app-a", "eu-west-1a", route_table="private-a")
    stack.publish(vpc.subnet_event("app-a"))
    vpc.subnet("app-b", "eu-west-1b")
    stack.publish(vpc.subnet_event("app-b"))
    stack.publish(vpc.opt_out("app-b"))
    # Then what IAM cannot narrow (template.yaml, ExtendVpcEndpoints) the code never sends: no policy,
    # no reset, no group, no DNS or address options
    sent = [modify_forms(body) for body in calls.requests("ModifyVpcEndpoint")]
    assert {"AddSubnetId", "AddRouteTableId", "RemoveSubnetId", "RemoveRouteTableId"} <= set().union(*sent)
    assert all(forms <= ALLOWED_MODIFY_FORMS for forms in sent)
    assert not {"PolicyDocument", "ResetPolicy", "AddSecurityGroupId"} & ALLOWED_MODIFY_FORMS


def test_its_own_group_with_a_policys_allowed_cidrs_stays_trusted_until_a_cidr_leaves_every_policy(vpc, stack, ec2, logs):
    from tests.test_named_policies import put_policies

    # Given its group, made with a policy's allowed_cidrs
    put_policies("version: 1\npolicies:\n  p:\n    interface:\n      ssm: {allowed_cidrs: [10.99.0.0/16]}\n")
    vpc.subnet("app-a", "eu-west-1a", policy="p")
    stack.publish(vpc.subnet_event("app-a"))
    (group,) = vpc.managed_groups()
    assert {r["CidrIp"] for p in ingress(ec2, group) for r in p["IpRanges"]} == {"10.20.0.0/16", "10.99.0.0/16"}
    # When the policy asks for one more interface service, the group is trusted and reused
    put_policies("version: 1\npolicies:\n  p:\n    interface:\n      ssm: {allowed_cidrs: [10.99.0.0/16]}\n      logs: {}\n")
    stack.cold("ReconcilerFunction")  # the policy document is cached per container
    vpc.subnet("app-b", "eu-west-1b", policy="p")
    stack.publish(vpc.subnet_event("app-b"))
    assert sorted(e["ServiceName"].rsplit(".", 1)[1] for e in interface_endpoints(vpc)) == ["logs", "ssm"]
    assert not decisions(logs, reason="security_group_untrusted")
    # But once the CIDR leaves every policy, the rule it keeps is one the remediator would not write now
    put_policies("version: 1\npolicies:\n  p:\n    interface:\n      ssm: {}\n      logs: {}\n      kms: {}\n")
    stack.cold("ReconcilerFunction")
    vpc.subnet("app-c", "eu-west-1c", policy="p")
    stack.publish(vpc.subnet_event("app-c"))
    assert {r["endpoint_service"] for r in decisions(logs, reason="security_group_untrusted")} == {"kms"}
