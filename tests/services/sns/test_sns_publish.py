"""Publish and PublishBatch into SQS subscriptions: the JSON envelope, signatures,
raw delivery, message attributes, MessageStructure=json, X-Ray propagation,
validation errors (AWS's messages) and SSE-KMS queues."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature

from tests.services.sns import _sigverify
from tests.services.sns.conftest import error_of, receive

ENVELOPE_KEYS = ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion", "Signature",
                 "SigningCertURL", "UnsubscribeURL", "MessageAttributes"]


@pytest.mark.parametrize("version", ["1", "2"])
def test_envelope_fields_and_signature(server, sns, sqs, make_topic, queue_subscription, version):
    topic = make_topic(SignatureVersion=version)
    url, sub = queue_subscription(topic)
    attrs = {"attr1": {"DataType": "Number", "StringValue": "1"},
             "bin": {"DataType": "Binary", "BinaryValue": b"\x02\x03\x04"},
             "list": {"DataType": "String.Array", "StringValue": '["a", 1]'}}
    msg_id = sns.publish(TopicArn=topic, Message="test signature ö§", Subject="subj", MessageAttributes=attrs)[
        "MessageId"]
    (m,) = receive(sqs, url, 1, MessageAttributeNames=["All"])
    assert "MessageAttributes" not in m
    body = json.loads(m["Body"])
    assert list(body) == ENVELOPE_KEYS
    assert body["Type"] == "Notification" and body["MessageId"] == msg_id and body["TopicArn"] == topic
    assert body["Message"] == "test signature ö§" and body["Subject"] == "subj"
    assert body["Timestamp"].endswith("Z") and len(body["Timestamp"]) == 24
    assert body["SignatureVersion"] == version
    assert body["SigningCertURL"].startswith(server.url + "/_broker/sns/SimpleNotificationService-")
    assert body["UnsubscribeURL"] == f"{server.url}/?Action=Unsubscribe&SubscriptionArn={sub}"
    assert body["MessageAttributes"] == {"attr1": {"Type": "Number", "Value": "1"},
                                         "bin": {"Type": "Binary", "Value": "AgME"},
                                         "list": {"Type": "String.Array", "Value": '["a", 1]'}}
    _sigverify.verify(body)
    tampered = {**body, "Message": "changed"}
    with pytest.raises(InvalidSignature):
        _sigverify.verify(tampered)


def test_raw_delivery_keeps_attributes(sns, sqs, make_topic, queue_subscription):
    topic = make_topic()
    url, _sub = queue_subscription(topic, raw=True)
    sns.publish(TopicArn=topic, Message="Test msg", Subject="ignored",
                MessageAttributes={"attr1": {"DataType": "Number", "StringValue": "99.12"},
                                   "store": {"DataType": "Binary", "BinaryValue": b"\x02\x03\x04"}})
    (m,) = receive(sqs, url, 1, MessageAttributeNames=["All"])
    assert m["Body"] == "Test msg"
    assert m["MessageAttributes"] == {"attr1": {"DataType": "Number", "StringValue": "99.12"},
                                      "store": {"DataType": "Binary", "BinaryValue": b"\x02\x03\x04"}}
    assert m["MD5OfBody"] == hashlib.md5(b"Test msg").hexdigest()


def test_message_structure_json(sns, sqs, make_topic, queue_subscription):
    topic = make_topic()
    url, _sub = queue_subscription(topic)
    sns.publish(TopicArn=topic, MessageStructure="json",
                Message=json.dumps({"default": "default field", "sqs": json.dumps({"field": "value"})}))
    sns.publish(TopicArn=topic, MessageStructure="json",
                Message=json.dumps({"default": "default field", "sqs": {"field": "value"}}))
    got = [json.loads(m["Body"])["Message"] for m in receive(sqs, url, 2)]
    assert sorted(got) == sorted(['{"field": "value"}', "default field"])
    assert sns.publish(TopicArn=topic, MessageStructure="json",
                       Message='{"default": "This is a default message", "default": "Duplicate"}')["MessageId"]
    for message, text in (('{"sqs": "Test message"}', "No default entry in JSON message body"),
                          ('{"default": "x"} }', "JSON message body failed to parse"),
                          ('{"default": {"object": "test"}}', "No default entry in JSON message body")):
        with pytest.raises(ClientError) as e:
            sns.publish(TopicArn=topic, Message=message, MessageStructure="json")
        assert error_of(e) == ("InvalidParameter", f"Invalid parameter: Message Structure - {text}")


def test_publish_target_arn_and_errors(sns, sqs, make_topic, queue_subscription):
    topic = make_topic()
    url, _sub = queue_subscription(topic)
    sns.publish(TargetArn=topic, Message="by target")
    (m,) = receive(sqs, url, 1)
    assert json.loads(m["Body"])["Message"] == "by target"
    cases = [
        ({"TopicArn": "randomstring"}, "InvalidParameter",
         "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 1"),
        ({"TopicArn": "randomstring:1"}, "InvalidParameter",
         "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 2"),
        ({"TopicArn": ""}, "InvalidParameter",
         "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 1"),
        ({"TopicArn": topic + "-fake"}, "NotFound", "Topic does not exist"),
        ({"TargetArn": "arn:aws:sns:us-east-1:000000000000:endpoint/APNS/abcdef/0f7d5971-aa8b-4bd5-b585-0826e9f93a66"},
         "InvalidParameter", "Invalid parameter: TargetArn Reason: No endpoint found for the target arn specified"),
        ({"TopicArn": topic, "Subject": ""}, "InvalidParameter", "Invalid parameter: Subject"),
        ({"TopicArn": topic, "Message": ""}, "InvalidParameter", "Invalid parameter: Empty message"),
        ({"TopicArn": topic, "Message": "This is a test message" * 12000}, "InvalidParameter",
         "Invalid parameter: Message too long"),
        ({"TopicArn": topic, "MessageDeduplicationId": "d"}, "InvalidParameter",
         "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter "
         "that is not valid for this topic type"),
    ]
    for params, code, message in cases:
        with pytest.raises(ClientError) as e:
            sns.publish(**{"Message": "m", **params})
        assert error_of(e) == (code, message), params


WRONG_ATTRIBUTES = {
    "missing_string_attr": ({"attr1": {"DataType": "String", "StringValue": ""}},
                            "The message attribute 'attr1' must contain non-empty message attribute value for message "
                            "attribute type 'String'."),
    "missing_binary_attr": ({"attr1": {"DataType": "Binary", "BinaryValue": b""}},
                            "The message attribute 'attr1' must contain non-empty message attribute value for message "
                            "attribute type 'Binary'."),
    "str_attr_binary_value": ({"attr1": {"DataType": "String", "BinaryValue": b"123"}},
                              "The message attribute 'attr1' with type 'String' must use field 'String'."),
    "int_attr_binary_value": ({"attr1": {"DataType": "Number", "BinaryValue": b"123"}},
                              "The message attribute 'attr1' with type 'Number' must use field 'String'."),
    "binary_attr_string_value": ({"attr1": {"DataType": "Binary", "StringValue": "123"}},
                                 "The message attribute 'attr1' with type 'Binary' must use field 'Binary'."),
    "invalid_type": ({"attr1": {"DataType": "InvalidType", "StringValue": "123"}},
                     "The message attribute 'attr1' has an invalid message attribute type, the set of supported type "
                     "prefixes is Binary, Number, and String."),
    "empty_custom_type": ({"attr1": {"DataType": "String.", "StringValue": "p"}},
                          "The message attribute 'attr1' has an invalid message attribute type, the set of supported "
                          "type prefixes is Binary, Number, and String."),
    "glued_custom_type": ({"attr1": {"DataType": "Stringprefixed", "StringValue": "p"}},
                          "The message attribute 'attr1' has an invalid message attribute type, the set of supported "
                          "type prefixes is Binary, Number, and String."),
    "too_long_name": ({"a" * 257: {"DataType": "String", "StringValue": "123"}},
                      "Length of message attribute name must be less than 256 bytes."),
    "invalid_name": ({"a^*?": {"DataType": "String", "StringValue": "123"}},
                     "Invalid non-alphanumeric character '#x5E' was found in the message attribute name. Can only "
                     "include alphanumeric characters, hyphens, underscores, or dots."),
    "invalid_name_2": ({".abc": {"DataType": "String", "StringValue": "123"}},
                       "Invalid message attribute name starting with character '.' was found."),
    "invalid_name_3": ({"abc.": {"DataType": "String", "StringValue": "123"}},
                       "Invalid message attribute name ending with character '.' was found."),
    "invalid_name_4": ({"a..bc": {"DataType": "String", "StringValue": "123"}},
                       "Message attribute name can not have successive '.' character."),
}


@pytest.mark.parametrize("case", sorted(WRONG_ATTRIBUTES))
def test_message_attribute_errors(sns, make_topic, case):
    topic = make_topic()
    attrs, message = WRONG_ATTRIBUTES[case]
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="test message", MessageAttributes=attrs)
    assert error_of(e) == ("ParameterValueInvalid", message)
    with pytest.raises(ClientError) as e:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": "1", "Message": "test-batch", "MessageAttributes": attrs}, {"Id": "2", "Message": "ok"}])
    assert error_of(e) == ("ParameterValueInvalid", message)


def test_custom_attribute_types_and_missing_data_type(sns, sns_raw, make_topic):
    topic = make_topic()
    for dtype in ("String.prefixed", "String.  prefixed.", "Number.int", "Binary.gif"):
        value = {"BinaryValue": b"x"} if dtype.startswith("Binary") else {"StringValue": "1"}
        assert sns.publish(TopicArn=topic, Message="m", MessageAttributes={"a": {"DataType": dtype, **value}})
    with pytest.raises(ClientError) as e:
        sns_raw.publish(TopicArn=topic, Message="m", MessageAttributes={"attr1": {"StringValue": "x"}})
    assert error_of(e) == ("ValidationError", "1 validation error detected: Value null at "
                                              "'messageAttributes.attr1.member.dataType' failed to satisfy "
                                              "constraint: Member must not be null")
    with pytest.raises(ClientError) as e:
        sns_raw.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": "1", "Message": "m", "MessageAttributes": {"attr1": {"StringValue": "x"}}}])
    assert error_of(e) == ("ValidationError", "1 validation error detected: Value null at "
                                              "'publishBatchRequestEntries.1.member.messageAttributes.attr1.member."
                                              "dataType' failed to satisfy constraint: Member must not be null")


def test_publish_batch(sns, sqs, make_topic, queue_subscription):
    topic = make_topic()
    url, _sub = queue_subscription(topic, raw=True)
    resp = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "1", "Message": "two attrs", "Subject": "S", "MessageAttributes": {
            "attr1": {"DataType": "Number", "StringValue": "99.12"},
            "attr2": {"DataType": "Number", "StringValue": "109.12"}}},
        {"Id": "2", "Message": "one attr", "MessageAttributes": {"attr1": {"DataType": "Number",
                                                                          "StringValue": "19.12"}}},
        {"Id": "3", "Message": "plain"},
        {"Id": "4", "Message": json.dumps({"default": "test default", "sqs": "test sqs"}),
         "MessageStructure": "json"}])
    assert [s["Id"] for s in resp["Successful"]] == ["1", "2", "3", "4"] and resp["Failed"] == []
    got = {m["Body"]: m for m in receive(sqs, url, 4, MessageAttributeNames=["All"])}
    assert sorted(got) == ["one attr", "plain", "test sqs", "two attrs"]
    assert got["two attrs"]["MD5OfMessageAttributes"] == "9b720b3af309c1c4b0d395c53b08c502"
    assert got["one attr"]["MD5OfMessageAttributes"] == "1f07082409022a373fa2a2601f82b3cb"
    cases = [
        ([{"Id": f"Id_{i}", "Message": "m"} for i in range(11)], "TooManyEntriesInBatchRequest",
         "The batch request contains more entries than permissible."),
        ([{"Id": "1", "Message": "m"}] * 2, "BatchEntryIdsNotDistinct",
         "Two or more batch entries in the request have the same Id."),
        ([{"Id": "message.id", "Message": "m"}], "InvalidBatchEntryId",
         "The Id of a batch entry in the batch request contains an impermissible character: message.id"),
        ([{"Id": "a" * 81, "Message": "m"}], "InvalidBatchEntryId",
         "The Id of a batch entry in the batch request is too long: " + "a" * 81),
        ([{"Id": str(i), "Message": "x" * 100_000} for i in range(3)], "BatchRequestTooLong",
         "The length of all the messages put together is more than the limit."),
    ]
    for entries, code, message in cases:
        with pytest.raises(ClientError) as e:
            sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
        assert error_of(e) == (code, message)
    ok = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "a" * 80, "Message": "m"}, {"Id": "valid-message_123", "Message": "m"}])
    assert [s["Id"] for s in ok["Successful"]] == ["a" * 80, "valid-message_123"]
    with pytest.raises(ClientError) as e:
        sns.publish_batch(TopicArn=topic + "fake", PublishBatchRequestEntries=[{"Id": "1", "Message": "m"}])
    assert error_of(e) == ("NotFound", "Topic does not exist")


def test_xray_trace_header_reaches_sqs(sns, sqs, make_topic, queue_subscription):
    topic = make_topic()
    url, _sub = queue_subscription(topic)
    trace = "Root=1-3152b799-8954dae64eda91bc9a23a7e8;Parent=7fa8c0f79203be72;Sampled=1"

    def add_header(request, **_kw):
        request.headers["X-Amzn-Trace-Id"] = trace
    sns.meta.events.register("before-send.sns.Publish", add_header)
    try:
        sns.publish(TargetArn=topic, Message="X-Ray propagation test msg")
    finally:
        sns.meta.events.unregister("before-send.sns.Publish", add_header)
    (m,) = receive(sqs, url, 1, MessageSystemAttributeNames=["AWSTraceHeader"])
    assert m["Attributes"]["AWSTraceHeader"] == trace


def test_sse_kms_queue_receives(server, sns, sqs, make_topic, queue_subscription):
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    topic = make_topic()
    url, _sub = queue_subscription(topic, queue_attrs={"KmsMasterKeyId": key})
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["KmsMasterKeyId"])["Attributes"][
        "KmsMasterKeyId"] == key
    sns.publish(TopicArn=topic, Message="secret")
    (m,) = receive(sqs, url, 1)
    assert json.loads(m["Body"])["Message"] == "secret"


def test_fan_out_to_many_queues_across_partitions(sns, sqs, make_topic, queue_subscription):
    topic = make_topic()
    urls = [queue_subscription(topic, raw=True)[0] for _ in range(12)]
    sns.publish(TopicArn=topic, Message="to all")
    for url in urls:
        assert [m["Body"] for m in receive(sqs, url, 1)] == ["to all"]


def test_message_before_subscription_is_not_delivered(sns, sqs, make_topic, queue_subscription):
    topic = make_topic()
    assert sns.publish(TopicArn=topic, Message="nobody listens")["MessageId"]
    url, _sub = queue_subscription(topic, raw=True)
    sns.publish(TopicArn=topic, Message="after")
    assert [m["Body"] for m in receive(sqs, url, 1)] == ["after"]
    assert not receive(sqs, url, 1, timeout=1)


def test_binary_attribute_base64_matches_publish(sns, sqs, make_topic, queue_subscription):
    topic = make_topic()
    url, _sub = queue_subscription(topic)
    payload = bytes(range(256))
    sns.publish(TopicArn=topic, Message="bin", MessageAttributes={"b": {"DataType": "Binary", "BinaryValue": payload}})
    (m,) = receive(sqs, url, 1)
    assert base64.b64decode(json.loads(m["Body"])["MessageAttributes"]["b"]["Value"]) == payload
