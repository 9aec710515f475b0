"""The named-policy document: parsed and validated whole, or refused with a PolicyError naming the field."""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from vpce_remediator.errors import PolicyError
from vpce_remediator.named_policies import (
    MAX_ALLOWED_CIDRS,
    MAX_DOCUMENT_CHARS,
    MAX_ENDPOINT_POLICY_CHARS,
    parse_named_policies,
)
from vpce_remediator.policy import Policy, PolicySet, ServiceOptions
from vpce_remediator.vocabulary import EndpointType

pytestmark = pytest.mark.unit

GATEWAY, INTERFACE = EndpointType.GATEWAY, EndpointType.INTERFACE

DEFAULT = Policy("default", ("s3", "dynamodb"), ("ssm", "ssmmessages", "ec2messages"))
ENDPOINT_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": "*"}],
}
ENDPOINT_POLICY_TEXT = '{"Statement":[{"Action":"ecr:*","Effect":"Allow","Principal":"*","Resource":"*"}],"Version":"2012-10-17"}'

FULL_YAML = """\
version: 1
policies:
  gold:
    gateway: [s3, dynamodb]
    interface:
      ssm: {}
      ecr.api:
        private_dns: true
        policy:
          Version: 2012-10-17          # unquoted: YAML reads a date, written back as the same text
          Statement:
            - {Effect: Allow, Principal: "*", Action: "ecr:*", Resource: "*"}
        allowed_cidrs: [10.1.0.0/16, 192.168.0.0/24]
      logs:
        private_dns: false
  Bronze:                              # names are matched lowercased, like tag values
    interface: [SSM, ssmmessages]
"""

GOLD = Policy(
    "gold",
    gateway_services=("s3", "dynamodb"),
    interface_services=("ssm", "ecr.api", "logs"),
    options={
        (INTERFACE, "ecr.api"): ServiceOptions(
            private_dns=True, policy_document=ENDPOINT_POLICY_TEXT, allowed_cidrs=("10.1.0.0/16", "192.168.0.0/24")
        ),
        (INTERFACE, "logs"): ServiceOptions(private_dns=False),
    },
)
BRONZE = Policy("bronze", gateway_services=(), interface_services=("ssm", "ssmmessages"))

# The full example as plain data, for JSON input and for the fuzzing below.
FULL_DATA = {
    "version": 1,
    "policies": {
        "gold": {
            "gateway": ["s3", "dynamodb"],
            "interface": {
                "ssm": {},
                "ecr.api": {"private_dns": True, "policy": ENDPOINT_POLICY, "allowed_cidrs": ["10.1.0.0/16", "192.168.0.0/24"]},
                "logs": {"private_dns": False},
            },
        },
        "Bronze": {"interface": ["SSM", "ssmmessages"]},
    },
}


def parse(text: str) -> PolicySet:
    return parse_named_policies(text, DEFAULT)


def doc(policies: str) -> str:
    """A version-1 document around a flow-style ``policies`` value."""
    return f"version: 1\npolicies: {policies}\n"


# --- valid documents -------------------------------------------------------------------------------------


def test_full_example_parses_to_the_expected_policies():
    # Given the documented example, with options, a dotted service name and a mixed-case policy name
    # When it is parsed
    result = parse(FULL_YAML)
    # Then every policy comes out as the Policy the planner reads, plus the default policy unchanged
    assert result.policies == {"default": DEFAULT, "gold": GOLD, "bronze": BRONZE}
    assert result.policies["default"] is DEFAULT
    # And only services that set an option have an options entry
    assert set(result.policies["gold"].options) == {(INTERFACE, "ecr.api"), (INTERFACE, "logs")}
    assert result.policies["gold"].options_for("ssm", INTERFACE) == ServiceOptions()


def test_json_input_parses_like_yaml():
    # Given the same document written as JSON (JSON is YAML), pretty-printed or on one line
    for text in (json.dumps(FULL_DATA, indent=2), json.dumps(FULL_DATA)):
        # When it is parsed
        result = parse(text)
        # Then it gives exactly what the YAML form gives
        assert result == parse(FULL_YAML)


def test_list_and_mapping_forms_are_equivalent():
    # Given one policy listing its services and another mapping them to no options (null or {})
    listed = parse(doc("{p: {gateway: [s3, dynamodb], interface: [logs, ssm, ecr.api]}}"))
    mapped = parse(doc("{p: {gateway: {s3: , dynamodb: {}}, interface: {logs: {}, ssm: , ecr.api: {}}}}"))
    # Then both give the same Policy, in the document's order, with no options
    expected = Policy("p", ("s3", "dynamodb"), ("logs", "ssm", "ecr.api"))
    assert listed.policies["p"] == expected
    assert mapped.policies["p"] == expected


def test_options_equal_to_the_defaults_leave_no_entry():
    # Given a service whose options only restate the defaults
    result = parse(doc("{p: {interface: {ssm: {allowed_cidrs: []}}}}"))
    # Then the policy records no options for it
    assert result.policies["p"].options == {}


def test_only_gateway_or_only_interface_is_enough():
    # Given policies with only one kind of service, the other absent or null
    result = parse(doc("{a: {gateway: [s3]}, b: {interface: [ssm], gateway: null}}"))
    # Then both parse
    assert result.policies["a"] == Policy("a", ("s3",), ())
    assert result.policies["b"] == Policy("b", (), ("ssm",))


def test_the_same_service_may_be_both_gateway_and_interface():
    # Given s3 required both as a gateway and as an interface endpoint
    result = parse(doc("{p: {gateway: [s3], interface: [s3]}}"))
    # Then both are kept
    assert result.policies["p"] == Policy("p", ("s3",), ("s3",))


def test_cidrs_are_normalized():
    # Given CIDRs written with a netmask and as a bare address
    result = parse(doc("{p: {interface: {ssm: {allowed_cidrs: [10.0.0.0/255.0.0.0, 192.168.1.1]}}}}"))
    # Then they are stored in prefix form
    assert result.policies["p"].options_for("ssm", INTERFACE).allowed_cidrs == ("10.0.0.0/8", "192.168.1.1/32")


def test_endpoint_policy_as_json_string_or_mapping_gives_the_same_text():
    # Given one endpoint policy as a YAML mapping, as a flow mapping, and as pretty JSON text with other key order
    pretty = json.dumps({"Statement": ENDPOINT_POLICY["Statement"], "Version": "2012-10-17"}, indent=4)
    as_string = doc("{p: {gateway: {s3: {policy: " + json.dumps(pretty) + "}}}}")
    as_mapping = doc("{p: {gateway: {s3: {policy: " + json.dumps(ENDPOINT_POLICY) + "}}}}")
    # When they are parsed
    texts = {parse(text).policies["p"].options_for("s3", GATEWAY).policy_document for text in (as_string, as_mapping)}
    texts.add(parse(FULL_YAML).policies["gold"].options_for("ecr.api", INTERFACE).policy_document)
    # Then all normalize to one compact, key-sorted JSON text
    assert texts == {ENDPOINT_POLICY_TEXT}


def test_endpoint_policy_keeps_non_ascii_text():
    # Given an endpoint policy with a non-ASCII string
    result = parse(doc('{p: {gateway: {s3: {policy: {Statement: [], Sid: "café"}}}}}'))
    # Then it is kept as written, not \\u-escaped
    assert result.policies["p"].options_for("s3", GATEWAY).policy_document == '{"Sid":"café","Statement":[]}'


# --- the default policy and tag resolution ----------------------------------------------------------------


def test_default_policy_is_included():
    # Given a document that does not mention the default policy
    result = parse(doc("{gold: {gateway: [s3]}}"))
    # Then the default policy is the one given, and the tag aliases of "default" select it
    assert result.policies["default"] is DEFAULT
    for tag in ("default", "DEFAULT ", "", "  ", "true", "True"):
        assert result.resolve(tag) is DEFAULT


@pytest.mark.parametrize("name", ["default", "Default", "DEFAULT"])
def test_default_policy_cannot_be_redefined(name):
    # Given a document that defines a policy named default, in any case
    with pytest.raises(PolicyError) as info:
        parse(doc(f"{{{name}: {{gateway: [s3]}}}}"))
    # Then it is refused, naming the policy
    assert info.value.field == f"policies.{name}"
    assert "reserved" in info.value.problem


def test_tag_values_resolve_case_and_whitespace_insensitively():
    # Given a document with a policy named gold (written "Gold")
    result = parse(doc("{Gold: {gateway: [s3]}}"))
    # When tag values with other case and surrounding whitespace are resolved
    # Then they select gold, and unknown names select nothing
    assert result.resolve("GOLD ") == Policy("gold", ("s3",), ())
    assert result.resolve(" gold\n") is result.policies["gold"]
    assert result.resolve("silver") is None


# --- invalid documents ------------------------------------------------------------------------------------

CIDRS_51 = "[" + ", ".join(f"10.{i}.0.0/16" for i in range(MAX_ALLOWED_CIDRS + 1)) + "]"

INVALID = [
    # (id, document, field, a phrase the problem must contain)
    ("no-version", "policies: {a: {gateway: [s3]}}\n", "version", "required"),
    ("version-2", "version: 2\npolicies: {a: {gateway: [s3]}}\n", "version", "must be 1, got 2"),
    ("version-string", "version: '1'\npolicies: {a: {gateway: [s3]}}\n", "version", "got '1'"),
    ("version-bool", "version: true\npolicies: {a: {gateway: [s3]}}\n", "version", "got true"),
    ("version-float", "version: 1.0\npolicies: {a: {gateway: [s3]}}\n", "version", "got 1.0"),
    ("top-unknown-key", "version: 1\npolicy: {}\npolicies: {a: {gateway: [s3]}}\n", "policy", "not a known key"),
    ("no-policies", "version: 1\n", "policies", "required"),
    ("policies-list", doc("[a, b]"), "policies", "got a list"),
    ("policies-empty", doc("{}"), "policies", "empty"),
    ("policy-list", doc("{gold: [s3]}"), "policies.gold", "got a list"),
    ("policy-name-int", doc("{1: {gateway: [s3]}}"), "policies[1]", "must be strings"),
    ("policy-name-bool", doc("{yes: {gateway: [s3]}}"), "policies[true]", "must be strings"),
    ("policy-name-space", doc("{'gold plated': {gateway: [s3]}}"), 'policies["gold plated"]', "must match"),
    ("policy-name-too-long", doc("{" + "a" * 64 + ": {gateway: [s3]}}"), "policies." + "a" * 64, "must match"),
    ("policy-name-true", doc("{'true': {gateway: [s3]}}"), "policies.true", "alias of the default"),
    ("policy-name-empty", doc("{'': {gateway: [s3]}}"), 'policies[""]', "alias of the default"),
    ("policy-name-case-twice", doc("{Gold: {gateway: [s3]}, gold: {gateway: [s3]}}"), "policies.gold", "again"),
    ("policy-unknown-key", doc("{gold: {gateways: [s3]}}"), "policies.gold.gateways", "not a known key"),
    ("policy-no-services", doc("{gold: {gateway: [], interface: {}}}"), "policies.gold", "requires no services"),
    ("policy-null", doc("{gold: }"), "policies.gold", "requires no services"),
    ("services-string", doc("{gold: {gateway: s3}}"), "policies.gold.gateway", "got 's3'"),
    ("service-int", doc("{gold: {gateway: [s3, 3]}}"), "policies.gold.gateway[1]", "got 3"),
    ("service-nested-list", doc("{gold: {interface: [[ssm]]}}"), "policies.gold.interface[0]", "got a list"),
    ("service-bad-name", doc("{gold: {interface: {'ecr api': {}}}}"), 'policies.gold.interface["ecr api"]', "service name"),
    ("service-twice-list", doc("{gold: {gateway: [s3, S3]}}"), "policies.gold.gateway[1]", "repeats service 's3'"),
    ("service-twice-map", doc("{gold: {interface: {SSM: {}, ssm: {}}}}"), "policies.gold.interface.ssm", "repeats"),
    ("options-bool", doc("{gold: {interface: {ssm: true}}}"), "policies.gold.interface.ssm", "got true"),
    (
        "private-dns-string",
        doc("{gold: {interface: {ecr.api: {private_dns: 'yes'}}}}"),
        'policies.gold.interface["ecr.api"].private_dns',
        "must be true or false, got 'yes'",
    ),
    (
        "private-dns-null",
        doc("{gold: {interface: {ssm: {private_dns: }}}}"),
        "policies.gold.interface.ssm.private_dns",
        "leave it out",
    ),
    (
        "option-unknown",
        doc("{gold: {interface: {ssm: {privatedns: true}}}}"),
        "policies.gold.interface.ssm.privatedns",
        "not an option",
    ),
    (
        "gateway-private-dns",
        doc("{gold: {gateway: {s3: {private_dns: true}}}}"),
        "policies.gold.gateway.s3.private_dns",
        "gateway",
    ),
    (
        "gateway-cidrs",
        doc("{gold: {gateway: {s3: {allowed_cidrs: [10.0.0.0/8]}}}}"),
        "policies.gold.gateway.s3.allowed_cidrs",
        "gateway",
    ),
    ("policy-int", doc("{gold: {interface: {ssm: {policy: 42}}}}"), "policies.gold.interface.ssm.policy", "got 42"),
    (
        "policy-json-array",
        doc("{gold: {interface: {ssm: {policy: '[1, 2]'}}}}"),
        "policies.gold.interface.ssm.policy",
        "JSON object",
    ),
    (
        "policy-bad-json",
        doc("{gold: {interface: {ssm: {policy: '{\"Version\": '}}}}"),
        "policies.gold.interface.ssm.policy",
        "not valid JSON",
    ),
    ("policy-empty", doc("{gold: {interface: {ssm: {policy: {}}}}}"), "policies.gold.interface.ssm.policy", "empty"),
    ("policy-nan", doc("{gold: {interface: {ssm: {policy: {a: .nan}}}}}"), "policies.gold.interface.ssm.policy", "JSON"),
    (
        "policy-timestamp",
        doc("{gold: {interface: {ssm: {policy: {a: 2012-10-17T00:00:00Z}}}}}"),
        "policies.gold.interface.ssm.policy",
        "quote it",
    ),
    (
        "cidrs-string",
        doc("{gold: {interface: {ssm: {allowed_cidrs: 10.0.0.0/8}}}}"),
        "policies.gold.interface.ssm.allowed_cidrs",
        "list",
    ),
    (
        "cidr-int",
        doc("{gold: {interface: {ssm: {allowed_cidrs: [10]}}}}"),
        "policies.gold.interface.ssm.allowed_cidrs[0]",
        "got 10",
    ),
    (
        "cidr-host-bits",
        doc("{gold: {interface: {ssm: {allowed_cidrs: [10.1.2.3/16]}}}}"),
        "policies.gold.interface.ssm.allowed_cidrs[0]",
        "host bits",
    ),
    (
        "cidr-ipv6",
        doc("{gold: {interface: {ssm: {allowed_cidrs: ['fd00::/8']}}}}"),
        "policies.gold.interface.ssm.allowed_cidrs[0]",
        "IPv4",
    ),
    (
        "cidr-everything",
        doc("{gold: {interface: {ssm: {allowed_cidrs: [10.0.0.0/8, 0.0.0.0/0]}}}}"),
        "policies.gold.interface.ssm.allowed_cidrs[1]",
        "too broad",
    ),
    (
        # Two halves of the internet pass a /0 check; no prefix shorter than /8 does
        "cidr-internet-in-halves",
        doc("{gold: {interface: {ssm: {allowed_cidrs: [0.0.0.0/1, 128.0.0.0/1]}}}}"),
        "policies.gold.interface.ssm.allowed_cidrs[0]",
        "shorter than /8",
    ),
    (
        "cidr-public",
        doc("{gold: {interface: {ssm: {allowed_cidrs: [10.0.0.0/8, 203.0.113.0/24, 8.8.0.0/16]}}}}"),
        "policies.gold.interface.ssm.allowed_cidrs[2]",
        "publicly routable: set allow_public_cidrs: true",
    ),
    (
        "allow-public-alone",
        doc("{gold: {interface: {ssm: {allow_public_cidrs: true}}}}"),
        "policies.gold.interface.ssm.allow_public_cidrs",
        "only beside allowed_cidrs",
    ),
    (
        "allow-public-not-bool",
        doc("{gold: {interface: {ssm: {allowed_cidrs: [10.0.0.0/8], allow_public_cidrs: yes please}}}}"),
        "policies.gold.interface.ssm.allow_public_cidrs",
        "true or false",
    ),
    (
        "central-with-options",
        doc("{gold: {interface: {ssm: {central: true, private_dns: true}}}}"),
        "policies.gold.interface.ssm.private_dns",
        "does not apply to a central service",
    ),
    (
        "central-not-bool",
        doc("{gold: {interface: {ssm: {central: 1}}}}"),
        "policies.gold.interface.ssm.central",
        "true or false",
    ),
    (
        "cidr-twice",
        doc("{gold: {interface: {ssm: {allowed_cidrs: [10.0.0.0/8, 10.0.0.0/255.0.0.0]}}}}"),
        "policies.gold.interface.ssm.allowed_cidrs[1]",
        "repeats 10.0.0.0/8",
    ),
    (
        "cidrs-too-many",
        doc("{gold: {interface: {ssm: {allowed_cidrs: " + CIDRS_51 + "}}}}"),
        "policies.gold.interface.ssm.allowed_cidrs",
        "at most 50",
    ),
    # A valid policy before a bad one does not make the document half-valid.
    ("second-policy-bad", doc("{gold: {gateway: [s3]}, silver: {gateway: [s3!]}}"), "policies.silver.gateway[0]", "service name"),
    ("top-level-list", "- version: 1\n", "document", "must be a mapping"),
    ("top-level-scalar", "version 1\n", "document", "got 'version 1'"),
]


@pytest.mark.parametrize(("text", "field", "phrase"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID])
def test_invalid_document_names_the_field(text, field, phrase):
    # Given a document with one mistake
    # When it is parsed
    with pytest.raises(PolicyError) as info:
        parse(text)
    # Then the error names the offending field and says what is wrong
    assert info.value.field == field
    assert phrase in info.value.problem
    assert str(info.value) == f"{field}: {info.value.problem}"


@pytest.mark.parametrize("text", [None, "", "   \n\t", "# only a comment\n", "null", "---\n", "~"])
def test_empty_document_is_refused(text):
    # Given a document with nothing in it
    with pytest.raises(PolicyError) as info:
        parse(text)
    # Then it is refused as empty
    assert (info.value.field, info.value.problem) == ("document", "is empty")


def test_yaml_syntax_error_names_line_and_column():
    # Given a document whose fourth line breaks YAML syntax
    text = "version: 1\npolicies:\n  gold:\n    gateway: [s3, dynamodb\n    interface: [ssm]\n"
    # When it is parsed
    with pytest.raises(PolicyError) as info:
        parse(text)
    # Then the error is about the document and says where
    assert info.value.field == "document"
    assert info.value.problem.startswith("is not valid YAML: ")
    assert "line 5, column" in info.value.problem


def test_duplicate_yaml_keys_are_refused_not_overwritten():
    # Given a document that defines gold twice (plain YAML would silently keep the second)
    text = "version: 1\npolicies:\n  gold: {gateway: [s3]}\n  gold: {interface: [ssm]}\n"
    # When it is parsed
    with pytest.raises(PolicyError) as info:
        parse(text)
    # Then it is refused, saying which key and where
    assert info.value.field == "document"
    assert "duplicate key 'gold'" in info.value.problem
    assert "line 4" in info.value.problem


def test_yaml_merge_keys_still_work():
    # Given a document that shares options through a YAML anchor and merge key, overriding one of them
    text = (
        "version: 1\npolicies:\n  gold:\n    interface:\n"
        "      ssm: &private {private_dns: true, allowed_cidrs: [10.1.0.0/16]}\n"
        "      logs: {<<: *private, private_dns: false}\n"
    )
    # Then the merged and overridden options are what was meant
    gold = parse(text).policies["gold"]
    assert gold.options_for("logs", INTERFACE) == ServiceOptions(private_dns=False, allowed_cidrs=("10.1.0.0/16",))
    assert gold.options_for("ssm", INTERFACE) == ServiceOptions(private_dns=True, allowed_cidrs=("10.1.0.0/16",))


# --- size limits ------------------------------------------------------------------------------------------


def test_document_size_limit():
    # Given a valid document padded with a comment to exactly the limit, and one character more
    base = doc("{gold: {gateway: [s3]}}") + "#"
    at_limit = base + "x" * (MAX_DOCUMENT_CHARS - len(base))
    assert len(at_limit) == MAX_DOCUMENT_CHARS
    # Then the first parses and the second is refused before any parsing
    assert "gold" in parse(at_limit).policies
    with pytest.raises(PolicyError) as info:
        parse(at_limit + "x")
    assert info.value.field == "document"
    assert f"at most {MAX_DOCUMENT_CHARS:,}" in info.value.problem


def test_endpoint_policy_size_limit_holds_against_alias_expansion():
    # Given a small document whose endpoint policy expands, through nested YAML aliases, far past 20,480 characters
    levels = ["l0: &l0 [xxxxxxxxxxxxxxxx]"] + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 25)]
    text = "version: 1\npolicies:\n  p:\n    gateway:\n      s3:\n        policy:\n" + "".join(
        f"          {level}\n" for level in levels
    )
    assert len(text) < MAX_DOCUMENT_CHARS
    # When it is parsed
    with pytest.raises(PolicyError) as info:
        parse(text)
    # Then it is refused promptly, naming the endpoint policy
    assert info.value.field == "policies.p.gateway.s3.policy"
    assert f"{MAX_ENDPOINT_POLICY_CHARS:,}" in info.value.problem


def test_endpoint_policy_at_the_size_limit_is_accepted():
    # Given an endpoint policy of exactly 20,480 characters once serialized, built from aliases of one long
    # string (20 KiB of text cannot fit in an 8 KiB document), and the same policy one character longer
    filler, copies = "y" * 1000, 20

    def document(last: str) -> str:
        aliased = f"{{a: [&s {filler}, " + ", ".join(["*s"] * (copies - 1)) + f", {last}]}}"
        return doc("{p: {gateway: {s3: {policy: " + aliased + "}}}}")

    shell = len(json.dumps({"a": [filler] * copies + [""]}, separators=(",", ":")))
    last = "z" * (MAX_ENDPOINT_POLICY_CHARS - shell)
    assert len(document(last)) < MAX_DOCUMENT_CHARS
    # When they are parsed
    # Then the first is kept whole and the second is refused
    text = parse(document(last)).policies["p"].options_for("s3", GATEWAY).policy_document
    assert len(text) == MAX_ENDPOINT_POLICY_CHARS
    assert json.loads(text) == {"a": [filler] * copies + [last]}
    with pytest.raises(PolicyError) as info:
        parse(document(last + "z"))
    assert info.value.field == "policies.p.gateway.s3.policy"


# --- robustness: nothing but PolicyError, whatever the input ----------------------------------------------

JUNK = [
    None,
    0,
    -1,
    1.5,
    True,
    False,
    "",
    "x",
    "S3",
    "a.b",
    "0.0.0.0/0",
    "\ud800",
    "\x00",
    [],
    [None],
    ["a", 1],
    {},
    {"a": 1},
    {1: 2},
]
JUNK_KEYS = [0, 1.5, False, None, "", "x y", "a.b", "DEFAULT", "\ud800", "version"]


def _paths(node, path=()):
    """Every value position in a nested structure, as a tuple of keys/indexes."""
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def _replace(data, path, value):
    data = copy.deepcopy(data)
    if not path:
        return value
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return data


def _rename(data, path, new_key):
    data = copy.deepcopy(data)
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    if isinstance(parent, dict):
        parent[new_key] = parent.pop(path[-1])
    return data


def _outcome(text):
    """None when the input was accepted or refused with a PolicyError; otherwise what went wrong."""
    try:
        result = parse_named_policies(text, DEFAULT)
    except PolicyError as exc:
        if not (isinstance(exc.field, str) and exc.field and isinstance(exc.problem, str) and exc.problem):
            return f"PolicyError without field or problem for {text!r}"
        return None
    except BaseException as exc:  # the point of the test: nothing else may escape
        return f"{type(exc).__name__}: {exc} for {text[:200]!r}"
    if not isinstance(result, PolicySet):
        return f"returned {result!r}"
    return None


def test_wrong_types_at_every_level_raise_only_policy_error():
    # Given the full example with each value, in turn, replaced by junk of every type, and each key renamed to junk
    texts = []
    for path in list(_paths(FULL_DATA)):
        for junk in JUNK:
            texts.append(yaml.safe_dump(_replace(FULL_DATA, path, junk), sort_keys=False))
        if path:
            for key in JUNK_KEYS:
                texts.append(yaml.safe_dump(_rename(FULL_DATA, path, key), sort_keys=False))
    assert len(texts) > 500
    # When each is parsed
    failures = [f for f in map(_outcome, texts) if f]
    # Then each either parses or is refused with a PolicyError
    assert failures == []


def test_truncated_and_garbled_text_raises_only_policy_error():
    # Given every prefix of the example (YAML and JSON), deeply nested junk, and seeded random garbage
    texts = [FULL_YAML[:n] for n in range(len(FULL_YAML))]
    json_text = json.dumps(FULL_DATA)
    texts += [json_text[:n] for n in range(len(json_text))]
    texts += [
        "[" * 5000,
        "{a: " * 2000,
        "- " * 3000 + "x",
        doc("{p: {gateway: {s3: {policy: " + "[" * 2500 + "]" * 2500 + "}}}}"),
        doc("{p: {gateway: {s3: {policy: " + json.dumps("[" * 3000 + "]" * 3000) + "}}}}"),
        doc("{p: {gateway: {s3: {policy: &p {a: [*p]}}}}}"),  # a recursive alias
        doc("{p: {gateway: {s3: {policy: {1: a, b: c}}}}}"),  # keys that do not sort
        doc("{p: {gateway: {s3: {policy: !!set {a, b}}}}}"),
        doc("{p: {gateway: {s3: {policy: {a: !!binary aGVsbG8=}}}}}"),
        doc("{p: {gateway: {s3: {policy: " + json.dumps('{"a": "\\ud800"}') + "}}}}"),  # a lone surrogate in JSON
        doc('{p: {gateway: {s3: {policy: \'{"a": ' + "9" * 5000 + "}'}}}}"),
        "version: 1\npolicies: {a: {gateway: [s3]}}\nx: 2024-13-45\n",  # a date PyYAML cannot build
        "version: " + "9" * 5000 + "\n",  # an int Python will not convert
        "version: 1\n---\nversion: 1\n",  # two documents
        "\ufeffversion: 1\npolicies: {a: {gateway: [s3]}}\n",
        "\udcff\udcfe",
        "version: !!python/object/apply:os.system [echo hi]\n",
        "? [a, b]\n: c\n",
        "*undefined\n",
        "\t" * 10,
        "\x00",
    ]
    rng = random.Random(20240601)
    alphabet = "{}[]:,-&*!|>'\"%@`#?\n\t ab1.\\\x00\x85\ud800\ufeffé"
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))) for _ in range(500)]
    # When each is parsed
    failures = [f for f in map(_outcome, texts) if f]
    # Then each either parses or is refused with a PolicyError
    assert failures == []


def test_non_text_input_is_refused():
    # Given bytes instead of text
    with pytest.raises(PolicyError) as info:
        parse_named_policies(FULL_YAML.encode(), DEFAULT)  # type: ignore[arg-type]
    # Then it is refused as a document problem
    assert info.value.field == "document"


def test_yaml_is_imported_only_when_a_document_is_parsed():
    # Given a fresh interpreter that imports the module, as a Lambda handler does at cold start
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root / "layers" / "remediator")}
    code = "import sys, vpce_remediator.named_policies; print('yaml' in sys.modules)"
    # When it has only been imported
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    # Then PyYAML has not been loaded
    assert out.strip() == "False"


def test_a_public_range_is_allowed_when_the_policy_says_so():
    result = parse(doc("{p: {interface: {ssm: {allowed_cidrs: [8.8.0.0/16], allow_public_cidrs: true}}}}"))
    assert result.policies["p"].options_for("ssm", INTERFACE).allowed_cidrs == ("8.8.0.0/16",)
    # Private, shared (carrier-grade NAT) and documentation ranges are not publicly routable
    shared = parse(doc("{p: {interface: {ssm: {allowed_cidrs: [100.64.0.0/10, 172.16.0.0/12]}}}}"))
    assert shared.policies["p"].options_for("ssm", INTERFACE).allowed_cidrs == ("100.64.0.0/10", "172.16.0.0/12")


def test_central_is_an_interface_option_alone():
    result = parse(doc("{p: {interface: {kms: {central: true}, ssm: {central: false, private_dns: false}}}}"))
    assert result.policies["p"].options_for("kms", INTERFACE).central is True
    assert result.policies["p"].options_for("ssm", INTERFACE).central is False
