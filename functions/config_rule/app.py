"""Evaluates opted-in subnets for AWS Config (the custom Lambda rule in template.yaml, ConfigRule=on): one
evaluation per subnet, from the same plan a reconcile makes. Reads only; never writes to EC2."""

from vpce_remediator.observability import lambda_entry
from vpce_remediator.reconcile import handle_config_rule

handler = lambda_entry(handle_config_rule)
