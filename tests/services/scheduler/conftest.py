"""Scheduler integration fixtures: real boto3 clients against the shared server."""

from __future__ import annotations

import pytest
from botocore.config import Config

from tests.services.events._helpers import uid


def _config() -> Config:
    return Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=40)


@pytest.fixture(scope="session")
def scheduler(server):
    return server.client("scheduler", config=_config())


@pytest.fixture(scope="session")
def sqs(server):
    return server.client("sqs", config=_config())


@pytest.fixture(scope="session")
def events(server):
    return server.client("events", config=_config())


@pytest.fixture
def queue(sqs):
    """Factory: queue() -> (url, arn); deleted afterwards."""
    made = []

    def make(fifo: bool = False):
        name = uid("schq") + (".fifo" if fifo else "")
        attrs = {"FifoQueue": "true", "ContentBasedDeduplication": "true"} if fifo else {}
        url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        made.append(url)
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    yield make
    for url in made:
        try:
            sqs.delete_queue(QueueUrl=url)
        except Exception:
            pass
