"""The Config emulation itself (tests/emulation/config_service.py) refuses what AWS Config refuses and
keeps what it keeps, so the rule's tests cannot pass on a put or a read real Config would not take."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.emulation.config_service import ConfigService, emulate
from tests.emulation.template import deployed, load_template

RULE = "vpce-remediator-subnet-endpoints"


@pytest.fixture
def service(aws) -> Iterator[ConfigService]:
    with emulate(deployed(load_template(), {"ConfigRule": "on"})) as emulated:
        yield emulated


@pytest.fixture
def client(service):
    return boto3.session.Session(region_name="eu-west-1").client("config")


def evaluation(subnet: str, compliance: str = "COMPLIANT", when: int = 1, **extra) -> dict:
    return {
        "ComplianceResourceType": "AWS::EC2::Subnet",
        "ComplianceResourceId": subnet,
        "ComplianceType": compliance,
        "OrderingTimestamp": datetime.fromtimestamp(when, UTC),
        **extra,
    }


def token(service: ConfigService) -> str:
    return service.rule(RULE).periodic()["resultToken"]


def test_the_rule_is_the_templates(service):
    rule = service.rule()
    assert (rule.name, rule.function_id, rule.resource_types, rule.frequency) == (
        RULE,
        "ConfigRuleFunction",
        ("AWS::EC2::Subnet",),
        "One_Hour",
    )


@pytest.mark.parametrize(
    ("evaluations", "code"),
    [
        ([evaluation(f"subnet-{i:017d}") for i in range(101)], "ValidationException"),
        ([evaluation("subnet-1", Annotation="x" * 257)], "ValidationException"),
        ([evaluation("subnet-1", "INSUFFICIENT_DATA")], "InvalidParameterValueException"),
    ],
)
def test_put_evaluations_refuses_what_config_refuses(service, client, evaluations, code):
    with pytest.raises(ClientError) as refused:
        client.put_evaluations(Evaluations=evaluations, ResultToken=token(service))
    assert refused.value.response["Error"]["Code"] == code
    assert service.rule().results == {}


def test_put_evaluations_needs_a_token_config_issued(service, client):
    with pytest.raises(ClientError, match="InvalidResultTokenException"):
        client.put_evaluations(Evaluations=[evaluation("subnet-1")], ResultToken="made-up")


def test_an_older_evaluation_does_not_replace_a_newer_one(service, client):
    client.put_evaluations(Evaluations=[evaluation("subnet-1", "NON_COMPLIANT", when=20)], ResultToken=token(service))
    client.put_evaluations(Evaluations=[evaluation("subnet-1", "COMPLIANT", when=10)], ResultToken=token(service))
    assert service.rule().compliance() == {"subnet-1": "NON_COMPLIANT"}
    assert service.rule().puts == [1, 1]  # both were accepted, and billed


def test_results_are_read_a_page_at_a_time_and_filtered_by_compliance(service, client):
    evaluations = [evaluation(f"subnet-{i:017d}", "COMPLIANT" if i % 2 else "NOT_APPLICABLE") for i in range(30)]
    client.put_evaluations(Evaluations=evaluations, ResultToken=token(service))
    first = client.get_compliance_details_by_config_rule(ConfigRuleName=RULE)
    assert len(first["EvaluationResults"]) == 10 and first["NextToken"]  # 10 a page without Limit
    pages = client.get_paginator("get_compliance_details_by_config_rule").paginate(
        ConfigRuleName=RULE, ComplianceTypes=["NOT_APPLICABLE"], PaginationConfig={"PageSize": 100}
    )
    results = [r for page in pages for r in page["EvaluationResults"]]
    assert len(results) == 15 and {r["ComplianceType"] for r in results} == {"NOT_APPLICABLE"}
    assert results[0]["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceType"] == "AWS::EC2::Subnet"


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        ({"ConfigRuleName": "no-such-rule"}, "NoSuchConfigRuleException"),
        ({"ConfigRuleName": RULE, "Limit": 101}, "ValidationException"),
        ({"ConfigRuleName": RULE, "NextToken": "made-up"}, "InvalidNextTokenException"),
    ],
)
def test_results_are_refused_for_what_config_refuses(client, request_, code):
    with pytest.raises(ClientError) as refused:
        client.get_compliance_details_by_config_rule(**request_)
    assert refused.value.response["Error"]["Code"] == code
