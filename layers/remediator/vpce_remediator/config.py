"""Typed configuration, validated once per container at the first invocation (not at import)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from vpce_remediator.errors import ConfigError
from vpce_remediator.policy import SERVICE_NAME

# The template's MaxValue of SettleSeconds: SQS holds a message's visibility for at most 12 hours,
# and a window longer than 15 minutes would outlast Terraform's default DeleteSubnet retries.
MAX_SETTLE_SECONDS = 900


# How long a subnet whose delete EC2 refused stays leaving, at least and by default: longer than
# Terraform's DeleteSubnet retries (20 minutes), short enough that a refusal for another reason
# (someone else's ENI) does not keep the subnet without its endpoints for long.
MIN_TEARDOWN_GRACE_SECONDS = 300
DEFAULT_TEARDOWN_GRACE_SECONDS = 1800
MAX_TEARDOWN_GRACE_SECONDS = 43200


class Mode(StrEnum):
    REMEDIATE = "remediate"
    REPORT = "report"


class Prune(StrEnum):
    OWN = "own"  # release what the remediator made once no opted-in subnet needs it
    OFF = "off"  # only ever add


@dataclass(frozen=True)
class Settings:
    opt_in_tag_key: str
    gateway_services: tuple[str, ...]
    interface_services: tuple[str, ...]
    mode: Mode
    # SSM parameter holding the named-policy document; empty: only the default policy exists.
    policy_parameter: str = ""
    policy_cache_seconds: int = 300
    # USD per interface-endpoint AZ-hour, recorded with each change so its cost is visible.
    endpoint_az_hour_usd: float = 0.01
    # A VPC is reconciled this long after the latest call of a burst (0: as soon as the call is seen).
    settle_seconds: int = 0
    # The FIFO queue holding each VPC's settle window (one message group per VPC); empty: none.
    settle_queue_url: str = ""
    prune: Prune = Prune.OWN
    # A subnet whose DeleteSubnet EC2 refused is leaving for this long after the first refusal.
    teardown_grace_seconds: int = DEFAULT_TEARDOWN_GRACE_SECONDS
    # While a release waits for EC2 (a deleted endpoint's ENIs), the VPC is checked again this often.
    release_recheck_seconds: int = 30
    # The ARNs of the roles the remediator writes with (reconciler, sweep): how its own calls are known.
    own_role_arns: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        key = env.get("OPT_IN_TAG_KEY", "").strip()
        if not key:
            raise ConfigError("OPT_IN_TAG_KEY is empty: set the OptInTagKey parameter")
        mode_value = env.get("MODE", Mode.REMEDIATE.value).strip().lower()
        try:
            mode = Mode(mode_value)
        except ValueError as exc:
            raise ConfigError(f"MODE must be 'remediate' or 'report', got {mode_value!r}") from exc
        prune_value = env.get("PRUNE", Prune.OWN.value).strip().lower()
        try:
            prune = Prune(prune_value)
        except ValueError as exc:
            raise ConfigError(f"PRUNE must be 'own' or 'off', got {prune_value!r}") from exc
        return cls(
            opt_in_tag_key=key,
            gateway_services=_services(env, "GATEWAY_SERVICES"),
            interface_services=_services(env, "INTERFACE_SERVICES"),
            mode=mode,
            policy_parameter=env.get("POLICY_PARAMETER_NAME", "").strip(),
            policy_cache_seconds=_seconds(env, "POLICY_CACHE_SECONDS", 300),
            endpoint_az_hour_usd=_price(env, "ENDPOINT_AZ_HOUR_USD", 0.01),
            settle_seconds=_bounded(env, "SETTLE_SECONDS", 0, MAX_SETTLE_SECONDS),
            settle_queue_url=env.get("SETTLE_QUEUE_URL", "").strip(),
            prune=prune,
            teardown_grace_seconds=_bounded(
                env,
                "TEARDOWN_GRACE_SECONDS",
                DEFAULT_TEARDOWN_GRACE_SECONDS,
                MAX_TEARDOWN_GRACE_SECONDS,
                MIN_TEARDOWN_GRACE_SECONDS,
            ),
            release_recheck_seconds=_bounded(env, "RELEASE_RECHECK_SECONDS", 30, 300, 1),
            own_role_arns=frozenset(a.strip() for a in env.get("OWN_ROLE_ARNS", "").split(",") if a.strip()),
        )


def _services(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    names = [part.strip().lower() for part in env.get(name, "").split(",") if part.strip()]
    bad = [n for n in names if not SERVICE_NAME.fullmatch(n)]
    if bad:
        raise ConfigError(f"{name} holds invalid service names: {', '.join(bad)}")
    # Order is kept for readable logs; duplicates are dropped.
    return tuple(dict.fromkeys(names))


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ConfigError(f"{name} must be a whole number of seconds, got {value!r}")
    return int(value)


def _bounded(env: Mapping[str, str], name: str, default: int, maximum: int, minimum: int = 0) -> int:
    value = _seconds(env, name, default)
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be {minimum} to {maximum} seconds, got {value}")
    return value


def _price(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name, "").strip()
    try:
        price = float(value) if value else default
    except ValueError as exc:
        raise ConfigError(f"{name} must be a price in USD, got {value!r}") from exc
    if price < 0:
        raise ConfigError(f"{name} must not be negative, got {value!r}")
    return price
