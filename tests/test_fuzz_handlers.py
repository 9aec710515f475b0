"""Fuzzing every handler of the stack through ``stack.invoke``, as Lambda calls it, with generated events.

Two kinds of input: arbitrary JSON (what any misconfigured rule or manual invoke could send) and mutations
of the real sample events in events/ (keys dropped, values of the wrong type, null sections, unknown event
names, garbage and huge ids, lists where objects belong). The emulated account is empty, so every event
that survives validation is a no-op. For every input:

* the handler returns (no exception: none of these inputs is a retryable failure) and writes nothing to EC2
  (the intake's one write is the call it queues in the settle queue);
* an invalid input gives ``status == "invalid"`` and exactly one ERROR record, ``error == "InvalidEvent"``
  with a ``reason``, and makes no AWS call at all; any other outcome logs no ERROR record;
* the outcome is the one the event contract prescribes, computed independently here from events.py's rules
  and the trigger table's documented paths: ``invalid`` for what is not an object, not a CloudTrail call, lacks
  a non-empty string field, has a section that is not an object, comes from another service, has an event
  name the table does not know or names no resource of the right kind; ``ignored`` for a failed call, our own
  call, or tags that are not the opt-in tag or are on no subnet; ``queued`` when the call names its VPC (the
  settle queue then holds it); when it names resources to look up, ``ok`` (a logged no-op: they are gone), or
  ``queued`` when a create the same container saw earlier named their VPC (a resource never changes VPC).

Ids that are not well-formed must not reach EC2 at all (test_ill_formed_ids_never_reach_ec2); it found that
"$" in the trigger table's id patterns let an id with a trailing newline through.

The sweep takes whatever its schedule sends: for every input it reconciles (an empty account: nothing) and
answers ``ok`` without ERROR records or writes.

AWS Config's rule function takes Config's invocations: anything that is not one (arbitrary JSON, a mutated
sample whose invokingEvent no longer parses, names no subnet or has a time that is not one) is a single
InvalidEvent with no AWS call; a well-formed one, about a subnet the empty account does not have or the
periodic run of an empty Region, puts its evaluations (NOT_APPLICABLE) and writes nothing to EC2.

The reconciler takes SQS batches: anything that is not one is a single InvalidEvent and reports no failure;
a batch of well-formed records whose bodies are garbage logs one InvalidEvent per garbage body and consumes
it (a body that never parses would only block its VPC's group); a single well-formed window of a VPC that does
not exist is reconciled (nothing to do) and consumed, and several are folded into one.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as statistic
from hypothesis import strategies as st
from vpce_remediator import USER_AGENT
from vpce_remediator.events import CLOUDTRAIL_DETAIL_TYPE
from vpce_remediator.triggers import ASSOCIATION, EVENT_SOURCE, REFUSED_CODES, ROUTE_TABLE, SUBNET, TRIGGERS, VPC_ENDPOINT

from tests.emulation.account import EVENTS, OPT_IN_KEY
from tests.emulation.config_service import ConfigService, emulate
from tests.emulation.lambda_runtime import Stack
from tests.emulation.template import role_arn

EVENT_FUNCTION = "IntakeFunction"
SWEEP_FUNCTION = "SweepFunction"
RECONCILER_FUNCTION = "ReconcilerFunction"
CONFIG_RULE_FUNCTION = "ConfigRuleFunction"
READS_OF_A_PLAN = ("DescribeSubnets", "DescribeRouteTables", "DescribeVpcEndpoints", "DescribeVpcEndpointServices")
# The EventBridge events (CloudTrail calls, the schedule); AWS Config's invocations of the rule apart.
SAMPLES = {p.name: json.loads(p.read_text()) for p in sorted(EVENTS.glob("*.json")) if not p.name.startswith("config_rule_")}
CONFIG_SAMPLES = {p.name: json.loads(p.read_text()) for p in sorted(EVENTS.glob("config_rule_*.json"))}
REQUIRED_TEXT = ("eventID", "eventName", "eventSource", "awsRegion", "eventTime")
SECTIONS = ("requestParameters", "responseElements")
OWN_ROLES = {role_arn("ReconcilerRole"), role_arn("SweepRole")}
TRIGGER_LOOKUP_PREFIXES = ((SUBNET, "subnet"), (ROUTE_TABLE, "rtb"), (VPC_ENDPOINT, "vpce"), (ASSOCIATION, "rtbassoc"))

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --------------------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------------------

JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),  # what json.loads of a Lambda payload can give
    st.text(max_size=20),
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)
# Every JSON type, each on its own: a value of another type than the one a mutation replaces.
BY_TYPE: dict[type, st.SearchStrategy[Any]] = {
    type(None): st.none(),
    bool: st.booleans(),
    int: st.integers(),
    float: st.floats(allow_nan=False, allow_infinity=False),
    str: st.text(max_size=20),
    list: st.lists(JSON, max_size=3),
    dict: st.dictionaries(st.text(max_size=8), JSON, max_size=3),
}
UNKNOWN_EVENT_NAMES = ("RunInstances", "createsubnet", "CreateSubnet ", "DeleteSubnet", "", "CreateTags\x00", "Создать")
EVENT_NAMES = st.sampled_from(sorted(TRIGGERS) + list(UNKNOWN_EVENT_NAMES))
ID_PREFIXES = ("vpc", "subnet", "rtb", "vpce", "rtbassoc")


def _hex(low: int, high: int) -> st.SearchStrategy[str]:
    return st.text("0123456789abcdef", min_size=low, max_size=high)


WELL_FORMED_IDS = st.builds("{}-{}".format, st.sampled_from(ID_PREFIXES), _hex(8, 17))
GARBAGE_IDS = st.one_of(
    # Well-formed ids of every kind the trigger table reads: they name nothing in the empty account.
    WELL_FORMED_IDS,
    # Ill-formed: too short or long, upper case, wrong prefix, trailing whitespace or junk, empty, anything.
    st.builds("{}-{}".format, st.sampled_from([*ID_PREFIXES, "igw", "VPC", "sg"]), st.text(max_size=24)),
    st.builds("{}{}".format, WELL_FORMED_IDS, st.sampled_from([" ", "\t", "\n", "\r\n", "x", "-1", "\x00"])),
    st.builds("{}{}".format, st.sampled_from([" ", "\n", "x"]), WELL_FORMED_IDS),
    st.sampled_from(["", "vpc-", "vpce-", "subnet-0", "rtb-XYZ", "vpc-0123456789ABCDEF0", "vpce-0123456789abcdef012345", "null"]),
    st.text(max_size=30),
)
HUGE_STRINGS = st.builds(
    lambda ch, n: ch * n, st.sampled_from(["a", "é", "0", "vpc-0123456789abcdef0,"]), st.sampled_from([4096, 70_000, 262_144])
)
SECTION_KEYS = st.sampled_from(
    [
        "vpcId",
        "routeTableId",
        "subnet",
        "routeTable",
        "resourcesSet",
        "tagSet",
        "DeleteVpcEndpointsRequest",
        "ModifyVpcEndpointRequest",
    ]
)


@st.composite
def cloudtrail_shaped(draw) -> dict[str, Any]:
    """Arbitrary JSON in the shape of an EventBridge CloudTrail event, so that generation gets past the first
    checks: every field plausible, then a few of them (or none) replaced by any JSON or left out."""
    section = st.one_of(st.none(), st.dictionaries(SECTION_KEYS | st.text(max_size=6), st.one_of(GARBAGE_IDS, JSON), max_size=4))
    detail: dict[str, Any] = {
        "eventID": draw(st.uuids().map(str)),
        "eventName": draw(EVENT_NAMES),
        "eventSource": draw(st.sampled_from([EVENT_SOURCE, EVENT_SOURCE, EVENT_SOURCE, "s3.amazonaws.com", "EC2.amazonaws.com"])),
        "awsRegion": "eu-west-1",
        "eventTime": draw(st.sampled_from(["2026-11-20T09:14:10Z", "2026-11-20T09:14:10", "yesterday", "2026-13-01T00:00:00Z"])),
        "requestParameters": draw(section),
        "responseElements": draw(section),
        "userIdentity": {"arn": "arn:aws:iam::123456789012:role/x"},
        "userAgent": draw(st.sampled_from(["aws-cli/2", USER_AGENT])),
        "errorCode": draw(st.sampled_from([None, "Client.UnauthorizedOperation"])),
    }
    event: dict[str, Any] = {"detail-type": CLOUDTRAIL_DETAIL_TYPE, "detail": detail, "source": "aws.ec2"}
    for field in draw(st.sets(st.sampled_from(["detail-type", "detail", *detail]), max_size=3)):
        target = event if field in ("detail-type", "detail") else detail
        if draw(st.booleans()):
            target[field] = draw(JSON)
        else:
            del target[field]
    return event


ARBITRARY = st.one_of(JSON, cloudtrail_shaped())


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON document (dict keys and list indices), the root excluded."""
    found = []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        found.append((*prefix, key))
        found += _paths(child, (*prefix, key))
    return found


def _get(node: Any, path: tuple) -> Any:
    for key in path:
        node = node[key]
    return node


def _set(root: Any, path: tuple, value: Any) -> None:
    _get(root, path[:-1])[path[-1]] = value


def _drop(root: Any, path: tuple) -> None:
    parent = _get(root, path[:-1])
    del parent[path[-1]]


IMPORTANT = [("detail-type",), ("detail",)] + [("detail", k) for k in (*REQUIRED_TEXT, *SECTIONS, "userAgent", "userIdentity")]


@st.composite
def mutated_samples(draw) -> dict[str, Any]:
    """A sample event from events/ with one to four mutations, each at a path of the event as it then is."""
    event = copy.deepcopy(SAMPLES[draw(st.sampled_from(sorted(SAMPLES)))])
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 2, 3, 4]))):
        kind = draw(
            st.sampled_from(
                [
                    "drop",
                    "wrong_type",
                    "null",
                    "nest_in_list",
                    "garbage_id",
                    "huge",
                    "event_name",
                    "section_null",
                    "own_call",
                    "error_code",
                    "retag",
                ]
            )
        )
        if kind == "event_name" and isinstance(event.get("detail"), dict):
            event["detail"]["eventName"] = draw(EVENT_NAMES)
            continue
        if kind == "section_null" and isinstance(event.get("detail"), dict):
            for section in draw(st.lists(st.sampled_from(SECTIONS), min_size=1, unique=True)):
                event["detail"][section] = None
            continue
        if kind == "own_call" and isinstance(event.get("detail"), dict):
            event["detail"]["userAgent"] = f"Boto3/1.40 md/Botocore#1.40 {USER_AGENT} cfg/retry-mode#standard"
            continue
        if kind == "error_code" and isinstance(event.get("detail"), dict):
            event["detail"]["errorCode"] = draw(st.sampled_from(["Client.UnauthorizedOperation", "", "Server.InternalError"]))
            continue
        if (
            kind == "retag"
            and isinstance(event.get("detail"), dict)
            and isinstance(event["detail"].get("requestParameters"), dict)
        ):
            # CreateTags: which keys were written decides whether the call matters; on a subnet or on something else.
            keys = draw(st.lists(st.sampled_from(["Name", OPT_IN_KEY, OPT_IN_KEY.upper(), f"{OPT_IN_KEY} ", "team"]), max_size=3))
            event["detail"]["requestParameters"]["tagSet"] = {"items": [{"key": k, "value": "default"} for k in keys]}
            resource = draw(st.sampled_from(["subnet-0f1e2d3c4b5a69788", "i-0c1d2e3f4a5b6c7d8", "subnet-0F1E2D3C4B5A69788"]))
            event["detail"]["requestParameters"]["resourcesSet"] = {"items": [{"resourceId": resource}]}
            continue
        paths = _paths(event)
        if not paths:
            break
        # Any path, or (more often than their share) the fields validation reads, the sections and the ids.
        pools = [
            paths,
            [p for p in IMPORTANT if p in paths],
            [p for p in paths if p[:2] in (("detail", "requestParameters"), ("detail", "responseElements"))],
            [
                p
                for p in paths
                if isinstance(_get(event, p), str) and _get(event, p).startswith(tuple(f"{x}-" for x in ID_PREFIXES))
            ],
        ]
        path = draw(st.one_of([st.sampled_from(pool) for pool in pools if pool]))
        value = _get(event, path)
        if kind == "drop":
            _drop(event, path)
        elif kind == "wrong_type":
            _set(event, path, draw(st.one_of([strategy for kind_, strategy in BY_TYPE.items() if kind_ is not type(value)])))
        elif kind == "null":
            _set(event, path, None)
        elif kind == "nest_in_list":
            # A list where an object (or a value) belongs: [x], [[x]], or an object's values as a list.
            shapes = [[value], [[value]], [value, value]] + ([list(value.values())] if isinstance(value, dict) else [])
            _set(event, path, draw(st.sampled_from(shapes)))
        elif kind == "garbage_id":
            garbage = draw(GARBAGE_IDS)
            # CloudTrail's newer APIs wrap ids as {"tag": 1, "content": ...}; lists of ids occur too.
            _set(event, path, draw(st.sampled_from([garbage, {"tag": 1, "content": garbage}, [garbage, garbage]])))
        elif kind == "huge":
            _set(event, path, draw(HUGE_STRINGS))
    return event


# --------------------------------------------------------------------------------------------------------
# The contract, written from events.py's and triggers.py's documented rules
# --------------------------------------------------------------------------------------------------------


# Ids as the trigger table reads them: the whole string, nothing after it (not even a newline).
LOOSE_ID = {kind: re.compile(rf"{prefix}-[0-9a-f]{{8,17}}") for kind, prefix in (("vpc", "vpc"), *TRIGGER_LOOKUP_PREFIXES)}


def _flatten(nodes: list[Any]) -> list[Any]:
    return [leaf for node in nodes for leaf in (_flatten(node) if isinstance(node, list) else [node])]


def _strings(detail: dict[str, Any], path: str) -> list[str]:
    """The strings at a dotted path of a call: lists walked at any level, {"tag": .., "content": ..} unwrapped."""
    nodes: list[Any] = [detail.get(path.split(".")[0]) or {}]
    for key in path.split(".")[1:]:
        nodes = [node.get(key) for node in _flatten(nodes) if isinstance(node, dict)]
    values = [node.get("content") if isinstance(node, dict) else node for node in _flatten(nodes)]
    return [v for v in values if isinstance(v, str)]


def _ids(detail: dict[str, Any], paths: tuple[str, ...], kind: str) -> list[str]:
    return [v for path in paths for v in _strings(detail, path) if LOOSE_ID[kind].fullmatch(v)]


def contract(event: Any) -> str:
    """The outcome the event contract (events.py, and the trigger table's documented paths) prescribes."""
    if not isinstance(event, dict) or event.get("detail-type") != CLOUDTRAIL_DETAIL_TYPE:
        return "invalid"
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return "invalid"
    if any(not isinstance(detail.get(k), str) or not detail.get(k) for k in REQUIRED_TEXT):
        return "invalid"
    try:
        datetime.fromisoformat(detail["eventTime"])
    except ValueError:
        return "invalid"
    if any(detail.get(k) is not None and not isinstance(detail.get(k), dict) for k in SECTIONS):
        return "invalid"
    trigger = TRIGGERS.get(detail["eventName"]) if detail["eventSource"] == EVENT_SOURCE else None
    refused = False
    if isinstance(detail.get("errorCode"), str) and detail["errorCode"]:
        if trigger is None or trigger.refusal is None or detail["errorCode"] not in REFUSED_CODES:
            return "ignored"  # a failed call changed nothing
        kind = "vpc" if detail["eventName"] == "DeleteVpc" else "subnet"
        if not _ids(detail, (trigger.refusal,), kind):
            return "invalid"  # a refusal that names nothing
        refused = True
    elif trigger is None:
        return "invalid"
    elif trigger.only_refused:
        return "ignored"  # a VPC that is gone
    identity = detail.get("userIdentity")
    context = identity.get("sessionContext") if isinstance(identity, dict) else None
    issuer = context.get("sessionIssuer") if isinstance(context, dict) else None
    if isinstance(issuer, dict) and issuer.get("arn") in OWN_ROLES and not _own_release(detail):
        return "ignored"  # our own call, by the role that made it (a user agent proves nothing)
    if _ids(detail, trigger.vpc_paths, "vpc"):
        return "queued"
    if trigger.lookup is None:
        return "invalid"  # names no VPC
    keys = _strings(detail, "requestParameters.tagSet.items.key")
    removes_all = detail["eventName"] == "DeleteTags" and not keys
    if trigger.opt_in_tag_only and OPT_IN_KEY not in keys and not removes_all:
        return "ignored"  # tags other than the opt-in one
    if _ids(detail, trigger.lookup_paths, trigger.lookup):
        return "looked up" if refused or not trigger.deletes else "resolved from memory"
    return "ignored" if trigger.opt_in_tag_only else "invalid"  # tagged no subnet / names no resource


def _own_release(detail: dict[str, Any]) -> bool:
    if detail["eventName"] == "DeleteVpcEndpoints":
        return True
    request = (detail.get("requestParameters") or {}).get("ModifyVpcEndpointRequest")
    return isinstance(request, dict) and any(k.startswith("Remove") for k in request)


def invoke(stack, calls, logs, function_id: str, event: Any, may_write: str = "SendMessage") -> dict[str, Any]:
    calls.clear()
    logs.records.clear()
    try:
        result = stack.invoke(function_id, copy.deepcopy(event))
    except Exception as exc:  # the property: nothing here is a retryable failure
        raise AssertionError(f"{function_id} raised {type(exc).__name__}: {exc}") from exc
    assert [c for c in calls.writes if c != may_write] == [], f"{function_id} wrote: {calls.writes}"
    assert isinstance(result, dict), result
    return result


def check_event_outcome(event: Any, result: dict[str, Any], calls, logs) -> None:
    errors = [r for r in logs.records if r.get("level") == "ERROR"]
    assert result.get("status") in {"ok", "queued", "ignored", "invalid"}, result
    if result["status"] == "invalid":
        assert len(errors) == 1, errors
        assert errors[0].get("error") == "InvalidEvent"
        assert isinstance(errors[0].get("reason"), str) and errors[0]["reason"]
        assert result.get("reason") == errors[0]["reason"]
        assert calls.calls == [], f"an invalid event made AWS calls: {calls.calls}"
    else:
        assert errors == [], errors
    expected = contract(event)
    if expected in ("looked up", "resolved from memory"):
        # Gone in the empty account, unless a create this container saw earlier named the resource's VPC.
        assert result["status"] in {"ok", "queued"}, (expected, result)
        if expected == "resolved from memory":
            # A deleted resource is not looked up; only the remediator's own endpoints are read.
            assert set(calls.calls) <= {"DescribeVpcEndpoints", "SendMessage"}, calls.calls
    else:
        assert result["status"] == expected, (expected, result)


# --------------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------------


@FUZZ
@given(event=ARBITRARY)
def test_event_reconciler_survives_arbitrary_json(stack, calls, logs, event):
    result = invoke(stack, calls, logs, EVENT_FUNCTION, event)
    check_event_outcome(event, result, calls, logs)
    statistic(f"{result['status']} {result.get('reason', '')}"[:60])  # --hypothesis-show-statistics: how deep inputs get


@FUZZ
@given(event=mutated_samples())
def test_event_reconciler_survives_mutated_sample_events(stack, calls, logs, event):
    result = invoke(stack, calls, logs, EVENT_FUNCTION, event)
    check_event_outcome(event, result, calls, logs)
    statistic(f"{result['status']} {result.get('reason', '')}"[:60])  # --hypothesis-show-statistics: how deep inputs get


@settings(FUZZ, max_examples=60)
@given(event=st.one_of(ARBITRARY, mutated_samples()))
def test_sweep_reconciles_whatever_its_schedule_sends(stack, calls, logs, event):
    result = invoke(stack, calls, logs, SWEEP_FUNCTION, event)
    assert result.get("status") == "ok" and result.get("failures") == [], result
    assert [r for r in logs.records if r.get("level") == "ERROR"] == []


TRIGGER_SAMPLES = sorted(
    n for n, e in SAMPLES.items() if e["detail"].get("eventName") in TRIGGERS and not e["detail"].get("errorCode")
)
ID_PATTERN = {
    "vpc-id": r"vpc-[0-9a-f]{8,17}",
    "subnet-id": r"subnet-[0-9a-f]{8,17}",
    "route-table-id": r"rtb-[0-9a-f]{8,17}",
    "VpcId": r"vpc-[0-9a-f]{8,17}",
    "VpcEndpointId": r"vpce-[0-9a-f]{8,17}",
}


@st.composite
def near_miss(draw, well_formed: str) -> str:
    """An id one character away from well-formed: junk before or after it, or in upper case."""
    how = draw(st.sampled_from(["suffix", "prefix", "upper"]))
    if how == "upper":
        return well_formed.upper()
    junk = draw(st.sampled_from(["\n", " ", "\t", "\r", "\x00", "x", "-", "/"]))
    return well_formed + junk if how == "suffix" else junk + well_formed


@st.composite
def samples_with_ill_formed_ids(draw) -> dict[str, Any]:
    """A trigger sample in which every resource id (in either section, wrapped or not) is a near miss."""
    event = copy.deepcopy(SAMPLES[draw(st.sampled_from(TRIGGER_SAMPLES))])
    prefixes = tuple(f"{p}-" for p in ID_PREFIXES)
    for path in _paths(event["detail"]):
        value = _get(event["detail"], path)
        if path[0] in SECTIONS and isinstance(value, str) and value.startswith(prefixes):
            _set(event["detail"], path, draw(near_miss(value)))
    return event


def ids_sent_to_ec2(calls) -> list[tuple[str, str]]:
    """(id kind, value) for every resource id in the EC2 requests made, by their wire names."""
    sent = []
    for _, params in calls.params:
        body = params.get("body")
        if not isinstance(body, dict):  # EC2's query protocol sends a dict; SSM's JSON protocol, bytes
            continue
        for key, value in body.items():
            parts = key.split(".")
            if parts[0] == "Filter" and parts[2] == "Value":
                name = body.get(f"Filter.{parts[1]}.Name")
                if name in ID_PATTERN:
                    sent.append((name, value))
            elif parts[0] in ID_PATTERN:
                sent.append((parts[0], value))
    return sent


@FUZZ
@given(event=samples_with_ill_formed_ids())
def test_ill_formed_ids_never_reach_ec2(stack, calls, logs, event):
    """The trigger table drops ids that are not well-formed, so an event naming only such ids reconciles nothing
    (it is invalid, or ignored as tagging no subnet) and asks EC2 about none of them."""
    result = invoke(stack, calls, logs, EVENT_FUNCTION, event)
    check_event_outcome(event, result, calls, logs)
    for kind, value in ids_sent_to_ec2(calls):
        assert re.fullmatch(ID_PATTERN[kind], value), f"ill-formed {kind} sent to EC2: {value!r}"
    assert result["status"] in {"invalid", "ignored"}, result


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_unmutated_samples_are_handled_by_every_function(stack, calls, logs, name):
    """The baseline the mutations start from: each sample is a no-op here, the sweep's own event aside invalid for
    the event function only."""
    result = invoke(stack, calls, logs, EVENT_FUNCTION, SAMPLES[name])
    check_event_outcome(SAMPLES[name], result, calls, logs)
    assert (result["status"] == "invalid") == (name == "scheduled_sweep.json"), result
    assert invoke(stack, calls, logs, SWEEP_FUNCTION, SAMPLES[name])["status"] == "ok"


WELL_FORMED_WINDOW = {
    "version": 1,
    "vpc_id": "vpc-0a1b2c3d4e5f60718",
    "calls": [{"event_id": "e-1", "event_name": "CreateSubnet", "event_time": 1_700_000_000.0, "principal_arn": "arn:x"}],
}


@st.composite
def sqs_batches(draw) -> dict[str, Any]:
    """Well-formed SQS records from the settle queue whose bodies are garbage, mutated windows or whole ones."""
    records = []
    for i in range(draw(st.integers(1, 4))):
        window = copy.deepcopy(WELL_FORMED_WINDOW)
        how = draw(st.sampled_from(["whole", "garbage", "json", "mutated"]))
        if how == "garbage":
            body = draw(st.text(max_size=40))
        elif how == "json":
            body = json.dumps(draw(JSON))
        else:
            if how == "mutated":
                path = draw(st.sampled_from(_paths(window)))
                _set(window, path, draw(st.one_of(JSON, GARBAGE_IDS)))
            body = json.dumps(window)
        records.append(
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"r-{i}",
                "body": body,
                "attributes": {"MessageGroupId": WELL_FORMED_WINDOW["vpc_id"], "ApproximateReceiveCount": "1"},
                "eventSource": "aws:sqs",
            }
        )
    return {"Records": records}


def parses_as_window(body: str) -> bool:
    from vpce_remediator.errors import InvalidEvent
    from vpce_remediator.settle import parse_window

    try:
        parse_window(body, WELL_FORMED_WINDOW["vpc_id"])
    except InvalidEvent:
        return False
    return True


@settings(FUZZ, max_examples=80)
@given(event=st.one_of(ARBITRARY, mutated_samples()))
def test_the_reconciler_refuses_whatever_is_not_an_sqs_batch(stack, calls, logs, event):
    result = invoke(stack, calls, logs, RECONCILER_FUNCTION, event)
    errors = [r for r in logs.records if r.get("level") == "ERROR"]
    assert result["batchItemFailures"] == [] and result["status"] == "invalid", result
    assert [e.get("error") for e in errors] == ["InvalidEvent"] and calls.calls == []


@settings(FUZZ, max_examples=80)
@given(event=sqs_batches())
def test_the_reconciler_consumes_garbage_bodies_and_reconciles_the_whole_ones(stack, calls, logs, event):
    result = invoke(stack, calls, logs, RECONCILER_FUNCTION, event)
    errors = [r for r in logs.records if r.get("level") == "ERROR"]
    windows = [r for r in event["Records"] if parses_as_window(r["body"])]
    # Nothing is reported failed: garbage is consumed, and the VPC (which does not exist) needs nothing
    assert result == {"batchItemFailures": []}, result
    assert len(errors) == len(event["Records"]) - len(windows), errors
    assert all(e.get("error") == "InvalidEvent" and e.get("reason") for e in errors), errors
    # One window is reconciled (three snapshot reads, the catalog once per container); several are folded
    # into one message for the next delivery (one send, no read)
    reads = [c for c in calls.calls if c.startswith("Describe")]
    if len(windows) == 1:
        assert len(reads) in (3, 4), reads
    else:
        assert reads == [] and calls.calls == (["SendMessage"] if windows else []), calls.calls


@pytest.fixture
def rule_stack(calls) -> Stack:
    return Stack(parameters={"ConfigRule": "on"}).provision()


@pytest.fixture
def config(rule_stack: Stack) -> Iterator[ConfigService]:
    with emulate(rule_stack.template) as service:
        # The samples' own result token, as if Config had just issued it
        service.rule().tokens.update(e["resultToken"] for e in CONFIG_SAMPLES.values())
        yield service


@st.composite
def mutated_config_events(draw) -> Any:
    """A sample of Config's from events/ with one or two mutations, in the event or in its invokingEvent."""
    event = copy.deepcopy(CONFIG_SAMPLES[draw(st.sampled_from(sorted(CONFIG_SAMPLES)))])
    invoking = json.loads(event["invokingEvent"])
    for _ in range(draw(st.sampled_from([1, 1, 2]))):
        root = draw(st.sampled_from(["event", "invoking", "invoking", "text"]))
        if root == "text":
            event["invokingEvent"] = draw(st.one_of(st.text(max_size=30), JSON.map(json.dumps)))
            return event
        target = event if root == "event" else invoking
        path = draw(st.sampled_from(_paths(target)))
        how = draw(st.sampled_from(["drop", "null", "wrong_type", "garbage_id"]))
        if how == "drop":
            _drop(target, path)
        elif how == "null":
            _set(target, path, None)
        elif how == "garbage_id":
            _set(target, path, draw(GARBAGE_IDS))
        else:
            _set(target, path, draw(st.one_of(list(BY_TYPE.values()))))
    if "invokingEvent" in event and isinstance(event["invokingEvent"], str):
        event["invokingEvent"] = json.dumps(invoking)
    return event


def config_contract(event: Any, service: ConfigService) -> str:
    """ "invalid" for what is no invocation; "not configs" for one Config did not send (its token is not one
    Config issued, or a periodic run, the one that reads the rule's past results, names another rule);
    "ok" for the rest."""
    from vpce_remediator.errors import InvalidEvent
    from vpce_remediator.rule_events import parse_rule_invocation

    try:
        invocation = parse_rule_invocation(event)
    except InvalidEvent:
        return "invalid"
    rule = service.rule()
    known = invocation.result_token in rule.tokens and (not invocation.periodic or invocation.rule_name == rule.name)
    return "ok" if known else "not configs"


@settings(FUZZ, max_examples=120)
@given(event=st.one_of(JSON, mutated_config_events()))
def test_the_config_rule_evaluates_or_refuses_whatever_it_is_sent_and_never_writes_to_ec2(rule_stack, config, calls, logs, event):
    result = invoke(rule_stack, calls, logs, CONFIG_RULE_FUNCTION, event, may_write="PutEvaluations")
    errors = [r for r in logs.records if r.get("level") == "ERROR"]
    expected = config_contract(event, config)
    if expected == "ok":
        assert result["status"] == "ok" and errors == [], (result, errors)
        assert set(result["evaluations"]) <= {"NOT_APPLICABLE"}, result  # the account has nothing opted in
    else:
        assert result["status"] == "invalid" and [e.get("error") for e in errors] == ["InvalidEvent"], result
        # What is no invocation makes no call; what only Config can refuse, the reads before asking it
        allowed = set() if expected == "invalid" else {"PutEvaluations", "GetComplianceDetailsByConfigRule", *READS_OF_A_PLAN}
        assert set(calls.calls) <= allowed, calls.calls
    statistic(f"{result['status']} {result.get('reason', '')}"[:60])


@pytest.mark.parametrize("name", sorted(CONFIG_SAMPLES))
def test_the_unmutated_config_samples_are_evaluated(rule_stack, config, calls, logs, name):
    assert (
        invoke(rule_stack, calls, logs, CONFIG_RULE_FUNCTION, CONFIG_SAMPLES[name], may_write="PutEvaluations")["status"] == "ok"
    )


def test_every_function_of_the_template_is_fuzzed(stack, rule_stack):
    assert set(stack.function_ids) == {EVENT_FUNCTION, SWEEP_FUNCTION, RECONCILER_FUNCTION}
    assert set(rule_stack.function_ids) - set(stack.function_ids) == {CONFIG_RULE_FUNCTION}
