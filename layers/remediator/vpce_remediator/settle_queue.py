"""The settle queue (SQS FIFO, one message group per VPC): the only module that talks to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vpce_remediator.settle import Window

# The IAM actions each side needs; the template test holds each role to exactly its own.
INTAKE_PERMISSIONS = ("sqs:SendMessage",)
# Lambda's event source mapping receives and deletes; the code folds windows and hides messages.
RECONCILER_PERMISSIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility")


class QueueError(Exception):
    """SQS did not accept a change of visibility; the message comes back at the queue's own timeout."""


def send(sqs: Any, queue_url: str, window: Window) -> None:
    """Queues a window in its VPC's message group. The deduplication id is its content, so the same
    CloudTrail call delivered twice within SQS's five-minute deduplication interval is queued once."""
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=window.to_json(),
        MessageGroupId=window.group,
        MessageDeduplicationId=window.deduplication_id,
    )


def hide(sqs: Any, queue_url: str, receipt_handles: Sequence[str], seconds: int) -> None:
    """Makes in-flight messages visible again only after ``seconds``: the window's timer, or a retry's backoff."""
    if not receipt_handles:
        return
    entries = [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": seconds} for i, h in enumerate(receipt_handles)]
    failed = sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
    if failed:
        raise QueueError(f"{len(failed)} of {len(entries)} messages kept their visibility: {failed[0].get('Code')}")
