"""Reconciles every VPC in the Region that has opted-in subnets, on a schedule (see template.yaml)."""

from vpce_remediator.observability import lambda_entry
from vpce_remediator.reconcile import handle_sweep

handler = lambda_entry(handle_sweep)
