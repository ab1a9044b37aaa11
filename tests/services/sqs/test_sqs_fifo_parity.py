"""FIFO behaviours recorded at AWS: group visibility and order, purge and deduplication,
delays, batch entries without ids, and DeduplicationScope changes."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.helpers.brokerproc import wait_for
from tests.services.sqs._helpers import attrs_of, error_of


def send_all(client, url, items):
    for body, group in items:
        client.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)


def bodies(resp) -> list[str]:
    return [m["Body"] for m in resp.get("Messages", [])]


def test_visible_head_receivable_while_later_message_in_flight(any_sqs, make_queue):
    url = make_queue("grp", fifo=True, ContentBasedDeduplication="true", VisibilityTimeout=30)
    send_all(any_sqs, url, [("g1-m1", "group-1"), ("g1-m2", "group-1"), ("g2-m1", "group-2")])
    r = any_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)
    assert bodies(r) == ["g1-m1", "g1-m2"]
    any_sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=r["Messages"][0]["ReceiptHandle"],
                                      VisibilityTimeout=0)
    # g1-m1 is visible again while g1-m2 is in flight: both groups serve; g1 went behind g2
    assert bodies(any_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, WaitTimeSeconds=2)) == [
        "g2-m1", "g1-m1"]


def test_groups_back_from_flight_go_behind_untouched_groups(any_sqs, make_queue):
    url = make_queue("grpback", fifo=True, ContentBasedDeduplication="true")
    send_all(any_sqs, url, [("g1-m1", "group-1"), ("g2-m1", "group-2"), ("g2-m2", "group-2"),
                            ("g3-m1", "group-3"), ("g1-m2", "group-1")])
    assert bodies(any_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, VisibilityTimeout=0)) == [
        "g1-m1", "g1-m2", "g2-m1"]
    assert bodies(any_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)) == [
        "g3-m1", "g1-m1", "g1-m2", "g2-m1", "g2-m2"]


def test_group_freed_by_deletes_keeps_its_place(sqs, make_queue):
    url = make_queue("grpdel", fifo=True, ContentBasedDeduplication="true")
    send_all(sqs, url, [("g1-m1", "group-1"), ("g2-m1", "group-2"), ("g1-m2", "group-1"), ("g2-m2", "group-2"),
                        ("g1-m3", "group-1"), ("g1-m4", "group-1"), ("g3-m1", "group-3")])
    r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)
    for m in r["Messages"]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == [
        "g2-m1", "g2-m2", "g1-m3", "g1-m4", "g3-m1"]


def test_purge_clears_deduplication_window(any_sqs, make_queue):
    url = make_queue("purgededup", fifo=True)
    any_sqs.send_message(QueueUrl=url, MessageBody="first", MessageGroupId="g", MessageDeduplicationId="same")
    any_sqs.purge_queue(QueueUrl=url)
    any_sqs.send_message(QueueUrl=url, MessageBody="second", MessageGroupId="g", MessageDeduplicationId="same")
    # the re-send after the purge is a new message and is delivered
    assert bodies(any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)) == ["second"]


def test_zero_delay_accepted_on_fifo(any_sqs, make_queue):
    url = make_queue("fdelay", fifo=True, ContentBasedDeduplication="true", DelaySeconds=1)
    any_sqs.send_message(QueueUrl=url, MessageBody="delayed by the queue", MessageGroupId="g", DelaySeconds=0)
    assert "Messages" not in any_sqs.receive_message(QueueUrl=url)      # the queue's delay still applies
    wait_for(lambda: bodies(any_sqs.receive_message(QueueUrl=url)) == ["delayed by the queue"], 10)
    with pytest.raises(ClientError) as ei:
        any_sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", DelaySeconds=2)
    assert error_of(ei) == ("InvalidParameterValue", "Value 2 for parameter DelaySeconds is invalid. Reason: The "
                                                     "request include parameter that is not valid for this queue type.")


def test_batch_entry_without_group_or_dedup_fails_whole_request(any_sqs, make_queue):
    url = make_queue("fbatch", fifo=True)
    with pytest.raises(ClientError) as ei:
        any_sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "a", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d1"},
            {"Id": "b", "MessageBody": "y", "MessageDeduplicationId": "d2"}])
    assert error_of(ei) == ("InvalidParameterValue", "The request must contain the parameter MessageGroupId.")
    with pytest.raises(ClientError) as ei:
        any_sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "a", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d1"},
            {"Id": "b", "MessageBody": "y", "MessageGroupId": "g"}])
    assert error_of(ei) == ("InvalidParameterValue", "The queue should either have ContentBasedDeduplication "
                                                     "enabled or MessageDeduplicationId provided explicitly")
    assert attrs_of(any_sqs, url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "0"
    with pytest.raises(ClientError) as ei:   # a single SendMessage without a group: MissingParameter
        any_sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert error_of(ei) == ("MissingParameter", "The request must contain the parameter MessageGroupId.")


def test_changing_deduplication_scope_keeps_the_created_one(sqs, make_queue):
    """AWS updates the attribute but keeps deduplicating with the scope the queue was created with."""
    url = make_queue("scope-up", fifo=True)
    sqs.send_message(QueueUrl=url, MessageBody="Test1", MessageGroupId="g1", MessageDeduplicationId="d1")
    sqs.send_message(QueueUrl=url, MessageBody="Test2", MessageGroupId="g2", MessageDeduplicationId="d1")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DeduplicationScope": "messageGroup",
                                                       "FifoThroughputLimit": "perMessageGroupId"})
    a = attrs_of(sqs, url)
    assert (a["DeduplicationScope"], a["FifoThroughputLimit"]) == ("messageGroup", "perMessageGroupId")
    sqs.send_message(QueueUrl=url, MessageBody="Test3", MessageGroupId="g3", MessageDeduplicationId="d1")
    assert bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)) == ["Test1"]

    url = make_queue("scope-down", fifo=True, DeduplicationScope="messageGroup",
                     FifoThroughputLimit="perMessageGroupId")
    sqs.send_message(QueueUrl=url, MessageBody="Test1", MessageGroupId="g1", MessageDeduplicationId="d1")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DeduplicationScope": "queue",
                                                       "FifoThroughputLimit": "perQueue"})
    sqs.send_message(QueueUrl=url, MessageBody="Test2", MessageGroupId="g2", MessageDeduplicationId="d1")
    assert sorted(bodies(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10))) == ["Test1", "Test2"]
