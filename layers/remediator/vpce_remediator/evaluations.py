"""AWS Config, for the rule: what it reported before (GetComplianceDetailsByConfigRule, 100 results a page)
and its new evaluations (PutEvaluations, at most 100 a call). The only module that calls Config."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from vpce_remediator.compliance import Evaluation
from vpce_remediator.errors import EvaluationsRefused, InvalidEvent
from vpce_remediator.rule_events import SUBNET_TYPE
from vpce_remediator.vocabulary import Compliance

# The IAM actions below; the template test holds the rule's role to them.
PUT_PERMISSIONS = ("config:PutEvaluations",)
READ_PERMISSIONS = ("config:GetComplianceDetailsByConfigRule",)
_PAGE = 100  # the largest page GetComplianceDetailsByConfigRule gives (its default is 10)
_BATCH = 100  # the most evaluations one PutEvaluations takes
# Config's answers to an event it did not send (a made-up invoke, or a token that has expired): no retry helps.
_NOT_CONFIGS = frozenset({"NoSuchConfigRuleException", "InvalidResultTokenException"})


@contextlib.contextmanager
def _from_config() -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _NOT_CONFIGS:
            raise InvalidEvent(f"AWS Config does not know the rule or the result token ({code})") from exc
        raise


def reported(config: Any, rule_name: str) -> dict[str, tuple[Compliance, str]]:
    """Subnet id -> (verdict, annotation) of every subnet the rule holds a result for."""
    found: dict[str, tuple[Compliance, str]] = {}
    pages = config.get_paginator("get_compliance_details_by_config_rule").paginate(
        # Asked for by name, NOT_APPLICABLE included: a subnet reported so is reported too.
        ConfigRuleName=rule_name,
        ComplianceTypes=[c.value for c in Compliance],
        PaginationConfig={"PageSize": _PAGE},
    )
    with _from_config():
        for page in pages:
            for result in page.get("EvaluationResults", []):
                qualifier = result.get("EvaluationResultIdentifier", {}).get("EvaluationResultQualifier", {})
                compliance = Compliance._value2member_map_.get(result.get("ComplianceType", ""))
                if qualifier.get("ResourceType") == SUBNET_TYPE and isinstance(compliance, Compliance):
                    found[qualifier["ResourceId"]] = (compliance, result.get("Annotation", ""))
    return found


def put(config: Any, result_token: str, evaluations: Sequence[Evaluation], ordering_time: float) -> int:
    """Puts the evaluations, 100 a call (none: no call); returns how many. Raises EvaluationsRefused when
    Config refuses any, so the invocation is retried; InvalidEvent when the token is not Config's."""
    when = datetime.fromtimestamp(ordering_time, UTC)
    entries = [
        {
            "ComplianceResourceType": SUBNET_TYPE,
            "ComplianceResourceId": e.subnet_id,
            "ComplianceType": e.compliance.value,
            "OrderingTimestamp": when,
            **({"Annotation": e.annotation} if e.annotation else {}),
        }
        for e in evaluations
    ]
    failed = 0
    for start in range(0, len(entries), _BATCH):
        with _from_config():
            response = config.put_evaluations(Evaluations=entries[start : start + _BATCH], ResultToken=result_token)
        failed += len(response.get("FailedEvaluations", []))
    if failed:
        raise EvaluationsRefused(failed, len(entries))
    return len(entries)
