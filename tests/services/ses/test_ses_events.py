"""SES events reaching SQS: configuration-set destinations and identity
notification topics through SNS (runs when SNS is part of this build), and
EventBridge destinations (when EventBridge is)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.helpers.brokerproc import wait_for
from tests.services.ses._helpers import error_of, registered

needs_sns = pytest.mark.skipif(not registered("sns"), reason="SNS is not part of this build yet")
needs_cloudwatch = pytest.mark.skipif(not registered("cloudwatch"), reason="CloudWatch is not part of this build yet")
# EventBridge (services/events, in progress) refuses every aws.* Source in PutEvents, also from
# services publishing their own events through services/internal.py; until it accepts those,
# SES's events cannot reach a bus.


@pytest.fixture(scope="module")
def sns(server):
    return server.client("sns")


@pytest.fixture(scope="module")
def sqs(server):
    return server.client("sqs")


def topic_to_queue(sns, sqs) -> tuple[str, str]:
    """A topic subscribed by a fresh queue (envelope delivery); (topic ARN, queue URL)."""
    name = f"ses-ev-{uuid.uuid4().hex[:10]}"
    topic = sns.create_topic(Name=name)["TopicArn"]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return topic, url


def drain(sqs, url: str, want: int, timeout: float = 20.0) -> list[dict]:
    """SNS envelopes from `url` until `want` arrived (deadline `timeout`)."""
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for m in r.get("Messages", []):
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def test_event_destination_needs_an_existing_topic(ses, domain):
    cs = f"cs-{uuid.uuid4().hex[:8]}"
    ses.create_configuration_set(ConfigurationSet={"Name": cs})
    arn = f"arn:aws:sns:us-east-1:000000000000:missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as e:
        ses.create_configuration_set_event_destination(ConfigurationSetName=cs, EventDestination={
            "Name": "d", "Enabled": True, "MatchingEventTypes": ["send"], "SNSDestination": {"TopicARN": arn}})
    assert error_of(e) == ("InvalidSNSDestination", f"SNS topic <{arn}> not found.")


@needs_sns
def test_bounce_simulator_event_reaches_sqs_through_configuration_set(ses, sns, sqs, sender):
    topic, url = topic_to_queue(sns, sqs)
    cs = f"cs-{uuid.uuid4().hex[:8]}"
    ses.create_configuration_set(ConfigurationSet={"Name": cs})
    ses.create_configuration_set_event_destination(ConfigurationSetName=cs, EventDestination={
        "Name": "to-sns", "Enabled": True, "MatchingEventTypes": ["send", "delivery", "bounce", "complaint"],
        "SNSDestination": {"TopicARN": topic}})
    (validation,) = drain(sqs, url, 1)
    assert validation["Message"] == "Successfully validated SNS topic for Amazon SES event publishing."
    mid = ses.send_email(Source=sender, Destination={"ToAddresses": ["bounce@simulator.amazonses.com"]},
                         Message={"Subject": {"Data": "will bounce"}, "Body": {"Text": {"Data": "x"}}},
                         Tags=[{"Name": "campaign", "Value": "c1"}], ConfigurationSetName=cs)["MessageId"]
    got = drain(sqs, url, 2)
    assert all(g["Subject"] == "Amazon SES Email Event Notification" and g["TopicArn"] == topic for g in got)
    events = [json.loads(g["Message"]) for g in got]
    assert [e["eventType"] for e in events] == ["Send", "Bounce"]
    send, bounce = events
    assert send["send"] == {} and send["mail"]["messageId"] == mid
    mail = bounce["mail"]
    assert mail["source"] == sender and mail["destination"] == ["bounce@simulator.amazonses.com"]
    assert mail["sourceArn"].endswith(f":identity/{sender}") and mail["sendingAccountId"] == "000000000000"
    assert mail["commonHeaders"]["subject"] == "will bounce" and mail["commonHeaders"]["messageId"] == mid
    assert mail["tags"]["ses:configuration-set"] == [cs] and mail["tags"]["campaign"] == ["c1"]
    assert mail["tags"]["ses:operation"] == ["SendEmail"]
    b = bounce["bounce"]
    assert (b["bounceType"], b["bounceSubType"]) == ("Permanent", "General")
    assert b["bouncedRecipients"][0]["emailAddress"] == "bounce@simulator.amazonses.com"
    assert b["bouncedRecipients"][0]["status"] == "5.1.1"


@needs_sns
def test_delivery_and_complaint_events_and_identity_notifications(ses, sns, sqs, sender):
    topic, url = topic_to_queue(sns, sqs)
    ntopic, nurl = topic_to_queue(sns, sqs)
    cs = f"cs-{uuid.uuid4().hex[:8]}"
    ses.create_configuration_set(ConfigurationSet={"Name": cs})
    ses.create_configuration_set_event_destination(ConfigurationSetName=cs, EventDestination={
        "Name": "d", "Enabled": True, "MatchingEventTypes": ["delivery", "complaint"],
        "SNSDestination": {"TopicARN": topic}})
    drain(sqs, url, 1)                                             # the validation message
    for kind in ("Delivery", "Complaint"):
        ses.set_identity_notification_topic(Identity=sender, NotificationType=kind, SnsTopic=ntopic)
    ses.set_identity_headers_in_notifications_enabled(Identity=sender, NotificationType="Delivery", Enabled=True)
    ses.send_email(Source=sender, Destination={"ToAddresses": ["complaint@simulator.amazonses.com"]},
                   Message={"Subject": {"Data": "c"}, "Body": {"Text": {"Data": "x"}}}, ConfigurationSetName=cs)
    events = [json.loads(g["Message"]) for g in drain(sqs, url, 2)]
    assert sorted(e["eventType"] for e in events) == ["Complaint", "Delivery"]
    delivery = next(e for e in events if e["eventType"] == "Delivery")["delivery"]
    assert delivery["recipients"] == ["complaint@simulator.amazonses.com"]
    assert delivery["smtpResponse"].startswith("250")
    notes = [json.loads(g["Message"]) for g in drain(sqs, nurl, 2)]
    assert sorted(n["notificationType"] for n in notes) == ["Complaint", "Delivery"]
    dn = next(n for n in notes if n["notificationType"] == "Delivery")
    assert dn["mail"]["headers"] and dn["mail"]["commonHeaders"]["subject"] == "c"     # headers enabled
    cn = next(n for n in notes if n["notificationType"] == "Complaint")
    assert "headers" not in cn["mail"]
    assert cn["complaint"]["complainedRecipients"] == [{"emailAddress": "complaint@simulator.amazonses.com"}]


@needs_sns
def test_rendering_failure_event(ses, sns, sqs, sender):
    topic, url = topic_to_queue(sns, sqs)
    cs = f"cs-{uuid.uuid4().hex[:8]}"
    tpl = f"t-{uuid.uuid4().hex[:8]}"
    ses.create_template(Template={"TemplateName": tpl, "SubjectPart": "Hi {{name}}", "TextPart": "x"})
    ses.create_configuration_set(ConfigurationSet={"Name": cs})
    ses.create_configuration_set_event_destination(ConfigurationSetName=cs, EventDestination={
        "Name": "d", "Enabled": True, "MatchingEventTypes": ["renderingFailure", "send"],
        "SNSDestination": {"TopicARN": topic}})
    drain(sqs, url, 1)
    ses.send_templated_email(Source=sender, Destination={"ToAddresses": ["success@simulator.amazonses.com"]},
                             Template=tpl, TemplateData="{}", ConfigurationSetName=cs)
    (ev,) = [json.loads(g["Message"]) for g in drain(sqs, url, 1)]
    assert ev["eventType"] == "Rendering Failure"
    assert ev["failure"] == {"errorMessage": "Attribute 'name' is not present in the rendering data.",
                             "templateName": tpl}


def test_eventbridge_destination(sesv2, server, sender, sqs):
    events = server.client("events")
    name = f"ses-eb-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps({"source": ["aws.ses"],
                                                         "detail-type": ["Email Delivered"]}))
    events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": qarn}])
    cs = f"cs-{uuid.uuid4().hex[:8]}"
    sesv2.create_configuration_set(ConfigurationSetName=cs)
    sesv2.create_configuration_set_event_destination(
        ConfigurationSetName=cs, EventDestinationName="eb", EventDestination={
            "Enabled": True, "MatchingEventTypes": ["DELIVERY"],
            "EventBridgeDestination": {"EventBusArn": "arn:aws:events:us-east-1:000000000000:event-bus/default"}})
    mid = sesv2.send_email(FromEmailAddress=sender, Destination={"ToAddresses": ["success@simulator.amazonses.com"]},
                           Content={"Simple": {"Subject": {"Data": "eb"}, "Body": {"Text": {"Data": "x"}}}},
                           ConfigurationSetName=cs)["MessageId"]
    deadline = time.monotonic() + 20
    got = []
    while not got and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
    assert got, "no EventBridge event reached the queue"
    ev = json.loads(got[0]["Body"])
    assert ev["source"] == "aws.ses" and ev["detail-type"] == "Email Delivered"
    assert ev["detail"]["mail"]["messageId"] == mid and ev["detail"]["eventType"] == "Delivery"


@needs_cloudwatch
def test_metrics_reach_cloudwatch(ses, server, sender):
    cw = server.client("cloudwatch")
    campaign = f"c{uuid.uuid4().hex[:10]}"
    cs = f"cs-{uuid.uuid4().hex[:8]}"
    ses.create_configuration_set(ConfigurationSet={"Name": cs})
    ses.create_configuration_set_event_destination(ConfigurationSetName=cs, EventDestination={
        "Name": "cw", "Enabled": True, "MatchingEventTypes": ["send", "delivery", "bounce"],
        "CloudWatchDestination": {"DimensionConfigurations": [
            {"DimensionName": "campaign", "DimensionValueSource": "messageTag", "DefaultDimensionValue": "none"}]}})
    ses.send_email(Source=sender, Destination={"ToAddresses": ["success@simulator.amazonses.com",
                                                               "bounce@simulator.amazonses.com"]},
                   Message={"Subject": {"Data": "m"}, "Body": {"Text": {"Data": "x"}}}, ConfigurationSetName=cs,
                   Tags=[{"Name": "campaign", "Value": campaign}])
    dims = [{"Name": "campaign", "Value": campaign}]

    def names():
        got = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/SES", Dimensions=dims)["Metrics"]}
        return got if got >= {"Send", "Delivery", "Bounce"} else None
    assert wait_for(names, 20, what="AWS/SES metrics with the campaign dimension")
    account_level = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/SES")["Metrics"] if not m["Dimensions"]}
    assert {"Send", "Delivery", "Bounce"} <= account_level


@needs_sns
def test_send_event_shapes_for_templated_and_raw(ses, sns, sqs, sender):
    topic, url = topic_to_queue(sns, sqs)
    cs = f"cs-{uuid.uuid4().hex[:8]}"
    tpl = f"t-{uuid.uuid4().hex[:8]}"
    ses.create_template(Template={"TemplateName": tpl, "SubjectPart": "Email template {{n}}", "TextPart": "x"})
    ses.create_configuration_set(ConfigurationSet={"Name": cs})
    ses.create_configuration_set_event_destination(ConfigurationSetName=cs, EventDestination={
        "Name": "d", "Enabled": True, "MatchingEventTypes": ["send", "delivery"], "SNSDestination": {"TopicARN": topic}})
    got = ses.describe_configuration_set(ConfigurationSetName=cs, ConfigurationSetAttributeNames=["eventDestinations"])
    assert got["EventDestinations"] == [{"Name": "d", "Enabled": True, "MatchingEventTypes": ["delivery", "send"],
                                         "SNSDestination": {"TopicARN": topic}}]
    drain(sqs, url, 1)
    ses.send_templated_email(Source=sender, Destination={"ToAddresses": ["success@simulator.amazonses.com"]},
                             Template=tpl, TemplateData=json.dumps({"n": 1}), ConfigurationSetName=cs,
                             Tags=[{"Name": "custom-tag", "Value": "tag-value"}])
    send, delivery = [json.loads(g["Message"]) for g in drain(sqs, url, 2)]
    assert (send["eventType"], delivery["eventType"]) == ("Send", "Delivery")
    # the Send event of a templated mail has no sourceArn and the headers before rendering
    assert "sourceArn" not in send["mail"] and delivery["mail"]["sourceArn"].endswith(f"identity/{sender}")
    assert [h["name"] for h in send["mail"]["headers"]] == ["From", "To", "MIME-Version"]
    names = [h["name"] for h in delivery["mail"]["headers"]]
    assert names[0] == "Date" and "Subject" in names and "Content-Type" in names
    assert delivery["mail"]["commonHeaders"]["subject"] == "Email template 1"
    assert list(send["mail"]["tags"]) == ["ses:operation", "ses:configuration-set", "ses:source-ip",
                                          "ses:from-domain", "custom-tag", "ses:caller-identity"]
    assert send["mail"]["tags"]["ses:operation"] == ["SendTemplatedEmail"]
    assert list(delivery["mail"]["tags"])[-1] == "ses:outgoing-ip"
    # a raw message without headers: no headers, commonHeaders holds only the messageId
    mid = ses.send_raw_email(Source=sender, Destinations=["success@simulator.amazonses.com"],
                             RawMessage={"Data": b"Data"}, ConfigurationSetName=cs)["MessageId"]
    send, delivery = [json.loads(g["Message"]) for g in drain(sqs, url, 2)]
    assert send["mail"]["headers"] == [] and send["mail"]["commonHeaders"] == {"messageId": mid}
    assert "ses:from-domain" not in send["mail"]["tags"]


@needs_sns
def test_sending_after_the_topic_is_deleted(ses, sns, sqs, sender, mailbox):
    topic, url = topic_to_queue(sns, sqs)
    cs = f"cs-{uuid.uuid4().hex[:8]}"
    ses.create_configuration_set(ConfigurationSet={"Name": cs})
    ses.create_configuration_set_event_destination(ConfigurationSetName=cs, EventDestination={
        "Name": "d", "Enabled": True, "MatchingEventTypes": ["send"], "SNSDestination": {"TopicARN": topic}})
    (validation,) = drain(sqs, url, 1)
    sns.delete_topic(TopicArn=topic)
    mid = ses.send_email(Source=sender, Destination={"ToAddresses": ["success@simulator.amazonses.com"]},
                         Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}},
                         ConfigurationSetName=cs)["MessageId"]
    assert mailbox.list(id=mid)[0]["status"] == {"success@simulator.amazonses.com": "Delivery"}
