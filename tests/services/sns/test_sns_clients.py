"""SNS with the other real clients: the AWS CLI (awscli from the venv) and
aws-sdk-js v3 (@aws-sdk/client-sns, tests/node)."""

from __future__ import annotations

import json

import pytest

from tests.helpers.clients import aws_cli, run_node, without_aws_env
from tests.services.sns.conftest import receive, uid


@pytest.fixture(scope="module")
def aws(server, tmp_path_factory):
    return aws_cli(server.url, tmp_path_factory.mktemp("awshome"), "sns")


def test_cli_roundtrip(aws, sqs, make_queue):
    name = uid("cli")
    topic = json.loads(aws("create-topic", "--name", name, "--attributes", "DisplayName=cli").stdout)["TopicArn"]
    try:
        url, qarn = make_queue()
        sub = json.loads(aws("subscribe", "--topic-arn", topic, "--protocol", "sqs", "--notification-endpoint", qarn,
                             "--attributes", '{"RawMessageDelivery":"true"}', "--return-subscription-arn").stdout)
        out = json.loads(aws("publish", "--topic-arn", topic, "--message", "from cli", "--message-attributes",
                             '{"n":{"DataType":"Number","StringValue":"42"}}').stdout)
        assert out["MessageId"]
        (m,) = receive(sqs, url, 1, MessageAttributeNames=["All"])
        assert m["Body"] == "from cli" and m["MessageAttributes"]["n"]["StringValue"] == "42"
        attrs = json.loads(aws("get-topic-attributes", "--topic-arn", topic).stdout)["Attributes"]
        assert attrs["DisplayName"] == "cli" and attrs["SubscriptionsConfirmed"] == "1"
        subs = json.loads(aws("list-subscriptions-by-topic", "--topic-arn", topic).stdout)["Subscriptions"]
        assert [s["SubscriptionArn"] for s in subs] == [sub["SubscriptionArn"]]
        bad = aws("publish", "--topic-arn", topic + "-gone", "--message", "x", check=False)
        assert bad.returncode != 0 and "NotFound" in bad.stderr and "Topic does not exist" in bad.stderr
    finally:
        aws("delete-topic", "--topic-arn", topic)


def test_js_sdk_v3(server):
    out = run_node("sns_smoke.mjs", without_aws_env(BROKER_ENDPOINT=server.url), "@aws-sdk/client-sns")
    std = out["standard"]
    env_ = std["envelope"]
    assert env_["Type"] == "Notification" and env_["MessageId"] == std["messageId"] and env_["Subject"] == "js"
    assert env_["MessageAttributes"] == {"kind": {"Type": "String", "Value": "smoke"},
                                         "blob": {"Type": "Binary", "Value": "AQID"}}
    assert sorted((r["body"], r["n"]) for r in std["raw"]) == [("batch one", None), ("batch two", "7")]
    assert std["batchOk"] == ["one", "two"] and std["batchFailed"] == 0
    assert out["attributes"] == {"displayName": "node", "confirmed": "1", "raw": "true",
                                 "listed": [std["subscriptionArn"]]}
    seqs = out["fifo"]["sequenceNumbers"]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert out["fifo"]["bodies"] == ["f0", "f1", "f2", "f3", "f4"]
    assert out["missing"]["name"] == "NotFoundException" and out["missing"]["status"] == 404
    assert out["missing"]["message"] == "Topic does not exist"
