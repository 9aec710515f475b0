"""Reads template.yaml the way the tests and the demo need it: rules, environment, code locations.

Only the intrinsics the template uses for these are resolved (Ref to a parameter, Join), so a test
fails loudly if the template starts passing something the emulation cannot reproduce.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags turned into their long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as a fresh dict (callers may change their copy); parsed once per file and content."""
    return copy.deepcopy(_parsed(path, path.read_text()))


@functools.cache
def _parsed(path: Path, text: str) -> dict[str, Any]:
    return yaml.load(text, Loader=_CfnLoader)  # a SafeLoader subclass: no arbitrary objects


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def event_rules(template: dict[str, Any], overrides: dict[str, str] | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """(function id, event name, pattern) for every EventBridgeRule event, parameters resolved."""
    parameters = {**parameter_defaults(template), **(overrides or {})}
    return [
        (function_id, name, _resolve_tree(event["Properties"]["Pattern"], parameters))
        for function_id, function in functions(template).items()
        for name, event in function["Properties"].get("Events", {}).items()
        if event["Type"] == "EventBridgeRule"
    ]


def function_property(template: dict[str, Any], function_id: str, name: str) -> Any:
    """A function's property as SAM sees it: its own value, else the Globals one."""
    own = functions(template)[function_id]["Properties"]
    return own.get(name, template.get("Globals", {}).get("Function", {}).get(name))


def _resolve_tree(node: Any, parameters: dict[str, Any]) -> Any:
    if isinstance(node, dict) and set(node) == {"Ref"}:
        return resolve(node, parameters)
    if isinstance(node, dict):
        return {k: _resolve_tree(v, parameters) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_tree(v, parameters) for v in node]
    return node


def parameter_defaults(template: dict[str, Any]) -> dict[str, Any]:
    return {name: p.get("Default") for name, p in template.get("Parameters", {}).items()}


def function_environment(
    template: dict[str, Any],
    function_id: str,
    overrides: dict[str, str] | None = None,
    resources: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment Lambda would give the function: Globals, then its own, parameters resolved, and
    each Ref to a resource replaced by what ``resources`` gives for it (the emulated stack's queue URLs)."""
    parameters = {**parameter_defaults(template), **(overrides or {})}
    variables = {
        **template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}),
        **functions(template)[function_id]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    return {name: resolve(value, parameters, template.get("Conditions", {}), resources) for name, value in variables.items()}


def resolve(
    value: Any, parameters: dict[str, Any], conditions: dict[str, Any] | None = None, resources: dict[str, str] | None = None
) -> str:
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, dict) and "Ref" in value:
        if value["Ref"] in parameters:
            return str(parameters[value["Ref"]])
        if resources is not None and value["Ref"] in resources:
            return resources[value["Ref"]]
        # Not provisioned (a template test, no emulated stack): a stand-in that says what it stands for.
        if resources is None:
            return f"<{value['Ref']}>"
        raise ValueError(f"the emulated stack has no resource {value['Ref']}")
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"] and value["Fn::GetAtt"][1] == "Arn":
        return role_arn(value["Fn::GetAtt"][0])  # the roles' ARNs (the only GetAtt the environment uses)
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        if isinstance(parts, dict):  # !Join [",", !Ref SomeList]: a CommaDelimitedList default is one string
            return str(resolve(parts, parameters, conditions, resources))
        return separator.join(resolve(p, parameters, conditions, resources) for p in parts)
    if isinstance(value, dict) and "Fn::If" in value and conditions is not None:
        name, when_true, when_false = value["Fn::If"]
        chosen = when_true if condition(conditions[name], parameters, conditions) else when_false
        return resolve(chosen, parameters, conditions, resources)
    raise ValueError(f"the emulation cannot resolve {value!r}")


def role_arn(logical_id: str) -> str:
    """The ARN CloudFormation would give one of the stack's roles (its name: stack name, logical id, a suffix)."""
    return f"arn:aws:iam::123456789012:role/vpce-remediator-{logical_id}-0ABCDEF12345"


def condition(expression: Any, parameters: dict[str, Any], conditions: dict[str, Any]) -> bool:
    """Fn::Equals, Fn::Not and named conditions: what the template's conditions use."""
    if "Fn::Equals" in expression:
        left, right = (resolve(v, parameters, conditions) for v in expression["Fn::Equals"])
        return left == right
    if "Fn::Not" in expression:
        return not condition(expression["Fn::Not"][0], parameters, conditions)
    if "Condition" in expression:
        return condition(conditions[expression["Condition"]], parameters, conditions)
    raise ValueError(f"the emulation cannot evaluate {expression!r}")


NO_VALUE = {"Ref": "AWS::NoValue"}


def deployed(template: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """The template as CloudFormation deploys it with these parameters (defaults otherwise): the resources
    and outputs whose Condition is false left out, and each Fn::If replaced by the branch it chooses (one
    that is AWS::NoValue leaves its property or list item out). Parameters and intrinsics stay as written."""
    parameters = {**parameter_defaults(template), **(overrides or {})}
    conditions = template.get("Conditions", {})
    holds = {name: condition(expression, parameters, conditions) for name, expression in conditions.items()}

    def chosen(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return chosen(when_true if holds[name] else when_false)
        if isinstance(node, dict):
            return {k: c for k, v in node.items() if (c := chosen(v)) != NO_VALUE}
        if isinstance(node, list):
            return [c for v in node if (c := chosen(v)) != NO_VALUE]
        return node

    result = copy.deepcopy(template)
    for section in ("Resources", "Outputs"):
        kept = {k: v for k, v in result.get(section, {}).items() if holds.get(v.get("Condition"), True)}
        result[section] = {k: chosen(v) for k, v in kept.items()}
    return result


def code_dir(template: dict[str, Any], function_id: str) -> Path:
    properties = functions(template)[function_id]["Properties"]
    return ROOT / properties["CodeUri"]


def handler_name(template: dict[str, Any], function_id: str) -> str:
    properties = functions(template)[function_id]["Properties"]
    return properties.get("Handler") or template["Globals"]["Function"]["Handler"]


def queue_mappings(template: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(function id, queue logical id, batch size) for every SQS event of a function."""
    return [
        (function_id, event["Properties"]["Queue"]["Fn::GetAtt"][0], int(event["Properties"].get("BatchSize", 10)))
        for function_id, function in functions(template).items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "SQS"
    ]


def queues(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every SQS queue of the template, dead-letter queues first (a redrive policy names its queue's ARN)."""
    found = {k: v.get("Properties", {}) for k, v in template["Resources"].items() if v["Type"] == "AWS::SQS::Queue"}
    return dict(sorted(found.items(), key=lambda item: "RedrivePolicy" in item[1]))
