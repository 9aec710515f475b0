"""The settle window's pure core: what the reconciler does with a VPC's messages, and how a window is
written and read. No queue, no clock: ``now`` is an argument."""

from __future__ import annotations

import json

import pytest
from vpce_remediator.errors import InvalidEvent
from vpce_remediator.settle import (
    MAX_CALLS,
    MAX_RETRY_SECONDS,
    Call,
    Fold,
    Reconcile,
    Wait,
    Window,
    decide,
    merge,
    parse_window,
    retry_after,
)

pytestmark = pytest.mark.unit

VPC = "vpc-0a1b2c3d4e5f60718"
T0 = 1_800_000_000.0


def window(*times: float, vpc: str = VPC, prefix: str = "e") -> Window:
    return Window(
        vpc, tuple(Call(f"{prefix}{i}-{t}", "CreateSubnet", t, "arn:aws:sts::1:assumed-role/r/s") for i, t in enumerate(times))
    )


def test_one_message_is_reconciled_only_once_the_window_after_its_latest_call_closed():
    w = window(T0, T0 + 30)
    assert decide([w], T0 + 30 + 299.5, 300) == Wait(1)  # never early: rounded up
    assert decide([w], T0 + 30 + 300, 300) == Reconcile(w)
    assert decide([w], T0 + 10, 300) == Wait(320)


def test_several_messages_are_folded_into_one_even_when_due():
    a, b = window(T0, prefix="a"), window(T0 + 5, prefix="b")
    for now in (T0 + 1, T0 + 3600):
        decision = decide([a, b], now, 300)
        assert isinstance(decision, Fold)
        assert decision.window.event_ids == a.event_ids + b.event_ids


def test_with_no_window_a_single_message_is_reconciled_at_once():
    w = window(T0)
    assert decide([w], T0, 0) == Reconcile(w)


def test_a_call_delivered_twice_is_named_once_and_calls_keep_their_order():
    a = window(T0, T0 + 1)
    merged = merge([a, a, window(T0 + 1, prefix="z")])
    assert merged.event_ids == [*a.event_ids, "z0-1800000001.0"]
    assert merged.due(60) == T0 + 1 + 60


def test_a_long_burst_names_the_first_and_the_latest_calls_and_counts_the_rest():
    calls = [window(T0 + i, prefix=f"c{i:03d}-") for i in range(MAX_CALLS + 20)]
    merged = merge(calls)
    assert len(merged.calls) == MAX_CALLS and merged.more == 20
    assert merged.calls[0].event_time == T0 and merged.calls[-1].event_time == T0 + MAX_CALLS + 19
    again = merge([merged, window(T0 + 500, prefix="late")])
    assert again.more == 21 and again.due(0) == T0 + 500  # the latest call still decides when it is due


def test_a_window_survives_its_message_and_its_deduplication_id_is_its_content():
    w = merge([window(T0, T0 + 2)])
    assert parse_window(w.to_json(), VPC) == w
    assert w.deduplication_id == merge([window(T0, T0 + 2)]).deduplication_id
    assert w.deduplication_id != window(T0).deduplication_id and len(w.deduplication_id) <= 128
    assert json.loads(w.to_json())["version"] == 1


@pytest.mark.parametrize(
    ("body", "group"),
    [
        ("not json", VPC),
        ("[]", VPC),
        (json.dumps({"version": 2, "vpc_id": VPC, "calls": [{}]}), VPC),
        (json.dumps({"version": 1, "vpc_id": VPC, "calls": []}), VPC),
        (json.dumps({"version": 1, "vpc_id": "vpc-0fffffffffffffff0", "calls": [{}]}), VPC),  # not its group's VPC
        (json.dumps({"version": 1, "vpc_id": "vpc-1\n", "calls": [{}]}), "vpc-1\n"),
        (json.dumps({"version": 1, "vpc_id": VPC, "calls": [{"event_id": "e", "event_name": "X"}]}), VPC),
        (json.dumps({"version": 1, "vpc_id": VPC, "calls": [{"event_id": "e", "event_name": "X", "event_time": True}]}), VPC),
        (
            json.dumps(
                {
                    "version": 1,
                    "vpc_id": VPC,
                    "calls": [{"event_id": "e", "event_name": "X", "event_time": 1, "principal_arn": 7}],
                }
            ),
            VPC,
        ),
        (
            json.dumps(
                {"version": 1, "vpc_id": VPC, "calls": [{"event_id": "e", "event_name": "X", "event_time": 1}], "more": -1}
            ),
            VPC,
        ),
        (
            json.dumps(
                {"version": 1, "vpc_id": VPC, "calls": [{"event_id": "e", "event_name": "X", "event_time": 1}] * (MAX_CALLS + 1)}
            ),
            VPC,
        ),
    ],
)
def test_a_message_that_is_no_window_of_its_group_is_an_invalid_event(body, group):
    with pytest.raises(InvalidEvent):
        parse_window(body, group)


def test_retries_back_off_from_one_window_doubling_to_fifteen_minutes():
    assert [retry_after(30, n) for n in (1, 2, 3, 4, 5, 6)] == [30, 60, 120, 240, 480, MAX_RETRY_SECONDS]
    assert [retry_after(0, n) for n in (1, 2, 5)] == [60, 120, MAX_RETRY_SECONDS]  # no window: a minute, as Lambda's retries
