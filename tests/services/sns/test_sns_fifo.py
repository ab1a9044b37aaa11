"""FIFO topics end to end: ordering per message group into FIFO queues,
topic-level deduplication, sequence numbers, content-based dedup ids, FIFO
topics into standard queues, and FIFO validation errors."""

from __future__ import annotations

import hashlib
import json

import pytest
from botocore.exceptions import ClientError

from tests.services.sns.conftest import error_of, receive


def test_order_per_group_end_to_end(sns, sqs, make_topic, queue_subscription):
    topic = make_topic(fifo=True, ContentBasedDeduplication="true")
    url, _sub = queue_subscription(topic, fifo=True, raw=True)
    sent = {g: [] for g in ("g1", "g2", "g3")}
    for i in range(30):
        g = f"g{i % 3 + 1}"
        body = f"{g}-{i:03d}"
        sent[g].append(body)
        if i % 2:
            sns.publish(TopicArn=topic, Message=body, MessageGroupId=g)
        else:
            sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "x", "Message": body,
                                                                           "MessageGroupId": g}])
    got = receive(sqs, url, 30, timeout=30, MessageSystemAttributeNames=["All"])
    assert len(got) == 30
    by_group: dict[str, list] = {}
    for m in got:
        by_group.setdefault(m["Attributes"]["MessageGroupId"], []).append(m["Body"])
    assert by_group == sent
    seqs = [int(m["Attributes"]["SequenceNumber"]) for m in got if m["Attributes"]["MessageGroupId"] == "g1"]
    assert seqs == sorted(seqs)


@pytest.mark.parametrize("content_dedup", [True, False])
def test_fifo_envelope_and_dedup(sns, sqs, make_topic, queue_subscription, content_dedup):
    attrs = {"ContentBasedDeduplication": "true"} if content_dedup else {}
    topic = make_topic(fifo=True, **attrs)
    url, sub = queue_subscription(topic, fifo=True, queue_attrs=attrs)
    kwargs = {"MessageGroupId": "message-group-id-1"}
    if not content_dedup:
        kwargs["MessageDeduplicationId"] = "message-deduplication-id-1"
    first = sns.publish(TopicArn=topic, Message="Test", **kwargs)
    assert first["SequenceNumber"].isdigit() and len(first["SequenceNumber"]) == 20
    (m,) = receive(sqs, url, 1, MessageSystemAttributeNames=["All"])
    expected_dedup = hashlib.sha256(b"Test").hexdigest() if content_dedup else "message-deduplication-id-1"
    assert m["Attributes"]["MessageDeduplicationId"] == expected_dedup
    assert m["Attributes"]["MessageGroupId"] == "message-group-id-1"
    body = json.loads(m["Body"])
    assert list(body) == ["Type", "MessageId", "SequenceNumber", "TopicArn", "Message", "Timestamp",
                          "UnsubscribeURL"]
    assert body["SequenceNumber"] == first["SequenceNumber"] and body["MessageId"] == first["MessageId"]
    again = sns.publish(TopicArn=topic, Message="Test", **kwargs)
    assert again == {**again, "MessageId": first["MessageId"], "SequenceNumber": first["SequenceNumber"]}
    marker = sns.publish(TopicArn=topic, Message="marker", MessageGroupId="message-group-id-1",
                         MessageDeduplicationId="marker")
    assert [json.loads(x["Body"])["MessageId"] for x in receive(sqs, url, 1)] == [marker["MessageId"]]


def test_topic_level_dedup_across_groups(sns, sqs, make_topic, queue_subscription):
    topic = make_topic(fifo=True, ContentBasedDeduplication="true")
    url, _sub = queue_subscription(topic, fifo=True, raw=True)
    a = sns.publish(TopicArn=topic, Message="Test", MessageGroupId="g1")
    b = sns.publish(TopicArn=topic, Message="Test", MessageGroupId="g2")
    assert a["MessageId"] == b["MessageId"]
    sns.publish(TopicArn=topic, Message="end", MessageGroupId="g2")
    assert [m["Body"] for m in receive(sqs, url, 2, timeout=15)] == ["Test", "end"]
    scoped = make_topic(fifo=True, ContentBasedDeduplication="true", FifoThroughputScope="MessageGroup")
    c = sns.publish(TopicArn=scoped, Message="Test", MessageGroupId="g1")
    d = sns.publish(TopicArn=scoped, Message="Test", MessageGroupId="g2")
    assert c["MessageId"] != d["MessageId"]


def test_batch_republish_returns_original_ids(sns, sqs, make_topic, queue_subscription):
    topic = make_topic(fifo=True)
    url, _sub = queue_subscription(topic, fifo=True, raw=True)
    entries = [{"Id": str(i), "MessageGroupId": "complex", "Message": f"m{i}", "MessageDeduplicationId": f"d-{i}"}
               for i in range(3)]
    first = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)["Successful"]
    assert [m["Body"] for m in receive(sqs, url, 3, MessageSystemAttributeNames=["All"])] == ["m0", "m1", "m2"]
    again = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)["Successful"]
    assert again == first
    sns.publish(TopicArn=topic, Message="after", MessageGroupId="complex", MessageDeduplicationId="after")
    assert [m["Body"] for m in receive(sqs, url, 1)] == ["after"]


def test_fifo_topic_into_standard_queue(sns, sqs, make_topic, queue_subscription):
    topic = make_topic(fifo=True)
    url, _sub = queue_subscription(topic)
    sns.publish(TopicArn=topic, Message="Test", MessageGroupId="g", MessageDeduplicationId="d")
    (m,) = receive(sqs, url, 1, MessageSystemAttributeNames=["All"])
    assert "MessageGroupId" not in m["Attributes"] and "MessageDeduplicationId" not in m["Attributes"]
    assert json.loads(m["Body"])["SequenceNumber"]


def test_fifo_validation(sns, make_topic):
    topic = make_topic(fifo=True)
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="test")
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: The MessageGroupId parameter is required for FIFO "
                                               "topics")
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="test", MessageGroupId="g")
    assert error_of(e) == ("InvalidParameter", "Invalid parameter: The topic should either have "
                                               "ContentBasedDeduplication enabled or MessageDeduplicationId provided "
                                               "explicitly")
    with pytest.raises(ClientError) as e:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "1", "Message": "no group"}])
    assert error_of(e)[1] == "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"
    assert sns.publish(TargetArn=topic, MessageStructure="json", Message=json.dumps({"default": "x"}),
                       MessageGroupId="g", MessageDeduplicationId="d")["MessageId"]
