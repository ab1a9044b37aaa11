"""Helpers shared by the EventBridge tests (import as tests.services.events._helpers)."""

from __future__ import annotations

import json
import time
import uuid


def uid(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def receive(sqs, url: str, n: int, timeout: float = 15.0, **kw) -> list[dict]:
    """Receive (and delete) until `n` messages arrived or the deadline passed."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, **kw)
        for m in r.get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def quiet(sqs, url: str, seconds: float = 1.5) -> list[dict]:
    """Messages that arrive within `seconds` (for asserting that none do)."""
    deadline = time.monotonic() + seconds
    got = []
    while time.monotonic() < deadline:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        got.extend(r.get("Messages", []))
    return got


def rule_to_queue(events, queue_arn: str, pattern: dict | None = None, bus: str = "default", **target):
    """A rule on `bus` with one SQS target; returns the rule name."""
    name = uid("rule")
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern or {"source": [name]}))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "t1", "Arn": queue_arn, **target}])
    return name


def error(exc_info) -> tuple[str, str]:
    e = exc_info.value.response["Error"]
    return e["Code"], e.get("Message", "")
