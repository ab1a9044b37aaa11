"""SMTP fixtures: the shared server's SMTP listeners (dev mode: no aws.credentials,
so any SMTP credentials are accepted), TLS trusting the local CA; a verified sender,
the mailbox and the ses client come from the SES tests' helpers."""

from __future__ import annotations

import smtplib
import ssl
from urllib.parse import urlsplit

import pytest

from tests.services.ses._helpers import domain, mailbox, sender, ses  # noqa: F401 (fixtures)


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
