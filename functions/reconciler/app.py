"""Reconciles each VPC once its settle window closes: a batch of the settle queue (SQS FIFO, one
message group per VPC), answered with a partial batch response (see template.yaml)."""

from vpce_remediator.observability import lambda_entry
from vpce_remediator.reconcile import handle_settled

handler = lambda_entry(handle_settled)
