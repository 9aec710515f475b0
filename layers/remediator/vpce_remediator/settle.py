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

A *prompt* window lives in a second group of the VPC (``<vpc id>:prompt``), so it never waits behind
a settling one, and is due at once: a delete EC2 refused because of the remediator's network
interfaces is a pipeline retrying until they are gone, and nothing of it settles. A *recheck* is a
prompt window due at ``after``: a release that waits for EC2 to finish one (a security group that can
go once the network interfaces of the endpoints deleted before it are gone).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from vpce_remediator.errors import InvalidEvent
from vpce_remediator.events import check_shape

FORMAT_VERSION = 1
# A message carries at most this many calls by name; a longer burst keeps the first and the latest
# ones and counts the rest, so a message stays small however long a VPC keeps changing.
MAX_CALLS = 50
# SQS limits a message's visibility to 12 hours.
MAX_WAIT_SECONDS = 12 * 3600
# Retry backoff when there is no window to derive it from (SettleSeconds=0), and its ceiling.
RETRY_BASE_WITHOUT_WINDOW = 60
MAX_RETRY_SECONDS = 900
# A VPC's releases that wait for EC2 are checked again at most this many times (then by the sweep).
MAX_RECHECKS = 20
PROMPT_GROUP_SUFFIX = ":prompt"
_VPC = re.compile(r"vpc-[0-9a-f]{8,17}")
_REFUSED = re.compile(r"(vpc|subnet)-[0-9a-f]{8,17}")


@dataclass(frozen=True)
class Call:
    """One CloudTrail call a window covers: what the reconcile's records name."""

    event_id: str
    event_name: str
    event_time: float  # seconds since the epoch (CloudTrail's eventTime)
    principal_arn: str | None = None
    # The subnet or VPC whose delete EC2 refused (DependencyViolation) in this call.
    refused: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class Window:
    """The calls waiting for one VPC's next reconcile."""

    vpc_id: str
    calls: tuple[Call, ...]
    # Calls left out of ``calls`` to keep the message small (see MAX_CALLS).
    more: int = 0
    prompt: bool = False
    after: float | None = None  # a recheck: not before this time
    rechecks: int = 0

    @property
    def group(self) -> str:
        return self.vpc_id + PROMPT_GROUP_SUFFIX if self.prompt else self.vpc_id

    def due(self, settle_seconds: int) -> float:
        if self.prompt:
            return self.opened if self.after is None else self.after
        return max(c.event_time for c in self.calls) + settle_seconds

    @property
    def vpc_refused(self) -> bool:
        return any(c.refused == self.vpc_id for c in self.calls)

    def leaving(self, grace_seconds: int) -> dict[str, float]:
        """Subnet id -> until: each subnet whose delete EC2 refused, kept leaving from its first refusal."""
        found: dict[str, float] = {}
        for call in self.calls:
            if call.refused and call.refused.startswith("subnet-"):
                found[call.refused] = min(found.get(call.refused, math.inf), call.event_time + grace_seconds)
        return found

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
        for key in ("more", "prompt", "after", "rechecks"):
            if getattr(self, key):
                body[key] = getattr(self, key)
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @property
    def deduplication_id(self) -> str:
        """Equal for equal contents: a fold that is retried after a crash sends nothing new."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:64]


def merge(windows: Iterable[Window]) -> Window:
    """One window with every call of ``windows`` (each once, oldest first), capped at MAX_CALLS. A recheck
    merged with a new call is due at once (the call's), and counts the rechecks already made."""
    windows = list(windows)
    by_id: dict[str, Call] = {}
    for window in windows:
        for call in window.calls:
            by_id.setdefault(call.event_id, call)
    # Stable: calls of the same second keep the order they were queued in.
    calls = sorted(by_id.values(), key=lambda c: c.event_time)
    more = sum(w.more for w in windows)
    if len(calls) > MAX_CALLS:
        more += len(calls) - MAX_CALLS
        calls = _capped(calls)
    afters = [w.after for w in windows]
    after = None if None in afters else max(a for a in afters if a is not None)
    first = windows[0]
    return Window(first.vpc_id, tuple(calls), more, first.prompt, after, max(w.rechecks for w in windows))


def _capped(calls: list[Call]) -> list[Call]:
    """The opener, the first refusal of each subnet or VPC (it starts the time the subnet stays
    leaving; at most half the calls), and the latest calls (the latest one decides when it is due)."""
    keep = {calls[0].event_id}
    refused: set[str] = set()
    for call in calls:
        if call.refused and call.refused not in refused and len(keep) < MAX_CALLS // 2:
            refused.add(call.refused)
            keep.add(call.event_id)
    for call in reversed(calls):
        if len(keep) >= MAX_CALLS:
            break
        keep.add(call.event_id)
    return [c for c in calls if c.event_id in keep]


def recheck(window: Window, now: float, seconds: int) -> Window | None:
    """The window again, in the VPC's prompt group, due ``seconds`` from now; None once MAX_RECHECKS are spent."""
    if window.rechecks >= MAX_RECHECKS:
        return None
    return Window(window.vpc_id, window.calls, window.more, True, now + seconds, window.rechecks + 1)


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
    except (ValueError, RecursionError) as exc:
        raise InvalidEvent("settle message body is not JSON, or nested too deeply") from exc
    check_shape(document, "the settle message")
    if not isinstance(document, Mapping) or document.get("version") != FORMAT_VERSION:
        raise InvalidEvent(f"settle message is not a version {FORMAT_VERSION} window")
    vpc_id, prompt = document.get("vpc_id"), document.get("prompt", False)
    if not isinstance(vpc_id, str) or not _VPC.fullmatch(vpc_id) or not isinstance(prompt, bool):
        raise InvalidEvent("settle message names no VPC id")
    if group_id != vpc_id + (PROMPT_GROUP_SUFFIX if prompt else ""):
        raise InvalidEvent("settle message names a VPC other than the one of its message group")
    raw_calls = document.get("calls")
    if not isinstance(raw_calls, list) or not raw_calls or len(raw_calls) > MAX_CALLS:
        raise InvalidEvent(f"settle message carries no calls, or more than {MAX_CALLS}")
    more = document.get("more", 0)
    rechecks, after = document.get("rechecks", 0), document.get("after")
    if not (_count(more) and _count(rechecks)):
        raise InvalidEvent("settle message 'more' or 'rechecks' is not a count")
    if after is not None and not _seconds(after):
        raise InvalidEvent("settle message 'after' is not a time")
    when = float(after) if _seconds(after) else None
    return Window(vpc_id, tuple(_call(c) for c in raw_calls), more, prompt, when, rechecks)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _seconds(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _call(raw: Any) -> Call:
    if not isinstance(raw, Mapping):
        raise InvalidEvent("a settle message call is not an object")
    event_id, event_name, when = raw.get("event_id"), raw.get("event_name"), raw.get("event_time")
    principal, refused = raw.get("principal_arn"), raw.get("refused")
    if not (isinstance(event_id, str) and event_id and isinstance(event_name, str) and event_name):
        raise InvalidEvent("a settle message call lacks its event_id or event_name")
    if not _seconds(when):
        raise InvalidEvent("a settle message call lacks its event_time")
    if principal is not None and not isinstance(principal, str):
        raise InvalidEvent("a settle message call's principal_arn is not a string")
    if refused is not None and not (isinstance(refused, str) and _REFUSED.fullmatch(refused)):
        raise InvalidEvent("a settle message call's refused is not a subnet or VPC id")
    return Call(event_id, event_name, float(when), principal, refused)
