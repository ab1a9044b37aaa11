"""email / email-json subscriptions: the confirmation and every notification
land in the SES mailbox (what the subscriber would receive), readable and
waitable through the mailbox admin API."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
import uuid


def _wait_mail(server, **query) -> dict:
    q = urllib.parse.urlencode({**query, "timeout": "20"})
    status, doc = server.get(f"/_broker/ses/messages/wait?{q}", timeout=30)
    assert status == 200, doc
    return doc


def _full(server, mid: str) -> dict:
    status, doc = server.get(f"/_broker/ses/messages/{mid}")
    assert status == 200, doc
    return doc


def test_email_subscription_confirms_from_the_mailbox_and_receives_notifications(server):
    sns = server.client("sns")
    arn = sns.create_topic(Name=f"mail-{uuid.uuid4().hex[:8]}")["TopicArn"]
    to = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    sub = sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=to)["SubscriptionArn"]
    assert sub == "pending confirmation"

    confirm = _wait_mail(server, to=to, subject="Subscription Confirmation")
    mail = _full(server, confirm["message"]["id"])
    text = mail.get("text") or ""
    assert arn in text
    url = re.search(r"(http\S+Action=ConfirmSubscription\S+)", text).group(1)
    with urllib.request.urlopen(url, timeout=10) as r:          # the subscriber clicks the link
        assert r.status == 200
    subs = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert subs[0]["SubscriptionArn"].startswith(arn + ":")

    sns.publish(TopicArn=arn, Subject="Deploy done", Message="All green")
    note = _wait_mail(server, to=to, subject="Deploy done")
    body = _full(server, note["message"]["id"])
    assert "All green" in body["text"]
    assert "Action=Unsubscribe" in body["text"]
    assert "no-reply@sns.amazonaws.com" in json.dumps(body)


def test_email_json_subscription_receives_the_json_notification(server):
    sns = server.client("sns")
    arn = sns.create_topic(Name=f"mailj-{uuid.uuid4().hex[:8]}")["TopicArn"]
    to = f"json-{uuid.uuid4().hex[:8]}@example.com"
    sns.subscribe(TopicArn=arn, Protocol="email-json", Endpoint=to)
    confirm = _wait_mail(server, to=to, subject="Subscription Confirmation")
    text = _full(server, confirm["message"]["id"])["text"]
    token = re.search(r"Token=([^\s&]+)", text).group(1)
    sns.confirm_subscription(TopicArn=arn, Token=token)
    sns.publish(TopicArn=arn, Message="json body")
    note = _wait_mail(server, to=to, subject="AWS Notification Message")
    doc = json.loads(_full(server, note["message"]["id"])["text"])
    assert doc["Type"] == "Notification" and doc["Message"] == "json body" and doc["TopicArn"] == arn
