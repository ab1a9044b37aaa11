"""SES fixtures: boto3 ses (query) and sesv2 (rest-json) on the shared server,
unique addresses, and the mailbox admin API.

Each test isolates itself with its own sender domain (``<uuid>.example.com``),
so the shared account's mailbox can hold everyone's mail at once.
"""

from __future__ import annotations

import uuid

import pytest
from botocore.config import Config

from tests.services.ses._helpers import Mailbox


def _config() -> Config:
    return Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=60)


@pytest.fixture(scope="session")
def ses(server):
    return server.client("ses", config=_config())


@pytest.fixture(scope="session")
def sesv2(server):
    return server.client("sesv2", config=_config())


@pytest.fixture
def domain():
    """A fresh sender domain, verified in the default account (auto verification)."""
    return f"d{uuid.uuid4().hex[:12]}.example.com"


@pytest.fixture
def sender(ses, domain):
    address = f"sender@{domain}"
    ses.verify_email_identity(EmailAddress=address)
    return address


@pytest.fixture(scope="session")
def mailbox(server):
    return Mailbox(server.url)
