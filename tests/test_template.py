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
from tests.emulation.lambda_runtime import matches
from tests.emulation.template import event_rules, function_environment, function_property, functions, load_template

TEMPLATE = load_template()
MATCHING = [
    "create_subnet.json",
    "create_route_table.json",
    "create_tags_subnet_opt_in.json",
    "associate_route_table.json",
    "replace_route_table_association.json",
    "delete_vpc_endpoints.json",
    "modify_vpc_endpoint.json",
]


def patterns() -> list[EventPattern]:
    return [EventPattern.load(json.dumps(pattern)) for _, _, pattern in event_rules(TEMPLATE)]


@pytest.mark.parametrize("name", MATCHING)
def test_rules_match_the_sample_events(name):
    assert any(matches(p, load_event(name)) for p in patterns())


def test_rules_do_not_match_failed_calls():
    failed = load_event("create_subnet_failed.json")
    assert failed["detail"]["errorCode"]
    assert not any(matches(p, failed) for p in patterns())


def test_nested_array_matching_is_emulated_like_eventbridge():
    # EventBridge matches items.key against every element; moto's EventPattern alone does not.
    pattern = EventPattern.load(json.dumps({"detail": {"tagSet": {"items": {"key": ["b"]}}}}))
    event = {"detail": {"tagSet": {"items": [{"key": "a"}, {"key": "b"}]}}}
    assert matches(pattern, event) and not pattern.matches_event(event)
    assert not matches(pattern, {"detail": {"tagSet": {"items": [{"key": "a"}]}}})


def test_tags_other_than_the_opt_in_key_or_on_other_resources_invoke_nothing():
    other = load_event("create_tags_other.json")
    assert not any(matches(p, other) for p in patterns())
    opt_in = load_event("create_tags_subnet_opt_in.json")
    on_instance = json.loads(json.dumps(opt_in).replace("subnet-0f1e2d3c4b5a69788", "i-0c1d2e3f4a5b6c7d8"))
    assert not any(matches(p, on_instance) for p in patterns())


def test_the_opt_in_rule_follows_the_tag_key_parameter():
    renamed = [EventPattern.load(json.dumps(p)) for _, _, p in event_rules(TEMPLATE, {"OptInTagKey": "endpoints"})]
    opt_in = load_event("create_tags_subnet_opt_in.json")
    assert not any(matches(p, opt_in) for p in renamed)
    retagged = json.loads(json.dumps(opt_in).replace("vpce-remediator/policy", "endpoints"))
    assert any(matches(p, retagged) for p in renamed)


def test_rules_do_not_match_other_sources_or_read_only_calls():
    event = load_event("create_subnet.json")
    other_source = {**event, "source": "aws.s3"}
    other_call = {**event, "detail": {**event["detail"], "eventName": "DescribeSubnets"}}
    assert not any(matches(p, e) for p in patterns() for e in (other_source, other_call))


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
        "vpce-remediator/policy",
        ("s3", "dynamodb"),
        ("ssm", "ssmmessages", "ec2messages"),
        Mode.REMEDIATE,
        "/vpce-remediator/policies",
    )
    assert env["POWERTOOLS_SERVICE_NAME"] == "vpce-remediator"


@pytest.mark.parametrize("function_id", list(functions(TEMPLATE)))
def test_each_function_keeps_failed_events_and_its_logs(function_id):
    on_failure = function_property(TEMPLATE, function_id, "EventInvokeConfig")["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}}
    log_group = TEMPLATE["Resources"][function_property(TEMPLATE, function_id, "LoggingConfig")["LogGroup"]["Ref"]]
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for event in functions(TEMPLATE)[function_id]["Properties"]["Events"].values():
        assert event["Properties"]["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}


def role_statements() -> list[dict]:
    """Every statement, the conditional ones (Fn::If [cond, statement, AWS::NoValue]) included."""
    role = TEMPLATE["Resources"]["RemediatorRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    return [s["Fn::If"][1] if "Fn::If" in s else s for s in statements]


def listed(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_every_function_runs_as_the_one_remediator_role():
    for function_id in functions(TEMPLATE):
        assert function_property(TEMPLATE, function_id, "Role") == {"Fn::GetAtt": ["RemediatorRole", "Arn"]}
        assert "Policies" not in functions(TEMPLATE)[function_id]["Properties"]


def test_role_grants_exactly_the_ec2_actions_the_code_calls():
    needed = set(READS) | {p for action in ALL_ACTIONS for p in action.permissions}
    granted = {a for s in role_statements() for a in listed(s) if a.startswith("ec2:")}
    assert granted == needed
    assert all(s["Effect"] == "Allow" for s in role_statements())


def test_everything_but_ec2_reads_and_xray_is_scoped_to_resources():
    # Neither EC2's Describe* nor X-Ray's writes support resource-level permissions.
    for statement in role_statements():
        if not all(a.startswith(("ec2:Describe", "xray:")) for a in listed(statement)):
            assert statement["Resource"] != "*", statement["Sid"]
    others = {a for s in role_statements() for a in listed(s) if not a.startswith("ec2:")}
    assert others == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
        "ssm:GetParameter",
        "events:PutEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }


def test_change_events_can_only_carry_our_source_and_traces_are_granted_only_when_on():
    (publish,) = [s for s in role_statements() if s.get("Sid") == "PublishChangeEvents"]
    assert publish["Condition"] == {"StringEquals": {"events:source": "vpce-remediator"}}
    role = TEMPLATE["Resources"]["RemediatorRole"]["Properties"]
    conditional = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"] if "Fn::If" in s]
    assert [(s["Fn::If"][0], s["Fn::If"][1]["Sid"]) for s in conditional] == [("TracingOn", "WriteTraces")]
