"""Queue lifecycle, attributes, URLs, tags and permissions over JSON and query."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from tests.services.sqs._helpers import attrs_of, error_of

ACCOUNT = "000000000000"
NON_EXISTENT = "AWS.SimpleQueueService.NonExistentQueue"


def test_create_get_list_delete(any_sqs, server, qname):
    name = qname("life")
    url = any_sqs.create_queue(QueueName=name)["QueueUrl"]
    # the region is part of the URL (the Host is ours, so it goes in the path)
    assert url == f"{server.url}/queue/us-east-1/{ACCOUNT}/{name}"
    # idempotent with the same attributes
    assert any_sqs.create_queue(QueueName=name)["QueueUrl"] == url
    assert any_sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert url in any_sqs.list_queues(QueueNamePrefix=name)["QueueUrls"]
    any_sqs.delete_queue(QueueUrl=url)
    assert "QueueUrls" not in any_sqs.list_queues(QueueNamePrefix=name)
    with pytest.raises(ClientError) as ei:
        any_sqs.get_queue_url(QueueName=name)
    assert error_of(ei) == (NON_EXISTENT, "The specified queue does not exist.")
    with pytest.raises(ClientError) as ei:
        any_sqs.send_message(QueueUrl=url, MessageBody="x")
    assert error_of(ei)[0] == NON_EXISTENT


def test_recreate_within_60_seconds_of_delete(any_sqs, qname):
    name = qname("reuse")
    url = any_sqs.create_queue(QueueName=name)["QueueUrl"]
    any_sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as ei:
        any_sqs.create_queue(QueueName=name)
    assert error_of(ei) == ("AWS.SimpleQueueService.QueueDeletedRecently",
                            "You must wait 60 seconds after deleting a queue before you can create another "
                            "with the same name.")


def test_list_queues_pagination(sqs, qname):
    prefix = qname("page")
    urls = sorted(sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(5))
    try:
        seen, token = [], None
        while True:
            kw = {"NextToken": token} if token else {}
            page = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, **kw)
            seen += page.get("QueueUrls", [])
            token = page.get("NextToken")
            if not token:
                break
        assert sorted(seen) == urls
        with pytest.raises(ClientError) as ei:
            sqs.list_queues(MaxResults=1001)
        assert error_of(ei)[0] == "InvalidParameterValue"
    finally:
        for u in urls:
            sqs.delete_queue(QueueUrl=u)


def test_create_queue_name_rules(any_sqs):
    for bad in ("has space", "x" * 81, "dots.notfifo", ""):
        with pytest.raises(ClientError) as ei:
            any_sqs.create_queue(QueueName=bad)
        assert error_of(ei)[0] == "InvalidParameterValue", bad
    with pytest.raises(ClientError) as ei:
        any_sqs.create_queue(QueueName="nofifosuffix", Attributes={"FifoQueue": "true"})
    assert error_of(ei)[0] == "InvalidParameterValue"


def test_create_queue_exists_with_other_attributes(any_sqs, make_queue):
    url = make_queue("exists", VisibilityTimeout=10)
    name = url.rsplit("/", 1)[1]
    with pytest.raises(ClientError) as ei:
        any_sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "11"})
    assert error_of(ei)[0] == "QueueAlreadyExists"


def test_default_attributes(sqs, make_queue, server):
    before = int(time.time()) - 2
    url = make_queue("defaults")
    a = attrs_of(sqs, url)
    name = url.rsplit("/", 1)[1]
    assert a["QueueArn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"
    assert a["DelaySeconds"] == "0"
    assert a["MaximumMessageSize"] == "1048576"
    assert a["MessageRetentionPeriod"] == "345600"
    assert a["ReceiveMessageWaitTimeSeconds"] == "0"
    assert a["VisibilityTimeout"] == "30"
    assert a["SqsManagedSseEnabled"] == "true"
    for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
              "ApproximateNumberOfMessagesDelayed"):
        assert a[k] == "0"
    assert before <= int(a["CreatedTimestamp"]) <= time.time() + 2
    assert before <= int(a["LastModifiedTimestamp"]) <= time.time() + 2
    assert "FifoQueue" not in a
    # selection of single names
    assert set(attrs_of(sqs, url, "QueueArn", "VisibilityTimeout")) == {"QueueArn", "VisibilityTimeout"}
    # no AttributeNames: no Attributes member
    assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=url)


def test_fifo_default_attributes(sqs, make_queue):
    url = make_queue("fdef", fifo=True)
    a = attrs_of(sqs, url)
    assert a["FifoQueue"] == "true"
    assert a["ContentBasedDeduplication"] == "false"
    assert a["DeduplicationScope"] == "queue"
    assert a["FifoThroughputLimit"] == "perQueue"


@pytest.mark.parametrize("name,value", [
    ("DelaySeconds", "901"), ("DelaySeconds", "-1"), ("DelaySeconds", "abc"),
    ("MaximumMessageSize", "1023"), ("MaximumMessageSize", "1048577"),
    ("MessageRetentionPeriod", "59"), ("MessageRetentionPeriod", "1209601"),
    ("ReceiveMessageWaitTimeSeconds", "21"), ("VisibilityTimeout", "43201"),
    ("KmsDataKeyReusePeriodSeconds", "59"), ("KmsDataKeyReusePeriodSeconds", "86401"),
    ("SqsManagedSseEnabled", "maybe"), ("Policy", "{not json"),
])
def test_set_attribute_out_of_range(any_sqs, make_queue, name, value):
    url = make_queue("range")
    with pytest.raises(ClientError) as ei:
        any_sqs.set_queue_attributes(QueueUrl=url, Attributes={name: value})
    code, msg = error_of(ei)
    assert code == "InvalidAttributeValue"
    assert msg.startswith(f"Invalid value for the parameter {name}.")



def test_set_attribute_unknown_and_fifo_only(any_sqs, make_queue):
    url = make_queue("unknown")
    with pytest.raises(ClientError) as ei:
        any_sqs.set_queue_attributes(QueueUrl=url, Attributes={"Bogus": "1"})
    assert error_of(ei) == ("InvalidAttributeName", "Unknown Attribute Bogus.")
    with pytest.raises(ClientError) as ei:
        any_sqs.set_queue_attributes(QueueUrl=url, Attributes={"ContentBasedDeduplication": "true"})
    assert error_of(ei)[0] == "InvalidAttributeName"
    with pytest.raises(ClientError) as ei:
        any_sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Bogus"])
    assert error_of(ei)[0] == "InvalidAttributeName"


def test_fifo_only_attribute_on_standard_queue(any_sqs, make_queue):
    url = make_queue("fifoonly")
    with pytest.raises(ClientError) as ei:
        any_sqs.set_queue_attributes(QueueUrl=url, Attributes={"ContentBasedDeduplication": "true"})
    assert error_of(ei) == ("InvalidAttributeName", "Unknown Attribute ContentBasedDeduplication.")


def test_every_settable_attribute_roundtrips(any_sqs, make_queue, sqs):
    dlq = make_queue("rt-dlq")
    dlq_arn = attrs_of(sqs, dlq, "QueueArn")["QueueArn"]
    url = make_queue("rt")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "s1", "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}]})
    values = {
        "DelaySeconds": "5", "MaximumMessageSize": "1024", "MessageRetentionPeriod": "60",
        "ReceiveMessageWaitTimeSeconds": "3", "VisibilityTimeout": "7", "Policy": policy,
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}),
        "RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"}),
        "SqsManagedSseEnabled": "false",
    }
    before = int(attrs_of(sqs, url, "LastModifiedTimestamp")["LastModifiedTimestamp"])
    any_sqs.set_queue_attributes(QueueUrl=url, Attributes=values)
    a = attrs_of(any_sqs, url)
    for k, v in values.items():
        if k.endswith("Policy"):
            assert json.loads(a[k]) == json.loads(v), k
        else:
            assert a[k] == v, k
    assert int(a["LastModifiedTimestamp"]) >= before
    # clearing a policy removes it
    any_sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": "", "Policy": ""})
    a = attrs_of(any_sqs, url)
    assert "RedrivePolicy" not in a and "Policy" not in a


def test_fifo_attributes_settable(any_sqs, make_queue):
    url = make_queue("fset", fifo=True)
    any_sqs.set_queue_attributes(QueueUrl=url, Attributes={
        "ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId"})
    a = attrs_of(any_sqs, url)
    assert (a["ContentBasedDeduplication"], a["DeduplicationScope"], a["FifoThroughputLimit"]) == (
        "true", "messageGroup", "perMessageGroupId")
    with pytest.raises(ClientError) as ei:
        any_sqs.set_queue_attributes(QueueUrl=url, Attributes={"DeduplicationScope": "group"})
    assert error_of(ei)[0] == "InvalidAttributeValue"
    with pytest.raises(ClientError) as ei:  # FifoQueue cannot be changed
        any_sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "false"})
    assert error_of(ei) == ("InvalidAttributeValue", "Invalid value for the parameter FifoQueue. Reason: "
                                                     "Modifying queue type is not supported.")


def test_redrive_policy_validation(sqs, make_queue):
    url = make_queue("rp")
    missing = f"arn:aws:sqs:us-east-1:{ACCOUNT}:does-not-exist-{time.time_ns()}"
    cases = [
        "not json",
        json.dumps({"maxReceiveCount": 3}),
        json.dumps({"deadLetterTargetArn": missing, "maxReceiveCount": 0}),
        json.dumps({"deadLetterTargetArn": missing, "maxReceiveCount": 1001}),
        json.dumps({"deadLetterTargetArn": missing, "maxReceiveCount": 2}),   # target missing
    ]
    for policy in cases:
        with pytest.raises(ClientError) as ei:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": policy})
        code, msg = error_of(ei)
        assert code == "InvalidParameterValue", policy
        assert "RedrivePolicy" in msg
    # a standard queue cannot use a FIFO DLQ
    fdlq = make_queue("rpf", fifo=True)
    farn = attrs_of(sqs, fdlq, "QueueArn")["QueueArn"]
    with pytest.raises(ClientError) as ei:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": farn, "maxReceiveCount": 2})})
    assert error_of(ei)[0] == "InvalidParameterValue"


def test_sse_attributes(sqs, make_queue):
    url = make_queue("sse", KmsMasterKeyId="alias/aws/sqs")
    a = attrs_of(sqs, url)
    assert a["KmsMasterKeyId"] == "alias/aws/sqs"
    assert a["KmsDataKeyReusePeriodSeconds"] == "300"
    assert a["SqsManagedSseEnabled"] == "false"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsDataKeyReusePeriodSeconds": "600"})
    assert attrs_of(sqs, url, "KmsDataKeyReusePeriodSeconds")["KmsDataKeyReusePeriodSeconds"] == "600"
    with pytest.raises(ClientError) as ei:
        sqs.create_queue(QueueName=f"sse-both-{time.time_ns()}",
                         Attributes={"KmsMasterKeyId": "alias/aws/sqs", "SqsManagedSseEnabled": "true"})
    assert error_of(ei) == ("InvalidAttributeName", "You can use one type of server-side encryption (SSE) at "
                                                    "one time. You can either enable KMS SSE or SQS SSE.")


@pytest.mark.parametrize("form", [
    "http://sqs.us-east-1.localhost.localstack.cloud:4566/{acct}/{name}",
    "http://localhost:4566/queue/us-east-1/{acct}/{name}",
    "https://sqs.us-east-1.amazonaws.com/{acct}/{name}",
    "http://localhost:4566/{acct}/{name}",
])
def test_foreign_queue_url_forms(any_sqs, make_queue, form):
    url = make_queue("urls")
    name = url.rsplit("/", 1)[1]
    other = form.format(acct=ACCOUNT, name=name)
    any_sqs.send_message(QueueUrl=other, MessageBody="via foreign url")
    msgs = any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
    assert [m["Body"] for m in msgs] == ["via foreign url"]
    any_sqs.delete_message(QueueUrl=other, ReceiptHandle=msgs[0]["ReceiptHandle"])
    assert attrs_of(any_sqs, other, "QueueArn")["QueueArn"].endswith(":" + name)


def test_region_in_url_selects_namespace(sqs, make_queue):
    url = make_queue("region")
    name = url.rsplit("/", 1)[1]
    with pytest.raises(ClientError) as ei:
        sqs.get_queue_attributes(QueueUrl=f"http://localhost:4566/queue/eu-west-1/{ACCOUNT}/{name}",
                                 AttributeNames=["All"])
    assert error_of(ei)[0] == NON_EXISTENT


def test_tags(any_sqs, qname):
    name = qname("tags")
    url = any_sqs.create_queue(QueueName=name, tags={"team": "a", "env": "dev"})["QueueUrl"]
    try:
        assert any_sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a", "env": "dev"}
        any_sqs.tag_queue(QueueUrl=url, Tags={"env": "prod", "x": "y"})
        any_sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
        assert any_sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "prod", "x": "y"}
        any_sqs.untag_queue(QueueUrl=url, TagKeys=["env", "x"])
        assert "Tags" not in any_sqs.list_queue_tags(QueueUrl=url)
    finally:
        any_sqs.delete_queue(QueueUrl=url)


def test_permissions(any_sqs, make_queue):
    url = make_queue("perm")
    any_sqs.add_permission(QueueUrl=url, Label="l1", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    policy = json.loads(attrs_of(any_sqs, url, "Policy")["Policy"])
    (stmt,) = policy["Statement"]
    assert stmt["Sid"] == "l1" and stmt["Effect"] == "Allow"
    assert stmt["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert stmt["Action"] == "SQS:SendMessage"
    with pytest.raises(ClientError) as ei:
        any_sqs.add_permission(QueueUrl=url, Label="l1", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    assert error_of(ei)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as ei:
        any_sqs.add_permission(QueueUrl=url, Label="l2", AWSAccountIds=["111122223333"], Actions=["Fly"])
    assert error_of(ei)[0] == "InvalidParameterValue"
    any_sqs.remove_permission(QueueUrl=url, Label="l1")
    assert "Policy" not in attrs_of(any_sqs, url)
    with pytest.raises(ClientError) as ei:
        any_sqs.remove_permission(QueueUrl=url, Label="l1")
    assert error_of(ei)[0] == "InvalidParameterValue"


def test_message_retention_period_enforced(sqs, make_queue):
    """MessageRetentionPeriod=60: a message older than 60 s is gone (checked by SentTimestamp)."""
    url = make_queue("ret", MessageRetentionPeriod=60)
    assert attrs_of(sqs, url, "MessageRetentionPeriod")["MessageRetentionPeriod"] == "60"
