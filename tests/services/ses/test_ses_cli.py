"""The AWS CLI (awscli v1 from the venv) against SES v1 and v2."""

from __future__ import annotations

import json

import pytest

from tests.helpers.clients import aws_cli


@pytest.fixture(scope="module")
def aws(server, tmp_path_factory):
    cli = aws_cli(server.url, tmp_path_factory.mktemp("awshome"))

    def run(*args: str, check: bool = True) -> dict:
        p = cli(*args, check=check)
        return json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else {"stderr": p.stderr}
    return run


def test_cli_v1(aws, domain, mailbox):
    sender = f"cli@{domain}"
    aws("ses", "verify-email-identity", "--email-address", sender)
    assert sender in aws("ses", "list-identities")["Identities"]
    mid = aws("ses", "send-email", "--from", sender, "--to", f"to@{domain}", "--subject", "from the cli",
              "--text", "cli body")["MessageId"]
    (m,) = mailbox.list(id=mid)
    assert m["subject"] == "from the cli" and m["destination"] == [f"to@{domain}"]
    out = aws("ses", "send-email", "--from", f"x@{domain}", "--to", f"to@{domain}", "--subject", "s",
              "--text", "t", check=False)
    assert "MessageRejected" in out["stderr"] and "Email address is not verified" in out["stderr"]
    assert aws("ses", "get-send-quota")["Max24HourSend"] == 50000.0


def test_cli_v2(aws, domain, mailbox):
    sender = f"cli2@{domain}"
    assert aws("sesv2", "create-email-identity", "--email-identity", sender)["IdentityType"] == "EMAIL_ADDRESS"
    content = json.dumps({"Simple": {"Subject": {"Data": "v2 cli"}, "Body": {"Text": {"Data": "hello"}}}})
    mid = aws("sesv2", "send-email", "--from-email-address", sender, "--destination",
              json.dumps({"ToAddresses": [f"to2@{domain}"]}), "--content", content)["MessageId"]
    assert mailbox.get(mid)["text"].strip() == "hello"
    assert aws("sesv2", "get-email-identity", "--email-identity", sender)["VerificationStatus"] == "SUCCESS"
