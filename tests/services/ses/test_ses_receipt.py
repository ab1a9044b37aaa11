"""SES receiving: receipt rule sets, rules and IP filters over the API, and
inbound SMTP through the active rule set (recipients, TLS policy, AddHeader,
S3 as a directory under the data dir, Bounce, Stop, SNS to SQS)."""

from __future__ import annotations

import base64
import json
import smtplib
import ssl
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.helpers.brokerproc import wait_for
from tests.services.ses._helpers import error_of, registered

needs_sns = pytest.mark.skipif(not registered("sns"), reason="SNS is not part of this build yet")


def rule(name, **kw):
    return {"Name": name, "Enabled": True, "TlsPolicy": "Optional", "ScanEnabled": True, **kw}


def test_rule_sets_clone_and_order(ses):
    rs = f"rs-{uuid.uuid4().hex[:8]}"
    ses.create_receipt_rule_set(RuleSetName=rs)
    with pytest.raises(ClientError) as e:
        ses.create_receipt_rule_set(RuleSetName=rs)
    assert error_of(e)[0] == "AlreadyExists"
    ses.create_receipt_rule(RuleSetName=rs, Rule=rule("MyRule1", Actions=[
        {"AddHeaderAction": {"HeaderName": "test-header", "HeaderValue": "test"}}]))
    ses.create_receipt_rule(RuleSetName=rs, After="MyRule1", Rule=rule("MyRule2", Actions=[
        {"S3Action": {"BucketName": "bucket", "ObjectKeyPrefix": "template"}}]))
    clone = f"{rs}-clone"
    ses.clone_receipt_rule_set(RuleSetName=clone, OriginalRuleSetName=rs)
    a, b = ses.describe_receipt_rule_set(RuleSetName=rs), ses.describe_receipt_rule_set(RuleSetName=clone)
    assert a["Metadata"]["Name"] == rs and b["Metadata"]["Name"] == clone and a["Metadata"]["CreatedTimestamp"]
    assert a["Rules"] == b["Rules"] == [
        {"Actions": [{"AddHeaderAction": {"HeaderName": "test-header", "HeaderValue": "test"}}], "Enabled": True,
         "Name": "MyRule1", "ScanEnabled": True, "TlsPolicy": "Optional"},
        {"Actions": [{"S3Action": {"BucketName": "bucket", "ObjectKeyPrefix": "template"}}], "Enabled": True,
         "Name": "MyRule2", "ScanEnabled": True, "TlsPolicy": "Optional"}]
    ses.reorder_receipt_rule_set(RuleSetName=rs, RuleNames=["MyRule2", "MyRule1"])
    assert [r["Name"] for r in ses.describe_receipt_rule_set(RuleSetName=rs)["Rules"]] == ["MyRule2", "MyRule1"]
    ses.set_receipt_rule_position(RuleSetName=rs, RuleName="MyRule2", After="MyRule1")
    assert [r["Name"] for r in ses.describe_receipt_rule_set(RuleSetName=rs)["Rules"]] == ["MyRule1", "MyRule2"]
    ses.update_receipt_rule(RuleSetName=rs, Rule=rule("MyRule2", Enabled=False, Recipients=["x.example.com"]))
    got = ses.describe_receipt_rule(RuleSetName=rs, RuleName="MyRule2")["Rule"]
    assert got["Enabled"] is False and got["Recipients"] == ["x.example.com"] and got["Actions"] == []
    with pytest.raises(ClientError) as e:
        ses.describe_receipt_rule(RuleSetName=rs, RuleName="nope")
    assert error_of(e)[0] == "RuleDoesNotExist"
    with pytest.raises(ClientError) as e:
        ses.describe_receipt_rule_set(RuleSetName=rs + "-none")
    assert error_of(e)[0] == "RuleSetDoesNotExist"
    ses.delete_receipt_rule(RuleSetName=rs, RuleName="MyRule2")
    assert [r["Name"] for r in ses.describe_receipt_rule_set(RuleSetName=rs)["Rules"]] == ["MyRule1"]
    names = [r["Name"] for r in ses.list_receipt_rule_sets()["RuleSets"]]
    assert rs in names and clone in names
    for n in (rs, clone):
        ses.delete_receipt_rule_set(RuleSetName=n)


def test_filters(ses):
    name = f"f-{uuid.uuid4().hex[:8]}"
    ses.create_receipt_filter(Filter={"Name": name, "IpFilter": {"Policy": "Block", "Cidr": "10.0.0.0/8"}})
    assert {"Name": name, "IpFilter": {"Policy": "Block", "Cidr": "10.0.0.0/8"}} in \
        ses.list_receipt_filters()["Filters"]
    with pytest.raises(ClientError) as e:
        ses.create_receipt_filter(Filter={"Name": name + "x", "IpFilter": {"Policy": "Block", "Cidr": "nonsense"}})
    assert error_of(e)[0] == "InvalidParameterValue"
    ses.delete_receipt_filter(FilterName=name)
    assert name not in [f["Name"] for f in ses.list_receipt_filters()["Filters"]]


@pytest.fixture
def active_set(ses):
    """A fresh rule set made active for the test (the default account has one active set at a time)."""
    name = f"rs-{uuid.uuid4().hex[:8]}"
    ses.create_receipt_rule_set(RuleSetName=name)
    previous = ses.describe_active_receipt_rule_set().get("Metadata", {}).get("Name")
    ses.set_active_receipt_rule_set(RuleSetName=name)
    yield name
    ses.set_active_receipt_rule_set(**({"RuleSetName": previous} if previous else {}))
    ses.delete_receipt_rule_set(RuleSetName=name)


def inbound(server):
    u = urlsplit(server.endpoints["smtp_inbound"])
    return smtplib.SMTP(u.hostname, u.port, timeout=30)


def test_active_rule_set_cannot_be_deleted(ses, active_set):
    assert ses.describe_active_receipt_rule_set()["Metadata"]["Name"] == active_set
    with pytest.raises(ClientError) as e:
        ses.delete_receipt_rule_set(RuleSetName=active_set)
    assert error_of(e) == ("CannotDelete", f"Cannot delete active rule set: {active_set}")


def test_inbound_actions(ses, server, active_set, mailbox):
    domain = f"in{uuid.uuid4().hex[:8]}.example.com"
    bucket = f"b{uuid.uuid4().hex[:8]}"
    ses.create_receipt_rule(RuleSetName=active_set, Rule=rule("store", Recipients=[domain], Actions=[
        {"AddHeaderAction": {"HeaderName": "X-Rule", "HeaderValue": "store"}},
        {"S3Action": {"BucketName": bucket, "ObjectKeyPrefix": "mail/"}},
        {"StopAction": {"Scope": "RuleSet"}}]))
    ses.create_receipt_rule(RuleSetName=active_set, After="store", Rule=rule("bounce", Recipients=[domain], Actions=[
        {"BounceAction": {"SmtpReplyCode": "550", "Message": "never reached", "Sender": f"mailer@{domain}"}}]))
    ses.create_receipt_rule(RuleSetName=active_set, After="bounce", Rule=rule(
        "secure", Recipients=[f"secure@{domain}"], TlsPolicy="Require", Actions=[]))
    with inbound(server) as s:
        s.ehlo()
        s.mail("outside@example.org")
        assert s.rcpt(f"nobody@elsewhere-{domain}")[0] == 550
        assert s.rcpt(f"secure@{domain}") == (530, b"Must issue a STARTTLS command first")
        assert s.rcpt(f"inbox@{domain}")[0] == 250
        code, reply = s.data(f"From: outside@example.org\r\nTo: inbox@{domain}\r\nSubject: hello inbound\r\n\r\n"
                             f"inbound body\r\n".encode())
        assert code == 250, reply
    mid = reply.decode().split()[-1]
    (m,) = mailbox.list(id=mid)
    assert m["direction"] == "inbound" and m["subject"] == "hello inbound" and m["status"] == {
        f"inbox@{domain}": "Received"}
    raw = mailbox.raw(mid)
    assert raw.startswith(b"X-Rule: store\r\nX-SES-Spam-Verdict: PASS\r\nX-SES-Virus-Verdict: PASS\r\n")
    assert b"inbound body" in raw
    path = Path(server.data_dir) / "s3" / bucket / "mail" / mid
    assert wait_for(path.exists, 15, what=f"S3 stand-in object {path}")
    assert path.read_bytes() == raw
    assert mailbox.list(to="outside@example.org", subject="Delivery Status Notification") == []   # Stop worked


def test_inbound_bounce_and_tls(ses, server, active_set, mailbox):
    domain = f"in{uuid.uuid4().hex[:8]}.example.com"
    ses.create_receipt_rule(RuleSetName=active_set, Rule=rule("bounce", Recipients=[f"gone@{domain}"],
                                                              TlsPolicy="Require", Actions=[
        {"BounceAction": {"SmtpReplyCode": "550", "StatusCode": "5.1.1", "Message": "mailbox gone",
                          "Sender": f"mailer@{domain}"}}]))
    sender = f"s{uuid.uuid4().hex[:6]}@example.org"
    with inbound(server) as s:
        s.starttls(context=ssl.create_default_context(cafile=server.ca_cert))
        s.ehlo()
        s.mail(sender)
        assert s.rcpt(f"gone@{domain}")[0] == 250
        code, _ = s.data(f"From: {sender}\r\nTo: gone@{domain}\r\nSubject: x\r\n\r\nx\r\n".encode())
        assert code == 250
    (b,) = mailbox.list(to=sender)
    assert b["source"] == f"mailer@{domain}" and "mailbox gone" in mailbox.get(b["id"])["text"]


def test_ip_filter_blocks_inbound(ses, server, active_set):
    domain = f"in{uuid.uuid4().hex[:8]}.example.com"
    ses.create_receipt_rule(RuleSetName=active_set, Rule=rule("all", Recipients=[domain], Actions=[]))
    name = f"block-{uuid.uuid4().hex[:6]}"
    ses.create_receipt_filter(Filter={"Name": name, "IpFilter": {"Policy": "Block", "Cidr": "127.0.0.0/8"}})
    try:
        with inbound(server) as s:
            s.ehlo()
            s.mail("x@example.org")
            assert s.rcpt(f"a@{domain}") == (554, b"Transaction failed: Access denied")
    finally:
        ses.delete_receipt_filter(FilterName=name)


@needs_sns
@pytest.mark.parametrize("encoding", ["UTF-8", "Base64"])
def test_receipt_rule_to_sqs_through_sns(ses, server, active_set, encoding):
    sns, sqs = server.client("sns"), server.client("sqs")
    name = f"in-{uuid.uuid4().hex[:8]}"
    topic = sns.create_topic(Name=name)["TopicArn"]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    domain = f"{name}.example.com"
    ses.create_receipt_rule(RuleSetName=active_set, Rule=rule("notify", Recipients=[domain], Actions=[
        {"SNSAction": {"TopicArn": topic, "Encoding": encoding}}]))
    with inbound(server) as s:
        s.sendmail("writer@example.org", [f"support@{domain}"],
                   f"From: writer@example.org\r\nTo: support@{domain}\r\nSubject: help\r\n\r\nplease help\r\n".encode())
    deadline, got = time.monotonic() + 20, []
    while not got and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
    assert got, "no notification reached the queue"
    note = json.loads(json.loads(got[0]["Body"])["Message"])
    assert note["notificationType"] == "Received"
    assert note["mail"]["source"] == "writer@example.org" and note["mail"]["destination"] == [f"support@{domain}"]
    assert note["mail"]["commonHeaders"]["subject"] == "help"
    assert note["receipt"]["recipients"] == [f"support@{domain}"]
    assert note["receipt"]["action"] == {"type": "SNS", "topicArn": topic, "encoding": encoding}
    assert note["receipt"]["spamVerdict"] == {"status": "PASS"}
    content = note["content"] if encoding == "UTF-8" else base64.b64decode(note["content"]).decode()
    assert "please help" in content and "Subject: help" in content


LAMBDA_CODE = """
import json
def handler(event, context):
    rec = event["Records"][0]["ses"]
    subject = rec["mail"]["commonHeaders"].get("subject", "")
    return {"disposition": "STOP_RULE_SET" if "stop" in subject else "CONTINUE"}
"""


@pytest.mark.skipif(not registered("lambda"), reason="Lambda is not part of this build yet")
def test_lambda_action_request_response_disposition(ses, server, active_set, mailbox):
    import io
    import zipfile
    lam = server.client("lambda")
    fn = f"ses-rule-{uuid.uuid4().hex[:8]}"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", LAMBDA_CODE)
    arn = lam.create_function(FunctionName=fn, Runtime="python3.11", Role="arn:aws:iam::000000000000:role/r",
                              Handler="handler.handler", Code={"ZipFile": buf.getvalue()})["FunctionArn"]
    try:
        domain = f"in{uuid.uuid4().hex[:8]}.example.com"
        ses.create_receipt_rule(RuleSetName=active_set, Rule=rule("decide", Recipients=[domain], Actions=[
            {"LambdaAction": {"FunctionArn": arn, "InvocationType": "RequestResponse"}}]))
        ses.create_receipt_rule(RuleSetName=active_set, After="decide", Rule=rule("after", Recipients=[domain],
                                                                                  Actions=[]))
        ids = {}
        for subject in ("please stop here", "carry on"):
            with inbound(server) as s:
                s.ehlo()
                s.mail("writer@example.org")
                s.rcpt(f"box@{domain}")
                code, reply = s.data(f"From: writer@example.org\r\nTo: box@{domain}\r\nSubject: {subject}\r\n\r\n"
                                     f"x\r\n".encode())
                assert code == 250, reply
            ids[subject] = reply.decode().split()[-1]
        assert mailbox.list(id=ids["please stop here"])[0]["receiptRules"] == ["decide"]
        assert mailbox.list(id=ids["carry on"])[0]["receiptRules"] == ["decide", "after"]
        # an Event action: a durable asynchronous invocation; its success lands in the function's destination
        sqs = server.client("sqs")
        url = sqs.create_queue(QueueName=fn)["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        lam.put_function_event_invoke_config(FunctionName=fn, MaximumRetryAttempts=0,
                                             DestinationConfig={"OnSuccess": {"Destination": qarn}})
        ses.update_receipt_rule(RuleSetName=active_set, Rule=rule("decide", Recipients=[domain], Actions=[
            {"LambdaAction": {"FunctionArn": arn, "InvocationType": "Event"}}]))
        with inbound(server) as s:
            s.sendmail("writer@example.org", [f"box@{domain}"],
                       f"From: writer@example.org\r\nTo: box@{domain}\r\nSubject: async\r\n\r\nx\r\n".encode())
        deadline, got = time.monotonic() + 60, []
        while not got and time.monotonic() < deadline:
            got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        assert got, "the Event invocation did not reach the function's destination"
        record = json.loads(got[0]["Body"])
        ses_event = record["requestPayload"]["Records"][0]
        assert ses_event["eventSource"] == "aws:ses"
        assert ses_event["ses"]["receipt"]["action"] == {"type": "Lambda", "functionArn": arn,
                                                         "invocationType": "Event"}
        assert ses_event["ses"]["mail"]["commonHeaders"]["subject"] == "async"
        assert record["responsePayload"] == {"disposition": "CONTINUE"}
    finally:
        lam.delete_function(FunctionName=fn)
