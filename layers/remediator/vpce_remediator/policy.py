"""Required-endpoint policies and how a subnet's opt-in tag value selects one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from vpce_remediator.config import Settings

DEFAULT_POLICY = "default"
# Tag values that mean "the default policy": people write all of these.
_DEFAULT_ALIASES = frozenset({"", "default", "true"})


@dataclass(frozen=True)
class ServiceOptions:
    """Per-service options a named policy may set; the defaults are what the default policy uses."""

    # None: on when the service offers private DNS and both VPC DNS attributes are on.
    private_dns: bool | None = None
    # An endpoint policy (JSON text), set when the remediator creates the endpoint; never changed later.
    policy_document: str | None = None
    # Extra IPv4 CIDRs allowed to reach the VPC's interface endpoints on 443, besides the VPC's own.
    allowed_cidrs: tuple[str, ...] = ()


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
    def from_settings(cls, settings: Settings) -> PolicySet:
        default = Policy(DEFAULT_POLICY, settings.gateway_services, settings.interface_services)
        return cls({DEFAULT_POLICY: default})

    def resolve(self, tag_value: str) -> Policy | None:
        """The policy a tag value selects, or None when it names no known policy."""
        name = tag_value.strip().lower()
        if name in _DEFAULT_ALIASES:
            name = DEFAULT_POLICY
        return self.policies.get(name)
