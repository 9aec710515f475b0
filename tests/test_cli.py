"""The audit CLI: same core as the functions, read-only by default, exit codes a pipeline can gate on."""

from __future__ import annotations

import io
import json

import pytest
from vpce_remediator.cli import main

from tests.emulation.account import Vpc


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def account(vpc: Vpc) -> Vpc:
    return vpc.mixed_layout()


def test_audit_of_a_noncompliant_account_lists_what_it_would_do_and_exits_1(account, calls):
    code, out, _ = run("audit", "--region", "eu-west-1")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == ["VPC", "SUBNET", "AZ", "POLICY", "SERVICE", "STATE", "ENDPOINT", "DETAIL"]
    assert sum("would create" in line for line in lines) == 10  # 2 subnets x 5 services
    assert any(account.subnets["web-a"] in line and "skipped" in line and "public_subnet" in line for line in lines)
    assert not any(account.subnets["scratch"] in line for line in lines)
    assert calls.writes == []


def test_reconcile_apply_then_audit_is_compliant_and_exits_0(account):
    code, out, err = run("reconcile", "--apply", "--region", "eu-west-1")
    assert code == 0 and "would" not in out
    assert any(json.loads(line).get("outcome") == "created" for line in err.splitlines())
    code, out, _ = run("audit", "--region", "eu-west-1", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and {r["state"] for r in rows} == {"compliant", "skipped"}


def test_reconcile_without_apply_changes_nothing(account, calls):
    code, out, _ = run("reconcile", "--region", "eu-west-1")
    assert code == 1 and "would create" in out and calls.writes == [] and account.endpoints() == []


def test_vpc_filter_limits_the_audit(account, ec2):
    other = Vpc.create(ec2, "10.77.0.0/16")
    other.subnet("x", "eu-west-1a")
    _, out, _ = run("audit", "--region", "eu-west-1", "--vpc-id", other.id, "--format", "json")
    assert {r["vpc_id"] for r in json.loads(out)} == {other.id}


def test_errors_exit_2_with_a_message(account):
    code, out, err = run("audit", "--region", "eu-west-1", "--profile", "no-such-profile")
    assert code == 2 and out == "" and "ProfileNotFound" in err
    code, _, err = run("audit", "--region", "eu-west-1", "--policy-parameter", "/missing")
    assert code == 2 and "PolicyError" in err


def test_a_subnet_naming_an_unknown_policy_fails_the_gate(vpc):
    # Given a subnet tagged with a policy the audit does not know (no --policy-parameter given)
    vpc.subnet("app-a", "eu-west-1a", policy="gold")
    # Then the audit does not pass it as compliant
    code, out, _ = run("audit", "--region", "eu-west-1")
    assert code == 1 and "unknown_policy" in out


def test_audit_shows_the_releases_the_next_reconcile_would_make_and_they_do_not_fail_the_gate(account, ec2, calls):
    # Given the account reconciled, then one of its two opted-in subnets opted out
    run("reconcile", "--apply", "--region", "eu-west-1")
    ec2.delete_tags(Resources=[account.subnets["app-b"]], Tags=[{"Key": "vpce-remediator/policy"}])
    calls.clear()
    # When it is audited
    code, out, _ = run("audit", "--region", "eu-west-1", "--format", "json")
    # Then each release is a row saying what it would take away; the remaining subnet is compliant (exit 0)
    rows = json.loads(out)
    released = [r for r in rows if r["state"].startswith("would ")]
    assert code == 0 and calls.writes == []
    assert {r["state"] for r in released} == {"would release"}
    assert {r["subnet_id"] for r in released if "remove_subnets" in r["detail"]} == {account.subnets["app-b"]}
    assert len([r for r in released if "remove_subnets" in r["detail"]]) == 3  # its AZ, off each interface endpoint
    assert len([r for r in released if "detach_route_tables" in r["detail"]]) == 2  # the main table, off S3 and DynamoDB
    # and with --prune off there is nothing to release
    _, out, _ = run("audit", "--region", "eu-west-1", "--format", "json", "--prune", "off")
    assert not [r for r in json.loads(out) if r["state"].startswith("would ")]


def test_a_vpc_id_that_does_not_exist_is_an_error_not_an_empty_compliant_audit(account):
    code, out, err = run("audit", "--region", "eu-west-1", "--vpc-id", "vpc-0123456789abcdef0")
    assert code == 2 and out == "" and "UnknownVpc" in err and "vpc-0123456789abcdef0" in err
    # one of several missing fails it too
    code, _, err = run("audit", "--region", "eu-west-1", "--vpc-id", account.id, "--vpc-id", "vpc-0fedcba9876543210")
    assert code == 2 and "vpc-0fedcba9876543210" in err


def test_a_required_service_the_region_does_not_offer_is_an_error_naming_it(vpc):
    # Given a default policy with a typo in a service name
    vpc.subnet("app-a", "eu-west-1a")
    code, out, err = run("audit", "--region", "eu-west-1", "--interface-services", "ssm,sssm")
    # Then the table still says what it found, and the gate fails naming the service
    assert "service_not_in_region" in out
    assert code == 2 and "sssm" in err and "ServiceNotInRegion" in err and "eu-west-1" in err


def test_control_characters_in_a_tag_value_cannot_forge_a_table_row(vpc):
    # Given a subnet whose opt-in tag value holds a newline followed by a fake compliant row
    forged = "gold\nvpc-00000000 subnet-00000000 eu-west-1a default s3 (gateway) compliant"
    vpc.subnet("app-a", "eu-west-1a", policy=forged)
    code, out, _ = run("audit", "--region", "eu-west-1")
    lines = out.splitlines()
    # Then the value is one escaped cell of one row: no row names the forged subnet
    assert code == 1 and len(lines) == 2 and "gold\\nvpc-00000000" in lines[1]
    assert not any(line.startswith("vpc-00000000") for line in lines)
    # and JSON keeps the value as it is
    _, out, _ = run("audit", "--region", "eu-west-1", "--format", "json")
    assert json.loads(out)[0]["policy"] == forged.lower() or json.loads(out)[0]["policy"] == forged


def test_the_readme_states_the_exit_codes_as_the_code_has_them():
    from vpce_remediator.cli import COMPLIANT_EXIT, ERROR_EXIT, NONCOMPLIANT_EXIT

    from tests.emulation.account import ROOT

    readme = (ROOT / "README.md").read_text()
    section = " ".join(readme.split("## Audit from the command line")[1].split("\n## ")[0].split())
    stated = section.split("Exit codes: ")[1]
    zero, rest = stated.split(f"`{NONCOMPLIANT_EXIT}` when", 1)
    one, two = rest.split(f"`{ERROR_EXIT}` on", 1)
    # Each case lands where the tests above put it: an undefined policy gives 1, never 0
    assert zero.startswith(f"`{COMPLIANT_EXIT}` when every subnet is compliant") and "policy" not in zero
    assert "undefined policy" in one
    assert all(case in two for case in ("an error", "`--vpc-id` that does not exist", "does not offer"))


def test_the_policy_docs_state_the_parameters_tier_as_the_template_sets_it():
    from tests.emulation.account import ROOT
    from tests.emulation.template import load_template

    (parameter,) = [r for r in load_template()["Resources"].values() if r["Type"] == "AWS::SSM::Parameter"]
    tier = parameter["Properties"]["Tier"]
    policies = " ".join((ROOT / "docs" / "policies.md").read_text().split())
    assert f"The template creates the parameter with `Tier: {tier}`" in policies


def test_the_command_line_sends_a_user_agent_of_its_own(aws, monkeypatch):
    import boto3
    from vpce_remediator import CLI_USER_AGENT, USER_AGENT
    from vpce_remediator.cli import JsonLines
    from vpce_remediator.config import Settings
    from vpce_remediator.runtime import cli_dependencies, lambda_dependencies

    from tests.emulation.lambda_runtime import Stack

    environment = Stack().environment("ReconcilerFunction")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env(environment)
    deps = cli_dependencies(settings, JsonLines(io.StringIO(), 20), boto3.session.Session(region_name="eu-west-1"))
    assert deps.ec2.meta.config.user_agent_extra == CLI_USER_AGENT
    assert lambda_dependencies().ec2.meta.config.user_agent_extra == USER_AGENT
