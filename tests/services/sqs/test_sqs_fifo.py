"""FIFO queues: order per group, deduplication, sequence numbers, receive attempts."""

from __future__ import annotations

import hashlib

import pytest
from botocore.exceptions import ClientError

from tests.services.sqs._helpers import attrs_of, error_of


def test_order_within_group_and_group_locking(any_sqs, make_queue):
    url = make_queue("order", fifo=True)
    seqs = []
    for i in range(6):
        r = any_sqs.send_message(QueueUrl=url, MessageBody=f"g1-{i}", MessageGroupId="g1",
                                 MessageDeduplicationId=f"d{i}")
        seqs.append(int(r["SequenceNumber"]))
    any_sqs.send_message(QueueUrl=url, MessageBody="g2-0", MessageGroupId="g2", MessageDeduplicationId="e0")
    assert seqs == sorted(seqs) and len(set(seqs)) == 6
    r = any_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, AttributeNames=["All"], VisibilityTimeout=30)
    msgs = r["Messages"]
    g1 = [m["Body"] for m in msgs if m["Attributes"]["MessageGroupId"] == "g1"]
    assert g1 == [f"g1-{i}" for i in range(len(g1))]
    for m in msgs:
        a = m["Attributes"]
        assert a["SequenceNumber"] and a["MessageDeduplicationId"]
    # while g1 has messages in flight, only other groups are served
    r2 = any_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["MessageGroupId"])
    assert all(m["Attributes"]["MessageGroupId"] != "g1" for m in r2.get("Messages", []))
    for m in msgs + r2.get("Messages", []):
        any_sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    rest = []
    while True:
        r = any_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        if "Messages" not in r:
            break
        for m in r["Messages"]:
            rest.append(m["Body"])
            any_sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert [b for b in g1 + rest if b.startswith("g1")] == [f"g1-{i}" for i in range(6)]


def test_explicit_dedup_id(any_sqs, make_queue):
    url = make_queue("dedup", fifo=True)
    a = any_sqs.send_message(QueueUrl=url, MessageBody="one", MessageGroupId="g", MessageDeduplicationId="same")
    b = any_sqs.send_message(QueueUrl=url, MessageBody="two", MessageGroupId="g", MessageDeduplicationId="same")
    assert a["MessageId"] == b["MessageId"] and a["SequenceNumber"] == b["SequenceNumber"]
    assert attrs_of(any_sqs, url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "1"
    # still deduplicated after the message was received and deleted (5-minute window)
    (m,) = any_sqs.receive_message(QueueUrl=url)["Messages"]
    any_sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    any_sqs.send_message(QueueUrl=url, MessageBody="three", MessageGroupId="g", MessageDeduplicationId="same")
    assert "Messages" not in any_sqs.receive_message(QueueUrl=url)


def test_content_based_dedup(sqs, make_queue):
    url = make_queue("cbd", fifo=True, ContentBasedDeduplication="true")
    a = sqs.send_message(QueueUrl=url, MessageBody="body", MessageGroupId="g")
    b = sqs.send_message(QueueUrl=url, MessageBody="body", MessageGroupId="other",
                         MessageAttributes={"x": {"DataType": "String", "StringValue": "attrs don't count"}})
    assert a["MessageId"] == b["MessageId"]
    c = sqs.send_message(QueueUrl=url, MessageBody="body2", MessageGroupId="g")
    assert c["MessageId"] != a["MessageId"]
    # an explicit id equal to the SHA-256 of an earlier body is a duplicate too
    d = sqs.send_message(QueueUrl=url, MessageBody="different", MessageGroupId="g",
                         MessageDeduplicationId=hashlib.sha256(b"body").hexdigest())
    assert d["MessageId"] == a["MessageId"]
    (m,) = sqs.receive_message(QueueUrl=url, AttributeNames=["MessageDeduplicationId"])["Messages"]
    assert m["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"body").hexdigest()


def test_dedup_scope_message_group(sqs, make_queue):
    url = make_queue("scope", fifo=True, DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
    a = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g1", MessageDeduplicationId="d")
    b = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g2", MessageDeduplicationId="d")
    c = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g1", MessageDeduplicationId="d")
    assert a["MessageId"] != b["MessageId"]
    assert c["MessageId"] == a["MessageId"]
    assert attrs_of(sqs, url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "2"
    with pytest.raises(ClientError) as ei:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"DeduplicationScope": "queue"})
    assert error_of(ei)[0] == "InvalidParameterValue"


def test_fifo_send_rules(any_sqs, make_queue):
    url = make_queue("rules", fifo=True)
    with pytest.raises(ClientError) as ei:
        any_sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert error_of(ei)[0] == "MissingParameter"
    with pytest.raises(ClientError) as ei:       # no dedup id and no content-based dedup
        any_sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert error_of(ei)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as ei:
        any_sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d",
                             DelaySeconds=5)
    assert error_of(ei)[0] == "InvalidParameterValue"
    std = make_queue("stdrules")
    with pytest.raises(ClientError) as ei:
        any_sqs.send_message(QueueUrl=std, MessageBody="x", MessageDeduplicationId="d")
    assert error_of(ei)[0] == "InvalidParameterValue"


def test_fifo_batch(sqs, make_queue):
    url = make_queue("fbatch", fifo=True, ContentBasedDeduplication="true")
    r = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": f"m{i}", "MessageGroupId": "g"} for i in range(10)])
    seq = [int(e["SequenceNumber"]) for e in sorted(r["Successful"], key=lambda e: int(e["Id"]))]
    assert seq == sorted(seq) and len(set(seq)) == 10
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == [f"m{i}" for i in range(10)]


def test_receive_request_attempt_id_retry(any_sqs, make_queue):
    url = make_queue("attempt", fifo=True, ContentBasedDeduplication="true", VisibilityTimeout=30)
    for i in range(4):
        any_sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g")
    first = any_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="try-1")["Messages"]
    # a retry with the same attempt id (e.g. after a lost response) returns the same messages and handles
    again = any_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="try-1")["Messages"]
    assert [(m["MessageId"], m["ReceiptHandle"]) for m in again] == [
        (m["MessageId"], m["ReceiptHandle"]) for m in first]
    # a new attempt id does not get group g (it is in flight)
    assert "Messages" not in any_sqs.receive_message(QueueUrl=url, ReceiveRequestAttemptId="try-2")
    for m in first:
        any_sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    nxt = any_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="try-3")["Messages"]
    assert [m["Body"] for m in nxt] == ["m2", "m3"]
    with pytest.raises(ClientError) as ei:
        any_sqs.receive_message(QueueUrl=url, ReceiveRequestAttemptId="bad id with spaces")
    assert error_of(ei)[0] == "InvalidParameterValue"


def test_fifo_visibility_returns_head_of_group(sqs, make_queue):
    url = make_queue("fvis", fifo=True, ContentBasedDeduplication="true")
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g")
    (m,) = sqs.receive_message(QueueUrl=url)["Messages"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    (m2,) = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert m2["Body"] == "m0" and m2["Attributes"]["ApproximateReceiveCount"] == "2"
