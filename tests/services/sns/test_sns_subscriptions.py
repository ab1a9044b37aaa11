"""Subscriptions with boto3: endpoints per protocol, attributes and their
validation, idempotency, listing, unsubscribe and confirmation errors."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.services.sns.conftest import error_of

ACCOUNT = "000000000000"


def test_subscribe_sqs_attributes(sns, make_topic, make_queue):
    topic = make_topic()
    _url, qarn = make_queue()
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True,
                      Attributes={"RawMessageDelivery": "wrongvalue", "FilterPolicyScope": "MessageBody",
                                  "FilterPolicy": ""})
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid "
                                               "value [wrongvalue]. Must be true or false.")
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True,
                        Attributes={"RawMessageDelivery": "TrUe", "FilterPolicyScope": "MessageBody",
                                    "FilterPolicy": ""})["SubscriptionArn"]
    assert sub.startswith(topic + ":")
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs == {"ConfirmationWasAuthenticated": "true", "Endpoint": qarn, "Owner": ACCOUNT,
                     "PendingConfirmation": "false", "Protocol": "sqs", "RawMessageDelivery": "true",
                     "SubscriptionArn": sub, "SubscriptionPrincipal": f"arn:aws:iam::{ACCOUNT}:root",
                     "TopicArn": topic}
    with pytest.raises(ClientError) as e:
        sns.get_subscription_attributes(SubscriptionArn=sub[:-8] + "00000000")
    assert error_of(e) == ("NotFound", "Subscription does not exist")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    topic_attrs = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert topic_attrs["SubscriptionsConfirmed"] == "1" and topic_attrs["SubscriptionsPending"] == "0"


@pytest.mark.parametrize("protocol,endpoint,message", [
    ("test-protocol", "x@example.com", "Invalid parameter: Amazon SNS does not support this protocol string: "
                                       "test-protocol"),
    ("sqs", "http://localhost:4566/000000000000/queue", "Invalid parameter: SQS endpoint ARN"),
    ("sqs", "arn:aws:sqs:us-east-1:queue", "Invalid parameter: SQS endpoint ARN"),
    ("sms", "invalid-number", "Invalid SMS endpoint: invalid-number"),
    ("sms", "+15--551234567", "Invalid SMS endpoint: +15--551234567"),
    ("sms", "NAA+15551234567", "Invalid SMS endpoint: NAA+15551234567"),
    ("sms", "+15551234567.", "Invalid SMS endpoint: +15551234567."),
    ("sms", "/+15551234567", "Invalid SMS endpoint: /+15551234567"),
])
def test_subscribe_rejects_bad_endpoints(sns, make_topic, protocol, endpoint, message):
    topic = make_topic()
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=endpoint)
    assert error_of(e) == ("InvalidParameter", message)


def test_subscribe_topic_errors(sns, make_topic):
    topic = make_topic()
    for arn, message in (("randomstring", "Invalid parameter: TopicArn Reason: An ARN must have at least 6 "
                                          "elements, not 1"),
                         ("arn:aws:sns:us-east-1:random", "Invalid parameter: TopicArn Reason: An ARN must have at "
                                                          "least 6 elements, not 5")):
        with pytest.raises(ClientError) as e:
            sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:q")
        assert error_of(e) == ("InvalidParameter", message)
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic + "-nope", Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:000000000000:q")
    assert error_of(e) == ("NotFound", "Topic does not exist")


def test_queue_need_not_exist_and_fifo_rules(sns, make_topic, make_queue):
    topic = make_topic()
    assert sns.subscribe(TopicArn=topic, Protocol="sqs",
                         Endpoint=f"arn:aws:sqs:us-east-1:{ACCOUNT}:no-such-queue")["SubscriptionArn"].startswith(topic)
    _u, fifo_q = make_queue(fifo=True)
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=fifo_q)
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS "
                                               "Queues can not be subscribed to standard SNS topics")
    fifo_topic = make_topic(fifo=True)
    _u, std_q = make_queue()
    std_sub = sns.subscribe(TopicArn=fifo_topic, Protocol="sqs", Endpoint=std_q)["SubscriptionArn"]
    _u, dlq = make_queue()
    sns.set_subscription_attributes(SubscriptionArn=std_sub, AttributeName="RedrivePolicy",
                                    AttributeValue=json.dumps({"deadLetterTargetArn": dlq}))
    fifo_sub = sns.subscribe(TopicArn=fifo_topic, Protocol="sqs", Endpoint=fifo_q)["SubscriptionArn"]
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=fifo_sub, AttributeName="RedrivePolicy",
                                        AttributeValue=json.dumps({"deadLetterTargetArn": dlq}))
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: RedrivePolicy: must use a FIFO queue as DLQ for "
                                               "a FIFO Subscription to a FIFO Topic.")


def test_subscribe_idempotency(sns, make_topic, make_queue):
    topic = make_topic()
    _u, qarn = make_queue()

    def sub(attrs=None):
        kw = {} if attrs is None else {"Attributes": attrs}
        return sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True,
                             **kw)["SubscriptionArn"]
    first = sub({"RawMessageDelivery": "true"})
    for attrs in ({"RawMessageDelivery": "true"}, {"RawMessageDelivery": "true", "FilterPolicyScope":
                                                   "MessageAttributes"}, None, {},
                  {"FilterPolicyScope": "MessageAttributes"}):
        assert sub(attrs) == first
    with pytest.raises(ClientError) as e:
        sub({"RawMessageDelivery": "false", "FilterPolicyScope": "MessageBody"})
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: Attributes Reason: Subscription already exists "
                                               "with different attributes")
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1


def test_set_subscription_attributes_validation(sns, make_topic, queue_subscription):
    topic = make_topic()
    _u, sub = queue_subscription(topic)
    cases = [
        ("FakeAttribute", "test-value", "Invalid parameter: AttributeName"),
        ("RawMessageDelivery", "test-ValUe", "Invalid parameter: RawMessageDelivery: Invalid value [test-ValUe]. "
                                             "Must be true or false."),
        ("RawMessageDelivery", "", "Invalid parameter: RawMessageDelivery: Invalid value []. Must be true or false."),
        ("RedrivePolicy", json.dumps({"deadLetterTargetArn": "fake-arn"}),
         "Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn"),
        ("FilterPolicyScope", "RandomValue", "Invalid parameter: FilterPolicyScope: Invalid value [RandomValue]. "
                                             "Please use either MessageBody or MessageAttributes"),
        ("FilterPolicy", json.dumps({"object": {"key": [{"prefix": "auto-"}]}}),
         "Invalid parameter: Filter policy scope MessageAttributes does not support nested filter policy"),
        ("FilterPolicy", json.dumps({"key_a": "value_one"}),
         'Invalid parameter: FilterPolicy: "key_a" must be an object or an array\n at [Source: (String)'
         '"{"key_a":"value_one"}"; line: 1, column: 11]'),
    ]
    for name, value, message in cases:
        with pytest.raises(ClientError) as e:
            sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName=name, AttributeValue=value)
        assert error_of(e) == ("InvalidParameter", message), name
    for name in ("RedrivePolicy", "FilterPolicy"):
        with pytest.raises(ClientError) as e:
            sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName=name, AttributeValue="{invalidjson}")
        assert error_of(e)[1].startswith(f"Invalid parameter: {name}: failed to parse JSON. Unexpected character "
                                         f"('i' (code 105)): was expecting double-quote to start field name\n at ")


def test_filter_policy_scope_and_exact_text(sns, make_topic, queue_subscription):
    topic = make_topic()
    _u, sub = queue_subscription(topic)
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicyScope",
                                    AttributeValue="MessageBody")
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert "FilterPolicyScope" not in attrs and "FilterPolicy" not in attrs
    nested = json.dumps({"object": {"key": [{"prefix": "auto-"}]}})
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue=nested)
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["FilterPolicy"] == nested and attrs["FilterPolicyScope"] == "MessageBody"
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue="")
    assert "FilterPolicy" not in sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]


def test_subscribe_invalid_filter_policy(sns, make_topic):
    topic = make_topic()
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint="+123123123",
                      Attributes={"FilterPolicy": json.dumps({"key": [{"numeric": [">", 3, "<", 1]}]})})
    assert error_of(e) == ("InvalidParameter", 'Invalid parameter: Attributes Reason: FilterPolicy: Bottom must be '
                                               'less than top\n at [Source: (String)"{"key":[{"numeric":[">",3,"<",1]}'
                                               ']}"; line: 1, column: 33]')
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint="+123123123", Attributes={"FilterPolicy": "invalid"})
    assert error_of(e)[1].startswith("Invalid parameter: Attributes Reason: FilterPolicy: failed to parse JSON. "
                                     "Unrecognized token 'invalid'")


def test_unsubscribe(sns, make_topic, queue_subscription):
    topic = make_topic()
    _u, sub = queue_subscription(topic)
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1
    sns.unsubscribe(SubscriptionArn=sub)
    sns.unsubscribe(SubscriptionArn=sub)
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery",
                                        AttributeValue="true")
    assert error_of(e) == ("NotFound", "Subscription does not exist")
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsDeleted"] == "1"
    for arn, message in (("randomstring", "Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 "
                                          "elements, not 1"),
                         ("arn:aws:sns:us-east-1:random", "Invalid parameter: SubscriptionArn Reason: An ARN must have "
                                                          "at least 6 elements, not 5"),
                         ("arn:aws:sns:us-east-1:111111111111:random", "Invalid parameter: SubscriptionId"),
                         ("", "Invalid parameter: SubscriptionArn Reason: no value for required parameter")):
        with pytest.raises(ClientError) as e:
            sns.unsubscribe(SubscriptionArn=arn)
        assert error_of(e) == ("InvalidParameter", message)


def test_list_subscriptions_by_topic_pages(sns, make_topic):
    topic = make_topic()
    for i in range(101):
        sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint=f"+12312312{i}")
    first = sns.list_subscriptions_by_topic(TopicArn=topic)
    assert len(first["Subscriptions"]) == 100 and first["NextToken"]
    second = sns.list_subscriptions_by_topic(TopicArn=topic, NextToken=first["NextToken"])
    assert len(second["Subscriptions"]) == 1 and "NextToken" not in second
    assert second["Subscriptions"][0]["SubscriptionArn"] not in {s["SubscriptionArn"] for s in first["Subscriptions"]}
    assert second["Subscriptions"][0] == {"SubscriptionArn": second["Subscriptions"][0]["SubscriptionArn"],
                                          "Owner": ACCOUNT, "Protocol": "sms", "Endpoint": "+123123121"[:9] + "100",
                                          "TopicArn": topic}


def test_list_subscriptions_spans_topics(sns, make_topic, queue_subscription):
    topics = [make_topic(), make_topic()]
    subs = {queue_subscription(t)[1] for t in topics for _ in range(2)}
    seen = set()
    for p in sns.get_paginator("list_subscriptions").paginate():
        seen |= {s["SubscriptionArn"] for s in p["Subscriptions"]}
    assert subs <= seen


def test_http_subscription_pending_confirmation(sns, make_topic):
    topic = make_topic()
    assert sns.subscribe(TopicArn=topic, Protocol="http", Endpoint="http://127.0.0.1:9/unused",
                         ReturnSubscriptionArn=False)["SubscriptionArn"] == "pending confirmation"
    arn = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint="http://127.0.0.1:9/unused",
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    attrs = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attrs["PendingConfirmation"] == "true" and attrs["ConfirmationWasAuthenticated"] == "false"
    assert json.loads(attrs["EffectiveDeliveryPolicy"])["healthyRetryPolicy"]["numRetries"] == 3
    counts = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert counts["SubscriptionsPending"] == "1" and counts["SubscriptionsConfirmed"] == "0"
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert listed[0]["SubscriptionArn"] == "PendingConfirmation"


def test_confirm_subscription_token_errors(sns, make_topic):
    topic = make_topic()
    hex_token = "75732d656173742d312f" + "0000" + "ab" * 64
    with pytest.raises(ClientError) as e:
        sns.confirm_subscription(TopicArn=topic[:-1] + "i", Token=hex_token)
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: Token")
    with pytest.raises(ClientError) as e:
        sns.confirm_subscription(TopicArn=topic, Token="randomtoken")
    assert error_of(e) == ("InvalidParameter", "Invalid token")
    with pytest.raises(ClientError) as e:
        sns.confirm_subscription(TopicArn=topic, Token="abc123")
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: Token")
    with pytest.raises(ClientError) as e:
        sns.confirm_subscription(TopicArn="not-an-arn", Token=hex_token)
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: Topic")
    with pytest.raises(ClientError) as e:
        sns.confirm_subscription(TopicArn=topic.replace("us-east-1", "eu-central-1"), Token=hex_token)
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: Topic")


def test_sms_and_lambda_subscriptions_are_confirmed(sns, make_topic):
    topic = make_topic()
    for protocol, endpoint in (("sms", "+123123123"), ("lambda", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f")):
        arn = sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=endpoint)["SubscriptionArn"]
        attrs = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
        assert attrs["PendingConfirmation"] == "false" and attrs["Protocol"] == protocol
        assert attrs["Endpoint"] == endpoint and attrs["RawMessageDelivery"] == "false"
