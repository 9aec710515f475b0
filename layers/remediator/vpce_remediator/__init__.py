"""vpce-remediator: keeps opted-in private subnets supplied with the VPC endpoints their policy requires.

The package is layered so that only ``snapshot`` (reads) and ``apply`` (writes) touch boto3:

    events -> targets -> snapshot -> plan (pure) -> apply -> report
"""

MANAGED_BY_KEY = "managed-by"
MANAGED_BY_VALUE = "vpce-remediator"
# Sent as botocore's user_agent_extra: CloudTrail records it, so our own calls are recognisable.
USER_AGENT = "vpce-remediator"
