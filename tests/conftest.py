"""Shared fixtures: an offline emulated account (moto + the fidelity layer), the stack as template.yaml
describes it, a counter of AWS calls, and the JSON records the functions log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tests.emulation.account import Vpc
from tests.emulation.costs import CallLog
from tests.emulation.fidelity import Fidelity, enforce
from tests.emulation.lambda_runtime import Stack
from tests.emulation.loader import share_one_loader
from tests.emulation.queues import enforce_deduplication

# Parse botocore's service models once per process, not once per session (each cold container, each test).
share_one_loader()

REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region: nothing here can reach a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        # moto builds ~5,000 AMIs, with their snapshots, for every EC2 backend it creates; nothing here uses one.
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws(offline_aws: None) -> Iterator[Fidelity]:
    with mock_aws(), enforce() as fidelity, enforce_deduplication():
        yield fidelity


@pytest.fixture
def ec2(aws: Fidelity):
    """A client for arranging and asserting; its calls are not counted."""
    return boto3.session.Session(region_name=REGION).client("ec2")


@pytest.fixture
def calls(aws: Fidelity) -> Iterator[CallLog]:
    """Counts the calls of clients created after it (the functions' clients), on a fresh default session."""
    log = CallLog()
    boto3.setup_default_session(region_name=REGION)
    boto3.DEFAULT_SESSION.events.register("before-call.*.*", log.record)
    yield log
    boto3.DEFAULT_SESSION = None
    # IAM cannot tell ModifyVpcEndpoint's forms apart (template.yaml, ExtendVpcEndpoints): every test that
    # counts calls holds the code to the ones it may send.
    for body in log.requests("ModifyVpcEndpoint"):
        assert modify_forms(body) <= ALLOWED_MODIFY_FORMS, body


# What the remediator may send in a ModifyVpcEndpoint: subnets and route tables added or removed, private DNS
# turned on. Never a policy (or its reset), a group, DNS options or an address type.
ALLOWED_MODIFY_FORMS = frozenset(
    {
        "Action",
        "Version",
        "VpcEndpointId",
        "AddSubnetId",
        "RemoveSubnetId",
        "AddRouteTableId",
        "RemoveRouteTableId",
        "PrivateDnsEnabled",
    }
)


def modify_forms(body: dict) -> set[str]:
    """The request's parameters by name, without the list indexes of the query protocol (AddSubnetId.1)."""
    return {key.split(".")[0] for key in body}


@pytest.fixture
def stack(calls: CallLog) -> Stack:
    """The stack with template defaults, but reconciling at once (SettleSeconds=0); cold containers."""
    return Stack().provision()


@pytest.fixture
def vpc(ec2) -> Vpc:
    return Vpc.create(ec2)


class LogCapture(logging.Handler):
    """Collects the remediator's records as the JSON documents Powertools writes to CloudWatch."""

    def __init__(self, formatter: logging.Formatter):
        super().__init__()
        self.setFormatter(formatter)
        self.records: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(json.loads(self.format(record)))

    def of(self, record: str) -> list[dict]:
        return [r for r in self.records if r.get("record") == record]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    from vpce_remediator.observability import logger

    capture = LogCapture(logger.registered_formatter)
    logger._logger.addHandler(capture)
    yield capture
    logger._logger.removeHandler(capture)


@pytest.fixture
def debug_logs(logs: LogCapture) -> Iterator[LogCapture]:
    """``logs``, with the logger at DEBUG (LogLevel=DEBUG): the records that need no one's attention too."""
    from vpce_remediator.observability import logger

    level = logger.log_level
    logger.setLevel("DEBUG")
    yield logs
    logger.setLevel(level)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The unit tier (make unit) must stay fast: a test marked unit may not use the emulated account."""
    for item in items:
        if item.get_closest_marker("unit") and {"aws", "stack", "calls", "ec2", "vpc"} & set(getattr(item, "fixturenames", ())):
            raise pytest.UsageError(f"{item.nodeid} is marked unit but uses the emulated account")
