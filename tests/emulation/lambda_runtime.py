"""Calls handlers the way Lambda does: the function's app.py loaded fresh (a cold container), the
environment from template.yaml, a context object, and EventBridge delivery through the template's
own event patterns (moto's EventPattern, since moto's test_event_pattern is a stub)."""

from __future__ import annotations

import functools
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

from tests.emulation.queues import QueueMapping
from tests.emulation.template import (
    code_dir,
    deployed,
    event_rules,
    function_environment,
    functions,
    handler_name,
    load_template,
    parameter_defaults,
    queue_mappings,
    queues,
    resolve,
)

# The emulated stack reconciles as soon as a call is queued unless a test opens a settle window: most
# tests are about what a reconcile does, not when. The template's own default (300 s) is tested apart.
TEST_PARAMETERS = {"SettleSeconds": "0"}

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
    """The deployed stack, emulated: each function's environment, handler, rules and queue mappings
    from template.yaml, and the resources the functions use at run time (policy parameter, queues)."""

    def __init__(self, parameters: dict[str, str] | None = None, template: dict[str, Any] | None = None):
        self.parameters = {**TEST_PARAMETERS, **(parameters or {})}
        # Only what these parameters deploy: a function behind a false condition cannot be invoked.
        self.template = deployed(template or load_template(), self.parameters)
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._rules = [
            (function_id, name, EventPattern.load(json.dumps(pattern)))
            for function_id, name, pattern in event_rules(self.template)
        ]
        self.resources: dict[str, str] = {}  # logical id -> what Ref gives (a queue's URL)
        self.mappings: dict[str, QueueMapping] = {}  # function id -> its SQS event source mapping

    def provision(self) -> Stack:
        """Creates the stack's resources the functions use at run time: the policy parameter and the
        queues (FIFO attributes and redrive policies as the template sets them), and maps each queue
        to its function as Lambda's event source mapping would."""
        import boto3

        session = boto3.session.Session()
        ssm, sqs = session.client("ssm"), session.client("sqs")
        parameters = {**parameter_defaults(self.template), **self.parameters}
        for resource in self.template["Resources"].values():
            if resource["Type"] == "AWS::SSM::Parameter":
                properties = resource["Properties"]
                name = resolve(properties["Name"], parameters)
                ssm.put_parameter(Name=name, Value=properties["Value"], Type=properties["Type"], Overwrite=True)
        arns: dict[str, str] = {}
        for logical_id, properties in queues(self.template).items():
            attributes = {k: _attribute(v, arns) for k, v in properties.items() if k not in ("FifoQueue", "QueueName")}
            if properties.get("FifoQueue"):
                attributes["FifoQueue"] = "true"
            name = f"{logical_id}{'.fifo' if properties.get('FifoQueue') else ''}"
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            self.resources[logical_id] = url
            arns[logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for function_id, queue_id, batch_size in queue_mappings(self.template):
            invoke = functools.partial(self.invoke, function_id)
            self.mappings[function_id] = QueueMapping(sqs, self.resources[queue_id], invoke, batch_size)
        return self

    def cold(self, function_id: str) -> Stack:
        """The function's next invocation runs in a new container (caches empty, clients new)."""
        self._handlers.pop(function_id, None)
        return self

    def environment(self, function_id: str) -> dict[str, str]:
        return function_environment(self.template, function_id, self.parameters, self.resources or None)

    @property
    def settle_seconds(self) -> int:
        return int({**parameter_defaults(self.template), **self.parameters}["SettleSeconds"])

    def settle(self, timeout: float = 30.0) -> int:
        """Lets every settle window close: Lambda's queue mappings deliver until the queues are empty
        (sleeping, in real time, while a window is open). Returns the number of batches delivered."""
        return sum(mapping.drain(timeout) for mapping in self.mappings.values())

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
        """EventBridge: every rule whose pattern matches invokes its function. With SettleSeconds=0 the
        queued calls are then reconciled at once, as Lambda's queue mapping would within a second."""
        deliveries = [
            Delivery(function_id, rule, self.invoke(function_id, event))
            for function_id, rule, pattern in self._rules
            if matches(pattern, event)
        ]
        if self.settle_seconds == 0:
            self.deliver()
        return deliveries

    def deliver(self) -> int:
        """What Lambda's queue mappings deliver now: every visible message, none still hidden."""
        return sum(mapping.deliver() for mapping in self.mappings.values())

    @property
    def reconciler(self) -> QueueMapping:
        """The settle queue's mapping to ReconcilerFunction: its invocations and what they answered."""
        return self.mappings["ReconcilerFunction"]

    @property
    def function_ids(self) -> list[str]:
        return list(functions(self.template))


def _attribute(value: Any, arns: dict[str, str]) -> str:
    """A queue property as SQS's CreateQueue attribute: strings, and the redrive policy as JSON."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        target = value["deadLetterTargetArn"]["Fn::GetAtt"][0]
        return json.dumps({"deadLetterTargetArn": arns[target], "maxReceiveCount": value["maxReceiveCount"]})
    return str(value)
