"""The AWS CLI (awscli v1 from the venv) against SES v1 and v2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.brokerproc import DUMMY_KEY, DUMMY_SECRET, REGION

AWS = Path(sys.executable).with_name("aws")


@pytest.fixture(scope="module")
def aws(server, tmp_path_factory):
    exe = str(AWS) if AWS.exists() else shutil.which("aws")
    if not exe:
        pytest.skip("aws CLI not installed")
    home = tmp_path_factory.mktemp("awshome")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=DUMMY_KEY, AWS_SECRET_ACCESS_KEY=DUMMY_SECRET, AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE=str(home / "config"), AWS_SHARED_CREDENTIALS_FILE=str(home / "creds"),
               AWS_MAX_ATTEMPTS="1", AWS_PAGER="")

    def run(*args: str, check: bool = True) -> dict:
        p = subprocess.run([exe, *args, "--endpoint-url", server.url, "--output", "json"], env=env,
                           capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {p.stderr}")
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
