"""AWS Config, as far as a custom Lambda rule meets it, where moto stops short.

moto's Config backend keeps rules but never invokes them, takes PutEvaluations only in TestMode (and keeps
no results), and has no GetComplianceDetailsByConfigRule. ``emulate(template)`` plays Config's part for the
template's AWS::Config::ConfigRule resources. Each ``Rule`` makes the events Config would invoke its
function with, from the sample events in events/ (the documented shapes): a subnet's configuration item,
read from the emulated EC2 as Config records it (or only its summary, when oversized; no configuration once
deleted), and the periodic notification, each with a result token of its own. It takes what PutEvaluations
delivers with those tokens, keeps the latest result per resource, and answers GetComplianceDetailsByConfigRule
from them, a page at a time.

What Config refuses is refused with its codes (the API reference's limits):

- PutEvaluations: a token Config did not issue (InvalidResultTokenException); more than 100 evaluations, an
  annotation over 256 characters (ValidationException); INSUFFICIENT_DATA (InvalidParameterValueException).
- GetComplianceDetailsByConfigRule: a rule it does not have (NoSuchConfigRuleException), a page over 100
  (ValidationException), a NextToken it did not give (InvalidNextTokenException); without Limit, 10 a page.

A resource's evaluation whose OrderingTimestamp is older than the result held for it does not replace it
(Config orders a resource's evaluations by it). Every evaluation accepted is counted in ``Rule.puts``: Config
bills each one. ``ConfigService.refuse_next`` makes the next PutEvaluations hand its evaluations back as
FailedEvaluations, as Config may.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.config.exceptions import (
    InvalidNextTokenException,
    InvalidParameterValueException,
    InvalidResultTokenException,
    NoSuchConfigRuleException,
    ValidationException,
)
from moto.config.models import ConfigBackend
from moto.config.responses import ConfigResponse

from tests.emulation.account import load_event

ACCOUNT = "123456789012"
SUBNET_TYPE = "AWS::EC2::Subnet"
PUT_LIMIT, PAGE_LIMIT, DEFAULT_PAGE, ANNOTATION_LIMIT = 100, 100, 10, 256
ACCEPTED = frozenset({"COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"})
# The top-level fields of a configuration item that its summary (an oversized item's) keeps.
SUMMARY_FIELDS = (
    "configurationItemVersion",
    "configurationItemCaptureTime",
    "configurationStateId",
    "awsAccountId",
    "configurationItemStatus",
    "resourceType",
    "resourceId",
    "resourceName",
    "ARN",
    "awsRegion",
    "availabilityZone",
    "configurationStateMd5Hash",
    "resourceCreationTime",
)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Result:
    resource_type: str
    resource_id: str
    compliance: str
    annotation: str | None
    ordering: float
    recorded: float


@dataclass
class Rule:
    """One Config rule: its definition from the template, the tokens it issued and the results it holds."""

    name: str
    function_id: str
    resource_types: tuple[str, ...]
    message_types: frozenset[str]
    frequency: str | None
    region: str = "eu-west-1"
    id: str = field(default_factory=lambda: f"config-rule-{uuid.uuid4().hex[:6]}")
    results: dict[tuple[str, str], Result] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    puts: list[int] = field(default_factory=list)  # evaluations accepted, per PutEvaluations call

    @property
    def arn(self) -> str:
        return f"arn:aws:config:{self.region}:{ACCOUNT}:config-rule/{self.id}"

    # --- what Config sends ---------------------------------------------------------------------------

    def change(self, ec2: Any, subnet_id: str, status: str = "OK", oversized: bool = False, left_scope: bool = False) -> dict:
        """The event of a subnet's configuration change, as Config records the subnet now (``status``
        ResourceDeleted and the like: the item of a subnet that is gone, without configuration)."""
        message_type = "OversizedConfigurationItemChangeNotification" if oversized else "ConfigurationItemChangeNotification"
        assert message_type in self.message_types and SUBNET_TYPE in self.resource_types, "the rule does not subscribe to it"
        event = load_event("config_rule_subnet_change.json")
        invoking = json.loads(event["invokingEvent"])
        item = _subnet_item(invoking["configurationItem"], ec2, subnet_id, status, self.region)
        if oversized:
            invoking = load_invoking("config_rule_subnet_oversized.json")
            invoking["configurationItemSummary"] = {"changeType": "UPDATE", **{k: item.get(k) for k in SUMMARY_FIELDS}}
        else:
            invoking["configurationItem"] = item
        invoking["notificationCreationTime"] = _iso(time.time())
        return self._event(event, invoking, left_scope)

    def periodic(self) -> dict:
        """The event of the rule's periodic run, triggered now."""
        assert "ScheduledNotification" in self.message_types and self.frequency, "the rule has no periodic trigger"
        event = load_event("config_rule_scheduled.json")
        invoking = json.loads(event["invokingEvent"])
        invoking["notificationCreationTime"] = _iso(time.time())
        return self._event(event, invoking, False)

    def _event(self, event: dict, invoking: dict, left_scope: bool) -> dict:
        token = f"emulated-{uuid.uuid4().hex}"
        self.tokens.add(token)
        return {
            **event,
            "invokingEvent": json.dumps(invoking),
            "resultToken": token,
            "eventLeftScope": left_scope,
            "configRuleName": self.name,
            "configRuleId": self.id,
            "configRuleArn": self.arn,
            "accountId": ACCOUNT,
        }

    # --- what it holds -------------------------------------------------------------------------------

    def compliance(self, resource_type: str = SUBNET_TYPE) -> dict[str, str]:
        """Resource id -> ComplianceType of every result the rule holds for that type."""
        return {r.resource_id: r.compliance for (kind, _), r in sorted(self.results.items()) if kind == resource_type}

    def annotation(self, resource_id: str, resource_type: str = SUBNET_TYPE) -> str | None:
        return self.results[resource_type, resource_id].annotation

    def accept(self, evaluations: list[dict[str, Any]]) -> None:
        now = time.time()
        for e in evaluations:
            key = (e["ComplianceResourceType"], e["ComplianceResourceId"])
            ordering = float(e["OrderingTimestamp"])
            held = self.results.get(key)
            if held is None or ordering >= held.ordering:
                self.results[key] = Result(*key, e["ComplianceType"], e.get("Annotation"), ordering, now)
        self.puts.append(len(evaluations))

    def page(self, compliance_types: list[str] | None, limit: int | None, next_token: str | None) -> dict[str, Any]:
        if limit is not None and limit > PAGE_LIMIT:
            raise ValidationException(f"Value '{limit}' at 'limit' failed to satisfy constraint: Member must be <= 100")
        size = limit or DEFAULT_PAGE
        wanted = [r for _, r in sorted(self.results.items()) if not compliance_types or r.compliance in compliance_types]
        start = 0
        if next_token is not None:
            if not next_token.startswith(f"{self.id}/") or not next_token.split("/", 1)[1].isdigit():
                raise InvalidNextTokenException()
            start = int(next_token.split("/", 1)[1])
        results = [
            {
                "EvaluationResultIdentifier": {
                    "EvaluationResultQualifier": {
                        "ConfigRuleName": self.name,
                        "ResourceType": r.resource_type,
                        "ResourceId": r.resource_id,
                        "EvaluationMode": "DETECTIVE",
                    },
                    "OrderingTimestamp": r.ordering,
                },
                "ComplianceType": r.compliance,
                "ResultRecordedTime": r.recorded,
                "ConfigRuleInvokedTime": r.recorded,
                **({"Annotation": r.annotation} if r.annotation else {}),
            }
            for r in wanted[start : start + size]
        ]
        more = start + size < len(wanted)
        return {"EvaluationResults": results, **({"NextToken": f"{self.id}/{start + size}"} if more else {})}


def load_invoking(name: str) -> dict[str, Any]:
    return json.loads(load_event(name)["invokingEvent"])


def _subnet_item(sample: dict[str, Any], ec2: Any, subnet_id: str, status: str, region: str) -> dict[str, Any]:
    item = copy.deepcopy(sample)
    now = time.time()
    item.update(
        resourceId=subnet_id,
        ARN=f"arn:aws:ec2:{region}:{ACCOUNT}:subnet/{subnet_id}",
        awsRegion=region,
        configurationItemStatus=status,
        configurationItemCaptureTime=_iso(now),
        configurationStateId=int(now * 1000),
    )
    if status not in ("OK", "ResourceDiscovered"):
        # A deleted or unrecorded resource's item carries no configuration, tags or relationships.
        item.update(configuration=None, tags={}, relationships=[], supplementaryConfiguration={})
        return item
    (subnet,) = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"]
    tags = {t["Key"]: t["Value"] for t in subnet.get("Tags", [])}
    item["tags"] = tags
    item["availabilityZone"] = subnet["AvailabilityZone"]
    item["relationships"] = [r for r in item["relationships"] if r["resourceType"] != "AWS::EC2::VPC"] + [
        {"resourceId": subnet["VpcId"], "resourceName": None, "resourceType": "AWS::EC2::VPC", "name": "Is contained in Vpc"}
    ]
    item["configuration"] = {
        **item["configuration"],
        "subnetId": subnet_id,
        "vpcId": subnet["VpcId"],
        "availabilityZone": subnet["AvailabilityZone"],
        "cidrBlock": subnet["CidrBlock"],
        "availableIpAddressCount": subnet["AvailableIpAddressCount"],
        "state": subnet["State"],
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
        "subnetArn": item["ARN"],
    }
    return item


@dataclass
class ConfigService:
    rules: dict[str, Rule] = field(default_factory=dict)
    refuse_next: bool = False

    def rule(self, name: str | None = None) -> Rule:
        """The named rule, or the one the template defines."""
        if name is None:
            (only,) = self.rules.values()
            return only
        return self.rules[name]

    def by_token(self, token: str | None) -> Rule:
        for rule in self.rules.values():
            if token in rule.tokens:
                return rule
        raise InvalidResultTokenException()

    def put(self, evaluations: list[dict[str, Any]] | None, token: str | None) -> dict[str, Any]:
        rule = self.by_token(token)
        evaluations = evaluations or []
        if len(evaluations) > PUT_LIMIT:
            raise ValidationException(
                f"1 validation error detected: Value at 'evaluations' failed to satisfy constraint: "
                f"Member must have length less than or equal to {PUT_LIMIT}"
            )
        for e in evaluations:
            if e.get("ComplianceType") not in ACCEPTED:
                raise InvalidParameterValueException(f"ComplianceType {e.get('ComplianceType')} cannot be put by a rule")
            if len(e.get("Annotation") or "") > ANNOTATION_LIMIT:
                raise ValidationException(
                    "1 validation error detected: Value at 'evaluations.member.annotation' failed to satisfy "
                    f"constraint: Member must have length less than or equal to {ANNOTATION_LIMIT}"
                )
        if self.refuse_next:
            self.refuse_next = False
            return {"FailedEvaluations": evaluations}
        rule.accept(evaluations)
        return {"FailedEvaluations": []}

    def details(self, name: str, compliance_types: list[str] | None, limit: int | None, token: str | None) -> dict[str, Any]:
        if name not in self.rules:
            raise NoSuchConfigRuleException(name)
        return self.rules[name].page(compliance_types, limit, token)


def rules_of(template: dict[str, Any]) -> dict[str, Rule]:
    """The AWS::Config::ConfigRule resources of a (deployed) template, as Config would hold them."""
    rules = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Config::ConfigRule":
            continue
        properties = resource["Properties"]
        source = properties["Source"]
        details = source.get("SourceDetails", [])
        rule = Rule(
            name=properties["ConfigRuleName"],
            function_id=source["SourceIdentifier"]["Fn::GetAtt"][0],
            resource_types=tuple(properties.get("Scope", {}).get("ComplianceResourceTypes", ())),
            message_types=frozenset(d["MessageType"] for d in details),
            frequency=next((d["MaximumExecutionFrequency"] for d in details if d.get("MaximumExecutionFrequency")), None),
        )
        rules[rule.name] = rule
    return rules


@contextlib.contextmanager
def emulate(template: dict[str, Any]) -> Iterator[ConfigService]:
    """Inside mock_aws(): the template's Config rules, PutEvaluations that keeps results, and
    GetComplianceDetailsByConfigRule."""
    service = ConfigService(rules_of(template))
    original = ConfigBackend.put_evaluations

    def put_evaluations(backend: ConfigBackend, evaluations: Any = None, result_token: Any = None, test_mode: Any = False) -> Any:
        if test_mode:
            return original(backend, evaluations, result_token, test_mode)
        return service.put(evaluations, result_token)

    def get_compliance_details_by_config_rule(response: ConfigResponse) -> str:
        limit = response._get_param("Limit")
        return json.dumps(
            service.details(
                response._get_param("ConfigRuleName"),
                response._get_param("ComplianceTypes"),
                int(limit) if limit is not None else None,
                response._get_param("NextToken"),
            )
        )

    ConfigBackend.put_evaluations = put_evaluations  # type: ignore[method-assign,assignment]
    ConfigResponse.get_compliance_details_by_config_rule = get_compliance_details_by_config_rule  # type: ignore[attr-defined]
    try:
        yield service
    finally:
        ConfigBackend.put_evaluations = original  # type: ignore[method-assign]
        del ConfigResponse.get_compliance_details_by_config_rule  # type: ignore[attr-defined]
