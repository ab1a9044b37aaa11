"""SES on a server configured like a team's: access keys configured (SigV4 and
SES SMTP credentials enforced), verification by simulated click, the sandbox,
a small daily quota; and the mailbox surviving kill -9, encrypted on disk.

One server for the module (its own data dir; the restart test runs last)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import smtplib
import socket
import ssl
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.helpers.brokerproc import BrokerProcess, wait_for
from tests.services.ses._helpers import Mailbox, error_of

ACCOUNT = "111122223333"
ACCESS_KEY = "AKIASESSTRICTTEST001"
SECRET = "strict/secret+key/for+ses+tests0000000000"
TOKEN = "admin-token-for-ses-tests"
QUOTA = 8


def smtp_password(secret: str, region: str) -> str:
    """AWS's documented version-4 derivation, written out step by step."""
    date, service, terminal, message, version = "11111111", "ses", "aws4_request", "SendRawEmail", 0x04
    sig = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    sig = hmac.new(sig, region.encode(), hashlib.sha256).digest()
    sig = hmac.new(sig, service.encode(), hashlib.sha256).digest()
    sig = hmac.new(sig, terminal.encode(), hashlib.sha256).digest()
    sig = hmac.new(sig, message.encode(), hashlib.sha256).digest()
    return base64.b64encode(bytes([version]) + sig).decode()


class Upstream:
    """An upstream SMTP server (aiosmtpd in this process) that records what the relay hands it."""

    def __init__(self):
        from aiosmtpd.controller import Controller
        self.got: list[tuple[str, list[str], bytes]] = []
        upstream = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                upstream.got.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
                return "250 OK"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()


@pytest.fixture(scope="module")
def upstream():
    up = Upstream()
    yield up
    up.controller.stop()


@pytest.fixture(scope="module")
def strict(tmp_path_factory, upstream):
    creds = json.dumps([{"access_key": ACCESS_KEY, "secret_key": SECRET, "account_id": ACCOUNT,
                         "user_name": "mailer"}])
    env = {"BROKER_AWS_CREDENTIALS": creds, "BROKER_SECURITY_ADMIN_TOKEN": TOKEN,
           "BROKER_SES_VERIFICATION": "click", "BROKER_SES_SANDBOX": "true", "BROKER_SES_DAILY_QUOTA": str(QUOTA),
           "BROKER_SES_RELAY_URL": f"smtp://127.0.0.1:{upstream.port}",
           "BROKER_SES_RELAY_ALLOWLIST": '["@relay.example.com", "vip@example.net"]'}
    proc = BrokerProcess(tmp_path_factory.mktemp("ses-strict"), "--workers", "1", "--shards", "1", env=env)
    try:
        yield proc
    finally:
        proc.close()


@pytest.fixture(scope="module")
def ses(strict):
    return strict.client("ses", aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET)


@pytest.fixture(scope="module")
def box(strict):
    return Mailbox(strict.url, TOKEN)


@pytest.fixture(scope="module")
def domain():
    return f"strict{uuid.uuid4().hex[:8]}.example.com"


def click(box: Mailbox, address: str) -> None:
    """Open the link of the verification mail sent to `address` (no admin token: the link is enough)."""
    (m,) = [m for m in box.list(to=address) if m["direction"] == "verification"]
    assert m["source"] == "no-reply-aws@amazon.com" and "Email Address Verification Request" in m["subject"]
    link = re.search(r"https?://\S+/_ses/verify\?\S+", box.get(m["id"])["text"]).group(0)
    path = link[link.index("/_ses/"):]
    status, page = box.request("GET", path, headers={})
    assert status == 200 and b"Congratulations" in page


def test_admin_api_needs_the_token(box):
    assert box.request("GET", "/_broker/ses/messages", headers={})[0] == 403
    assert box.request("GET", "/_broker/ses/messages")[0] == 200


def test_verification_by_click(ses, box, domain):
    address = f"sender@{domain}"
    ses.verify_email_identity(EmailAddress=address)
    attrs = ses.get_identity_verification_attributes(Identities=[address])["VerificationAttributes"]
    assert attrs[address]["VerificationStatus"] == "Pending"
    with pytest.raises(ClientError) as e:
        ses.send_email(Source=address, Destination={"ToAddresses": ["success@simulator.amazonses.com"]},
                       Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}})
    assert error_of(e)[0] == "MessageRejected"
    status, _ = box.request("GET", f"/_ses/verify?account={ACCOUNT}&region=us-east-1&identity={address}"
                                   f"&token=wrong", headers={})
    assert status == 404
    click(box, address)
    attrs = ses.get_identity_verification_attributes(Identities=[address])["VerificationAttributes"]
    assert attrs[address]["VerificationStatus"] == "Success"
    # a domain is verified by the admin API (no DNS here)
    ses.verify_domain_identity(Domain=domain)
    assert ses.get_identity_verification_attributes(Identities=[domain])["VerificationAttributes"][domain][
        "VerificationStatus"] == "Pending"
    status, doc = box.request("POST", f"/_broker/ses/verify?account={ACCOUNT}&region=us-east-1&identity={domain}")
    assert status == 200 and doc["verified"] is True
    assert ses.get_identity_dkim_attributes(Identities=[domain])["DkimAttributes"][domain][
        "DkimVerificationStatus"] in ("Success", "NotStarted")


def test_relay_to_allowlisted_recipients_only(ses, box, domain, upstream):
    for identity in ("relay.example.com", "example.net"):     # the sandbox wants verified recipients
        ses.verify_domain_identity(Domain=identity)
        box.request("POST", f"/_broker/ses/verify?account={ACCOUNT}&region=us-east-1&identity={identity}")
    mid = ses.send_email(Source=f"sender@{domain}", Destination={
        "ToAddresses": ["a@relay.example.com", "vip@example.net", "other@example.net"]},
        Message={"Subject": {"Data": "relayed"}, "Body": {"Text": {"Data": "to the upstream"}}})["MessageId"]
    (got,) = wait_for(lambda: upstream.got, 20, what="the relayed mail upstream")
    mail_from, rcpts, raw = got
    assert mail_from == f"sender@{domain}" and sorted(rcpts) == ["a@relay.example.com", "vip@example.net"]
    assert f"Message-ID: <{mid}@us-east-1.amazonses.com>".encode() in raw and b"to the upstream" in raw


def test_sandbox_recipients_and_quota(ses, strict, box, domain):
    sender = f"sender@{domain}"          # domain verified above
    q = ses.get_send_quota()
    assert (q["Max24HourSend"], q["MaxSendRate"]) == (float(QUOTA), 1.0)
    v2 = strict.client("sesv2", aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET)
    assert v2.get_account()["ProductionAccessEnabled"] is False
    msg = {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}
    with pytest.raises(ClientError) as e:
        ses.send_email(Source=sender, Destination={"ToAddresses": ["outsider@example.org"]}, Message=msg)
    assert error_of(e) == ("MessageRejected", "Email address is not verified. The following identities failed the "
                                              "check in region US-EAST-1: outsider@example.org")
    ses.send_email(Source=sender, Destination={"ToAddresses": ["success@simulator.amazonses.com",
                                                               f"colleague@{domain}"]}, Message=msg)
    sent = int(ses.get_send_quota()["SentLast24Hours"])
    for _ in range(QUOTA - sent):
        ses.send_email(Source=sender, Destination={"ToAddresses": ["success@simulator.amazonses.com"]}, Message=msg)
    with pytest.raises(ClientError) as e:
        ses.send_email(Source=sender, Destination={"ToAddresses": ["success@simulator.amazonses.com"]}, Message=msg)
    assert error_of(e) == ("Throttling", "Daily message quota exceeded.")


def test_smtp_credentials(strict, box, domain):
    u = urlsplit(strict.endpoints["smtp"])
    ctx = ssl.create_default_context(cafile=strict.ca_cert)
    with smtplib.SMTP(u.hostname, u.port, timeout=30) as s:
        s.starttls(context=ctx)
        s.ehlo()
        assert s.docmd("MAIL", "FROM:<a@example.com>") == (530, b"Authentication required")
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login(ACCESS_KEY, "not-the-derived-password")
        assert (e.value.smtp_code, e.value.smtp_error) == (535, b"Authentication Credentials Invalid")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login(ACCESS_KEY, SECRET)                   # the secret key itself is not the SMTP password
        code, reply = s.login(ACCESS_KEY, smtp_password(SECRET, "us-east-1"))
        assert (code, reply) == (235, b"Authentication successful.")
        s.mail(f"sender@{domain}")
        s.rcpt("success@simulator.amazonses.com")
        code, reply = s.data(f"From: sender@{domain}\r\nTo: success@simulator.amazonses.com\r\n"
                             f"Subject: over quota?\r\n\r\nx\r\n".encode())
        assert (code, reply) == (454, b"Throttling failure: Daily message quota exceeded.")
    # a password derived for another region sends in that region (where nothing is verified yet)
    with smtplib.SMTP(u.hostname, u.port, timeout=30) as s:
        s.starttls(context=ctx)
        s.login(ACCESS_KEY, smtp_password(SECRET, "eu-west-1"))
        s.mail(f"sender@{domain}")
        s.rcpt("success@simulator.amazonses.com")
        code, reply = s.data(f"From: sender@{domain}\r\nTo: x@y.z\r\n\r\nx\r\n".encode())
        assert code == 554 and reply.endswith(f"region EU-WEST-1: sender@{domain}".encode())


def test_mailbox_survives_kill_and_is_encrypted_at_rest(strict, ses, box, domain):
    marker = f"plaintext-marker-{uuid.uuid4().hex}"
    v2 = strict.client("sesv2", region_name="us-west-2", aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET)
    west = strict.client("ses", region_name="us-west-2", aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET)
    west.verify_domain_identity(Domain=domain)
    box.request("POST", f"/_broker/ses/verify?account={ACCOUNT}&region=us-west-2&identity={domain}")
    mid = v2.send_email(FromEmailAddress=f"sender@{domain}",
                        Destination={"ToAddresses": ["success@simulator.amazonses.com"]},
                        Content={"Simple": {"Subject": {"Data": marker}, "Body": {"Text": {"Data": marker}}}}
                        )["MessageId"]
    strict.kill_all()
    strict.restart()                                   # free ports: new URLs, new clients
    box = Mailbox(strict.url, TOKEN)
    west = strict.client("ses", region_name="us-west-2", aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET)
    (m,) = wait_for(lambda: box.list(id=mid), 20, what="the mail after restart")
    assert m["subject"] == marker and marker in box.get(mid)["text"]
    attrs = west.get_identity_verification_attributes(Identities=[domain])["VerificationAttributes"]
    assert attrs[domain]["VerificationStatus"] == "Success"
    leaked = [p for p in Path(strict.data_dir).rglob("*")
              if p.is_file() and p.name != "broker.log" and marker.encode() in p.read_bytes()]
    assert leaked == []


def test_reset_and_localstack_delete_all(strict, ses):
    box = Mailbox(strict.url, TOKEN)
    ses = strict.client("ses", aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET)
    assert box.list()
    status, _ = box.request("DELETE", "/_aws/ses")             # LocalStack's "clear everything"
    assert status == 204 and box.list() == []
    ses.verify_email_identity(EmailAddress="before-reset@example.com")
    status, _ = box.request("POST", "/_broker/reset")
    assert status == 200
    assert ses.list_identities()["Identities"] == [] and box.list() == []


def test_sigterm_with_an_open_smtp_session(strict):
    u = urlsplit(strict.endpoints["smtp"])
    s = smtplib.SMTP(u.hostname, u.port, timeout=30)
    s.starttls(context=ssl.create_default_context(cafile=strict.ca_cert))
    s.ehlo()
    rc, _seconds = strict.stop()
    assert rc == 0
    with pytest.raises((smtplib.SMTPServerDisconnected, OSError)):
        s.noop()
