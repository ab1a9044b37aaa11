"""Standard-queue messaging with real clients: MD5s, attributes, visibility, delays,
long polling, purge and batches (over JSON and query where cheap)."""

from __future__ import annotations

import hashlib
import struct
import threading
import time

import pytest
from botocore.exceptions import ClientError

from tests.services.sqs._helpers import attrs_of, error_of, receive_all
from tests.helpers.brokerproc import wait_for

TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def md5_attrs(attrs: dict) -> str:
    """AWS's documented MD5 of message attributes (independent of the server's code)."""
    out = b""
    for name in sorted(attrs):
        v = attrs[name]
        enc = lambda b: struct.pack(">I", len(b)) + b  # noqa: E731
        out += enc(name.encode()) + enc(v["DataType"].encode())
        if "StringValue" in v:
            out += b"\x01" + enc(v["StringValue"].encode())
        else:
            out += b"\x02" + enc(v["BinaryValue"])
    return hashlib.md5(out).hexdigest()


ATTRS = {
    "city": {"DataType": "String", "StringValue": "Zürich ☃"},
    "price": {"DataType": "Number.float", "StringValue": "12.50"},
    "count": {"DataType": "Number", "StringValue": "-7"},
    "img": {"DataType": "Binary.gif", "BinaryValue": b"GIF89a\x00\x01\xff"},
    "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    "custom": {"DataType": "String.custom-type", "StringValue": "x"},
}


def test_send_receive_delete_with_md5s(any_sqs, make_queue):
    url = make_queue("md5")
    body = "héllo wörld \U0001F600"
    sent = any_sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=ATTRS,
                                MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String",
                                                                            "StringValue": TRACE}})
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == md5_attrs(ATTRS)
    assert sent["MD5OfMessageSystemAttributes"] == md5_attrs(
        {"AWSTraceHeader": {"DataType": "String", "StringValue": TRACE}})
    (m,) = any_sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], AttributeNames=["All"],
                                   WaitTimeSeconds=2)["Messages"]
    assert m["MessageId"] == sent["MessageId"]
    assert m["Body"] == body
    assert m["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert m["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert m["MessageAttributes"] == ATTRS
    a = m["Attributes"]
    assert a["AWSTraceHeader"] == TRACE
    assert a["ApproximateReceiveCount"] == "1"
    assert abs(int(a["SentTimestamp"]) / 1000 - time.time()) < 30
    assert int(a["ApproximateFirstReceiveTimestamp"]) >= int(a["SentTimestamp"])
    assert a["SenderId"]
    any_sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert "Messages" not in any_sqs.receive_message(QueueUrl=url)
    assert attrs_of(any_sqs, url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "0"


def test_attribute_selection(sqs, make_queue):
    url = make_queue("sel")
    sqs.send_message(QueueUrl=url, MessageBody="b", MessageAttributes={
        "a.one": {"DataType": "String", "StringValue": "1"}, "a.two": {"DataType": "String", "StringValue": "2"},
        "b": {"DataType": "Number", "StringValue": "3"}},
        MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": TRACE}})

    def get(**kw):
        (m,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, WaitTimeSeconds=2, **kw)["Messages"]
        return m
    m = get()
    assert "Attributes" not in m and "MessageAttributes" not in m
    assert "MD5OfMessageAttributes" not in m             # AWS sends no digest when it returns no attributes
    m = get(MessageAttributeNames=["a.*"])
    assert set(m["MessageAttributes"]) == {"a.one", "a.two"}
    assert m["MD5OfMessageAttributes"] == md5_attrs(m["MessageAttributes"])
    m = get(MessageAttributeNames=["b"])
    assert set(m["MessageAttributes"]) == {"b"}
    m = get(MessageAttributeNames=[".*"])
    assert set(m["MessageAttributes"]) == {"a.one", "a.two", "b"}
    m = get(AttributeNames=["SentTimestamp"])
    assert set(m["Attributes"]) == {"SentTimestamp"}
    m = get(MessageSystemAttributeNames=["ApproximateReceiveCount", "AWSTraceHeader"])
    assert set(m["Attributes"]) == {"ApproximateReceiveCount", "AWSTraceHeader"}
    assert int(m["Attributes"]["ApproximateReceiveCount"]) >= 5


@pytest.mark.parametrize("attrs,code", [
    ({"n": {"DataType": "Number", "StringValue": "abc"}}, "InvalidParameterValue"),
    ({"n": {"DataType": "Text", "StringValue": "abc"}}, "InvalidParameterValue"),
    ({"AWS.x": {"DataType": "String", "StringValue": "abc"}}, "InvalidParameterValue"),
    ({"bad..name": {"DataType": "String", "StringValue": "abc"}}, "InvalidParameterValue"),
    ({"b": {"DataType": "Binary", "StringValue": "abc"}}, "InvalidParameterValue"),
    ({f"k{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)}, "InvalidParameterValue"),
])
def test_invalid_message_attributes(any_sqs, make_queue, attrs, code):
    url = make_queue("badattr")
    with pytest.raises(ClientError) as ei:
        any_sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=attrs)
    assert error_of(ei)[0] == code


def test_invalid_body(any_sqs, make_queue):
    url = make_queue("badbody")
    with pytest.raises(ClientError) as ei:
        any_sqs.send_message(QueueUrl=url, MessageBody="bad \x01 char")
    assert error_of(ei)[0] == "InvalidMessageContents"
    with pytest.raises(ClientError) as ei:
        any_sqs.send_message(QueueUrl=url, MessageBody="")
    assert error_of(ei)[0] in ("MissingParameter", "InvalidParameterValue")


def test_maximum_message_size(sqs, make_queue):
    url = make_queue("maxsize")
    sqs.send_message(QueueUrl=url, MessageBody="x" * 1048576)          # default: 1 MiB is fine
    with pytest.raises(ClientError) as ei:
        sqs.send_message(QueueUrl=url, MessageBody="x" * 1048577)
    assert error_of(ei)[0] == "InvalidParameterValue"
    (m,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    assert len(m["Body"]) == 1048576
    small = make_queue("maxsize1k", MaximumMessageSize=1024)
    sqs.send_message(QueueUrl=small, MessageBody="y" * 1024)
    with pytest.raises(ClientError) as ei:
        sqs.send_message(QueueUrl=small, MessageBody="y" * 1025)
    code, msg = error_of(ei)
    assert code == "InvalidParameterValue" and "1024" in msg
    # attributes count towards the size
    with pytest.raises(ClientError) as ei:
        sqs.send_message(QueueUrl=small, MessageBody="y" * 1000,
                         MessageAttributes={"pad": {"DataType": "String", "StringValue": "z" * 100}})
    assert error_of(ei)[0] == "InvalidParameterValue"


def test_visibility_timeout_and_at_least_once(any_sqs, make_queue):
    url = make_queue("vis", VisibilityTimeout=1)
    any_sqs.send_message(QueueUrl=url, MessageBody="again")
    (m1,) = any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    assert "Messages" not in any_sqs.receive_message(QueueUrl=url)
    a = attrs_of(any_sqs, url)
    assert (a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"]) == ("0", "1")
    # not deleted: comes back after the timeout with a new receipt handle and count 2
    (m2,) = any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, AttributeNames=["ApproximateReceiveCount"])[
        "Messages"]
    assert m2["MessageId"] == m1["MessageId"]
    assert m2["ReceiptHandle"] != m1["ReceiptHandle"]
    assert m2["Attributes"]["ApproximateReceiveCount"] == "2"
    any_sqs.delete_message(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"])


def test_change_message_visibility(any_sqs, make_queue):
    url = make_queue("cmv")
    any_sqs.send_message(QueueUrl=url, MessageBody="m")
    (m,) = any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    any_sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    (m,) = any_sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"]
    with pytest.raises(ClientError) as ei:
        any_sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=43201)
    assert error_of(ei)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as ei:
        any_sqs.change_message_visibility(QueueUrl=url, ReceiptHandle="garbage", VisibilityTimeout=5)
    assert error_of(ei)[0] == "ReceiptHandleIsInvalid"
    any_sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    with pytest.raises(ClientError) as ei:   # the message is gone
        any_sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=5)
    assert error_of(ei) == ("InvalidParameterValue", f"Value {m['ReceiptHandle']} for parameter ReceiptHandle is "
                            "invalid. Reason: Message does not exist or is not available for visibility timeout "
                            "change.")


def test_delete_invalid_receipt_handle(any_sqs, make_queue):
    url = make_queue("badrh")
    with pytest.raises(ClientError) as ei:
        any_sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    code, msg = error_of(ei)
    assert code == "ReceiptHandleIsInvalid"
    assert msg == 'The input receipt handle "not-a-handle" is not a valid receipt handle.'


def test_delete_with_stale_receipt_handle_keeps_message(sqs, make_queue):
    """AWS: with an older receipt handle the request succeeds but the message is not deleted."""
    url = make_queue("stale")
    sqs.send_message(QueueUrl=url, MessageBody="m")
    (m1,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, VisibilityTimeout=0)["Messages"]
    (m2,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, VisibilityTimeout=30)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m1["ReceiptHandle"])
    assert attrs_of(sqs, url, "ApproximateNumberOfMessagesNotVisible")["ApproximateNumberOfMessagesNotVisible"] == "1"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"])
    assert attrs_of(sqs, url, "ApproximateNumberOfMessagesNotVisible")["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_receive_handle_of_other_queue_rejected(sqs, make_queue):
    a, b = make_queue("rha"), make_queue("rhb")
    sqs.send_message(QueueUrl=a, MessageBody="m")
    (m,) = sqs.receive_message(QueueUrl=a, WaitTimeSeconds=2)["Messages"]
    sqs.send_message(QueueUrl=b, MessageBody="m")
    with pytest.raises(ClientError) as ei:
        sqs.delete_message(QueueUrl=b, ReceiptHandle=m["ReceiptHandle"])
    assert error_of(ei)[0] == "ReceiptHandleIsInvalid"


def test_receive_parameter_limits(any_sqs, make_queue):
    url = make_queue("rcvlim")
    for kw in ({"MaxNumberOfMessages": 11}, {"MaxNumberOfMessages": 0}, {"WaitTimeSeconds": 21},
               {"VisibilityTimeout": 43201}):
        with pytest.raises(ClientError) as ei:
            any_sqs.receive_message(QueueUrl=url, **kw)
        assert error_of(ei)[0] == "InvalidParameterValue", kw
    with pytest.raises(ClientError) as ei:
        any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=21)
    assert error_of(ei)[1] == ("Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, "
                               "if provided.")


def test_delay_queue_and_per_message_delay(sqs, make_queue):
    url = make_queue("delay", DelaySeconds=1)
    t0 = time.monotonic()
    sqs.send_message(QueueUrl=url, MessageBody="queue-delay")
    sqs.send_message(QueueUrl=url, MessageBody="no-delay", DelaySeconds=0)
    sqs.send_message(QueueUrl=url, MessageBody="msg-delay", DelaySeconds=2)
    a = attrs_of(sqs, url)
    assert a["ApproximateNumberOfMessagesDelayed"] == "2"
    (m,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert m["Body"] == "no-delay"
    seen = {}
    deadline = time.monotonic() + 6
    while len(seen) < 2 and time.monotonic() < deadline:
        for msg in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            seen.setdefault(msg["Body"], time.monotonic() - t0)
    assert set(seen) == {"queue-delay", "msg-delay"}
    assert 0.8 <= seen["queue-delay"] < 2.0
    assert 1.8 <= seen["msg-delay"] < 3.5
    with pytest.raises(ClientError) as ei:
        sqs.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=901)
    assert error_of(ei)[0] == "InvalidParameterValue"


def test_long_poll_returns_promptly_after_send(server, sqs, make_queue):
    url = make_queue("lp")
    sender = server.client("sqs")                  # another client (own connection pool)
    result = {}

    def poll():
        t = time.monotonic()
        r = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=15)
        result["msgs"], result["t"] = r.get("Messages", []), time.monotonic() - t

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.5)  # time is the subject: the poll must be parked before the send
    t_send = time.monotonic()
    sender.send_message(QueueUrl=url, MessageBody="wake up")
    th.join(16)
    latency = time.monotonic() - t_send
    assert [m["Body"] for m in result["msgs"]] == ["wake up"]
    assert latency < 0.5, f"long poll returned {latency:.3f}s after the send"
    assert result["t"] < 2.0


def test_long_poll_empty_waits_and_queue_default(sqs, make_queue):
    url = make_queue("lpe")
    t = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert 0.9 <= time.monotonic() - t < 2.0
    url2 = make_queue("lpq", ReceiveMessageWaitTimeSeconds=1)
    t = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url2)
    assert 0.9 <= time.monotonic() - t < 2.0
    t = time.monotonic()  # an explicit 0 overrides the queue's default
    sqs.receive_message(QueueUrl=url2, WaitTimeSeconds=0)
    assert time.monotonic() - t < 0.5


def test_many_long_polls_served_by_one_send_batch(server, sqs, make_queue):
    url = make_queue("lpmany")
    results = []

    def poll():
        c = server.client("sqs")
        r = c.receive_message(QueueUrl=url, WaitTimeSeconds=10)
        results.append(len(r.get("Messages", [])))

    threads = [threading.Thread(target=poll) for _ in range(5)]
    for th in threads:
        th.start()
    time.sleep(0.5)  # pollers parked
    t = time.monotonic()
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(5)])
    for th in threads:
        th.join(12)
    assert sum(results) == 5
    assert time.monotonic() - t < 3


def test_purge_queue_60_second_rule(any_sqs, make_queue):
    url = make_queue("purge")
    any_sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(3)])
    any_sqs.receive_message(QueueUrl=url)
    any_sqs.purge_queue(QueueUrl=url)
    a = attrs_of(any_sqs, url)
    assert a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0"
    with pytest.raises(ClientError) as ei:
        any_sqs.purge_queue(QueueUrl=url)
    code, msg = error_of(ei)
    assert code == "AWS.SimpleQueueService.PurgeQueueInProgress"
    assert "60 seconds" in msg


def test_send_batch_per_entry_results(any_sqs, make_queue):
    url = make_queue("batch")
    r = any_sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "ok1", "MessageBody": "a", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
        {"Id": "bad-delay", "MessageBody": "b", "DelaySeconds": 1000},
        {"Id": "bad_body", "MessageBody": "c\x00"},
        {"Id": "ok2", "MessageBody": "d", "DelaySeconds": 0},
    ])
    assert sorted(e["Id"] for e in r["Successful"]) == ["ok1", "ok2"]
    ok1 = next(e for e in r["Successful"] if e["Id"] == "ok1")
    assert ok1["MD5OfMessageBody"] == hashlib.md5(b"a").hexdigest()
    assert ok1["MD5OfMessageAttributes"] == md5_attrs({"k": {"DataType": "String", "StringValue": "v"}})
    failed = {e["Id"]: e for e in r["Failed"]}
    assert set(failed) == {"bad-delay", "bad_body"}
    assert failed["bad-delay"]["Code"] == "InvalidParameterValue" and failed["bad-delay"]["SenderFault"] is True
    assert failed["bad_body"]["Code"] == "InvalidMessageContents"
    got = receive_all(any_sqs, url, 2)
    assert sorted(m["Body"] for m in got) == ["a", "d"]
    # delete batch: one good, one invalid handle
    d = any_sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "x", "ReceiptHandle": got[0]["ReceiptHandle"]}, {"Id": "y", "ReceiptHandle": "junk"}])
    assert [e["Id"] for e in d["Successful"]] == ["x"]
    assert [(e["Id"], e["Code"]) for e in d["Failed"]] == [("y", "ReceiptHandleIsInvalid")]
    c = any_sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "x", "ReceiptHandle": got[1]["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "y", "ReceiptHandle": "junk", "VisibilityTimeout": 0},
        {"Id": "z", "ReceiptHandle": got[1]["ReceiptHandle"], "VisibilityTimeout": 50000}])
    assert [e["Id"] for e in c["Successful"]] == ["x"]
    assert sorted((e["Id"], e["Code"]) for e in c["Failed"]) == [
        ("y", "ReceiptHandleIsInvalid"), ("z", "InvalidParameterValue")]
    (m,) = any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    assert m["Body"] == "d"


def test_batch_request_limits(any_sqs, make_queue):
    url = make_queue("batchlim")
    cases = [
        ([{"Id": str(i), "MessageBody": "x"} for i in range(11)], "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"),
        ([{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}],
         "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"),
        ([{"Id": "bad id!", "MessageBody": "x"}], "AWS.SimpleQueueService.InvalidBatchEntryId"),
        ([{"Id": str(i), "MessageBody": "x" * 300000} for i in range(4)],
         "AWS.SimpleQueueService.BatchRequestTooLong"),
    ]
    for entries, code in cases:
        with pytest.raises(ClientError) as ei:
            any_sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert error_of(ei)[0] == code
    with pytest.raises(ClientError) as ei:
        any_sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "a", "ReceiptHandle": "x"}] * 2)
    assert error_of(ei)[0] == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
    # exactly 1 MiB in total is accepted
    r = any_sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": "x" * (1048576 // 4)} for i in range(4)])
    assert len(r["Successful"]) == 4


def test_empty_batch(any_sqs, make_queue):
    url = make_queue("emptybatch")
    with pytest.raises(ClientError) as ei:
        any_sqs.send_message_batch(QueueUrl=url, Entries=[])
    assert error_of(ei) == ("AWS.SimpleQueueService.EmptyBatchRequest",
                            "There should be at least one SendMessageBatchRequestEntry in the request.")


def test_approximate_counts(sqs, make_queue):
    url = make_queue("counts")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(5)])
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)
    wait_for(lambda: attrs_of(sqs, url)["ApproximateNumberOfMessagesNotVisible"] == "2", 5)
    a = attrs_of(sqs, url)
    assert (a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"],
            a["ApproximateNumberOfMessagesDelayed"]) == ("3", "2", "1")


@pytest.mark.slow
def test_message_retention_period_enforced(sqs, make_queue):
    url = make_queue("retain", MessageRetentionPeriod=60)
    sqs.send_message(QueueUrl=url, MessageBody="old")
    wait_for(lambda: attrs_of(sqs, url)["ApproximateNumberOfMessages"] == "0", 75, interval=1)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_cloudwatch_metrics(server, sqs, make_queue):
    """Sends, receives, deletes and empty receives are counted in AWS/SQS, per QueueName."""
    import datetime
    url = make_queue("metrics")
    name = url.rsplit("/", 1)[1]
    sqs.send_message(QueueUrl=url, MessageBody="12345")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}, {"Id": "b", "MessageBody": "y"}])
    got = receive_all(sqs, url, 3)
    sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                    for i, m in enumerate(got)])
    sqs.receive_message(QueueUrl=url)     # empty
    cw = server.client("cloudwatch")
    dims = [{"Name": "QueueName", "Value": name}]
    now = datetime.datetime.now(datetime.timezone.utc)

    def total(metric, stat="Sum"):
        points = cw.get_metric_statistics(Namespace="AWS/SQS", MetricName=metric, Dimensions=dims,
                                          StartTime=now - datetime.timedelta(minutes=5),
                                          EndTime=now + datetime.timedelta(minutes=5), Period=60,
                                          Statistics=[stat])["Datapoints"]
        return sum(p[stat] for p in points)
    wait_for(lambda: total("NumberOfMessagesSent") == 3 and total("NumberOfMessagesDeleted") == 3, 20,
             what="AWS/SQS metrics")
    assert total("NumberOfMessagesReceived") == 3
    assert total("NumberOfEmptyReceives") >= 1
    assert total("SentMessageSize", "Maximum") == 5
