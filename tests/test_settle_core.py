"""The settle window's pure core: what the reconciler does with a VPC's messages, and how a window is
written and read. No queue, no clock: ``now`` is an argument."""

from __future__ import annotations

import json

import pytest
from vpce_remediator.errors import InvalidEvent
from vpce_remediator.settle import (
    MAX_CALLS,
    MAX_RECHECKS,
    MAX_RETRY_SECONDS,
    Call,
    Fold,
    Reconcile,
    Wait,
    Window,
    decide,
    merge,
    parse_window,
    recheck,
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
                {"version": 1, "vpc_id": VPC, "calls": [{"event_id": "e", "event_name": "X", "event_time": 1, "refused": "i-1"}]}
            ),
            VPC,
        ),
        (
            json.dumps(
                {"version": 1, "vpc_id": VPC, "prompt": 1, "calls": [{"event_id": "e", "event_name": "X", "event_time": 1}]}
            ),
            f"{VPC}:prompt",
        ),
        (
            json.dumps(
                {"version": 1, "vpc_id": VPC, "after": "soon", "calls": [{"event_id": "e", "event_name": "X", "event_time": 1}]}
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


SUBNET = "subnet-0f1e2d3c4b5a69788"


def refusal(t: float, subnet: str = SUBNET, n: int = 0) -> Call:
    return Call(f"r{n}-{t}", "DeleteSubnet", t, "arn:aws:sts::1:assumed-role/r/s", subnet)


def test_a_prompt_window_is_due_at_once_and_lives_in_its_own_group():
    w = Window(VPC, (refusal(T0),), prompt=True)
    assert w.group == f"{VPC}:prompt" and window(T0).group == VPC
    assert decide([w], T0, 900) == Reconcile(w)  # no settle window, whatever SettleSeconds is
    assert parse_window(w.to_json(), f"{VPC}:prompt") == w
    with pytest.raises(InvalidEvent):
        parse_window(w.to_json(), VPC)  # a prompt window in the settle group is no window of it


def test_a_refused_subnet_is_leaving_from_its_first_refusal_for_the_grace():
    w = merge([Window(VPC, (refusal(T0 + 30, n=1),), prompt=True), Window(VPC, (refusal(T0, n=0),), prompt=True)])
    assert w.leaving(1800) == {SUBNET: T0 + 1800}
    vpc = Window(VPC, (Call("v", "DeleteVpc", T0, None, VPC),), prompt=True)
    assert vpc.vpc_refused and vpc.leaving(1800) == {} and not w.vpc_refused


def test_a_recheck_is_due_later_until_the_rechecks_are_spent_and_a_new_call_makes_it_due_at_once():
    w = Window(VPC, (refusal(T0),), prompt=True)
    again = recheck(w, T0 + 5, 30)
    assert again is not None and again.prompt and again.rechecks == 1
    assert decide([again], T0 + 10, 300) == Wait(25)
    assert parse_window(again.to_json(), again.group) == again
    folded = merge([again, Window(VPC, (refusal(T0 + 20, n=1),), prompt=True)])
    assert folded.after is None and folded.rechecks == 1 and folded.due(300) == T0
    spent = w
    for _ in range(MAX_RECHECKS):
        spent = recheck(spent, T0, 30)  # type: ignore[assignment]
    assert spent is not None and recheck(spent, T0, 30) is None


def test_a_long_burst_of_refusals_keeps_each_subnets_first_refusal():
    calls = [Window(VPC, (refusal(T0 + i, subnet=f"subnet-{i % 3:017x}", n=i),), prompt=True) for i in range(MAX_CALLS + 30)]
    merged = merge(calls)
    assert len(merged.calls) == MAX_CALLS
    assert merged.leaving(100) == {f"subnet-{i:017x}": T0 + i + 100 for i in range(3)}


def test_retries_back_off_from_one_window_doubling_to_fifteen_minutes():
    assert [retry_after(30, n) for n in (1, 2, 3, 4, 5, 6)] == [30, 60, 120, 240, 480, MAX_RETRY_SECONDS]
    assert [retry_after(0, n) for n in (1, 2, 5)] == [60, 120, MAX_RETRY_SECONDS]  # no window: a minute, as Lambda's retries
