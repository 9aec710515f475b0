"""The named-policy document operators keep in SSM Parameter Store: parsed, validated, and turned into a PolicySet.

The document is YAML (JSON is valid YAML, so either works)::

    version: 1
    policies:
      gold:                         # a policy name; a subnet tagged "gold" (any case, spaces trimmed) uses it
        gateway: [s3, dynamodb]     # a list of service names...
        interface:                  # ...or a mapping of service name -> options (null or {} for none)
          ssm: {}
          ecr.api:
            private_dns: true
            policy:                 # an endpoint policy: a mapping, or the same thing as a JSON string
              Version: "2012-10-17"
              Statement:
                - {Effect: Allow, Principal: "*", Action: "ecr:*", Resource: "*"}
            allowed_cidrs: [10.1.0.0/16]
          logs:
            private_dns: false
          kms:
            central: true           # served from a hub VPC: never created here
      bronze:
        interface: [ssm, ssmmessages, ec2messages]

Rules (a document that breaks any of them is refused whole with a ``PolicyError`` naming the field):

- ``version`` must be the integer 1; ``policies`` must be a non-empty mapping. Unknown keys are errors
  at every level, and so are duplicate keys (plain YAML would silently keep the last one).
- Policy names match ``[a-z0-9][a-z0-9_.-]{0,62}`` once lowercased (tag values are matched lowercased, so
  ``Gold`` and ``gold`` are the same policy and may not both appear). ``default`` is the policy built from
  the GatewayServices/InterfaceServices template parameters and cannot be redefined; ``true`` and the empty
  name are aliases of it and are refused too.
- A policy has ``gateway`` and/or ``interface``, each a list of service names or a mapping of service name
  to options, and requires at least one service. Service names match ``[a-z0-9][a-z0-9.-]*`` once
  lowercased and appear at most once per list/mapping. The document's order is kept.
- Options: ``policy`` (gateway and interface), ``private_dns`` (interface; true or false),
  ``allowed_cidrs`` (interface; at most 50 IPv4 CIDRs without host bits, none shorter than /8, and none
  publicly routable unless ``allow_public_cidrs: true`` is set beside them) and
  ``central`` (interface; true or false: served only by a hub's private hosted zone, or a private-DNS
  endpoint the VPC already has, and never created; with ``central`` no other option applies).
  An endpoint policy must be a non-empty JSON object; it is stored as compact JSON with sorted keys
  (a mapping and the equivalent JSON string give the same text) and may not exceed 20,480 characters,
  the VPC endpoint policy limit. An unquoted YAML date (``Version: 2012-10-17``) is written back as
  the same ``YYYY-MM-DD`` string.
- The text may not exceed 8 KiB: the largest value Parameter Store holds (advanced tier; standard is 4 KB).

Field paths are dotted; keys that are not plain words are bracketed and list items are indexed:
``policies.gold.interface["ecr.api"].allowed_cidrs[0]``.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

from vpce_remediator.errors import PolicyError
from vpce_remediator.policy import DEFAULT_ALIASES, DEFAULT_POLICY, NO_OPTIONS, SERVICE_NAME, Policy, PolicySet, ServiceOptions
from vpce_remediator.vocabulary import EndpointType

GATEWAY, INTERFACE = EndpointType.GATEWAY, EndpointType.INTERFACE

# Parameter Store's advanced tier holds values up to 8 KB (standard: 4 KB, i.e. 4096 characters), so a
# longer text cannot be a stored policy document; the bound also caps what the YAML parser has to chew on.
MAX_DOCUMENT_CHARS = 8 * 1024
# "The size of an endpoint policy cannot exceed 20,480 characters, including white space" (VPC user guide).
MAX_ENDPOINT_POLICY_CHARS = 20_480
MAX_ALLOWED_CIDRS = 50

_VERSION = 1
_TOP_KEYS = ("version", "policies")
_POLICY_KEYS = ("gateway", "interface")
_OPTION_KEYS = {GATEWAY: ("policy",), INTERFACE: ("private_dns", "policy", "allowed_cidrs", "allow_public_cidrs", "central")}
# allowed_cidrs: no prefix shorter than this (0.0.0.0/1 + 128.0.0.0/1 would be the internet in two lines).
MIN_ALLOWED_PREFIX = 8
_LIST_KEY = {GATEWAY: "gateway", INTERFACE: "interface"}
# fullmatch, not match with "$": "$" also matches before a trailing newline.
_POLICY_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def parse_named_policies(text: str, default: Policy) -> PolicySet:
    """The document's policies plus ``default`` (the template-parameter policy), or PolicyError: never half a set."""
    document = _load(text)
    if not isinstance(document, Mapping):
        raise PolicyError("document", f"must be a mapping with 'version' and 'policies', got {_describe(document)}")
    _check_keys(document, "", _TOP_KEYS)
    if "version" not in document:
        raise PolicyError("version", f"is required: set it to {_VERSION}")
    version = document["version"]
    if type(version) is not int or version != _VERSION:
        raise PolicyError("version", f"must be {_VERSION}, got {_describe(version)}")
    if "policies" not in document:
        raise PolicyError("policies", "is required: a mapping of policy name to services")
    raw_policies = document["policies"]
    if not isinstance(raw_policies, Mapping):
        raise PolicyError("policies", f"must be a mapping of policy name to services, got {_describe(raw_policies)}")
    if not raw_policies:
        raise PolicyError("policies", "is empty: define at least one policy")
    policies: dict[str, Policy] = {}
    for raw_name, body in raw_policies.items():
        path = _at("policies", raw_name)
        name = _policy_name(raw_name, path)
        if name in policies:
            raise PolicyError(path, f"names policy {name!r} again (names are matched lowercased)")
        policies[name] = _policy(name, body, path)
    return PolicySet({DEFAULT_POLICY: default, **policies})


def _load(text: Any) -> Any:
    if text is None:
        raise PolicyError("document", "is empty")
    if not isinstance(text, str):
        raise PolicyError("document", f"must be text, got {type(text).__name__}")
    if len(text) > MAX_DOCUMENT_CHARS:
        raise PolicyError("document", f"is {len(text):,} characters long; at most {MAX_DOCUMENT_CHARS:,} are allowed")
    if not text.strip():
        raise PolicyError("document", "is empty")
    import yaml  # Lazily: handlers import this module, and most cold starts never parse a document.

    try:
        document = yaml.load(text, Loader=_strict_loader())  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        raise PolicyError("document", _yaml_problem(exc)) from exc
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not accept
        raise PolicyError("document", f"is not valid YAML: {_first_line(exc)}") from exc
    except RecursionError as exc:
        raise PolicyError("document", "is nested too deeply") from exc
    except Exception as exc:  # PyYAML's constructors raise ValueError etc. for scalars such as 2024-13-45
        raise PolicyError("document", f"is not valid YAML: {_first_line(exc)}") from exc
    if document is None:
        raise PolicyError("document", "is empty")
    return document


@functools.cache
def _strict_loader() -> type:
    """A SafeLoader that refuses duplicate mapping keys instead of keeping the last one."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            if isinstance(node, yaml.MappingNode):
                seen = set()
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        duplicate = key in seen
                        seen.add(key)
                    except TypeError:  # unhashable: the base class reports it
                        continue
                    if duplicate:
                        raise yaml.constructor.ConstructorError(
                            "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
                        )
            return super().construct_mapping(node, deep)

    return StrictLoader


def _yaml_problem(exc: Any) -> str:
    problem = exc.problem or exc.context or "cannot be parsed"
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"is not valid YAML: {problem}{where}"


def _policy_name(raw: Any, path: str) -> str:
    if not isinstance(raw, str):
        raise PolicyError(path, f"policy names must be strings, got {_describe(raw)}: quote it")
    name = raw.lower()
    if name == DEFAULT_POLICY:
        raise PolicyError(path, "is reserved for the policy built from the GatewayServices and InterfaceServices parameters")
    if name in DEFAULT_ALIASES:
        raise PolicyError(path, f"{raw!r} is an alias of the default policy and cannot name another")
    if not _POLICY_NAME.fullmatch(name):
        raise PolicyError(path, f"must match [a-z0-9][a-z0-9_.-]{{0,62}}, got {_describe(raw)}")
    return name


def _policy(name: str, body: Any, path: str) -> Policy:
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise PolicyError(path, f"must be a mapping with 'gateway' and/or 'interface', got {_describe(body)}")
    _check_keys(body, path, _POLICY_KEYS)
    services: dict[str, tuple[str, ...]] = {}
    options: dict[tuple[str, str], ServiceOptions] = {}
    for endpoint_type, key in _LIST_KEY.items():
        names, type_options = _services(body.get(key), _at(path, key), endpoint_type)
        services[endpoint_type] = names
        options.update(((endpoint_type, service), opts) for service, opts in type_options.items())
    if not services[GATEWAY] and not services[INTERFACE]:
        raise PolicyError(path, "requires no services: list at least one gateway or interface service")
    return Policy(name, services[GATEWAY], services[INTERFACE], options)


def _services(raw: Any, path: str, endpoint_type: EndpointType) -> tuple[tuple[str, ...], dict[str, ServiceOptions]]:
    if raw is None:
        return (), {}
    names: dict[str, str] = {}  # lowercased name -> where it was first seen
    options: dict[str, ServiceOptions] = {}
    if isinstance(raw, list):
        for index, item in enumerate(raw):
            _service_name(item, f"{path}[{index}]", names)
    elif isinstance(raw, Mapping):
        for key, value in raw.items():
            item_path = _at(path, key)
            service = _service_name(key, item_path, names)
            opts = _options(value, item_path, endpoint_type)
            if opts != NO_OPTIONS:
                options[service] = opts
    else:
        raise PolicyError(path, f"must be a list of service names or a mapping of name to options, got {_describe(raw)}")
    return tuple(names), options


def _service_name(raw: Any, path: str, seen: dict[str, str]) -> str:
    if not isinstance(raw, str):
        raise PolicyError(path, f"must be a service name such as 's3' or 'ecr.api', got {_describe(raw)}")
    name = raw.lower()
    if not SERVICE_NAME.fullmatch(name):
        raise PolicyError(path, f"must be a service name such as 's3' or 'ecr.api', got {_describe(raw)}")
    if name in seen:
        raise PolicyError(path, f"repeats service {name!r} (first at {seen[name]})")
    seen[name] = path
    return name


def _options(raw: Any, path: str, endpoint_type: EndpointType) -> ServiceOptions:
    if raw is None:
        return NO_OPTIONS
    if not isinstance(raw, Mapping):
        raise PolicyError(path, f"must be a mapping of options, or empty, got {_describe(raw)}")
    allowed = _OPTION_KEYS[endpoint_type]
    for key in raw:
        if key not in allowed:
            hint = " for a gateway endpoint" if key in _OPTION_KEYS[INTERFACE] else ""
            raise PolicyError(_at(path, key), f"is not an option{hint}; expected one of: {', '.join(allowed)}")
    private_dns = None
    if "private_dns" in raw:
        private_dns = raw["private_dns"]
        if type(private_dns) is not bool:
            hint = " (leave it out for the default)" if private_dns is None else ""
            raise PolicyError(f"{path}.private_dns", f"must be true or false, got {_describe(private_dns)}{hint}")
    central = raw.get("central", False)
    if type(central) is not bool:
        raise PolicyError(f"{path}.central", f"must be true or false, got {_describe(central)}")
    if central and (others := [k for k in raw if k != "central"]):
        # Nothing is created for a central service, so an option for its creation would never apply.
        raise PolicyError(_at(path, others[0]), "does not apply to a central service (it is never created here)")
    document = _endpoint_policy(raw["policy"], f"{path}.policy") if "policy" in raw else None
    allow_public = raw.get("allow_public_cidrs", False)
    if type(allow_public) is not bool:
        raise PolicyError(f"{path}.allow_public_cidrs", f"must be true or false, got {_describe(allow_public)}")
    if allow_public and "allowed_cidrs" not in raw:
        raise PolicyError(f"{path}.allow_public_cidrs", "applies only beside allowed_cidrs")
    cidrs = _allowed_cidrs(raw["allowed_cidrs"], f"{path}.allowed_cidrs", allow_public) if "allowed_cidrs" in raw else ()
    return ServiceOptions(private_dns=private_dns, policy_document=document, allowed_cidrs=cidrs, central=central)


def _endpoint_policy(raw: Any, path: str) -> str:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except RecursionError as exc:
            raise PolicyError(path, "is nested too deeply") from exc
        except json.JSONDecodeError as exc:
            raise PolicyError(path, f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
        except ValueError as exc:  # e.g. an integer with more digits than Python converts
            raise PolicyError(path, f"is not valid JSON: {_first_line(exc)}") from exc
        if not isinstance(raw, dict):
            raise PolicyError(path, f"must be a JSON object, got {_describe(raw)}")
    elif not isinstance(raw, Mapping):
        raise PolicyError(path, f"must be a mapping or a JSON string holding an object, got {_describe(raw)}")
    if not raw:
        raise PolicyError(path, "is empty")
    return _compact_json(raw, path)


def _compact_json(value: Mapping, path: str) -> str:
    """Compact JSON with sorted keys, built chunk by chunk: YAML aliases can make a small document expand a lot."""
    encoder = json.JSONEncoder(
        ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"), default=_yaml_scalar_to_json
    )
    chunks: list[str] = []
    size = 0
    try:
        for chunk in encoder.iterencode(value):
            size += len(chunk)
            if size > MAX_ENDPOINT_POLICY_CHARS:
                raise PolicyError(path, f"is longer than {MAX_ENDPOINT_POLICY_CHARS:,} characters once serialized")
            chunks.append(chunk)
    except RecursionError as exc:
        raise PolicyError(path, "is nested too deeply") from exc
    except (TypeError, ValueError) as exc:  # circular aliases, NaN/infinity, unsortable or non-string keys
        raise PolicyError(path, f"cannot be written as JSON: {_first_line(exc)}") from exc
    text = "".join(chunks)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from a \\ud800 escape
        raise PolicyError(path, "holds text that is not valid Unicode") from exc
    return text


def _yaml_scalar_to_json(value: Any) -> Any:
    # An unquoted "Version: 2012-10-17" is a YAML date; its ISO form is exactly what was written.
    if isinstance(value, datetime.datetime):
        raise TypeError(f"{_describe(value)} has no JSON form: quote it")
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(f"{_describe(value)} has no JSON form")


def _allowed_cidrs(raw: Any, path: str, allow_public: bool) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise PolicyError(path, f"must be a list of IPv4 CIDRs, got {_describe(raw)}")
    if len(raw) > MAX_ALLOWED_CIDRS:
        raise PolicyError(path, f"has {len(raw)} entries; at most {MAX_ALLOWED_CIDRS} are allowed")
    cidrs: dict[str, str] = {}
    for index, item in enumerate(raw):
        item_path = f"{path}[{index}]"
        if not isinstance(item, str):
            raise PolicyError(item_path, f"must be an IPv4 CIDR such as 10.1.0.0/16, got {_describe(item)}")
        try:
            network = ipaddress.IPv4Network(item, strict=True)
        except ValueError as exc:
            raise PolicyError(item_path, f"must be an IPv4 CIDR such as 10.1.0.0/16: {_first_line(exc)}") from exc
        if network.prefixlen < MIN_ALLOWED_PREFIX:
            raise PolicyError(item_path, f"{item!r} is too broad: prefixes shorter than /{MIN_ALLOWED_PREFIX} are refused")
        if network.is_global and not allow_public:
            # Internet addresses reaching private endpoints: a mistake unless the policy says otherwise.
            raise PolicyError(item_path, f"{item!r} is publicly routable: set allow_public_cidrs: true to allow it")
        cidr = str(network)
        if cidr in cidrs:
            raise PolicyError(item_path, f"repeats {cidr} (first at {cidrs[cidr]})")
        cidrs[cidr] = item_path
    return tuple(cidrs)


def _check_keys(mapping: Mapping, path: str, allowed: tuple[str, ...]) -> None:
    for key in mapping:
        if key not in allowed:
            raise PolicyError(_at(path, key), f"is not a known key; expected one of: {', '.join(allowed)}")


def _at(path: str, key: Any) -> str:
    """The field path of ``key`` under ``path``: dotted for plain words, bracketed otherwise."""
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    shown = json.dumps(key) if isinstance(key, str) else _describe(key)
    return f"{path}[{shown}]"


def _describe(value: Any) -> str:
    """A short, log-safe rendering of a value from the document, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        try:
            text = repr(value)
        except ValueError:  # an int beyond Python's digit limit for str()
            return "a very large number"
        return text if len(text) <= 40 else f"a {len(text)}-digit number"
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= 60 else f"{text[:57]}...'"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, datetime.datetime):
        return f"the timestamp {value.isoformat()}"
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()}"
    return f"a {type(value).__name__}"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__
