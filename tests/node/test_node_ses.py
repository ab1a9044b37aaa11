"""Node clients against SES: nodemailer over SMTP (STARTTLS + AUTH, implicit TLS) and
@aws-sdk/client-sesv2 (tests/node/package.json; CI runs `npm ci` there)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.services.ses._helpers import Mailbox

HERE = Path(__file__).resolve().parent


def test_nodemailer_and_sdk_v3(server):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (HERE / "node_modules" / "nodemailer").is_dir():
        pytest.skip("tests/node/node_modules missing: run `npm install` in tests/node")
    domain = f"node{uuid.uuid4().hex[:8]}.example.com"
    sender = f"app@{domain}"
    server.client("ses").verify_email_identity(EmailAddress=sender)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(BROKER_SMTP=server.endpoints["smtp"], BROKER_SMTPS=server.endpoints["smtps"],
               BROKER_CA=server.ca_cert, BROKER_ENDPOINT=server.url, SENDER=sender, RCPT=f"user@{domain}")
    p = subprocess.run([node, str(HERE / "ses_smtp.mjs")], cwd=HERE, env=env, capture_output=True, text=True,
                       timeout=90)
    assert p.returncode == 0, p.stderr + p.stdout
    out = json.loads(p.stdout.strip().splitlines()[-1])
    mid = re.fullmatch(r"250 Ok (\S+)", out["starttls"]["response"]).group(1)
    assert out["starttls"]["accepted"] == [f"user@{domain}"]
    assert out["rejected"]["code"] == 554 and "Email address is not verified" in out["rejected"]["response"]
    assert out["implicit"].startswith("250 Ok ")
    assert out["account"]["Max24HourSend"] == 50000
    box = Mailbox(server.url)
    doc = box.get(mid)
    assert doc["subject"] == "from nodemailer" and doc["tags"] == {"client": "nodemailer"}
    assert doc["text"].strip() == "plain part" and "<p>html part</p>" in doc["html"]
    assert [a["filename"] for a in doc["attachments"]] == ["note.txt"]
    assert box.get(out["api"])["subject"] == "from sdk v3"
