"""The conflict loop: apply a VPC's plan; when another writer got there first, read the VPC again and
plan again, until nothing conflicts.

Concurrent runs are made safe by EC2's own uniqueness rules (one create per endpoint identity through
its ClientToken, one security group name per VPC, one subnet per AZ, one gateway endpoint per route
table and service): the loser of a race sees a conflict and converges on what the winner made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vpce_remediator.actions import CreateGatewayEndpoint, CreateInterfaceEndpoint
from vpce_remediator.apply import apply_actions
from vpce_remediator.config import Mode
from vpce_remediator.dependencies import Dependencies, Summary
from vpce_remediator.plan import Plan
from vpce_remediator.records import log_records
from vpce_remediator.vocabulary import Outcome

# Re-reads after a conflict. Each conflict means another writer added something the plan needed, so
# a run can lose at most once per resource it wants (five endpoints and a group by default): eight
# rounds cover the default policy under any interleaving; beyond that the retry starts over.
MAX_ATTEMPTS = 8


def converge(plan: Plan, deps: Dependencies, replan: Callable[[str], Plan], summary: Summary, context: Mapping[str, Any]) -> None:
    """Applies ``plan`` and adds what happened to ``summary``; ``replan`` reads and plans the VPC again."""
    settings = deps.settings
    stale: set[str] = set()
    conflicts = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        changes = apply_actions(deps.ec2, plan.actions, settings.mode is Mode.REPORT, frozenset(stale))
        findings = plan.findings if attempt == 1 else ()  # decisions describe the first read only
        summary.records += log_records(
            deps.logger, findings, changes, settings.mode.value, attempt, settings.endpoint_az_hour_usd, context
        )
        summary.findings.update(f.status for f in findings)
        summary.changes.update(c.result for c in changes if c.result != Outcome.CONFLICT)
        summary.failures += [f"{c.action.kind} in {plan.vpc_id}: {c.error_code}" for c in changes if c.result == Outcome.FAILED]
        conflicts = [c for c in changes if c.result == Outcome.CONFLICT]
        if (plan.awaiting_ec2 or any(c.result == Outcome.KEPT for c in changes)) and plan.vpc_id not in summary.awaiting:
            summary.awaiting.append(plan.vpc_id)
        if not conflicts:
            return
        # A token EC2 remembers for an endpoint that is gone: the next create uses one of its inputs.
        stale |= {
            c.action.client_token
            for c in conflicts
            if isinstance(c.action, CreateGatewayEndpoint | CreateInterfaceEndpoint)
            and c.error_code == "IdempotentParameterMismatch"
        }
        plan = replan(plan.vpc_id)
    summary.failures += [f"{c.action.kind} in {plan.vpc_id}: still conflicting after {MAX_ATTEMPTS} attempts" for c in conflicts]
