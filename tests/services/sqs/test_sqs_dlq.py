"""Dead-letter queues (same and other shard), RedriveAllowPolicy, ListDeadLetterSourceQueues,
message move tasks, and SSE-KMS errors."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from broker.core.partition import partition_of
from services.sqs.urls import entity_key
from tests.helpers.brokerproc import BrokerProcess, wait_for
from tests.services.sqs._helpers import attrs_of, error_of, receive_all

ACCOUNT = "000000000000"


def shard_of(server, name: str) -> int:
    info = server.info()
    return partition_of(entity_key("us-east-1", ACCOUNT, name), info["partitions"]) % info["shards"]


def names_on(server, same_shard: bool, fifo: bool = False) -> tuple[str, str]:
    """A (source, dlq) name pair on the same / on different shards."""
    sfx = ".fifo" if fifo else ""
    for _ in range(200):
        a, b = f"src-{uuid.uuid4().hex[:10]}{sfx}", f"dlq-{uuid.uuid4().hex[:10]}{sfx}"
        if (shard_of(server, a) == shard_of(server, b)) == same_shard:
            return a, b
    raise AssertionError("could not place queues")


def arn(client, url):
    return attrs_of(client, url, "QueueArn")["QueueArn"]


def redrive(dlq_arn: str, n: int) -> str:
    return json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": n})


@pytest.mark.parametrize("same_shard", [True, False], ids=["same-shard", "cross-shard"])
def test_max_receive_count_moves_to_dlq(server, sqs, make_queue, same_shard):
    src_name, dlq_name = names_on(server, same_shard)
    dlq = make_queue(name=dlq_name)
    src = make_queue(name=src_name, RedrivePolicy=redrive(arn(sqs, dlq), 2), VisibilityTimeout=0)
    sent = sqs.send_message(QueueUrl=src, MessageBody="poison",
                            MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
    for i in range(2):
        (m,) = sqs.receive_message(QueueUrl=src, WaitTimeSeconds=2)["Messages"]
        assert m["MessageId"] == sent["MessageId"]
    # the third receive exceeds maxReceiveCount: the message moves instead of being delivered
    assert "Messages" not in sqs.receive_message(QueueUrl=src)
    (d,) = receive_all(sqs, dlq, 1, MessageAttributeNames=["All"], AttributeNames=["All"])
    assert d["MessageId"] == sent["MessageId"] and d["Body"] == "poison"
    assert d["MessageAttributes"]["k"]["StringValue"] == "v"
    assert d["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert d["Attributes"]["DeadLetterQueueSourceArn"] == arn(sqs, src)
    assert attrs_of(sqs, src, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "0"


def test_many_queues_across_shards_dead_letter(server, sqs, make_queue):
    """Several source/DLQ pairs spread over partitions and shards; every poison message arrives once."""
    pairs = []
    for same in (False, False, True, False):
        s, d = names_on(server, same)
        dq = make_queue(name=d)
        sq = make_queue(name=s, RedrivePolicy=redrive(arn(sqs, dq), 1), VisibilityTimeout=0)
        pairs.append((sq, dq))
    for sq, _ in pairs:
        sqs.send_message_batch(QueueUrl=sq, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)])
        receive_all(sqs, sq, 3)
        for _ in range(3):
            sqs.receive_message(QueueUrl=sq, MaxNumberOfMessages=10)
    for sq, dq in pairs:
        got = receive_all(sqs, dq, 3, VisibilityTimeout=30)
        assert sorted(m["Body"] for m in got) == ["m0", "m1", "m2"]


def test_fifo_dlq(server, sqs, make_queue):
    src_name, dlq_name = names_on(server, False, fifo=True)
    dlq = make_queue(name=dlq_name, fifo=True)
    src = make_queue(name=src_name, fifo=True, ContentBasedDeduplication="true", VisibilityTimeout=0,
                     RedrivePolicy=redrive(arn(sqs, dlq), 1))
    for i in range(3):
        sqs.send_message(QueueUrl=src, MessageBody=f"f{i}", MessageGroupId="g")
    for _ in range(6):
        sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10)
    got = receive_all(sqs, dlq, 3, AttributeNames=["MessageGroupId"])
    assert [m["Body"] for m in got] == ["f0", "f1", "f2"]
    assert {m["Attributes"]["MessageGroupId"] for m in got} == {"g"}


def test_redrive_allow_policy_enforced(sqs, make_queue):
    deny = make_queue("deny", RedriveAllowPolicy=json.dumps({"redrivePermission": "denyAll"}))
    allowed_src = make_queue("allowedsrc")
    by_queue = make_queue("byq", RedriveAllowPolicy=json.dumps(
        {"redrivePermission": "byQueue", "sourceQueueArns": [arn(sqs, allowed_src)]}))
    other = make_queue("othersrc")
    with pytest.raises(ClientError) as ei:
        sqs.set_queue_attributes(QueueUrl=other, Attributes={"RedrivePolicy": redrive(arn(sqs, deny), 3)})
    assert error_of(ei)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as ei:
        sqs.set_queue_attributes(QueueUrl=other, Attributes={"RedrivePolicy": redrive(arn(sqs, by_queue), 3)})
    assert error_of(ei)[0] == "InvalidParameterValue"
    sqs.set_queue_attributes(QueueUrl=allowed_src, Attributes={"RedrivePolicy": redrive(arn(sqs, by_queue), 3)})
    with pytest.raises(ClientError) as ei:
        sqs.set_queue_attributes(QueueUrl=by_queue, Attributes={"RedriveAllowPolicy": json.dumps(
            {"redrivePermission": "byQueue"})})
    assert error_of(ei)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as ei:
        sqs.set_queue_attributes(QueueUrl=by_queue, Attributes={"RedriveAllowPolicy": json.dumps(
            {"redrivePermission": "sometimes"})})
    assert error_of(ei)[0] == "InvalidParameterValue"


def test_list_dead_letter_source_queues(any_sqs, sqs, make_queue):
    dlq = make_queue("lsdlq")
    srcs = sorted(make_queue("lssrc", RedrivePolicy=redrive(arn(sqs, dlq), 5)) for _ in range(3))
    make_queue("unrelated")
    r = any_sqs.list_dead_letter_source_queues(QueueUrl=dlq)
    assert sorted(r["queueUrls"]) == srcs
    page = any_sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=2)
    assert len(page["queueUrls"]) == 2 and page["NextToken"]
    rest = any_sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=2, NextToken=page["NextToken"])
    assert sorted(page["queueUrls"] + rest["queueUrls"]) == srcs
    with pytest.raises(ClientError) as ei:
        any_sqs.list_dead_letter_source_queues(QueueUrl=dlq + "-nope")
    assert error_of(ei)[0] == "AWS.SimpleQueueService.NonExistentQueue"


def _fill_dlq(sqs, make_queue, n: int, server=None):
    dlq = make_queue("mvdlq")
    src = make_queue("mvsrc", RedrivePolicy=redrive(arn(sqs, dlq), 1), VisibilityTimeout=0)
    sqs.send_message_batch(QueueUrl=src, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(n)])
    receive_all(sqs, src, n)
    wait_for(lambda: (sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10) and False) or
             attrs_of(sqs, dlq, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == str(n), 10)
    sqs.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": redrive(arn(sqs, dlq), 100)})
    return src, dlq


def test_message_move_task_redrives_to_source(any_sqs, sqs, make_queue):
    src, dlq = _fill_dlq(sqs, make_queue, 4)
    dlq_arn = arn(sqs, dlq)
    handle = any_sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    assert handle

    def done():
        (t,) = any_sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=1)["Results"]
        return t if t["Status"] == "COMPLETED" else None
    t = wait_for(done, 10)
    assert t["ApproximateNumberOfMessagesMoved"] == 4 and t["SourceArn"] == dlq_arn
    got = receive_all(sqs, src, 4)
    assert sorted(m["Body"] for m in got) == ["m0", "m1", "m2", "m3"]
    with pytest.raises(ClientError) as ei:           # finished tasks cannot be cancelled
        any_sqs.cancel_message_move_task(TaskHandle=handle)
    assert error_of(ei)[0] == "AWS.SimpleQueueService.UnsupportedOperation"


def test_message_move_task_to_destination_and_cancel(sqs, make_queue):
    src, dlq = _fill_dlq(sqs, make_queue, 6)
    dest = make_queue("mvdest")
    dlq_arn = arn(sqs, dlq)
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=arn(sqs, dest),
                                         MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    with pytest.raises(ClientError) as ei:     # one active task per source
        sqs.start_message_move_task(SourceArn=dlq_arn)
    assert error_of(ei) == ("InvalidParameterValue", "There is already a task running. Only one active task is "
                                                     "allowed for a source queue arn at a given time.")
    (t,) = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert t["Status"] == "RUNNING" and t["TaskHandle"] == handle
    assert t["MaxNumberOfMessagesPerSecond"] == 1 and t["DestinationArn"] == arn(sqs, dest)
    assert t["ApproximateNumberOfMessagesToMove"] == 6
    wait_for(lambda: int(attrs_of(sqs, dest, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"]) >= 1, 5)
    moved = sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"]
    assert 1 <= moved < 6
    (t,) = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert t["Status"] == "CANCELLED" and "TaskHandle" not in t
    a_dest = int(attrs_of(sqs, dest, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"])
    a_dlq = int(attrs_of(sqs, dlq, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"])
    assert a_dest + a_dlq == 6                  # nothing lost, nothing duplicated


def test_message_move_task_errors(any_sqs, sqs, make_queue):
    plain = make_queue("notadlq")
    with pytest.raises(ClientError) as ei:
        any_sqs.start_message_move_task(SourceArn=arn(sqs, plain))
    assert error_of(ei)[0] == "InvalidParameterValue"
    missing = f"arn:aws:sqs:us-east-1:{ACCOUNT}:missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as ei:
        any_sqs.start_message_move_task(SourceArn=missing)
    assert error_of(ei)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as ei:
        any_sqs.list_message_move_tasks(SourceArn=missing)
    assert error_of(ei)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as ei:
        any_sqs.cancel_message_move_task(TaskHandle="bm90LWEtaGFuZGxl")
    assert error_of(ei) == ("InvalidParameterValue", "Value for parameter TaskHandle is invalid.")


def test_move_task_dead_letters_past_the_sources_limit(sqs, make_queue):
    """A message moved into a DLQ keeps its receive count; if that DLQ's own redrive limit is
    passed when the move task takes it, it goes on to the DLQ's DLQ, never dropped."""
    last = make_queue("mvlast")
    dlq = make_queue("mvdlq2", RedrivePolicy=redrive(arn(sqs, last), 1))
    src = make_queue("mvsrc2", RedrivePolicy=redrive(arn(sqs, dlq), 1), VisibilityTimeout=0)
    dest = make_queue("mvdest2")
    sqs.send_message(QueueUrl=src, MessageBody="twice dead")
    receive_all(sqs, src, 1)
    wait_for(lambda: (sqs.receive_message(QueueUrl=src) and False) or
             attrs_of(sqs, dlq, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "1", 10)
    dlq_arn = arn(sqs, dlq)
    sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=arn(sqs, dest))
    wait_for(lambda: sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]["Status"] == "COMPLETED", 10)
    (m,) = receive_all(sqs, last, 1, AttributeNames=["All"])
    assert m["Body"] == "twice dead" and m["Attributes"]["DeadLetterQueueSourceArn"] == dlq_arn
    assert attrs_of(sqs, dest, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "0"


def test_message_move_task_resumes_after_restart(tmp_path):
    """A durable task at 1 msg/s survives a server restart mid-task and completes."""
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "2", "--durability", "process") as b:
        c = b.client("sqs")
        dlq = c.create_queue(QueueName="restart-dlq")["QueueUrl"]
        dest = c.create_queue(QueueName="restart-dest")["QueueUrl"]
        src = c.create_queue(QueueName="restart-src", Attributes={
            "RedrivePolicy": redrive(arn(c, dlq), 1), "VisibilityTimeout": "0"})["QueueUrl"]
        n = 5
        c.send_message_batch(QueueUrl=src, Entries=[{"Id": str(i), "MessageBody": f"r{i}"} for i in range(n)])
        receive_all(c, src, n)
        wait_for(lambda: (c.receive_message(QueueUrl=src, MaxNumberOfMessages=10) and False) or
                 attrs_of(c, dlq, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == str(n), 10)
        dlq_arn = arn(c, dlq)
        c.start_message_move_task(SourceArn=dlq_arn, DestinationArn=arn(c, dest), MaxNumberOfMessagesPerSecond=1)
        wait_for(lambda: int(attrs_of(c, dest, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"]) >= 1, 5)
        b.restart()
        c = b.client("sqs")
        (t,) = c.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
        assert t["Status"] in ("RUNNING", "COMPLETED")
        wait_for(lambda: c.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]["Status"] == "COMPLETED", 15)
        got = receive_all(c, dest, n, VisibilityTimeout=60)
        assert sorted(m["Body"] for m in got) == [f"r{i}" for i in range(n)]
        assert attrs_of(c, dlq, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "0"


# -- SSE-KMS ------------------------------------------------------------------

@pytest.fixture(scope="module")
def kms(server):
    return server.client("kms")


def test_sse_kms_send_receive_and_key_errors(any_sqs, sqs, kms, make_queue):
    key_id = kms.create_key(Description="sqs sse test")["KeyMetadata"]["KeyId"]
    url = make_queue("ssekms", KmsMasterKeyId=key_id)
    any_sqs.send_message(QueueUrl=url, MessageBody="secret")
    (m,) = any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    assert m["Body"] == "secret"
    kms.disable_key(KeyId=key_id)
    try:
        with pytest.raises(ClientError) as ei:
            any_sqs.send_message(QueueUrl=url, MessageBody="secret")
        assert error_of(ei)[0] == "KMS.DisabledException"
        with pytest.raises(ClientError) as ei:   # the key is checked once per request
            any_sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}])
        assert error_of(ei)[0] == "KMS.DisabledException"
        # receives need the key too: nothing is handed out (or leased) while it is disabled
        any_sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        with pytest.raises(ClientError) as ei:
            any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
        assert error_of(ei)[0] == "KMS.DisabledException"
        assert attrs_of(sqs, url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "1"
    finally:
        kms.enable_key(KeyId=key_id)
    any_sqs.send_message(QueueUrl=url, MessageBody="again")
    assert sorted(m["Body"] for m in receive_all(any_sqs, url, 2)) == ["again", "secret"]


def test_sse_kms_missing_key(any_sqs, make_queue):
    url = make_queue("ssemissing", KmsMasterKeyId=str(uuid.uuid4()))
    with pytest.raises(ClientError) as ei:
        any_sqs.send_message(QueueUrl=url, MessageBody="x")
    assert error_of(ei)[0] == "KMS.NotFoundException"


def test_sse_kms_alias(sqs, kms, make_queue):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    alias = f"alias/sqs-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    url = make_queue("ssealias", KmsMasterKeyId=alias)
    sqs.send_message(QueueUrl=url, MessageBody="via alias")
    assert receive_all(sqs, url, 1)[0]["Body"] == "via alias"
