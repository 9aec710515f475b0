"""The settle window, pure: which calls a VPC's next reconcile covers, and when it may start.

A VPC's pending calls live in one SQS FIFO message group (the group id is the VPC id). While one
of its messages is in flight no other message of the group is delivered, so the head message of
the group is the window: it is made invisible until the window's due time (the visibility timeout
is the timer), and every call that arrives meanwhile waits behind it. When it comes back, the
reconciler decides with ``decide``:

- one message, due: reconcile the VPC once, for every call the message carries;
- one message, not yet due: wait (hide it again until it is due);
- several messages: fold them into one message carrying every call (sent to the back of the group)
  and consume them, so the next delivery is a single message again, holding every call queued so far.

A window is due ``settle_seconds`` after the *latest* call it carries (trailing edge): a burst of
calls is one reconcile, started only once the burst has been quiet for the whole window.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vpce_remediator.errors import InvalidEvent

FORMAT_VERSION = 1
# A message carries at most this many calls by name; a longer burst keeps the first and the latest
# ones and counts the rest, so a message stays small however long a VPC keeps changing.
MAX_CALLS = 50
# SQS limits a message's visibility to 12 hours.
MAX_WAIT_SECONDS = 12 * 3600
# Retry backoff when there is no window to derive it from (SettleSeconds=0), and its ceiling.
RETRY_BASE_WITHOUT_WINDOW = 60
MAX_RETRY_SECONDS = 900
_VPC = re.compile(r"vpc-[0-9a-f]{8,17}")


@dataclass(frozen=True)
class Call:
    """One CloudTrail call a window covers: what the reconcile's records name."""

    event_id: str
    event_name: str
    event_time: float  # seconds since the epoch (CloudTrail's eventTime)
    principal_arn: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class Window:
    """The calls waiting for one VPC's next reconcile."""

    vpc_id: str
    calls: tuple[Call, ...]
    # Calls left out of ``calls`` to keep the message small (see MAX_CALLS).
    more: int = 0

    def due(self, settle_seconds: int) -> float:
        return max(c.event_time for c in self.calls) + settle_seconds

    @property
    def opened(self) -> float:
        return min(c.event_time for c in self.calls)

    @property
    def event_ids(self) -> list[str]:
        return [c.event_id for c in self.calls]

    @property
    def event_names(self) -> list[str]:
        return sorted({c.event_name for c in self.calls})

    @property
    def principal_arns(self) -> list[str]:
        return sorted({c.principal_arn for c in self.calls if c.principal_arn})

    def to_json(self) -> str:
        body: dict[str, Any] = {"version": FORMAT_VERSION, "vpc_id": self.vpc_id, "calls": [c.as_dict() for c in self.calls]}
        if self.more:
            body["more"] = self.more
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @property
    def deduplication_id(self) -> str:
        """Equal for equal contents: a fold that is retried after a crash sends nothing new."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:64]


def merge(windows: Iterable[Window]) -> Window:
    """One window with every call of ``windows`` (each once, oldest first), capped at MAX_CALLS."""
    windows = list(windows)
    by_id: dict[str, Call] = {}
    for window in windows:
        for call in window.calls:
            by_id.setdefault(call.event_id, call)
    # Stable: calls of the same second keep the order they were queued in.
    calls = sorted(by_id.values(), key=lambda c: c.event_time)
    more = sum(w.more for w in windows)
    if len(calls) > MAX_CALLS:
        # Keep the opener and the latest calls: the latest one decides when the window is due.
        more += len(calls) - MAX_CALLS
        calls = [calls[0], *calls[-(MAX_CALLS - 1) :]]
    return Window(windows[0].vpc_id, tuple(calls), more)


@dataclass(frozen=True)
class Reconcile:
    window: Window


@dataclass(frozen=True)
class Wait:
    seconds: int


@dataclass(frozen=True)
class Fold:
    window: Window


Decision = Reconcile | Wait | Fold


def decide(windows: list[Window], now: float, settle_seconds: int) -> Decision:
    """What to do with the messages of one VPC's group delivered together (oldest first)."""
    window = merge(windows)
    if len(windows) > 1:
        # Fold even when due: a batch holds at most ten messages, and more of the group may wait behind
        # them. The folded window goes to the back of the group, so it comes back alone only once every
        # message queued before it is in it.
        return Fold(window)
    due = window.due(settle_seconds)
    if due <= now:
        return Reconcile(window)
    return Wait(min(MAX_WAIT_SECONDS, math.ceil(due - now)))


def retry_after(settle_seconds: int, receive_count: int) -> int:
    """Seconds before a failed reconcile is tried again: doubling from one window, at most 15 minutes."""
    base = settle_seconds or RETRY_BASE_WITHOUT_WINDOW
    return min(MAX_RETRY_SECONDS, base * 2 ** max(0, receive_count - 1))


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_window(body: Any, group_id: Any) -> Window:
    """A message body of the settle queue, checked against its message group; or InvalidEvent."""
    try:
        document = json.loads(body) if isinstance(body, str) else None
    except ValueError as exc:
        raise InvalidEvent("settle message body is not JSON") from exc
    if not isinstance(document, Mapping) or document.get("version") != FORMAT_VERSION:
        raise InvalidEvent(f"settle message is not a version {FORMAT_VERSION} window")
    vpc_id = document.get("vpc_id")
    if not isinstance(vpc_id, str) or not _VPC.fullmatch(vpc_id) or vpc_id != group_id:
        raise InvalidEvent("settle message names no VPC id, or not the one of its message group")
    raw_calls = document.get("calls")
    if not isinstance(raw_calls, list) or not raw_calls or len(raw_calls) > MAX_CALLS:
        raise InvalidEvent(f"settle message carries no calls, or more than {MAX_CALLS}")
    more = document.get("more", 0)
    if not isinstance(more, int) or isinstance(more, bool) or more < 0:
        raise InvalidEvent("settle message 'more' is not a count")
    return Window(vpc_id, tuple(_call(c) for c in raw_calls), more)


def _call(raw: Any) -> Call:
    if not isinstance(raw, Mapping):
        raise InvalidEvent("a settle message call is not an object")
    event_id, event_name, when = raw.get("event_id"), raw.get("event_name"), raw.get("event_time")
    principal = raw.get("principal_arn")
    if not (isinstance(event_id, str) and event_id and isinstance(event_name, str) and event_name):
        raise InvalidEvent("a settle message call lacks its event_id or event_name")
    if isinstance(when, bool) or not isinstance(when, int | float) or not math.isfinite(when):
        raise InvalidEvent("a settle message call lacks its event_time")
    if principal is not None and not isinstance(principal, str):
        raise InvalidEvent("a settle message call's principal_arn is not a string")
    return Call(event_id, event_name, float(when), principal)
