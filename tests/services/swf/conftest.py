"""SWF integration fixtures: boto3 against the shared session server.

`swf` waits up to 70 s for a response, as AWS tells long-polling clients to
(polls hold for 60 s); tests never leave a poll idle on it except in
poller threads (_helpers.Poller), which get their own `poller_client`.
"""

from __future__ import annotations

import pytest
from botocore.config import Config

from tests.services.swf._helpers import register_types


def _config(read_timeout: float) -> Config:
    return Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=read_timeout)


@pytest.fixture(scope="session")
def swf(server):
    return server.client("swf", config=_config(70))


@pytest.fixture
def poller_client(server):
    def make(read_timeout: float = 70.0):
        return server.client("swf", config=_config(read_timeout))
    return make


@pytest.fixture
def domain(swf, unique_name):
    swf.register_domain(name=unique_name, workflowExecutionRetentionPeriodInDays="1")
    return unique_name


@pytest.fixture
def typed_domain(swf, domain):
    """A domain with workflow type wf/1 (decisions on "dl") and activity type act/1 (on "al")."""
    register_types(swf, domain)
    return domain
