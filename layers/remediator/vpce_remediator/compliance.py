"""AWS Config's view of a plan: one verdict per subnet, from the findings a reconcile acts on and the audit
prints. Pure: plans in, evaluations out.

A subnet is NON_COMPLIANT when a required endpoint is missing (what a reconcile would add), when its policy
is not defined, when an endpoint has private DNS off or a hub's zone is missing (not reachable), or when a
security group of the remediator's name is someone else's or holds rules it never writes, so it cannot add
interface endpoints; NOT_APPLICABLE when it is not the remediator's to serve (not opted in, public, no route
table, leaving, gone); COMPLIANT when every required service is served (in the VPC or by a hub) or AWS does not offer it there (in
the Region, or in the subnet's AZ). The audit CLI's exit code is this verdict too (cli.exit_code).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from vpce_remediator.plan import Finding, Plan
from vpce_remediator.vocabulary import Compliance, Reason

# Config's limit on an evaluation's annotation.
ANNOTATION_LIMIT = 256

# The verdict each reason a finding can carry leads to (NOT_NEEDED is a release's, never a finding's).
VERDICTS: dict[Reason, Compliance] = {
    Reason.ROUTE_TABLE_ASSOCIATED: Compliance.COMPLIANT,
    Reason.AZ_SERVED: Compliance.COMPLIANT,
    Reason.SERVED_CENTRALLY: Compliance.COMPLIANT,
    # Nothing to add where AWS does not offer the service; with private DNS, an endpoint's ENIs in the
    # VPC's other AZs still serve the subnet.
    Reason.SERVICE_UNAVAILABLE: Compliance.COMPLIANT,
    Reason.SERVICE_NOT_IN_AZ: Compliance.COMPLIANT,
    Reason.NO_ENDPOINT: Compliance.NON_COMPLIANT,
    Reason.ROUTE_TABLE_MISSING: Compliance.NON_COMPLIANT,
    Reason.AZ_MISSING: Compliance.NON_COMPLIANT,
    Reason.ENDPOINT_DELETED: Compliance.NON_COMPLIANT,
    # Not reachable: the SDKs in the VPC keep resolving the service's public name.
    Reason.ENDPOINT_PRIVATE_DNS_OFF: Compliance.NON_COMPLIANT,
    Reason.CENTRAL_MISSING: Compliance.NON_COMPLIANT,
    # A tag naming no policy is a gap the audit gate fails on too: the subnet asked for endpoints.
    Reason.UNKNOWN_POLICY: Compliance.NON_COMPLIANT,
    # Skipped by the plan, but not served, and only a person can fix it.
    Reason.GROUP_NAME_TAKEN: Compliance.NON_COMPLIANT,
    Reason.GROUP_UNTRUSTED: Compliance.NON_COMPLIANT,
    Reason.NOT_OPTED_IN: Compliance.NOT_APPLICABLE,
    Reason.PUBLIC_SUBNET: Compliance.NOT_APPLICABLE,
    Reason.NO_ROUTE_TABLE: Compliance.NOT_APPLICABLE,
    Reason.SUBNET_LEAVING: Compliance.NOT_APPLICABLE,
    Reason.SUBNET_GONE: Compliance.NOT_APPLICABLE,
    Reason.OUT_OF_SCOPE: Compliance.NOT_APPLICABLE,
}
# What each verdict's annotation lists, besides the reasons of the subnet itself.
_SERVED = frozenset({Reason.ROUTE_TABLE_ASSOCIATED, Reason.AZ_SERVED, Reason.SERVED_CENTRALLY})
_LEAD = {Compliance.NON_COMPLIANT: "missing ", Compliance.COMPLIANT: "not offered here: ", Compliance.NOT_APPLICABLE: ""}


@dataclass(frozen=True)
class Evaluation:
    subnet_id: str
    compliance: Compliance
    annotation: str = ""  # empty: none (Config refuses an empty one)
    vpc_id: str | None = None

    @property
    def reported_as(self) -> tuple[Compliance, str]:
        """What Config holds for the subnet once this is put: a result to compare the next run with."""
        return self.compliance, self.annotation


def evaluate(plans: Iterable[Plan]) -> dict[str, Evaluation]:
    """Every subnet the plans found anything about (their VPCs' every subnet), by id."""
    findings: dict[str, list[Finding]] = defaultdict(list)
    for plan in plans:
        for finding in plan.findings:
            findings[finding.subnet_id].append(finding)
    return {subnet_id: verdict(subnet_id, found) for subnet_id, found in sorted(findings.items())}


def verdict(subnet_id: str, findings: Sequence[Finding]) -> Evaluation:
    """One subnet's findings (one about the subnet, or one per required service) as one evaluation: any gap
    makes it NON_COMPLIANT."""
    if not findings:
        return gone(subnet_id)
    verdicts = {VERDICTS[f.reason] for f in findings}
    compliance = next(c for c in (Compliance.NON_COMPLIANT, Compliance.NOT_APPLICABLE, Compliance.COMPLIANT) if c in verdicts)
    listed = [f for f in findings if VERDICTS[f.reason] is compliance and f.reason not in _SERVED]
    parts = [f"policy {f.policy!r} is not defined ({f.reason})" for f in listed if f.reason == Reason.UNKNOWN_POLICY]
    by_reason: dict[str, list[str]] = defaultdict(list)
    for f in listed:
        if f.reason != Reason.UNKNOWN_POLICY:
            by_reason[f.reason].append(f.service or "")
    if by_reason:
        parts.append(_LEAD[compliance] + "; ".join(_group(reason, services) for reason, services in by_reason.items()))
    return Evaluation(subnet_id, compliance, _fit("; ".join(parts)), findings[0].vpc_id)


def gone(subnet_id: str, reason: Reason = Reason.SUBNET_GONE) -> Evaluation:
    """A subnet there is nothing to read about: deleted, unrecorded, out of scope."""
    return Evaluation(subnet_id, VERDICTS[reason], str(reason))


def to_put(current: Mapping[str, Evaluation], reported: Mapping[str, tuple[Compliance, str]]) -> list[Evaluation]:
    """A periodic run's evaluations: each subnet whose verdict differs from the one the rule last reported
    (or that it never reported), and each subnet it reported that no VPC holds any more, as gone. The rest
    are left as Config holds them: every evaluation put is billed."""
    puts = [e for subnet_id, e in current.items() if reported.get(subnet_id) != e.reported_as]
    for subnet_id in sorted(set(reported) - set(current)):
        missing = gone(subnet_id)
        if reported[subnet_id] != missing.reported_as:
            puts.append(missing)
    return puts


def _group(reason: str, services: list[str]) -> str:
    names = ", ".join(dict.fromkeys(s for s in services if s))
    return f"{names} ({reason})" if names else reason


def _fit(annotation: str) -> str:
    return annotation if len(annotation) <= ANNOTATION_LIMIT else annotation[: ANNOTATION_LIMIT - 3] + "..."
