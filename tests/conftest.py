"""Shared fixtures: an offline emulated account (moto + the fidelity layer), the stack as template.yaml
describes it, a counter of AWS calls, and the JSON records the functions log."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tests.emulation.account import Vpc
from tests.emulation.fidelity import Fidelity, enforce
from tests.emulation.lambda_runtime import Stack
from tests.emulation.queues import enforce_deduplication

REGION = "eu-west-1"
READS = ("Describe", "Get", "List")


@pytest.fixture(autouse=True)
def offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region: nothing here can reach a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


class CallLog:
    """Every AWS API call made through boto3's default session, by operation name."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.params: list[tuple[str, dict]] = []

    def record(self, model, params, **_: object) -> None:
        self.calls.append(model.name)
        self.params.append((model.name, params))

    def clear(self) -> None:
        self.calls.clear()
        self.params.clear()

    def requests(self, operation: str) -> list[dict]:
        """The serialized request bodies (wire names) sent for one operation."""
        return [p.get("body", {}) for name, p in self.params if name == operation]

    @property
    def writes(self) -> list[str]:
        return [c for c in self.calls if not c.startswith(READS)]

    @property
    def reads(self) -> list[str]:
        return [c for c in self.calls if c.startswith(READS)]

    def count(self) -> Counter:
        return Counter(self.calls)


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
