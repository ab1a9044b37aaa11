"""EventBridge integration fixtures: real boto3 clients against the shared server."""

from __future__ import annotations

import pytest
from botocore.config import Config

from tests.helpers.queues import queue_factory
from tests.services.events._helpers import uid

ACCOUNT = "000000000000"
REGION = "us-east-1"


def _config() -> Config:
    return Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=40)


@pytest.fixture(scope="session")
def events(server):
    return server.client("events", config=_config())


@pytest.fixture(scope="session")
def sqs(server):
    return server.client("sqs", config=_config())


@pytest.fixture
def queue(sqs):
    """Factory: queue(fifo=False, **attrs) -> (url, arn); deleted afterwards."""
    yield from queue_factory(sqs, "evq")


@pytest.fixture
def bus(events):
    """Factory: bus(**kw) -> name of a new custom bus (deleted afterwards with its rules)."""
    made = []

    def make(**kw):
        name = uid("bus")
        events.create_event_bus(Name=name, **kw)
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            for r in events.list_rules(EventBusName=name)["Rules"]:
                ids = [t["Id"] for t in events.list_targets_by_rule(Rule=r["Name"], EventBusName=name)["Targets"]]
                if ids:
                    events.remove_targets(Rule=r["Name"], EventBusName=name, Ids=ids)
                events.delete_rule(Name=r["Name"], EventBusName=name)
            events.delete_event_bus(Name=name)
        except Exception:
            pass
