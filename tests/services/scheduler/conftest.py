"""Scheduler integration fixtures: real boto3 clients against the shared server
(the SQS and EventBridge fixtures are EventBridge's own)."""

from __future__ import annotations

import pytest

from tests.services.events.conftest import _config, events, queue, sqs  # noqa: F401  (fixtures)


@pytest.fixture(scope="session")
def scheduler(server):
    return server.client("scheduler", config=_config())
