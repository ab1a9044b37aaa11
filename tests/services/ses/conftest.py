"""SES fixtures: boto3 ses (query) and sesv2 (rest-json) on the shared server,
unique addresses, and the mailbox admin API.

Each test isolates itself with its own sender domain (``<uuid>.example.com``),
so the shared account's mailbox can hold everyone's mail at once.
"""

from __future__ import annotations

import pytest

from tests.services.ses._helpers import client_config, domain, mailbox, sender, ses  # noqa: F401 (fixtures)


@pytest.fixture(scope="session")
def sesv2(server):
    return server.client("sesv2", config=client_config())
