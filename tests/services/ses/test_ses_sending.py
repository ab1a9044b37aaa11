"""SES v1 sending with boto3: simple, raw and bulk sends as they land in the
mailbox, SES's checks and errors, the mailbox simulator, the suppression
list, quota and statistics."""

from __future__ import annotations

import re
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.services.ses._helpers import error_of

SIM = "simulator.amazonses.com"
MID = re.compile(r"^0100[0-9a-f]{12}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-000000$")


def simple(sender, to, subject="subject", **kw):
    return dict(Source=sender, Destination={"ToAddresses": to if isinstance(to, list) else [to]},
                Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": "text body"},
                                                                 "Html": {"Data": "<b>html body</b>"}}}, **kw)


def test_send_email_lands_in_mailbox(ses, sender, domain, mailbox):
    mid = ses.send_email(Source=f"Sender Name <{sender}>",
                         Destination={"ToAddresses": [f"to@{domain}"], "CcAddresses": [f"cc@{domain}"],
                                      "BccAddresses": [f"bcc@{domain}"]},
                         Message={"Subject": {"Data": "Grüße"}, "Body": {"Text": {"Data": "text body é"},
                                                                          "Html": {"Data": "<b>html</b>"}}},
                         ReplyToAddresses=[f"reply@{domain}"])["MessageId"]
    assert MID.match(mid)
    (m,) = mailbox.list(id=mid)
    assert m["source"] == f"Sender Name <{sender}>" and m["operation"] == "SendEmail"
    assert m["destination"] == [f"to@{domain}", f"cc@{domain}", f"bcc@{domain}"]
    assert m["subject"] == "Grüße" and m["status"] == {a: "Delivery" for a in m["destination"]}
    doc = mailbox.get(mid)
    assert doc["text"].strip() == "text body é" and doc["html"].strip() == "<b>html</b>"
    headers = {h["name"]: h["value"] for h in doc["headers"]}
    assert headers["Message-ID"] == f"<{mid}@us-east-1.amazonses.com>"
    assert headers["Reply-To"] == f"reply@{domain}" and headers["Cc"] == f"cc@{domain}" and "Bcc" not in headers
    assert "Date" in headers


@pytest.mark.parametrize("name,value,message", [
    ("test_invalid_name:123", "test", "Invalid tag name <test_invalid_name:123>: only alphanumeric ASCII "
                                      "characters, '_',  '-' are allowed."),
    ("test", "test_invalid_value:123", "Invalid tag value <test_invalid_value:123>: only alphanumeric ASCII "
                                       "characters, '_',  '-' , '.', '@' are allowed."),
    ("test_invalid_name@123", "test", "Invalid tag name <test_invalid_name@123>: only alphanumeric ASCII "
                                      "characters, '_',  '-' are allowed."),
    ("a" * 256, "test", "Tag name cannot exceed 255 characters."),
    ("test", "a" * 256, "Tag value cannot exceed 255 characters."),
    ("", "", "The tag name must be specified."),
    ("", "test", "The tag name must be specified."),
    ("test", "", "The tag value must be specified."),
])
def test_invalid_tags(ses, sender, domain, name, value, message):
    with pytest.raises(ClientError) as e:
        ses.send_email(**simple(sender, f"r@{domain}", Tags=[{"Name": name, "Value": value}]))
    assert error_of(e) == ("InvalidParameterValue", message)


def test_sender_must_be_verified(ses, domain):
    with pytest.raises(ClientError) as e:
        ses.send_email(**simple(f"nobody@{domain}", f"r@{domain}"))
    assert error_of(e) == ("MessageRejected", "Email address is not verified. The following identities failed the "
                                              f"check in region US-EAST-1: nobody@{domain}")
    ses.verify_domain_identity(Domain=domain)          # a verified domain covers every address in it
    assert ses.send_email(**simple(f"anyone@{domain}", f"r@{domain}"))["MessageId"]


def test_address_and_recipient_limits(ses, sender, domain):
    with pytest.raises(ClientError) as e:
        ses.send_email(**simple(sender, [f"r@{domain}", "invalid_address"]))
    assert error_of(e) == ("InvalidParameterValue", "Missing final '@domain'")
    with pytest.raises(ClientError) as e:
        ses.send_email(**simple(sender, [f"r{i}@{domain}" for i in range(51)]))
    assert error_of(e) == ("InvalidParameterValue", "Recipient count exceeds 50.")
    assert ses.send_email(**simple(sender, [f"r{i}@{domain}" for i in range(50)]))["MessageId"]


def test_send_raw_email(ses, sender, domain, mailbox):
    cs = f"raw-{domain.split('.')[0]}"
    ses.create_configuration_set(ConfigurationSet={"Name": cs})
    msg = MIMEMultipart()
    msg["Subject"] = "raw with attachment"
    msg["From"] = sender
    msg["To"] = f"to1@{domain}, to2@{domain}"
    msg["Message-ID"] = "<mine@example.com>"
    msg["X-SES-CONFIGURATION-SET"] = cs
    msg["X-SES-MESSAGE-TAGS"] = "campaign=spring, kind=raw"
    msg.attach(MIMEText("see attached"))
    att = MIMEApplication(b"\x00\x01binary", Name="data.bin")
    att["Content-Disposition"] = 'attachment; filename="data.bin"'
    msg.attach(att)
    mid = ses.send_raw_email(RawMessage={"Data": msg.as_bytes()})["MessageId"]
    (m,) = mailbox.list(id=mid)
    assert m["source"] == sender and m["destination"] == [f"to1@{domain}", f"to2@{domain}"]
    assert m["configurationSet"] == cs and m["tags"] == {"campaign": "spring", "kind": "raw"}
    raw = mailbox.raw(mid)
    assert b"X-SES-" not in raw and b"<mine@example.com>" not in raw
    assert f"Message-ID: <{mid}@us-east-1.amazonses.com>".encode() in raw
    doc = mailbox.get(mid)
    assert doc["text"].strip() == "see attached"
    (a,) = doc["attachments"]
    assert a["filename"] == "data.bin" and a["size"] == 8
    status, body = mailbox.request("GET", f"/_broker/ses/messages/{mid}/attachments/0")
    assert status == 200 and body == b"\x00\x01binary"
    # explicit Destinations win over the headers; Source must be verified too
    mid2 = ses.send_raw_email(Source=sender, Destinations=[f"only@{domain}"],
                              RawMessage={"Data": msg.as_bytes()})["MessageId"]
    assert mailbox.list(id=mid2)[0]["destination"] == [f"only@{domain}"]
    with pytest.raises(ClientError) as e:
        ses.send_raw_email(RawMessage={"Data": b"Subject: no from\r\nTo: a@b.com\r\n\r\nbody"})
    assert error_of(e) == ("InvalidParameterValue", "Missing required header 'From'.")


def test_simulator_outcomes(ses, sender, mailbox):
    to = [f"{box}@{SIM}" for box in ("success", "bounce", "ooto", "complaint", "suppressionlist")] + \
         [f"success+label@{SIM}"]
    mid = ses.send_email(**simple(sender, to, subject="sim"))["MessageId"]
    (m,) = mailbox.list(id=mid)
    assert m["status"] == {f"success@{SIM}": "Delivery", f"bounce@{SIM}": "General", f"ooto@{SIM}": "OutOfOffice",
                           f"complaint@{SIM}": "Complaint", f"suppressionlist@{SIM}": "Suppressed",
                           f"success+label@{SIM}": "Delivery"}
    # feedback forwarding (on by default): the bounce and complaint go back to the sender, and the OOTO reply
    feedback = mailbox.list(to=sender)
    subjects = sorted(f["subject"] for f in feedback)
    assert subjects == ["Complaint about message", "Delivery Status Notification (Failure): sim",
                        "Out of the Office: sim"]


def test_account_suppression_list(ses, sesv2, sender, domain, mailbox):
    gone = f"gone@{domain}"
    sesv2.put_suppressed_destination(EmailAddress=gone, Reason="BOUNCE")
    mid = ses.send_email(**simple(sender, [gone, f"ok@{domain}"]))["MessageId"]
    assert mailbox.list(id=mid)[0]["status"] == {gone: "OnAccountSuppressionList", f"ok@{domain}": "Delivery"}
    got = sesv2.get_suppressed_destination(EmailAddress=gone)["SuppressedDestination"]
    assert got["EmailAddress"] == gone and got["Reason"] == "BOUNCE"
    sesv2.delete_suppressed_destination(EmailAddress=gone)
    with pytest.raises(ClientError) as e:
        sesv2.get_suppressed_destination(EmailAddress=gone)
    assert error_of(e)[0] == "NotFoundException"


def test_quota_and_statistics_count_sends(ses, sender, domain):
    before = ses.get_send_quota()
    assert before["Max24HourSend"] == 50000.0 and before["MaxSendRate"] == 14.0
    ses.send_email(**simple(sender, [f"a@{domain}", f"b@{domain}", f"bounce@{SIM}"]))
    after = ses.get_send_quota()
    assert after["SentLast24Hours"] >= before["SentLast24Hours"] + 3
    points = ses.get_send_statistics()["SendDataPoints"]
    assert sum(p["DeliveryAttempts"] for p in points) >= 3 and sum(p["Bounces"] for p in points) >= 1


def test_account_sending_switch(ses, server, sender, domain):
    west = server.client("ses", region_name="eu-west-1")            # its own namespace: no effect elsewhere
    west.verify_email_identity(EmailAddress=sender)
    assert west.get_account_sending_enabled()["Enabled"] is True
    west.update_account_sending_enabled(Enabled=False)
    try:
        with pytest.raises(ClientError) as e:
            west.send_email(**simple(sender, f"r@{domain}"))
        assert error_of(e)[0] == "AccountSendingPausedException"
        assert ses.send_email(**simple(sender, f"r@{domain}"))["MessageId"]
    finally:
        west.update_account_sending_enabled(Enabled=True)
    assert west.send_email(**simple(sender, f"r@{domain}"))["MessageId"]


def test_virus_is_rejected_after_acceptance(ses, sender, domain, mailbox):
    eicar = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    raw = f"From: {sender}\r\nTo: v@{domain}\r\nSubject: virus\r\n\r\n".encode() + eicar + b"\r\n"
    mid = ses.send_raw_email(RawMessage={"Data": raw})["MessageId"]
    assert mid and mailbox.list(id=mid) == []


def test_send_bounce(ses, sender, domain, mailbox):
    mid = ses.send_email(**simple(sender, f"r@{domain}"))["MessageId"]
    bid = ses.send_bounce(OriginalMessageId=mid, BounceSender=f"mailer@{domain}", Explanation="no such user",
                          BouncedRecipientInfoList=[{"Recipient": f"r@{domain}", "BounceType": "DoesNotExist"}])[
        "MessageId"]
    (b,) = mailbox.list(id=bid)
    assert b["to"] == [sender] and "no such user" in mailbox.get(bid)["text"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=600), st.sampled_from([None, "not an address", "a@b", "x@example.com"]))
def test_any_raw_input_is_accepted_or_refused_cleanly(ses, raw, source):
    """Arbitrary raw bytes never make the server fail: a MessageId, or a 4xx with SES's error."""
    kw = {"RawMessage": {"Data": raw}}
    if source:
        kw["Source"] = source
    try:
        assert ses.send_raw_email(**kw)["MessageId"]
    except ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
        assert e.response["Error"]["Code"] in ("InvalidParameterValue", "MessageRejected"), e.response
