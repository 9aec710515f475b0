"""template.yaml keeps the contracts the code relies on: rules match the sample events and not
failed calls, the trigger table and the rules agree, the environment parses, and IAM grants
exactly what the code calls."""

from __future__ import annotations

import json

import pytest
from moto.events.models import EventPattern
from vpce_remediator.actions import ALL_ACTIONS
from vpce_remediator.config import Mode, Settings
from vpce_remediator.snapshot import PERMISSIONS as READS
from vpce_remediator.triggers import TRIGGERS

from tests.emulation.account import load_event
from tests.emulation.template import event_rules, function_environment, functions, load_template

TEMPLATE = load_template()
MATCHING = ["create_subnet.json", "create_route_table.json"]


def patterns() -> list[EventPattern]:
    return [EventPattern.load(json.dumps(pattern)) for _, _, pattern in event_rules(TEMPLATE)]


@pytest.mark.parametrize("name", MATCHING)
def test_rules_match_the_sample_events(name):
    assert any(p.matches_event(load_event(name)) for p in patterns())


def test_rules_do_not_match_failed_calls():
    failed = load_event("create_subnet_failed.json")
    assert failed["detail"]["errorCode"]
    assert not any(p.matches_event(failed) for p in patterns())


def test_rules_do_not_match_other_sources_or_read_only_calls():
    event = load_event("create_subnet.json")
    other_source = {**event, "source": "aws.s3"}
    other_call = {**event, "detail": {**event["detail"], "eventName": "DescribeSubnets"}}
    assert not any(p.matches_event(e) for p in patterns() for e in (other_source, other_call))


def test_trigger_table_and_template_rules_name_the_same_calls():
    in_template = {name for _, _, pattern in event_rules(TEMPLATE) for name in pattern["detail"]["eventName"]}
    assert in_template == set(TRIGGERS)


def test_parameters_keep_their_documented_contract():
    parameters = TEMPLATE["Parameters"]
    assert parameters["OptInTagKey"]["Default"] == "vpce-remediator/policy"
    assert parameters["GatewayServices"] == {
        **parameters["GatewayServices"],
        "Type": "CommaDelimitedList",
        "Default": "s3,dynamodb",
    }
    assert parameters["InterfaceServices"]["Default"] == "ssm,ssmmessages,ec2messages"
    assert parameters["Mode"]["AllowedValues"] == ["remediate", "report"] and parameters["Mode"]["Default"] == "remediate"


@pytest.mark.parametrize("function_id", list(functions(TEMPLATE)))
def test_each_function_gets_an_environment_its_settings_accept(function_id):
    env = function_environment(TEMPLATE, function_id)
    settings = Settings.from_env(env)
    assert settings == Settings(
        "vpce-remediator/policy", ("s3", "dynamodb"), ("ssm", "ssmmessages", "ec2messages"), Mode.REMEDIATE
    )
    assert env["POWERTOOLS_SERVICE_NAME"] == "vpce-remediator"


@pytest.mark.parametrize("function_id", list(functions(TEMPLATE)))
def test_each_function_keeps_failed_events_and_its_logs(function_id):
    properties = functions(TEMPLATE)[function_id]["Properties"]
    on_failure = properties["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    log_group = TEMPLATE["Resources"][properties["LoggingConfig"]["LogGroup"]["Ref"]]
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for event in properties.get("Events", {}).values():
        assert "DeadLetterConfig" in event["Properties"]


def granted_ec2_actions(function_id: str) -> set[str]:
    statements = [s for policy in functions(TEMPLATE)[function_id]["Properties"]["Policies"] for s in policy["Statement"]]
    actions = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        actions |= set(listed)
    return actions


def test_role_grants_exactly_the_ec2_actions_the_code_calls():
    needed = set(READS) | {p for action in ALL_ACTIONS for p in action.permissions}
    assert granted_ec2_actions("EventReconcilerFunction") == needed


def test_mutating_actions_are_never_granted_on_every_resource():
    for policy in functions(TEMPLATE)["EventReconcilerFunction"]["Properties"]["Policies"]:
        for statement in policy["Statement"]:
            listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if not all(a.startswith("ec2:Describe") for a in listed):
                assert statement["Resource"] != "*", statement["Sid"]
