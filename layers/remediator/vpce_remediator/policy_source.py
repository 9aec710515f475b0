"""Where policies come from: the template's default policy, plus the named policies in an SSM
parameter, read with Powertools Parameters (cached for ``policy_cache_seconds``) and validated
before any remediation runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vpce_remediator.config import Settings
from vpce_remediator.errors import PolicyError
from vpce_remediator.policy import DEFAULT_POLICY, PolicySet


def policy_loader(settings: Settings, ssm: Callable[[], Any]) -> Callable[[], PolicySet]:
    """A function returning the current policies; it raises PolicyError rather than return half of them."""
    defaults = PolicySet.with_default(settings.gateway_services, settings.interface_services)
    if not settings.policy_parameter:
        return lambda: defaults
    provider: Any = None
    parsed: dict[str, PolicySet] = {}

    def load() -> PolicySet:
        nonlocal provider
        # Imported here: the default policy needs neither Parameters nor a YAML parser.
        from aws_lambda_powertools.utilities.parameters import GetParameterError, SSMProvider

        from vpce_remediator.named_policies import parse_named_policies

        if provider is None:
            provider = SSMProvider(boto3_client=ssm())
        try:
            text = provider.get(settings.policy_parameter, max_age=settings.policy_cache_seconds)
        except GetParameterError as exc:
            raise PolicyError("parameter", f"cannot read {settings.policy_parameter}: {exc}") from exc
        if text not in parsed:
            parsed.clear()
            parsed[text] = parse_named_policies(text, defaults.policies[DEFAULT_POLICY])
        return parsed[text]

    return load
