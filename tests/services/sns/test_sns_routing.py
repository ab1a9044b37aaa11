"""Which subscriptions get a message: filter policies on attributes and on the
body, end to end into SQS; and where undeliverable messages go (the
subscription's redrive DLQ, standard and FIFO)."""

from __future__ import annotations

import json

from tests.services.sns.conftest import receive


def _bodies(sqs, url, n, **kw):
    return sorted(m["Body"] for m in receive(sqs, url, n, **kw))


def test_attribute_filter_with_sentinel(sns, sqs, make_topic, queue_subscription):
    topic = make_topic()
    url, sub = queue_subscription(topic, raw=True, FilterPolicy={"attr1": [{"numeric": [">", 0, "<=", 100]},
                                                                           "sentinel"]})
    other, _ = queue_subscription(topic, raw=True)
    sns.publish(TopicArn=topic, Message="filtered out", MessageAttributes={"attr1": {"DataType": "Number",
                                                                                    "StringValue": "111"}})
    sns.publish(TopicArn=topic, Message="no attributes")
    sns.publish(TopicArn=topic, Message="match", MessageAttributes={"attr1": {"DataType": "Number",
                                                                             "StringValue": "99"}})
    sns.publish(TopicArn=topic, Message="sentinel", MessageAttributes={"attr1": {"DataType": "String",
                                                                                "StringValue": "sentinel"}})
    # the sentinel is published last: once it is in, a filtered message would have been too
    assert _bodies(sqs, url, 2) == ["match", "sentinel"]
    assert not receive(sqs, url, 1, timeout=0.5)
    assert _bodies(sqs, other, 4) == ["filtered out", "match", "no attributes", "sentinel"]
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["FilterPolicyScope"] == "MessageAttributes"


def test_body_filter_and_batch(sns, sqs, make_topic, queue_subscription):
    topic = make_topic()
    url, _sub = queue_subscription(topic, raw=True, FilterPolicyScope="MessageBody", FilterPolicy={
        "object": {"key": [{"prefix": "auto-"}, "hardcodedvalue"], "nested_key": [{"exists": False}]},
        "test": [{"exists": False}]})
    messages = [{"object": {"key": "auto-test"}}, {"object": {"key": "test-auto"}},
                {"object": {"key": "auto-test"}, "test": "just-exists"},
                {"object": {"key": "auto-test", "nested_key": "just-exists"}}, "Regular string message",
                {"object": {"key": "hardcodedvalue"}}]
    sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": str(i), "Message": m if isinstance(m, str) else json.dumps(m)} for i, m in enumerate(messages)])
    got = _bodies(sqs, url, 2)
    assert [json.loads(b) for b in got] == [{"object": {"key": "auto-test"}}, {"object": {"key": "hardcodedvalue"}}]
    assert not receive(sqs, url, 1, timeout=0.5)


def test_filter_policy_change_applies_to_next_publish(sns, sqs, make_topic, queue_subscription):
    topic = make_topic()
    url, sub = queue_subscription(topic, raw=True, FilterPolicy={"color": ["red"]})
    sns.publish(TopicArn=topic, Message="blue-1", MessageAttributes={"color": {"DataType": "String",
                                                                              "StringValue": "blue"}})
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                    AttributeValue=json.dumps({"color": ["blue"]}))
    sns.publish(TopicArn=topic, Message="blue-2", MessageAttributes={"color": {"DataType": "String",
                                                                              "StringValue": "blue"}})
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue="")
    sns.publish(TopicArn=topic, Message="any")
    assert _bodies(sqs, url, 2) == ["any", "blue-2"]


def test_deleted_queue_goes_to_dlq(sns, sqs, make_topic, make_queue, queue_subscription):
    topic = make_topic()
    for raw in (True, False):
        url, sub = queue_subscription(topic, raw=raw)
        dlq_url, dlq_arn = make_queue()
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RedrivePolicy",
                                        AttributeValue=json.dumps({"deadLetterTargetArn": dlq_arn}))
        sqs.delete_queue(QueueUrl=url)
        attrs = {"attr1": {"DataType": "Number", "StringValue": "111"},
                 "attr2": {"DataType": "Binary", "BinaryValue": b"\x02\x03\x04"}}
        sns.publish(TopicArn=topic, Message=f"dead-{raw}", MessageAttributes=attrs)
        (m,) = receive(sqs, dlq_url, 1, timeout=15, MessageAttributeNames=["All"])
        if raw:
            assert m["Body"] == "dead-True" and m["MessageAttributes"] == {
                "attr1": {"DataType": "Number", "StringValue": "111"},
                "attr2": {"DataType": "Binary", "BinaryValue": b"\x02\x03\x04"}}
        else:
            body = json.loads(m["Body"])
            assert body["Message"] == "dead-False" and body["Type"] == "Notification"
            assert body["MessageAttributes"]["attr2"] == {"Type": "Binary", "Value": "AgME"}
            assert "MessageAttributes" not in m
        sns.unsubscribe(SubscriptionArn=sub)


def test_without_dlq_the_message_is_dropped_and_the_subscription_stays(sns, sqs, make_topic, queue_subscription):
    topic = make_topic()
    url, sub = queue_subscription(topic)
    witness, _ = queue_subscription(topic, raw=True)
    sqs.delete_queue(QueueUrl=url)
    sns.publish(TopicArn=topic, Message="lost")
    assert _bodies(sqs, witness, 1) == ["lost"]
    assert sub in [s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]]


def test_fifo_subscription_dlq(sns, sqs, make_topic, make_queue, queue_subscription):
    topic = make_topic(fifo=True)
    url, sub = queue_subscription(topic, fifo=True, raw=True)
    dlq_url, dlq_arn = make_queue(fifo=True)
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RedrivePolicy",
                                    AttributeValue=json.dumps({"deadLetterTargetArn": dlq_arn}))
    sqs.delete_queue(QueueUrl=url)
    sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": str(i), "MessageGroupId": "grp", "Message": f"m{i}", "MessageDeduplicationId": f"dedup-{i}"}
        for i in range(3)])
    got = receive(sqs, dlq_url, 3, timeout=15, MessageSystemAttributeNames=["All"])
    assert [m["Body"] for m in got] == ["m0", "m1", "m2"]
    assert [m["Attributes"]["MessageDeduplicationId"] for m in got] == ["dedup-0", "dedup-1", "dedup-2"]
    assert {m["Attributes"]["MessageGroupId"] for m in got} == {"grp"}
