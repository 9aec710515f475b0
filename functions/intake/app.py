"""Intake: queues each CloudTrail EC2 call that can change what a subnet needs (the triggers in
vpce_remediator/triggers.py; rules in template.yaml) in the settle window of every VPC it touches."""

from vpce_remediator.observability import lambda_entry
from vpce_remediator.reconcile import handle_event

handler = lambda_entry(handle_event)
