"""Queue and message attributes with AWS's recorded answers: FifoQueue in create and set,
encryption attributes after each change, policies and permission labels, message attribute
names, values and filters, and the X-Ray trace header."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.services.sqs._helpers import attrs_of, error_of

SSE = ("KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled")


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("attrs, expected", [
    ({"FifoQueue": "false"}, "Unknown Attribute FifoQueue."),
    ({"ContentBasedDeduplication": "true"}, "Unknown Attribute ContentBasedDeduplication."),
    ({"DeduplicationScope": "queue"}, "You can specify the DeduplicationScope only when FifoQueue is set to true."),
    ({"FifoThroughputLimit": "perQueue"},
     "You can specify the FifoThroughputLimit only when FifoQueue is set to true."),
])
def test_standard_queue_with_fifo_attributes(any_sqs, attrs, expected):
    with pytest.raises(ClientError) as ei:
        any_sqs.create_queue(QueueName=name("std"), Attributes=attrs)
    assert error_of(ei) == ("InvalidAttributeName", expected)


def test_fifo_queue_attribute_on_set(any_sqs, make_queue):
    std = make_queue("stdset")
    for value in ("true", "false"):
        with pytest.raises(ClientError) as ei:
            any_sqs.set_queue_attributes(QueueUrl=std, Attributes={"FifoQueue": value})
        assert error_of(ei) == ("InvalidAttributeName", "Unknown Attribute FifoQueue.")
    fifo = make_queue("fifoset", fifo=True)
    any_sqs.set_queue_attributes(QueueUrl=fifo, Attributes={"FifoQueue": "true"})
    with pytest.raises(ClientError) as ei:
        any_sqs.set_queue_attributes(QueueUrl=fifo, Attributes={"FifoQueue": "false"})
    assert error_of(ei) == ("InvalidAttributeValue",
                            "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.")


def test_encryption_attributes_after_each_change(any_sqs, make_queue):
    url = make_queue("sse")
    assert {k: v for k, v in attrs_of(any_sqs, url).items() if k in SSE} == {"SqsManagedSseEnabled": "true"}
    any_sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": "testKeyId",
                                                           "KmsDataKeyReusePeriodSeconds": "6000",
                                                           "SqsManagedSseEnabled": "false"})
    assert attrs_of(any_sqs, url, *SSE) == {"KmsMasterKeyId": "testKeyId", "KmsDataKeyReusePeriodSeconds": "6000",
                                            "SqsManagedSseEnabled": "false"}
    # back to no KMS key: the KMS attributes go, SSE-SQS stays off
    any_sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": "", "KmsDataKeyReusePeriodSeconds": "300"})
    assert attrs_of(any_sqs, url, *SSE) == {"SqsManagedSseEnabled": "false"}
    any_sqs.set_queue_attributes(QueueUrl=url, Attributes={"SqsManagedSseEnabled": "true"})
    assert attrs_of(any_sqs, url, *SSE) == {"SqsManagedSseEnabled": "true"}
    # a KMS key alone turns SSE-SQS off and brings the default reuse period
    any_sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": "alias/aws/sqs"})
    assert attrs_of(any_sqs, url, *SSE) == {"KmsMasterKeyId": "alias/aws/sqs", "KmsDataKeyReusePeriodSeconds": "300",
                                            "SqsManagedSseEnabled": "false"}
    with pytest.raises(ClientError) as ei:
        any_sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": "testKeyId",
                                                               "SqsManagedSseEnabled": "true"})
    assert error_of(ei) == ("InvalidAttributeName", "You can use one type of server-side encryption (SSE) at one "
                                                    "time. You can either enable KMS SSE or SQS SSE.")


def test_policy_version_and_permission_labels(any_sqs, make_queue):
    url = make_queue("pol")
    arn = attrs_of(any_sqs, url, "QueueArn")["QueueArn"]
    doc = {"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                   "Action": "sqs:SendMessage", "Resource": arn}]}
    any_sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(doc)})
    assert json.loads(attrs_of(any_sqs, url, "Policy")["Policy"])["Version"] == "2008-10-17"
    any_sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})

    any_sqs.add_permission(QueueUrl=url, AWSAccountIds=["000000000000", "668614515564"],
                           Actions=["ReceiveMessage"], Label="crossaccountpermission")
    policy = json.loads(attrs_of(any_sqs, url, "Policy")["Policy"])
    assert policy["Version"] == "2008-10-17" and policy["Id"] == f"{arn}/SQSDefaultPolicy"
    (stmt,) = policy["Statement"]
    assert stmt["Principal"] == {"AWS": ["arn:aws:iam::668614515564:root", "arn:aws:iam::000000000000:root"]}
    assert stmt["Action"] == "SQS:ReceiveMessage" and stmt["Resource"] == arn
    with pytest.raises(ClientError) as ei:
        any_sqs.add_permission(QueueUrl=url, AWSAccountIds=["668614515564"], Actions=["ReceiveMessage"],
                               Label="crossaccountpermission")
    assert error_of(ei) == ("InvalidParameterValue",
                            "Value crossaccountpermission for parameter Label is invalid. Reason: Already exists.")
    any_sqs.remove_permission(QueueUrl=url, Label="crossaccountpermission")
    with pytest.raises(ClientError) as ei:
        any_sqs.remove_permission(QueueUrl=url, Label="crossaccountpermission")
    assert error_of(ei) == ("InvalidParameterValue",
                            "Value crossaccountpermission for parameter Label is invalid. Reason: can't find label.")


def test_message_attribute_names_and_values(any_sqs, make_queue):
    url = make_queue("mattr")
    ok = {"attr.1øßä": {"StringValue": "Valida", "DataType": "String"}}   # letters of any script
    any_sqs.send_message(QueueUrl=url, MessageBody="test", MessageAttributes=ok)
    (m,) = any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, MessageAttributeNames=["All"])["Messages"]
    assert m["MessageAttributes"] == ok
    for bad in ("Invalid-§-attr", "Invalid-?-attr", "aWs.x", "AMAZON.x", ".x", "x.", "L" * 257):
        with pytest.raises(ClientError) as ei:
            any_sqs.send_message(QueueUrl=url, MessageBody="test",
                                 MessageAttributes={bad: {"StringValue": "v", "DataType": "String"}})
        assert error_of(ei)[0] == "InvalidParameterValue", bad
    with pytest.raises(ClientError) as ei:     # control characters in a value
        any_sqs.send_message(QueueUrl=url, MessageBody="test", MessageAttributes={
            "attr1": {"StringValue": f"Invalid-{chr(8)},{chr(11)}", "DataType": "String"}})
    assert error_of(ei)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as ei:
        any_sqs.send_message(QueueUrl=url, MessageBody="test", MessageAttributes={
            "ErrorDetails": {"StringValue": "", "DataType": "String"}})
    assert error_of(ei) == ("InvalidParameterValue",
                            "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type 'String'.")


def test_message_attribute_name_filters(any_sqs, make_queue):
    url = make_queue("mfilter", VisibilityTimeout=0)
    attrs = {"Help.Me": {"DataType": "String", "StringValue": "Me"},
             "Hello": {"DataType": "String", "StringValue": "There"},
             "General": {"DataType": "String", "StringValue": "Kenobi"}}
    sent = any_sqs.send_message(QueueUrl=url, MessageBody="msg", MessageAttributes=attrs)

    def received(names):
        (m,) = any_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, MessageAttributeNames=names)["Messages"]
        return m
    for names in (["All"], ["*"], [".*"]):
        m = received(names)
        assert m["MessageAttributes"] == attrs and m["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert set(received(["Hel.*"])["MessageAttributes"]) == {"Hello", "Help.Me"}
    assert set(received(["Foo", "Hello"])["MessageAttributes"]) == {"Hello"}
    for names in ([], ["Foo", "Help"], ["AWS."], ["..foo"]):
        m = received(names)
        assert "MessageAttributes" not in m and "MD5OfMessageAttributes" not in m


def test_trace_header_becomes_aws_trace_header(sqs, make_queue):
    url = make_queue("xray")
    trace = "Root=1-3152b799-8954dae64eda91bc9a23a7e8;Parent=7fa8c0f79203be72;Sampled=1"

    def add_header(request, **_):
        request.headers["X-Amzn-Trace-Id"] = trace
    sqs.meta.events.register("before-send.sqs.SendMessage", add_header)
    try:
        sqs.send_message(QueueUrl=url, MessageBody="test")
    finally:
        sqs.meta.events.unregister("before-send.sqs.SendMessage", add_header)
    (m,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, AttributeNames=["All"])["Messages"]
    assert m["Attributes"]["AWSTraceHeader"] == trace
    # an explicit AWSTraceHeader system attribute is kept as given
    sqs.send_message(QueueUrl=url, MessageBody="explicit", MessageSystemAttributes={
        "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-0-0"}})
    (m,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2,
                               MessageSystemAttributeNames=["AWSTraceHeader"])["Messages"]
    assert m["Attributes"] == {"AWSTraceHeader": "Root=1-0-0"}
