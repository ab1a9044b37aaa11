"""The mailbox admin API: list and search, parsed and raw views, delete, the
long-poll wait, and LocalStack's /_aws/ses shape."""

from __future__ import annotations

import json
import threading
import time

from tests.services.ses._helpers import error_of  # noqa: F401  (shared helpers module)


def send(ses, sender, to, subject, text="hello", **kw):
    return ses.send_email(Source=sender, Destination={"ToAddresses": [to]},
                          Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": text}}}, **kw)["MessageId"]


def test_search_filters(ses, sender, domain, mailbox):
    a = send(ses, sender, f"alice@{domain}", "Invoice 17", "please pay the amount due")
    b = send(ses, sender, f"bob@{domain}", "Welcome", "glad to have you")
    assert [m["id"] for m in mailbox.list(to=f"alice@{domain}")] == [a]
    assert [m["id"] for m in mailbox.list(to=domain)] == [a, b]                  # substring, in arrival order
    assert [m["id"] for m in mailbox.list(**{"from": sender}) if domain in m["source"]] == [a, b]
    assert [m["id"] for m in mailbox.list(subject="invoice", to=domain)] == [a]   # case-insensitive
    assert [m["id"] for m in mailbox.list(text="glad to have", to=domain)] == [b]  # body text
    assert mailbox.list(to=domain, text="nowhere to be found") == []
    assert [m["id"] for m in mailbox.list(to=domain, account="000000000000", region="us-east-1")] == [a, b]
    assert mailbox.list(to=domain, region="eu-west-3", account="000000000000") == []
    assert len(mailbox.list(to=domain, limit=1)) == 1


def test_get_raw_and_delete(ses, sender, domain, mailbox):
    mid = send(ses, sender, f"x@{domain}", "to delete", "bye")
    assert mailbox.get(mid)["subject"] == "to delete"
    assert b"Subject: to delete" in mailbox.raw(mid)
    status, doc = mailbox.request("DELETE", f"/_broker/ses/messages/{mid}")
    assert status == 200 and doc == {"deleted": 1}
    assert mailbox.list(id=mid) == []
    status, _ = mailbox.request("GET", f"/_broker/ses/messages/{mid}")
    assert status == 404
    # filtered delete
    send(ses, sender, f"y@{domain}", "one")
    send(ses, sender, f"y@{domain}", "two")
    status, doc = mailbox.request("DELETE", f"/_broker/ses/messages?to=y@{domain}")
    assert status == 200 and doc == {"deleted": 2}
    assert mailbox.list(to=f"y@{domain}") == []


def test_long_poll_wait_returns_first_match(ses, sender, domain, mailbox):
    target = f"waiter@{domain}"
    result = {}

    def waiter():
        t0 = time.monotonic()
        result["msg"] = mailbox.wait(timeout=20, to=target)
        result["took"] = time.monotonic() - t0
    t = threading.Thread(target=waiter)
    t.start()
    send(ses, sender, f"other@{domain}", "not for the waiter")     # a non-match does not end the wait
    mid = send(ses, sender, target, "for the waiter")
    t.join(30)
    assert not t.is_alive()
    assert result["msg"] is not None and result["msg"]["id"] == mid and result["msg"]["subject"] == "for the waiter"
    # an existing match answers at once
    assert mailbox.wait(timeout=5, to=target)["id"] == mid


def test_long_poll_wait_times_out(mailbox, domain):
    t0 = time.monotonic()
    status, doc = mailbox.request("GET", f"/_broker/ses/messages/wait?to=nobody@{domain}&timeout=0.5")
    assert status == 404 and doc["message"] is None
    assert time.monotonic() - t0 < 15


def test_localstack_endpoint(ses, sender, domain, mailbox):
    mid = send(ses, sender, f"ls@{domain}", "for localstack fixtures", "plain text")
    raw_id = ses.send_raw_email(RawMessage={"Data": f"From: {sender}\r\nTo: ls@{domain}\r\nSubject: raw\r\n\r\n"
                                                   f"raw body".encode()})["MessageId"]
    status, doc = mailbox.request("GET", f"/_aws/ses?id={mid}")
    assert status == 200
    (m,) = doc["messages"]
    assert m["Id"] == mid and m["Region"] == "us-east-1" and m["Source"] == sender
    assert m["Destination"] == {"ToAddresses": [f"ls@{domain}"]}
    assert m["Subject"] == "for localstack fixtures" and m["Body"] == {"text_part": "plain text", "html_part": None}
    assert m["Timestamp"] and "T" in m["Timestamp"]
    status, doc = mailbox.request("GET", f"/_aws/ses?email={sender}")
    ids = [x["Id"] for x in doc["messages"]]
    assert mid in ids and raw_id in ids
    raw = next(x for x in doc["messages"] if x["Id"] == raw_id)
    assert "raw body" in raw["RawData"]
    status, _ = mailbox.request("DELETE", f"/_aws/ses?id={mid}")
    assert status == 204
    assert json.loads(json.dumps(mailbox.request("GET", f"/_aws/ses?id={mid}")[1]))["messages"] == []


def test_admin_errors(mailbox):
    assert mailbox.request("GET", "/_broker/ses/nothing")[0] == 404
    assert mailbox.request("GET", "/_broker/ses/messages?since=yesterday")[0] == 400
    assert mailbox.request("GET", "/_broker/ses/messages/unknown-id/raw")[0] == 404
    assert mailbox.request("PUT", "/_broker/ses/messages")[0] == 405
