"""vpce-remediator: keeps opted-in private subnets supplied with the VPC endpoints their policy requires.

The package is layered so that only ``snapshot`` (reads) and ``apply`` (writes) touch boto3:

    events -> targets -> snapshot -> plan (pure) -> apply -> report
"""

MANAGED_BY_KEY = "managed-by"
MANAGED_BY_VALUE = "vpce-remediator"
# Sent as botocore's user_agent_extra: CloudTrail records it, so readers can tell the functions' calls (and
# the command line's, which run as whoever runs it) apart. Own calls are known by role, never by this.
USER_AGENT = "vpce-remediator"
CLI_USER_AGENT = "vpce-remediator-cli"
