"""Required-endpoint policies and how a subnet's opt-in tag value selects one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vpce_remediator.config import Settings

DEFAULT_POLICY = "default"
# Tag values that mean "the default policy": people write all of these.
_DEFAULT_ALIASES = frozenset({"", "default", "true"})


@dataclass(frozen=True)
class Policy:
    name: str
    gateway_services: tuple[str, ...]
    interface_services: tuple[str, ...]


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
