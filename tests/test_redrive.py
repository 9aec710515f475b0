"""scripts/redrive.py against a moto SQS queue holding both kinds of failure message, with Lambda's
invoke stubbed (moto cannot run functions without Docker)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from scripts import redrive
from tests.emulation.account import load_event

REGION = "eu-west-1"
ACCOUNT = "123456789012"
RECONCILER = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:vpce-remediator-IntakeFunction-AbC123"
SWEEP = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:vpce-remediator-SweepFunction-XyZ789"
RULE = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/vpce-remediator-IntakeFunctionCloudTrailEc2-1A2B3C"


def destination_record(event: dict, function_arn: str = f"{RECONCILER}:$LATEST") -> str:
    """The body Lambda writes to an SQS on-failure destination after the last retry."""
    return json.dumps(
        {
            "version": "1.0",
            "timestamp": "2025-11-25T10:00:00.000Z",
            "requestContext": {
                "requestId": "c2a6f2ae-7dbb-4d22-8782-d0485c9877e2",
                "functionArn": function_arn,
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": "1 VPC(s) failed: vpc-0abc", "errorType": "RemediationFailed"},
        }
    )


def dead_letter_attributes(target: str = RECONCILER) -> dict:
    """The attributes EventBridge puts on a message it dead-letters (the body is the event itself)."""
    strings = {
        "RULE_ARN": RULE,
        "TARGET_ARN": target,
        "ERROR_CODE": "SDK_CLIENT_ERROR",
        "ERROR_MESSAGE": "Rate Exceeded",
        "EXHAUSTED_RETRY_CONDITION": "MaximumEventAgeExceeded",
        "RETRY_ATTEMPTS": "20",
    }
    return {name: {"DataType": "String", "StringValue": value} for name, value in strings.items()}


@pytest.fixture
def sqs():
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


@pytest.fixture
def queue(sqs) -> str:
    return sqs.create_queue(QueueName="vpce-remediator-FailedEventsQueue-1")["QueueUrl"]


@pytest.fixture
def stub():
    """Answers the Lambda client's calls in-process; a call with no answer queued fails, none leaves."""
    with Stubber(boto3.client("lambda", region_name=REGION)) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def lam(stub):
    return stub.client


@pytest.fixture
def payloads(lam) -> list[dict]:
    """The events the stubbed invokes were called with, in order."""
    sent: list[dict] = []
    lam.meta.events.register("provide-client-params.lambda.Invoke", lambda params, **_: sent.append(params))
    return sent


def send_dead_letter(sqs, queue: str, event: dict) -> None:
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event), MessageAttributes=dead_letter_attributes())


def accept(stub, function: str, status: int = 202) -> None:
    stub.add_response("invoke", {"StatusCode": status}, {"FunctionName": function, "InvocationType": "Event", "Payload": ANY})


def depth(sqs, queue: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def visible(sqs, queue: str) -> int:
    return int(
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
    )


def run(sqs, lam, queue: str, **options) -> tuple[redrive.Result, list[str]]:
    lines: list[str] = []
    result = redrive.redrive(sqs, lam, queue, wait_seconds=0, out=lines.append, **options)
    return result, lines


def test_both_kinds_go_back_to_their_function_with_the_original_event(sqs, queue, lam, stub, payloads):
    subnet, sweep = load_event("create_subnet.json"), load_event("scheduled_sweep.json")
    send_dead_letter(sqs, queue, subnet)
    sqs.send_message(QueueUrl=queue, MessageBody=destination_record(sweep, f"{SWEEP}:$LATEST"))
    accept(stub, RECONCILER)
    accept(stub, SWEEP)

    result, _ = run(sqs, lam, queue)

    assert result.ok and len(result.replayed) == 2
    assert [json.loads(p["Payload"]) for p in payloads] == [subnet, sweep]
    assert depth(sqs, queue) == 0


def test_the_dead_letter_body_is_sent_byte_for_byte(sqs, queue, lam, stub, payloads):
    body = json.dumps(load_event("create_subnet.json"), indent=1)
    sqs.send_message(QueueUrl=queue, MessageBody=body, MessageAttributes=dead_letter_attributes())
    accept(stub, RECONCILER)
    run(sqs, lam, queue)
    assert payloads[0]["Payload"] == body.encode()


@pytest.mark.parametrize("qualifier", [":$LATEST", ":7", ":live", ""])
def test_the_recorded_qualifier_is_dropped_so_the_deployed_code_runs(sqs, queue, lam, stub, qualifier):
    sqs.send_message(QueueUrl=queue, MessageBody=destination_record(load_event("create_subnet.json"), RECONCILER + qualifier))
    accept(stub, RECONCILER)
    assert run(sqs, lam, queue)[0].ok


def test_function_name_overrides_the_recorded_function(sqs, queue, lam, stub):
    sqs.send_message(QueueUrl=queue, MessageBody=destination_record(load_event("create_subnet.json")))
    send_dead_letter(sqs, queue, load_event("create_subnet.json"))
    accept(stub, "renamed-reconciler")
    accept(stub, "renamed-reconciler")
    assert run(sqs, lam, queue, function_name="renamed-reconciler")[0].ok


def test_a_dead_letter_without_a_function_target_needs_function_name(sqs, queue, lam, stub, payloads):
    not_lambda = dead_letter_attributes(target=f"arn:aws:sqs:{REGION}:{ACCOUNT}:elsewhere")
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(load_event("create_subnet.json")), MessageAttributes=not_lambda)

    kept, lines = run(sqs, lam, queue)
    assert not kept.ok and not payloads
    assert depth(sqs, queue) == 1 and visible(sqs, queue) == 1
    assert any("is no Lambda function; pass --function-name" in line for line in lines)

    accept(stub, "vpce-remediator-IntakeFunction-AbC123")
    assert run(sqs, lam, queue, function_name="vpce-remediator-IntakeFunction-AbC123")[0].ok
    assert depth(sqs, queue) == 0


def test_dry_run_invokes_and_deletes_nothing_and_leaves_every_message_visible(sqs, queue, lam, payloads):
    send_dead_letter(sqs, queue, load_event("create_subnet.json"))
    sqs.send_message(QueueUrl=queue, MessageBody=destination_record(load_event("scheduled_sweep.json"), SWEEP))

    result, lines = run(sqs, lam, queue, dry_run=True)

    assert result.ok and len(result.replayed) == 2 and not payloads
    assert visible(sqs, queue) == 2
    printed = "\n".join(lines)
    assert f"[dry-run] would invoke {RECONCILER} <- event" in printed and "CreateSubnet eventID=" in printed
    assert f"[dry-run] would invoke {SWEEP} <- event" in printed and "RetriesExhausted after 3 attempts" in printed


def test_a_refused_invoke_keeps_the_message(sqs, queue, lam, stub):
    sqs.send_message(QueueUrl=queue, MessageBody=destination_record(load_event("create_subnet.json")))
    sqs.send_message(QueueUrl=queue, MessageBody=destination_record(load_event("create_route_table.json")))
    stub.add_client_error("invoke", "ResourceNotFoundException", "Function not found", 404)
    accept(stub, RECONCILER)

    result, _ = run(sqs, lam, queue)

    assert len(result.kept) == 1 and len(result.replayed) == 1
    assert depth(sqs, queue) == 1 and visible(sqs, queue) == 1  # released for the next attempt


def test_an_invoke_answered_with_anything_but_202_keeps_the_message(sqs, queue, lam, stub):
    sqs.send_message(QueueUrl=queue, MessageBody=destination_record(load_event("create_subnet.json")))
    accept(stub, RECONCILER, status=200)
    assert not run(sqs, lam, queue)[0].ok
    assert depth(sqs, queue) == 1


def test_messages_of_unknown_shape_stay(sqs, queue, lam):
    sqs.send_message(QueueUrl=queue, MessageBody="not json")
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"hello": "world"}))
    result, lines = run(sqs, lam, queue, function_name="anything")
    assert len(result.kept) == 2 and visible(sqs, queue) == 2
    assert any("body is not JSON" in line for line in lines)
    assert any("neither an EventBridge dead-letter message nor a Lambda destination record" in line for line in lines)


def test_max_bounds_the_messages_handled(sqs, queue, lam, stub):
    for _ in range(3):
        sqs.send_message(QueueUrl=queue, MessageBody=destination_record(load_event("create_subnet.json")))
    accept(stub, RECONCILER)
    accept(stub, RECONCILER)
    assert len(run(sqs, lam, queue, max_messages=2)[0].replayed) == 2
    assert depth(sqs, queue) == 1


def test_an_empty_queue_is_a_success(sqs, queue, lam):
    result, lines = run(sqs, lam, queue)
    assert result.ok and not result.replayed and lines == ["replayed 0, kept 0 in the queue"]


def test_the_command_line_dry_run_reads_the_region_from_the_queue_url(sqs, queue, capsys, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION")
    sqs.send_message(QueueUrl=queue, MessageBody=destination_record(load_event("create_subnet.json")))
    assert redrive.main(["--queue-url", queue, "--dry-run"]) == 0
    assert "[dry-run] would invoke" in capsys.readouterr().out
    assert visible(sqs, queue) == 1


def test_the_command_line_rejects_a_max_below_one(capsys):
    with pytest.raises(SystemExit) as exit_:
        redrive.main(["--queue-url", "https://sqs.eu-west-1.amazonaws.com/123456789012/q", "--max", "0"])
    assert exit_.value.code == 2


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        (f"{RECONCILER}:$LATEST", RECONCILER),
        (f"{RECONCILER}:12", RECONCILER),
        (RECONCILER, RECONCILER),
        ("arn:aws-cn:lambda:cn-north-1:123456789012:function:f:live", "arn:aws-cn:lambda:cn-north-1:123456789012:function:f"),
        (f"arn:aws:sqs:{REGION}:{ACCOUNT}:queue", None),
        ("", None),
    ],
)
def test_unqualified(arn, expected):
    assert redrive.unqualified(arn) == expected


def test_region_of_queue_urls():
    assert redrive.region_of("https://sqs.eu-west-1.amazonaws.com/123456789012/q") == "eu-west-1"
    assert redrive.region_of("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q") == "cn-north-1"
    assert redrive.region_of("https://eu-central-1.queue.amazonaws.com/123456789012/q") == "eu-central-1"
    assert redrive.region_of("http://localhost:4566/000000000000/q") is None


def settle_queues(sqs) -> tuple[str, str]:
    """The settle queue and its FIFO dead-letter queue, as the template makes them."""
    parked = sqs.create_queue(QueueName="SettleDeadLetterQueue.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=parked, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = sqs.create_queue(
        QueueName="SettleQueue.fifo",
        Attributes={"FifoQueue": "true", "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 8})},
    )["QueueUrl"]
    return source, parked


WINDOW = {
    "version": 1,
    "vpc_id": "vpc-0a1b2c3d4e5f60718",
    "calls": [{"event_id": "11eaed80-6d3a-4e91-aba6-91830c31afe1", "event_name": "CreateSubnet", "event_time": 1.7e9}],
}


def test_a_parked_settle_window_goes_back_to_the_settle_queue_in_its_vpcs_group(sqs, lam):
    source, parked = settle_queues(sqs)
    body = json.dumps(WINDOW)
    sqs.send_message(QueueUrl=parked, MessageBody=body, MessageGroupId=WINDOW["vpc_id"], MessageDeduplicationId="d")
    result, lines = run(sqs, lam, parked)
    assert result.ok and len(result.replayed) == 1 and depth(sqs, parked) == 0
    (back,) = sqs.receive_message(QueueUrl=source, AttributeNames=["MessageGroupId"])["Messages"]
    assert back["Body"] == body and back["Attributes"]["MessageGroupId"] == WINDOW["vpc_id"]
    assert any(f"re-queue settle queue <- window of {WINDOW['vpc_id']}" in line for line in lines)
    assert "11eaed80-6d3a-4e91-aba6-91830c31afe1" in lines[0]


def test_a_dry_run_of_parked_windows_sends_nothing(sqs, lam):
    source, parked = settle_queues(sqs)
    sqs.send_message(QueueUrl=parked, MessageBody=json.dumps(WINDOW), MessageGroupId=WINDOW["vpc_id"], MessageDeduplicationId="d")
    result, lines = run(sqs, lam, parked, dry_run=True)
    assert result.ok and lines[0].startswith("[dry-run] would re-queue")
    assert depth(sqs, source) == 0 and visible(sqs, parked) == 1


def test_a_window_whose_group_is_not_its_vpc_stays(sqs, lam):
    source, parked = settle_queues(sqs)
    sqs.send_message(
        QueueUrl=parked, MessageBody=json.dumps(WINDOW), MessageGroupId="vpc-0fffffffffffffff0", MessageDeduplicationId="d"
    )
    result, _ = run(sqs, lam, parked)
    assert result.kept and depth(sqs, source) == 0 and depth(sqs, parked) == 1


def test_a_parked_prompt_window_goes_back_to_its_vpcs_prompt_group(sqs, lam):
    source, parked = settle_queues(sqs)
    prompt = {**WINDOW, "prompt": True}
    group = f"{WINDOW['vpc_id']}:prompt"
    sqs.send_message(QueueUrl=parked, MessageBody=json.dumps(prompt), MessageGroupId=group, MessageDeduplicationId="d")
    result, _ = run(sqs, lam, parked)
    assert result.ok and len(result.replayed) == 1
    (back,) = sqs.receive_message(QueueUrl=source, AttributeNames=["MessageGroupId"])["Messages"]
    assert back["Attributes"]["MessageGroupId"] == group
