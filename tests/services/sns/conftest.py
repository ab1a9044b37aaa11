"""SNS integration fixtures: boto3 clients against the shared session server and
factories for topics, queues and queue subscriptions (unique names, cleaned up)."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.config import Config

from tests.helpers.queues import queue_factory


def _config(validate: bool = True) -> Config:
    return Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=40,
                  parameter_validation=validate)


@pytest.fixture(scope="session")
def sns(server):
    return server.client("sns", config=_config())


@pytest.fixture(scope="session")
def sns_raw(server):
    """No client-side parameter validation: lets tests send what the server must refuse."""
    return server.client("sns", config=_config(False))


@pytest.fixture(scope="session")
def sqs(server):
    return server.client("sqs", config=_config())


def uid(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_topic(sns):
    made = []

    def make(name: str | None = None, fifo: bool = False, **attrs) -> str:
        name = name or uid("topic") + (".fifo" if fifo else "")
        attrs = {k: str(v) for k, v in attrs.items()}
        if fifo:
            attrs.setdefault("FifoTopic", "true")
        arn = sns.create_topic(Name=name, Attributes=attrs)["TopicArn"]
        made.append(arn)
        return arn

    yield make
    for arn in made:
        try:
            sns.delete_topic(TopicArn=arn)
        except Exception:
            pass


@pytest.fixture
def make_queue(sqs):
    """Create a queue; returns (url, arn)."""
    yield from queue_factory(sqs)


@pytest.fixture
def queue_subscription(sns, make_queue):
    """Subscribe a new queue to a topic; returns (queue url, subscription arn)."""
    def make(topic_arn: str, raw: bool = False, fifo: bool = False, queue_attrs: dict | None = None,
             **attrs) -> tuple[str, str]:
        url, arn = make_queue(fifo=fifo, **(queue_attrs or {}))
        attributes = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in attrs.items()}
        if raw:
            attributes["RawMessageDelivery"] = "true"
        sub = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes,
                            ReturnSubscriptionArn=True)["SubscriptionArn"]
        return url, sub
    return make


def error_of(exc_info) -> tuple[str, str]:
    e = exc_info.value.response["Error"]
    return e["Code"], e.get("Message", "")


def receive(sqs, url: str, n: int, timeout: float = 10.0, **kw) -> list[dict]:
    """Receive (and delete) until `n` messages were seen or the deadline passes."""
    import time
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, max(1, n - len(got))),
                                   WaitTimeSeconds=1, **kw)
        for m in resp.get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def nothing_arrives(sqs, url: str, wait: int = 1) -> bool:
    resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
    return not resp.get("Messages")
