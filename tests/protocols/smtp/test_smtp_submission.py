"""SES's SMTP interface with smtplib and swaks: STARTTLS and implicit TLS,
AUTH ordering, SES's replies, X-SES headers, limits, and mail accepted over
SMTP showing in the API's statistics and the mailbox."""

from __future__ import annotations

import json
import re
import shutil
import smtplib
import subprocess
import time
import uuid

import pytest

from tests.services.ses._helpers import registered

MID = re.compile(rb"^Ok (0100[0-9a-f]{12}-[0-9a-f-]{36}-000000)$")


def mail(sender: str, to: str, subject: str = "smtp", extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n{extra}\r\nbody line\r\n").encode()


def data(s: smtplib.SMTP, sender: str, rcpts: list[str], msg: bytes) -> tuple[int, bytes]:
    s.mail(sender)
    for r in rcpts:
        code, reply = s.rcpt(r)
        assert code == 250, reply
    return s.data(msg)


def test_ehlo_and_auth_ordering(endpoint):
    host, port = endpoint("smtp")
    s = smtplib.SMTP(host, port, timeout=30)
    try:
        code, banner = s.ehlo("client.example.com")
        lines = banner.decode().splitlines()
        assert code == 250 and lines[0] == "email-smtp.amazonaws.com" and lines[-1] == "Ok"
        assert "STARTTLS" in lines and "AUTH PLAIN LOGIN" in lines
        assert s.docmd("AUTH", "PLAIN AGEAYg==") == (530, b"Must issue a STARTTLS command first")
        assert s.docmd("MAIL", "FROM:<a@example.com>") == (530, b"Must issue a STARTTLS command first")
    finally:
        s.close()


def test_starttls_auth_and_send(submission, sender, domain, mailbox, ses):
    before = ses.get_send_quota()["SentLast24Hours"]
    s = submission()
    code, reply = data(s, sender, [f"to@{domain}", f"cc@{domain}"], mail(sender, f"to@{domain}"))
    assert code == 250 and MID.match(reply), reply
    mid = MID.match(reply).group(1).decode()
    (m,) = mailbox.list(id=mid)
    assert m["operation"] == "SMTP" and m["tls"] is True and m["destination"] == [f"to@{domain}", f"cc@{domain}"]
    assert ses.get_send_quota()["SentLast24Hours"] >= before + 2
    raw = mailbox.raw(mid)
    assert f"Message-ID: <{mid}@us-east-1.amazonses.com>".encode() in raw and b"body line" in raw


def test_implicit_tls(endpoint, tls_context, sender, domain, mailbox):
    host, port = endpoint("smtps")
    with smtplib.SMTP_SSL(host, port, context=tls_context, timeout=30) as s:
        code, banner = s.ehlo()
        assert b"STARTTLS" not in banner and b"AUTH" in banner
        s.login("AKIDEXAMPLE", "secret")
        code, reply = data(s, sender, [f"tls@{domain}"], mail(sender, f"tls@{domain}", "implicit"))
    assert code == 250
    assert mailbox.list(id=MID.match(reply).group(1).decode())[0]["subject"] == "implicit"


def test_ses_replies(submission, sender, domain):
    s = submission()
    code, reply = data(s, f"nobody@{domain}", [f"r@{domain}"], mail(f"nobody@{domain}", f"r@{domain}"))
    assert (code, reply.decode()) == (554, "Message rejected: Email address is not verified. The following "
                                           f"identities failed the check in region US-EAST-1: nobody@{domain}")
    # the From header must be verified too
    code, reply = data(s, sender, [f"r@{domain}"], mail(f"other@{domain}", f"r@{domain}"))
    assert code == 554 and reply.decode().endswith(f"US-EAST-1: other@{domain}")
    assert s.docmd("MAIL", "FROM:<not-an-address>") == (501, b"Invalid MAIL FROM address provided")
    s.rset()
    s.mail(sender)
    assert s.rcpt("nodomain") == (501, b"Invalid RCPT TO address provided")
    for i in range(50):
        assert s.rcpt(f"r{i}@{domain}")[0] == 250
    assert s.rcpt(f"r50@{domain}") == (554, b"Transaction failed: Recipient count exceeds 50.")
    s.rset()
    code, reply = s.docmd("MAIL", "FROM:<a@example.com> SIZE=99999999")
    assert code == 552


def test_x_ses_headers(submission, ses, sender, domain, mailbox):
    cs = f"smtp-{uuid.uuid4().hex[:8]}"
    ses.create_configuration_set(ConfigurationSet={"Name": cs})
    s = submission()
    extra = f"X-SES-CONFIGURATION-SET: {cs}\r\nX-SES-MESSAGE-TAGS: team=mail, flow=signup\r\n"
    code, reply = data(s, sender, [f"h@{domain}"], mail(sender, f"h@{domain}", "tagged", extra))
    assert code == 250, reply
    mid = MID.match(reply).group(1).decode()
    (m,) = mailbox.list(id=mid)
    assert m["configurationSet"] == cs and m["tags"] == {"team": "mail", "flow": "signup"}
    assert b"X-SES-" not in mailbox.raw(mid)
    extra = "X-SES-CONFIGURATION-SET: no-such-set\r\n"
    code, reply = data(s, sender, [f"h@{domain}"], mail(sender, f"h@{domain}", "bad set", extra))
    assert (code, reply) == (554, b"Transaction failed: Configuration set <no-such-set> does not exist.")
    extra = "X-SES-MESSAGE-TAGS: bad:name=x\r\n"
    code, reply = data(s, sender, [f"h@{domain}"], mail(sender, f"h@{domain}", "bad tag", extra))
    assert code == 554 and b"Invalid tag name <bad:name>" in reply


def test_swaks(endpoint, server, sender, domain, mailbox):
    swaks = shutil.which("swaks")
    if swaks is None:
        pytest.skip("swaks is not installed (apt-get install swaks; .ci/run installs it)")
    host, port = endpoint("smtp")
    to = f"swaks@{domain}"
    p = subprocess.run([swaks, "--server", host, "--port", str(port), "--tls", "--tls-verify",
                        "--tls-ca-path", server.ca_cert, "--auth", "LOGIN", "--auth-user", "AKIDEXAMPLE",
                        "--auth-password", "dev-mode", "--from", sender, "--to", to,
                        "--header", "Subject: via swaks", "--body", "sent by swaks", "--timeout", "30"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    found = re.search(r"<~  250 Ok (\S+)", p.stdout)
    assert found, p.stdout
    (m,) = mailbox.list(id=found.group(1))
    assert m["subject"] == "via swaks" and m["destination"] == [to] and m["tls"] is True


@pytest.mark.skipif(not registered("sns"), reason="SNS is not part of this build yet")
def test_smtp_mail_publishes_events(server, submission, ses, sender, domain):
    sns, sqs = server.client("sns"), server.client("sqs")
    name = f"smtp-ev-{uuid.uuid4().hex[:8]}"
    topic = sns.create_topic(Name=name)["TopicArn"]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    ses.create_configuration_set(ConfigurationSet={"Name": name})
    ses.create_configuration_set_event_destination(ConfigurationSetName=name, EventDestination={
        "Name": "d", "Enabled": True, "MatchingEventTypes": ["send", "bounce"], "SNSDestination": {"TopicARN": topic}})
    s = submission()
    code, reply = data(s, sender, ["bounce@simulator.amazonses.com"],
                       mail(sender, "bounce@simulator.amazonses.com", "smtp events",
                            f"X-SES-CONFIGURATION-SET: {name}\r\n"))
    assert code == 250
    mid = MID.match(reply).group(1).decode()
    events, deadline = [], time.monotonic() + 20
    while len(events) < 3 and time.monotonic() < deadline:       # validation message, Send, Bounce
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            events.append(m["Body"])
    docs = [json.loads(b) for b in events if b.startswith("{")]
    assert [d["eventType"] for d in docs] == ["Send", "Bounce"]
    assert all(d["mail"]["messageId"] == mid for d in docs)
    assert docs[0]["mail"]["tags"]["ses:operation"] == ["SendSmtpEmail"]
