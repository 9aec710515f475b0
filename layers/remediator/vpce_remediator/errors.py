"""Domain errors. Each names what went wrong so logs and metrics can count it."""


class RemediatorError(Exception):
    """Base class: everything the remediator raises on purpose."""


class ConfigError(RemediatorError):
    """The function's environment is invalid; raised at the first invocation, never at import."""


class InvalidEvent(RemediatorError):
    """The event is not a CloudTrail EC2 API call this function can act on. Never retried."""


class RemediationFailed(RemediatorError):
    """At least one write failed; raised after the others were tried so Lambda retries the run."""

    def __init__(self, failures: list[str]):
        super().__init__(f"{len(failures)} remediation action(s) failed: {'; '.join(failures)}")
        self.failures = failures


class PolicyError(RemediatorError):
    """The policy document is missing, unreadable or invalid. Nothing is remediated on a half-read policy."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


# What only a person can fix: counted in the Errors metric (so the alarm fires) while the run goes on.


class ImpersonatedOwnCall(RemediatorError):
    """A call with the remediator's user agent, made by a principal that is not one of its roles."""


class UntrustedSecurityGroup(RemediatorError):
    """A group named like the remediator's whose tag or ingress rules the remediator did not write."""


class ServiceNotInRegion(RemediatorError):
    """A policy requires a service the Region does not offer (a typo such as 'sssm')."""


class EvaluationsRefused(RemediatorError):
    """Config did not accept some of the rule's evaluations; raised so Lambda retries the invocation."""

    def __init__(self, failed: int, total: int):
        super().__init__(f"{failed} of {total} evaluations were not accepted by AWS Config")


class UnknownVpc(RemediatorError):
    """The command line was asked about a VPC that does not exist (in this account and Region)."""
