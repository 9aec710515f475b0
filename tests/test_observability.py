"""What operators review: log records valid against docs/log-schema.json, EMF metrics with few
dimensions, change events on the default bus, cost fields, and tracing paid for only when on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from jsonschema import Draft202012Validator
from vpce_remediator.telemetry import EVENT_DETAIL_TYPE, EVENT_SOURCE, METRICS, NAMESPACE

from tests.emulation.account import ROOT, Vpc, load_event, sample_event
from tests.emulation.bus import ChangeEvents
from tests.emulation.lambda_runtime import Stack

SCHEMA = Draft202012Validator(json.loads((ROOT / "docs" / "log-schema.json").read_text()))


@pytest.fixture
def scenario(vpc: Vpc) -> Vpc:
    vpc.mixed_layout().subnet("odd", "eu-west-1c", policy="platinum")
    return vpc


def run_everything(scenario: Vpc, stack: Stack, ec2) -> None:
    """The demo's paths: creation, a redelivery, drift, report mode, a malformed and an ignored event."""
    stack.publish(scenario.subnet_event("app-a"))
    stack.publish(scenario.subnet_event("app-a"))
    gone = next(e["VpcEndpointId"] for e in scenario.endpoints("ssm"))
    ec2.delete_vpc_endpoints(VpcEndpointIds=[gone])
    stack.publish(sample_event("delete_vpc_endpoints.json", endpoint=gone))
    stack.invoke("SweepFunction", load_event("scheduled_sweep.json"))
    stack.invoke("IntakeFunction", {"detail-type": "AWS API Call via CloudTrail", "detail": []})
    stack.invoke("IntakeFunction", load_event("create_subnet_failed.json"))
    Stack(parameters={"Mode": "report"}).provision().publish(scenario.route_table_event("public"))


def test_every_record_of_the_demo_paths_is_valid_against_the_documented_schema(scenario, stack, ec2, logs):
    run_everything(scenario, stack, ec2)
    kinds = {(r.get("record"), r["message"]) for r in logs.records}
    assert {("decision", "decision"), ("change", "change"), ("summary", "summary"), ("summary", "invalid event")} <= kinds
    errors = [(r, e.message) for r in logs.records for e in SCHEMA.iter_errors(r)]
    assert errors == []


def test_the_schema_refuses_an_undocumented_field():
    assert list(
        SCHEMA.iter_errors(
            {
                "level": "INFO",
                "message": "change",
                "timestamp": "t",
                "service": "vpce-remediator",
                "record": "change",
                "colour": "red",
            }
        )
    )


def test_changes_record_their_principal_trigger_and_cost(scenario, stack, logs):
    event = scenario.subnet_event("app-a")
    stack.publish(event)
    creates = [r for r in logs.of("change") if r["action"] == "create_interface_endpoint"]
    assert len(creates) == 3
    for r in creates:
        assert r["principal_arn"] == event["detail"]["userIdentity"]["arn"]
        assert r["event_name"] == "CreateSubnet" and r["correlation_id"] == event["detail"]["eventID"]
        # two AZs, one ENI each, at the template's default price basis
        assert (r["endpoint_az_hours_added"], r["price_per_endpoint_az_hour_usd"], r["estimated_monthly_usd_added"]) == (
            2,
            0.01,
            14.6,
        )
    gateway = [r for r in logs.of("change") if r["action"] == "create_gateway_endpoint"]
    assert gateway and all("endpoint_az_hours_added" not in r for r in gateway)


def emf(out: str) -> list[dict]:
    return [doc for doc in (json.loads(line) for line in out.splitlines() if line.startswith("{")) if "_aws" in doc]


def test_metrics_count_remediations_by_action_and_service_with_few_dimensions(scenario, stack, capsys):
    stack.publish(scenario.subnet_event("app-a"))
    stack.invoke("IntakeFunction", [])
    stack.invoke("SweepFunction", load_event("scheduled_sweep.json"))
    metrics = emf(capsys.readouterr().out)
    values: dict[tuple[str, str], float] = {}
    for doc in metrics:
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        (dimensions,) = directive["Dimensions"]
        assert len(dimensions) <= 2  # service plus at most one more
        for metric in directive["Metrics"]:
            name = metric["Name"]
            assert name in METRICS and metric["Unit"] == METRICS[name][0]
            key = METRICS[name][1]
            value = doc[name]  # Powertools writes a list of values
            values[(name, doc.get(key, "") if key else "")] = sum(value) if isinstance(value, list) else value
    assert values[("Remediations", "create_interface_endpoint")] == 3
    assert values[("Remediations", "create_gateway_endpoint")] == 2
    assert values[("EndpointChanges", "ssm")] == 1
    assert values[("NoncompliantFindings", "")] == 10
    assert values[("Errors", "InvalidEvent")] == 1
    assert ("SweepDuration", "") in values


def test_each_change_is_published_on_the_default_bus(scenario, stack, logs):
    bus = ChangeEvents()
    stack.publish(scenario.subnet_event("app-a"))
    events = bus.received()
    assert {e["source"] for e in events} == {EVENT_SOURCE} and {e["detail-type"] for e in events} == {EVENT_DETAIL_TYPE}
    details = [e["detail"] for e in events]
    assert sorted(d["action"] for d in details) == sorted(
        ["create_gateway_endpoint"] * 2 + ["create_security_group"] + ["create_interface_endpoint"] * 3
    )
    assert all(d["vpc_id"] == scenario.id and d["mode"] == "remediate" and d["outcome"] == "created" for d in details)
    assert logs.of("summary")[-1]["events_published"] == 6
    # nothing changes on a redelivery, so nothing is published
    stack.publish(scenario.subnet_event("app-a"))
    assert bus.received() == []


def test_report_mode_publishes_nothing(scenario, logs):
    bus = ChangeEvents()
    Stack(parameters={"Mode": "report"}).provision().publish(scenario.subnet_event("app-a"))
    assert bus.received() == [] and logs.of("summary")[-1]["events_published"] == 0


PROBE = """
import os, sys
os.environ["POWERTOOLS_TRACE_DISABLED"] = sys.argv[1]
from vpce_remediator.observability import lambda_handler
class Context:
    function_name = "f"; memory_limit_in_mb = 128; aws_request_id = "r"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:f"
print(lambda_handler(lambda event, context: "ran")({}, Context()), "aws_xray_sdk" in sys.modules)
"""


@pytest.mark.parametrize(("disabled", "imported"), [("true", False), ("false", True)])
def test_the_xray_sdk_is_imported_only_when_tracing_is_on(disabled, imported):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, disabled],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT / "layers" / "remediator"), "PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "eu-west-1"},
    )
    assert result.stdout.split()[-2:] == ["ran", str(imported)]
