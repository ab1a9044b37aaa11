"""SQS queues a test makes as targets (of SNS, EventBridge, ...), deleted after it."""

from __future__ import annotations

import uuid
from typing import Iterator


def queue_factory(sqs, prefix: str = "q") -> Iterator:
    """Generator for a fixture: yields make(fifo=False, name=None, **attrs) -> (url, arn),
    then deletes every queue it made."""
    made = []

    def make(fifo: bool = False, name: str | None = None, **attrs) -> tuple[str, str]:
        name = name or f"{prefix}-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        attrs = {k: str(v) for k, v in attrs.items()}
        if fifo:
            attrs.setdefault("FifoQueue", "true")
        url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        made.append(url)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    yield make
    for url in made:
        try:
            sqs.delete_queue(QueueUrl=url)
        except Exception:
            pass
