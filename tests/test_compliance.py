"""The Config rule's pure parts: findings into one verdict per subnet, the periodic run's puts, and
Config's invoking events (the sample events in events/) into a RuleInvocation or an InvalidEvent."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from vpce_remediator.compliance import ANNOTATION_LIMIT, VERDICTS, Evaluation, evaluate, gone, to_put, verdict
from vpce_remediator.errors import InvalidEvent
from vpce_remediator.plan import Finding, Plan
from vpce_remediator.rule_events import CHANGE, OVERSIZED, SCHEDULED, parse_rule_invocation
from vpce_remediator.vocabulary import Compliance, EndpointType, Reason, Status

from tests.emulation.account import SAMPLE_SUBNET, SAMPLE_VPC, load_event

pytestmark = pytest.mark.unit

COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE = Compliance.COMPLIANT, Compliance.NON_COMPLIANT, Compliance.NOT_APPLICABLE
VPC = "vpc-00000000000000001"


def found(subnet: str, reason: Reason, service: str | None = None, status: Status | None = None, **extra) -> Finding:
    statuses = {COMPLIANT: Status.COMPLIANT, NON_COMPLIANT: Status.NONCOMPLIANT, NOT_APPLICABLE: Status.SKIPPED}
    kind = EndpointType.INTERFACE if service and service.startswith("ssm") else EndpointType.GATEWAY
    return Finding(
        VPC,
        subnet,
        status or statuses[VERDICTS[reason]],
        reason,
        service=service,
        endpoint_type=kind if service else None,
        **extra,
    )


def test_every_reason_a_finding_can_carry_leads_to_a_verdict():
    # NOT_NEEDED explains a release, never a finding
    assert set(VERDICTS) == set(Reason) - {Reason.NOT_NEEDED}


def test_a_subnet_with_every_required_service_served_is_compliant_without_annotation():
    e = verdict("subnet-1", [found("subnet-1", Reason.ROUTE_TABLE_ASSOCIATED, "s3"), found("subnet-1", Reason.AZ_SERVED, "ssm")])
    assert e == Evaluation("subnet-1", COMPLIANT, "", VPC)


def test_one_missing_service_makes_the_subnet_noncompliant_and_the_annotation_names_what_and_why():
    e = verdict(
        "subnet-1",
        [
            found("subnet-1", Reason.ROUTE_TABLE_ASSOCIATED, "s3"),
            found("subnet-1", Reason.NO_ENDPOINT, "dynamodb"),
            found("subnet-1", Reason.AZ_MISSING, "ssm"),
            found("subnet-1", Reason.AZ_MISSING, "ssmmessages"),
        ],
    )
    assert (e.compliance, e.annotation) == (NON_COMPLIANT, "missing dynamodb (no_endpoint); ssm, ssmmessages (az_not_served)")


def test_a_service_aws_does_not_offer_where_the_subnet_is_is_not_a_gap_but_is_named():
    e = verdict(
        "subnet-1", [found("subnet-1", Reason.ROUTE_TABLE_ASSOCIATED, "s3"), found("subnet-1", Reason.SERVICE_NOT_IN_AZ, "ssm")]
    )
    assert (e.compliance, e.annotation) == (COMPLIANT, "not offered here: ssm (service_not_offered_in_az)")


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (Reason.NOT_OPTED_IN, (NOT_APPLICABLE, "not_opted_in")),
        (Reason.PUBLIC_SUBNET, (NOT_APPLICABLE, "public_subnet")),
        (Reason.SUBNET_LEAVING, (NOT_APPLICABLE, "subnet_leaving")),
        (Reason.NO_ROUTE_TABLE, (NOT_APPLICABLE, "no_route_table")),
        (Reason.UNKNOWN_POLICY, (NON_COMPLIANT, "policy 'gold' is not defined (unknown_policy)")),
    ],
)
def test_what_the_plan_says_about_the_subnet_itself(reason, expected):
    e = verdict("subnet-1", [found("subnet-1", reason, policy="gold")])
    assert (e.compliance, e.annotation) == expected


def test_an_interface_endpoint_the_remediator_cannot_create_is_a_gap():
    skipped = found("subnet-1", Reason.GROUP_NAME_TAKEN, "ssm", status=Status.SKIPPED)
    e = verdict("subnet-1", [found("subnet-1", Reason.ROUTE_TABLE_ASSOCIATED, "s3"), skipped])
    assert (e.compliance, e.annotation) == (NON_COMPLIANT, "missing ssm (security_group_name_taken_by_another_owner)")


def test_the_annotation_fits_configs_limit():
    many = [found("subnet-1", Reason.NO_ENDPOINT, f"service-number-{i:03d}") for i in range(40)]
    e = verdict("subnet-1", many)
    assert e.compliance is NON_COMPLIANT and len(e.annotation) == ANNOTATION_LIMIT and e.annotation.endswith("...")


def test_plans_give_one_evaluation_per_subnet_and_a_subnet_without_findings_is_gone():
    plan = Plan(
        VPC,
        (
            found("subnet-a", Reason.ROUTE_TABLE_ASSOCIATED, "s3"),
            found("subnet-a", Reason.NO_ENDPOINT, "dynamodb"),
            found("subnet-b", Reason.NOT_OPTED_IN),
        ),
    )
    assert {s: e.compliance for s, e in evaluate([plan]).items()} == {"subnet-a": NON_COMPLIANT, "subnet-b": NOT_APPLICABLE}
    assert verdict("subnet-c", []) == gone("subnet-c") == Evaluation("subnet-c", NOT_APPLICABLE, "subnet_gone")


def test_a_periodic_run_puts_only_what_changed_and_reports_what_is_gone():
    current = {
        "subnet-same": Evaluation("subnet-same", COMPLIANT),
        "subnet-fixed": Evaluation("subnet-fixed", COMPLIANT),
        "subnet-new": Evaluation("subnet-new", NOT_APPLICABLE, "not_opted_in"),
    }
    reported = {
        "subnet-same": (COMPLIANT, ""),
        "subnet-fixed": (NON_COMPLIANT, "missing s3 (no_endpoint)"),
        "subnet-deleted": (NON_COMPLIANT, "missing s3 (no_endpoint)"),
        "subnet-deleted-before": (NOT_APPLICABLE, "subnet_gone"),
    }
    puts = to_put(current, reported)
    assert [(e.subnet_id, e.compliance) for e in puts] == [
        ("subnet-fixed", COMPLIANT),
        ("subnet-new", NOT_APPLICABLE),
        ("subnet-deleted", NOT_APPLICABLE),
    ]


# --- Config's invoking events --------------------------------------------------------------------


def test_a_configuration_change_names_the_subnet_its_vpc_and_when_config_captured_it():
    invocation = parse_rule_invocation(load_event("config_rule_subnet_change.json"))
    assert (invocation.message_type, invocation.subnet_id, invocation.vpc_id) == (CHANGE, SAMPLE_SUBNET, SAMPLE_VPC)
    assert invocation.rule_name == "vpce-remediator-subnet-endpoints" and invocation.result_token
    assert invocation.evaluable and not invocation.periodic
    assert invocation.ordering_time == datetime(2026, 11, 20, 9, 14, 31, 417000, UTC).timestamp()


def test_an_oversized_change_names_the_subnet_but_not_its_vpc():
    invocation = parse_rule_invocation(load_event("config_rule_subnet_oversized.json"))
    assert (invocation.message_type, invocation.subnet_id, invocation.vpc_id) == (OVERSIZED, SAMPLE_SUBNET, None)
    assert invocation.evaluable


def test_the_periodic_run_names_when_config_triggered_it():
    invocation = parse_rule_invocation(load_event("config_rule_scheduled.json"))
    assert invocation.periodic and invocation.message_type == SCHEDULED and invocation.subnet_id is None
    assert invocation.ordering_time == datetime(2026, 11, 20, 10, 0, 0, 373000, UTC).timestamp()


def with_item(**changes) -> dict:
    event = load_event("config_rule_subnet_change.json")
    invoking = json.loads(event["invokingEvent"])
    invoking["configurationItem"].update(changes)
    return {**event, "invokingEvent": json.dumps(invoking)}


@pytest.mark.parametrize("status", ["ResourceDeleted", "ResourceDeletedNotRecorded", "ResourceNotRecorded"])
def test_a_subnet_deleted_or_no_longer_recorded_is_not_evaluable(status):
    assert not parse_rule_invocation(with_item(configurationItemStatus=status, configuration=None)).evaluable


def test_a_subnet_that_left_the_rules_scope_is_not_evaluable():
    assert not parse_rule_invocation({**load_event("config_rule_subnet_change.json"), "eventLeftScope": True}).evaluable


@pytest.mark.parametrize(
    "event",
    [
        [],
        {},
        {**load_event("config_rule_scheduled.json"), "resultToken": ""},
        {**load_event("config_rule_scheduled.json"), "invokingEvent": "{not json"},
        {**load_event("config_rule_scheduled.json"), "invokingEvent": "[]"},
        {**load_event("config_rule_scheduled.json"), "eventLeftScope": "false"},
        {**load_event("config_rule_scheduled.json"), "invokingEvent": json.dumps({"messageType": SCHEDULED})},
        {
            **load_event("config_rule_scheduled.json"),
            "invokingEvent": json.dumps({"messageType": "ConfigurationSnapshotDeliveryCompleted"}),
        },
        with_item(resourceType="AWS::EC2::Instance"),
        with_item(resourceId="subnet-0f1e2d3c4b5a69788\n"),
        with_item(configurationItemStatus=None),
        with_item(configurationItemCaptureTime="yesterday"),
    ],
)
def test_what_is_not_an_invocation_of_this_rule_is_an_invalid_event(event):
    with pytest.raises(InvalidEvent):
        parse_rule_invocation(event)
