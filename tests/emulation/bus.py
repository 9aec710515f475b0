"""Catches what the remediator publishes on the default event bus: a rule for its source that
targets an SQS queue, as a team routing the events to chat or ticketing would set up."""

from __future__ import annotations

import json
from typing import Any

import boto3
from vpce_remediator.telemetry import EVENT_SOURCE


class ChangeEvents:
    def __init__(self) -> None:
        session = boto3.session.Session()
        self.sqs = session.client("sqs")
        self.queue_url = self.sqs.create_queue(QueueName="vpce-remediator-changes")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = session.client("events")
        events.put_rule(Name="vpce-remediator-changes", EventPattern=json.dumps({"source": [EVENT_SOURCE]}))
        events.put_targets(Rule="vpce-remediator-changes", Targets=[{"Id": "queue", "Arn": arn}])

    def received(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
