"""template.yaml keeps the contracts the code relies on: rules match the sample events and not
failed calls, the trigger table and the rules agree, the environment parses, and IAM grants
exactly what the code calls."""

from __future__ import annotations

import json

import pytest
from moto.events.models import EventPattern
from vpce_remediator.actions import ALL_ACTIONS
from vpce_remediator.config import Mode, Settings
from vpce_remediator.evaluations import PUT_PERMISSIONS, READ_PERMISSIONS
from vpce_remediator.settle_queue import INTAKE_PERMISSIONS, RECONCILER_PERMISSIONS
from vpce_remediator.snapshot import LOOKUP_PERMISSIONS, ZONE_PERMISSIONS
from vpce_remediator.snapshot import PERMISSIONS as READS
from vpce_remediator.telemetry import EVENT_DETAIL_TYPE, EVENT_SOURCE
from vpce_remediator.triggers import TRIGGERS

from tests.emulation.account import load_event
from tests.emulation.lambda_runtime import matches
from tests.emulation.template import (
    ROOT,
    deployed,
    event_rules,
    function_environment,
    function_property,
    functions,
    load_template,
)

pytestmark = pytest.mark.unit

TEMPLATE = load_template()
MATCHING = [
    "create_subnet.json",
    "create_route_table.json",
    "create_tags_subnet_opt_in.json",
    "associate_route_table.json",
    "replace_route_table_association.json",
    "delete_vpc_endpoints.json",
    "modify_vpc_endpoint.json",
    "delete_tags_subnet_opt_out.json",
    "delete_subnet.json",
    "delete_subnet_refused.json",
    "delete_route_table.json",
    "disassociate_route_table.json",
    "delete_vpc_refused.json",
    "modify_vpc_attribute.json",
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


def test_of_failed_calls_only_deletes_refused_because_something_still_uses_the_resource_match():
    for name in ("delete_subnet_refused.json", "delete_vpc_refused.json"):
        refused = load_event(name)
        assert refused["detail"]["errorCode"] == "Client.DependencyViolation"
        denied = json.loads(json.dumps(refused).replace("Client.DependencyViolation", "Client.UnauthorizedOperation"))
        assert not any(matches(p, denied) for p in patterns())
    # A VPC that was deleted leaves nothing to reconcile: only its refusals are matched
    deleted = load_event("delete_vpc_refused.json")
    del deleted["detail"]["errorCode"], deleted["detail"]["errorMessage"]
    assert not any(matches(p, deleted) for p in patterns())


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
        settle_seconds=300,
        settle_queue_url="<SettleQueue>",
        own_role_arns=settings.own_role_arns,
    )
    assert env["POWERTOOLS_SERVICE_NAME"] == "vpce-remediator"
    # Only intake tells its own calls from others', by the roles that make them.
    if function_id == "IntakeFunction":
        assert {arn.rsplit("/", 1)[1].split("-")[2] for arn in settings.own_role_arns} == {"ReconcilerRole", "SweepRole"}
    else:
        assert settings.own_role_arns == frozenset()


def test_the_settle_window_defaults_to_five_minutes_and_is_bounded_by_the_code():
    settle = TEMPLATE["Parameters"]["SettleSeconds"]
    assert (settle["Default"], settle["MinValue"], settle["MaxValue"]) == (300, 0, 900)
    from vpce_remediator.config import MAX_SETTLE_SECONDS

    assert settle["MaxValue"] == MAX_SETTLE_SECONDS


ASYNC = ["IntakeFunction", "SweepFunction", "ConfigRuleFunction"]


@pytest.mark.parametrize("function_id", list(functions(TEMPLATE)))
def test_each_function_keeps_failed_events_and_its_logs(function_id):
    log_group = TEMPLATE["Resources"][function_property(TEMPLATE, function_id, "LoggingConfig")["LogGroup"]["Ref"]]
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    # AWS Config invokes the rule's function through its permission, not through an event of its own
    events = functions(TEMPLATE)[function_id]["Properties"].get("Events", {}).values()
    if function_id in ASYNC:
        on_failure = function_property(TEMPLATE, function_id, "EventInvokeConfig")["DestinationConfig"]["OnFailure"]
        assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}}
        for event in events:
            assert event["Properties"]["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}
    else:
        # Fed by a queue: what fails every retry is parked by the queue's redrive policy, in order.
        (event,) = events
        queue = TEMPLATE["Resources"][event["Properties"]["Queue"]["Fn::GetAtt"][0]]["Properties"]
        assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["SettleDeadLetterQueue", "Arn"]}
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_settle_queue_is_a_fifo_queue_per_vpc_encrypted_and_parked_in_a_fifo_queue():
    resources = TEMPLATE["Resources"]
    queue, parked = resources["SettleQueue"]["Properties"], resources["SettleDeadLetterQueue"]["Properties"]
    assert queue["FifoQueue"] and parked["FifoQueue"]
    assert queue["SqsManagedSseEnabled"] and parked["SqsManagedSseEnabled"]
    assert queue["ContentBasedDeduplication"] is False  # the code sends its own deduplication ids
    # Lambda refuses a mapping whose queue hides messages for less than the function may run.
    assert queue["VisibilityTimeout"] >= 6 * function_property(TEMPLATE, "ReconcilerFunction", "Timeout")
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 5


def role_of(function_id: str) -> dict:
    return TEMPLATE["Resources"][function_property(TEMPLATE, function_id, "Role")["Fn::GetAtt"][0]]["Properties"]


def role_statements(function_id: str, tracing: bool = True, prune: bool = True) -> list[dict]:
    """Every statement a function's role may hold: its inline policies, the policies attached to it
    (AWS::IAM::Policy naming it in Roles) and its managed policies (the ones attached only on a condition,
    Fn::If [cond, Ref, AWS::NoValue], included when it holds)."""
    role_id = function_property(TEMPLATE, function_id, "Role")["Fn::GetAtt"][0]
    role = role_of(function_id)
    statements = [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
    for resource in TEMPLATE["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"]["Roles"]:
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    holds = {"TracingOn": tracing, "PruneOwn": prune}
    for arn in role.get("ManagedPolicyArns", []):
        if "Fn::If" in arn:
            condition, arn, _ = arn["Fn::If"]
            if not holds[condition]:
                continue
        statements += TEMPLATE["Resources"][arn["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
    return statements


def listed(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def granted(function_id: str, prefix: str = "", prune: bool = True) -> set[str]:
    return {a for s in role_statements(function_id, prune=prune) for a in listed(s) if a.startswith(prefix)}


REMEDIATION = set(READS) | {p for action in ALL_ACTIONS for p in action.permissions}
# The Config rule's function plans and never applies: the reads alone.
EC2 = {
    "IntakeFunction": set(LOOKUP_PERMISSIONS),
    "ReconcilerFunction": REMEDIATION,
    "SweepFunction": REMEDIATION,
    "ConfigRuleFunction": set(READS),
}
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
TRACES = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
OTHERS = {
    "IntakeFunction": LOGS | set(INTAKE_PERMISSIONS) | TRACES,
    "ReconcilerFunction": LOGS
    | set(RECONCILER_PERMISSIONS)
    | {"sqs:SendMessage", "events:PutEvents", "ssm:GetParameter"}
    | set(ZONE_PERMISSIONS)
    | TRACES,
    "SweepFunction": LOGS | {"sqs:SendMessage", "events:PutEvents", "ssm:GetParameter"} | set(ZONE_PERMISSIONS) | TRACES,
    "ConfigRuleFunction": LOGS
    | {"sqs:SendMessage", "ssm:GetParameter"}
    | set(PUT_PERMISSIONS)
    | set(READ_PERMISSIONS)
    | set(ZONE_PERMISSIONS)
    | TRACES,
}
# The Service Authorization Reference lists no resource type for these: "*" is the only Resource.
UNSCOPED = ("ec2:Describe", "xray:", "config:PutEvaluations")


def test_each_function_has_a_role_of_its_own_and_no_policies_of_its_own():
    roles = [function_property(TEMPLATE, f, "Role")["Fn::GetAtt"][0] for f in functions(TEMPLATE)]
    assert len(set(roles)) == len(roles) == len(EC2)
    for function_id in functions(TEMPLATE):
        assert "Policies" not in functions(TEMPLATE)[function_id]["Properties"]


@pytest.mark.parametrize("function_id", list(functions(TEMPLATE)))
def test_each_role_grants_exactly_the_ec2_actions_its_code_calls(function_id):
    assert granted(function_id, "ec2:") == EC2[function_id]
    assert all(s["Effect"] == "Allow" for s in role_statements(function_id))


@pytest.mark.parametrize("function_id", ["ReconcilerFunction", "SweepFunction"])
def test_with_prune_off_nothing_that_only_releases_is_granted(function_id):
    releasing = {p for action in ALL_ACTIONS if action.releases for p in action.permissions}
    adding = {p for action in ALL_ACTIONS if not action.releases for p in action.permissions}
    only_releasing = releasing - adding - {"ec2:CreateTags"}  # CreateTags also tags what it creates
    assert only_releasing == {"ec2:DeleteVpcEndpoints", "ec2:DeleteSecurityGroup", "ec2:DeleteTags"}
    assert not granted(function_id, "ec2:", prune=False) & only_releasing
    assert granted(function_id, "ec2:", prune=False) == REMEDIATION - only_releasing


def test_deletes_and_leaving_marks_are_granted_only_on_what_carries_the_remediators_tag():
    statements = TEMPLATE["Resources"]["ReleasePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert TEMPLATE["Resources"]["ReleasePolicy"]["Condition"] == "PruneOwn"
    for statement in statements:
        assert statement["Condition"]["StringEquals"] == {"aws:ResourceTag/managed-by": "vpce-remediator"}, statement["Sid"]
    (marks,) = [s for s in statements if "ec2:DeleteTags" in listed(s)]
    from vpce_remediator.models import LEAVING_TAG_PREFIX

    assert marks["Condition"]["ForAllValues:StringLike"] == {"aws:TagKeys": LEAVING_TAG_PREFIX + "*"}
    assert marks["Condition"]["Null"] == {"aws:TagKeys": "false"}  # no DeleteTags of every tag
    # The tag-on-create grant of CreateTags stays limited to the create calls
    (on_create,) = [s for s in role_statements("ReconcilerFunction", prune=False) if s.get("Sid") == "TagOnCreateOnly"]
    assert set(on_create["Condition"]["StringEquals"]["ec2:CreateAction"]) == {"CreateVpcEndpoint", "CreateSecurityGroup"}


@pytest.mark.parametrize("function_id", list(functions(TEMPLATE)))
def test_everything_but_ec2_reads_and_xray_is_scoped_to_resources(function_id):
    # Neither EC2's Describe*, X-Ray's writes nor Config's PutEvaluations support resource-level permissions;
    # Route 53's ListHostedZonesByVPC has none either, and is held to the Region's VPCs by its condition key.
    for statement in role_statements(function_id):
        if listed(statement) == ["route53:ListHostedZonesByVPC"]:
            assert statement["Condition"] == {"StringLike": {"route53:VPCs": {"Fn::Sub": "VPCId=vpc-*,VPCRegion=${AWS::Region}"}}}
        elif not all(a.startswith(UNSCOPED) for a in listed(statement)):
            assert statement["Resource"] != "*", statement["Sid"]
    assert granted(function_id) - granted(function_id, "ec2:") == OTHERS[function_id]


def test_the_settle_queue_is_written_only_by_the_intake_and_the_reconciler_and_read_only_by_the_reconciler():
    for function_id in functions(TEMPLATE):
        on_queue = {
            a for s in role_statements(function_id) if s["Resource"] == {"Fn::GetAtt": ["SettleQueue", "Arn"]} for a in listed(s)
        }
        expected = {
            "IntakeFunction": set(INTAKE_PERMISSIONS),
            "ReconcilerFunction": {*RECONCILER_PERMISSIONS, "sqs:SendMessage"},
            "SweepFunction": set(),
            "ConfigRuleFunction": set(),
        }[function_id]
        assert on_queue == expected


def test_change_events_can_only_carry_our_source_and_traces_are_granted_only_when_on():
    for function_id in ("ReconcilerFunction", "SweepFunction"):
        (publish,) = [s for s in role_statements(function_id) if s.get("Sid") == "PublishChangeEvents"]
        # events:source and events:detail-type are multivalued: every entry must be ours, and there must be some
        assert publish["Condition"] == {
            "ForAllValues:StringEquals": {"events:source": EVENT_SOURCE},
            "StringEquals": {"events:detail-type": EVENT_DETAIL_TYPE},
            "Null": {"events:source": "false", "events:detail-type": "false"},
        }
    for function_id in functions(TEMPLATE):
        assert not granted(function_id, "xray:") & {a for s in role_statements(function_id, tracing=False) for a in listed(s)}
    assert TEMPLATE["Resources"]["WriteTracesPolicy"]["Condition"] == "TracingOn"


def statements_of(action: str, function_id: str = "ReconcilerFunction") -> list[dict]:
    return [s for s in role_statements(function_id) if action in listed(s)]


def arns(statement: dict) -> list[str]:
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return [r["Fn::Sub"].rsplit(":", 1)[1] for r in resources]


def test_endpoints_are_created_only_for_aws_owned_services_with_its_own_group_and_never_given_a_group_later():
    for statement in statements_of("ec2:CreateVpcEndpoint"):
        on = arns(statement)
        if "vpc-endpoint/*" in on:
            # the service owner is a key of the new endpoint only: a statement of its own
            assert on == ["vpc-endpoint/*"] and statement["Condition"]["StringEquals"]["ec2:VpceServiceOwner"] == "amazon"
        if "security-group/*" in on:
            assert on == ["security-group/*"]
            assert statement["Condition"] == {"StringEquals": {"aws:ResourceTag/managed-by": "vpce-remediator"}}
    # ModifyVpcEndpoint's vpc-endpoint has no service key in the reference: a condition on one would deny it all
    assert not any("Condition" in s for s in statements_of("ec2:ModifyVpcEndpoint"))
    # no grant lets the role add or remove an endpoint's security groups
    assert not any("security-group/*" in arns(s) for s in statements_of("ec2:ModifyVpcEndpoint"))
    assert {a for s in statements_of("ec2:ModifyVpcEndpoint") for a in arns(s)} == {"vpc-endpoint/*", "route-table/*", "subnet/*"}


def test_no_statement_list_holds_a_condition_function_so_scanners_read_every_statement():
    # checkov skips a policy whose Statement list holds an Fn::If; parts that depend on a parameter are
    # managed policies attached by an Fn::If in ManagedPolicyArns instead (make checkov also scans the
    # expanded template, with every optional part on).
    def walk(node):
        if isinstance(node, dict):
            if "Statement" in node:
                assert isinstance(node["Statement"], list)
                assert all(isinstance(s, dict) and "Fn::If" not in s for s in node["Statement"]), node["Statement"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(TEMPLATE["Resources"])


# --- the Config rule and the observability level ---------------------------------------------------------

RULE_RESOURCES = {
    "ConfigRuleFunction",
    "ConfigRuleRole",
    "ConfigRuleResultsPolicy",
    "ConfigRulePermission",
    "ComplianceRule",
    "ConfigRuleLogGroup",
    "ConfigRuleErrorsAlarm",
}
# What a member account of a large rollout goes without (Observability=minimal): docs/scale.md.
# The Errors metric's alarm stays: a planted group or a spoofed own call is counted there alone.
FULL_ONLY = {"Dashboard", "SettleBacklogAlarm", "IntakeThrottlesAlarm", "SweepThrottlesAlarm"}


def resources(**parameters: str) -> set[str]:
    return set(deployed(TEMPLATE, parameters)["Resources"])


def test_the_config_rule_is_off_by_default_and_on_adds_exactly_its_resources():
    parameters = TEMPLATE["Parameters"]
    assert (parameters["ConfigRule"]["Default"], parameters["ConfigRule"]["AllowedValues"]) == ("off", ["on", "off"])
    assert resources(ConfigRule="on") - resources() == RULE_RESOURCES
    assert resources() <= resources(ConfigRule="on")
    outputs = deployed(TEMPLATE, {"ConfigRule": "on"})["Outputs"]
    assert set(outputs) - set(deployed(TEMPLATE)["Outputs"]) == {"ConfigRuleName", "ConfigRuleLogGroupName"}


def test_observability_full_by_default_and_minimal_drops_exactly_the_dashboard_and_the_other_alarms():
    parameters = TEMPLATE["Parameters"]
    assert (parameters["Observability"]["Default"], parameters["Observability"]["AllowedValues"]) == ("full", ["full", "minimal"])
    for rule in ("on", "off"):
        assert resources(ConfigRule=rule) - resources(ConfigRule=rule, Observability="minimal") == FULL_ONLY
    assert "FailedEventsAlarm" in resources(Observability="minimal")


def test_the_organisation_rollout_uses_minimal_observability():
    params = {p["ParameterKey"]: p["ParameterValue"] for p in json.loads((ROOT / "org" / "stackset-params.json").read_text())}
    assert params["Observability"] == "minimal"
    assert all(key in TEMPLATE["Parameters"] for key in params)


def test_the_rule_evaluates_subnets_on_every_change_and_every_hour_with_the_rules_function():
    rule = TEMPLATE["Resources"]["ComplianceRule"]
    properties = rule["Properties"]
    assert rule["Condition"] == "ConfigRuleOn" and rule["DependsOn"] == "ConfigRulePermission"
    assert properties["Scope"] == {"ComplianceResourceTypes": ["AWS::EC2::Subnet"]}
    source = properties["Source"]
    assert (source["Owner"], source["SourceIdentifier"]) == ("CUSTOM_LAMBDA", {"Fn::GetAtt": ["ConfigRuleFunction", "Arn"]})
    triggers = {d["MessageType"]: d.get("MaximumExecutionFrequency") for d in source["SourceDetails"]}
    assert triggers == {
        "ConfigurationItemChangeNotification": None,
        "OversizedConfigurationItemChangeNotification": None,
        "ScheduledNotification": "One_Hour",
    }
    assert {d["EventSource"] for d in source["SourceDetails"]} == {"aws.config"}
    # The name the docs' aggregator query and Security Hub's findings use
    assert properties["ConfigRuleName"] == "vpce-remediator-subnet-endpoints"


def test_only_config_in_this_account_may_invoke_the_rules_function_and_it_reads_only_its_own_results():
    permission = TEMPLATE["Resources"]["ConfigRulePermission"]["Properties"]
    assert (permission["Principal"], permission["Action"]) == ("config.amazonaws.com", "lambda:InvokeFunction")
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert permission["FunctionName"] == {"Fn::GetAtt": ["ConfigRuleFunction", "Arn"]}
    (results,) = [s for s in role_statements("ConfigRuleFunction") if "config:GetComplianceDetailsByConfigRule" in listed(s)]
    assert results["Resource"] == {"Fn::GetAtt": ["ComplianceRule", "Arn"]}
    assert TEMPLATE["Resources"]["ConfigRuleResultsPolicy"]["Condition"] == "ConfigRuleOn"


def test_the_example_scp_limits_writing_the_default_opt_in_key_on_subnets_to_named_roles():
    scp = json.loads((ROOT / "docs" / "examples" / "opt-in-scp.json").read_text())
    key = TEMPLATE["Parameters"]["OptInTagKey"]["Default"]
    assert scp["Version"] == "2012-10-17" and all(s["Effect"] == "Deny" for s in scp["Statement"])
    writes, delete_all = scp["Statement"]
    assert set(writes["Action"]) == {"ec2:CreateTags", "ec2:DeleteTags"} and writes["Resource"].endswith(":subnet/*")
    assert writes["Condition"]["ForAnyValue:StringEquals"] == {"aws:TagKeys": [key]}
    roles = writes["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    assert roles and all(":role/" in r for r in roles)
    # DeleteTags without keys deletes every tag, the opt-in key with them: held to the same roles
    assert delete_all["Action"] == ["ec2:DeleteTags"] and delete_all["Condition"]["Null"] == {"aws:TagKeys": "true"}
    assert delete_all["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == roles
    assert len(json.dumps(scp, separators=(",", ":"))) <= 5120  # an SCP's size limit


def test_the_readme_stays_a_map_of_at_most_15_kb():
    assert len((ROOT / "README.md").read_bytes()) <= 15_000
