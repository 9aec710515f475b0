"""Calls handlers the way Lambda does: the function's app.py loaded fresh (a cold container), the
environment from template.yaml, a context object, and EventBridge delivery through the template's
own event patterns (moto's EventPattern, since moto's test_event_pattern is a stub)."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from moto.events.models import EventPattern

from tests.emulation.template import (
    code_dir,
    event_rules,
    function_environment,
    functions,
    handler_name,
    load_template,
    parameter_defaults,
    resolve,
)

_containers = itertools.count()


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:eu-west-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def cold_start(directory: os.PathLike, handler: str) -> Callable[[Any, Any], Any]:
    """Loads app.py as a new module: module-level caches start empty, like a new container."""
    module_name, function_name = handler.rsplit(".", 1)
    path = os.path.join(directory, f"{module_name}.py")
    spec = importlib.util.spec_from_file_location(f"lambda_{module_name}_{next(_containers)}", path)
    assert spec and spec.loader
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, function_name)


def as_eventbridge_sees_it(node: Any) -> Any:
    """EventBridge flattens arrays of objects, so ``items.key`` matches a key in any element; moto's
    EventPattern does not. Turning [{"key": a}, {"key": b}] into {"key": [a, b]} gives moto the same view."""
    if isinstance(node, dict):
        return {k: as_eventbridge_sees_it(v) for k, v in node.items()}
    if isinstance(node, list) and node and all(isinstance(item, dict) for item in node):
        merged: dict[str, list[Any]] = {}
        for item in node:
            for key, value in as_eventbridge_sees_it(item).items():
                merged.setdefault(key, []).extend(value if isinstance(value, list) else [value])
        return merged
    return node


def matches(pattern: EventPattern, event: dict[str, Any]) -> bool:
    return pattern.matches_event(as_eventbridge_sees_it(event))


@dataclass
class Delivery:
    function_id: str
    rule: str
    result: Any


class Stack:
    """The deployed stack, emulated: each function's environment, handler and rules from template.yaml."""

    def __init__(self, parameters: dict[str, str] | None = None, template: dict[str, Any] | None = None):
        self.template = template or load_template()
        self.parameters = parameters or {}
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._rules = [
            (function_id, name, EventPattern.load(json.dumps(pattern)))
            for function_id, name, pattern in event_rules(self.template)
        ]

    def provision(self) -> Stack:
        """Creates the stack's resources that the functions read at run time (the policy parameter)."""
        import boto3

        ssm = boto3.session.Session().client("ssm")
        for resource in self.template["Resources"].values():
            if resource["Type"] == "AWS::SSM::Parameter":
                properties = resource["Properties"]
                name = resolve(properties["Name"], {**parameter_defaults(self.template), **self.parameters})
                ssm.put_parameter(Name=name, Value=properties["Value"], Type=properties["Type"], Overwrite=True)
        return self

    def environment(self, function_id: str) -> dict[str, str]:
        return function_environment(self.template, function_id, self.parameters)

    def handler(self, function_id: str) -> Callable[[Any, Any], Any]:
        if function_id not in self._handlers:
            self._handlers[function_id] = cold_start(
                code_dir(self.template, function_id), handler_name(self.template, function_id)
            )
        return self._handlers[function_id]

    def invoke(self, function_id: str, event: Any) -> Any:
        """One invocation with the function's environment in place; exceptions propagate as in Lambda."""
        saved = os.environ.copy()
        os.environ.update(self.environment(function_id))
        try:
            return self.handler(function_id)(event, LambdaContext(function_name=function_id))
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def publish(self, event: dict[str, Any]) -> list[Delivery]:
        """EventBridge: every rule whose pattern matches invokes its function."""
        return [
            Delivery(function_id, rule, self.invoke(function_id, event))
            for function_id, rule, pattern in self._rules
            if matches(pattern, event)
        ]

    @property
    def function_ids(self) -> list[str]:
        return list(functions(self.template))
