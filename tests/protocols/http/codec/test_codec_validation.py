"""Validation messages, type errors and malformed bodies."""
import json

import cbor2
import pytest
from botocore.parsers import create_parser
from hypothesis import given, settings, strategies as st

from protocols.http.codec import HttpRequest, SerializationError, get_service_codec
from protocols.http.router import ServiceRouter
from services.errors import ServiceError, ValidationError

R = ServiceRouter(["sqs", "kms", "scheduler", "route53", "cloudwatch", "sns"])


def jreq(target, body, version="1.0"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpRequest("POST", "/", "", {"x-amz-target": target, "content-type": f"application/x-amz-json-{version}",
                                         "host": "localhost:4566"}, raw)


def decode(req, scope=None):
    c, m = R.route(req, scope)
    return c.decode(m, req)


def test_missing_required_message():
    with pytest.raises(ValidationError) as ei:
        decode(jreq("TrentService.Encrypt", {"KeyId": "k"}, "1.1"))
    assert str(ei.value.message) == ("1 validation error detected: Value null at 'plaintext' failed to satisfy "
                                     "constraint: Member must not be null")
    assert ei.value.violations == [("plaintext", "Member must not be null", None)]


def test_sqs_missing_required_is_missing_parameter():
    """SQS answers a missing member with its own MissingParameter, on both wires, not a ValidationException."""
    with pytest.raises(ServiceError) as ei:
        decode(jreq("AmazonSQS.SendMessage", {"QueueUrl": "u"}))
    assert (ei.value.code, ei.value.message) == ("MissingParameter",
                                                 "The request must contain the parameter MessageBody.")
    with pytest.raises(ServiceError) as ei:
        decode(jreq("AmazonSQS.SendMessageBatch", {"QueueUrl": "u", "Entries": [{"Id": "a", "MessageBody": "b"},
                                                                                 {"MessageBody": "c"}]}))
    assert (ei.value.code, ei.value.message) == ("MissingParameter", "The request must contain the parameter Id.")
    req = HttpRequest("POST", "/", "", {"content-type": "application/x-www-form-urlencoded"},
                      b"Action=SendMessage&QueueUrl=u")
    c, m = R.route(req, "sqs")
    with pytest.raises(ServiceError) as ei:
        c.decode(m, req)
    assert ei.value.code == "MissingParameter"
    status, parsed = _parse_error(c, m, ei.value, "query")
    assert status == 400 and parsed["Error"]["Code"] == "MissingParameter"


def test_numbers_quoted_and_blob_values_left_out():
    with pytest.raises(ValidationError) as ei:
        decode(jreq("TrentService.GenerateRandom", {"NumberOfBytes": 0}, "1.1"))
    assert ei.value.message == ("1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy "
                                "constraint: Member must have value greater than or equal to 1")
    with pytest.raises(ValidationError) as ei:
        decode(jreq("TrentService.Encrypt", {"KeyId": "k", "Plaintext": "QUFB" * 1400}, "1.1"))
    assert ei.value.message == ("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
                                "Member must have length less than or equal to 4096")


def test_enum_listed_in_aws_order():
    with pytest.raises(ValidationError) as ei:
        decode(jreq("TrentService.GenerateMac", {"KeyId": "k", "Message": "QQ==", "MacAlgorithm": "INVALID"}, "1.1"))
    assert ei.value.message == ("1 validation error detected: Value 'INVALID' at 'macAlgorithm' failed to satisfy "
                                "constraint: Member must satisfy enum value set: [HMAC_SHA_384, HMAC_SHA_256, "
                                "HMAC_SHA_224, HMAC_SHA_512]")


def test_null_elements_are_rejected():
    """JSON nulls inside lists and maps never reach a service (they would crash it)."""
    with pytest.raises(ValidationError) as ei:
        decode(jreq("AmazonSQS.SendMessage", {"QueueUrl": "u", "MessageBody": "b", "MessageAttributes": {"a": None}}))
    assert ei.value.message == ("1 validation error detected: Value null at 'messageAttributes.a' failed to satisfy "
                                "constraint: Member must not be null")
    with pytest.raises(ValidationError) as ei:
        decode(jreq("AmazonSQS.SendMessageBatch", {"QueueUrl": "u", "Entries": [None]}))
    assert ei.value.violations[0][0] == "entries.1.member"
    with pytest.raises(ValidationError):
        decode(jreq("TrentService.TagResource", {"KeyId": "k", "Tags": [None]}, "1.1"))


def test_deep_json_is_a_client_error():
    deep = b'{"QueueUrl": "u", "MessageBody": "b", "MessageAttributes": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(SerializationError):
        decode(jreq("AmazonSQS.SendMessage", deep))


def test_two_violations_and_nested_paths():
    with pytest.raises(ValidationError) as ei:
        decode(jreq("TrentService.Encrypt", {"KeyId": ""}, "1.1"))
    msg = ei.value.message
    assert msg.startswith("2 validation errors detected: ")
    assert "Value null at 'plaintext' failed to satisfy constraint: Member must not be null" in msg
    assert "Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1" in msg
    assert "; " in msg


def test_pattern_enum_and_max():
    req = HttpRequest("POST", "/schedules/bad%20name!", "", {"content-type": "application/json",
                                                             "host": "scheduler.us-east-1.amazonaws.com"},
                      json.dumps({"ScheduleExpression": "rate(1 minute)", "FlexibleTimeWindow": {"Mode": "NOPE"},
                                  "Target": {"Arn": "a", "RoleArn": "r"}}).encode())
    with pytest.raises(ValidationError) as ei:
        decode(req)
    paths = {p: c for p, c, v in ei.value.violations}
    assert paths["name"].startswith("Member must satisfy regular expression pattern: ")
    assert paths["flexibleTimeWindow.mode"] == "Member must satisfy enum value set: [OFF, FLEXIBLE]"
    assert "Value 'bad name!' at 'name' failed to satisfy constraint" in ei.value.message
    # KMS models NumberOfBytes 1..1024
    with pytest.raises(ValidationError) as ei:
        decode(jreq("TrentService.GenerateDataKey", {"KeyId": "k", "NumberOfBytes": 2000}, "1.1"))
    assert ei.value.violations == [("numberOfBytes", "Member must have value less than or equal to 1024", 2000)]


def test_unknown_members_ignored_and_wrong_types():
    assert decode(jreq("AmazonSQS.SendMessage", {"QueueUrl": "u", "MessageBody": "b", "Bogus": 1})) == {
        "QueueUrl": "u", "MessageBody": "b"}
    with pytest.raises(SerializationError):
        decode(jreq("AmazonSQS.SendMessage", {"QueueUrl": "u", "MessageBody": "b", "DelaySeconds": "5"}))
    with pytest.raises(SerializationError):
        decode(jreq("AmazonSQS.SendMessage", {"QueueUrl": 5, "MessageBody": "b"}))
    with pytest.raises(SerializationError):
        decode(jreq("AmazonSQS.SendMessage", b"{not json"))
    with pytest.raises(SerializationError):
        decode(jreq("AmazonSQS.SendMessage", b"[1,2]"))


def _parse_error(codec, match, err, protocol):
    resp = codec.encode_error(match, err, "rid")
    headers = {k.lower(): v for k, v in resp.headers}
    return resp.status, create_parser(protocol).parse(
        {"status_code": resp.status, "headers": headers, "body": resp.body}, None)


def test_serialization_error_wire_form():
    req = jreq("AmazonSQS.SendMessage", b"{oops")
    c, m = R.route(req, None)
    with pytest.raises(ServiceError) as ei:
        c.decode(m, req)
    status, parsed = _parse_error(c, m, ei.value, "json")
    assert status == 400 and parsed["Error"]["Code"] == "SerializationException"


def test_malformed_xml_and_cbor_and_query():
    req = HttpRequest("POST", "/2013-04-01/hostedzone", "", {"host": "route53.amazonaws.com"}, b"<CreateHostedZone")
    c, m = R.route(req, "route53")
    with pytest.raises(ServiceError) as ei:
        c.decode(m, req)
    assert ei.value.status == 400 and ei.value.code == "MalformedXML"
    status, parsed = _parse_error(c, m, ei.value, "rest-xml")
    assert status == 400 and parsed["Error"]["Code"] == "MalformedXML"

    req = HttpRequest("POST", "/service/GraniteServiceVersion20100801/operation/PutMetricData", "",
                      {"smithy-protocol": "rpc-v2-cbor", "content-type": "application/cbor"}, b"\xff\x00garbage")
    c, m = R.route(req, None)
    with pytest.raises(SerializationError):
        c.decode(m, req)
    req = HttpRequest("POST", "/service/GraniteServiceVersion20100801/operation/PutMetricData", "",
                      {"smithy-protocol": "rpc-v2-cbor"}, cbor2.dumps({"Namespace": 5}))
    with pytest.raises(SerializationError):
        c.decode(m, req)

    req = HttpRequest("POST", "/", "", {"content-type": "application/x-www-form-urlencoded", "host": "sns.x"},
                      b"Action=Publish&TopicArn=a&Message=m&MessageAttributes.entry.1.Name=n"
                      b"&MessageAttributes.entry.1.Value.DataType=String&MessageAttributes.entry.1.Value.StringValue=v")
    c, m = R.route(req, "sns")
    assert c.decode(m, req)["MessageAttributes"] == {"n": {"DataType": "String", "StringValue": "v"}}
    req.body = b"Action=CreateTopic&Name=t&Attributes.entry.1.key=a"
    c, m = R.route(req, "sns")
    assert c.decode(m, req) == {"Name": "t", "Attributes": {"a": ""}}
    req = HttpRequest("GET", "/", "Action=ListTopics&Version=2010-03-31", {"host": "sns.us-east-1.amazonaws.com"}, b"")
    c, m = R.route(req, None)
    assert m.operation == "ListTopics" and c.service_name == "sns"


def test_query_bad_number_is_client_error():
    req = HttpRequest("POST", "/", "", {"content-type": "application/x-www-form-urlencoded"},
                      b"Action=SendMessage&QueueUrl=u&MessageBody=b&DelaySeconds=abc")
    c, m = R.route(req, "sqs")
    with pytest.raises(ValidationError) as ei:
        c.decode(m, req)
    status, parsed = _parse_error(c, m, ei.value, "query")
    assert status == 400 and parsed["Error"]["Code"] == "ValidationException"


_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(body=_text, attrs=st.dictionaries(st.text("abcdefghij", min_size=1, max_size=5), _text, max_size=3))
def test_sqs_receive_roundtrip_query_and_json(body, attrs):
    """Hypothesis: result dicts survive our encoder + botocore's parser for json and query."""
    c = get_service_codec("sqs")
    import botocore.session
    result = {"Messages": [{"MessageId": "m", "Body": body, "Attributes": {"SentTimestamp": "1"},
                            "MessageAttributes": {k: {"DataType": "String", "StringValue": v}
                                                  for k, v in attrs.items()}}]}
    if not attrs:
        del result["Messages"][0]["MessageAttributes"]
    from protocols.http.codec import Match
    for protocol in ("json", "query"):
        if protocol == "query":  # XML 1.0 cannot carry most C0 controls; SQS rejects them on input anyway
            if any(ord(ch) < 0x20 and ch not in "\t\n\r" for ch in body + "".join(attrs.values())):
                continue
        m = Match("ReceiveMessage", protocol)
        resp = c.encode_result(m, result, "rid")
        model = c._models[protocol]
        parsed = create_parser(protocol).parse(
            {"status_code": 200, "headers": dict(resp.headers), "body": resp.body},
            model.operation_model("ReceiveMessage").output_shape)
        parsed.pop("ResponseMetadata")
        assert parsed == result
