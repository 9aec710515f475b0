"""The AWS Config rule (ConfigRule=on): Config invokes the rule's function as Lambda would, with the
events Config sends (tests/emulation/config_service.py, from events/), and holds what it puts. One
evaluation per subnet from the same plan as a reconcile, agreeing with the audit CLI; nothing written to EC2."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from jsonschema import Draft202012Validator
from vpce_remediator.cli import main
from vpce_remediator.errors import EvaluationsRefused

from tests.emulation.account import ROOT, Vpc, load_event
from tests.emulation.config_service import ConfigService, Rule, emulate
from tests.emulation.lambda_runtime import Stack

RULE_FUNCTION = "ConfigRuleFunction"
SCHEMA = Draft202012Validator(json.loads((ROOT / "docs" / "log-schema.json").read_text()))
COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE = "COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"


@pytest.fixture
def stack(calls) -> Stack:
    return Stack(parameters={"ConfigRule": "on"}).provision()


@pytest.fixture
def config(stack: Stack) -> Iterator[ConfigService]:
    with emulate(stack.template) as service:
        yield service


@pytest.fixture
def rule(config: ConfigService) -> Rule:
    return config.rule("vpce-remediator-subnet-endpoints")


@pytest.fixture
def account(vpc: Vpc, stack: Stack) -> Vpc:
    """Every kind of subnet: two served (the sweep reconciled them), one opted in after it in an AZ the
    interface endpoints do not reach, one naming a policy nobody defined, a public one and an untagged one."""
    vpc.mixed_layout()
    stack.invoke("SweepFunction", load_event("scheduled_sweep.json"))
    vpc.subnet("late", "eu-west-1c")
    vpc.subnet("typo", "eu-west-1a", policy="gold")
    return vpc


EXPECTED = {
    "app-a": (COMPLIANT, None),
    "app-b": (COMPLIANT, None),
    "late": (NON_COMPLIANT, "missing ec2messages, ssm, ssmmessages (az_not_served)"),
    "typo": (NON_COMPLIANT, "policy 'gold' is not defined (unknown_policy)"),
    "web-a": (NOT_APPLICABLE, "public_subnet"),
    "scratch": (NOT_APPLICABLE, "not_opted_in"),
}


def region_subnets(ec2) -> set[str]:
    """Every subnet of the Region: the account's, and those of the default VPC moto makes."""
    return {s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]}


def held(rule: Rule, vpc: Vpc) -> dict[str, tuple[str, str | None]]:
    by_id = {subnet_id: name for name, subnet_id in vpc.subnets.items()}
    return {by_id[s]: (c, rule.annotation(s)) for s, c in rule.compliance().items() if s in by_id}


def test_the_periodic_run_gives_every_subnet_its_verdict_and_a_change_of_each_agrees(stack, rule, account, ec2, calls):
    # Given an account with compliant, noncompliant, skipped and untagged subnets
    calls.clear()
    # When Config runs the rule on its schedule
    result = stack.invoke(RULE_FUNCTION, rule.periodic())
    # Then every subnet has the evaluation its state deserves (the default VPC's are not opted in), put in
    # one call, and nothing was written to EC2
    assert held(rule, account) == EXPECTED
    others = region_subnets(ec2) - set(account.subnets.values())
    assert {rule.compliance()[s] for s in others} == {NOT_APPLICABLE} and set(rule.compliance()) == region_subnets(ec2)
    assert result["status"] == "ok" and result["evaluations"] == {COMPLIANT: 2, NON_COMPLIANT: 2, NOT_APPLICABLE: 2 + len(others)}
    assert rule.puts == [len(region_subnets(ec2))] and calls.writes == ["PutEvaluations"]
    # and a configuration change of each subnet, evaluated on its own, gives the same verdict
    for name, (compliance, _) in EXPECTED.items():
        stack.invoke(RULE_FUNCTION, rule.change(ec2, account.subnets[name]))
        assert rule.compliance()[account.subnets[name]] == compliance, name
    assert rule.puts[1:] == [1] * len(EXPECTED)


def test_a_configuration_change_evaluates_only_that_subnet_reading_only_its_vpc(stack, rule, account, ec2, calls):
    # Given a second VPC with a subnet that needs everything
    other = Vpc.create(ec2, "10.77.0.0/16")
    other.subnet("x", "eu-west-1a")
    calls.clear()
    # When the opted-in subnet of the second VPC changes
    stack.invoke(RULE_FUNCTION, rule.change(ec2, other.subnets["x"]))
    # Then that subnet alone is evaluated, from reads of its VPC alone, in one evaluation
    assert rule.compliance() == {other.subnets["x"]: NON_COMPLIANT}
    assert rule.puts == [1]
    for operation in ("DescribeSubnets", "DescribeRouteTables", "DescribeVpcEndpoints"):
        (request,) = calls.requests(operation)
        assert (request["Filter.1.Name"], request["Filter.1.Value.1"]) == ("vpc-id", other.id), operation
    assert calls.writes == ["PutEvaluations"]


def test_a_periodic_run_reports_subnets_deleted_since_as_not_applicable_and_puts_nothing_else(stack, rule, account, ec2):
    # Given the rule has evaluated every subnet
    stack.invoke(RULE_FUNCTION, rule.periodic())
    # When one subnet is deleted without Config recording it, and the next periodic run comes
    ec2.delete_subnet(SubnetId=account.subnets["typo"])
    result = stack.invoke(RULE_FUNCTION, rule.periodic())
    # Then it is NOT_APPLICABLE, and it is the one evaluation put: the others did not change
    assert held(rule, account)["typo"] == (NOT_APPLICABLE, "subnet_gone")
    assert rule.puts[1:] == [1] and result["evaluations"] == {NOT_APPLICABLE: 1}
    # and a run on an unchanged account puts nothing (every evaluation is billed)
    stack.invoke(RULE_FUNCTION, rule.periodic())
    assert rule.puts[1:] == [1]


def test_a_subnet_the_remediator_fixed_is_compliant_at_the_next_periodic_run(stack, rule, account):
    stack.invoke(RULE_FUNCTION, rule.periodic())
    stack.invoke("SweepFunction", load_event("scheduled_sweep.json"))
    stack.invoke(RULE_FUNCTION, rule.periodic())
    assert held(rule, account)["late"] == (COMPLIANT, None)
    assert rule.puts[1:] == [1]


def test_a_deleted_or_out_of_scope_subnet_is_not_applicable_without_reading_anything(stack, rule, account, ec2, calls):
    calls.clear()
    stack.invoke(RULE_FUNCTION, rule.change(ec2, account.subnets["late"], status="ResourceDeleted"))
    stack.invoke(RULE_FUNCTION, rule.change(ec2, account.subnets["app-a"], left_scope=True))
    assert held(rule, account) == {"late": (NOT_APPLICABLE, "subnet_gone"), "app-a": (NOT_APPLICABLE, "left_the_rules_scope")}
    assert calls.calls == ["PutEvaluations", "PutEvaluations"]


def test_an_oversized_item_names_no_vpc_so_the_subnet_is_looked_up_once(stack, rule, account, ec2, calls):
    calls.clear()
    stack.invoke(RULE_FUNCTION, rule.change(ec2, account.subnets["late"], oversized=True))
    assert held(rule, account) == {"late": EXPECTED["late"]}
    (lookup, *reads) = calls.requests("DescribeSubnets")
    assert (lookup["Filter.1.Name"], lookup["Filter.1.Value.1"]) == ("subnet-id", account.subnets["late"])
    assert [r["Filter.1.Value.1"] for r in reads] == [account.id]


def test_many_subnets_are_put_100_a_call_and_past_results_read_100_a_page(stack, rule, ec2, calls):
    # Given 130 untagged subnets in one VPC (and the default VPC's)
    vpc = Vpc.create(ec2, "10.40.0.0/16")
    for i in range(130):
        vpc.subnet(f"s{i}", "eu-west-1a", policy=None)
    total = len(region_subnets(ec2))
    stack.invoke(RULE_FUNCTION, rule.periodic())
    # Then the first run put them 100 a call, and the next reads what it put 100 a page and puts nothing
    calls.clear()
    stack.invoke(RULE_FUNCTION, rule.periodic())
    assert rule.puts == [100, total - 100]
    assert calls.count()["GetComplianceDetailsByConfigRule"] == 2 and "PutEvaluations" not in calls.calls


def test_an_event_that_is_not_configs_is_logged_as_invalid_and_not_retried(stack, rule, calls, logs):
    result = stack.invoke(RULE_FUNCTION, load_event("create_subnet.json"))
    (error,) = [r for r in logs.records if r["level"] == "ERROR"]
    assert result["status"] == "invalid" and error["error"] == "InvalidEvent" and error["message"] == "invalid event"
    assert calls.calls == [] and rule.puts == []


def test_an_evaluation_config_does_not_accept_fails_the_invocation_so_lambda_retries_it(stack, config, rule, account, ec2, logs):
    config.refuse_next = True
    with pytest.raises(EvaluationsRefused):
        stack.invoke(RULE_FUNCTION, rule.change(ec2, account.subnets["late"]))
    assert [r["message"] for r in logs.records if r["level"] == "ERROR"] == ["evaluation failed"]
    # and the retry succeeds
    stack.invoke(RULE_FUNCTION, rule.change(ec2, account.subnets["late"]))
    assert rule.compliance()[account.subnets["late"]] == NON_COMPLIANT


def test_a_token_or_rule_config_does_not_know_is_an_invalid_event_not_a_failure(stack, rule, account, ec2, logs):
    change, periodic = rule.change(ec2, account.subnets["late"]), rule.periodic()
    rule.tokens.clear()  # a made-up invoke, or a token that has expired
    assert stack.invoke(RULE_FUNCTION, change)["status"] == "invalid"
    assert stack.invoke(RULE_FUNCTION, {**periodic, "configRuleName": "someone-elses"})["status"] == "invalid"
    errors = [r for r in logs.records if r["level"] == "ERROR"]
    assert [(r["message"], r["error"]) for r in errors] == [("invalid event", "InvalidEvent")] * 2 and rule.results == {}


def test_its_records_are_valid_against_the_log_schema(stack, rule, account, ec2, debug_logs):
    stack.invoke(RULE_FUNCTION, rule.periodic())
    stack.invoke(RULE_FUNCTION, rule.change(ec2, account.subnets["late"], oversized=True))
    stack.invoke(RULE_FUNCTION, {"configRuleName": "x"})
    kinds = {(r["record"], r["message"]) for r in debug_logs.records}
    assert {("evaluation", "evaluation"), ("summary", "summary"), ("summary", "invalid event")} <= kinds
    assert {r["trigger"] for r in debug_logs.records} == {"config_rule"}
    assert [(r, e.message) for r in debug_logs.records for e in SCHEMA.iter_errors(r)] == []


def test_the_evaluations_agree_with_the_audit_cli_on_the_same_account(stack, rule, account):
    # Given the rule's periodic run and the audit CLI on the same account
    stack.invoke(RULE_FUNCTION, rule.periodic())
    out = io.StringIO()
    code = main(["audit", "--region", "eu-west-1", "--format", "json"], out, io.StringIO())
    rows = [r for r in json.loads(out.getvalue()) if r["policy"] != "-"]  # the subnets' rows, releases aside
    # Then each subnet's verdict is what its audit rows say: something the audit would add, or a policy it
    # does not know, is NON_COMPLIANT; a subnet the audit skips as a whole, or leaves out, NOT_APPLICABLE
    by_subnet: dict[str, list[dict]] = {}
    for row in rows:
        by_subnet.setdefault(row["subnet_id"], []).append(row)

    def from_audit(subnet_id: str) -> str:
        audited = by_subnet.get(subnet_id, [])
        reasons = {r["detail"].split(", ")[0] for r in audited}
        if any(r["state"].startswith("would ") for r in audited) or reasons & {"unknown_policy"}:
            return NON_COMPLIANT
        if not audited or reasons & {"public_subnet", "no_route_table", "subnet_leaving"}:
            return NOT_APPLICABLE
        return COMPLIANT

    assert {s: from_audit(s) for s in account.subnets.values()} == {s: rule.compliance()[s] for s in account.subnets.values()}
    # and the audit's gate fails exactly when a subnet is NON_COMPLIANT
    assert code == (1 if NON_COMPLIANT in rule.compliance().values() else 0) == 1
