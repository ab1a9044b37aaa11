"""Raw query-protocol requests as old SDKs send them: form POSTed to the queue URL itself."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.helpers.brokerproc import DUMMY_KEY, DUMMY_SECRET, REGION

NS = "{http://queue.amazonaws.com/doc/2012-11-05/}"


def post(url: str, params: dict) -> tuple[int, ET.Element]:
    body = urlencode({**params, "Version": "2012-11-05"})
    req = AWSRequest("POST", url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(DUMMY_KEY, DUMMY_SECRET), "sqs", REGION).add_auth(req)
    r = urllib.request.Request(url, data=body.encode(), headers=dict(req.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, ET.fromstring(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, ET.fromstring(exc.read())


def text(root: ET.Element, tag: str) -> str | None:
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == tag:
            return el.text
    return None


def test_query_post_to_queue_url(make_queue):
    url = make_queue("rawq")
    status, root = post(url, {"Action": "SendMessage", "MessageBody": "raw body",
                              "MessageAttribute.1.Name": "n", "MessageAttribute.1.Value.DataType": "Number",
                              "MessageAttribute.1.Value.StringValue": "1"})
    assert status == 200, ET.tostring(root)
    assert text(root, "MD5OfMessageBody") == hashlib.md5(b"raw body").hexdigest()
    assert text(root, "MD5OfMessageAttributes")
    assert text(root, "RequestId")
    status, root = post(url, {"Action": "ReceiveMessage", "AttributeName.1": "All",
                              "MessageAttributeName.1": "All", "WaitTimeSeconds": "2"})
    assert status == 200
    assert text(root, "Body") == "raw body"


def test_query_error_shape(server):
    status, root = post(f"{server.url}/000000000000/raw-missing-queue", {"Action": "GetQueueAttributes",
                                                                          "AttributeName.1": "All"})
    assert status == 400
    assert text(root, "Code") == "AWS.SimpleQueueService.NonExistentQueue"
    assert text(root, "Type") == "Sender"
    assert text(root, "Message") == "The specified queue does not exist."
