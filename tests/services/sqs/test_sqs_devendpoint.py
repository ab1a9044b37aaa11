"""LocalStack's SQS developer endpoint /_aws/sqs/messages: peeking at a queue's messages
without side effects, over plain HTTP (XML and JSON) and as a botocore endpoint_url
(JSON 1.0 and query)."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError

from tests.helpers import oldbotocore
from tests.helpers.brokerproc import DUMMY_KEY, DUMMY_SECRET, REGION
from tests.services.sqs._helpers import attrs_of, error_of

DEV = "/_aws/sqs/messages"
NON_EXISTENT = "AWS.SimpleQueueService.NonExistentQueue"


def fetch(server, path: str = DEV, params: dict | None = None, as_json: bool = True, method: str = "GET",
          body: bytes | None = None, headers: dict | None = None) -> tuple[int, str, bytes]:
    url = server.url + path + ("?" + urlencode(params) if params else "")
    h = dict(headers or {})
    if as_json:
        h["Accept"] = "application/json"
    req = urllib.request.Request(url, data=body, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def peek(server, url: str, **params) -> list[dict]:
    """The messages of a JSON peek, always as a list (the JSON collapses a single one)."""
    status, ctype, body = fetch(server, params={"QueueUrl": url, **params})
    assert status == 200 and ctype.startswith("application/json"), body
    result = json.loads(body)["ReceiveMessageResponse"]["ReceiveMessageResult"]
    if result is None:
        return []
    msgs = result["Message"]
    return msgs if isinstance(msgs, list) else [msgs]


def attr_map(msg: dict) -> dict:
    attrs = msg["Attribute"]
    return {a["Name"]: a["Value"] for a in (attrs if isinstance(attrs, list) else [attrs])}


def xml_messages(body: bytes) -> list[dict]:
    """(Body, {attribute: value}) of each Message in a ReceiveMessage XML document."""
    root = ET.fromstring(body)
    assert root.tag.endswith("ReceiveMessageResponse")
    out = []
    for m in root.iter():
        if m.tag.split("}")[-1] != "Message":
            continue
        kids = {c.tag.split("}")[-1]: c for c in m}
        attrs = {}
        for a in m:
            if a.tag.split("}")[-1] == "Attribute":
                parts = {c.tag.split("}")[-1]: c.text for c in a}
                attrs[parts["Name"]] = parts["Value"]
        out.append({"Body": kids["Body"].text, "Attributes": attrs})
    return out


def error_doc(body: bytes, as_json: bool) -> dict:
    if as_json:
        return json.loads(body)["ErrorResponse"]["Error"]
    root = ET.fromstring(body)
    assert root.tag == "ErrorResponse"
    return {c.tag: c.text for c in root.find("Error")}


@pytest.fixture
def dev_sqs(server):
    """boto3 (JSON 1.0) with the developer endpoint as its endpoint_url."""
    return server.client("sqs", endpoint_url=server.url + DEV)


@pytest.fixture
def dev_sqs_query(server):
    """botocore over the query protocol (1.31.60's SQS model) with the developer endpoint."""
    import botocore.session
    try:
        model_dir = oldbotocore.old_sqs_model_dir()
    except oldbotocore.Unavailable as e:  # pragma: no cover - offline
        pytest.skip(str(e))
    s = botocore.session.get_session()
    s.get_component("data_loader").search_paths.insert(0, model_dir)
    assert s.get_service_model("sqs").protocol == "query"
    return s.create_client("sqs", region_name=REGION, endpoint_url=server.url + DEV,
                           aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_SECRET)


def test_peek_counts_no_receive(server, sqs, make_queue):
    url = make_queue("peek")
    sqs.send_message(QueueUrl=url, MessageBody="message-1")
    sqs.send_message(QueueUrl=url, MessageBody="message-2")
    status, ctype, body = fetch(server, params={"QueueUrl": url}, as_json=False)
    assert status == 200 and ctype.startswith("text/xml")
    msgs = xml_messages(body)
    assert [m["Body"] for m in msgs] == ["message-1", "message-2"]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in msgs] == ["0", "0"]
    assert attrs_of(sqs, url, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible") == {
        "ApproximateNumberOfMessages": "2", "ApproximateNumberOfMessagesNotVisible": "0"}

    got = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, MaxNumberOfMessages=1, AttributeNames=["All"])
    assert got["Messages"][0]["Body"] == "message-1"
    assert got["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "1"   # the peek counted nothing

    msgs = xml_messages(fetch(server, params={"QueueUrl": url}, as_json=False)[2])
    assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in msgs] == [
        ("message-1", "1"), ("message-2", "0")]
    first = msgs[0]["Attributes"]["ApproximateFirstReceiveTimestamp"]
    assert first == got["Messages"][0]["Attributes"]["ApproximateFirstReceiveTimestamp"]
    assert msgs[1]["Attributes"]["ApproximateFirstReceiveTimestamp"] == "0"     # never received


def test_peek_as_json(server, sqs, make_queue):
    url = make_queue("json")
    sent = sqs.send_message(QueueUrl=url, MessageBody="message-1", MessageAttributes={
        "colour": {"DataType": "String", "StringValue": "blue"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})
    sqs.send_message(QueueUrl=url, MessageBody="message-2 <&>\r")
    msgs = peek(server, url, MaxNumberOfMessages=1)            # MaxNumberOfMessages does not apply
    assert [m["Body"] for m in msgs] == ["message-1", "message-2 <&>\r"]
    assert msgs[0]["MessageId"] == sent["MessageId"]
    assert msgs[0]["MD5OfBody"] == hashlib.md5(b"message-1").hexdigest()
    assert msgs[0]["ReceiptHandle"]
    attrs = attr_map(msgs[0])
    assert attrs["SenderId"] == "000000000000"
    assert attrs["ApproximateReceiveCount"] == "0"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp"} <= set(attrs)
    assert "IsVisible" not in attrs and "IsDelayed" not in attrs
    assert msgs[0]["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert msgs[0]["MessageAttribute"] == [
        {"Name": "colour", "Value": {"StringValue": "blue", "DataType": "String"}},
        {"Name": "blob", "Value": {"BinaryValue": "AAE=", "DataType": "Binary"}}]
    # the XML form carries the same body, escaped
    assert [m["Body"] for m in xml_messages(fetch(server, params={"QueueUrl": url}, as_json=False)[2])] == [
        "message-1", "message-2 <&>\r"]
    # a single message is an object, not a list (LocalStack's xmltodict JSON); an empty queue null
    only = make_queue("single")
    sqs.send_message(QueueUrl=only, MessageBody="alone")
    doc = json.loads(fetch(server, params={"QueueUrl": only})[2])
    assert doc["ReceiveMessageResponse"]["ReceiveMessageResult"]["Message"]["Body"] == "alone"
    empty = make_queue("empty")
    doc = json.loads(fetch(server, params={"QueueUrl": empty})[2])
    assert doc["ReceiveMessageResponse"]["ReceiveMessageResult"] is None


def test_bodies_beyond_the_memory_budget(server, sqs, make_queue):
    """5.4 MB of messages: the oldest payloads live only on disk by now (the store keeps
    4 MiB in memory); the peek reads them back."""
    url = make_queue("big")
    bodies = [chr(ord("a") + i) * (900 * 1024) for i in range(6)]
    for b in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=b)
    assert [m["Body"] for m in peek(server, url)] == bodies


def test_show_invisible(server, sqs, make_queue):
    url = make_queue("inv")
    for i in (1, 2, 3):
        sqs.send_message(QueueUrl=url, MessageBody=f"message-{i}")
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]["Body"] == "message-1"
    assert [m["Body"] for m in peek(server, url, ShowInvisible="false")] == ["message-2", "message-3"]
    assert [m["Body"] for m in peek(server, url)] == ["message-2", "message-3"]
    msgs = peek(server, url, ShowInvisible="true")
    assert [(m["Body"], attr_map(m)["IsVisible"]) for m in msgs] == [
        ("message-1", "false"), ("message-2", "true"), ("message-3", "true")]
    assert attr_map(msgs[0])["ApproximateReceiveCount"] == "1"
    # the in-flight message is still in flight: peeking did not change its visibility
    assert attrs_of(sqs, url, "ApproximateNumberOfMessagesNotVisible") == {
        "ApproximateNumberOfMessagesNotVisible": "1"}


def test_show_delayed(server, sqs, make_queue):
    url = make_queue("delayed")
    sqs.send_message(QueueUrl=url, MessageBody="message-1")
    sqs.send_message(QueueUrl=url, MessageBody="message-2", DelaySeconds=30)
    sqs.send_message(QueueUrl=url, MessageBody="message-3", DelaySeconds=30)
    doc = json.loads(fetch(server, params={"QueueUrl": url, "ShowDelayed": "False"})[2])
    assert doc["ReceiveMessageResponse"]["ReceiveMessageResult"]["Message"]["Body"] == "message-1"
    msgs = peek(server, url, ShowDelayed="true")
    assert [(m["Body"], attr_map(m)["IsDelayed"]) for m in msgs] == [
        ("message-1", "false"), ("message-2", "true"), ("message-3", "true")]
    assert attrs_of(sqs, url, "ApproximateNumberOfMessagesDelayed") == {"ApproximateNumberOfMessagesDelayed": "2"}


def test_fifo_attributes_and_held_groups(server, sqs, make_queue):
    url = make_queue("fifo", fifo=True, ContentBasedDeduplication="true")
    sent = [sqs.send_message(QueueUrl=url, MessageBody=f"message-{i}", MessageGroupId=g)
            for i, g in ((1, "1"), (2, "1"), (3, "2"))]
    msgs = peek(server, url)
    assert [m["Body"] for m in msgs] == ["message-1", "message-2", "message-3"]
    attrs = [attr_map(m) for m in msgs]
    assert [a["MessageGroupId"] for a in attrs] == ["1", "1", "2"]
    assert [a["SequenceNumber"] for a in attrs] == [s["SequenceNumber"] for s in sent]
    assert attrs[0]["MessageDeduplicationId"] == hashlib.sha256(b"message-1").hexdigest()
    # message-1 in flight holds message-2 back: only message-3 could be received now
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    assert [m["Body"] for m in got] == ["message-1"]
    assert [m["Body"] for m in peek(server, url)] == ["message-3"]
    assert [(m["Body"], attr_map(m)["IsVisible"]) for m in peek(server, url, ShowInvisible="true")] == [
        ("message-1", "false"), ("message-2", "false"), ("message-3", "true")]


def test_queue_named_in_the_path(server, sqs, make_queue):
    url = make_queue("path")
    sqs.send_message(QueueUrl=url, MessageBody="message-1")
    sqs.send_message(QueueUrl=url, MessageBody="message-2")
    name = url.rsplit("/", 1)[1]
    status, _, body = fetch(server, f"{DEV}/{REGION}/000000000000/{name}")
    assert status == 200
    assert len(json.loads(body)["ReceiveMessageResponse"]["ReceiveMessageResult"]["Message"]) == 2
    status, _, body = fetch(server, f"{DEV}/{REGION}/000000000000/{name}", as_json=False)
    assert status == 200 and [m["Body"] for m in xml_messages(body)] == ["message-1", "message-2"]
    other = "us-east-2" if REGION == "us-east-1" else "us-east-1"
    status, _, body = fetch(server, f"{DEV}/{other}/000000000000/{name}")
    assert status == 400 and error_doc(body, True)["Code"] == NON_EXISTENT


@pytest.mark.parametrize("as_json", [True, False])
def test_errors(server, as_json):
    status, _, body = fetch(server, as_json=as_json)                   # no QueueUrl
    assert status == 400
    assert error_doc(body, as_json)["Code"] == NON_EXISTENT
    status, _, body = fetch(server, params={"QueueUrl": server.url + "/nonsense"}, as_json=as_json)
    assert status == 404
    assert error_doc(body, as_json)["Code"] == "InvalidAddress"
    status, _, body = fetch(server, params={"QueueUrl": server.url + "/000000000000/hopefully-not-there"},
                            as_json=as_json)
    assert status == 400
    err = error_doc(body, as_json)
    assert (err["Code"], err["Message"]) == (NON_EXISTENT, "The specified queue does not exist.")
    status, _, body = fetch(server, f"{DEV}/{REGION}/000000000000/hopefully-not-there", as_json=as_json)
    assert status == 400 and error_doc(body, as_json)["Code"] == NON_EXISTENT


def test_form_post_without_action(server, sqs, make_queue):
    url = make_queue("form")
    sqs.send_message(QueueUrl=url, MessageBody="message-1")
    status, _, body = fetch(server, method="POST", body=urlencode({"QueueUrl": url}).encode(),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    assert json.loads(body)["ReceiveMessageResponse"]["ReceiveMessageResult"]["Message"]["Body"] == "message-1"


@pytest.mark.parametrize("wire", ["json", "query"])
def test_as_botocore_endpoint_url(request, sqs, make_queue, wire):
    client = request.getfixturevalue("dev_sqs" if wire == "json" else "dev_sqs_query")
    url = make_queue("sdk")
    sqs.send_message(QueueUrl=url, MessageBody="message-1",
                     MessageAttributes={"colour": {"DataType": "String", "StringValue": "blue"}})
    sqs.send_message(QueueUrl=url, MessageBody="message-2")
    for _ in range(2):      # twice: the first call changed nothing
        msgs = client.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
        assert [m["Body"] for m in msgs] == ["message-1", "message-2"]
        assert [m["Attributes"]["ApproximateReceiveCount"] for m in msgs] == ["0", "0"]
        assert msgs[0]["MessageAttributes"] == {"colour": {"DataType": "String", "StringValue": "blue"}}
    with pytest.raises(ClientError) as ei:
        client.send_message(QueueUrl=url, MessageBody="foobar")
    assert error_of(ei) == ("InvalidRequest", "This endpoint only accepts ReceiveMessage calls")
    assert attrs_of(sqs, url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "2"


def test_fifo_as_botocore_endpoint_url(dev_sqs, sqs, make_queue):
    url = make_queue("sdkfifo", fifo=True, ContentBasedDeduplication="true")
    for i, g in ((1, "1"), (2, "1"), (3, "2")):
        sqs.send_message(QueueUrl=url, MessageBody=f"message-{i}", MessageGroupId=g)
    msgs = dev_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    assert [(m["Body"], m["Attributes"]["MessageGroupId"], m["Attributes"]["ApproximateReceiveCount"])
            for m in msgs] == [("message-1", "1", "0"), ("message-2", "1", "0"), ("message-3", "2", "0")]
    with pytest.raises(ClientError) as ei:
        dev_sqs.receive_message(QueueUrl=url.replace(".fifo", "-gone.fifo"))
    assert error_of(ei)[0] == NON_EXISTENT
