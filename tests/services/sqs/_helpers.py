"""Helpers shared by the SQS tests (import as tests.services.sqs._helpers)."""

from __future__ import annotations

import time


def error_of(exc_info) -> tuple[str, str]:
    e = exc_info.value.response["Error"]
    return e["Code"], e.get("Message", "")


def attrs_of(client, url: str, *names: str) -> dict:
    return client.get_queue_attributes(QueueUrl=url, AttributeNames=list(names) or ["All"])["Attributes"]


def receive_all(client, url: str, n: int, timeout: float = 10.0, **kw) -> list[dict]:
    """Receive until `n` messages were seen (deadline `timeout`)."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        resp = client.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, n - len(got)),
                                      WaitTimeSeconds=1, **kw)
        got.extend(resp.get("Messages", []))
    return got
