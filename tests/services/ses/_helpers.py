"""Helpers shared by the SES tests (import as tests.services.ses._helpers)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlencode

import pytest
from botocore.config import Config


class Mailbox:
    """The mailbox admin API of one server."""

    def __init__(self, base: str, token: str | None = None):
        self.base = base
        self.headers = {"X-Broker-Admin-Token": token} if token else {}

    def request(self, method: str, path: str, timeout: float = 30.0, headers: dict | None = None):
        req = urllib.request.Request(self.base + path, method=method,
                                     headers=self.headers if headers is None else headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, ctype, body = r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as exc:
            status, ctype, body = exc.code, exc.headers.get("Content-Type", ""), exc.read()
        if ctype.startswith("application/json") and body:
            return status, json.loads(body)
        return status, body

    def list(self, **q) -> list[dict]:
        status, doc = self.request("GET", "/_broker/ses/messages" + _qs(q))
        assert status == 200, doc
        return doc["messages"]

    def get(self, mail_id: str) -> dict:
        status, doc = self.request("GET", f"/_broker/ses/messages/{mail_id}")
        assert status == 200, doc
        return doc

    def raw(self, mail_id: str) -> bytes:
        status, body = self.request("GET", f"/_broker/ses/messages/{mail_id}/raw")
        assert status == 200, body
        return body

    def wait(self, timeout: float = 10.0, **q):
        status, doc = self.request("GET", "/_broker/ses/messages/wait" + _qs({**q, "timeout": timeout}),
                                   timeout=timeout + 15)
        return doc["message"] if status == 200 else None


def _qs(q: dict) -> str:
    q = {k: v for k, v in q.items() if v is not None}
    return "?" + urlencode(q) if q else ""


def error_of(exc_info) -> tuple[str, str]:
    e = exc_info.value.response["Error"]
    return e["Code"], e.get("Message", "")


def registered(name: str) -> bool:
    from services.registry import SERVICES
    return any(s.name == name for s in SERVICES)


# -- fixtures shared by tests/services/ses and tests/protocols/smtp (imported by their conftests) --

def client_config() -> Config:
    return Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=60)


@pytest.fixture(scope="session")
def ses(server):
    return server.client("ses", config=client_config())


@pytest.fixture
def domain():
    """A fresh sender domain: tests isolate themselves by it in the shared account's mailbox."""
    return f"d{uuid.uuid4().hex[:12]}.example.com"


@pytest.fixture
def sender(ses, domain):
    """A verified sender address (auto verification on the shared server)."""
    address = f"sender@{domain}"
    ses.verify_email_identity(EmailAddress=address)
    return address


@pytest.fixture(scope="session")
def mailbox(server):
    return Mailbox(server.url)
