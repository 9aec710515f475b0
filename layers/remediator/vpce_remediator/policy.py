"""Required-endpoint policies and how a subnet's opt-in tag value selects one."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_POLICY = "default"
# Tag values that mean "the default policy": people write all of these. None may name another policy.
DEFAULT_ALIASES = frozenset({"", DEFAULT_POLICY, "true"})
# A short service name, as the template's parameters and the policy document write it: "s3", "ecr.dkr".
SERVICE_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")


@dataclass(frozen=True)
class ServiceOptions:
    """Per-service options a named policy may set; the defaults are what the default policy uses."""

    # None: on when the service offers private DNS and both VPC DNS attributes are on.
    private_dns: bool | None = None
    # An endpoint policy (JSON text), set when the remediator creates the endpoint; never changed later.
    policy_document: str | None = None
    # Extra IPv4 CIDRs allowed to reach the VPC's interface endpoints on 443, besides the VPC's own.
    allowed_cidrs: tuple[str, ...] = ()
    # Interface: served only from a hub (a private hosted zone of the service's name associated with the
    # VPC) or by a private-DNS endpoint the VPC already has; the remediator never creates one for it.
    central: bool = False


NO_OPTIONS = ServiceOptions()


@dataclass(frozen=True)
class Policy:
    name: str
    gateway_services: tuple[str, ...]
    interface_services: tuple[str, ...]
    # Keyed by (endpoint type, short service name), e.g. ("Interface", "ssm"); absent means NO_OPTIONS.
    options: Mapping[tuple[str, str], ServiceOptions] = field(default_factory=dict)

    def options_for(self, service: str, endpoint_type: str) -> ServiceOptions:
        return self.options.get((endpoint_type, service), NO_OPTIONS)


@dataclass(frozen=True)
class PolicySet:
    policies: Mapping[str, Policy]

    @classmethod
    def with_default(cls, gateway_services: tuple[str, ...], interface_services: tuple[str, ...]) -> PolicySet:
        """The default policy alone: the services of the template's two parameters."""
        return cls({DEFAULT_POLICY: Policy(DEFAULT_POLICY, gateway_services, interface_services)})

    @property
    def allowed_cidrs(self) -> frozenset[str]:
        """Every CIDR any policy allows into the managed group: with the VPC's own, all the group may hold."""
        return frozenset(c for p in self.policies.values() for o in p.options.values() for c in o.allowed_cidrs)

    def resolve(self, tag_value: str) -> Policy | None:
        """The policy a tag value selects, or None when it names no known policy."""
        name = tag_value.strip().lower()
        if name in DEFAULT_ALIASES:
            name = DEFAULT_POLICY
        return self.policies.get(name)
