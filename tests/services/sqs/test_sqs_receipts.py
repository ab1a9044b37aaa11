"""Receipt handles as AWS treats them, per queue type, and the receive history a
dead-lettered message keeps. Expiry is awaited by polling the queue's counts."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.helpers.brokerproc import wait_for
from tests.services.sqs._helpers import attrs_of, error_of


def counts(client, url) -> tuple[int, int]:
    a = attrs_of(client, url, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


def expired_handle(client, url, **send) -> str:
    """Send one message, receive it with a 1 s visibility timeout, wait until it is visible again."""
    client.send_message(QueueUrl=url, MessageBody="m", **send)
    (m,) = client.receive_message(QueueUrl=url, WaitTimeSeconds=2, VisibilityTimeout=1)["Messages"]
    wait_for(lambda: counts(client, url) == (1, 0), 10, what="visibility timeout to pass")
    return m["ReceiptHandle"]


def test_standard_expired_handle_still_deletes(any_sqs, make_queue):
    url = make_queue("exp-del")
    handle = expired_handle(any_sqs, url)
    any_sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    assert counts(any_sqs, url) == (0, 0)


def test_standard_expired_handle_changes_visibility(any_sqs, make_queue):
    url = make_queue("exp-cmv")
    handle = expired_handle(any_sqs, url)
    any_sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=60)
    assert counts(any_sqs, url) == (0, 1)            # hidden again
    assert "Messages" not in any_sqs.receive_message(QueueUrl=url)


def test_standard_old_handle_is_accepted(any_sqs, make_queue):
    url = make_queue("old")
    any_sqs.send_message(QueueUrl=url, MessageBody="m")
    (first,) = any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, VisibilityTimeout=0)["Messages"]
    (second,) = any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, VisibilityTimeout=60)["Messages"]
    assert first["ReceiptHandle"] != second["ReceiptHandle"]
    # the first, older handle makes the message visible again
    any_sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    assert counts(any_sqs, url) == (1, 0)
    # and deleting with it succeeds (the message stays: only the latest handle deletes)
    any_sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])


def test_handle_of_deleted_message(any_sqs, make_queue):
    url = make_queue("gone")
    any_sqs.send_message(QueueUrl=url, MessageBody="m")
    (m,) = any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    handle = m["ReceiptHandle"]
    any_sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    any_sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)     # deleting twice is fine
    with pytest.raises(ClientError) as ei:
        any_sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=10)
    assert error_of(ei) == ("InvalidParameterValue", f"Value {handle} for parameter ReceiptHandle is invalid. "
                            "Reason: Message does not exist or is not available for visibility timeout change.")


def test_fifo_expired_handle_cannot_delete(any_sqs, make_queue):
    url = make_queue("fexp", fifo=True, ContentBasedDeduplication="true")
    handle = expired_handle(any_sqs, url, MessageGroupId="g")
    with pytest.raises(ClientError) as ei:
        any_sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    assert error_of(ei) == ("InvalidParameterValue", f"Value {handle} for parameter ReceiptHandle is invalid. "
                            "Reason: The receipt handle has expired.")
    (m,) = any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]   # the message is kept
    assert m["Body"] == "m"
    with pytest.raises(ClientError) as ei:   # nor change its visibility
        any_sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=5)
    assert error_of(ei)[0] == "InvalidParameterValue" and "has expired" in error_of(ei)[1]
    any_sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_fifo_extended_handle_deletes_after_first_timeout(any_sqs, make_queue):
    url = make_queue("fext", fifo=True, ContentBasedDeduplication="true")
    any_sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g")
    (m,) = any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, VisibilityTimeout=1)["Messages"]
    any_sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=30)
    # past the first timeout it is still in flight, and the handle still deletes it
    assert "Messages" not in any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)
    any_sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert counts(any_sqs, url) == (0, 0)


@pytest.mark.parametrize("fifo", [False, True])
def test_dead_letter_keeps_receive_count(sqs, make_queue, fifo):
    extra = {"ContentBasedDeduplication": "true"} if fifo else {}
    dlq = make_queue("keepdlq", fifo=fifo, **extra)
    dlq_arn = attrs_of(sqs, dlq, "QueueArn")["QueueArn"]
    src = make_queue("keepsrc", fifo=fifo, VisibilityTimeout=0, **extra,
                     RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    sqs.send_message(QueueUrl=src, MessageBody="counted", **({"MessageGroupId": "g"} if fifo else {}))
    firsts = []
    for _ in range(2):
        (m,) = sqs.receive_message(QueueUrl=src, WaitTimeSeconds=2, AttributeNames=["All"])["Messages"]
        firsts.append(m["Attributes"]["ApproximateFirstReceiveTimestamp"])
    wait_for(lambda: (sqs.receive_message(QueueUrl=src) and False) or counts(sqs, dlq)[0] == 1, 10)
    (m,) = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"]
    a = m["Attributes"]
    # received twice at the source, once more here: the count goes on, as at AWS
    assert a["ApproximateReceiveCount"] == "3"
    assert a["ApproximateFirstReceiveTimestamp"] == firsts[0]
    assert a["DeadLetterQueueSourceArn"] == attrs_of(sqs, src, "QueueArn")["QueueArn"]
