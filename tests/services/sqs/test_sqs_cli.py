"""The AWS CLI (awscli v1 from the venv) against the server."""

from __future__ import annotations

import json

import pytest

from tests.helpers.clients import aws_cli


@pytest.fixture(scope="module")
def aws(server, tmp_path_factory):
    return aws_cli(server.url, tmp_path_factory.mktemp("awshome"), "sqs")


def test_cli_roundtrip(aws, qname):
    name = qname("cli")
    url = json.loads(aws("create-queue", "--queue-name", name, "--attributes", "VisibilityTimeout=5").stdout)[
        "QueueUrl"]
    try:
        assert url.endswith(f"/{name}")
        out = json.loads(aws("send-message", "--queue-url", url, "--message-body", "from cli",
                             "--message-attributes",
                             '{"n":{"DataType":"Number.int","StringValue":"42"}}').stdout)
        assert out["MD5OfMessageBody"] and out["MD5OfMessageAttributes"] and out["MessageId"]
        got = json.loads(aws("receive-message", "--queue-url", url, "--wait-time-seconds", "2",
                             "--message-attribute-names", "All", "--attribute-names", "All").stdout)
        (m,) = got["Messages"]
        assert m["Body"] == "from cli" and m["MessageAttributes"]["n"]["StringValue"] == "42"
        assert m["Attributes"]["ApproximateReceiveCount"] == "1"
        aws("delete-message", "--queue-url", url, "--receipt-handle", m["ReceiptHandle"])
        attrs = json.loads(aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "All").stdout)
        assert attrs["Attributes"]["VisibilityTimeout"] == "5"
        assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"
        assert url in json.loads(aws("list-queues", "--queue-name-prefix", name).stdout)["QueueUrls"]
    finally:
        aws("delete-queue", "--queue-url", url)
    p = aws("get-queue-url", "--queue-name", name, check=False)
    assert p.returncode != 0
    assert "AWS.SimpleQueueService.NonExistentQueue" in p.stderr


def test_cli_fifo_batch(aws, qname):
    name = qname("clififo", fifo=True)
    url = json.loads(aws("create-queue", "--queue-name", name, "--attributes",
                         "FifoQueue=true,ContentBasedDeduplication=true").stdout)["QueueUrl"]
    try:
        entries = json.dumps([{"Id": str(i), "MessageBody": f"b{i}", "MessageGroupId": "g"} for i in range(3)])
        out = json.loads(aws("send-message-batch", "--queue-url", url, "--entries", entries).stdout)
        assert len(out["Successful"]) == 3 and all(e["SequenceNumber"] for e in out["Successful"])
        got = json.loads(aws("receive-message", "--queue-url", url, "--max-number-of-messages", "10").stdout)
        assert [m["Body"] for m in got["Messages"]] == ["b0", "b1", "b2"]
        aws("purge-queue", "--queue-url", url)
    finally:
        aws("delete-queue", "--queue-url", url)
