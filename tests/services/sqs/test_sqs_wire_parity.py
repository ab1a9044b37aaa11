"""SQS on the wire as AWS answers it: JSON error types, missing parameters, queue URLs with
regions, the query protocol's edges, message move task handles and bad input."""

from __future__ import annotations

import base64
import json
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError

from services.sqs.urls import entity_key, queue_key_of_arn, queue_url_of_arn
from tests.services.sqs._helpers import attrs_of, error_of, json_call, signed

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def query(url: str, params: dict, method: str = "POST", headers: dict | None = None):
    params = {**params, "Version": "2012-11-05"}
    if method == "GET":
        return signed("GET", f"{url}?{urlencode(params)}", headers=headers)
    return signed("POST", url, urlencode(params), {**FORM, **(headers or {})})


def xml_text(body: bytes, tag: str) -> str | None:
    for el in ET.fromstring(body).iter():
        if el.tag.rsplit("}", 1)[-1] == tag:
            return el.text
    return None


# -- errors on the JSON wire ------------------------------------------------------

def test_json_errors_carry_aws_type_and_query_code(server, make_queue):
    url = make_queue("jtype")
    cases = [
        ("SendMessage", {"QueueUrl": url}, "com.amazonaws.sqs#MissingRequiredParameterException",
         "MissingParameter", "The request must contain the parameter MessageBody."),
        ("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 11},
         "com.amazonaws.sqs#InvalidParameterValueException", "InvalidParameterValue",
         "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."),
        ("GetQueueUrl", {"QueueName": f"none-{uuid.uuid4().hex}"}, "com.amazonaws.sqs#QueueDoesNotExist",
         "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist."),
    ]
    for op, params, type_name, query_code, message in cases:
        status, headers, body = json_call(server.url, op, params)
        assert status == 400, op
        assert body == {"__type": type_name, "message": message}, op
        assert headers["x-amzn-query-error"] == f"{query_code};Sender"


def test_null_in_message_attributes_is_a_validation_error(server, make_queue):
    url = make_queue("nulls")
    for op, params in [
        ("SendMessage", {"QueueUrl": url, "MessageBody": "b", "MessageAttributes": {"a": None}}),
        ("SendMessage", {"QueueUrl": url, "MessageBody": "b", "MessageSystemAttributes": {"AWSTraceHeader": None}}),
        ("SendMessageBatch", {"QueueUrl": url, "Entries": [{"Id": "1", "MessageBody": "b",
                                                            "MessageAttributes": {"a": None}}]}),
        ("SendMessageBatch", {"QueueUrl": url, "Entries": [None]}),
    ]:
        status, _h, body = json_call(server.url, op, params)
        assert status == 400 and body["__type"] == "ValidationException", (op, body)
        assert "Value null at " in body["message"]
    assert server.health()["status"] == "ok"


def test_deep_json_and_bad_utf8_are_rejected(server, make_queue):
    url = make_queue("bad")
    deep = (b'{"QueueUrl": "' + url.encode() + b'", "MessageBody": "b", "MessageAttributes": '
            + b'{"a": ' * 1000 + b"1" + b"}" * 1000 + b"}")
    status, _h, body = json_call(server.url, "SendMessage", deep)
    assert status == 400 and body["__type"] == "SerializationException"
    status, _h, raw = signed("POST", url, f"Action=SendMessage&MessageBody=%FF%FE&QueueUrl={url}", FORM)
    assert status == 400 and xml_text(raw, "Code") == "MalformedQueryString"
    assert server.health()["status"] == "ok"


def test_batch_json_omits_empty_failed_list(server, make_queue):
    url = make_queue("nofail")
    status, _h, body = json_call(server.url, "SendMessageBatch", {"QueueUrl": url, "Entries": [
        {"Id": "a", "MessageBody": "x"}]})
    assert status == 200 and set(body) == {"Successful"}
    status, _h, body = json_call(server.url, "SendMessageBatch", {"QueueUrl": url, "Entries": [
        {"Id": "a", "MessageBody": "x"}, {"Id": "b", "MessageBody": "y", "DelaySeconds": 901}]})
    assert [f["Id"] for f in body["Failed"]] == ["b"]


# -- queue URLs ---------------------------------------------------------------------

def test_malformed_queue_url_is_queue_does_not_exist(any_sqs, server):
    for bad in ("not a url", f"{server.url}/000000000000", f"{server.url}/a/b/c/d/e", f"{server.url}/12/x!y"):
        with pytest.raises(ClientError) as ei:
            any_sqs.send_message(QueueUrl=bad, MessageBody="x")
        assert error_of(ei)[0] == "AWS.SimpleQueueService.NonExistentQueue", bad


def test_same_name_in_two_regions(server):
    east, west = server.client("sqs"), server.client("sqs", region_name="eu-west-1")
    qn = f"regional-{uuid.uuid4().hex[:10]}"
    u1 = east.create_queue(QueueName=qn)["QueueUrl"]
    u2 = west.create_queue(QueueName=qn)["QueueUrl"]
    try:
        assert u1 != u2 and "/queue/us-east-1/" in u1 and "/queue/eu-west-1/" in u2
        assert east.get_queue_url(QueueName=qn)["QueueUrl"] == u1
        # the URL decides the queue, whichever region signed the request
        east.send_message(QueueUrl=u2, MessageBody="to the west")
        assert attrs_of(west, u2, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "1"
        assert attrs_of(east, u1, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "0"
        # AWS's host form names the region too
        aws_form = f"https://sqs.eu-west-1.amazonaws.com/000000000000/{qn}"
        (m,) = east.receive_message(QueueUrl=aws_form, WaitTimeSeconds=2)["Messages"]
        assert m["Body"] == "to the west"
        assert west.get_queue_attributes(QueueUrl=u2, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"] == (
            f"arn:aws:sqs:eu-west-1:000000000000:{qn}")
    finally:
        east.delete_queue(QueueUrl=u1)
        west.delete_queue(QueueUrl=u2)


def test_regional_host_gets_aws_url_form(server):
    qn = f"hostform-{uuid.uuid4().hex[:10]}"
    port = server.url.rsplit(":", 1)[1]
    status, _h, raw = query(server.url + "/", {"Action": "CreateQueue", "QueueName": qn},
                            headers={"Host": f"sqs.us-east-1.localhost.localstack.cloud:{port}"})
    assert status == 200
    assert xml_text(raw, "QueueUrl") == f"http://sqs.us-east-1.localhost.localstack.cloud:{port}/000000000000/{qn}"
    server.client("sqs").delete_queue(QueueUrl=xml_text(raw, "QueueUrl"))


def test_arn_helpers():
    arn = "arn:aws:sqs:eu-west-1:123456789012:orders.fifo"
    assert queue_key_of_arn(arn) == entity_key("eu-west-1", "123456789012", "orders.fifo")
    assert queue_url_of_arn(arn, "http://localhost:4566") == (
        "http://localhost:4566/queue/eu-west-1/123456789012/orders.fifo")
    assert queue_key_of_arn("arn:aws:sns:eu-west-1:123456789012:topic") is None


# -- the query protocol at the edges ----------------------------------------------------

def test_unknown_action(make_queue):
    url = make_queue("unknown")
    for method in ("GET", "POST"):
        status, _h, raw = query(url, {"Action": "FooBar"}, method)
        assert status == 400 and xml_text(raw, "Code") == "InvalidAction"
        assert xml_text(raw, "Message") == "The action FooBar is not valid for this endpoint."


def test_endpoint_actions_refused_at_queue_url(make_queue):
    url = make_queue("refuse")
    for action in ("CreateQueue", "ListQueues"):
        status, _h, raw = query(url, {"Action": action, "QueueName": "x"}, "GET")
        assert status == 400 and xml_text(raw, "Code") == "InvalidAction"
        assert xml_text(raw, "Message") == f"The action {action} is not valid for this endpoint."
    # GetQueueUrl is fine there, for any queue
    status, _h, raw = query(url, {"Action": "GetQueueUrl", "QueueName": url.rsplit("/", 1)[1]}, "GET")
    assert status == 200 and xml_text(raw, "QueueUrl") == url


def test_get_queue_url_without_action(make_queue):
    url = make_queue("noaction")
    for accept in (None, "application/json"):
        status, _h, raw = signed("GET", url, headers={"Accept": accept} if accept else None)
        assert status == 404 and b"<UnknownOperationException" in raw


def test_empty_receive_result_element(make_queue):
    url = make_queue("emptyres")
    status, _h, raw = query(url, {"Action": "ReceiveMessage"}, "GET")
    assert status == 200 and b"<ReceiveMessageResult/>" in raw


def test_query_with_accept_json(make_queue):
    url = make_queue("acceptjson")
    status, headers, raw = query(url, {"Action": "GetQueueAttributes", "AttributeName.1": "All"}, "GET",
                                 {"Accept": "application/json"})
    assert status == 200 and headers["content-type"].startswith("application/json")
    doc = json.loads(raw)
    attrs = doc["GetQueueAttributesResponse"]["GetQueueAttributesResult"]["Attributes"]
    assert {"Name": "QueueArn", "Value": attrs_arn(attrs)} in attrs and "arn:aws:sqs:" in attrs_arn(attrs)
    assert doc["GetQueueAttributesResponse"]["ResponseMetadata"]["RequestId"]
    status, _h, raw = query(url, {"Action": "ListQueues"}, "GET", {"Accept": "application/json"})
    assert status == 400
    err = json.loads(raw)["Error"]
    assert (err["Code"], err["Message"]) == ("InvalidAction", "The action ListQueues is not valid for this endpoint.")


def attrs_arn(attrs: list) -> str:
    return next(a["Value"] for a in attrs if a["Name"] == "QueueArn")


# -- message move tasks -------------------------------------------------------------------

def test_move_task_handle_and_errors(any_sqs, sqs, make_queue):
    dlq = make_queue("mtdlq")
    dlq_arn = attrs_of(sqs, dlq, "QueueArn")["QueueArn"]
    make_queue("mtsrc", RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
    handle = any_sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    doc = json.loads(base64.b64decode(handle))
    assert set(doc) == {"taskId", "sourceArn"} and doc["sourceArn"] == dlq_arn
    uuid.UUID(doc["taskId"])

    def handle_of(task_id, source_arn):
        return base64.b64encode(json.dumps({"taskId": task_id, "sourceArn": source_arn}).encode()).decode()
    with pytest.raises(ClientError) as ei:
        any_sqs.cancel_message_move_task(
            TaskHandle=handle_of(str(uuid.uuid4()), "arn:aws:sqs:us-east-1:878966065785:no-such-queue-123"))
    assert error_of(ei) == ("ResourceNotFoundException",
                            "The resource that you specified for the SourceArn parameter doesn't exist.")
    with pytest.raises(ClientError) as ei:
        any_sqs.cancel_message_move_task(TaskHandle=handle_of(str(uuid.uuid4()), dlq_arn))
    assert error_of(ei) == ("ResourceNotFoundException", "Task does not exist.")
    with pytest.raises(ClientError) as ei:
        any_sqs.cancel_message_move_task(TaskHandle="foobared")
    assert error_of(ei) == ("InvalidParameterValue", "Value for parameter TaskHandle is invalid.")
    plain = make_queue("mtplain")
    with pytest.raises(ClientError) as ei:
        any_sqs.start_message_move_task(SourceArn=attrs_of(sqs, plain, "QueueArn")["QueueArn"])
    assert error_of(ei) == ("InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue.")
    with pytest.raises(ClientError) as ei:
        any_sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=dlq_arn + "doesntexist")
    assert error_of(ei) == ("ResourceNotFoundException",
                            "The resource that you specified for the DestinationArn parameter doesn't exist.")
