"""Named policies from the SSM parameter: selected by the opt-in tag's value, validated before any write."""

from __future__ import annotations

import json

import boto3
from vpce_remediator.errors import PolicyError

from tests.emulation.account import DEFAULT_SERVICES, Vpc

PARAMETER = "/vpce-remediator/policies"
GOLD = """
version: 1
policies:
  gold:
    gateway: [s3]
    interface:
      ssm: {}
      logs:
        private_dns: false
        policy:
          Version: "2012-10-17"
          Statement: [{"Effect": "Allow", "Principal": "*", "Action": "logs:*", "Resource": "*"}]
        allowed_cidrs: [192.168.10.0/24]
"""


def put_policies(text: str) -> None:
    boto3.session.Session().client("ssm").put_parameter(Name=PARAMETER, Value=text, Type="String", Overwrite=True)


def test_the_tag_value_selects_a_named_policy_with_its_options(vpc: Vpc, stack, ec2):
    # Given the gold policy in the parameter and a subnet tagged gold
    put_policies(GOLD)
    vpc.subnet("app-a", "eu-west-1a", policy="Gold")
    # When the subnet's event arrives
    stack.publish(vpc.subnet_event("app-a"))
    # Then exactly gold's services exist, with gold's options
    endpoints = {e["ServiceName"].rsplit(".", 1)[1]: e for e in vpc.endpoints()}
    assert set(endpoints) == {"s3", "ssm", "logs"}
    assert endpoints["logs"]["PrivateDnsEnabled"] is False and endpoints["ssm"]["PrivateDnsEnabled"] is True
    assert json.loads(endpoints["logs"]["PolicyDocument"])["Statement"][0]["Action"] == "logs:*"
    group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["vpce-remediator-endpoints"]}])[
        "SecurityGroups"
    ][0]
    assert sorted(r["CidrIp"] for r in group["IpPermissions"][0]["IpRanges"]) == ["10.20.0.0/16", "192.168.10.0/24"]


def test_default_keeps_meaning_the_template_parameters_beside_named_policies(vpc: Vpc, stack):
    put_policies(GOLD)
    vpc.subnet("app-a", "eu-west-1a", policy="default")
    stack.publish(vpc.subnet_event("app-a"))
    assert vpc.live_services() == sorted(DEFAULT_SERVICES)


def test_an_invalid_document_stops_the_run_before_any_write_and_names_the_field(vpc: Vpc, stack, calls, logs):
    # Given a document with a typo in an option
    put_policies(GOLD.replace("private_dns: false", "private_dns: nope"))
    vpc.subnet("app-a", "eu-west-1a", policy="gold")
    # When an event arrives, the reconcile fails (so its window is retried, then kept) and writes nothing
    stack.publish(vpc.subnet_event("app-a"))
    assert len(stack.reconciler.failures) == 1
    assert calls.writes == ["SendMessage", "ChangeMessageVisibilityBatch"] and vpc.endpoints() == []
    (failed,) = [r for r in logs.records if r["level"] == "ERROR"]
    assert (failed["message"], failed["exception_name"]) == ("reconcile failed", PolicyError.__name__)
    assert "policies.gold.interface.logs.private_dns: must be true or false" in failed["exception"]


def test_a_missing_parameter_is_a_policy_error_not_a_default(vpc: Vpc, stack, calls, logs):
    boto3.session.Session().client("ssm").delete_parameter(Name=PARAMETER)
    vpc.subnet("app-a", "eu-west-1a")
    stack.publish(vpc.subnet_event("app-a"))
    (failed,) = [r for r in logs.records if r["level"] == "ERROR"]
    assert failed["exception_name"] == PolicyError.__name__ and "parameter: cannot read" in failed["exception"]
    assert calls.writes == ["SendMessage", "ChangeMessageVisibilityBatch"] and len(stack.reconciler.failures) == 1


def test_an_unknown_policy_name_is_skipped_with_a_warning(vpc: Vpc, stack, logs):
    put_policies(GOLD)
    vpc.subnet("app-a", "eu-west-1a", policy="platinum")
    stack.publish(vpc.subnet_event("app-a"))
    assert vpc.endpoints() == []
    (finding,) = [r for r in logs.of("decision") if r.get("subnet_id") == vpc.subnets["app-a"]]
    assert (finding["outcome"], finding["reason"], finding["policy"], finding["level"]) == (
        "skipped",
        "unknown_policy",
        "platinum",
        "WARNING",
    )
