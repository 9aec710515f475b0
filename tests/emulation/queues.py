"""Lambda's SQS event source mapping, emulated on moto's SQS (moto would need Docker to invoke Lambda),
and the SQS rule moto skips that the settle window relies on.

``QueueMapping.poll`` does what Lambda's pollers do for one batch: receive up to ``BatchSize`` messages
with the queue's own visibility timeout (FIFO: moto withholds a message group while one of its messages
is in flight, as SQS does), invoke the function synchronously with an ``aws:sqs`` event, and delete
the messages the function did not report in ``batchItemFailures``. A function that raises fails the
whole batch: nothing is deleted, and the messages come back when their visibility ends. Messages
received more than ``maxReceiveCount`` times go to the dead-letter queue on the next receive (moto).

``drain`` polls until the queue is empty, sleeping (real time) until the next hidden message becomes
visible again, so a test's settle window really passes; tests keep it to a second or two.

``enforce_deduplication`` makes moto's FIFO deduplication last its five minutes after the message was
deleted too, as SQS does (moto forgets a deduplication id with its message).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from moto.core.utils import unix_time_millis
from moto.sqs.models import DEDUPLICATION_TIME_IN_SECONDS, Queue, sqs_backends

ACCOUNT = "123456789012"


def lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda builds from ReceiveMessage's answer (AttributeNames=All)."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class QueueMapping:
    """One function's SQS event source mapping (BatchSize, ReportBatchItemFailures) on one queue."""

    def __init__(self, sqs: Any, queue_url: str, invoke: Callable[[dict[str, Any]], Any], batch_size: int = 10):
        self.sqs, self.queue_url, self.invoke, self.batch_size = sqs, queue_url, invoke, batch_size
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.region = sqs.meta.region_name
        self.invocations: list[dict[str, Any]] = []  # each batch delivered, with what the function answered

    def poll(self) -> int:
        """One batch, if any message is visible; returns how many messages it held."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = lambda_event(messages, self.queue_arn, self.region)
        try:
            answer = self.invoke(event)
        except Exception as exc:  # the whole batch failed: Lambda deletes nothing
            self.invocations.append({"event": event, "error": exc})
            return len(messages)
        self.invocations.append({"event": event, "answer": answer})
        failed = {f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])],
            )
        return len(messages)

    def deliver(self) -> int:
        """Polls while messages are visible, without waiting for hidden ones; returns the batches delivered."""
        batches = 0
        while self.poll():
            batches += 1
        return batches

    @property
    def failures(self) -> list[str]:
        """Message ids the function reported as failed (or all of a batch it raised on), in order."""
        failed = []
        for invocation in self.invocations:
            if "error" in invocation:
                failed += [r["messageId"] for r in invocation["event"]["Records"]]
            else:
                failed += [f["itemIdentifier"] for f in (invocation["answer"] or {}).get("batchItemFailures", [])]
        return failed

    def drain(self, timeout: float = 30.0) -> int:
        """Polls until nothing is left in the queue; returns the number of batches delivered."""
        deadline = time.monotonic() + timeout
        batches = 0
        while True:
            if self.poll():
                batches += 1
                continue
            wake = self.next_visible()
            if wake is None:
                return batches
            pause = wake - time.time() + 0.05
            if time.monotonic() + max(pause, 0) > deadline:
                raise TimeoutError(f"{self.queue_url} still holds messages after {timeout} s")
            time.sleep(max(pause, 0.01))

    def next_visible(self) -> float | None:
        """When the next hidden message of the queue becomes visible again (epoch seconds); None if empty."""
        queue = _queue(self.queue_url)
        now = time.time()
        times = [max(m.visible_at, m.delayed_until) / 1000 for m in queue._messages]
        if not times:
            return None
        # Visible messages held back behind a hidden one of their FIFO group wait for that one.
        return min((t for t in times if t > now), default=now)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """Every message body delivered so far, in delivery order."""
        return [json.loads(r["body"]) for i in self.invocations for r in i["event"]["Records"]]


def batch_of(bodies: list[tuple[str, str]], receive_count: int = 1) -> dict[str, Any]:
    """An SQS batch event for (message group, body) pairs, as a queue mapping delivers it, for invoking a
    queue-fed function directly (no queue behind it: its receipt handles name nothing)."""
    messages = [
        {
            "MessageId": f"direct-{i}",
            "ReceiptHandle": f"direct-{i}",
            "Body": body,
            "Attributes": {"MessageGroupId": group, "ApproximateReceiveCount": str(receive_count)},
        }
        for i, (group, body) in enumerate(bodies)
    ]
    return lambda_event(messages, f"arn:aws:sqs:eu-west-1:{ACCOUNT}:SettleQueue.fifo", "eu-west-1")


def _queue(queue_url: str) -> Queue:
    name = queue_url.rstrip("/").rsplit("/", 1)[1]
    for regions in sqs_backends.values():
        for backend in regions.values():
            if name in backend.queues:
                return backend.queues[name]
    raise LookupError(queue_url)


@contextlib.contextmanager
def enforce_deduplication() -> Iterator[None]:
    """SQS drops a FIFO message whose deduplication id it accepted in the last five minutes, even if that
    message was received and deleted since; moto only compares with the messages it still holds."""
    seen: dict[tuple[int, str], float] = {}
    lock = threading.Lock()
    original = Queue.add_message

    def add_message(queue: Queue, message: Any) -> None:
        if queue.fifo_queue and message.deduplication_id:
            scope = message.group_id if queue.attributes.get("DeduplicationScope") == "messageGroup" else ""
            key = (id(queue), f"{scope}/{message.deduplication_id}")
            now = unix_time_millis() / 1000
            with lock:
                if now - seen.get(key, -1e12) < DEDUPLICATION_TIME_IN_SECONDS:
                    return
                seen[key] = now
        original(queue, message)

    Queue.add_message = add_message  # type: ignore[method-assign]
    try:
        yield
    finally:
        Queue.add_message = original  # type: ignore[method-assign]
