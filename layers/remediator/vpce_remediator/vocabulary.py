"""The words the remediator says: stable strings operators filter logs on, one definition each.

Pure: no AWS SDK, no environment. Every module compares and logs these members, never a literal.
"""

from __future__ import annotations

from enum import StrEnum


class EndpointType(StrEnum):
    """The endpoint types the remediator plans for (EC2's VpcEndpointType values)."""

    GATEWAY = "Gateway"
    INTERFACE = "Interface"


class EndpointState(StrEnum):
    """Every state EC2's model lists for a VPC endpoint (lower case: EC2 answers in camel case)."""

    PENDING_ACCEPTANCE = "pendingacceptance"
    PENDING = "pending"
    AVAILABLE = "available"
    # Some of its network interfaces could not be made; the rest serve, and it holds its AZs and its
    # private DNS name like an available one, so a second endpoint for the service would be refused.
    PARTIAL = "partial"
    DELETING = "deleting"
    DELETED = "deleted"
    REJECTED = "rejected"
    FAILED = "failed"
    EXPIRED = "expired"

    @classmethod
    def is_live(cls, state: str) -> bool:
        """Whether an endpoint in ``state`` serves (or is about to serve) traffic. A state EC2 adds later
        counts as live: a duplicate endpoint is worse than a late one."""
        return state.lower() not in GONE_STATES


LIVE_STATES = frozenset({EndpointState.PENDING_ACCEPTANCE, EndpointState.PENDING, EndpointState.AVAILABLE, EndpointState.PARTIAL})
GONE_STATES = frozenset(
    {EndpointState.DELETING, EndpointState.DELETED, EndpointState.REJECTED, EndpointState.FAILED, EndpointState.EXPIRED}
)


class Status(StrEnum):
    """A finding's verdict on one subnet (and service)."""

    COMPLIANT = "compliant"
    NONCOMPLIANT = "noncompliant"
    SKIPPED = "skipped"


class Reason(StrEnum):
    """Why a finding is what it is."""

    NOT_OPTED_IN = "not_opted_in"
    UNKNOWN_POLICY = "unknown_policy"
    PUBLIC_SUBNET = "public_subnet"
    NO_ROUTE_TABLE = "no_route_table"
    SERVICE_UNAVAILABLE = "service_not_in_region"
    SERVICE_NOT_IN_AZ = "service_not_offered_in_az"
    GROUP_NAME_TAKEN = "security_group_name_taken_by_another_owner"
    # A group with our name and tag whose ingress holds rules the remediator never writes: not used.
    GROUP_UNTRUSTED = "security_group_untrusted"
    ROUTE_TABLE_ASSOCIATED = "route_table_associated"
    AZ_SERVED = "az_served"
    NO_ENDPOINT = "no_endpoint"
    ROUTE_TABLE_MISSING = "route_table_not_associated"
    AZ_MISSING = "az_not_served"
    ENDPOINT_DELETED = "endpoint_deleted"
    # Served means reachable: the VPC's endpoint for the service has private DNS off, so the SDKs in the
    # VPC keep resolving the service's public name.
    ENDPOINT_PRIVATE_DNS_OFF = "endpoint_private_dns_off"
    # A private hosted zone of the service's DNS name is associated with the VPC: a hub VPC serves it.
    SERVED_CENTRALLY = "served_centrally"
    # The policy says the service comes from a hub (central: true), and no hub zone is associated.
    CENTRAL_MISSING = "central_endpoint_missing"
    # A subnet whose DeleteSubnet EC2 refused (DependencyViolation): on its way out, so nothing is added
    # to it, and an ENI of the remediator's in it is moved or released so the retried delete succeeds.
    SUBNET_LEAVING = "subnet_leaving"
    # Why something the remediator made is released: no opted-in private subnet needs it any more.
    NOT_NEEDED = "no_opted_in_subnet_needs_it"
    # Why the Config rule finds a subnet NOT_APPLICABLE without planning it: deleted (or no longer recorded),
    # or taken out of the rule's scope.
    SUBNET_GONE = "subnet_gone"
    OUT_OF_SCOPE = "left_the_rules_scope"


class Compliance(StrEnum):
    """A Config evaluation's verdict on a subnet (Config's ComplianceType values a rule may put)."""

    COMPLIANT = "COMPLIANT"
    NON_COMPLIANT = "NON_COMPLIANT"
    NOT_APPLICABLE = "NOT_APPLICABLE"


class Note(StrEnum):
    """How a fix is made differently from the policy, beside the reason it is needed."""

    PRIVATE_DNS_OFF = "private_dns_off_vpc_dns_attributes_off"
    POLICY_NOT_SUPPORTED = "endpoint_policy_not_supported_by_service"
    OPTIONS_CONFLICT = "policies_disagree_on_service_options_first_policy_wins"
    # Nothing is released in a VPC where an opted-in subnet names a policy that is not defined: what it
    # needs is unknown (a typo, or a CLI run without --policy-parameter).
    RELEASES_HELD = "releases_held_a_subnet_names_an_unknown_policy"


class Outcome(StrEnum):
    """What became of a change."""

    CREATED = "created"
    ATTACHED = "attached"
    AUTHORIZED = "authorized"
    ENABLED = "enabled"  # private DNS turned on, on one of its own endpoints
    WOULD_CHANGE = "would_change"  # report mode
    # Releases of what the remediator made (Prune=own)
    RELEASED = "released"  # a route table or an AZ taken off one of its endpoints
    MOVED = "moved"  # its ENI moved out of a leaving subnet to another opted-in subnet of the AZ
    DELETED = "deleted"  # one of its endpoints, or its security group
    WOULD_RELEASE = "would_release"  # report mode
    KEPT = "kept"  # a release EC2 refused because something still uses it (the group, by someone's ENI)
    # Its own bookkeeping: which subnets are leaving, as tags on its own endpoints
    MARKED = "marked"
    UNMARKED = "unmarked"
    FAILED = "failed"
    CONFLICT = "conflict"  # another writer got there first: re-read and re-plan


APPLIED = frozenset(
    {Outcome.CREATED, Outcome.ATTACHED, Outcome.AUTHORIZED, Outcome.ENABLED, Outcome.RELEASED, Outcome.MOVED, Outcome.DELETED}
)
PROPOSED = frozenset({Outcome.WOULD_CHANGE, Outcome.WOULD_RELEASE})


class Record(StrEnum):
    """The kind of a log record (its ``record`` field)."""

    DECISION = "decision"
    CHANGE = "change"
    SUMMARY = "summary"
    EVALUATION = "evaluation"  # one Config evaluation the rule put


class Trigger(StrEnum):
    """What started an invocation (the ``trigger`` field)."""

    EVENT = "event"
    SETTLED = "settled"
    SWEEP = "sweep"
    CONFIG_RULE = "config_rule"  # AWS Config invoking the rule
