"""SMTP fixtures: the shared server's SMTP listeners (dev mode: no aws.credentials,
so any SMTP credentials are accepted), a verified sender, TLS trusting the local CA."""

from __future__ import annotations

import smtplib
import ssl
import uuid
from urllib.parse import urlsplit

import pytest

from tests.services.ses._helpers import Mailbox


@pytest.fixture(scope="session")
def ses_client(server):
    return server.client("ses")


@pytest.fixture(scope="session")
def tls_context(server):
    return ssl.create_default_context(cafile=server.ca_cert)


@pytest.fixture(scope="session")
def endpoint(server):
    def get(name: str) -> tuple[str, int]:
        u = urlsplit(server.endpoints[name])
        return u.hostname, u.port
    return get


@pytest.fixture
def domain():
    return f"d{uuid.uuid4().hex[:12]}.example.com"


@pytest.fixture
def sender(ses_client, domain):
    address = f"app@{domain}"
    ses_client.verify_email_identity(EmailAddress=address)
    return address


@pytest.fixture(scope="session")
def mailbox(server):
    return Mailbox(server.url)


@pytest.fixture
def submission(endpoint, tls_context):
    """A logged-in STARTTLS session on the submission port; closed afterwards."""
    opened = []

    def connect(login: bool = True) -> smtplib.SMTP:
        host, port = endpoint("smtp")
        s = smtplib.SMTP(host, port, timeout=30)
        opened.append(s)
        s.starttls(context=tls_context)
        if login:
            s.login("AKIDEXAMPLE", "any-password-in-dev-mode")
        return s
    yield connect
    for s in opened:
        try:
            s.quit()
        except Exception:
            pass
